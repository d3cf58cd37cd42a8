//! The charts over the run's time, from `run.timeline.total`: latency,
//! throughput and errors, the version mix, the probes. Each shades the
//! phases and marks the events. A long run is cut into at most
//! [`MAX_POINTS`] buckets per series: rates are the bucket's mean per
//! second, percentiles and probe readings its maximum, so that no spike
//! disappears.

use std::collections::BTreeMap;

use crate::metrics::RunResult;
use crate::metrics::deploy::Event;
use crate::metrics::result::TimelineRow;

use plotters::style::RGBColor;

use super::draw::{Axis, Chart, Line, Mark, PALETTE, Panel, Phase, clean};

/// The most points a series has.
const MAX_POINTS: u64 = 600;
/// The most versions or error classes drawn one by one; the rest are
/// summed.
const MAX_SERIES: usize = 8;
/// The most probes drawn.
const MAX_PROBES: usize = 6;
/// The height of a chart's one panel.
const TALL: u32 = 390;

/// Seconds grouped into buckets.
struct Buckets {
    /// Seconds per bucket.
    width: u64,
    /// How many.
    n: usize,
    /// Seconds covered (the run's length).
    span: u64,
}

impl Buckets {
    fn of(run: &RunResult) -> Buckets {
        let last = run
            .timeline
            .total
            .iter()
            .map(|r| r.second.saturating_add(1))
            .max()
            .unwrap_or(0);
        // `as` saturates; NaN is 0.
        let duration = run.duration_s.max(0.0).ceil() as u64;
        let span = last.max(duration).max(1);
        let width = span.div_ceil(MAX_POINTS);
        Buckets {
            width,
            n: span.div_ceil(width) as usize,
            span,
        }
    }

    fn index(&self, second: u64) -> usize {
        ((second / self.width) as usize).min(self.n - 1)
    }

    /// The bucket's first second and its length.
    fn bounds(&self, i: usize) -> (f64, f64) {
        let start = i as u64 * self.width;
        (start as f64, (self.span - start).min(self.width) as f64)
    }

    fn x(&self, i: usize) -> f64 {
        let (start, len) = self.bounds(i);
        start + len / 2.0
    }

    /// Per-second mean of `f` in each bucket (0 where no row).
    fn rate(&self, rows: &[TimelineRow], f: impl Fn(&TimelineRow) -> u64) -> Vec<(f64, Option<f64>)> {
        let mut sums = vec![0f64; self.n];
        for r in rows {
            sums[self.index(r.second)] += f(r) as f64;
        }
        sums.iter()
            .enumerate()
            .map(|(i, s)| (self.x(i), Some(s / self.bounds(i).1)))
            .collect()
    }

    /// The maximum of `f` in each bucket (none where no row has one).
    fn max(&self, rows: &[TimelineRow], f: impl Fn(&TimelineRow) -> Option<f64>) -> Vec<(f64, Option<f64>)> {
        let mut max: Vec<Option<f64>> = vec![None; self.n];
        for r in rows {
            if let Some(v) = f(r).filter(|v| v.is_finite()) {
                let m = &mut max[self.index(r.second)];
                *m = Some(m.map_or(v, |m| m.max(v)));
            }
        }
        max.into_iter().enumerate().map(|(i, m)| (self.x(i), m)).collect()
    }

    /// The least tick step of a per-second count: 1 when a point is one
    /// second (whole counts), any when it is a mean.
    fn count_step(&self) -> f64 {
        if self.width == 1 { 1.0 } else { 0.0 }
    }

    /// The time axis, saying how points were made when a bucket is more
    /// than a second.
    fn axis(&self, how: &str) -> Axis {
        let desc = if self.width > 1 {
            format!("time (s); one point per {} s, {how}", self.width)
        } else {
            "time (s)".to_string()
        };
        Axis::linear(0.0, self.span as f64, 10, 1.0, desc)
    }
}

fn has_values(lines: &[Line]) -> bool {
    lines.iter().any(|l| l.points.iter().any(|p| p.1.is_some()))
}

/// A chart of one panel over the run's time.
fn chart(run: &RunResult, b: &Buckets, title: &str, how: &str, panels: Vec<Panel>) -> Chart {
    Chart {
        title: title.to_string(),
        x: b.axis(how),
        panels,
        phases: phases(run, b.span as f64),
        marks: marks(run, b.span as f64),
    }
}

