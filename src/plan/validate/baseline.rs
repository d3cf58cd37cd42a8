//! `[baseline]`.

use super::super::baseline::{BaselineConfig, HeadVsTail, MAX_HISTORY};
use super::super::error::{FieldPath, PlanError};
use super::super::raw::{RawBaseline, RawFraction};
use super::super::{Endpoint, Overrides};
use super::ctx::Ctx;

/// What the plan has that a duet (a baseline target) cannot run with yet:
/// a rollout (the baseline target is not deployed), a sink or setup
/// requests (their side effects would happen twice, or once for the wrong
/// side), or an endpoint with an absolute URL (it goes to neither target).
pub(super) fn duet_refusal(rollout: bool, sink: bool, setup: bool, endpoints: &[Endpoint]) -> Option<String> {
    if rollout {
        Some("[rollout]".into())
    } else if sink {
        Some("[sink]".into())
    } else if setup {
        Some("[[setup]]".into())
    } else {
        endpoints
            .iter()
            .find(|e| e.origin.is_some())
            .map(|e| format!("endpoint `{}`'s absolute URL", e.name))
    }
}

/// Validates `[baseline]`; its defaults when absent. `refuse_duet` names
/// what the plan has that a duet target cannot run with yet;
/// `--baseline-target` replaces the plan's `target`.
pub(super) fn baseline(
    ctx: &Ctx,
    raw: Option<RawBaseline>,
    refuse_duet: Option<&str>,
    overrides: &Overrides,
) -> Result<BaselineConfig, PlanError> {
    let mut out = match raw {
        Some(raw) => from_raw(ctx, raw, refuse_duet)?,
        None => BaselineConfig::default(),
    };
    if let Some(t) = &overrides.baseline_target {
        const FLAG: &str = "--baseline-target";
        let target = super::url::base_url(t).map_err(|m| PlanError::new(ctx.file, FLAG, m))?;
        if let Some(what) = refuse_duet {
            return Err(PlanError::new(ctx.file, FLAG, refusal(what)));
        }
        out.target = Some(target);
    }
    Ok(out)
}

fn refusal(what: &str) -> String {
    format!("a baseline target (duet) cannot run with {what} yet; compare with a stored baseline instead")
}

/// `[baseline]` as written.
fn from_raw(ctx: &Ctx, raw: RawBaseline, refuse_duet: Option<&str>) -> Result<BaselineConfig, PlanError> {
    let at = FieldPath::root("baseline");
    let mut out = BaselineConfig::default();
    if let Some(p) = raw.path {
        if p.trim().is_empty() {
            return Err(ctx.err(&at.key("path"), "the baseline path is empty"));
        }
        let p = std::path::PathBuf::from(p);
        out.path = Some(if p.is_absolute() { p } else { ctx.plan_dir().join(p) });
    }
    if let Some(h) = raw.history {
        if h < 2 || h > MAX_HISTORY as i64 {
            return Err(ctx.err(
                &at.key("history"),
                format!("history {h} must be between 2 and {MAX_HISTORY} runs"),
            ));
        }
        out.history = h as usize;
    }
    if let Some(t) = raw.target {
        let target = super::url::base_url(&t).map_err(|m| ctx.err(&at.key("target"), m))?;
        if let Some(what) = refuse_duet {
            return Err(ctx.err(&at.key("target"), refusal(what)));
        }
        out.target = Some(target);
    }
    if let Some(m) = raw.min_effect {
        let v = fraction(ctx, &at.key("min_effect"), m)?;
        if !(v > 0.0 && v < 10.0) {
            return Err(ctx.err(
                &at.key("min_effect"),
                format!("min_effect {v} must be above 0 and below 10 (1000%)"),
            ));
        }
        out.min_effect = v;
    }
    if let Some(f) = raw.floors {
        let fa = at.key("floors");
        let fl = &mut out.floors;
        for (d, slot) in [
            (f.p50, &mut fl.p50),
            (f.p95, &mut fl.p95),
            (f.p99, &mut fl.p99),
            (f.delivery, &mut fl.delivery),
        ] {
            if let Some(d) = d {
                *slot = d.0;
            }
        }
        if let Some(e) = f.error_rate {
            fl.error_rate = unit_fraction(ctx, &fa.key("error_rate"), e)?;
        }
        if let Some(d) = f.dropped {
            fl.dropped = unit_fraction(ctx, &fa.key("dropped"), d)?;
        }
        if let Some(t) = f.throughput {
            if !(t.is_finite() && t >= 0.0) {
                return Err(ctx.err(
                    &fa.key("throughput"),
                    format!("throughput floor {t} must be 0 or more requests per second"),
                ));
            }
            fl.throughput = t;
        }
    }
    if let Some(h) = raw.head_vs_tail {
        out.head_vs_tail = match h.as_str() {
            "off" => HeadVsTail::Off,
            "report" => HeadVsTail::Report,
            "fail" => HeadVsTail::Fail,
            _ => {
                return Err(ctx.err(
                    &at.key("head_vs_tail"),
                    format!("head_vs_tail \"{h}\" must be \"off\", \"report\" or \"fail\""),
                ));
            }
        };
    }
    if let Some(w) = raw.warmup {
        out.warmup = w.0;
    }
    Ok(out)
}

/// A fraction in [0, 1].
fn unit_fraction(ctx: &Ctx, at: &FieldPath, raw: RawFraction) -> Result<f64, PlanError> {
    let v = fraction(ctx, at, raw)?;
    if !(0.0..=1.0).contains(&v) {
        return Err(ctx.err(at, format!("{v} is not a fraction between 0 and 1 (0% and 100%)")));
    }
    Ok(v)
}

/// `0.05` or `"5%"`.
fn fraction(ctx: &Ctx, at: &FieldPath, raw: RawFraction) -> Result<f64, PlanError> {
    let v = match raw {
        RawFraction::Number(n) => n,
        RawFraction::Text(t) => match t.trim().strip_suffix('%').map(|n| n.trim().parse::<f64>()) {
            Some(Ok(n)) => n / 100.0,
            _ => return Err(ctx.err(at, format!("\"{t}\" is not a fraction; write 0.05 or \"5%\""))),
        },
    };
    if !v.is_finite() {
        return Err(ctx.err(at, "the value is not a finite number"));
    }
    Ok(v)
}
