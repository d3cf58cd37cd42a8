//! GitHub webhooks: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the
//! body>`, keyed with the secret's bytes. There is no timestamp, so verify
//! has no staleness check.

use hmac::Mac;
use http::HeaderMap;

use super::GITHUB_SIGNATURE as SIGNATURE;
use super::common::{self, HmacSha256};
use super::{Encoding, HeaderList, Message, Negative, Scheme, SchemeKind, Verification};

const PREFIX: &str = "sha256=";

pub(super) struct Github {
    mac: HmacSha256,
}

impl Github {
    pub(super) fn new(key: &[u8]) -> Self {
        Github {
            mac: common::hmac_sha256(key),
        }
    }

    fn mac(&self, body: &[u8]) -> [u8; 32] {
        let mut m = self.mac.clone();
        m.update(body);
        m.finalize().into_bytes().into()
    }

    fn check(&self, headers: &HeaderMap, body: &[u8]) -> Result<(), Verification> {
        let value = common::header(headers, &SIGNATURE)?;
        let hex = value.strip_prefix(PREFIX).ok_or_else(common::malformed)?;
        let mut buf = [0; 96];
        let got = common::decode(hex, Encoding::Hex, 32, &mut buf).ok_or_else(common::malformed)?;
        if common::ct_eq(got, &self.mac(body)) {
            Ok(())
        } else {
            Err(common::mismatch())
        }
    }
}

impl Scheme for Github {
    fn kind(&self) -> SchemeKind {
        SchemeKind::Github
    }

    fn sign(&self, msg: &Message<'_>, out: &mut HeaderList) {
        let mut value = [0; PREFIX.len() + 64];
        value[..PREFIX.len()].copy_from_slice(PREFIX.as_bytes());
        hex::encode_to_slice(self.mac(msg.body), &mut value[PREFIX.len()..]).expect("64 hex digits");
        common::push_header(out, &SIGNATURE, &value);
    }

    fn verify(
        &self,
        _method: &str,
        _path: &str,
        _query: &str,
        headers: &HeaderMap,
        body: &[u8],
        _now: i64,
    ) -> Verification {
        common::outcome(self.check(headers, body))
    }

    fn uses_id(&self) -> bool {
        false
    }

    fn detects(&self, negative: Negative) -> bool {
        negative != Negative::StaleTimestamp
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{headers, scheme, sign, verify};
    use super::super::{InvalidReason, Message, SchemeKind, Verification};

    /// GitHub's published test values, "Testing the webhook payload
    /// validation" in https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries
    /// (github/docs: content/webhooks/using-webhooks/validating-webhook-deliveries.md).
    const SECRET: &str = "It's a Secret to Everybody";
    const PAYLOAD: &[u8] = b"Hello, World!";
    const SIGNATURE: &str = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    fn delivery(body: &[u8]) -> Message<'_> {
        Message {
            method: "POST",
            path: "/payload",
            query: "",
            body,
            timestamp: 0,
            id: "",
        }
    }

    #[test]
    fn signs_the_published_vector() {
        let gh = scheme(SchemeKind::Github, &[SECRET]);
        let h = sign(&*gh, &delivery(PAYLOAD));
        assert_eq!(h.len(), 1);
        assert_eq!(h["x-hub-signature-256"], SIGNATURE);
    }

    #[test]
    fn verifies_the_published_vector_at_any_time() {
        let gh = scheme(SchemeKind::Github, &[SECRET]);
        let h = headers(&[("x-hub-signature-256", SIGNATURE)]);
        assert_eq!(verify(&*gh, &delivery(PAYLOAD), &h, 0), Verification::Valid);
        assert_eq!(verify(&*gh, &delivery(PAYLOAD), &h, i64::MAX), Verification::Valid);
        let upper = headers(&[(
            "x-hub-signature-256",
            &SIGNATURE.to_uppercase().replace("SHA256", "sha256"),
        )]);
        assert_eq!(verify(&*gh, &delivery(PAYLOAD), &upper, 0), Verification::Valid);
        let changed = delivery(b"Hello, World?");
        assert_eq!(
            verify(&*gh, &changed, &h, 0),
            Verification::Invalid(InvalidReason::Mismatch)
        );
    }

    #[test]
    fn a_wrong_prefix_or_length_is_malformed() {
        let gh = scheme(SchemeKind::Github, &[SECRET]);
        let malformed = Verification::Invalid(InvalidReason::Malformed);
        for value in [
            &SIGNATURE[7..],
            &SIGNATURE.replace("sha256=", "sha1="),
            &SIGNATURE[..70],
        ] {
            let h = headers(&[("x-hub-signature-256", value)]);
            assert_eq!(verify(&*gh, &delivery(PAYLOAD), &h, 0), malformed, "{value}");
        }
    }
}
