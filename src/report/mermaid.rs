//! Mermaid `xychart-beta` charts, for the places that cannot show an SVG:
//! GitHub renders Mermaid inline in comments and job summaries, but strips
//! SVG files and data URIs there.

use std::fmt::Write as _;

use super::{Format, Input, Rendered};
use crate::metrics::result::TimelineRow;

/// Reads one value of a timeline row.
type Pick = fn(&TimelineRow) -> Option<f64>;

/// The most points a Mermaid line gets; longer runs are bucketed.
const POINTS: usize = 60;

/// The Mermaid format: `mermaid.md`, the verdict line, then every chart as
/// a fenced block.
pub struct Mermaid;

impl Format for Mermaid {
    fn name(&self) -> &'static str {
        "mermaid"
    }

    fn render(&self, input: &Input<'_>) -> Result<Vec<Rendered>, String> {
        let blocks = blocks(input);
        if blocks.is_empty() {
            return Ok(Vec::new());
        }
        // Like every format, it opens with the verdict line.
        let verdict = super::model::Model::of(input).verdict.line;
        Ok(vec![Rendered {
            file: "mermaid.md".into(),
            text: format!("{verdict}\n\n{}", blocks.join("\n")),
        }])
    }
}

/// Every chart as a fenced ```` ```mermaid ```` block: latency p50, p95 and
/// p99 over time, then requests/s and failed requests/s. None for a run
/// with fewer than two seconds of timeline.
pub fn blocks(input: &Input<'_>) -> Vec<String> {
    let rows = &input.run.timeline.total;
    if rows.len() < 2 {
        return Vec::new();
    }
    let res = f64::from(input.run.timeline.resolution_s.max(1));
    let buckets = bucket(rows);
    let end = rows.last().map_or(0, |r| r.second + 1) as f64 * res;
    let mut out = Vec::new();
    let pick: [(&str, Pick); 3] = [("p50", |r| r.p50_ms), ("p95", |r| r.p95_ms), ("p99", |r| r.p99_ms)];
    let lines: Vec<(&str, Vec<f64>)> = pick
        .into_iter()
        .map(|(name, f)| {
            let values = buckets
                .iter()
                .map(|b| b.iter().filter_map(f).fold(0.0, f64::max))
                .collect();
            (name, values)
        })
        .collect();
    if lines.iter().any(|(_, v)| v.iter().any(|x| *x > 0.0)) {
        out.push(chart(
            "Latency p50 / p95 / p99 (ms), lowest line p50",
            end,
            "latency (ms)",
            &lines.iter().map(|(_, v)| v.as_slice()).collect::<Vec<_>>(),
        ));
    }
    let per_s = |f: &dyn Fn(&TimelineRow) -> u64| -> Vec<f64> {
        buckets
            .iter()
            .map(|b| b.iter().map(f).sum::<u64>() as f64 / (b.len() as f64 * res))
            .collect()
    };
    let rps = per_s(&|r| r.requests);
    let failed = per_s(&|r| r.requests.saturating_sub(r.ok));
    out.push(chart(
        "Requests/s (upper line) and failed requests/s",
        end,
        "requests/s",
        &[rps.as_slice(), failed.as_slice()],
    ));
    out
}

/// Consecutive rows in at most [`POINTS`] buckets.
fn bucket(rows: &[TimelineRow]) -> Vec<&[TimelineRow]> {
    let size = rows.len().div_ceil(POINTS).max(1);
    rows.chunks(size).collect()
}

fn chart(title: &str, end_s: f64, y_label: &str, lines: &[&[f64]]) -> String {
    let top = lines
        .iter()
        .flat_map(|l| l.iter().copied())
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max);
    let top = nice_top(top);
    let mut s = String::from("```mermaid\nxychart-beta\n");
    let _ = writeln!(s, "    title \"{title}\"");
    let _ = writeln!(s, "    x-axis \"time (s)\" 0 --> {}", end_s.ceil().max(1.0));
    let _ = writeln!(s, "    y-axis \"{y_label}\" 0 --> {top}");
    for l in lines {
        let values: Vec<String> = l.iter().map(|v| fmt(*v)).collect();
        let _ = writeln!(s, "    line [{}]", values.join(", "));
    }
    s.push_str("```\n");
    s
}

/// A round axis top at or above `v`: 1, 2 or 5 times a power of ten.
fn nice_top(v: f64) -> String {
    if v <= 0.0 || !v.is_finite() {
        return "1".into();
    }
    let p = 10f64.powf(v.log10().floor());
    let top = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * p)
        .find(|t| *t >= v)
        .unwrap_or(10.0 * p);
    fmt(top)
}

fn fmt(v: f64) -> String {
    if !v.is_finite() {
        return "0".into();
    }
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() || s == "-" {
        "0".into()
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_tops_are_round() {
        assert_eq!(nice_top(0.0), "1");
        assert_eq!(nice_top(7.3), "10");
        assert_eq!(nice_top(12.0), "20");
        assert_eq!(nice_top(0.042), "0.05");
        assert_eq!(nice_top(500.0), "500");
        assert_eq!(fmt(2.500), "2.5");
        assert_eq!(fmt(3.0), "3");
    }

    #[test]
    fn long_runs_are_bucketed_to_at_most_sixty_points() {
        let rows: Vec<TimelineRow> = (0..3600)
            .map(|s| {
                serde_json::from_value(serde_json::json!({"second": s, "requests": 10, "ok": 10, "errors": {}}))
                    .unwrap()
            })
            .collect();
        let b = bucket(&rows);
        assert!(b.len() <= POINTS, "{}", b.len());
        assert_eq!(b.iter().map(|b| b.len()).sum::<usize>(), 3600);
        let c = chart("t", 3600.0, "y", &[&[1.0, 2.0]]);
        assert!(
            c.starts_with("```mermaid\nxychart-beta\n") && c.ends_with("```\n"),
            "{c}"
        );
        assert!(c.contains("x-axis \"time (s)\" 0 --> 3600"), "{c}");
    }
}
