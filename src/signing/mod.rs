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

mod build;
mod common;
mod custom;
mod github;
mod openverse;
mod scheme;
mod slack;
mod standard_webhooks;
mod stripe;
#[cfg(test)]
mod testing;

pub use build::{build, build_wrong_key, sign_negative};
pub use scheme::{
    Algorithm, CustomSpec, DEFAULT_TOLERANCE_S, Encoding, GITHUB_SIGNATURE, HeaderList, InvalidReason, Message,
    Negative, OPENVERSE_MAC, OPENVERSE_TIMESTAMP, SLACK_SIGNATURE, SLACK_TIMESTAMP, STALE_BY_S, STRIPE_SIGNATURE,
    Scheme, SchemeConfig, SchemeKind, SigningError, Verification, WEBHOOK_ID, WEBHOOK_SIGNATURE, WEBHOOK_TIMESTAMP,
};

#[cfg(test)]
mod tests {
    use super::testing::{msg, sign, verify};
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
