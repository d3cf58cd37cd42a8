//! Turns what the engine measured into a [`RunResult`]: statistics, the
//! timeline, pacing, and every threshold and requirement judged.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use crate::engine::{Abort, EngineOutput};
use crate::metrics::availability::{AvailabilityResult, EventMark, analyze};
use crate::metrics::deploy::PhaseSpan;
use crate::metrics::eval::{View, evaluate};
use crate::metrics::hist::Latency;
use crate::metrics::live::{Phase, overlap_ms};
use crate::metrics::recorder::{GenStats, LATE_AFTER};
use crate::metrics::result::{
    CheckResult, Generator, Metadata, RequirementResult, RunStatus, StatsSet, StatsSummary, Timeline,
};
use crate::metrics::result::{CommandOutput, RolloutResult, ScenarioLoad, VersionSeen, Versions, ZeroDowntime};
use crate::metrics::{Aggregator, ErrorClass, RunResult, Stats};
use crate::plan::registry::Tag;
use crate::plan::{Executor, MetricSelector, Plan};
use crate::rollout::controller::RolloutReport;

/// Builds the run's result.
/// What a run measured besides the engine and the rollout controller.
#[derive(Debug, Default)]
pub struct Extra {
    /// The sink's figures, when the plan has `[sink]`.
    pub delivery: Option<crate::metrics::delivery::DeliveryReport>,
    /// The `[[setup]]` requests.
    pub setup: Vec<crate::metrics::setup::SetupRecord>,
}

pub fn assemble(
    plan: &Plan,
    out: &EngineOutput,
    report: &RolloutReport,
    extra: &Extra,
    metadata: Metadata,
) -> RunResult {
    let duration_s = out.elapsed.as_secs_f64();
    let agg = &out.agg;
    let n = plan.endpoints.len().max(1);
    let n_sc = plan.scenarios.len().max(1);
    let phases = phase_spans(report, duration_s);
    let availability = availability(plan, out, report);
    let zero_downtime = plan.rollout.as_ref().and_then(|r| {
        report
            .phases
            .iter()
            .any(|p| p.name == "rollout")
            .then(|| zero_downtime(agg, n * n_sc, r.tolerance))
    });
    let view = View {
        plan,
        keys: &agg.keys,
        generator: &agg.generator,
        duration_s,
        phases: &phases,
        availability: availability.as_ref(),
        probes: &report.probes,
        zero_downtime: zero_downtime.as_ref(),
        delivery: extra.delivery.as_ref(),
    };
    let plan_json = serde_json::to_value(plan).unwrap_or(serde_json::Value::Null);
    let started_ms = out
        .started_at
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as i64;
    let stats = stats_set(plan, agg, &phases, duration_s);
    let timeline = timeline(plan, out, report);
    let (thresholds, requirements) = judge(plan, &view, &stats, &phases, out.elapsed);
    RunResult {
        schema: crate::metrics::result::SCHEMA.to_string(),
        plan_fingerprint: fingerprint(&plan_json),
        plan: plan_json,
        started_at: chrono::DateTime::<chrono::Utc>::from(out.started_at)
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        started_at_ms: started_ms,
        duration_s,
        status: if out.abort.is_some() {
            RunStatus::Aborted
        } else {
            RunStatus::Completed
        },
        abort_reason: out.abort.as_ref().map(Abort::to_string),
        metadata,
        stats,
        timeline,
        generator: generator(&agg.generator),
        thresholds,
        requirements,
        phases,
        events: report.events.clone(),
        rollout: report
            .trigger
            .clone()
            .map(|trigger| RolloutResult { trigger, zero_downtime }),
        availability,
        versions: versions(plan, out),
        probes: report.probes.clone(),
        commands: report
            .outputs
            .iter()
            .filter(|(_, _, o)| !o.is_empty())
            .map(|(name, kind, output)| CommandOutput {
                name: name.clone(),
                kind: kind.clone(),
                output: output.clone(),
            })
            .collect(),
        setup: extra.setup.clone(),
        delivery: extra.delivery.clone(),
    }
}

