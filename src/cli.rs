//! The command line, as clap-derive structs. These stay close to what the
//! user typed and do no I/O; `lib.rs` turns them into a plan and options.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::demo::Route;
use crate::plan::duration::parse_duration;

/// Is this deploy safe under load? Runs load against a service and checks
/// the result.
#[derive(Debug, Parser)]
#[command(name = "loadcheck", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a plan: load, measure, judge, write run.json.
    Run(RunArgs),
    /// Check a plan without sending anything.
    Validate(ValidateArgs),
    /// The whole pipeline against the embedded demo service.
    Demo(DemoArgs),
    /// The webhook receiver on its own: verifies, dedups, answers as programmed.
    Sink(SinkArgs),
    /// Re-judge a run from its run.json: thresholds, requirements, verdict, exit code.
    Verdict(VerdictArgs),
    /// Compare a run with a baseline (a store or another run): comparison.json, exit 1 on a regression.
    Compare(CompareArgs),
    /// Manage the baseline store: `baseline update DIR` appends an accepted run.
    Baseline(BaselineArgs),
    /// Render the reports (Markdown, SVG, Mermaid, JUnit) from run.json files; several runs make a scaling report.
    Report(ReportArgs),
    /// Post a run's results to GitHub: the sticky PR comment, an issue comment, a release sign-off, a check run.
    Publish(PublishArgs),
    /// Turn another tool's results into a run.json (and timeline.hlog): `import k6 FILE… --out DIR`.
    Import(ImportArgs),
    /// Merge the shards of a distributed run (`run --shard i/N`) exactly, judge it again, exit with its verdict.
    Merge(MergeArgs),
}

/// `loadcheck merge`.
#[derive(Debug, Clone, Args)]
pub struct MergeArgs {
    /// Each shard's output folder (or its run.json).
    #[arg(required = true)]
    pub shards: Vec<PathBuf>,
    /// The folder to write the merged run.json and timeline.hlog into.
    #[arg(long)]
    pub out: PathBuf,
    /// Merge the shards given even if some are missing (the merged run
    /// says it is partial).
    #[arg(long)]
    pub allow_partial: bool,
}

/// `loadcheck import`.
#[derive(Debug, Clone, Args)]
pub struct ImportArgs {
    /// The tool whose output this is.
    #[command(subcommand)]
    pub tool: ImportTool,
}

/// The tools `import` reads.
#[derive(Debug, Clone, Subcommand)]
pub enum ImportTool {
    /// k6: `--summary-export` JSON, `handleSummary(data)` JSON and `--out json` points (NDJSON), in any order; a
    /// summary and a points file together give the points' statistics with the summary's threshold outcomes.
    K6(ImportK6Args),
}

/// `loadcheck import k6`.
#[derive(Debug, Clone, Args)]
pub struct ImportK6Args {
    /// k6's files: at most one summary (either form) and one `--out json` file.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// The folder to write run.json (and timeline.hlog) into.
    #[arg(long)]
    pub out: PathBuf,
    /// The run's name (default: "k6: " and the first file's name).
    #[arg(long)]
    pub name: Option<String>,
    /// The run's id, a slug (default: `k6-` and the first file's stem); baselines and comment markers use it.
    #[arg(long)]
    pub id: Option<String>,
}

/// `loadcheck publish`.
#[derive(Debug, Clone, Args)]
pub struct PublishArgs {
    /// The folder `run`, `report`, `compare`, `merge` or `import` wrote
    /// (its run.json, and comparison.json and the reports when there).
    #[arg(long)]
    pub from: PathBuf,
    /// The pull request to comment on (default: the `pull_request` event's).
    /// Under `workflow_run`, accepted only when its head commit is the
    /// triggering run's.
    #[arg(long)]
    pub pr: Option<u64>,
    /// An issue to comment on (the same sticky comment).
    #[arg(long)]
    pub issue: Option<u64>,
    /// The release whose sign-off issue gets this plan's section (found by
    /// title and label, or created).
    #[arg(long, value_name = "RELEASE")]
    pub signoff: Option<String>,
    /// The repository, `owner/name`.
    #[arg(long, env = "GITHUB_REPOSITORY")]
    pub repo: Option<String>,
    /// The commit the check run goes on (default: the event's head commit,
    /// else `GITHUB_SHA`).
    #[arg(long)]
    pub sha: Option<String>,
    /// The plan file, relative to the repository's root, that the check
    /// run's annotations point at.
    #[arg(long, default_value = DEFAULT_PLAN)]
    pub plan: PathBuf,
    /// Post no pull request comment.
    #[arg(long)]
    pub no_comment: bool,
    /// Create no check run.
    #[arg(long)]
    pub no_check: bool,
    /// A folder of templates for the reports the folder lacks.
    #[arg(long)]
    pub templates: Option<PathBuf>,
}

