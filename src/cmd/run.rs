//! `loadcheck run`: the pipeline for a validated plan. The sink starts
//! first, then setup, preflight and the load with the rollout controller
//! beside it; then `RunResult`, `run.json`, the summary and the exit code.
//! A duet run (a baseline target) writes the baseline target's result
//! beside it, in `DIR/baseline/` (`super::duet`).

use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use anyhow::{Context, Result};

use super::duet;
use crate::cli::EngineArgs;
use crate::compare::{self, ComparisonFile, RunData, Settings, Source, store};
use crate::engine::{self, EngineOptions, PrepareError};
use crate::exit::Exit;
use crate::metrics::RunResult;
use crate::metrics::result::ShardRecord;
use crate::metrics::setup::SetupRecord;
use crate::plan::{self, Plan};
use crate::redact::Redactor;
use crate::report::summary;
use crate::{github, metrics, outcome, progress, rollout, sink};

/// The pipeline for a validated plan: setup, preflight, load (with the
/// rollout controller and the sink beside it), result, verdict.
pub async fn run_plan(mut plan: Plan, args: &EngineArgs) -> Exit {
    let github = match github_client(&plan) {
        Ok(gh) => gh,
        Err(e) => {
            eprintln!("error: {e:#}");
            return Exit::BadInput;
        }
    };
    let mut secrets = plan.secrets();
    secrets.extend(github.as_ref().map(|g| g.token().to_string()));
    super::actions::mask(&secrets);
    // A plan that cannot be sharded is refused before anything is sent.
    if let Some(shard) = args.shard
        && let Err(e) = plan.check_shard(shard)
    {
        eprintln!("error: {}: --shard {shard}: {e}", plan.source.display());
        return Exit::BadInput;
    }
    // Each shard draws from its own stream, derived from the run's seed.
    let seed = args.seed.unwrap_or_else(outcome::clock_seed);
    let seed = args.shard.map_or(seed, |s| s.seed(seed));
    // The sink listens before anything is sent: setup, preflight or load
    // may already cause deliveries.
    let sink = match start_sink(&plan, args.quiet).await {
        Ok(sink) => sink,
        Err(e) => {
            eprintln!("error: {}", Redactor::new(secrets).redact(&format!("{e:#}")));
            return Exit::Operational;
        }
    };
    let setup = match run_setups(&mut plan, seed, &mut secrets).await {
        Ok(records) => records,
        Err(code) => return code,
    };
    let redactor = Redactor::new(secrets);
    let shard = match args.shard {
        Some(shard) => {
            let unsharded = serde_json::to_value(&plan).unwrap_or(serde_json::Value::Null);
            // Checked above: this cannot fail now.
            let _ = plan.shard(shard);
            Some(ShardRecord {
                index: shard.index,
                count: shard.count,
                plan: unsharded,
                start_at_ms: args.start_at.map(outcome::unix_ms),
                late_ms: None,
            })
        }
        None => None,
    };
    let plan = Arc::new(plan);
    let mut ready = match engine::prepare(&plan, true).await {
        Ok(ready) => ready,
        Err(e) => {
            eprintln!("error: {}", redactor.redact(&e.to_string()));
            return match e {
                PrepareError::Input(_) => Exit::BadInput,
                PrepareError::Unreachable(_) => Exit::Operational,
            };
        }
    };
    raise_fd_limit(&plan);
    if let (Some(running), Some(c)) = (&sink, plan.sink.as_ref().and_then(|s| s.correlate.as_ref())) {
        ready.correlate_with(c.index, c.pointer.clone(), running.sink.clone());
    }
    let baseline_dir = duet::dir(&plan, &args.out);
    let workers = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let opts = EngineOptions {
        workers,
        seed,
        max_duration: args.max_duration,
        grace: args.grace,
        interval_log: Some(args.out.join(metrics::hlog::FILE_NAME)),
        raw_samples: args.raw_samples.clone(),
        baseline_interval_log: baseline_dir.as_ref().map(|d| d.join(metrics::hlog::FILE_NAME)),
    };
    let mut progress = progress::Progress::start(progress::planned(&plan, args.max_duration), args.quiet);
    // Gathered before the start instant is set: it runs `git`.
    let plan_dir = plan.source.parent().unwrap_or(Path::new(".")).to_path_buf();
    let mut metadata = outcome::metadata(workers, seed, &plan_dir);
    metadata.shard = shard;
    let late_ms = wait_for_start(args.start_at).await;
    if let Some(record) = metadata.shard.as_mut() {
        record.late_ms = late_ms;
    }
    let (control, finish) = engine::Control::standalone();
    let (run_start, started_at) = (control.run_start, control.started_at);
    // A run killed from here on leaves this behind, to be read back.
    let mut start = outcome::started(&plan, control.started_at, metadata);
    // Shards of one plan match: the fingerprint is of the plan unsplit.
    if let Some(record) = &start.metadata.shard {
        start.plan_fingerprint = metrics::result::fingerprint(&record.plan);
    }
    let baseline_start = baseline_dir.as_ref().map(|_| start.clone());
    // Held from before run.json says `running` until the run has written
    // its result and returns.
    let _held: Vec<std::fs::File> = std::iter::once(args.out.as_path())
        .chain(baseline_dir.as_deref())
        .filter_map(super::hold_folder)
        .collect();
    let started = write_json(&args.out, &start, &redactor).and_then(|()| match (&baseline_dir, &baseline_start) {
        (Some(dir), Some(s)) => write_json(dir, s, &redactor),
        _ => Ok(()),
    });
    if let Err(e) = started {
        eprintln!("error: {}", redactor.redact(&format!("{e:#}")));
        return Exit::Operational;
    }
    let (ended_tx, ended) = tokio::sync::watch::channel(false);
    let controller = tokio::spawn(rollout::controller::run(rollout::controller::Inputs {
        plan: plan.clone(),
        live: ready.live(),
        run_start: control.run_start,
        started_at: control.started_at,
        finish,
        ended,
        redactor: redactor.clone(),
        quiet: args.quiet,
        github,
    }));
    let executed = engine::execute(plan.clone(), ready, &opts, &mut progress, control).await;
    let _ = ended_tx.send(true);
    let output = match executed {
        Ok(output) => output,
        Err(e) => {
            eprintln!("error: {}", redactor.redact(&format!("{e:#}")));
            return Exit::Operational;
        }
    };
    let report = controller.await.unwrap_or_default();
    let delivery = match sink {
        Some(running) => {
            let (mut report, seconds) =
                finish_sink(&plan, running, args.quiet, output.abort.is_some(), run_start).await;
            if let Some(c) = report.correlation.as_mut()
                && !seconds.is_empty()
            {
                let path = args.out.join(metrics::hlog::DELIVERY_FILE);
                match metrics::hlog::write_deliveries(&path, started_at, &seconds) {
                    Ok(()) => c.interval_log = Some(metrics::hlog::DELIVERY_FILE.to_string()),
                    Err(e) => eprintln!("warning: {}: {e}", path.display()),
                }
            }
            Some(report)
        }
        None => None,
    };
    let extra = outcome::Extra { delivery, setup };
    let mut result = outcome::assemble(&plan, &output, &report, &extra, start);
    let baseline_result = baseline_start.and_then(|start| duet::assemble(&plan, &output, &report, start, &mut result));
    // Both sides' results are in hand here (`baseline_result` is `Some` in
    // a duet run): compare them, then decide the target's verdict.
    let duet_side = baseline_dir.as_deref().zip(baseline_result.as_ref());
    let compared = compare_run(&plan, args, &result, duet_side);
    let mut bad_baseline = None;
    let comparison = match compared {
        Ok(c) => c,
        Err(e) => {
            bad_baseline = Some(e);
            None
        }
    };
    if let Some(c) = &comparison {
        result.verdict = Some(crate::verdict::decide_with(&result, Some(c)));
        if let Err(e) = super::compare::write(&args.out, c) {
            eprintln!("error: {}", redactor.redact(&e));
        }
    }
    let written =
        write_run_json(&args.out, &result, &redactor).and_then(|()| match (&baseline_dir, &baseline_result) {
            (Some(dir), Some(b)) => write_run_json(dir, b, &redactor),
            _ => Ok(()),
        });
    print!(
        "{}",
        redactor.redact(&summary::render_with(&result, comparison.as_ref()))
    );
    if let Err(e) = written {
        eprintln!("error: {}", redactor.redact(&format!("{e:#}")));
        return Exit::Operational;
    }
    if let Err(e) = write_reports(args, &result, comparison.as_ref(), baseline_result.as_ref(), &redactor) {
        eprintln!("error: {}", redactor.redact(&e));
        return Exit::Operational;
    }
    if let Some(e) = bad_baseline {
        eprintln!("error: {}", redactor.redact(&e));
        return Exit::BadInput;
    }
    result
        .verdict
        .as_ref()
        .map_or(Exit::Operational, |v| Exit::from_code(v.exit_code))
}

