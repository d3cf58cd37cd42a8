//! Pull requests: publishing reads one to learn its head commit and
//! whether it comes from a fork.

use super::client::GitHub;
use super::errors::GitHubError;
use super::models::PullRequest;
use super::routes::repo_path;

impl GitHub {
    /// Gets a pull request: `GET /repos/{owner}/{repo}/pulls/{pull_number}`.
    pub async fn get_pull(&self, owner: &str, repo: &str, number: u64) -> Result<PullRequest, GitHubError> {
        let path = format!("{}/pulls/{number}", repo_path(owner, repo)?);
        self.get_json(&path, &[]).await
    }
}
