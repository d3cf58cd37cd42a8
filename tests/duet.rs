//! Duet runs (`--baseline-target`, `[baseline] target`): every request goes
//! to the target and to the baseline target alike, each side is measured
//! apart, and the baseline side's result goes to `DIR/baseline/run.json`.
//! Two loopback servers record what they were sent.

mod common;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use common::{Server, assert_rejudged, dead_addr, serve, stderr};

/// What a recording server was sent: one line per request (method, path
/// and query, the signature's headers, body), with when it arrived.
type Log = Arc<Mutex<Vec<(String, Instant)>>>;

/// A server that records every request and answers after `delay`.
async fn recording_server(delay: Duration) -> (Server, Log) {
    let log: Log = Arc::default();
    let record = |State((log, delay)): State<(Log, Duration)>,
                  method: Method,
                  uri: Uri,
                  headers: HeaderMap,
                  body: Bytes| async move {
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-")
                .to_string()
        };
        let line = format!(
            "{method} {uri} id={} ts={} sig={} body={}",
            header("webhook-id"),
            header("webhook-timestamp"),
            header("webhook-signature"),
            String::from_utf8_lossy(&body)
        );
        log.lock().unwrap().push((line, Instant::now()));
        tokio::time::sleep(delay).await;
        "ok"
    };
    let router = Router::new().fallback(record).with_state((log.clone(), delay));
    (serve(router).await, log)
}

/// The lines a server received, sorted: a multiset.
fn lines(log: &Log) -> Vec<String> {
    let mut v: Vec<String> = log.lock().unwrap().iter().map(|(l, _)| l.clone()).collect();
    v.sort();
    v
}

/// Runs the binary on `plan` (written to `dir`) with `args` and `env`;
/// returns the output and both sides' run.json, each checked against the
/// schema and judged again from its file.
fn run_duet(
    dir: &Path,
    plan: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> (
    std::process::Output,
    Option<serde_json::Value>,
    Option<serde_json::Value>,
) {
    let path = dir.join("loadcheck.toml");
    std::fs::write(&path, plan).unwrap();
    let out_dir = dir.join("out");
    let mut cmd = common::loadcheck_command();
    cmd.arg("run")
        .arg(&path)
        .arg("--out")
        .arg(&out_dir)
        .args(["-q", "--seed", "7"]);
    cmd.args(args).envs(env.iter().copied());
    let out = cmd.output().unwrap();
    let read = |p: &Path| {
        let text = std::fs::read_to_string(p).ok()?;
        if let Some(code) = out.status.code() {
            assert_rejudged(
                p,
                if p.starts_with(out_dir.join("baseline")) {
                    0
                } else {
                    code
                },
            );
        }
        Some(serde_json::from_str(&text).unwrap())
    };
    let target = read(&out_dir.join("run.json"));
    let baseline = read(&out_dir.join("baseline/run.json"));
    (out, target, baseline)
}

/// Runs the binary off the async runtime, so the servers keep answering.
async fn run_duet_async(
    plan: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
) -> (
    std::process::Output,
    Option<serde_json::Value>,
    Option<serde_json::Value>,
    tempfile::TempDir,
) {
    tokio::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().unwrap();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let (out, t, b) = run_duet(dir.path(), &plan, &args, &env);
        (out, t, b, dir)
    })
    .await
    .unwrap()
}

fn requests(run: &serde_json::Value, endpoint: &str) -> u64 {
    run["stats"]["endpoints"][endpoint]["requests"].as_u64().unwrap()
}