/// The run's comparisons: the tail against the head (with a rollout), the
/// duet's baseline target (its result and folder), and the baseline store
/// (`--baseline`, else `[baseline] path`); `None` when there is nothing to
/// compare with. A store that cannot be read is an error (the run's own
/// files are written all the same).
fn compare_run(
    plan: &Plan,
    args: &EngineArgs,
    result: &RunResult,
    duet: Option<(&Path, &RunResult)>,
) -> Result<Option<ComparisonFile>, String> {
    let settings = Settings::of(&plan.baseline);
    let store_path = args.baseline.clone().or_else(|| plan.baseline.path.clone());
    if plan.rollout.is_none() && store_path.is_none() && duet.is_none() {
        return Ok(None);
    }
    let data = match RunData::of(result, &args.out) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("warning: no comparison: {e}");
            return Ok(None);
        }
    };
    let mut list = Vec::new();
    if plan.rollout.is_some()
        && let Some(c) = compare::head_vs_tail(&data, &settings)
    {
        list.push(c);
    }
    if let Some((dir, baseline)) = duet {
        match RunData::of(baseline, dir) {
            Ok(base) => list.push(compare::runs(Source::Duet, &base, &data, &settings)),
            Err(e) => eprintln!("warning: no duet comparison: {}: {e}", dir.display()),
        }
    }
    if let Some(path) = store_path {
        if path.exists() {
            let st = store::load(&path)?;
            if st.id != plan.id {
                return Err(format!(
                    "{}: the store belongs to plan \"{}\", this plan's id is \"{}\"",
                    path.display(),
                    st.id,
                    plan.id
                ));
            }
            list.push(compare::against_store(&st, &path, &data, &settings));
        } else {
            let mut c = compare::against_store(
                &store::Store {
                    schema: store::SCHEMA.into(),
                    id: plan.id.clone(),
                    history: plan.baseline.history,
                    runs: Vec::new(),
                },
                &path,
                &data,
                &settings,
            );
            c.notes = vec![format!(
                "no baseline yet ({} does not exist): this run is judged on its thresholds alone; `loadcheck baseline update` starts one",
                path.display()
            )];
            list.push(c);
        }
    }
    Ok((!list.is_empty()).then(|| compare::file(&data, list)))
}

