//! The engine: runs the plan's scenarios against the target and hands back
//! what it measured.
//!
//! [`prepare`] resolves origins and checks them (the preflight); [`execute`]
//! starts one worker thread per core, each with its own runtime, connections
//! and recorder, and runs the coordinator: it merges the workers' per-second
//! deltas, drives progress, checks `abort_on_fail` thresholds, and turns a
//! signal or `--max-duration` into a graceful stop. With a baseline target
//! (a duet, [`duet`]), every request goes to both targets, and each is
//! measured apart.

pub(crate) mod client;
mod duet;
mod exchange;
pub(crate) mod h1;
pub(crate) mod h2;
mod pace;
pub(crate) mod preflight;
mod ready;
mod request;
pub(crate) mod schedule;
pub(crate) mod setup;
pub(crate) mod tls_stream;
mod wire;
mod worker;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result};
use tokio::signal::unix::{SignalKind, signal};

use crate::metrics::Aggregator;
use crate::metrics::eval::{View, evaluate};
use crate::metrics::hlog::IntervalLog;
use crate::metrics::live::Live;
use crate::metrics::raw::{RawBuf, RawDump};
use crate::plan::Plan;
use crate::progress::Progress;
pub use ready::{PrepareError, Ready, prepare};
use schedule::{ArrivalSchedule, VuSchedule};
use worker::{ScenarioRt, Shared};

/// How the engine runs, from the command line.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Worker threads.
    pub workers: usize,
    /// Seed for every random choice.
    pub seed: u64,
    /// Hard cap on the run's length.
    pub max_duration: Option<Duration>,
    /// How long in-flight requests may finish after a stop signal.
    pub grace: Duration,
    /// Where to write each second's histograms as it closes
    /// (`DIR/timeline.hlog`); `None` writes none.
    pub interval_log: Option<PathBuf>,
    /// The test-only raw-sample dump (`--raw-samples FILE`).
    pub raw_samples: Option<PathBuf>,
    /// Where the baseline target's seconds go in a duet
    /// (`DIR/baseline/timeline.hlog`); `None` writes none.
    pub baseline_interval_log: Option<PathBuf>,
}

/// How the run is tied to the rollout controller.
pub struct Control {
    /// The instant the load starts (a little after now).
    pub run_start: Instant,
    /// The same instant on the wall clock.
    pub started_at: SystemTime,
    /// Becomes `true` when the rollout controller says the run is over (the
    /// tail has passed): the engine stops as a completed run.
    pub finish: tokio::sync::watch::Receiver<bool>,
}

impl Control {
    /// A run start 20 ms from now, so every worker is up before it, and a
    /// `finish` that never fires.
    pub fn standalone() -> (Self, tokio::sync::watch::Sender<bool>) {
        let (tx, finish) = tokio::sync::watch::channel(false);
        let control = Control {
            run_start: Instant::now() + Duration::from_millis(20),
            started_at: SystemTime::now() + Duration::from_millis(20),
            finish,
        };
        (control, tx)
    }
}

/// What the engine measured.
pub struct EngineOutput {
    /// Totals by key, pacing and the timeline.
    pub agg: Aggregator,
    /// Version ids and their header values.
    pub version_names: Vec<(usize, String)>,
    /// When each version was first and last seen.
    pub seen_versions: Vec<crate::metrics::live::VersionSpan>,
    /// How long it ran.
    pub elapsed: Duration,
    /// Why it stopped early, if it did.
    pub abort: Option<Abort>,
    /// The interval log's file name, when every second of the run went
    /// to it.
    pub interval_log: Option<String>,
    /// What the baseline target's side measured, in a duet.
    pub baseline: Option<Box<EngineOutput>>,
}

/// Why a run stopped early.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Abort {
    /// SIGINT or SIGTERM.
    Signal(&'static str),
    /// An `abort_on_fail` threshold failed.
    Threshold(String),
    /// `--max-duration` was reached.
    MaxDuration,
}

