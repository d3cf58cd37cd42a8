//! The GitHub Action (action.yml), run on this machine the way the runner
//! runs a composite action (tests/action_runner): the install step installs
//! this build from a local release server (tests/release_fixture), the run
//! step load-tests the demo service (`loadcheck demo serve`) on 127.0.0.1,
//! and the test reads the step outputs, the action's outputs, the step
//! summary and the exit code.
//!
//! Not run here, each for its reason:
//! - "Upload the output folder" (`actions/upload-artifact`): the artifact
//!   service exists only on GitHub. The test checks that the step would run
//!   (its `if:`), and its name and path.
//! - `loadcheck publish` for real: its calls to GitHub are tested in
//!   tests/publish.rs against the fake GitHub. Here the publish step runs
//!   with a stand-in `loadcheck` first on its PATH that records its
//!   arguments and token, which checks the step's `if:`, its env and the
//!   command line it builds from the inputs.

mod action_runner;
mod release_fixture;

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use action_runner::expr::Value;
use action_runner::{ActionRun, Job, Options, Ran};
use release_fixture::{Release, checksum_line, pack, repo_root, serve, tag};

const UPLOAD: &str = "Upload the output folder";
const PUBLISH: &str = "Publish to GitHub";
const SKIP: &[(&str, &str)] = &[(
    UPLOAD,
    "actions/upload-artifact talks to the Actions artifact service, which exists only on GitHub; the test checks its if:, name and path",
)];
const TOKEN: &str = "ghs_job_token_for_the_test";
const PR: u64 = 7;

/// The demo service, alone, on a free loopback port; killed when dropped.
struct Demo {
    child: Child,
    url: String,
}

