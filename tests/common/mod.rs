//! Test servers and helpers shared by the integration tests. Every server
//! binds 127.0.0.1 on a free port and lives as long as its handle.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::routing::get;
use loadcheck::cli::EngineArgs;
use loadcheck::exit::Exit;
use loadcheck::metrics::RunResult;
use loadcheck::plan::{Overrides, Plan};
use tokio::sync::oneshot;

/// A running test server; dropped, it shuts down.
pub struct Server {
    pub addr: SocketAddr,
    pub hits: Arc<AtomicU64>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Server {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting and closes the listener.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            t.abort();
            let _ = t.await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

/// Serves `router` on a free loopback port.
pub async fn serve(router: Router) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
    });
    Server {
        addr,
        hits: Arc::new(AtomicU64::new(0)),
        stop: Some(tx),
        task: Some(task),
    }
}

async fn status(UrlPath(code): UrlPath<u16>) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST)
}

async fn delay(UrlPath(ms): UrlPath<u64>) -> &'static str {
    tokio::time::sleep(Duration::from_millis(ms)).await;
    "ok"
}

async fn count(State(hits): State<Arc<AtomicU64>>) -> &'static str {
    hits.fetch_add(1, Ordering::Relaxed);
    "ok"
}

/// `/ok` (counts hits), `/status/{code}`, `/delay/{ms}`, `/hang` (60 s).
pub async fn basic_server() -> Server {
    let hits = Arc::new(AtomicU64::new(0));
    let router = Router::new()
        .route("/ok", get(count))
        .route("/status/{code}", get(status).post(status))
        .route("/delay/{ms}", get(delay))
        .route("/hang", get(|| delay(UrlPath(60_000))))
        .with_state(hits.clone());
    let mut s = serve(router).await;
    s.hits = hits;
    s
}

/// A TCP server that accepts and resets every connection (SO_LINGER 0)
/// once the request has arrived.
pub async fn reset_server() -> Server {
    use tokio::io::AsyncReadExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                let _ = tokio::time::timeout(Duration::from_secs(2), sock.read(&mut buf)).await;
                // A zero linger resets at once and never blocks, which is the point.
                #[allow(deprecated)]
                let _ = sock.set_linger(Some(Duration::ZERO));
                drop(sock);
            });
        }
    });
    Server {
        addr,
        hits: Arc::new(AtomicU64::new(0)),
        stop: None,
        task: Some(task),
    }
}

/// A free loopback port with nothing listening on it.
pub fn dead_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

pub fn plan(text: &str) -> Plan {
    loadcheck::plan::parse(Path::new("test.toml"), text, &Overrides::default()).unwrap_or_else(|e| panic!("{e}"))
}

pub fn engine_args(out: &Path) -> EngineArgs {
    EngineArgs {
        out: out.to_path_buf(),
        seed: Some(7),
        max_duration: Some(Duration::from_secs(60)),
        baseline: None,
        threads: Some(2),
        grace: Duration::from_secs(2),
        quiet: true,
        templates: None,
        raw_samples: None,
        shard: None,
        start_at: None,
    }
}

/// Runs a plan in-process; returns the exit code and run.json.
pub async fn run(text: &str) -> (Exit, RunResult, PathBuf) {
    run_seeded(text, 7).await
}

/// Runs a plan in-process with `--seed seed`.
pub async fn run_seeded(text: &str, seed: u64) -> (Exit, RunResult, PathBuf) {
    let dir = tempfile::tempdir().unwrap().keep();
    let args = EngineArgs {
        seed: Some(seed),
        ..engine_args(&dir)
    };
    let code = loadcheck::run_plan(plan(text), &args).await;
    let json = std::fs::read_to_string(dir.join("run.json")).expect("run.json written");
    assert_rejudged(&dir.join("run.json"), i32::from(code.code()));
    (code, serde_json::from_str(&json).unwrap(), dir)
}

/// Every run.json the suite writes holds to `schema/run.schema.json`.
pub fn assert_schema(run: &serde_json::Value) {
    static SCHEMA: std::sync::OnceLock<jsonschema::Validator> = std::sync::OnceLock::new();
    assert_holds_to(&SCHEMA, "run", run);
}

/// Every comparison.json the suite writes holds to
/// `schema/comparison.schema.json`.
pub fn assert_comparison_schema(cmp: &serde_json::Value) {
    static SCHEMA: std::sync::OnceLock<jsonschema::Validator> = std::sync::OnceLock::new();
    assert_holds_to(&SCHEMA, "comparison", cmp);
}

