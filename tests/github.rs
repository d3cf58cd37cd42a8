//! The GitHub client and the two GitHub rollout triggers against a local
//! fake of the GitHub API (`tests/github_fake`).

mod github_fake;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::Utc;
use github_fake::{
    DEPLOYMENT_ID, DeploymentSchedule, DispatchMode, FakeBuilder, FakeGitHub, Fault, RUN_ID, Route, RunSchedule, SHA,
    TOKEN,
};
use loadcheck::github::{GitHub, GitHubError};
use loadcheck::plan::rollout::{DeploymentSpec, WorkflowSpec};
use loadcheck::rollout::TriggerEvent;
use loadcheck::rollout::github::{follow_workflow, watch_deployment};
use serde_json::json;
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

const POLL: Duration = Duration::from_millis(50);

/// Every test is bounded by this, whatever goes wrong.
const LIMIT: Duration = Duration::from_secs(20);

const DISPATCH_PATH: &str = "/repos/acme/app/actions/workflows/deploy.yml/dispatches";

fn workflow_spec() -> WorkflowSpec {
    WorkflowSpec {
        owner: "acme".into(),
        repo: "app".into(),
        workflow: "deploy.yml".into(),
        git_ref: "main".into(),
        inputs: BTreeMap::from([("version".to_string(), "1.2.3".to_string())]),
        poll: POLL,
    }
}

fn deployment_spec(sha: Option<&str>) -> DeploymentSpec {
    DeploymentSpec {
        owner: "acme".into(),
        repo: "app".into(),
        environment: "staging".into(),
        sha: sha.map(Into::into),
        poll: POLL,
    }
}

fn client(fake: &FakeGitHub) -> GitHub {
    GitHub::new(&fake.api_url(), TOKEN).expect("client")
}

fn drain(rx: &mut UnboundedReceiver<TriggerEvent>) -> Vec<TriggerEvent> {
    let mut events = Vec::new();
    while let Ok(e) = rx.try_recv() {
        events.push(e);
    }
    events
}

/// Runs the workflow trigger to its end (bounded by [`LIMIT`]).
async fn follow(gh: &GitHub, spec: &WorkflowSpec) -> (anyhow::Result<()>, Vec<TriggerEvent>) {
    let (tx, mut rx) = unbounded_channel();
    let result = tokio::time::timeout(LIMIT, follow_workflow(gh, spec, &tx))
        .await
        .expect("follow_workflow did not end in time");
    (result, drain(&mut rx))
}

/// Runs the deployment watcher to its end (bounded by [`LIMIT`]).
async fn watch(gh: &GitHub, spec: &DeploymentSpec) -> (anyhow::Result<()>, Vec<TriggerEvent>) {
    let (tx, mut rx) = unbounded_channel();
    let since = Utc::now() - chrono::Duration::seconds(1);
    let result = tokio::time::timeout(LIMIT, watch_deployment(gh, spec, since, &tx))
        .await
        .expect("watch_deployment did not end in time");
    (result, drain(&mut rx))
}

/// Asserts `Started` then `Finished { ok }`, in time order; returns both
/// details.
fn started_then_finished(events: &[TriggerEvent], want_ok: bool) -> (String, String) {
    match events {
        [
            TriggerEvent::Started { at: t0, detail: d0 },
            TriggerEvent::Finished { at: t1, ok, detail: d1 },
        ] => {
            assert_eq!(*ok, want_ok, "{d1}");
            assert!(t0 <= t1);
            (d0.clone(), d1.clone())
        }
        other => panic!("expected Started then Finished, got {other:?}"),
    }
}

fn header<'a>(r: &'a wiremock::Request, name: &str) -> &'a str {
    r.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

fn query(r: &wiremock::Request, key: &str) -> Option<String> {
    r.url.query_pairs().find(|(k, _)| k == key).map(|(_, v)| v.into_owned())
}

fn github_error(e: &anyhow::Error) -> &GitHubError {
    e.downcast_ref::<GitHubError>()
        .unwrap_or_else(|| panic!("not a GitHubError: {e:#}"))
}

