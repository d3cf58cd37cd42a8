//! The rollout end to end, with no load balancer: the command trigger and
//! its failures, the version watcher, faults with their RTO, probes, and bad
//! input stopped at validation. The HAProxy rolling deploys are in
//! `tests/rollout_lb.rs`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use assert_cmd::cargo::CommandCargoExt;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::routing::get;
use common::stderr;
use serde_json::Value;

fn loadcheck() -> Command {
    let mut c = Command::cargo_bin("loadcheck").unwrap();
    c.env_remove("LOADCHECK_TARGET")
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_TOKEN");
    c
}

fn run(dir: &Path, plan: &str, env: &[(&str, &str)]) -> (Output, Option<Value>) {
    common::run_binary(dir, plan, env)
}

fn code(out: &Output) -> Option<i32> {
    out.status.code()
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

fn event<'a>(r: &'a Value, kind: &str, name: &str) -> &'a Value {
    r["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == kind && e["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} event for {name} in {}", r["events"]))
}

/// A server that answers 503 on `/ok` and `/ready` while `down` exists, and
/// exposes `breaker_state{name="redis"}` 1 (down) or 0 on `/metrics`.
async fn switch_server(down: PathBuf) -> common::Server {
    let down = Arc::new(down);
    let state = |down: &Path| {
        if down.exists() {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::OK
        }
    };
    let router = Router::new()
        .route(
            "/ok",
            get(move |State(d): State<Arc<PathBuf>>| async move { state(&d) }),
        )
        .route(
            "/ready",
            get(move |State(d): State<Arc<PathBuf>>| async move { state(&d) }),
        )
        .route(
            "/metrics",
            get(|State(d): State<Arc<PathBuf>>| async move {
                let v = u8::from(d.exists());
                format!("# TYPE breaker_state gauge\nbreaker_state{{name=\"redis\"}} {v}\nqueue_depth 7\n")
            }),
        )
        .with_state(down);
    common::serve(router).await
}

