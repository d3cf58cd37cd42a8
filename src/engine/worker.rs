//! A worker thread: its own single-threaded tokio runtime, its own
//! connections and its own recorder, so nothing on the per-request path is
//! shared between threads. Open-model sends and closed-model VUs are spread
//! across workers by index.
//!
//! In a duet a worker has two *sides*, the target (0) and the baseline
//! target (1), each with its own recorder and connections: one schedule
//! and one random stream, every request sent to both (`super::duet`).

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

use super::duet::Peer;
use super::exchange::{Exchange, Idle, Prepared, Sharing, Slot};
use super::h2::Pool;
use super::pace::Pacer;
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
    /// Added to `{{vu}}`: the shards before this one's VUs or slots.
    pub vu_offset: u64,
}

/// What every worker shares, read-only.
pub struct Shared {
    /// Sends requests and times them.
    pub exchange: Exchange,
    /// The baseline target's side, in a duet.
    pub peer: Option<Peer>,
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

impl Shared {
    /// Side `side`'s exchange: 0 is the target, 1 the baseline target.
    fn exchange_of(&self, side: usize) -> &Exchange {
        match (&self.peer, side) {
            (Some(peer), 1) => &peer.exchange,
            _ => &self.exchange,
        }
    }

    /// The request of the next send, rendered for the target and, in a
    /// duet, for the baseline target from the same draws.
    fn prepare(&self, si: usize, rng: &mut SmallRng, vu: u64, iteration: u64) -> Option<(Prepared, Option<Prepared>)> {
        let peer = self.peer.as_ref().map(|p| &p.exchange);
        self.exchange.prepare(peer, si, rng, vu, iteration)
    }
}

/// Starts worker `worker` on its own OS thread; `txs` carries each side's
/// deltas (the target's, then the baseline target's in a duet).
pub fn spawn(
    shared: Arc<Shared>,
    worker: usize,
    stop: StopRx,
    txs: Vec<UnboundedSender<Delta>>,
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
            local.block_on(&rt, run_worker(shared, worker, stop, txs));
        })
}

fn seed_for(base: u64, a: u64, b: u64) -> u64 {
    // SplitMix-style mixing so neighbouring VUs get unrelated streams.
    let mut z = base ^ a.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ b.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z ^ (z >> 31)
}

async fn run_worker(shared: Arc<Shared>, worker: usize, stop: StopRx, txs: Vec<UnboundedSender<Delta>>) {
    let n_keys = shared.n_phases * shared.scenarios.len() * shared.exchange.n_endpoints();
    let sides: Rc<[Side]> = txs
        .into_iter()
        .enumerate()
        .map(|(side, tx)| {
            let live = match (&shared.peer, side) {
                (Some(peer), 1) => peer.live.clone(),
                _ => shared.live.clone(),
            };
            let mut recorder = Recorder::new(worker, shared.run_start, n_keys, shared.scenarios.len(), tx, live);
            // The test-only raw dump is the target's.
            if shared.raw && side == 0 {
                recorder.keep_raw();
            }
            Side {
                rec: Rc::new(RefCell::new(recorder)),
                pool: Rc::new(shared.exchange_of(side).h2_pool()),
            }
        })
        .collect();
    let mut set = JoinSet::new();
    for (si, sc) in shared.scenarios.iter().enumerate() {
        let run = || LoopCtx {
            shared: shared.clone(),
            sides: sides.clone(),
        };
        if sc.arrival.is_some() {
            set.spawn_local(open_loop(run(), stop.clone(), si, worker));
        }
        if let Some(vus) = &sc.vus {
            for vu in (worker as u32..vus.max_vus()).step_by(shared.n_workers) {
                set.spawn_local(vu_loop(run(), stop.clone(), si, vu));
            }
        }
    }
    let ticker = {
        let sides = sides.clone();
        let first = shared.run_start + Duration::from_millis(1005);
        tokio::task::spawn_local(async move {
            let mut every = tokio::time::interval_at(first.into(), Duration::from_secs(1));
            loop {
                every.tick().await;
                for side in sides.iter() {
                    side.rec.borrow_mut().tick(Instant::now());
                }
            }
        })
    };
    tokio::select! {
        _ = async { while set.join_next().await.is_some() {} } => {}
        _ = stop_deadline(stop) => {}
    }
    ticker.abort();
    set.abort_all();
    for side in sides.iter() {
        side.rec.borrow_mut().finish();
    }
}

/// One side of a worker: the target, or the baseline target of a duet.
struct Side {
    rec: Rc<RefCell<Recorder>>,
    /// The side's HTTP/2 connections.
    pool: Rc<Pool>,
}

