//! Thresholds and requirements: metric expressions checked against the
//! metric registry and the plan's own endpoint and scenario names.

use std::collections::BTreeMap;

use super::ctx::Ctx;
use crate::plan::checks::CheckNames as Names;
use crate::plan::error::{FieldPath, PlanError, did_you_mean};
use crate::plan::expr::{self, ExprError, MetricSelector};
use crate::plan::raw::{OneOf, RawRequirement, RawThreshold};
use crate::plan::registry::ErrorClass;
use crate::plan::registry::Tag;
use crate::plan::{Requirement, Threshold};

fn expr_err(ctx: &Ctx, at: &FieldPath, e: ExprError) -> PlanError {
    ctx.err_near(at, e.message, e.suggestion)
}

/// `{endpoint:…}` and `{scenario:…}` must name what the plan has,
/// `{class:…}` an error class and `{status:…}` a status code, or the check
/// would silently select nothing (or everything).
fn check_tags(ctx: &Ctx, at: &FieldPath, sel: &MetricSelector, names: &Names) -> Result<(), PlanError> {
    let classes: Vec<&str> = ErrorClass::ALL.iter().map(|c| c.name()).collect();
    for (tag, value) in &sel.tags {
        let (what, known): (&str, Vec<&str>) = match tag {
            Tag::Endpoint => ("endpoint", names.endpoints.iter().map(String::as_str).collect()),
            Tag::Scenario => ("scenario", names.scenarios.iter().map(String::as_str).collect()),
            Tag::Class => ("error class", classes.clone()),
            Tag::Event => ("event", names.events.iter().map(String::as_str).collect()),
            Tag::Probe => ("probe", names.probes.iter().map(String::as_str).collect()),
            Tag::Phase if !names.has_rollout => {
                return Err(ctx.err(
                    at,
                    format!("`{{phase:{value}}}` needs a [rollout] section; without one the run has no phases"),
                ));
            }
            Tag::Status => {
                if !value.parse::<u16>().is_ok_and(|c| (100..=599).contains(&c)) {
                    return Err(ctx.err(
                        at,
                        format!("status \"{value}\" is not an HTTP status code (100 to 599)"),
                    ));
                }
                continue;
            }
            _ => continue,
        };
        if !known.contains(&value.as_str()) {
            return Err(ctx.err_near(
                at,
                format!(
                    "the plan has no {what} \"{value}\"; its {what}s are: {}",
                    known.join(", ")
                ),
                did_you_mean(value, known.iter().copied()),
            ));
        }
    }
    Ok(())
}

/// `[thresholds]`, in file order.
pub(super) fn thresholds(
    ctx: &Ctx,
    raw: BTreeMap<String, Vec<OneOf<RawThreshold>>>,
    names: &Names,
) -> Result<Vec<Threshold>, PlanError> {
    let table = FieldPath::root("thresholds");
    thresholds_in_order(ctx, ctx.file_order(&table, raw), names)
}

/// Thresholds given as `(selector, conditions)` in the order to keep.
pub(super) fn thresholds_in_order(
    ctx: &Ctx,
    raw: Vec<(String, Vec<OneOf<RawThreshold>>)>,
    names: &Names,
) -> Result<Vec<Threshold>, PlanError> {
    let table = FieldPath::root("thresholds");
    let mut out = Vec::new();
    for (key, items) in raw {
        let at = table.key(&key);
        let selector = expr::selector(&key).map_err(|e| expr_err(ctx, &at, e))?;
        check_tags(ctx, &at, &selector, names)?;
        if items.is_empty() {
            return Err(ctx.err(&at, "no conditions; write e.g. [\"p(95)<500\"]"));
        }
        for (i, item) in items.into_iter().enumerate() {
            let (expression, abort_on_fail, item_at) = match item {
                OneOf::Map(t) => (t.threshold, t.abort_on_fail, at.index(i).key("threshold")),
                OneOf::Str(s) => (s, false, at.index(i)),
                OneOf::Seq(_) => return Err(ctx.err(&at.index(i), "expected a condition string")),
            };
            let condition = expr::condition(&expression, selector.metric).map_err(|e| {
                let e = ExprError {
                    message: format!("threshold \"{key}\": {}", e.message),
                    ..e
                };
                expr_err(ctx, &item_at, e)
            })?;
            out.push(Threshold {
                metric: key.clone(),
                selector: selector.clone(),
                expression: expression.trim().to_string(),
                condition,
                abort_on_fail,
            });
        }
    }
    Ok(out)
}

/// `[[requirement]]`, in file order.
pub(super) fn requirements(ctx: &Ctx, raw: Vec<RawRequirement>, names: &Names) -> Result<Vec<Requirement>, PlanError> {
    let mut out = Vec::with_capacity(raw.len());
    for (i, r) in raw.into_iter().enumerate() {
        let at = FieldPath::root("requirement").index(i);
        if r.name.trim().is_empty() {
            return Err(ctx.err(&at.key("name"), "the requirement's name is empty"));
        }
        if out.iter().any(|o: &Requirement| o.name == r.name) {
            return Err(ctx.err(&at.key("name"), format!("requirement \"{}\" is defined twice", r.name)));
        }
        let check_at = at.key("check");
        let (selector, condition) = expr::check(&r.check).map_err(|e| expr_err(ctx, &check_at, e))?;
        check_tags(ctx, &check_at, &selector, names)?;
        out.push(Requirement {
            name: r.name,
            target: r.target,
            check: r.check.trim().to_string(),
            selector,
            condition,
            note: r.note,
        });
    }
    Ok(out)
}