/// Every threshold and requirement, judged on the run's figures.
fn judge(
    plan: &Plan,
    view: &View<'_>,
    stats: &StatsSet,
    phases: &[PhaseSpan],
    elapsed: Duration,
) -> (Vec<CheckResult>, Vec<RequirementResult>) {
    let thresholds = plan
        .thresholds
        .iter()
        .map(|t| {
            let (value, ok) = evaluate(view, &t.selector, &t.condition);
            CheckResult {
                metric: t.metric.clone(),
                expression: t.expression.clone(),
                value,
                ok,
                abort_on_fail: t.abort_on_fail,
            }
        })
        .collect();
    let requirements = plan
        .requirements
        .iter()
        .map(|r| {
            let (value, ok) = evaluate(view, &r.selector, &r.condition);
            RequirementResult {
                name: r.name.clone(),
                target: r.target.clone(),
                check: r.check.clone(),
                value,
                ok,
                validated: validated(plan, stats, phases, &r.selector, elapsed),
                note: r.note.clone(),
            }
        })
        .collect();
    (thresholds, requirements)
}

/// The statistics: in total, per endpoint, per scenario, and (with a
/// rollout) per deployment window and per endpoint in each window. The
/// aggregator's keys are (phase, scenario, endpoint), endpoint fastest.
fn stats_set(plan: &Plan, agg: &Aggregator, phases: &[PhaseSpan], duration_s: f64) -> StatsSet {
    let n = plan.endpoints.len().max(1);
    let n_sc = plan.scenarios.len().max(1);
    let by = |pick: &dyn Fn(usize) -> bool| {
        let mut s = Stats::default();
        for (k, st) in agg.keys.iter().enumerate() {
            if pick(k) {
                s += st;
            }
        }
        StatsSummary::of(&s, duration_s)
    };
    let mut stats = StatsSet {
        total: StatsSummary::of(&agg.total(), duration_s),
        endpoints: plan
            .endpoints
            .iter()
            .enumerate()
            .map(|(e, ep)| (ep.name.clone(), by(&|k| k % n == e)))
            .collect(),
        scenarios: plan
            .scenarios
            .iter()
            .enumerate()
            .map(|(s, sc)| (sc.name.clone(), by(&|k| (k / n) % n_sc == s)))
            .collect(),
        phases: BTreeMap::new(),
        endpoint_phases: BTreeMap::new(),
    };
    if plan.rollout.is_some() {
        for (pi, phase) in Phase::ALL.iter().enumerate() {
            let length = phases
                .iter()
                .find(|p| p.name == phase.name())
                .map_or(0.0, |p| p.end_s.unwrap_or(duration_s) - p.start_s);
            let of = |pick: &dyn Fn(usize) -> bool| {
                let mut s = Stats::default();
                for (k, st) in agg.keys.iter().enumerate() {
                    if k / (n * n_sc) == pi && pick(k) {
                        s += st;
                    }
                }
                StatsSummary::of(&s, length)
            };
            stats.phases.insert(phase.name().to_string(), of(&|_| true));
            for (e, ep) in plan.endpoints.iter().enumerate() {
                stats
                    .endpoint_phases
                    .entry(ep.name.clone())
                    .or_default()
                    .insert(phase.name().to_string(), of(&|k| k % n == e));
            }
        }
    }
    stats
}