/// What a scenario's loop shares with the rest of its worker.
struct LoopCtx {
    shared: Arc<Shared>,
    /// One per side.
    sides: Rc<[Side]>,
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

/// One side's state in an open-model loop: its recorder and connections,
/// and its own count of requests in flight, so that a slow side drops
/// its own sends and never the other's.
struct OpenSide {
    side: usize,
    rec: Rc<RefCell<Recorder>>,
    h2: Rc<Pool>,
    pool: Rc<Idle>,
    in_flight: Rc<Cell<usize>>,
    idle: Rc<Notify>,
}

impl OpenSide {
    fn new(side: usize, of: &Side, shared: &Shared) -> Self {
        OpenSide {
            side,
            rec: of.rec.clone(),
            h2: of.pool.clone(),
            pool: Rc::new(Idle::new(shared.exchange_of(side).n_origins())),
            in_flight: Rc::new(Cell::new(0)),
            idle: Rc::new(Notify::new()),
        }
    }

    /// Sends `prepared` on its own task, and records its measurement.
    fn dispatch(&self, shared: &Arc<Shared>, si: usize, prepared: Prepared, intended: Instant) {
        self.in_flight.set(self.in_flight.get() + 1);
        let (shared, rec, in_flight, idle, pool, h2) = (
            shared.clone(),
            self.rec.clone(),
            self.in_flight.clone(),
            self.idle.clone(),
            self.pool.clone(),
            self.h2.clone(),
        );
        let side = self.side;
        tokio::task::spawn_local(async move {
            let exchange = shared.exchange_of(side);
            let origin = exchange.origin_of(prepared.endpoint);
            let mut slot = pool.take(origin);
            let sharing = Sharing {
                pool: &h2,
                streams: shared.scenarios[si].h2_streams,
                idle: Some(&pool),
            };
            if let Some(m) = exchange.send(&mut slot, sharing, prepared, intended, None).await {
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
    }

    /// Waits until nothing is in flight, or `deadline`.
    async fn drain(&self, deadline: Instant) {
        while self.in_flight.get() > 0 {
            tokio::select! {
                _ = self.idle.notified() => {}
                _ = sleep_until(deadline.into()) => break,
            }
        }
    }
}

/// The open model: send on schedule, whether or not earlier requests have
/// answered; a send that finds `max_in_flight` full is dropped and counted.
/// In a duet each send goes to both sides, each with its own cap.
async fn open_loop(run: LoopCtx, mut stop: StopRx, si: usize, worker: usize) {
    let LoopCtx { shared, sides } = run;
    let sc = &shared.scenarios[si];
    let Some(schedule) = &sc.arrival else { return };
    let start = shared.run_start + sc.start;
    let n = shared.n_workers as u64;
    let cap = sc.max_in_flight.div_ceil(shared.n_workers).max(1);
    let sides: Vec<OpenSide> = sides
        .iter()
        .enumerate()
        .map(|(i, side)| OpenSide::new(i, side, &shared))
        .collect();
    let mut rng = SmallRng::seed_from_u64(seed_for(shared.seed, si as u64, worker as u64));
    let mut k = worker as u64;
    let mut pacer = Pacer::new();
    while let Some(offset) = schedule.time_of(k) {
        let intended = start + offset;
        if intended > Instant::now() {
            tokio::select! {
                _ = pacer.until(intended) => {}
                _ = stop.changed() => break,
            }
        }
        if stopping(&stop) {
            break;
        }
        // A send may go up to `pace::EARLY` before its time; it is then
        // measured from when it went.
        let now = Instant::now();
        // Which sides have room for this send.
        let mut room = [false; 2];
        for (side, has_room) in sides.iter().zip(&mut room) {
            *has_room = side.in_flight.get() < cap;
            let mut rec = side.rec.borrow_mut();
            if *has_room {
                rec.sent(si, now.saturating_duration_since(intended), now);
            } else {
                rec.dropped(si, now);
            }
        }
        let vu = k % sc.max_in_flight as u64 + 1 + sc.vu_offset;
        let prepared = if room.contains(&true) {
            shared.prepare(si, &mut rng, vu, k)
        } else {
            None
        };
        if let Some((target, baseline)) = prepared {
            for (side, request) in sides.iter().zip([Some(target), baseline]) {
                if let Some(request) = request.filter(|_| room[side.side]) {
                    side.dispatch(&shared, si, request, intended.min(now));
                }
            }
        }
        k += n;
    }
    // Let what is in flight finish within the scenario's graceful stop.
    let deadline = Instant::now() + sc.graceful_stop;
    for side in &sides {
        side.drain(deadline).await;
    }
}

/// The closed model: each VU sends, waits for the answer, thinks, repeats.
/// In a duet each iteration sends its request to both sides at once and
/// waits for both answers, so both sides see the same iterations.
async fn vu_loop(run: LoopCtx, mut stop: StopRx, si: usize, vu: u32) {
    let LoopCtx { shared, sides } = run;
    let sc = &shared.scenarios[si];
    let Some(schedule) = &sc.vus else { return };
    let start = shared.run_start + sc.start;
    let hard_end = start + schedule.end() + sc.graceful_stop;
    sleep_until(start.into()).await;
    let mut rng = SmallRng::seed_from_u64(seed_for(shared.seed, si as u64, u64::from(vu) + (1 << 32)));
    let slots_for = |side: usize| -> Vec<Slot> {
        (0..shared.exchange_of(side).n_origins())
            .map(|_| Slot::default())
            .collect()
    };
    let mut slots = [slots_for(0), if sides.len() > 1 { slots_for(1) } else { Vec::new() }];
    let mut done = 0u64;
    // Whether this VU counts as active (the timeline's VUs per second).
    let mut active = false;
    let set_active = |on: bool, now: Instant| {
        for side in sides.iter() {
            let mut rec = side.rec.borrow_mut();
            if on {
                rec.vu_started(si, now)
            } else {
                rec.vu_stopped(si, now)
            }
        }
    };
    while !stopping(&stop) {
        let now = Instant::now();
        match schedule.step(vu, done, now.saturating_duration_since(start)) {
            VuStep::Run => {
                if !active {
                    active = true;
                    set_active(true, now);
                }
            }
            VuStep::WaitUntil(t) => {
                if active {
                    active = false;
                    set_active(false, now);
                }
                tokio::select! {
                    _ = sleep_until((start + t).into()) => continue,
                    _ = stop.changed() => break,
                }
            }
            VuStep::Done => break,
        }
        let Some((target, baseline)) = shared.prepare(si, &mut rng, u64::from(vu) + 1 + sc.vu_offset, done) else {
            break;
        };
        let iteration = Iteration {
            shared: &shared,
            sides: &sides,
            si,
            hard_end,
        };
        let completed = match baseline {
            None => iteration.solo(&mut slots[0], target).await,
            // Boxed: only a duet's VUs carry the second request's state.
            Some(baseline) => Box::pin(iteration.duet(&mut slots, target, baseline)).await,
        };
        if !completed {
            break;
        }
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
        set_active(false, Instant::now());
    }
}

/// One closed-model iteration's send.
struct Iteration<'a> {
    shared: &'a Shared,
    sides: &'a [Side],
    si: usize,
    /// The scenario's hard end: a request still out then is interrupted.
    hard_end: Instant,
}

impl Iteration<'_> {
    fn sharing(&self, side: usize) -> Sharing<'_> {
        Sharing {
            pool: &self.sides[side].pool,
            streams: self.shared.scenarios[self.si].h2_streams,
            idle: None,
        }
    }

