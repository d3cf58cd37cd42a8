//! A separate sender process for `bench/sink.sh`: POSTs signed Standard
//! Webhooks deliveries to a `loadcheck sink` at a fixed rate, re-sends a
//! known share of them as injected duplicates, then compares the sink's own
//! counters with what it sent and reads the sink's RSS from /proc.
//!
//! cargo run --release --example sink_sender -- ADDR SINK_PID RATE SECONDS DUP_EVERY

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use loadcheck::signing::{self, HeaderList, Message, SchemeConfig, SchemeKind};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn rss_kib(pid: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 6 {
        eprintln!("usage: sink_sender ADDR SINK_PID RATE SECONDS DUP_EVERY");
        std::process::exit(2);
    }
    let (addr, pid) = (args[1].clone(), args[2].clone());
    let rate: u64 = args[3].parse().expect("RATE");
    let seconds: u64 = args[4].parse().expect("SECONDS");
    let dup_every: u64 = args[5].parse().expect("DUP_EVERY");
    let scheme = signing::build(&SchemeConfig::new(SchemeKind::StandardWebhooks, vec![SECRET.into()])).unwrap();
    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(256)
        .build()
        .unwrap();
    let url = format!("http://{addr}/hooks");
    let ok = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let rss_start = rss_kib(&pid);
    let start = Instant::now();
    let total = rate * seconds;
    let mut injected = 0u64;
    let mut sent = 0u64;
    let mut max_rss = rss_start;
    let mut tasks = tokio::task::JoinSet::new();
    let mut next_rss = Instant::now();
    for n in 0..total {
        // Paced: send n at start + n / rate.
        let due = start + Duration::from_nanos(n * 1_000_000_000 / rate);
        tokio::time::sleep_until(due.into()).await;
        // Every DUP_EVERY-th send re-sends the previous event (never itself a
        // re-send) instead of a new one, often while the first is in flight.
        let (id, dup) = if dup_every > 0 && n % dup_every == dup_every - 1 && n > 0 {
            injected += 1;
            (format!("evt_{:08}", n - 1), true)
        } else {
            (format!("evt_{n:08}"), false)
        };
        let body = format!("{{\"id\":\"{id}\",\"type\":\"order.created\",\"n\":{n},\"dup\":{dup}}}");
        let ts = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let mut headers: HeaderList = Vec::new();
        scheme.sign(
            &Message {
                method: "POST",
                path: "/hooks",
                query: "",
                body: body.as_bytes(),
                timestamp: ts,
                id: &id,
            },
            &mut headers,
        );
        let mut req = client.post(&url).header("content-type", "application/json").body(body);
        for (k, v) in headers {
            req = req.header(k, v);
        }
        let (ok, errors) = (ok.clone(), errors.clone());
        tasks.spawn(async move {
            match req.send().await {
                Ok(r) if r.status().is_success() => ok.fetch_add(1, Ordering::Relaxed),
                _ => errors.fetch_add(1, Ordering::Relaxed),
            };
        });
        sent += 1;
        while let Some(r) = tasks.try_join_next() {
            let _ = r;
        }
        if Instant::now() >= next_rss {
            max_rss = max_rss.max(rss_kib(&pid));
            next_rss = Instant::now() + Duration::from_millis(500);
        }
    }
    while tasks.join_next().await.is_some() {}
    let elapsed = start.elapsed().as_secs_f64();
    let rss_end = rss_kib(&pid);
    max_rss = max_rss.max(rss_end);
    let stats: serde_json::Value = serde_json::from_str(
        &client
            .get(format!("http://{addr}/_sink/stats"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    )
    .unwrap();
    let unique = sent - injected;
    let out = serde_json::json!({
        "sent": sent,
        "sent_rate": sent as f64 / elapsed,
        "answered_2xx": ok.load(Ordering::Relaxed),
        "errors": errors.load(Ordering::Relaxed),
        "injected_duplicates": injected,
        "unique_ids": unique,
        "sink": stats,
        "received_equals_sent": stats["posts"] == sent,
        "duplicates_equal_injected": stats["duplicates"] == injected,
        "ids_equal_unique": stats["ids"] == unique,
        "rss_kib_start": rss_start,
        "rss_kib_end": rss_end,
        "rss_kib_max": max_rss,
        "bytes_per_id": (rss_end.saturating_sub(rss_start) * 1024) as f64 / unique as f64,
    });
    println!("{}", serde_json::to_string_pretty(&out).unwrap());
}
