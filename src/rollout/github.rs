//! The GitHub rollout triggers: a `workflow_dispatch` that loadcheck fires
//! and follows to its end, and an environment's deployments, watched.
//!
//! Both only poll: they hold no state beyond their own locals, so the
//! controller may drop either future at any await (that is how it enforces
//! the rollout's timeout).

use std::collections::HashSet;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use tokio::sync::mpsc::UnboundedSender;

use super::TriggerEvent;
use crate::github::{Deployment, DeploymentStatus, GitHub, GitHubError, RunQuery, WorkflowRun};
use crate::plan::rollout::{DeploymentSpec, WorkflowSpec};

/// How far GitHub's clock may be behind ours when looking for the run a
/// dispatch created. Runs that already existed before the dispatch are
/// excluded by id, so the window can be generous.
pub const CLOCK_SKEW: Duration = Duration::from_secs(30);

/// The shortest poll interval used, whatever the plan says, so that a zero
/// interval cannot flood the API.
const MIN_POLL: Duration = Duration::from_millis(10);

/// How many polls a run named by the dispatch response may answer 404
/// before that is an error (GitHub may take a moment to serve a new run).
const NOT_FOUND_GRACE: u32 = 3;

/// Where a workflow run is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunPhase {
    /// `queued`, `waiting`, `requested`, `pending`, or a status this version
    /// does not know: the run has not started its work yet.
    NotStarted,
    /// `in_progress`.
    Running,
    /// `completed`, with its conclusion.
    Completed {
        /// Whether the conclusion is `success`.
        ok: bool,
        /// The conclusion, or `none` when GitHub gave none.
        conclusion: String,
    },
}

/// The phase of a run from its `status` and `conclusion`.
pub fn run_phase(run: &WorkflowRun) -> RunPhase {
    match run.status.as_deref() {
        Some("in_progress") => RunPhase::Running,
        Some("completed") => {
            let conclusion = run.conclusion.clone().unwrap_or_else(|| "none".to_string());
            RunPhase::Completed {
                ok: conclusion == "success",
                conclusion,
            }
        }
        _ => RunPhase::NotStarted,
    }
}

/// The run a dispatch created: the newest `workflow_dispatch` run on
/// `branch` created at or after `not_before` whose id was not seen before
/// the dispatch.
pub fn pick_run<'a>(
    runs: &'a [WorkflowRun],
    known: &HashSet<u64>,
    not_before: DateTime<Utc>,
    branch: &str,
) -> Option<&'a WorkflowRun> {
    runs.iter()
        .filter(|r| !known.contains(&r.id))
        .filter(|r| r.created_at >= not_before)
        .filter(|r| r.event.as_deref().is_none_or(|e| e == "workflow_dispatch"))
        .filter(|r| r.head_branch.as_deref().is_none_or(|b| b == branch))
        .max_by_key(|r| (r.created_at, r.id))
}

/// The branch (or tag) name GitHub reports as a run's `head_branch` for a
/// dispatch on `git_ref`.
pub fn branch_of(git_ref: &str) -> &str {
    git_ref
        .strip_prefix("refs/heads/")
        .or_else(|| git_ref.strip_prefix("refs/tags/"))
        .unwrap_or(git_ref)
}

