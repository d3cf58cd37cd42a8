//! The JUnit report (`junit.xml`) of a passing and of a failing run,
//! validated with xmllint against the Jenkins JUnit schema in
//! `tests/junit/` (see its README for its origin and its one change), and
//! read back: its failures and errors are the verdict's reasons.

use std::path::{Path, PathBuf};
use std::process::Command;

use loadcheck::compare::ComparisonFile;
use loadcheck::metrics::RunResult;
use loadcheck::report::junit::Junit;
use loadcheck::report::{Format, Input};
use quick_junit::{NonSuccessKind, Report, TestCaseStatus};
use serde_json::{Value, json};
use sha1::{Digest, Sha1};

fn schema() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/junit/junit-10.xsd")
}

/// Whether xmllint runs here. Without it the test is skipped, except under
/// `CI=true`, where that is a failure (scripts/test installs it).
fn have_xmllint() -> bool {
    match Command::new("xmllint").arg("--version").output() {
        Ok(out) if out.status.success() => true,
        other => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "xmllint (package libxml2-utils) is missing: under CI=true that is a failure, not a skip ({other:?})"
            );
            eprintln!("skipped: xmllint (package libxml2-utils) is not installed");
            false
        }
    }
}

/// `xmllint --noout --schema tests/junit/junit-10.xsd FILE`: whether it
/// validates, and what xmllint said.
fn xmllint(file: &Path) -> (bool, String) {
    let out = Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(schema())
        .arg(file)
        .output()
        .expect("xmllint runs");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), said)
}

fn stats() -> Value {
    json!({
        "requests": 0, "ok": 0, "failed": 0, "errors": {}, "status": {}, "rps": 0.0, "clamped": 0,
        "histograms": {"http_req_duration": "", "http_req_service_duration": "", "http_req_failure_duration": ""}
    })
}

fn run(extra: Value) -> RunResult {
    let mut v = json!({
        "schema": "loadcheck.run/v1", "plan": {"name": "shop"}, "plan_fingerprint": "", "id": "shop",
        "started_at": "2026-03-01T12:00:00.250Z", "started_at_ms": 0, "duration_s": 42.5, "status": "completed",
        "metadata": {
            "loadcheck_version": "0.1.0", "workers": 1, "seed": 0,
            "testbed": {"os": "linux", "arch": "x86_64", "cpus": 2}, "git": {"sha": "0123abcd"}
        },
        "stats": {"total": stats(), "endpoints": {}, "scenarios": {}},
        "timeline": {"resolution_s": 1, "approximate_percentiles": false, "total": [], "endpoints": {}},
        "generator": {"scheduled_sends": 0, "dropped_sends": 0, "late_sends": 0, "late_after_ms": 0.0},
        "thresholds": [], "requirements": []
    });
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    serde_json::from_value(v).unwrap()
}

fn series(metric: &str, class: &str, note: Option<&str>) -> Value {
    json!({
        "endpoint": "search", "phase": "tail", "metric": metric, "unit": "ms",
        "baseline": 5.1, "value": 6.7, "change": 0.312, "interval": [0.24, 0.385],
        "threshold": 0.05, "threshold_from": "min_effect", "mde": 0.03, "p_value": 0.001,
        "class": class, "note": note
    })
}

fn comparison(series: Vec<Value>) -> ComparisonFile {
    let n = |class: &str| series.iter().filter(|s| s["class"] == class).count();
    let counts = json!({
        "regression": n("regression"), "improvement": n("improvement"), "unchanged": n("unchanged"),
        "inconclusive": n("inconclusive"), "new": n("new"), "missing": n("missing")
    });
    serde_json::from_value(json!({
        "schema": "loadcheck.comparison/v1",
        "run": {"id": "shop", "started_at": "2026-03-01T12:00:00.250Z"},
        "comparisons": [{
            "source": "head_vs_tail", "gating": true,
            "baseline": {"description": "the head (v1) of this run", "runs": 1},
            "method": {"name": "block_bootstrap", "confidence": 0.95, "alpha": 0.05, "resamples": 2000, "min_effect": 0.05},
            "series": series,
            "counts": counts,
            "notes": ["the tail's first 5 s are its warm-up"]
        }]
    }))
    .unwrap()
}

/// A run where everything holds, and one with a failing threshold,
/// requirement, zero-downtime rule and regression, and a failed rollout.
fn fixtures() -> Vec<(&'static str, RunResult, ComparisonFile)> {
    let rollout = |status: &str, ok: bool, failed: u64| {
        json!({"trigger": "command", "status": status, "started_before_head": false,
               "zero_downtime": {"ok": ok, "failed_requests": failed, "reset_requests": 0, "tolerance": 0}})
    };
    let pass = run(json!({
        "thresholds": [{"metric": "http_req_duration", "expression": "p(95)<500", "value": 212.4, "ok": true, "abort_on_fail": false}],
        "requirements": [{"name": "errors", "target": "< 1%", "check": "http_req_failed: rate<0.01", "value": 0.002, "ok": true, "validated": "steady"}],
        "rollout": rollout("succeeded", true, 0)
    }));
    let fail = run(json!({
        "thresholds": [
            {"metric": "http_req_duration", "expression": "p(95)<500", "value": 612.3, "ok": false, "abort_on_fail": false},
            {"metric": "http_req_failed", "expression": "rate<0.01", "value": 0.025, "ok": false, "abort_on_fail": false}
        ],
        "requirements": [{"name": "throughput", "target": "> 100 req/s", "check": "http_reqs: rate>100", "value": 87.2, "ok": false, "validated": "steady"}],
        "rollout": rollout("failed", false, 7)
    }));
    vec![
        (
            "pass",
            pass,
            comparison(vec![
                series("p95", "unchanged", None),
                series("p99", "inconclusive", Some("too few requests")),
            ]),
        ),
        (
            "fail",
            fail,
            comparison(vec![
                series("p95", "regression", None),
                series("p99", "inconclusive", Some("too few requests")),
            ]),
        ),
    ]
}