#[tokio::test]
async fn workflow_dispatch_has_the_documented_route_body_and_headers() {
    let fake = FakeBuilder::new("acme", "app")
        .workflow("deploy.yml", RunSchedule::finishing(1, 2, "success"))
        .expect_inputs(&[("version", "1.2.3")])
        .start()
        .await;
    let (result, events) = follow(&client(&fake), &workflow_spec()).await;
    result.expect("follow_workflow");
    let (started, finished) = started_then_finished(&events, true);
    assert!(started.contains(&format!("run {RUN_ID} in_progress")), "{started}");
    assert!(
        finished.starts_with(&format!(
            "conclusion: success, https://github.com/acme/app/actions/runs/{RUN_ID}"
        )),
        "{finished}"
    );

    let dispatches = fake.requests_to(Route::Dispatch).await;
    assert_eq!(dispatches.len(), 1);
    let d = &dispatches[0];
    assert_eq!(d.method.as_str(), "POST");
    assert_eq!(d.url.path(), DISPATCH_PATH);
    assert_eq!(header(d, "authorization"), format!("Bearer {TOKEN}"));
    assert_eq!(header(d, "accept"), "application/vnd.github+json");
    assert_eq!(header(d, "x-github-api-version"), "2022-11-28");
    assert_eq!(header(d, "content-type"), "application/json");
    assert_eq!(
        fake.dispatch_bodies().await,
        vec![json!({"ref": "main", "inputs": {"version": "1.2.3"}, "return_run_details": true})]
    );

    // The run was looked for with the documented filters, and the listing
    // before the dispatch came first.
    let listings = fake.requests_to(Route::ListRuns).await;
    assert!(listings.len() >= 2, "{}", listings.len());
    for l in &listings {
        assert_eq!(query(l, "event").as_deref(), Some("workflow_dispatch"));
        assert_eq!(query(l, "branch").as_deref(), Some("main"));
        let created = query(l, "created").expect("created filter");
        assert!(created.starts_with(">=20"), "{created}");
    }
    let all = fake.received_requests().await;
    assert_eq!(all[0].url.path(), "/repos/acme/app/actions/workflows/deploy.yml/runs");
    assert_eq!(all[1].url.path(), DISPATCH_PATH);
    assert!(
        fake.requests_to(Route::GetRun)
            .await
            .iter()
            .all(|r| r.url.path() == format!("/repos/acme/app/actions/runs/{RUN_ID}"))
    );
}

#[tokio::test]
async fn a_failed_run_finishes_not_ok() {
    let fake = FakeGitHub::start_workflow("acme", "app", "deploy.yml", RunSchedule::finishing(2, 2, "failure")).await;
    let (result, events) = follow(&client(&fake), &workflow_spec()).await;
    result.expect("follow_workflow");
    let (_, finished) = started_then_finished(&events, false);
    assert!(
        finished.starts_with(&format!(
            "conclusion: failure, https://github.com/acme/app/actions/runs/{RUN_ID}"
        )),
        "{finished}"
    );
    assert!(finished.contains("started 20"), "{finished}");
}

#[tokio::test]
async fn a_run_completed_when_first_seen_sends_started_then_finished() {
    let fake = FakeGitHub::start_workflow("acme", "app", "deploy.yml", RunSchedule::finishing(0, 0, "cancelled")).await;
    let (result, events) = follow(&client(&fake), &workflow_spec()).await;
    result.expect("follow_workflow");
    let (started, finished) = started_then_finished(&events, false);
    assert!(started.contains("already completed"), "{started}");
    assert!(finished.starts_with("conclusion: cancelled"), "{finished}");
}

