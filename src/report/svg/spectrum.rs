//! `spectrum.svg`: the latency percentile spectrum of the run's
//! `http_req_duration` histogram. The x axis is in "nines": a percentile `q`
//! is drawn at `-log10(1 - q)`, so 90%, 99%, 99.9% are evenly spaced and the
//! tail gets as much room as the body. Over it, the baseline run's spectrum
//! when there is one, or else the head's and the tail's when the run has
//! both phases.

use plotters::style::RGBColor;

use crate::metrics::Hist;
use crate::metrics::RunResult;
use crate::metrics::result::StatsSummary;

use super::draw::{Axis, Chart, Line, PALETTE, Panel, number};

/// Points per curve.
const STEPS: usize = 240;
/// The most nines shown (99.99999%).
const MAX_NINES: f64 = 7.0;
/// Above this ratio of the highest value to the lowest median, the latency
/// axis is logarithmic.
const LOG_RATIO: f64 = 10.0;

/// The histogram of `s`, `None` when it is empty (or absent: `""`).
fn decode(s: &StatsSummary, what: &str) -> Result<Option<Hist>, String> {
    let text = &s.histograms.http_req_duration;
    if text.is_empty() {
        return Ok(None);
    }
    let h = Hist::from_base64(text).map_err(|e| format!("{what}.histograms.http_req_duration: {e}"))?;
    Ok((!h.is_empty()).then_some(h))
}

/// One curve: its label, colour and histogram.
struct Curve {
    label: &'static str,
    color: RGBColor,
    hist: Hist,
}

impl Curve {
    /// How far right it goes: the nines of one value in its count.
    fn nines(&self) -> f64 {
        (self.hist.len() as f64).log10().clamp(1.0, MAX_NINES)
    }

    /// (nines, ms) points, the last at its highest value.
    fn points(&self) -> Vec<(f64, f64)> {
        let top = self.nines();
        (0..=STEPS)
            .filter_map(|i| {
                let x = top * i as f64 / STEPS as f64;
                let q = if i == STEPS { 1.0 } else { 1.0 - 10f64.powf(-x) };
                self.hist.quantile(q).map(|us| (x, us as f64 / 1000.0))
            })
            .collect()
    }
}

/// The label of a nines position: 0%, 50%, 90%, 99%, 99.9%…
fn percent(nines: u32) -> String {
    match nines {
        0 => "0%".to_string(),
        1 => "90%".to_string(),
        n => format!("99.{}%", "9".repeat(n as usize - 2)).replace(".%", "%"),
    }
}

/// The spectrum chart, `None` when the run recorded no latency.
pub fn chart(run: &RunResult, baseline: Option<&RunResult>) -> Result<Option<Chart>, String> {
    let Some(total) = decode(&run.stats.total, "stats.total")? else {
        return Ok(None);
    };
    let mut curves = Vec::new();
    let base = match baseline {
        Some(b) => decode(&b.stats.total, "the baseline's stats.total")?,
        None => None,
    };
    let phase = |name: &str| match run.stats.phases.get(name) {
        Some(s) => decode(s, &format!("stats.phases.{name}")),
        None => Ok(None),
    };
    if let Some(base) = base {
        curves.push(Curve {
            label: "baseline",
            color: PALETTE[7],
            hist: base,
        });
        curves.push(Curve {
            label: "run",
            color: PALETTE[0],
            hist: total,
        });
    } else {
        let (head, tail) = match baseline {
            None => (phase("head")?, phase("tail")?),
            Some(_) => (None, None),
        };
        if let (Some(head), Some(tail)) = (head, tail) {
            curves.push(Curve {
                label: "head",
                color: PALETTE[0],
                hist: head,
            });
            curves.push(Curve {
                label: "tail",
                color: PALETTE[1],
                hist: tail,
            });
        } else {
            curves.push(Curve {
                label: "all requests",
                color: PALETTE[0],
                hist: total,
            });
        }
    }

    let points: Vec<Vec<(f64, f64)>> = curves.iter().map(Curve::points).collect();
    let top = curves.iter().map(Curve::nines).fold(1.0, f64::max);
    let mut ticks = vec![(0.0, percent(0)), (2f64.log10(), "50%".to_string())];
    ticks.extend((1..=top.floor() as u32).map(|n| (f64::from(n), percent(n))));
    let x = Axis {
        lo: 0.0,
        hi: top,
        ticks,
        desc: "percentile (log scale: each step right is 10× rarer)".to_string(),
    };

    let values = || points.iter().flatten().map(|p| p.1).filter(|v| v.is_finite());
    let highest = values().fold(0.0, f64::max);
    let lowest = values().filter(|v| *v > 0.0).fold(f64::INFINITY, f64::min);
    let lowest_median = curves
        .iter()
        .filter_map(|c| c.hist.quantile(0.5))
        .map(|us| us as f64 / 1000.0)
        .fold(f64::INFINITY, f64::min);
    let log = lowest.is_finite() && lowest_median > 0.0 && highest / lowest_median > LOG_RATIO;
    let lines: Vec<Line> = curves
        .iter()
        .zip(&points)
        .map(|(c, p)| Line {
            label: format!("{} ({} requests)", c.label, thousands(c.hist.len())),
            color: c.color,
            points: p
                .iter()
                .map(|(x, v)| (*x, Some(if log { v.max(lowest).log10() } else { *v })))
                .collect(),
        })
        .collect();
    let y = if log {
        log_axis(lowest, highest, "latency (ms, log scale)")
    } else {
        Axis::for_values(&lines, 6, 0.0, "latency (ms)")
    };
    Ok(Some(Chart {
        title: if baseline.is_some() && curves.len() == 2 {
            "Latency percentile spectrum: run and baseline".to_string()
        } else if curves.len() == 2 {
            "Latency percentile spectrum: head and tail".to_string()
        } else {
            "Latency percentile spectrum".to_string()
        },
        x,
        panels: vec![Panel { y, lines, height: 410 }],
        phases: Vec::new(),
        marks: Vec::new(),
    }))
}

/// A log10 axis over `lo..=hi` (both above 0), ticked at 1, 2 and 5 times
/// the powers of ten, or at the powers alone when that makes too many.
fn log_axis(lo: f64, hi: f64, desc: &str) -> Axis {
    let (a, b) = (lo.log10() - 0.05, hi.log10() + 0.05);
    let mut ticks = Vec::new();
    let decades = (a.floor() as i32)..=(b.ceil() as i32);
    let multiples: &[f64] = if b - a > 3.0 { &[1.0] } else { &[1.0, 2.0, 5.0] };
    for d in decades {
        for m in multiples {
            let t = (m * 10f64.powi(d)).log10();
            if (a..=b).contains(&t) {
                ticks.push((t, number(10f64.powf(t), (-d).max(0) as usize)));
            }
        }
    }
    Axis {
        lo: a,
        hi: b,
        ticks,
        desc: desc.to_string(),
    }
}

/// `n` with thin groups of thousands: 12,345.
fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}
