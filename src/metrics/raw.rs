//! The raw-sample dump (`run --raw-samples FILE`, hidden, for tests): every
//! request's measurement and every open-model send's lag, exactly as the
//! recorders put them into the histograms, one JSON object per line.
//! `docs/development.md` describes the format.
//!
//! Workers buffer their records per second and hand them over with their
//! [`Delta`](super::Delta); with the dump off the buffer is `None` and the
//! only cost per sample is that check.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use super::live::Phase;
use super::stats::{Outcome, Sample};
use crate::plan::registry::ErrorClass;

/// One request as recorded.
#[derive(Debug, Clone, Copy)]
pub struct RawRequest {
    /// The recorder's key (phase, scenario, endpoint).
    pub key: usize,
    /// The second the aggregator counts it in.
    pub second: u64,
    /// The measurement.
    pub sample: Sample,
}

/// One open-model send, or a dropped one.
#[derive(Debug, Clone, Copy)]
pub struct RawSend {
    /// The scenario's index.
    pub scenario: usize,
    /// The second the aggregator counts it in.
    pub second: u64,
    /// Its lag in µs; `None` when it was dropped (`max_in_flight` full).
    pub lag_us: Option<u64>,
}

/// A worker's records of one second.
#[derive(Debug, Clone, Default)]
pub struct RawBuf {
    /// Requests, in the order recorded.
    pub requests: Vec<RawRequest>,
    /// Open-model sends.
    pub sends: Vec<RawSend>,
}

/// The dump file.
pub struct RawDump {
    out: BufWriter<File>,
    /// Names as JSON strings, quoted and escaped.
    scenarios: Vec<String>,
    endpoints: Vec<String>,
    /// Whether keys carry a phase (the plan has a rollout).
    phased: bool,
}

fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

impl RawDump {
    /// Creates `path`. `phased`: the plan has a rollout, so keys carry a
    /// phase.
    pub fn create(path: &Path, scenarios: &[&str], endpoints: &[&str], phased: bool) -> io::Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        Ok(RawDump {
            out: BufWriter::new(File::create(path)?),
            scenarios: scenarios.iter().map(|s| quoted(s)).collect(),
            endpoints: endpoints.iter().map(|s| quoted(s)).collect(),
            phased,
        })
    }

    /// Appends one worker's second of records.
    pub fn write(&mut self, buf: &RawBuf) -> io::Result<()> {
        let n = self.endpoints.len().max(1);
        let n_sc = self.scenarios.len().max(1);
        let name = |names: &[String], i: usize| names.get(i).cloned().unwrap_or_else(|| "\"\"".into());
        for r in &buf.requests {
            let phase = if self.phased {
                Phase::ALL.get(r.key / (n * n_sc)).map_or("", |p| p.name())
            } else {
                ""
            };
            write!(
                self.out,
                "{{\"kind\":\"request\",\"scenario\":{},\"endpoint\":{},\"phase\":\"{phase}\",\"second\":{}",
                name(&self.scenarios, (r.key / n) % n_sc),
                name(&self.endpoints, r.key % n),
                r.second
            )?;
            match r.sample.outcome {
                Outcome::Response { status, ok } => {
                    write!(self.out, ",\"status\":{status}")?;
                    if !ok {
                        write!(self.out, ",\"error\":\"{}\"", ErrorClass::of_status(status).name())?;
                    }
                }
                Outcome::Failed(class) => write!(self.out, ",\"error\":\"{}\"", class.name())?,
            }
            writeln!(
                self.out,
                ",\"duration_us\":{},\"service_us\":{}}}",
                r.sample.duration_us, r.sample.service_us
            )?;
        }
        for s in &buf.sends {
            let scenario = name(&self.scenarios, s.scenario);
            match s.lag_us {
                Some(lag) => writeln!(
                    self.out,
                    "{{\"kind\":\"send\",\"scenario\":{scenario},\"second\":{},\"lag_us\":{lag}}}",
                    s.second
                )?,
                None => writeln!(
                    self.out,
                    "{{\"kind\":\"dropped\",\"scenario\":{scenario},\"second\":{}}}",
                    s.second
                )?,
            }
        }
        Ok(())
    }

    /// Flushes what is buffered.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_one_json_object_per_record() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("raw.ndjson");
        let mut dump = RawDump::create(&path, &["a", "b\"q"], &["x", "y"], true).unwrap();
        let sample = |outcome| Sample {
            outcome,
            duration_us: 1500,
            service_us: 1200,
            http2: false,
        };
        let buf = RawBuf {
            requests: vec![
                // phase 2 (tail), scenario 1, endpoint 0
                RawRequest {
                    key: (2 * 2 + 1) * 2,
                    second: 4,
                    sample: sample(Outcome::Response { status: 503, ok: false }),
                },
                RawRequest {
                    key: 1,
                    second: 0,
                    sample: sample(Outcome::Failed(ErrorClass::Reset)),
                },
            ],
            sends: vec![
                RawSend {
                    scenario: 0,
                    second: 1,
                    lag_us: Some(70),
                },
                RawSend {
                    scenario: 0,
                    second: 1,
                    lag_us: None,
                },
            ],
        };
        dump.write(&buf).unwrap();
        dump.flush().unwrap();
        let lines: Vec<serde_json::Value> = std::fs::read_to_string(&path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(
            lines,
            vec![
                serde_json::json!({"kind": "request", "scenario": "b\"q", "endpoint": "x", "phase": "tail",
                    "second": 4, "status": 503, "error": "status_5xx", "duration_us": 1500, "service_us": 1200}),
                serde_json::json!({"kind": "request", "scenario": "a", "endpoint": "y", "phase": "head",
                    "second": 0, "error": "reset", "duration_us": 1500, "service_us": 1200}),
                serde_json::json!({"kind": "send", "scenario": "a", "second": 1, "lag_us": 70}),
                serde_json::json!({"kind": "dropped", "scenario": "a", "second": 1}),
            ]
        );
    }
}
