//! The GitHub client: the few REST calls the GitHub rollout triggers make,
//! with bounded retries and errors that name the route and status (and
//! never the token).
//!
//! The client is [`octocrab`]'s HTTP stack (TLS, timeouts, the base URL of
//! github.com or a GitHub Enterprise Server, the `Authorization` header);
//! the requests and the response types are loadcheck's own, so that routes,
//! bodies, retries and errors are exactly as written here.

mod models;

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use http::header::{ACCEPT, CONTENT_TYPE, HeaderMap, RETRY_AFTER};
use http::{Method, StatusCode};
use http_body_util::{BodyExt, Limited};
use octocrab::Octocrab;
use octocrab::service::middleware::retry::RetryConfig;
use serde::de::DeserializeOwned;

pub use models::{Deployment, DeploymentStatus, DispatchedRun, WorkflowRun};

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

/// The most of a GitHub error message kept in an error.
const MAX_MESSAGE: usize = 300;

/// What can go wrong talking to GitHub. No variant ever holds the token.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GitHubError {
    /// `GITHUB_TOKEN` is not set, or is empty.
    #[error(
        "GITHUB_TOKEN is not set (or is empty): the GitHub triggers need a token that can run workflows or read deployments"
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

fn describe_status(route: &str, status: u16, attempts: u32, message: &str) -> String {
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
        401 => " (check GITHUB_TOKEN: GitHub does not accept it)",
        403 => {
            " (the token may lack a permission: actions:write to run workflows, actions:read or deployments:read to watch)"
        }
        404 => " (check the owner, repository, workflow and environment, and that the token can see the repository)",
        422 => " (check the ref and the workflow's inputs, and that the workflow has a workflow_dispatch trigger)",
        _ => "",
    };
    format!("GitHub API: {route} returned HTTP {status}{reason}{tries}{message}{hint}")
}

/// A GitHub REST client for the rollout triggers.
#[derive(Clone)]
pub struct GitHub {
    client: Octocrab,
    token: String,
    api_url: String,
}

