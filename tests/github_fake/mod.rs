//! A local fake of the GitHub REST API, on wiremock, for the GitHub rollout
//! triggers.
//!
//! It serves the five routes the triggers call, exactly as GitHub documents
//! them, and checks what GitHub would check (and a little more): the
//! method and path, `Authorization: Bearer <token>` (or `token <token>`),
//! `Accept: application/vnd.github+json`, `X-GitHub-Api-Version:
//! 2022-11-28`, a `User-Agent`, and the JSON body of the dispatch. A request
//! that fails a check gets GitHub's answer (401 `Bad credentials`, 422 for
//! a bad body, 404 for an unknown route) with a `message` saying what the
//! fake expected.
//!
//! Its state changes as it is polled: a workflow run is `queued` for the
//! first N looks, `in_progress` for the next M, then `completed` with a
//! chosen conclusion (or never); a deployment walks through a list of
//! states. Faults (a status N times, a dropped connection) can be put in
//! front of any route.
//!
//! Include it with `mod github_fake;` from a test crate, and point
//! loadcheck at it with `GITHUB_API_URL=fake.uri()` and
//! `GITHUB_TOKEN=fake.token()` (see [`FakeGitHub::env`]).

#![allow(dead_code)]

pub mod publish;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Duration as TimeDelta, SubsecRound, Utc};
use serde_json::{Value, json};
use wiremock::matchers::{any, method, path, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// The token the fake accepts unless told otherwise.
pub const TOKEN: &str = "t0k3n";

/// The id of the run a dispatch creates.
pub const RUN_ID: u64 = 4242;

/// The id of a run that exists before the dispatch (same workflow, branch
/// and event, created a few seconds before the fake started, completed
/// successfully): a client that does not tell it from the new run reports
/// a success that never happened.
pub const OLD_RUN_ID: u64 = 4241;

/// The id of the deployment that appears.
pub const DEPLOYMENT_ID: u64 = 9001;

/// The id of an earlier deployment to the same environment (an hour old,
/// `success`).
pub const OLD_DEPLOYMENT_ID: u64 = 9000;

/// The id of a deployment to another environment, created when the fake
/// starts (`success`).
pub const OTHER_ENV_DEPLOYMENT_ID: u64 = 8999;

/// The commit the fake's new deployment and run are on.
pub const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

/// How a workflow run goes, counted in looks at it (each `GET` of the run,
/// and each listing that includes it).
#[derive(Debug, Clone)]
pub struct RunSchedule {
    /// How many run listings after the dispatch do not show the run yet.
    pub appear_after: u32,
    /// Looks answered `queued`.
    pub queued: u32,
    /// Looks answered `in_progress` after those.
    pub in_progress: u32,
    /// The conclusion once `completed`; `None`: the run stays `in_progress`
    /// forever.
    pub conclusion: Option<String>,
}

impl RunSchedule {
    /// `queued` for `queued` looks, `in_progress` for `in_progress` looks,
    /// then `completed` with `conclusion`; listed from the first listing
    /// after the dispatch.
    pub fn finishing(queued: u32, in_progress: u32, conclusion: &str) -> Self {
        RunSchedule {
            appear_after: 0,
            queued,
            in_progress,
            conclusion: Some(conclusion.to_string()),
        }
    }

    /// `queued` for `queued` looks, then `in_progress` forever.
    pub fn never_finishing(queued: u32) -> Self {
        RunSchedule {
            appear_after: 0,
            queued,
            in_progress: u32::MAX,
            conclusion: None,
        }
    }

    /// The same, with the run missing from the first `n` listings after the
    /// dispatch.
    pub fn appearing_after(mut self, n: u32) -> Self {
        self.appear_after = n;
        self
    }

    fn status_at(&self, look: u32) -> (&'static str, Option<&str>) {
        if look < self.queued {
            ("queued", None)
        } else if look - self.queued < self.in_progress {
            ("in_progress", None)
        } else {
            match &self.conclusion {
                Some(c) => ("completed", Some(c.as_str())),
                None => ("in_progress", None),
            }
        }
    }
}

/// How the fake answers a dispatch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DispatchMode {
    /// `204 No Content`, whether or not `return_run_details` was sent (the
    /// client finds the run by listing).
    NoContent,
    /// With `"return_run_details": true`: `200 OK` with `workflow_run_id`,
    /// `run_url` and `html_url`, as github.com answers since February 2026;
    /// without it, 204.
    RunDetails,
    /// An older GitHub Enterprise Server: a body with `return_run_details`
    /// is refused with 422 (`"return_run_details" is not a permitted key`);
    /// without it, 204.
    RejectRunDetails,
}