#[tokio::test]
async fn the_run_id_from_the_dispatch_response_is_used() {
    let fake = FakeBuilder::new("acme", "app")
        .workflow("deploy.yml", RunSchedule::finishing(1, 1, "success"))
        .dispatch_mode(DispatchMode::RunDetails)
        .start()
        .await;
    let (result, events) = follow(&client(&fake), &workflow_spec()).await;
    result.expect("follow_workflow");
    started_then_finished(&events, true);
    // Only the listing before the dispatch: the run came from the answer.
    assert_eq!(fake.requests_to(Route::ListRuns).await.len(), 1);
    assert!(fake.requests_to(Route::GetRun).await.len() >= 3);
}

#[tokio::test]
async fn a_server_that_rejects_return_run_details_is_asked_again_without_it() {
    let fake = FakeBuilder::new("acme", "app")
        .workflow("deploy.yml", RunSchedule::finishing(1, 1, "success"))
        .dispatch_mode(DispatchMode::RejectRunDetails)
        .start()
        .await;
    let (result, events) = follow(&client(&fake), &workflow_spec()).await;
    result.expect("follow_workflow");
    started_then_finished(&events, true);
    assert_eq!(
        fake.dispatch_bodies().await,
        vec![
            json!({"ref": "main", "inputs": {"version": "1.2.3"}, "return_run_details": true}),
            json!({"ref": "main", "inputs": {"version": "1.2.3"}}),
        ]
    );
}

#[tokio::test]
async fn a_run_that_is_listed_late_is_waited_for_and_older_runs_are_not_taken() {
    let fake = FakeGitHub::start_workflow(
        "acme",
        "app",
        "deploy.yml",
        RunSchedule::finishing(1, 1, "failure").appearing_after(3),
    )
    .await;
    let (result, events) = follow(&client(&fake), &workflow_spec()).await;
    result.expect("follow_workflow");
    // The older run (a success) is listed all along; taking it would
    // report ok.
    let (_, finished) = started_then_finished(&events, false);
    assert!(finished.contains(&format!("runs/{RUN_ID}")), "{finished}");
    // One listing before the dispatch, three without the run, one with it.
    assert_eq!(fake.requests_to(Route::ListRuns).await.len(), 5);
}

#[tokio::test]
async fn a_ghes_base_url_with_a_path_is_joined() {
    let fake = FakeBuilder::new("acme", "app")
        .prefix("/api/v3")
        .workflow("deploy.yml", RunSchedule::finishing(0, 1, "success"))
        .start()
        .await;
    let gh = GitHub::new(&format!("{}/", fake.api_url()), TOKEN).expect("client");
    let (result, events) = follow(&gh, &workflow_spec()).await;
    result.expect("follow_workflow");
    started_then_finished(&events, true);
    let dispatches = fake.requests_to(Route::Dispatch).await;
    assert_eq!(dispatches[0].url.path(), format!("/api/v3{DISPATCH_PATH}"));
}

#[tokio::test]
async fn a_run_that_never_finishes_is_polled_until_dropped() {
    let fake = FakeGitHub::start_workflow("acme", "app", "deploy.yml", RunSchedule::never_finishing(1)).await;
    let gh = client(&fake);
    let spec = workflow_spec();
    let (tx, mut rx) = unbounded_channel();
    let outcome = tokio::time::timeout(Duration::from_millis(800), follow_workflow(&gh, &spec, &tx)).await;
    assert!(outcome.is_err(), "follow_workflow ended: {outcome:?}");
    let events = drain(&mut rx);
    assert!(
        matches!(events.as_slice(), [TriggerEvent::Started { .. }]),
        "{events:?}"
    );
    let looks = fake.run_looks();
    assert!(looks >= 5, "polled only {looks} times");
    // Dropped means stopped: no more polls.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(fake.run_looks(), looks);
}

#[tokio::test]
async fn server_errors_are_retried_and_then_succeed() {
    let fake = FakeBuilder::new("acme", "app")
        .workflow("deploy.yml", RunSchedule::finishing(1, 1, "success"))
        .dispatch_mode(DispatchMode::RunDetails)
        .fault(Route::GetRun, Fault::Status(500), 2)
        .fault(Route::Dispatch, Fault::Status(502), 1)
        .start()
        .await;
    let (result, events) = follow(&client(&fake), &workflow_spec()).await;
    result.expect("follow_workflow");
    started_then_finished(&events, true);
    assert_eq!(fake.requests_to(Route::Dispatch).await.len(), 2);
    assert_eq!(
        fake.requests_to(Route::GetRun).await.len(),
        fake.run_looks() as usize + 2
    );
}