impl std::fmt::Display for Abort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Abort::Signal(s) => write!(f, "{s} received"),
            Abort::Threshold(t) => write!(f, "abort_on_fail threshold failed: {t}"),
            Abort::MaxDuration => write!(f, "--max-duration reached"),
        }
    }
}

/// Requests sharing one HTTP/2 connection in the open model unless the
/// plan says otherwise; a closed-model VU has a connection of its own.
const DEFAULT_OPEN_H2_STREAMS: u32 = 10;

fn scenarios_rt(plan: &Plan) -> Vec<ScenarioRt> {
    plan.scenarios
        .iter()
        .map(|s| ScenarioRt {
            arrival: ArrivalSchedule::of(&s.executor),
            vus: VuSchedule::of(&s.executor),
            start: s.start_time,
            graceful_stop: s.graceful_stop,
            max_in_flight: s.max_in_flight.max(1),
            vu_offset: s.vu_offset,
            think_time: s.think_time.map(|t| (t.min, t.max)),
            h2_streams: plan
                .tls
                .h2_streams
                .unwrap_or(if ArrivalSchedule::of(&s.executor).is_some() {
                    DEFAULT_OPEN_H2_STREAMS
                } else {
                    1
                }),
        })
        .collect()
}

/// Runs the load and returns what it measured. Failures of requests are
/// data; only a failure to start a worker is an error.
pub async fn execute(
    plan: Arc<Plan>,
    ready: Ready,
    opts: &EngineOptions,
    progress: &mut Progress,
    control: Control,
) -> Result<EngineOutput> {
    let n_workers = opts.workers.max(1);
    let Control {
        run_start,
        started_at,
        mut finish,
    } = control;
    let n_phases = if plan.rollout.is_some() { 3 } else { 1 };
    let live = ready.live.clone();
    let peer_live = ready.peer.as_ref().map(|p| p.live.clone());
    let Workers {
        handles,
        mut rx,
        peer_rx,
        stop_tx,
    } = start_workers(&plan, ready, opts, run_start, n_phases)?;
    let new_agg = || {
        Aggregator::new(
            n_workers,
            n_phases * plan.scenarios.len(),
            plan.scenarios.len(),
            plan.endpoints.len(),
        )
    };
    let mut agg = new_agg();
    let scenarios: Vec<&str> = plan.scenarios.iter().map(|s| s.name.as_str()).collect();
    let endpoints: Vec<&str> = plan.endpoints.iter().map(|e| e.name.as_str()).collect();
    let mut peer = peer_rx.map(|rx| duet::PeerAgg::new(new_agg(), rx));
    if let (Some(peer), Some(path)) = (&mut peer, &opts.baseline_interval_log) {
        log_to(&mut peer.agg, path, started_at, &scenarios, &endpoints);
    }
    let mut raw = opts.raw_samples.as_ref().and_then(|path| {
        RawDump::create(path, &scenarios, &endpoints, plan.rollout.is_some())
            .map_err(|e| eprintln!("warning: cannot write {}: {e}; no raw samples", path.display()))
            .ok()
    });
    if let Some(path) = &opts.interval_log {
        log_to(&mut agg, path, started_at, &scenarios, &endpoints);
    }
    let mut finished_by_controller = false;
    let mut sigint = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let mut sigterm = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let cap_at = opts.max_duration.map(|d| run_start + d);
    let mut tick = tokio::time::interval_at((run_start + Duration::from_millis(1100)).into(), Duration::from_secs(1));
    let mut abort: Option<Abort> = None;
    let mut finished = 0;
    let stop = |abort: &mut Option<Abort>, why: Abort| {
        if abort.is_none() {
            *abort = Some(why);
            let _ = stop_tx.send(Some(Instant::now() + opts.grace));
        }
    };
    let peer_pending = |peer: &Option<duet::PeerAgg>| peer.as_ref().is_some_and(|p| p.pending(n_workers));
    while finished < n_workers || peer_pending(&peer) {
        tokio::select! {
            delta = rx.recv(), if finished < n_workers => match delta {
                Some(mut d) => {
                    finished += usize::from(d.done);
                    if let Some(buf) = d.raw.take() {
                        write_raw(&mut raw, &buf, opts);
                    }
                    agg.apply(d);
                    warn_log_failure(&mut agg, opts.interval_log.as_deref());
                }
                None => break,
            },
            delta = async { match peer.as_mut() { Some(p) => p.recv().await, None => std::future::pending().await } }, if peer_pending(&peer) => {
                if let Some(p) = peer.as_mut() {
                    p.apply(delta);
                    warn_log_failure(&mut p.agg, opts.baseline_interval_log.as_deref());
                }
            }
            _ = tick.tick() => {
                let elapsed = run_start.elapsed();
                let phase = plan.rollout.is_some().then(|| live.phase().name());
                progress.update(&agg, elapsed, phase);
                if let Some(failed) = failed_abort_threshold(&plan, &agg, elapsed) {
                    stop(&mut abort, Abort::Threshold(failed));
                }
                if cap_at.is_some_and(|cap| Instant::now() >= cap) {
                    stop(&mut abort, Abort::MaxDuration);
                }
            }
            changed = finish.changed(), if !finished_by_controller => {
                finished_by_controller = true;
                if changed.is_ok() && *finish.borrow() && abort.is_none() {
                    // The tail has passed: a normal end, not an abort.
                    let _ = stop_tx.send(Some(Instant::now() + opts.grace));
                }
            }
            _ = sigint.recv() => stop(&mut abort, Abort::Signal("SIGINT")),
            _ = sigterm.recv() => stop(&mut abort, Abort::Signal("SIGTERM")),
        }
    }
    let elapsed = run_start.elapsed();
    for h in handles {
        let _ = h.join();
    }
    agg.finish(elapsed.as_secs_f64().ceil() as u64);
    warn_log_failure(&mut agg, opts.interval_log.as_deref());
    if let Some(mut dump) = raw.take()
        && let Err(e) = dump.flush()
    {
        warn_raw(opts, &e);
    }
    let interval_log = logged_name(&agg, opts.interval_log.as_deref());
    progress.finish(&agg, elapsed, abort.as_ref().map(ToString::to_string).as_deref());
    let mut output = EngineOutput {
        agg,
        version_names: version_names(&live),
        seen_versions: live.versions().snapshot(),
        elapsed,
        abort,
        interval_log,
        baseline: None,
    };
    if let (Some(mut peer), Some(peer_live)) = (peer, peer_live) {
        peer.agg.finish(elapsed.as_secs_f64().ceil() as u64);
        warn_log_failure(&mut peer.agg, opts.baseline_interval_log.as_deref());
        let log = logged_name(&peer.agg, opts.baseline_interval_log.as_deref());
        output.baseline = Some(Box::new(EngineOutput {
            agg: peer.agg,
            version_names: version_names(&peer_live),
            seen_versions: peer_live.versions().snapshot(),
            // One run, one stop: the target's length and abort.
            elapsed,
            abort: output.abort.clone(),
            interval_log: log,
            baseline: None,
        }));
    }
    Ok(output)
}

