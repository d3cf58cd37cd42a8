//! k6's `http_req_duration` samples, as the stream is read, into a run's
//! statistics per scenario × endpoint and its per-second timeline.
//!
//! Every sample is a request: its `name` tag (else its `url`) is the
//! endpoint, its `scenario` tag the scenario, its `status`,
//! `expected_response` and `error_code` tags its outcome, `proto` says
//! whether it came over HTTP/2. Each key keeps loadcheck's [`Stats`] (HDR
//! histograms, µs) and [`Sketch`]es of the exact values for k6's
//! percentiles.
//!
//! Seconds count from the stream's first sample. k6 stamps a request's
//! sample with its end and writes samples in batches, so a sample can
//! arrive a little after later ones: a second stays open until one
//! [`REORDER_S`] seconds later has been seen, then its row is made and its
//! histograms are written to `timeline.hlog` and dropped. A sample for a
//! second already closed (none in k6's own output) is counted in the
//! oldest second still open, and in [`Requests::late`].

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::{Duration, UNIX_EPOCH};

use super::points::{Flow, Point};
use super::sketch::Sketch;
use crate::metrics::hlog::{Cell, IntervalLog};
use crate::metrics::result::TimelineRow;
use crate::metrics::stats::{Outcome, Sample};
use crate::metrics::{ErrorClass, Stats};

/// The metric whose samples are requests.
pub const DURATION: &str = "http_req_duration";

/// How many seconds a second stays open after a later one was seen.
pub const REORDER_S: u64 = 5;

/// How far from the stream's first sample a request may be: a week. The
/// timeline has a row for every second up to the last request, so a
/// stream whose samples are years apart (two runs in one file, a clock set
/// wrong, an edited time) would fold millions of empty seconds; such a
/// request is refused instead, naming its line.
pub const MAX_SPAN_S: u64 = 7 * 86_400;

/// How a tag set's requests ended, and their key.
#[derive(Debug, Clone, Copy)]
struct TagOutcome {
    key: usize,
    response: Option<(u16, bool)>,
    class: ErrorClass,
    http2: bool,
}

/// One scenario × endpoint.
#[derive(Debug, Clone, Default)]
pub struct Key {
    /// The scenario's name.
    pub scenario: String,
    /// The endpoint's name.
    pub endpoint: String,
    /// loadcheck's statistics.
    pub stats: Stats,
    /// The durations of requests that got a response, for k6's
    /// percentiles.
    pub responses: Sketch,
    /// The durations of requests that failed without one.
    pub failures: Sketch,
}

/// The requests of a stream, folded as they are read.
#[derive(Default)]
pub struct Requests {
    outcomes: Vec<Option<TagOutcome>>,
    /// The keys, in the order first seen.
    pub keys: Vec<Key>,
    key_of: HashMap<(String, String), usize>,
    open: BTreeMap<u64, Vec<Stats>>,
    newest: Option<u64>,
    closed: u64,
    /// Samples that came after their second had closed.
    pub late: u64,
    log_path: Option<PathBuf>,
    log: Option<IntervalLog>,
    /// Why writing the log failed, if it did (the read stops there).
    pub write_error: Option<String>,
    /// The whole run's row per second.
    pub total_rows: Vec<TimelineRow>,
    /// Each endpoint's rows.
    pub endpoint_rows: BTreeMap<String, Vec<TimelineRow>>,
    origin_ms: i64,
}

/// The endpoint a tag set names: its `name` tag, else its `url`.
pub fn endpoint_of(tags: &BTreeMap<String, String>) -> &str {
    tags.get("name")
        .or_else(|| tags.get("url"))
        .map_or("(no name)", String::as_str)
}

/// The scenario a tag set names: its `scenario` tag, else `default`.
pub fn scenario_of(tags: &BTreeMap<String, String>) -> &str {
    tags.get("scenario").map_or("default", String::as_str)
}

/// The loadcheck error class of a k6 error code (k6's `error_codes.go`).
pub fn class_of_error_code(code: u32) -> ErrorClass {
    match code {
        1050 => ErrorClass::Timeout,
        // DNS, and the dial: nothing was connected.
        1100..=1199 | 1210..=1219 => ErrorClass::Connect,
        1300..=1399 => ErrorClass::Tls,
        // HTTP/2: a graceful GOAWAY (NO_ERROR, offset 1) and REFUSED_STREAM
        // (offset 8) were never processed.
        1611 | 1638 => ErrorClass::Refused,
        // A broken connection: reset, broken pipe, any other TCP or HTTP/2
        // error, and k6's generic codes.
        _ => ErrorClass::Reset,
    }
}

