//! The JSON contracts and the metric docs, checked against the real thing:
//! a `run.json` written by the binary against `schema/run.schema.json`, both
//! finished and still `running` (and broken copies of each against the same
//! schema, so the check can fail), every
//! `examples/*.toml` against `schema/plan.schema.json` and `loadcheck
//! validate`, and `docs/metrics.md` against the metric registry.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use assert_cmd::Command;
use common::{KillOnDrop, RUN_START_KEYS};
use jsonschema::Validator;
use loadcheck::demo::{DemoConfig, serve};
use loadcheck::plan::registry::METRICS;
use serde_json::{Value, json};

/// The binary under test.
const BIN: &str = env!("CARGO_BIN_EXE_loadcheck");
/// Upper bound on the 2-second run, graceful stop and start-up included.
const RUN_LIMIT: Duration = Duration::from_secs(60);
/// Upper bound on one `loadcheck validate`.
const VALIDATE_LIMIT: Duration = Duration::from_secs(20);

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// Compiles `schema/<name>`, which must itself be a valid draft 2020-12 schema.
fn validator(name: &str) -> Validator {
    let schema = read_json(&root().join("schema").join(name));
    assert_eq!(
        schema["$schema"], "https://json-schema.org/draft/2020-12/schema",
        "{name} must declare draft 2020-12"
    );
    jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("schema/{name} is not a valid JSON Schema: {e}"))
}

/// Every validation error, with where in the instance it is.
fn errors(v: &Validator, instance: &Value) -> Vec<String> {
    v.iter_errors(instance)
        .map(|e| format!("at `{}`: {e}", e.instance_path()))
        .collect()
}

fn assert_valid(v: &Validator, instance: &Value, what: &str) {
    let errs = errors(v, instance);
    assert!(
        errs.is_empty(),
        "{what} does not match its schema ({} errors):\n  {}",
        errs.len(),
        errs.join("\n  ")
    );
}

/// A plan against the demo service: two endpoints it serves, one it answers
/// with 404 (counted as `status_4xx`, since the plan expects 200), a
/// threshold and a requirement that hold, and one threshold on a metric with
/// no samples (nothing fails without a response), whose value is `null`.
const PLAN: &str = r#"
name = "schema-check"
target = "http://127.0.0.1:9"   # replaced by --target
timeout = "2s"

[[scenario]]
name = "steady"
executor = "constant-arrival-rate"
rate = 50
duration = "2s"
graceful_stop = "2s"
endpoints = { search = 2, thumbnail = 1, missing = 1 }

[[endpoint]]
name = "search"
path = "/v1/images/?q=cat"

[[endpoint]]
name = "thumbnail"
path = "/v1/images/1/thumb/"

[[endpoint]]
name = "missing"
path = "/status-that-404s"
expect = [200]

[thresholds]
"http_req_duration{endpoint:search}" = ["p(95)<5000"]
"http_errors{class:status_4xx}" = ["count>0"]
"http_req_failure_duration" = ["max<1000"]

[[requirement]]
name = "Thumbnail p99"
target = "< 5 s"
check = "http_req_duration{endpoint:thumbnail}: p(99)<5000"
note = "loopback, in-process demo service"
"#;

/// The demo service, in-process on a loopback port, for as long as it lives.
struct Demo {
    rt: tokio::runtime::Runtime,
    addr: std::net::SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Demo {
    fn start() -> Demo {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind the demo service");
        let addr = listener.local_addr().expect("local addr");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let cfg = DemoConfig {
            seed: Some(1),
            ..DemoConfig::default()
        };
        let server = rt.spawn(serve(listener, cfg, async move {
            let _ = stopped.await;
        }));
        Demo {
            rt,
            addr,
            stop: Some(stop),
            server: Some(server),
        }
    }

    /// Stops the service and checks that it ran and stopped in time.
    fn stop(mut self) {
        let _ = self.stop.take().expect("running").send(());
        let server = self.server.take().expect("running");
        let joined = self
            .rt
            .block_on(async { tokio::time::timeout(Duration::from_secs(10), server).await });
        joined
            .expect("the demo service stops in time")
            .expect("join the demo service")
            .expect("the demo service ran");
    }
}

/// Writes `plan` to a new folder and returns the folder, the plan's path
/// and the `--out` folder.
fn plan_dir(plan: &str) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("plan.toml");
    std::fs::write(&path, plan).expect("write the plan");
    let out = dir.path().join("out");
    (dir, path, out)
}

