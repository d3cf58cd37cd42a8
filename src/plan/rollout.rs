//! The deployment-window parts of a validated plan: `[rollout]`,
//! `[availability]`, `[[fault]]` and `[[probe]]`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use super::Target;
use super::duration;
use crate::prometheus::Selector;

/// `[rollout]`: head, rollout, tail, and what marks the rollout.
#[derive(Debug, Clone, Serialize)]
pub struct Rollout {
    /// Load before the rollout. For triggers loadcheck fires, the trigger
    /// fires once it has passed; for watchers it is the minimum wanted.
    #[serde(with = "duration::serde_ms")]
    pub head: Duration,
    /// Load after the rollout ends.
    #[serde(with = "duration::serde_ms")]
    pub tail: Duration,
    /// The longest the rollout may take, from its start (for watchers, from
    /// the end of the head).
    #[serde(with = "duration::serde_ms")]
    pub timeout: Duration,
    /// What fires or marks the rollout; `None` means the version header
    /// marks it.
    pub trigger: Option<Trigger>,
    /// The response header that carries the app version (lower case).
    pub version_header: Option<String>,
    /// Version watcher: the rollout ends once the old version has not been
    /// seen for this long.
    #[serde(with = "duration::serde_ms")]
    pub settle: Duration,
    /// The zero-downtime rule: how many failed requests the rollout phase may
    /// have and still pass (0 by default).
    pub tolerance: u64,
}

/// What fires or marks a rollout.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// A shell string run with `sh -c` once the head has passed; its start
    /// and exit mark the rollout.
    Command(Command),
    /// A `workflow_dispatch` of a deploy workflow, followed to its end.
    GithubWorkflow(WorkflowSpec),
    /// The GitHub deployments of an environment, watched.
    GithubDeployment(DeploymentSpec),
}

impl Trigger {
    /// The trigger's name in `run.json`.
    pub fn kind(&self) -> &'static str {
        match self {
            Trigger::Command(_) => "command",
            Trigger::GithubWorkflow(_) => "github_workflow",
            Trigger::GithubDeployment(_) => "github_deployment",
        }
    }

    /// Whether loadcheck fires it (rather than watching for it).
    pub fn is_fired(&self) -> bool {
        !matches!(self, Trigger::GithubDeployment(_))
    }
}

/// A shell command run by loadcheck.
#[derive(Debug, Clone, Serialize)]
pub struct Command {
    /// The shell string, run with `sh -c`.
    pub run: String,
    /// The folder it runs in: the plan's folder.
    pub dir: PathBuf,
}

/// `github_workflow = { repo, workflow, ref, inputs, poll }`.
#[derive(Debug, Clone, Serialize)]
pub struct WorkflowSpec {
    /// Repository owner.
    pub owner: String,
    /// Repository name.
    pub repo: String,
    /// The workflow's file name (`deploy.yml`) or numeric id.
    pub workflow: String,
    /// The git ref to run it on.
    #[serde(rename = "ref")]
    pub git_ref: String,
    /// `workflow_dispatch` inputs.
    pub inputs: BTreeMap<String, String>,
    /// How often to poll GitHub.
    #[serde(with = "duration::serde_ms")]
    pub poll: Duration,
}

/// `github_deployment = { repo, environment, sha, poll }`.
#[derive(Debug, Clone, Serialize)]
pub struct DeploymentSpec {
    /// Repository owner.
    pub owner: String,
    /// Repository name.
    pub repo: String,
    /// The environment the deploy job targets.
    pub environment: String,
    /// Only deployments of this commit.
    pub sha: Option<String>,
    /// How often to poll GitHub.
    #[serde(with = "duration::serde_ms")]
    pub poll: Duration,
}

/// `[availability]`: what counts as available, for downtime and RTO.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Availability {
    /// The success rate below which a run of failures is an outage
    /// (0.99 by default).
    pub slo: f64,
    /// RTO: the length of the window that must be back at the SLO
    /// (5 s by default).
    #[serde(with = "duration::serde_ms")]
    pub window: Duration,
}

impl Default for Availability {
    fn default() -> Self {
        Availability {
            slo: 0.99,
            window: Duration::from_secs(5),
        }
    }
}

/// `[[fault]]`: a command run at an offset from the run's start, and
/// optionally a restore command later. Each fault is an event with its own
/// RTO.
#[derive(Debug, Clone, Serialize)]
pub struct Fault {
    /// Unique name, used as the `event` tag.
    pub name: String,
    /// When it runs, from the start of the run.
    #[serde(with = "duration::serde_ms")]
    pub at: Duration,
    /// The fault command.
    pub run: Command,
    /// When the restore runs, from the start of the run.
    #[serde(with = "duration::serde_ms_opt", skip_serializing_if = "Option::is_none")]
    pub restore_at: Option<Duration>,
    /// The restore command.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restore: Option<Command>,
}

/// `[[probe]]`: a URL polled during the run.
#[derive(Debug, Clone, Serialize)]
pub struct Probe {
    /// Unique name, used as the `probe` tag.
    pub name: String,
    /// The absolute URL.
    pub url: String,
    /// Its scheme, host and port (counted as a host named in the plan).
    #[serde(skip)]
    pub origin: Target,
    /// How often it is polled.
    #[serde(with = "duration::serde_ms")]
    pub interval: Duration,
    /// How long one poll may take.
    #[serde(with = "duration::serde_ms")]
    pub timeout: Duration,
    /// Statuses that count as up (empty: any 2xx).
    pub expect: Vec<u16>,
    /// A Prometheus series (`name` or `name{label="v",…}`) read from the
    /// response into the timeline.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metric: Option<Selector>,
}

impl Probe {
    /// Whether a status counts as up.
    pub fn is_up(&self, status: u16) -> bool {
        if self.expect.is_empty() {
            (200..300).contains(&status)
        } else {
            self.expect.contains(&status)
        }
    }
}
