//! `timeline.hlog` holds each second's histograms truly: read back with the
//! `hdrhistogram` crate's interval-log reader, each second's p50 and p99 per
//! endpoint and scenario are the nearest-rank percentiles of that second's
//! samples in the raw-sample dump, within HDR precision (the value's own
//! histogram bucket); the counts add up to run.json's responses; the
//! timestamps are absolute and inside the run; and a run killed mid-way has
//! already left its closed seconds on disk.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::Deserializer;
use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
use loadcheck::cli::EngineArgs;
use loadcheck::metrics::RunResult;
use loadcheck::metrics::result::ScenarioLoad;

/// Delays in ms, taken in turn by request count, so every second holds a
/// spread of 1 to 40 ms.
const DELAYS_MS: [u64; 10] = [1, 2, 4, 6, 9, 13, 18, 25, 32, 40];

async fn varied(State(n): State<Arc<AtomicU64>>) -> &'static str {
    let i = n.fetch_add(1, Ordering::Relaxed) as usize;
    tokio::time::sleep(Duration::from_millis(DELAYS_MS[i % DELAYS_MS.len()])).await;
    "ok"
}

async fn varied_server() -> common::Server {
    let n = Arc::new(AtomicU64::new(0));
    let router = Router::new()
        .route("/a", get(varied))
        .route("/b", get(varied))
        .with_state(n);
    common::serve(router).await
}

fn plan(url: &str, duration: &str) -> String {
    format!(
        r#"target = "{url}"

[[scenario]]
name = "steady"
executor = "constant-arrival-rate"
rate = 150
duration = "{duration}"
endpoints = {{ search = 1, thumbs = 1 }}

[[scenario]]
name = "browse"
executor = "constant-vus"
vus = 6
duration = "{duration}"
endpoints = {{ search = 2, thumbs = 1 }}

[[endpoint]]
name = "search"
path = "/a"

[[endpoint]]
name = "thumbs"
path = "/b"
"#
    )
}

/// One interval read back: (metric, endpoint, scenario), its start (unix)
/// and the histogram.
struct Interval {
    metric: String,
    endpoint: String,
    scenario: String,
    start: Duration,
    length: Duration,
    hist: Histogram<u64>,
}

/// Reads an interval log with the crate's reader: StartTime and the
/// intervals. Fails on a BaseTime (timestamps must be absolute).
fn read_hlog(bytes: &[u8]) -> (Option<Duration>, Vec<Interval>) {
    let mut start = None;
    let mut out = Vec::new();
    for entry in IntervalLogIterator::new(bytes) {
        match entry.expect("timeline.hlog parses") {
            LogEntry::StartTime(t) => start = Some(t),
            LogEntry::BaseTime(t) => panic!("a BaseTime ({t:?}) makes timestamps relative"),
            LogEntry::Interval(i) => {
                let tag = i.tag().expect("every interval is tagged").as_str().to_string();
                let parts: Vec<&str> = tag.split(';').collect();
                assert_eq!(parts.len(), 3, "tag {tag}");
                let field = |p: &str, k: &str| p.strip_prefix(k).unwrap_or_else(|| panic!("tag {tag}")).to_string();
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(i.encoded_histogram())
                    .unwrap();
                let hist: Histogram<u64> = Deserializer::new().deserialize(&mut raw.as_slice()).unwrap();
                out.push(Interval {
                    metric: parts[0].to_string(),
                    endpoint: field(parts[1], "endpoint="),
                    scenario: field(parts[2], "scenario="),
                    start: i.start_timestamp(),
                    length: i.duration(),
                    hist,
                });
            }
        }
    }
    (start, out)
}

/// (metric, second, endpoint, scenario) → the values the raw dump says
/// went into that histogram.
type Truth = BTreeMap<(String, u64, String, String), Vec<u64>>;

