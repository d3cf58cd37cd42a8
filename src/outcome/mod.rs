//! Turns what the engine measured into a [`RunResult`]: statistics, the
//! timeline, pacing, and every threshold and requirement judged.

mod metadata;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::engine::{Abort, EngineOutput};
use crate::metrics::availability::{AvailabilityResult, EventMark, analyze};
use crate::metrics::deploy::PhaseSpan;
use crate::metrics::eval::View;
use crate::metrics::hist::Latency;
use crate::metrics::judge::judge;
use crate::metrics::live::overlap_ms;
use crate::metrics::recorder::{GenStats, LATE_AFTER};
use crate::metrics::result::{
    AbortKind, AbortRecord, Generator, Metadata, RunStart, RunStatus, ScenarioGenerator, StatsSet, Timeline,
};
use crate::metrics::result::{CommandOutput, RolloutResult, ScenarioLoad, VersionSeen, Versions, ZeroDowntime};
use crate::metrics::{ErrorClass, RunResult, Stats};
use crate::plan::{Executor, Plan};
use crate::rollout::controller::RolloutReport;

pub use metadata::{clock_seed, metadata};

/// What a run measured besides the engine and the rollout controller.
#[derive(Debug, Default)]
pub struct Extra {
    /// The sink's figures, when the plan has `[sink]`.
    pub delivery: Option<crate::metrics::delivery::DeliveryReport>,
    /// The `[[setup]]` requests.
    pub setup: Vec<crate::metrics::setup::SetupRecord>,
}

/// Builds the run's result, judged, with its verdict, under the header of
/// `start` (what [`started`] wrote).
pub fn assemble(plan: &Plan, out: &EngineOutput, report: &RolloutReport, extra: &Extra, start: RunStart) -> RunResult {
    let duration_s = out.elapsed.as_secs_f64();
    let agg = &out.agg;
    let n = plan.endpoints.len().max(1);
    let n_sc = plan.scenarios.len().max(1);
    let phases = phase_spans(report, duration_s);
    let availability = availability(plan, out, report);
    let roster = plan.roster();
    let zero_downtime = plan.rollout.as_ref().and_then(|r| {
        report
            .phases
            .iter()
            .any(|p| p.name == "rollout")
            .then(|| zero_downtime(agg, n * n_sc, r.tolerance))
    });
    let view = View {
        roster: &roster,
        keys: &agg.keys,
        generator: &agg.generator,
        duration_s,
        phases: &phases,
        availability: availability.as_ref(),
        probes: &report.probes,
        zero_downtime: zero_downtime.as_ref(),
        delivery: extra.delivery.as_ref(),
    };
    let stats = StatsSet::of_keys(&agg.keys, &roster, &phases, duration_s);
    let timeline = timeline(plan, out, report);
    let (thresholds, requirements) = judge(&plan.thresholds, &plan.requirements, &view, &stats);
    // The header is the one `run.json` was written with at the start.
    let status = if out.abort.is_some() {
        RunStatus::Aborted
    } else {
        RunStatus::Completed
    };
    let mut result = start.into_result(
        status,
        duration_s,
        stats,
        timeline,
        Some(generator(plan, &agg.generator)),
    );
    result.abort = out.abort.as_ref().map(abort_record);
    result.thresholds = thresholds;
    result.requirements = requirements;
    result.phases = phases;
    result.events = report.events.clone();
    result.rollout = report
        .trigger
        .clone()
        .map(|trigger| RolloutResult { trigger, zero_downtime });
    result.availability = availability;
    result.versions = versions(plan, out);
    result.probes = report.probes.clone();
    result.commands = report
        .outputs
        .iter()
        .filter(|(_, _, o)| !o.is_empty())
        .map(|(name, kind, output)| CommandOutput {
            name: name.clone(),
            kind: kind.clone(),
            output: output.clone(),
        })
        .collect();
    result.setup = extra.setup.clone();
    result.delivery = extra.delivery.clone();
    result.verdict = Some(crate::verdict::decide(&result));
    result
}

/// What `run.json` says while the run goes: the plan, the metadata and
/// the start time, with `status: running`.
pub fn started(plan: &Plan, started_at: SystemTime, metadata: Metadata) -> RunStart {
    let plan_json = serde_json::to_value(plan).unwrap_or(serde_json::Value::Null);
    RunStart {
        schema: crate::metrics::result::SCHEMA.to_string(),
        plan_fingerprint: crate::metrics::result::fingerprint(&plan_json),
        plan: plan_json,
        id: plan.id.clone(),
        started_at: rfc3339(started_at),
        started_at_ms: unix_ms(started_at),
        status: RunStatus::Running,
        metadata,
    }
}

