//! Judges a plan's thresholds and requirements on what a run measured, live
//! or read back from its file: the same [`View`], the same evaluator, the
//! same "Validated" text.

use super::deploy::PhaseSpan;
use super::eval::{View, evaluate};
use super::result::{CheckResult, RequirementResult, StatsSet};
use crate::plan::registry::Tag;
use crate::plan::roster::{Roster, RosterScenario};
use crate::plan::{Checks, Executor, MetricSelector, Requirement, Threshold};

/// Every threshold and requirement, judged on `view`.
pub fn judge(
    thresholds: &[Threshold],
    requirements: &[Requirement],
    view: &View<'_>,
    stats: &StatsSet,
) -> (Vec<CheckResult>, Vec<RequirementResult>) {
    let thresholds = thresholds
        .iter()
        .map(|t| {
            let (value, ok) = evaluate(view, &t.selector, &t.condition);
            CheckResult {
                metric: t.metric.clone(),
                expression: t.expression.clone(),
                value,
                ok,
                abort_on_fail: t.abort_on_fail,
                not_in_file: false,
                tool: None,
            }
        })
        .collect();
    let requirements = requirements
        .iter()
        .map(|r| {
            let (value, ok) = evaluate(view, &r.selector, &r.condition);
            RequirementResult {
                name: r.name.clone(),
                target: r.target.clone(),
                check: r.check.clone(),
                value,
                ok,
                validated: validated(view.roster, stats, view.phases, &r.selector, view.duration_s),
                note: r.note.clone(),
                not_in_file: false,
            }
        })
        .collect();
    (thresholds, requirements)
}

/// Marks every check whose selector `held` says the file does not hold as
/// "not in this file": no value, and not a pass.
pub fn mark_not_in_file(
    checks: &Checks,
    thresholds: &mut [CheckResult],
    requirements: &mut [RequirementResult],
    held: &dyn Fn(&MetricSelector) -> bool,
) {
    for (t, result) in checks.thresholds.iter().zip(thresholds) {
        if !held(&t.selector) {
            (result.value, result.ok, result.not_in_file) = (None, false, true);
        }
    }
    for (r, result) in checks.requirements.iter().zip(requirements) {
        if !held(&r.selector) {
            (result.value, result.ok, result.not_in_file) = (None, false, true);
        }
    }
}

/// The "Validated" column: what was actually run and measured for the
/// scenarios a requirement covers. Built only from measurements and the
/// executed plan, never from a claim.
fn validated(
    roster: &Roster,
    stats: &StatsSet,
    phases: &[PhaseSpan],
    selector: &MetricSelector,
    elapsed_s: f64,
) -> String {
    let tag = |want: Tag| selector.tags.iter().find(|(t, _)| *t == want).map(|(_, v)| v.as_str());
    // A check on one phase says how long that phase was, and what it saw.
    let phase = tag(Tag::Phase).or(match selector.metric.name {
        "rollout_failed_requests" | "rollout_reset_requests" => Some("rollout"),
        _ => None,
    });
    let prefix = match phase {
        Some(name) => match (phases.iter().find(|p| p.name == name), stats.phases.get(name)) {
            (Some(span), Some(s)) => format!(
                "{name} phase ({:.1} s): {} requests, {} failed; ",
                span.end_s.unwrap_or(elapsed_s) - span.start_s,
                s.requests,
                s.failed
            ),
            _ => format!("{name} phase: not reached; "),
        },
        None => String::new(),
    };
    let parts: Vec<String> = covering(roster, selector)
        .into_iter()
        .map(|s| {
            let requests = stats.scenarios.get(&s.name).map_or(0, |m| m.requests);
            let rate = requests as f64 / elapsed_s.max(1e-9);
            format!(
                "{} ({}, {}): {requests} requests in {elapsed_s:.1} s, {rate:.1} req/s measured",
                s.name,
                s.executor.name(),
                load(&s.executor),
            )
        })
        .collect();
    format!("{prefix}{}", parts.join("; "))
}

/// The scenarios whose requests a check's selector measures: those its
/// `{scenario:…}` names, that send to its `{endpoint:…}` (for `delivery_*`
/// metrics, to the endpoint the sink correlates), and, for the pacer's
/// metrics, only open-model ones.
pub fn covering<'r>(roster: &'r Roster, selector: &MetricSelector) -> Vec<&'r RosterScenario> {
    let tag = |want: Tag| selector.tags.iter().find(|(t, _)| *t == want).map(|(_, v)| v.as_str());
    let metric = selector.metric.name;
    let only = tag(Tag::Scenario);
    let endpoint = tag(Tag::Endpoint).or_else(|| {
        metric
            .starts_with("delivery_")
            .then_some(roster.delivery_endpoint.as_deref())
            .flatten()
    });
    let paced = matches!(metric, "dropped_sends" | "send_lag");
    let sends_to = |s: &RosterScenario, name: &str| {
        s.endpoints
            .iter()
            .any(|&(e, w)| w > 0 && roster.endpoints.get(e).is_some_and(|n| n == name))
    };
    roster
        .scenarios
        .iter()
        .filter(|s| only.is_none_or(|name| name == s.name))
        .filter(|s| endpoint.is_none_or(|name| sends_to(s, name)))
        .filter(|s| !paced || s.executor.is_open())
        .collect()
}

/// A scenario's load, as the plan set it: `200 req/s`, `ramping to 50 VUs`.
pub fn load(executor: &Executor) -> String {
    let peak = |stages: &[crate::plan::Stage]| stages.iter().map(|st| st.target).fold(0.0, f64::max);
    match executor {
        Executor::ConstantArrivalRate { rate, .. } => format!("{rate} req/s"),
        Executor::RampingArrivalRate { stages, .. } => format!("ramping to {} req/s", peak(stages)),
        Executor::ConstantVus { vus, .. } => format!("{vus} VUs"),
        Executor::RampingVus { stages, .. } => format!("ramping to {} VUs", peak(stages)),
        Executor::SharedIterations { vus, iterations, .. } | Executor::PerVuIterations { vus, iterations, .. } => {
            format!("{vus} VUs × {iterations} iterations")
        }
    }
}
