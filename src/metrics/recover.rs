//! A killed run read back from the files it left (`status: killed`).
//!
//! A run whose process was killed (SIGKILL, the OOM killer, a job cancelled
//! hard) leaves its `run.json` as written at the start (`RunStart`: the
//! plan, the metadata, the start time) and the seconds it closed in
//! `timeline.hlog`. [`recover`] rebuilds a [`RunResult`] from the two: the
//! header from the start, and the statistics, atoms and timeline rows from
//! the log's histograms, summed per scenario × endpoint as `merge` sums a
//! shard's seconds.
//!
//! The log holds the latency of each response and nothing else: no status,
//! no error class, nothing of requests that got no response, no pacing, no
//! phase. So `requests` and `ok` count the responses the log holds, no
//! error is counted, the generator's counts are 0, and the atoms have no
//! phase; `recovered.not_recovered` says so in words, and only checks on
//! `http_req_duration` and `http_req_service_duration` without a phase are
//! judged from such a file (`readback::Decoded::holds`).
//!
//! **Whole seconds only.** Each second's lines are written in one write
//! (`hlog`), so a kill leaves the seconds before the one being written
//! whole. A log that ends mid-line was cut while its last second was being
//! written: that second is left out, whole lines and all. When the cut
//! line's start time cannot be read, the last second with whole lines is
//! taken to be the one cut.

use super::hist::Hist;
use super::hlog::{Cell, FILE_NAME};
use super::hlog_read::{self, Interval, Seconds};
use super::result::{Recovered, RunResult, RunStart, RunStatus, SCHEMA, StatsSet, Timeline, TimelineRow};
use super::stats::Stats;
use crate::plan::registry::ErrorClass;
use crate::plan::roster::Roster;

/// Rebuilds the run of `start` (a `running` run.json) from `log`, the
/// bytes of the `timeline.hlog` beside it (`None` when there is none), for
/// the plan whose roster is `roster`. The result is `killed` and not
/// judged: that is the caller's. A log whose whole lines do not decode is
/// an error naming the interval.
pub fn recover(start: RunStart, roster: &Roster, log: Option<&[u8]>) -> Result<RunResult, String> {
    if start.schema != SCHEMA {
        return Err(format!("field `schema`: \"{}\" is not {SCHEMA}", start.schema));
    }
    let (intervals, cut) = match log {
        Some(bytes) => whole_seconds(bytes, start.started_at_ms)?,
        None => (Vec::new(), false),
    };
    // The log has no phases: the atoms and views are the run's as a whole.
    let flat = Roster {
        has_rollout: false,
        ..roster.clone()
    };
    let mut seconds = Seconds::new(vec![intervals.as_slice()], &flat, start.started_at_ms);
    let last = seconds.last();
    let mut keys = vec![Stats::default(); flat.scenarios.len().max(1) * flat.endpoints.len().max(1)];
    let mut total = Vec::new();
    let mut by_endpoint = vec![Vec::new(); flat.endpoints.len()];
    for second in last.map_or(0..0, |l| 0..l + 1) {
        let (cells, _) = seconds.take(second);
        for (key, cell) in keys.iter_mut().zip(&cells) {
            *key += &responses(cell);
        }
        let (all, per_endpoint) = Cell::durations(&cells, flat.endpoints.len());
        total.push(row(second, &all));
        for (rows, h) in by_endpoint.iter_mut().zip(&per_endpoint) {
            rows.push(row(second, h));
        }
    }
    let covered = last.map_or(0, |l| l + 1);
    let duration_s = covered as f64;
    let recovered = Recovered {
        from: FILE_NAME.to_string(),
        seconds: covered,
        last_whole_second: last,
        cut,
        not_recovered: not_recovered(roster, log.is_some()),
    };
    let timeline = Timeline {
        resolution_s: 1,
        approximate_percentiles: false,
        total,
        endpoints: flat.endpoints.iter().cloned().zip(by_endpoint).collect(),
        interval_log: log.map(|_| FILE_NAME.to_string()),
    };
    let stats = StatsSet::of_keys(&keys, &flat, &[], duration_s);
    // No pacing is in the log: `generator` is left out, not written as zeros.
    let mut result = start.into_result(RunStatus::Killed, duration_s, stats, timeline, None);
    result.recovered = Some(recovered);
    Ok(result)
}

