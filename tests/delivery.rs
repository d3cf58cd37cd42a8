//! Delivery end to end: `loadcheck demo serve` processes deliver every
//! accepted webhook, signed with Standard Webhooks, to the sink that
//! `loadcheck run` starts from its `[sink]`; the sink matches deliveries with
//! submissions. Then the circuit breaker: instances in memory or sharing a
//! real Redis, against a sink that fails after 3 requests.

mod common;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{run_binary, stderr};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A child process killed when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_for_port(port: u16) {
    let until = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < until, "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `loadcheck demo serve` delivering to `sink_port`, with `extra` flags.
fn demo(port: u16, sink_port: u16, extra: &[&str]) -> Proc {
    let child = Command::new(env!("CARGO_BIN_EXE_loadcheck"))
        .args(["demo", "serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--deliver-to", &format!("http://127.0.0.1:{sink_port}/hooks")])
        .args(["--webhook-secret-env", "LC_DEMO_WH"])
        .args(extra)
        .env("LC_DEMO_WH", SECRET)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_port(port);
    Proc(child)
}

fn redis(port: u16) -> Proc {
    let bin = ["/usr/bin/redis-server", "/usr/local/bin/redis-server"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("redis-server is installed (scripts/test installs it)");
    let child = Command::new(bin)
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_port(port);
    Proc(child)
}

/// A plan sending webhooks to each instance, with a verifying,
/// correlating sink on `sink_port` answering as `route` says.
fn plan(instances: &[u16], sink_port: u16, rate: u32, duration: &str, route: &str, extra: &str) -> String {
    let mut p = format!(
        r#"
        target = "http://127.0.0.1:{first}"
        [sink]
        listen = "127.0.0.1:{sink_port}"
        deadline = "8s"
        correlate = {{ endpoint = "webhook-0", pointer = "/id" }}
        [sink.signing]
        scheme = "standard-webhooks"
        secret_env = "LC_DEMO_WH"
        [[sink.route]]
        path = "/hooks"
        {route}
        [load]
        executor = "constant-arrival-rate"
        rate = {rate}
        duration = "{duration}"
        "#,
        first = instances[0],
    );
    for (i, port) in instances.iter().enumerate() {
        p.push_str(&format!(
            r#"
            [[endpoint]]
            name = "webhook-{i}"
            method = "POST"
            path = "http://127.0.0.1:{port}/api/v1/webhooks"
            headers = {{ content-type = "application/json" }}
            body = {{ template = '{{"id": "evt_{{{{uuid}}}}", "type": "order.created"}}' }}
            expect = [202]
            "#
        ));
    }
    p.push_str(extra);
    p
}

#[test]
fn every_webhook_is_delivered_once_with_end_to_end_percentiles() {
    let (port, sink_port) = (free_port(), free_port());
    let _demo = demo(port, sink_port, &[]);
    let dir = tempfile::tempdir().unwrap();
    let text = plan(
        &[port],
        sink_port,
        100,
        "3s",
        "",
        "[thresholds]\ndelivery_lost = [\"count==0\"]\ndelivery_duplicates = [\"count==0\"]\ndelivery_duration = [\"p(99)<1000\"]\n",
    );
    let (out, json) = run_binary(dir.path(), &text, &[("LC_DEMO_WH", SECRET)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let json = json.unwrap();
    let c = &json["delivery"]["correlation"];
    let sent = json["stats"]["total"]["ok"].as_u64().unwrap();
    assert!(sent >= 290, "{sent}");
    assert_eq!(c["submitted"].as_u64(), Some(sent), "{c}");
    assert_eq!(c["delivered"].as_u64(), Some(sent), "{c}");
    assert_eq!(c["lost"], 0, "{c}");
    assert_eq!(json["delivery"]["duplicates"], 0);
    assert_eq!(c["posts_per_event"], 1.0, "{c}");
    assert_eq!(json["delivery"]["signatures"]["valid"].as_u64(), Some(sent));
    let lat = &c["latency_ms"];
    let (p50, p95, p99) = (
        lat["p50"].as_f64().unwrap(),
        lat["p95"].as_f64().unwrap(),
        lat["p99"].as_f64().unwrap(),
    );
    assert!(0.0 < p50 && p50 <= p95 && p95 <= p99 && p99 < 1000.0, "{lat}");
    assert!(c["hdr"].as_str().is_some_and(|h| h.starts_with("HISTF")), "{c}");
    eprintln!("delivered {sent}/{sent}; end to end p50 {p50} ms, p95 {p95} ms, p99 {p99} ms");

    // The same latency per second of submission, and a comparison reads it:
    // the run against itself has a `(webhook delivery)` cell with latency
    // only, unchanged or too short to call, never a regression.
    assert_eq!(c["interval_log"], "delivery.hlog", "{c}");
    let out_dir = dir.path().join("out");
    let hlog = std::fs::read_to_string(out_dir.join("delivery.hlog")).unwrap();
    let intervals = hlog.lines().filter(|l| l.starts_with("Tag=delivery_latency,")).count();
    assert!((3..=5).contains(&intervals), "{intervals} seconds in\n{hlog}");
    let cmp_dir = dir.path().join("cmp");
    let run_json = out_dir.join("run.json");
    let compared = common::loadcheck_command()
        .arg("compare")
        .args([&run_json, &run_json])
        .arg("--out")
        .arg(&cmp_dir)
        .output()
        .unwrap();
    assert_eq!(compared.status.code(), Some(0), "{}", stderr(&compared));
    let cmp: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(cmp_dir.join("comparison.json")).unwrap()).unwrap();
    let delivery: Vec<&serde_json::Value> = cmp["comparisons"][0]["series"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["endpoint"] == "(webhook delivery)")
        .collect();
    let metrics: Vec<&str> = delivery.iter().map(|s| s["metric"].as_str().unwrap()).collect();
    assert_eq!(metrics.len(), 3, "{delivery:?}");
    for m in ["p50", "p95", "p99"] {
        assert!(metrics.contains(&m), "{metrics:?}");
    }
    for s in &delivery {
        assert!(s["class"] == "unchanged" || s["class"] == "inconclusive", "{s}");
        // The per-second log holds the run's latencies: its quantiles are
        // run.json's (to the comparison's 1% bins).
        let whole = match s["metric"].as_str() {
            Some("p50") => p50,
            Some("p95") => p95,
            _ => continue,
        };
        let v = s["value"].as_f64().unwrap();
        assert!((v / whole - 1.0).abs() < 0.05, "{v} vs {whole}: {s}");
    }
}

#[test]
fn a_sink_failing_every_10th_post_shows_amplification_and_loses_nothing() {
    let (port, sink_port) = (free_port(), free_port());
    let _demo = demo(port, sink_port, &["--retry-backoff", "50ms"]);
    let dir = tempfile::tempdir().unwrap();
    let text = plan(&[port], sink_port, 100, "3s", "fail_every = 10", "");
    let (out, json) = run_binary(dir.path(), &text, &[("LC_DEMO_WH", SECRET)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let json = json.unwrap();
    let d = &json["delivery"];
    let c = &d["correlation"];
    let ppe = c["posts_per_event"].as_f64().unwrap();
    assert!(ppe > 1.05 && ppe < 1.2, "POSTs per event {ppe}: {c}");
    assert_eq!(c["lost"], 0, "{c}");
    assert_eq!(c["delivered"], c["submitted"], "{c}");
    assert_eq!(d["duplicates"], 0, "{d}");
    let failed = d["failed"].as_u64().unwrap();
    let posts = d["posts"].as_u64().unwrap();
    assert_eq!(failed, posts / 10, "every 10th POST failed: {d}");
    eprintln!("POSTs per event {ppe:.3}; {failed} of {posts} POSTs failed as programmed; 0 lost");
}

/// Runs `instances` demo processes against a sink that fails after 3
/// requests and returns (exit code, failed POSTs, run.json, stdout).
fn breaker_run(instances: usize, redis_port: Option<u16>) -> (Option<i32>, u64, serde_json::Value, String) {
    let sink_port = free_port();
    let ports: Vec<u16> = (0..instances).map(|_| free_port()).collect();
    let key = format!("lc-test-{}", free_port());
    let mut flags: Vec<String> = vec![
        "--half-open-after".into(),
        "60s".into(),
        "--retry-backoff".into(),
        "20ms".into(),
    ];
    if let Some(r) = redis_port {
        flags.extend([
            "--breaker-redis".into(),
            format!("redis://127.0.0.1:{r}/"),
            "--breaker-key".into(),
            key,
        ]);
    }
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let _demos: Vec<Proc> = ports.iter().map(|&p| demo(p, sink_port, &flags)).collect();
    let requirement = r#"
        [[requirement]]
        name = "The circuit opens after at most 5 failures in total"
        target = "<= 5 failed deliveries, across instances"
        check = "delivery_failed_posts: count<=5"
    "#;
    let text = plan(&ports, sink_port, 200, "3s", "fail_after = 3", requirement);
    let dir = tempfile::tempdir().unwrap();
    let (out, json) = run_binary(dir.path(), &text, &[("LC_DEMO_WH", SECRET)]);
    let json = json.unwrap_or_else(|| panic!("no run.json: {}", stderr(&out)));
    let failed = json["delivery"]["failed"].as_u64().unwrap();
    (
        out.status.code(),
        failed,
        json,
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn the_circuit_opens_after_5_failures_per_instance_in_memory() {
    for (instances, want, code) in [(1, 5, 0), (2, 10, 1), (4, 20, 1)] {
        let (exit, failed, json, stdout) = breaker_run(instances, None);
        assert_eq!(failed, want, "{instances} instance(s): {}", json["delivery"]);
        assert_eq!(json["delivery"]["accepted"], 3, "{}", json["delivery"]);
        assert_eq!(exit, Some(code), "{instances} instance(s)");
        assert_eq!(json["requirements"][0]["ok"], code == 0);
        assert!(
            stdout.contains(&format!("{failed} failed as programmed")),
            "the summary shows the sink's count: {stdout}"
        );
        eprintln!("{instances} in-memory instance(s): {failed} failed POSTs before deliveries stopped");
    }
}

#[test]
fn four_instances_sharing_a_redis_breaker_open_it_after_5_failures_in_total() {
    let redis_port = free_port();
    let _redis = redis(redis_port);
    for round in 1..=2 {
        let (exit, failed, json, _) = breaker_run(4, Some(redis_port));
        assert_eq!(failed, 5, "round {round}: {}", json["delivery"]);
        assert_eq!(exit, Some(0), "round {round}");
        assert_eq!(json["requirements"][0]["ok"], true);
        eprintln!("4 instances sharing Redis, round {round}: {failed} failed POSTs");
    }
}

#[test]
fn redis_killed_mid_run_the_instances_fall_back_and_keep_accepting() {
    // examples/circuit-breaker.sh on its fixed loopback ports: Redis
    // 16379, instances 18081–18084, sink 19944.
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new("bash")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/circuit-breaker.sh"))
        .args(["--out", dir.path().to_str().unwrap(), "-q"])
        .env("LOADCHECK", env!("CARGO_BIN_EXE_loadcheck"))
        .output()
        .unwrap();
    let err = stderr(&out);
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("run.json")).unwrap_or_else(|e| panic!("{e}: {err}")),
    )
    .unwrap();
    // The breaker requirement fails (the fallback costs failures); nothing else.
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("falling back to the in-memory breaker"), "{err}");
    assert!(err.contains("back to the shared breaker"), "{err}");
    let total = &json["stats"]["total"];
    assert_eq!(total["requests"], total["ok"], "every webhook was accepted: {total}");
    assert!(total["requests"].as_u64().unwrap() >= 1400);
    let event = json["availability"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event"] == "redis-down")
        .unwrap_or_else(|| panic!("no redis-down event: {}", json["availability"]))
        .clone();
    assert!(event["rto_s"].as_f64().is_some_and(|r| r < 1.0), "{event}");
    let failed = json["delivery"]["failed"].as_u64().unwrap();
    // 5 before the fault, 5 per instance on its own breaker while Redis was
    // down, and 5 more on the emptied shared breaker after it came back.
    assert!((25..=30).contains(&failed), "{failed}: {}", json["delivery"]);
    assert_eq!(json["requirements"][0]["ok"], false);
    assert_eq!(json["requirements"][1]["ok"], true);
    assert_eq!(json["requirements"][2]["ok"], true);
    eprintln!(
        "Redis killed at 8 s: {failed} failed POSTs in all; redis-down RTO {}",
        event["rto_s"]
    );
}
