//! Secrets, everywhere: a signing secret, a sink secret, a `GITHUB_TOKEN`
//! and a token a `[[setup]]` step captures are all set, and every
//! subcommand runs (`run`, `validate` with a good and a bad plan, `demo`,
//! `sink`, `verdict`, `report`, `baseline`, `compare`, `publish`, `import`,
//! `merge`), failing paths included: a setup step that fails with the
//! secret echoed in its answer, an unreachable target, deliveries with
//! wrong signatures, GitHub refusing the token, GitHub unreachable. None of
//! the secrets is in any output or in any file written.
//!
//! Outside GitHub Actions, so there are no `::add-mask::` lines: any
//! occurrence is a leak (tests/actions_secrets.rs covers the masks).

mod common;
mod github_fake;

use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};
use github_fake::publish::{FakePublish, Identity, TOKEN};

const SIGNING_SECRET: &str = "sign-s3cr3t-Yy7Uu6Ii5";
const SINK_SECRET: &str = "whsec_c2luay1zM2NyM3QtQWE5U3M4RGQ3";
const CLIENT_SECRET: &str = "csecret-Ee3Rr2Tt1";
const CAPTURED: &str = "tok-captured-Oo9Pp8Ll7";

/// Every secret, with the forms it may be written in (the sink's secret
/// also base64-decoded, as Standard Webhooks uses it).
fn secrets() -> Vec<&'static str> {
    vec![
        SIGNING_SECRET,
        SINK_SECRET,
        "sink-s3cr3t-Aa9Ss8Dd7",
        CLIENT_SECRET,
        CAPTURED,
        TOKEN,
    ]
}

/// Every file under `dir`, as text.
fn files(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            out.push((path.display().to_string(), String::from_utf8_lossy(&bytes).into_owned()));
        }
    }
    out
}

/// The secrets' environment, and the working folder.
fn command(work: &Path, args: &[&str]) -> Command {
    let mut cmd = common::loadcheck_command();
    cmd.args(args)
        .env("GITHUB_TOKEN", TOKEN)
        .env("LC_SIGNING_SECRET", SIGNING_SECRET)
        .env("LC_SINK_SECRET", SINK_SECRET)
        .env("GITHUB_REPOSITORY", "acme/search")
        .env("GITHUB_SHA", "1".repeat(40))
        .current_dir(work);
    cmd
}

/// What the commands printed, by name.
#[derive(Default)]
struct Seen(Vec<(String, String)>);

impl Seen {
    fn output(&mut self, name: &str, out: &Output) -> Option<i32> {
        self.0.push((
            format!("{name} stdout"),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        ));
        self.0.push((
            format!("{name} stderr"),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ));
        out.status.code()
    }

    async fn run(&mut self, name: &str, mut cmd: Command) -> Option<i32> {
        let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap();
        self.output(name, &out)
    }
}

