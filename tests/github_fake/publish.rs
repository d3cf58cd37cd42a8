//! A local fake of the GitHub API's publishing surfaces, on wiremock:
//! issue and pull request comments, issues, pull requests, check runs, the
//! token's identity (`GET /user`, GraphQL `viewer`).
//!
//! It keeps state (comments, issues and check runs are created, edited and
//! deleted as on GitHub) and checks routes and bodies as GitHub documents
//! them: a missing or mistyped field, a comment over 65,536 characters, a
//! check run summary or text over 65,535, more than 50 annotations in one
//! request, or an unknown conclusion gets GitHub's 422. It models the
//! workflow token (an installation token): `GET /user` answers 403
//! `Resource not accessible by integration`, GraphQL's `viewer` answers
//! `github-actions[bot]`, and what it writes is by that bot.
//!
//! Faults (a status N times, with `Retry-After`; a creation that lands but
//! whose answer is lost) and delays can be put in
//! front of any route. Every request is recorded for the tests to inspect.

// A refusal is wiremock's answer itself, returned as the error.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use super::{check_headers, github_error};

/// The token the fake accepts.
pub const TOKEN: &str = "ghs_fakeInstallationToken0123456789";

/// The workflow token's bot.
pub const BOT_LOGIN: &str = "github-actions[bot]";
/// Its id.
pub const BOT_ID: u64 = 41_898_282;

/// Who the token is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// An installation token: 403 on `GET /user`, the bot in GraphQL.
    Installation,
    /// A personal token of this user.
    Personal { login: String, id: u64 },
}

/// The routes faults can be put in front of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Route {
    User,
    GraphQl,
    ListComments,
    CreateComment,
    UpdateComment,
    DeleteComment,
    ListIssues,
    CreateIssue,
    GetIssue,
    UpdateIssue,
    GetPull,
    CreateCheckRun,
    UpdateCheckRun,
    ListCheckRunsForRef,
}

/// What a fault does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this status and GitHub's error body.
    Status(u16),
    /// The same, with `Retry-After: secs`.
    StatusRetryAfter(u16, u64),
    /// Do what was asked, then answer 502 as if the answer were lost.
    LandThenLose,
}

/// A comment as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredComment {
    pub id: u64,
    pub issue: u64,
    pub body: String,
    pub login: String,
    pub user_id: u64,
}

/// An issue as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredIssue {
    pub number: u64,
    pub title: String,
    pub body: String,
    pub labels: Vec<String>,
    pub state: String,
    pub state_reason: Option<String>,
    /// Who opened it.
    pub login: String,
}

/// A pull request the fake knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPull {
    pub number: u64,
    pub head_sha: String,
    pub head_repo: String,
}

/// A check run as stored: its creation body, then each update's.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredCheckRun {
    pub id: u64,
    pub created: Value,
    pub updates: Vec<Value>,
}

/// One request the fake received.
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    /// When it arrived.
    pub at: std::time::Instant,
    pub method: String,
    pub path: String,
    pub query: String,
    pub body: Option<Value>,
    pub raw_body: String,
    pub route: Option<Route>,
}

#[derive(Default)]
struct Store {
    comments: BTreeMap<u64, StoredComment>,
    issues: BTreeMap<u64, StoredIssue>,
    pulls: BTreeMap<u64, StoredPull>,
    check_runs: Vec<StoredCheckRun>,
    next_comment: u64,
    next_issue: u64,
    next_check: u64,
    faults: Vec<(Route, Fault, u64)>,
    delays: Vec<(Route, Duration, u64)>,
    seen: Vec<Seen>,
}

struct State {
    owner: String,
    repo: String,
    identity: Identity,
    store: Mutex<Store>,
}

/// The running fake.
pub struct FakePublish {
    pub server: MockServer,
    state: Arc<State>,
}

impl FakePublish {
    /// A fake for `owner/repo` whose token is `identity`.
    pub async fn start(owner: &str, repo: &str, identity: Identity) -> FakePublish {
        let server = MockServer::start().await;
        let state = Arc::new(State {
            owner: owner.into(),
            repo: repo.into(),
            identity,
            store: Mutex::new(Store {
                next_comment: 1000,
                next_issue: 1,
                next_check: 5000,
                ..Store::default()
            }),
        });
        Mock::given(any())
            .respond_with(Responder { state: state.clone() })
            .mount(&server)
            .await;
        FakePublish { server, state }
    }

