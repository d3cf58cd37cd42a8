//! Writes a synthetic one-hour rollout run for bench/compare_speed.sh: it
//! takes a real run's folder (ten endpoints, one scenario, a rollout) as
//! its template and writes DIR/run.json and DIR/timeline.hlog as if the run
//! had lasted SECONDS (head a third, rollout a sixth, tail the rest), at
//! RATE requests per second per endpoint, with log-normal latencies, and a
//! timeline of 3,600 rows (per endpoint and in total, with percentiles, the
//! load and a version mix that moves from v1 to v2 during the rollout).
//!
//!   synth_hour TEMPLATE_DIR OUT_DIR SEED [SECONDS] [RATE] [SHARD]
//!
//! With SHARD (an index), the template is a shard's folder (`run --shard
//! 1/N`) and the output is shard SHARD of the same run: the same start,
//! `metadata.shard.index` set, for bench/merge_speed.sh.

use std::time::{Duration, UNIX_EPOCH};

use loadcheck::metrics::Hist;
use loadcheck::metrics::hlog::{Cell, IntervalLog};
use rand::{Rng, SeedableRng};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        eprintln!("usage: synth_hour TEMPLATE_DIR OUT_DIR SEED [SECONDS] [RATE] [SHARD]");
        std::process::exit(2);
    }
    let (template, out) = (std::path::Path::new(&args[1]), std::path::Path::new(&args[2]));
    let seed: u64 = args[3].parse().expect("SEED");
    let seconds: u64 = args.get(4).map_or(3600, |s| s.parse().expect("SECONDS"));
    let rate: u64 = args.get(5).map_or(20, |s| s.parse().expect("RATE"));
    let shard: Option<u64> = args.get(6).map(|s| s.parse().expect("SHARD"));
    let mut run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(template.join("run.json")).expect("template run.json"))
            .expect("template JSON");
    let endpoints: Vec<String> = run["stats"]["endpoints"]
        .as_object()
        .expect("endpoints")
        .keys()
        .cloned()
        .collect();
    let scenario = run["stats"]["scenarios"]
        .as_object()
        .expect("scenarios")
        .keys()
        .next()
        .expect("a scenario")
        .clone();
    let shift = if shard.is_some() { 0 } else { seed as i64 * 4_000_000 };
    let started_ms = run["started_at_ms"].as_i64().expect("started_at_ms") + shift;
    run["started_at_ms"] = started_ms.into();
    if let Some(index) = shard {
        run["metadata"]["shard"]["index"] = index.into();
    } else {
        run["started_at"] = format!("synthetic+{seed}").into();
    }
    run["duration_s"] = (seconds as f64).into();
    let (head_end, roll_end) = (seconds as f64 / 3.0, seconds as f64 / 2.0);
    run["phases"] = serde_json::json!([
        {"name": "head", "start_s": 0.0, "end_s": head_end},
        {"name": "rollout", "start_s": head_end, "end_s": roll_end},
        {"name": "tail", "start_s": roll_end},
    ]);
    std::fs::create_dir_all(out).expect("out dir");
    let eps: Vec<&str> = endpoints.iter().map(String::as_str).collect();
    let mut log = IntervalLog::create(
        &out.join("timeline.hlog"),
        UNIX_EPOCH + Duration::from_millis(started_ms as u64),
        &[scenario.as_str()],
        &eps,
    )
    .expect("timeline.hlog");
    let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
    let mut rows: Vec<Vec<serde_json::Value>> = vec![Vec::new(); eps.len()];
    let mut total_rows: Vec<serde_json::Value> = Vec::with_capacity(seconds as usize);
    let ms = |h: &Hist, q: f64| h.quantile(q).map(|v| v as f64 / 1000.0);
    for s in 0..seconds {
        let mut total = Hist::default();
        let cells: Vec<Cell> = (0..eps.len())
            .map(|e| {
                let base = 2_000.0 * (1.0 + e as f64);
                let mut c = Cell {
                    duration: Hist::default(),
                    service: Hist::default(),
                };
                for _ in 0..rate {
                    let z: f64 = (rng.random::<f64>() + rng.random::<f64>() + rng.random::<f64>() - 1.5) * 0.2;
                    let v = (base * z.exp()) as u64;
                    c.duration.record(v);
                    c.service.record(v);
                    total.record(v);
                }
                rows[e].push(serde_json::json!({
                    "second": s, "requests": rate, "ok": rate, "errors": {},
                    "p50_ms": ms(&c.duration, 0.5), "p95_ms": ms(&c.duration, 0.95), "p99_ms": ms(&c.duration, 0.99)
                }));
                c
            })
            .collect();
        // The version mix: v1 in the head, both during the rollout, v2 after.
        let n = rate * eps.len() as u64;
        let t = s as f64;
        let versions = if t < head_end {
            serde_json::json!({"v1": n})
        } else if t < roll_end {
            let v2 = ((t - head_end) / (roll_end - head_end) * n as f64) as u64;
            serde_json::json!({"v1": n - v2, "v2": v2})
        } else {
            serde_json::json!({"v2": n})
        };
        total_rows.push(serde_json::json!({
            "second": s, "requests": n, "ok": n, "errors": {},
            "p50_ms": ms(&total, 0.5), "p95_ms": ms(&total, 0.95), "p99_ms": ms(&total, 0.99),
            "versions": versions, "load": {scenario.as_str(): {"scheduled": n}}
        }));
        log.write_second(s, &cells).expect("write second");
    }
    for (e, name) in endpoints.iter().enumerate() {
        run["timeline"]["endpoints"][name] = serde_json::Value::Array(std::mem::take(&mut rows[e]));
    }
    run["timeline"]["total"] = serde_json::Value::Array(total_rows);
    run["timeline"]["interval_log"] = "timeline.hlog".into();
    std::fs::write(out.join("run.json"), serde_json::to_string(&run).expect("JSON")).expect("run.json");
}
