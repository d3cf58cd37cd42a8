//! The rollout's trigger: a command fired after the head, a GitHub
//! workflow dispatched or a deployment watched, or the version header
//! watched; each marks the rollout's start and end on the live phase.

use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::time::sleep_until;

use super::TriggerEvent;
use super::command::Ended;
use super::context::{Controller, RolloutReport, secs, wait_ended};
use crate::github::GitHub;
use crate::metrics::deploy::{Event, PhaseSpan, RolloutStatus, TriggerRecord};
use crate::metrics::live::{Live, Phase, overlap_ms};
use crate::plan::rollout::Command;

/// How often the version watcher looks at the version table.
const VERSION_POLL: Duration = Duration::from_millis(20);

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

/// The rollout part of the controller.
pub(super) struct RolloutCtx<'a> {
    pub(super) ctx: &'a Controller,
    pub(super) live: &'a Live,
    pub(super) report: &'a mut RolloutReport,
    pub(super) rollout_start: Option<Instant>,
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
    pub(super) async fn fired_command(&mut self, cmd: &Command, head: Duration, timeout: Duration) -> TriggerRecord {
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
    pub(super) async fn github<F, Fut>(
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
    pub(super) async fn version_watch(&mut self, head: Duration, timeout: Duration, settle: Duration) -> TriggerRecord {
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