#[tokio::test]
async fn dropped_connections_are_retried() {
    let fake = FakeBuilder::new("acme", "app")
        .workflow("deploy.yml", RunSchedule::finishing(1, 1, "success"))
        .fault(Route::GetRun, Fault::Disconnect, 2)
        .start()
        .await;
    let (result, events) = follow(&client(&fake), &workflow_spec()).await;
    result.expect("follow_workflow");
    started_then_finished(&events, true);
    // The first look at the run was the listing; every GET but the two
    // dropped ones was a look.
    assert_eq!(
        fake.requests_to(Route::GetRun).await.len(),
        fake.run_looks() as usize - 1 + 2
    );
}

#[tokio::test]
async fn retries_give_up_after_three_attempts_naming_the_route() {
    let fake = FakeBuilder::new("acme", "app")
        .workflow("deploy.yml", RunSchedule::finishing(1, 1, "success"))
        .fault(Route::Dispatch, Fault::Status(500), 10)
        .start()
        .await;
    let begun = Instant::now();
    let (result, events) = follow(&client(&fake), &workflow_spec()).await;
    let err = result.expect_err("should fail");
    assert!(events.is_empty(), "{events:?}");
    let text = format!("{err:#}");
    assert!(text.contains(&format!("POST {DISPATCH_PATH}")), "{text}");
    assert!(text.contains("HTTP 500"), "{text}");
    assert!(text.contains("after 3 attempts"), "{text}");
    assert!(!text.contains(TOKEN), "{text}");
    let e = github_error(&err);
    assert_eq!(e.status(), Some(500));
    assert_eq!(e.attempts(), Some(3));
    assert_eq!(fake.requests_to(Route::Dispatch).await.len(), 3);
    // 250 ms, then 1 s, between the attempts.
    assert!(begun.elapsed() >= Duration::from_millis(1250), "{:?}", begun.elapsed());
    assert_eq!(fake.dispatched_at(), None);
}

#[tokio::test]
async fn retry_after_is_honored() {
    let fake = FakeBuilder::new("acme", "app")
        .workflow("deploy.yml", RunSchedule::finishing(0, 1, "success"))
        .fault(Route::ListRuns, Fault::StatusRetryAfter(429, 1), 1)
        .start()
        .await;
    let begun = Instant::now();
    let (result, events) = follow(&client(&fake), &workflow_spec()).await;
    result.expect("follow_workflow");
    started_then_finished(&events, true);
    assert!(begun.elapsed() >= Duration::from_secs(1), "{:?}", begun.elapsed());
}

#[tokio::test]
async fn a_bad_token_fails_at_once_without_showing_it() {
    let fake = FakeGitHub::start_workflow("acme", "app", "deploy.yml", RunSchedule::finishing(0, 1, "success")).await;
    let secret = "ghp_not-the-right-one";
    let gh = GitHub::new(&fake.api_url(), secret).expect("client");
    let (result, events) = follow(&gh, &workflow_spec()).await;
    let err = result.expect_err("should fail");
    assert!(events.is_empty());
    let text = format!("{err:#}");
    assert!(text.contains("HTTP 401"), "{text}");
    assert!(text.contains("Bad credentials"), "{text}");
    assert!(text.contains("GITHUB_TOKEN"), "{text}");
    assert!(!text.contains(secret), "{text}");
    assert!(!format!("{err:?}").contains(secret));
    assert_eq!(github_error(&err).attempts(), Some(1));
    // Nothing was dispatched: the listing before the dispatch failed, once.
    assert_eq!(fake.received_requests().await.len(), 1);
}