/// `at` as RFC 3339, UTC, to the millisecond.
pub fn rfc3339(at: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(at).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// `at` in unix milliseconds (0 before the epoch).
pub fn unix_ms(at: SystemTime) -> i64 {
    at.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as i64
}

/// The structured record of an abort.
fn abort_record(abort: &Abort) -> AbortRecord {
    match abort {
        Abort::Signal(s) => AbortRecord {
            kind: AbortKind::Signal,
            detail: Some((*s).to_string()),
        },
        Abort::Threshold(t) => AbortRecord {
            kind: AbortKind::Threshold,
            detail: Some(t.clone()),
        },
        Abort::MaxDuration => AbortRecord {
            kind: AbortKind::MaxDuration,
            detail: None,
        },
    }
}

/// The per-second timeline: the aggregator's rows, with each second's
/// versions by name and each metric probe's last reading in the second.
fn timeline(plan: &Plan, out: &EngineOutput, report: &RolloutReport) -> Timeline {
    let agg = &out.agg;
    let mut total_rows: Vec<_> = agg.total_rows.iter().collect();
    for &(second, id, count) in &agg.version_rows {
        if let Some(row) = total_rows.get_mut(second as usize)
            && let Some((_, name)) = out.version_names.iter().find(|v| v.0 == id)
        {
            row.versions.insert(name.clone(), count);
        }
    }
    for (second, row) in total_rows.iter_mut().enumerate() {
        for (sc, l) in plan.scenarios.iter().zip(agg.load_of(second)) {
            let value = if sc.executor.is_open() {
                ScenarioLoad::Scheduled(l.scheduled)
            } else {
                ScenarioLoad::Vus(l.vus)
            };
            row.load.insert(sc.name.clone(), value);
        }
    }
    for probe in &report.probes {
        for &(ms, value) in &probe.values {
            if let Some(row) = total_rows.get_mut((ms / 1000) as usize) {
                // The last reading in the second wins.
                row.probes.insert(probe.name.clone(), value);
            }
        }
    }
    Timeline {
        resolution_s: 1,
        approximate_percentiles: false,
        total: total_rows,
        endpoints: plan
            .endpoints
            .iter()
            .zip(&agg.endpoint_rows)
            .map(|(ep, rows)| (ep.name.clone(), rows.iter().collect()))
            .collect(),
        interval_log: out.interval_log.clone(),
    }
}

/// The phases, with the last one closed at the end of the run.
fn phase_spans(report: &RolloutReport, duration_s: f64) -> Vec<PhaseSpan> {
    let mut phases = report.phases.clone();
    for p in &mut phases {
        if p.end_s.is_none_or(|e| e > duration_s) {
            p.end_s = Some(duration_s.max(p.start_s));
        }
    }
    phases
}

/// The zero-downtime rule over the rollout phase's keys (`group` keys per
/// phase).
fn zero_downtime(agg: &crate::metrics::Aggregator, group: usize, tolerance: u64) -> ZeroDowntime {
    let mut s = Stats::default();
    for st in agg.keys.iter().skip(group).take(group) {
        s += st;
    }
    let failed = s.failed();
    ZeroDowntime {
        ok: failed <= tolerance,
        failed_requests: failed,
        reset_requests: s.errors_of(ErrorClass::Reset),
        tolerance,
    }
}

/// The measurement resolution: one request interval at the plan's highest
/// open-model rate, and never finer than the outcome log's 1 ms.
fn resolution(plan: &Plan, out: &EngineOutput) -> Duration {
    let rate = plan
        .scenarios
        .iter()
        .filter_map(|s| match &s.executor {
            Executor::ConstantArrivalRate { rate, .. } => Some(*rate),
            Executor::RampingArrivalRate { start_rate, stages } => {
                Some(stages.iter().map(|st| st.target).fold(*start_rate, f64::max))
            }
            _ => None,
        })
        .sum::<f64>();
    let rate = if rate > 0.0 {
        rate
    } else {
        // Closed model: the measured rate.
        out.agg.counts().0 as f64 / out.elapsed.as_secs_f64().max(1e-9)
    };
    let ms = if rate > 0.0 { 1000.0 / rate } else { 1000.0 };
    Duration::from_secs_f64(ms.max(1.0) / 1000.0)
}

fn availability(plan: &Plan, out: &EngineOutput, report: &RolloutReport) -> Option<AvailabilityResult> {
    if out.agg.outcomes.is_empty() {
        return None;
    }
    let marks: Vec<EventMark> = report
        .marks
        .iter()
        .map(|(name, at)| EventMark {
            name: name.clone(),
            at: *at,
        })
        .collect();
    let mut result = analyze(
        &out.agg.outcomes,
        &marks,
        plan.availability.slo,
        plan.availability.window,
        resolution(plan, out),
        out.elapsed,
    );
    // A fault whose command failed broke nothing on purpose: what followed
    // it is no recovery time.
    for e in &mut result.events {
        let failed = report
            .events
            .iter()
            .find(|ev| ev.kind == "fault_end" && ev.name == e.event && ev.ok == Some(false));
        if let Some(failed) = failed {
            e.time_to_detect_s = None;
            e.rto_s = None;
            e.not_measured = Some(format!(
                "the fault command failed ({})",
                failed.detail.as_deref().unwrap_or("no detail")
            ));
        }
    }
    Some(result)
}

fn versions(plan: &Plan, out: &EngineOutput) -> Option<Versions> {
    let header = plan.rollout.as_ref()?.version_header.clone()?;
    let seen = &out.seen_versions;
    let names = &out.version_names;
    Some(Versions {
        header,
        overlap_s: overlap_ms(seen) as f64 / 1000.0,
        seen: seen
            .iter()
            .map(|s| VersionSeen {
                version: s.version.clone(),
                first_s: s.first_ms as f64 / 1000.0,
                last_s: s.last_ms as f64 / 1000.0,
                responses: names
                    .iter()
                    .find(|(_, n)| *n == s.version)
                    .map_or(0, |(id, _)| out.agg.version_totals[*id]),
            })
            .collect(),
    })
}

fn generator(plan: &Plan, per_scenario: &[GenStats]) -> Generator {
    let mut g = GenStats::default();
    for s in per_scenario {
        g += s;
    }
    let scenarios = plan
        .scenarios
        .iter()
        .zip(per_scenario)
        .filter(|(_, g)| g.scheduled > 0 || g.dropped > 0)
        .map(|(s, g)| (s.name.clone(), ScenarioGenerator::of(g)))
        .collect();
    Generator {
        scheduled_sends: g.scheduled,
        dropped_sends: g.dropped,
        late_sends: g.late,
        late_after_ms: LATE_AFTER.as_secs_f64() * 1000.0,
        send_lag_ms: Latency::of(&g.lag),
        scenarios,
    }
}