    /// `GITHUB_API_URL`.
    pub fn uri(&self) -> String {
        self.server.uri()
    }

    /// Puts `fault` in front of `route` for its next `times` requests.
    pub fn fault(&self, route: Route, fault: Fault, times: u64) {
        self.state.store.lock().unwrap().faults.push((route, fault, times));
    }

    /// Delays the answers of `route`'s next `times` requests (the state is
    /// read when the request arrives, so two clients can race).
    pub fn delay(&self, route: Route, delay: Duration, times: u64) {
        self.state.store.lock().unwrap().delays.push((route, delay, times));
    }

    /// Adds a pull request.
    pub fn add_pull(&self, number: u64, head_sha: &str, head_repo: &str) {
        self.state.store.lock().unwrap().pulls.insert(
            number,
            StoredPull {
                number,
                head_sha: head_sha.into(),
                head_repo: head_repo.into(),
            },
        );
    }

    /// Adds a comment by someone, as if written on GitHub (a `Bot` when
    /// the login ends with `[bot]`, else a `User`).
    pub fn add_comment(&self, issue: u64, body: &str, login: &str, user_id: u64) -> u64 {
        let mut s = self.state.store.lock().unwrap();
        s.next_comment += 1;
        let id = s.next_comment;
        s.comments.insert(
            id,
            StoredComment {
                id,
                issue,
                body: body.into(),
                login: login.into(),
                user_id,
            },
        );
        id
    }

    /// Adds an issue opened by someone, as if on GitHub; its number.
    pub fn add_issue(&self, title: &str, body: &str, labels: &[&str], login: &str) -> u64 {
        let mut s = self.state.store.lock().unwrap();
        let number = s.next_issue;
        s.next_issue += 1;
        s.issues.insert(
            number,
            StoredIssue {
                number,
                title: title.into(),
                body: body.into(),
                labels: labels.iter().map(|l| l.to_string()).collect(),
                state: "open".into(),
                state_reason: None,
                login: login.into(),
            },
        );
        number
    }

    /// Edits an issue's body, as a person would on GitHub.
    pub fn edit_issue_body(&self, number: u64, edit: impl FnOnce(&str) -> String) {
        let mut s = self.state.store.lock().unwrap();
        let issue = s.issues.get_mut(&number).expect("no such issue");
        issue.body = edit(&issue.body);
    }

    /// The comments of an issue or pull request, oldest first.
    pub fn comments(&self, issue: u64) -> Vec<StoredComment> {
        let s = self.state.store.lock().unwrap();
        s.comments.values().filter(|c| c.issue == issue).cloned().collect()
    }

    /// Every issue.
    pub fn issues(&self) -> Vec<StoredIssue> {
        self.state.store.lock().unwrap().issues.values().cloned().collect()
    }

    /// Every check run.
    pub fn check_runs(&self) -> Vec<StoredCheckRun> {
        self.state.store.lock().unwrap().check_runs.clone()
    }

    /// Every request received, in order.
    pub fn seen(&self) -> Vec<Seen> {
        self.state.store.lock().unwrap().seen.clone()
    }

    /// The requests to `route`, in order.
    pub fn requests(&self, route: Route) -> Vec<Seen> {
        self.seen().into_iter().filter(|s| s.route == Some(route)).collect()
    }

    /// How many requests `route` got.
    pub fn count(&self, route: Route) -> usize {
        self.requests(route).len()
    }
}

struct Responder {
    state: Arc<State>,
}

impl Respond for Responder {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        self.state.answer(req)
    }
}

fn unprocessable(message: &str) -> ResponseTemplate {
    github_error(422, message)
}

fn str_field<'a>(body: &'a Value, name: &str) -> Result<&'a str, ResponseTemplate> {
    body.get(name).and_then(Value::as_str).ok_or_else(|| {
        unprocessable(&format!(
            "Invalid request.\n\n\"{name}\" wasn't supplied or is not a string."
        ))
    })
}

