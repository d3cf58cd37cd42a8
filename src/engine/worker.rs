//! A worker thread: its own single-threaded tokio runtime, its own
//! connections and its own recorder, so nothing on the per-request path is
//! shared between threads. Open-model sends and closed-model VUs are spread
//! across workers by index.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand::rngs::SmallRng;
use tokio::sync::mpsc::UnboundedSender;
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use tokio::time::sleep_until;

use super::exchange::{Exchange, Idle, Sharing, Slot};
use super::h2::Pool;
use super::schedule::{ArrivalSchedule, VuSchedule, VuStep};
use crate::metrics::{Delta, Recorder};

/// The stop signal: `Some(deadline)` once the run is stopping; in-flight
/// requests may finish until the deadline.
pub type StopRx = watch::Receiver<Option<Instant>>;

/// A scenario as the workers run it.
pub struct ScenarioRt {
    /// The open-model schedule, for arrival-rate executors.
    pub arrival: Option<ArrivalSchedule>,
    /// The closed-model schedule, for VU executors.
    pub vus: Option<VuSchedule>,
    /// When it starts, from the run's start.
    pub start: Duration,
    /// How long in-flight work may finish after its end.
    pub graceful_stop: Duration,
    /// Open model: the most requests in flight, over all workers.
    pub max_in_flight: usize,
    /// Closed model: the pause between iterations.
    pub think_time: Option<(Duration, Duration)>,
    /// How many requests (open model) or VUs (closed model) share one
    /// HTTP/2 connection.
    pub h2_streams: u32,
}

/// What every worker shares, read-only.
pub struct Shared {
    /// Sends requests and times them.
    pub exchange: Exchange,
    /// The scenarios.
    pub scenarios: Vec<ScenarioRt>,
    /// The instant the load starts.
    pub run_start: Instant,
    /// How many workers.
    pub n_workers: usize,
    /// The base seed for random choices.
    pub seed: u64,
    /// 3 with a rollout (head, rollout, tail), else 1.
    pub n_phases: usize,
    /// The phase and the versions seen, shared with the rollout controller.
    pub live: Arc<crate::metrics::live::Live>,
    /// Recorders keep raw samples for the test-only dump.
    pub raw: bool,
}

/// Starts worker `worker` on its own OS thread.
pub fn spawn(
    shared: Arc<Shared>,
    worker: usize,
    stop: StopRx,
    tx: UnboundedSender<Delta>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name(format!("loadcheck-worker-{worker}"))
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("loadcheck: worker {worker} could not start its runtime: {e}");
                    return;
                }
            };
            let local = tokio::task::LocalSet::new();
            local.block_on(&rt, run_worker(shared, worker, stop, tx));
        })
}

fn seed_for(base: u64, a: u64, b: u64) -> u64 {
    // SplitMix-style mixing so neighbouring VUs get unrelated streams.
    let mut z = base ^ a.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ b.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z ^ (z >> 31)
}

async fn run_worker(shared: Arc<Shared>, worker: usize, stop: StopRx, tx: UnboundedSender<Delta>) {
    let n_keys = shared.n_phases * shared.scenarios.len() * shared.exchange.n_endpoints();
    let mut recorder = Recorder::new(
        worker,
        shared.run_start,
        n_keys,
        shared.scenarios.len(),
        tx,
        shared.live.clone(),
    );
    if shared.raw {
        recorder.keep_raw();
    }
    let rec = Rc::new(RefCell::new(recorder));
    let pool = Rc::new(shared.exchange.h2_pool());
    let mut set = JoinSet::new();
    for (si, sc) in shared.scenarios.iter().enumerate() {
        if sc.arrival.is_some() {
            let run = LoopCtx {
                shared: shared.clone(),
                rec: rec.clone(),
                pool: pool.clone(),
            };
            set.spawn_local(open_loop(run, stop.clone(), si, worker));
        }
        if let Some(vus) = &sc.vus {
            for vu in (worker as u32..vus.max_vus()).step_by(shared.n_workers) {
                let run = LoopCtx {
                    shared: shared.clone(),
                    rec: rec.clone(),
                    pool: pool.clone(),
                };
                set.spawn_local(vu_loop(run, stop.clone(), si, vu));
            }
        }
    }
    let ticker = {
        let rec = rec.clone();
        let first = shared.run_start + Duration::from_millis(1005);
        tokio::task::spawn_local(async move {
            let mut every = tokio::time::interval_at(first.into(), Duration::from_secs(1));
            loop {
                every.tick().await;
                rec.borrow_mut().tick(Instant::now());
            }
        })
    };
    tokio::select! {
        _ = async { while set.join_next().await.is_some() {} } => {}
        _ = stop_deadline(stop) => {}
    }
    ticker.abort();
    set.abort_all();
    rec.borrow_mut().finish();
}

/// What a scenario's loop shares with the rest of its worker.
struct LoopCtx {
    shared: Arc<Shared>,
    rec: Rc<RefCell<Recorder>>,
    pool: Rc<Pool>,
}

