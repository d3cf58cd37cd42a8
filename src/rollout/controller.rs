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
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::sleep_until;

use super::TriggerEvent;
use super::command::{self, Ended, Finished};
use super::live::{Live, Phase, overlap_ms};
use super::probe::{self, ProbeResult};
use crate::github::GitHub;
use crate::plan::Plan;
use crate::plan::rollout::{Command, Fault, Trigger};
use crate::redact::Redactor;

/// How often the version watcher looks at the version table.
const VERSION_POLL: Duration = Duration::from_millis(20);

/// What the controller needs.
pub struct Setup {
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

/// A phase's span, in seconds from the run's start.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PhaseSpan {
    /// `head`, `rollout` or `tail`.
    pub name: String,
    /// When requests started being tagged with it.
    pub start_s: f64,
    /// When they stopped (`None`: at the end of the run).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub end_s: Option<f64>,
}

/// Something that happened during the run.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Event {
    /// `rollout_start`, `rollout_end`, `fault`, `fault_end`, `restore`,
    /// `probe_down`, `probe_up`.
    pub kind: String,
    /// `rollout`, a fault's name or a probe's name.
    pub name: String,
    /// Seconds from the run's start.
    pub at_s: f64,
    /// Whether it succeeded, for ends of commands and rollouts.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub ok: Option<bool>,
    /// For people.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub detail: Option<String>,
}

/// How the rollout went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RolloutStatus {
    /// It ended and reported success.
    Succeeded,
    /// It ended and reported failure (or could not start).
    Failed,
    /// It did not end within `timeout` (or never started).
    TimedOut,
    /// The run ended (a signal, `--max-duration`, the scenarios' end) before
    /// the rollout did.
    Unfinished,
}

/// The trigger's record.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TriggerRecord {
    /// `command`, `github_workflow`, `github_deployment` or `version_header`.
    pub trigger: String,
    /// How it went.
    pub status: RolloutStatus,
    /// A watcher saw the rollout start before the head's end.
    pub started_before_head: bool,
    /// The command's exit code.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub exit_code: Option<i32>,
    /// The last part of the command's output, redacted.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub output: Option<String>,
    /// For people: what ended it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub detail: Option<String>,
}

impl TriggerRecord {
    /// A record for trigger `kind` that has not finished yet.
    fn new(kind: &str) -> Self {
        TriggerRecord {
            trigger: kind.into(),
            status: RolloutStatus::Unfinished,
            started_before_head: false,
            exit_code: None,
            output: None,
            detail: None,
        }
    }
}

/// What the controller saw.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// The phases, when the plan has a rollout.
    pub phases: Vec<PhaseSpan>,
    /// Every event, by time.
    pub events: Vec<Event>,
    /// The trigger's record, when the plan has a rollout.
    pub trigger: Option<TriggerRecord>,
    /// The probes' results.
    pub probes: Vec<ProbeResult>,
    /// The events availability is measured from (`rollout` start and each
    /// fault), as offsets.
    pub marks: Vec<(String, Duration)>,
    /// Outputs of fault and restore commands, by `name` and `kind`.
    pub outputs: Vec<(String, String, String)>,
}

impl Report {
    /// Whether the rollout failed or timed out: an operational failure
    /// (exit 3).
    pub fn rollout_failed(&self) -> bool {
        self.trigger
            .as_ref()
            .is_some_and(|t| t.status != RolloutStatus::Succeeded)
    }
}

/// Seconds from `start` to `t` (negative never: clamped to 0).
fn secs(start: Instant, t: Instant) -> f64 {
    t.saturating_duration_since(start).as_secs_f64()
}