/// Starts the plan's sink, when it has one; it listens before anything is
/// sent, since setup, preflight or load may already cause deliveries.
async fn start_sink(plan: &Plan, quiet: bool) -> Result<Option<sink::RunningSink>> {
    let Some(ps) = &plan.sink else {
        return Ok(None);
    };
    let running = sink::start(&ps.config, std::time::Instant::now()).await?;
    if !quiet {
        eprintln!("sink listening on http://{}", running.addr);
    }
    Ok(Some(running))
}

/// Runs the plan's setup requests; each captured value joins `secrets` at
/// once. A failed setup stops the run before any load (exit 3).
async fn run_setups(plan: &mut Plan, seed: u64, secrets: &mut Vec<String>) -> Result<Vec<SetupRecord>, Exit> {
    if plan.setups.is_empty() {
        return Ok(Vec::new());
    }
    match engine::setup::run(plan, seed, &mut |s| {
        // Masked in the job's log the moment it is captured.
        super::actions::mask(&[s.to_string()]);
        secrets.push(s.to_string());
    })
    .await
    {
        Ok(records) => Ok(records),
        Err(e) => {
            let redactor = Redactor::new(secrets.clone());
            eprintln!("error: {}", redactor.redact(&e.to_string()));
            eprintln!("nothing was sent to the endpoints: a failed setup stops the run before any load");
            Err(Exit::Operational)
        }
    }
}

