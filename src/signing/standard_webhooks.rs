//! Standard Webhooks (Svix): `webhook-id`, `webhook-timestamp` and
//! `webhook-signature: v1,<base64 HMAC-SHA256 of "<id>.<ts>.<body>">`. The
//! key is the base64 after `whsec_` (a secret without the prefix is taken
//! as base64 too). With several keys (rotation) the header lists one
//! signature per key, space separated; verify accepts any `v1` signature
//! that matches any key, and skips entries of other versions.

use base64::Engine as _;
use hmac::Mac;
use http::HeaderMap;

use super::common::{self, B64, HmacSha256, ValueBuf};
use super::{Encoding, HeaderList, Message, Scheme, SchemeKind, Verification};
use super::{WEBHOOK_ID as ID, WEBHOOK_SIGNATURE as SIGNATURE, WEBHOOK_TIMESTAMP as TIMESTAMP};

pub(super) struct StandardWebhooks {
    macs: Vec<HmacSha256>,
    tolerance_s: u64,
}

impl StandardWebhooks {
    pub(super) fn new(keys: &[Vec<u8>], tolerance_s: u64) -> Self {
        StandardWebhooks {
            macs: keys.iter().map(|k| common::hmac_sha256(k)).collect(),
            tolerance_s,
        }
    }

    fn mac(mac: &HmacSha256, id: &str, ts: &str, body: &[u8]) -> [u8; 32] {
        let mut m = mac.clone();
        m.update(id.as_bytes());
        m.update(b".");
        m.update(ts.as_bytes());
        m.update(b".");
        m.update(body);
        m.finalize().into_bytes().into()
    }

    fn check(&self, headers: &HeaderMap, body: &[u8], now: i64) -> Result<(), Verification> {
        let id = common::header(headers, &ID)?;
        let ts = common::header(headers, &TIMESTAMP)?;
        let value = common::header(headers, &SIGNATURE)?;
        common::check_timestamp(ts, now, self.tolerance_s)?;
        // Entries of other versions (v1a, v2, …) are skipped, as the
        // specification asks; an entry that does not decode counts as none.
        let mut buf = [0; 96];
        let sigs: Vec<[u8; 32]> = value
            .split(' ')
            .filter_map(|entry| entry.strip_prefix("v1,"))
            .filter_map(|b64| common::decode(b64, Encoding::Base64, 32, &mut buf)?.try_into().ok())
            .collect();
        if sigs.is_empty() {
            return Err(common::malformed());
        }
        let mut matched = false;
        for mac in &self.macs {
            let want = Self::mac(mac, id, ts, body);
            for got in &sigs {
                matched |= common::ct_eq(got, &want);
            }
        }
        if matched { Ok(()) } else { Err(common::mismatch()) }
    }
}

impl Scheme for StandardWebhooks {
    fn kind(&self) -> SchemeKind {
        SchemeKind::StandardWebhooks
    }

    fn sign(&self, msg: &Message<'_>, out: &mut HeaderList) {
        let mut ts = itoa::Buffer::new();
        let ts = ts.format(msg.timestamp);
        let mut value = ValueBuf::new();
        for (i, mac) in self.macs.iter().enumerate() {
            if i > 0 {
                value.push(b" ");
            }
            let mut b64 = [0; 44];
            B64.encode_slice(Self::mac(mac, msg.id, ts, msg.body), &mut b64)
                .expect("32 bytes are 44 characters");
            value.push(b"v1,");
            value.push(&b64);
        }
        common::push_header(out, &ID, msg.id.as_bytes());
        common::push_header(out, &TIMESTAMP, ts.as_bytes());
        common::push_header(out, &SIGNATURE, value.as_bytes());
    }

    fn verify(
        &self,
        _method: &str,
        _path: &str,
        _query: &str,
        headers: &HeaderMap,
        body: &[u8],
        now: i64,
    ) -> Verification {
        common::outcome(self.check(headers, body, now))
    }