fn us(ms: f64) -> u64 {
    (ms * 1000.0).round().max(0.0) as u64
}

impl Requests {
    /// Folds requests, writing closed seconds to `log_path` if given.
    pub fn new(log_path: Option<PathBuf>) -> Self {
        Requests {
            log_path,
            ..Requests::default()
        }
    }

    /// Takes one sample of the stream (any metric; only requests count).
    pub fn point(&mut self, p: Point<'_>) -> Flow {
        if p.metric != DURATION {
            return Ok(());
        }
        let offset_ms = p.time_ms.saturating_sub(p.origin_ms);
        if offset_ms > (MAX_SPAN_S * 1000) as i64 {
            return Err(format!(
                "a request {:.1} days after the stream's first sample; an import covers at most {} days (two \
                 runs in one file, or a clock set wrong?)",
                offset_ms as f64 / 86_400_000.0,
                MAX_SPAN_S / 86_400
            ));
        }
        self.origin_ms = p.origin_ms;
        let o = self.outcome(p.tag_index, p.tags);
        let d = us(p.value);
        let sample = Sample {
            outcome: match o.response {
                Some((status, ok)) => Outcome::Response { status, ok },
                None => Outcome::Failed(o.class),
            },
            duration_us: d,
            service_us: d,
            http2: o.http2 && o.response.is_some(),
        };
        let key = &mut self.keys[o.key];
        key.stats.record(&sample);
        match o.response {
            Some(_) => key.responses.record(p.value),
            None => key.failures.record(p.value),
        }
        let mut second = (offset_ms.max(0) / 1000) as u64;
        if second < self.closed {
            self.late += 1;
            second = self.closed;
        }
        let n = self.keys.len();
        let cells = self.open.entry(second).or_default();
        if cells.len() < n {
            cells.resize_with(n, Stats::default);
        }
        cells[o.key].record(&sample);
        let newest = self.newest.map_or(second, |s| s.max(second));
        self.newest = Some(newest);
        while self.closed + REORDER_S < newest {
            self.close_one()?;
        }
        Ok(())
    }

    fn outcome(&mut self, tag_index: u32, tags: &BTreeMap<String, String>) -> TagOutcome {
        let i = tag_index as usize;
        if let Some(Some(o)) = self.outcomes.get(i) {
            return *o;
        }
        let key = self.key(scenario_of(tags), endpoint_of(tags));
        let status: u16 = tags.get("status").and_then(|s| s.parse().ok()).unwrap_or(0);
        let response = (status > 0).then(|| {
            let ok = match tags.get("expected_response").map(String::as_str) {
                Some(v) => v == "true",
                None => (200..400).contains(&status),
            };
            (status, ok)
        });
        let class = tags
            .get("error_code")
            .and_then(|c| c.parse().ok())
            .map_or(ErrorClass::Reset, class_of_error_code);
        let http2 = tags.get("proto").is_some_and(|p| p.starts_with("HTTP/2"));
        let o = TagOutcome {
            key,
            response,
            class,
            http2,
        };
        if self.outcomes.len() <= i {
            self.outcomes.resize(i + 1, None);
        }
        self.outcomes[i] = Some(o);
        o
    }

    fn key(&mut self, scenario: &str, endpoint: &str) -> usize {
        let id = (scenario.to_string(), endpoint.to_string());
        if let Some(k) = self.key_of.get(&id) {
            return *k;
        }
        if !self.endpoint_rows.contains_key(endpoint) {
            // An endpoint first seen now had nothing in the closed seconds.
            let rows = (0..self.closed).map(TimelineRow::empty).collect();
            self.endpoint_rows.insert(endpoint.to_string(), rows);
        }
        let k = self.keys.len();
        self.keys.push(Key {
            scenario: id.0.clone(),
            endpoint: id.1.clone(),
            ..Key::default()
        });
        self.key_of.insert(id, k);
        k
    }

