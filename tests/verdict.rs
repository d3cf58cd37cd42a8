//! `loadcheck verdict`: a run judged again from its run.json alone. The
//! atoms decide it (editing one changes the value it feeds), another plan's
//! checks can be judged on the same file, and bad input is exit 2.

mod common;

use std::path::Path;
use std::process::Output;

use loadcheck::metrics::Hist;
use serde_json::Value;

fn verdict(args: &[&str], run: &Path) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_loadcheck"))
        .arg("verdict")
        .arg(run)
        .args(args)
        .output()
        .unwrap()
}

fn read(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn write(path: &Path, v: &Value) {
    std::fs::write(path, serde_json::to_string_pretty(v).unwrap()).unwrap();
}

fn plan(url: &str) -> String {
    format!(
        r#"name = "two endpoints"
target = "{url}"
[[endpoint]]
name = "a"
path = "/ok"
[[endpoint]]
name = "b"
path = "/ok"
[[scenario]]
name = "steady"
executor = "constant-arrival-rate"
rate = 100
duration = "2s"
endpoints = {{ a = 1, b = 1 }}
[[scenario]]
name = "browse"
executor = "constant-vus"
vus = 2
duration = "2s"
endpoints = ["b"]
[thresholds]
"http_req_duration{{endpoint:a}}" = ["p(99)<1000"]
"http_req_duration{{endpoint:b}}" = ["p(99)<1000"]
[[requirement]]
name = "a p95"
target = "< 1 s"
check = "http_req_duration{{endpoint:a}}: p(95)<1000"
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_atom_changes_the_value_it_feeds_and_only_that() {
    let server = common::basic_server().await;
    let (code, _, dir) = common::run(&plan(&server.url())).await;
    assert_eq!(code.code(), 0);
    let path = dir.join("run.json");
    let mut r = read(&path);
    assert_eq!(r["id"], "two-endpoints", "the id is a slug of the name");
    let before_b = r["thresholds"][1]["value"].clone();
    // Every request of endpoint a now took 2 s, says the file.
    let atom = r["stats"]["atoms"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|a| a["endpoint"] == "a")
        .expect("an atom for a");
    let n = atom["requests"].as_u64().unwrap();
    let mut h = Hist::default();
    for _ in 0..n {
        h.record(2_000_000);
    }
    atom["histograms"]["http_req_duration"] = Value::String(h.to_base64());
    write(&path, &r);
    let out = verdict(&[], &dir);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("verdict: FAIL (exit 1)"), "{stdout}");
    let judged = read(&path);
    let a = judged["thresholds"][0]["value"].as_f64().unwrap();
    assert!((a - 2000.0).abs() < 2.0, "p(99) of a is 2 s now: {a}");
    assert_eq!(judged["thresholds"][0]["ok"], false);
    assert_eq!(judged["thresholds"][1]["value"], before_b, "b did not change");
    assert_eq!(judged["requirements"][0]["ok"], false);
    assert_eq!(judged["verdict"]["exit_code"], 1);
    let names: Vec<&str> = judged["verdict"]["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["http_req_duration{endpoint:a}: p(99)<1000", "a p95"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_plans_checks_are_judged_on_the_file_which_is_left_alone() {
    let server = common::basic_server().await;
    let (_, result, dir) = common::run(&plan(&server.url())).await;
    let path = dir.join("run.json");
    let before = std::fs::read_to_string(&path).unwrap();
    let other = dir.join("other.toml");
    std::fs::write(
        &other,
        "# only the checks are read\n[thresholds]\n\"http_reqs{scenario:browse,endpoint:a}\" = [\"count==0\"]\n\"http_reqs{scenario:steady,endpoint:a}\" = [\"count>0\"]\n\"send_lag{scenario:steady}\" = [\"p(50)<1000\"]\n\"send_lag{scenario:browse}\" = [\"p(50)<1000\"]\n",
    )
    .unwrap();
    let out = verdict(&["--plan", other.to_str().unwrap()], &dir);
    let stdout = String::from_utf8_lossy(&out.stdout);
    // browse is closed-model: it has no send lag, which is not a pass.
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("✓ http_reqs{scenario:browse,endpoint:a} count==0"),
        "{stdout}"
    );
    let steady_a = result.stats.endpoints["a"].requests;
    assert!(
        stdout.contains(&format!(
            "http_reqs{{scenario:steady,endpoint:a}} count>0  (count {} requests)",
            loadcheck::plan::units::count(steady_a)
        )),
        "every request to a came from steady ({steady_a}): {stdout}"
    );
    assert!(stdout.contains("✓ send_lag{scenario:steady} p(50)<1000"), "{stdout}");
    assert!(
        stdout.contains("✗ send_lag{scenario:browse} p(50)<1000  (no data)"),
        "{stdout}"
    );
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        before,
        "--plan leaves the file alone"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_exit_2_naming_the_file_and_a_killed_run_is_exit_3() {
    let server = common::basic_server().await;
    let (_, _, dir) = common::run(&plan(&server.url())).await;
    // A plan naming an endpoint the run does not have: file, line, field.
    let other = dir.join("other.toml");
    std::fs::write(&other, "[thresholds]\n\"http_reqs{endpoint:c}\" = [\"count>0\"]\n").unwrap();
    let out = verdict(&["--plan", other.to_str().unwrap()], &dir);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("other.toml:2") && err.contains("no endpoint \"c\""),
        "{err}"
    );
    // An atom naming an endpoint the recorded plan does not have.
    let path = dir.join("run.json");
    let good = read(&path);
    let mut r = good.clone();
    r["stats"]["atoms"][0]["endpoint"] = Value::String("nope".into());
    write(&path, &r);
    let out = verdict(&[], &path);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("stats.atoms[0]") && err.contains("nope"), "{err}");
    // A histogram that is not one.
    let mut r = good.clone();
    r["stats"]["atoms"][0]["histograms"]["http_req_duration"] = Value::String("not base64!".into());
    write(&path, &r);
    let out = verdict(&[], &path);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("http_req_duration") && err.contains("base64"), "{err}");
    // Not a run at all.
    std::fs::write(&path, "{\"schema\": 1}").unwrap();
    let out = verdict(&[], &path);
    assert_eq!(out.status.code(), Some(2));
    // A run whose process was killed: its file still says running.
    let mut r = good;
    r["status"] = Value::String("running".into());
    write(&path, &r);
    let out = verdict(&[], &dir);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("killed"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_metric_the_file_does_not_hold_is_not_in_this_file_never_0_or_a_pass() {
    let server = common::basic_server().await;
    let (_, _, dir) = common::run(&plan(&server.url())).await;
    let path = dir.join("run.json");
    let mut r = read(&path);
    // A file with only the summaries (as a summary-only import will be).
    r["stats"].as_object_mut().unwrap().remove("atoms");
    r["generator"].as_object_mut().unwrap().remove("scenarios");
    write(&path, &r);
    let other = dir.join("other.toml");
    std::fs::write(
        &other,
        "[thresholds]\n\"http_req_failed\" = [\"rate<=1\"]\n\"send_lag{scenario:steady}\" = [\"p(99)<100000\"]\n",
    )
    .unwrap();
    let out = verdict(&["--plan", other.to_str().unwrap()], &dir);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("✗ http_req_failed rate<=1  (not in this file)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("✗ send_lag{scenario:steady} p(99)<100000  (not in this file)"),
        "{stdout}"
    );
    assert!(!stdout.contains("measured 0"), "{stdout}");
    // Its own checks, written back: null values, flagged, not a pass.
    let out = verdict(&[], &dir);
    assert_eq!(out.status.code(), Some(1));
    let judged = read(&path);
    for t in judged["thresholds"].as_array().unwrap() {
        assert_eq!(
            (t["ok"].as_bool(), t["not_in_file"].as_bool()),
            (Some(false), Some(true)),
            "{t}"
        );
        assert!(t["value"].is_null(), "{t}");
    }
    let reason = &judged["verdict"]["reasons"][0];
    assert!(
        reason["detail"].as_str().unwrap().starts_with("not in this file"),
        "{reason}"
    );
}

/// A rollout plan with two scenarios over three endpoints, and no checks of
/// its own.
fn rollout_plan(url: &str) -> String {
    format!(
        r#"name = "phases"
target = "{url}"
timeout = "5s"
[[endpoint]]
name = "a"
path = "/ok"
[[endpoint]]
name = "b"
path = "/delay/3"
[[endpoint]]
name = "c"
path = "/delay/12"
[[scenario]]
name = "steady"
executor = "constant-arrival-rate"
rate = 150
duration = "30s"
endpoints = {{ a = 2, b = 1, c = 1 }}
[[scenario]]
name = "browse"
executor = "constant-vus"
vus = 3
duration = "30s"
endpoints = {{ b = 1, c = 1 }}
[rollout]
head = "1s"
tail = "1s"
timeout = "10s"
trigger = {{ command = "sleep 1" }}
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_selectors_judged_from_the_file_are_the_raw_samples_nearest_ranks() {
    let server = common::basic_server().await;
    let dir = tempfile::tempdir().unwrap().keep();
    let args = loadcheck::cli::EngineArgs {
        raw_samples: Some(dir.join("raw.ndjson")),
        ..common::engine_args(&dir)
    };
    let code = loadcheck::run_plan(common::plan(&rollout_plan(&server.url())), &args).await;
    assert_eq!(code.code(), 0);
    // The truth: every sample by (metric, scenario, endpoint, phase), and
    // each scenario's send lags.
    let mut truth: std::collections::BTreeMap<(String, String, String, String), Vec<u64>> = Default::default();
    let raw = std::fs::read_to_string(dir.join("raw.ndjson")).unwrap();
    for line in raw.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
        match v["kind"].as_str() {
            Some("request") if v.get("status").is_some() => {
                for (metric, field) in [
                    ("http_req_duration", "duration_us"),
                    ("http_req_service_duration", "service_us"),
                ] {
                    truth
                        .entry((metric.into(), s("scenario"), s("endpoint"), s("phase")))
                        .or_default()
                        .push(v[field].as_u64().unwrap().max(1));
                }
            }
            Some("send") => truth
                .entry(("send_lag".into(), s("scenario"), String::new(), String::new()))
                .or_default()
                .push(v["lag_us"].as_u64().unwrap().max(1)),
            _ => {}
        }
    }
    // Thresholds on selectors the run's plan never named, loose enough to
    // pass: the values are what is checked.
    let mut checks = String::from("[thresholds]\n");
    let mut expected = Vec::new();
    for ((metric, scenario, endpoint, phase), samples) in &mut truth {
        let selector = if metric == "send_lag" {
            format!("send_lag{{scenario:{scenario}}}")
        } else {
            format!("{metric}{{scenario:{scenario},endpoint:{endpoint},phase:{phase}}}")
        };
        checks.push_str(&format!(
            "\"{selector}\" = [\"p(50)<600000\", \"p(90)<600000\", \"p(99)<600000\"]\n"
        ));
        for p in [50.0, 90.0, 99.0] {
            expected.push((format!("{selector} p({p})<600000"), nearest(samples, p), samples.len()));
        }
    }
    assert!(
        expected.len() >= 3 * (2 * 5 * 3 + 1),
        "every scenario × endpoint × phase: {}",
        expected.len()
    );
    let other = dir.join("selectors.toml");
    std::fs::write(&other, checks).unwrap();
    let out = verdict(&["--plan", other.to_str().unwrap()], &dir);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let hist = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
    for (line, want, n) in expected {
        // `✓ http_req_duration{…} p(95)<100000  (p(95) 5.12 ms)`: the
        // value as the summary writes it, to its last digit.
        let measured = stdout
            .lines()
            .find_map(|l| l.trim().strip_prefix(&format!("✓ {line}  (")))
            .unwrap_or_else(|| panic!("no line for {line} in\n{stdout}"));
        let number = measured
            .trim_end_matches(" ms)")
            .rsplit(' ')
            .next()
            .unwrap()
            .replace(',', "");
        let ms: f64 = number.parse().unwrap_or_else(|e| panic!("{measured}: {e}"));
        let digit_us = 10f64.powi(3 - number.split('.').nth(1).map_or(0, str::len) as i32);
        let got = (ms * 1000.0).round() as u64;
        // The summary rounds the file's value to its last digit; the file's
        // value is the nearest rank to within HDR's bucket.
        let bucket = (hist.highest_equivalent(want) - hist.lowest_equivalent(want)) as f64;
        let shown = (want as f64 - ms * 1000.0).abs() <= digit_us / 2.0 + bucket + 0.5;
        assert!(
            hist.equivalent(got, want) || shown,
            "{line}: the file says {got} µs ({measured}), the nearest rank of its {n} samples is {want} µs"
        );
    }
}

fn nearest(samples: &mut [u64], p: f64) -> u64 {
    samples.sort_unstable();
    let rank = ((p / 100.0) * samples.len() as f64).ceil().max(1.0) as usize;
    samples[rank - 1]
}
