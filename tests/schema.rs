//! The JSON contracts and the metric docs, checked against the real thing:
//! a `run.json` written by the binary against `schema/run.schema.json` (and
//! broken copies of it against the same schema, so the check can fail), every
//! `examples/*.toml` against `schema/plan.schema.json` and `loadcheck
//! validate`, and `docs/metrics.md` against the metric registry.

use std::path::{Path, PathBuf};
use std::time::Duration;

use assert_cmd::Command;
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

/// Starts the demo service in-process, runs the binary against it and
/// returns the `run.json` it wrote.
fn run_against_demo() -> Value {
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

    let dir = tempfile::tempdir().expect("tempdir");
    let plan = dir.path().join("plan.toml");
    std::fs::write(&plan, PLAN).expect("write the plan");
    let out = dir.path().join("out");
    let output = Command::new(BIN)
        .arg("run")
        .arg(&plan)
        .arg("--out")
        .arg(&out)
        .args(["--quiet", "--seed", "1", "--threads", "2", "--max-duration", "30s"])
        .arg("--target")
        .arg(format!("http://{addr}"))
        .env_remove("LOADCHECK_TARGET")
        .timeout(RUN_LIMIT)
        .output()
        .expect("run the binary");

    let _ = stop.send(());
    let joined = rt.block_on(async { tokio::time::timeout(Duration::from_secs(10), server).await });
    joined
        .expect("the demo service stops in time")
        .expect("join the demo service")
        .expect("the demo service ran");

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

#[test]
fn run_json_matches_its_schema() {
    let v = validator("run.schema.json");
    let run = run_against_demo();
    assert_valid(&v, &run, "run.json");

    // The run exercised the parts of the schema that are easy to leave untested.
    assert_eq!(run["status"], "completed");
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

    // Broken copies must be rejected: the schema is strict enough to fail.
    type Break = fn(&mut Value);
    let breaks: [(&str, Break); 12] = [
        ("another schema version", |r| r["schema"] = json!("loadcheck.run/v2")),
        ("an unknown top-level key", |r| r["extra"] = json!(1)),
        ("no generator", |r| {
            r.as_object_mut().unwrap().remove("generator");
        }),
        ("an unknown status", |r| r["status"] = json!("finished")),
        ("a null abort_reason", |r| r["abort_reason"] = Value::Null),
        ("a stats error class missing", |r| {
            r["stats"]["total"]["errors"].as_object_mut().unwrap().remove("tls");
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
            r["stats"]["total"]["latency_ms"]
                .as_object_mut()
                .unwrap()
                .remove("p99_9");
        }),
        ("a plan without endpoints", |r| {
            r["plan"].as_object_mut().unwrap().remove("endpoints");
        }),
    ];
    for (what, break_it) in breaks {
        let mut broken = run.clone();
        break_it(&mut broken);
        assert!(!v.is_valid(&broken), "the run schema accepts run.json with {what}");
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
    // And a broken delivery section is rejected.
    let mut broken = run.clone();
    broken["delivery"]["correlation"]["lost"] = json!(-1);
    assert!(!errors(&validator("run.schema.json"), &broken).is_empty());
    let mut broken = run;
    broken["delivery"]["signatures"]
        .as_object_mut()
        .unwrap()
        .remove("valid");
    assert!(!errors(&validator("run.schema.json"), &broken).is_empty());
}