    fn uses_id(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{headers, scheme, sign, verify};
    use super::super::{InvalidReason, Message, SchemeKind, Verification};

    /// The Standard Webhooks test vector: standard-webhooks/standard-webhooks
    /// libraries/python/tests/test_webhooks.py (`test_sign_function`), the
    /// same values as Svix's https://docs.svix.com/receiving/verifying-payloads/how
    /// example.
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const MSG_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TIMESTAMP: i64 = 1614265330;
    const PAYLOAD: &str = r#"{"test": 2432232314}"#;
    const SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn message(body: &str) -> Message<'_> {
        Message {
            method: "POST",
            path: "/webhook",
            query: "",
            body: body.as_bytes(),
            timestamp: TIMESTAMP,
            id: MSG_ID,
        }
    }

    fn received(signature: &str) -> http::HeaderMap {
        headers(&[
            ("webhook-id", MSG_ID),
            ("webhook-timestamp", "1614265330"),
            ("webhook-signature", signature),
        ])
    }

    #[test]
    fn signs_the_published_vector_with_or_without_the_prefix() {
        for secret in [SECRET, &SECRET[6..]] {
            let sw = scheme(SchemeKind::StandardWebhooks, &[secret]);
            let h = sign(&*sw, &message(PAYLOAD));
            assert_eq!(h.len(), 3);
            assert_eq!(h["webhook-signature"], SIGNATURE);
            assert_eq!(h["webhook-id"], MSG_ID);
            assert_eq!(h["webhook-timestamp"], "1614265330");
        }
    }

    #[test]
    fn verifies_the_published_vector() {
        let sw = scheme(SchemeKind::StandardWebhooks, &[SECRET]);
        assert_eq!(
            verify(&*sw, &message(PAYLOAD), &received(SIGNATURE), TIMESTAMP),
            Verification::Valid
        );
        // The library tests' "invalid signature": the last character changed.
        let other = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA=";
        assert_eq!(
            verify(&*sw, &message(PAYLOAD), &received(other), TIMESTAMP),
            Verification::Invalid(InvalidReason::Mismatch)
        );
    }

    #[test]
    fn any_v1_entry_may_match_and_other_versions_are_skipped() {
        let sw = scheme(SchemeKind::StandardWebhooks, &[SECRET]);
        let decoy = "Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=";
        let header = format!("v1,{decoy} v2,{decoy} {SIGNATURE} v1,{decoy}");
        assert_eq!(
            verify(&*sw, &message(PAYLOAD), &received(&header), TIMESTAMP),
            Verification::Valid
        );
        let only_other_versions = format!("v2,{} v1a,{decoy}", &SIGNATURE[3..]);
        assert_eq!(
            verify(&*sw, &message(PAYLOAD), &received(&only_other_versions), TIMESTAMP),
            Verification::Invalid(InvalidReason::Malformed)
        );
    }

    #[test]
    fn rotation_signs_with_every_key_and_the_old_key_still_verifies() {
        let new = "whsec_c2VjcmV0LW9mLXRoZS1uZXctZW5kcG9pbnQ=";
        let both = scheme(SchemeKind::StandardWebhooks, &[new, SECRET]);
        let h = sign(&*both, &message(PAYLOAD));
        let value = h["webhook-signature"].to_str().unwrap();
        let entries: Vec<&str> = value.split(' ').collect();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[1], SIGNATURE);
        let old_only = scheme(SchemeKind::StandardWebhooks, &[SECRET]);
        assert_eq!(
            verify(&*old_only, &message(PAYLOAD), &h, TIMESTAMP),
            Verification::Valid
        );
        let new_only = scheme(SchemeKind::StandardWebhooks, &[new]);
        assert_eq!(
            verify(&*new_only, &message(PAYLOAD), &h, TIMESTAMP),
            Verification::Valid
        );
        // And a receiver holding both keys accepts a sender on the old one.
        let sent_old = sign(&*old_only, &message(PAYLOAD));
        assert_eq!(
            verify(&*both, &message(PAYLOAD), &sent_old, TIMESTAMP),
            Verification::Valid
        );
    }

    #[test]
    fn the_id_is_signed() {
        let sw = scheme(SchemeKind::StandardWebhooks, &[SECRET]);
        let mut h = received(SIGNATURE);
        h.insert("webhook-id", "msg_other".parse().unwrap());
        assert_eq!(
            verify(&*sw, &message(PAYLOAD), &h, TIMESTAMP),
            Verification::Invalid(InvalidReason::Mismatch)
        );
    }
}
