//! Turns a [`SchemeConfig`] into a [`Scheme`], and signs the deliberately
//! bad requests of a security test.

use std::sync::Arc;

use bytes::Bytes;

use super::common;
use super::scheme::{HeaderList, Message, Negative, STALE_BY_S, Scheme, SchemeConfig, SchemeKind, SigningError};
use super::{custom, github, openverse, slack, standard_webhooks, stripe};

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
