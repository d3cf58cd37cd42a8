//! From each series' point change and spread to its interval, its
//! Holm-adjusted p-value, its minimum detectable effect and its class:
//! the one place the rules are applied, for every source.

use statrs::distribution::{ContinuousCDF, Normal, StudentsT};

use super::stats;

use super::types::{Class, Metric, Series};

/// How a series' change varies under the null of "no change".
#[derive(Debug, Clone)]
pub enum Spread {
    /// Bootstrap replicates of the change (transform scale), sorted.
    Replicates(Vec<f64>),
    /// A Student t: the change's scale and degrees of freedom (a
    /// prediction interval from a history).
    T {
        /// The scale: s·√(1 + 1/n).
        scale: f64,
        /// n − 1.
        df: f64,
    },
    /// A normal: its standard deviation (two proportions).
    Normal(f64),
}

/// One series before the family is corrected: everything on the
/// *transform scale* (ln of ratios for relative metrics, differences for
/// rates), oriented so that larger is worse.
#[derive(Debug, Clone)]
pub struct Test {
    /// The endpoint.
    pub endpoint: String,
    /// The phase.
    pub phase: String,
    /// The metric.
    pub metric: Metric,
    /// The baseline's value, in the metric's unit.
    pub baseline: f64,
    /// The run's value.
    pub value: f64,
    /// The change, transform scale (ln(value / baseline), or value −
    /// baseline).
    pub change: f64,
    /// Its spread.
    pub spread: Spread,
    /// The threshold, transform scale, > 0.
    pub threshold: f64,
    /// What set it.
    pub threshold_from: &'static str,
    /// A note to carry (fallbacks).
    pub note: Option<String>,
}

/// A series that cannot be tested: new, missing, or too thin.
#[derive(Debug, Clone)]
pub struct Untested {
    /// The endpoint.
    pub endpoint: String,
    /// The phase.
    pub phase: String,
    /// The metric.
    pub metric: Metric,
    /// The baseline's value, if it has one.
    pub baseline: Option<f64>,
    /// The run's value, if it has one.
    pub value: Option<f64>,
    /// `New`, `Missing` or `Inconclusive`.
    pub class: Class,
    /// Why.
    pub note: Option<String>,
}

/// The rules' settings.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    /// The intervals' level.
    pub confidence: f64,
    /// The family-wise error rate.
    pub alpha: f64,
    /// The plan's `min_effect`.
    pub min_effect: f64,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            confidence: 0.95,
            alpha: 0.05,
            min_effect: crate::plan::baseline::DEFAULT_MIN_EFFECT,
        }
    }
}

/// The probability, under the spread, that the change is at most `at`
/// (with the usual +1 for bootstrap p-values).
fn at_most(spread: &Spread, change: f64, at: f64) -> f64 {
    match spread {
        Spread::Replicates(r) => {
            let k = r.partition_point(|v| *v <= at);
            (k as f64 + 1.0) / (r.len() as f64 + 1.0)
        }
        Spread::T { scale, df } => t_cdf((at - change) / scale, *df),
        Spread::Normal(sd) => normal_cdf((at - change) / sd),
    }
}

/// The probability that the change is at least `at`.
fn at_least(spread: &Spread, change: f64, at: f64) -> f64 {
    match spread {
        Spread::Replicates(r) => {
            let k = r.len() - r.partition_point(|v| *v < at);
            (k as f64 + 1.0) / (r.len() as f64 + 1.0)
        }
        Spread::T { scale, df } => 1.0 - t_cdf((at - change) / scale, *df),
        Spread::Normal(sd) => 1.0 - normal_cdf((at - change) / sd),
    }
}

/// The spread's quantile `q` of the change (transform scale).
fn quantile(spread: &Spread, change: f64, q: f64) -> f64 {
    match spread {
        Spread::Replicates(r) => quantile_sorted(r, q).unwrap_or(change),
        Spread::T { scale, df } => change + scale * t_quantile(q, *df),
        Spread::Normal(sd) => change + sd * normal_quantile(q),
    }
}

/// numpy's default (linear) quantile of sorted values.
pub fn quantile_sorted(sorted: &[f64], q: f64) -> Option<f64> {
    let n = sorted.len();
    if n == 0 || !q.is_finite() {
        return None;
    }
    let h = (n - 1) as f64 * q.clamp(0.0, 1.0);
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(n - 1);
    Some(sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo]))
}

fn t_cdf(x: f64, df: f64) -> f64 {
    match StudentsT::new(0.0, 1.0, df) {
        Ok(t) if x.is_finite() => t.cdf(x),
        _ => normal_cdf(x),
    }
}

fn t_quantile(q: f64, df: f64) -> f64 {
    match StudentsT::new(0.0, 1.0, df) {
        Ok(t) => t.inverse_cdf(q),
        Err(_) => normal_quantile(q),
    }
}