/// Runs until the engine has stopped; returns what was seen.
pub async fn run(setup: Setup) -> Report {
    let Setup {
        plan,
        live,
        run_start,
        started_at,
        finish,
        ended,
        redactor,
        quiet,
        github,
    } = setup;
    let env = vec![
        (
            "LOADCHECK_RUN_START_MS".to_string(),
            started_at
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis())
                .to_string(),
        ),
        ("LOADCHECK_PLAN".to_string(), plan.name.clone()),
    ];
    let ctx = Arc::new(Ctx {
        run_start,
        env,
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

    let mut report = Report::default();
    if let Some(rollout) = &plan.rollout {
        let mut rc = RolloutCtx {
            ctx: &ctx,
            live: &live,
            report: &mut report,
            rollout_start: None,
        };
        let record = match &rollout.trigger {
            Some(Trigger::Command(cmd)) => rc.fired_command(cmd, rollout.head, rollout.timeout).await,
            Some(Trigger::GithubWorkflow(spec)) => {
                let head_end = run_start + rollout.head;
                rc.github(
                    "github_workflow",
                    github.as_ref(),
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
                    github.as_ref(),
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
        let mut record = record;
        if !rollout.trigger.as_ref().is_some_and(Trigger::is_fired)
            && let Some(start) = rc.rollout_start
        {
            record.started_before_head = start < run_start + rollout.head;
        }
        let started = rc.rollout_start.is_some();
        report.trigger = Some(record);
        let status = report.trigger.as_ref().map(|t| t.status);
        // The tail follows any rollout that started and ended (well or not);
        // a rollout that never started, or a run that ended first, has none.
        if started && status != Some(RolloutStatus::Unfinished) {
            let tail_start = Instant::now();
            live.set_phase(Phase::Tail);
            report.phases.push(PhaseSpan {
                name: "tail".into(),
                start_s: secs(run_start, tail_start),
                end_s: None,
            });
            let mut e = ended.clone();
            tokio::select! {
                _ = sleep_until((tail_start + rollout.tail).into()) => {}
                _ = wait_ended(&mut e) => {}
            }
        }
        let _ = finish.send(true);
    }

    // Wait for the engine to stop, then stop what still runs.
    let mut e = ended.clone();
    wait_ended(&mut e).await;
    let _ = probe_stop_tx.send(true);
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

/// What every command run needs.
struct Ctx {
    run_start: Instant,
    env: Vec<(String, String)>,
    redactor: Redactor,
    quiet: bool,
    ended: watch::Receiver<bool>,
}

impl Ctx {
    /// Runs a command until it exits, `deadline` passes, or the load ends.
    async fn command(&self, cmd: &Command, label: &str, deadline: Option<Instant>) -> Finished {
        let mut ended = self.ended.clone();
        let stop = async move {
            match deadline {
                Some(d) => {
                    tokio::select! {
                        _ = sleep_until(d.into()) => {}
                        _ = wait_ended(&mut ended) => {}
                    }
                }
                None => {
                    wait_ended(&mut ended).await;
                }
            }
        };
        command::run(cmd, label, &self.env, &self.redactor, self.quiet, stop).await
    }

    /// Sleeps until `t`; false if the load ended first.
    async fn sleep_until(&self, t: Instant) -> bool {
        let mut ended = self.ended.clone();
        if *ended.borrow() {
            return false;
        }
        tokio::select! {
            _ = sleep_until(t.into()) => true,
            _ = wait_ended(&mut ended) => false,
        }
    }
}

/// The rollout part of the controller.
struct RolloutCtx<'a> {
    ctx: &'a Ctx,
    live: &'a Live,
    report: &'a mut Report,
    rollout_start: Option<Instant>,
}

impl RolloutCtx<'_> {
    fn start(&mut self, at: Instant, switched: Instant, detail: Option<String>) {
        let run_start = self.ctx.run_start;
        self.live.set_phase(Phase::Rollout);
        self.rollout_start = Some(at);
        self.report.phases.push(PhaseSpan {
            name: "head".into(),
            start_s: 0.0,
            end_s: Some(secs(run_start, switched)),
        });
        self.report.phases.push(PhaseSpan {
            name: "rollout".into(),
            start_s: secs(run_start, switched),
            end_s: None,
        });
        self.report.events.push(Event {
            kind: "rollout_start".into(),
            name: "rollout".into(),
            at_s: secs(run_start, at),
            ok: None,
            detail,
        });
        self.report
            .marks
            .push(("rollout".into(), at.saturating_duration_since(run_start)));
    }

    fn end(&mut self, at: Instant, switched: Instant, ok: bool, detail: Option<String>) {
        let run_start = self.ctx.run_start;
        if let Some(p) = self.report.phases.iter_mut().find(|p| p.name == "rollout") {
            p.end_s = Some(secs(run_start, switched));
        }
        self.report.events.push(Event {
            kind: "rollout_end".into(),
            name: "rollout".into(),
            at_s: secs(run_start, at),
            ok: Some(ok),
            detail,
        });
    }

    fn no_start(&mut self) {
        self.report.phases.push(PhaseSpan {
            name: "head".into(),
            start_s: 0.0,
            end_s: None,
        });
    }

    /// `command`: fired once the head has passed; its start and exit mark
    /// the rollout.
    async fn fired_command(&mut self, cmd: &Command, head: Duration, timeout: Duration) -> TriggerRecord {
        let mut record = TriggerRecord::new("command");
        if !self.ctx.sleep_until(self.ctx.run_start + head).await {
            self.no_start();
            record.detail = Some("the run ended before the head did".into());
            return record;
        }
        let now = Instant::now();
        self.start(now, now, Some(cmd.run.clone()).map(|r| self.ctx.redactor.redact(&r)));
        let f = self.ctx.command(cmd, "rollout", Some(now + timeout)).await;
        let timed_out = f.ended == Ended::Stopped && f.ended_at >= now + timeout;
        record.status = match &f.ended {
            Ended::Exited(Some(0)) => RolloutStatus::Succeeded,
            Ended::Exited(_) | Ended::NotStarted(_) => RolloutStatus::Failed,
            Ended::Stopped if timed_out => RolloutStatus::TimedOut,
            Ended::Stopped => RolloutStatus::Unfinished,
        };
        if let Ended::Exited(code) = f.ended {
            record.exit_code = code;
        }
        let detail = if timed_out {
            format!(
                "timed out after {}; stopped",
                crate::plan::duration::format_duration(timeout)
            )
        } else {
            f.describe()
        };
        record.detail = Some(detail.clone());
        record.output = Some(f.output.clone());
        if record.status != RolloutStatus::Unfinished {
            self.end(
                f.ended_at,
                f.ended_at,
                record.status == RolloutStatus::Succeeded,
                Some(detail),
            );
        }
        record
    }

    /// `github_workflow` and `github_deployment`: a task reports start and
    /// end; `from` is when it begins (the head's end for a dispatch, the
    /// run's start for a watcher). `(start_by, timeout)`: the rollout must
    /// start by `start_by` and end within `timeout` of its start.
    async fn github<F, Fut>(
        &mut self,
        kind: &str,
        gh: Option<&GitHub>,
        from: Instant,
        (start_by, timeout): (Instant, Duration),
        task: F,
    ) -> TriggerRecord
    where
        F: FnOnce(GitHub, mpsc::UnboundedSender<TriggerEvent>) -> Fut,
        Fut: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let mut record = TriggerRecord::new(kind);
        let Some(gh) = gh.cloned() else {
            self.no_start();
            record.status = RolloutStatus::Failed;
            record.detail = Some("no GitHub client (GITHUB_TOKEN unset)".into());
            return record;
        };
        if !self.ctx.sleep_until(from).await {
            self.no_start();
            record.detail = Some("the run ended before the head did".into());
            return record;
        }
        let (tx, mut rx) = mpsc::unbounded_channel();
        let handle = tokio::spawn(task(gh, tx));
        let abort = handle.abort_handle();
        let mut deadline = start_by;
        let mut ended = self.ctx.ended.clone();
        let mut task_result: Option<anyhow::Result<()>> = None;
        let mut handle = Some(handle);
        loop {
            tokio::select! {
                ev = rx.recv() => match ev {
                    Some(TriggerEvent::Started { at, detail }) => {
                        if self.rollout_start.is_none() {
                            self.start(at, Instant::now(), Some(detail));
                            deadline = Instant::now() + timeout;
                        }
                    }
                    Some(TriggerEvent::Finished { at, ok, detail }) => {
                        if self.rollout_start.is_none() {
                            self.start(at, Instant::now(), None);
                        }
                        self.end(at, Instant::now(), ok, Some(detail.clone()));
                        record.status = if ok { RolloutStatus::Succeeded } else { RolloutStatus::Failed };
                        record.detail = Some(detail);
                        break;
                    }
                    None => {
                        // The task is done without a Finished: an error.
                        let r = match handle.take() {
                            Some(h) => h.await.unwrap_or_else(|e| Err(anyhow::anyhow!("the GitHub task failed: {e}"))),
                            None => Ok(()),
                        };
                        task_result = Some(r);
                        break;
                    }
                },
                _ = sleep_until(deadline.into()) => {
                    record.status = RolloutStatus::TimedOut;
                    let fmt = crate::plan::duration::format_duration;
                    record.detail = Some(match self.rollout_start {
                        Some(_) => format!("not finished {} after it started", fmt(timeout)),
                        None => format!(
                            "not started {} after the run began",
                            fmt(start_by.saturating_duration_since(self.ctx.run_start))
                        ),
                    });
                    if self.rollout_start.is_some() {
                        let now = Instant::now();
                        self.end(now, now, false, record.detail.clone());
                    }
                    break;
                }
                _ = wait_ended(&mut ended) => {
                    record.detail = Some("the run ended before the rollout did".into());
                    break;
                }
            }
        }
        abort.abort();
        if let Some(Err(e)) = task_result {
            record.status = RolloutStatus::Failed;
            let detail = self.ctx.redactor.redact(&format!("{e:#}"));
            if self.rollout_start.is_some() {
                let now = Instant::now();
                self.end(now, now, false, Some(detail.clone()));
            }
            record.detail = Some(detail);
        }
        if self.rollout_start.is_none() {
            self.no_start();
        }
        record
    }

    /// No trigger: the rollout starts at the first response with a version
    /// other than the first one seen, and ends once only one version has
    /// been seen for `settle`.
    async fn version_watch(&mut self, head: Duration, timeout: Duration, settle: Duration) -> TriggerRecord {
        let run_start = self.ctx.run_start;
        let mut record = TriggerRecord::new("version_header");
        let mut tick = tokio::time::interval(VERSION_POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut ended = self.ctx.ended.clone();
        let mut start_deadline = run_start + head + timeout;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = wait_ended(&mut ended) => {
                    record.detail = Some(if self.rollout_start.is_some() {
                        "the run ended before the old version was gone".into()
                    } else {
                        "the run ended before a new version was seen".into()
                    });
                    break;
                }
            }
            let seen = self.live.versions().snapshot();
            let now = Instant::now();
            let now_ms = now.saturating_duration_since(run_start).as_millis() as u64;
            if self.rollout_start.is_none() {
                if seen.len() >= 2 {
                    let new = &seen[1];
                    let at = run_start + Duration::from_millis(new.first_ms);
                    self.start(
                        at,
                        now,
                        Some(format!("{} first seen after {}", new.version, seen[0].version)),
                    );
                    start_deadline = at + timeout;
                } else if now >= start_deadline {
                    record.status = RolloutStatus::TimedOut;
                    record.detail = Some(format!(
                        "no new version seen within head + timeout ({})",
                        crate::plan::duration::format_duration(head + timeout)
                    ));
                    break;
                }
                continue;
            }
            // The newest version is the one seen last to appear; the rollout
            // is over when every other version has been gone for `settle`.
            let newest = seen.iter().max_by_key(|s| s.first_ms);
            let old_last = seen
                .iter()
                .filter(|s| Some(*s) != newest)
                .map(|s| s.last_ms)
                .max()
                .unwrap_or(0);
            if now_ms.saturating_sub(old_last) >= settle.as_millis() as u64 {
                let at = run_start + Duration::from_millis(old_last);
                let detail = format!(
                    "only {} seen since {:.3} s (versions overlapped {:.3} s)",
                    newest.map_or("?", |s| s.version.as_str()),
                    old_last as f64 / 1000.0,
                    overlap_ms(&seen) as f64 / 1000.0
                );
                self.end(at, now, true, Some(detail.clone()));
                record.status = RolloutStatus::Succeeded;
                record.detail = Some(detail);
                break;
            }
            if now >= start_deadline {
                record.status = RolloutStatus::TimedOut;
                record.detail = Some(format!(
                    "old version still served after {}",
                    crate::plan::duration::format_duration(timeout)
                ));
                self.end(now, now, false, record.detail.clone());
                break;
            }
        }
        if self.rollout_start.is_none() {
            self.no_start();
        }
        record
    }
}

/// What one fault produced.
struct FaultRun {
    events: Vec<Event>,
    marks: Vec<(String, Duration)>,
    outputs: Vec<(String, String, String)>,
}

/// Runs a fault at its offset, and its restore at its own.
async fn run_fault(ctx: Arc<Ctx>, f: Fault) -> FaultRun {
    let mut out = FaultRun {
        events: Vec::new(),
        marks: Vec::new(),
        outputs: Vec::new(),
    };
    let at = ctx.run_start + f.at;
    if !ctx.sleep_until(at).await {
        return out;
    }
    let started = Instant::now();
    out.marks
        .push((f.name.clone(), started.saturating_duration_since(ctx.run_start)));
    out.events.push(Event {
        kind: "fault".into(),
        name: f.name.clone(),
        at_s: secs(ctx.run_start, started),
        ok: None,
        detail: Some(ctx.redactor.redact(&f.run.run)),
    });
    // A fault command may run until its restore is due.
    let deadline = f.restore_at.map(|r| ctx.run_start + r);
    let done = ctx.command(&f.run, &f.name, deadline).await;
    out.events.push(Event {
        kind: "fault_end".into(),
        name: f.name.clone(),
        at_s: secs(ctx.run_start, done.ended_at),
        ok: Some(done.ok()),
        detail: Some(done.describe()),
    });
    out.outputs.push((f.name.clone(), "fault".into(), done.output));
    if let (Some(restore_at), Some(restore)) = (f.restore_at, &f.restore) {
        if !ctx.sleep_until(ctx.run_start + restore_at).await {
            return out;
        }
        let started = Instant::now();
        let done = ctx.command(restore, &format!("{}:restore", f.name), None).await;
        out.events.push(Event {
            kind: "restore".into(),
            name: f.name.clone(),
            at_s: secs(ctx.run_start, started),
            ok: Some(done.ok()),
            detail: Some(done.describe()),
        });
        out.outputs.push((f.name.clone(), "restore".into(), done.output));
    }
    out
}

/// Resolves once the engine has stopped (or its sender is gone).
async fn wait_ended(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|e| *e).await;
}
