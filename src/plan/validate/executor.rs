//! Executors: each one's options, checked, normalized to per second, with
//! the CLI overrides applied; and the resolved `max_in_flight`.

use std::time::Duration;

use super::ctx::Ctx;
use crate::plan::duration::{check_plan_duration, parse_duration};
use crate::plan::error::{FieldPath, PlanError};
use crate::plan::raw::{RawScenario, RawStage};
use crate::plan::{Executor, Overrides, Stage, ThinkTime};

/// The default `max_in_flight` is capped at this.
const MAX_IN_FLIGHT_CAP: f64 = 100_000.0;

/// A required value, or an error at the scenario naming what is missing.
fn required<T>(ctx: &Ctx, at: &FieldPath, value: Option<T>, option: &str, kind: &str) -> Result<T, PlanError> {
    value.ok_or_else(|| ctx.err(&at.key(option), format!("{kind} needs `{option}`")))
}

fn positive(ctx: &Ctx, at: &FieldPath, d: Duration, option: &str) -> Result<Duration, PlanError> {
    if d.is_zero() {
        Err(ctx.err(&at.key(option), format!("`{option}` must be above 0")))
    } else {
        Ok(d)
    }
}

/// Builds the executor from its options, with the overrides applied and
/// rates per second.
///
/// `default_duration` stands in for a missing `duration` (with a
/// `[rollout]`, the run's length is head + timeout + tail at most).
pub(super) fn executor(
    ctx: &Ctx,
    at: &FieldPath,
    raw: &RawScenario,
    ov: &Overrides,
    default_duration: Option<Duration>,
) -> Result<Executor, PlanError> {
    let kind = raw.executor.as_str();
    let per_second = positive(
        ctx,
        at,
        raw.time_unit.map_or(Duration::from_secs(1), |d| d.0),
        "time_unit",
    )?
    .as_secs_f64();
    let duration = |ctx: &Ctx| -> Result<Duration, PlanError> {
        let d = ov.duration.or(raw.duration.map(|d| d.0)).or(default_duration);
        positive(ctx, at, required(ctx, at, d, "duration", kind)?, "duration")
    };
    let vus = |ctx: &Ctx| -> Result<u32, PlanError> {
        match ov.vus.or(raw.vus).unwrap_or(1) {
            0 => Err(ctx.err(&at.key("vus"), "`vus` must be at least 1")),
            n => Ok(n),
        }
    };
    Ok(match kind {
        "constant-arrival-rate" => {
            let rate = match ov.rate {
                Some(r) => r,
                None => rate(ctx, at, required(ctx, at, raw.rate, "rate", kind)?, "rate", false)? / per_second,
            };
            Executor::ConstantArrivalRate {
                rate,
                duration: duration(ctx)?,
            }
        }
        "ramping-arrival-rate" => Executor::RampingArrivalRate {
            start_rate: rate(ctx, at, raw.start_rate.unwrap_or(0.0), "start_rate", true)? / per_second,
            stages: stages(ctx, at, raw.stages.as_deref(), kind, per_second, false)?,
        },
        "constant-vus" => Executor::ConstantVus {
            vus: vus(ctx)?,
            duration: duration(ctx)?,
        },
        "ramping-vus" => Executor::RampingVus {
            start_vus: raw.start_vus.unwrap_or(1),
            stages: stages(ctx, at, raw.stages.as_deref(), kind, 1.0, true)?,
        },
        _ => {
            let (vus, iterations) = (vus(ctx)?, raw.iterations.unwrap_or(1));
            if iterations == 0 {
                return Err(ctx.err(&at.key("iterations"), "`iterations` must be at least 1"));
            }
            let max_duration = positive(
                ctx,
                at,
                raw.max_duration.map_or(Duration::from_secs(600), |d| d.0),
                "max_duration",
            )?;
            if kind == "shared-iterations" {
                if iterations < u64::from(vus) {
                    return Err(ctx.err(&at.key("iterations"), format!("{iterations} shared iterations cannot keep {vus} VUs busy; give at least as many iterations as VUs")));
                }
                Executor::SharedIterations {
                    vus,
                    iterations,
                    max_duration,
                }
            } else {
                Executor::PerVuIterations {
                    vus,
                    iterations,
                    max_duration,
                }
            }
        }
    })
}

fn rate(ctx: &Ctx, at: &FieldPath, r: f64, option: &str, zero_ok: bool) -> Result<f64, PlanError> {
    if r.is_finite() && (r > 0.0 || (zero_ok && r == 0.0)) {
        Ok(r)
    } else {
        let bound = if zero_ok { "0 or more" } else { "above 0" };
        Err(ctx.err(&at.key(option), format!("`{option}` must be a number {bound}")))
    }
}