fn normal_cdf(x: f64) -> f64 {
    if x.is_nan() {
        return 1.0;
    }
    Normal::standard().cdf(x)
}

fn normal_quantile(q: f64) -> f64 {
    Normal::standard().inverse_cdf(q)
}

/// Applies the rules to a family of tests (one comparison), Holm over
/// the whole family, and returns every series with the untested ones.
pub fn finish(tests: Vec<Test>, untested: Vec<Untested>, rules: Rules) -> Vec<Series> {
    let m = tests.len().max(1);
    // One-sided p-values: "worse by more than the threshold" and "better by
    // more than it". For replicates the change's own replicates stand in
    // for its sampling distribution (a percentile-bootstrap test).
    let p_worse: Vec<f64> = tests
        .iter()
        .map(|t| at_most(&t.spread, t.change, t.threshold))
        .collect();
    let p_better: Vec<f64> = tests
        .iter()
        .map(|t| at_least(&t.spread, t.change, -t.threshold))
        .collect();
    let adj_worse = stats::holm(&p_worse);
    let adj_better = stats::holm(&p_better);
    let lo_q = (1.0 - rules.confidence) / 2.0;
    let mut out = Vec::with_capacity(tests.len() + untested.len());
    for (i, t) in tests.into_iter().enumerate() {
        let lo = quantile(&t.spread, t.change, lo_q);
        let hi = quantile(&t.spread, t.change, 1.0 - lo_q);
        // The smallest true change that would clear the threshold at the
        // family's strictest step: the threshold plus the distance from
        // the point to the spread's α/m quantile.
        let strict = quantile(&t.spread, t.change, rules.alpha / m as f64);
        let mde = t.threshold + (t.change - strict).max(0.0);
        let class = if adj_worse[i] < rules.alpha && lo > t.threshold {
            Class::Regression
        } else if adj_better[i] < rules.alpha && hi < -t.threshold {
            Class::Improvement
        } else if lo > -t.threshold && hi < t.threshold {
            Class::Unchanged
        } else {
            Class::Inconclusive
        };
        let min_effect_t = to_transform(t.metric, rules.min_effect);
        let mut note = t.note.clone();
        if class != Class::Regression && mde > min_effect_t * 1.0000001 && t.metric.relative() {
            let text = format!(
                "could only have caught a change of {} or more (the minimum effect is {})",
                pct(from_transform(t.metric, mde)),
                pct(rules.min_effect)
            );
            note = Some(match note {
                Some(n) => format!("{n}; {text}"),
                None => text,
            });
        }
        let w = t.metric.worse();
        let (ilo, ihi) = if w > 0.0 { (lo, hi) } else { (-hi, -lo) };
        out.push(Series {
            endpoint: t.endpoint,
            phase: t.phase,
            metric: t.metric,
            unit: t.metric.unit().to_string(),
            baseline: Some(round(t.baseline)),
            value: Some(round(t.value)),
            change: Some(round(from_transform(t.metric, w * t.change))),
            interval: Some([
                round(from_transform(t.metric, ilo)),
                round(from_transform(t.metric, ihi)),
            ]),
            threshold: round(from_transform(t.metric, t.threshold)),
            threshold_from: t.threshold_from.to_string(),
            mde: Some(round(from_transform(t.metric, mde))),
            p_value: Some(round(adj_worse[i])),
            class,
            note,
        });
    }
    for u in untested {
        out.push(Series {
            endpoint: u.endpoint,
            phase: u.phase,
            metric: u.metric,
            unit: u.metric.unit().to_string(),
            baseline: u.baseline.map(round),
            value: u.value.map(round),
            change: None,
            interval: None,
            threshold: 0.0,
            threshold_from: "min_effect".into(),
            mde: None,
            p_value: None,
            class: u.class,
            note: u.note,
        });
    }
    out.sort_by(|a, b| {
        (a.class, &a.endpoint, phase_rank(&a.phase), a.metric).cmp(&(
            b.class,
            &b.endpoint,
            phase_rank(&b.phase),
            b.metric,
        ))
    });
    out
}

fn phase_rank(p: &str) -> u8 {
    match p {
        "run" => 0,
        "head" => 1,
        "rollout" => 2,
        "tail" => 3,
        _ => 4,
    }
}

/// A change in the metric's reported unit to the transform scale.
pub fn to_transform(metric: Metric, x: f64) -> f64 {
    if metric.relative() { (1.0 + x).ln() } else { x }
}

/// The transform scale back to the reported unit (relative change, or a
/// difference of fractions).
pub fn from_transform(metric: Metric, x: f64) -> f64 {
    if metric.relative() { x.exp() - 1.0 } else { x }
}

fn round(x: f64) -> f64 {
    if !x.is_finite() {
        return x;
    }
    let scale = 1e6;
    (x * scale).round() / scale
}

fn pct(x: f64) -> String {
    format!("{:+.0}%", x * 100.0).replace('+', "")
}