/// Waits for outstanding deliveries (at most the sink's deadline, and not
/// at all after an abort; a signal ends the wait), then stops the sink and
/// returns its figures and, when it correlates, the delivery latency per
/// second of submission since `run_start`.
async fn finish_sink(
    plan: &Plan,
    running: sink::RunningSink,
    quiet: bool,
    aborted: bool,
    run_start: std::time::Instant,
) -> (metrics::delivery::DeliveryReport, Vec<(u64, u64)>) {
    let correlate = plan.sink.as_ref().is_some_and(|s| s.correlate.is_some());
    if correlate && !aborted {
        let deadline = running.sink.deadline();
        let until = std::time::Instant::now() + deadline;
        let outstanding = running.sink.ledger.outstanding();
        if outstanding > 0 && !quiet {
            eprintln!(
                "waiting up to {} for {outstanding} outstanding deliveries",
                plan::duration::format_duration(deadline)
            );
        }
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        let drained = async {
            while running.sink.ledger.outstanding() > 0 && std::time::Instant::now() < until {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        };
        tokio::select! {
            () = drained => {}
            _ = tokio::signal::ctrl_c() => eprintln!("signal: the wait for deliveries stops here"),
            Some(()) = async { match term.as_mut() { Some(t) => t.recv().await, None => std::future::pending().await } } => {
                eprintln!("signal: the wait for deliveries stops here");
            }
        }
    }
    let report = running.sink.report(correlate);
    let seconds = if correlate {
        running.sink.ledger.seconds(run_start)
    } else {
        Vec::new()
    };
    running.stop().await;
    (report, seconds)
}

/// The GitHub client, when a GitHub trigger needs one; `GITHUB_TOKEN` unset
/// is bad input (exit 2), found before anything is sent.
fn github_client(plan: &Plan) -> Result<Option<github::GitHub>> {
    let needs = plan
        .rollout
        .as_ref()
        .and_then(|r| r.trigger.as_ref())
        .is_some_and(|t| !matches!(t, plan::Trigger::Command(_)));
    if !needs {
        return Ok(None);
    }
    github::GitHub::from_env()
        .map(Some)
        .context("the plan's rollout trigger needs the GitHub API")
}

/// Lifts the soft open-files limit to the hard one, as Go programs do, so
/// that a plan with thousands of VUs does not fail its connects on a
/// default soft limit of 1,024. Says so when even the hard limit is below
/// what the closed-model VUs need (one connection each, one per target in
/// a duet).
fn raise_fd_limit(plan: &Plan) {
    let targets = if plan.baseline.target.is_some() { 2 } else { 1 };
    let want: u64 = plan
        .scenarios
        .iter()
        .filter(|s| !s.executor.is_open())
        .map(|s| s.max_in_flight as u64)
        .sum::<u64>()
        * targets
        + 64;
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) if limit < want => {
            eprintln!(
                "warning: the open-files limit is {limit}, below the {want} this plan may need; connects beyond it will fail"
            );
        }
        Ok(_) => {}
        Err(e) => eprintln!("warning: cannot raise the open-files limit: {e}"),
    }
}

/// Renders every report into `--out`, with every secret redacted (the
/// run's result holds none, but a report must never be the one place a
/// secret leaks).
fn write_reports(
    args: &EngineArgs,
    result: &RunResult,
    comparison: Option<&crate::compare::ComparisonFile>,
    baseline: Option<&RunResult>,
    redactor: &Redactor,
) -> Result<(), String> {
    let input = crate::report::Input {
        run: result,
        comparison,
        baseline,
    };
    let mut files = crate::report::render_all(&input, args.templates.as_deref())?;
    for f in &mut files {
        f.text = redactor.redact(&f.text);
    }
    crate::report::write_all(&args.out, &files).map_err(|e| format!("{e:#}"))?;
    eprintln!("wrote {} report files to {}", files.len(), args.out.display());
    Ok(())
}

/// Writes `DIR/run.json`, with every secret redacted.
pub fn write_run_json(dir: &Path, result: &RunResult, redactor: &Redactor) -> Result<()> {
    write_json(dir, result, redactor)?;
    eprintln!("wrote {}", dir.join("run.json").display());
    Ok(())
}

/// Replaces `DIR/run.json` atomically (a temporary file, then a rename),
/// with every secret redacted.
fn write_json(dir: &Path, value: &impl serde::Serialize, redactor: &Redactor) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let text = serde_json::to_string_pretty(value).context("serializing run.json")?;
    super::replace_file(&dir.join("run.json"), &redactor.redact(&text))
}

/// Waits for `--start-at`; how late the load starts past it, in ms, when
/// it was already past (more than 10 ms).
async fn wait_for_start(start_at: Option<SystemTime>) -> Option<u64> {
    let at = start_at?;
    match at.duration_since(SystemTime::now()) {
        Ok(wait) => {
            tokio::time::sleep(wait).await;
            None
        }
        Err(late) => {
            let ms = late.duration().as_millis() as u64;
            (ms > 10).then(|| {
                eprintln!("warning: --start-at was {ms} ms ago; the load starts now (run.json records it)");
                ms
            })
        }
    }
}
