//! Issues: the release sign-off issue, found by its title and label or
//! created once, and its plan section rewritten in place.

use std::time::Duration;

use http::Method;

use super::client::{GitHub, Retry};
use super::create::{Landed, create_once};
use super::errors::GitHubError;
use super::identity::Identity;
use super::limits::{COMMENT_LIMIT, fit_chars};
use super::models::Issue;
use super::routes::repo_path;
use super::signoff::{self, SIGNOFF_LABEL};

/// The most pages of 100 issues read when looking for a sign-off issue.
const MAX_PAGES: u32 = 10;

/// How long after writing its section a publisher reads the issue again.
const SETTLE: Duration = Duration::from_millis(1500);

/// Whether `issue` holds `plan`'s section as `want`.
fn holds(issue: &Issue, plan: &str, want: Option<&str>) -> bool {
    let body = issue.body.clone().unwrap_or_default().replace("\r\n", "\n");
    signoff::section_of(&body, plan) == want
}

/// The sign-off issue after publishing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignoffIssue {
    /// Its number.
    pub number: u64,
    /// Its page.
    pub url: Option<String>,
    /// Whether this publish created it.
    pub created: bool,
}

const CUT_NOTE: &str = "_Cut to fit GitHub's 65,536 characters._";

impl GitHub {
    /// The issues with `label` and exactly `title` (open or closed), lowest
    /// number first: `GET /repos/{owner}/{repo}/issues?labels=…&state=all`.
    pub async fn find_issues(
        &self,
        owner: &str,
        repo: &str,
        title: &str,
        label: &str,
    ) -> Result<Vec<Issue>, GitHubError> {
        let path = format!("{}/issues", repo_path(owner, repo)?);
        let mut found = Vec::new();
        for page in 1..=MAX_PAGES {
            let batch: Vec<Issue> = self
                .get_json(
                    &path,
                    &[
                        ("labels", label.to_string()),
                        ("state", "all".into()),
                        ("per_page", "100".into()),
                        ("page", page.to_string()),
                    ],
                )
                .await?;
            let last = batch.len() < 100;
            found.extend(
                batch
                    .into_iter()
                    .filter(|i| i.pull_request.is_none() && i.title.trim() == title),
            );
            if last {
                break;
            }
        }
        found.sort_by_key(|i| i.number);
        Ok(found)
    }

    /// Gets one issue: `GET /repos/{owner}/{repo}/issues/{issue_number}`.
    pub async fn get_issue(&self, owner: &str, repo: &str, number: u64) -> Result<Issue, GitHubError> {
        let path = format!("{}/issues/{number}", repo_path(owner, repo)?);
        self.get_json(&path, &[]).await
    }

    /// Creates an issue, sent once: `POST /repos/{owner}/{repo}/issues`.
    pub async fn create_issue(
        &self,
        owner: &str,
        repo: &str,
        title: &str,
        body: &str,
        labels: &[&str],
    ) -> Result<Issue, GitHubError> {
        let path = format!("{}/issues", repo_path(owner, repo)?);
        let body = serde_json::json!({
            "title": title,
            "body": fit_chars(body, COMMENT_LIMIT, CUT_NOTE),
            "labels": labels,
        });
        let reply = self.send_with(Method::POST, &path, Some(&body), Retry::Once).await?;
        self.decode("POST", &path, &reply.body)
    }

    /// Edits an issue: `PATCH /repos/{owner}/{repo}/issues/{issue_number}`
    /// with the fields given (`body`, `state`, `state_reason`).
    pub async fn update_issue(
        &self,
        owner: &str,
        repo: &str,
        number: u64,
        fields: serde_json::Value,
    ) -> Result<Issue, GitHubError> {
        let path = format!("{}/issues/{number}", repo_path(owner, repo)?);
        let mut fields = fields;
        if let Some(body) = fields.get_mut("body")
            && let Some(text) = body.as_str()
        {
            *body = serde_json::Value::String(fit_chars(text, COMMENT_LIMIT, CUT_NOTE));
        }
        let reply = self.send(Method::PATCH, &path, Some(&fields)).await?;
        self.decode("PATCH", &path, &reply.body)
    }