impl State {
    fn route(&self, method: &str, path: &str) -> Option<(Route, Option<u64>)> {
        if path == "/user" {
            return (method == "GET").then_some((Route::User, None));
        }
        if path == "/graphql" {
            return (method == "POST").then_some((Route::GraphQl, None));
        }
        let rest = path.strip_prefix(&format!("/repos/{}/{}/", self.owner, self.repo))?;
        let parts: Vec<&str> = rest.split('/').collect();
        let num = |s: &str| s.parse::<u64>().ok();
        let r = match (method, parts.as_slice()) {
            ("GET", ["issues", n, "comments"]) => (Route::ListComments, Some(num(n)?)),
            ("POST", ["issues", n, "comments"]) => (Route::CreateComment, Some(num(n)?)),
            ("PATCH", ["issues", "comments", id]) => (Route::UpdateComment, Some(num(id)?)),
            ("DELETE", ["issues", "comments", id]) => (Route::DeleteComment, Some(num(id)?)),
            ("GET", ["issues"]) => (Route::ListIssues, None),
            ("POST", ["issues"]) => (Route::CreateIssue, None),
            ("GET", ["issues", n]) => (Route::GetIssue, Some(num(n)?)),
            ("PATCH", ["issues", n]) => (Route::UpdateIssue, Some(num(n)?)),
            ("GET", ["pulls", n]) => (Route::GetPull, Some(num(n)?)),
            ("POST", ["check-runs"]) => (Route::CreateCheckRun, None),
            ("PATCH", ["check-runs", id]) => (Route::UpdateCheckRun, Some(num(id)?)),
            ("GET", ["commits", _, "check-runs"]) => (Route::ListCheckRunsForRef, None),
            _ => return None,
        };
        Some(r)
    }

    fn answer(&self, req: &Request) -> ResponseTemplate {
        let method = req.method.to_string();
        let path = req.url.path().to_string();
        let raw_body = String::from_utf8_lossy(&req.body).into_owned();
        let body: Option<Value> = serde_json::from_slice(&req.body).ok();
        let routed = self.route(&method, &path);
        let mut store = self.store.lock().unwrap();
        store.seen.push(Seen {
            at: std::time::Instant::now(),
            method: method.clone(),
            path: path.clone(),
            query: req.url.query().unwrap_or("").to_string(),
            body: body.clone(),
            raw_body: raw_body.clone(),
            route: routed.map(|r| r.0),
        });
        if let Some(answer) = check_headers(req, TOKEN) {
            return answer;
        }
        let Some((route, id)) = routed else {
            return github_error(404, &format!("Not Found (fake GitHub: no route for {method} {path})"));
        };
        if matches!(method.as_str(), "POST" | "PATCH") {
            let content_type = req
                .headers
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !content_type.starts_with("application/json") {
                return github_error(415, "fake GitHub: expected Content-Type: application/json");
            }
            if body.is_none() {
                return github_error(400, "Problems parsing JSON");
            }
        }
        let mut fault = None;
        if let Some(slot) = store.faults.iter_mut().find(|(r, _, n)| *r == route && *n > 0) {
            slot.2 -= 1;
            fault = Some(slot.1);
        }
        let mut delay = None;
        if let Some(slot) = store.delays.iter_mut().find(|(r, _, n)| *r == route && *n > 0) {
            slot.2 -= 1;
            delay = Some(slot.1);
        }
        let answer = match fault {
            Some(Fault::Status(code)) => github_error(code, "fake GitHub: injected fault"),
            Some(Fault::StatusRetryAfter(code, secs)) => {
                github_error(code, "You have exceeded a secondary rate limit (fake GitHub: injected)")
                    .insert_header("retry-after", secs.to_string())
            }
            Some(Fault::LandThenLose) => {
                let _ = store.serve(self, route, id, body.as_ref().unwrap_or(&Value::Null), req);
                github_error(502, "Bad Gateway (fake GitHub: the answer was lost)")
            }
            None => store.serve(self, route, id, body.as_ref().unwrap_or(&Value::Null), req),
        };
        match delay {
            Some(d) => answer.set_delay(d),
            None => answer,
        }
    }
}

impl Store {
    fn author(&self, state: &State) -> (String, u64) {
        match &state.identity {
            Identity::Installation => (BOT_LOGIN.to_string(), BOT_ID),
            Identity::Personal { login, id } => (login.clone(), *id),
        }
    }

