//! A run reduced to what comparing needs: per endpoint × phase, its
//! seconds as *units* (request and error counts and a coarse latency
//! histogram), read from `run.json` and `timeline.hlog`.
//!
//! Latencies are kept in log-spaced bins 1% wide ([`bin_of`]), so a
//! quantile read from merged units is within 0.5% of the HDR value: far
//! below any effect a comparison can call, and cheap to merge thousands of
//! times in a bootstrap. A second that straddles a phase boundary is left
//! out; so is the tail's warm-up. When a cell has more than
//! [`MAX_UNITS`] seconds, consecutive seconds are merged into units of
//! equal length, so a one-hour run costs what a four-minute one does.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::settings::Settings;
use crate::metrics::RunResult;
use crate::metrics::hlog_read;
use crate::metrics::result::{RunStatus, Testbed};
use crate::plan::baseline::DEFAULT_WARMUP;

/// The endpoint name of the webhook deliveries' cell (end-to-end latency
/// by second of submission, from `delivery.hlog`). Plan names hold only
/// `[A-Za-z0-9_.-]`, so it never meets an endpoint's.
pub const DELIVERY: &str = "(webhook delivery)";

/// The most units a cell is cut into.
pub const MAX_UNITS: usize = 240;
/// The bins' width on a log scale: ln(1.01).
const BIN_LN: f64 = 0.009_950_330_853_168_083;
/// Bins cover 1 µs to 60 s (and beyond, clamped).
pub const BINS: usize = 1810;

/// The bin of a latency in µs.
pub fn bin_of(us: u64) -> u16 {
    let b = ((us.max(1) as f64).ln() / BIN_LN).round();
    (b as usize).min(BINS - 1) as u16
}

/// A bin's value, µs.
pub fn value_of(bin: u16) -> f64 {
    (f64::from(bin) * BIN_LN).exp()
}

/// One unit: one second, or several consecutive ones.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Unit {
    /// Requests that ended in it.
    pub requests: u64,
    /// Of which failed.
    pub errors: u64,
    /// Latency bins `(bin, count)`, ascending, of `http_req_duration`.
    pub bins: Vec<(u16, u32)>,
}

/// One endpoint × phase of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    /// The endpoint.
    pub endpoint: String,
    /// `run`, `head`, `rollout` or `tail`.
    pub phase: String,
    /// Its units, in time order.
    pub units: Vec<Unit>,
    /// The seconds the units cover.
    pub seconds: f64,
}

/// A run, reduced.
#[derive(Debug, Clone)]
pub struct RunData {
    /// Where it was read from.
    pub path: Option<PathBuf>,
    /// `sha256:` of the `run.json` bytes it was read from.
    pub digest: Option<String>,
    /// The plan's id.
    pub id: String,
    /// When it started.
    pub started_at: String,
    /// Unix ms of the start.
    pub started_at_ms: i64,
    /// Where it ran.
    pub testbed: Testbed,
    /// Whether it finished.
    pub status: RunStatus,
    /// Whether every scenario is closed-model (then throughput is a
    /// result; in the open model the rate is set).
    pub closed_model: bool,
    /// Open model: sends scheduled and dropped, run-wide.
    pub scheduled: u64,
    /// Of which dropped.
    pub dropped: u64,
    /// The tail's warm-up left out, when the run has a tail.
    pub warmup: Option<Duration>,
    /// The `[baseline]` settings its plan recorded.
    pub settings: Settings,
    /// Per endpoint × phase, sorted.
    pub cells: Vec<Cell>,
}

impl RunData {
    /// Reads `run.json` (a file or its folder) and the `timeline.hlog`
    /// beside it.
    pub fn load(path: &Path) -> Result<RunData, String> {
        let file = if path.is_dir() {
            path.join("run.json")
        } else {
            path.to_path_buf()
        };
        let text = std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        let digest = digest_of(text.as_bytes());
        let result: RunResult = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", file.display()))?;
        if result.schema != crate::metrics::result::SCHEMA {
            return Err(format!(
                "{}: schema \"{}\" is not {}",
                file.display(),
                result.schema,
                crate::metrics::result::SCHEMA
            ));
        }
        let dir = file.parent().unwrap_or(Path::new("."));
        let mut data = RunData::of(&result, dir).map_err(|e| format!("{}: {e}", file.display()))?;
        data.path = Some(file);
        data.digest = Some(digest);
        Ok(data)
    }

