//! What every signing scheme shares: the header names, the message a
//! signature covers, the scheme's configuration, the [`Scheme`] trait, and
//! what a check of a signed request can find. The schemes themselves live
//! one file each beside this one; [`super::build`] picks one.

use std::fmt;

use http::HeaderName;

/// The default of [`SchemeConfig::tolerance_s`].
pub const DEFAULT_TOLERANCE_S: u64 = 300;

/// Openverse: `x-ov-cf-mac`, the MAC.
pub const OPENVERSE_MAC: HeaderName = HeaderName::from_static("x-ov-cf-mac");
/// Openverse: `x-ov-cf-timestamp`, unix seconds.
pub const OPENVERSE_TIMESTAMP: HeaderName = HeaderName::from_static("x-ov-cf-timestamp");
/// GitHub: `X-Hub-Signature-256`, `sha256=<hex>`.
pub const GITHUB_SIGNATURE: HeaderName = HeaderName::from_static("x-hub-signature-256");
/// Stripe: `Stripe-Signature`, `t=<ts>,v1=<hex>`.
pub const STRIPE_SIGNATURE: HeaderName = HeaderName::from_static("stripe-signature");
/// Standard Webhooks: `webhook-id`.
pub const WEBHOOK_ID: HeaderName = HeaderName::from_static("webhook-id");
/// Standard Webhooks: `webhook-timestamp`, unix seconds.
pub const WEBHOOK_TIMESTAMP: HeaderName = HeaderName::from_static("webhook-timestamp");
/// Standard Webhooks: `webhook-signature`, `v1,<base64>` per key, space separated.
pub const WEBHOOK_SIGNATURE: HeaderName = HeaderName::from_static("webhook-signature");
/// Slack: `X-Slack-Signature`, `v0=<hex>`.
pub const SLACK_SIGNATURE: HeaderName = HeaderName::from_static("x-slack-signature");
/// Slack: `X-Slack-Request-Timestamp`, unix seconds.
pub const SLACK_TIMESTAMP: HeaderName = HeaderName::from_static("x-slack-request-timestamp");

/// What is signed: exactly the bytes that go on the wire.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    /// The request method, e.g. `POST`.
    pub method: &'a str,
    /// The path only, already percent-encoded, as sent: `/v1/images/`.
    pub path: &'a str,
    /// The query WITHOUT the leading `?` (`q=cat`); `""` when there is none.
    pub query: &'a str,
    /// The request body.
    pub body: &'a [u8],
    /// Unix seconds, the same value that goes in the timestamp header.
    pub timestamp: i64,
    /// The message id (standard-webhooks `webhook-id`, custom `{id}`); `""`
    /// when the scheme has none.
    pub id: &'a str,
}

/// The signing schemes loadcheck knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SchemeKind {
    /// Openverse's API signing: HMAC-SHA256 of path, query and timestamp.
    Openverse,
    /// GitHub webhooks: `X-Hub-Signature-256`, HMAC-SHA256 of the body.
    Github,
    /// Stripe webhooks: `Stripe-Signature: t=…,v1=…`.
    Stripe,
    /// Standard Webhooks (Svix): `webhook-id`, `webhook-timestamp`, `webhook-signature`.
    StandardWebhooks,
    /// Slack request signing: `X-Slack-Signature: v0=…`.
    Slack,
    /// A scheme described by a [`CustomSpec`].
    Custom,
}

impl SchemeKind {
    /// The name as plans write it (`standard-webhooks`).
    pub fn as_str(self) -> &'static str {
        match self {
            SchemeKind::Openverse => "openverse",
            SchemeKind::Github => "github",
            SchemeKind::Stripe => "stripe",
            SchemeKind::StandardWebhooks => "standard-webhooks",
            SchemeKind::Slack => "slack",
            SchemeKind::Custom => "custom",
        }
    }
}

impl fmt::Display for SchemeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The hash of a custom scheme's HMAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// HMAC-SHA1 (20 bytes).
    Sha1,
    /// HMAC-SHA256 (32 bytes).
    Sha256,
    /// HMAC-SHA512 (64 bytes).
    Sha512,
}

/// How a custom scheme writes the MAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Lowercase hex (verify accepts either case).
    Hex,
    /// Standard base64, padded.
    Base64,
    /// URL-safe base64 without padding.
    Base64Url,
}

/// Options for the custom scheme.
#[derive(Debug, Clone)]
pub struct CustomSpec {
    /// What is signed: a template over `{method}` `{path}` `{query}`
    /// `{timestamp}` `{body}` `{id}`. `{query}` renders WITH its leading `?`
    /// when there is a query, as `""` otherwise.
    pub message: String,
    /// The HMAC's hash.
    pub algorithm: Algorithm,
    /// How the MAC is written.
    pub encoding: Encoding,
    /// Header name → value template over `{signature}` `{timestamp}` `{id}`,
    /// e.g. `("X-Signature", "sha256={signature}")`, `("X-Timestamp", "{timestamp}")`.
    pub headers: Vec<(String, String)>,
}