/// The run's phases within `0..span`; a phase without an end lasts to the
/// run's end.
fn phases(run: &RunResult, span: f64) -> Vec<Phase> {
    run.phases
        .iter()
        .filter_map(|p| {
            let start = p.start_s.max(0.0);
            let end = p.end_s.unwrap_or(run.duration_s).min(span);
            (start.is_finite() && end.is_finite() && end > start).then(|| Phase {
                name: clean(&p.name, 20),
                start,
                end,
            })
        })
        .collect()
}

/// The most events marked (a flapping probe can make thousands).
const MAX_MARKS: usize = 200;

fn marks(run: &RunResult, span: f64) -> Vec<Mark> {
    run.events
        .iter()
        .filter(|e| e.at_s.is_finite() && (0.0..=span).contains(&e.at_s))
        .take(MAX_MARKS)
        .map(|e| Mark {
            at: e.at_s,
            label: event_label(e),
            color: event_color(&e.kind),
        })
        .collect()
}

fn event_label(e: &Event) -> String {
    let name = clean(&e.name, 20);
    match e.kind.as_str() {
        "rollout_start" => "rollout start".to_string(),
        "rollout_end" if e.ok == Some(false) => "rollout failed".to_string(),
        "rollout_end" => "rollout end".to_string(),
        "fault" => format!("fault: {name}"),
        "fault_end" => format!("fault end: {name}"),
        "restore" => format!("restore: {name}"),
        "probe_down" => format!("{name} down"),
        "probe_up" => format!("{name} up"),
        other => format!("{}: {name}", clean(other, 16)),
    }
}

fn event_color(kind: &str) -> RGBColor {
    match kind {
        "rollout_start" | "rollout_end" => RGBColor(0x5b, 0x2c, 0x8f),
        "fault" | "fault_end" | "restore" => RGBColor(0xb0, 0x1e, 0x2d),
        "probe_down" => RGBColor(0xc4, 0x4e, 0x00),
        "probe_up" => RGBColor(0x1b, 0x7a, 0x3d),
        _ => RGBColor(0x55, 0x55, 0x55),
    }
}

/// A percentile of a timeline row.
type Percentile = fn(&TimelineRow) -> Option<f64>;

/// The keys of a count map of the rows (error classes, versions) with a
/// count above 0: the `max` most counted, in name order, and the others.
fn split_keys(
    rows: &[TimelineRow],
    map: impl Fn(&TimelineRow) -> &BTreeMap<String, u64>,
    max: usize,
) -> (Vec<&str>, Vec<&str>) {
    let mut totals: BTreeMap<&str, u64> = BTreeMap::new();
    for r in rows {
        for (k, n) in map(r) {
            let t = totals.entry(k.as_str()).or_default();
            *t = t.saturating_add(*n);
        }
    }
    let mut by_count: Vec<(&str, u64)> = totals.into_iter().filter(|(_, n)| *n > 0).collect();
    by_count.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let rest = by_count.iter().skip(max).map(|k| k.0).collect();
    let mut shown: Vec<&str> = by_count.iter().take(max).map(|k| k.0).collect();
    shown.sort_unstable();
    (shown, rest)
}

/// The sum of `keys` in `map`.
fn sum_of(map: &BTreeMap<String, u64>, keys: &[&str]) -> u64 {
    keys.iter()
        .filter_map(|k| map.get(*k))
        .fold(0, |a, n| a.saturating_add(*n))
}

/// `latency.svg`: p50, p95 and p99 per second.
pub fn latency(run: &RunResult) -> Option<Chart> {
    let b = Buckets::of(run);
    let rows = &run.timeline.total;
    let fields: [(&str, RGBColor, Percentile); 3] = [
        ("p50", PALETTE[0], |r| r.p50_ms),
        ("p95", PALETTE[1], |r| r.p95_ms),
        ("p99", PALETTE[3], |r| r.p99_ms),
    ];
    let lines: Vec<Line> = fields
        .iter()
        .map(|(label, color, f)| Line {
            label: label.to_string(),
            color: *color,
            points: b.max(rows, f),
        })
        .collect();
    if !has_values(&lines) {
        return None;
    }
    let panel = Panel {
        y: Axis::for_values(&lines, 6, 0.0, "latency (ms)"),
        lines,
        height: TALL,
    };
    Some(chart(
        run,
        &b,
        "Latency over time: p50, p95, p99",
        "its highest value",
        vec![panel],
    ))
}

/// The palette's colours for error classes: not the requests' blue, nor
/// the grey of "other classes".
const ERROR_COLORS: [usize; MAX_SERIES] = [3, 4, 1, 5, 6, 2, 8, 9];
/// The palette's colours for versions: not the grey of "other versions".
const VERSION_COLORS: [usize; MAX_SERIES] = [0, 1, 2, 3, 4, 5, 6, 8];

