//! The binary end to end: exit codes for bad input, secrets kept out of
//! every output, SIGTERM, and the demo.

mod common;

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::cargo::CommandCargoExt;

fn loadcheck() -> Command {
    let mut c = Command::cargo_bin("loadcheck").unwrap();
    c.env_remove("LOADCHECK_TARGET").env_remove("GITHUB_ACTIONS");
    c
}

fn write_plan(dir: &Path, text: &str) -> std::path::PathBuf {
    let p = dir.join("loadcheck.toml");
    std::fs::write(&p, text).unwrap();
    p
}

const GOOD_TAIL: &str =
    "[load]\nexecutor = \"constant-vus\"\nvus = 1\nduration = \"1s\"\n[[endpoint]]\nname = \"a\"\npath = \"/\"\n";

/// Runs `validate` and `run` on a bad plan: both exit 2, say the file, the
/// line and `expect`, and send nothing (the target is a dead port).
fn assert_bad_plan(text: &str, line: usize, expect: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let plan = write_plan(dir.path(), text);
    for sub in ["validate", "run"] {
        let mut cmd = loadcheck();
        cmd.arg(sub).arg(&plan);
        if sub == "run" {
            cmd.arg("--out").arg(dir.path().join("out"));
        }
        let out = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{sub}: {stderr}");
        assert!(
            stderr.contains(&format!("loadcheck.toml:{line}")),
            "{sub}: want line {line} in: {stderr}"
        );
        for e in expect {
            assert!(stderr.contains(e), "{sub}: want {e:?} in: {stderr}");
        }
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(!dir.path().join("out/run.json").exists());
    }
}

#[test]
fn bad_plans_exit_2_with_file_line_and_field() {
    let dead = common::dead_addr();
    let target = format!("target = \"http://{dead}\"\n");
    assert_bad_plan(
        &format!("{target}[load]\nexecutr = \"constant-vus\"\n"),
        3,
        &["executr", "executor"],
    );
    assert_bad_plan(GOOD_TAIL, 1, &["target", "--target"]);
    assert_bad_plan(
        &format!("{target}{}", GOOD_TAIL.replace("\"1s\"", "\"10 parsecs\"")),
        5,
        &["duration"],
    );
    assert_bad_plan(
        &format!("{target}{GOOD_TAIL}[[endpoint]]\nname = \"b\"\npath = \"/b\"\n")
            .replace("[load]", "[load]\nendpoints = { a = 0, b = 0 }"),
        3,
        &["weight"],
    );
    assert_bad_plan("this is [not toml\n", 1, &["loadcheck.toml"]);
    assert_bad_plan(
        &format!("{target}{GOOD_TAIL}[thresholds]\n\"http_req_duration\" = [\"p(95)<<500\"]\n"),
        10,
        &["http_req_duration"],
    );
}

