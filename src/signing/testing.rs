//! Helpers for the schemes' unit tests.

use std::sync::Arc;

use http::HeaderMap;

use super::{HeaderList, Message, Scheme, SchemeConfig, SchemeKind, Verification, build};

/// A built-in scheme with these secrets.
pub fn scheme(kind: SchemeKind, secrets: &[&str]) -> Arc<dyn Scheme> {
    build(&SchemeConfig::new(
        kind,
        secrets.iter().map(|s| s.to_string()).collect(),
    ))
    .unwrap()
}

/// The headers `scheme` signs `msg` with.
pub fn sign(scheme: &dyn Scheme, msg: &Message<'_>) -> HeaderMap {
    let mut out = HeaderList::new();
    scheme.sign(msg, &mut out);
    out.into_iter().collect()
}

/// Verifies `msg`'s request line and body against `headers` at `now`.
pub fn verify(scheme: &dyn Scheme, msg: &Message<'_>, headers: &HeaderMap, now: i64) -> Verification {
    scheme.verify(msg.method, msg.path, msg.query, headers, msg.body, now)
}

/// Headers from (name, value) pairs.
pub fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    pairs
        .iter()
        .map(|(k, v)| (http::HeaderName::from_static(k), v.parse().unwrap()))
        .collect()
}

/// A POST with a JSON body at 1,700,000,000.
pub fn msg(body: &[u8]) -> Message<'_> {
    Message {
        method: "POST",
        path: "/v1/images/",
        query: "q=cat",
        body,
        timestamp: 1_700_000_000,
        id: "msg_1",
    }
}