/// Fires the workflow of `spec` and follows the run it started: `Started`
/// once the run is `in_progress`, `Finished` once it is `completed` (ok when
/// its conclusion is `success`). Returns after `Finished`; polls until then,
/// so the caller bounds it by dropping the future.
pub async fn follow_workflow(gh: &GitHub, spec: &WorkflowSpec, tx: &UnboundedSender<TriggerEvent>) -> Result<()> {
    let poll = spec.poll.max(MIN_POLL);
    let (owner, repo, workflow) = (spec.owner.as_str(), spec.repo.as_str(), spec.workflow.as_str());
    let branch = branch_of(&spec.git_ref);
    let name = format!("workflow {workflow} of {owner}/{repo} on {}", spec.git_ref);
    let query = |since: DateTime<Utc>| RunQuery {
        branch: Some(branch.to_string()),
        event: Some("workflow_dispatch".to_string()),
        created_since: Some(since),
    };

    // Runs that exist before the dispatch are not ours, however the clocks
    // differ.
    let window = Utc::now() - CLOCK_SKEW;
    let known: HashSet<u64> = gh
        .list_workflow_runs(owner, repo, workflow, &query(window))
        .await
        .with_context(|| format!("listing the runs of {name} before dispatching it"))?
        .iter()
        .map(|r| r.id)
        .collect();

    let dispatched_at = Utc::now();
    let dispatched = gh
        .dispatch_workflow(owner, repo, workflow, &spec.git_ref, &spec.inputs)
        .await
        .with_context(|| format!("dispatching {name}"))?;

    let mut run = match dispatched {
        Some(d) => first_look(gh, owner, repo, d.workflow_run_id, poll)
            .await
            .with_context(|| format!("reading run {} of {name}", d.workflow_run_id))?,
        None => loop {
            let runs = gh
                .list_workflow_runs(owner, repo, workflow, &query(dispatched_at - CLOCK_SKEW))
                .await
                .with_context(|| format!("looking for the run of {name}"))?;
            if let Some(run) = pick_run(&runs, &known, dispatched_at - CLOCK_SKEW, branch) {
                break run.clone();
            }
            tokio::time::sleep(poll).await;
        },
    };

    let mut started = false;
    loop {
        match run_phase(&run) {
            RunPhase::NotStarted => {}
            RunPhase::Running => {
                if !started {
                    send(tx, started_event(&run, "in_progress"))?;
                    started = true;
                }
            }
            RunPhase::Completed { ok, conclusion } => {
                if !started {
                    send(tx, started_event(&run, "already completed when first seen"))?;
                }
                send(
                    tx,
                    TriggerEvent::Finished {
                        at: Instant::now(),
                        ok,
                        detail: finished_detail(&run, &conclusion),
                    },
                )?;
                return Ok(());
            }
        }
        tokio::time::sleep(poll).await;
        run = gh
            .get_workflow_run(owner, repo, run.id)
            .await
            .with_context(|| format!("polling run {} of {name}", run.id))?;
    }
}

/// Reads a run the dispatch response named, allowing GitHub a few polls to
/// start serving it.
async fn first_look(gh: &GitHub, owner: &str, repo: &str, run_id: u64, poll: Duration) -> Result<WorkflowRun> {
    let mut misses = 0;
    loop {
        match gh.get_workflow_run(owner, repo, run_id).await {
            Err(GitHubError::Status { status: 404, .. }) if misses < NOT_FOUND_GRACE => misses += 1,
            other => return Ok(other?),
        }
        tokio::time::sleep(poll).await;
    }
}

fn started_event(run: &WorkflowRun, seen: &str) -> TriggerEvent {
    let mut detail = format!("run {} {seen}", run.id);
    if let Some(url) = &run.html_url {
        detail.push_str(&format!(", {url}"));
    }
    let mut times = vec![format!("created {}", stamp(run.created_at))];
    if let Some(at) = run.run_started_at {
        times.push(format!("started {}", stamp(at)));
    }
    detail.push_str(&format!(" ({})", times.join(", ")));
    TriggerEvent::Started {
        at: Instant::now(),
        detail,
    }
}

fn finished_detail(run: &WorkflowRun, conclusion: &str) -> String {
    let mut detail = format!("conclusion: {conclusion}");
    if let Some(url) = &run.html_url {
        detail.push_str(&format!(", {url}"));
    }
    let mut times = vec![format!("run {}", run.id)];
    if let Some(at) = run.run_started_at {
        times.push(format!("started {}", stamp(at)));
    }
    if let Some(at) = run.updated_at {
        times.push(format!("updated {}", stamp(at)));
    }
    detail.push_str(&format!(" ({})", times.join(", ")));
    detail
}

/// Where a deployment is, from its statuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeploymentPhase<'a> {
    /// No status yet, or `queued` or `pending` (statuses `inactive` and
    /// unknown states are ignored).
    NotStarted,
    /// `in_progress`, with that status.
    Running(&'a DeploymentStatus),
    /// `success`, `failure` or `error`, with that status.
    Done {
        /// Whether it is `success`.
        ok: bool,
        /// The terminal status.
        status: &'a DeploymentStatus,
    },
}

/// The phase of a deployment from its statuses (in any order; the newest
/// one that counts decides).
pub fn deployment_phase(statuses: &[DeploymentStatus]) -> DeploymentPhase<'_> {
    let newest = statuses
        .iter()
        .filter(|s| {
            matches!(
                s.state.as_str(),
                "queued" | "pending" | "in_progress" | "success" | "failure" | "error"
            )
        })
        .max_by_key(|s| (s.created_at, s.id));
    match newest {
        None => DeploymentPhase::NotStarted,
        Some(s) => match s.state.as_str() {
            "in_progress" => DeploymentPhase::Running(s),
            "success" => DeploymentPhase::Done { ok: true, status: s },
            "failure" | "error" => DeploymentPhase::Done { ok: false, status: s },
            _ => DeploymentPhase::NotStarted,
        },
    }
}

