//! Requests signed by `loadcheck::signing`, checked by an independent
//! implementation: `tests/fixtures/signing/verify.py`, written from each
//! provider's published algorithm with Python's standard library. Each
//! scheme is also shown to be rejected by that script once tampered with,
//! so the check can fail. Plus the negative modes and the rule that no
//! error shows a secret.

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use base64::Engine as _;
use loadcheck::signing::{
    Algorithm, CustomSpec, Encoding, HeaderList, InvalidReason, Message, Negative, SchemeConfig, SchemeKind,
    SigningError, Verification, build, build_wrong_key, sign_negative,
};
use serde_json::json;

const NOW: i64 = 1_700_000_000;

/// Every byte value, for a binary body.
fn binary() -> Vec<u8> {
    (0..=255u8).rev().chain(0..=255).collect()
}

/// The messages every scheme signs: a percent-encoded query, none, and a
/// binary body under a percent-encoded path.
fn messages(binary: &[u8]) -> Vec<Message<'_>> {
    vec![
        Message {
            method: "POST",
            path: "/v1/images/",
            query: "q=cat%20%26%20dog&page=2&tag=%E2%9C%93",
            body: br#"{"title":"caf\u00e9","n":1}"#,
            timestamp: NOW,
            id: "msg_2b7f0f3c",
        },
        Message {
            method: "GET",
            path: "/v1/audio/",
            query: "",
            body: b"",
            timestamp: NOW,
            id: "msg_empty",
        },
        Message {
            method: "PUT",
            path: "/upload/r%C3%A9sum%C3%A9.bin",
            query: "a=%2F&b=",
            body: binary,
            timestamp: NOW - 5,
            id: "msg_binary",
        },
    ]
}

fn custom_specs() -> Vec<CustomSpec> {
    let headers = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    vec![
        CustomSpec {
            message: "{method}\n{path}{query}\n{timestamp}\n{body}".into(),
            algorithm: Algorithm::Sha256,
            encoding: Encoding::Hex,
            headers: headers(&[("X-Signature", "sha256={signature}"), ("X-Timestamp", "{timestamp}")]),
        },
        CustomSpec {
            message: "{id}.{timestamp}.{body}".into(),
            algorithm: Algorithm::Sha1,
            encoding: Encoding::Base64,
            headers: headers(&[("X-Auth", "t={timestamp},sig={signature}"), ("X-Message-Id", "{id}")]),
        },
        CustomSpec {
            message: "{path}{query}|{body}".into(),
            algorithm: Algorithm::Sha512,
            encoding: Encoding::Base64Url,
            headers: headers(&[("Authorization", "HMAC {signature}")]),
        },
    ]
}

/// One config per scheme the script checks (three custom ones).
fn configs() -> Vec<SchemeConfig> {
    let mut cfgs = vec![
        SchemeConfig::new(SchemeKind::Stripe, vec!["whsec_stripe_0123456789abcdef".into()]),
        SchemeConfig::new(SchemeKind::Openverse, vec!["openverse-signing-secret".into()]),
        SchemeConfig::new(SchemeKind::Github, vec!["It's a Secret to Everybody".into()]),
        SchemeConfig::new(SchemeKind::Slack, vec!["8f742231b10e8888abcd99yyyzzz85a5".into()]),
        SchemeConfig::new(
            SchemeKind::StandardWebhooks,
            vec![
                "whsec_c2VjcmV0LW9mLXRoZS1uZXctZW5kcG9pbnQ=".into(),
                "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(),
            ],
        ),
    ];
    for spec in custom_specs() {
        cfgs.push(SchemeConfig {
            kind: SchemeKind::Custom,
            secrets: vec!["custom-secret".into()],
            tolerance_s: 300,
            custom: Some(spec),
        });
    }
    cfgs
}

