//! Load shapes as data.
//!
//! The six executors reduce to two shapes. Open-model executors are an
//! [`ArrivalSchedule`]: the intended send time of the k-th request of the
//! scenario, from a piecewise-linear rate. Closed-model executors are a
//! [`VuSchedule`]: whether VU `i` runs an iteration at time `t`. The engine's
//! loops only ever ask these two questions.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::plan::{Executor, Stage};

/// A piecewise-linear rate: segment `i` runs from `start` for `len` seconds,
/// going linearly from `r0` to `r1` requests/s; `n0` sends came before it.
#[derive(Debug, Clone, Copy)]
struct Segment {
    start: f64,
    len: f64,
    r0: f64,
    r1: f64,
    n0: f64,
}

impl Segment {
    fn count(&self) -> f64 {
        (self.r0 + self.r1) / 2.0 * self.len
    }

    /// Seconds into the segment at which `x` sends have been made.
    fn time_of(&self, x: f64) -> f64 {
        let slope = (self.r1 - self.r0) / self.len;
        // Solves r0·t + slope·t²/2 = x in the form that stays stable for
        // rising and falling rates alike.
        let disc = (self.r0 * self.r0 + 2.0 * slope * x).max(0.0);
        let denom = self.r0 + disc.sqrt();
        if x <= 0.0 {
            0.0
        } else if denom <= 0.0 {
            self.len
        } else {
            (2.0 * x / denom).min(self.len)
        }
    }
}

/// The open model's schedule: when each send is due.
#[derive(Debug, Clone)]
pub struct ArrivalSchedule {
    segments: Vec<Segment>,
    total: u64,
}

impl ArrivalSchedule {
    /// A schedule from a start rate and stages (rates per second).
    pub fn ramping(start_rate: f64, stages: &[Stage]) -> Self {
        let mut segments = Vec::with_capacity(stages.len());
        let (mut t, mut n, mut rate) = (0.0, 0.0, start_rate);
        for stage in stages {
            let len = stage.duration.as_secs_f64();
            if len > 0.0 {
                let seg = Segment {
                    start: t,
                    len,
                    r0: rate,
                    r1: stage.target,
                    n0: n,
                };
                n += seg.count();
                segments.push(seg);
                t += len;
            }
            rate = stage.target;
        }
        // A hair of tolerance so that 200/s × 5 s is 1,000 sends, not 999.
        let total = (n + 1e-6).floor() as u64;
        ArrivalSchedule { segments, total }
    }

    /// A constant rate for `duration`.
    pub fn constant(rate: f64, duration: Duration) -> Self {
        Self::ramping(rate, &[Stage { duration, target: rate }])
    }

    /// The schedule of an open-model executor, `None` for closed ones.
    pub fn of(executor: &Executor) -> Option<Self> {
        match executor {
            Executor::ConstantArrivalRate { rate, duration } => Some(Self::constant(*rate, *duration)),
            Executor::RampingArrivalRate { start_rate, stages } => Some(Self::ramping(*start_rate, stages)),
            _ => None,
        }
    }

    /// How many sends the schedule makes.
    #[cfg(test)]
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The intended send time of send `k` (0-based), from the scenario's
    /// start; `None` once the schedule is over.
    pub fn time_of(&self, k: u64) -> Option<Duration> {
        if k >= self.total {
            return None;
        }
        let x = k as f64;
        let i = self.segments.partition_point(|s| s.n0 + s.count() <= x);
        let seg = self.segments.get(i).or(self.segments.last())?;
        Some(Duration::from_secs_f64(seg.start + seg.time_of(x - seg.n0)))
    }
}

