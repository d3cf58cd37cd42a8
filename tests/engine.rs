//! The engine against in-process servers: executors send what their
//! schedules say, coordinated omission is corrected, every error class is
//! counted, and thresholds decide the exit code.

mod common;

use std::time::{Duration, Instant};

use common::{basic_server, dead_addr, reset_server, run};
use loadcheck::exit::Exit;
use loadcheck::metrics::RunResult;

fn endpoint_requests(r: &RunResult, name: &str) -> u64 {
    r.stats.endpoints[name].requests
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn constant_arrival_rate_sends_its_schedule() {
    let s = basic_server().await;
    let (code, r, _) = run(&format!(
        r#"target = "{}"
[load]
executor = "constant-arrival-rate"
rate = 200
duration = "5s"
[[endpoint]]
name = "ok"
path = "/ok"
"#,
        s.url()
    ))
    .await;
    assert_eq!(code, Exit::Pass);
    let n = r.stats.total.requests;
    assert!((990..=1010).contains(&n), "200 req/s for 5 s sent {n}");
    assert_eq!(r.generator.as_ref().unwrap().scheduled_sends, 1000);
    assert_eq!(r.generator.as_ref().unwrap().dropped_sends, 0);
    assert_eq!(s.hits.load(std::sync::atomic::Ordering::Relaxed), n);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ramping_arrival_rate_follows_its_stages() {
    let s = basic_server().await;
    let (_, r, _) = run(&format!(
        r#"target = "{}"
[load]
executor = "ramping-arrival-rate"
start_rate = 0
stages = [{{ duration = "2s", target = 200 }}, {{ duration = "2s", target = 200 }}, {{ duration = "2s", target = 0 }}]
[[endpoint]]
name = "ok"
path = "/ok"
"#,
        s.url()
    ))
    .await;
    // 0→200 over 2 s (200), 200 for 2 s (400), 200→0 over 2 s (200).
    let n = r.stats.total.requests;
    assert!((792..=808).contains(&n), "sent {n}");
    let rows = &r.timeline.total;
    let (first, middle) = (rows[0].requests, rows[2].requests + rows[3].requests);
    assert!(first < 90, "ramp starts slow: {first} in second 0");
    assert!((380..=420).contains(&middle), "the plateau runs at 200/s: {middle}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vu_executors_run_and_stop_at_their_counts() {
    let s = basic_server().await;
    let plan = |exec: &str| {
        format!(
            r#"target = "{}"
[load]
{exec}
[[endpoint]]
name = "ok"
path = "/ok"
"#,
            s.url()
        )
    };
    let (_, shared, _) = run(&plan("executor = \"shared-iterations\"\nvus = 4\niterations = 123")).await;
    assert_eq!(shared.stats.total.requests, 123);
    let (_, per_vu, _) = run(&plan("executor = \"per-vu-iterations\"\nvus = 3\niterations = 7")).await;
    assert_eq!(per_vu.stats.total.requests, 21);
    let started = Instant::now();
    let (_, constant, _) = run(&plan(
        "executor = \"constant-vus\"\nvus = 2\nduration = \"2s\"\nthink_time = \"100ms\"",
    ))
    .await;
    // 2 VUs × 2 s / (100 ms think + ~1 ms request): about 40 requests.
    let n = constant.stats.total.requests;
    assert!((30..=42).contains(&n), "constant-vus sent {n}");
    assert!(started.elapsed() < Duration::from_secs(6));
    let (_, ramping, _) = run(&plan(
        "executor = \"ramping-vus\"\nstart_vus = 0\nstages = [{ duration = \"2s\", target = 4 }]\nthink_time = \"100ms\"",
    ))
    .await;
    // VU i runs from (i+1)/2 s: 1.5 + 1 + 0.5 + 0 VU-seconds of work, about 30 requests.
    let n = ramping.stats.total.requests;
    assert!((20..=36).contains(&n), "ramping-vus sent {n}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_model_charges_stalls_to_latency() {
    // The demo service stalls every request for 1 s in every 5 s.
    let cfg = loadcheck::demo::DemoConfig {
        stall_every: Some(Duration::from_secs(5)),
        stall_for: Duration::from_secs(1),
        ..Default::default()
    };
    let s = common::serve(loadcheck::demo::router(cfg)).await;
    let (_, r, _) = run(&format!(
        r#"target = "{}"
timeout = "5s"
[load]
executor = "constant-arrival-rate"
rate = 100
duration = "10s"
[[endpoint]]
name = "thumb"
path = "/v1/images/1/thumb/"
"#,
        s.url()
    ))
    .await;
    let lat = r.stats.total.latency_ms.unwrap();
    assert_eq!(r.generator.as_ref().unwrap().dropped_sends, 0);
    assert!(lat.p99 >= 800.0, "p99 {} ms must show the 1 s stalls", lat.p99);
    assert!(lat.p50 < 100.0, "p50 {} ms", lat.p50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_in_flight_drops_and_counts_sends() {
    let s = basic_server().await;
    let (_, r, dir) = run(&format!(
        r#"target = "{}"
[load]
executor = "constant-arrival-rate"
rate = 100
duration = "2s"
max_in_flight = 2
[[endpoint]]
name = "slow"
path = "/delay/100"
"#,
        s.url()
    ))
    .await;
    // 2 in flight × 10 per second each = about 20/s of the 100/s asked.
    assert!(
        r.generator.as_ref().unwrap().dropped_sends > 100,
        "dropped {}",
        r.generator.as_ref().unwrap().dropped_sends
    );
    assert_eq!(r.generator.as_ref().unwrap().scheduled_sends, 200);
    assert_eq!(
        r.generator.as_ref().unwrap().dropped_sends + r.stats.total.requests,
        200
    );
    let json = std::fs::read_to_string(dir.join("run.json")).unwrap();
    assert!(json.contains("\"dropped_sends\""));
    let text = loadcheck::report::summary::render(&r);
    assert!(
        text.contains(&format!("{} dropped", r.generator.as_ref().unwrap().dropped_sends)),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_class_is_counted_and_the_run_goes_on() {
    let s = basic_server().await;
    let reset = reset_server().await;
    let doomed = basic_server().await;
    let plan = format!(
        r#"target = "{base}"
timeout = "300ms"
[load]
executor = "constant-arrival-rate"
rate = 160
duration = "3s"
[[endpoint]]
name = "not_found"
path = "/status/404"
[[endpoint]]
name = "limited"
path = "/status/429"
[[endpoint]]
name = "unavailable"
path = "/status/503"
[[endpoint]]
name = "wrong_ok"
path = "/status/200"
expect = [202]
[[endpoint]]
name = "hang"
path = "/hang"
[[endpoint]]
name = "reset"
path = "{reset}/x"
[[endpoint]]
name = "stopped"
path = "{doomed}/ok"
[[endpoint]]
name = "fine"
path = "/ok"
"#,
        base = s.url(),
        reset = reset.url(),
        doomed = doomed.url()
    );
    let stopper = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(1000)).await;
        doomed.stop().await;
    });
    let (code, r, _) = run(&plan).await;
    stopper.await.unwrap();
    assert_eq!(code, Exit::Pass, "no thresholds: errors are data");
    let e = |name: &str, class: &str| r.stats.endpoints[name].errors[class];
    assert_eq!(e("not_found", "status_4xx"), endpoint_requests(&r, "not_found"));
    assert_eq!(e("limited", "status_429"), endpoint_requests(&r, "limited"));
    assert_eq!(e("unavailable", "status_5xx"), endpoint_requests(&r, "unavailable"));
    assert_eq!(e("wrong_ok", "unexpected_status"), endpoint_requests(&r, "wrong_ok"));
    assert_eq!(e("hang", "timeout"), endpoint_requests(&r, "hang"));
    assert_eq!(e("reset", "reset"), endpoint_requests(&r, "reset"));
    assert!(e("stopped", "connect") > 0, "{:?}", r.stats.endpoints["stopped"]);
    assert!(r.stats.endpoints["stopped"].ok > 0, "it answered before it was stopped");
    assert_eq!(r.stats.endpoints["fine"].failed, 0);
    assert!(r.stats.endpoints["hang"].failure_latency_ms.unwrap().p50 >= 290.0);
    // The run went on to its end.
    assert!(r.timeline.total.len() >= 3);
    for name in ["not_found", "fine", "stopped", "hang"] {
        assert!(
            endpoint_requests(&r, name) > 20,
            "{name}: {}",
            endpoint_requests(&r, name)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_target_exits_3_and_sends_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let plan = common::plan(&format!(
        "target = \"http://{}\"\n[load]\nexecutor = \"constant-vus\"\nvus = 1\nduration = \"1s\"\n[[endpoint]]\nname = \"a\"\npath = \"/\"\n",
        dead_addr()
    ));
    let code = loadcheck::run_plan(plan, &common::engine_args(dir.path())).await;
    assert_eq!(code, Exit::Operational);
    assert!(
        !dir.path().join("run.json").exists(),
        "nothing ran, so nothing was measured"
    );
}

fn threshold_plan(url: &str, thresholds: &str) -> String {
    format!(
        r#"target = "{url}"
[load]
executor = "constant-arrival-rate"
rate = 50
duration = "3s"
[[endpoint]]
name = "fast"
path = "/ok"
[[endpoint]]
name = "broken"
path = "/status/500"
[load.endpoints]
fast = 9
broken = 1
{thresholds}
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thresholds_and_requirements_decide_the_exit_code() {
    let s = basic_server().await;
    let passing = "[thresholds]\n\"http_req_duration{endpoint:fast}\" = [\"p(95)<500\"]\n\"http_req_failed{endpoint:fast}\" = [\"rate==0\"]\n[[requirement]]\nname = \"fast p99\"\ntarget = \"< 1 s\"\ncheck = \"http_req_duration{endpoint:fast}: p(99)<1000\"\n";
    let (code, r, _) = run(&threshold_plan(&s.url(), passing)).await;
    assert_eq!(code, Exit::Pass);
    assert!(r.thresholds.iter().all(|t| t.ok && t.value.is_some()));
    assert!(
        r.requirements[0].validated.contains("constant-arrival-rate"),
        "{}",
        r.requirements[0].validated
    );

    let failing = "[thresholds]\n\"http_req_failed\" = [\"rate<0.01\"]\n";
    let (code, r, _) = run(&threshold_plan(&s.url(), failing)).await;
    assert_eq!(code, Exit::Fail);
    let rate = r.thresholds[0].value.unwrap();
    assert!((0.05..0.2).contains(&rate), "failure rate {rate}");

    let failing_req =
        "[[requirement]]\nname = \"no 5xx\"\ntarget = \"0\"\ncheck = \"http_errors{class:status_5xx}: count==0\"\n";
    let (code, _, _) = run(&threshold_plan(&s.url(), failing_req)).await;
    assert_eq!(code, Exit::Fail);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_on_fail_stops_the_run_early() {
    let s = basic_server().await;
    let plan = threshold_plan(
        &s.url(),
        "[thresholds]\n\"http_errors\" = [{ threshold = \"count<5\", abort_on_fail = true }]\n",
    )
    .replace("duration = \"3s\"", "duration = \"20s\"");
    let started = Instant::now();
    let (code, r, _) = run(&plan).await;
    assert_eq!(code, Exit::Fail);
    assert!(started.elapsed() < Duration::from_secs(8), "stopped early");
    assert_eq!(r.status, loadcheck::metrics::result::RunStatus::Aborted);
    let abort = r.abort.unwrap();
    assert_eq!(abort.kind, loadcheck::metrics::result::AbortKind::Threshold);
    assert!(abort.detail.unwrap().contains("http_errors"));
    assert_eq!(r.verdict.unwrap().exit_code, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_makes_random_choices_repeatable() {
    let s = basic_server().await;
    let plan = format!(
        r#"target = "{}"
[load]
executor = "shared-iterations"
vus = 1
iterations = 300
[[endpoint]]
name = "a"
path = "/ok?n={{{{random_int:1..1000}}}}"
[[endpoint]]
name = "b"
path = "/ok"
[[endpoint]]
name = "c"
path = "/ok"
"#,
        s.url()
    );
    let counts = |r: &RunResult| ["a", "b", "c"].map(|e| endpoint_requests(r, e));
    let (_, first, _) = common::run_seeded(&plan, 11).await;
    let (_, again, _) = common::run_seeded(&plan, 11).await;
    let (_, other, _) = common::run_seeded(&plan, 12).await;
    assert_eq!(counts(&first), counts(&again), "the same seed makes the same choices");
    assert_ne!(counts(&first), counts(&other), "another seed makes other choices");
    assert_eq!(first.metadata.seed, 11);
}

/// Placeholders are `{{name}}` and a single brace is text, so an inline
/// JSON body is written as it is sent: the server receives valid JSON with
/// its braces once and each placeholder filled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inline_json_body_is_sent_as_written() {
    use std::sync::{Arc, Mutex};

    use axum::extract::{RawQuery, State};

    /// Each request's query and body, as the server received them.
    type Seen = Arc<Mutex<Vec<(Option<String>, String)>>>;

    let seen: Seen = Arc::default();
    let router = axum::Router::new()
        .route(
            "/orders",
            axum::routing::post(
                |State(seen): State<Seen>, RawQuery(q): RawQuery, body: String| async move {
                    seen.lock().unwrap().push((q, body));
                    "ok"
                },
            ),
        )
        .with_state(seen.clone());
    let server = common::serve(router).await;
    let plan = r#"
target = "TARGET"
[load]
executor = "shared-iterations"
vus = 2
iterations = 6
[[endpoint]]
name = "order"
method = "POST"
path = "/orders?vu={{vu}}"
headers = { content-type = "application/json" }
body = '{"id": "{{uuid}}", "vu": {{vu}}, "tags": {"kind": "test", "list": [{}]}}'
"#
    .replace("TARGET", &server.url());
    let (code, r, _) = run(&plan).await;
    assert_eq!(code, Exit::Pass);
    assert_eq!(endpoint_requests(&r, "order"), 6);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 6);
    let mut ids = std::collections::BTreeSet::new();
    for (query, body) in &seen {
        let v: serde_json::Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"));
        assert_eq!(v["tags"], serde_json::json!({"kind": "test", "list": [{}]}), "{body}");
        let id = uuid::Uuid::parse_str(v["id"].as_str().unwrap()).unwrap();
        assert_eq!(id.get_version_num(), 4, "{body}");
        ids.insert(id);
        let vu = v["vu"].as_u64().unwrap_or_else(|| panic!("vu is a number: {body}"));
        assert_eq!(query.as_deref(), Some(format!("vu={vu}").as_str()));
        assert!(!body.contains("{{") && !body.contains("}}}"), "{body}");
    }
    assert_eq!(ids.len(), 6, "a UUID per request");
}

/// A keep-alive HTTP/1.1 server that notes, for each connection, whether it
/// served `/slow` (answered after 50 ms) and when the client closed it.
async fn connection_tracking_server() -> (String, std::sync::Arc<std::sync::Mutex<Vec<(bool, Instant)>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let closed = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = closed.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let log = log.clone();
            tokio::spawn(async move {
                let (mut buf, mut slow) = (Vec::new(), false);
                let mut chunk = [0u8; 4096];
                loop {
                    match tokio::time::timeout(Duration::from_secs(30), sock.read(&mut chunk)).await {
                        Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
                        _ => break,
                    }
                    // GETs without bodies: every head is one request.
                    while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head: Vec<u8> = buf.drain(..end + 4).collect();
                        if head.starts_with(b"GET /slow") {
                            slow = true;
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                        if sock
                            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                            .await
                            .is_err()
                        {
                            break;
                        }
                    }
                }
                log.lock().unwrap().push((slow, Instant::now()));
            });
        }
    });
    (url, closed)
}

/// An open-model scenario's connections close when it ends, not when the
/// worker does: once its loop and its last send are done, its idle
/// connections go (a server would otherwise time them out into CLOSE_WAIT
/// while a later scenario runs on).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_scenario_closes_its_connections_when_it_ends() {
    let (url, closed) = connection_tracking_server().await;
    let started = Instant::now();
    let (code, r, _) = run(&format!(
        r#"target = "{url}"
[[endpoint]]
name = "slow"
path = "/slow"
[[endpoint]]
name = "fast"
path = "/fast"
[[scenario]]
name = "burst"
executor = "constant-arrival-rate"
rate = 400
duration = "1s"
graceful_stop = "1s"
endpoints = {{ slow = 1 }}
[[scenario]]
name = "later"
executor = "constant-vus"
vus = 1
duration = "4s"
endpoints = {{ fast = 1 }}
"#
    ))
    .await;
    let ended = Instant::now();
    assert_eq!(code, Exit::Pass);
    assert!(
        endpoint_requests(&r, "slow") >= 390,
        "{}",
        endpoint_requests(&r, "slow")
    );
    let closed = closed.lock().unwrap();
    let burst: Vec<_> = closed.iter().filter(|(slow, _)| *slow).collect();
    // 400/s × 50 ms: about 20 at once.
    assert!(burst.len() >= 10, "the burst used {} connections", burst.len());
    for (_, at) in &burst {
        let after = at.duration_since(started);
        assert!(
            *at + Duration::from_millis(1500) < ended,
            "a burst connection closed {after:?} after the start, the run ended {:?} after it",
            ended.duration_since(started)
        );
    }
}