/// How a deployment goes: its states in order, each for a number of
/// status listings; the last state stays for good.
#[derive(Debug, Clone)]
pub struct DeploymentSchedule {
    /// How many deployment listings do not show the deployment yet.
    pub appear_after: u32,
    /// `(state, listings)`: e.g. `[("queued", 2), ("in_progress", 3),
    /// ("success", 1)]`.
    pub steps: Vec<(String, u32)>,
}

impl DeploymentSchedule {
    /// `queued` for `queued` listings, `in_progress` for `in_progress`,
    /// then `end` (`success`, `failure`, `error`) for good.
    pub fn finishing(queued: u32, in_progress: u32, end: &str) -> Self {
        DeploymentSchedule {
            appear_after: 0,
            steps: vec![
                ("queued".into(), queued),
                ("in_progress".into(), in_progress),
                (end.into(), 1),
            ],
        }
    }

    /// `queued` for `queued` listings, then `in_progress` for good.
    pub fn never_finishing(queued: u32) -> Self {
        DeploymentSchedule {
            appear_after: 0,
            steps: vec![("queued".into(), queued), ("in_progress".into(), 1)],
        }
    }

    /// Any list of states.
    pub fn steps(steps: &[(&str, u32)]) -> Self {
        DeploymentSchedule {
            appear_after: 0,
            steps: steps.iter().map(|(s, n)| (s.to_string(), *n)).collect(),
        }
    }

    /// The same, with the deployment missing from the first `n` listings.
    pub fn appearing_after(mut self, n: u32) -> Self {
        self.appear_after = n;
        self
    }

    /// The index of the step in force at status listing `look`.
    fn step_at(&self, look: u32) -> usize {
        let mut seen = 0u32;
        for (i, (_, n)) in self.steps.iter().enumerate() {
            seen = seen.saturating_add(*n);
            if look < seen {
                return i;
            }
        }
        self.steps.len().saturating_sub(1)
    }
}

/// A route of the fake, for faults and counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `POST /repos/{owner}/{repo}/actions/workflows/{workflow}/dispatches`
    Dispatch,
    /// `GET /repos/{owner}/{repo}/actions/workflows/{workflow}/runs`
    ListRuns,
    /// `GET /repos/{owner}/{repo}/actions/runs/{run_id}`
    GetRun,
    /// `GET /repos/{owner}/{repo}/deployments`
    ListDeployments,
    /// `GET /repos/{owner}/{repo}/deployments/{id}/statuses`
    ListStatuses,
}

/// What a fault does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this status and a GitHub-style error body.
    Status(u16),
    /// Answer with this status and `Retry-After: secs`.
    StatusRetryAfter(u16, u64),
    /// Drop the connection without answering.
    Disconnect,
}

/// A fault in front of a route, for its first `times` requests.
#[derive(Debug, Clone, Copy)]
struct FaultSpec {
    route: Route,
    fault: Fault,
    times: u64,
}

/// Sets up a [`FakeGitHub`].
#[derive(Debug, Clone)]
pub struct FakeBuilder {
    prefix: String,
    owner: String,
    repo: String,
    token: String,
    workflow: Option<WorkflowSetup>,
    deployment: Option<DeploymentSetup>,
    faults: Vec<FaultSpec>,
}

#[derive(Debug, Clone)]
struct WorkflowSetup {
    workflow: String,
    git_ref: String,
    inputs: Option<Value>,
    schedule: RunSchedule,
    mode: DispatchMode,
}

#[derive(Debug, Clone)]
struct DeploymentSetup {
    environment: String,
    sha: String,
    schedule: DeploymentSchedule,
}

impl FakeBuilder {
    /// A fake for `owner/repo`.
    pub fn new(owner: &str, repo: &str) -> Self {
        FakeBuilder {
            prefix: String::new(),
            owner: owner.into(),
            repo: repo.into(),
            token: TOKEN.into(),
            workflow: None,
            deployment: None,
            faults: Vec::new(),
        }
    }

