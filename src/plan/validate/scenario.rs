//! Scenarios: names, the `[load]` shorthand, which options each executor
//! takes, and the endpoints with their weights.
//!
//! k6's options are written in snake_case. Each executor takes only its own
//! options; anything else is an error naming the option and the executor.
//! `executor.rs` builds the executor itself.

use std::collections::BTreeMap;
use std::time::Duration;

use super::ctx::{Ctx, check_name};
use super::executor::{executor, max_in_flight, think_time};
use crate::plan::duration::check_plan_duration;
use crate::plan::error::{FieldPath, PlanError, did_you_mean};
use crate::plan::raw::{OneOf, RawScenario};
use crate::plan::{Endpoint, Overrides, Scenario};

/// The executor names, as k6 spells them.
const EXECUTORS: [&str; 6] = [
    "constant-arrival-rate",
    "ramping-arrival-rate",
    "constant-vus",
    "ramping-vus",
    "shared-iterations",
    "per-vu-iterations",
];

/// Each executor's own options (besides the common ones).
fn options(executor: &str) -> &'static [&'static str] {
    match executor {
        "constant-arrival-rate" => &[
            "rate",
            "time_unit",
            "duration",
            "pre_allocated_vus",
            "max_vus",
            "max_in_flight",
        ],
        "ramping-arrival-rate" => &[
            "start_rate",
            "time_unit",
            "stages",
            "pre_allocated_vus",
            "max_vus",
            "max_in_flight",
        ],
        "constant-vus" => &["vus", "duration", "think_time"],
        "ramping-vus" => &["start_vus", "stages", "think_time"],
        _ => &["vus", "iterations", "max_duration", "think_time"],
    }
}

/// What scenarios need from the rest of the plan.
pub(super) struct Inputs<'a> {
    /// The validated endpoints.
    pub endpoints: &'a [Endpoint],
    /// Each endpoint's own `weight`.
    pub weights: &'a [u32],
    /// The command-line overrides.
    pub overrides: &'a Overrides,
    /// The request timeout, for the default `max_in_flight`.
    pub timeout: Duration,
    /// A missing `duration` defaults to this, when set.
    pub default_duration: Option<Duration>,
}

/// The overrides themselves must make sense.
pub(super) fn check_overrides(ctx: &Ctx, o: &Overrides) -> Result<(), PlanError> {
    let bad = |field: &str, m: &str| Err(PlanError::new(ctx.file, field, m));
    if o.rate.is_some_and(|r| !(r.is_finite() && r > 0.0)) {
        return bad("--rate", "the rate must be a number above 0");
    }
    if let Some(d) = o.duration {
        if d.is_zero() {
            return bad("--duration", "the duration must be above 0");
        }
        if let Err(m) = check_plan_duration(d) {
            return bad("--duration", &m);
        }
    }
    if o.vus == Some(0) {
        return bad("--vus", "at least 1 VU is needed");
    }
    Ok(())
}

/// Validates `[[scenario]]` blocks or the `[load]` shorthand.
pub(super) fn scenarios(
    ctx: &Ctx,
    list: Option<Vec<RawScenario>>,
    load: Option<RawScenario>,
    inputs: &Inputs,
) -> Result<Vec<Scenario>, PlanError> {
    if inputs.endpoints.is_empty() {
        return Err(ctx.err(
            &FieldPath::root("endpoint"),
            "the plan has no [[endpoint]]; add at least one",
        ));
    }
    let raw: Vec<(FieldPath, String, RawScenario)> = match (list, load) {
        (Some(_), Some(_)) => {
            return Err(ctx.err(
                &FieldPath::root("load"),
                "[load] and [[scenario]] cannot be used together; move [load] into a [[scenario]] block",
            ));
        }
        (None, Some(mut l)) => {
            let at = FieldPath::root("load");
            if l.name.take().is_some() {
                return Err(ctx.err(
                    &at.key("name"),
                    "[load] is always named \"default\"; use [[scenario]] blocks to name scenarios",
                ));
            }
            vec![(at, "default".to_string(), l)]
        }
        (Some(list), None) if !list.is_empty() => {
            let mut out: Vec<(FieldPath, String, RawScenario)> = Vec::with_capacity(list.len());
            for (i, mut s) in list.into_iter().enumerate() {
                let at = FieldPath::root("scenario").index(i);
                let name = s
                    .name
                    .take()
                    .ok_or_else(|| ctx.err(&at.key("name"), "missing required field"))?;
                check_name(ctx, &at.key("name"), &name, "scenario")?;
                if out.iter().any(|(_, n, _)| *n == name) {
                    return Err(ctx.err(&at.key("name"), format!("scenario \"{name}\" is defined twice")));
                }
                out.push((at, name, s));
            }
            out
        }
        _ => {
            return Err(ctx.err(
                &FieldPath::root("scenario"),
                "the plan has no scenario; add a [[scenario]] block or a [load] table",
            ));
        }
    };
    raw.into_iter()
        .map(|(at, name, s)| scenario(ctx, &at, name, s, inputs))
        .collect()
}