#[tokio::test]
async fn a_bare_403_is_not_retried() {
    let fake = FakeBuilder::new("acme", "app")
        .workflow("deploy.yml", RunSchedule::finishing(0, 1, "success"))
        .fault(Route::Dispatch, Fault::Status(403), 5)
        .start()
        .await;
    let (result, _) = follow(&client(&fake), &workflow_spec()).await;
    let err = result.expect_err("should fail");
    assert_eq!(github_error(&err).status(), Some(403));
    assert_eq!(fake.requests_to(Route::Dispatch).await.len(), 1);
}

#[tokio::test]
async fn a_wrong_ref_or_workflow_is_a_clear_error() {
    let fake = FakeGitHub::start_workflow("acme", "app", "deploy.yml", RunSchedule::finishing(0, 1, "success")).await;
    let gh = client(&fake);
    let mut spec = workflow_spec();
    spec.git_ref = "no-such-branch".into();
    let (result, _) = follow(&gh, &spec).await;
    let text = format!("{:#}", result.expect_err("should fail"));
    assert!(text.contains("HTTP 422"), "{text}");
    assert!(text.contains("No ref found for: no-such-branch"), "{text}");
    assert_eq!(fake.requests_to(Route::Dispatch).await.len(), 1);

    let mut spec = workflow_spec();
    spec.workflow = "missing.yml".into();
    let (result, _) = follow(&gh, &spec).await;
    let text = format!("{:#}", result.expect_err("should fail"));
    assert!(
        text.contains("GET /repos/acme/app/actions/workflows/missing.yml/runs returned HTTP 404"),
        "{text}"
    );
    assert!(!text.contains(TOKEN), "{text}");
}

#[tokio::test]
async fn an_unreachable_api_fails_after_three_attempts() {
    // A port nothing listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let gh = GitHub::new(&format!("http://127.0.0.1:{port}"), TOKEN).expect("client");
    let (result, _) = follow(&gh, &workflow_spec()).await;
    let err = result.expect_err("should fail");
    let text = format!("{err:#}");
    assert!(text.contains("failed after 3 attempt(s)"), "{text}");
    assert!(
        text.contains("GET /repos/acme/app/actions/workflows/deploy.yml/runs"),
        "{text}"
    );
    assert!(!text.contains(TOKEN), "{text}");
}

#[tokio::test]
async fn a_deployment_is_followed_to_success() {
    let fake =
        FakeGitHub::start_deployment("acme", "app", "staging", DeploymentSchedule::finishing(1, 2, "success")).await;
    let (result, events) = watch(&client(&fake), &deployment_spec(None)).await;
    result.expect("watch_deployment");
    let (started, finished) = started_then_finished(&events, true);
    assert!(
        started.contains(&format!("deployment {DEPLOYMENT_ID} to staging")),
        "{started}"
    );
    assert!(started.contains("in_progress at 20"), "{started}");
    assert!(finished.starts_with("state: success, "), "{finished}");
    assert!(
        finished.contains("https://github.com/acme/app/actions/runs/"),
        "{finished}"
    );

    let listings = fake.requests_to(Route::ListDeployments).await;
    assert_eq!(listings[0].url.path(), "/repos/acme/app/deployments");
    assert_eq!(query(&listings[0], "environment").as_deref(), Some("staging"));
    assert_eq!(query(&listings[0], "sha"), None);
    for r in fake.requests_to(Route::ListStatuses).await {
        assert_eq!(
            r.url.path(),
            format!("/repos/acme/app/deployments/{DEPLOYMENT_ID}/statuses")
        );
        assert_eq!(header(&r, "authorization"), format!("Bearer {TOKEN}"));
        assert_eq!(header(&r, "accept"), "application/vnd.github+json");
    }
}

#[tokio::test]
async fn failed_and_errored_deployments_finish_not_ok() {
    for end in ["failure", "error"] {
        let fake =
            FakeGitHub::start_deployment("acme", "app", "staging", DeploymentSchedule::finishing(0, 1, end)).await;
        let (result, events) = watch(&client(&fake), &deployment_spec(None)).await;
        result.expect("watch_deployment");
        let (_, finished) = started_then_finished(&events, false);
        assert!(finished.starts_with(&format!("state: {end}, ")), "{finished}");
    }
}

