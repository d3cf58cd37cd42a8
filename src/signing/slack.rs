//! Slack request signing: `X-Slack-Signature: v0=<hex HMAC-SHA256 of
//! "v0:<ts>:<body>">` and `X-Slack-Request-Timestamp: <ts>`, keyed with the
//! signing secret's bytes.

use hmac::Mac;
use http::HeaderMap;

use super::common::{self, HmacSha256};
use super::{Encoding, HeaderList, Message, Scheme, SchemeKind, Verification};
use super::{SLACK_SIGNATURE as SIGNATURE, SLACK_TIMESTAMP as TIMESTAMP};

const PREFIX: &str = "v0=";

pub(super) struct Slack {
    mac: HmacSha256,
    tolerance_s: u64,
}

impl Slack {
    pub(super) fn new(key: &[u8], tolerance_s: u64) -> Self {
        Slack {
            mac: common::hmac_sha256(key),
            tolerance_s,
        }
    }

    fn mac(&self, ts: &str, body: &[u8]) -> [u8; 32] {
        let mut m = self.mac.clone();
        m.update(b"v0:");
        m.update(ts.as_bytes());
        m.update(b":");
        m.update(body);
        m.finalize().into_bytes().into()
    }

    fn check(&self, headers: &HeaderMap, body: &[u8], now: i64) -> Result<(), Verification> {
        let value = common::header(headers, &SIGNATURE)?;
        let ts = common::header(headers, &TIMESTAMP)?;
        common::check_timestamp(ts, now, self.tolerance_s)?;
        let hex = value.strip_prefix(PREFIX).ok_or_else(common::malformed)?;
        let mut buf = [0; 96];
        let got = common::decode(hex, Encoding::Hex, 32, &mut buf).ok_or_else(common::malformed)?;
        if common::ct_eq(got, &self.mac(ts, body)) {
            Ok(())
        } else {
            Err(common::mismatch())
        }
    }
}

impl Scheme for Slack {
    fn kind(&self) -> SchemeKind {
        SchemeKind::Slack
    }

    fn sign(&self, msg: &Message<'_>, out: &mut HeaderList) {
        let mut ts = itoa::Buffer::new();
        let ts = ts.format(msg.timestamp);
        let mut value = [0; PREFIX.len() + 64];
        value[..PREFIX.len()].copy_from_slice(PREFIX.as_bytes());
        hex::encode_to_slice(self.mac(ts, msg.body), &mut value[PREFIX.len()..]).expect("64 hex digits");
        common::push_header(out, &SIGNATURE, &value);
        common::push_header(out, &TIMESTAMP, ts.as_bytes());
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
    use super::super::testing::{headers, scheme, sign, verify};
    use super::super::{InvalidReason, Message, SchemeKind, Verification};

    /// The worked example of "Verifying requests from Slack",
    /// https://docs.slack.dev/authentication/verifying-requests-from-slack/,
    /// as pinned in slackapi/python-slack-sdk
    /// tests/slack_sdk/signature/test_signature_verifier.py.
    const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const TIMESTAMP: i64 = 1531420618;
    const BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const SIGNATURE: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

    fn command(body: &str) -> Message<'_> {
        Message {
            method: "POST",
            path: "/slack/commands",
            query: "",
            body: body.as_bytes(),
            timestamp: TIMESTAMP,
            id: "",
        }
    }

    #[test]
    fn signs_the_published_vector() {
        let slack = scheme(SchemeKind::Slack, &[SECRET]);
        let h = sign(&*slack, &command(BODY));
        assert_eq!(h.len(), 2);
        assert_eq!(h["x-slack-signature"], SIGNATURE);
        assert_eq!(h["x-slack-request-timestamp"], "1531420618");
    }

    #[test]
    fn verifies_the_published_vector() {
        let slack = scheme(SchemeKind::Slack, &[SECRET]);
        let h = headers(&[
            ("x-slack-signature", SIGNATURE),
            ("x-slack-request-timestamp", "1531420618"),
        ]);
        assert_eq!(verify(&*slack, &command(BODY), &h, TIMESTAMP), Verification::Valid);
        let longer = format!("{BODY}------");
        assert_eq!(
            verify(&*slack, &command(&longer), &h, TIMESTAMP),
            Verification::Invalid(InvalidReason::Mismatch)
        );
        // Today is years past the example's timestamp.
        assert_eq!(
            verify(&*slack, &command(BODY), &h, 1_700_000_000),
            Verification::Invalid(InvalidReason::StaleTimestamp)
        );
    }

    #[test]
    fn a_timestamp_that_is_not_a_number_is_malformed() {
        let slack = scheme(SchemeKind::Slack, &[SECRET]);
        for ts in ["", "1531420618.5", "+1531420618", "abc"] {
            let h = headers(&[("x-slack-signature", SIGNATURE), ("x-slack-request-timestamp", ts)]);
            assert_eq!(
                verify(&*slack, &command(BODY), &h, TIMESTAMP),
                Verification::Invalid(InvalidReason::Malformed),
                "{ts:?}"
            );
        }
    }
}