    /// Sends to the target alone and records the answer; false when the
    /// scenario's end cut it off (an interrupted iteration is not measured).
    async fn solo(&self, slots: &mut [Slot], prepared: Prepared) -> bool {
        let exchange = &self.shared.exchange;
        let slot = &mut slots[exchange.origin_of(prepared.endpoint)];
        let sent = exchange
            .send(slot, self.sharing(0), prepared, Instant::now(), Some(self.hard_end))
            .await;
        let Some(m) = sent else { return false };
        self.sides[0]
            .rec
            .borrow_mut()
            .record(m.key, &m.sample, m.end, m.version.as_ref());
        true
    }

    /// Sends to both sides at once, with one intended time, and waits for
    /// both. An iteration cut off on either side is measured on neither,
    /// so both sides keep the same iterations.
    async fn duet(&self, slots: &mut [Vec<Slot>; 2], target: Prepared, baseline: Prepared) -> bool {
        let intended = Instant::now();
        let [target_slots, baseline_slots] = slots;
        let peer = self.shared.exchange_of(1);
        let target_slot = &mut target_slots[self.shared.exchange.origin_of(target.endpoint)];
        let baseline_slot = &mut baseline_slots[peer.origin_of(baseline.endpoint)];
        let (a, b) = tokio::join!(
            self.shared
                .exchange
                .send(target_slot, self.sharing(0), target, intended, Some(self.hard_end)),
            peer.send(baseline_slot, self.sharing(1), baseline, intended, Some(self.hard_end)),
        );
        let (Some(a), Some(b)) = (a, b) else { return false };
        for (side, m) in self.sides.iter().zip([a, b]) {
            side.rec
                .borrow_mut()
                .record(m.key, &m.sample, m.end, m.version.as_ref());
        }
        true
    }
}
