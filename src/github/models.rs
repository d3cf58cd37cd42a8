//! The parts of GitHub's REST responses that loadcheck reads.
//!
//! Every field that GitHub documents as nullable, or that older GitHub
//! Enterprise Server versions may leave out, is an `Option`, and unknown
//! fields are ignored, so a response decodes as long as the fields the
//! triggers need are there.

use chrono::{DateTime, Utc};
use serde::Deserialize;

/// A workflow run (`GET /repos/{owner}/{repo}/actions/runs/{run_id}`, and the
/// items of the run listings).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct WorkflowRun {
    /// The run's id.
    pub id: u64,
    /// The run's name (usually the workflow's name).
    #[serde(default)]
    pub name: Option<String>,
    /// `queued`, `in_progress`, `completed`, `waiting`, `requested` or
    /// `pending`.
    #[serde(default)]
    pub status: Option<String>,
    /// Once completed: `success`, `failure`, `cancelled`, `skipped`,
    /// `timed_out`, `action_required`, `neutral`, `stale` or
    /// `startup_failure`.
    #[serde(default)]
    pub conclusion: Option<String>,
    /// The run's page on GitHub, for people.
    #[serde(default)]
    pub html_url: Option<String>,
    /// The event that started the run (`workflow_dispatch` for ours).
    #[serde(default)]
    pub event: Option<String>,
    /// The branch (or tag) the run is on.
    #[serde(default)]
    pub head_branch: Option<String>,
    /// The commit the run is on.
    #[serde(default)]
    pub head_sha: Option<String>,
    /// When GitHub created the run.
    pub created_at: DateTime<Utc>,
    /// When GitHub last changed the run.
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
    /// When the current attempt of the run started.
    #[serde(default)]
    pub run_started_at: Option<DateTime<Utc>>,
}

/// `GET /repos/{owner}/{repo}/actions/workflows/{workflow_id}/runs`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct WorkflowRunList {
    #[serde(default)]
    pub workflow_runs: Vec<WorkflowRun>,
}

/// The `200 OK` body of a workflow dispatch sent with
/// `"return_run_details": true`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct DispatchedRun {
    /// The id of the run the dispatch created.
    pub workflow_run_id: u64,
    /// The run's API URL.
    #[serde(default)]
    pub run_url: Option<String>,
    /// The run's page on GitHub.
    #[serde(default)]
    pub html_url: Option<String>,
}

/// A deployment (`GET /repos/{owner}/{repo}/deployments`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Deployment {
    /// The deployment's id.
    pub id: u64,
    /// The commit being deployed.
    #[serde(default)]
    pub sha: Option<String>,
    /// The ref (branch, tag or sha) the deployment was made from.
    #[serde(default, rename = "ref")]
    pub git_ref: Option<String>,
    /// The task (usually `deploy`).
    #[serde(default)]
    pub task: Option<String>,
    /// The environment deployed to.
    #[serde(default)]
    pub environment: Option<String>,
    /// The deployment's description.
    #[serde(default)]
    pub description: Option<String>,
    /// When GitHub created the deployment.
    pub created_at: DateTime<Utc>,
    /// When GitHub last changed the deployment.
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
}

/// A deployment status (`GET /repos/{owner}/{repo}/deployments/{id}/statuses`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct DeploymentStatus {
    /// The status's id.
    pub id: u64,
    /// `error`, `failure`, `inactive`, `in_progress`, `queued`, `pending` or
    /// `success`.
    pub state: String,
    /// A short description, if the deployer gave one.
    #[serde(default)]
    pub description: Option<String>,
    /// The environment, as recorded on the status.
    #[serde(default)]
    pub environment: Option<String>,
    /// The deployer's log (often the Actions run).
    #[serde(default)]
    pub log_url: Option<String>,
    /// The older name for `log_url`.
    #[serde(default)]
    pub target_url: Option<String>,
    /// The deployed environment's URL.
    #[serde(default)]
    pub environment_url: Option<String>,
    /// When GitHub recorded the status.
    pub created_at: DateTime<Utc>,
}

