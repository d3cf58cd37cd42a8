//! `loadcheck publish` against a local fake of the GitHub API that keeps
//! state and checks routes and bodies as GitHub documents them
//! (`tests/github_fake/publish.rs`).

mod github_fake;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use github_fake::publish::{BOT_LOGIN, FakePublish, Fault, Identity, Route, TOKEN};
use serde_json::{Value, json};

const OWNER: &str = "acme";
const REPO: &str = "search";
const SHA: &str = "1111111111111111111111111111111111111111";
const PR: u64 = 7;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/report")
        .join(name)
}

/// A folder as `run --out` leaves it: run.json and comparison.json of the
/// `pass` or `fail` fixture, with the reports rendered by `report`.
fn folder(kind: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(fixture(&format!("{kind}.run.json")), dir.path().join("run.json")).unwrap();
    std::fs::copy(
        fixture(&format!("{kind}.comparison.json")),
        dir.path().join("comparison.json"),
    )
    .unwrap();
    dir
}

/// The files of a folder, by name, for checking nothing changed.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect()
}

struct Event {
    name: &'static str,
    payload: Value,
}

fn pull_request_event(number: u64, head_repo: &str) -> Event {
    Event {
        name: "pull_request",
        payload: json!({
            "action": "synchronize",
            "number": number,
            "pull_request": {
                "number": number,
                "head": { "sha": SHA, "ref": "feature", "repo": { "full_name": head_repo } },
                "base": { "sha": "2".repeat(40), "ref": "main", "repo": { "full_name": format!("{OWNER}/{REPO}") } },
            },
            "repository": { "full_name": format!("{OWNER}/{REPO}") },
        }),
    }
}

fn workflow_run_event(head_sha: &str, head_repo: &str) -> Event {
    Event {
        name: "workflow_run",
        payload: json!({
            "action": "completed",
            "workflow_run": {
                "id": 99, "event": "pull_request", "head_sha": head_sha,
                "head_repository": { "full_name": head_repo },
                "repository": { "full_name": format!("{OWNER}/{REPO}") },
                "pull_requests": [],
            },
            "repository": { "full_name": format!("{OWNER}/{REPO}") },
        }),
    }
}

