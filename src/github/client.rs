//! The client: octocrab's HTTP stack under loadcheck's own requests, one
//! call at a time with bounded retries, every error scrubbed of the token.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use http::header::{ACCEPT, CONTENT_TYPE, HeaderMap, RETRY_AFTER};
use http::{Method, StatusCode};
use http_body_util::{BodyExt, Limited};
use octocrab::Octocrab;

use super::errors::{GitHubError, error_message};
use crate::redact::Redactor;

/// The API of github.com, used when `GITHUB_API_URL` is not set.
pub const DEFAULT_API_URL: &str = "https://api.github.com";

/// The media type every request asks for.
pub const MEDIA_TYPE: &str = "application/vnd.github+json";

/// The REST API version every request asks for.
pub const API_VERSION: &str = "2022-11-28";

/// The most attempts one API call gets (the first and two retries).
pub const MAX_ATTEMPTS: u32 = 3;

/// The wait before the second and the third attempt, when GitHub gives no
/// `Retry-After`.
const BACKOFF: [Duration; 2] = [Duration::from_millis(250), Duration::from_secs(1)];

/// The longest wait between attempts, whatever `Retry-After` or the
/// rate-limit reset says.
pub const MAX_RETRY_WAIT: Duration = Duration::from_secs(5);

/// The longest one attempt may take, from sending to the last body byte.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);

/// The longest response body read.
const MAX_BODY: usize = 16 << 20;

/// A GitHub REST client.
#[derive(Clone)]
pub struct GitHub {
    client: Octocrab,
    token: String,
    api_url: String,
    /// The longest wait between attempts.
    max_wait: Duration,
    /// No wait may end after this instant: it bounds a whole publish.
    deadline: Option<tokio::time::Instant>,
}

/// Whether a call may be sent again after a failure that leaves its effect
/// unknown (a timeout, a reset, a 5xx).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Retry {
    /// Reads, updates and deletes: sending them twice is harmless.
    Idempotent,
    /// A creation: sent again only on an answer that proves it did not
    /// land (a rate limit); the caller looks for it before creating again.
    Once,
}

impl fmt::Debug for GitHub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitHub")
            .field("api_url", &self.api_url)
            .field("token", &crate::redact::MASK)
            .finish_non_exhaustive()
    }
}

impl GitHub {
    /// A client for `GITHUB_API_URL` (github.com's API when unset or empty)
    /// authenticated with `GITHUB_TOKEN`. Like [`GitHub::new`], call it
    /// inside the Tokio runtime that will use the client.
    pub fn from_env() -> Result<GitHub, GitHubError> {
        GitHub::from_vars(std::env::var("GITHUB_API_URL").ok(), std::env::var("GITHUB_TOKEN").ok())
    }

    pub(super) fn from_vars(api_url: Option<String>, token: Option<String>) -> Result<GitHub, GitHubError> {
        // A token never holds whitespace; an env file's trailing newline is
        // not part of it.
        let token = token
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .ok_or(GitHubError::MissingToken)?;
        let api_url = api_url
            .filter(|u| !u.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_API_URL.to_string());
        GitHub::new(&api_url, &token)
    }

