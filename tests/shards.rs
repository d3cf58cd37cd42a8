//! Distributed runs: `run --shard i/N` and `merge`.
//!
//! Four shard processes run one plan against the demo service as a
//! Kubernetes Indexed Job would start them (the index from an environment
//! variable, a common `--start-at`), each with the test-only raw-sample
//! dump; `merge` adds them up. The merged percentiles, for the whole run
//! and for a sample of seconds, equal the nearest-rank percentiles of the
//! union of every shard's samples within HDR precision; the merged counts
//! equal the sums; the merged rate equals the plan's within 1%. Bad sets
//! of shards exit 2 naming the files.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use loadcheck::demo::{DemoConfig, serve};
use serde_json::Value;

/// 203 req/s (not divisible by 4) and 5 VUs (neither) over 6 s.
const PLAN: &str = r#"
name = "sharded"
target = "http://127.0.0.1:9"
timeout = "5s"

[[scenario]]
name = "open"
executor = "constant-arrival-rate"
rate = 203
duration = "6s"
endpoints = { search = 2, thumbnail = 1 }

[[scenario]]
name = "closed"
executor = "constant-vus"
vus = 5
duration = "6s"
think_time = "20ms..40ms"
endpoints = { search = 1 }

[[endpoint]]
name = "search"
path = "/v1/images/?q=cat&vu={{vu}}"

[[endpoint]]
name = "thumbnail"
path = "/v1/images/{{uuid}}/thumb/"

[thresholds]
"http_req_duration" = ["p(99)<5000"]
"http_req_failed" = ["rate<0.01"]
"#;