#[test]
fn junit_reports_validate_against_the_schema_and_fail_as_the_verdict_does() {
    let dir = tempfile::tempdir().unwrap();
    let lint = have_xmllint();
    for (what, r, c) in fixtures() {
        let input = Input {
            run: &r,
            comparison: Some(&c),
            baseline: None,
        };
        let files = Junit.render(&input).unwrap();
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].file, "junit.xml");
        let path = dir.path().join(format!("{what}-junit.xml"));
        std::fs::write(&path, &files[0].text).unwrap();
        if lint {
            let (ok, said) = xmllint(&path);
            eprintln!("xmllint: {}", said.trim());
            assert!(ok && said.contains("validates"), "{what}: {said}\n{}", files[0].text);
        }
        let back = Report::deserialize_from_str(&files[0].text).unwrap();
        let verdict = loadcheck::verdict::decide_with(&r, Some(&c));
        let failed: Vec<(String, NonSuccessKind)> = back
            .test_suites
            .iter()
            .flat_map(|s| &s.test_cases)
            .filter_map(|c| match &c.status {
                TestCaseStatus::NonSuccess { kind, .. } => Some((c.name.as_str().to_string(), *kind)),
                _ => None,
            })
            .collect();
        let reasons: Vec<(String, NonSuccessKind)> = verdict
            .reasons
            .iter()
            .map(|r| {
                let kind = if r.exit_code == 1 {
                    NonSuccessKind::Failure
                } else {
                    NonSuccessKind::Error
                };
                (r.name.clone(), kind)
            })
            .collect();
        assert_eq!(failed, reasons, "{what}");
        assert_eq!(back.failures + back.errors, verdict.reasons.len(), "{what}");
        if what == "pass" {
            assert_eq!((back.failures, back.errors), (0, 0));
        } else {
            // Two thresholds, the requirement, zero downtime, the regression;
            // the failed rollout is an error (exit 3).
            assert_eq!((back.failures, back.errors), (5, 1));
            let messages: Vec<&str> = back
                .test_suites
                .iter()
                .flat_map(|s| &s.test_cases)
                .filter_map(|c| match &c.status {
                    TestCaseStatus::NonSuccess { message, .. } => message.as_deref(),
                    _ => None,
                })
                .collect();
            for want in [
                "measured p(95) 612.3 ms against p(95)<500",
                "measured rate 2.50% against rate<0.01",
                "measured rate 87.2 req/s against http_reqs: rate>100",
                "7 requests failed during the rollout (0 reset); 0 allowed",
                "search tail p95 +31.2% [+24.0%, +38.5%] against the head (v1) of this run (minimum effect 5.0%); \
                 measured 6.70 ms against a baseline of 5.10 ms",
                "the rollout (command) failed",
            ] {
                assert!(messages.contains(&want), "{want} in {messages:#?}");
            }
        }
    }
}

#[test]
fn the_schema_rejects_what_is_not_junit() {
    if !have_xmllint() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // A test case without its name, and a suite without its counts.
    for (what, xml) in [
        (
            "nameless case",
            r#"<testsuites><testsuite name="s" tests="1" failures="0" errors="0"><testcase classname="c"/></testsuite></testsuites>"#,
        ),
        (
            "suite without counts",
            r#"<testsuites><testsuite name="s"><testcase name="t"/></testsuite></testsuites>"#,
        ),
    ] {
        let path = dir.path().join("bad.xml");
        std::fs::write(&path, xml).unwrap();
        let (ok, said) = xmllint(&path);
        assert!(!ok && said.contains("fails to validate"), "{what}: {said}");
    }
}

/// The schema is upstream's byte for byte, outside its one marked
/// addition (tests/junit/README.md).
#[test]
fn the_schema_is_upstreams_but_for_its_marked_change() {
    let text = std::fs::read_to_string(schema()).unwrap();
    let mut upstream = String::new();
    let mut inside = false;
    for line in text.split_inclusive('\n') {
        if line.trim_start().starts_with("<!-- loadcheck: begin") {
            inside = true;
        }
        if !inside {
            upstream.push_str(line);
        }
        if line.contains("<!-- loadcheck: end -->") {
            inside = false;
        }
    }
    assert!(upstream.len() < text.len(), "the marked change is there");
    let mut blob = Sha1::new();
    blob.update(format!("blob {}\0", upstream.len()).as_bytes());
    blob.update(upstream.as_bytes());
    assert_eq!(
        hex::encode(blob.finalize()),
        "286fbf7c87b127386b1596835044550628801cb0",
        "jenkinsci/xunit-plugin's junit-10.xsd, git blob 286fbf7"
    );
}
