//! The sink under attack (issue 17): the real `loadcheck sink` binary faces
//! thousands of idle connections, slow-drip (slowloris) senders, oversized
//! heads and bodies and a flood of unsigned ids, while a well-behaved sender
//! posts signed deliveries at a steady pace. Every valid delivery must be
//! accepted, verified and counted, fast, within the documented memory bound.
//! Everything is on 127.0.0.1, and every loop is bounded in count and time.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use loadcheck::plan::parse_sink;
use loadcheck::signing::{self, HeaderList, Message, SchemeConfig, SchemeKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const VALID: usize = 500;
const PACE: Duration = Duration::from_micros(12_500);
const SLOWLORIS: usize = 50;
const HEADER_TIMEOUT: Duration = Duration::from_secs(2);
const MAX_CONNECTIONS: u64 = 12_000;
const MAX_IDS: u64 = 100_000;
const MAX_BODY: usize = 65_536;

/// docs/sink.md, "Limits and memory": a base, a bound per connection, and
/// 160 bytes per ledger entry.
fn documented_bound_bytes(max_connections: u64, max_ids: u64) -> u64 {
    32 * 1024 * 1024 + max_connections * 80 * 1024 + max_ids * 160
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// A signed Standard Webhooks delivery of `id`.
fn signed(url: &str, id: &str) -> reqwest::RequestBuilder {
    let cfg = SchemeConfig::new(SchemeKind::StandardWebhooks, vec![SECRET.into()]);
    let scheme = signing::build(&cfg).unwrap();
    let body = format!("{{\"id\":\"{id}\",\"type\":\"order.created\"}}");
    let msg = Message {
        method: "POST",
        path: "/hooks/orders",
        query: "",
        body: body.as_bytes(),
        timestamp: now(),
        id,
    };
    let mut headers: HeaderList = Vec::new();
    scheme.sign(&msg, &mut headers);
    let mut req = client_for_url(url)
        .post(format!("{url}/hooks/orders"))
        .header("content-type", "application/json")
        .body(body);
    for (k, v) in headers {
        req = req.header(k, v);
    }
    req
}

/// The sender's one client, so that its connection is kept alive.
fn client_for_url(_url: &str) -> reqwest::Client {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    CLIENT.get_or_init(client).clone()
}

/// The peak resident set of `pid`, in bytes.
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb * 1024
}

/// Whether the peer has closed `stream` (EOF or an error) within `within`.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

/// The status of the first answer on `stream`, if one comes within 5 s.
async fn status_of(stream: &mut TcpStream) -> Option<u16> {
    let mut buf = vec![0u8; 4096];
    let mut got = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while got < 12 {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf[got..])).await {
            Ok(Ok(n)) if n > 0 => got += n,
            _ => return None,
        }
    }
    std::str::from_utf8(&buf[9..12]).ok()?.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn valid_deliveries_are_all_accepted_fast_under_the_attack_mix() {
    let limit = rlimit::increase_nofile_limit(u64::MAX).unwrap();
    // Idle connections held at once: 10,000 when the limit allows.
    let idle_n = 10_000usize.min(limit.saturating_sub(1_000) as usize);
    assert!(
        idle_n >= 1_000,
        "the open-files limit ({limit}) is too low for this test"
    );

    let dir = tempfile::tempdir().unwrap();
    let cfg_path = dir.path().join("sink.toml");
    std::fs::write(
        &cfg_path,
        format!(
            "max_body = {MAX_BODY}\nheader_timeout = \"2s\"\nmax_connections = {MAX_CONNECTIONS}\n\
             max_ids = {MAX_IDS}\n[signing]\nscheme = \"standard-webhooks\"\nsecret_env = \"LC_ATTACK_SECRET\"\n"
        ),
    )
    .unwrap();
    let stats_out = dir.path().join("stats.json");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let url = format!("http://{addr}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_loadcheck"))
        .args(["sink", "--config"])
        .arg(&cfg_path)
        .args(["--listen", &addr, "--max-duration", "120s", "--stats-out"])
        .arg(&stats_out)
        .env("LC_ATTACK_SECRET", SECRET)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();

    // Ready when it answers its stats.
    let started = Instant::now();
    loop {
        if let Ok(r) = client().get(format!("{url}/_sink/stats")).send().await
            && r.status().is_success()
        {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "the sink did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let stop = Arc::new(AtomicBool::new(false));
    let mut attackers = tokio::task::JoinSet::new();

    // Idle connections, in waves: each wave opens `idle_n`, sends nothing,
    // and checks that the sink closed them by the header timeout.
    let idle_opened = Arc::new(AtomicU64::new(0));
    let idle_closed = Arc::new(AtomicU64::new(0));
    let idle_peak = Arc::new(AtomicU64::new(0));
    {
        let (stop, opened, closed, peak, addr) = (
            stop.clone(),
            idle_opened.clone(),
            idle_closed.clone(),
            idle_peak.clone(),
            addr.clone(),
        );
        attackers.spawn(async move {
            for _wave in 0..4 {
                if stop.load(Relaxed) {
                    break;
                }
                let mut conns = Vec::with_capacity(idle_n);
                for _batch in 0..idle_n.div_ceil(500) {
                    let mut set = tokio::task::JoinSet::new();
                    for _ in 0..500.min(idle_n - conns.len()) {
                        let addr = addr.clone();
                        set.spawn(async move {
                            tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(addr)).await
                        });
                    }
                    while let Some(r) = set.join_next().await {
                        if let Ok(Ok(Ok(s))) = r {
                            conns.push(s);
                        }
                    }
                }
                opened.fetch_add(conns.len() as u64, Relaxed);
                peak.fetch_max(conns.len() as u64, Relaxed);
                let mut set = tokio::task::JoinSet::new();
                for mut s in conns {
                    set.spawn(async move { closed_within(&mut s, HEADER_TIMEOUT + Duration::from_secs(3)).await });
                }
                while let Some(r) = set.join_next().await {
                    if r.unwrap() {
                        closed.fetch_add(1, Relaxed);
                    }
                }
            }
        });
    }

    // Slowloris: a header byte every 100 ms, until the sink closes the
    // connection; each one's time to close is kept.
    let slow_closed: Arc<std::sync::Mutex<Vec<Duration>>> = Arc::default();
    for i in 0..SLOWLORIS {
        let (slow_closed, addr) = (slow_closed.clone(), addr.clone());
        attackers.spawn(async move {
            tokio::time::sleep(Duration::from_millis(20 * i as u64)).await;
            let Ok(s) = TcpStream::connect(addr).await else { return };
            let t0 = Instant::now();
            let (mut r, mut w) = s.into_split();
            let head = b"POST /hooks/orders HTTP/1.1\r\nhost: x\r\nx-slow: ".to_vec();
            let drip = async move {
                for k in 0..200usize {
                    let byte = if k < head.len() { head[k] } else { b'a' };
                    if w.write_all(&[byte]).await.is_err() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                std::future::pending::<()>().await;
            };
            let mut buf = [0u8; 512];
            let closed = async {
                loop {
                    match r.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                }
            };
            tokio::select! {
                () = closed => slow_closed.lock().unwrap().push(t0.elapsed()),
                () = drip => {}
                () = tokio::time::sleep(Duration::from_secs(20)) => {}
            }
        });
    }

    // Oversized heads (> 64 KiB) and bodies (> max_body), on raw sockets.
    let big_heads_431 = Arc::new(AtomicU64::new(0));
    let big_bodies_413 = Arc::new(AtomicU64::new(0));
    for w in 0..2 {
        let (stop, heads, bodies, addr) = (
            stop.clone(),
            big_heads_431.clone(),
            big_bodies_413.clone(),
            addr.clone(),
        );
        attackers.spawn(async move {
            for _ in 0..200 {
                if stop.load(Relaxed) {
                    break;
                }
                let Ok(mut s) = TcpStream::connect(&addr).await else { continue };
                if w == 0 {
                    let mut req = b"POST /hooks/orders HTTP/1.1\r\nhost: x\r\nx-big: ".to_vec();
                    req.extend(std::iter::repeat_n(b'a', 70 * 1024));
                    req.extend(b"\r\n\r\n");
                    let _ = s.write_all(&req).await;
                    // 431, or the connection closed before the head was
                    // read (the reset can overtake the answer): turned away.
                    match status_of(&mut s).await {
                        Some(431) | None => heads.fetch_add(1, Relaxed),
                        Some(other) => panic!("an oversized head got {other}"),
                    };
                } else {
                    let head = format!(
                        "POST /hooks/orders HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                        MAX_BODY * 4
                    );
                    let _ = s.write_all(head.as_bytes()).await;
                    let _ = s.write_all(&vec![b'a'; 4096]).await;
                    match status_of(&mut s).await {
                        Some(413) => bodies.fetch_add(1, Relaxed),
                        other => panic!("an oversized body got {other:?}"),
                    };
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
    }

    // A flood of distinct unsigned ids.
    let flood_401 = Arc::new(AtomicU64::new(0));
    for w in 0..4 {
        let (stop, refused, url) = (stop.clone(), flood_401.clone(), url.clone());
        attackers.spawn(async move {
            let c = client();
            // 500 a second per sender, 2,000 in all.
            let mut tick = tokio::time::interval(Duration::from_millis(2));
            for i in 0..20_000 {
                if stop.load(Relaxed) {
                    break;
                }
                tick.tick().await;
                let r = c
                    .post(format!("{url}/hooks/orders"))
                    .header("content-type", "application/json")
                    .header("webhook-id", format!("flood_{w}_{i}"))
                    .body(format!("{{\"id\":\"flood_{w}_{i}\"}}"))
                    .send()
                    .await;
                if r.is_ok_and(|r| r.status() == 401) {
                    refused.fetch_add(1, Relaxed);
                }
            }
        });
    }

    // Let the attack build up: the first wave of idle connections open.
    let build = Instant::now();
    while idle_peak.load(Relaxed) == 0 && build.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // The well-behaved sender, on a thread and runtime of its own, so that
    // its latencies are the sink's and not the attackers' scheduling.
    let sender_url = url.clone();
    let sender = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let mut latencies = Vec::with_capacity(VALID);
            let mut statuses = Vec::with_capacity(VALID);
            let mut tick = tokio::time::interval(PACE);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            for i in 0..VALID {
                tick.tick().await;
                let req = signed(&sender_url, &format!("valid_{i}"));
                let t0 = Instant::now();
                let status = req.send().await.map(|r| r.status().as_u16()).unwrap_or(0);
                latencies.push(t0.elapsed());
                statuses.push(status);
            }
            (latencies, statuses)
        })
    });
    let (mut latencies, statuses) = tokio::task::spawn_blocking(move || sender.join().unwrap())
        .await
        .unwrap();
    stop.store(true, Relaxed);
    let drained = tokio::time::timeout(Duration::from_secs(30), async {
        while attackers.join_next().await.is_some() {}
    })
    .await;
    assert!(drained.is_ok(), "the attackers did not stop within 30 s");

    let live: serde_json::Value = serde_json::from_str(
        &client()
            .get(format!("{url}/_sink/stats"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    )
    .unwrap();
    let metrics = client()
        .get(format!("{url}/_sink/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let rss = peak_rss(pid);
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
    let status = tokio::task::spawn_blocking(move || {
        let status = child.wait().unwrap();
        let mut err = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
        (status, err)
    })
    .await
    .unwrap();
    assert!(status.0.success(), "{}", status.1);
    let end: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&stats_out).unwrap()).unwrap();

    latencies.sort();
    let p99 = latencies[(VALID * 99).div_ceil(100) - 1];
    let slow = slow_closed.lock().unwrap().clone();
    let bound = documented_bound_bytes(MAX_CONNECTIONS, MAX_IDS);
    eprintln!(
        "valid: {VALID}, p50 {:?}, p99 {p99:?}, max {:?}; idle connections: peak {} at once, {} opened, {} closed by the sink; \
         slowloris closed: {}/{SLOWLORIS} (slowest {:?}); oversized heads turned away: {}, 413: {}, unsigned 401: {}; peak RSS {} KiB (bound {} KiB); stats: {end}",
        latencies[VALID / 2],
        latencies[VALID - 1],
        idle_peak.load(Relaxed),
        idle_opened.load(Relaxed),
        idle_closed.load(Relaxed),
        slow.len(),
        slow.iter().max(),
        big_heads_431.load(Relaxed),
        big_bodies_413.load(Relaxed),
        flood_401.load(Relaxed),
        rss / 1024,
        bound / 1024,
    );

    // Every valid delivery accepted, verified and counted.
    assert!(statuses.iter().all(|s| (200..300).contains(s)), "{statuses:?}");
    for stats in [&live, &end] {
        assert_eq!(stats["accepted"], VALID as u64, "{stats}");
        assert_eq!(stats["signatures"]["valid"], VALID as u64, "{stats}");
        assert_eq!(stats["ids"], VALID as u64, "{stats}");
        assert_eq!(stats["duplicates"], 0, "{stats}");
        assert_eq!(stats["ids_over_cap"], 0, "{stats}");
        assert_eq!(stats["connections_refused"], 0, "{stats}");
    }
    assert!(p99 < Duration::from_millis(50), "p99 {p99:?}");
    // The attack happened, and was turned away.
    assert!(
        idle_peak.load(Relaxed) as usize >= idle_n * 95 / 100,
        "{}",
        idle_peak.load(Relaxed)
    );
    assert!(idle_closed.load(Relaxed) >= idle_opened.load(Relaxed) * 99 / 100);
    assert_eq!(slow.len(), SLOWLORIS, "slowloris connections left open");
    assert!(
        slow.iter().all(|d| *d < HEADER_TIMEOUT + Duration::from_millis(1500)),
        "{slow:?}"
    );
    assert!(big_heads_431.load(Relaxed) > 0 && big_bodies_413.load(Relaxed) > 0);
    assert!(flood_401.load(Relaxed) > 0);
    assert!(
        end["header_timeouts"].as_u64().unwrap() >= idle_closed.load(Relaxed) + SLOWLORIS as u64 - 10,
        "{end}"
    );
    assert!(
        end["signatures"]["missing"].as_u64().unwrap() >= flood_401.load(Relaxed),
        "{end}"
    );
    assert!(metrics.contains("loadcheck_sink_header_timeouts_total "), "{metrics}");
    assert!(metrics.contains("loadcheck_sink_ids_over_cap_total 0\n"), "{metrics}");
    assert!(rss < bound, "peak RSS {rss} over the documented bound {bound}");
}

/// Past `max_ids`, new ids are still accepted but not recorded, and counted;
/// past `max_connections`, a connection is closed at once, and counted.
#[tokio::test]
async fn the_ledger_cap_and_the_connection_limit_are_counted() {
    let cfg = parse_sink(
        std::path::Path::new("sink.toml"),
        "max_ids = 100\nmax_connections = 4\nheader_timeout = \"1s\"\n",
        Some("127.0.0.1:0".parse().unwrap()),
    )
    .unwrap();
    let sink = loadcheck::sink::start(&cfg, Instant::now()).await.unwrap();
    let c = client();
    for i in 0..150 {
        let r = c
            .post(format!("http://{}/hooks", sink.addr))
            .header("webhook-id", format!("id_{i}"))
            .body("x")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    // Known ids are still deduplicated.
    let r = c
        .post(format!("http://{}/hooks", sink.addr))
        .header("webhook-id", "id_3")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v = sink.sink.view();
    assert_eq!(
        (v.stats.accepted, v.stats.ids, v.ids_over_cap, v.stats.duplicates),
        (151, 100, 50, 1)
    );
    drop(c);
    // Wait for the client's pooled connections to close.
    let t = Instant::now();
    while sink.sink.view().connections_open > 0 && t.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(TcpStream::connect(sink.addr).await.unwrap());
    }
    let t = Instant::now();
    while sink.sink.view().connections_open < 4 && t.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut extra = TcpStream::connect(sink.addr).await.unwrap();
    assert!(
        closed_within(&mut extra, Duration::from_millis(500)).await,
        "the fifth connection was served"
    );
    assert_eq!(sink.sink.view().connections_refused, 1);
    // The held ones are closed by the header timeout.
    for s in &mut held {
        assert!(closed_within(s, Duration::from_secs(3)).await);
    }
    let v = sink.sink.view();
    assert_eq!((v.header_timeouts, v.connections_open), (4, 0));
    let text = v.prometheus();
    assert!(text.contains("loadcheck_sink_ids_over_cap_total 50\n"), "{text}");
    assert!(text.contains("loadcheck_sink_connections_refused_total 1\n"), "{text}");
    // run.json's `delivery.limits`.
    let report = serde_json::to_value(sink.sink.report(false)).unwrap();
    assert_eq!(
        report["limits"],
        serde_json::json!({"ids_over_cap": 50, "connections_refused": 1, "header_timeouts": 4}),
        "{report}"
    );
    sink.stop().await;
}

/// The limits have documented defaults, and a bad value names its field.
#[test]
fn the_limits_have_defaults_and_bad_values_are_refused() {
    let parse = |text: &str| {
        parse_sink(
            std::path::Path::new("sink.toml"),
            text,
            Some("127.0.0.1:0".parse().unwrap()),
        )
        .map_err(|e| e.to_string())
    };
    let cfg = parse("").unwrap();
    assert_eq!(cfg.limits.max_ids, 1_000_000);
    assert_eq!(cfg.limits.header_timeout, Duration::from_secs(10));
    assert_eq!(cfg.limits.max_connections, 16_384);
    let cfg = parse("max_ids = 5\nheader_timeout = \"250ms\"\nmax_connections = 7\n").unwrap();
    assert_eq!(
        (
            cfg.limits.max_ids,
            cfg.limits.header_timeout,
            cfg.limits.max_connections
        ),
        (5, Duration::from_millis(250), 7)
    );
    for (text, field) in [
        ("max_ids = 0", "max_ids"),
        ("header_timeout = \"1ms\"", "header_timeout"),
        ("header_timeout = \"11m\"", "header_timeout"),
        ("max_connections = 0", "max_connections"),
        ("max_connections = 2000000", "max_connections"),
    ] {
        let err = parse(text).unwrap_err();
        assert!(err.contains(field), "{text}: {err}");
    }
}