    /// A client for the API at `api_url` (`https://api.github.com`, a GitHub
    /// Enterprise Server's `https://HOST/api/v3`, or a local fake's
    /// `http://127.0.0.1:PORT`) authenticated with `token`.
    ///
    /// Call it inside the Tokio runtime that will use the client (octocrab
    /// spawns a task on it); outside any runtime it is an error.
    pub fn new(api_url: &str, token: &str) -> Result<GitHub, GitHubError> {
        if token.is_empty() {
            return Err(GitHubError::MissingToken);
        }
        // octocrab builds `Bearer <token>` with a parse that panics on bytes
        // a header cannot hold, so check them first.
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(GitHubError::BadToken);
        }
        let base = parse_api_url(api_url)?;
        // octocrab spawns its request buffer on the current runtime, and
        // panics without one.
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(GitHubError::Client(
                "the client must be created inside a Tokio runtime (the one that will use it)".into(),
            ));
        }
        let client = Octocrab::builder()
            .base_uri(base)
            .map_err(|e| GitHubError::BadUrl {
                url: api_url.to_string(),
                reason: e.to_string(),
            })?
            .personal_token(token.to_string())
            .set_connect_timeout(Some(Duration::from_secs(10)))
            .set_read_timeout(Some(ATTEMPT_TIMEOUT))
            .build()
            .map_err(|e| {
                GitHubError::Client(Redactor::new(vec![token.to_string()]).redact(&crate::errors::chain(&e)))
            })?;
        Ok(GitHub {
            client,
            token: token.to_string(),
            api_url: api_url.trim_end_matches('/').to_string(),
            max_wait: MAX_RETRY_WAIT,
            deadline: None,
        })
    }

    /// The same client with another cap on each wait between attempts, and
    /// a deadline no wait may pass: a wait GitHub asks for that would end
    /// past it fails the call at once instead.
    pub fn with_budget(mut self, max_wait: Duration, total: Duration) -> GitHub {
        self.max_wait = max_wait;
        self.deadline = Some(tokio::time::Instant::now() + total);
        self
    }

    /// `self` with `other`'s wait cap and deadline (a second client for
    /// another endpoint, within the same budget).
    pub(super) fn with_limits_of(mut self, other: &GitHub) -> GitHub {
        self.max_wait = other.max_wait;
        self.deadline = other.deadline;
        self
    }

    /// The token, so that callers can redact it from what they print.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The API URL requests go to.
    pub fn api_url(&self) -> &str {
        &self.api_url
    }

    /// Sends one API call with the retry policy: up to [`MAX_ATTEMPTS`] on
    /// transport failures, 5xx, 429, and 403s that are rate limits.
    pub(super) async fn send(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Reply, GitHubError> {
        self.send_with(method, path_and_query, body, Retry::Idempotent).await
    }

    /// [`GitHub::send`] with a retry policy.
    pub(super) async fn send_with(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<&serde_json::Value>,
        retry: Retry,
    ) -> Result<Reply, GitHubError> {
        let path = path_and_query.split('?').next().unwrap_or(path_and_query);
        let route = format!("{method} {path}");
        let body = match body {
            Some(b) => Some(serde_json::to_string(b).map_err(|e| GitHubError::Input(e.to_string()))?),
            None => None,
        };
        let mut attempt = 1;
        loop {
            // No attempt outlives the budget: its timeout is what is left.
            let timeout = match self.deadline {
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                    if left.is_zero() {
                        return Err(GitHubError::Transport {
                            route,
                            attempts: attempt - 1,
                            reason: "this command's time budget for GitHub is spent".into(),
                        });
                    }
                    left.min(ATTEMPT_TIMEOUT)
                }
                None => ATTEMPT_TIMEOUT,
            };
            let request = self.request(&method, path_and_query, body.as_deref())?;
            let outcome = match tokio::time::timeout(timeout, self.attempt(request)).await {
                Ok(outcome) => outcome,
                Err(_) => Err(Failure::TimedOut(timeout)),
            };
            let wait = match outcome {
                Ok(reply) if reply.status.is_success() => return Ok(reply),
                Ok(reply) => {
                    let hint = retry_hint(reply.status, &reply.headers, Utc::now());
                    // A creation is sent again only when the answer proves
                    // it did not land: a rate limit, not a 5xx.
                    let hint = hint.filter(|_| retry == Retry::Idempotent || !reply.status.is_server_error());
                    match hint {
                        Some(wait) if attempt < MAX_ATTEMPTS => wait,
                        _ => {
                            return Err(GitHubError::Status {
                                route,
                                status: reply.status.as_u16(),
                                attempts: attempt,
                                message: self.scrub(&error_message(&reply.body)),
                            });
                        }
                    }
                }
                Err(reason) if attempt >= MAX_ATTEMPTS || retry == Retry::Once => {
                    return Err(GitHubError::Transport {
                        route,
                        attempts: attempt,
                        reason: self.scrub(&reason.to_string()),
                    });
                }
                Err(_) => None,
            };
            let backoff = BACKOFF[(attempt as usize - 1).min(BACKOFF.len() - 1)];
            let wait = wait.map_or(backoff, |w| w.min(self.max_wait));
            if let Some(deadline) = self.deadline
                && tokio::time::Instant::now() + wait > deadline
            {
                return Err(GitHubError::Transport {
                    route,
                    attempts: attempt,
                    reason: format!(
                        "GitHub asked to wait {} s before trying again, past this command's time budget",
                        wait.as_secs_f64().ceil()
                    ),
                });
            }
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    fn request(
        &self,
        method: &Method,
        path_and_query: &str,
        body: Option<&str>,
    ) -> Result<http::Request<octocrab::OctoBody>, GitHubError> {
        let builder = http::Request::builder()
            .method(method.clone())
            .uri(path_and_query)
            .header(ACCEPT, MEDIA_TYPE)
            .header("x-github-api-version", API_VERSION);
        let request = match body {
            Some(b) => builder
                .header(CONTENT_TYPE, "application/json")
                .body(octocrab::OctoBody::from(b.to_string())),
            None => builder.body(octocrab::OctoBody::empty()),
        };
        request.map_err(|e| GitHubError::Input(format!("{method} {path_and_query}: {e}")))
    }

    async fn attempt(&self, request: http::Request<octocrab::OctoBody>) -> Result<Reply, Failure> {
        let response = self
            .client
            .execute(request)
            .await
            .map_err(|e| Failure::Transport(crate::errors::chain(&e)))?;
        let (parts, body) = response.into_parts();
        let body = Limited::new(body, MAX_BODY)
            .collect()
            .await
            .map_err(|e| Failure::Transport(format!("reading the response: {}", crate::errors::chain(&*e))))?
            .to_bytes();
        Ok(Reply {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }

    /// `text` with the token masked.
    pub fn scrub(&self, text: &str) -> String {
        Redactor::new(vec![self.token.clone()]).redact(text)
    }
}

/// One response, read whole.
pub(super) struct Reply {
    pub(super) status: StatusCode,
    pub(super) headers: HeaderMap,
    pub(super) body: Bytes,
}

/// Why an attempt got no response.
pub(super) enum Failure {
    Transport(String),
    TimedOut(Duration),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Transport(reason) => f.write_str(reason),
            Failure::TimedOut(after) => write!(f, "no response within {:.1} s", after.as_secs_f64()),
        }
    }
}

/// Whether a failed response is worth another attempt, and how long GitHub
/// asks to wait first: `None` for no retry, `Some(None)` for the default
/// backoff, `Some(Some(wait))` for GitHub's `Retry-After` or rate-limit
/// reset.
pub(super) fn retry_hint(status: StatusCode, headers: &HeaderMap, now: DateTime<Utc>) -> Option<Option<Duration>> {
    let retry_after = headers.get(RETRY_AFTER).and_then(|v| v.to_str().ok()).and_then(|v| {
        let v = v.trim();
        match v.parse::<u64>() {
            Ok(secs) => Some(Duration::from_secs(secs)),
            Err(_) => DateTime::parse_from_rfc2822(v)
                .ok()
                .map(|at| (at.with_timezone(&Utc) - now).to_std().unwrap_or(Duration::ZERO)),
        }
    });
    let header_int = |name: &str| -> Option<i64> { headers.get(name)?.to_str().ok()?.trim().parse().ok() };
    let exhausted = header_int("x-ratelimit-remaining") == Some(0);
    let reset = header_int("x-ratelimit-reset")
        .and_then(|reset| u64::try_from(reset.saturating_sub(now.timestamp())).ok())
        .map(Duration::from_secs);
    let rate_limit_wait = retry_after.or(if exhausted { reset } else { None });
    if status.is_server_error() {
        Some(retry_after)
    } else if status == StatusCode::TOO_MANY_REQUESTS
        || (status == StatusCode::FORBIDDEN && (retry_after.is_some() || exhausted))
    {
        Some(rate_limit_wait)
    } else {
        None
    }
}

pub(super) fn parse_api_url(api_url: &str) -> Result<http::Uri, GitHubError> {
    let bad = |reason: &str| GitHubError::BadUrl {
        url: api_url.to_string(),
        reason: reason.to_string(),
    };
    let uri: http::Uri = api_url
        .trim()
        .parse()
        .map_err(|e: http::uri::InvalidUri| bad(&e.to_string()))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => return Err(bad("it must start with https:// (or http:// for a local server)")),
    }
    match uri.authority() {
        None => return Err(bad("it has no host")),
        Some(a) if a.as_str().contains('@') => return Err(bad("it must not hold credentials; use GITHUB_TOKEN")),
        Some(_) => {}
    }
    if uri.query().is_some() {
        return Err(bad("it must not have a query"));
    }
    Ok(uri)
}