impl Demo {
    fn start() -> Demo {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(release_fixture::binary())
            .args(["demo", "serve", "--listen", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "the demo service did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Demo {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A short plan for the demo service, on its search and thumbnail routes
/// (examples/demo.toml's, without the rollout and the webhook sink, which
/// need a fixed sink port and 20 seconds). `extra` adds thresholds.
fn plan(extra: &str) -> String {
    format!(
        r#"name = "action-test"
target = "http://127.0.0.1:9"
timeout = "2s"

[[scenario]]
name = "steady"
executor = "constant-arrival-rate"
rate = 50
duration = "20s"
endpoints = {{ search = 3, thumbnail = 1 }}

[[endpoint]]
name = "search"
path = "/v1/images/?q=cat"

[[endpoint]]
name = "thumbnail"
path = "/v1/images/7/thumb/"

[thresholds]
"http_req_failed" = ["rate<0.01"]
{extra}
"#
    )
}

/// The job: a workspace holding the plans, the runner's folders, a
/// pull_request event for PR 7, and the runner's variables. Nothing of the
/// test's own environment but PATH reaches a step.
struct World {
    _dir: tempfile::TempDir,
    job: Job,
}

fn world(release: &Release, runner_os: &str) -> World {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let workspace = root.join("workspace");
    let temp = root.join("runner-temp");
    for d in [&workspace, &temp, &root.join("toolcache"), &root.join("home")] {
        std::fs::create_dir_all(d).unwrap();
    }
    std::fs::write(workspace.join("pass.toml"), plan("")).unwrap();
    let signed = plan("").replace(
        "[thresholds]",
        "[signing]\nscheme = \"openverse\"\nsecret_env = \"LOADCHECK_SIGNING_SECRET\"\n\n[thresholds]",
    );
    std::fs::write(workspace.join("signed.toml"), signed).unwrap();
    std::fs::write(
        workspace.join("fail.toml"),
        plan(r#""http_req_duration{endpoint:search}" = ["p(95)<0.001"]"#),
    )
    .unwrap();
    let event = serde_json::json!({
        "action": "synchronize",
        "number": PR,
        "pull_request": { "number": PR, "head": { "sha": "0123456789abcdef0123456789abcdef01234567" } },
        "repository": { "full_name": "octo/app" },
    });
    let event_path = root.join("event.json");
    std::fs::write(&event_path, event.to_string()).unwrap();
    let s = |p: &Path| p.display().to_string();
    let unreachable = "http://127.0.0.1:9".to_string();
    let env: BTreeMap<String, String> = [
        ("PATH", std::env::var("PATH").unwrap()),
        ("HOME", s(&root.join("home"))),
        ("CI", "true".into()),
        ("GITHUB_ACTIONS", "true".into()),
        ("GITHUB_WORKSPACE", s(&workspace)),
        ("GITHUB_REPOSITORY", "octo/app".into()),
        ("GITHUB_EVENT_NAME", "pull_request".into()),
        ("GITHUB_EVENT_PATH", s(&event_path)),
        ("GITHUB_SHA", "89abcdef0123456789abcdef0123456789abcdef".into()),
        ("GITHUB_REF", format!("refs/pull/{PR}/merge")),
        ("GITHUB_RUN_ID", "4242".into()),
        ("GITHUB_JOB", "load".into()),
        ("GITHUB_SERVER_URL", unreachable.clone()),
        ("GITHUB_API_URL", unreachable),
        ("RUNNER_OS", runner_os.into()),
        ("RUNNER_ARCH", release_fixture::runner_arch().into()),
        ("RUNNER_TEMP", s(&temp)),
        ("RUNNER_TOOL_CACHE", s(&root.join("toolcache"))),
        ("LOADCHECK_DOWNLOAD_URL", release.base()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let github = Value::object([
        ("token", Value::str(TOKEN)),
        ("repository", Value::str("octo/app")),
        ("event_name", Value::str("pull_request")),
        ("event", Value::from_json(&event)),
        ("workspace", Value::str(s(&workspace))),
    ]);
    let runner = Value::object([
        ("os", Value::str(runner_os)),
        ("arch", Value::str(release_fixture::runner_arch())),
        ("temp", Value::str(s(&temp))),
        ("tool_cache", Value::str(s(&root.join("toolcache")))),
    ]);
    World {
        job: Job {
            workspace,
            temp,
            env,
            github,
            runner,
        },
        _dir: dir,
    }
}

/// A release server with this build as release `tag()`.
async fn release(work: &Path) -> Release {
    let target = release_fixture::target().expect("a platform with a release asset");
    let asset = pack(work, target);
    serve(&asset, &tag(), &checksum_line(&asset)).await
}

/// A stand-in `loadcheck` that writes its arguments, one a line, and its
/// GITHUB_TOKEN, to files in `dir`.
fn recording_loadcheck(dir: &Path) -> PathBuf {
    let bin = dir.join("stand-in");
    std::fs::create_dir_all(&bin).unwrap();
    let script = format!(
        "#!/bin/sh\nprintf '%s\\n' \"$@\" > '{args}'\nprintf '%s' \"$GITHUB_TOKEN\" > '{token}'\n",
        args = dir.join("publish-args").display(),
        token = dir.join("publish-token").display()
    );
    std::fs::write(bin.join("loadcheck"), script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(bin.join("loadcheck"), std::fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

fn run_action(job: &Job, inputs: &[(&str, &str)], path_for_step: &[(&str, PathBuf)]) -> ActionRun {
    action_runner::run(
        &repo_root(),
        job,
        &Options {
            inputs,
            skip: SKIP,
            path_for_step,
            step_timeout: Duration::from_secs(120),
        },
    )
}

/// The report folder the action reports, checked to be the workspace's `out`.
fn report_dir(run: &ActionRun, job: &Job, out: &str) -> PathBuf {
    let dir = PathBuf::from(&run.outputs["report-dir"]);
    assert!(dir.is_absolute(), "report-dir {dir:?}\n{}", run.log());
    assert_eq!(
        dir.canonicalize().unwrap(),
        job.workspace.join(out).canonicalize().unwrap(),
        "{}",
        run.log()
    );
    dir
}

#[tokio::test(flavor = "multi_thread")]
async fn a_passing_run_installs_runs_uploads_and_ends_with_0() {
    let work = tempfile::tempdir().unwrap();
    let release = release(work.path()).await;
    let w = world(&release, release_fixture::runner_os());
    let demo = Demo::start();
    let version = tag();
    let inputs = [
        ("plan", "pass.toml"),
        ("target", demo.url.as_str()),
        ("args", "--duration 2s --seed 7"),
        ("baseline", "baselines/none-yet.json"),
        ("comment", "false"),
        ("version", version.as_str()),
    ];
    let run = tokio::task::block_in_place(|| run_action(&w.job, &inputs, &[]));
    let log = run.log();

    // Installed from the release server, and on the PATH of the later steps.
    assert_eq!(run.step("Install loadcheck").ran, Ran::Exit(0), "{log}");
    assert_eq!(run.path.len(), 1, "{log}");
    assert!(Path::new(&run.path[0]).join("loadcheck").is_file(), "{log}");
    assert_eq!(release.hits(".tar.gz").await, 1);
    assert_eq!(run.outputs["loadcheck-version"], release_fixture::version());

    // The run step never fails; the outputs are loadcheck's own.
    assert_eq!(run.step("Run the load test").ran, Ran::Exit(0), "{log}");
    assert_eq!(run.outputs["verdict"], "pass", "{log}");
    assert_eq!(run.outputs["exit-code"], "0", "{log}");
    assert_eq!(
        run.outputs["regressions"], "0",
        "no baseline yet is never a regression: {log}"
    );
    let dir = report_dir(&run, &w.job, "loadcheck-report");
    assert!(dir.join("run.json").is_file(), "{log}");
    let p95: serde_json::Value =
        serde_json::from_str(&run.outputs["p95"]).unwrap_or_else(|e| panic!("p95: {e}\n{log}"));
    for endpoint in ["search", "thumbnail"] {
        let ms = p95[endpoint]
            .as_f64()
            .unwrap_or_else(|| panic!("p95 has no {endpoint}: {p95}"));
        assert!(ms > 0.0 && ms < 250.0, "{endpoint} p95 {ms} ms");
    }
    // The fork-safe pattern's PR number, in the folder that is uploaded.
    assert_eq!(
        std::fs::read_to_string(dir.join("pr-number")).unwrap().trim(),
        PR.to_string()
    );

    // The step summary is the run's summary.md.
    let summary = std::fs::read_to_string(dir.join("summary.md")).unwrap();
    assert!(!summary.trim().is_empty());
    assert!(run.summary.contains(summary.trim()), "step summary:\n{}", run.summary);

    // Uploaded (it would be), not published (comment false, no signoff).
    let upload = run.step(UPLOAD);
    assert!(matches!(upload.ran, Ran::NotRun(_)), "{log}");
    assert_eq!(upload.with["path"], "loadcheck-report");
    assert_eq!(upload.with["name"], "loadcheck-report");
    assert_eq!(run.step(PUBLISH).ran, Ran::Skipped);
    assert_eq!(run.step("End with the run's exit code").ran, Ran::Exit(0), "{log}");
    assert!(!run.failed, "{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_verdict_still_uploads_and_publishes_then_ends_with_1() {
    let work = tempfile::tempdir().unwrap();
    let release = release(work.path()).await;
    let w = world(&release, release_fixture::runner_os());
    let demo = Demo::start();
    let stand_in = recording_loadcheck(work.path());
    let inputs = [
        ("plan", "fail.toml"),
        ("target", demo.url.as_str()),
        ("args", "--duration '2s' --seed 7"),
        ("out", "results dir"),
        ("comment", "true"),
        ("check", "false"),
        ("signoff", "v9.9.9"),
        ("issue", "12"),
        ("artifact-name", "load-results"),
    ];
    let run = tokio::task::block_in_place(|| run_action(&w.job, &inputs, &[(PUBLISH, stand_in)]));
    let log = run.log();

    // `latest` (the default) found the release through its redirect.
    assert_eq!(run.step("Install loadcheck").ran, Ran::Exit(0), "{log}");
    assert_eq!(release.hits("/releases/latest").await, 1);

    assert_eq!(
        run.step("Run the load test").ran,
        Ran::Exit(0),
        "the run step never fails: {log}"
    );
    assert_eq!(run.outputs["verdict"], "fail", "{log}");
    assert_eq!(run.outputs["exit-code"], "1", "{log}");
    let dir = report_dir(&run, &w.job, "results dir");
    assert!(dir.join("run.json").is_file(), "{log}");
    assert!(!run.summary.trim().is_empty(), "a failed run has its summary too");

    let upload = run.step(UPLOAD);
    assert!(matches!(upload.ran, Ran::NotRun(_)), "uploaded on failure: {log}");
    assert_eq!(upload.with["path"], "results dir");
    assert_eq!(upload.with["name"], "load-results");

    assert_eq!(run.step(PUBLISH).ran, Ran::Exit(0), "{log}");
    let args = std::fs::read_to_string(work.path().join("publish-args")).unwrap();
    assert_eq!(
        args.lines().collect::<Vec<_>>(),
        [
            "publish",
            "--from",
            "results dir",
            "--no-check",
            "--signoff",
            "v9.9.9",
            "--issue",
            "12"
        ]
    );
    let token = std::fs::read_to_string(work.path().join("publish-token")).unwrap();
    assert_eq!(token, TOKEN, "github-token defaults to github.token");

    let last = run.step("End with the run's exit code");
    assert_eq!(last.ran, Ran::Exit(1), "{log}");
    assert!(run.failed);
}

#[tokio::test(flavor = "multi_thread")]
async fn args_with_an_unmatched_quote_are_an_error_with_exit_2() {
    let work = tempfile::tempdir().unwrap();
    let release = release(work.path()).await;
    let w = world(&release, release_fixture::runner_os());
    let version = tag();
    let inputs = [
        ("plan", "pass.toml"),
        ("args", "--duration '2s"),
        ("comment", "false"),
        ("version", version.as_str()),
    ];
    let run = tokio::task::block_in_place(|| run_action(&w.job, &inputs, &[]));
    let log = run.log();
    let step = run.step("Run the load test");
    assert_eq!(step.ran, Ran::Exit(0), "{log}");
    assert!(step.stdout.contains("::error"), "{log}");
    assert!(step.stdout.contains("unmatched quote"), "{log}");
    assert_eq!(run.outputs["verdict"], "error");
    assert_eq!(run.outputs["exit-code"], "2");
    report_dir(&run, &w.job, "loadcheck-report");
    assert_eq!(run.step("End with the run's exit code").ran, Ran::Exit(2), "{log}");
}

/// A fork's PR run has no secrets: a signed plan stops before sending
/// anything, with exit 2 and the unset variable named.
#[tokio::test(flavor = "multi_thread")]
async fn a_signed_plan_without_its_secret_is_exit_2_naming_the_variable() {
    let work = tempfile::tempdir().unwrap();
    let release = release(work.path()).await;
    let w = world(&release, release_fixture::runner_os());
    let demo = Demo::start();
    let version = tag();
    let inputs = [
        ("plan", "signed.toml"),
        ("target", demo.url.as_str()),
        ("args", "--duration 2s"),
        ("comment", "false"),
        ("version", version.as_str()),
    ];
    let run = tokio::task::block_in_place(|| run_action(&w.job, &inputs, &[]));
    let log = run.log();
    let step = run.step("Run the load test");
    assert_eq!(step.ran, Ran::Exit(0), "{log}");
    assert!(
        format!("{}{}", step.stdout, step.stderr).contains("LOADCHECK_SIGNING_SECRET is not set"),
        "{log}"
    );
    assert_eq!(run.outputs["verdict"], "error", "{log}");
    assert_eq!(run.outputs["exit-code"], "2", "{log}");
    assert_eq!(run.step("End with the run's exit code").ran, Ran::Exit(2), "{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_windows_runner_stops_at_the_install_step_with_the_reason() {
    let work = tempfile::tempdir().unwrap();
    let release = release(work.path()).await;
    let w = world(&release, "Windows");
    let inputs = [("plan", "pass.toml"), ("comment", "true")];
    let run = tokio::task::block_in_place(|| run_action(&w.job, &inputs, &[]));
    let log = run.log();
    let install = run.step("Install loadcheck");
    assert_eq!(install.ran, Ran::Exit(1), "{log}");
    assert!(install.stderr.contains("Unix signals and process groups"), "{log}");
    for later in ["Run the load test", UPLOAD, PUBLISH, "End with the run's exit code"] {
        assert_eq!(run.step(later).ran, Ran::Skipped, "{later}: {log}");
    }
    assert!(run.failed);
    assert!(run.path.is_empty());
    assert!(release.server.received_requests().await.unwrap_or_default().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_install_action_installs_and_says_where() {
    let work = tempfile::tempdir().unwrap();
    let release = release(work.path()).await;
    let w = world(&release, release_fixture::runner_os());
    let version = tag();
    let run = tokio::task::block_in_place(|| {
        action_runner::run(
            &repo_root().join("install"),
            &w.job,
            &Options {
                inputs: &[("version", version.as_str())],
                skip: &[],
                path_for_step: &[],
                step_timeout: Duration::from_secs(60),
            },
        )
    });
    let log = run.log();
    assert!(!run.failed, "{log}");
    assert_eq!(run.outputs["version"], release_fixture::version());
    let bin = PathBuf::from(&run.outputs["path"]);
    assert!(bin.is_file(), "{log}");
    assert_eq!(run.path, [bin.parent().unwrap().display().to_string()]);
}

/// No `run:` of either action holds an expression: every input reaches the
/// scripts through `env:`, so none is ever read as shell code.
#[test]
fn no_run_step_holds_an_expression() {
    for file in ["action.yml", "install/action.yml"] {
        let action = action_runner::load(&repo_root().join(file));
        for step in &action.runs.steps {
            if let Some(run) = &step.run {
                assert!(
                    !run.contains("${{"),
                    "{file}, step `{}`: an expression in run:",
                    step.label()
                );
            }
        }
        for (name, input) in &action.inputs {
            assert!(
                !input.description.trim().is_empty(),
                "{file}: input {name} has no description"
            );
        }
    }
}
