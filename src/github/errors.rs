//! What can go wrong talking to GitHub, with messages that name the
//! route, the status and the attempts, and never the token.

use http::StatusCode;

/// The most of a GitHub error message kept in an error.
pub(super) const MAX_MESSAGE: usize = 300;

/// What can go wrong talking to GitHub. No variant ever holds the token.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GitHubError {
    /// `GITHUB_TOKEN` is not set, or is empty.
    #[error(
        "GITHUB_TOKEN is not set (or is empty): calls to the GitHub API need a token (in a workflow, pass `env: GITHUB_TOKEN: ${{ github.token }}`, with the permissions the call needs: docs/github-action.md)"
    )]
    MissingToken,
    /// The token cannot be sent in an HTTP header.
    #[error("the GitHub token has characters that cannot be sent in an HTTP header (whitespace or control characters)")]
    BadToken,
    /// The API URL is not an `http` or `https` URL.
    #[error("the GitHub API URL {url:?} is not usable: {reason}")]
    BadUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A name that goes into a route (owner, repo, workflow, ...) is not
    /// usable.
    #[error("{0}")]
    Input(String),
    /// The HTTP client could not be set up.
    #[error("setting up the GitHub client: {0}")]
    Client(String),
    /// GitHub answered with an error status (after the retries, for the
    /// statuses that are retried).
    #[error("{}", describe_status(route, *status, *attempts, message))]
    Status {
        /// The method and path, e.g. `GET /repos/acme/app/actions/runs/42`.
        route: String,
        /// The HTTP status.
        status: u16,
        /// How many attempts were made.
        attempts: u32,
        /// GitHub's `message`, or the start of the body.
        message: String,
    },
    /// No response: connection failures, resets and timeouts, after the
    /// retries.
    #[error("GitHub API: {route} failed after {attempts} attempt(s): {reason}")]
    Transport {
        /// The method and path.
        route: String,
        /// How many attempts were made.
        attempts: u32,
        /// The last failure.
        reason: String,
    },
    /// GitHub answered with a success status but a body loadcheck cannot
    /// read.
    #[error("GitHub API: {route} returned a body loadcheck cannot read: {reason}")]
    Decode {
        /// The method and path.
        route: String,
        /// Why it could not be read.
        reason: String,
    },
}

impl GitHubError {
    /// The HTTP status, for [`GitHubError::Status`].
    pub fn status(&self) -> Option<u16> {
        match self {
            GitHubError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// How many attempts were made, for errors from an API call.
    pub fn attempts(&self) -> Option<u32> {
        match self {
            GitHubError::Status { attempts, .. } | GitHubError::Transport { attempts, .. } => Some(*attempts),
            _ => None,
        }
    }
}

pub(super) fn describe_status(route: &str, status: u16, attempts: u32, message: &str) -> String {
    let reason = StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .map(|r| format!(" {r}"))
        .unwrap_or_default();
    let tries = if attempts > 1 {
        format!(" after {attempts} attempts")
    } else {
        String::new()
    };
    let message = if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    };
    let hint = match status {
        401 => " (check GITHUB_TOKEN: GitHub does not accept it)".to_string(),
        403 => format!(" (the token may lack a permission: {})", permission(route)),
        404 => format!(
            " (check the repository and the number or name in the route, and that the token can see the repository; a token without {} may get 404 too)",
            permission(route)
        ),
        422 if route.contains("/dispatches") => {
            " (check the ref and the workflow's inputs, and that the workflow has a workflow_dispatch trigger)"
                .to_string()
        }
        _ => String::new(),
    };
    format!("GitHub API: {route} returned HTTP {status}{reason}{tries}{message}{hint}")
}

/// The workflow permission (`permissions:` in a workflow file) a route
/// needs, for the error that says it is missing.
pub(super) fn permission(route: &str) -> &'static str {
    let (method, path) = route.split_once(' ').unwrap_or(("GET", route));
    let read = method == "GET";
    if path.contains("/check-runs") {
        "checks: write"
    } else if path.contains("/issues/comments") || (path.contains("/issues/") && path.ends_with("/comments")) {
        if read {
            "pull-requests: read (on a pull request) or issues: read (on an issue)"
        } else {
            "pull-requests: write (on a pull request) or issues: write (on an issue)"
        }
    } else if path.contains("/issues") {
        if read { "issues: read" } else { "issues: write" }
    } else if path.contains("/pulls") {
        "pull-requests: read"
    } else if path.contains("/dispatches") {
        "actions: write"
    } else if path.contains("/actions/") {
        "actions: read"
    } else if path.contains("/deployments") {
        "deployments: read"
    } else if path.contains("/git/") || path.contains("/contents") {
        "contents: write"
    } else {
        "the permission this call needs"
    }
}

/// GitHub's `message` from an error body, or the start of the body.
pub(super) fn error_message(body: &[u8]) -> String {
    let text = match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(v) => match v.get("message").and_then(|m| m.as_str()) {
            Some(m) => m.to_string(),
            None => String::from_utf8_lossy(body).into_owned(),
        },
        Err(_) => String::from_utf8_lossy(body).into_owned(),
    };
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match text.char_indices().nth(MAX_MESSAGE) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}