/// The raw dump's samples by histogram, its request count, and its
/// open-model sends (made or dropped) per second.
fn read_raw(text: &str) -> (Truth, u64, BTreeMap<u64, u64>) {
    let mut truth = Truth::new();
    let mut requests = 0;
    let mut sends = BTreeMap::new();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        if v["kind"] == "send" || v["kind"] == "dropped" {
            assert_eq!(v["scenario"], "steady");
            *sends.entry(v["second"].as_u64().unwrap()).or_default() += 1;
        }
        if v["kind"] != "request" {
            continue;
        }
        requests += 1;
        if v.get("status").is_none() {
            continue; // no response: not in these histograms
        }
        let s = |k: &str| v[k].as_str().unwrap().to_string();
        let second = v["second"].as_u64().unwrap();
        for (metric, field) in [
            ("http_req_duration", "duration_us"),
            ("http_req_service_duration", "service_us"),
        ] {
            truth
                .entry((metric.to_string(), second, s("endpoint"), s("scenario")))
                .or_default()
                // The histograms record 0 µs as 1 µs.
                .push(v[field].as_u64().unwrap().max(1));
        }
    }
    (truth, requests, sends)
}

fn nearest_rank(samples: &mut [u64], p: f64) -> u64 {
    samples.sort_unstable();
    let rank = ((p / 100.0) * samples.len() as f64).ceil().max(1.0) as usize;
    samples[rank - 1]
}

