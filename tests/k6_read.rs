//! k6's three output formats, from a real k6 v1.1.0 run of one script
//! (`tests/fixtures/k6/shared_run.js`, copied from the shared fixtures),
//! read by `loadcheck::import::k6`:
//! the two summaries agree with each other, and the statistics recomputed
//! from the NDJSON points equal k6's own summary.

use std::path::{Path, PathBuf};
use std::time::Duration;

use loadcheck::import::k6::points;
use loadcheck::import::k6::requests::Requests;
use loadcheck::import::k6::summary::{self, Format, Kind};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/k6")
        .join(name)
}

fn summary_of(name: &str) -> summary::Summary {
    let path = fixture(name);
    summary::read(&path, &std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn outcomes(s: &summary::Summary) -> Vec<(String, String, bool)> {
    let mut v: Vec<_> = s
        .metrics
        .iter()
        .flat_map(|(m, metric)| {
            metric
                .thresholds
                .iter()
                .map(move |t| (m.clone(), t.expression.clone(), t.passed))
        })
        .collect();
    v.sort();
    v
}

#[test]
fn both_summaries_read_the_same_outcomes_and_statistics() {
    let export = summary_of("summary-export.json");
    let handle = summary_of("handle-summary.json");
    assert_eq!(export.format, Format::SummaryExport);
    assert_eq!(handle.format, Format::HandleSummary);
    // `true` is failed in one and `ok: true` is passed in the other: read
    // alike, as the script's run had them (avg<0.001 ms cannot hold).
    let expected = vec![
        ("http_req_duration".to_string(), "avg<0.001".to_string(), false),
        ("http_req_duration".to_string(), "p(99)<1000".to_string(), true),
        (
            "http_req_duration{name:search}".to_string(),
            "p(95)<500".to_string(),
            true,
        ),
        ("http_req_failed".to_string(), "rate<0.01".to_string(), true),
    ];
    assert_eq!(outcomes(&export), expected);
    assert_eq!(outcomes(&handle), expected);
    assert_eq!(
        export.metrics.keys().collect::<Vec<_>>(),
        handle.metrics.keys().collect::<Vec<_>>()
    );
    for (name, m) in &export.metrics {
        let h = &handle.metrics[name];
        assert_eq!(m.kind, h.kind, "{name}");
        // Gauges hold the last value, taken at slightly different moments.
        if m.kind != Kind::Gauge {
            assert_eq!(m.values, h.values, "{name}");
        }
    }
    let failed = &export.metrics["http_req_failed"];
    assert_eq!(failed.kind, Kind::Rate);
    assert_eq!(failed.values["rate"], 0.0);
    assert_eq!(failed.values["fails"], 121.0, "121 zero samples: no request failed");
    assert_eq!(export.metrics["http_reqs"].kind, Kind::Counter);
    assert_eq!(export.metrics["http_reqs"].values["count"], 121.0);
    assert_eq!(export.metrics["vus"].kind, Kind::Gauge);
    assert_eq!(export.checks.len(), 1);
    assert_eq!((export.checks[0].passes, export.checks[0].fails), (121, 0));
    assert_eq!(export.checks, handle.checks);
    assert!((handle.duration().unwrap() - 3.000916332).abs() < 1e-9);
    assert!((export.duration().unwrap() - 3.0009).abs() < 0.001);
}

#[test]
fn points_recompute_k6_s_summary_exactly() {
    let path = fixture("points.ndjson");
    let file = std::io::BufReader::new(std::fs::File::open(&path).unwrap());
    let mut by_endpoint = std::collections::BTreeMap::<String, usize>::new();
    let p = points::read(&path, file, &mut |point| {
        if point.metric == "http_req_duration" {
            let name = point.tags.get("name").or_else(|| point.tags.get("url")).unwrap();
            *by_endpoint.entry(name.clone()).or_default() += 1;
        }
        Ok(())
    })
    .unwrap();
    let export = summary_of("summary-export.json");
    assert_eq!(
        p.declared["http_req_duration"].thresholds,
        vec!["p(99)<1000", "avg<0.001"]
    );
    assert_eq!(
        p.declared["http_req_duration"].submetrics,
        vec![
            "http_req_duration{name:search}",
            "http_req_duration{expected_response:true}"
        ]
    );
    let mut compared = 0;
    for (name, m) in &export.metrics {
        if m.kind != Kind::Trend {
            continue;
        }
        let trend = p.trend(name).unwrap().unwrap_or_else(|| panic!("no points for {name}"));
        for (stat, want) in &m.values {
            let got = trend.stat(stat).unwrap_or_else(|| panic!("{name} {stat}"));
            let tolerance = 1e-9 * want.abs().max(1e-9);
            assert!(
                (got - want).abs() <= tolerance,
                "{name} {stat}: {got} from points, {want} in k6's summary"
            );
            compared += 1;
        }
    }
    assert!(compared >= 80, "{compared}");
    assert_eq!(p.sum("http_reqs").unwrap(), 121.0);
    assert_eq!(p.rate("http_req_failed").unwrap(), (0, 121));
    assert_eq!(p.rate("checks").unwrap(), (121, 121));
    assert_eq!(p.select("http_req_duration").unwrap().unwrap().count, 121);
    assert_eq!(by_endpoint.values().sum::<usize>(), 121);
    assert_eq!(
        by_endpoint.keys().map(String::as_str).collect::<Vec<_>>(),
        vec!["search", "thumbnail", "webhook"]
    );
    let (first, last) = p.span_ms().unwrap();
    assert!((2_500..=3_100).contains(&(last - first)), "{}", last - first);
}

#[test]
fn bad_files_are_named_with_what_was_expected() {
    let path = Path::new("k6.json");
    for (text, wanted) in [
        ("[1, 2]", "expected a JSON object"),
        ("{\"root_group\": {}}", "field `metrics`"),
        ("{\"metrics\": {\"x\": {\"weird\": 1}}}", "metrics.x"),
        (
            "{\"metrics\": {\"x\": {\"type\": \"trend\", \"values\": {\"avg\": \"fast\"}}}}",
            "expected a number",
        ),
        ("{\"metrics\": ", "line 1"),
    ] {
        let e = summary::read(path, text).unwrap_err();
        assert!(e.to_string().starts_with("k6.json: "), "{e}");
        assert!(e.to_string().contains(wanted), "{text}: {e}");
    }
    // A truncated copy of the real stream names its last line.
    let full = std::fs::read_to_string(fixture("points.ndjson")).unwrap();
    let cut = &full[..full.len() - 40];
    let e = points::read(Path::new("cut.ndjson"), cut.as_bytes(), &mut |_| Ok(())).unwrap_err();
    assert_eq!(e.line, Some(cut.lines().count() as u64));
    assert!(e.message.contains("truncated"), "{e}");
}

/// Two k6 points `days` apart: an `http_reqs` sample, then a request.
fn two_points(days: u32) -> String {
    let tags = r#""tags":{"name":"search","scenario":"api","status":"200"}"#;
    let at = |day: u32| {
        chrono::DateTime::from_timestamp(1_763_926_410 + i64::from(day) * 86_400, 375_173_073)
            .unwrap()
            .to_rfc3339()
    };
    format!(
        "{{\"metric\":\"http_reqs\",\"type\":\"Point\",\"data\":{{\"time\":\"{}\",\"value\":1,{tags}}}}}\n\
         {{\"metric\":\"http_req_duration\",\"type\":\"Point\",\"data\":{{\"time\":\"{}\",\"value\":0.35,{tags}}}}}\n",
        at(0),
        at(days)
    )
}

/// The stream read as `loadcheck import k6` reads it, its requests folded
/// second by second; `None` when that takes more than 20 s.
fn fold(stream: String) -> Option<Result<u64, (Option<u64>, String)>> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut requests = Requests::new(None);
        let got = points::read(Path::new("gap.ndjson"), stream.as_bytes(), &mut |p| requests.point(p))
            .map(|p| p.samples)
            .map_err(|e| (e.line, e.to_string()));
        let _ = tx.send(got);
    });
    rx.recv_timeout(Duration::from_secs(20)).ok()
}

/// Found by `fuzz/fuzz_targets/k6.rs` (a seed stream with one year's digit
/// changed): samples a year apart made the import fold a timeline row for
/// every second in between, 31.5 million of them, for minutes and
/// gigabytes. A request that far from the stream's first sample is
/// refused, naming its line; a stream of a few days still imports.
#[test]
fn samples_a_year_apart_are_refused_not_folded_second_by_second() {
    let got = fold(two_points(365)).expect("the import answers within 20 s");
    let (line, message) = got.expect_err("a stream spanning a year is refused");
    assert_eq!(line, Some(2), "{message}");
    assert!(message.starts_with("gap.ndjson"), "{message}");
    assert!(message.contains("at most 7 days"), "{message}");
    let got = fold(two_points(2)).expect("the import answers within 20 s");
    assert_eq!(got, Ok(2), "two days apart is a long run, not an error");
}
