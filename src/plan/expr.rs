//! Metric expressions, in k6's grammar, shared by thresholds and
//! requirements.
//!
//! ```text
//! check     = selector ":" condition
//! selector  = metric [ "{" tag ":" value { "," tag ":" value } "}" ]
//! condition = aggregation op number
//! aggregation = "avg" | "min" | "max" | "med" | "p(" N ")" | "rate" | "count" | "value"
//! op        = "<" | "<=" | ">" | ">=" | "==" | "!="
//! ```
//!
//! Metric names, tags and the aggregations a metric's kind accepts come from
//! the registry in `metrics::registry`.

use std::fmt;

use crate::plan::error::did_you_mean;
use crate::plan::registry::{self, MetricDef, MetricKind, Tag};

/// A metric and the tag filters that select a subset of its samples.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricSelector {
    /// The metric, from the registry.
    pub metric: &'static MetricDef,
    /// `(tag, value)` filters, in the order written.
    pub tags: Vec<(Tag, String)>,
}

/// How a metric's samples are reduced to one number.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Aggregation {
    /// Mean (trends).
    Avg,
    /// Minimum (trends).
    Min,
    /// Maximum (trends).
    Max,
    /// Median (trends).
    Med,
    /// Percentile `0 < N <= 100` (trends).
    Percentile(f64),
    /// Fraction of true samples (rates) or events per second (counters).
    Rate,
    /// Number of samples (trends, counters).
    Count,
    /// The single value (gauges).
    Value,
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `==`
    Eq,
    /// `!=`
    Ne,
}

/// An aggregation compared with a number, e.g. `p(95)<500`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Condition {
    /// What is computed.
    pub aggregation: Aggregation,
    /// How it is compared.
    pub op: CmpOp,
    /// With what.
    pub value: f64,
}

/// An expression error: what is wrong and, for a misspelt name, the nearest
/// valid one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExprError {
    /// What is wrong.
    pub message: String,
    /// The nearest valid name.
    pub suggestion: Option<String>,
}

impl ExprError {
    fn new(message: impl Into<String>) -> Self {
        ExprError {
            message: message.into(),
            suggestion: None,
        }
    }
}

impl fmt::Display for ExprError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(s) = &self.suggestion {
            write!(f, "; did you mean \"{s}\"?")?;
        }
        Ok(())
    }
}

impl Aggregation {
    /// The name as written in expressions: `avg`, `p(95)`, …
    pub fn name(&self) -> String {
        self.to_string()
    }

    /// Whether a metric of `kind` can be reduced this way.
    pub fn valid_for(&self, kind: MetricKind) -> bool {
        use Aggregation::*;
        match kind {
            MetricKind::Trend => matches!(self, Avg | Min | Max | Med | Percentile(_) | Count),
            MetricKind::Rate => matches!(self, Rate),
            MetricKind::Counter => matches!(self, Count | Rate),
            MetricKind::Gauge => matches!(self, Value),
        }
    }
}

/// The aggregations a kind accepts, for messages.
fn valid_names(kind: MetricKind) -> &'static str {
    match kind {
        MetricKind::Trend => "avg, min, max, med, p(N), count",
        MetricKind::Rate => "rate",
        MetricKind::Counter => "count, rate",
        MetricKind::Gauge => "value",
    }
}

impl fmt::Display for Aggregation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Aggregation::Avg => f.write_str("avg"),
            Aggregation::Min => f.write_str("min"),
            Aggregation::Max => f.write_str("max"),
            Aggregation::Med => f.write_str("med"),
            Aggregation::Percentile(n) => write!(f, "p({n})"),
            Aggregation::Rate => f.write_str("rate"),
            Aggregation::Count => f.write_str("count"),
            Aggregation::Value => f.write_str("value"),
        }
    }
}

impl CmpOp {
    /// Whether `lhs op rhs` holds.
    pub fn holds(self, lhs: f64, rhs: f64) -> bool {
        match self {
            CmpOp::Lt => lhs < rhs,
            CmpOp::Le => lhs <= rhs,
            CmpOp::Gt => lhs > rhs,
            CmpOp::Ge => lhs >= rhs,
            CmpOp::Eq => lhs == rhs,
            CmpOp::Ne => lhs != rhs,
        }
    }

