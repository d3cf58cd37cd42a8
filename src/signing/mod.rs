//! HMAC request signing: the schemes that webhook providers and signed APIs
//! use, for signing load-test requests and for checking signed requests.
//!
//! [`build`] turns a [`SchemeConfig`] into a [`Scheme`] once, with its keyed
//! HMAC state precomputed; [`Scheme::sign`] then costs one clone of that
//! state, the hashing, and one allocation per header value. [`sign_negative`]
//! makes the deliberately bad requests of a security test.
//!
//! | scheme | headers | signed bytes | encoding |
//! | --- | --- | --- | --- |
//! | `openverse` | `x-ov-cf-mac`, `x-ov-cf-timestamp` | `path` `?query` `ts` | base64url, no padding |
//! | `github` | `X-Hub-Signature-256: sha256=…` | body | hex |
//! | `stripe` | `Stripe-Signature: t=…,v1=…` | `ts.body` | hex |
//! | `standard-webhooks` | `webhook-id`, `webhook-timestamp`, `webhook-signature: v1,…` | `id.ts.body` | base64 |
//! | `slack` | `X-Slack-Signature: v0=…`, `X-Slack-Request-Timestamp` | `v0:ts:body` | hex |
//! | `custom` | from [`CustomSpec`] | from [`CustomSpec`] | from [`CustomSpec`] |

mod common;
mod custom;
mod github;
mod openverse;
mod slack;
mod standard_webhooks;
mod stripe;

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;

pub use common::DEFAULT_TOLERANCE_S;

use http::HeaderName;

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

/// Builds the scheme; precomputes keyed HMAC state (clone a keyed `Hmac<Sha256>` per request rather than re-keying) so signing is cheap on the hot path.
pub fn build(cfg: &SchemeConfig) -> Result<Arc<dyn Scheme>, SigningError> {
    let keys = common::keys(cfg)?;
    build_with_keys(cfg, &keys)
}

/// The same scheme keyed with wrong keys: each key byte flipped
/// (`^ 0x01`), after decoding, so a standard-webhooks key stays a valid
/// key. For [`Negative::WrongKey`].
pub fn build_wrong_key(cfg: &SchemeConfig) -> Result<Arc<dyn Scheme>, SigningError> {
    let mut keys = common::keys(cfg)?;
    for key in &mut keys {
        key.iter_mut().for_each(|b| *b ^= 0x01);
    }
    build_with_keys(cfg, &keys)
}

