//! `[signing]` and `[[setup]]` as validated plan types.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::duration;
use super::{Body, Target, Template};
use crate::signing::{Algorithm, CustomSpec, Encoding, Negative, Scheme, SchemeConfig, SchemeKind, SigningError};

/// A signing scheme with its secret(s). The secrets are never serialized
/// nor shown by `Debug`.
#[derive(Clone, Serialize)]
pub struct Signing {
    /// The scheme.
    pub scheme: SchemeKind,
    /// The environment variables the secrets came from, current first.
    pub secret_env: Vec<String>,
    /// The secret values, in the same order.
    #[serde(skip)]
    pub secrets: Vec<String>,
    /// The oldest timestamp a verifier accepts.
    #[serde(with = "duration::serde_ms")]
    pub tolerance: Duration,
    /// The message id's template (schemes that sign an id).
    pub id: Option<Template>,
    /// The custom scheme's definition.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom: Option<CustomPlan>,
}

impl fmt::Debug for Signing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signing")
            .field("scheme", &self.scheme)
            .field("secret_env", &self.secret_env)
            .field("tolerance", &self.tolerance)
            .field("id", &self.id.as_ref().map(|t| &t.source))
            .field("custom", &self.custom)
            .finish_non_exhaustive()
    }
}

/// `scheme = "custom"`: the message, the algorithm, the encoding, the
/// headers.
#[derive(Debug, Clone, Serialize)]
pub struct CustomPlan {
    /// Template over `{method}` `{path}` `{query}` `{timestamp}` `{body}` `{id}`.
    pub message: String,
    /// `sha1`, `sha256` or `sha512`.
    pub algorithm: String,
    /// `hex`, `base64` or `base64url`.
    pub encoding: String,
    /// Header name → template over `{signature}` `{timestamp}` `{id}`.
    pub headers: Vec<(String, String)>,
}

impl Signing {
    /// The signing library's configuration.
    pub fn config(&self) -> SchemeConfig {
        SchemeConfig {
            kind: self.scheme,
            secrets: self.secrets.clone(),
            tolerance_s: self.tolerance.as_secs(),
            custom: self.custom.as_ref().map(|c| CustomSpec {
                message: c.message.clone(),
                algorithm: match c.algorithm.as_str() {
                    "sha1" => Algorithm::Sha1,
                    "sha512" => Algorithm::Sha512,
                    _ => Algorithm::Sha256,
                },
                encoding: match c.encoding.as_str() {
                    "base64" => Encoding::Base64,
                    "base64url" => Encoding::Base64Url,
                    _ => Encoding::Hex,
                },
                headers: c.headers.clone(),
            }),
        }
    }

    /// The scheme, ready to sign or verify.
    pub fn build(&self) -> Result<Arc<dyn Scheme>, SigningError> {
        crate::signing::build(&self.config())
    }
}

/// How one endpoint is signed.
#[derive(Debug, Clone, Serialize)]
pub struct EndpointSigning {
    /// The scheme (the plan's, or the endpoint's own).
    pub signing: Signing,
    /// A deliberately bad signature, for security tests.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub negative: Option<Negative>,
}

/// `[[setup]]`: a request run once before the load.
#[derive(Debug, Clone, Serialize)]
pub struct Setup {
    /// Unique name.
    pub name: String,
    /// HTTP method.
    #[serde(serialize_with = "super::request::ser_method")]
    pub method: http::Method,
    /// An absolute URL's origin, when not the target.
    pub origin: Option<Target>,
    /// Path and query template.
    pub path: Template,
    /// Header templates.
    pub headers: Vec<(String, Template)>,
    /// The body.
    pub body: Option<Body>,
    /// Statuses that count as success (default 200..=299).
    pub expect: Vec<u16>,
    /// Variable → where its value comes from in the response.
    pub captures: Vec<(String, Capture)>,
    /// Signed with the plan's `[signing]`.
    pub signed: bool,
}

/// Where a captured value is in a setup response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Capture {
    /// A JSON pointer into the body.
    Pointer(String),
    /// A response header.
    Header(String),
}
