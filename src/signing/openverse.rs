//! Openverse's API request signing: HMAC-SHA256 over the path, the query
//! with its `?` (when there is one) and the unix-seconds timestamp, with
//! nothing between them (JS: `url.pathname + url.search + timestamp`),
//! written URL-safe base64 without padding in `x-ov-cf-mac`; the timestamp
//! goes in `x-ov-cf-timestamp`. The body is not signed.

use base64::Engine as _;
use hmac::Mac;
use http::HeaderMap;

use super::common::{self, B64URL, HmacSha256};
use super::{Encoding, HeaderList, Message, Negative, Scheme, SchemeKind, Verification};
use super::{OPENVERSE_MAC as MAC, OPENVERSE_TIMESTAMP as TIMESTAMP};

pub(super) struct Openverse {
    mac: HmacSha256,
    tolerance_s: u64,
}

impl Openverse {
    pub(super) fn new(key: &[u8], tolerance_s: u64) -> Self {
        Openverse {
            mac: common::hmac_sha256(key),
            tolerance_s,
        }
    }

    fn mac(&self, path: &str, query: &str, ts: &str) -> [u8; 32] {
        let mut m = self.mac.clone();
        m.update(path.as_bytes());
        if !query.is_empty() {
            m.update(b"?");
            m.update(query.as_bytes());
        }
        m.update(ts.as_bytes());
        m.finalize().into_bytes().into()
    }

    fn check(&self, path: &str, query: &str, headers: &HeaderMap, now: i64) -> Result<(), Verification> {
        let sig = common::header(headers, &MAC)?;
        let ts = common::header(headers, &TIMESTAMP)?;
        common::check_timestamp(ts, now, self.tolerance_s)?;
        let mut buf = [0; 96];
        let got = common::decode(sig, Encoding::Base64Url, 32, &mut buf).ok_or_else(common::malformed)?;
        if common::ct_eq(got, &self.mac(path, query, ts)) {
            Ok(())
        } else {
            Err(common::mismatch())
        }
    }
}

impl Scheme for Openverse {
    fn kind(&self) -> SchemeKind {
        SchemeKind::Openverse
    }

    fn sign(&self, msg: &Message<'_>, out: &mut HeaderList) {
        let mut ts = itoa::Buffer::new();
        let ts = ts.format(msg.timestamp);
        let mac = self.mac(msg.path, msg.query, ts);
        let mut enc = [0; 43];
        let n = B64URL.encode_slice(mac, &mut enc).expect("32 bytes are 43 characters");
        common::push_header(out, &MAC, &enc[..n]);
        common::push_header(out, &TIMESTAMP, ts.as_bytes());
    }

    fn verify(
        &self,
        _method: &str,
        path: &str,
        query: &str,
        headers: &HeaderMap,
        _body: &[u8],
        now: i64,
    ) -> Verification {
        common::outcome(self.check(path, query, headers, now))
    }

    fn uses_id(&self) -> bool {
        false
    }

    fn detects(&self, negative: Negative) -> bool {
        negative != Negative::TamperedBody
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use hmac::Mac;

    use super::super::testing::{scheme, sign, verify};
    use super::super::{InvalidReason, Message, SchemeKind, Verification};

    fn get<'a>(path: &'a str, query: &'a str) -> Message<'a> {
        Message {
            method: "GET",
            path,
            query,
            body: b"",
            timestamp: 1_700_000_000,
            id: "",
        }
    }

    /// HMAC-SHA256 computed here the plain way, over the string the
    /// Openverse frontend signs: `url.pathname + url.search + timestamp`.
    fn expected(secret: &str, resource: &str) -> String {
        let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        m.update(resource.as_bytes());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(m.finalize().into_bytes())
    }

    #[test]
    fn signs_path_query_and_timestamp_with_nothing_between() {
        let ov = scheme(SchemeKind::Openverse, &["secret"]);
        let h = sign(&*ov, &get("/v1/images/", "q=cat"));
        assert_eq!(h["x-ov-cf-timestamp"], "1700000000");
        assert_eq!(
            h["x-ov-cf-mac"],
            expected("secret", "/v1/images/?q=cat1700000000").as_str()
        );
        assert_eq!(h["x-ov-cf-mac"].len(), 43, "base64url of 32 bytes, no padding");
        let h = sign(&*ov, &get("/v1/audio/", ""));
        assert_eq!(h["x-ov-cf-mac"], expected("secret", "/v1/audio/1700000000").as_str());
    }

    #[test]
    fn the_path_and_query_are_signed_but_not_the_body() {
        let ov = scheme(SchemeKind::Openverse, &["secret"]);
        let m = get("/v1/images/", "q=cat");
        let h = sign(&*ov, &m);
        let mismatch = Verification::Invalid(InvalidReason::Mismatch);
        assert_eq!(verify(&*ov, &get("/v1/images/", "q=dog"), &h, 1_700_000_000), mismatch);
        assert_eq!(verify(&*ov, &get("/v1/audio/", "q=cat"), &h, 1_700_000_000), mismatch);
        let with_body = Message { body: b"ignored", ..m };
        assert_eq!(verify(&*ov, &with_body, &h, 1_700_000_000), Verification::Valid);
    }

    #[test]
    fn a_padded_mac_is_accepted() {
        let ov = scheme(SchemeKind::Openverse, &["secret"]);
        let m = get("/v1/images/", "q=cat");
        let mut h = sign(&*ov, &m);
        let padded = format!("{}=", h["x-ov-cf-mac"].to_str().unwrap());
        h.insert("x-ov-cf-mac", padded.parse().unwrap());
        assert_eq!(verify(&*ov, &m, &h, 1_700_000_000), Verification::Valid);
    }
}