/// `loadcheck report`.
#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    /// The run: its run.json or its folder. Several runs make a scaling
    /// report (req/s, p95, p99 and errors side by side).
    #[arg(required = true)]
    pub runs: Vec<PathBuf>,
    /// The comparison to show (default: the comparison.json beside the run,
    /// when there is one).
    #[arg(long)]
    pub comparison: Option<PathBuf>,
    /// One label per run, comma-separated, for a scaling report
    /// (`--label 1x,3x,5x`; default: each run's folder name).
    #[arg(long, value_delimiter = ',')]
    pub label: Vec<String>,
    /// A folder of templates that replace the embedded ones of the same name.
    #[arg(long)]
    pub templates: Option<PathBuf>,
    /// The folder the reports are written to.
    #[arg(long)]
    pub out: PathBuf,
}

/// `loadcheck compare`.
#[derive(Debug, Clone, Args)]
pub struct CompareArgs {
    /// The baseline: a store (`baselines/<id>.json`), a run.json, or a run's folder.
    pub baseline: PathBuf,
    /// The run: its run.json or its folder.
    pub run: PathBuf,
    /// The folder comparison.json goes to (not the run's own folder by
    /// default: that one holds the run's own comparisons).
    #[arg(long)]
    pub out: PathBuf,
}

/// `loadcheck baseline`.
#[derive(Debug, Clone, Args)]
pub struct BaselineArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: BaselineCommand,
}

/// `loadcheck baseline …`.
#[derive(Debug, Clone, Subcommand)]
pub enum BaselineCommand {
    /// Append a finished, passing run to the store (atomically), trimmed to its history.
    Update(BaselineUpdateArgs),
}

/// `loadcheck baseline update`.
#[derive(Debug, Clone, Args)]
pub struct BaselineUpdateArgs {
    /// The run's output folder, or its run.json.
    pub run: PathBuf,
    /// The store (default: the plan's `[baseline] path`, else
    /// `baselines/<id>.json`). `git:<branch>[:<path>]` keeps it in a git
    /// branch of the repository in the current folder, committed with
    /// git's plumbing (the working tree is not touched) and pushed to
    /// `origin`.
    #[arg(long)]
    pub store: Option<PathBuf>,
    /// How many runs to keep (default: the plan's `[baseline] history`, 20).
    #[arg(long)]
    pub history: Option<usize>,
    /// Accept an aborted or failed run too.
    #[arg(long)]
    pub force: bool,
}

/// `loadcheck verdict`.
#[derive(Debug, Clone, Args)]
pub struct VerdictArgs {
    /// A run's output folder, or its run.json.
    pub run: PathBuf,
    /// Judge with this plan's [thresholds] and [[requirement]] instead of the
    /// run's own (the file is then left as it is).
    #[arg(long)]
    pub plan: Option<PathBuf>,
}

/// `loadcheck sink`.
#[derive(Debug, Clone, Args)]
pub struct SinkArgs {
    /// Address to listen on (overrides the config's `listen`).
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// The sink's configuration: `[signing]`, `id`, `max_body`, `[[route]]`.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Stop by itself after this long (default: on Ctrl-C or SIGTERM).
    #[arg(long, value_parser = duration_arg)]
    pub max_duration: Option<Duration>,
    /// Write the final counters as JSON here on exit.
    #[arg(long)]
    pub stats_out: Option<PathBuf>,
}

/// Which plan, and what overrides it.
#[derive(Debug, Clone, Args)]
pub struct PlanArgs {
    /// The plan file (default: `loadcheck.toml`). `run` without one, where
    /// `./loadcheck.toml` does not exist, and with `--target URL` runs quick
    /// mode: one GET of the URL.
    pub plan: Option<PathBuf>,
    /// Base URL to send to (overrides `target`).
    #[arg(long, env = "LOADCHECK_TARGET")]
    pub target: Option<String>,
    /// Length of every scenario that has a `duration` (quick mode: 10s).
    #[arg(long, value_parser = duration_arg)]
    pub duration: Option<Duration>,
    /// Rate of constant-arrival-rate scenarios, requests per second (quick
    /// mode: an open model at this rate, instead of 50 VUs).
    #[arg(long)]
    pub rate: Option<f64>,
    /// VUs of VU-based scenarios (quick mode: 50).
    #[arg(long)]
    pub vus: Option<u32>,
    /// A second target sent every request at the same time (duet; overrides
    /// `[baseline] target`). Its result goes to `DIR/baseline/run.json`.
    #[arg(long, env = "LOADCHECK_BASELINE_TARGET")]
    pub baseline_target: Option<String>,
}