/// `validate` lints a plan where its secrets are not (a pull request's
/// job): each unset one is a warning naming file, line and field, exit 0.
/// `--require-secrets` makes them errors (exit 2), and `run` always refuses.
#[test]
fn validate_warns_of_unset_secrets_and_run_refuses_them() {
    let dead = common::dead_addr();
    let dir = tempfile::tempdir().unwrap();
    let plan = write_plan(
        dir.path(),
        &format!(
            "target = \"http://{dead}\"\n[vars]\ntoken = {{ env = \"LOADCHECK_TEST_UNSET_TOKEN\", secret = true }}\n\
             [signing]\nscheme = \"standard-webhooks\"\nsecret_env = \"LOADCHECK_TEST_UNSET_SECRET\"\n{GOOD_TAIL}"
        ),
    );
    let run = |args: &[&str]| {
        let out = loadcheck()
            .args(args)
            .arg(&plan)
            .env_remove("LOADCHECK_TEST_UNSET_TOKEN")
            .env_remove("LOADCHECK_TEST_UNSET_SECRET")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        (
            out.status.code(),
            stderr,
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, stderr, stdout) = run(&["validate"]);
    assert_eq!(code, Some(0), "{stderr}");
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.starts_with("warning:")).collect();
    assert_eq!(warnings.len(), 2, "{stderr}");
    assert!(
        warnings[0].contains("loadcheck.toml:3") && warnings[0].contains("field `vars.token.env`"),
        "{stderr}"
    );
    assert!(
        warnings[0].contains("LOADCHECK_TEST_UNSET_TOKEN is not set"),
        "{stderr}"
    );
    assert!(
        warnings[1].contains("loadcheck.toml:6") && warnings[1].contains("LOADCHECK_TEST_UNSET_SECRET"),
        "{stderr}"
    );
    assert!(
        stdout.contains("ok (1 scenarios, 1 endpoints, 2 environment variable(s) unset)"),
        "{stdout}"
    );

    let (code, stderr, _) = run(&["validate", "--require-secrets"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("loadcheck.toml:3") && stderr.contains("LOADCHECK_TEST_UNSET_TOKEN"),
        "{stderr}"
    );

    let out_dir = dir.path().join("out");
    let (code, stderr, _) = run(&["run", "--quiet", "--out", out_dir.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("LOADCHECK_TEST_UNSET_TOKEN is not set"), "{stderr}");
    assert!(!out_dir.join("run.json").exists());
}

#[test]
fn validate_accepts_a_good_plan() {
    let dir = tempfile::tempdir().unwrap();
    let plan = write_plan(dir.path(), &format!("target = \"http://127.0.0.1:1\"\n{GOOD_TAIL}"));
    let out = loadcheck().arg("validate").arg(&plan).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn an_unreachable_target_is_one_line_with_the_os_reason_and_exits_3() {
    let dead = common::dead_addr();
    let dir = tempfile::tempdir().unwrap();
    let plan = write_plan(dir.path(), &format!("target = \"http://{dead}\"\n{GOOD_TAIL}"));
    let out = loadcheck()
        .arg("run")
        .arg(&plan)
        .arg("--quiet")
        .arg("--out")
        .arg(dir.path().join("out"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    let line = stderr
        .lines()
        .find(|l| l.contains("preflight"))
        .unwrap_or_else(|| panic!("no preflight line in: {stderr}"));
    assert_eq!(line.matches(&dead.to_string()).count(), 1, "the address once: {line}");
    assert!(line.to_lowercase().contains("refused"), "the OS reason: {line}");
}

/// The README's plan-less run, as printed: with no plan file given and no
/// `./loadcheck.toml`, `--target URL` runs one GET of the URL, in the open
/// model at `--rate`, or else with 50 VUs (`--vus`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_without_a_plan_gets_the_target_url() {
    let server = common::basic_server().await;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("{}/ok?from=quick", server.url());
    let cwd = dir.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        loadcheck()
            .current_dir(&cwd)
            .args([
                "run",
                "--target",
                &url,
                "--duration",
                "2s",
                "--rate",
                "25",
                "--out",
                "out",
            ])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("out/run.json")).unwrap()).unwrap();
    let requests = run["stats"]["total"]["requests"].as_u64().unwrap();
    assert!((45..=55).contains(&requests), "25/s for 2 s: {requests}");
    assert_eq!(
        run["stats"]["total"]["ok"].as_u64(),
        Some(requests),
        "every GET reached /ok"
    );
    assert_eq!(server.hits.load(std::sync::atomic::Ordering::Relaxed), requests);
    assert_eq!(run["plan"]["name"], "127.0.0.1");
    assert_eq!(run["plan"]["endpoints"][0]["path"], "/ok?from=quick");
    assert_eq!(run["plan"]["endpoints"][0]["method"], "GET");
    assert_eq!(
        run["plan"]["scenarios"][0]["executor"]["executor"],
        "constant-arrival-rate"
    );
    assert_eq!(run["thresholds"].as_array().map(Vec::len), Some(0));

    // Without --rate: the closed model, 50 VUs unless --vus says otherwise.
    let cwd = dir.path().to_path_buf();
    let url = format!("{}/ok", server.url());
    let out = tokio::task::spawn_blocking(move || {
        loadcheck()
            .current_dir(&cwd)
            .args([
                "run",
                "--target",
                &url,
                "--duration",
                "1s",
                "--quiet",
                "--out",
                "closed",
            ])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("closed/run.json")).unwrap()).unwrap();
    assert_eq!(run["plan"]["scenarios"][0]["executor"]["executor"], "constant-vus");
    assert_eq!(run["plan"]["scenarios"][0]["executor"]["vus"], 50);
    assert!(run["stats"]["total"]["requests"].as_u64().unwrap() > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_appear_in_any_output() {
    let server = common::basic_server().await;
    let secret = "s3cr3t-token-value-9f8e7d";
    let dir = tempfile::tempdir().unwrap();
    let plan = write_plan(
        dir.path(),
        &format!(
            "target = \"{}\"\n[vars]\ntoken = {{ env = \"LC_TEST_TOKEN\", secret = true }}\n[load]\nexecutor = \"constant-vus\"\nvus = 2\nduration = \"1s\"\n[[endpoint]]\nname = \"authed\"\npath = \"/ok\"\nheaders = {{ Authorization = \"Bearer {{{{token}}}}\" }}\n",
            server.url()
        ),
    );
    let out_dir = dir.path().join("out");
    let out = tokio::task::spawn_blocking(move || {
        loadcheck()
            .arg("run")
            .arg(&plan)
            .arg("--out")
            .arg(&out_dir)
            .env("LC_TEST_TOKEN", secret)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        server.hits.load(std::sync::atomic::Ordering::Relaxed) > 0,
        "the run sent requests"
    );
    let run_json = std::fs::read_to_string(dir.path().join("out/run.json")).unwrap();
    for (name, text) in [
        ("stdout", String::from_utf8_lossy(&out.stdout).to_string()),
        ("stderr", String::from_utf8_lossy(&out.stderr).to_string()),
        ("run.json", run_json.clone()),
    ] {
        assert!(!text.contains(secret), "the secret leaked into {name}");
    }
    assert!(
        run_json.contains("LC_TEST_TOKEN"),
        "the plan records where the secret came from"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_writes_an_aborted_run_json_and_exits_3() {
    let server = common::basic_server().await;
    let dir = tempfile::tempdir().unwrap();
    let plan = write_plan(
        dir.path(),
        &format!(
            "target = \"{}\"\n[load]\nexecutor = \"constant-arrival-rate\"\nrate = 100\nduration = \"60s\"\n[[endpoint]]\nname = \"ok\"\npath = \"/ok\"\n",
            server.url()
        ),
    );
    let out_dir = dir.path().join("out");
    let mut child = loadcheck()
        .arg("run")
        .arg(&plan)
        .arg("--out")
        .arg(&out_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let signalled = Instant::now();
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status = tokio::task::spawn_blocking(move || {
        let status = child.wait().unwrap();
        let mut err = String::new();
        child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
        (status, err)
    })
    .await
    .unwrap();
    assert!(
        signalled.elapsed() < Duration::from_secs(5),
        "took {:?}",
        signalled.elapsed()
    );
    assert_eq!(status.0.code(), Some(3), "{}", status.1);
    let r: loadcheck::metrics::RunResult =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("run.json")).unwrap()).unwrap();
    assert_eq!(r.status, loadcheck::metrics::result::RunStatus::Aborted);
    let abort = r.abort.unwrap();
    assert_eq!(abort.kind, loadcheck::metrics::result::AbortKind::Signal);
    assert_eq!(abort.detail.as_deref(), Some("SIGTERM"));
    let verdict = r.verdict.unwrap();
    assert_eq!(verdict.exit_code, 3);
    assert!(
        verdict
            .reasons
            .iter()
            .any(|x| x.kind == loadcheck::metrics::result::ReasonKind::Abort && x.name == "signal"),
        "{verdict:?}"
    );
    common::assert_rejudged(&out_dir.join("run.json"), 3);
    let hits = server.hits.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        r.stats.total.requests >= 250,
        "about 3 s at 100/s measured: {}",
        r.stats.total.requests
    );
    assert_eq!(
        r.stats.total.requests, hits,
        "every request the server answered is in run.json"
    );
}

#[test]
fn demo_runs_the_whole_pipeline_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let out = loadcheck()
        .args(["demo", "--quiet", "--seed", "1", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("search") && stdout.contains("Requirement"), "{stdout}");
    let r: loadcheck::metrics::RunResult =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("run.json")).unwrap()).unwrap();
    assert!(r.stats.total.requests > 3000, "{}", r.stats.total.requests);
    assert_eq!(r.stats.total.failed, 0);
    common::assert_rejudged(&dir.path().join("run.json"), 0);
}

#[test]
fn demo_serve_refuses_to_slow_a_route_without_a_latency() {
    let out = loadcheck()
        .args(["demo", "serve", "--listen", "127.0.0.1:0", "--slow", "thumbnail=25%"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--latency thumbnail=5ms"), "{err}");
    let out = loadcheck()
        .args(["demo", "serve", "--latency", "images=5ms"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("search, thumbnail and webhook"), "{err}");
}
