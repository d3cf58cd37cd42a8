//! Percentiles in run.json are the nearest-rank percentiles of the samples,
//! within HDR precision (3 significant digits).

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;
use loadcheck::metrics::hist::Latency;
use loadcheck::metrics::result::StatsSummary;
use loadcheck::metrics::{Aggregator, Outcome, Recorder, Sample};
use rand::{Rng, SeedableRng};

fn check(latency: &Latency, samples: &mut [f64], tolerance: impl Fn(f64) -> f64) {
    for (p, got) in [
        (50.0, latency.p50),
        (90.0, latency.p90),
        (95.0, latency.p95),
        (99.0, latency.p99),
        (99.9, latency.p99_9),
        (100.0, latency.max),
    ] {
        let truth = common::nearest_rank(samples, p);
        assert!(
            (got - truth).abs() <= tolerance(truth),
            "p{p}: run.json says {got} ms, the samples say {truth} ms"
        );
    }
}

/// Samples recorded by several workers, merged by the aggregator and
/// summarized as run.json summarizes them.
#[test]
fn recorded_samples_give_nearest_rank_percentiles() {
    let mut rng = rand::rngs::SmallRng::seed_from_u64(42);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let start = Instant::now();
    let live = std::sync::Arc::new(loadcheck::metrics::live::Live::new(None));
    let mut recorders: Vec<_> = (0..3)
        .map(|w| Recorder::new(w, start, 1, 1, tx.clone(), live.clone()))
        .collect();
    let mut samples_ms = Vec::new();
    for i in 0..100_000u64 {
        // A long-tailed mix: most around 2 ms, some up to 2 s.
        let us = if rng.random_bool(0.02) {
            rng.random_range(50_000..2_000_000)
        } else {
            rng.random_range(500..4_000)
        };
        samples_ms.push(us as f64 / 1000.0);
        let sample = Sample {
            outcome: Outcome::Response { status: 200, ok: true },
            duration_us: us,
            service_us: us,
            http2: false,
        };
        let at = start + Duration::from_millis(i / 10);
        recorders[(i % 3) as usize].record(0, &sample, at, None);
    }
    for r in &mut recorders {
        r.finish();
    }
    drop(tx);
    let mut agg = Aggregator::new(3, 1, 1, 1);
    while let Ok(d) = rx.try_recv() {
        agg.apply(d);
    }
    agg.finish(10_000);
    let summary = StatsSummary::of(&agg.total(), 10.0);
    assert_eq!(summary.requests, 100_000);
    // HDR with 3 significant digits: within 0.1% of the value.
    check(summary.latency_ms.as_ref().unwrap(), &mut samples_ms, |v| {
        v * 0.001 + 0.001
    });
    let rows: u64 = agg.total_rows.iter().map(|r| r.requests).sum();
    assert_eq!(rows, 100_000, "the timeline holds every sample too");
}

#[derive(Clone, Default)]
struct Applied(Arc<Mutex<Vec<f64>>>);

async fn sleep_for(State(applied): State<Applied>, Path(ms): Path<u64>) -> &'static str {
    let begun = Instant::now();
    tokio::time::sleep(Duration::from_millis(ms)).await;
    applied.0.lock().unwrap().push(begun.elapsed().as_secs_f64() * 1000.0);
    "ok"
}

/// End to end: a server sleeps a random, recorded time per request; the
/// run's percentiles match the server's, plus the loopback overhead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_to_end_percentiles_match_the_server_side_truth() {
    let applied = Applied::default();
    let router = Router::new()
        .route("/sleep/{ms}", get(sleep_for))
        .with_state(applied.clone());
    let server = common::serve(router).await;
    let (_, r, _) = common::run(&format!(
        r#"target = "{}"
[load]
executor = "constant-vus"
vus = 20
duration = "4s"
[[endpoint]]
name = "sleep"
path = "/sleep/{{{{random_int:1..200}}}}"
"#,
        server.url()
    ))
    .await;
    let mut truth = applied.0.lock().unwrap().clone();
    assert_eq!(truth.len() as u64, r.stats.total.requests);
    // The client sees the server's time plus a little loopback and scheduling.
    check(r.stats.total.latency_ms.as_ref().unwrap(), &mut truth, |v| {
        v * 0.001 + 5.0
    });
}