/// Whether `sha` is a whole commit id (SHA-1 or SHA-256), which GitHub's
/// `sha` filter needs; a shorter prefix is matched here instead.
fn is_full_sha(sha: &str) -> bool {
    (sha.len() == 40 || sha.len() == 64) && sha.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The deployment to watch: the newest one to `environment` created at or
/// after `since`, of a commit starting with `sha` when given.
pub fn pick_deployment<'a>(
    deployments: &'a [Deployment],
    environment: &str,
    sha: Option<&str>,
    since: DateTime<Utc>,
) -> Option<&'a Deployment> {
    deployments
        .iter()
        .filter(|d| d.created_at >= since)
        .filter(|d| {
            d.environment
                .as_deref()
                .is_none_or(|e| e.eq_ignore_ascii_case(environment))
        })
        .filter(|d| match (sha, d.sha.as_deref()) {
            (None, _) => true,
            (Some(want), Some(have)) => {
                !want.is_empty() && have.get(..want.len()).is_some_and(|p| p.eq_ignore_ascii_case(want))
            }
            (Some(_), None) => false,
        })
        .max_by_key(|d| (d.created_at, d.id))
}

/// Watches the deployments of `spec.environment` for the newest one created
/// at or after `since` (of `spec.sha` when given), then its statuses:
/// `Started` at `in_progress`, `Finished` at `success` (ok), `failure` or
/// `error`. Returns after `Finished`; polls until then, so the caller bounds
/// it by dropping the future.
pub async fn watch_deployment(
    gh: &GitHub,
    spec: &DeploymentSpec,
    since: DateTime<Utc>,
    tx: &UnboundedSender<TriggerEvent>,
) -> Result<()> {
    let poll = spec.poll.max(MIN_POLL);
    let (owner, repo, environment) = (spec.owner.as_str(), spec.repo.as_str(), spec.environment.as_str());
    let sha = spec.sha.as_deref().map(str::trim).filter(|s| !s.is_empty());
    let sha_filter = sha.filter(|s| is_full_sha(s));
    let name = format!("deployments of {owner}/{repo} to {environment}");
    // GitHub's timestamps have whole seconds: a deployment created in the
    // same second as `since` reads as created before it.
    let since = since.trunc_subsecs(0);

    let deployment = loop {
        let deployments = gh
            .list_deployments(owner, repo, environment, sha_filter)
            .await
            .with_context(|| format!("listing the {name}"))?;
        if let Some(d) = pick_deployment(&deployments, environment, sha, since) {
            break d.clone();
        }
        tokio::time::sleep(poll).await;
    };
    let label = deployment_label(&deployment, environment);

    let mut started = false;
    loop {
        let statuses = gh
            .list_deployment_statuses(owner, repo, deployment.id)
            .await
            .with_context(|| format!("reading the statuses of {label}"))?;
        match deployment_phase(&statuses) {
            DeploymentPhase::NotStarted => {}
            DeploymentPhase::Running(status) => {
                if !started {
                    send(
                        tx,
                        TriggerEvent::Started {
                            at: Instant::now(),
                            detail: status_detail(&label, status),
                        },
                    )?;
                    started = true;
                }
            }
            DeploymentPhase::Done { ok, status } => {
                if !started {
                    // The in_progress status, if GitHub kept one, says when
                    // it really started.
                    let first = statuses
                        .iter()
                        .filter(|s| s.state == "in_progress")
                        .min_by_key(|s| (s.created_at, s.id))
                        .map_or_else(
                            || format!("{label} already {} when first seen", status.state),
                            |s| status_detail(&label, s),
                        );
                    send(
                        tx,
                        TriggerEvent::Started {
                            at: Instant::now(),
                            detail: first,
                        },
                    )?;
                }
                send(
                    tx,
                    TriggerEvent::Finished {
                        at: Instant::now(),
                        ok,
                        detail: format!("state: {}, {}", status.state, status_detail(&label, status)),
                    },
                )?;
                return Ok(());
            }
        }
        tokio::time::sleep(poll).await;
    }
}

fn deployment_label(d: &Deployment, environment: &str) -> String {
    let mut label = format!(
        "deployment {} to {}",
        d.id,
        d.environment.as_deref().unwrap_or(environment)
    );
    if let Some(sha) = &d.sha {
        label.push_str(&format!(" (sha {})", sha.get(..12).unwrap_or(sha)));
    }
    label.push_str(&format!(", created {}", stamp(d.created_at)));
    label
}

