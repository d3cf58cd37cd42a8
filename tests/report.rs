//! The reports: snapshots of every template from fixed run and comparison
//! fixtures (a real demo run, and the same run made to fail), and plain
//! assertions of what a reader relies on: the verdict first, failures
//! before the details, a unit in every "Result" cell, and a comment that
//! fits GitHub's limit with publish's marker, however big the run.

mod common;

use std::path::{Path, PathBuf};

use loadcheck::compare::ComparisonFile;
use loadcheck::metrics::RunResult;
use loadcheck::report::markdown::{COMMENT_BUDGET, COMMENT_LIMIT, MARKER_ROOM, Markdown, SUMMARY_LIMIT};
use loadcheck::report::{Format, Input, Rendered};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/report")
        .join(name)
}

/// A fixture run and its comparison, with the verdict they reach.
fn load(which: &str) -> (RunResult, ComparisonFile) {
    let mut run: RunResult =
        serde_json::from_str(&std::fs::read_to_string(fixture(&format!("{which}.run.json"))).unwrap()).unwrap();
    let cmp: ComparisonFile =
        serde_json::from_str(&std::fs::read_to_string(fixture(&format!("{which}.comparison.json"))).unwrap()).unwrap();
    run.verdict = Some(loadcheck::verdict::decide_with(&run, Some(&cmp)));
    (run, cmp)
}

fn markdown(run: &RunResult, cmp: Option<&ComparisonFile>) -> Vec<Rendered> {
    Markdown::default()
        .render(&Input {
            run,
            comparison: cmp,
            baseline: None,
        })
        .unwrap()
}

fn file<'a>(files: &'a [Rendered], name: &str) -> &'a str {
    &files
        .iter()
        .find(|f| f.file == name)
        .unwrap_or_else(|| panic!("no {name}"))
        .text
}

#[test]
fn every_template_renders_the_fixtures_as_snapshotted() {
    for which in ["pass", "fail"] {
        let (run, cmp) = load(which);
        let files = markdown(&run, Some(&cmp));
        for f in &files {
            insta::assert_snapshot!(format!("{which}_{}", f.file), &f.text);
        }
        let text = loadcheck::report::summary::render_with(&run, Some(&cmp));
        insta::assert_snapshot!(format!("{which}_terminal"), text);
    }
}

#[test]
fn every_format_opens_with_the_verdict_line() {
    let (run, cmp) = load("fail");
    let input = Input {
        run: &run,
        comparison: Some(&cmp),
        baseline: None,
    };
    let files = loadcheck::report::render_all(&input, None).unwrap();
    let md_files: Vec<&Rendered> = files.iter().filter(|f| f.file.ends_with(".md")).collect();
    assert_eq!(md_files.len(), 5, "report, comment, summary, signoff, mermaid");
    for f in md_files {
        let first = f.text.lines().next().unwrap();
        assert!(first.starts_with("❌ **FAIL**: "), "{}: {first}", f.file);
        assert!(
            first.contains("2/5 requirements met") || first.contains("4/5 requirements met"),
            "{first}"
        );
    }
    let terminal = file(&files, "summary.txt");
    assert!(terminal.starts_with("FAIL: "), "{terminal}");
    let (run, cmp) = load("pass");
    let files = markdown(&run, Some(&cmp));
    assert!(file(&files, "comment.md").starts_with("✅ **PASS**: "));
}

#[test]
fn failures_come_before_the_details_and_every_result_has_a_unit() {
    let (run, cmp) = load("fail");
    let files = markdown(&run, Some(&cmp));
    let comment = file(&files, "comment.md");
    let details = comment.find("<details>").unwrap();
    for needle in [
        "requirement **Webhook ingestion p99** (target < 200 ms): p(99) 231.5 ms",
        "threshold `http_req_duration{endpoint:search} p(95)<250`: p(95) 263.2 ms",
        "regression against the head of this run",
        "search tail p95 +31.2% [+24.0%, +38.5%] (5.10 ms → 6.69 ms; minimum effect 5.0%)",
    ] {
        let at = comment
            .find(needle)
            .unwrap_or_else(|| panic!("{needle:?} not in\n{comment}"));
        assert!(at < details, "{needle:?} comes after the details");
    }
    let table = comment.find("| Requirement | Target | Validated | Result |").unwrap();
    assert!(table < details);
    // Every "Result" cell: a mark, then a value with its unit.
    let units = [" ms", "%", " requests", " events", " req/s", " s", " samples"];
    let mut rows = 0;
    for line in comment[table..details].lines().skip(2).filter(|l| l.starts_with('|')) {
        let result = line.trim_end_matches('|').rsplit('|').next().unwrap().trim();
        assert!(result.starts_with('✓') || result.starts_with('✗'), "{line}");
        assert!(units.iter().any(|u| result.ends_with(u)), "no unit in {result:?}");
        rows += 1;
    }
    assert_eq!(rows, run.requirements.len());
}

