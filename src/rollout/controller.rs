//! The rollout controller: runs beside the engine, fires or watches the
//! trigger, moves the phase, runs faults at their offsets, runs the probes,
//! and tells the engine when the tail is over.
//!
//! Timeline of a run with a `[rollout]`:
//! - head: from the start; a fired trigger (command, workflow) fires once it
//!   has passed; watchers (deployments, version header) watch from the start
//!   and flag a rollout that began before the head's end;
//! - rollout: from the trigger's start to its end, or to `timeout`;
//! - tail: `tail` long, then the run ends.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::sleep_until;

pub use super::context::RolloutReport;
use super::context::{Controller, secs, wait_ended};
use super::fault::{FaultRun, run_fault};
use super::probe;
use super::trigger::RolloutCtx;
use crate::github::GitHub;
use crate::metrics::deploy::{Event, PhaseSpan, ProbeResult, RolloutStatus};
use crate::metrics::live::{Live, Phase};
use crate::plan::Plan;
use crate::plan::rollout::{Rollout, Trigger};
use crate::redact::Redactor;

/// What the controller needs.
pub struct Inputs {
    /// The plan.
    pub plan: Arc<Plan>,
    /// Shared with the engine's workers.
    pub live: Arc<Live>,
    /// The instant the load starts.
    pub run_start: Instant,
    /// The same, on the wall clock.
    pub started_at: SystemTime,
    /// Set to `true` to end the run once the tail has passed.
    pub finish: watch::Sender<bool>,
    /// Becomes `true` when the engine has stopped sending.
    pub ended: watch::Receiver<bool>,
    /// Masks secrets in captured output.
    pub redactor: Redactor,
    /// Whether to keep commands' output off stderr.
    pub quiet: bool,
    /// The GitHub client, for GitHub triggers.
    pub github: Option<GitHub>,
}

/// Runs until the engine has stopped; returns what was seen.
pub async fn run(inputs: Inputs) -> RolloutReport {
    let Inputs {
        plan,
        live,
        run_start,
        started_at,
        finish,
        ended,
        redactor,
        quiet,
        github,
    } = inputs;
    let ctx = Arc::new(Controller {
        run_start,
        env: command_env(&plan, started_at),
        redactor,
        quiet,
        ended: ended.clone(),
    });

    // Probes run until the load ends.
    let (probe_stop_tx, probe_stop_rx) = watch::channel(false);
    let mut probes = JoinSet::new();
    for p in &plan.probes {
        probes.spawn(probe::run(
            p.clone(),
            plan.tls.clone(),
            run_start,
            probe_stop_rx.clone(),
        ));
    }

    // Each fault runs on its own, so a slow one does not delay the others.
    let mut faults = JoinSet::new();
    for f in &plan.faults {
        faults.spawn(run_fault(ctx.clone(), f.clone()));
    }

    let mut report = RolloutReport::default();
    if let Some(rollout) = &plan.rollout {
        deployment_windows(&ctx, rollout, &live, github.as_ref(), started_at, &mut report).await;
        let _ = finish.send(true);
    }

    // Wait for the engine to stop, then stop what still runs.
    let mut e = ended.clone();
    wait_ended(&mut e).await;
    let _ = probe_stop_tx.send(true);
    gather(&mut report, probes, faults).await;
    let live_end = secs(run_start, Instant::now());
    if let Some(last) = report.phases.last_mut()
        && last.end_s.is_none()
        && last.name != "tail"
    {
        last.end_s = Some(live_end);
    }
    report.events.sort_by(|a, b| a.at_s.total_cmp(&b.at_s));
    report.marks.sort_by_key(|m| m.1);
    report
}

/// The environment every command gets: the run's start on the wall clock
/// and the plan's name.
fn command_env(plan: &Plan, started_at: SystemTime) -> Vec<(String, String)> {
    vec![
        (
            "LOADCHECK_RUN_START_MS".to_string(),
            started_at
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis())
                .to_string(),
        ),
        ("LOADCHECK_PLAN".to_string(), plan.name.clone()),
    ]
}

/// The head, the rollout its trigger marks, and the tail after it; returns
/// once the tail has passed (or the load ended first).
async fn deployment_windows(
    ctx: &Controller,
    rollout: &Rollout,
    live: &Live,
    github: Option<&GitHub>,
    started_at: SystemTime,
    report: &mut RolloutReport,
) {
    let run_start = ctx.run_start;
    let mut rc = RolloutCtx {
        ctx,
        live,
        report,
        rollout_start: None,
    };
    let mut record = match &rollout.trigger {
        Some(Trigger::Command(cmd)) => rc.fired_command(cmd, rollout.head, rollout.timeout).await,
        Some(Trigger::GithubWorkflow(spec)) => {
            let head_end = run_start + rollout.head;
            rc.github(
                "github_workflow",
                github,
                head_end,
                (head_end + rollout.timeout, rollout.timeout),
                |gh, tx| {
                    let spec = spec.clone();
                    async move { super::github::follow_workflow(&gh, &spec, &tx).await }
                },
            )
            .await
        }
        Some(Trigger::GithubDeployment(spec)) => {
            let since = chrono::DateTime::<chrono::Utc>::from(started_at) - chrono::Duration::seconds(60);
            rc.github(
                "github_deployment",
                github,
                run_start,
                (run_start + rollout.head + rollout.timeout, rollout.timeout),
                |gh, tx| {
                    let spec = spec.clone();
                    async move { super::github::watch_deployment(&gh, &spec, since, &tx).await }
                },
            )
            .await
        }
        None => rc.version_watch(rollout.head, rollout.timeout, rollout.settle).await,
    };
    if !rollout.trigger.as_ref().is_some_and(Trigger::is_fired)
        && let Some(start) = rc.rollout_start
    {
        record.started_before_head = start < run_start + rollout.head;
    }
    let started = rc.rollout_start.is_some();
    let status = record.status;
    report.trigger = Some(record);
    // The tail follows any rollout that started and ended (well or not);
    // a rollout that never started, or a run that ended first, has none.
    if started && status != RolloutStatus::Unfinished {
        let tail_start = Instant::now();
        live.set_phase(Phase::Tail);
        report.phases.push(PhaseSpan {
            name: "tail".into(),
            start_s: secs(run_start, tail_start),
            end_s: None,
        });
        let mut e = ctx.ended.clone();
        tokio::select! {
            _ = sleep_until((tail_start + rollout.tail).into()) => {}
            _ = wait_ended(&mut e) => {}
        }
    }
}

/// Collects the probes' results (with their down and up events) and the
/// faults' events, marks and outputs.
async fn gather(report: &mut RolloutReport, mut probes: JoinSet<ProbeResult>, mut faults: JoinSet<FaultRun>) {
    while let Some(r) = probes.join_next().await {
        if let Ok(r) = r {
            for (at_s, up) in r.transitions() {
                report.events.push(Event {
                    kind: if up { "probe_up" } else { "probe_down" }.into(),
                    name: r.name.clone(),
                    at_s,
                    ok: None,
                    detail: None,
                });
            }
            report.probes.push(r);
        }
    }
    report.probes.sort_by(|a, b| a.name.cmp(&b.name));
    while let Some(r) = faults.join_next().await {
        if let Ok(fr) = r {
            report.events.extend(fr.events);
            report.marks.extend(fr.marks);
            report.outputs.extend(fr.outputs);
        }
    }
}