/// A user or a bot, as GitHub shows who wrote something.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct User {
    /// The login (`octocat`, `github-actions[bot]`).
    pub login: String,
    /// The account's id.
    #[serde(default)]
    pub id: Option<u64>,
    /// `User`, `Bot` or `Organization`.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
}

/// An issue or pull request comment
/// (`GET /repos/{owner}/{repo}/issues/{issue_number}/comments`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Comment {
    /// The comment's id.
    pub id: u64,
    /// Its Markdown.
    #[serde(default)]
    pub body: Option<String>,
    /// Who wrote it; `null` for a deleted account.
    #[serde(default)]
    pub user: Option<User>,
    /// Its page.
    #[serde(default)]
    pub html_url: Option<String>,
}

/// A label on an issue.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Label {
    /// Its name.
    pub name: String,
}

/// An issue (`GET /repos/{owner}/{repo}/issues`). The listing holds pull
/// requests too, marked by `pull_request`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Issue {
    /// The issue's number.
    pub number: u64,
    /// Its title.
    pub title: String,
    /// Its Markdown.
    #[serde(default)]
    pub body: Option<String>,
    /// `open` or `closed`.
    #[serde(default)]
    pub state: Option<String>,
    /// Its labels.
    #[serde(default)]
    pub labels: Vec<Label>,
    /// Who opened it.
    #[serde(default)]
    pub user: Option<User>,
    /// Its page.
    #[serde(default)]
    pub html_url: Option<String>,
    /// Present when the item is a pull request.
    #[serde(default)]
    pub pull_request: Option<serde_json::Value>,
}

/// A repository, as a pull request's head or base names it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Repository {
    /// `owner/name`.
    pub full_name: String,
}

/// A pull request's head or base.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PullRef {
    /// The commit.
    pub sha: String,
    /// The branch.
    #[serde(default, rename = "ref")]
    pub git_ref: Option<String>,
    /// The repository; `null` when a fork was deleted.
    #[serde(default)]
    pub repo: Option<Repository>,
}

/// A pull request (`GET /repos/{owner}/{repo}/pulls/{pull_number}`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PullRequest {
    /// Its number.
    pub number: u64,
    /// `open` or `closed`.
    #[serde(default)]
    pub state: Option<String>,
    /// The branch it merges.
    pub head: PullRef,
    /// The branch it merges into.
    pub base: PullRef,
    /// Its page.
    #[serde(default)]
    pub html_url: Option<String>,
}

impl PullRequest {
    /// Whether its head lives in another repository than its base (a fork,
    /// or a deleted one).
    pub fn from_fork(&self) -> bool {
        match (&self.head.repo, &self.base.repo) {
            (Some(head), Some(base)) => !head.full_name.eq_ignore_ascii_case(&base.full_name),
            _ => true,
        }
    }
}

/// A check run, as created (`POST /repos/{owner}/{repo}/check-runs`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CheckRun {
    /// Its id.
    pub id: u64,
    /// Its page.
    #[serde(default)]
    pub html_url: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_decodes_with_nulls_and_missing_fields() {
        let run: WorkflowRun = serde_json::from_str(
            r#"{"id": 7, "status": "queued", "conclusion": null, "created_at": "2024-05-01T12:00:00Z",
                "run_started_at": null, "extra": {"nested": true}}"#,
        )
        .unwrap();
        assert_eq!(run.id, 7);
        assert_eq!(run.status.as_deref(), Some("queued"));
        assert_eq!(run.conclusion, None);
        assert_eq!(run.html_url, None);
        assert_eq!(run.run_started_at, None);
    }

    #[test]
    fn a_deployment_reads_ref() {
        let d: Deployment = serde_json::from_str(
            r#"{"id": 1, "ref": "main", "sha": "abc", "environment": "staging", "created_at": "2024-05-01T12:00:00Z"}"#,
        )
        .unwrap();
        assert_eq!(d.git_ref.as_deref(), Some("main"));
    }
}