fn p50(run: &serde_json::Value) -> f64 {
    run["stats"]["total"]["latency_ms"]["p50"].as_f64().unwrap()
}

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// Random values from lists, integers and UUIDs in paths, queries and
/// bodies, and a signature over each: the baseline target receives exactly
/// what the target receives, at the same times.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_targets_receive_the_same_requests_at_the_same_times() {
    let (target, target_log) = recording_server(Duration::ZERO).await;
    let (baseline, baseline_log) = recording_server(Duration::ZERO).await;
    let plan = format!(
        r#"
        target = "{}"
        [signing]
        scheme = "standard-webhooks"
        secret_env = "LC_DUET_SECRET"
        [vars]
        word = ["alpha", "beta", "gamma", "delta"]
        [[endpoint]]
        name = "search"
        path = "/search?q={{{{word}}}}&n={{{{random_int:1..1000000}}}}&id={{{{uuid}}}}"
        signing = false
        [[endpoint]]
        name = "submit"
        method = "POST"
        path = "/submit/{{{{random_int:1..1000}}}}"
        body = {{ template = "{{\"id\":\"{{{{uuid}}}}\",\"n\":{{{{random_int:1..1000000}}}},\"w\":\"{{{{word}}}}\"}}" }}
        weight = 2
        [load]
        executor = "constant-arrival-rate"
        rate = 150
        duration = "2s"
        "#,
        target.url()
    );
    let (out, run, base, _dir) = run_duet_async(
        plan,
        vec!["--baseline-target".into(), baseline.url()],
        vec![("LC_DUET_SECRET".into(), SECRET.into())],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let (run, base) = (run.expect("DIR/run.json"), base.expect("DIR/baseline/run.json"));
    let (sent, mirrored) = (lines(&target_log), lines(&baseline_log));
    assert_eq!(sent.len(), 300, "every scheduled send reached the target");
    assert!(
        sent.iter()
            .filter(|l| l.starts_with("POST"))
            .all(|l| !l.contains("sig=-")),
        "submissions are signed"
    );
    let distinct: std::collections::BTreeSet<_> = sent.iter().collect();
    assert_eq!(distinct.len(), sent.len(), "every request is different");
    assert!(
        sent == mirrored,
        "the baseline target received exactly the target's requests"
    );
    // Each request reached both at the same time: one intended time.
    let arrived: std::collections::HashMap<String, Instant> = baseline_log.lock().unwrap().iter().cloned().collect();
    let worst = target_log
        .lock()
        .unwrap()
        .iter()
        .map(|(line, at)| {
            let other = arrived[line];
            if other > *at { other - *at } else { *at - other }
        })
        .max()
        .unwrap();
    assert!(
        worst < Duration::from_millis(250),
        "a request reached one side {worst:?} after the other"
    );
    for side in [&run, &base] {
        assert_eq!(side["generator"]["scheduled_sends"], 300);
        assert_eq!(requests(side, "search") + requests(side, "submit"), 300);
    }
    assert_eq!(requests(&run, "submit"), requests(&base, "submit"));
    assert_eq!(run["duet"]["role"], "target");
    assert_eq!(base["duet"]["role"], "baseline");
    assert_eq!(base["duet"]["url"], baseline.url());
    assert_eq!(base["duet"]["peer"], target.url());
    assert_eq!(run["duet"]["peer"], baseline.url());
    assert_eq!(run["plan_fingerprint"], base["plan_fingerprint"], "one plan, two sides");
    let text = serde_json::to_string(&base).unwrap();
    assert!(
        !text.contains(SECRET) && !text.contains("MfKQ9r8GKYqr"),
        "no secret is written"
    );
}

/// Open model: a slower baseline target shows in its own result only, and
/// each side has its own per-second histograms.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slower_baseline_shows_in_its_own_result_only() {
    let (target, _) = recording_server(Duration::ZERO).await;
    let (baseline, _) = recording_server(Duration::from_millis(40)).await;
    let plan = format!(
        r#"
        target = "{}"
        [baseline]
        target = "{}"
        [[endpoint]]
        name = "get"
        path = "/x/{{{{random_int:1..100}}}}"
        [load]
        executor = "constant-arrival-rate"
        rate = 50
        duration = "2s"
        "#,
        target.url(),
        baseline.url()
    );
    let (out, run, base, dir) = run_duet_async(plan, vec![], vec![]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let (run, base) = (run.unwrap(), base.unwrap());
    assert!(p50(&base) >= 40.0, "the baseline side is slow: p50 {}", p50(&base));
    assert!(p50(&run) < 20.0, "the target side is not: p50 {}", p50(&run));
    assert_eq!(requests(&run, "get"), 100);
    assert_eq!(requests(&base, "get"), 100);
    for side in ["out", "out/baseline"] {
        let hlog = std::fs::read_to_string(dir.path().join(side).join("timeline.hlog")).unwrap();
        assert!(
            hlog.lines().any(|l| !l.starts_with('#')),
            "{side}/timeline.hlog has seconds"
        );
    }
    for side in [&run, &base] {
        assert_eq!(
            side["timeline"]["interval_log"], "timeline.hlog",
            "relative to its own run.json"
        );
    }
    // The duet comparison: the target is faster than its baseline, never a
    // regression; three seconds are too few to call it, and it says so.
    let cmp: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("out/comparison.json")).unwrap()).unwrap();
    common::assert_comparison_schema(&cmp);
    assert_eq!(cmp["comparisons"][0]["source"], "duet");
    let series = cmp["comparisons"][0]["series"].as_array().unwrap();
    assert!(series.iter().all(|s| s["class"] != "regression"), "{series:?}");
    let p50 = series.iter().find(|s| s["metric"] == "p50").unwrap();
    assert_eq!(p50["class"], "inconclusive", "{p50}");
    assert!(p50["note"].as_str().unwrap().contains("second(s)"), "{p50}");
}

