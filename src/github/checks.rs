//! Check runs: a completed check with a conclusion, a title, the summary
//! and annotations, so that a result can be a required check.

use http::Method;
use serde::Serialize;

use super::client::{GitHub, Retry};
use super::create::{Landed, create_once};
use super::errors::GitHubError;
use super::limits::{ANNOTATIONS_PER_REQUEST, CHECK_TEXT_LIMIT, fit_chars};
use super::models::CheckRun;
use super::routes::{repo_path, segment};

/// An annotation on a check run, as GitHub documents it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckAnnotation {
    /// The file, relative to the repository's root.
    pub path: String,
    /// The first line, from 1.
    pub start_line: u32,
    /// The last line.
    pub end_line: u32,
    /// `notice`, `warning` or `failure`.
    pub annotation_level: &'static str,
    /// What is wrong (at most 64 KB).
    pub message: String,
    /// A short title.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

/// What a new check run shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCheckRun {
    /// Its name (`loadcheck / <plan>`).
    pub name: String,
    /// The commit it is on.
    pub head_sha: String,
    /// `success`, `failure`, `neutral`, …
    pub conclusion: &'static str,
    /// The page with the details (the Actions run).
    pub details_url: Option<String>,
    /// loadcheck's own id for it, unique to this publish: a creation whose
    /// answer was lost is found by it.
    pub external_id: Option<String>,
    /// The title.
    pub title: String,
    /// The summary (Markdown).
    pub summary: String,
    /// More Markdown, below the summary.
    pub text: Option<String>,
    /// The annotations, sent 50 a request.
    pub annotations: Vec<CheckAnnotation>,
}

const CUT_NOTE: &str = "_Cut to fit the check run's 65,535 characters; the full report is in the run's output folder._";

impl GitHub {
    /// Creates a completed check run: `POST /repos/{owner}/{repo}/check-runs`
    /// with the first 50 annotations, then `PATCH
    /// /repos/{owner}/{repo}/check-runs/{check_run_id}` with each next 50.
    pub async fn create_check_run(
        &self,
        owner: &str,
        repo: &str,
        check: &NewCheckRun,
    ) -> Result<CheckRun, GitHubError> {
        let base = format!("{}/check-runs", repo_path(owner, repo)?);
        let summary = fit_chars(&check.summary, CHECK_TEXT_LIMIT, CUT_NOTE);
        let text = check.text.as_deref().map(|t| fit_chars(t, CHECK_TEXT_LIMIT, CUT_NOTE));
        let title: String = check.title.chars().take(1000).collect();
        let mut batches = check.annotations.chunks(ANNOTATIONS_PER_REQUEST);
        let first = batches.next().unwrap_or(&[]);
        let mut output = serde_json::json!({ "title": title, "summary": summary, "annotations": first });
        if let Some(text) = &text {
            output["text"] = serde_json::Value::String(text.clone());
        }
        let mut body = serde_json::json!({
            "name": check.name,
            "head_sha": check.head_sha,
            "status": "completed",
            "conclusion": check.conclusion,
            "completed_at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "output": output,
        });
        if let Some(url) = &check.details_url {
            body["details_url"] = serde_json::Value::String(url.clone());
        }
        if let Some(id) = &check.external_id {
            body["external_id"] = serde_json::Value::String(id.clone());
        }
        // A creation whose answer was lost is found among the commit's
        // check runs by its `external_id` before it is sent again.
        let run = match create_once(
            "the check run",
            async || self.find_check_run(owner, repo, check).await,
            async || {
                let reply = self.send_with(Method::POST, &base, Some(&body), Retry::Once).await?;
                self.decode("POST", &base, &reply.body)
            },
        )
        .await?
        {
            Landed::Created(run) | Landed::Found(run) => run,
        };
        let path = format!("{base}/{}", run.id);
        for batch in batches {
            let more = serde_json::json!({
                "output": { "title": title, "summary": summary, "annotations": batch }
            });
            // GitHub appends an update's annotations to the run's: a
            // PATCH sent twice would show them twice.
            self.send_with(Method::PATCH, &path, Some(&more), Retry::Once).await?;
        }
        Ok(run)
    }

    /// The check run with `check`'s name and `external_id` on its commit:
    /// `GET /repos/{owner}/{repo}/commits/{ref}/check-runs?check_name=…`.
    async fn find_check_run(
        &self,
        owner: &str,
        repo: &str,
        check: &NewCheckRun,
    ) -> Result<Option<CheckRun>, GitHubError> {
        let Some(external_id) = &check.external_id else {
            return Ok(None);
        };
        let path = format!(
            "{}/commits/{}/check-runs",
            repo_path(owner, repo)?,
            segment("commit", &check.head_sha)?
        );
        let list: CheckRunList = self
            .get_json(
                &path,
                &[
                    ("check_name", check.name.clone()),
                    ("filter", "all".into()),
                    ("per_page", "100".into()),
                ],
            )
            .await?;
        Ok(list
            .check_runs
            .into_iter()
            .find(|r| r.external_id.as_deref() == Some(external_id.as_str()))
            .map(|r| CheckRun {
                id: r.id,
                html_url: r.html_url,
            }))
    }
}

/// `GET /repos/{owner}/{repo}/commits/{ref}/check-runs`.
#[derive(serde::Deserialize)]
struct CheckRunList {
    #[serde(default)]
    check_runs: Vec<ListedCheckRun>,
}

#[derive(serde::Deserialize)]
struct ListedCheckRun {
    id: u64,
    #[serde(default)]
    external_id: Option<String>,
    #[serde(default)]
    html_url: Option<String>,
}
