//! `loadcheck baseline update --store git:<branch>`: the baseline history
//! kept in a branch of the repository, pushed to `origin`, with the working
//! tree and the checked-out branch untouched.

mod common;

use std::path::Path;
use std::process::Command;

use axum::Router;
use axum::routing::get;

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A short quick-mode run against `url`, into `out`.
fn quick_run(url: &str, out: &Path) {
    let o = common::loadcheck_command()
        .args([
            "run",
            "--target",
            url,
            "--duration",
            "1s",
            "--rate",
            "20",
            "-q",
            "--out",
        ])
        .arg(out)
        .current_dir(out.parent().unwrap())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", common::stderr(&o));
}

fn update(clone: &Path, run: &Path, store: &str) -> std::process::Output {
    // A fresh runner's git: no identity configured.
    common::loadcheck_command()
        .args(["baseline", "update"])
        .arg(run)
        .args(["--store", store])
        .current_dir(clone)
        .env("HOME", clone.join(".no-home"))
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_are_appended_to_a_branch_and_pushed() {
    let server = common::serve(Router::new().route("/", get(|| async { "ok" }))).await;
    let tmp = tempfile::tempdir().unwrap();
    let origin = tmp.path().join("origin.git");
    let clone = tmp.path().join("clone");
    git(
        tmp.path(),
        &["init", "-q", "--bare", "-b", "main", origin.to_str().unwrap()],
    );
    git(
        tmp.path(),
        &["clone", "-q", origin.to_str().unwrap(), clone.to_str().unwrap()],
    );
    std::fs::write(clone.join("README.md"), "app\n").unwrap();
    git(&clone, &["add", "README.md"]);
    git(&clone, &["commit", "-q", "-m", "init"]);
    git(&clone, &["push", "-q", "origin", "main"]);

    let runs = tmp.path().join("runs");
    std::fs::create_dir_all(&runs).unwrap();
    let (a, b) = (runs.join("a"), runs.join("b"));
    let url = format!("{}/", server.url());
    let (ua, ub) = (url.clone(), url.clone());
    let (a2, b2) = (a.clone(), b.clone());
    tokio::task::spawn_blocking(move || {
        quick_run(&ua, &a2);
        quick_run(&ub, &b2);
    })
    .await
    .unwrap();

    for (run, count) in [(&a, 1), (&b, 2)] {
        let o = update(&clone, run, "git:loadcheck-baselines");
        assert_eq!(o.status.code(), Some(0), "{}", common::stderr(&o));
        let stdout = String::from_utf8_lossy(&o.stdout);
        assert!(stdout.contains(&format!("{count} run(s)")), "{stdout}");
    }
    // The branch on origin holds the store with both runs, in two commits.
    let id = serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(a.join("run.json")).unwrap()).unwrap()
        ["id"]
        .as_str()
        .unwrap()
        .to_string();
    let text = git(&origin, &["show", &format!("loadcheck-baselines:baselines/{id}.json")]);
    let store: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(store["schema"], "loadcheck.baseline/v1");
    assert_eq!(store["runs"].as_array().unwrap().len(), 2);
    assert_eq!(git(&origin, &["rev-list", "--count", "loadcheck-baselines"]), "2");
    let author = git(&origin, &["log", "-1", "--format=%an <%ae>", "loadcheck-baselines"]);
    assert_eq!(author, "loadcheck <loadcheck@users.noreply.github.com>");
    // main, the working tree and the index are untouched.
    assert_eq!(git(&clone, &["status", "--porcelain"]), "");
    assert_eq!(git(&clone, &["rev-parse", "--abbrev-ref", "HEAD"]), "main");
    assert!(!clone.join("baselines").exists());
    assert_eq!(git(&origin, &["rev-list", "--count", "main"]), "1");

    // A PR reads its base branch's history as the workflows show.
    git(&clone, &["fetch", "-q", "origin", "loadcheck-baselines"]);
    let read = git(
        &clone,
        &["show", &format!("origin/loadcheck-baselines:baselines/{id}.json")],
    );
    assert_eq!(read, text);

    // Another clone pushed since: the next update fetches first and builds
    // on top of it, losing nothing.
    let other = tmp.path().join("other");
    git(
        tmp.path(),
        &["clone", "-q", origin.to_str().unwrap(), other.to_str().unwrap()],
    );
    let c = runs.join("c");
    let (uc, c2) = (url.clone(), c.clone());
    tokio::task::spawn_blocking(move || quick_run(&uc, &c2)).await.unwrap();
    let o = update(&other, &c, "git:loadcheck-baselines");
    assert_eq!(o.status.code(), Some(0), "{}", common::stderr(&o));
    let d = runs.join("d");
    let (ud, d2) = (url.clone(), d.clone());
    tokio::task::spawn_blocking(move || quick_run(&ud, &d2)).await.unwrap();
    let o = update(&clone, &d, "git:loadcheck-baselines");
    assert_eq!(o.status.code(), Some(0), "{}", common::stderr(&o));
    let text = git(&origin, &["show", &format!("loadcheck-baselines:baselines/{id}.json")]);
    let store: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(store["runs"].as_array().unwrap().len(), 4, "no run lost");

    // Two jobs updating at once: whichever push is refused fetches again
    // and retries, and no run is lost.
    let (e, f) = (runs.join("e"), runs.join("f"));
    let (ue, e2, uf, f2) = (url.clone(), e.clone(), url.clone(), f.clone());
    tokio::task::spawn_blocking(move || {
        quick_run(&ue, &e2);
        quick_run(&uf, &f2);
    })
    .await
    .unwrap();
    let (c1, e1) = (clone.clone(), e.clone());
    let (c2, f1) = (other.clone(), f.clone());
    let one = tokio::task::spawn_blocking(move || update(&c1, &e1, "git:loadcheck-baselines"));
    let two = tokio::task::spawn_blocking(move || update(&c2, &f1, "git:loadcheck-baselines"));
    let (one, two) = (one.await.unwrap(), two.await.unwrap());
    assert_eq!(one.status.code(), Some(0), "{}", common::stderr(&one));
    assert_eq!(two.status.code(), Some(0), "{}", common::stderr(&two));
    let text = git(&origin, &["show", &format!("loadcheck-baselines:baselines/{id}.json")]);
    let store: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(store["runs"].as_array().unwrap().len(), 6, "no run lost to the race");
    let raced = [&one, &two]
        .iter()
        .any(|o| common::stderr(o).contains("another job pushed first"));
    eprintln!("the two updates raced: {raced}");

    // The same run twice is refused, and the branch does not move.
    let before = git(&origin, &["rev-parse", "loadcheck-baselines"]);
    let o = update(&clone, &d, "git:loadcheck-baselines");
    assert_eq!(o.status.code(), Some(2), "{}", common::stderr(&o));
    assert_eq!(git(&origin, &["rev-parse", "loadcheck-baselines"]), before);
    // A bad spec names itself.
    let o = update(&clone, &d, "git:bad..name");
    assert_eq!(o.status.code(), Some(2));
    assert!(common::stderr(&o).contains("git:bad..name"), "{}", common::stderr(&o));
    server.stop().await;
}