#[tokio::test]
async fn a_deployment_is_filtered_by_sha() {
    let fake =
        FakeGitHub::start_deployment("acme", "app", "staging", DeploymentSchedule::finishing(0, 1, "success")).await;
    let (result, events) = watch(&client(&fake), &deployment_spec(Some(SHA))).await;
    result.expect("watch_deployment");
    started_then_finished(&events, true);
    let listings = fake.requests_to(Route::ListDeployments).await;
    assert_eq!(query(&listings[0], "sha").as_deref(), Some(SHA));

    // A short sha is matched by loadcheck, not sent to GitHub (whose filter
    // wants the whole sha).
    let fake =
        FakeGitHub::start_deployment("acme", "app", "staging", DeploymentSchedule::finishing(0, 1, "success")).await;
    let (result, events) = watch(&client(&fake), &deployment_spec(Some(&SHA[..7]))).await;
    result.expect("watch_deployment");
    started_then_finished(&events, true);
    let listings = fake.requests_to(Route::ListDeployments).await;
    assert_eq!(query(&listings[0], "sha"), None);
}

#[tokio::test]
async fn a_deployment_of_another_sha_is_not_taken() {
    let fake = FakeBuilder::new("acme", "app")
        .deployment("staging", DeploymentSchedule::finishing(0, 1, "success"))
        .deployment_sha("abcdefabcdefabcdefabcdefabcdefabcdefabcd")
        .start()
        .await;
    let gh = client(&fake);
    let spec = deployment_spec(Some(&SHA[..7]));
    let (tx, mut rx) = unbounded_channel();
    let since = Utc::now() - chrono::Duration::seconds(1);
    let outcome = tokio::time::timeout(Duration::from_millis(400), watch_deployment(&gh, &spec, since, &tx)).await;
    assert!(outcome.is_err());
    assert!(drain(&mut rx).is_empty());
    assert!(fake.requests_to(Route::ListStatuses).await.is_empty());
}

#[tokio::test]
async fn a_late_deployment_is_waited_for_and_older_ones_are_not_taken() {
    let fake = FakeGitHub::start_deployment(
        "acme",
        "app",
        "staging",
        DeploymentSchedule::finishing(1, 1, "failure").appearing_after(3),
    )
    .await;
    let (result, events) = watch(&client(&fake), &deployment_spec(None)).await;
    result.expect("watch_deployment");
    // The older deployment (a success) is listed all along.
    let (_, finished) = started_then_finished(&events, false);
    assert!(finished.contains(&format!("deployment {DEPLOYMENT_ID}")), "{finished}");
    assert_eq!(fake.requests_to(Route::ListDeployments).await.len(), 4);
}

#[tokio::test]
async fn a_deployment_already_done_when_first_seen_sends_started_then_finished() {
    let fake = FakeGitHub::start_deployment(
        "acme",
        "app",
        "staging",
        DeploymentSchedule::steps(&[("in_progress", 0), ("success", 1)]),
    )
    .await;
    let (result, events) = watch(&client(&fake), &deployment_spec(None)).await;
    result.expect("watch_deployment");
    let (started, finished) = started_then_finished(&events, true);
    // GitHub kept the in_progress status: its time is the start.
    assert!(started.contains(": in_progress at"), "{started}");
    assert!(finished.starts_with("state: success"), "{finished}");
    assert_eq!(fake.status_looks(), 1);

    let fake = FakeGitHub::start_deployment("acme", "app", "staging", DeploymentSchedule::steps(&[("error", 1)])).await;
    let (result, events) = watch(&client(&fake), &deployment_spec(None)).await;
    result.expect("watch_deployment");
    let (started, _) = started_then_finished(&events, false);
    assert!(started.contains("already error when first seen"), "{started}");
}

