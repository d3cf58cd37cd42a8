//! Inside GitHub Actions (`GITHUB_ACTIONS=true`), `run` and `publish` never
//! print or write a secret (a GitHub token, a signing secret, a token a
//! `[[setup]]` step captured) except on the `::add-mask::` lines that hide
//! them in the job's log; and `run` writes the step's outputs and summary.

mod common;
mod github_fake;

use std::path::Path;
use std::process::Output;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};
use github_fake::publish::{FakePublish, Identity, TOKEN};

const SIGNING_SECRET: &str = "sign-s3cr3t-Q9w8e7r6t5y4";
const CAPTURED: &str = "tok-captured-7Hh2Kk9Zz";
const CLIENT_SECRET: &str = "csecret-Pp4Ll3Mm2";

/// Every file under `dir`, as text.
fn files(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
            out.push((path.display().to_string(), text));
        }
    }
    out
}

/// The places a secret may not be, with the `::add-mask::` lines left out.
fn without_masks(text: &str) -> String {
    text.lines()
        .filter(|l| !l.starts_with("::add-mask::"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_and_publish_leak_no_secret_outside_the_mask_lines() {
    let router = Router::new()
        .route(
            "/auth/register",
            post(|| async { axum::Json(serde_json::json!({ "client_secret": CLIENT_SECRET })) }),
        )
        .route(
            "/auth/token",
            post(|| async { axum::Json(serde_json::json!({ "access_token": CAPTURED })) }),
        )
        .route("/v1/images/", get(|| async { StatusCode::OK }))
        .route("/v1/hooks", post(|| async { StatusCode::ACCEPTED }));
    let server = common::serve(router).await;
    let work = tempfile::tempdir().unwrap();
    let plan = format!(
        r#"
        name = "secrets"
        target = "{}"
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
        path = "/auth/token"
        body = {{ template = "secret={{{{client_secret}}}}" }}
        capture = {{ token = "/access_token" }}
        [[endpoint]]
        name = "search"
        path = "/v1/images/?q=cat"
        headers = {{ Authorization = "Bearer {{{{token}}}}" }}
        [[endpoint]]
        name = "hook"
        method = "POST"
        path = "/v1/hooks"
        body = "{{}}"
        expect = [202]
        [load]
        executor = "constant-arrival-rate"
        rate = 40
        duration = "1s"
        [thresholds]
        "http_req_duration{{endpoint:search}}" = ["p(95)<0.001"]
        "#,
        server.url()
    );
    let plan_path = work.path().join("loadcheck.toml");
    std::fs::write(&plan_path, plan).unwrap();
    let out_dir = work.path().join("out");
    let github_output = work.path().join("github_output");
    let step_summary = work.path().join("step_summary");
    let actions_env = |cmd: &mut std::process::Command| {
        cmd.env("GITHUB_ACTIONS", "true")
            .env("GITHUB_TOKEN", TOKEN)
            .env("LC_SIGNING_SECRET", SIGNING_SECRET)
            .env("GITHUB_OUTPUT", &github_output)
            .env("GITHUB_STEP_SUMMARY", &step_summary)
            .env("GITHUB_WORKSPACE", work.path())
            .env("GITHUB_REPOSITORY", "acme/search")
            .env("GITHUB_SERVER_URL", "https://github.com")
            .env("GITHUB_RUN_ID", "42")
            .env("GITHUB_SHA", "1".repeat(40))
            .current_dir(work.path());
    };

    let mut run = common::loadcheck_command();
    run.arg("run").arg(&plan_path).arg("--out").arg(&out_dir).arg("-q");
    actions_env(&mut run);
    let run_out = tokio::task::spawn_blocking(move || run.output().unwrap())
        .await
        .unwrap();
    let (run_stdout, run_stderr) = text(&run_out);
    assert_eq!(run_out.status.code(), Some(1), "the threshold fails: {run_stderr}");

    // Every secret was masked, the moment it was known.
    for secret in [SIGNING_SECRET, CLIENT_SECRET, CAPTURED] {
        assert!(
            run_stdout.lines().any(|l| l == format!("::add-mask::{secret}")),
            "no mask for a secret:\n{run_stdout}"
        );
    }
    // The outputs and the summary.
    let outputs = std::fs::read_to_string(&github_output).unwrap();
    for expected in [
        "verdict<<LOADCHECK_EOF\nfail\nLOADCHECK_EOF",
        "exit-code<<LOADCHECK_EOF\n1\nLOADCHECK_EOF",
        "regressions<<LOADCHECK_EOF\n0\nLOADCHECK_EOF",
    ] {
        assert!(outputs.contains(expected), "{outputs}");
    }
    let report_dir = std::path::absolute(&out_dir).unwrap();
    assert!(outputs.contains(&format!("report-dir<<LOADCHECK_EOF\n{}\n", report_dir.display())));
    let p95 = outputs
        .split("p95<<LOADCHECK_EOF\n")
        .nth(1)
        .unwrap()
        .lines()
        .next()
        .unwrap();
    let p95: serde_json::Value = serde_json::from_str(p95).unwrap();
    assert!(p95["search"].as_f64().unwrap() > 0.0, "{p95}");
    assert!(p95["hook"].as_f64().is_some());
    let summary = std::fs::read_to_string(&step_summary).unwrap();
    assert_eq!(summary, std::fs::read_to_string(out_dir.join("summary.md")).unwrap());
    assert!(summary.contains("FAIL"));
    // The failed threshold is annotated.
    assert!(
        run_stdout
            .lines()
            .any(|l| l.starts_with("::error title=loadcheck%3A ") && l.contains("p(95)")),
        "{run_stdout}"
    );

    // Publish from the folder.
    let fake = FakePublish::start("acme", "search", Identity::Installation).await;
    let mut publish = std::process::Command::new(env!("CARGO_BIN_EXE_loadcheck"));
    publish.args(["publish", "--issue", "5", "--from"]).arg(&out_dir);
    actions_env(&mut publish);
    publish.env("GITHUB_API_URL", fake.uri());
    let publish_out = tokio::task::spawn_blocking(move || publish.output().unwrap())
        .await
        .unwrap();
    let (pub_stdout, pub_stderr) = text(&publish_out);
    assert_eq!(publish_out.status.code(), Some(0), "{pub_stderr}");
    assert!(pub_stdout.lines().any(|l| l == format!("::add-mask::{TOKEN}")));
    assert_eq!(fake.comments(5).len(), 1);
    assert_eq!(fake.check_runs().len(), 1);
    let outputs = std::fs::read_to_string(&github_output).unwrap();
    assert!(outputs.contains("check-run-url<<"), "{outputs}");

    let mut places: Vec<(String, String)> = vec![
        ("run stdout".into(), without_masks(&run_stdout)),
        ("run stderr".into(), run_stderr),
        ("publish stdout".into(), without_masks(&pub_stdout)),
        ("publish stderr".into(), pub_stderr),
    ];
    places.extend(
        files(work.path())
            .into_iter()
            .filter(|(p, _)| !p.ends_with("loadcheck.toml")),
    );
    places.extend(
        fake.seen()
            .into_iter()
            .map(|s| (format!("sent to GitHub: {} {}", s.method, s.path), s.raw_body)),
    );
    assert!(places.len() > 12, "{}", places.len());
    for (place, text) in &places {
        for secret in [TOKEN, SIGNING_SECRET, CAPTURED, CLIENT_SECRET] {
            assert!(!text.contains(secret), "a secret in {place}:\n{text}");
        }
    }
    server.stop().await;
}

#[test]
fn a_bad_plan_is_annotated_on_its_line() {
    let work = tempfile::tempdir().unwrap();
    let plans = work.path().join("plans");
    std::fs::create_dir_all(&plans).unwrap();
    std::fs::write(
        plans.join("api.toml"),
        "target = \"http://127.0.0.1:9\"\n\n[[endpoint]]\nname = \"a\"\npath = \"/\"\n\n[load]\nexecutor = \"constant-arrival-rte\"\nrate = 5\nduration = \"1s\"\n",
    )
    .unwrap();
    let github_output = work.path().join("out.txt");
    let out = common::loadcheck_command()
        .args(["run", "plans/api.toml", "--out", "o"])
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_WORKSPACE", work.path())
        .env("GITHUB_OUTPUT", &github_output)
        .current_dir(work.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find(|l| l.starts_with("::error "))
        .unwrap_or_else(|| panic!("no annotation:\n{stdout}"));
    assert!(line.starts_with("::error file=plans/api.toml,line=8,col="), "{line}");
    assert!(line.contains("constant-arrival-rate"), "the suggestion: {line}");
    let outputs = std::fs::read_to_string(&github_output).unwrap();
    assert!(outputs.contains("verdict<<LOADCHECK_EOF\nerror\n"), "{outputs}");
    assert!(outputs.contains("exit-code<<LOADCHECK_EOF\n2\n"), "{outputs}");
    assert!(!outputs.contains("p95<<"), "no stale or made-up numbers: {outputs}");
}
