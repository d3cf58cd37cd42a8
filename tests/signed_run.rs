//! `loadcheck run` with `[signing]`, `[[setup]]` and a verifying `[sink]`:
//! what loadcheck signs, its own sink verifies; every negative mode is
//! refused; setup captures are used and never printed.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use common::{run_binary, stderr};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn count(json: &serde_json::Value, endpoint: &str) -> u64 {
    json["stats"]["endpoints"][endpoint]["requests"].as_u64().unwrap()
}

#[test]
fn the_sink_verifies_what_loadcheck_signs_and_refuses_every_negative_mode() {
    let port = free_port();
    let plan = format!(
        r#"
        target = "http://127.0.0.1:{port}"
        [signing]
        scheme = "standard-webhooks"
        secret_env = "LC_TEST_WH"
        [sink]
        listen = "127.0.0.1:{port}"
        [sink.signing]
        scheme = "standard-webhooks"
        secret_env = "LC_TEST_WH"
        [[endpoint]]
        name = "good"
        method = "POST"
        path = "/hooks?src=lc"
        body = {{ template = "n={{{{iteration}}}}" }}
        expect = [200]
        weight = 4
        [[endpoint]]
        name = "stale"
        method = "POST"
        path = "/hooks"
        body = "n=1"
        negative = "stale-timestamp"
        [[endpoint]]
        name = "wrong"
        method = "POST"
        path = "/hooks"
        body = "n=1"
        negative = "wrong-key"
        [[endpoint]]
        name = "tampered"
        method = "POST"
        path = "/hooks"
        body = "n=1"
        negative = "tampered-body"
        [[endpoint]]
        name = "unsigned"
        method = "POST"
        path = "/hooks"
        body = "n=1"
        signing = false
        headers = {{ webhook-id = "msg_{{{{uuid}}}}" }}
        expect = [401]
        [load]
        executor = "constant-arrival-rate"
        rate = 200
        duration = "2s"
        [thresholds]
        http_req_failed = ["rate==0"]
        delivery_duplicates = ["count==0"]
        [[requirement]]
        name = "Only signed deliveries get through"
        target = "every bad signature refused"
        check = "delivery_invalid_signature: count>0"
        "#
    );
    let dir = tempfile::tempdir().unwrap();
    let (out, json) = run_binary(dir.path(), &plan, &[("LC_TEST_WH", SECRET)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let json = json.expect("run.json written");
    let d = &json["delivery"];
    let sig = &d["signatures"];
    let good = count(&json, "good");
    let negatives = count(&json, "stale") + count(&json, "wrong") + count(&json, "tampered");
    assert!(good > 100 && negatives > 30, "good {good}, negatives {negatives}");
    assert_eq!(sig["valid"].as_u64(), Some(good), "{d}");
    assert_eq!(sig["invalid"].as_u64(), Some(negatives), "{d}");
    assert_eq!(sig["missing"].as_u64(), Some(count(&json, "unsigned")), "{d}");
    assert_eq!(d["accepted"].as_u64(), Some(good), "{d}");
    assert_eq!(d["duplicates"].as_u64(), Some(0), "{d}");
    // The secret is nowhere: not in run.json, not in a report, not in the
    // output.
    let mut texts = vec![stderr(&out), String::from_utf8_lossy(&out.stdout).into_owned()];
    let files = written(&dir.path().join("out"));
    assert!(files.iter().any(|(n, _)| n == "report.md") && files.iter().any(|(n, _)| n == "junit.xml"));
    texts.extend(files.into_iter().map(|(_, t)| t));
    for s in &texts {
        assert!(!s.contains(SECRET) && !s.contains("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"));
    }
    assert_eq!(json["plan"]["signing"]["secret_env"][0], "LC_TEST_WH");
}

#[test]
fn an_unset_secret_variable_is_bad_input_and_nothing_is_sent() {
    let plan = "target = \"http://127.0.0.1:9\"\n[signing]\nscheme = \"github\"\nsecret_env = \"LC_TEST_UNSET_SECRET\"\n[[endpoint]]\nname = \"e\"\npath = \"/\"\n[load]\nexecutor = \"constant-vus\"\nvus = 1\nduration = \"1s\"\n";
    let dir = tempfile::tempdir().unwrap();
    let (out, json) = run_binary(dir.path(), plan, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(json.is_none());
    let err = stderr(&out);
    assert!(
        err.contains("loadcheck.toml:4:")
            && err.contains("signing.secret_env")
            && err.contains("LC_TEST_UNSET_SECRET is not set"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_captures_a_token_that_every_request_then_carries_and_it_is_never_printed() {
    let images = Arc::new(AtomicU64::new(0));
    let seen = images.clone();
    let router = Router::new()
        .route(
            "/v1/auth_tokens/register/",
            post(|| async { axum::Json(serde_json::json!({"client_id": "cid-1", "client_secret": "csecret-9Q7"})) }),
        )
        .route(
            "/v1/auth_tokens/token/",
            post(|body: String| async move {
                if body == "grant_type=client_credentials&client_id=cid-1&client_secret=csecret-9Q7" {
                    (
                        StatusCode::OK,
                        axum::Json(serde_json::json!({"access_token": "tok-XYZ123abc", "expires_in": 36000})),
                    )
                } else {
                    (StatusCode::UNAUTHORIZED, axum::Json(serde_json::json!({"error": body})))
                }
            }),
        )
        .route(
            "/v1/images/",
            get(move |h: HeaderMap| {
                let seen = seen.clone();
                async move {
                    seen.fetch_add(1, Ordering::Relaxed);
                    if h.get("authorization").and_then(|v| v.to_str().ok()) == Some("Bearer tok-XYZ123abc") {
                        StatusCode::OK
                    } else {
                        StatusCode::UNAUTHORIZED
                    }
                }
            }),
        )
        .route("/v1/broken/", post(|| async { StatusCode::INTERNAL_SERVER_ERROR }));
    let server = common::serve(router).await;
    let plan = |register: &str| {
        format!(
            r#"
            target = "{}"
            [[setup]]
            name = "register"
            method = "POST"
            path = "{register}"
            capture = {{ client_id = "/client_id", client_secret = "/client_secret" }}
            [[setup]]
            name = "token"
            method = "POST"
            path = "/v1/auth_tokens/token/"
            headers = {{ content-type = "application/x-www-form-urlencoded" }}
            body = {{ template = "grant_type=client_credentials&client_id={{{{client_id}}}}&client_secret={{{{client_secret}}}}" }}
            capture = {{ token = "/access_token" }}
            [[endpoint]]
            name = "search"
            path = "/v1/images/?q=cat"
            headers = {{ Authorization = "Bearer {{{{token}}}}" }}
            [load]
            executor = "constant-arrival-rate"
            rate = 50
            duration = "1s"
            "#,
            server.url()
        )
    };
    let dir = tempfile::tempdir().unwrap();
    let good = plan("/v1/auth_tokens/register/");
    let (out, json) = tokio::task::spawn_blocking({
        let p = dir.path().to_path_buf();
        move || run_binary(&p, &good, &[])
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let json = json.unwrap();
    assert_eq!(json["stats"]["total"]["requests"], json["stats"]["total"]["ok"]);
    assert!(images.load(Ordering::Relaxed) >= 45);
    assert_eq!(
        json["setup"][0]["captured"],
        serde_json::json!(["client_id", "client_secret"])
    );
    assert_eq!(json["setup"][1]["captured"], serde_json::json!(["token"]));
    assert_eq!(json["setup"][1]["status"], 200);
    let text = std::fs::read_to_string(dir.path().join("out/run.json")).unwrap();
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema/run.schema.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator.iter_errors(&json).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "run.json with `setup` breaks its schema: {errors:?}");
    let mut texts = vec![text, stderr(&out), String::from_utf8_lossy(&out.stdout).into_owned()];
    texts.extend(written(&dir.path().join("out")).into_iter().map(|(_, t)| t));
    for s in texts {
        assert!(!s.contains("tok-XYZ123abc") && !s.contains("csecret-9Q7"), "{s}");
    }

    // A failed setup: exit 3, and no load at all.
    images.store(0, Ordering::Relaxed);
    let bad = plan("/v1/broken/");
    let dir = tempfile::tempdir().unwrap();
    let (out, _) = tokio::task::spawn_blocking({
        let p = dir.path().to_path_buf();
        move || run_binary(&p, &bad, &[])
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("setup `register` failed"), "{}", stderr(&out));
    // The error names the origin, never the path (a path may carry a secret).
    assert!(!stderr(&out).contains("/v1/broken/"), "{}", stderr(&out));
    assert_eq!(images.load(Ordering::Relaxed), 0);
    server.stop().await;
}

/// Every file a run wrote into its folder, by name, as text.
fn written(dir: &std::path::Path) -> Vec<(String, String)> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_file())
        .map(|e| {
            let bytes = std::fs::read(e.path()).unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                String::from_utf8_lossy(&bytes).into_owned(),
            )
        })
        .collect()
}
