//! `loadcheck import k6` on real k6 v1.1.0 output: the shared fixture run
//! (`tests/fixtures/k6/`, one constant-arrival-rate scenario) and our own
//! (`tests/fixtures/k6/multi/`: ramping VUs and a constant arrival rate,
//! connection-refused requests, 404s, `p(99.9)` thresholds on a metric and
//! a sub-metric). Counts and threshold outcomes equal k6's; the views'
//! percentiles equal k6's summary (exactly from a summary, within 0.1%
//! from the points); what the run holds is said in `imported`, and every
//! downstream command honours it. Bad input exits 2 naming the file.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/k6")
        .join(name)
}

fn loadcheck(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_loadcheck"))
        .args(args)
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_OUTPUT")
        .env_remove("GITHUB_STEP_SUMMARY")
        .output()
        .unwrap()
}

fn import(files: &[PathBuf], out: &Path) -> Output {
    let mut args = vec!["import".to_string(), "k6".to_string()];
    args.extend(files.iter().map(|f| f.display().to_string()));
    args.extend(["--out".to_string(), out.display().to_string()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    loadcheck(&args)
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn imported(files: &[PathBuf]) -> (tempfile::TempDir, Value) {
    let dir = tempfile::tempdir().unwrap();
    let out = import(files, dir.path());
    assert_eq!(
        out.status.code(),
        Some(0),
        "import exits 0 whatever the thresholds said: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = read_json(&dir.path().join("run.json"));
    (dir, run)
}

/// k6's summary (`--summary-export`) of a fixture run.
fn k6_summary(dir: &str) -> Value {
    read_json(&fixture(dir).join("summary-export.json"))
}

/// Threshold outcomes as (metric, expression, passed), sorted.
fn outcomes(run: &Value) -> Vec<(String, String, bool)> {
    let mut v: Vec<_> = run["thresholds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            assert_eq!(t["tool"], "k6", "{t}");
            (
                t["metric"].as_str().unwrap().to_string(),
                t["expression"].as_str().unwrap().to_string(),
                t["ok"].as_bool().unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

/// k6's own outcomes in a `--summary-export` (`true` = failed).
fn k6_outcomes(summary: &Value, only_parents: bool) -> Vec<(String, String, bool)> {
    let mut v = Vec::new();
    for (metric, m) in summary["metrics"].as_object().unwrap() {
        if only_parents && metric.contains('{') {
            continue;
        }
        if let Some(t) = m.get("thresholds").and_then(Value::as_object) {
            for (expr, failed) in t {
                v.push((metric.clone(), expr.clone(), !failed.as_bool().unwrap()));
            }
        }
    }
    v.sort();
    v
}

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * b.abs().max(1e-12)
}

/// k6-named statistics (ours, recomputed) against k6's own.
fn assert_k6_stats_match(ours: &Value, theirs: &Value, rel: f64, what: &str) {
    for (stat, v) in theirs.as_object().unwrap() {
        let Some(expected) = v.as_f64() else { continue };
        let got = ours[stat]
            .as_f64()
            .unwrap_or_else(|| panic!("{what}: no {stat} in {ours}"));
        assert!(
            close(got, expected, rel),
            "{what} {stat}: {got} against k6's {expected}"
        );
    }
}

/// The view's latency against k6's trend statistics.
fn assert_latency_matches(latency: &Value, k6: &Value, rel: f64, what: &str) {
    for (ours, theirs) in [
        ("min", "min"),
        ("mean", "avg"),
        ("p50", "med"),
        ("p90", "p(90)"),
        ("p95", "p(95)"),
        ("p99", "p(99)"),
        ("p99_9", "p(99.9)"),
        ("max", "max"),
    ] {
        let Some(expected) = k6[theirs].as_f64() else { continue };
        let got = latency[ours]
            .as_f64()
            .unwrap_or_else(|| panic!("{what}: no {ours} in {latency}"));
        assert!(
            close(got, expected, rel),
            "{what} {ours}: {got} against k6's {theirs} {expected}"
        );
    }
}

#[test]
fn points_give_k6s_counts_percentiles_and_outcomes() {
    for dir in ["", "multi"] {
        let (out, run) = imported(&[fixture(dir).join("points.ndjson")]);
        let k6 = k6_summary(dir);
        let metrics = &k6["metrics"];
        let requests = metrics["http_reqs"]["count"].as_u64().unwrap();
        let total = &run["stats"]["total"];
        assert_eq!(total["requests"].as_u64(), Some(requests), "{dir}");
        assert_eq!(
            total["failed"].as_u64(),
            metrics["http_req_failed"]["passes"].as_u64(),
            "{dir}: failed requests"
        );
        // k6's own figures, recomputed from the points, for the metric and
        // every sub-metric k6 summarized.
        for (k6_name, theirs) in metrics.as_object().unwrap() {
            if k6_name.starts_with("http_req_duration") {
                assert_k6_stats_match(&run["imported"]["metrics"][k6_name], theirs, 0.001, k6_name);
            }
        }
        // The total's latency is over the responses; with no failure
        // without a response it is k6's http_req_duration.
        if total["failed"] == 0 {
            assert_latency_matches(&total["latency_ms"], &metrics["http_req_duration"], 0.001, "total");
        }
        // Each endpoint's view equals k6's figure for its `name` tag.
        for (endpoint, view) in run["stats"]["endpoints"].as_object().unwrap() {
            let mut values: Vec<f64> = Vec::new();
            let text = std::fs::read_to_string(fixture(dir).join("points.ndjson")).unwrap();
            for line in text.lines() {
                let v: Value = serde_json::from_str(line).unwrap();
                if v["type"] == "Point"
                    && v["metric"] == "http_req_duration"
                    && v["data"]["tags"]["name"] == endpoint.as_str()
                    && v["data"]["tags"]["status"] != "0"
                {
                    values.push(v["data"]["value"].as_f64().unwrap());
                }
            }
            if values.is_empty() {
                continue;
            }
            values.sort_by(f64::total_cmp);
            let k6_p = |p: f64| {
                let i = p * (values.len() as f64 - 1.0);
                let (lo, hi) = (values[i.floor() as usize], values[i.ceil() as usize]);
                lo + (hi - lo) * (i - i.floor())
            };
            let expected = serde_json::json!({
                "min": values[0], "max": values[values.len() - 1],
                "avg": values.iter().sum::<f64>() / values.len() as f64,
                "med": k6_p(0.5), "p(90)": k6_p(0.9), "p(95)": k6_p(0.95), "p(99)": k6_p(0.99),
                "p(99.9)": k6_p(0.999),
            });
            assert_latency_matches(&view["latency_ms"], &expected, 1e-9, endpoint);
        }
        // The stream holds only parent metrics' thresholds: judged here by
        // k6's rules, they come out as k6 judged them.
        assert_eq!(outcomes(&run), k6_outcomes(&k6, true), "{dir}");
        assert_eq!(run["imported"]["statistics"], "histograms");
        assert_eq!(run["imported"]["percentiles"], "k6");
        assert_eq!(run["timeline"]["interval_log"], "timeline.hlog");
        assert!(out.path().join("timeline.hlog").is_file());
        // Counts per second add up to the run's.
        let per_second: u64 = run["timeline"]["total"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["requests"].as_u64().unwrap())
            .sum();
        assert_eq!(per_second, requests);
        let atoms: u64 = run["stats"]["atoms"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["requests"].as_u64().unwrap())
            .sum();
        assert_eq!(atoms, requests);
    }
}

#[test]
fn a_gzipped_stream_reads_as_the_stream() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let gz = dir.path().join("points.ndjson.gz");
    let mut enc = flate2::write::GzEncoder::new(std::fs::File::create(&gz).unwrap(), flate2::Compression::fast());
    enc.write_all(&std::fs::read(fixture("multi/points.ndjson")).unwrap())
        .unwrap();
    enc.finish().unwrap();
    let (_a, plain) = imported(&[fixture("multi/points.ndjson")]);
    let (_b, zipped) = imported(&[gz]);
    assert_eq!(plain["stats"], zipped["stats"]);
    assert_eq!(plain["thresholds"], zipped["thresholds"]);
}

#[test]
fn errors_scenarios_and_endpoints_come_from_tags() {
    let (_out, run) = imported(&[fixture("multi/points.ndjson")]);
    let stats = &run["stats"];
    let endpoints: Vec<&str> = stats["endpoints"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(endpoints, ["down", "missing", "search", "thumbnail", "webhook"]);
    let scenarios: Vec<&str> = stats["scenarios"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(scenarios, ["browse", "submit"]);
    // Port 9 refused every connection (k6's error_code 1212).
    let down = &stats["endpoints"]["down"];
    assert!(down["requests"].as_u64().unwrap() > 0);
    assert_eq!(down["errors"]["connect"], down["requests"]);
    assert_eq!(down["ok"], 0);
    assert!(down.get("latency_ms").is_none(), "no response, no latency: {down}");
    assert!(down["failure_latency_ms"].is_object());
    // The demo service answers 404 for an unknown route.
    let missing = &stats["endpoints"]["missing"];
    assert_eq!(missing["errors"]["status_4xx"], missing["requests"]);
    assert_eq!(missing["status"]["404"], missing["requests"]);
    // 202 is an expected response to k6 (200–399).
    let webhook = &stats["endpoints"]["webhook"];
    assert_eq!(webhook["ok"], webhook["requests"]);
    assert_eq!(
        stats["scenarios"]["submit"]["requests"], webhook["requests"],
        "submit sends only webhooks"
    );
    let total = &stats["total"];
    let failed = total["failed"].as_u64().unwrap();
    assert_eq!(
        failed,
        down["requests"].as_u64().unwrap() + missing["requests"].as_u64().unwrap()
    );
}

#[test]
fn a_stream_and_a_summary_give_the_summarys_outcomes_submetrics_included() {
    for dir in ["", "multi"] {
        for summary in ["summary-export.json", "handle-summary.json"] {
            let files = [fixture(dir).join(summary), fixture(dir).join("points.ndjson")];
            let (_out, run) = imported(&files);
            assert_eq!(outcomes(&run), k6_outcomes(&k6_summary(dir), false), "{dir} {summary}");
            assert_eq!(run["imported"]["statistics"], "histograms");
            let formats: Vec<&str> = run["imported"]["files"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f["format"].as_str().unwrap())
                .collect();
            assert_eq!(formats.len(), 2);
            assert!(formats.contains(&"ndjson"));
        }
    }
}

#[test]
fn a_summary_alone_keeps_k6s_numbers_exactly() {
    for dir in ["", "multi"] {
        let k6 = k6_summary(dir);
        for summary in ["summary-export.json", "handle-summary.json"] {
            let (_out, run) = imported(&[fixture(dir).join(summary)]);
            assert_eq!(run["imported"]["statistics"], "summary", "{dir} {summary}");
            assert_eq!(outcomes(&run), k6_outcomes(&k6, false), "{dir} {summary}");
            let total = &run["stats"]["total"];
            assert_eq!(total["requests"], k6["metrics"]["http_reqs"]["count"]);
            assert_eq!(total["failed"], k6["metrics"]["http_req_failed"]["passes"]);
            // k6's statistics, exactly, under k6's names.
            let theirs = k6["metrics"]["http_req_duration"].as_object().unwrap();
            let ours = &run["imported"]["metrics"]["http_req_duration"];
            for (stat, v) in theirs {
                if stat != "thresholds" {
                    assert_eq!(ours[stat].as_f64(), v.as_f64(), "{dir} {summary} {stat}");
                }
            }
            assert!(run["stats"]["atoms"].as_array().unwrap().is_empty());
            assert!(run["timeline"].get("interval_log").is_none());
            // The multi run asked k6 for every statistic loadcheck keeps.
            if dir == "multi" {
                assert_eq!(total["latency_ms"]["p99_9"].as_f64(), theirs["p(99.9)"].as_f64());
                assert_eq!(total["latency_ms"]["p50"].as_f64(), theirs["med"].as_f64());
            }
        }
    }
}

#[test]
fn downstream_commands_honour_what_the_import_holds() {
    let (full, _) = imported(&[fixture("multi/points.ndjson")]);
    let (summary_only, _) = imported(&[fixture("multi/summary-export.json")]);
    let full_dir = full.path().to_str().unwrap();
    let summary_dir = summary_only.path().to_str().unwrap();
    // `verdict` keeps k6's outcomes: `p(95)<1` fails (the demo service's
    // p95 is several ms).
    let v = loadcheck(&["verdict", full_dir]);
    assert_eq!(v.status.code(), Some(1), "{}", String::from_utf8_lossy(&v.stdout));
    assert!(String::from_utf8_lossy(&v.stdout).contains("p(95)<1"));
    let run = read_json(&full.path().join("run.json"));
    assert_eq!(outcomes(&run), k6_outcomes(&k6_summary("multi"), true));
    // `verdict --plan` judges with loadcheck's thresholds instead.
    let plan = full.path().join("lc.toml");
    std::fs::write(
        &plan,
        "[thresholds]\n\"http_req_duration{endpoint:webhook}\" = [\"p(99)<5000\"]\n\"http_req_failed{endpoint:search}\" = [\"rate<0.01\"]\n",
    )
    .unwrap();
    let v = loadcheck(&["verdict", full_dir, "--plan", plan.to_str().unwrap()]);
    assert_eq!(v.status.code(), Some(0), "{}", String::from_utf8_lossy(&v.stdout));
    // On a summary-only import, a request metric cannot be judged again.
    let plan_total = full.path().join("total.toml");
    std::fs::write(&plan_total, "[thresholds]\n\"http_req_duration\" = [\"p(95)<5000\"]\n").unwrap();
    let v = loadcheck(&["verdict", summary_dir, "--plan", plan_total.to_str().unwrap()]);
    assert_ne!(v.status.code(), Some(0), "{}", String::from_utf8_lossy(&v.stdout));
    // `compare` works on the stream's import and refuses the summary's.
    let cmp = tempfile::tempdir().unwrap();
    let c = loadcheck(&["compare", full_dir, full_dir, "--out", cmp.path().to_str().unwrap()]);
    assert_eq!(c.status.code(), Some(0), "{}", String::from_utf8_lossy(&c.stderr));
    let c = loadcheck(&["compare", full_dir, summary_dir, "--out", cmp.path().to_str().unwrap()]);
    assert_eq!(c.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&c.stderr).contains("summary-only k6 import"));
    // `merge` takes shards only: an import is refused.
    let m = loadcheck(&["merge", full_dir, "--out", cmp.path().join("m").to_str().unwrap()]);
    assert_eq!(m.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&m.stderr).contains("k6 import"));
    // `report` renders both.
    for dir in [full_dir, summary_dir] {
        let rep = tempfile::tempdir().unwrap();
        let r = loadcheck(&["report", dir, "--out", rep.path().to_str().unwrap()]);
        assert!(
            matches!(r.status.code(), Some(0 | 1)),
            "{}",
            String::from_utf8_lossy(&r.stderr)
        );
        assert!(rep.path().join("report.md").is_file());
    }
}

#[test]
fn bad_input_exits_2_naming_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let points = std::fs::read_to_string(fixture("points.ndjson")).unwrap();
    // Truncated mid-line.
    let cut = dir.path().join("cut.ndjson");
    let keep = points.len() - 40;
    std::fs::write(&cut, &points[..keep]).unwrap();
    let lines = points[..keep].lines().count();
    let o = import(&[cut], &out);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains(&format!("cut.ndjson: line {lines}: ")), "{err}");
    assert!(err.contains("truncated"), "{err}");
    // The stream was being written to timeline.hlog as it was read: a
    // refused import leaves nothing, not even the folder it made.
    assert!(!out.exists(), "a refused import left {}", out.display());
    // A line that is not k6's.
    let bad = dir.path().join("bad.ndjson");
    let mut text: Vec<&str> = points.lines().take(30).collect();
    text.insert(
        20,
        r#"{"type":"Point","metric":"http_req_duration","data":{"time":"then","value":1}}"#,
    );
    std::fs::write(&bad, text.join("\n") + "\n").unwrap();
    let o = import(&[bad], &out);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        err.contains("bad.ndjson: line 21: ") && err.contains("RFC 3339"),
        "{err}"
    );
    // JSON of the wrong shape.
    let shape = dir.path().join("shape.json");
    std::fs::write(&shape, r#"{"root_group": {}, "metricz": {}}"#).unwrap();
    let o = import(&[shape], &out);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2));
    assert!(err.contains("shape.json") && err.contains("metrics"), "{err}");
    // A run.json is not a k6 file either.
    let (_full, _) = imported(&[fixture("points.ndjson")]);
    let o = import(&[_full.path().join("run.json")], &out);
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
    // Two summaries.
    let o = import(&[fixture("summary-export.json"), fixture("handle-summary.json")], &out);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2));
    assert!(err.contains("a second k6 summary"), "{err}");
    // Empty, and missing.
    let empty = dir.path().join("empty.json");
    std::fs::write(&empty, "").unwrap();
    assert_eq!(import(&[empty], &out).status.code(), Some(2));
    assert_eq!(import(&[dir.path().join("nope.json")], &out).status.code(), Some(2));
    // Nothing was written for any of them.
    assert!(!out.join("run.json").exists());
}