/// Closed model: each iteration goes to both sides and waits for both, so
/// both see the same iterations; a slow baseline slows the VUs, and is
/// still measured on its side alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_model_sends_each_iteration_to_both_and_waits_for_both() {
    let (target, target_log) = recording_server(Duration::ZERO).await;
    let (baseline, baseline_log) = recording_server(Duration::from_millis(30)).await;
    let plan = format!(
        r#"
        target = "{}"
        [[endpoint]]
        name = "get"
        path = "/v/{{{{vu}}}}/{{{{iteration}}}}?r={{{{uuid}}}}"
        [load]
        executor = "constant-vus"
        vus = 3
        duration = "1500ms"
        "#,
        target.url()
    );
    let (out, run, base, _dir) = run_duet_async(plan, vec!["--baseline-target".into(), baseline.url()], vec![]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let (run, base) = (run.unwrap(), base.unwrap());
    assert_eq!(requests(&run, "get"), requests(&base, "get"), "the same iterations");
    // 3 VUs paced by the 30 ms side: about 150 iterations, far fewer than
    // the fast side alone would make.
    let n = requests(&run, "get");
    assert!((30..=200).contains(&n), "{n} iterations");
    assert!(p50(&base) >= 30.0, "baseline p50 {}", p50(&base));
    assert!(p50(&run) < 15.0, "target p50 {}", p50(&run));
    assert!(lines(&target_log) == lines(&baseline_log), "the same requests");
}

/// `--baseline-target` (here from its environment variable) beside a
/// `[rollout]` is refused before anything is sent, naming the flag.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_baseline_target_beside_a_rollout_exits_2_naming_the_flag() {
    let (target, target_log) = recording_server(Duration::ZERO).await;
    let plan = format!(
        r#"
        target = "{}"
        [[endpoint]]
        name = "get"
        path = "/"
        [load]
        executor = "constant-vus"
        vus = 1
        duration = "1s"
        [rollout]
        trigger = {{ command = "true" }}
        head = "1s"
        tail = "1s"
        "#,
        target.url()
    );
    let env = vec![("LOADCHECK_BASELINE_TARGET".into(), "http://127.0.0.1:9".into())];
    let (out, run, base, _dir) = run_duet_async(plan, vec![], env).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("--baseline-target") && err.contains("[rollout]"), "{err}");
    assert!(run.is_none() && base.is_none(), "nothing is written");
    assert!(target_log.lock().unwrap().is_empty(), "nothing is sent");
}

/// A baseline target that does not answer fails the preflight: exit 3,
/// naming it, and the target is sent nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_baseline_target_exits_3_naming_it() {
    let (target, target_log) = recording_server(Duration::ZERO).await;
    let dead = format!("http://{}", dead_addr());
    let plan = format!(
        "target = \"{}\"\n[[endpoint]]\nname = \"get\"\npath = \"/\"\n[load]\nexecutor = \"constant-vus\"\nvus = 1\nduration = \"1s\"\n",
        target.url()
    );
    let (out, run, _, _dir) = run_duet_async(plan, vec!["--baseline-target".into(), dead.clone()], vec![]).await;
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains(&format!("the baseline target {dead}")), "{err}");
    assert!(run.is_none(), "nothing was run");
    assert!(target_log.lock().unwrap().is_empty(), "nothing is sent to the target");
}
