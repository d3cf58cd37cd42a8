//! What the rollout controller's parts share: the running of a command
//! (bounded by a deadline and by the load's end), the clock, and the
//! report they fill in.

use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::time::sleep_until;

use super::command::{self, Finished};
use crate::metrics::deploy::{Event, PhaseSpan, ProbeResult, TriggerRecord};
use crate::plan::rollout::Command;
use crate::redact::Redactor;

/// What the controller saw.
#[derive(Debug, Clone, Default)]
pub struct RolloutReport {
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

/// Seconds from `start` to `t` (negative never: clamped to 0).
pub(super) fn secs(start: Instant, t: Instant) -> f64 {
    t.saturating_duration_since(start).as_secs_f64()
}

/// What every command run needs.
pub(super) struct Controller {
    pub(super) run_start: Instant,
    pub(super) env: Vec<(String, String)>,
    pub(super) redactor: Redactor,
    pub(super) quiet: bool,
    pub(super) ended: watch::Receiver<bool>,
}

impl Controller {
    /// Runs a command until it exits, `deadline` passes, or the load ends.
    pub(super) async fn command(&self, cmd: &Command, label: &str, deadline: Option<Instant>) -> Finished {
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
    pub(super) async fn sleep_until(&self, t: Instant) -> bool {
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

/// Resolves once the engine has stopped (or its sender is gone).
pub(super) async fn wait_ended(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|e| *e).await;
}