/// The Python interpreter behind `python3`, found once: a version
/// manager's `python3` shim can cost more than the script itself.
fn python() -> &'static str {
    static PYTHON: OnceLock<String> = OnceLock::new();
    PYTHON.get_or_init(|| {
        let out = Command::new("python3")
            .args(["-c", "import sys; print(sys.executable)"])
            .output()
            .expect("python3 runs (the independent verifier needs it)");
        assert!(
            out.status.success(),
            "python3 fails: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    })
}

/// The script's verdict on a request: true for exit 0, false for exit 1.
fn python_accepts(
    cfg: &SchemeConfig,
    verify_secrets: &[String],
    msg: &Message<'_>,
    body: &[u8],
    out: &HeaderList,
) -> bool {
    let headers: serde_json::Map<String, serde_json::Value> = out
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), json!(v.to_str().unwrap())))
        .collect();
    let custom = cfg.custom.as_ref().map(|s| {
        json!({
            "message": s.message,
            "algorithm": match s.algorithm {
                Algorithm::Sha1 => "sha1",
                Algorithm::Sha256 => "sha256",
                Algorithm::Sha512 => "sha512",
            },
            "encoding": match s.encoding {
                Encoding::Hex => "hex",
                Encoding::Base64 => "base64",
                Encoding::Base64Url => "base64url",
            },
            "headers": s.headers,
        })
    });
    let case = json!({
        "scheme": cfg.kind,
        "secrets": verify_secrets,
        "method": msg.method,
        "path": msg.path,
        "query": msg.query,
        "body": base64::engine::general_purpose::STANDARD.encode(body),
        "headers": headers,
        "now": NOW,
        "tolerance": cfg.tolerance_s,
        "custom": custom,
    });
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/signing/verify.py");
    let mut child = Command::new(python())
        .args(["-I", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs (the independent verifier needs it)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(case.to_string().as_bytes())
        .unwrap();
    let done = child.wait_with_output().unwrap();
    match done.status.code() {
        Some(0) => true,
        Some(1) => false,
        _ => panic!("verify.py failed on {case}: {}", String::from_utf8_lossy(&done.stderr)),
    }
}

fn signed(cfg: &SchemeConfig, msg: &Message<'_>) -> HeaderList {
    let mut out = HeaderList::new();
    build(cfg).unwrap().sign(msg, &mut out);
    out
}

#[test]
fn the_independent_verifier_accepts_what_loadcheck_signs() {
    let bin = binary();
    let mut checked = 0;
    for cfg in configs() {
        for msg in messages(&bin) {
            let out = signed(&cfg, &msg);
            assert!(
                python_accepts(&cfg, &cfg.secrets, &msg, msg.body, &out),
                "{} rejected {msg:?}: {out:?}",
                cfg.kind
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 8 * 3);
}

#[test]
fn the_independent_verifier_rejects_a_tampered_request() {
    let bin = binary();
    for cfg in configs() {
        let scheme = build(&cfg).unwrap();
        for msg in messages(&bin) {
            let out = signed(&cfg, &msg);
            // Openverse does not sign the body: tamper with the query there.
            let tampered = if scheme.detects(Negative::TamperedBody) {
                let mut body = msg.body.to_vec();
                body.push(b'!');
                python_accepts(&cfg, &cfg.secrets, &msg, &body, &out)
            } else {
                let other = Message {
                    query: "q=other",
                    ..msg
                };
                python_accepts(&cfg, &cfg.secrets, &other, other.body, &out)
            };
            assert!(!tampered, "{} accepted a tampered {msg:?}", cfg.kind);
            // And a signature made with another secret.
            let wrong = vec![format!("{}x", cfg.secrets[0].trim_end_matches('='))];
            let wrong = if cfg.kind == SchemeKind::StandardWebhooks {
                vec!["whsec_b3RoZXIta2V5".to_string()]
            } else {
                wrong
            };
            assert!(
                !python_accepts(&cfg, &wrong, &msg, msg.body, &out),
                "{} accepted the wrong secret",
                cfg.kind
            );
        }
    }
}

#[test]
fn a_rotated_standard_webhooks_signature_verifies_with_the_old_key_alone() {
    let bin = binary();
    let cfg = &configs()[4];
    assert_eq!(cfg.kind, SchemeKind::StandardWebhooks);
    let old = vec![cfg.secrets[1].clone()];
    let old_scheme = build(&SchemeConfig::new(SchemeKind::StandardWebhooks, old.clone())).unwrap();
    for msg in messages(&bin) {
        let out = signed(cfg, &msg);
        assert!(python_accepts(cfg, &old, &msg, msg.body, &out));
        let h: http::HeaderMap = out.into_iter().collect();
        let got = old_scheme.verify(msg.method, msg.path, msg.query, &h, msg.body, NOW);
        assert_eq!(got, Verification::Valid);
    }
}

#[test]
fn negative_modes_are_rejected_by_both_verifiers() {
    let bin = binary();
    let mut rejected = 0;
    for cfg in configs() {
        let scheme = build(&cfg).unwrap();
        let wrong = build_wrong_key(&cfg).unwrap();
        for msg in messages(&bin) {
            for (negative, reason) in [
                (Negative::StaleTimestamp, InvalidReason::StaleTimestamp),
                (Negative::WrongKey, InvalidReason::Mismatch),
                (Negative::TamperedBody, InvalidReason::Mismatch),
            ] {
                let mut out = HeaderList::new();
                let body = sign_negative(&*scheme, &*wrong, &msg, negative, &mut out);
                let h: http::HeaderMap = out.iter().cloned().collect();
                let ours = scheme.verify(msg.method, msg.path, msg.query, &h, &body, NOW);
                let theirs = python_accepts(&cfg, &cfg.secrets, &msg, &body, &out);
                if scheme.detects(negative) {
                    assert_eq!(ours, Verification::Invalid(reason), "{} {negative:?}", cfg.kind);
                    assert!(!theirs, "verify.py accepted {} {negative:?}", cfg.kind);
                    rejected += 1;
                } else {
                    assert_eq!(ours, Verification::Valid, "{} {negative:?}", cfg.kind);
                    assert!(theirs);
                }
            }
        }
    }
    // All but GitHub's stale timestamp and Openverse's tampered body, and the
    // third custom spec has no timestamp.
    assert_eq!(rejected, (8 * 3 - 3) * 3);
}

#[test]
fn the_wrong_key_has_the_right_format() {
    // A standard-webhooks secret stays decodable when flipped, and the wrong
    // key really differs: the signature changes.
    let bin = binary();
    for cfg in configs() {
        let right = build(&cfg).unwrap();
        let wrong = build_wrong_key(&cfg).unwrap();
        let msg = &messages(&bin)[0];
        let (mut a, mut b) = (HeaderList::new(), HeaderList::new());
        right.sign(msg, &mut a);
        wrong.sign(msg, &mut b);
        assert_eq!(a.len(), b.len());
        assert_ne!(a, b, "{}", cfg.kind);
    }
}

/// A secret that would stand out in any text.
const SECRET: &str = "S3CR3T-d0-n0t-l34k";

fn assert_hidden(err: SigningError) {
    let text = format!("{err} / {err:?}");
    assert!(!text.contains(SECRET), "{text}");
    for part in ["S3CR3T", "d0-n0t", "l34k"] {
        assert!(!text.contains(part), "{text}");
    }
}

#[test]
fn errors_never_show_the_secret() {
    // Not base64: the decoder's own error would quote the bad byte.
    let not_base64 = |prefix: &str| SchemeConfig::new(SchemeKind::StandardWebhooks, vec![format!("{prefix}{SECRET}")]);
    assert_hidden(build(&not_base64("whsec_")).err().unwrap());
    assert_hidden(build(&not_base64("")).err().unwrap());
    let second_bad = SchemeConfig::new(
        SchemeKind::StandardWebhooks,
        vec!["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(), SECRET.into()],
    );
    assert_hidden(build(&second_bad).err().unwrap());
    let mut empty_second = SchemeConfig::new(SchemeKind::Github, vec![SECRET.into(), String::new()]);
    assert_hidden(build(&empty_second).err().unwrap());
    empty_second.kind = SchemeKind::Custom;
    assert_hidden(build_wrong_key(&empty_second).err().unwrap());
    let mut github_with_spec = SchemeConfig::new(SchemeKind::Github, vec![SECRET.into()]);
    github_with_spec.custom = Some(custom_specs().remove(0));
    assert_hidden(build(&github_with_spec).err().unwrap());
    let mut bad_template = github_with_spec.clone();
    bad_template.kind = SchemeKind::Custom;
    bad_template.custom.as_mut().unwrap().message = "{secret}".into();
    assert_hidden(build(&bad_template).err().unwrap());
    // And a config's Debug.
    let debug = format!("{:?}", SchemeConfig::new(SchemeKind::Stripe, vec![SECRET.into()]));
    assert!(!debug.contains(SECRET), "{debug}");
}