    fn comment_json(c: &StoredComment, state: &State) -> Value {
        json!({
            "id": c.id,
            "node_id": format!("IC_{}", c.id),
            "html_url": format!("https://github.com/{}/{}/issues/{}#issuecomment-{}", state.owner, state.repo, c.issue, c.id),
            "body": c.body,
            "user": { "login": c.login, "id": c.user_id, "type": if c.login.ends_with("[bot]") { "Bot" } else { "User" } },
            "created_at": "2026-12-01T00:00:00Z",
            "updated_at": "2026-12-01T00:00:00Z",
        })
    }

    fn issue_json(i: &StoredIssue, state: &State) -> Value {
        json!({
            "id": i.number * 10,
            "number": i.number,
            "title": i.title,
            "body": i.body,
            "state": i.state,
            "state_reason": i.state_reason,
            "labels": i.labels.iter().map(|l| json!({ "name": l })).collect::<Vec<_>>(),
            "html_url": format!("https://github.com/{}/{}/issues/{}", state.owner, state.repo, i.number),
            "user": {
                "login": i.login,
                "id": if i.login == BOT_LOGIN { BOT_ID } else { 7 },
                "type": if i.login.ends_with("[bot]") { "Bot" } else { "User" },
            },
        })
    }

    fn serve(&mut self, state: &State, route: Route, id: Option<u64>, body: &Value, req: &Request) -> ResponseTemplate {
        let query: BTreeMap<String, String> = req.url.query_pairs().into_owned().collect();
        let page = |q: &BTreeMap<String, String>| -> (usize, usize) {
            let per = q
                .get("per_page")
                .and_then(|v| v.parse().ok())
                .unwrap_or(30usize)
                .min(100);
            let page = q.get("page").and_then(|v| v.parse().ok()).unwrap_or(1usize).max(1);
            (per, page)
        };
        match route {
            Route::User => match &state.identity {
                Identity::Installation => github_error(403, "Resource not accessible by integration"),
                Identity::Personal { login, id } => {
                    ResponseTemplate::new(200).set_body_json(json!({ "login": login, "id": id, "type": "User" }))
                }
            },
            Route::GraphQl => {
                let q = body.get("query").and_then(Value::as_str).unwrap_or("");
                if !q.contains("viewer") || !q.contains("login") {
                    return ResponseTemplate::new(200)
                        .set_body_json(json!({ "errors": [{ "message": "fake GitHub: only viewer { login } is served" }] }));
                }
                let (login, _) = self.author(state);
                // GraphQL names a bot without its `[bot]` suffix.
                let login = login.trim_end_matches("[bot]").to_string();
                ResponseTemplate::new(200).set_body_json(json!({ "data": { "viewer": { "login": login } } }))
            }
            Route::ListComments => {
                let n = id.unwrap_or(0);
                let (per, page) = page(&query);
                let all: Vec<Value> = self
                    .comments
                    .values()
                    .filter(|c| c.issue == n)
                    .map(|c| Store::comment_json(c, state))
                    .collect();
                let items: Vec<Value> = all.into_iter().skip((page - 1) * per).take(per).collect();
                ResponseTemplate::new(200).set_body_json(Value::Array(items))
            }
            Route::CreateComment => {
                let text = match str_field(body, "body") {
                    Ok(t) => t,
                    Err(e) => return e,
                };
                if text.chars().count() > 65_536 {
                    return unprocessable("Validation Failed: body is too long (maximum is 65536 characters)");
                }
                let (login, user_id) = self.author(state);
                self.next_comment += 1;
                let c = StoredComment {
                    id: self.next_comment,
                    issue: id.unwrap_or(0),
                    body: text.to_string(),
                    login,
                    user_id,
                };
                let json = Store::comment_json(&c, state);
                self.comments.insert(c.id, c);
                ResponseTemplate::new(201).set_body_json(json)
            }
            Route::UpdateComment => {
                let text = match str_field(body, "body") {
                    Ok(t) => t.to_string(),
                    Err(e) => return e,
                };
                if text.chars().count() > 65_536 {
                    return unprocessable("Validation Failed: body is too long (maximum is 65536 characters)");
                }
                // As on GitHub, a token with write access may edit anyone's
                // comment: telling its own apart is the client's job.
                let Some(c) = self.comments.get_mut(&id.unwrap_or(0)) else {
                    return github_error(404, "Not Found");
                };
                c.body = text;
                let json = Store::comment_json(c, state);
                ResponseTemplate::new(200).set_body_json(json)
            }
            Route::DeleteComment => {
                match self.comments.get(&id.unwrap_or(0)) {
                    None => github_error(404, "Not Found"),
                    Some(_) => {
                        self.comments.remove(&id.unwrap_or(0));
                        ResponseTemplate::new(204)
                    }
                }
            }
            Route::ListIssues => {
                let labels: Vec<&str> = query
                    .get("labels")
                    .map(|l| l.split(',').map(str::trim).filter(|l| !l.is_empty()).collect())
                    .unwrap_or_default();
                let state_filter = query.get("state").map_or("open", String::as_str);
                let (per, page) = page(&query);
                let items: Vec<Value> = self
                    .issues
                    .values()
                    .filter(|i| labels.iter().all(|l| i.labels.iter().any(|x| x == l)))
                    .filter(|i| state_filter == "all" || i.state == state_filter)
                    .rev()
                    .skip((page - 1) * per)
                    .take(per)
                    .map(|i| Store::issue_json(i, state))
                    .collect();
                ResponseTemplate::new(200).set_body_json(Value::Array(items))
            }
            Route::CreateIssue => {
                let title = match str_field(body, "title") {
                    Ok(t) => t.to_string(),
                    Err(e) => return e,
                };
                let text = body.get("body").and_then(Value::as_str).unwrap_or("").to_string();
                if text.chars().count() > 65_536 {
                    return unprocessable("Validation Failed: body is too long (maximum is 65536 characters)");
                }
                let labels = match body.get("labels") {
                    None => Vec::new(),
                    Some(Value::Array(a)) if a.iter().all(Value::is_string) => {
                        a.iter().filter_map(Value::as_str).map(str::to_string).collect()
                    }
                    Some(_) => return unprocessable("Invalid request.\n\n\"labels\" must be an array of strings."),
                };
                let number = self.next_issue;
                self.next_issue += 1;
                let issue = StoredIssue {
                    number,
                    title,
                    body: text,
                    labels,
                    state: "open".into(),
                    state_reason: None,
                    login: self.author(state).0,
                };
                let json = Store::issue_json(&issue, state);
                self.issues.insert(number, issue);
                ResponseTemplate::new(201).set_body_json(json)
            }
            Route::GetIssue => match self.issues.get(&id.unwrap_or(0)) {
                Some(i) => ResponseTemplate::new(200).set_body_json(Store::issue_json(i, state)),
                None => github_error(404, "Not Found"),
            },
            Route::UpdateIssue => {
                let Some(i) = self.issues.get_mut(&id.unwrap_or(0)) else {
                    return github_error(404, "Not Found");
                };
                let Some(obj) = body.as_object() else {
                    return unprocessable("Invalid request: expected an object");
                };
                for (k, v) in obj {
                    match (k.as_str(), v) {
                        ("body", Value::String(t)) if t.chars().count() <= 65_536 => i.body = t.clone(),
                        ("body", _) => return unprocessable("Validation Failed: body is too long or not a string"),
                        ("title", Value::String(t)) => i.title = t.clone(),
                        ("state", Value::String(s)) if s == "open" || s == "closed" => i.state = s.clone(),
                        ("state_reason", Value::String(r))
                            if ["completed", "not_planned", "reopened", "duplicate"].contains(&r.as_str()) =>
                        {
                            i.state_reason = Some(r.clone())
                        }
                        ("state_reason", Value::Null) => i.state_reason = None,
                        (k, _) => return unprocessable(&format!("Invalid request.\n\n\"{k}\" is not a valid value")),
                    }
                }
                let json = Store::issue_json(i, state);
                ResponseTemplate::new(200).set_body_json(json)
            }
            Route::GetPull => match self.pulls.get(&id.unwrap_or(0)) {
                Some(p) => ResponseTemplate::new(200).set_body_json(json!({
                    "number": p.number,
                    "state": "open",
                    "html_url": format!("https://github.com/{}/{}/pull/{}", state.owner, state.repo, p.number),
                    "head": { "sha": p.head_sha, "ref": "feature", "repo": { "full_name": p.head_repo } },
                    "base": { "sha": "0".repeat(40), "ref": "main", "repo": { "full_name": format!("{}/{}", state.owner, state.repo) } },
                })),
                None => github_error(404, "Not Found"),
            },
            Route::CreateCheckRun => {
                if let Err(e) = check_run_body(body, true) {
                    return e;
                }
                self.next_check += 1;
                let id = self.next_check;
                self.check_runs.push(StoredCheckRun {
                    id,
                    created: body.clone(),
                    updates: Vec::new(),
                });
                ResponseTemplate::new(201).set_body_json(json!({
                    "id": id,
                    "html_url": format!("https://github.com/{}/{}/runs/{id}", state.owner, state.repo),
                    "status": "completed",
                    "conclusion": body.get("conclusion"),
                }))
            }
            Route::ListCheckRunsForRef => {
                let sha = req.url.path().rsplit('/').nth(1).unwrap_or("").to_string();
                let name = query.get("check_name").cloned();
                let runs: Vec<Value> = self
                    .check_runs
                    .iter()
                    .filter(|r| r.created["head_sha"] == sha.as_str())
                    .filter(|r| name.as_ref().is_none_or(|n| r.created["name"] == n.as_str()))
                    .map(|r| {
                        json!({
                            "id": r.id,
                            "name": r.created["name"],
                            "head_sha": r.created["head_sha"],
                            "external_id": r.created.get("external_id"),
                            "html_url": format!("https://github.com/{}/{}/runs/{}", state.owner, state.repo, r.id),
                        })
                    })
                    .collect();
                ResponseTemplate::new(200).set_body_json(json!({ "total_count": runs.len(), "check_runs": runs }))
            }
            Route::UpdateCheckRun => {
                if let Err(e) = check_run_body(body, false) {
                    return e;
                }
                let Some(run) = self.check_runs.iter_mut().find(|r| Some(r.id) == id) else {
                    return github_error(404, "Not Found");
                };
                run.updates.push(body.clone());
                ResponseTemplate::new(200).set_body_json(json!({ "id": run.id }))
            }
        }
    }
}