    /// Reduces a result whose files are in `dir`.
    pub fn of(result: &RunResult, dir: &Path) -> Result<RunData, String> {
        if result.status == RunStatus::Running {
            return Err("the run did not finish (status \"running\")".into());
        }
        if result.status == RunStatus::Killed {
            return Err(
                "the run was killed (status \"killed\"): its statistics were read back from timeline.hlog, which \
                 holds no error counts, so it is not compared"
                    .into(),
            );
        }
        if let Some(i) = result
            .imported
            .as_ref()
            .filter(|i| i.statistics == crate::metrics::result::StatisticsKind::Summary)
        {
            return Err(format!(
                "a summary-only {} import holds {}'s own numbers and no per-request samples, so no per-second \
                 histograms; a comparison needs them (import the --out json stream too)",
                i.tool, i.tool
            ));
        }
        let Some(log_name) = &result.timeline.interval_log else {
            return Err("the run has no per-second histograms (timeline.interval_log); a comparison needs them".into());
        };
        let log_path = dir.join(log_name);
        let bytes = std::fs::read(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
        let (log, _) = hlog_read::read(&bytes).map_err(|e| format!("{}: {e}", log_path.display()))?;
        let warmup = warmup_of(&result.plan);
        let spans = spans(result, warmup);
        let start_ms = result.started_at_ms;
        // Latency bins per (endpoint, second).
        let mut bins: BTreeMap<(String, u64), BTreeMap<u16, u32>> = BTreeMap::new();
        for iv in &log.intervals {
            let Some(tag) = &iv.tag else { continue };
            let mut parts = tag.split(';');
            if parts.next() != Some("http_req_duration") {
                continue;
            }
            let Some(endpoint) = parts.find_map(|p| p.strip_prefix("endpoint=")) else {
                continue;
            };
            let Some(second) = second_of(iv, start_ms) else {
                continue;
            };
            add_bins(bins.entry((decode_name(endpoint), second)).or_default(), iv);
        }
        // Counts per (endpoint, second), and the cells' seconds.
        let mut cells: BTreeMap<(String, String), Vec<Unit>> = BTreeMap::new();
        for (endpoint, rows) in &result.timeline.endpoints {
            for row in rows {
                let Some(phase) = phase_of(&spans, row.second) else {
                    continue;
                };
                let errors: u64 = row.errors.values().sum();
                let b = bins.remove(&(endpoint.clone(), row.second)).unwrap_or_default();
                cells
                    .entry((endpoint.clone(), phase.to_string()))
                    .or_default()
                    .push(Unit {
                        requests: row.requests,
                        errors,
                        bins: b.into_iter().collect(),
                    });
            }
        }
        if let Some(name) = result
            .delivery
            .as_ref()
            .and_then(|d| d.correlation.as_ref())
            .and_then(|c| c.interval_log.as_ref())
        {
            for (second, bins) in delivery_bins(&dir.join(name), start_ms)? {
                let Some(phase) = phase_of(&spans, second) else {
                    continue;
                };
                cells
                    .entry((DELIVERY.to_string(), phase.to_string()))
                    .or_default()
                    .push(Unit {
                        requests: bins.values().map(|n| u64::from(*n)).sum(),
                        errors: 0,
                        bins: bins.into_iter().collect(),
                    });
            }
        }
        let cells = cells
            .into_iter()
            .map(|((endpoint, phase), units)| {
                let seconds = units.len() as f64;
                Cell {
                    endpoint,
                    phase,
                    units: group(units),
                    seconds,
                }
            })
            .collect();
        let (scheduled, dropped) = result
            .generator
            .as_ref()
            .map_or((0, 0), |g| (g.scheduled_sends, g.dropped_sends));
        let closed_model = scheduled == 0;
        Ok(RunData {
            path: None,
            digest: None,
            id: result.id.clone(),
            started_at: result.started_at.clone(),
            started_at_ms: result.started_at_ms,
            testbed: result.metadata.testbed.clone(),
            status: result.status,
            closed_model,
            scheduled,
            dropped,
            warmup: spans.iter().any(|s| s.name == "tail").then_some(warmup),
            settings: Settings::recorded(&result.plan),
            cells,
        })
    }

    /// The cell of an endpoint and phase.
    pub fn cell(&self, endpoint: &str, phase: &str) -> Option<&Cell> {
        self.cells.iter().find(|c| c.endpoint == endpoint && c.phase == phase)
    }
}

/// `delivery.hlog`'s latency bins per second of submission, ascending.
fn delivery_bins(path: &Path, start_ms: i64) -> Result<BTreeMap<u64, BTreeMap<u16, u32>>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let (log, _) = hlog_read::read(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out: BTreeMap<u64, BTreeMap<u16, u32>> = BTreeMap::new();
    for iv in &log.intervals {
        if iv.tag.as_deref() != Some(crate::metrics::hlog::DELIVERY_TAG) {
            continue;
        }
        if let Some(second) = second_of(iv, start_ms) {
            add_bins(out.entry(second).or_default(), iv);
        }
    }
    Ok(out)
}

/// The run's second an interval stamps (to the nearest, since the log
/// keeps whole ms); `None` before the start.
fn second_of(iv: &hlog_read::Interval, start_ms: i64) -> Option<u64> {
    let offset_ms = iv.start.as_millis() as i64 - start_ms;
    (offset_ms >= -500).then(|| ((offset_ms + 500) / 1000) as u64)
}

/// Adds an interval's counts to latency bins.
fn add_bins(bins: &mut BTreeMap<u16, u32>, iv: &hlog_read::Interval) {
    for (v, n) in &iv.counts {
        *bins.entry(bin_of(*v)).or_default() += (*n).min(u64::from(u32::MAX)) as u32;
    }
}

/// `sha256:<hex>` of a file's bytes.
pub fn digest_of(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

/// Tags hold names with `%XX` escapes for bytes outside `[A-Za-z0-9_.-]`.
fn decode_name(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let Some(v) = s.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The plan's `[baseline] warmup` as recorded, else the default.
fn warmup_of(plan: &serde_json::Value) -> Duration {
    plan.pointer("/baseline/warmup")
        .and_then(serde_json::Value::as_f64)
        .filter(|ms| ms.is_finite() && *ms >= 0.0)
        .map_or(DEFAULT_WARMUP, |ms| Duration::from_secs_f64(ms / 1000.0))
}

/// A phase's seconds, `[start, end)` in seconds since the start.
#[derive(Debug, Clone)]
struct Span {
    name: String,
    start: f64,
    end: f64,
}

/// The phases as spans; the tail starts after its warm-up (at most half
/// of it). A run without phases is one span, `run`.
fn spans(result: &RunResult, warmup: Duration) -> Vec<Span> {
    if result.phases.is_empty() {
        return vec![Span {
            name: "run".into(),
            start: 0.0,
            end: f64::INFINITY,
        }];
    }
    result
        .phases
        .iter()
        .map(|p| {
            let end = p.end_s.unwrap_or(result.duration_s);
            let mut start = p.start_s;
            if p.name == "tail" {
                start += warmup.as_secs_f64().min((end - start).max(0.0) / 2.0);
            }
            Span {
                name: p.name.clone(),
                start,
                end,
            }
        })
        .collect()
}

/// The phase a whole second lies in; `None` when it straddles a boundary
/// or lies in the tail's warm-up.
fn phase_of(spans: &[Span], second: u64) -> Option<&str> {
    let (a, b) = (second as f64, second as f64 + 1.0);
    spans
        .iter()
        .find(|s| a >= s.start && b <= s.end)
        .map(|s| s.name.as_str())
}

/// Merges consecutive seconds so that there are at most [`MAX_UNITS`].
fn group(units: Vec<Unit>) -> Vec<Unit> {
    if units.len() <= MAX_UNITS {
        return units;
    }
    let per = units.len().div_ceil(MAX_UNITS);
    units
        .chunks(per)
        .map(|chunk| {
            let mut bins: BTreeMap<u16, u32> = BTreeMap::new();
            let mut u = Unit::default();
            for c in chunk {
                u.requests += c.requests;
                u.errors += c.errors;
                for (b, n) in &c.bins {
                    *bins.entry(*b).or_default() += n;
                }
            }
            u.bins = bins.into_iter().collect();
            u
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_are_one_percent_wide_and_round_trip() {
        for us in [1u64, 2, 10, 999, 1000, 5_000, 49_999, 1_000_000, 60_000_000] {
            let v = value_of(bin_of(us));
            assert!((v / us as f64 - 1.0).abs() <= 0.005 + 1e-9, "{us} -> {v}");
        }
        assert_eq!(bin_of(0), 0);
        assert_eq!(bin_of(u64::MAX) as usize, BINS - 1);
    }

    #[test]
    fn straddling_seconds_and_the_warmup_are_left_out() {
        let spans = vec![
            Span {
                name: "head".into(),
                start: 0.0,
                end: 10.4,
            },
            Span {
                name: "rollout".into(),
                start: 10.4,
                end: 13.2,
            },
            Span {
                name: "tail".into(),
                start: 13.2 + 5.0,
                end: 30.0,
            },
        ];
        assert_eq!(phase_of(&spans, 9), Some("head"));
        assert_eq!(phase_of(&spans, 10), None);
        assert_eq!(phase_of(&spans, 11), Some("rollout"));
        assert_eq!(phase_of(&spans, 13), None);
        assert_eq!(phase_of(&spans, 17), None);
        assert_eq!(phase_of(&spans, 19), Some("tail"));
        assert_eq!(phase_of(&spans, 29), Some("tail"));
        assert_eq!(phase_of(&spans, 30), None);
    }

    #[test]
    fn long_cells_are_grouped_into_at_most_max_units() {
        let units: Vec<Unit> = (0..3600)
            .map(|i| Unit {
                requests: 10,
                errors: (i % 7 == 0) as u64,
                bins: vec![(100, 6), (200, 4)],
            })
            .collect();
        let g = group(units);
        assert!(g.len() <= MAX_UNITS);
        assert_eq!(g.iter().map(|u| u.requests).sum::<u64>(), 36_000);
        assert_eq!(
            g.iter().map(|u| u.errors).sum::<u64>(),
            (0..3600).filter(|i| i % 7 == 0).count() as u64
        );
        assert_eq!(g[0].bins, vec![(100, 6 * 15), (200, 4 * 15)]);
    }

    #[test]
    fn escaped_names_decode() {
        assert_eq!(decode_name("a%20b%2Cc"), "a b,c");
        assert_eq!(decode_name("plain-name_1.x"), "plain-name_1.x");
        assert_eq!(decode_name("bad%zz"), "bad%zz");
    }
}