/// Starts the demo service in-process, runs the binary against it and
/// returns the `run.json` it wrote.
fn run_against_demo() -> Value {
    let demo = Demo::start();
    let (_dir, plan, out) = plan_dir(PLAN);
    let output = Command::new(BIN)
        .arg("run")
        .arg(&plan)
        .arg("--out")
        .arg(&out)
        .args(["--quiet", "--seed", "1", "--threads", "2", "--max-duration", "30s"])
        .arg("--target")
        .arg(format!("http://{}", demo.addr))
        .env_remove("LOADCHECK_TARGET")
        .timeout(RUN_LIMIT)
        .output()
        .expect("run the binary");
    demo.stop();

    // The null-valued threshold fails, so the verdict is 1.
    assert_eq!(
        output.status.code(),
        Some(1),
        "loadcheck run exited {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    read_json(&out.join("run.json"))
}

/// A broken copy of a run.json, and what is broken in it.
type Break = (&'static str, fn(&mut Value));

fn obj(v: &mut Value) -> &mut serde_json::Map<String, Value> {
    v.as_object_mut().expect("an object")
}

/// Broken copies of a finished run: each must be rejected.
const FINISHED_BREAKS: &[Break] = &[
    ("another schema version", |r| r["schema"] = json!("loadcheck.run/v2")),
    ("an unknown top-level key", |r| r["extra"] = json!(1)),
    ("no generator", |r| {
        obj(r).remove("generator");
    }),
    ("an unknown status", |r| r["status"] = json!("finished")),
    ("the old abort_reason", |r| {
        r["abort_reason"] = json!("SIGTERM received")
    }),
    ("a null abort", |r| r["abort"] = Value::Null),
    ("an abort on a completed run", |r| {
        r["abort"] = json!({"kind": "signal", "detail": "SIGTERM"})
    }),
    ("status aborted without an abort", |r| r["status"] = json!("aborted")),
    ("an abort with an unknown kind", |r| {
        r["status"] = json!("aborted");
        r["abort"] = json!({"kind": "timeout"});
    }),
    ("an abort with an unknown key", |r| {
        r["status"] = json!("aborted");
        r["abort"] = json!({"kind": "signal", "signal": "SIGTERM"});
    }),
    ("no verdict", |r| {
        obj(r).remove("verdict");
    }),
    ("a verdict with exit code 2", |r| r["verdict"]["exit_code"] = json!(2)),
    ("a failed verdict with exit code 0", |r| {
        r["verdict"]["exit_code"] = json!(0)
    }),
    ("a passing verdict with reasons", |r| {
        r["verdict"]["result"] = json!("pass");
        r["verdict"]["exit_code"] = json!(0);
    }),
    ("a failed verdict with an exit-3 reason (3 beats 1)", |r| {
        let reasons = r["verdict"]["reasons"].as_array_mut().unwrap();
        reasons.push(json!({"kind": "fault", "name": "kill", "detail": "exited 7", "exit_code": 3}));
    }),
    ("an error verdict without an exit-3 reason", |r| {
        r["verdict"]["result"] = json!("error");
        r["verdict"]["exit_code"] = json!(3);
    }),
    ("a reason with an unknown kind", |r| {
        r["verdict"]["reasons"][0]["kind"] = json!("slowdown")
    }),
    ("a threshold reason with exit code 3", |r| {
        r["verdict"]["reasons"][0]["exit_code"] = json!(3)
    }),
    ("a reason with a null value", |r| {
        r["verdict"]["reasons"][0]["value"] = Value::Null
    }),
    ("no id", |r| {
        obj(r).remove("id");
    }),
    ("an id with a space", |r| r["id"] = json!("schema check")),
    ("an id of 65 characters", |r| r["id"] = json!("a".repeat(65))),
    ("a plan without an id", |r| {
        obj(&mut r["plan"]).remove("id");
    }),
    ("no thresholds", |r| {
        obj(r).remove("thresholds");
    }),
    ("stats without atoms", |r| {
        obj(&mut r["stats"]).remove("atoms");
    }),
    ("an atom without histograms", |r| {
        obj(&mut r["stats"]["atoms"][0]).remove("histograms");
    }),
    ("an atom with a zero error count", |r| {
        r["stats"]["atoms"][0]["errors"]["connect"] = json!(0)
    }),
    ("an atom with no requests", |r| {
        r["stats"]["atoms"][0]["requests"] = json!(0)
    }),
    ("an atom with an unknown phase", |r| {
        r["stats"]["atoms"][0]["phase"] = json!("middle")
    }),
    ("an atom whose clamped counts are all zero", |r| {
        r["stats"]["atoms"][0]["clamped"] = json!({
            "http_req_duration": 0, "http_req_service_duration": 0, "http_req_failure_duration": 0
        })
    }),
    ("a scenario's send lag that is not a histogram", |r| {
        let scenarios = obj(&mut r["generator"]["scenarios"]);
        let first = scenarios.values_mut().next().expect("a scenario");
        first["send_lag"] = json!(12.5);
    }),
    ("a scenario's pacing without late_sends", |r| {
        let scenarios = obj(&mut r["generator"]["scenarios"]);
        let first = scenarios.values_mut().next().expect("a scenario");
        obj(first).remove("late_sends");
    }),
    ("the old metadata.cpus", |r| r["metadata"]["cpus"] = json!(2)),
    ("the old metadata.github_sha", |r| {
        r["metadata"]["github_sha"] = json!("abc")
    }),
    ("metadata without a testbed", |r| {
        obj(&mut r["metadata"]).remove("testbed");
    }),
    ("a testbed without cpus", |r| {
        obj(&mut r["metadata"]["testbed"]).remove("cpus");
    }),
    ("git without a sha", |r| {
        r["metadata"]["git"] = json!({"branch": "main"})
    }),
    ("a pull request number that is a string", |r| {
        r["metadata"]["github"] = json!({"pr_number": "12"})
    }),
    ("a running file with stats but no verdict", |r| {
        r["status"] = json!("running");
        obj(r).remove("verdict");
    }),
    ("a stats error class missing", |r| {
        obj(&mut r["stats"]["total"]["errors"]).remove("tls");
    }),
    ("an unknown error class in a timeline row", |r| {
        r["timeline"]["total"][0]["errors"]["bogus"] = json!(1)
    }),
    ("a zero count in a timeline row", |r| {
        r["timeline"]["total"][0]["errors"]["connect"] = json!(0)
    }),
    ("a histogram that is not base64", |r| {
        r["stats"]["total"]["histograms"]["http_req_duration"] = json!("not base64!")
    }),
    ("a threshold value that is a string", |r| {
        r["thresholds"][0]["value"] = json!("12.5")
    }),
    ("a latency without p99_9", |r| {
        obj(&mut r["stats"]["total"]["latency_ms"]).remove("p99_9");
    }),
    ("a plan without endpoints", |r| {
        obj(&mut r["plan"]).remove("endpoints");
    }),
];

/// Broken copies of a `running` file: each must be rejected.
const RUNNING_BREAKS: &[Break] = &[
    ("a running file with stats", |r| r["stats"] = json!({})),
    ("a running file with a verdict", |r| {
        r["verdict"] = json!({"result": "pass", "exit_code": 0, "reasons": []})
    }),
    ("a running file with an abort", |r| {
        r["abort"] = json!({"kind": "signal"})
    }),
    ("a running file without metadata", |r| {
        obj(r).remove("metadata");
    }),
    ("a running file without an id", |r| {
        obj(r).remove("id");
    }),
    ("a running file without a start time", |r| {
        obj(r).remove("started_at_ms");
    }),
];

fn assert_breaks_rejected(v: &Validator, run: &Value, breaks: &[Break]) {
    let accepted: Vec<&str> = breaks
        .iter()
        .filter_map(|(what, break_it)| {
            let mut broken = run.clone();
            break_it(&mut broken);
            v.is_valid(&broken).then_some(*what)
        })
        .collect();
    assert!(
        accepted.is_empty(),
        "the run schema accepts run.json with:\n  {}",
        accepted.join("\n  ")
    );
}

#[test]
fn run_json_matches_its_schema() {
    let v = validator("run.schema.json");
    let run = run_against_demo();
    assert_valid(&v, &run, "run.json");

    // The run exercised the parts of the schema that are easy to leave untested.
    assert_eq!(run["status"], "completed");
    assert_eq!(run["id"], "schema-check", "the id is a slug of the name");
    assert_eq!(run["plan"]["id"], run["id"]);
    assert!(run.get("abort").is_none(), "a completed run has no abort");
    assert!(
        run["stats"]["total"]["errors"]["status_4xx"].as_u64() > Some(0),
        "no 404s counted"
    );
    assert!(
        run["timeline"]["total"]
            .as_array()
            .expect("timeline rows")
            .iter()
            .any(|row| row["errors"].get("status_4xx").is_some()),
        "no timeline row lists status_4xx"
    );
    let no_data = run["thresholds"]
        .as_array()
        .expect("thresholds")
        .iter()
        .find(|t| t["metric"] == "http_req_failure_duration")
        .expect("the failure-duration threshold");
    assert_eq!(no_data["value"], Value::Null);
    assert_eq!(no_data["ok"], false);
    assert_eq!(run["requirements"][0]["note"], "loopback, in-process demo service");
    let verdict = &run["verdict"];
    assert_eq!(
        (verdict["result"].as_str(), verdict["exit_code"].as_i64()),
        (Some("fail"), Some(1))
    );
    assert_eq!(verdict["reasons"][0]["kind"], "threshold", "{verdict}");
    assert!(
        verdict["reasons"][0].get("value").is_none(),
        "an unmeasured value is left out: {verdict}"
    );
    let atoms = run["stats"]["atoms"].as_array().expect("atoms");
    assert_eq!(atoms.len(), 3, "one atom per endpoint of the one scenario: {atoms:?}");
    assert!(
        atoms.iter().any(|a| a["errors"].get("status_4xx").is_some()),
        "no atom lists status_4xx"
    );
    assert!(run["generator"]["scenarios"]["steady"]["send_lag"].is_string());
    assert!(run["metadata"]["testbed"]["cpus"].as_u64() >= Some(1));

    // Broken copies must be rejected: the schema is strict enough to fail.
    assert_breaks_rejected(&v, &run, FINISHED_BREAKS);

    // The same run, cut down to what is written at its start, is a valid
    // `running` file, and its own broken copies are rejected too.
    let mut start = run.clone();
    obj(&mut start).retain(|k, _| RUN_START_KEYS.contains(&k.as_str()));
    start["status"] = json!("running");
    assert_valid(&v, &start, "run.json cut down to a running file");
    assert_breaks_rejected(&v, &start, RUNNING_BREAKS);
}

/// A plan that would run for a minute: the test kills it long before.
const LONG_PLAN: &str = r#"
name = "Schema check, still running"
target = "http://127.0.0.1:9"   # replaced by --target
timeout = "2s"

[[scenario]]
name = "slow"
executor = "constant-arrival-rate"
rate = 5
duration = "60s"
endpoints = { search = 1 }

[[endpoint]]
name = "search"
path = "/v1/images/?q=cat"

[thresholds]
"http_req_duration" = ["p(95)<5000"]
"#;

/// Upper bound on waiting for the `running` file.
const RUNNING_LIMIT: Duration = Duration::from_secs(30);

/// A run's `run.json` while it goes says `running`, holds only what is
/// known at the start, matches the schema, and is what a killed run leaves
/// behind; `loadcheck verdict` on it exits 3 and writes it back `killed`,
/// true to the schema too.
#[test]
fn a_running_run_json_matches_its_schema() {
    let v = validator("run.schema.json");
    let demo = Demo::start();
    let (_dir, plan, out) = plan_dir(LONG_PLAN);
    let child = std::process::Command::new(BIN)
        .arg("run")
        .arg(&plan)
        .arg("--out")
        .arg(&out)
        .args(["--quiet", "--seed", "1", "--threads", "1"])
        .arg("--target")
        .arg(format!("http://{}", demo.addr))
        .env_remove("LOADCHECK_TARGET")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start loadcheck run");
    let mut child = KillOnDrop(child);
    let path = out.join("run.json");
    let deadline = std::time::Instant::now() + RUNNING_LIMIT;
    let running = loop {
        // Written atomically: a file that is there is whole.
        if let Ok(text) = std::fs::read_to_string(&path) {
            let doc: Value = serde_json::from_str(&text).expect("run.json is JSON");
            assert_eq!(doc["status"], "running", "{doc}");
            break doc;
        }
        if let Some(status) = child.0.try_wait().expect("poll the run") {
            let mut stderr = String::new();
            if let Some(mut pipe) = child.0.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
            }
            panic!("loadcheck run ended ({status}) before writing run.json:\n{stderr}");
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no run.json within {RUNNING_LIMIT:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    // Killed: what it leaves behind is the running file.
    child.0.kill().expect("kill the run");
    child.0.wait().expect("reap the run");
    drop(child);
    let left = read_json(&path);
    demo.stop();

    assert_valid(&v, &running, "a running run.json");
    assert_eq!(left, running, "a killed run leaves its running file as it was");
    let mut keys: Vec<&str> = running.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    let mut want = RUN_START_KEYS.to_vec();
    want.sort_unstable();
    assert_eq!(keys, want, "a running file holds the start's fields, no more");
    assert_eq!(running["id"], "schema-check-still-running");
    assert_eq!(running["plan"]["id"], running["id"]);
    assert_breaks_rejected(&v, &running, RUNNING_BREAKS);

    let judged = Command::new(BIN)
        .arg("verdict")
        .arg(&out)
        .timeout(VALIDATE_LIMIT)
        .output()
        .expect("run loadcheck verdict");
    assert_eq!(
        judged.status.code(),
        Some(3),
        "a killed run is an error: {}",
        String::from_utf8_lossy(&judged.stderr)
    );
    // Read back as a killed run: the file now says so, holds to the
    // schema, and keeps every field the running file had.
    let killed = read_json(&path);
    assert_eq!(killed["status"], "killed", "{killed}");
    assert_valid(&v, &killed, "a killed run read back");
    // No pacing is in the files it was read back from: no placeholder zeros.
    assert!(killed.get("generator").is_none(), "{killed}");
    let mut with_zeros = killed.clone();
    with_zeros["generator"] = json!({"scheduled_sends": 0, "dropped_sends": 0, "late_sends": 0, "late_after_ms": 10.0});
    assert!(
        !errors(&v, &with_zeros).is_empty(),
        "a killed run with generator zeros is accepted"
    );
    for key in RUN_START_KEYS.iter().filter(|k| **k != "status") {
        assert_eq!(killed[key], running[key], "{key} kept from the running file");
    }
}

/// The environment variables a plan reads secrets from (`env = "…"`,
/// `secret_env = "…"`), anywhere in it.
fn secret_envs(doc: &Value, out: &mut Vec<String>) {
    match doc {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("env" | "secret_env", Value::String(name)) => out.push(name.clone()),
                    _ => secret_envs(value, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| secret_envs(item, out)),
        _ => {}
    }
}

fn example_plans() -> Vec<PathBuf> {
    let dir = root().join("examples");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no examples/*.toml");
    files
}

#[test]
fn examples_match_the_plan_schema_and_validate() {
    let v = validator("plan.schema.json");
    let mut failures = Vec::new();
    for file in example_plans() {
        let name = file.strip_prefix(root()).unwrap_or(&file).display().to_string();
        let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("reading {name}: {e}"));
        let doc: toml::Value = toml::from_str(&text).unwrap_or_else(|e| panic!("{name} is not TOML: {e}"));
        let doc = serde_json::to_value(doc).expect("TOML as JSON");
        failures.extend(
            errors(&v, &doc)
                .into_iter()
                .map(|e| format!("{name}: plan schema: {e}")),
        );

        let mut envs = Vec::new();
        secret_envs(&doc, &mut envs);
        let mut cmd = Command::new(BIN);
        cmd.arg("validate")
            .arg(&file)
            .current_dir(root())
            .env_remove("LOADCHECK_TARGET")
            .timeout(VALIDATE_LIMIT);
        for env in envs {
            // Valid for every scheme, Standard Webhooks' `whsec_` + base64 too.
            cmd.env(env, "whsec_cGxhY2Vob2xkZXI=");
        }
        let output = cmd.output().expect("run loadcheck validate");
        if !output.status.success() {
            failures.push(format!(
                "{name}: `loadcheck validate` exited {:?}: {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
    }
    assert!(failures.is_empty(), "examples:\n  {}", failures.join("\n  "));

    // And the plan schema is strict enough to fail.
    let broken = json!({ "name": "x", "no_such_section": {} });
    assert!(!v.is_valid(&broken), "the plan schema accepts an unknown top-level key");
}

/// `docs/metrics.md` split into `(heading text, section body)` for `###`
/// headings, backticks removed from the heading.
fn metric_sections(doc: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in doc.lines() {
        if let Some(heading) = line.strip_prefix("### ") {
            out.push((heading.replace('`', "").trim().to_string(), String::new()));
        } else if line.starts_with('#') {
            // A higher-level heading ends the metric's section.
            out.push((String::new(), String::new()));
        } else if let Some((_, body)) = out.last_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    out.retain(|(h, _)| !h.is_empty());
    out
}

/// The `Kind: …` line `docs/metrics.md` must have under a metric's heading.
fn kind_line(m: &loadcheck::plan::registry::MetricDef) -> String {
    let kind = serde_json::to_value(m.kind).expect("kind as JSON");
    let kind = kind.as_str().expect("kind is a string");
    let unit = if m.unit.is_empty() {
        "none".to_string()
    } else {
        format!("`{}`", m.unit)
    };
    let tags: Vec<String> = m.tags.iter().map(|t| format!("`{}`", t.name())).collect();
    let tags = if tags.is_empty() {
        "none".to_string()
    } else {
        tags.join(", ")
    };
    format!("Kind: **{kind}** · Unit: {unit} · Tags: {tags}")
}

#[test]
fn metrics_doc_covers_the_registry() {
    let path = root().join("docs/metrics.md");
    let doc = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let sections = metric_sections(&doc);
    let mut problems = Vec::new();
    for m in METRICS {
        match sections.iter().find(|(h, _)| h == m.name) {
            None => problems.push(format!("no `### {}` heading", m.name)),
            Some((_, body)) => {
                let want = kind_line(m);
                if !body.lines().any(|l| l.trim() == want) {
                    problems.push(format!("`### {}` lacks the line: {want}", m.name));
                }
            }
        }
    }
    // Every metric-like heading names a metric loadcheck measures.
    let is_metric_name = |h: &str| !h.is_empty() && h.chars().all(|c| c.is_ascii_lowercase() || c == '_');
    for (heading, _) in &sections {
        if is_metric_name(heading) && !METRICS.iter().any(|m| m.name == heading) {
            problems.push(format!("`### {heading}` is not in the metric registry"));
        }
    }
    assert!(problems.is_empty(), "docs/metrics.md:\n  {}", problems.join("\n  "));
}

/// `loadcheck demo` has a rollout, a verifying sink and delivery
/// correlation: its run.json covers the `delivery` part of the schema.
#[test]
fn the_demo_run_json_with_delivery_matches_its_schema() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = Command::new(BIN)
        .args(["demo", "--quiet", "--out"])
        .arg(dir.path())
        .env_remove("LOADCHECK_TARGET")
        .timeout(RUN_LIMIT)
        .output()
        .expect("run the demo");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let run = read_json(&dir.path().join("run.json"));
    assert_valid(&validator("run.schema.json"), &run, "the demo's run.json");
    let c = &run["delivery"]["correlation"];
    assert!(c["submitted"].as_u64() > Some(100), "{c}");
    assert_eq!(c["lost"], 0, "{c}");
    assert_eq!(
        run["delivery"]["limits"],
        json!({"ids_over_cap": 0, "connections_refused": 0, "header_timeouts": 0})
    );
    // And a broken delivery section is rejected.
    let mut broken = run.clone();
    broken["delivery"]["limits"]["ids_over_cap"] = json!("many");
    assert!(!errors(&validator("run.schema.json"), &broken).is_empty());
    let mut broken = run.clone();
    broken["delivery"]["correlation"]["lost"] = json!(-1);
    assert!(!errors(&validator("run.schema.json"), &broken).is_empty());
    let mut broken = run.clone();
    broken["delivery"]["signatures"]
        .as_object_mut()
        .unwrap()
        .remove("valid");
    assert!(!errors(&validator("run.schema.json"), &broken).is_empty());
    // The rollout's atoms carry their phase.
    let atoms = run["stats"]["atoms"].as_array().expect("atoms");
    assert!(atoms.iter().all(|a| a["phase"].is_string()), "{atoms:?}");
    // An event's RTO is either measured or says why not, never both.
    let mut broken = run.clone();
    broken["availability"]["events"][0]["not_measured"] = json!(1);
    assert!(!errors(&validator("run.schema.json"), &broken).is_empty());
    let mut broken = run;
    broken["availability"]["events"][0]["not_measured"] = json!("the fault command failed");
    broken["availability"]["events"][0]["rto_s"] = json!(1.5);
    assert!(!errors(&validator("run.schema.json"), &broken).is_empty());
}