/// `loadcheck validate`.
#[derive(Debug, Clone, Args)]
pub struct ValidateArgs {
    /// The plan and its overrides.
    #[command(flatten)]
    pub plan: PlanArgs,
    /// Fail (exit 2) when an environment variable the plan reads
    /// (`secret_env`, `[vars] x = { env = … }`) is unset, as `run` does;
    /// without it, each is a warning, so plans can be checked where the
    /// secrets are not (a pull request's job).
    #[arg(long)]
    pub require_secrets: bool,
}

impl PlanArgs {
    /// The plan file: the one given, else `loadcheck.toml`.
    pub fn plan_path(&self) -> PathBuf {
        self.plan.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_PLAN))
    }
}

/// The plan read when none is named.
pub const DEFAULT_PLAN: &str = "loadcheck.toml";

/// `loadcheck run`.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// The plan and its overrides.
    #[command(flatten)]
    pub plan: PlanArgs,
    /// Options shared with `demo`.
    #[command(flatten)]
    pub engine: EngineArgs,
}

/// Engine and output options.
#[derive(Debug, Clone, Args)]
pub struct EngineArgs {
    /// Folder for run.json.
    #[arg(long, default_value = "loadcheck-out")]
    pub out: PathBuf,
    /// Seed for every random choice, so a run can be repeated.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Run shard i of N (`2/4`): 1/N of every scenario's rate or VUs, split
    /// so the shards add up exactly; `loadcheck merge` adds the shards up.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<crate::plan::shard::Shard>,
    /// Start the load at this wall-clock time (RFC 3339, or unix seconds),
    /// so every shard starts together; a shard that starts later says so in
    /// its run.json.
    #[arg(long, value_name = "TIME", value_parser = start_at_arg)]
    pub start_at: Option<std::time::SystemTime>,
    /// Hard cap on the run's length.
    #[arg(long, value_parser = duration_arg)]
    pub max_duration: Option<Duration>,
    /// Compare with this baseline store (overrides `[baseline] path`); a
    /// missing file means no baseline yet, never a failure.
    #[arg(long)]
    pub baseline: Option<PathBuf>,
    /// Worker threads (default: the CPUs available).
    #[arg(long)]
    pub threads: Option<usize>,
    /// How long in-flight requests may finish after SIGINT or SIGTERM.
    #[arg(long, value_parser = duration_arg, default_value = "3s")]
    pub grace: Duration,
    /// No progress output.
    #[arg(long, short)]
    pub quiet: bool,
    /// A folder of report templates that replace the embedded ones of the
    /// same name (templates/ in the source shows them).
    #[arg(long)]
    pub templates: Option<PathBuf>,
    /// Tests only: write every request's measurement and every open-model
    /// send's lag to this file, one JSON object per line
    /// (docs/development.md).
    #[arg(long, hide = true)]
    pub raw_samples: Option<PathBuf>,
}

/// `loadcheck demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// `serve` runs the demo service alone.
    #[command(subcommand)]
    pub command: Option<DemoCommand>,
    /// Engine and output options for the demo run.
    #[command(flatten)]
    pub engine: EngineArgs,
}

/// `loadcheck demo serve`.
#[derive(Debug, Subcommand)]
pub enum DemoCommand {
    /// Run the demo service on its own until SIGTERM.
    Serve(Box<ServeArgs>),
}