struct Demo {
    rt: tokio::runtime::Runtime,
    addr: std::net::SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Demo {
    fn start() -> Demo {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let cfg = DemoConfig {
            seed: Some(7),
            ..DemoConfig::default()
        };
        rt.spawn(serve(listener, cfg, async move {
            let _ = stopped.await;
        }));
        Demo {
            rt,
            addr,
            stop: Some(stop),
        }
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.rt
            .block_on(async { tokio::time::sleep(Duration::from_millis(50)).await });
    }
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Starts shard `JOB_COMPLETION_INDEX + 1` of `count`, as the Indexed Job
/// example does.
fn start_shard(plan: &Path, out: &Path, index: u32, count: u32, start_at: u64, target: &str) -> Child {
    Command::new("sh")
        .arg("-c")
        .arg(format!(
            "exec \"$LOADCHECK\" run \"$PLAN\" --shard \"$((JOB_COMPLETION_INDEX + 1))/{count}\" --start-at {start_at} \
             --out \"$OUT\" --raw-samples \"$OUT/raw.ndjson\" --target {target} --seed 99 --threads 1 -q"
        ))
        .env("LOADCHECK", env!("CARGO_BIN_EXE_loadcheck"))
        .env("PLAN", plan)
        .env("OUT", out)
        .env("JOB_COMPLETION_INDEX", (index - 1).to_string())
        .env_remove("LOADCHECK_TARGET")
        .env_remove("GITHUB_ACTIONS")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// One request from a raw dump: its merged second and duration (µs).
struct Raw {
    second: u64,
    endpoint: String,
    duration_us: f64,
    response: bool,
}

fn raw_requests(dir: &Path, offset_s: u64) -> Vec<Raw> {
    std::fs::read_to_string(dir.join("raw.ndjson"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["kind"] == "request")
        .map(|v| Raw {
            second: v["second"].as_u64().unwrap() + offset_s,
            endpoint: v["endpoint"].as_str().unwrap().to_string(),
            duration_us: v["duration_us"].as_f64().unwrap(),
            response: v.get("status").is_some(),
        })
        .collect()
}

fn assert_near(got: f64, truth_ms: f64, what: &str) {
    // HDR at 3 significant digits (and µs buckets).
    assert!(
        (got - truth_ms).abs() <= truth_ms * 0.001 + 0.002,
        "{what}: merged {got} ms, the union of the shards' samples {truth_ms} ms"
    );
}

fn merge(dirs: &[PathBuf], out: &Path, extra: &[&str]) -> std::process::Output {
    let mut cmd = common::loadcheck_command();
    cmd.arg("merge").args(dirs).arg("--out").arg(out).args(extra);
    cmd.output().unwrap()
}

#[test]
fn four_shards_merge_exactly() {
    let demo = Demo::start();
    let target = format!("http://{}", demo.addr);
    let tmp = tempfile::tempdir().unwrap();
    let plan = tmp.path().join("loadcheck.toml");
    std::fs::write(&plan, PLAN).unwrap();
    let count = 4;
    let start_at = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() + 3;
    let dirs: Vec<PathBuf> = (1..=count).map(|i| tmp.path().join(format!("shard-{i}"))).collect();
    let children: Vec<Child> = (1..=count)
        .map(|i| start_shard(&plan, &dirs[i as usize - 1], i, count, start_at, &target))
        .collect();
    for (i, child) in children.into_iter().enumerate() {
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "shard {}: {}",
            i + 1,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    drop(demo);
    let shards: Vec<Value> = dirs.iter().map(|d| read_json(&d.join("run.json"))).collect();
    // Each shard ran its share, and says so; the fingerprint is the plan's.
    let mut rates = Vec::new();
    let mut vus = Vec::new();
    for (i, s) in shards.iter().enumerate() {
        assert_eq!(s["metadata"]["shard"]["index"], i + 1);
        assert_eq!(s["metadata"]["shard"]["count"], count);
        assert_eq!(s["plan_fingerprint"], shards[0]["plan_fingerprint"]);
        assert_eq!(s["metadata"]["shard"]["start_at_ms"], start_at * 1000);
        let scenarios = s["plan"]["scenarios"].as_array().unwrap();
        rates.push(scenarios[0]["executor"]["rate"].as_f64().unwrap());
        vus.push(scenarios[1]["executor"]["vus"].as_u64().unwrap());
        assert!(
            (s["started_at_ms"].as_i64().unwrap() - (start_at * 1000) as i64).abs() < 1000,
            "shard {} started at {} for a common start of {start_at} s",
            i + 1,
            s["started_at_ms"]
        );
    }
    assert_eq!(rates, [51.0, 51.0, 51.0, 50.0]);
    assert_eq!(vus, [2, 1, 1, 1]);
    assert_ne!(
        shards[0]["metadata"]["seed"], shards[1]["metadata"]["seed"],
        "each shard derives its own seed"
    );

    let merged_dir = tmp.path().join("merged");
    let out = merge(&dirs, &merged_dir, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let merged = read_json(&merged_dir.join("run.json"));
    common::assert_schema(&merged);
    assert!(merged["metadata"].get("shard").is_none());
    assert_eq!(merged["metadata"]["merged"]["shards"], serde_json::json!([1, 2, 3, 4]));
    assert_eq!(merged["metadata"]["merged"]["partial"], false);
    assert_eq!(merged["plan_fingerprint"], shards[0]["plan_fingerprint"]);
    assert_eq!(merged["plan"]["scenarios"][0]["executor"]["rate"], 203.0);

    // Counts are the sums.
    let total = &merged["stats"]["total"];
    for field in ["requests", "ok", "failed"] {
        let sum: u64 = shards
            .iter()
            .map(|s| s["stats"]["total"][field].as_u64().unwrap())
            .sum();
        assert_eq!(total[field].as_u64(), Some(sum), "{field}");
    }
    let scheduled: u64 = shards
        .iter()
        .map(|s| s["generator"]["scheduled_sends"].as_u64().unwrap())
        .sum();
    assert_eq!(merged["generator"]["scheduled_sends"].as_u64(), Some(scheduled));
    // The merged open-model rate is the plan's, within 1%.
    let open = scheduled as f64 / 6.0;
    assert!(
        (open - 203.0).abs() <= 2.03,
        "merged open-model rate {open}/s, planned 203/s"
    );

    // Percentiles of the union of every shard's samples.
    let start_min = shards
        .iter()
        .map(|s| s["started_at_ms"].as_i64().unwrap())
        .min()
        .unwrap();
    let mut all = Vec::new();
    for (s, dir) in shards.iter().zip(&dirs) {
        let offset = ((s["started_at_ms"].as_i64().unwrap() - start_min) as f64 / 1000.0).round() as u64;
        all.extend(raw_requests(dir, offset));
    }
    assert_eq!(all.len() as u64, total["requests"].as_u64().unwrap());
    let responses = |pick: &dyn Fn(&Raw) -> bool| -> Vec<f64> {
        all.iter()
            .filter(|r| r.response && pick(r))
            .map(|r| r.duration_us / 1000.0)
            .collect()
    };
    let latency = &total["latency_ms"];
    let mut whole = responses(&|_| true);
    for (p, key) in [(50.0, "p50"), (95.0, "p95"), (99.0, "p99")] {
        assert_near(
            latency[key].as_f64().unwrap(),
            common::nearest_rank(&mut whole, p),
            &format!("run {key}"),
        );
    }
    let mut search = responses(&|r| r.endpoint == "search");
    assert_near(
        merged["stats"]["endpoints"]["search"]["latency_ms"]["p99"]
            .as_f64()
            .unwrap(),
        common::nearest_rank(&mut search, 99.0),
        "search p99",
    );
    let rows = merged["timeline"]["total"].as_array().unwrap();
    let row_sum: u64 = rows.iter().map(|r| r["requests"].as_u64().unwrap()).sum();
    assert_eq!(row_sum, total["requests"].as_u64().unwrap());
    let mut checked = 0;
    for second in [1u64, 3, 5] {
        let mut in_second = responses(&|r| r.second == second);
        if in_second.len() < 50 {
            continue;
        }
        let row = rows.iter().find(|r| r["second"] == second).unwrap();
        assert_eq!(
            row["requests"].as_u64().unwrap(),
            all.iter().filter(|r| r.second == second).count() as u64,
            "second {second}"
        );
        for (p, key) in [(50.0, "p50_ms"), (95.0, "p95_ms"), (99.0, "p99_ms")] {
            assert_near(
                row[key].as_f64().unwrap(),
                common::nearest_rank(&mut in_second, p),
                &format!("second {second} {key}"),
            );
        }
        checked += 1;
    }
    assert!(checked >= 2, "too few busy seconds to check");
    // The merged run judges again to the same verdict.
    common::assert_rejudged(&merged_dir.join("run.json"), 0);

    // Bad sets of shards: exit 2, naming the files.
    let bad = merge(&dirs[..3], &tmp.path().join("bad"), &[]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        common::stderr(&bad).contains("missing shard(s) 4 of 4"),
        "{}",
        common::stderr(&bad)
    );
    let partial = merge(&dirs[..3], &tmp.path().join("partial"), &["--allow-partial"]);
    assert!(
        matches!(partial.status.code(), Some(0 | 1)),
        "{}",
        common::stderr(&partial)
    );
    let p = read_json(&tmp.path().join("partial/run.json"));
    assert_eq!(p["metadata"]["merged"]["partial"], true);
    let twice = merge(
        &[dirs[0].clone(), dirs[1].clone(), dirs[1].clone()],
        &tmp.path().join("bad"),
        &[],
    );
    assert_eq!(twice.status.code(), Some(2));
    assert!(
        common::stderr(&twice).contains("shard 2/4 twice"),
        "{}",
        common::stderr(&twice)
    );
    // A shard of another plan.
    let other = tmp.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    let mut foreign = shards[3].clone();
    foreign["plan_fingerprint"] = "sha256:0000".into();
    std::fs::write(other.join("run.json"), foreign.to_string()).unwrap();
    std::fs::copy(dirs[3].join("timeline.hlog"), other.join("timeline.hlog")).unwrap();
    let mixed = merge(
        &[dirs[0].clone(), dirs[1].clone(), dirs[2].clone(), other.clone()],
        &tmp.path().join("bad"),
        &[],
    );
    assert_eq!(mixed.status.code(), Some(2));
    let err = common::stderr(&mixed);
    assert!(err.contains("different plans") && err.contains("other"), "{err}");
    // Not a shard at all.
    let plain = tmp.path().join("plain");
    std::fs::create_dir_all(&plain).unwrap();
    let mut unsharded = shards[0].clone();
    unsharded["metadata"].as_object_mut().unwrap().remove("shard");
    std::fs::write(plain.join("run.json"), unsharded.to_string()).unwrap();
    let notshard = merge(&[plain], &tmp.path().join("bad"), &[]);
    assert_eq!(notshard.status.code(), Some(2));
    assert!(common::stderr(&notshard).contains("not a shard"));
    assert!(!tmp.path().join("bad/run.json").exists());
}

#[test]
fn a_sharded_rollout_without_a_watcher_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let plan = tmp.path().join("loadcheck.toml");
    std::fs::write(
        &plan,
        format!(
            "{PLAN}\n[rollout]\nhead = \"1s\"\ntail = \"1s\"\ntimeout = \"5s\"\ntrigger = {{ command = \"true\" }}\n"
        ),
    )
    .unwrap();
    let out = common::loadcheck_command()
        .args(["run", plan.to_str().unwrap(), "--shard", "2/4", "--out"])
        .arg(tmp.path().join("out"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", common::stderr(&out));
    assert!(
        common::stderr(&out).contains("version_header"),
        "{}",
        common::stderr(&out)
    );
    assert!(!tmp.path().join("out/run.json").exists(), "nothing was sent");
    for bad in ["0/4", "5/4", "x"] {
        let out = common::loadcheck_command()
            .args(["run", plan.to_str().unwrap(), "--shard", bad])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "--shard {bad}");
    }
}

#[test]
fn a_shard_that_starts_after_start_at_says_so() {
    let demo = Demo::start();
    let tmp = tempfile::tempdir().unwrap();
    let plan = tmp.path().join("loadcheck.toml");
    std::fs::write(&plan, PLAN.replace("duration = \"6s\"", "duration = \"1s\"")).unwrap();
    let three_s_ago = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() - 3;
    let out_dir = tmp.path().join("late");
    let out = common::loadcheck_command()
        .args(["run", plan.to_str().unwrap(), "--shard", "2/2", "--start-at"])
        .arg(three_s_ago.to_string())
        .arg("--target")
        .arg(format!("http://{}", demo.addr))
        .arg("--out")
        .arg(&out_dir)
        .arg("-q")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", common::stderr(&out));
    assert!(
        common::stderr(&out).contains("--start-at was"),
        "{}",
        common::stderr(&out)
    );
    let run = read_json(&out_dir.join("run.json"));
    let late = run["metadata"]["shard"]["late_ms"].as_u64().unwrap();
    assert!((2_500..60_000).contains(&late), "late by {late} ms");
    // Shard 2 of 2: half of 203 req/s (the smaller half) and 2 of 5 VUs.
    assert_eq!(run["plan"]["scenarios"][0]["executor"]["rate"], 101.0);
    assert_eq!(run["plan"]["scenarios"][1]["executor"]["vus"], 2);
    assert_eq!(run["plan"]["scenarios"][1]["vu_offset"], 3);
}

#[test]
fn only_shard_1_fires_a_trigger_and_the_others_watch_the_version_header() {
    let text = format!(
        "{PLAN}\n[rollout]\nhead = \"1s\"\ntail = \"1s\"\ntimeout = \"5s\"\nversion_header = \"x-app-version\"\n\
         trigger = {{ command = \"true\" }}\n"
    );
    let plan = common::plan(&text);
    let mut first = plan.clone();
    first.shard("1/3".parse().unwrap()).unwrap();
    assert!(first.rollout.as_ref().unwrap().trigger.is_some(), "shard 1 fires it");
    let mut second = plan.clone();
    second.shard("2/3".parse().unwrap()).unwrap();
    let rollout = second.rollout.as_ref().unwrap();
    assert!(rollout.trigger.is_none(), "shard 2 only watches");
    assert_eq!(rollout.version_header.as_deref(), Some("x-app-version"));
    // 203 req/s over 3: 68, 68, 67; 5 VUs: 2, 2, 1, offset by the shards before.
    assert_eq!(second.scenarios[1].vu_offset, 2);
    let mut third = plan;
    third.shard("3/3".parse().unwrap()).unwrap();
    assert_eq!(third.scenarios[1].vu_offset, 4);
    assert_eq!(
        third.scenarios[0].vu_offset,
        2 * third.scenarios[0].max_in_flight as u64
    );
}