/// Sends the aggregator's closed seconds to the interval log at `path`; a
/// log that cannot be made is a warning, and the run goes on.
fn log_to(
    agg: &mut Aggregator,
    path: &std::path::Path,
    started_at: SystemTime,
    scenarios: &[&str],
    endpoints: &[&str],
) {
    match IntervalLog::create(path, started_at, scenarios, endpoints) {
        Ok(log) => agg.log_to(log),
        Err(e) => eprintln!(
            "warning: cannot write {}: {e}; the run goes on without per-second histograms",
            path.display()
        ),
    }
}

/// The interval log's file name, when every second of the run went to it.
fn logged_name(agg: &Aggregator, path: Option<&std::path::Path>) -> Option<String> {
    path.filter(|_| agg.logged())
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
}

/// The version ids seen and their header values.
fn version_names(live: &Live) -> Vec<(usize, String)> {
    (0..crate::metrics::live::MAX_VERSIONS)
        .filter_map(|id| live.versions().name(id).map(|n| (id, n)))
        .collect()
}

/// Appends a worker's raw records to the dump; on a failure, says so and
/// stops dumping.
fn write_raw(dump: &mut Option<RawDump>, buf: &RawBuf, opts: &EngineOptions) {
    if let Some(d) = dump
        && let Err(e) = d.write(buf)
    {
        warn_raw(opts, &e);
        *dump = None;
    }
}