#[tokio::test]
async fn inactive_statuses_are_ignored() {
    let fake = FakeGitHub::start_deployment(
        "acme",
        "app",
        "staging",
        DeploymentSchedule::steps(&[("pending", 1), ("in_progress", 1), ("inactive", 2), ("success", 1)]),
    )
    .await;
    let (result, events) = watch(&client(&fake), &deployment_spec(None)).await;
    result.expect("watch_deployment");
    started_then_finished(&events, true);
    assert_eq!(fake.status_looks(), 5);
}

#[tokio::test]
async fn a_deployment_that_never_finishes_is_polled_until_dropped() {
    let fake = FakeGitHub::start_deployment("acme", "app", "staging", DeploymentSchedule::never_finishing(1)).await;
    let gh = client(&fake);
    let spec = deployment_spec(None);
    let (tx, mut rx) = unbounded_channel();
    let since = Utc::now() - chrono::Duration::seconds(1);
    let outcome = tokio::time::timeout(Duration::from_millis(800), watch_deployment(&gh, &spec, since, &tx)).await;
    assert!(outcome.is_err(), "watch_deployment ended: {outcome:?}");
    let events = drain(&mut rx);
    assert!(
        matches!(events.as_slice(), [TriggerEvent::Started { .. }]),
        "{events:?}"
    );
    assert!(fake.status_looks() >= 5, "{}", fake.status_looks());
}

#[tokio::test]
async fn deployment_calls_are_retried_and_a_401_is_not() {
    let fake = FakeBuilder::new("acme", "app")
        .deployment("staging", DeploymentSchedule::finishing(0, 1, "success"))
        .fault(Route::ListDeployments, Fault::Status(503), 2)
        .fault(Route::ListStatuses, Fault::Status(500), 1)
        .start()
        .await;
    let (result, events) = watch(&client(&fake), &deployment_spec(None)).await;
    result.expect("watch_deployment");
    started_then_finished(&events, true);

    let fake =
        FakeGitHub::start_deployment("acme", "app", "staging", DeploymentSchedule::finishing(0, 1, "success")).await;
    let gh = GitHub::new(&fake.api_url(), "wrong-secret-token").expect("client");
    let (result, events) = watch(&gh, &deployment_spec(None)).await;
    let err = result.expect_err("should fail");
    assert!(events.is_empty());
    let text = format!("{err:#}");
    assert!(
        text.contains("GET /repos/acme/app/deployments returned HTTP 401"),
        "{text}"
    );
    assert!(!text.contains("wrong-secret-token"), "{text}");
    assert_eq!(fake.received_requests().await.len(), 1);
}

#[tokio::test]
async fn the_fake_checks_headers_like_github() {
    // A request without the token, or without the media type, is refused
    // by the fake, so the tests above prove the client sends them.
    let fake =
        FakeGitHub::start_deployment("acme", "app", "staging", DeploymentSchedule::finishing(0, 1, "success")).await;
    let http = reqwest::Client::new();
    let url = format!("{}/repos/acme/app/deployments?environment=staging", fake.api_url());
    let no_auth = http
        .get(&url)
        .header("accept", "application/vnd.github+json")
        .header("x-github-api-version", "2022-11-28")
        .header("user-agent", "test")
        .send()
        .await
        .expect("send");
    assert_eq!(no_auth.status().as_u16(), 401);
    let no_accept = http
        .get(&url)
        .header("authorization", format!("token {TOKEN}"))
        .header("x-github-api-version", "2022-11-28")
        .header("user-agent", "test")
        .send()
        .await
        .expect("send");
    assert_eq!(no_accept.status().as_u16(), 415);
    let ok = http
        .get(&url)
        .header("authorization", format!("token {TOKEN}"))
        .header("accept", "application/vnd.github+json")
        .header("x-github-api-version", "2022-11-28")
        .header("user-agent", "test")
        .send()
        .await
        .expect("send");
    assert_eq!(ok.status().as_u16(), 200);
}
