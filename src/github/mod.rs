//! The GitHub client (being written).

/// A GitHub API client.
#[derive(Clone)]
pub struct GitHub;

impl GitHub {
    /// From `GITHUB_API_URL` and `GITHUB_TOKEN`.
    pub fn from_env() -> anyhow::Result<GitHub> {
        anyhow::bail!("the GitHub client is being written")
    }
}

impl GitHub {
    /// The token, for redaction.
    pub fn token(&self) -> &str {
        ""
    }
}