fn scenario(ctx: &Ctx, at: &FieldPath, name: String, raw: RawScenario, inputs: &Inputs) -> Result<Scenario, PlanError> {
    let kind = raw.executor.as_str();
    if !EXECUTORS.contains(&kind) {
        return Err(ctx.err_near(
            &at.key("executor"),
            format!("unknown executor \"{kind}\"; expected one of: {}", EXECUTORS.join(", ")),
            did_you_mean(kind, EXECUTORS),
        ));
    }
    check_options(ctx, at, &raw)?;
    let executor = executor(ctx, at, &raw, inputs.overrides, inputs.default_duration)?;
    let max_in_flight = max_in_flight(ctx, at, &raw, &executor, inputs.timeout)?;
    let think_time = match raw.think_time.as_deref() {
        Some(t) => Some(think_time(t).map_err(|m| ctx.err(&at.key("think_time"), m))?),
        None => None,
    };
    let endpoints = endpoints(ctx, &at.key("endpoints"), raw.endpoints, inputs)?;
    Ok(Scenario {
        name,
        executor,
        endpoints,
        start_time: raw.start_time.map_or(Duration::ZERO, |d| d.0),
        graceful_stop: raw.graceful_stop.map_or(Duration::from_secs(3), |d| d.0),
        think_time,
        max_in_flight,
        vu_offset: 0,
    })
}

/// Every option given must belong to the executor.
fn check_options(ctx: &Ctx, at: &FieldPath, raw: &RawScenario) -> Result<(), PlanError> {
    let given = [
        ("rate", raw.rate.is_some()),
        ("start_rate", raw.start_rate.is_some()),
        ("time_unit", raw.time_unit.is_some()),
        ("duration", raw.duration.is_some()),
        ("stages", raw.stages.is_some()),
        ("pre_allocated_vus", raw.pre_allocated_vus.is_some()),
        ("max_vus", raw.max_vus.is_some()),
        ("vus", raw.vus.is_some()),
        ("start_vus", raw.start_vus.is_some()),
        ("iterations", raw.iterations.is_some()),
        ("max_duration", raw.max_duration.is_some()),
        ("think_time", raw.think_time.is_some()),
        ("max_in_flight", raw.max_in_flight.is_some()),
    ];
    let kind = raw.executor.as_str();
    let own = options(kind);
    let Some((option, _)) = given.iter().find(|(name, present)| *present && !own.contains(name)) else {
        return Ok(());
    };
    let message = match *option {
        "think_time" => {
            format!("`think_time` applies to VU executors only; {kind} is an arrival-rate (open-model) executor")
        }
        "max_in_flight" => {
            format!("`max_in_flight` applies to arrival-rate executors only; {kind} sends one request per VU at a time")
        }
        _ => format!(
            "`{option}` is not an option of {kind}; its options are: {}",
            own.join(", ")
        ),
    };
    Err(ctx.err(&at.key(option), message))
}

fn endpoints(
    ctx: &Ctx,
    at: &FieldPath,
    raw: Option<OneOf<BTreeMap<String, u32>>>,
    inputs: &Inputs,
) -> Result<Vec<(usize, u32)>, PlanError> {
    let names: Vec<&str> = inputs.endpoints.iter().map(|e| e.name.as_str()).collect();
    let find = |name: &str, at: &FieldPath| {
        names.iter().position(|n| *n == name).ok_or_else(|| {
            ctx.err_near(
                at,
                format!(
                    "unknown endpoint \"{name}\"; the plan's endpoints are: {}",
                    names.join(", ")
                ),
                did_you_mean(name, names.iter().copied()),
            )
        })
    };
    let picked: Vec<(usize, u32)> = match raw {
        None => inputs.weights.iter().copied().enumerate().collect(),
        Some(OneOf::Map(table)) => {
            let mut out = Vec::with_capacity(table.len());
            for (name, weight) in ctx.file_order(at, table) {
                out.push((find(&name, &at.key(&name))?, weight));
            }
            out
        }
        Some(OneOf::Seq(list)) => {
            let mut out: Vec<(usize, u32)> = Vec::with_capacity(list.len());
            for (i, name) in list.iter().enumerate() {
                let idx = find(name, &at.index(i))?;
                if out.iter().any(|(j, _)| *j == idx) {
                    return Err(ctx.err(&at.index(i), format!("endpoint \"{name}\" is listed twice")));
                }
                out.push((idx, inputs.weights[idx]));
            }
            out
        }
        Some(OneOf::Str(s)) => vec![(find(&s, at)?, 1)],
    };
    let picked: Vec<(usize, u32)> = picked.into_iter().filter(|(_, w)| *w > 0).collect();
    if picked.is_empty() {
        return Err(ctx.err(at, "every weight is 0, so no endpoint would get a request"));
    }
    Ok(picked)
}
