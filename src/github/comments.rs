//! Issue and pull request comments, and the sticky comment: one per plan
//! and conversation, found by its hidden marker and by being written by the
//! token's own account, updated in place, never duplicated.

use http::Method;

use super::client::{GitHub, Retry};
use super::create::{Landed, create_once};
use super::errors::GitHubError;
use super::identity::Identity;
use super::limits::{COMMENT_LIMIT, fit_chars};
use super::models::Comment;
use super::routes::repo_path;

/// The most pages of 100 comments read when looking for the sticky one.
const MAX_PAGES: u32 = 30;

/// What happened to the sticky comment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Posting {
    /// There was none: it was created.
    Created,
    /// It was there and was changed.
    Updated,
    /// It was there with the same text.
    Unchanged,
}

/// The sticky comment after publishing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posted {
    /// The comment's id.
    pub id: u64,
    /// Its page, when GitHub gave it.
    pub url: Option<String>,
    /// What was done.
    pub posting: Posting,
}

/// The note that ends a body cut to fit.
const CUT_NOTE: &str = "_Cut to fit GitHub's 65,536 characters; the full report is in the run's output folder._";

impl GitHub {
    /// Every comment of an issue or pull request, oldest first:
    /// `GET /repos/{owner}/{repo}/issues/{issue_number}/comments`, 100 a
    /// page, at most 3,000.
    pub async fn list_comments(&self, owner: &str, repo: &str, number: u64) -> Result<Vec<Comment>, GitHubError> {
        let path = format!("{}/issues/{number}/comments", repo_path(owner, repo)?);
        let mut all = Vec::new();
        for page in 1..=MAX_PAGES {
            let batch: Vec<Comment> = self
                .get_json(&path, &[("per_page", "100".into()), ("page", page.to_string())])
                .await?;
            let last = batch.len() < 100;
            all.extend(batch);
            if last {
                break;
            }
        }
        Ok(all)
    }

    /// Creates a comment, sent once (the caller looks for it before sending
    /// again): `POST /repos/{owner}/{repo}/issues/{issue_number}/comments`.
    pub async fn create_comment(
        &self,
        owner: &str,
        repo: &str,
        number: u64,
        body: &str,
    ) -> Result<Comment, GitHubError> {
        let path = format!("{}/issues/{number}/comments", repo_path(owner, repo)?);
        let body = serde_json::json!({ "body": fit_chars(body, COMMENT_LIMIT, CUT_NOTE) });
        let reply = self.send_with(Method::POST, &path, Some(&body), Retry::Once).await?;
        self.decode("POST", &path, &reply.body)
    }

    /// Replaces a comment's body:
    /// `PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}`.
    pub async fn update_comment(&self, owner: &str, repo: &str, id: u64, body: &str) -> Result<Comment, GitHubError> {
        let path = format!("{}/issues/comments/{id}", repo_path(owner, repo)?);
        let body = serde_json::json!({ "body": fit_chars(body, COMMENT_LIMIT, CUT_NOTE) });
        let reply = self.send(Method::PATCH, &path, Some(&body)).await?;
        self.decode("PATCH", &path, &reply.body)
    }

    /// Deletes a comment: `DELETE /repos/{owner}/{repo}/issues/comments/{comment_id}`.
    /// One already gone is not an error.
    pub async fn delete_comment(&self, owner: &str, repo: &str, id: u64) -> Result<(), GitHubError> {
        let path = format!("{}/issues/comments/{id}", repo_path(owner, repo)?);
        match self.send(Method::DELETE, &path, None).await {
            Ok(_) | Err(GitHubError::Status { status: 404, .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Posts `body` as the sticky comment that `marker` (a hidden HTML
    /// comment, `<!-- loadcheck:<plan> -->`) names on issue or pull request
    /// `number`.
    ///
    /// - The comment is the one holding the marker *and* written by `me`;
    ///   a comment with the marker by anyone else is left alone.
    /// - Found: updated in place (not touched when the text is the same).
    /// - Not found: created. A creation that fails without proof it did not
    ///   land (a timeout, a reset, a 5xx) is not sent again blindly: the
    ///   comments are read again first.
    /// - After creating, the comments are read again: when two publishers
    ///   raced, the comment with the lowest id survives, and each publisher
    ///   deletes only the one it created.
    pub async fn sticky_comment(
        &self,
        owner: &str,
        repo: &str,
        number: u64,
        marker: &str,
        body: &str,
        me: &Identity,
    ) -> Result<Posted, GitHubError> {
        let full = fit_chars(&format!("{marker}\n{body}"), COMMENT_LIMIT, CUT_NOTE);
        if let Some(existing) = self.find_sticky(owner, repo, number, marker, me).await?.first() {
            return self.refresh(owner, repo, existing, &full, Posting::Updated).await;
        }
        let created = match create_once(
            "the comment",
            async || {
                Ok(self
                    .find_sticky(owner, repo, number, marker, me)
                    .await?
                    .into_iter()
                    .next())
            },
            async || self.create_comment(owner, repo, number, &full).await,
        )
        .await?
        {
            Landed::Found(existing) => return self.refresh(owner, repo, &existing, &full, Posting::Updated).await,
            Landed::Created(c) => c,
        };
        // Another publisher may have created one at the same time.
        let mine = self.find_sticky(owner, repo, number, marker, me).await?;
        match mine.first() {
            Some(lowest) if lowest.id < created.id => {
                self.delete_comment(owner, repo, created.id).await?;
                self.refresh(owner, repo, lowest, &full, Posting::Updated).await
            }
            _ => Ok(Posted {
                id: created.id,
                url: created.html_url,
                posting: Posting::Created,
            }),
        }
    }

    /// The comments holding `marker` written by `me`, lowest id first.
    async fn find_sticky(
        &self,
        owner: &str,
        repo: &str,
        number: u64,
        marker: &str,
        me: &Identity,
    ) -> Result<Vec<Comment>, GitHubError> {
        let mut mine: Vec<Comment> = self
            .list_comments(owner, repo, number)
            .await?
            .into_iter()
            .filter(|c| c.body.as_deref().is_some_and(|b| b.starts_with(marker)) && me.is(c.user.as_ref()))
            .collect();
        mine.sort_by_key(|c| c.id);
        Ok(mine)
    }

    /// Sets `existing`'s body to `full` unless it already is.
    async fn refresh(
        &self,
        owner: &str,
        repo: &str,
        existing: &Comment,
        full: &str,
        posting: Posting,
    ) -> Result<Posted, GitHubError> {
        if existing.body.as_deref() == Some(full) {
            return Ok(Posted {
                id: existing.id,
                url: existing.html_url.clone(),
                posting: Posting::Unchanged,
            });
        }
        let updated = self.update_comment(owner, repo, existing.id, full).await?;
        Ok(Posted {
            id: updated.id,
            url: updated.html_url.or_else(|| existing.html_url.clone()),
            posting,
        })
    }

    pub(super) fn decode<T: serde::de::DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> Result<T, GitHubError> {
        serde_json::from_slice(body).map_err(|e| GitHubError::Decode {
            route: format!("{method} {path}"),
            reason: self.scrub(&e.to_string()),
        })
    }
}
