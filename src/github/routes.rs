//! The REST calls the GitHub rollout triggers make: their routes, query
//! parameters and bodies, as GitHub documents them, with every path
//! segment checked and percent-encoded.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use http::{Method, StatusCode};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::de::DeserializeOwned;

use super::client::GitHub;
use super::errors::GitHubError;
use super::models::{Deployment, DeploymentStatus, DispatchedRun, WorkflowRun, WorkflowRunList};

/// What to list workflow runs by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunQuery {
    /// Only runs on this branch (or tag): GitHub's `branch` parameter.
    pub branch: Option<String>,
    /// Only runs started by this event: GitHub's `event` parameter.
    pub event: Option<String>,
    /// Only runs created at or after this time: GitHub's `created=>=…`.
    pub created_since: Option<DateTime<Utc>>,
}

impl GitHub {
    /// Creates a `workflow_dispatch` event:
    /// `POST /repos/{owner}/{repo}/actions/workflows/{workflow}/dispatches`
    /// with `{"ref", "inputs", "return_run_details": true}`.
    ///
    /// Returns the run GitHub created when it says (`200 OK` with
    /// `workflow_run_id`), and `None` when it does not (`204 No Content`,
    /// as older GitHub Enterprise Server versions answer). A server that
    /// rejects `return_run_details` with 400 or 422 is asked again without
    /// it.
    pub async fn dispatch_workflow(
        &self,
        owner: &str,
        repo: &str,
        workflow: &str,
        git_ref: &str,
        inputs: &BTreeMap<String, String>,
    ) -> Result<Option<DispatchedRun>, GitHubError> {
        let path = format!(
            "{}/actions/workflows/{}/dispatches",
            repo_path(owner, repo)?,
            segment("workflow", workflow)?
        );
        if git_ref.trim().is_empty() {
            return Err(GitHubError::Input("the workflow's ref is empty".into()));
        }
        let mut body = serde_json::json!({ "ref": git_ref, "inputs": inputs, "return_run_details": true });
        let reply = match self.send(Method::POST, &path, Some(&body)).await {
            Err(GitHubError::Status { status, message, .. })
                if (status == 400 || status == 422) && message.contains("return_run_details") =>
            {
                if let Some(object) = body.as_object_mut() {
                    object.remove("return_run_details");
                }
                self.send(Method::POST, &path, Some(&body)).await?
            }
            other => other?,
        };
        if reply.status == StatusCode::NO_CONTENT || reply.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        // The dispatch happened; a body without a run id only means the run
        // is found by listing.
        Ok(serde_json::from_slice::<DispatchedRun>(&reply.body).ok())
    }

    /// Lists a workflow's runs, newest first, at most 50:
    /// `GET /repos/{owner}/{repo}/actions/workflows/{workflow}/runs`.
    pub async fn list_workflow_runs(
        &self,
        owner: &str,
        repo: &str,
        workflow: &str,
        query: &RunQuery,
    ) -> Result<Vec<WorkflowRun>, GitHubError> {
        let path = format!(
            "{}/actions/workflows/{}/runs",
            repo_path(owner, repo)?,
            segment("workflow", workflow)?
        );
        let mut params: Vec<(&str, String)> = Vec::new();
        if let Some(event) = &query.event {
            params.push(("event", event.clone()));
        }
        if let Some(branch) = &query.branch {
            params.push(("branch", branch.clone()));
        }
        if let Some(since) = query.created_since {
            params.push((
                "created",
                format!(">={}", since.to_rfc3339_opts(SecondsFormat::Secs, true)),
            ));
        }
        params.push(("per_page", "50".into()));
        let list: WorkflowRunList = self.get_json(&path, &params).await?;
        Ok(list.workflow_runs)
    }

    /// Gets one workflow run: `GET /repos/{owner}/{repo}/actions/runs/{run_id}`.
    pub async fn get_workflow_run(&self, owner: &str, repo: &str, run_id: u64) -> Result<WorkflowRun, GitHubError> {
        let path = format!("{}/actions/runs/{run_id}", repo_path(owner, repo)?);
        self.get_json(&path, &[]).await
    }

    /// Lists an environment's deployments, newest first, at most 100:
    /// `GET /repos/{owner}/{repo}/deployments?environment=…[&sha=…]`.
    pub async fn list_deployments(
        &self,
        owner: &str,
        repo: &str,
        environment: &str,
        sha: Option<&str>,
    ) -> Result<Vec<Deployment>, GitHubError> {
        let path = format!("{}/deployments", repo_path(owner, repo)?);
        if environment.is_empty() {
            return Err(GitHubError::Input("the deployment environment is empty".into()));
        }
        let mut params = vec![("environment", environment.to_string())];
        if let Some(sha) = sha {
            params.push(("sha", sha.to_string()));
        }
        params.push(("per_page", "100".into()));
        self.get_json(&path, &params).await
    }

    /// Lists a deployment's statuses, newest first, at most 100:
    /// `GET /repos/{owner}/{repo}/deployments/{deployment_id}/statuses`.
    pub async fn list_deployment_statuses(
        &self,
        owner: &str,
        repo: &str,
        deployment_id: u64,
    ) -> Result<Vec<DeploymentStatus>, GitHubError> {
        let path = format!("{}/deployments/{deployment_id}/statuses", repo_path(owner, repo)?);
        self.get_json(&path, &[("per_page", "100".into())]).await
    }

    pub(super) async fn get_json<T: DeserializeOwned>(
        &self,
        path: &str,
        params: &[(&str, String)],
    ) -> Result<T, GitHubError> {
        let path_and_query = with_query(path, params);
        let reply = self.send(Method::GET, &path_and_query, None).await?;
        serde_json::from_slice(&reply.body).map_err(|e| GitHubError::Decode {
            route: format!("GET {path}"),
            reason: self.scrub(&e.to_string()),
        })
    }
}

/// `/repos/{owner}/{repo}`, each part checked and encoded.
pub(super) fn repo_path(owner: &str, repo: &str) -> Result<String, GitHubError> {
    Ok(format!(
        "/repos/{}/{}",
        segment("owner", owner)?,
        segment("repository", repo)?
    ))
}

/// One path segment, percent-encoded; `.`, `..` and empty are refused.
pub(super) fn segment(what: &str, value: &str) -> Result<String, GitHubError> {
    if value.is_empty() || value == "." || value == ".." {
        return Err(GitHubError::Input(format!(
            "the GitHub {what} {value:?} is not usable in a URL"
        )));
    }
    Ok(encode(value))
}

/// Everything but RFC 3986's unreserved characters (`A-Z a-z 0-9 - . _ ~`).
const NOT_UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// Percent-encodes everything but RFC 3986's unreserved characters.
pub(super) fn encode(value: &str) -> String {
    utf8_percent_encode(value, NOT_UNRESERVED).to_string()
}

pub(super) fn with_query(path: &str, params: &[(&str, String)]) -> String {
    if params.is_empty() {
        return path.to_string();
    }
    let query: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect();
    format!("{path}?{}", query.join("&"))
}