/// The log's intervals of whole seconds, and whether it ended mid-line.
fn whole_seconds(bytes: &[u8], start_ms: i64) -> Result<(Vec<Interval>, bool), String> {
    let (log, cut) = hlog_read::read(bytes)?;
    let mut intervals = log.intervals;
    if cut {
        // The second being written when the kill came, and any after it.
        let from = hlog_read::cut_start(bytes)
            .map(|at| hlog_read::second_at(at, start_ms))
            .or_else(|| intervals.last().map(|iv| iv.second(start_ms)));
        if let Some(from) = from {
            intervals.retain(|iv| iv.second(start_ms) < from);
        }
    }
    Ok((intervals, cut))
}

/// A cell's responses as statistics: each `http_req_duration` value is a
/// response, whatever its status (the log does not say).
fn responses(cell: &Cell) -> Stats {
    Stats {
        requests: cell.duration.len(),
        ok: cell.duration.len(),
        duration: cell.duration.clone(),
        service: cell.service.clone(),
        ..Stats::default()
    }
}

/// A second's row: its responses and their percentiles.
fn row(second: u64, duration: &Hist) -> TimelineRow {
    TimelineRow::new(second, duration.len(), duration.len(), [0; ErrorClass::COUNT], duration)
}

/// What the files of a killed run cannot give, in words.
fn not_recovered(roster: &Roster, log: bool) -> Vec<String> {
    let mut out = Vec::new();
    if !log {
        out.push(format!(
            "{FILE_NAME}: not found beside run.json (the run was killed before its first second was written, or \
             it could not write one): nothing was measured"
        ));
    }
    out.push(
        "errors and status codes: the log holds the latency of each response, not its status, and nothing of \
         requests that got no response; `requests` and `ok` count the responses it holds, and no error is counted"
            .into(),
    );
    out.push(
        "pacing: scheduled, dropped and late sends and the send lag are not in the log; `generator` is left out".into(),
    );
    if roster.has_rollout {
        out.push(
            "phases: the log does not tag seconds with a phase, and the phases were written only at the end; the \
             atoms and views have no phase"
                .into(),
        );
    }
    out.push(
        "thresholds and requirements are judged again from the recovered statistics: only `http_req_duration` \
         and `http_req_service_duration` without a phase; events, the rollout, availability, probes, versions, \
         setup and delivery are written only when a run ends"
            .into(),
    );
    out
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;
    use crate::metrics::hlog::IntervalLog;
    use crate::metrics::result::Metadata;
    use crate::plan::Executor;
    use crate::plan::roster::RosterScenario;

    const START_MS: i64 = 1_767_000_000_250;

    fn roster(rollout: bool) -> Roster {
        Roster {
            endpoints: vec!["a".into(), "b".into()],
            scenarios: vec![RosterScenario {
                name: "steady".into(),
                executor: Executor::ConstantVus {
                    vus: 1,
                    duration: Duration::from_secs(5),
                },
                endpoints: vec![(0, 1), (1, 1)],
            }],
            has_rollout: rollout,
            delivery_endpoint: None,
        }
    }

    fn start() -> RunStart {
        RunStart {
            schema: SCHEMA.into(),
            plan: serde_json::json!({"name": "p"}),
            plan_fingerprint: "sha256:00".into(),
            id: "p".into(),
            started_at: "2025-12-29T09:20:00.250Z".into(),
            started_at_ms: START_MS,
            status: RunStatus::Running,
            metadata: Metadata::default(),
        }
    }

    /// A log of `seconds` seconds: in second `s`, endpoint `a` has `s + 1`
    /// responses of 1 ms, endpoint `b` one of 2 ms.
    fn log(seconds: u64) -> Vec<u8> {
        let path = tempfile::tempdir().unwrap().keep().join(FILE_NAME);
        let at = UNIX_EPOCH + Duration::from_millis(START_MS as u64);
        let mut log = IntervalLog::create(&path, at, &["steady"], &["a", "b"]).unwrap();
        for s in 0..seconds {
            let mut cells = vec![Cell::default(); 2];
            cells[0].duration.record_n(1000, s + 1);
            cells[0].service.record_n(900, s + 1);
            cells[1].duration.record(2000);
            log.write_second(s, &cells).unwrap();
        }
        drop(log);
        std::fs::read(&path).unwrap()
    }

    #[test]
    fn a_whole_log_is_read_to_its_last_second() {
        let r = recover(start(), &roster(false), Some(&log(3))).unwrap();
        assert_eq!(r.status, RunStatus::Killed);
        let rec = r.recovered.as_ref().unwrap();
        assert_eq!((rec.seconds, rec.last_whole_second, rec.cut), (3, Some(2), false));
        assert_eq!(r.duration_s, 3.0);
        assert_eq!(r.stats.total.requests, 1 + 2 + 3 + 3);
        assert_eq!(r.stats.endpoints["a"].requests, 6);
        assert_eq!(r.stats.total.failed, 0);
        let rows: Vec<u64> = r.timeline.total.iter().map(|row| row.requests).collect();
        assert_eq!(rows, vec![2, 3, 4]);
        assert_eq!(r.timeline.endpoints["b"].len(), 3);
        assert_eq!(r.stats.atoms.len(), 2);
        assert!(r.stats.atoms.iter().all(|a| a.phase.is_none()));
    }

    #[test]
    fn a_cut_log_keeps_the_seconds_before_the_cut_one() {
        let whole = log(4);
        let lines: Vec<usize> = whole
            .iter()
            .enumerate()
            .filter(|(_, b)| **b == b'\n')
            .map(|(i, _)| i + 1)
            .collect();
        // The last three interval lines are second 3's (a, b, a's service),
        // each `Tag=<49 bytes>,<start, 14 bytes>,…`.
        let second_3 = lines[lines.len() - 4];
        let line_2 = lines[lines.len() - 3];
        for cut in [second_3 + 65, line_2 + 100, whole.len() - 1] {
            let r = recover(start(), &roster(false), Some(&whole[..cut])).unwrap();
            let rec = r.recovered.unwrap();
            assert_eq!((rec.seconds, rec.cut), (3, true), "cut at {cut}");
        }
        // Cut before its start time could be read: the last second with
        // whole lines is taken to be the one cut.
        for cut in [second_3 + 1, second_3 + 60] {
            let r = recover(start(), &roster(false), Some(&whole[..cut])).unwrap();
            assert_eq!(r.recovered.unwrap().seconds, 2, "cut at {cut}");
        }
        // Within second 3, after its start time: whole lines of it are
        // left out too.
        let r = recover(start(), &roster(false), Some(&whole[..line_2 + 70])).unwrap();
        assert_eq!(r.timeline.total.len(), 3);
        // Cut at the end of a second: nothing was cut.
        let r = recover(start(), &roster(false), Some(&whole[..second_3])).unwrap();
        assert_eq!(r.recovered.unwrap().seconds, 3);
    }

    #[test]
    fn no_log_is_0_seconds_and_a_rollout_plan_has_no_phases() {
        let r = recover(start(), &roster(true), None).unwrap();
        let rec = r.recovered.as_ref().unwrap();
        assert_eq!((rec.seconds, rec.last_whole_second), (0, None));
        assert_eq!(r.duration_s, 0.0);
        assert!(r.timeline.total.is_empty() && r.stats.atoms.is_empty());
        assert!(r.stats.phases.is_empty());
        assert!(rec.not_recovered.iter().any(|n| n.starts_with("phases")));
        assert!(r.timeline.interval_log.is_none());
        let r = recover(start(), &roster(true), Some(&log(2))).unwrap();
        assert!(r.stats.atoms.iter().all(|a| a.phase.is_none()));
        assert!(r.stats.phases.is_empty());
    }
}
