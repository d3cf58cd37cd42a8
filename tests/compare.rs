//! Comparisons end to end: head vs tail in a rollout run, the baseline
//! store (`baseline update`, `run --baseline`, `compare`), and damaged
//! stores, which are errors that leave the file as it was, even when the
//! writer is killed between its write and its rename.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use loadcheck::demo::{DemoConfig, DemoRollout, Route, Shaping, serve};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// A demo service in this process: search about 5 ms, thumbnail about
/// 50 ms; `slow` makes search that much slower for every version, and
/// `roll_slow` only for v2 when `roll_at` rolls to it.
async fn service(slow: f64, roll: Option<(Duration, f64)>) -> (String, oneshot::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let cfg = DemoConfig {
        app_version: "v1".into(),
        stall_every: None,
        stall_for: Duration::ZERO,
        seed: Some(3),
        rollout: roll.map(|(at, _)| DemoRollout {
            to: "v2".into(),
            at,
            over: Duration::from_secs(1),
        }),
        dispatcher: None,
        shaping: Shaping {
            base: vec![
                (Route::Search, Duration::from_millis(5)),
                (Route::Thumbnail, Duration::from_millis(50)),
            ],
            slow: if slow > 0.0 {
                vec![(Route::Search, 1.0 + slow)]
            } else {
                vec![]
            },
            roll_slow: roll
                .filter(|(_, f)| *f > 0.0)
                .map(|(_, f)| vec![(Route::Search, 1.0 + f)])
                .unwrap_or_default(),
        },
    };
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(serve(listener, cfg, async move {
        let _ = stopped.await;
    }));
    (format!("http://{addr}"), stop)
}

fn plan(dir: &Path, name: &str, duration_s: u32, extra: &str) -> PathBuf {
    let text = format!(
        r#"name = "{name}"
target = "http://127.0.0.1:1"

[[endpoint]]
name = "search"
path = "/v1/images/?q=cat"

[[endpoint]]
name = "thumbnail"
path = "/v1/images/{{{{random_int:1..9999}}}}/thumb/"

[load]
executor = "constant-arrival-rate"
rate = 200
duration = "{duration_s}s"
endpoints = {{ search = 1, thumbnail = 1 }}
{extra}"#
    );
    let p = dir.join(format!("{name}.toml"));
    std::fs::write(&p, text).unwrap();
    p
}

fn loadcheck(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_loadcheck"));
    c.args(args).env_remove("LOADCHECK_TARGET");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

async fn run(plan: &Path, target: &str, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "run",
        plan.to_str().unwrap(),
        "--target",
        target,
        "--out",
        out.to_str().unwrap(),
        "-q",
    ];
    args.extend_from_slice(extra);
    let args: Vec<String> = args.into_iter().map(String::from).collect();
    tokio::task::spawn_blocking(move || {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        loadcheck(&a, &[])
    })
    .await
    .unwrap()
}

