//! `[[endpoint]]`: one request a scenario sends.

use serde::Serialize;

use super::request::{Body, ser_method};
use super::signing::EndpointSigning;
use super::target::Target;
use super::template::Template;

/// An endpoint: one kind of request.
#[derive(Debug, Clone, Serialize)]
pub struct Endpoint {
    /// Unique name, used in tags and reports.
    pub name: String,
    /// HTTP method.
    #[serde(serialize_with = "ser_method")]
    pub method: http::Method,
    /// An absolute URL's scheme, host and port, when the endpoint does not
    /// go to the plan's target.
    pub origin: Option<Target>,
    /// Path and query template, starting with `/` (the target's base path is
    /// prepended by the engine).
    pub path: Template,
    /// Header templates, in file order.
    pub headers: Vec<(String, Template)>,
    /// The body, if any.
    pub body: Option<Body>,
    /// Statuses that count as success (default: 200..=399; 401 and 403
    /// for a negative signing mode).
    pub expect: Vec<u16>,
    /// How its requests are signed, if they are.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing: Option<EndpointSigning>,
}