    /// The operator as written.
    pub fn symbol(self) -> &'static str {
        match self {
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
        }
    }
}

impl fmt::Display for CmpOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.symbol())
    }
}

impl Condition {
    /// Whether the condition holds for the aggregated value `actual`.
    pub fn holds(&self, actual: f64) -> bool {
        self.op.holds(actual, self.value)
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{}", self.aggregation, self.op, self.value)
    }
}

impl fmt::Display for MetricSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.metric.name)?;
        if !self.tags.is_empty() {
            f.write_str("{")?;
            for (i, (tag, value)) in self.tags.iter().enumerate() {
                if i > 0 {
                    f.write_str(",")?;
                }
                write!(f, "{}:{value}", tag.name())?;
            }
            f.write_str("}")?;
        }
        Ok(())
    }
}

/// Parses `metric{tag:value,…}`.
pub fn parse_selector(s: &str) -> Result<MetricSelector, String> {
    selector(s).map_err(|e| e.to_string())
}

/// Parses a condition such as `p(95)<500` for `metric`.
pub fn parse_condition(s: &str, metric: &MetricDef) -> Result<Condition, String> {
    condition(s, metric).map_err(|e| e.to_string())
}

/// Parses `selector: condition`, e.g. `http_req_duration{endpoint:webhook}: p(99)<200`.
pub fn parse_check(s: &str) -> Result<(MetricSelector, Condition), String> {
    check(s).map_err(|e| e.to_string())
}

/// [`parse_selector`], keeping the suggestion apart.
pub fn selector(s: &str) -> Result<MetricSelector, ExprError> {
    let s = s.trim();
    let (name, tags) = match s.find('{') {
        None => (s, None),
        Some(open) => {
            let inner = s[open + 1..].strip_suffix('}').ok_or_else(|| {
                ExprError::new(format!("selector \"{s}\" has a `{{` without a closing `}}` at its end"))
            })?;
            (s[..open].trim(), Some(inner))
        }
    };
    if name.is_empty() {
        return Err(ExprError::new(format!("selector \"{s}\" names no metric")));
    }
    let metric = registry::lookup(name).ok_or_else(|| ExprError {
        message: format!("unknown metric \"{name}\""),
        suggestion: did_you_mean(name, registry::METRICS.iter().map(|m| m.name)),
    })?;
    let mut out = MetricSelector {
        metric,
        tags: Vec::new(),
    };
    for pair in tags.into_iter().flat_map(|t| t.split(',')) {
        let (tag, value) = tag_filter(pair, metric)?;
        if out.tags.iter().any(|(t, _)| *t == tag) {
            return Err(ExprError::new(format!("tag `{}` is given twice", tag.name())));
        }
        out.tags.push((tag, value));
    }
    Ok(out)
}

fn tag_filter(pair: &str, metric: &MetricDef) -> Result<(Tag, String), ExprError> {
    let (name, value) = pair
        .split_once(':')
        .ok_or_else(|| ExprError::new(format!("tag filter \"{}\" must be `tag:value`", pair.trim())))?;
    let (name, value) = (name.trim(), value.trim());
    let tag = Tag::from_name(name).ok_or_else(|| ExprError {
        message: format!("unknown tag \"{name}\""),
        suggestion: did_you_mean(name, Tag::ALL.iter().map(|t| t.name())),
    })?;
    if !metric.tags.contains(&tag) {
        let valid: Vec<&str> = metric.tags.iter().map(|t| t.name()).collect();
        return Err(ExprError::new(format!(
            "tag `{name}` does not apply to {}; its tags are: {}",
            metric.name,
            valid.join(", ")
        )));
    }
    if value.is_empty() {
        return Err(ExprError::new(format!("tag `{name}` has an empty value")));
    }
    if tag == Tag::Phase && !["head", "rollout", "tail"].contains(&value) {
        return Err(ExprError {
            message: format!("unknown phase \"{value}\"; expected one of: head, rollout, tail"),
            suggestion: did_you_mean(value, ["head", "rollout", "tail"]),
        });
    }
    Ok((tag, value.to_string()))
}