/// The per-second timeline: the aggregator's rows, with each second's
/// versions by name and each metric probe's last reading in the second.
fn timeline(plan: &Plan, out: &EngineOutput, report: &RolloutReport) -> Timeline {
    let agg = &out.agg;
    let mut total_rows = agg.total_rows.clone();
    for (row, counts) in total_rows.iter_mut().zip(&agg.version_rows) {
        for (id, &count) in counts.iter().enumerate() {
            if count > 0
                && let Some((_, name)) = out.version_names.iter().find(|v| v.0 == id)
            {
                row.versions.insert(name.clone(), count);
            }
        }
    }
    for (row, load) in total_rows.iter_mut().zip(&agg.load_rows) {
        for (sc, l) in plan.scenarios.iter().zip(load) {
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
            .map(|(ep, rows)| (ep.name.clone(), rows.clone()))
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
    Some(analyze(
        &out.agg.outcomes,
        &marks,
        plan.availability.slo,
        plan.availability.window,
        resolution(plan, out),
        out.elapsed,
    ))
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

fn generator(per_scenario: &[GenStats]) -> Generator {
    let mut g = GenStats::default();
    for s in per_scenario {
        g += s;
    }
    Generator {
        scheduled_sends: g.scheduled,
        dropped_sends: g.dropped,
        late_sends: g.late,
        late_after_ms: LATE_AFTER.as_secs_f64() * 1000.0,
        send_lag_ms: Latency::of(&g.lag),
    }
}

/// `sha256:` of the canonical (key-sorted) JSON of the resolved plan,
/// leaving out `source`: the same plan read from another path is the same
/// plan.
pub fn fingerprint(plan_json: &serde_json::Value) -> String {
    let mut plan = plan_json.clone();
    if let Some(map) = plan.as_object_mut() {
        map.remove("source");
    }
    // serde_json's default map is ordered by key, so this text is canonical.
    let text = plan.to_string();
    let digest = Sha256::digest(text.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// The "Validated" column: what was actually run and measured for the
/// scenarios a requirement covers. Built only from measurements and the
/// executed plan, never from a claim.
fn validated(
    plan: &Plan,
    stats: &StatsSet,
    phases: &[PhaseSpan],
    selector: &MetricSelector,
    elapsed: Duration,
) -> String {
    let tag = |want: Tag| selector.tags.iter().find(|(t, _)| *t == want).map(|(_, v)| v.as_str());
    // A check on one phase says how long that phase was, and what it saw.
    let phase = tag(Tag::Phase).or(match selector.metric.name {
        "rollout_failed_requests" | "rollout_reset_requests" => Some("rollout"),
        _ => None,
    });
    let prefix = match phase {
        Some(name) => match (phases.iter().find(|p| p.name == name), stats.phases.get(name)) {
            (Some(span), Some(s)) => format!(
                "{name} phase ({:.1} s): {} requests, {} failed; ",
                span.end_s.unwrap_or(elapsed.as_secs_f64()) - span.start_s,
                s.requests,
                s.failed
            ),
            _ => format!("{name} phase: not reached; "),
        },
        None => String::new(),
    };
    let (only, endpoint) = (tag(Tag::Scenario), tag(Tag::Endpoint));
    let sends_to = |s: &crate::plan::Scenario, name: &str| {
        s.endpoints
            .iter()
            .any(|&(e, w)| w > 0 && plan.endpoints[e].name == name)
    };
    let parts: Vec<String> = plan
        .scenarios
        .iter()
        .filter(|s| only.is_none_or(|name| name == s.name))
        .filter(|s| endpoint.is_none_or(|name| sends_to(s, name)))
        .map(|s| {
            let measured = stats.scenarios.get(&s.name);
            let requests = measured.map_or(0, |m| m.requests);
            let load = match &s.executor {
                Executor::ConstantArrivalRate { rate, .. } => format!("{rate} req/s"),
                Executor::RampingArrivalRate { stages, .. } => {
                    format!(
                        "ramping to {} req/s",
                        stages.iter().map(|st| st.target).fold(0.0, f64::max)
                    )
                }
                Executor::ConstantVus { vus, .. } => format!("{vus} VUs"),
                Executor::RampingVus { stages, .. } => {
                    format!(
                        "ramping to {} VUs",
                        stages.iter().map(|st| st.target).fold(0.0, f64::max)
                    )
                }
                Executor::SharedIterations { vus, iterations, .. }
                | Executor::PerVuIterations { vus, iterations, .. } => {
                    format!("{vus} VUs × {iterations} iterations")
                }
            };
            let rate = requests as f64 / elapsed.as_secs_f64().max(1e-9);
            format!(
                "{} ({}, {load}): {requests} requests in {:.1} s, {rate:.1} req/s measured",
                s.name,
                s.executor.name(),
                elapsed.as_secs_f64()
            )
        })
        .collect();
    format!("{prefix}{}", parts.join("; "))
}

/// Run metadata from the environment.
pub fn metadata(workers: usize, seed: u64) -> Metadata {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    Metadata {
        loadcheck_version: env!("CARGO_PKG_VERSION").to_string(),
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        workers,
        seed,
        github_sha: env("GITHUB_SHA"),
        github_ref: env("GITHUB_REF"),
        runner_os: env("RUNNER_OS"),
        runner_arch: env("RUNNER_ARCH"),
        runner_name: env("RUNNER_NAME"),
    }
}

/// A seed from the clock, for runs without `--seed`.
pub fn clock_seed() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}