fn plan_head(target: &str, rate: u32, duration: &str) -> String {
    format!(
        "name = \"t\"\ntarget = \"{target}\"\ntimeout = \"2s\"\n\n[[endpoint]]\nname = \"ok\"\npath = \"/ok\"\n\n[[scenario]]\nname = \"steady\"\nexecutor = \"constant-arrival-rate\"\nrate = {rate}\nduration = \"{duration}\"\nendpoints = [\"ok\"]\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_rollout_input_exits_2_before_any_load() {
    let server = common::basic_server().await;
    let dir = tempfile::tempdir().unwrap();
    let head = plan_head(&server.url(), 50, "5s");
    let cases: &[(&str, usize, &[&str])] = &[
        (
            "[rollout]\ntrigger = { command = \"./no-such-deploy.sh --now\" }\n",
            17,
            &["rollout.trigger.command", "does not exist"],
        ),
        (
            "[rollout]\ntrigger = { command = \"surely-not-a-program-7f3a\" }\n",
            17,
            &["rollout.trigger.command", "not on PATH"],
        ),
        (
            "[rollout]\nhead = \"-5s\"\ntrigger = { command = \"true\" }\n",
            17,
            &["rollout.head", "negative"],
        ),
        (
            "[[fault]]\nname = \"late\"\nat = \"9s\"\nrun = \"true\"\n",
            18,
            &["fault[0].at", "after the run's end"],
        ),
        (
            "[[probe]]\nname = \"ready\"\nurl = \"http//127.0.0.1:1/ready\"\n",
            18,
            &["probe[0].url", "must be absolute"],
        ),
        (
            "[rollout]\nhead = \"1s\"\n",
            16,
            &["rollout", "nothing marks the rollout"],
        ),
        (
            "[thresholds]\n\"http_req_failed{phase:rollout}\" = [\"rate==0\"]\n",
            17,
            &["needs a [rollout]"],
        ),
    ];
    for (tail, line, expect) in cases {
        let plan = format!("{head}\n{tail}");
        for sub in ["validate", "run"] {
            let path = dir.path().join("loadcheck.toml");
            std::fs::write(&path, &plan).unwrap();
            let mut cmd = loadcheck();
            cmd.arg(sub).arg(&path);
            if sub == "run" {
                cmd.arg("--out").arg(dir.path().join("out"));
            }
            let out = cmd.output().unwrap();
            let err = stderr(&out);
            assert_eq!(code(&out), Some(2), "{sub} {tail}: {err}");
            assert!(
                err.contains(&format!("loadcheck.toml:{line}")),
                "{sub}: want line {line} in {err}"
            );
            for e in *expect {
                assert!(err.contains(e), "{sub}: want {e:?} in {err}");
            }
        }
    }
    assert!(!dir.path().join("out/run.json").exists());
    assert_eq!(server.hits.load(Ordering::Relaxed), 0, "a bad plan sent requests");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_rollout_tags_every_request_with_its_phase() {
    let server = common::basic_server().await;
    let dir = tempfile::tempdir().unwrap();
    let plan = format!(
        "{}\n[rollout]\nhead = \"1s\"\ntail = \"1s\"\ntimeout = \"10s\"\ntrigger = {{ command = \"sleep 1; echo deployed\" }}\n\n[thresholds]\n\"http_req_failed{{phase:rollout}}\" = [\"rate==0\"]\n\"http_reqs{{phase:tail}}\" = [\"count>50\"]\n",
        plan_head(&server.url(), 100, "30s")
    );
    let started = Instant::now();
    let (out, r) = run(dir.path(), &plan, &[]);
    let r = r.expect("run.json");
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    // The run ends after head + rollout + tail, not at the 30 s cap.
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    let phases: Vec<&str> = r["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(phases, ["head", "rollout", "tail"]);
    let rollout_len = f(&r["phases"][1]["end_s"]) - f(&r["phases"][1]["start_s"]);
    assert!((0.9..1.6).contains(&rollout_len), "rollout lasted {rollout_len}");
    assert!((0.95..1.3).contains(&f(&r["phases"][1]["start_s"])));
    let ro = &r["rollout"];
    assert_eq!(ro["trigger"], "command");
    assert_eq!(ro["status"], "succeeded");
    assert_eq!(ro["exit_code"], 0);
    assert!(ro["output"].as_str().unwrap().contains("deployed"));
    assert_eq!(ro["zero_downtime"]["ok"], true);
    assert_eq!(ro["zero_downtime"]["failed_requests"], 0);
    let total = r["stats"]["total"]["requests"].as_u64().unwrap();
    let by_phase: u64 = ["head", "rollout", "tail"]
        .iter()
        .map(|p| r["stats"]["phases"][p]["requests"].as_u64().unwrap())
        .sum();
    assert_eq!(by_phase, total, "every request has exactly one phase");
    for p in ["head", "rollout", "tail"] {
        let n = r["stats"]["phases"][p]["requests"].as_u64().unwrap();
        assert!(n >= 80, "{p}: {n} requests");
        assert_eq!(r["stats"]["endpoint_phases"]["ok"][p]["requests"].as_u64().unwrap(), n);
    }
    assert!(r["thresholds"].as_array().unwrap().iter().all(|t| t["ok"] == true));
    let start = event(&r, "rollout_start", "rollout");
    let end = event(&r, "rollout_end", "rollout");
    assert!(f(&end["at_s"]) > f(&start["at_s"]));
    assert_eq!(end["ok"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_or_timed_out_rollout_exits_3_and_writes_the_report() {
    let server = common::basic_server().await;
    let dir = tempfile::tempdir().unwrap();
    let failing = format!(
        "{}\n[rollout]\nhead = \"500ms\"\ntail = \"500ms\"\ntrigger = {{ command = \"echo boom >&2; exit 4\" }}\n",
        plan_head(&server.url(), 50, "30s")
    );
    let (out, r) = run(dir.path(), &failing, &[]);
    assert_eq!(code(&out), Some(3), "{}", stderr(&out));
    let r = r.expect("run.json is written for a failed rollout");
    assert_eq!(r["rollout"]["status"], "failed");
    assert_eq!(r["rollout"]["exit_code"], 4);
    assert!(r["rollout"]["output"].as_str().unwrap().contains("boom"));
    assert_eq!(event(&r, "rollout_end", "rollout")["ok"], false);
    // The tail still ran: whether the service recovered is data.
    assert!(r["stats"]["phases"]["tail"]["requests"].as_u64().unwrap() > 0);

    let hanging = format!(
        "{}\n[rollout]\nhead = \"500ms\"\ntail = \"500ms\"\ntimeout = \"1s\"\ntrigger = {{ command = \"sleep 60\" }}\n",
        plan_head(&server.url(), 50, "30s")
    );
    let started = Instant::now();
    let (out, r) = run(dir.path(), &hanging, &[]);
    assert_eq!(code(&out), Some(3), "{}", stderr(&out));
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    let r = r.expect("run.json is written for a timed-out rollout");
    assert_eq!(r["rollout"]["status"], "timed_out");
    assert!(r["rollout"]["detail"].as_str().unwrap().contains("timed out after 1s"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_are_kept_out_of_command_output() {
    let server = common::basic_server().await;
    let dir = tempfile::tempdir().unwrap();
    let secret = "hunter2-rollout-7f3a";
    let plan = format!(
        "{}\n[vars]\ntoken = {{ env = \"LC_TEST_DEPLOY_TOKEN\", secret = true }}\n\n[rollout]\nhead = \"300ms\"\ntail = \"300ms\"\ntrigger = {{ command = \"echo deploying with $LC_TEST_DEPLOY_TOKEN\" }}\n\n[[fault]]\nname = \"leak\"\nat = \"200ms\"\nrun = \"echo fault $LC_TEST_DEPLOY_TOKEN\"\n",
        plan_head(&server.url(), 20, "10s")
    );
    let (out, r) = run(dir.path(), &plan, &[("LC_TEST_DEPLOY_TOKEN", secret)]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    let text = std::fs::read_to_string(dir.path().join("out/run.json")).unwrap();
    assert!(!text.contains(secret), "run.json leaks the secret");
    assert!(!stderr(&out).contains(secret) && !String::from_utf8_lossy(&out.stdout).contains(secret));
    let r = r.unwrap();
    assert!(
        r["rollout"]["output"]
            .as_str()
            .unwrap()
            .contains("deploying with [REDACTED]")
    );
    assert!(
        r["commands"][0]["output"]
            .as_str()
            .unwrap()
            .contains("fault [REDACTED]")
    );
}

/// A server whose `x-app-version` is v1, then both (alternating) from 2 s to
/// 3.5 s, then v2 — a rollout seen only through the header.
async fn versioned_server(t0: Instant) -> common::Server {
    let router = Router::new()
        .route(
            "/ok",
            get(move |State(t0): State<Instant>| async move {
                let t = t0.elapsed().as_secs_f64();
                let n = rand::random::<bool>();
                let v = if t < 2.0 || (t < 3.5 && n) { "v1" } else { "v2" };
                let mut h = HeaderMap::new();
                h.insert("x-app-version", HeaderValue::from_static(v));
                (h, "ok")
            }),
        )
        .with_state(t0);
    common::serve(router).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_version_header_marks_a_rollout_with_no_trigger() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = Instant::now();
    let server = versioned_server(t0).await;
    let plan = format!(
        "{}\n[rollout]\nhead = \"1s\"\ntail = \"1s\"\ntimeout = \"10s\"\nsettle = \"1s\"\nversion_header = \"X-App-Version\"\n",
        plan_head(&server.url(), 100, "20s")
    );
    let (out, r) = run(dir.path(), &plan, &[]);
    let r = r.expect("run.json");
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    // The run starts a few ms after t0 (process start): allow 300 ms.
    let start = f(&event(&r, "rollout_start", "rollout")["at_s"]);
    let end = f(&event(&r, "rollout_end", "rollout")["at_s"]);
    assert!((1.7..2.3).contains(&start), "rollout start {start}");
    assert!((3.2..3.8).contains(&end), "rollout end {end}");
    assert_eq!(r["rollout"]["trigger"], "version_header");
    assert_eq!(r["rollout"]["started_before_head"], false);
    let v = &r["versions"];
    assert_eq!(v["header"], "x-app-version");
    assert!((1.2..1.8).contains(&f(&v["overlap_s"])), "overlap {}", v["overlap_s"]);
    let seen: Vec<&str> = v["seen"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["version"].as_str().unwrap())
        .collect();
    assert_eq!(seen, ["v1", "v2"]);
    let rows = r["timeline"]["total"].as_array().unwrap();
    assert_eq!(
        rows[0]["versions"].as_object().unwrap().keys().collect::<Vec<_>>(),
        ["v1"]
    );
    assert!(
        rows.iter()
            .any(|row| row["versions"].as_object().is_some_and(|m| m.len() == 2))
    );
    let last = &rows[rows.len() - 2];
    assert_eq!(last["versions"].as_object().unwrap().keys().collect::<Vec<_>>(), ["v2"]);
    let responses: u64 = v["seen"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["responses"].as_u64().unwrap())
        .sum();
    assert_eq!(responses, r["stats"]["total"]["ok"].as_u64().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fault_gets_its_own_rto_and_a_probe_reports_its_down_interval() {
    let dir = tempfile::tempdir().unwrap();
    let down = dir.path().join("down");
    let server = switch_server(down.clone()).await;
    // The fault makes the service answer 503 from 1 s to 2.5 s.
    let plan = format!(
        "{}\n[availability]\nwindow = \"1s\"\n\n[[fault]]\nname = \"outage\"\nat = \"1s\"\nrun = \"touch {down}\"\nrestore_at = \"2500ms\"\nrestore = \"rm -f {down}\"\n\n[[probe]]\nname = \"ready\"\nurl = \"{url}/ready\"\ninterval = \"50ms\"\n\n[[probe]]\nname = \"breaker\"\nurl = \"{url}/metrics\"\ninterval = \"100ms\"\nmetric = 'breaker_state{{name=\"redis\"}}'\n\n[thresholds]\n\"rto_seconds{{event:outage}}\" = [\"value<2\"]\n\"probe_down_seconds{{probe:ready}}\" = [\"value<2\"]\n\"downtime_seconds\" = [\"value<2\"]\n",
        plan_head(&server.url(), 200, "4s"),
        down = down.display(),
        url = server.url()
    );
    let (out, r) = run(dir.path(), &plan, &[]);
    let r = r.expect("run.json");
    assert_eq!(code(&out), Some(0), "{}\n{}", stderr(&out), r["thresholds"]);
    let fault = f(&event(&r, "fault", "outage")["at_s"]);
    let restore = f(&event(&r, "restore", "outage")["at_s"]);
    assert!(
        (fault - 1.0).abs() < 0.1 && (restore - 2.5).abs() < 0.1,
        "{fault} {restore}"
    );
    let a = &r["availability"];
    let ev = a["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event"] == "outage")
        .unwrap();
    // The truth is the restore: requests fail from the fault to the restore.
    let rto = f(&ev["rto_s"]);
    assert!(
        (rto - (restore - fault)).abs() < 0.2,
        "rto {rto}, truth {}",
        restore - fault
    );
    assert!(f(&ev["time_to_detect_s"]) < 0.1);
    assert_eq!(ev["recovered"], true);
    let downtime = f(&a["downtime_s"]);
    assert!((downtime - (restore - fault)).abs() < 0.2, "downtime {downtime}");
    assert_eq!(a["outages"].as_array().unwrap().len(), 1);
    // The probe saw the same interval, to within its 50 ms interval.
    let ready = r["probes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "ready")
        .unwrap();
    let iv = ready["intervals"].as_array().unwrap();
    assert_eq!(iv.len(), 1, "{ready}");
    assert!((f(&iv[0]["start_s"]) - fault).abs() < 0.12, "{ready}");
    assert!((f(&iv[0]["end_s"]) - restore).abs() < 0.12, "{ready}");
    assert!((f(&ready["down_s"]) - (restore - fault)).abs() < 0.2);
    let down_ev = f(&event(&r, "probe_down", "ready")["at_s"]);
    assert!((down_ev - fault).abs() < 0.12);
    // The metric probe's readings are in the timeline: 0, then 1, then 0.
    let readings: Vec<f64> = r["timeline"]["total"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|row| row["probes"]["breaker"].as_f64())
        .collect();
    assert!(readings.len() >= 4, "{readings:?}");
    assert_eq!(readings[0], 0.0);
    assert!(readings.contains(&1.0), "{readings:?}");
    assert_eq!(*readings.last().unwrap(), 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_fault_command_exits_3_and_its_rto_is_never_a_pass() {
    let server = common::basic_server().await;
    let dir = tempfile::tempdir().unwrap();
    // The fault command fails at once: nothing was broken, so nothing
    // recovered, and an RTO "measured" after it would be a lie.
    let plan = format!(
        "{}\n[[fault]]\nname = \"kill\"\nat = \"500ms\"\nrun = \"exit 7\"\n\n[[requirement]]\nname = \"RTO\"\ntarget = \"< 10 s\"\ncheck = \"rto_seconds{{event:kill}}: value<10\"\n",
        plan_head(&server.url(), 50, "2s"),
    );
    let (out, r) = run(dir.path(), &plan, &[]);
    let r = r.expect("run.json");
    assert_eq!(code(&out), Some(3), "{}", stderr(&out));
    assert_eq!(event(&r, "fault_end", "kill")["ok"], false);
    let req = &r["requirements"][0];
    assert_eq!(req["ok"], false, "{req}");
    assert!(req["value"].is_null(), "{req}");
    let ev = r["availability"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event"] == "kill")
        .unwrap();
    assert!(ev["not_measured"].as_str().unwrap().contains("exit 7"), "{ev}");
    let reasons = r["verdict"]["reasons"].as_array().unwrap();
    let fault = reasons.iter().find(|x| x["kind"] == "fault").expect("a fault reason");
    assert_eq!(
        (fault["name"].as_str(), fault["exit_code"].as_i64()),
        (Some("kill"), Some(3))
    );
    assert!(fault["detail"].as_str().unwrap().contains("exit 7"), "{fault}");
    assert!(reasons.iter().any(|x| x["kind"] == "requirement" && x["name"] == "RTO"));
    assert_eq!(r["verdict"]["result"], "error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_duration_cutting_the_plan_short_exits_3_with_its_reason() {
    let server = common::basic_server().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("loadcheck.toml");
    std::fs::write(&path, plan_head(&server.url(), 50, "30s")).unwrap();
    let started = Instant::now();
    let out = loadcheck()
        .arg("run")
        .arg(&path)
        .args(["--max-duration", "2s", "-q", "--out"])
        .arg(dir.path().join("out"))
        .output()
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(15), "{:?}", started.elapsed());
    assert_eq!(code(&out), Some(3), "{}", stderr(&out));
    let r: Value = serde_json::from_str(&std::fs::read_to_string(dir.path().join("out/run.json")).unwrap()).unwrap();
    assert_eq!(r["status"], "aborted");
    assert_eq!(r["abort"]["kind"], "max_duration");
    let reasons = r["verdict"]["reasons"].as_array().unwrap();
    assert!(
        reasons
            .iter()
            .any(|x| x["kind"] == "abort" && x["name"] == "max_duration" && x["exit_code"] == 3),
        "{reasons:?}"
    );
    common::assert_rejudged(&dir.path().join("out/run.json"), 3);
    // A cap longer than the plan cuts nothing: the run passes.
    std::fs::write(&path, plan_head(&server.url(), 50, "1s")).unwrap();
    let out = loadcheck()
        .arg("run")
        .arg(&path)
        .args(["--max-duration", "30s", "-q", "--out"])
        .arg(dir.path().join("out2"))
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
}