    /// Serves the API under `prefix` (e.g. `/api/v3`, as GitHub Enterprise
    /// Server does); see [`FakeGitHub::api_url`].
    pub fn prefix(mut self, prefix: &str) -> Self {
        self.prefix = prefix.trim_end_matches('/').into();
        self
    }

    /// The token the fake accepts (default [`TOKEN`]).
    pub fn token(mut self, token: &str) -> Self {
        self.token = token.into();
        self
    }

    /// Serves workflow `workflow` (file name or id, as it appears in the
    /// route), dispatchable on `main`, answering dispatches with 204.
    pub fn workflow(mut self, workflow: &str, schedule: RunSchedule) -> Self {
        self.workflow = Some(WorkflowSetup {
            workflow: workflow.into(),
            git_ref: "main".into(),
            inputs: None,
            schedule,
            mode: DispatchMode::NoContent,
        });
        self
    }

    /// The ref a dispatch must name (default `main`); others get GitHub's
    /// 422 `No ref found for: …`.
    pub fn git_ref(mut self, git_ref: &str) -> Self {
        if let Some(w) = &mut self.workflow {
            w.git_ref = git_ref.into();
        }
        self
    }

    /// The inputs a dispatch must carry, exactly; others get 422.
    pub fn expect_inputs(mut self, inputs: &[(&str, &str)]) -> Self {
        if let Some(w) = &mut self.workflow {
            let map: serde_json::Map<String, Value> = inputs
                .iter()
                .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
                .collect();
            w.inputs = Some(Value::Object(map));
        }
        self
    }

    /// How dispatches are answered.
    pub fn dispatch_mode(mut self, mode: DispatchMode) -> Self {
        if let Some(w) = &mut self.workflow {
            w.mode = mode;
        }
        self
    }

    /// Serves the deployments of `environment`.
    pub fn deployment(mut self, environment: &str, schedule: DeploymentSchedule) -> Self {
        self.deployment = Some(DeploymentSetup {
            environment: environment.into(),
            sha: SHA.into(),
            schedule,
        });
        self
    }

    /// The commit the new deployment is of (default [`SHA`]).
    pub fn deployment_sha(mut self, sha: &str) -> Self {
        if let Some(d) = &mut self.deployment {
            d.sha = sha.into();
        }
        self
    }

    /// Puts `fault` in front of `route` for its first `times` requests.
    pub fn fault(mut self, route: Route, fault: Fault, times: u64) -> Self {
        self.faults.push(FaultSpec { route, fault, times });
        self
    }

    /// Starts the server.
    pub async fn start(self) -> FakeGitHub {
        let server = MockServer::start().await;
        let started = Utc::now().trunc_subsecs(0);
        let state = Arc::new(State {
            prefix: self.prefix.clone(),
            owner: self.owner.clone(),
            repo: self.repo.clone(),
            token: self.token.clone(),
            started,
            workflow: self.workflow.clone().map(|setup| WorkflowState {
                setup,
                dispatched_at: Mutex::new(None),
                listings_after_dispatch: AtomicU32::new(0),
                looks: AtomicU32::new(0),
            }),
            deployment: self.deployment.clone().map(|setup| DeploymentState {
                setup,
                listings: AtomicU32::new(0),
                appeared_at: Mutex::new(None),
                looks: AtomicU32::new(0),
                history: Mutex::new(Vec::new()),
            }),
        });
        let repo_path = format!("{}/repos/{}/{}", self.prefix, self.owner, self.repo);

        for f in &self.faults {
            let (verb, matcher) = route_matcher(&repo_path, self.workflow.as_ref(), f.route);
            let mock = Mock::given(method(verb)).and(matcher);
            let mock = match f.fault {
                Fault::Status(code) => mock.respond_with(github_error(code, "fake GitHub: injected fault")),
                Fault::StatusRetryAfter(code, secs) => mock.respond_with(
                    github_error(code, "fake GitHub: injected fault").insert_header("retry-after", secs.to_string()),
                ),
                Fault::Disconnect => mock.respond_with_err(|_: &Request| {
                    std::io::Error::new(std::io::ErrorKind::ConnectionReset, "fake GitHub: dropped")
                }),
            };
            mock.up_to_n_times(f.times).with_priority(1).mount(&server).await;
        }

        let routes = [
            Route::Dispatch,
            Route::ListRuns,
            Route::GetRun,
            Route::ListDeployments,
            Route::ListStatuses,
        ];
        for route in routes {
            let (verb, matcher) = route_matcher(&repo_path, self.workflow.as_ref(), route);
            Mock::given(method(verb))
                .and(matcher)
                .respond_with(Responder {
                    state: state.clone(),
                    route,
                })
                .with_priority(5)
                .mount(&server)
                .await;
        }
        // Everything else: 401 without the token (as GitHub checks that
        // first), else GitHub's 404.
        let fallback = state.clone();
        Mock::given(any())
            .respond_with(move |req: &Request| match fallback.check(req) {
                Some(answer) => answer,
                None => github_error(
                    404,
                    &format!(
                        "Not Found (fake GitHub: no route for {} {})",
                        req.method,
                        req.url.path()
                    ),
                ),
            })
            .with_priority(u8::MAX)
            .mount(&server)
            .await;

        FakeGitHub { server, state }
    }
}