/// Responses are requests minus those that failed without one.
fn no_response(errors: &BTreeMap<String, u64>) -> u64 {
    ["connect", "reset", "timeout", "tls", "refused"]
        .iter()
        .map(|c| errors.get(*c).copied().unwrap_or(0))
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_second_of_the_interval_log_is_its_samples_nearest_rank_percentiles() {
    let server = varied_server().await;
    let dir = tempfile::tempdir().unwrap().keep();
    let args = EngineArgs {
        raw_samples: Some(dir.join("raw.ndjson")),
        ..common::engine_args(&dir)
    };
    let code = loadcheck::run_plan(common::plan(&plan(&server.url(), "4s")), &args).await;
    assert_eq!(code, loadcheck::exit::Exit::Pass);
    let r: RunResult = serde_json::from_str(&std::fs::read_to_string(dir.join("run.json")).unwrap()).unwrap();
    assert_eq!(r.timeline.interval_log.as_deref(), Some("timeline.hlog"));

    let (mut truth, raw_requests, sends) = read_raw(&std::fs::read_to_string(dir.join("raw.ndjson")).unwrap());
    assert_eq!(raw_requests, r.stats.total.requests, "the dump holds every request");
    let bytes = std::fs::read(dir.join("timeline.hlog")).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    assert!(
        text.lines().any(|l| l.starts_with('#') && l.contains("microseconds")),
        "units in a comment"
    );
    let (start, intervals) = read_hlog(&bytes);

    // Absolute times: StartTime is run.json's start; every interval starts
    // a whole second after it, inside the run's wall-clock window.
    let started = Duration::from_millis(r.started_at_ms as u64);
    assert_eq!(start, Some(started));
    let end = started + Duration::from_secs_f64(r.duration_s) + Duration::from_secs(1);
    let mut seen = BTreeMap::new();
    let mut counts: BTreeMap<(String, String, u64), u64> = BTreeMap::new();
    let mut spread = 0;
    for i in &intervals {
        assert!(
            i.start >= started && i.start < end,
            "{:?} outside {started:?}..{end:?}",
            i.start
        );
        let offset = i.start - started;
        assert_eq!(offset.subsec_millis(), 0, "intervals start on the run's seconds");
        assert_eq!(i.length, Duration::from_secs(1));
        let second = offset.as_secs();
        let key = (i.metric.clone(), second, i.endpoint.clone(), i.scenario.clone());
        let mut samples = truth
            .remove(&key)
            .unwrap_or_else(|| panic!("{key:?}: an interval the raw dump has no sample for"));
        assert!(seen.insert(key.clone(), ()).is_none(), "{key:?} written twice");
        assert_eq!(i.hist.len(), samples.len() as u64, "{key:?}: count");
        for p in [50.0, 99.0, 100.0] {
            let got = i.hist.value_at_quantile(p / 100.0);
            let want = nearest_rank(&mut samples, p);
            assert!(
                i.hist.equivalent(got, want),
                "{key:?} p{p}: the log says {got} µs, the samples' nearest rank is {want} µs \
                 (bucket {}..={})",
                i.hist.lowest_equivalent(got),
                i.hist.highest_equivalent(got)
            );
        }
        let (p50, p99) = (nearest_rank(&mut samples, 50.0), nearest_rank(&mut samples, 99.0));
        if samples.len() >= 20 && p99 > 3 * p50 {
            spread += 1;
        }
        *counts
            .entry((i.metric.clone(), i.endpoint.clone(), second))
            .or_default() += i.hist.len();
    }
    assert!(
        truth.is_empty(),
        "seconds with responses but no interval: {:?}",
        truth.keys()
    );
    // Not vacuous: 2 metrics × 2 endpoints × 2 scenarios over ≥ 3 seconds,
    // most of them with a real spread of delays.
    let seconds: std::collections::BTreeSet<u64> = seen.keys().map(|k| k.1).collect();
    assert!(seconds.len() >= 4, "seconds: {seconds:?}");
    assert!(seen.len() >= 2 * 2 * 2 * 3, "{} intervals", seen.len());
    assert!(spread >= 8, "only {spread} intervals had p99 > 3 × p50");

    // The load per second: the open scenario's scheduled sends are the
    // dump's sends of that second; the closed one had its 6 VUs.
    for row in &r.timeline.total {
        let sent = sends.get(&row.second).copied().unwrap_or(0);
        assert_eq!(
            row.load["steady"],
            ScenarioLoad::Scheduled(sent),
            "second {}",
            row.second
        );
        if (1..=3).contains(&row.second) {
            assert!(
                (140..=160).contains(&sent),
                "second {}: {sent} sends at 150/s",
                row.second
            );
        }
        if row.second <= 3 {
            assert_eq!(row.load["browse"], ScenarioLoad::Vus(6), "second {}", row.second);
        }
    }
    assert_eq!(sends.values().sum::<u64>(), 600, "150/s × 4 s");

    // The counts: per endpoint, the run's responses; per endpoint and
    // second, the timeline row's responses (same completion second).
    for metric in ["http_req_duration", "http_req_service_duration"] {
        for (name, stats) in &r.stats.endpoints {
            let responses = stats.requests - no_response(&stats.errors);
            let logged: u64 = counts
                .iter()
                .filter(|((m, e, _), _)| m == metric && e == name)
                .map(|(_, n)| n)
                .sum();
            assert!(responses > 300, "{name}: {responses} responses");
            assert_eq!(logged, responses, "{metric}{{endpoint:{name}}}");
            for row in &r.timeline.endpoints[name] {
                let in_log = counts
                    .get(&(metric.to_string(), name.clone(), row.second))
                    .copied()
                    .unwrap_or(0);
                assert_eq!(
                    in_log,
                    row.requests - no_response(&row.errors),
                    "{metric} {name} second {}",
                    row.second
                );
            }
        }
    }
}

/// A run killed with SIGKILL leaves the seconds it closed: the file is
/// flushed as each second closes, and reads back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_run_leaves_its_closed_seconds() {
    let server = varied_server().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("loadcheck.toml");
    std::fs::write(&path, plan(&server.url(), "30s")).unwrap();
    let out = dir.path().join("out");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_loadcheck"))
        .arg("run")
        .arg(&path)
        .arg("--out")
        .arg(&out)
        .arg("-q")
        .env_remove("LOADCHECK_TARGET")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(3500)).await;
    child.kill().unwrap(); // SIGKILL: nothing runs after this
    child.wait().unwrap();
    let bytes = std::fs::read(out.join("timeline.hlog")).expect("timeline.hlog left behind");
    let (start, intervals) = read_hlog(&bytes);
    let start = start.expect("StartTime header");
    let seconds: std::collections::BTreeSet<u64> = intervals.iter().map(|i| (i.start - start).as_secs()).collect();
    assert!(
        seconds.len() >= 2 && seconds.contains(&0) && seconds.contains(&1),
        "seconds on disk: {seconds:?}"
    );
    assert!(intervals.iter().all(|i| !i.hist.is_empty()));
}