fn status_detail(label: &str, s: &DeploymentStatus) -> String {
    let mut detail = format!("{label}: {} at {}", s.state, stamp(s.created_at));
    if let Some(description) = s.description.as_deref().filter(|d| !d.is_empty()) {
        detail.push_str(&format!(" ({description})"));
    }
    if let Some(url) = [&s.log_url, &s.target_url, &s.environment_url]
        .into_iter()
        .flatten()
        .find(|u| !u.is_empty())
    {
        detail.push_str(&format!(", {url}"));
    }
    detail
}

fn stamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn send(tx: &UnboundedSender<TriggerEvent>, event: TriggerEvent) -> Result<()> {
    tx.send(event)
        .map_err(|_| anyhow!("the rollout controller stopped listening for trigger events"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn run(id: u64, created: &str, status: &str, conclusion: Option<&str>) -> WorkflowRun {
        WorkflowRun {
            id,
            name: None,
            status: Some(status.into()),
            conclusion: conclusion.map(Into::into),
            html_url: Some(format!("https://github.com/a/b/actions/runs/{id}")),
            event: Some("workflow_dispatch".into()),
            head_branch: Some("main".into()),
            head_sha: None,
            created_at: at(created),
            updated_at: None,
            run_started_at: None,
        }
    }

    fn status(id: u64, state: &str, created: &str) -> DeploymentStatus {
        DeploymentStatus {
            id,
            state: state.into(),
            description: None,
            environment: Some("staging".into()),
            log_url: None,
            target_url: None,
            environment_url: None,
            created_at: at(created),
        }
    }

    fn deployment(id: u64, env: &str, sha: &str, created: &str) -> Deployment {
        Deployment {
            id,
            sha: Some(sha.into()),
            git_ref: Some("main".into()),
            task: Some("deploy".into()),
            environment: Some(env.into()),
            description: None,
            created_at: at(created),
            updated_at: None,
        }
    }

    #[test]
    fn run_statuses_map_to_phases() {
        for s in ["queued", "waiting", "requested", "pending", "something_new"] {
            assert_eq!(
                run_phase(&run(1, "2024-05-01T12:00:00Z", s, None)),
                RunPhase::NotStarted,
                "{s}"
            );
        }
        assert_eq!(
            run_phase(&run(1, "2024-05-01T12:00:00Z", "in_progress", None)),
            RunPhase::Running
        );
        assert_eq!(
            run_phase(&run(1, "2024-05-01T12:00:00Z", "completed", Some("success"))),
            RunPhase::Completed {
                ok: true,
                conclusion: "success".into()
            }
        );
        for c in ["failure", "cancelled", "timed_out", "skipped", "startup_failure"] {
            assert_eq!(
                run_phase(&run(1, "2024-05-01T12:00:00Z", "completed", Some(c))),
                RunPhase::Completed {
                    ok: false,
                    conclusion: c.into()
                }
            );
        }
        assert_eq!(
            run_phase(&run(1, "2024-05-01T12:00:00Z", "completed", None)),
            RunPhase::Completed {
                ok: false,
                conclusion: "none".into()
            }
        );
        let mut no_status = run(1, "2024-05-01T12:00:00Z", "x", None);
        no_status.status = None;
        assert_eq!(run_phase(&no_status), RunPhase::NotStarted);
    }

    #[test]
    fn picks_the_newest_new_dispatch_run_on_the_branch() {
        let not_before = at("2024-05-01T11:59:30Z");
        let mut other_branch = run(5, "2024-05-01T12:00:09Z", "queued", None);
        other_branch.head_branch = Some("dev".into());
        let mut push = run(6, "2024-05-01T12:00:08Z", "queued", None);
        push.event = Some("push".into());
        let runs = vec![
            run(1, "2024-05-01T11:00:00Z", "completed", Some("success")),
            run(2, "2024-05-01T11:59:50Z", "in_progress", None),
            run(3, "2024-05-01T12:00:02Z", "queued", None),
            run(4, "2024-05-01T12:00:01Z", "queued", None),
            other_branch,
            push,
        ];
        let known: HashSet<u64> = [2].into();
        assert_eq!(pick_run(&runs, &known, not_before, "main").map(|r| r.id), Some(3));
        // Known runs and runs before the window never match.
        let known: HashSet<u64> = [2, 3, 4].into();
        assert_eq!(pick_run(&runs, &known, not_before, "main").map(|r| r.id), None);
        assert_eq!(pick_run(&[], &HashSet::new(), not_before, "main"), None);
    }

    #[test]
    fn branch_names() {
        assert_eq!(branch_of("main"), "main");
        assert_eq!(branch_of("refs/heads/release/1.2"), "release/1.2");
        assert_eq!(branch_of("refs/tags/v1"), "v1");
    }

    #[test]
    fn deployment_states_map_to_phases() {
        assert_eq!(deployment_phase(&[]), DeploymentPhase::NotStarted);
        let queued = [status(1, "queued", "2024-05-01T12:00:00Z")];
        assert_eq!(deployment_phase(&queued), DeploymentPhase::NotStarted);
        let pending = [status(1, "pending", "2024-05-01T12:00:00Z")];
        assert_eq!(deployment_phase(&pending), DeploymentPhase::NotStarted);
        // Newest first, as GitHub lists them.
        let running = [
            status(2, "in_progress", "2024-05-01T12:00:05Z"),
            status(1, "queued", "2024-05-01T12:00:00Z"),
        ];
        assert_eq!(deployment_phase(&running), DeploymentPhase::Running(&running[0]));
        for (state, ok) in [("success", true), ("failure", false), ("error", false)] {
            let done = [
                status(3, state, "2024-05-01T12:00:09Z"),
                status(2, "in_progress", "2024-05-01T12:00:05Z"),
            ];
            assert_eq!(
                deployment_phase(&done),
                DeploymentPhase::Done { ok, status: &done[0] },
                "{state}"
            );
        }
        // inactive is ignored, whatever its place; order comes from the
        // timestamps, not the list.
        let inactive = [
            status(2, "in_progress", "2024-05-01T12:00:05Z"),
            status(4, "inactive", "2024-05-01T12:00:20Z"),
            status(3, "success", "2024-05-01T12:00:09Z"),
        ];
        assert_eq!(
            deployment_phase(&inactive),
            DeploymentPhase::Done {
                ok: true,
                status: &inactive[2]
            }
        );
        let only_inactive = [status(4, "inactive", "2024-05-01T12:00:20Z")];
        assert_eq!(deployment_phase(&only_inactive), DeploymentPhase::NotStarted);
    }

    #[test]
    fn picks_the_newest_deployment_since() {
        let sha = "0123456789abcdef0123456789abcdef01234567";
        let since = at("2024-05-01T12:00:00Z");
        let ds = vec![
            deployment(1, "staging", sha, "2024-05-01T11:00:00Z"),
            deployment(2, "staging", "ffff", "2024-05-01T12:00:03Z"),
            deployment(3, "staging", sha, "2024-05-01T12:00:02Z"),
            deployment(4, "production", sha, "2024-05-01T12:00:04Z"),
        ];
        assert_eq!(pick_deployment(&ds, "staging", None, since).map(|d| d.id), Some(2));
        assert_eq!(pick_deployment(&ds, "Staging", Some(sha), since).map(|d| d.id), Some(3));
        assert_eq!(
            pick_deployment(&ds, "staging", Some("0123456"), since).map(|d| d.id),
            Some(3)
        );
        assert_eq!(
            pick_deployment(
                &ds,
                "staging",
                Some("0123456789abcdef0123456789abcdef0123456789"),
                since
            ),
            None
        );
        assert_eq!(pick_deployment(&ds, "staging", None, at("2024-05-01T13:00:00Z")), None);
        assert!(is_full_sha(sha));
        assert!(!is_full_sha("0123456"));
    }

    #[test]
    fn details_carry_urls_and_timestamps() {
        let mut r = run(9, "2024-05-01T12:00:00Z", "completed", Some("failure"));
        r.run_started_at = Some(at("2024-05-01T12:00:04Z"));
        r.updated_at = Some(at("2024-05-01T12:03:00Z"));
        assert_eq!(
            finished_detail(&r, "failure"),
            "conclusion: failure, https://github.com/a/b/actions/runs/9 (run 9, started 2024-05-01T12:00:04Z, updated 2024-05-01T12:03:00Z)"
        );
        let TriggerEvent::Started { detail, .. } = started_event(&r, "in_progress") else {
            panic!("not Started")
        };
        assert_eq!(
            detail,
            "run 9 in_progress, https://github.com/a/b/actions/runs/9 (created 2024-05-01T12:00:00Z, started 2024-05-01T12:00:04Z)"
        );
        let mut s = status(3, "success", "2024-05-01T12:00:09Z");
        s.log_url = Some("https://github.com/a/b/actions/runs/9".into());
        let d = deployment(
            7,
            "staging",
            "0123456789abcdef0123456789abcdef01234567",
            "2024-05-01T12:00:00Z",
        );
        assert_eq!(
            status_detail(&deployment_label(&d, "staging"), &s),
            "deployment 7 to staging (sha 0123456789ab), created 2024-05-01T12:00:00Z: success at 2024-05-01T12:00:09Z, https://github.com/a/b/actions/runs/9"
        );
    }
}
