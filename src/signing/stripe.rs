//! Stripe webhooks: `Stripe-Signature: t=<ts>,v1=<hex HMAC-SHA256 of
//! "<ts>.<body>">`, keyed with the whole secret string (`whsec_` prefix
//! included). Verify reads `t` and every `v1` entry (there are several
//! while a secret is being rolled) and accepts any match.

use hmac::Mac;
use http::HeaderMap;

use super::STRIPE_SIGNATURE as SIGNATURE;
use super::common::{self, HmacSha256, ValueBuf};
use super::{Encoding, HeaderList, Message, Scheme, SchemeKind, Verification};

pub(super) struct Stripe {
    mac: HmacSha256,
    tolerance_s: u64,
}

impl Stripe {
    pub(super) fn new(key: &[u8], tolerance_s: u64) -> Self {
        Stripe {
            mac: common::hmac_sha256(key),
            tolerance_s,
        }
    }

    fn mac(&self, ts: &str, body: &[u8]) -> [u8; 32] {
        let mut m = self.mac.clone();
        m.update(ts.as_bytes());
        m.update(b".");
        m.update(body);
        m.finalize().into_bytes().into()
    }

    fn check(&self, headers: &HeaderMap, body: &[u8], now: i64) -> Result<(), Verification> {
        let value = common::header(headers, &SIGNATURE)?;
        let mut ts = None;
        let mut any_v1 = false;
        for item in value.split(',') {
            let Some((k, v)) = item.trim().split_once('=') else {
                continue;
            };
            match k {
                "t" if ts.is_none() => ts = Some(v),
                "v1" => any_v1 = true,
                _ => {}
            }
        }
        let ts = ts.ok_or_else(common::malformed)?;
        if !any_v1 {
            return Err(common::malformed());
        }
        common::check_timestamp(ts, now, self.tolerance_s)?;
        let want = self.mac(ts, body);
        let mut buf = [0; 96];
        let mut matched = false;
        for v1 in value.split(',').filter_map(|i| i.trim().strip_prefix("v1=")) {
            if let Some(got) = common::decode(v1, Encoding::Hex, 32, &mut buf) {
                matched |= common::ct_eq(got, &want);
            }
        }
        if matched { Ok(()) } else { Err(common::mismatch()) }
    }
}

impl Scheme for Stripe {
    fn kind(&self) -> SchemeKind {
        SchemeKind::Stripe
    }

    fn sign(&self, msg: &Message<'_>, out: &mut HeaderList) {
        let mut ts = itoa::Buffer::new();
        let ts = ts.format(msg.timestamp);
        let mut hex = [0; 64];
        hex::encode_to_slice(self.mac(ts, msg.body), &mut hex).expect("64 hex digits");
        let mut value = ValueBuf::new();
        value.push(b"t=");
        value.push(ts.as_bytes());
        value.push(b",v1=");
        value.push(&hex);
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
        false
    }
}

#[cfg(test)]
mod tests {
    use hmac::Mac;

    use super::super::testing::{headers, scheme, sign, verify};
    use super::super::{InvalidReason, Message, SchemeKind, Verification};

    const SECRET: &str = "whsec_test_secret";

    fn event(body: &[u8]) -> Message<'_> {
        Message {
            method: "POST",
            path: "/stripe",
            query: "",
            body,
            timestamp: 1_700_000_000,
            id: "",
        }
    }

    /// HMAC-SHA256 of `ts.body` keyed with the whole secret, hex.
    fn expected(ts: &str, body: &[u8]) -> String {
        let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
        m.update(format!("{ts}.").as_bytes());
        m.update(body);
        hex::encode(m.finalize().into_bytes())
    }

    #[test]
    fn signs_t_and_v1_over_ts_dot_body_with_the_whole_secret() {
        let st = scheme(SchemeKind::Stripe, &[SECRET]);
        let h = sign(&*st, &event(b"{}"));
        let want = format!("t=1700000000,v1={}", expected("1700000000", b"{}"));
        assert_eq!(h["stripe-signature"], want.as_str());
    }

    #[test]
    fn any_v1_may_match_and_other_schemes_are_ignored() {
        let st = scheme(SchemeKind::Stripe, &[SECRET]);
        let good = expected("1700000000", b"{}");
        let bad = "0".repeat(64);
        let value = format!("t=1700000000, v0={bad}, v1={bad}, v1={good}");
        let h = headers(&[("stripe-signature", &value)]);
        assert_eq!(verify(&*st, &event(b"{}"), &h, 1_700_000_000), Verification::Valid);
        let value = format!("t=1700000000,v1={bad},v0={good}");
        let h = headers(&[("stripe-signature", &value)]);
        assert_eq!(
            verify(&*st, &event(b"{}"), &h, 1_700_000_000),
            Verification::Invalid(InvalidReason::Mismatch)
        );
    }

    #[test]
    fn a_header_without_t_or_v1_is_malformed() {
        let st = scheme(SchemeKind::Stripe, &[SECRET]);
        let good = expected("1700000000", b"{}");
        for value in [format!("v1={good}"), "t=1700000000".to_string(), "garbage".to_string()] {
            let h = headers(&[("stripe-signature", &value)]);
            assert_eq!(
                verify(&*st, &event(b"{}"), &h, 1_700_000_000),
                Verification::Invalid(InvalidReason::Malformed),
                "{value}"
            );
        }
    }
}
