//! The GitHub rollout triggers end to end: the `loadcheck` binary against
//! the local fake of the GitHub API (`tests/github_fake`), with load on a
//! local server. The dispatch has the documented route and body, the
//! rollout window follows the fake's status changes, and a run that fails or
//! never finishes exits 3 with run.json written.

mod common;
mod github_fake;

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use common::stderr;
use github_fake::{DeploymentSchedule, FakeBuilder, FakeGitHub, RUN_ID, Route, RunSchedule, TOKEN};
use serde_json::Value;

fn run(dir: &Path, plan: &str, env: &[(&str, String)]) -> (Output, Option<Value>) {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    common::run_binary(dir, plan, &env)
}

fn env_of(fake: &FakeGitHub) -> Vec<(&'static str, String)> {
    fake.env().into_iter().collect()
}

fn plan(target: &str, trigger: &str, timeout: &str) -> String {
    format!(
        "name = \"gh\"\ntarget = \"{target}\"\ntimeout = \"2s\"\n\n[[endpoint]]\nname = \"ok\"\npath = \"/ok\"\n\n[[scenario]]\nname = \"steady\"\nexecutor = \"constant-arrival-rate\"\nrate = 50\nduration = \"30s\"\nendpoints = [\"ok\"]\n\n[rollout]\nhead = \"500ms\"\ntail = \"500ms\"\ntimeout = \"{timeout}\"\ntrigger = {{ {trigger} }}\n"
    )
}

fn event<'a>(r: &'a Value, kind: &str) -> &'a Value {
    r["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} event in {}", r["events"]))
}