fn route_matcher(repo_path: &str, workflow: Option<&WorkflowSetup>, route: Route) -> (&'static str, RouteMatcher) {
    let workflow_path = format!(
        "{repo_path}/actions/workflows/{}",
        workflow.map_or("-no-workflow-", |w| w.workflow.as_str())
    );
    match route {
        Route::Dispatch => ("POST", RouteMatcher::Exact(format!("{workflow_path}/dispatches"))),
        Route::ListRuns => ("GET", RouteMatcher::Exact(format!("{workflow_path}/runs"))),
        Route::GetRun => (
            "GET",
            RouteMatcher::Regex(format!("^{}/actions/runs/[0-9]+$", regex_escape(repo_path))),
        ),
        Route::ListDeployments => ("GET", RouteMatcher::Exact(format!("{repo_path}/deployments"))),
        Route::ListStatuses => (
            "GET",
            RouteMatcher::Regex(format!("^{}/deployments/[0-9]+/statuses$", regex_escape(repo_path))),
        ),
    }
}

/// A path matcher: exact or by regex.
enum RouteMatcher {
    Exact(String),
    Regex(String),
}

impl wiremock::Match for RouteMatcher {
    fn matches(&self, request: &Request) -> bool {
        match self {
            RouteMatcher::Exact(p) => path(p.as_str()).matches(request),
            RouteMatcher::Regex(r) => path_regex(r.as_str()).matches(request),
        }
    }
}

fn regex_escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if !c.is_ascii_alphanumeric() && c != '/' {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// What GitHub checks of every request first: the token, a User-Agent,
/// the media type and the API version. `Some` is GitHub's answer to a
/// request that fails one.
pub fn check_headers(req: &Request, token: &str) -> Option<ResponseTemplate> {
    let header = |name: &str| req.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("");
    let auth = header("authorization");
    let good = [format!("Bearer {}", token), format!("token {}", token)];
    if !good.iter().any(|g| g == auth) {
        return Some(github_error(401, "Bad credentials"));
    }
    if header("user-agent").is_empty() {
        return Some(github_error(
            403,
            "Request forbidden by administrative rules. Please make sure your request has a User-Agent header",
        ));
    }
    if !header("accept")
        .split(',')
        .any(|a| a.trim() == "application/vnd.github+json")
    {
        return Some(github_error(
            415,
            &format!(
                "fake GitHub: expected Accept: application/vnd.github+json, got {:?}",
                header("accept")
            ),
        ));
    }
    if header("x-github-api-version") != "2022-11-28" {
        return Some(github_error(
            400,
            &format!(
                "fake GitHub: expected X-GitHub-Api-Version: 2022-11-28, got {:?}",
                header("x-github-api-version")
            ),
        ));
    }
    None
}

/// GitHub's error body.
pub fn github_error(status: u16, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({
        "message": message,
        "documentation_url": "https://docs.github.com/rest",
        "status": status.to_string(),
    }))
}

struct State {
    prefix: String,
    owner: String,
    repo: String,
    token: String,
    started: DateTime<Utc>,
    workflow: Option<WorkflowState>,
    deployment: Option<DeploymentState>,
}

struct WorkflowState {
    setup: WorkflowSetup,
    dispatched_at: Mutex<Option<DateTime<Utc>>>,
    listings_after_dispatch: AtomicU32,
    looks: AtomicU32,
}