#[test]
fn validated_names_only_the_scenarios_that_sent_to_the_selector() {
    let (run, cmp) = load("pass");
    let files = markdown(&run, Some(&cmp));
    let comment = file(&files, "comment.md");
    let row = |name: &str| {
        comment
            .lines()
            .find(|l| l.starts_with(&format!("| {name} |")))
            .unwrap_or_else(|| panic!("no row {name}"))
            .to_string()
    };
    // Only `steady` sends to the webhook endpoint the sink correlates.
    let delivered = row("Every webhook delivered");
    assert!(delivered.contains("steady (200 req/s) → sink"), "{delivered}");
    assert!(!delivered.contains("browse"), "{delivered}");
    let search = row("Search p95");
    assert!(search.contains("steady (200 req/s) + browse (5 VUs)"), "{search}");
    let rollout = row("Zero failed requests during the rollout");
    assert!(rollout.contains("rollout (version header): "), "{rollout}");
    // Short: the long form lives in report.md.
    for q in &run.requirements {
        let cell = row(&q.name);
        let validated = cell.split('|').nth(3).unwrap().trim();
        assert!(validated.chars().count() <= 80, "{validated}");
    }
    let report = file(&files, "report.md");
    assert!(
        report.contains("3366 requests in 16.8 s, 200.0 req/s measured"),
        "{report}"
    );
}

#[test]
fn the_signoff_ticks_what_was_validated_and_leaves_manual_items_to_people() {
    let (run, cmp) = load("fail");
    let files = markdown(&run, Some(&cmp));
    let signoff = file(&files, "signoff.md");
    let link = "https://github.com/acme/search/actions/runs/123456789";
    assert!(signoff.contains(&format!("- [x] **Search p95** (target < 250 ms): p(95) 8.02 ms; validated by steady (200 req/s) + browse (5 VUs) ([run]({link}))")), "{signoff}");
    assert!(
        signoff.contains("- [ ] **Webhook ingestion p99** (target < 200 ms): p(99) 231.5 ms ✗"),
        "{signoff}"
    );
    assert!(
        signoff.contains("- [ ] **Redis failover RTO** (target < 10 s): chaos/redis-kill.sh, run by hand"),
        "{signoff}"
    );
    assert!(signoff.contains("- [ ] **Security review**\n"), "{signoff}");
    let boxes = signoff.lines().filter(|l| l.starts_with("- [")).count();
    assert_eq!(boxes, run.requirements.len() + 2);
}

/// A run with `n` endpoints, each with every field of the fixture's
/// `search`, and `requirements` requirements.
fn big(n: usize, requirements: usize) -> (RunResult, ComparisonFile) {
    let (run, cmp) = load("fail");
    let mut v = serde_json::to_value(&run).unwrap();
    let search = v["stats"]["endpoints"]["search"].clone();
    let timeline = v["timeline"]["endpoints"]["search"].clone();
    let mut eps = serde_json::Map::new();
    let mut tls = serde_json::Map::new();
    for i in 0..n {
        eps.insert(format!("endpoint-with-a-long-name-{i:04}"), search.clone());
        tls.insert(format!("endpoint-with-a-long-name-{i:04}"), timeline.clone());
    }
    v["stats"]["endpoints"] = serde_json::Value::Object(eps);
    v["timeline"]["endpoints"] = serde_json::Value::Object(tls);
    let reqs = v["requirements"].as_array().unwrap().clone();
    v["requirements"] = serde_json::Value::Array((0..requirements).map(|i| reqs[i % reqs.len()].clone()).collect());
    let mut run: RunResult = serde_json::from_value(v).unwrap();
    let mut cmp = cmp;
    let series = cmp.comparisons[0].series.clone();
    cmp.comparisons[0].series = (0..n.max(1)).flat_map(|_| series.clone()).collect();
    run.verdict = Some(loadcheck::verdict::decide_with(&run, Some(&cmp)));
    (run, cmp)
}

#[test]
fn a_three_endpoint_run_with_ten_requirements_fits_a_comment_whole() {
    let (run, cmp) = big(3, 10);
    let files = markdown(&run, Some(&cmp));
    let comment = file(&files, "comment.md");
    assert!(comment.len() + MARKER_ROOM <= COMMENT_LIMIT, "{}", comment.len());
    assert!(!comment.contains("Cut to fit"), "{comment}");
    assert_eq!(comment.matches("| Webhook ingestion p99 |").count(), 2);
}