/// Posts deliveries to a sink for about `for_`: with a wrong signature,
/// unsigned, and with the sink's own secret *in the body* (which the sink
/// must not echo back).
fn send_bad_deliveries(port: u16, for_: Duration) -> u32 {
    let end = Instant::now() + for_;
    let mut sent = 0;
    while Instant::now() < end && sent < 200 {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            let body = format!("{{\"id\":\"evt-{sent}\",\"echo\":\"{SINK_SECRET}\"}}");
            let signature = if sent % 2 == 0 {
                "webhook-signature: v1,Zm9v\r\n"
            } else {
                ""
            };
            let req = format!(
                "POST /hooks HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nwebhook-id: evt-{sent}\r\n\
                 webhook-timestamp: 1\r\n{signature}content-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = s.write_all(req.as_bytes());
            let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
            let mut answer = Vec::new();
            let _ = std::io::Read::read_to_end(&mut s, &mut answer);
            let answer = String::from_utf8_lossy(&answer);
            for secret in [SINK_SECRET, "sink-s3cr3t-Aa9Ss8Dd7"] {
                assert!(!answer.contains(secret), "the sink's answer holds its secret: {answer}");
            }
            sent += 1;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    sent
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn plan(target: &str, sink_port: u16, setup_fails: bool) -> String {
    let second_setup = if setup_fails { "/auth/fail" } else { "/auth/token" };
    format!(
        r#"
        name = "secrets"
        id = "secrets"
        target = "{target}"
        [signing]
        scheme = "github"
        secret_env = "LC_SIGNING_SECRET"
        [[setup]]
        name = "register"
        method = "POST"
        path = "/auth/register"
        capture = {{ client_secret = "/client_secret" }}
        [[setup]]
        name = "token"
        method = "POST"
        path = "{second_setup}"
        body = {{ template = "secret={{{{client_secret}}}}" }}
        capture = {{ token = "/access_token" }}
        [[endpoint]]
        name = "search"
        path = "/v1/images/?q=cat"
        headers = {{ Authorization = "Bearer {{{{token}}}}", X-Client = "{{{{client_secret}}}}" }}
        [load]
        executor = "constant-arrival-rate"
        rate = 50
        duration = "2s"
        [thresholds]
        "http_req_duration{{endpoint:search}}" = ["p(95)<0.001"]
        [sink]
        listen = "127.0.0.1:{sink_port}"
        [sink.signing]
        scheme = "standard-webhooks"
        secret_env = "LC_SINK_SECRET"
        "#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_subcommand_writes_or_prints_a_secret_on_any_path() {
    let router = Router::new()
        .route(
            "/auth/register",
            post(|| async { axum::Json(serde_json::json!({ "client_secret": CLIENT_SECRET })) }),
        )
        .route(
            "/auth/token",
            post(|| async { axum::Json(serde_json::json!({ "access_token": CAPTURED })) }),
        )
        // A failing step whose answer echoes what it was sent.
        .route(
            "/auth/fail",
            post(|body: String| async move { (StatusCode::INTERNAL_SERVER_ERROR, format!("bad request: {body}")) }),
        )
        .route("/v1/images/", get(|| async { StatusCode::OK }));
    let server = common::serve(router).await;
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    let mut seen = Seen::default();

    // validate: a good plan and a bad one.
    let sink_port = free_port();
    std::fs::write(dir.join("loadcheck.toml"), plan(&server.url(), sink_port, false)).unwrap();
    assert_eq!(
        seen.run("validate", command(dir, &["validate", "loadcheck.toml"]))
            .await,
        Some(0)
    );
    let bad = plan(&server.url(), sink_port, false).replace("rate = 50", "rate = \"fast\"");
    std::fs::write(dir.join("bad.toml"), bad).unwrap();
    assert_eq!(
        seen.run("validate bad", command(dir, &["validate", "bad.toml"])).await,
        Some(2)
    );

    // run: setup captures, signing, the sink facing bad deliveries; its
    // threshold fails.
    let cmd = command(dir, &["run", "loadcheck.toml", "--out", "out", "-q"]);
    let run = tokio::task::spawn_blocking(move || {
        let mut cmd = cmd;
        cmd.output().unwrap()
    });
    let sent = tokio::task::spawn_blocking(move || {
        std::thread::sleep(Duration::from_millis(700));
        send_bad_deliveries(sink_port, Duration::from_millis(1500))
    })
    .await
    .unwrap();
    let out = run.await.unwrap();
    assert_eq!(seen.output("run", &out), Some(1), "{}", common::stderr(&out));
    assert!(sent > 10, "only {sent} deliveries reached the sink");
    let run_json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("out/run.json")).unwrap()).unwrap();
    assert!(run_json["stats"]["total"]["requests"].as_u64().unwrap() > 50);

    // run: a setup step that fails, its answer echoing the captured secret.
    std::fs::write(dir.join("failing.toml"), plan(&server.url(), free_port(), true)).unwrap();
    let code = seen
        .run(
            "run failing setup",
            command(dir, &["run", "failing.toml", "--out", "out-setup", "-q"]),
        )
        .await;
    assert_eq!(code, Some(3));
    // run: an unreachable target.
    std::fs::write(
        dir.join("dead.toml"),
        plan(&format!("http://{}", common::dead_addr()), free_port(), false),
    )
    .unwrap();
    assert_eq!(
        seen.run(
            "run dead",
            command(dir, &["run", "dead.toml", "--out", "out-dead", "-q"])
        )
        .await,
        Some(3)
    );

    // verdict, report, baseline, compare.
    assert_eq!(seen.run("verdict", command(dir, &["verdict", "out"])).await, Some(1));
    seen.run("report", command(dir, &["report", "out"])).await;
    seen.run(
        "baseline update",
        command(dir, &["baseline", "update", "out", "--store", "store.json", "--force"]),
    )
    .await;
    seen.run("compare", command(dir, &["compare", "--out", "cmp", "out", "out"]))
        .await;

    // publish: accepted, refused, unreachable.
    let fake = FakePublish::start("acme", "search", Identity::Installation).await;
    let mut ok = command(dir, &["publish", "--issue", "5", "--from", "out"]);
    ok.env("GITHUB_API_URL", fake.uri());
    assert_eq!(seen.run("publish", ok).await, Some(0));
    let refusing = Router::new().fallback(|| async {
        (
            StatusCode::UNAUTHORIZED,
            axum::Json(serde_json::json!({ "message": "Bad credentials" })),
        )
    });
    let refusing = common::serve(refusing).await;
    let mut refused = command(dir, &["publish", "--issue", "5", "--from", "out"]);
    refused.env("GITHUB_API_URL", refusing.url());
    assert_ne!(seen.run("publish refused", refused).await, Some(0));
    let mut unreachable = command(dir, &["publish", "--issue", "5", "--from", "out"]);
    unreachable.env("GITHUB_API_URL", format!("http://{}", common::dead_addr()));
    assert_ne!(seen.run("publish unreachable", unreachable).await, Some(0));

    // sink on its own, facing wrong signatures.
    let port = free_port();
    std::fs::write(
        dir.join("sink.toml"),
        "[signing]\nscheme = \"standard-webhooks\"\nsecret_env = \"LC_SINK_SECRET\"\n",
    )
    .unwrap();
    let listen = format!("127.0.0.1:{port}");
    let sink = command(
        dir,
        &[
            "sink",
            "--config",
            "sink.toml",
            "--listen",
            &listen,
            "--max-duration",
            "2s",
            "--stats-out",
            "sink-stats.json",
        ],
    );
    let sink = tokio::task::spawn_blocking(move || {
        let mut sink = sink;
        sink.output().unwrap()
    });
    tokio::task::spawn_blocking(move || {
        std::thread::sleep(Duration::from_millis(400));
        send_bad_deliveries(port, Duration::from_millis(1000))
    })
    .await
    .unwrap();
    let out = sink.await.unwrap();
    seen.output("sink", &out);
    let stats: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("sink-stats.json")).unwrap()).unwrap();
    let signatures = &stats["signatures"];
    assert_eq!(signatures["verified"], true, "{stats}");
    assert!(
        signatures["invalid"].as_u64() > Some(0) && signatures["missing"].as_u64() > Some(0),
        "the sink saw wrong and missing signatures: {stats}"
    );

    // demo, import, merge (they take no secret, but must not pick one up
    // from the environment).
    seen.run(
        "demo",
        command(dir, &["demo", "--out", "demo-out", "-q", "--max-duration", "4s"]),
    )
    .await;
    let k6 = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/k6/multi/points.ndjson");
    let k6 = k6.display().to_string();
    assert_eq!(
        seen.run("import", command(dir, &["import", "k6", &k6, "--out", "k6-out"]))
            .await,
        Some(0)
    );
    seen.run("merge", command(dir, &["merge", "out", "k6-out", "--out", "merged"]))
        .await;

    let mut places = seen.0;
    places.extend(files(dir).into_iter().filter(|(p, _)| !p.ends_with(".toml")));
    places.extend(
        fake.seen()
            .into_iter()
            .map(|s| (format!("sent to GitHub: {} {}", s.method, s.path), s.raw_body)),
    );
    assert!(places.len() > 40, "only {} places looked at", places.len());
    for (place, text) in &places {
        for secret in secrets() {
            assert!(!text.contains(secret), "a secret ({secret}) in {place}:\n{text}");
        }
    }
    refusing.stop().await;
    server.stop().await;
}
