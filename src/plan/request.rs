//! A request's body, as endpoints and setup requests both give it, and how
//! a request's parts are written into the resolved plan.

use serde::Serialize;

use super::template::Template;

pub(crate) fn ser_method<S: serde::Serializer>(m: &http::Method, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(m.as_str())
}

/// A request body.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Body {
    /// Fixed bytes (inline text or a file's contents).
    Fixed(#[serde(serialize_with = "ser_len")] bytes::Bytes),
    /// A template rendered per request.
    Template(Template),
}

fn ser_len<S: serde::Serializer>(b: &bytes::Bytes, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("<{} bytes>", b.len()))
}