    /// Writes `plan`'s section into the sign-off issue of `release`: the
    /// issue with the title and the `loadcheck-signoff` label, or a new one.
    ///
    /// Only the plan's own section changes; other plans' sections, text
    /// outside the sections, and boxes ticked by hand are kept. After
    /// writing, the issue is read back: when another plan's publisher wrote
    /// at the same moment and lost this section, it is written again (at
    /// most three times). When two publishers created the issue at once,
    /// the one with the lowest number is kept and the other is closed.
    pub async fn signoff(
        &self,
        owner: &str,
        repo: &str,
        release: &str,
        plan: &str,
        section: &str,
        me: &Identity,
    ) -> Result<SignoffIssue, GitHubError> {
        let release = release.trim();
        let title = signoff::title(release);
        let mut created = false;
        let mut issue = match self.find_signoffs(owner, repo, &title, me).await?.into_iter().next() {
            Some(issue) => issue,
            None => {
                let new = self
                    .create_signoff(owner, repo, &title, release, plan, section, me)
                    .await?;
                created = true;
                // Another publisher may have created one at the same time.
                let all = self.find_signoffs(owner, repo, &title, me).await?;
                match all.into_iter().next() {
                    Some(lowest) if lowest.number < new.number => {
                        self.update_issue(
                            owner,
                            repo,
                            new.number,
                            serde_json::json!({ "state": "closed", "state_reason": "not_planned",
                                "body": format!("A duplicate of #{}, created at the same moment.", lowest.number) }),
                        )
                        .await?;
                        created = false;
                        lowest
                    }
                    _ => new,
                }
            }
        };
        for _ in 0..super::client::MAX_ATTEMPTS {
            let body = issue.body.clone().unwrap_or_default();
            let merged = signoff::merge(&body, plan, section);
            let want = signoff::section_of(&merged, plan).map(str::to_string);
            if merged != body {
                self.update_issue(owner, repo, issue.number, serde_json::json!({ "body": merged }))
                    .await?;
            }
            // Read back, now and once more a moment later: another plan's
            // publisher that read the body before this write may write its
            // stale copy over it (GitHub has no conditional update), and
            // this section is then written again.
            issue = self.get_issue(owner, repo, issue.number).await?;
            if holds(&issue, plan, want.as_deref()) {
                tokio::time::sleep(SETTLE).await;
                issue = self.get_issue(owner, repo, issue.number).await?;
                if holds(&issue, plan, want.as_deref()) {
                    return Ok(SignoffIssue {
                        number: issue.number,
                        url: issue.html_url,
                        created,
                    });
                }
            }
        }
        Err(GitHubError::Input(format!(
            "the sign-off issue #{} kept changing under loadcheck: its section for {plan} was overwritten three times",
            issue.number
        )))
    }

    /// The sign-off issues of `title` that the token's own account opened:
    /// one planted by someone else with the same title and label is not
    /// adopted.
    async fn find_signoffs(
        &self,
        owner: &str,
        repo: &str,
        title: &str,
        me: &Identity,
    ) -> Result<Vec<Issue>, GitHubError> {
        Ok(self
            .find_issues(owner, repo, title, SIGNOFF_LABEL)
            .await?
            .into_iter()
            .filter(|i| me.is(i.user.as_ref()))
            .collect())
    }

    #[allow(clippy::too_many_arguments)]
    async fn create_signoff(
        &self,
        owner: &str,
        repo: &str,
        title: &str,
        release: &str,
        plan: &str,
        section: &str,
        me: &Identity,
    ) -> Result<Issue, GitHubError> {
        let body = signoff::new_body(release, plan, section);
        let landed = create_once(
            "the sign-off issue",
            async || Ok(self.find_signoffs(owner, repo, title, me).await?.into_iter().next()),
            async || self.create_issue(owner, repo, title, &body, &[SIGNOFF_LABEL]).await,
        )
        .await?;
        Ok(match landed {
            Landed::Created(issue) | Landed::Found(issue) => issue,
        })
    }
}
