//! Every value a report writes, with its unit. The unit depends on the
//! metric *and* the aggregation: `http_reqs` with `rate` is req/s, with
//! `count` requests; `http_req_failed` with `rate` is a percentage; a
//! trend's `count` is a number of samples.

use super::expr::{Aggregation, parse_check, parse_condition, parse_selector};
use super::registry::{MetricDef, MetricKind};

/// A count with thousands separators: `3,917`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Milliseconds, to a precision that suits their size: `0.412 ms`,
/// `10.98 ms`, `512.3 ms`, `1,204 ms`.
pub fn ms(v: f64) -> String {
    format!("{} ms", ms_number(v))
}

/// [`ms`] without the unit.
pub fn ms_number(v: f64) -> String {
    if !v.is_finite() {
        return "-".into();
    }
    let a = v.abs();
    if a < 1.0 {
        format!("{v:.3}")
    } else if a < 100.0 {
        format!("{v:.2}")
    } else if a < 1000.0 {
        format!("{v:.1}")
    } else {
        count(v.round() as u64)
    }
}

/// Seconds: `0.412 s`, `5.00 s`, `73.4 s`.
pub fn secs(v: f64) -> String {
    if !v.is_finite() {
        return "-".into();
    }
    if v.abs() < 1.0 {
        format!("{v:.3} s")
    } else if v.abs() < 60.0 {
        format!("{v:.2} s")
    } else {
        format!("{v:.1} s")
    }
}

/// A fraction as a percentage, keeping small non-zero values visible:
/// `0.22%`, `0.0031%`, `100%`, `0%`.
pub fn percent(fraction: f64) -> String {
    if !fraction.is_finite() {
        return "-".into();
    }
    let p = fraction * 100.0;
    if p == 0.0 {
        "0%".into()
    } else if (p - 100.0).abs() < 1e-9 {
        "100%".into()
    } else if p.abs() < 0.01 {
        format!("{p:.4}%")
    } else {
        format!("{p:.2}%")
    }
}

/// A rate per second: `212.4 req/s`.
pub fn per_second(v: f64, unit: &str) -> String {
    let unit = match unit {
        "requests" | "" => "req/s".to_string(),
        u => format!("{u}/s"),
    };
    if v.abs() >= 1000.0 {
        format!("{} {unit}", count(v.round() as u64))
    } else {
        format!("{v:.1} {unit}")
    }
}

/// A value of `metric` reduced by `aggregation`, with its unit.
pub fn value(metric: &MetricDef, aggregation: Aggregation, v: f64) -> String {
    match (metric.kind, aggregation) {
        (MetricKind::Rate, _) => percent(v),
        (MetricKind::Counter, Aggregation::Rate) => per_second(v, metric.unit),
        (MetricKind::Trend, Aggregation::Count) => {
            // A trend's samples are its requests, sends or events.
            let what = match metric.name {
                n if n.starts_with("http_req") => "requests",
                "send_lag" => "sends",
                "delivery_duration" => "events",
                _ => "samples",
            };
            counted(v, what)
        }
        (MetricKind::Counter, _) => counted(v, metric.unit),
        _ => with_unit(v, metric.unit),
    }
}

/// `3 requests`, `1 request`, `1 delivery`.
fn counted(v: f64, unit: &str) -> String {
    let n = v.max(0.0).round() as u64;
    if n == 1 {
        let one = match unit.strip_suffix("ies") {
            Some(stem) => format!("{stem}y"),
            None => unit.strip_suffix('s').unwrap_or(unit).to_string(),
        };
        format!("1 {one}")
    } else {
        format!("{} {unit}", count(n))
    }
}

/// A plain value with a registry unit (`ms`, `s`, `posts`).
fn with_unit(v: f64, unit: &str) -> String {
    match unit {
        "ms" => ms(v),
        "s" => secs(v),
        "" => format!("{v:.3}"),
        u => format!("{v:.3} {u}"),
    }
}

/// A measured value as the reports label it: the aggregation, then the
/// value with its unit (`p(95) 10.98 ms`, `rate 0.22%`, `count 3 requests`).
pub fn labelled(metric: &MetricDef, aggregation: Aggregation, v: f64) -> String {
    format!("{} {}", aggregation.name(), value(metric, aggregation, v))
}