#[test]
fn five_hundred_endpoints_cut_the_comment_gracefully() {
    let (run, cmp) = big(500, 10);
    let files = markdown(&run, Some(&cmp));
    let comment = file(&files, "comment.md");
    // Bytes bound characters: it fits with the marker.
    assert!(comment.len() <= COMMENT_BUDGET, "{}", comment.len());
    assert!(comment.chars().count() + MARKER_ROOM <= COMMENT_LIMIT);
    assert!(comment.starts_with("❌ **FAIL**: "));
    assert!(
        comment.trim_end().ends_with(
            "*Cut to fit: the rest is in [the full report](https://github.com/acme/search/actions/runs/123456789) (`report.md` in the run's artifacts).*"
        ),
        "{}",
        &comment[comment.len() - 300..]
    );
    assert_eq!(
        comment.matches("<details>").count(),
        comment.matches("</details>").count()
    );
    assert_eq!(comment.matches("```").count() % 2, 0);
    for line in comment.lines().filter(|l| l.starts_with('|')) {
        assert!(line.ends_with('|'), "a cut row: {line}");
    }
    // What failed survives the cut.
    assert!(comment.contains("requirement **Webhook ingestion p99**"));
    // The full report keeps every endpoint; the summary stays under 1 MiB.
    assert_eq!(
        file(&files, "report.md")
            .matches("| endpoint-with-a-long-name-")
            .count(),
        500
    );
    assert!(file(&files, "summary.md").len() <= SUMMARY_LIMIT);
}

#[test]
fn report_renders_every_format_from_the_files_and_exits_with_their_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("results");
    std::fs::create_dir_all(&runs).unwrap();
    std::fs::copy(fixture("fail.run.json"), runs.join("run.json")).unwrap();
    std::fs::copy(fixture("fail.comparison.json"), runs.join("comparison.json")).unwrap();
    let out = dir.path().join("reports");
    let o = common::loadcheck_command()
        .args(["report", runs.to_str().unwrap(), "--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
    for name in [
        "report.md",
        "comment.md",
        "summary.md",
        "signoff.md",
        "junit.xml",
        "summary.txt",
        "latency.svg",
    ] {
        assert!(out.join(name).is_file(), "no {name}");
    }
    // report.md shows exactly the charts that were drawn.
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    let mut shown: Vec<String> = report
        .split("](")
        .skip(1)
        .filter_map(|s| s.split(')').next())
        .filter(|s| s.ends_with(".svg"))
        .map(str::to_string)
        .collect();
    let mut drawn: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".svg"))
        .collect();
    shown.sort();
    drawn.sort();
    assert_eq!(shown, drawn);
    assert_eq!(drawn, ["latency.svg", "spectrum.svg", "throughput.svg", "versions.svg"]);
    // The passing fixture exits 0.
    std::fs::copy(fixture("pass.run.json"), runs.join("run.json")).unwrap();
    std::fs::copy(fixture("pass.comparison.json"), runs.join("comparison.json")).unwrap();
    let o = common::loadcheck_command()
        .args(["report", runs.to_str().unwrap(), "--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn a_bad_file_is_exit_2_naming_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("run.json");
    std::fs::write(&bad, "{\n  \"schema\": \"loadcheck.run/v1\",\n  \"plan\": 7\n}\n").unwrap();
    let o = common::loadcheck_command()
        .args([
            "report",
            bad.to_str().unwrap(),
            "--out",
            dir.path().join("o").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("run.json: line ") && err.contains("not a loadcheck run.json"),
        "{err}"
    );
    assert!(!dir.path().join("o").exists(), "nothing is written from a bad file");
}

#[test]
fn several_runs_make_a_scaling_report() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("scaling");
    let o = common::loadcheck_command()
        .args([
            "report",
            fixture("pass.run.json").to_str().unwrap(),
            fixture("fail.run.json").to_str().unwrap(),
            "--label",
            "1x,3x",
            "--out",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
    let md = std::fs::read_to_string(out.join("scaling.md")).unwrap();
    assert!(
        md.contains("| 1x | 248.6 req/s | 7.04 ms | 12.65 ms | 0 (0%) | ✓ pass |"),
        "{md}"
    );
    assert!(md.contains("| 3x | 248.6 req/s (+0%) |"), "{md}");
    assert!(md.contains("✗ fail"), "{md}");
    let svg = std::fs::read_to_string(out.join("scaling.svg")).unwrap();
    assert!(
        svg.contains("Scaling: latency and throughput per run") && svg.contains("\n3x\n"),
        "{svg}"
    );
    let o = common::loadcheck_command()
        .args([
            "report",
            fixture("pass.run.json").to_str().unwrap(),
            fixture("fail.run.json").to_str().unwrap(),
            "--label",
            "1x",
            "--out",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
}
