//! Unit tests of the GitHub client.

use std::time::Duration;

use chrono::Utc;
use http::{HeaderMap, HeaderValue, StatusCode};

use super::client::{DEFAULT_API_URL, GitHub, retry_hint};
use super::errors::{GitHubError, MAX_MESSAGE, error_message};
use super::routes::{segment, with_query};
use crate::redact::Redactor;

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
    assert_eq!(
        Redactor::new(vec!["tok".into()]).redact("x tok y tok"),
        "x [REDACTED] y [REDACTED]"
    );
}