struct DeploymentState {
    setup: DeploymentSetup,
    listings: AtomicU32,
    appeared_at: Mutex<Option<DateTime<Utc>>>,
    looks: AtomicU32,
    /// The statuses served so far, oldest first: (id, state, created_at).
    history: Mutex<Vec<(u64, String, DateTime<Utc>)>>,
}

/// A poisoned lock only means another responder panicked; the data is
/// still good for a fake.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn stamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

impl State {
    /// The checks every route makes, in GitHub's order: who, then how.
    /// `Some` is the refusal.
    fn check(&self, req: &Request) -> Option<ResponseTemplate> {
        check_headers(req, &self.token)
    }

    fn html_base(&self) -> String {
        format!("https://github.com/{}/{}", self.owner, self.repo)
    }

    fn api_base(&self) -> String {
        format!("https://api.github.com/repos/{}/{}", self.owner, self.repo)
    }

    // ---- workflows ----

    fn dispatch(&self, w: &WorkflowState, req: &Request) -> ResponseTemplate {
        let content_type = req
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !content_type.starts_with("application/json") {
            return github_error(415, &format!("fake GitHub: expected a JSON body, got {content_type:?}"));
        }
        let body: Value = match serde_json::from_slice(&req.body) {
            Ok(v) => v,
            Err(e) => return github_error(400, &format!("Problems parsing JSON: {e}")),
        };
        let Some(object) = body.as_object() else {
            return github_error(422, "Invalid request.\n\nFor 'links/0/schema', body is not an object.");
        };
        for key in object.keys() {
            let permitted = match key.as_str() {
                "ref" | "inputs" => true,
                "return_run_details" => w.setup.mode != DispatchMode::RejectRunDetails,
                _ => false,
            };
            if !permitted {
                return github_error(422, &format!("Invalid request.\n\n\"{key}\" is not a permitted key."));
            }
        }
        let Some(git_ref) = object.get("ref").and_then(Value::as_str) else {
            return github_error(422, "Invalid request.\n\n\"ref\" wasn't supplied.");
        };
        if git_ref != w.setup.git_ref {
            return github_error(422, &format!("No ref found for: {git_ref}"));
        }
        let inputs = object.get("inputs").cloned().unwrap_or_else(|| json!({}));
        let Some(input_map) = inputs.as_object() else {
            return github_error(422, "Invalid request.\n\nFor 'properties/inputs', it is not an object.");
        };
        if input_map.values().any(|v| !v.is_string()) {
            return github_error(422, "fake GitHub: loadcheck sends every input as a string");
        }
        if let Some(want) = &w.setup.inputs
            && want != &inputs
        {
            return github_error(
                422,
                &format!("Unexpected inputs provided: {inputs} (fake expects {want})"),
            );
        }
        let details = match object.get("return_run_details") {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                return github_error(
                    422,
                    "Invalid request.\n\nFor 'properties/return_run_details', it is not a boolean.",
                );
            }
        };
        lock(&w.dispatched_at).get_or_insert_with(Utc::now);
        if details && w.setup.mode == DispatchMode::RunDetails {
            ResponseTemplate::new(200).set_body_json(json!({
                "workflow_run_id": RUN_ID,
                "run_url": format!("{}/actions/runs/{RUN_ID}", self.api_base()),
                "html_url": format!("{}/actions/runs/{RUN_ID}", self.html_base()),
            }))
        } else {
            ResponseTemplate::new(204)
        }
    }

    fn run_json(
        &self,
        w: &WorkflowState,
        id: u64,
        status: &str,
        conclusion: Option<&str>,
        created: DateTime<Utc>,
    ) -> Value {
        json!({
            "id": id,
            "name": "Deploy",
            "node_id": format!("WFR_{id}"),
            "head_branch": w.setup.git_ref.trim_start_matches("refs/heads/").trim_start_matches("refs/tags/"),
            "head_sha": SHA,
            "path": format!(".github/workflows/{}", w.setup.workflow),
            "run_number": id - 4000,
            "run_attempt": 1,
            "event": "workflow_dispatch",
            "status": status,
            "conclusion": conclusion,
            "workflow_id": 161335,
            "url": format!("{}/actions/runs/{id}", self.api_base()),
            "html_url": format!("{}/actions/runs/{id}", self.html_base()),
            "created_at": stamp(created),
            "updated_at": stamp(Utc::now()),
            "run_started_at": stamp(created + TimeDelta::seconds(1)),
        })
    }

    /// The new run as seen now; counts as one look.
    fn look_at_run(&self, w: &WorkflowState, dispatched: DateTime<Utc>) -> Value {
        let look = w.looks.fetch_add(1, Ordering::SeqCst);
        let (status, conclusion) = w.setup.schedule.status_at(look);
        // GitHub's timestamps have whole seconds.
        self.run_json(w, RUN_ID, status, conclusion, dispatched.trunc_subsecs(0))
    }

    fn old_run(&self, w: &WorkflowState) -> Value {
        self.run_json(
            w,
            OLD_RUN_ID,
            "completed",
            Some("success"),
            self.started - TimeDelta::seconds(5),
        )
    }

    fn list_runs(&self, w: &WorkflowState, req: &Request) -> ResponseTemplate {
        let mut event = None;
        let mut branch = None;
        let mut created: Option<(bool, DateTime<Utc>)> = None;
        for (k, v) in req.url.query_pairs() {
            match k.as_ref() {
                "event" => event = Some(v.into_owned()),
                "branch" => branch = Some(v.into_owned()),
                "created" => {
                    let (inclusive, at) = if let Some(at) = v.strip_prefix(">=") {
                        (true, at)
                    } else if let Some(at) = v.strip_prefix('>') {
                        (false, at)
                    } else {
                        return github_error(422, &format!("fake GitHub: unsupported created filter {v:?}"));
                    };
                    match DateTime::parse_from_rfc3339(at) {
                        Ok(at) => created = Some((inclusive, at.with_timezone(&Utc))),
                        Err(e) => return github_error(422, &format!("fake GitHub: bad created date {at:?}: {e}")),
                    }
                }
                "per_page" => match v.parse::<u32>() {
                    Ok(1..=100) => {}
                    _ => return github_error(422, &format!("fake GitHub: per_page {v:?} is not 1..=100")),
                },
                "actor" | "status" | "page" | "exclude_pull_requests" | "check_suite_id" | "head_sha" => {}
                other => return github_error(422, &format!("fake GitHub: unknown parameter {other:?}")),
            }
        }
        let mut runs = vec![self.old_run(w)];
        let dispatched = *lock(&w.dispatched_at);
        if let Some(dispatched) = dispatched {
            let seen = w.listings_after_dispatch.fetch_add(1, Ordering::SeqCst);
            if seen >= w.setup.schedule.appear_after {
                runs.insert(0, self.look_at_run(w, dispatched));
            }
        }
        let runs: Vec<Value> = runs
            .into_iter()
            .filter(|r| event.as_deref().is_none_or(|e| r["event"] == e))
            .filter(|r| branch.as_deref().is_none_or(|b| r["head_branch"] == b))
            .filter(|r| {
                created.is_none_or(|(inclusive, since)| {
                    let at = r["created_at"]
                        .as_str()
                        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                        .map(|d| d.with_timezone(&Utc));
                    at.is_some_and(|at| if inclusive { at >= since } else { at > since })
                })
            })
            .collect();
        ResponseTemplate::new(200).set_body_json(json!({ "total_count": runs.len(), "workflow_runs": runs }))
    }

    fn get_run(&self, w: &WorkflowState, req: &Request) -> ResponseTemplate {
        let id: u64 = req
            .url
            .path()
            .rsplit('/')
            .next()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let dispatched = *lock(&w.dispatched_at);
        match (id, dispatched) {
            (RUN_ID, Some(at)) => ResponseTemplate::new(200).set_body_json(self.look_at_run(w, at)),
            (OLD_RUN_ID, _) => ResponseTemplate::new(200).set_body_json(self.old_run(w)),
            _ => github_error(404, "Not Found"),
        }
    }

    // ---- deployments ----

    fn deployment_json(&self, id: u64, env: &str, sha: &str, created: DateTime<Utc>) -> Value {
        json!({
            "url": format!("{}/deployments/{id}", self.api_base()),
            "id": id,
            "node_id": format!("DE_{id}"),
            "sha": sha,
            "ref": "main",
            "task": "deploy",
            "payload": {},
            "original_environment": env,
            "environment": env,
            "description": null,
            "creator": { "login": "octocat", "id": 1 },
            "created_at": stamp(created),
            "updated_at": stamp(created),
            "statuses_url": format!("{}/deployments/{id}/statuses", self.api_base()),
            "repository_url": self.api_base(),
            "transient_environment": false,
            "production_environment": env == "production",
        })
    }

    fn list_deployments(&self, d: &DeploymentState, req: &Request) -> ResponseTemplate {
        let mut environment = None;
        let mut sha = None;
        for (k, v) in req.url.query_pairs() {
            match k.as_ref() {
                "environment" => environment = Some(v.into_owned()),
                "sha" => sha = Some(v.into_owned()),
                "per_page" => match v.parse::<u32>() {
                    Ok(1..=100) => {}
                    _ => return github_error(422, &format!("fake GitHub: per_page {v:?} is not 1..=100")),
                },
                "ref" | "task" | "page" => {}
                other => return github_error(422, &format!("fake GitHub: unknown parameter {other:?}")),
            }
        }
        let env = d.setup.environment.as_str();
        let mut all = Vec::new();
        let seen = d.listings.fetch_add(1, Ordering::SeqCst);
        if seen >= d.setup.schedule.appear_after {
            let at = *lock(&d.appeared_at).get_or_insert_with(|| Utc::now().trunc_subsecs(0));
            all.push(self.deployment_json(DEPLOYMENT_ID, env, &d.setup.sha, at));
        }
        all.push(self.deployment_json(OTHER_ENV_DEPLOYMENT_ID, "production", SHA, self.started));
        all.push(self.deployment_json(
            OLD_DEPLOYMENT_ID,
            env,
            "ffffffffffffffffffffffffffffffffffffffff",
            self.started - TimeDelta::hours(1),
        ));
        let list: Vec<Value> = all
            .into_iter()
            .filter(|x| environment.as_deref().is_none_or(|e| x["environment"] == e))
            .filter(|x| sha.as_deref().is_none_or(|s| x["sha"] == s))
            .collect();
        ResponseTemplate::new(200).set_body_json(list)
    }

    fn status_json(&self, deployment: u64, id: u64, state: &str, env: &str, created: DateTime<Utc>) -> Value {
        json!({
            "url": format!("{}/deployments/{deployment}/statuses/{id}", self.api_base()),
            "id": id,
            "node_id": format!("DES_{id}"),
            "state": state,
            "creator": { "login": "github-actions[bot]", "id": 41898282 },
            "description": "",
            "environment": env,
            "target_url": format!("{}/actions/runs/{RUN_ID}", self.html_base()),
            "log_url": format!("{}/actions/runs/{RUN_ID}/job/1", self.html_base()),
            "environment_url": "",
            "created_at": stamp(created),
            "updated_at": stamp(created),
            "deployment_url": format!("{}/deployments/{deployment}", self.api_base()),
            "repository_url": self.api_base(),
        })
    }

    fn list_statuses(&self, d: &DeploymentState, req: &Request) -> ResponseTemplate {
        let id: u64 = req
            .url
            .path()
            .split('/')
            .rev()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let env = d.setup.environment.as_str();
        match id {
            DEPLOYMENT_ID if lock(&d.appeared_at).is_some() => {
                let look = d.looks.fetch_add(1, Ordering::SeqCst);
                let step = d.setup.schedule.step_at(look);
                let mut history = lock(&d.history);
                // Record every step reached since the last look, in order.
                while history.len() <= step {
                    let (state, _) = &d.setup.schedule.steps[history.len()];
                    let status_id = 700 + history.len() as u64;
                    history.push((status_id, state.clone(), Utc::now().trunc_subsecs(0)));
                }
                let list: Vec<Value> = history
                    .iter()
                    .rev()
                    .map(|(sid, state, at)| self.status_json(DEPLOYMENT_ID, *sid, state, env, *at))
                    .collect();
                ResponseTemplate::new(200).set_body_json(list)
            }
            OLD_DEPLOYMENT_ID | OTHER_ENV_DEPLOYMENT_ID => {
                let at = self.started - TimeDelta::hours(1);
                let env = if id == OLD_DEPLOYMENT_ID { env } else { "production" };
                ResponseTemplate::new(200).set_body_json(vec![
                    self.status_json(id, 2, "success", env, at + TimeDelta::minutes(3)),
                    self.status_json(id, 1, "in_progress", env, at),
                ])
            }
            _ => github_error(404, "Not Found"),
        }
    }
}