fn build_with_keys(cfg: &SchemeConfig, keys: &[Vec<u8>]) -> Result<Arc<dyn Scheme>, SigningError> {
    let tolerance = cfg.tolerance_s;
    let key = &keys[0];
    Ok(match cfg.kind {
        SchemeKind::Openverse => Arc::new(openverse::Openverse::new(key, tolerance)),
        SchemeKind::Github => Arc::new(github::Github::new(key)),
        SchemeKind::Stripe => Arc::new(stripe::Stripe::new(key, tolerance)),
        SchemeKind::StandardWebhooks => Arc::new(standard_webhooks::StandardWebhooks::new(keys, tolerance)),
        SchemeKind::Slack => Arc::new(slack::Slack::new(key, tolerance)),
        SchemeKind::Custom => {
            let spec = cfg.custom.as_ref().ok_or(SigningError::MissingCustom)?;
            Arc::new(custom::Custom::new(spec, key, tolerance)?)
        }
    })
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

/// Signs `msg` as `negative` asks, appending the headers to `out`, and
/// returns the body to send.
///
/// - `StaleTimestamp` signs correctly with `msg.timestamp - STALE_BY_S` and
///   sends that timestamp.
/// - `WrongKey` signs with `wrong_key`, the scheme from [`build_wrong_key`].
/// - `TamperedBody` signs `msg`, then sends a body with its last byte
///   flipped (a byte appended when empty).
///
/// Whether the scheme can catch the mode at all is [`Scheme::detects`].
pub fn sign_negative(
    scheme: &dyn Scheme,
    wrong_key: &dyn Scheme,
    msg: &Message<'_>,
    negative: Negative,
    out: &mut HeaderList,
) -> Bytes {
    match negative {
        Negative::StaleTimestamp => {
            let stale = Message {
                timestamp: msg.timestamp - STALE_BY_S,
                ..*msg
            };
            scheme.sign(&stale, out);
            Bytes::copy_from_slice(msg.body)
        }
        Negative::WrongKey => {
            wrong_key.sign(msg, out);
            Bytes::copy_from_slice(msg.body)
        }
        Negative::TamperedBody => {
            scheme.sign(msg, out);
            let mut body = msg.body.to_vec();
            match body.last_mut() {
                Some(last) => *last ^= 0x01,
                None => body.push(b'x'),
            }
            Bytes::from(body)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::common::testing::{msg, sign, verify};
    use super::*;

    const T: i64 = 1_700_000_000;

    fn custom_cfg() -> SchemeConfig {
        SchemeConfig {
            kind: SchemeKind::Custom,
            secrets: vec!["custom-secret".into()],
            tolerance_s: DEFAULT_TOLERANCE_S,
            custom: Some(CustomSpec {
                message: "{method}\n{path}{query}\n{timestamp}\n{id}\n{body}".into(),
                algorithm: Algorithm::Sha256,
                encoding: Encoding::Hex,
                headers: vec![
                    ("X-Signature".into(), "sha256={signature}".into()),
                    ("X-Timestamp".into(), "{timestamp}".into()),
                    ("X-Request-Id".into(), "{id}".into()),
                ],
            }),
        }
    }

    /// Every scheme, with a secret of its format.
    fn all() -> Vec<SchemeConfig> {
        let mut cfgs: Vec<SchemeConfig> = [
            (SchemeKind::Openverse, "ov-secret"),
            (SchemeKind::Github, "gh-secret"),
            (SchemeKind::Stripe, "whsec_stripe-secret"),
            (SchemeKind::StandardWebhooks, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
            (SchemeKind::Slack, "slack-secret"),
        ]
        .into_iter()
        .map(|(kind, secret)| SchemeConfig::new(kind, vec![secret.into()]))
        .collect();
        cfgs.push(custom_cfg());
        cfgs
    }

    #[test]
    fn every_scheme_round_trips() {
        for cfg in all() {
            let scheme = build(&cfg).unwrap();
            assert_eq!(scheme.kind(), cfg.kind);
            let m = msg(br#"{"a":1}"#);
            let h = sign(&*scheme, &m);
            assert_eq!(verify(&*scheme, &m, &h, T), Verification::Valid, "{}", cfg.kind);
            assert_eq!(verify(&*scheme, &m, &h, T + 300), Verification::Valid, "{}", cfg.kind);
        }
    }

    #[test]
    fn a_changed_request_is_a_mismatch() {
        for cfg in all() {
            let scheme = build(&cfg).unwrap();
            let m = msg(br#"{"a":1}"#);
            let h = sign(&*scheme, &m);
            let changed = if scheme.detects(Negative::TamperedBody) {
                Message {
                    body: br#"{"a":2}"#,
                    ..m
                }
            } else {
                Message { query: "q=dog", ..m }
            };
            let want = Verification::Invalid(InvalidReason::Mismatch);
            assert_eq!(verify(&*scheme, &changed, &h, T), want, "{}", cfg.kind);
        }
    }

    #[test]
    fn a_removed_header_is_missing() {
        for cfg in all() {
            let scheme = build(&cfg).unwrap();
            let m = msg(b"body");
            let signed = sign(&*scheme, &m);
            for name in signed.keys() {
                let mut h = signed.clone();
                h.remove(name);
                assert_eq!(
                    verify(&*scheme, &m, &h, T),
                    Verification::Missing,
                    "{} {name}",
                    cfg.kind
                );
            }
        }
    }

    #[test]
    fn an_old_or_future_timestamp_is_stale() {
        let stale = Verification::Invalid(InvalidReason::StaleTimestamp);
        for cfg in all() {
            let scheme = build(&cfg).unwrap();
            let m = msg(b"body");
            let h = sign(&*scheme, &m);
            for now in [T + 301, T - 301] {
                let got = verify(&*scheme, &m, &h, now);
                if cfg.kind == SchemeKind::Github {
                    assert_eq!(got, Verification::Valid, "GitHub signs no timestamp");
                } else {
                    assert_eq!(got, stale, "{} at {now}", cfg.kind);
                }
            }
        }
    }

    #[test]
    fn the_tolerance_is_configurable() {
        let mut cfg = SchemeConfig::new(SchemeKind::Slack, vec!["s".into()]);
        cfg.tolerance_s = 10;
        let scheme = build(&cfg).unwrap();
        let m = msg(b"");
        let h = sign(&*scheme, &m);
        assert_eq!(verify(&*scheme, &m, &h, T + 10), Verification::Valid);
        assert_eq!(
            verify(&*scheme, &m, &h, T + 11),
            Verification::Invalid(InvalidReason::StaleTimestamp)
        );
    }

    #[test]
    fn a_garbled_signature_is_malformed() {
        for cfg in all() {
            let scheme = build(&cfg).unwrap();
            let m = msg(b"body");
            let mut h = sign(&*scheme, &m);
            let name = h
                .keys()
                .find(|k| k.as_str().contains("sig") || k.as_str().contains("mac"))
                .unwrap()
                .clone();
            h.insert(name, http::HeaderValue::from_static("%%%"));
            let want = Verification::Invalid(InvalidReason::Malformed);
            assert_eq!(verify(&*scheme, &m, &h, T), want, "{}", cfg.kind);
        }
    }

    #[test]
    fn only_id_schemes_ask_for_an_id() {
        for cfg in all() {
            let scheme = build(&cfg).unwrap();
            let want = matches!(cfg.kind, SchemeKind::StandardWebhooks | SchemeKind::Custom);
            assert_eq!(scheme.uses_id(), want, "{}", cfg.kind);
        }
    }

    #[test]
    fn negative_modes_are_rejected_for_the_reason_they_model() {
        for cfg in all() {
            let scheme = build(&cfg).unwrap();
            let wrong = build_wrong_key(&cfg).unwrap();
            let m = msg(br#"{"a":1}"#);
            for (negative, reason) in [
                (Negative::StaleTimestamp, InvalidReason::StaleTimestamp),
                (Negative::WrongKey, InvalidReason::Mismatch),
                (Negative::TamperedBody, InvalidReason::Mismatch),
            ] {
                let mut out = HeaderList::new();
                let body = sign_negative(&*scheme, &*wrong, &m, negative, &mut out);
                let h: http::HeaderMap = out.into_iter().collect();
                let got = scheme.verify(m.method, m.path, m.query, &h, &body, T);
                if scheme.detects(negative) {
                    assert_eq!(got, Verification::Invalid(reason), "{} {negative:?}", cfg.kind);
                } else {
                    assert_eq!(got, Verification::Valid, "{} {negative:?}", cfg.kind);
                }
            }
        }
    }

    #[test]
    fn config_errors() {
        let err = |cfg: SchemeConfig| build(&cfg).err().unwrap().to_string();
        assert!(err(SchemeConfig::new(SchemeKind::Github, vec![])).contains("needs a secret"));
        assert!(err(SchemeConfig::new(SchemeKind::Github, vec![String::new()])).contains("#1 is empty"));
        let bad = SchemeConfig::new(
            SchemeKind::StandardWebhooks,
            vec!["whsec_AAAA".into(), "whsec_!!".into()],
        );
        assert!(err(bad).contains("secret #2 is not base64"));
        let mut custom = custom_cfg();
        custom.custom = None;
        assert!(err(custom).contains("custom signing needs"));
        let mut github = custom_cfg();
        github.kind = SchemeKind::Github;
        assert!(err(github).contains("github signing takes no custom options"));
    }

    #[test]
    fn debug_of_a_config_hides_the_secrets() {
        let cfg = SchemeConfig::new(SchemeKind::Stripe, vec!["whsec_topsecret".into()]);
        let debug = format!("{cfg:?}");
        assert!(!debug.contains("topsecret"), "{debug}");
        assert!(debug.contains("[1 redacted]"), "{debug}");
    }

    #[test]
    fn kinds_use_the_plan_names() {
        for cfg in all() {
            let json = serde_json::to_string(&cfg.kind).unwrap();
            assert_eq!(json, format!("\"{}\"", cfg.kind));
        }
        let neg: Negative = serde_json::from_str("\"tampered-body\"").unwrap();
        assert_eq!(neg, Negative::TamperedBody);
    }
}