/// The closed model's schedule: which VUs run, and for how long.
#[derive(Debug, Clone)]
pub enum VuSchedule {
    /// Every VU runs until `end`.
    Constant {
        /// VUs.
        vus: u32,
        /// Scenario length.
        end: Duration,
    },
    /// VU `i` runs while `i < vus(t)`, linear between stages.
    Ramping {
        /// VUs at t = 0.
        start_vus: u32,
        /// The stages.
        stages: Vec<Stage>,
    },
    /// All VUs draw from one shared count of iterations.
    Shared {
        /// VUs.
        vus: u32,
        /// Iterations still to hand out, shared across worker threads.
        remaining: Arc<AtomicU64>,
        /// Cap on the scenario's time.
        end: Duration,
    },
    /// Each VU runs `iterations`.
    PerVu {
        /// VUs.
        vus: u32,
        /// Iterations per VU.
        iterations: u64,
        /// Cap on the scenario's time.
        end: Duration,
    },
}

/// What a VU should do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VuStep {
    /// Run an iteration now.
    Run,
    /// Sleep until this offset from the scenario's start, then ask again.
    WaitUntil(Duration),
    /// The VU is finished.
    Done,
}

impl VuSchedule {
    /// The schedule of a closed-model executor, `None` for open ones.
    pub fn of(executor: &Executor) -> Option<Self> {
        Some(match executor {
            Executor::ConstantVus { vus, duration } => VuSchedule::Constant {
                vus: *vus,
                end: *duration,
            },
            Executor::RampingVus { start_vus, stages } => VuSchedule::Ramping {
                start_vus: *start_vus,
                stages: stages.clone(),
            },
            Executor::SharedIterations {
                vus,
                iterations,
                max_duration,
            } => VuSchedule::Shared {
                vus: *vus,
                remaining: Arc::new(AtomicU64::new(*iterations)),
                end: *max_duration,
            },
            Executor::PerVuIterations {
                vus,
                iterations,
                max_duration,
            } => VuSchedule::PerVu {
                vus: *vus,
                iterations: *iterations,
                end: *max_duration,
            },
            _ => return None,
        })
    }

    /// How many VU tasks the scenario needs at most.
    pub fn max_vus(&self) -> u32 {
        match self {
            VuSchedule::Constant { vus, .. } | VuSchedule::Shared { vus, .. } | VuSchedule::PerVu { vus, .. } => *vus,
            VuSchedule::Ramping { start_vus, stages } => {
                stages.iter().map(|s| s.target.ceil() as u32).fold(*start_vus, u32::max)
            }
        }
    }

    /// The scenario's length.
    pub fn end(&self) -> Duration {
        match self {
            VuSchedule::Constant { end, .. } | VuSchedule::Shared { end, .. } | VuSchedule::PerVu { end, .. } => *end,
            VuSchedule::Ramping { stages, .. } => stages.iter().map(|s| s.duration).sum(),
        }
    }

    /// Whether VU `vu` (0-based), having run `done` iterations, runs one at
    /// offset `t` from the scenario's start.
    pub fn step(&self, vu: u32, done: u64, t: Duration) -> VuStep {
        if t >= self.end() {
            return VuStep::Done;
        }
        match self {
            VuSchedule::Constant { .. } => VuStep::Run,
            VuSchedule::PerVu { iterations, .. } => {
                if done < *iterations {
                    VuStep::Run
                } else {
                    VuStep::Done
                }
            }
            VuSchedule::Shared { remaining, .. } => {
                let took = remaining.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
                if took.is_ok() { VuStep::Run } else { VuStep::Done }
            }
            VuSchedule::Ramping { start_vus, stages } => ramping_step(*start_vus, stages, vu, t),
        }
    }
}

/// Active VUs at `t`: linear within each stage, floored.
fn ramping_vus(start_vus: u32, stages: &[Stage], t: Duration) -> f64 {
    let (mut at, mut from) = (Duration::ZERO, start_vus as f64);
    for s in stages {
        if t < at + s.duration {
            let frac = (t - at).as_secs_f64() / s.duration.as_secs_f64();
            return from + (s.target - from) * frac;
        }
        at += s.duration;
        from = s.target;
    }
    from
}