const WORKFLOW: &str = "github_workflow = { repo = \"acme/app\", workflow = \"deploy.yml\", ref = \"main\", inputs = { environment = \"staging\" }, poll = \"50ms\" }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dispatched_workflow_marks_the_rollout_by_its_run() {
    let server = common::basic_server().await;
    // Queued for 4 looks, in progress for 15 (about 0.75 s at 50 ms), then success.
    let fake = FakeBuilder::new("acme", "app")
        .workflow("deploy.yml", RunSchedule::finishing(4, 15, "success"))
        .git_ref("main")
        .expect_inputs(&[("environment", "staging")])
        .start()
        .await;
    let dir = tempfile::tempdir().unwrap();
    let (out, r) = run(dir.path(), &plan(&server.url(), WORKFLOW, "20s"), &env_of(&fake));
    let r = r.expect("run.json");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // The documented route and body.
    let dispatches = fake.requests_to(Route::Dispatch).await;
    assert_eq!(dispatches.len(), 1);
    assert_eq!(dispatches[0].method.as_str(), "POST");
    assert_eq!(
        dispatches[0].url.path(),
        "/repos/acme/app/actions/workflows/deploy.yml/dispatches"
    );
    let body = &fake.dispatch_bodies().await[0];
    assert_eq!(body["ref"], "main");
    assert_eq!(body["inputs"]["environment"], "staging");
    // Dispatched once the head had passed.
    let dispatched = fake.dispatched_at().expect("dispatched");
    let started_at = chrono::DateTime::parse_from_rfc3339(r["started_at"].as_str().unwrap()).unwrap();
    let head_ms = (dispatched - started_at.with_timezone(&chrono::Utc)).num_milliseconds();
    assert!(
        (400..1500).contains(&head_ms),
        "dispatched {head_ms} ms after the start"
    );
    // The rollout is the run's in-progress period.
    assert_eq!(r["rollout"]["trigger"], "github_workflow");
    assert_eq!(r["rollout"]["status"], "succeeded");
    let start = event(&r, "rollout_start");
    assert!(
        start["detail"].as_str().unwrap().contains(&RUN_ID.to_string()),
        "{start}"
    );
    let end = event(&r, "rollout_end");
    assert_eq!(end["ok"], true);
    let length = end["at_s"].as_f64().unwrap() - start["at_s"].as_f64().unwrap();
    assert!((0.4..3.0).contains(&length), "rollout lasted {length} s");
    assert!(r["stats"]["phases"]["rollout"]["requests"].as_u64().unwrap() > 10);
    assert!(r["stats"]["phases"]["tail"]["requests"].as_u64().unwrap() > 10);
    // The token never appears.
    let text = std::fs::read_to_string(dir.path().join("out/run.json")).unwrap();
    assert!(!text.contains(TOKEN) && !stderr(&out).contains(TOKEN));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_or_endless_workflow_exits_3_with_the_report_written() {
    let server = common::basic_server().await;
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeGitHub::start_workflow("acme", "app", "deploy.yml", RunSchedule::finishing(1, 3, "failure")).await;
    let (out, r) = run(dir.path(), &plan(&server.url(), WORKFLOW, "20s"), &env_of(&fake));
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let r = r.expect("run.json is written when the deploy fails");
    assert_eq!(r["rollout"]["status"], "failed");
    assert!(r["rollout"]["detail"].as_str().unwrap().contains("failure"));
    assert_eq!(event(&r, "rollout_end")["ok"], false);

    let fake = FakeGitHub::start_workflow("acme", "app", "deploy.yml", RunSchedule::never_finishing(1)).await;
    let started = Instant::now();
    let (out, r) = run(dir.path(), &plan(&server.url(), WORKFLOW, "1500ms"), &env_of(&fake));
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(started.elapsed() < Duration::from_secs(12), "{:?}", started.elapsed());
    let r = r.expect("run.json is written when the deploy never ends");
    assert_eq!(r["rollout"]["status"], "timed_out");
    assert!(fake.run_looks() > 3, "the run was polled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watched_deployment_marks_the_rollout_by_its_statuses() {
    let server = common::basic_server().await;
    let dir = tempfile::tempdir().unwrap();
    let trigger = "github_deployment = { repo = \"acme/app\", environment = \"staging\", poll = \"50ms\" }";
    // Queued for 10 looks (the head), in progress for 15, then success.
    let fake = FakeGitHub::start_deployment(
        "acme",
        "app",
        "staging",
        DeploymentSchedule::finishing(10, 15, "success"),
    )
    .await;
    let (out, r) = run(dir.path(), &plan(&server.url(), trigger, "20s"), &env_of(&fake));
    let r = r.expect("run.json");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(r["rollout"]["trigger"], "github_deployment");
    assert_eq!(r["rollout"]["status"], "succeeded");
    let start = event(&r, "rollout_start")["at_s"].as_f64().unwrap();
    let end = event(&r, "rollout_end")["at_s"].as_f64().unwrap();
    assert!(end - start > 0.4, "{start} → {end}");
    let listings = fake.requests_to(Route::ListDeployments).await;
    assert!(!listings.is_empty());
    assert_eq!(listings[0].url.path(), "/repos/acme/app/deployments");
    assert!(listings[0].url.query().unwrap_or("").contains("environment=staging"));

    let fake =
        FakeGitHub::start_deployment("acme", "app", "staging", DeploymentSchedule::finishing(2, 4, "failure")).await;
    let (out, r) = run(dir.path(), &plan(&server.url(), trigger, "20s"), &env_of(&fake));
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(r.expect("run.json")["rollout"]["status"], "failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_github_trigger_without_a_token_exits_2_and_sends_nothing() {
    let server = common::basic_server().await;
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeGitHub::start_workflow("acme", "app", "deploy.yml", RunSchedule::finishing(0, 1, "success")).await;
    let (out, r) = run(
        dir.path(),
        &plan(&server.url(), WORKFLOW, "20s"),
        &[("GITHUB_API_URL", fake.uri())],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("GITHUB_TOKEN"), "{}", stderr(&out));
    assert!(r.is_none());
    assert!(fake.received_requests().await.is_empty());
    assert_eq!(server.hits.load(std::sync::atomic::Ordering::Relaxed), 0);
}