/// A validated scheme configuration.
#[derive(Clone)]
pub struct SchemeConfig {
    /// Which scheme.
    pub kind: SchemeKind,
    /// Secret values, first = current. Several only for standard-webhooks
    /// (key rotation: it emits one signature per key, space separated, and
    /// verify accepts any). Other schemes use the first.
    pub secrets: Vec<String>,
    /// Max age/skew of a timestamp accepted by verify (default 300 s).
    pub tolerance_s: u64,
    /// The custom scheme's options; `None` for the others.
    pub custom: Option<CustomSpec>,
}

impl SchemeConfig {
    /// A built-in scheme with these secrets and the default tolerance.
    pub fn new(kind: SchemeKind, secrets: Vec<String>) -> Self {
        SchemeConfig {
            kind,
            secrets,
            tolerance_s: DEFAULT_TOLERANCE_S,
            custom: None,
        }
    }
}

/// Debug without the secrets: a config ends up in logs and panics.
impl fmt::Debug for SchemeConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SchemeConfig")
            .field("kind", &self.kind)
            .field("secrets", &format_args!("[{} redacted]", self.secrets.len()))
            .field("tolerance_s", &self.tolerance_s)
            .field("custom", &self.custom)
            .finish()
    }
}

/// Why a config cannot be built. No message contains a secret or a part of
/// one: secrets are named by their position only.
#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    /// `secrets` is empty.
    #[error("{0} signing needs a secret")]
    NoSecret(SchemeKind),
    /// A secret is the empty string.
    #[error("{kind} signing: secret #{index} is empty")]
    EmptySecret {
        /// The scheme.
        kind: SchemeKind,
        /// 1-based position in `secrets`.
        index: usize,
    },
    /// A secret does not have the scheme's format.
    #[error("{kind} signing: secret #{index} {reason}")]
    BadSecret {
        /// The scheme.
        kind: SchemeKind,
        /// 1-based position in `secrets`.
        index: usize,
        /// What is wrong, without the value.
        reason: &'static str,
    },
    /// `kind` is custom but `custom` is `None`.
    #[error("custom signing needs a message template, an algorithm, an encoding and headers")]
    MissingCustom,
    /// `custom` is set for a built-in scheme.
    #[error("{0} signing takes no custom options")]
    UnexpectedCustom(SchemeKind),
    /// A custom template is wrong.
    #[error("custom signing: {0}")]
    Template(String),
}

/// Headers to add to a request.
pub type HeaderList = Vec<(http::HeaderName, http::HeaderValue)>;

/// A signing scheme with its keys: signs outgoing requests and checks
/// received ones.
pub trait Scheme: Send + Sync {
    /// Which scheme this is.
    fn kind(&self) -> SchemeKind;
    /// Appends the signature headers (and timestamp / id headers) for msg.
    fn sign(&self, msg: &Message<'_>, out: &mut HeaderList);
    /// Checks a received request. `now` = unix seconds. Reads timestamp/id/signature from headers itself.
    fn verify(
        &self,
        method: &str,
        path: &str,
        query: &str,
        headers: &http::HeaderMap,
        body: &[u8],
        now: i64,
    ) -> Verification;
    /// Whether the scheme puts a timestamp / an id in what it signs (the engine uses this to know whether to generate an id).
    fn uses_id(&self) -> bool;
    /// Whether [`Scheme::verify`] can catch this negative mode: a scheme
    /// without a timestamp cannot see a stale one, and one that does not
    /// sign the body cannot see it tampered.
    fn detects(&self, negative: Negative) -> bool {
        let _ = negative;
        true
    }
}

/// The outcome of [`Scheme::verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    /// The signature matches and the timestamp is within tolerance.
    Valid,
    /// A header the scheme needs is absent.
    Missing,
    /// The headers are there but the request does not pass.
    Invalid(InvalidReason),
}

/// Why a request with signature headers failed [`Scheme::verify`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvalidReason {
    /// A header is not in the scheme's format (not UTF-8, not a number, bad
    /// encoding, wrong length, wrong prefix).
    Malformed,
    /// Well formed, but no signature matches.
    Mismatch,
    /// The timestamp is further from `now` than the tolerance.
    StaleTimestamp,
}

/// Negative modes for security tests: the engine applies these when signing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Negative {
    /// Signed correctly, with a timestamp [`STALE_BY_S`] seconds old.
    StaleTimestamp,
    /// Signed with a key other than the configured one.
    WrongKey,
    /// Signed correctly, then the body changed.
    TamperedBody,
}

/// How far in the past [`Negative::StaleTimestamp`] puts the timestamp. A
/// tolerance at or above this lets such a request pass.
pub const STALE_BY_S: i64 = 3600;