impl fmt::Debug for GitHub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitHub")
            .field("api_url", &self.api_url)
            .field("token", &crate::redact::MASK)
            .finish_non_exhaustive()
    }
}

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
    /// A client for `GITHUB_API_URL` (github.com's API when unset or empty)
    /// authenticated with `GITHUB_TOKEN`. Like [`GitHub::new`], call it
    /// inside the Tokio runtime that will use the client.
    pub fn from_env() -> Result<GitHub, GitHubError> {
        GitHub::from_vars(std::env::var("GITHUB_API_URL").ok(), std::env::var("GITHUB_TOKEN").ok())
    }

    fn from_vars(api_url: Option<String>, token: Option<String>) -> Result<GitHub, GitHubError> {
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
            .add_retry_config(RetryConfig::None)
            .set_connect_timeout(Some(Duration::from_secs(10)))
            .set_read_timeout(Some(ATTEMPT_TIMEOUT))
            .build()
            .map_err(|e| GitHubError::Client(scrub(&error_chain(&e), token)))?;
        Ok(GitHub {
            client,
            token: token.to_string(),
            api_url: api_url.trim_end_matches('/').to_string(),
        })
    }

    /// The token, so that callers can redact it from what they print.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The API URL requests go to.
    pub fn api_url(&self) -> &str {
        &self.api_url
    }

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
        let list: models::WorkflowRunList = self.get_json(&path, &params).await?;
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

    async fn get_json<T: DeserializeOwned>(&self, path: &str, params: &[(&str, String)]) -> Result<T, GitHubError> {
        let path_and_query = with_query(path, params);
        let reply = self.send(Method::GET, &path_and_query, None).await?;
        serde_json::from_slice(&reply.body).map_err(|e| GitHubError::Decode {
            route: format!("GET {path}"),
            reason: self.scrub(&e.to_string()),
        })
    }

    /// Sends one API call with the retry policy: up to [`MAX_ATTEMPTS`] on
    /// transport failures, 5xx, 429, and 403s that are rate limits.
    async fn send(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Reply, GitHubError> {
        let path = path_and_query.split('?').next().unwrap_or(path_and_query);
        let route = format!("{method} {path}");
        let body = match body {
            Some(b) => Some(serde_json::to_string(b).map_err(|e| GitHubError::Input(e.to_string()))?),
            None => None,
        };
        let mut attempt = 1;
        loop {
            let request = self.request(&method, path_and_query, body.as_deref())?;
            let outcome = match tokio::time::timeout(ATTEMPT_TIMEOUT, self.attempt(request)).await {
                Ok(outcome) => outcome,
                Err(_) => Err(Failure::TimedOut),
            };
            let wait = match outcome {
                Ok(reply) if reply.status.is_success() => return Ok(reply),
                Ok(reply) => {
                    let hint = retry_hint(reply.status, &reply.headers, Utc::now());
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
                Err(reason) if attempt >= MAX_ATTEMPTS => {
                    return Err(GitHubError::Transport {
                        route,
                        attempts: attempt,
                        reason: self.scrub(&reason.to_string()),
                    });
                }
                Err(_) => None,
            };
            let backoff = BACKOFF[(attempt as usize - 1).min(BACKOFF.len() - 1)];
            tokio::time::sleep(wait.map_or(backoff, |w| w.min(MAX_RETRY_WAIT))).await;
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
            .map_err(|e| Failure::Transport(error_chain(&e)))?;
        let (parts, body) = response.into_parts();
        let body = Limited::new(body, MAX_BODY)
            .collect()
            .await
            .map_err(|e| Failure::Transport(format!("reading the response: {}", error_chain(&*e))))?
            .to_bytes();
        Ok(Reply {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }

    fn scrub(&self, text: &str) -> String {
        scrub(text, &self.token)
    }
}

/// One response, read whole.
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

/// Why an attempt got no response.
enum Failure {
    Transport(String),
    TimedOut,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Transport(reason) => f.write_str(reason),
            Failure::TimedOut => write!(f, "no response within {} s", ATTEMPT_TIMEOUT.as_secs()),
        }
    }
}

/// Whether a failed response is worth another attempt, and how long GitHub
/// asks to wait first: `None` for no retry, `Some(None)` for the default
/// backoff, `Some(Some(wait))` for GitHub's `Retry-After` or rate-limit
/// reset.
fn retry_hint(status: StatusCode, headers: &HeaderMap, now: DateTime<Utc>) -> Option<Option<Duration>> {
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

/// GitHub's `message` from an error body, or the start of the body.
fn error_message(body: &[u8]) -> String {
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

/// `text` with `token` masked.
fn scrub(text: &str, token: &str) -> String {
    if token.is_empty() {
        text.to_string()
    } else {
        text.replace(token, crate::redact::MASK)
    }
}

/// An error and its sources, joined with `: `.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let next = s.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = s.source();
    }
    text
}

fn parse_api_url(api_url: &str) -> Result<http::Uri, GitHubError> {
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

/// `/repos/{owner}/{repo}`, each part checked and encoded.
fn repo_path(owner: &str, repo: &str) -> Result<String, GitHubError> {
    Ok(format!(
        "/repos/{}/{}",
        segment("owner", owner)?,
        segment("repository", repo)?
    ))
}

/// One path segment, percent-encoded; `.`, `..` and empty are refused.
fn segment(what: &str, value: &str) -> Result<String, GitHubError> {
    if value.is_empty() || value == "." || value == ".." {
        return Err(GitHubError::Input(format!(
            "the GitHub {what} {value:?} is not usable in a URL"
        )));
    }
    Ok(encode(value))
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn with_query(path: &str, params: &[(&str, String)]) -> String {
    if params.is_empty() {
        return path.to_string();
    }
    let query: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect();
    format!("{path}?{}", query.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[tokio::test]
    async fn from_vars_needs_a_token_and_defaults_the_url() {
        assert!(matches!(GitHub::from_vars(None, None), Err(GitHubError::MissingToken)));
        assert!(matches!(
            GitHub::from_vars(None, Some("  ".into())),
            Err(GitHubError::MissingToken)
        ));
        let gh = GitHub::from_vars(Some(String::new()), Some("abc\n".into())).unwrap();
        assert_eq!(gh.api_url(), DEFAULT_API_URL);
        assert_eq!(gh.token(), "abc");
        let gh = GitHub::from_vars(Some("https://ghe.example.com/api/v3/".into()), Some("abc".into())).unwrap();
        assert_eq!(gh.api_url(), "https://ghe.example.com/api/v3");
    }

    #[tokio::test]
    async fn bad_urls_and_tokens_are_errors_not_panics() {
        for url in [
            "",
            "ghe.example.com",
            "ftp://x",
            "https://",
            "https://u:p@x",
            "http://x/?a=1",
            "not a url",
        ] {
            assert!(
                matches!(GitHub::new(url, "t"), Err(GitHubError::BadUrl { .. })),
                "{url}"
            );
        }
        for token in ["a b", "a\nb", "tok\u{e9}n"] {
            let e = GitHub::new("http://127.0.0.1:1", token).unwrap_err();
            assert!(matches!(e, GitHubError::BadToken));
            assert!(!e.to_string().contains(token));
        }
        assert!(GitHub::new("http://127.0.0.1:1", "t").is_ok());
    }

    #[tokio::test]
    async fn debug_hides_the_token() {
        let gh = GitHub::new("http://127.0.0.1:1", "sekrit-token").unwrap();
        let shown = format!("{gh:?}");
        assert!(!shown.contains("sekrit-token"), "{shown}");
        assert!(shown.contains("127.0.0.1"));
    }

    #[test]
    fn outside_a_runtime_is_an_error() {
        assert!(matches!(
            GitHub::new("http://127.0.0.1:1", "t"),
            Err(GitHubError::Client(_))
        ));
    }

    #[test]
    fn names_are_encoded_and_checked() {
        assert_eq!(segment("w", "deploy.yml").unwrap(), "deploy.yml");
        assert_eq!(segment("w", "a b/c?d#e").unwrap(), "a%20b%2Fc%3Fd%23e");
        assert!(segment("w", "..").is_err());
        assert!(segment("w", "").is_err());
        assert_eq!(
            with_query(
                "/x",
                &[
                    ("branch", "release/1.2".into()),
                    ("created", ">=2024-05-01T12:00:00Z".into())
                ]
            ),
            "/x?branch=release%2F1.2&created=%3E%3D2024-05-01T12%3A00%3A00Z"
        );
        assert_eq!(with_query("/x", &[]), "/x");
    }

    #[test]
    fn retry_policy() {
        let now = Utc::now();
        let none = HeaderMap::new();
        assert_eq!(retry_hint(StatusCode::INTERNAL_SERVER_ERROR, &none, now), Some(None));
        assert_eq!(retry_hint(StatusCode::BAD_GATEWAY, &none, now), Some(None));
        assert_eq!(retry_hint(StatusCode::TOO_MANY_REQUESTS, &none, now), Some(None));
        assert_eq!(
            retry_hint(StatusCode::TOO_MANY_REQUESTS, &headers(&[("retry-after", "2")]), now),
            Some(Some(Duration::from_secs(2)))
        );
        // A bare 403 is a permission problem, not a rate limit.
        assert_eq!(retry_hint(StatusCode::FORBIDDEN, &none, now), None);
        let reset = (now.timestamp() + 3).to_string();
        assert_eq!(
            retry_hint(
                StatusCode::FORBIDDEN,
                &headers(&[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", &reset)]),
                now
            ),
            Some(Some(Duration::from_secs(3)))
        );
        assert_eq!(
            retry_hint(StatusCode::FORBIDDEN, &headers(&[("x-ratelimit-remaining", "12")]), now),
            None
        );
        assert_eq!(
            retry_hint(StatusCode::FORBIDDEN, &headers(&[("retry-after", "60")]), now),
            Some(Some(Duration::from_secs(60)))
        );
        for s in [400, 401, 404, 409, 422] {
            assert_eq!(retry_hint(StatusCode::from_u16(s).unwrap(), &none, now), None, "{s}");
        }
        // A garbled Retry-After falls back to the default backoff.
        assert_eq!(
            retry_hint(
                StatusCode::SERVICE_UNAVAILABLE,
                &headers(&[("retry-after", "soon")]),
                now
            ),
            Some(None)
        );
    }

    #[test]
    fn error_messages_are_short_and_name_the_route() {
        assert_eq!(error_message(br#"{"message":"Bad credentials"}"#), "Bad credentials");
        assert_eq!(error_message(b"<html>\n oops \n</html>"), "<html> oops </html>");
        assert!(error_message(&[b'x'; 1000]).chars().count() <= MAX_MESSAGE + 1);
        let e = GitHubError::Status {
            route: "GET /repos/a/b/actions/runs/1".into(),
            status: 500,
            attempts: 3,
            message: "boom".into(),
        };
        assert_eq!(
            e.to_string(),
            "GitHub API: GET /repos/a/b/actions/runs/1 returned HTTP 500 Internal Server Error after 3 attempts: boom"
        );
        assert_eq!(scrub("x tok y tok", "tok"), "x [REDACTED] y [REDACTED]");
    }
}