fn ramping_step(start_vus: u32, stages: &[Stage], vu: u32, t: Duration) -> VuStep {
    let need = vu as f64 + 1.0;
    if ramping_vus(start_vus, stages, t) + 1e-9 >= need {
        return VuStep::Run;
    }
    // The next time the ramp reaches `need`, if any.
    let (mut at, mut from) = (Duration::ZERO, start_vus as f64);
    for s in stages {
        let stage_end = at + s.duration;
        if stage_end > t && s.target >= need && s.target > from {
            let frac = ((need - from) / (s.target - from)).clamp(0.0, 1.0);
            let when = at + s.duration.mul_f64(frac);
            return VuStep::WaitUntil(when.max(t + Duration::from_millis(1)));
        }
        at = stage_end;
        from = s.target;
    }
    VuStep::Done
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    #[test]
    fn constant_rate_sends_exact_count_evenly() {
        let s = ArrivalSchedule::constant(200.0, secs(5.0));
        assert_eq!(s.total(), 1000);
        assert_eq!(s.time_of(0), Some(Duration::ZERO));
        let t = s.time_of(999).unwrap().as_secs_f64();
        assert!((t - 4.995).abs() < 1e-9, "{t}");
        assert_eq!(s.time_of(1000), None);
    }

    #[test]
    fn ramp_follows_its_targets() {
        // 0 → 100/s over 10 s: 500 sends; half of them after t = 7.07 s.
        let s = ArrivalSchedule::ramping(
            0.0,
            &[Stage {
                duration: secs(10.0),
                target: 100.0,
            }],
        );
        assert_eq!(s.total(), 500);
        // Regression: a ramp from 0 sent its first request at the end of the stage.
        assert_eq!(s.time_of(0), Some(Duration::ZERO));
        let t = s.time_of(250).unwrap().as_secs_f64();
        assert!((t - 50f64.sqrt()).abs() < 1e-6, "{t}");
        // Then hold 100/s for 2 s: 200 more.
        let s = ArrivalSchedule::ramping(
            0.0,
            &[
                Stage {
                    duration: secs(10.0),
                    target: 100.0,
                },
                Stage {
                    duration: secs(2.0),
                    target: 100.0,
                },
            ],
        );
        assert_eq!(s.total(), 700);
        let t = s.time_of(600).unwrap().as_secs_f64();
        assert!((t - 11.0).abs() < 1e-6, "{t}");
        // Falling ramps are monotonic too.
        let s = ArrivalSchedule::ramping(
            100.0,
            &[Stage {
                duration: secs(10.0),
                target: 0.0,
            }],
        );
        let mut last = Duration::ZERO;
        for k in 0..s.total() {
            let t = s.time_of(k).unwrap();
            assert!(t >= last);
            last = t;
        }
    }

    #[test]
    fn ramping_vus_activate_on_time() {
        let stages = [
            Stage {
                duration: secs(10.0),
                target: 10.0,
            },
            Stage {
                duration: secs(5.0),
                target: 0.0,
            },
        ];
        let sched = VuSchedule::Ramping {
            start_vus: 0,
            stages: stages.to_vec(),
        };
        assert_eq!(sched.max_vus(), 10);
        assert_eq!(sched.step(0, 0, secs(1.0)), VuStep::Run);
        assert_eq!(sched.step(4, 0, secs(1.0)), VuStep::WaitUntil(secs(5.0)));
        assert_eq!(sched.step(9, 0, secs(10.5)), VuStep::Done);
        assert_eq!(sched.step(0, 0, secs(15.0)), VuStep::Done);
    }

    #[test]
    fn iteration_schedules_stop_at_their_count() {
        let shared = VuSchedule::of(&Executor::SharedIterations {
            vus: 2,
            iterations: 3,
            max_duration: secs(60.0),
        })
        .unwrap();
        let runs = (0..10).filter(|_| shared.step(0, 0, secs(0.0)) == VuStep::Run).count();
        assert_eq!(runs, 3);
        let per = VuSchedule::of(&Executor::PerVuIterations {
            vus: 2,
            iterations: 2,
            max_duration: secs(60.0),
        })
        .unwrap();
        assert_eq!(per.step(1, 1, secs(0.0)), VuStep::Run);
        assert_eq!(per.step(1, 2, secs(0.0)), VuStep::Done);
        assert_eq!(per.step(1, 0, secs(60.0)), VuStep::Done);
    }
}