/// The metric and aggregation of a check written as `selector: condition`
/// (a requirement's `check`), or as a selector and a condition apart (a
/// threshold); `None` when it does not parse (a file edited by hand).
pub fn check_parts(selector: &str, condition: &str) -> Option<(&'static MetricDef, Aggregation)> {
    let sel = parse_selector(selector).ok()?;
    let cond = parse_condition(condition, sel.metric).ok()?;
    Some((sel.metric, cond.aggregation))
}

/// [`check_parts`] of a requirement's `check` (`selector: condition`).
pub fn requirement_parts(check: &str) -> Option<(&'static MetricDef, Aggregation)> {
    let (sel, cond) = parse_check(check).ok()?;
    Some((sel.metric, cond.aggregation))
}

/// A measured value of a check, labelled, or `no data`.
pub fn measured(parts: Option<(&'static MetricDef, Aggregation)>, v: Option<f64>) -> String {
    match (parts, v) {
        (_, None) => "no data".into(),
        (Some((m, a)), Some(v)) => labelled(m, a, v),
        (None, Some(v)) => format!("{v:.3}"),
    }
}

#[cfg(test)]
mod tests {
    use super::super::registry::lookup;
    use super::*;

    #[test]
    fn units_follow_the_metric_and_the_aggregation() {
        let m = |n| lookup(n).unwrap();
        assert_eq!(value(m("http_reqs"), Aggregation::Rate, 212.44), "212.4 req/s");
        assert_eq!(value(m("http_reqs"), Aggregation::Count, 3917.0), "3,917 requests");
        assert_eq!(value(m("http_reqs"), Aggregation::Count, 1.0), "1 request");
        assert_eq!(value(m("http_req_failed"), Aggregation::Rate, 0.0022), "0.22%");
        assert_eq!(value(m("http_req_failed"), Aggregation::Rate, 0.0), "0%");
        assert_eq!(value(m("http_req_failed"), Aggregation::Rate, 0.000_031), "0.0031%");
        assert_eq!(value(m("delivery_verified"), Aggregation::Rate, 1.0), "100%");
        assert_eq!(
            value(m("http_req_duration"), Aggregation::Percentile(95.0), 10.98),
            "10.98 ms"
        );
        assert_eq!(
            value(m("http_req_duration"), Aggregation::Count, 3917.0),
            "3,917 requests"
        );
        assert_eq!(value(m("send_lag"), Aggregation::Count, 8.0), "8 sends");
        assert_eq!(value(m("delivery_duplicates"), Aggregation::Count, 1.0), "1 delivery");
        assert_eq!(value(m("dropped_sends"), Aggregation::Count, 2.0), "2 sends");
        assert_eq!(
            value(m("delivery_posts_per_event"), Aggregation::Value, 1.25),
            "1.250 posts"
        );
        assert_eq!(value(m("rto_seconds"), Aggregation::Value, 5.0), "5.00 s");
        assert_eq!(value(m("delivery_lost"), Aggregation::Count, 0.0), "0 events");
        assert_eq!(value(m("dropped_sends"), Aggregation::Rate, 2.5), "2.5 sends/s");
        assert_eq!(
            labelled(m("http_req_duration"), Aggregation::Percentile(95.0), 10.98),
            "p(95) 10.98 ms"
        );
        assert_eq!(labelled(m("http_req_failed"), Aggregation::Rate, 0.0022), "rate 0.22%");
    }

    #[test]
    fn checks_split_into_metric_and_aggregation() {
        let (m, a) = requirement_parts("http_req_duration{endpoint:search}: p(95)<250").unwrap();
        assert_eq!((m.name, a), ("http_req_duration", Aggregation::Percentile(95.0)));
        let (m, a) = requirement_parts("delivery_lost: count==0").unwrap();
        assert_eq!((m.name, a), ("delivery_lost", Aggregation::Count));
        let (m, a) = check_parts("http_reqs{scenario:steady}", "rate>100").unwrap();
        assert_eq!((m.name, a), ("http_reqs", Aggregation::Rate));
        assert!(requirement_parts("no colon here").is_none());
        assert!(requirement_parts("nonsense: p(95)<1").is_none());
    }

    #[test]
    fn counts_and_milliseconds_read_well() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1000), "1,000");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(ms(0.4123), "0.412 ms");
        assert_eq!(ms(512.34), "512.3 ms");
        assert_eq!(ms(1204.4), "1,204 ms");
        assert_eq!(percent(f64::NAN), "-");
    }
}