fn json(p: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn regressions(cmp: &serde_json::Value, source: &str) -> Vec<String> {
    cmp["comparisons"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["source"] == source)
        .flat_map(|c| c["series"].as_array().unwrap().clone())
        .filter(|s| s["class"] == "regression")
        .map(|s| {
            format!(
                "{} {} {}",
                s["endpoint"].as_str().unwrap(),
                s["phase"].as_str().unwrap(),
                s["metric"].as_str().unwrap()
            )
        })
        .collect()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

const ROLLOUT: &str = r#"
[rollout]
head = "6s"
tail = "14s"
timeout = "15s"
version_header = "x-app-version"
"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_slower_v2_is_flagged_head_vs_tail_and_fails_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _stop) = service(0.0, Some((Duration::from_secs(6), 0.6))).await;
    let (url2, _stop2) = service(0.0, Some((Duration::from_secs(6), 0.6))).await;
    let report = plan(dir.path(), "report", 24, ROLLOUT);
    let fail = plan(
        dir.path(),
        "fail",
        24,
        &format!("{ROLLOUT}\n[baseline]\nhead_vs_tail = \"fail\"\n"),
    );
    let (o1, o2) = (dir.path().join("report-out"), dir.path().join("fail-out"));
    let (a, b) = tokio::join!(run(&report, &url, &o1, &[]), run(&fail, &url2, &o2, &[]));
    // Reported: the run passes, the comparison says search got slower.
    assert_eq!(a.status.code(), Some(0), "{}", text(&a));
    let cmp = json(&o1.join("comparison.json"));
    common::assert_comparison_schema(&cmp);
    let found = regressions(&cmp, "head_vs_tail");
    assert!(
        found.iter().any(|r| r.starts_with("search tail p")),
        "{found:?}\n{}",
        text(&a)
    );
    assert!(
        found.iter().all(|r| r.starts_with("search ")),
        "thumbnail did not change: {found:?}"
    );
    assert_eq!(cmp["comparisons"][0]["gating"], false);
    assert!(text(&a).contains("regression search tail p"), "{}", text(&a));
    common::assert_rejudged(&o1.join("run.json"), 0);
    // "fail": the same finding fails the run, and `verdict` agrees from the files.
    assert_eq!(b.status.code(), Some(1), "{}", text(&b));
    let run_json = json(&o2.join("run.json"));
    let reasons = run_json["verdict"]["reasons"].as_array().unwrap();
    assert!(reasons.iter().any(|r| r["kind"] == "regression"), "{reasons:?}");
    common::assert_rejudged(&o2.join("run.json"), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_store_takes_good_runs_and_a_slower_run_fails_against_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (url, _s1) = service(0.0, None).await;
    let (slow_url, _s2) = service(1.0, None).await;
    let p = plan(d, "store", 6, "");
    let store = d.join("baselines/store.json");
    let store_s = store.to_str().unwrap();
    let (a, b) = (d.join("a"), d.join("b"));
    let (ra, rb) = tokio::join!(run(&p, &url, &a, &[]), run(&p, &url, &b, &[]));
    assert_eq!(ra.status.code(), Some(0), "{}", text(&ra));
    assert_eq!(rb.status.code(), Some(0), "{}", text(&rb));
    // No store yet: the run is judged on its thresholds alone, and says so.
    let none = run(&p, &url, &d.join("none"), &["--baseline", store_s]).await;
    assert_eq!(none.status.code(), Some(0), "{}", text(&none));
    assert!(text(&none).contains("no baseline yet"), "{}", text(&none));
    assert!(!store.exists());
    for r in [&a, &b] {
        let o = loadcheck(&["baseline", "update", r.to_str().unwrap(), "--store", store_s], &[]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    }
    let saved = std::fs::read(&store).unwrap();
    let st = json(&store);
    assert_eq!(st["schema"], "loadcheck.baseline/v1");
    assert_eq!(st["runs"].as_array().unwrap().len(), 2);
    // The same run twice is refused, and the store is left as it was.
    let o = loadcheck(&["baseline", "update", a.to_str().unwrap(), "--store", store_s], &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("already in the store"), "{}", text(&o));
    assert_eq!(std::fs::read(&store).unwrap(), saved);
    // Search twice as slow: a regression against the store, on search only.
    let slow = d.join("slow");
    let o = run(&p, &slow_url, &slow, &["--baseline", store_s]).await;
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let cmp = json(&slow.join("comparison.json"));
    common::assert_comparison_schema(&cmp);
    let found = regressions(&cmp, "history");
    assert!(found.iter().any(|r| r.starts_with("search run p")), "{found:?}");
    assert!(found.iter().all(|r| r.starts_with("search ")), "{found:?}");
    common::assert_rejudged(&slow.join("run.json"), 1);
    // A failed run is not accepted without --force.
    let o = loadcheck(&["baseline", "update", slow.to_str().unwrap(), "--store", store_s], &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("failed its verdict"), "{}", text(&o));
    assert_eq!(std::fs::read(&store).unwrap(), saved);
    // `compare` run against run says the same, and exits 1.
    let out = d.join("cmp");
    let o = loadcheck(
        &[
            "compare",
            a.to_str().unwrap(),
            slow.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let cmp = json(&out.join("comparison.json"));
    common::assert_comparison_schema(&cmp);
    assert!(regressions(&cmp, "run").iter().any(|r| r.starts_with("search run p")));
    assert!(text(&o).contains("regression search run p"), "{}", text(&o));
    // And against the store file.
    let o = loadcheck(
        &[
            "compare",
            store_s,
            slow.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
}

/// Damaged stores: each is an error naming the file and what is wrong,
/// for `baseline update` and `compare` alike, and the file is untouched.
#[tokio::test(flavor = "multi_thread")]
async fn a_damaged_store_is_an_error_and_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (url, _s) = service(0.0, None).await;
    let p = plan(d, "damaged", 6, "");
    let a = d.join("a");
    let o = run(&p, &url, &a, &[]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let good = d.join("good.json");
    let o = loadcheck(
        &[
            "baseline",
            "update",
            a.to_str().unwrap(),
            "--store",
            good.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let text_good = std::fs::read_to_string(&good).unwrap();
    let cases: Vec<(&str, String, &str)> = vec![
        ("truncated", text_good[..text_good.len() / 2].to_string(), "line"),
        ("garbage", "\u{0}\u{1}not json at all".into(), "not a baseline store"),
        ("empty", String::new(), "not a baseline store"),
        (
            "wrong-schema",
            text_good.replace("loadcheck.baseline/v1", "loadcheck.baseline/v0"),
            "field `schema`",
        ),
        (
            "a-run-json",
            std::fs::read_to_string(a.join("run.json")).unwrap(),
            "field `schema`",
        ),
        (
            "negative",
            text_good.replacen("\"seconds\": ", "\"seconds\": -", 1),
            "negative",
        ),
        (
            "missing-field",
            text_good.replacen("\"history\"", "\"histroy\"", 1),
            "line",
        ),
    ];
    for (name, body, says) in cases {
        let f = d.join(format!("{name}.json"));
        std::fs::write(&f, &body).unwrap();
        for args in [
            vec![
                "baseline",
                "update",
                a.to_str().unwrap(),
                "--store",
                f.to_str().unwrap(),
            ],
            vec![
                "compare",
                f.to_str().unwrap(),
                a.to_str().unwrap(),
                "--out",
                d.join("x").to_str().unwrap(),
            ],
        ] {
            let o = loadcheck(&args, &[]);
            let t = text(&o);
            if name == "a-run-json" && args[0] == "compare" {
                // A run.json is a baseline for `compare` (run against run), but
                // this copy has lost its per-second histograms.
                assert_eq!(o.status.code(), Some(2), "{t}");
                assert!(t.contains("timeline.hlog"), "{t}");
                continue;
            }
            assert_eq!(o.status.code(), Some(2), "{name} {args:?}: {t}");
            assert!(t.contains(&format!("{name}.json")), "{name}: names the file: {t}");
            assert!(t.contains(says), "{name}: says `{says}`: {t}");
            assert!(!t.contains("panicked"), "{t}");
            assert_eq!(std::fs::read_to_string(&f).unwrap(), body, "{name} untouched");
        }
    }
}

/// A writer killed between writing the new store and renaming it over the
/// old leaves the old store whole.
#[tokio::test(flavor = "multi_thread")]
async fn a_writer_killed_before_its_rename_leaves_the_old_store() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (url, _s) = service(0.0, None).await;
    let p = plan(d, "killed", 5, "");
    let (a, b) = (d.join("a"), d.join("b"));
    let (ra, rb) = tokio::join!(run(&p, &url, &a, &[]), run(&p, &url, &b, &[]));
    assert_eq!(ra.status.code(), Some(0), "{}", text(&ra));
    assert_eq!(rb.status.code(), Some(0), "{}", text(&rb));
    let store = d.join("store.json");
    let o = loadcheck(
        &[
            "baseline",
            "update",
            a.to_str().unwrap(),
            "--store",
            store.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let before = std::fs::read(&store).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_loadcheck"))
        .args([
            "baseline",
            "update",
            b.to_str().unwrap(),
            "--store",
            store.to_str().unwrap(),
        ])
        .env(loadcheck::atomic::PAUSE_ENV, "store.json")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let start = Instant::now();
    let line = lines.next().expect("a line on stderr").unwrap();
    assert!(line.contains("paused before renaming"), "{line}");
    assert!(start.elapsed() < Duration::from_secs(20));
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(std::fs::read(&store).unwrap(), before, "the old store is whole");
    let st = json(&store);
    assert_eq!(st["runs"].as_array().unwrap().len(), 1);
    // The next update works, over the stale temporary file.
    let o = loadcheck(
        &[
            "baseline",
            "update",
            b.to_str().unwrap(),
            "--store",
            store.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(json(&store)["runs"].as_array().unwrap().len(), 2);
}
