//! What the schemes share: keys from secrets, a MAC over any of the three
//! hashes, encoding into stack buffers, header reading and the timestamp
//! check.

use base64::Engine as _;
use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::{DecodePaddingMode, general_purpose};
use hmac::{Hmac, Mac};
use http::{HeaderMap, HeaderName, HeaderValue};
use sha1::Sha1;
use sha2::{Sha256, Sha512};
use subtle::ConstantTimeEq;

use super::{Algorithm, Encoding, HeaderList, InvalidReason, SchemeConfig, SchemeKind, SigningError, Verification};

/// A keyed HMAC-SHA256, the state every built-in scheme clones per request.
pub(super) type HmacSha256 = Hmac<Sha256>;

/// Keys an HMAC-SHA256; HMAC takes keys of any length.
pub(super) fn hmac_sha256(key: &[u8]) -> HmacSha256 {
    HmacSha256::new_from_slice(key).expect("HMAC accepts keys of any length")
}

/// Standard base64, padded.
pub(super) const B64: GeneralPurpose = general_purpose::STANDARD;
/// URL-safe base64 without padding.
pub(super) const B64URL: GeneralPurpose = general_purpose::URL_SAFE_NO_PAD;
const LENIENT: GeneralPurposeConfig =
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
/// Standard base64, decoding with or without padding.
pub(super) const B64_LENIENT: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, LENIENT);
/// URL-safe base64, decoding with or without padding.
pub(super) const B64URL_LENIENT: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, LENIENT);

/// The HMAC keys of `cfg`, checked: the standard-webhooks secrets decoded
/// (all of them), for the other schemes the first secret's bytes.
pub(super) fn keys(cfg: &SchemeConfig) -> Result<Vec<Vec<u8>>, SigningError> {
    match (cfg.kind, &cfg.custom) {
        (SchemeKind::Custom, None) => return Err(SigningError::MissingCustom),
        (kind, Some(_)) if kind != SchemeKind::Custom => return Err(SigningError::UnexpectedCustom(kind)),
        _ => {}
    }
    if cfg.secrets.is_empty() {
        return Err(SigningError::NoSecret(cfg.kind));
    }
    if let Some(i) = cfg.secrets.iter().position(|s| s.is_empty()) {
        return Err(SigningError::EmptySecret {
            kind: cfg.kind,
            index: i + 1,
        });
    }
    if cfg.kind != SchemeKind::StandardWebhooks {
        return Ok(vec![cfg.secrets[0].as_bytes().to_vec()]);
    }
    let bad = |index, reason| SigningError::BadSecret {
        kind: cfg.kind,
        index,
        reason,
    };
    let mut keys = Vec::with_capacity(cfg.secrets.len());
    for (i, secret) in cfg.secrets.iter().enumerate() {
        let encoded = secret.strip_prefix("whsec_").unwrap_or(secret);
        // The decode error is dropped on purpose: it quotes the offending byte.
        let key = B64_LENIENT
            .decode(encoded)
            .map_err(|_| bad(i + 1, "is not base64 (after an optional whsec_ prefix)"))?;
        if key.is_empty() {
            return Err(bad(i + 1, "decodes to an empty key"));
        }
        keys.push(key);
    }
    Ok(keys)
}

/// A MAC of at most 64 bytes, on the stack.
pub(super) struct Digest {
    bytes: [u8; 64],
    len: usize,
}

impl Digest {
    pub(super) fn from_slice(s: &[u8]) -> Self {
        let mut bytes = [0; 64];
        bytes[..s.len()].copy_from_slice(s);
        Digest { bytes, len: s.len() }
    }

    pub(super) fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// A keyed HMAC over one of the custom scheme's hashes.
#[derive(Clone)]
pub(super) enum AnyMac {
    Sha1(Hmac<Sha1>),
    Sha256(Hmac<Sha256>),
    Sha512(Hmac<Sha512>),
}

impl AnyMac {
    pub(super) fn new(algorithm: Algorithm, key: &[u8]) -> Self {
        const ANY: &str = "HMAC accepts keys of any length";
        match algorithm {
            Algorithm::Sha1 => AnyMac::Sha1(Hmac::new_from_slice(key).expect(ANY)),
            Algorithm::Sha256 => AnyMac::Sha256(Hmac::new_from_slice(key).expect(ANY)),
            Algorithm::Sha512 => AnyMac::Sha512(Hmac::new_from_slice(key).expect(ANY)),
        }
    }

    pub(super) fn update(&mut self, data: &[u8]) {
        match self {
            AnyMac::Sha1(m) => m.update(data),
            AnyMac::Sha256(m) => m.update(data),
            AnyMac::Sha512(m) => m.update(data),
        }
    }