/// Answers one route from the shared state.
struct Responder {
    state: Arc<State>,
    route: Route,
}

impl Respond for Responder {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        if let Some(answer) = self.state.check(req) {
            return answer;
        }
        let s = &self.state;
        match self.route {
            Route::Dispatch | Route::ListRuns | Route::GetRun => {
                let Some(w) = &s.workflow else {
                    return github_error(404, "Not Found (fake GitHub: no workflow set up)");
                };
                match self.route {
                    Route::Dispatch => s.dispatch(w, req),
                    Route::ListRuns => s.list_runs(w, req),
                    _ => s.get_run(w, req),
                }
            }
            Route::ListDeployments | Route::ListStatuses => {
                let Some(d) = &s.deployment else {
                    return github_error(404, "Not Found (fake GitHub: no deployment set up)");
                };
                match self.route {
                    Route::ListDeployments => s.list_deployments(d, req),
                    _ => s.list_statuses(d, req),
                }
            }
        }
    }
}

/// A running fake GitHub API.
pub struct FakeGitHub {
    server: MockServer,
    state: Arc<State>,
}

impl FakeGitHub {
    /// A fake serving workflow `workflow` of `owner/repo` on `main`, with
    /// token [`TOKEN`], answering dispatches with 204.
    pub async fn start_workflow(owner: &str, repo: &str, workflow: &str, schedule: RunSchedule) -> FakeGitHub {
        FakeBuilder::new(owner, repo).workflow(workflow, schedule).start().await
    }