fn stages(
    ctx: &Ctx,
    at: &FieldPath,
    raw: Option<&[RawStage]>,
    kind: &str,
    per_second: f64,
    whole: bool,
) -> Result<Vec<Stage>, PlanError> {
    let raw = required(ctx, at, raw, "stages", kind)?;
    if raw.is_empty() {
        return Err(ctx.err(&at.key("stages"), "`stages` is empty"));
    }
    let mut out = Vec::with_capacity(raw.len());
    for (i, s) in raw.iter().enumerate() {
        let ok = s.target.is_finite()
            && s.target >= 0.0
            && (!whole || (s.target.fract() == 0.0 && s.target <= f64::from(u32::MAX)));
        if !ok {
            let what = if whole {
                "a whole number of VUs, 0 or more"
            } else {
                "a rate, 0 or more"
            };
            return Err(ctx.err(&at.key("stages").index(i), format!("the stage target must be {what}")));
        }
        out.push(Stage {
            duration: s.duration.0,
            target: s.target / per_second,
        });
    }
    if out.iter().all(|s| s.duration.is_zero()) {
        return Err(ctx.err(&at.key("stages"), "the stages last 0s in all"));
    }
    Ok(out)
}

/// `"100ms..500ms"` or a single duration.
pub(super) fn think_time(s: &str) -> Result<ThinkTime, String> {
    let parse = |t: &str| {
        parse_duration(t)
            .and_then(check_plan_duration)
            .map_err(|m| format!("think time \"{s}\": {m}"))
    };
    let (min, max) = match s.split_once("..") {
        Some((a, b)) => (parse(a)?, parse(b)?),
        None => {
            let d = parse(s)?;
            (d, d)
        }
    };
    if min > max {
        return Err(format!(
            "think time \"{s}\": the shortest pause is longer than the longest"
        ));
    }
    Ok(ThinkTime { min, max })
}

/// The resolved `max_in_flight`: the explicit value, else `max_vus`, else
/// rate × timeout for the open model; the most VUs for the closed model.
pub(super) fn max_in_flight(
    ctx: &Ctx,
    at: &FieldPath,
    raw: &RawScenario,
    ex: &Executor,
    timeout: Duration,
) -> Result<usize, PlanError> {
    if let (Some(pre), Some(max)) = (raw.pre_allocated_vus, raw.max_vus) {
        if pre > max {
            return Err(ctx.err(
                &at.key("pre_allocated_vus"),
                format!("pre_allocated_vus ({pre}) is above max_vus ({max})"),
            ));
        }
    }
    let limit = match (raw.max_in_flight, raw.max_vus, ex) {
        (Some(0), ..) => return Err(ctx.err(&at.key("max_in_flight"), "`max_in_flight` must be at least 1")),
        (_, Some(0), _) => return Err(ctx.err(&at.key("max_vus"), "`max_vus` must be at least 1")),
        (Some(n), ..) => usize::try_from(n).unwrap_or(usize::MAX),
        (None, Some(n), _) => n as usize,
        (None, None, Executor::ConstantArrivalRate { rate, .. }) => default_in_flight(*rate, timeout),
        (None, None, Executor::RampingArrivalRate { start_rate, stages }) => {
            default_in_flight(stages.iter().map(|s| s.target).fold(*start_rate, f64::max), timeout)
        }
        (None, None, Executor::RampingVus { start_vus, stages }) => stages
            .iter()
            .map(|s| s.target as usize)
            .fold(*start_vus as usize, usize::max)
            .max(1),
        (
            None,
            None,
            Executor::ConstantVus { vus, .. }
            | Executor::SharedIterations { vus, .. }
            | Executor::PerVuIterations { vus, .. },
        ) => *vus as usize,
    };
    Ok(limit)
}

/// Enough for the peak rate times the request timeout, at least 1, at most
/// 100,000.
fn default_in_flight(peak_per_second: f64, timeout: Duration) -> usize {
    (peak_per_second * timeout.as_secs_f64())
        .ceil()
        .clamp(1.0, MAX_IN_FLIGHT_CAP) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_in_flight_is_rate_times_timeout_capped() {
        assert_eq!(default_in_flight(200.0, Duration::from_secs(10)), 2000);
        assert_eq!(default_in_flight(0.5, Duration::from_millis(100)), 1);
        assert_eq!(default_in_flight(0.0, Duration::from_secs(10)), 1);
        assert_eq!(default_in_flight(1e9, Duration::from_secs(60)), 100_000);
        assert_eq!(default_in_flight(3.3, Duration::from_secs(1)), 4);
    }

    #[test]
    fn think_times() {
        let t = think_time("100ms..500ms").unwrap();
        assert_eq!((t.min, t.max), (Duration::from_millis(100), Duration::from_millis(500)));
        let one = think_time("1s").unwrap();
        assert_eq!(one.min, one.max);
        assert!(think_time("2s..1s").unwrap_err().contains("longer"));
        assert!(think_time("1s..").unwrap_err().contains("think time"));
        assert!(think_time("..").is_err());
    }
}