    /// Closes the oldest open second: its rows, its histograms in the log.
    fn close_one(&mut self) -> Flow {
        let second = self.closed;
        let cells = self.open.remove(&second).unwrap_or_default();
        let mut total = Stats::default();
        let mut per_endpoint: BTreeMap<&str, Stats> = BTreeMap::new();
        for (k, s) in cells.iter().enumerate() {
            total += s;
            *per_endpoint.entry(self.keys[k].endpoint.as_str()).or_default() += s;
        }
        let row = |s: &Stats| TimelineRow::new(second, s.requests, s.ok, s.errors, &s.duration);
        self.total_rows.push(row(&total));
        for (endpoint, rows) in &mut self.endpoint_rows {
            rows.push(
                per_endpoint
                    .get(endpoint.as_str())
                    .map_or_else(|| TimelineRow::empty(second), row),
            );
        }
        if let Err(e) = self.write(second, cells) {
            let e = format!(
                "writing {}: {e}",
                self.log_path
                    .as_ref()
                    .map_or(String::new(), |p| p.display().to_string())
            );
            self.write_error = Some(e.clone());
            return Err(e);
        }
        self.closed += 1;
        Ok(())
    }

    fn write(&mut self, second: u64, cells: Vec<Stats>) -> std::io::Result<()> {
        let Some(path) = &self.log_path else {
            return Ok(());
        };
        if cells.iter().all(|s| s.requests == 0) {
            return Ok(());
        }
        if self.log.is_none() {
            let start = UNIX_EPOCH + Duration::from_millis(self.origin_ms.max(0) as u64);
            self.log = Some(IntervalLog::create(path, start, &[], &[])?);
        }
        let cells: Vec<(usize, Cell)> = cells
            .into_iter()
            .enumerate()
            .filter(|(_, s)| s.requests > 0)
            .map(|(k, s)| {
                (
                    k,
                    Cell {
                        duration: s.duration,
                        service: s.service,
                    },
                )
            })
            .collect();
        let named: Vec<(&str, &str, &Cell)> = cells
            .iter()
            .map(|(k, c)| (self.keys[*k].scenario.as_str(), self.keys[*k].endpoint.as_str(), c))
            .collect();
        match &mut self.log {
            Some(log) => log.write_named(second, &named),
            None => Ok(()),
        }
    }

    /// Closes every second left open; the timeline is then whole.
    pub fn finish(&mut self) -> Flow {
        while self.newest.is_some_and(|n| self.closed <= n) {
            self.close_one()?;
        }
        Ok(())
    }

    /// Whether a log was written.
    pub fn wrote_log(&self) -> bool {
        self.log.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_map_to_classes() {
        assert_eq!(class_of_error_code(1050), ErrorClass::Timeout);
        assert_eq!(class_of_error_code(1212), ErrorClass::Connect);
        assert_eq!(class_of_error_code(1211), ErrorClass::Connect);
        assert_eq!(class_of_error_code(1101), ErrorClass::Connect);
        assert_eq!(class_of_error_code(1220), ErrorClass::Reset);
        assert_eq!(class_of_error_code(1311), ErrorClass::Tls);
        assert_eq!(class_of_error_code(1638), ErrorClass::Refused);
        assert_eq!(class_of_error_code(1000), ErrorClass::Reset);
    }

    fn tags(name: &str, status: &str) -> BTreeMap<String, String> {
        [("name", name), ("status", status)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn seconds_close_behind_the_newest_and_late_samples_are_counted() {
        let mut r = Requests::new(None);
        let (a, b) = (tags("a", "200"), tags("b", "0"));
        let at = |r: &mut Requests, t: &BTreeMap<String, String>, i: u32, ms: i64| {
            r.point(Point {
                metric: DURATION,
                value: 12.5,
                time_ms: 1_000_000 + ms,
                tag_index: i,
                tags: t,
                origin_ms: 1_000_000,
            })
            .unwrap()
        };
        at(&mut r, &a, 0, 100);
        at(&mut r, &a, 0, 2_500);
        at(&mut r, &a, 0, 9_000); // second 9 closes 0..=3
        assert_eq!(r.total_rows.len(), 4);
        at(&mut r, &b, 1, 1_000); // second 1 closed: counted in second 4
        assert_eq!(r.late, 1);
        r.finish().unwrap();
        assert_eq!(r.total_rows.len(), 10);
        let requests: Vec<u64> = r.total_rows.iter().map(|row| row.requests).collect();
        assert_eq!(requests, [1, 0, 1, 0, 1, 0, 0, 0, 0, 1]);
        // b was first seen after 4 seconds had closed: zeros for them.
        assert_eq!(r.endpoint_rows["b"].len(), 10);
        assert_eq!(r.endpoint_rows["b"][4].requests, 1);
        assert_eq!(r.keys[1].stats.errors.iter().sum::<u64>(), 1);
        assert_eq!(r.keys[0].responses.count(), 3);
    }
}