fn warn_raw(opts: &EngineOptions, e: &std::io::Error) {
    let path = opts.raw_samples.as_deref().unwrap_or(std::path::Path::new(""));
    eprintln!(
        "warning: cannot write {}: {e}; the raw samples stop here",
        path.display()
    );
}

/// Says once, when it happens, that the interval log at `path` could not
/// be written.
fn warn_log_failure(agg: &mut Aggregator, path: Option<&std::path::Path>) {
    if let Some(why) = agg.take_log_failure() {
        let path = path.unwrap_or(std::path::Path::new(""));
        eprintln!("warning: cannot write {}: {why}; the run goes on", path.display());
    }
}

/// The worker threads, the channel their deltas come on, and the sender
/// that tells them when to stop.
struct Workers {
    handles: Vec<std::thread::JoinHandle<()>>,
    rx: tokio::sync::mpsc::UnboundedReceiver<crate::metrics::Delta>,
    /// The baseline side's deltas, in a duet.
    peer_rx: Option<tokio::sync::mpsc::UnboundedReceiver<crate::metrics::Delta>>,
    stop_tx: tokio::sync::watch::Sender<Option<Instant>>,
}

/// Starts `n_workers` worker threads, each on its own runtime, sharing
/// the prepared exchange and the scenarios' schedules.
fn start_workers(
    plan: &Plan,
    ready: Ready,
    opts: &EngineOptions,
    run_start: Instant,
    n_phases: usize,
) -> Result<Workers> {
    let n_workers = opts.workers.max(1);
    let shared = Arc::new(Shared {
        exchange: ready.exchange,
        peer: ready.peer,
        scenarios: scenarios_rt(plan),
        run_start,
        n_workers,
        seed: opts.seed,
        n_phases,
        live: ready.live,
        raw: opts.raw_samples.is_some(),
    });
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let (peer_tx, peer_rx) = match shared.peer {
        Some(_) => {
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
            (Some(tx), Some(rx))
        }
        None => (None, None),
    };
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(None);
    let mut handles = Vec::with_capacity(n_workers);
    for w in 0..n_workers {
        let txs = std::iter::once(tx.clone()).chain(peer_tx.clone()).collect();
        handles.push(worker::spawn(shared.clone(), w, stop_rx.clone(), txs).context("starting a worker thread")?);
    }
    Ok(Workers {
        handles,
        rx,
        peer_rx,
        stop_tx,
    })
}

/// The first `abort_on_fail` threshold that fails on the data so far.
fn failed_abort_threshold(plan: &Plan, agg: &Aggregator, elapsed: Duration) -> Option<String> {
    if !plan.thresholds.iter().any(|t| t.abort_on_fail) {
        return None;
    }
    let roster = plan.roster();
    let view = View::live(&roster, &agg.keys, &agg.generator, elapsed.as_secs_f64());
    plan.thresholds.iter().filter(|t| t.abort_on_fail).find_map(|t| {
        let (value, ok) = evaluate(&view, &t.selector, &t.condition);
        (value.is_some() && !ok).then(|| format!("{}: {}", t.metric, t.expression))
    })
}