/// `doc` against `schema/<name>.schema.json`, compiled once into `cell`.
fn assert_holds_to(cell: &std::sync::OnceLock<jsonschema::Validator>, name: &str, doc: &serde_json::Value) {
    let v = cell.get_or_init(|| {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("schema/{name}.schema.json"));
        let schema: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("schema/{name}.schema.json compiles: {e}"))
    });
    let errors: Vec<String> = v
        .iter_errors(doc)
        .map(|e| format!("at `{}`: {e}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{name}.json breaks its schema:\n  {}",
        errors.join("\n  ")
    );
}

/// The verdict contract on a finished run's file: its exit code is the
/// file's `verdict.exit_code`; with `verdict`, `thresholds` and
/// `requirements` deleted, `loadcheck verdict` writes them back equal and
/// exits with the same code.
pub fn assert_rejudged(run_json: &Path, code: i32) {
    let text = std::fs::read_to_string(run_json).expect("run.json written");
    let original: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_schema(&original);
    if original["status"] == "running" {
        return;
    }
    assert_eq!(
        original["verdict"]["exit_code"].as_i64(),
        Some(i64::from(code)),
        "the exit code is the file's verdict.exit_code: {}",
        original["verdict"]
    );
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("run.json");
    let mut stripped = original.clone();
    for key in ["verdict", "thresholds", "requirements"] {
        stripped.as_object_mut().unwrap().remove(key);
    }
    std::fs::write(&copy, serde_json::to_string_pretty(&stripped).unwrap()).unwrap();
    // The comparisons beside the run count as they did when it ran.
    let beside = run_json.with_file_name("comparison.json");
    if beside.exists() {
        let cmp: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&beside).unwrap()).unwrap();
        assert_comparison_schema(&cmp);
        std::fs::copy(&beside, dir.path().join("comparison.json")).unwrap();
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_loadcheck"))
        .arg("verdict")
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(code),
        "loadcheck verdict exits with the run's code; stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let judged: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&copy).unwrap()).unwrap();
    assert_schema(&judged);
    for key in ["verdict", "thresholds", "requirements"] {
        assert_eq!(judged[key], original[key], "{key} judged again from the file");
    }
}

/// Nearest-rank percentile of `samples` (sorted in place).
pub fn nearest_rank(samples: &mut [f64], p: f64) -> f64 {
    samples.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let rank = ((p / 100.0) * samples.len() as f64).ceil().max(1.0) as usize;
    samples[rank - 1]
}

/// Runs the `loadcheck` binary's `run` on `plan`, written to `dir`, with
/// `env` set and the GitHub and target variables of the caller's
/// environment removed. Returns the output and `dir/out/run.json` when it
/// was written.
pub fn run_binary(dir: &Path, plan: &str, env: &[(&str, &str)]) -> (std::process::Output, Option<serde_json::Value>) {
    let path = dir.join("loadcheck.toml");
    std::fs::write(&path, plan).unwrap();
    let out_dir = dir.join("out");
    let mut cmd = loadcheck_command();
    cmd.arg("run").arg(&path).arg("--out").arg(&out_dir).arg("-q");
    cmd.envs(env.iter().copied());
    let out = cmd.output().unwrap();
    let json = std::fs::read_to_string(out_dir.join("run.json"))
        .ok()
        .map(|t| serde_json::from_str(&t).unwrap());
    if json.is_some()
        && let Some(code) = out.status.code()
    {
        assert_rejudged(&out_dir.join("run.json"), code);
    }
    (out, json)
}

/// The loadcheck binary, without the variables of the environment it runs
/// in that would change a plan (a target, a GitHub Actions context).
pub fn loadcheck_command() -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_loadcheck"));
    for var in [
        "LOADCHECK_TARGET",
        "LOADCHECK_BASELINE_TARGET",
        "GITHUB_ACTIONS",
        "GITHUB_TOKEN",
        "GITHUB_API_URL",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

/// A process's stderr as text.
pub fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The keys of a `running` run.json (`RunStart`): what a run killed
/// before its end leaves.
pub const RUN_START_KEYS: [&str; 8] = [
    "schema",
    "plan",
    "plan_fingerprint",
    "id",
    "started_at",
    "started_at_ms",
    "status",
    "metadata",
];

/// A child process, killed (SIGKILL) and reaped when dropped, so a failing
/// test leaves nothing behind.
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