/// Runs `loadcheck publish --from DIR ARGS…` against the fake, with only
/// the variables given (none of the test's own GitHub variables).
async fn publish(
    fake: &FakePublish,
    dir: &Path,
    args: &[&str],
    event: Option<&Event>,
    extra: &[(&str, &str)],
) -> Output {
    let work = tempfile::tempdir().unwrap();
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_loadcheck"));
    cmd.arg("publish").arg("--from").arg(dir).args(args);
    for (k, _) in std::env::vars() {
        if k.starts_with("GITHUB_") || k.starts_with("RUNNER_") || k.starts_with("LOADCHECK_") {
            cmd.env_remove(&k);
        }
    }
    cmd.env("GITHUB_API_URL", fake.uri())
        .env("GITHUB_TOKEN", TOKEN)
        .env("GITHUB_REPOSITORY", format!("{OWNER}/{REPO}"))
        .env("GITHUB_SERVER_URL", "https://github.com")
        .env("GITHUB_RUN_ID", "31337")
        .current_dir(work.path());
    if let Some(e) = event {
        let path = work.path().join("event.json");
        std::fs::write(&path, e.payload.to_string()).unwrap();
        cmd.env("GITHUB_EVENT_NAME", e.name).env("GITHUB_EVENT_PATH", &path);
    }
    for (k, v) in extra {
        cmd.env(k, v);
    }
    let out = tokio::time::timeout(Duration::from_secs(240), cmd.output())
        .await
        .expect("publish ran for over 4 minutes")
        .unwrap();
    eprintln!(
        "publish {args:?}: {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn marker(id: &str) -> String {
    format!("<!-- loadcheck:{id} -->")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishing_twice_leaves_one_comment_updated_in_place() {
    let fake = FakePublish::start(OWNER, REPO, Identity::Installation).await;
    let event = pull_request_event(PR, "acme/search");
    let pass = folder("pass");
    let out = publish(&fake, pass.path(), &[], Some(&event), &[]).await;
    assert_eq!(out.status.code(), Some(0));
    let first = fake.comments(PR);
    assert_eq!(first.len(), 1);
    assert!(first[0].body.starts_with(&marker("demo")), "{}", first[0].body);
    assert_eq!(first[0].login, BOT_LOGIN);
    // The identity came from GraphQL: the installation token's /user is 403.
    assert!(fake.count(Route::User) > 0);
    assert!(fake.count(Route::GraphQl) > 0);

    let fail = folder("fail");
    let fail_before = snapshot(fail.path());
    let out = publish(&fake, fail.path(), &[], Some(&event), &[]).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "publish exits 0 when posted, whatever the verdict"
    );
    let second = fake.comments(PR);
    assert_eq!(second.len(), 1, "{second:#?}");
    assert_eq!(second[0].id, first[0].id, "updated in place");
    assert_ne!(second[0].body, first[0].body);
    assert!(second[0].body.contains("FAIL"), "{}", second[0].body);

    // The same again changes nothing.
    let before = fake.seen().len();
    let out = publish(&fake, fail.path(), &[], Some(&event), &[]).await;
    assert_eq!(out.status.code(), Some(0));
    assert!(
        !fake.seen()[before..]
            .iter()
            .any(|s| matches!(s.route, Some(Route::UpdateComment | Route::CreateComment))),
        "an unchanged comment is not written again"
    );

    // A check run per publish, on the PR's head, with the verdict.
    let runs = fake.check_runs();
    assert_eq!(runs.len(), 3);
    assert_eq!(runs[0].created["head_sha"], SHA);
    assert_eq!(runs[0].created["name"], "loadcheck / demo");
    assert_eq!(runs[0].created["conclusion"], "success");
    assert_eq!(runs[1].created["conclusion"], "failure");
    assert!(runs[1].created["output"]["title"].as_str().unwrap().contains("FAIL"));
    assert_eq!(
        runs[1].created["details_url"],
        "https://github.com/acme/search/actions/runs/31337"
    );
    // The local files are untouched.
    assert_eq!(snapshot(fail.path()), fail_before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_comment_with_the_marker_by_another_author_is_left_alone() {
    let fake = FakePublish::start(OWNER, REPO, Identity::Installation).await;
    let theirs = format!("{}\nI copied loadcheck's marker", marker("demo"));
    let other = fake.add_comment(PR, &theirs, "octocat", 1);
    // A person who registered the bot's name, posting the marker first.
    let impostor_body = format!("{}\nnot the bot", marker("demo"));
    let impostor = fake.add_comment(PR, &impostor_body, "github-actions", 5);
    // And a comment that merely quotes the marker, by the bot itself.
    let quoted = fake.add_comment(PR, &format!("see `{}`", marker("demo")), BOT_LOGIN, 41_898_282);
    let out = publish(
        &fake,
        folder("pass").path(),
        &[],
        Some(&pull_request_event(PR, "acme/search")),
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(0));
    let comments = fake.comments(PR);
    assert_eq!(comments.len(), 4, "{comments:#?}");
    assert_eq!(comments.iter().find(|c| c.id == other).unwrap().body, theirs);
    assert_eq!(comments.iter().find(|c| c.id == impostor).unwrap().body, impostor_body);
    assert!(
        comments
            .iter()
            .find(|c| c.id == quoted)
            .unwrap()
            .body
            .starts_with("see")
    );
    let ours: Vec<_> = comments
        .iter()
        .filter(|c| ![other, quoted, impostor].contains(&c.id))
        .collect();
    assert_eq!(ours[0].login, BOT_LOGIN);
    assert!(ours[0].body.starts_with(&marker("demo")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_personal_token_is_known_by_get_user() {
    let fake = FakePublish::start(
        OWNER,
        REPO,
        Identity::Personal {
            login: "release-bot".into(),
            id: 77,
        },
    )
    .await;
    let dir = folder("pass");
    for _ in 0..2 {
        let out = publish(&fake, dir.path(), &["--issue", "12", "--no-check"], None, &[]).await;
        assert_eq!(out.status.code(), Some(0));
    }
    let comments = fake.comments(12);
    assert_eq!(comments.len(), 1);
    assert_eq!(comments[0].login, "release-bot");
    assert_eq!(fake.count(Route::GraphQl), 0);
    assert!(fake.check_runs().is_empty(), "--no-check");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_publishes_racing_leave_one_comment() {
    let fake = FakePublish::start(OWNER, REPO, Identity::Installation).await;
    // Both read the (empty) comments before either creates one.
    fake.delay(Route::ListComments, Duration::from_millis(800), 2);
    let event = pull_request_event(PR, "acme/search");
    let (a, b) = (folder("pass"), folder("fail"));
    let (oa, ob) = tokio::join!(
        publish(&fake, a.path(), &["--no-check"], Some(&event), &[]),
        publish(&fake, b.path(), &["--no-check"], Some(&event), &[]),
    );
    assert_eq!(oa.status.code(), Some(0));
    assert_eq!(ob.status.code(), Some(0));
    let creates = fake.count(Route::CreateComment);
    assert_eq!(creates, 2, "the race happened: both created");
    let comments = fake.comments(PR);
    assert_eq!(comments.len(), 1, "{comments:#?}");
    assert!(comments[0].body.starts_with(&marker("demo")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_500_then_success_is_retried_and_a_rate_limit_is_waited_out() {
    let fake = FakePublish::start(OWNER, REPO, Identity::Installation).await;
    fake.fault(Route::ListComments, Fault::Status(500), 1);
    fake.fault(Route::CreateCheckRun, Fault::StatusRetryAfter(403, 1), 1);
    let started = Instant::now();
    let out = publish(
        &fake,
        folder("pass").path(),
        &[],
        Some(&pull_request_event(PR, "acme/search")),
        &[],
    )
    .await;
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(fake.comments(PR).len(), 1);
    assert_eq!(fake.check_runs().len(), 1);
    assert!(
        took >= Duration::from_secs(1),
        "Retry-After: 1 was not waited: {took:?}"
    );
    let posts: Vec<_> = fake.requests(Route::CreateCheckRun);
    assert_eq!(posts.len(), 2);
    let gap = posts[1].at - posts[0].at;
    assert!(gap >= Duration::from_secs(1), "Retry-After: 1 was not waited: {gap:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_answer_to_a_creation_is_looked_for_before_creating_again() {
    let fake = FakePublish::start(OWNER, REPO, Identity::Installation).await;
    fake.fault(Route::CreateComment, Fault::LandThenLose, 1);
    let out = publish(
        &fake,
        folder("pass").path(),
        &["--no-check"],
        Some(&pull_request_event(PR, "acme/search")),
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(fake.comments(PR).len(), 1, "{:#?}", fake.comments(PR));
    let creates = fake.count(Route::CreateComment);
    assert_eq!(creates, 1, "the landed comment was found, not created again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_500s_end_with_exit_3_and_the_files_intact() {
    let fake = FakePublish::start(OWNER, REPO, Identity::Installation).await;
    fake.fault(Route::ListComments, Fault::Status(500), 100);
    fake.fault(Route::CreateCheckRun, Fault::Status(502), 100);
    let dir = folder("fail");
    let before = snapshot(dir.path());
    let started = Instant::now();
    let out = publish(
        &fake,
        dir.path(),
        &[],
        Some(&pull_request_event(PR, "acme/search")),
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(3));
    assert!(started.elapsed() < Duration::from_secs(60), "{:?}", started.elapsed());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("after 3 attempts"), "{stderr}");
    assert_eq!(snapshot(dir.path()), before);
    let lists = fake.count(Route::ListComments);
    assert_eq!(lists, 3, "bounded retries");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_ends_at_once_naming_the_permission() {
    let fake = FakePublish::start(OWNER, REPO, Identity::Installation).await;
    fake.fault(Route::CreateCheckRun, Fault::Status(403), 10);
    let out = publish(
        &fake,
        folder("pass").path(),
        &["--no-comment"],
        Some(&pull_request_event(PR, "acme/search")),
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("checks: write"), "{stderr}");
    let posts = fake.count(Route::CreateCheckRun);
    assert_eq!(posts, 1, "a 403 without rate-limit headers is not retried");

    // A token GitHub does not accept.
    let out = publish(
        &fake,
        folder("pass").path(),
        &[],
        Some(&pull_request_event(PR, "acme/search")),
        &[("GITHUB_TOKEN", "ghs_wrong")],
    )
    .await;
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("401"), "{stderr}");
    assert!(!stderr.contains("ghs_wrong"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_signoff_issue_is_created_once_then_updated_and_hand_ticks_survive() {
    let fake = FakePublish::start(OWNER, REPO, Identity::Installation).await;
    let pass = folder("pass");
    let out = publish(&fake, pass.path(), &["--signoff", "v2.4.0", "--no-check"], None, &[]).await;
    assert_eq!(out.status.code(), Some(0));
    let issues = fake.issues();
    assert_eq!(issues.len(), 1);
    assert_eq!(issues[0].title, "Release sign-off: v2.4.0");
    assert_eq!(issues[0].labels, vec!["loadcheck-signoff"]);
    let number = issues[0].number;
    let body = &issues[0].body;
    assert!(body.contains("<!-- loadcheck:demo:start -->"), "{body}");
    // A person ticks an unticked box, and another plan's section and a
    // note are there too.
    let unticked = body
        .lines()
        .find(|l| l.starts_with("- [ ] "))
        .map(str::to_string)
        .expect("an unticked box to tick by hand");
    fake.edit_issue_body(number, |b| {
        format!(
            "{}\n<!-- loadcheck:web:start -->\n- [x] **web p95**\n<!-- loadcheck:web:end -->\nApproved by Ana\n",
            b.replacen(&unticked, &unticked.replacen("- [ ] ", "- [x] ", 1), 1)
        )
    });
    let out = publish(
        &fake,
        folder("fail").path(),
        &["--signoff", "v2.4.0", "--no-check"],
        None,
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(0));
    let issues = fake.issues();
    assert_eq!(issues.len(), 1, "created once");
    let body = &issues[0].body;
    assert!(
        body.contains(&unticked.replacen("- [ ] ", "- [x] ", 1)),
        "hand tick lost:\n{body}"
    );
    assert!(body.contains("- [x] **web p95**"));
    assert!(body.contains("Approved by Ana"));
    assert_eq!(body.matches("<!-- loadcheck:demo:start -->").count(), 1);
    // Another release gets its own issue.
    let out = publish(&fake, pass.path(), &["--signoff", "v2.5.0", "--no-check"], None, &[]).await;
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(fake.issues().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_workflow_run_a_pr_whose_head_differs_is_refused() {
    let fake = FakePublish::start(OWNER, REPO, Identity::Installation).await;
    fake.add_pull(PR, SHA, "acme/search");
    fake.add_pull(8, &"3".repeat(40), "acme/search");
    let event = workflow_run_event(SHA, "acme/search");
    let dir = folder("pass");
    let out = publish(&fake, dir.path(), &["--pr", "8"], Some(&event), &[]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--pr 8 refused"));
    assert!(fake.comments(8).is_empty());
    assert!(fake.check_runs().is_empty(), "nothing is posted when the PR is refused");

    let out = publish(&fake, dir.path(), &["--pr", "7"], Some(&event), &[]).await;
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(fake.comments(PR).len(), 1);
    assert_eq!(fake.check_runs()[0].created["conclusion"], "success");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fork_s_results_make_a_neutral_check_and_no_signoff() {
    let fake = FakePublish::start(OWNER, REPO, Identity::Installation).await;
    fake.add_pull(PR, SHA, "eve/search");
    let event = workflow_run_event(SHA, "eve/search");
    let dir = folder("pass");
    let out = publish(&fake, dir.path(), &["--pr", "7"], Some(&event), &[]).await;
    assert_eq!(out.status.code(), Some(0));
    let runs = fake.check_runs();
    assert_eq!(runs[0].created["conclusion"], "neutral");
    assert!(runs[0].created["output"]["title"].as_str().unwrap().contains("fork"));
    let out = publish(&fake, dir.path(), &["--pr", "7", "--signoff", "v1"], Some(&event), &[]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(fake.issues().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_sent_is_ever_over_github_s_limits() {
    let fake = FakePublish::start(OWNER, REPO, Identity::Installation).await;
    let dir = folder("fail");
    // A comment.md far over the limit (a report's own is fitted already),
    // in characters that take several bytes.
    let line = "| endpoint ✓ | 12.5 ms | 13.1 ms |\n";
    std::fs::write(dir.path().join("comment.md"), line.repeat(10_000)).unwrap();
    // A plan with 120 failing thresholds: 120 annotations.
    let mut run: Value = serde_json::from_str(&std::fs::read_to_string(dir.path().join("run.json")).unwrap()).unwrap();
    let template = run["thresholds"][0].clone();
    let many: Vec<Value> = (0..120)
        .map(|i| {
            let mut t = template.clone();
            t["metric"] = json!(format!("http_req_duration{{endpoint:e{i}}}"));
            t["expression"] = json!("p(95)<1");
            t["value"] = json!(50.0 + f64::from(i));
            t["ok"] = json!(false);
            t
        })
        .collect();
    run["thresholds"] = Value::Array(many);
    std::fs::write(dir.path().join("run.json"), run.to_string()).unwrap();
    let out = publish(
        &fake,
        dir.path(),
        &[],
        Some(&pull_request_event(PR, "acme/search")),
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(0));
    let seen = fake.seen();
    for s in &seen {
        let Some(body) = &s.body else { continue };
        if let Some(b) = body.get("body").and_then(Value::as_str) {
            assert!(
                b.chars().count() <= 65_536,
                "{} {}: {}",
                s.method,
                s.path,
                b.chars().count()
            );
        }
        if let Some(o) = body.get("output") {
            for k in ["summary", "text"] {
                if let Some(t) = o.get(k).and_then(Value::as_str) {
                    assert!(t.chars().count() <= 65_535);
                }
            }
            if let Some(a) = o.get("annotations").and_then(Value::as_array) {
                assert!(a.len() <= 50);
            }
        }
    }
    let runs = fake.check_runs();
    assert_eq!(runs.len(), 1);
    let annotations = runs[0].created["output"]["annotations"].as_array().unwrap().len()
        + runs[0]
            .updates
            .iter()
            .map(|u| u["output"]["annotations"].as_array().unwrap().len())
            .sum::<usize>();
    assert!(annotations >= 120, "every failed threshold annotated: {annotations}");
    assert_eq!(runs[0].updates.len(), 2, "120 annotations are sent 50, 50, 20");
    let comment = &fake.comments(PR)[0].body;
    assert!(comment.chars().count() <= 65_536);
    assert!(comment.contains("Cut to fit"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_exits_2_and_sends_nothing() {
    let fake = FakePublish::start(OWNER, REPO, Identity::Installation).await;
    let empty = tempfile::tempdir().unwrap();
    let out = publish(&fake, empty.path(), &["--issue", "1"], None, &[]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("run.json"));
    // Nowhere to post.
    let out = publish(&fake, folder("pass").path(), &[], None, &[]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing to publish"));
    // No token.
    let out = publish(
        &fake,
        folder("pass").path(),
        &["--issue", "1"],
        None,
        &[("GITHUB_TOKEN", "")],
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("GITHUB_TOKEN"));
    assert!(fake.seen().is_empty(), "{:#?}", fake.seen());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_folder_without_reports_gets_them_rendered() {
    let fake = FakePublish::start(OWNER, REPO, Identity::Installation).await;
    // As `compare` or `import` leaves it: no comment.md.
    let dir = folder("fail");
    assert!(!dir.path().join("comment.md").exists());
    let out = publish(&fake, dir.path(), &["--issue", "3", "--no-check"], None, &[]).await;
    assert_eq!(out.status.code(), Some(0));
    let body = &fake.comments(3)[0].body;
    assert!(body.contains("FAIL"), "{body}");
    assert!(
        !dir.path().join("comment.md").exists(),
        "publish writes nothing locally"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_folder_compare_wrote_is_published_with_the_run_it_names() {
    let fake = FakePublish::start(OWNER, REPO, Identity::Installation).await;
    let run = folder("fail");
    let cmp = tempfile::tempdir().unwrap();
    let mut comparison: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("fail.comparison.json")).unwrap()).unwrap();
    comparison["run"]["path"] = json!(run.path().join("run.json").display().to_string());
    std::fs::write(cmp.path().join("comparison.json"), comparison.to_string()).unwrap();
    let out = publish(&fake, cmp.path(), &["--issue", "4", "--no-check"], None, &[]).await;
    assert_eq!(out.status.code(), Some(0));
    assert!(fake.comments(4)[0].body.contains("FAIL"));
    // An artifact under workflow_run may not point at other files.
    let event = workflow_run_event(SHA, "acme/search");
    let out = publish(&fake, cmp.path(), &["--pr", "7"], Some(&event), &[]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no run.json"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_plans_signing_off_one_release_at_once_keep_both_sections() {
    let fake = FakePublish::start(OWNER, REPO, Identity::Installation).await;
    // Both look for the issue before either creates it.
    fake.delay(Route::ListIssues, Duration::from_millis(800), 2);
    let api = folder("pass");
    let web = folder("fail");
    let path = web.path().join("run.json");
    let mut run: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    run["id"] = json!("web");
    std::fs::write(&path, run.to_string()).unwrap();
    std::fs::remove_file(web.path().join("comparison.json")).unwrap();
    let (a, b) = tokio::join!(
        publish(&fake, api.path(), &["--signoff", "v3.0.0", "--no-check"], None, &[]),
        publish(&fake, web.path(), &["--signoff", "v3.0.0", "--no-check"], None, &[]),
    );
    assert_eq!(a.status.code(), Some(0));
    assert_eq!(b.status.code(), Some(0));
    let issues = fake.issues();
    let open: Vec<_> = issues.iter().filter(|i| i.state == "open").collect();
    assert_eq!(open.len(), 1, "{issues:#?}");
    assert_eq!(issues.len(), 2, "the race happened: both created an issue");
    let body = &open[0].body;
    assert!(body.contains("<!-- loadcheck:demo:start -->"), "{body}");
    assert!(body.contains("<!-- loadcheck:web:start -->"), "{body}");
    // A duplicate created in the race is closed, naming the one kept.
    for dup in issues.iter().filter(|i| i.state == "closed") {
        assert_eq!(dup.state_reason.as_deref(), Some("not_planned"));
        assert!(dup.body.contains(&format!("#{}", open[0].number)));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_run_whose_answer_was_lost_is_found_not_created_twice() {
    let fake = FakePublish::start(OWNER, REPO, Identity::Installation).await;
    fake.fault(Route::CreateCheckRun, Fault::LandThenLose, 1);
    let out = publish(
        &fake,
        folder("pass").path(),
        &["--no-comment"],
        Some(&pull_request_event(PR, "acme/search")),
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(fake.check_runs().len(), 1);
    let posts = fake.count(Route::CreateCheckRun);
    assert_eq!(posts, 1, "found by its external_id, not sent again");
    let lists = fake.requests(Route::ListCheckRunsForRef);
    let list = lists.first().expect("looked for it");
    assert_eq!(list.path, format!("/repos/{OWNER}/{REPO}/commits/{SHA}/check-runs"));
    assert!(
        list.query.contains("check_name=loadcheck%20%2F%20demo"),
        "{}",
        list.query
    );
    let external_id = fake.check_runs()[0].created["external_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(external_id.starts_with("demo@31337"), "{external_id}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fork_cannot_steer_or_word_what_is_posted() {
    let fake = FakePublish::start(OWNER, REPO, Identity::Installation).await;
    let dir = folder("fail");
    // A forged comment.md in the fork's artifact.
    std::fs::write(
        dir.path().join("comment.md"),
        "✅ **PASS**: all good, merge me @maintainers",
    )
    .unwrap();
    fake.add_pull(PR, SHA, "eve/search");
    let event = workflow_run_event(SHA, "eve/search");
    let out = publish(&fake, dir.path(), &["--pr", "7"], Some(&event), &[]).await;
    assert_eq!(out.status.code(), Some(0));
    let body = &fake.comments(PR)[0].body;
    assert!(!body.contains("merge me"), "the artifact's text was posted: {body}");
    assert!(body.contains("FAIL"), "rendered from run.json: {body}");
    // Under pull_request_target from a fork: no issue, no sign-off.
    let target = Event {
        name: "pull_request_target",
        payload: pull_request_event(PR, "eve/search").payload,
    };
    let out = publish(&fake, dir.path(), &["--signoff", "v1"], Some(&target), &[]).await;
    assert_eq!(out.status.code(), Some(2));
    // A check run goes only on the event's head commit.
    let other = "4".repeat(40);
    let out = publish(
        &fake,
        dir.path(),
        &["--sha", &other],
        Some(&pull_request_event(PR, "acme/search")),
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--sha"));
    assert!(fake.check_runs().iter().all(|r| r.created["head_sha"] == SHA));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signoff_issue_planted_by_someone_else_is_not_adopted() {
    let fake = FakePublish::start(OWNER, REPO, Identity::Installation).await;
    let planted = fake.add_issue(
        "Release sign-off: v5.0.0",
        "<!-- loadcheck:demo:start -->\n- [x] **everything**\n<!-- loadcheck:demo:end -->",
        &["loadcheck-signoff"],
        "mallory",
    );
    let out = publish(
        &fake,
        folder("pass").path(),
        &["--signoff", "v5.0.0", "--no-check"],
        None,
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(0));
    let issues = fake.issues();
    assert_eq!(issues.len(), 2, "{issues:#?}");
    let theirs = issues.iter().find(|i| i.number == planted).unwrap();
    assert!(theirs.body.contains("**everything**"), "left alone");
    let ours = issues.iter().find(|i| i.number != planted).unwrap();
    assert_eq!(ours.login, BOT_LOGIN);
}
