//! The metric expressions of thresholds and requirements
//! (`src/plan/expr.rs`): any text as a check (`metric{tags}: condition`),
//! as a selector, and as a condition for a metric the first byte picks.
//! It never panics, and:
//!
//! - what parses, written out again, parses back to itself (the report
//!   and `run.json` write expressions back);
//! - a condition's number is finite, a percentile is in (0, 100], and its
//!   aggregation applies to the metric's kind;
//! - a selector's tags apply to its metric, once each;
//! - the `String` and `ExprError` forms of each parser agree.
#![no_main]

use libfuzzer_sys::fuzz_target;
use loadcheck::plan::expr::{Aggregation, check, condition, parse_check, parse_condition, parse_selector, selector};
use loadcheck::plan::registry::METRICS;
use loadcheck::plan::{Condition, MetricSelector};

fn selector_holds(sel: &MetricSelector) {
    for (i, (tag, value)) in sel.tags.iter().enumerate() {
        assert!(
            sel.metric.tags.contains(tag),
            "{tag:?} does not apply to {}",
            sel.metric.name
        );
        assert!(!value.is_empty() && value.trim() == value, "tag value {value:?}");
        assert!(sel.tags[..i].iter().all(|(t, _)| t != tag), "{tag:?} twice");
    }
    let written = sel.to_string();
    assert_eq!(selector(&written).as_ref(), Ok(sel), "{written}");
}

fn condition_holds(cond: &Condition, sel_metric: &'static loadcheck::plan::registry::MetricDef) {
    assert!(cond.value.is_finite(), "{cond:?}");
    if let Aggregation::Percentile(p) = cond.aggregation {
        assert!(p > 0.0 && p <= 100.0, "{cond:?}");
    }
    assert!(
        cond.aggregation.valid_for(sel_metric.kind),
        "{cond:?} on {}",
        sel_metric.name
    );
    let written = cond.to_string();
    assert_eq!(condition(&written, sel_metric).as_ref(), Ok(cond), "{written}");
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else { return };

    let checked = check(text);
    assert_eq!(checked.is_ok(), parse_check(text).is_ok());
    if let Ok((sel, cond)) = &checked {
        selector_holds(sel);
        condition_holds(cond, sel.metric);
        let written = format!("{sel}: {cond}");
        assert_eq!(check(&written).as_ref(), Ok(&(sel.clone(), *cond)), "{written}");
    }

    let sel = selector(text);
    assert_eq!(sel.is_ok(), parse_selector(text).is_ok());
    if let Ok(sel) = &sel {
        selector_holds(sel);
    }

    let metric = &METRICS[usize::from(pick) % METRICS.len()];
    let cond = condition(text, metric);
    assert_eq!(cond.is_ok(), parse_condition(text, metric).is_ok());
    match &cond {
        Ok(cond) => condition_holds(cond, metric),
        Err(e) => assert!(!e.message.is_empty()),
    }
});