/// Options of the standalone demo service.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// The `x-app-version` header value.
    #[arg(long, default_value = "v1")]
    pub app_version: String,
    /// Stall every request for `--stall-for` at the start of each window of
    /// this length (coordinated-omission tests).
    #[arg(long, value_parser = duration_arg)]
    pub stall_every: Option<Duration>,
    /// How long each stall lasts.
    #[arg(long, value_parser = duration_arg, default_value = "1s")]
    pub stall_for: Duration,
    /// Seed for the service's latency jitter.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Simulate a rollout to this version, seen only in `x-app-version`.
    #[arg(long)]
    pub roll_to: Option<String>,
    /// When the simulated rollout starts, from the service's start.
    #[arg(long, value_parser = duration_arg, default_value = "7s", requires = "roll_to")]
    pub roll_at: Duration,
    /// How long both versions serve during the simulated rollout.
    #[arg(long, value_parser = duration_arg, default_value = "4s", requires = "roll_to")]
    pub roll_over: Duration,
    /// A route's base latency, with jitter (`search=5ms`; routes: search,
    /// thumbnail, webhook). Repeatable. Replaces the route's own delay.
    #[arg(long = "latency", value_name = "ROUTE=DURATION", value_parser = latency_arg)]
    pub latency: Vec<(Route, Duration)>,
    /// Make a route slower for every version (`thumbnail=25%`). Repeatable;
    /// the route needs a `--latency`.
    #[arg(long = "slow", value_name = "ROUTE=PERCENT", value_parser = slow_arg)]
    pub slow: Vec<(Route, f64)>,
    /// Make the version `--roll-to` moves to slower on a route
    /// (`thumbnail=25%`). Repeatable; the route needs a `--latency`.
    #[arg(long = "roll-slow", value_name = "ROUTE=PERCENT", value_parser = slow_arg, requires = "roll_to")]
    pub roll_slow: Vec<(Route, f64)>,
    /// Deliver every accepted webhook to this URL (POST, with retries and a
    /// circuit breaker).
    #[arg(long)]
    pub deliver_to: Option<String>,
    /// Sign deliveries with Standard Webhooks, with the `whsec_…` secret in
    /// this environment variable.
    #[arg(long, requires = "deliver_to")]
    pub webhook_secret_env: Option<String>,
    /// Keep the circuit breaker's state in this Redis (`redis://host:port/`),
    /// shared with every instance that names it; in memory otherwise, and
    /// whenever Redis does not answer.
    #[arg(long, requires = "deliver_to")]
    pub breaker_redis: Option<String>,
    /// The breaker's key prefix in Redis: instances with the same one share a
    /// breaker.
    #[arg(long, default_value = "loadcheck:demo:breaker", requires = "deliver_to")]
    pub breaker_key: String,
    /// Failures (plus attempts in flight) at which the circuit opens.
    #[arg(long, default_value_t = 5, requires = "deliver_to")]
    pub failure_limit: u32,
    /// How long the circuit stays open before one trial delivery.
    #[arg(long, value_parser = duration_arg, default_value = "30s", requires = "deliver_to")]
    pub half_open_after: Duration,
    /// Tries per event, the first included.
    #[arg(long, default_value_t = 5, requires = "deliver_to")]
    pub max_attempts: u32,
    /// Base of the exponential backoff between tries.
    #[arg(long, value_parser = duration_arg, default_value = "100ms", requires = "deliver_to")]
    pub retry_backoff: Duration,
    /// Deliveries in flight at once.
    #[arg(long, default_value_t = 4, requires = "deliver_to")]
    pub delivery_concurrency: usize,
}

/// `ROUTE=DURATION` (`search=5ms`).
fn latency_arg(s: &str) -> Result<(Route, Duration), String> {
    let (route, value) = s
        .split_once('=')
        .ok_or_else(|| format!("\"{s}\": expected ROUTE=DURATION, e.g. search=5ms"))?;
    let d = parse_duration(value).map_err(|e| format!("\"{s}\": {e}"))?;
    if d.is_zero() || d > Duration::from_secs(10) {
        return Err(format!("\"{s}\": the latency must be above 0 and at most 10s"));
    }
    Ok((Route::from_name(route)?, d))
}

/// `ROUTE=PERCENT` (`thumbnail=25%`): the factor, 1.25 for `25%`.
fn slow_arg(s: &str) -> Result<(Route, f64), String> {
    let (route, value) = s
        .split_once('=')
        .ok_or_else(|| format!("\"{s}\": expected ROUTE=PERCENT, e.g. thumbnail=25%"))?;
    let pct: f64 = value
        .strip_suffix('%')
        .and_then(|p| p.trim().parse().ok())
        .filter(|p: &f64| p.is_finite() && (-90.0..=1000.0).contains(p))
        .ok_or_else(|| format!("\"{s}\": expected a percentage from -90% to 1000%, e.g. 25%"))?;
    Ok((Route::from_name(route)?, 1.0 + pct / 100.0))
}

fn duration_arg(s: &str) -> Result<Duration, String> {
    parse_duration(s)
}

/// `--start-at`: RFC 3339 (`2026-12-07T10:00:00Z`) or unix seconds.
fn start_at_arg(s: &str) -> Result<std::time::SystemTime, String> {
    let t = s.trim();
    if let Ok(secs) = t.parse::<f64>() {
        if secs.is_finite() && secs >= 0.0 {
            return Ok(std::time::UNIX_EPOCH + Duration::from_secs_f64(secs));
        }
    }
    chrono::DateTime::parse_from_rfc3339(t)
        .map(std::time::SystemTime::from)
        .map_err(|e| format!("{s:?}: expected an RFC 3339 time (2026-12-07T10:00:00Z) or unix seconds: {e}"))
}