/// `throughput.svg`: requests per second, and below them the errors per
/// second by class when there are any.
pub fn throughput(run: &RunResult) -> Option<Chart> {
    let rows = &run.timeline.total;
    if rows.is_empty() {
        return None;
    }
    let b = Buckets::of(run);
    let top = vec![Line {
        label: "requests".to_string(),
        color: PALETTE[0],
        points: b.rate(rows, |r| r.requests),
    }];
    let (shown, rest) = split_keys(rows, |r| &r.errors, MAX_SERIES);
    let mut errors: Vec<Line> = shown
        .iter()
        .enumerate()
        .map(|(i, class)| Line {
            label: clean(class, 24),
            color: PALETTE[ERROR_COLORS[i % MAX_SERIES]],
            points: b.rate(rows, |r| r.errors.get(*class).copied().unwrap_or(0)),
        })
        .collect();
    if !rest.is_empty() {
        errors.push(Line {
            label: format!("{} other classes", rest.len()),
            color: PALETTE[7],
            points: b.rate(rows, |r| sum_of(&r.errors, &rest)),
        });
    }
    let mut panels = vec![Panel {
        y: Axis::for_values(&top, 6, b.count_step(), "requests/s"),
        lines: top,
        height: if errors.is_empty() { TALL } else { 250 },
    }];
    if !errors.is_empty() {
        panels.push(Panel {
            y: Axis::for_values(&errors, 4, b.count_step(), "errors/s"),
            lines: errors,
            height: 230,
        });
    }
    Some(chart(
        run,
        &b,
        "Throughput over time: requests and errors per second",
        "the mean per second",
        panels,
    ))
}

/// `versions.svg`: responses per second by app version, when the run saw
/// versions.
pub fn versions(run: &RunResult) -> Option<Chart> {
    let rows = &run.timeline.total;
    let (shown, rest) = split_keys(rows, |r| &r.versions, MAX_SERIES);
    if shown.is_empty() {
        return None;
    }
    let b = Buckets::of(run);
    let mut lines: Vec<Line> = shown
        .iter()
        .enumerate()
        .map(|(i, v)| Line {
            label: clean(v, 24),
            color: PALETTE[VERSION_COLORS[i % MAX_SERIES]],
            points: b.rate(rows, |r| r.versions.get(*v).copied().unwrap_or(0)),
        })
        .collect();
    if !rest.is_empty() {
        lines.push(Line {
            label: format!("{} other versions", rest.len()),
            color: PALETTE[7],
            points: b.rate(rows, |r| sum_of(&r.versions, &rest)),
        });
    }
    let panel = Panel {
        y: Axis::for_values(&lines, 6, b.count_step(), "responses/s"),
        lines,
        height: TALL,
    };
    Some(chart(
        run,
        &b,
        "Version mix over time: responses per second by version",
        "the mean per second",
        vec![panel],
    ))
}

/// `probes.svg`: each metric probe's readings, one panel per probe (their
/// scales differ), when the run has any.
pub fn probes(run: &RunResult) -> Option<Chart> {
    let rows = &run.timeline.total;
    let mut names: Vec<&str> = rows.iter().flat_map(|r| r.probes.keys().map(String::as_str)).collect();
    names.sort_unstable();
    names.dedup();
    if names.is_empty() {
        return None;
    }
    let b = Buckets::of(run);
    let count = names.len().min(MAX_PROBES);
    let panels = names
        .iter()
        .take(MAX_PROBES)
        .enumerate()
        .map(|(i, name)| {
            let lines = vec![Line {
                label: clean(name, 32),
                color: PALETTE[i % PALETTE.len()],
                points: b.max(rows, |r| r.probes.get(*name).copied()),
            }];
            // Every plot as high as the others; the last carries the x
            // axis's description.
            let height = match (count, i + 1 == count) {
                (1, _) => TALL,
                (_, true) => 210,
                _ => 184,
            };
            Panel {
                y: Axis::for_values(&lines, if count == 1 { 6 } else { 4 }, 0.0, clean(name, 32)),
                lines,
                height,
            }
        })
        .collect();
    let title = if names.len() > MAX_PROBES {
        format!("Probes over time (the first {MAX_PROBES} of {})", names.len())
    } else {
        "Probes over time".to_string()
    };
    Some(chart(run, &b, &title, "its highest reading", panels))
}