    pub(super) fn finalize(self) -> Digest {
        match self {
            AnyMac::Sha1(m) => Digest::from_slice(&m.finalize().into_bytes()),
            AnyMac::Sha256(m) => Digest::from_slice(&m.finalize().into_bytes()),
            AnyMac::Sha512(m) => Digest::from_slice(&m.finalize().into_bytes()),
        }
    }
}

/// Room for a 64-byte MAC in hex (128) or base64 (88).
pub(super) const ENCODED_MAX: usize = 128;

/// Writes `mac` encoded into `out`, returning the length.
pub(super) fn encode(mac: &[u8], encoding: Encoding, out: &mut [u8; ENCODED_MAX]) -> usize {
    match encoding {
        Encoding::Hex => {
            let n = mac.len() * 2;
            hex::encode_to_slice(mac, &mut out[..n]).expect("the buffer fits a 64-byte MAC");
            n
        }
        Encoding::Base64 => B64.encode_slice(mac, out).expect("the buffer fits a 64-byte MAC"),
        Encoding::Base64Url => B64URL.encode_slice(mac, out).expect("the buffer fits a 64-byte MAC"),
    }
}

/// Decodes a received signature into `out`; `None` when it is not in the
/// encoding or not `len` bytes long.
pub(super) fn decode<'o>(text: &str, encoding: Encoding, len: usize, out: &'o mut [u8; 96]) -> Option<&'o [u8]> {
    let n = match encoding {
        Encoding::Hex => {
            if text.len() != len * 2 {
                return None;
            }
            hex::decode_to_slice(text, &mut out[..len]).ok()?;
            len
        }
        Encoding::Base64 => B64_LENIENT.decode_slice(text, out).ok()?,
        Encoding::Base64Url => B64URL_LENIENT.decode_slice(text, out).ok()?,
    };
    (n == len).then_some(&out[..n])
}

/// Compares two MACs in constant time (for equal lengths).
pub(super) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// A header value being built: on the stack unless it outgrows 256 bytes.
pub(super) struct ValueBuf {
    stack: [u8; 256],
    len: usize,
    heap: Vec<u8>,
}

impl ValueBuf {
    pub(super) fn new() -> Self {
        ValueBuf {
            stack: [0; 256],
            len: 0,
            heap: Vec::new(),
        }
    }

    pub(super) fn push(&mut self, bytes: &[u8]) {
        if self.heap.is_empty() && self.len + bytes.len() <= self.stack.len() {
            self.stack[self.len..self.len + bytes.len()].copy_from_slice(bytes);
            self.len += bytes.len();
        } else {
            if self.heap.is_empty() {
                self.heap.extend_from_slice(&self.stack[..self.len]);
            }
            self.heap.extend_from_slice(bytes);
        }
    }

    pub(super) fn as_bytes(&self) -> &[u8] {
        if self.heap.is_empty() {
            &self.stack[..self.len]
        } else {
            &self.heap
        }
    }
}

/// Appends a header. A value that is not a valid header value (only an
/// id with control characters can make one) is left out, so that the
/// request fails verification visibly rather than the worker panicking.
pub(super) fn push_header(out: &mut HeaderList, name: &HeaderName, value: &[u8]) {
    if let Ok(value) = HeaderValue::from_bytes(value) {
        out.push((name.clone(), value));
    }
}

/// A received header as text: `Missing` when absent, `Malformed` when not
/// visible ASCII.
pub(super) fn header<'h>(headers: &'h HeaderMap, name: &HeaderName) -> Result<&'h str, Verification> {
    let value = headers.get(name).ok_or(Verification::Missing)?;
    value.to_str().map_err(|_| malformed())
}

/// `Invalid(Malformed)`.
pub(super) fn malformed() -> Verification {
    Verification::Invalid(InvalidReason::Malformed)
}

/// `Invalid(Mismatch)`.
pub(super) fn mismatch() -> Verification {
    Verification::Invalid(InvalidReason::Mismatch)
}

/// Checks a received timestamp: digits only (an optional `-`), and within
/// `tolerance_s` of `now` either way.
pub(super) fn check_timestamp(raw: &str, now: i64, tolerance_s: u64) -> Result<i64, Verification> {
    let digits = raw.strip_prefix('-').unwrap_or(raw);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed());
    }
    let ts: i64 = raw.parse().map_err(|_| malformed())?;
    if now.abs_diff(ts) > tolerance_s {
        return Err(Verification::Invalid(InvalidReason::StaleTimestamp));
    }
    Ok(ts)
}

/// `Ok(())` → `Valid`, `Err(v)` → `v`.
pub(super) fn outcome(result: Result<(), Verification>) -> Verification {
    result.err().unwrap_or(Verification::Valid)
}
