//! Creating something on GitHub exactly once. A POST whose outcome is
//! unknown (a timeout, a reset, a 5xx) may have landed, so it is never sent
//! again blindly: what it would have created is looked for first. Comments,
//! the sign-off issue and check runs all go through here.

use std::time::Duration;

use super::client::MAX_ATTEMPTS;
use super::errors::GitHubError;

/// What a creation ended with.
pub(super) enum Landed<T> {
    /// This call created it.
    Created(T),
    /// A lookup after an unknown outcome found it (an earlier attempt
    /// landed, or another publisher made it).
    Found(T),
}

/// Whether a failed creation may have landed: no answer, or a 5xx.
pub(super) fn unknown_outcome(e: &GitHubError) -> bool {
    match e {
        GitHubError::Transport { .. } => true,
        GitHubError::Status { status, .. } => *status >= 500,
        _ => false,
    }
}

/// Runs `create` (a POST sent once, see `Retry::Once`) up to
/// [`MAX_ATTEMPTS`] times; before each attempt after one whose outcome
/// is unknown, runs `find`, and returns what it finds instead of
/// creating again. `what` names the thing in the error when every
/// attempt failed without an answer.
pub(super) async fn create_once<T>(
    what: &str,
    mut find: impl AsyncFnMut() -> Result<Option<T>, GitHubError>,
    mut create: impl AsyncFnMut() -> Result<T, GitHubError>,
) -> Result<Landed<T>, GitHubError> {
    let mut last = None;
    for round in 0..MAX_ATTEMPTS {
        if round > 0
            && let Some(found) = find().await?
        {
            return Ok(Landed::Found(found));
        }
        match create().await {
            Ok(made) => return Ok(Landed::Created(made)),
            Err(e) if unknown_outcome(&e) => {
                last = Some(e);
                tokio::time::sleep(Duration::from_millis(500 * (u64::from(round) + 1))).await;
            }
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| GitHubError::Input(format!("{what} could not be created"))))
}