    /// A fake serving the deployments of `environment` of `owner/repo`,
    /// with token [`TOKEN`], the new deployment being of [`SHA`].
    pub async fn start_deployment(
        owner: &str,
        repo: &str,
        environment: &str,
        schedule: DeploymentSchedule,
    ) -> FakeGitHub {
        FakeBuilder::new(owner, repo)
            .deployment(environment, schedule)
            .start()
            .await
    }

    /// The server's root URL: `GITHUB_API_URL` unless a prefix was set.
    pub fn uri(&self) -> String {
        self.server.uri()
    }

    /// The API's base URL, with the prefix if one was set: what
    /// `GITHUB_API_URL` should be.
    pub fn api_url(&self) -> String {
        format!("{}{}", self.server.uri(), self.state.prefix)
    }

    /// The token it accepts, for `GITHUB_TOKEN`.
    pub fn token(&self) -> &str {
        &self.state.token
    }

    /// `GITHUB_API_URL` and `GITHUB_TOKEN` for a loadcheck process.
    pub fn env(&self) -> [(&'static str, String); 2] {
        [
            ("GITHUB_API_URL", self.api_url()),
            ("GITHUB_TOKEN", self.state.token.clone()),
        ]
    }

    /// Every request received, in order.
    pub async fn received_requests(&self) -> Vec<Request> {
        self.server.received_requests().await.unwrap_or_default()
    }

    /// The requests received on `route`, in order.
    pub async fn requests_to(&self, route: Route) -> Vec<Request> {
        let repo_path = format!("{}/repos/{}/{}", self.state.prefix, self.state.owner, self.state.repo);
        let workflow = self.state.workflow.as_ref().map(|w| &w.setup);
        let (verb, matcher) = route_matcher(&repo_path, workflow, route);
        self.received_requests()
            .await
            .into_iter()
            .filter(|r| r.method.as_str() == verb && wiremock::Match::matches(&matcher, r))
            .collect()
    }

    /// The JSON bodies of the dispatches received (unreadable ones as
    /// `null`).
    pub async fn dispatch_bodies(&self) -> Vec<Value> {
        self.requests_to(Route::Dispatch)
            .await
            .iter()
            .map(|r| serde_json::from_slice(&r.body).unwrap_or(Value::Null))
            .collect()
    }

    /// When the fake accepted the first dispatch.
    pub fn dispatched_at(&self) -> Option<DateTime<Utc>> {
        self.state.workflow.as_ref().and_then(|w| *lock(&w.dispatched_at))
    }

    /// How many times the new run has been looked at.
    pub fn run_looks(&self) -> u32 {
        self.state
            .workflow
            .as_ref()
            .map_or(0, |w| w.looks.load(Ordering::SeqCst))
    }

    /// How many times the new deployment's statuses have been listed.
    pub fn status_looks(&self) -> u32 {
        self.state
            .deployment
            .as_ref()
            .map_or(0, |d| d.looks.load(Ordering::SeqCst))
    }
}