/// A check run's body as GitHub documents it (create: `name` and
/// `head_sha` required; a `completed` status needs a `conclusion`).
fn check_run_body(body: &Value, create: bool) -> Result<(), ResponseTemplate> {
    if create {
        str_field(body, "name")?;
        let sha = str_field(body, "head_sha")?;
        if sha.len() != 40 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(unprocessable("Validation Failed: head_sha is not a commit sha"));
        }
    }
    const CONCLUSIONS: [&str; 8] = [
        "action_required",
        "cancelled",
        "failure",
        "neutral",
        "success",
        "skipped",
        "stale",
        "timed_out",
    ];
    if let Some(status) = body.get("status") {
        if !["queued", "in_progress", "completed"].contains(&status.as_str().unwrap_or("")) {
            return Err(unprocessable("Validation Failed: status"));
        }
        if status == "completed" && body.get("conclusion").is_none() {
            return Err(unprocessable(
                "Validation Failed: conclusion is required when status is completed",
            ));
        }
    }
    if let Some(c) = body.get("conclusion")
        && !CONCLUSIONS.contains(&c.as_str().unwrap_or(""))
    {
        return Err(unprocessable(&format!(
            "Validation Failed: conclusion {c} is not one of {CONCLUSIONS:?}"
        )));
    }
    if let Some(output) = body.get("output") {
        str_field(output, "title")?;
        let summary = str_field(output, "summary")?;
        if summary.chars().count() > 65_535 {
            return Err(unprocessable(
                "Validation Failed: output.summary is too long (maximum is 65535 characters)",
            ));
        }
        if let Some(text) = output.get("text")
            && text.as_str().is_none_or(|t| t.chars().count() > 65_535)
        {
            return Err(unprocessable(
                "Validation Failed: output.text is too long (maximum is 65535 characters)",
            ));
        }
        if let Some(annotations) = output.get("annotations") {
            let Some(list) = annotations.as_array() else {
                return Err(unprocessable("Invalid request: annotations must be an array"));
            };
            if list.len() > 50 {
                return Err(unprocessable("Validation Failed: at most 50 annotations per request"));
            }
            for a in list {
                str_field(a, "path")?;
                str_field(a, "message")?;
                let level = str_field(a, "annotation_level")?;
                if !["notice", "warning", "failure"].contains(&level) {
                    return Err(unprocessable("Validation Failed: annotation_level"));
                }
                for k in ["start_line", "end_line"] {
                    if !a.get(k).is_some_and(Value::is_u64) {
                        return Err(unprocessable(&format!("Invalid request.\n\n\"{k}\" wasn't supplied.")));
                    }
                }
            }
        }
    }
    Ok(())
}