/// Resolves at the stop deadline, once a stop has been asked for.
async fn stop_deadline(mut stop: StopRx) {
    loop {
        let deadline = *stop.borrow_and_update();
        if let Some(deadline) = deadline {
            sleep_until(deadline.into()).await;
            return;
        }
        if stop.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Whether a stop was asked for. The stop value only ever changes once,
/// from `None` to a deadline, and every loop exits as soon as `changed()`
/// fires, so a version check (one atomic load, no lock) is enough on the
/// per-request path.
fn stopping(stop: &StopRx) -> bool {
    stop.has_changed().unwrap_or(true)
}

/// The open model: send on schedule, whether or not earlier requests have
/// answered; a send that finds `max_in_flight` full is dropped and counted.
async fn open_loop(run: LoopCtx, mut stop: StopRx, si: usize, worker: usize) {
    let LoopCtx { shared, rec, pool: h2 } = run;
    let sc = &shared.scenarios[si];
    let Some(schedule) = &sc.arrival else { return };
    let start = shared.run_start + sc.start;
    let n = shared.n_workers as u64;
    let cap = sc.max_in_flight.div_ceil(shared.n_workers).max(1);
    let in_flight = Rc::new(Cell::new(0usize));
    let idle = Rc::new(Notify::new());
    let pool = Rc::new(Idle::new(shared.exchange.n_origins()));
    let mut rng = SmallRng::seed_from_u64(seed_for(shared.seed, si as u64, worker as u64));
    let mut k = worker as u64;
    while let Some(offset) = schedule.time_of(k) {
        let intended = start + offset;
        if intended > Instant::now() {
            tokio::select! {
                _ = sleep_until(intended.into()) => {}
                _ = stop.changed() => break,
            }
        }
        if stopping(&stop) {
            break;
        }
        let now = Instant::now();
        if in_flight.get() >= cap {
            rec.borrow_mut().dropped(si, now);
            k += n;
            continue;
        }
        rec.borrow_mut().sent(si, now.saturating_duration_since(intended), now);
        let vu = k % sc.max_in_flight as u64 + 1;
        let Some(prepared) = shared.exchange.prepare(si, &mut rng, vu, k) else {
            k += n;
            continue;
        };
        in_flight.set(in_flight.get() + 1);
        let (shared, rec, in_flight, idle, pool, h2) = (
            shared.clone(),
            rec.clone(),
            in_flight.clone(),
            idle.clone(),
            pool.clone(),
            h2.clone(),
        );
        tokio::task::spawn_local(async move {
            let origin = shared.exchange.origin_of(prepared.endpoint);
            let mut slot = pool.take(origin);
            let sharing = Sharing {
                pool: &h2,
                streams: shared.scenarios[si].h2_streams,
                idle: Some(&pool),
            };
            if let Some(m) = shared.exchange.send(&mut slot, sharing, prepared, intended, None).await {
                rec.borrow_mut().record(m.key, &m.sample, m.end, m.version.as_ref());
            }
            // An HTTP/1.1 connection waits in the idle list for the next
            // request; a share of an HTTP/2 connection is given back.
            if !slot.is_shared() && slot.is_usable() {
                pool.give(origin, slot);
            }
            in_flight.set(in_flight.get() - 1);
            if in_flight.get() == 0 {
                idle.notify_one();
            }
        });
        k += n;
    }
    // Let what is in flight finish within the scenario's graceful stop.
    let deadline = Instant::now() + sc.graceful_stop;
    while in_flight.get() > 0 {
        tokio::select! {
            _ = idle.notified() => {}
            _ = sleep_until(deadline.into()) => break,
        }
    }
}

/// The closed model: each VU sends, waits for the answer, thinks, repeats.
async fn vu_loop(run: LoopCtx, mut stop: StopRx, si: usize, vu: u32) {
    let LoopCtx { shared, rec, pool: h2 } = run;
    let sc = &shared.scenarios[si];
    let Some(schedule) = &sc.vus else { return };
    let start = shared.run_start + sc.start;
    let hard_end = start + schedule.end() + sc.graceful_stop;
    sleep_until(start.into()).await;
    let mut rng = SmallRng::seed_from_u64(seed_for(shared.seed, si as u64, u64::from(vu) + (1 << 32)));
    let mut slots: Vec<Slot> = (0..shared.exchange.n_origins()).map(|_| Slot::default()).collect();
    let mut done = 0u64;
    // Whether this VU counts as active (the timeline's VUs per second).
    let mut active = false;
    while !stopping(&stop) {
        let now = Instant::now();
        match schedule.step(vu, done, now.saturating_duration_since(start)) {
            VuStep::Run => {
                if !active {
                    active = true;
                    rec.borrow_mut().vu_started(si, now);
                }
            }
            VuStep::WaitUntil(t) => {
                if active {
                    active = false;
                    rec.borrow_mut().vu_stopped(si, now);
                }
                tokio::select! {
                    _ = sleep_until((start + t).into()) => continue,
                    _ = stop.changed() => break,
                }
            }
            VuStep::Done => break,
        }
        let Some(prepared) = shared.exchange.prepare(si, &mut rng, u64::from(vu) + 1, done) else {
            break;
        };
        let slot = &mut slots[shared.exchange.origin_of(prepared.endpoint)];
        // An iteration cut off by the scenario's end is interrupted, not measured.
        let sharing = Sharing {
            pool: &h2,
            streams: sc.h2_streams,
            idle: None,
        };
        let Some(m) = shared
            .exchange
            .send(slot, sharing, prepared, Instant::now(), Some(hard_end))
            .await
        else {
            break;
        };
        rec.borrow_mut().record(m.key, &m.sample, m.end, m.version.as_ref());
        done += 1;
        if let Some((min, max)) = sc.think_time {
            let pause = if max > min {
                min + (max - min).mul_f64(rand::Rng::random::<f64>(&mut rng))
            } else {
                min
            };
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = stop.changed() => break,
            }
        }
    }
    if active {
        rec.borrow_mut().vu_stopped(si, Instant::now());
    }
}