/// [`parse_condition`], keeping the suggestion apart.
pub fn condition(s: &str, metric: &MetricDef) -> Result<Condition, ExprError> {
    let text = s.trim();
    let op_at = text.find(['<', '>', '=', '!']).ok_or_else(|| {
        ExprError::new(format!(
            "condition \"{text}\" has no comparison; write e.g. \"p(95)<500\" or \"rate<0.01\""
        ))
    })?;
    let agg_text = text[..op_at].trim();
    let rest = &text[op_at..];
    let (op, value_text) = [
        ("<=", CmpOp::Le),
        (">=", CmpOp::Ge),
        ("==", CmpOp::Eq),
        ("!=", CmpOp::Ne),
        ("<", CmpOp::Lt),
        (">", CmpOp::Gt),
    ]
    .into_iter()
    .find_map(|(sym, op)| rest.strip_prefix(sym).map(|v| (op, v.trim())))
    .ok_or_else(|| {
        ExprError::new(format!(
            "condition \"{text}\" has an unknown operator; use <, <=, >, >=, == or !="
        ))
    })?;
    if let Some(n) = percentile_shorthand(agg_text) {
        return Err(ExprError {
            message: format!(
                "\"{agg_text}\" in condition \"{text}\" is not an aggregation; a percentile is written p(N)"
            ),
            suggestion: Some(format!("p({n}){}{value_text}", op.symbol())),
        });
    }
    let aggregation = aggregation(agg_text)?;
    if !aggregation.valid_for(metric.kind) {
        return Err(ExprError::new(format!(
            "`{aggregation}` does not apply to {} (a {:?} metric); use: {}",
            metric.name,
            metric.kind,
            valid_names(metric.kind)
        )));
    }
    let value: f64 = value_text
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite())
        .ok_or_else(|| ExprError::new(format!("\"{value_text}\" in condition \"{text}\" is not a number")))?;
    Ok(Condition { aggregation, op, value })
}

/// The N of a percentile written the way other tools write it (`p95`,
/// `P99.9`, `P(95)`), which this grammar does not accept.
fn percentile_shorthand(s: &str) -> Option<&str> {
    let n = s.strip_prefix(['p', 'P'])?;
    let n = match n.strip_prefix('(').and_then(|r| r.strip_suffix(')')) {
        Some(inner) if s.starts_with('P') => inner.trim(),
        Some(_) => return None,
        None => n,
    };
    let numeric = !n.is_empty() && n.chars().all(|c| c.is_ascii_digit() || c == '.') && n.parse::<f64>().is_ok();
    numeric.then_some(n)
}

fn aggregation(s: &str) -> Result<Aggregation, ExprError> {
    let agg = match s {
        "avg" => Aggregation::Avg,
        "min" => Aggregation::Min,
        "max" => Aggregation::Max,
        "med" => Aggregation::Med,
        "rate" => Aggregation::Rate,
        "count" => Aggregation::Count,
        "value" => Aggregation::Value,
        _ => {
            if let Some(inner) = s.strip_prefix("p(").and_then(|r| r.strip_suffix(')')) {
                let n: f64 = inner
                    .trim()
                    .parse()
                    .map_err(|_| ExprError::new(format!("percentile \"{s}\" is not p(N) with a number N")))?;
                if !(n > 0.0 && n <= 100.0) {
                    return Err(ExprError::new(format!(
                        "percentile {s} is out of range; N must be in 0 < N <= 100"
                    )));
                }
                Aggregation::Percentile(n)
            } else {
                return Err(ExprError {
                    message: format!(
                        "unknown aggregation \"{s}\"; expected one of: avg, min, max, med, p(N), rate, count, value"
                    ),
                    suggestion: did_you_mean(s, ["avg", "min", "max", "med", "rate", "count", "value"]),
                });
            }
        }
    };
    Ok(agg)
}

/// [`parse_check`], keeping the suggestion apart.
pub fn check(s: &str) -> Result<(MetricSelector, Condition), ExprError> {
    let search_from = s.find('}').unwrap_or(0);
    let colon = s[search_from..]
        .find(':')
        .map(|i| i + search_from)
        .ok_or_else(|| ExprError::new(format!("check \"{}\" must be `metric{{tags}}: condition`", s.trim())))?;
    let sel = selector(&s[..colon])?;
    let cond = condition(&s[colon + 1..], sel.metric)?;
    Ok((sel, cond))
}

#[cfg(test)]
mod tests;
