//! `loadcheck.toml` text through `loadcheck::plan::parse`, validation
//! included (and through `parse_with_env` with every variable set, so
//! plans that read secrets go as far; and as a `sink.toml` through
//! `parse_sink`). It never panics or hangs, and:
//!
//! - an error names the plan file and, when it has a line, one the text
//!   has (every error names the file, the line and the field);
//! - the same text parses to the same plan twice;
//! - a valid plan, recorded as `run.json` records it, reads back with the
//!   same endpoints and scenarios, and its thresholds and requirements
//!   validate again to the same selectors and conditions (so `verdict`
//!   judges a run as the run itself did);
//! - each threshold's and requirement's selector and condition, written
//!   out, parse back to themselves.
#![no_main]

use libfuzzer_sys::fuzz_target;
use loadcheck::fuzzing::readers::{names_outside_file, plan_json, plan_path, plan_records_itself};
use loadcheck::plan::expr::{condition, selector};
use loadcheck::plan::{Overrides, PlanError, parse, parse_sink, parse_with_env};

fn check_error(e: &PlanError, text: &str) {
    assert_eq!(e.file, plan_path(), "an error names another file: {e}");
    if let Some(line) = e.line {
        let lines = text.split('\n').count();
        assert!((1..=lines).contains(&line), "line {line} of {lines}: {e}");
        assert!(e.column.is_some_and(|c| c >= 1), "a line without a column: {e}");
    }
    assert!(!e.message.is_empty(), "an error with no message: {e:?}");
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if names_outside_file(text) {
        return;
    }
    let path = plan_path();
    let overrides = Overrides::default();
    match parse(path, text, &overrides) {
        Err(e) => check_error(&e, text),
        Ok(plan) => {
            let again = parse(path, text, &overrides).expect("the same text parses twice");
            assert_eq!(plan_json(&plan), plan_json(&again), "the same text gave two plans");
            if let Err(why) = plan_records_itself(&plan) {
                panic!("{why}");
            }
            for t in &plan.thresholds {
                let written = t.selector.to_string();
                assert_eq!(selector(&written).as_ref(), Ok(&t.selector), "{written}");
                let written = t.condition.to_string();
                assert_eq!(
                    condition(&written, t.selector.metric).as_ref(),
                    Ok(&t.condition),
                    "{written}"
                );
            }
            for r in &plan.requirements {
                let written = format!("{}: {}", r.selector, r.condition);
                let back = loadcheck::plan::expr::check(&written).expect(&written);
                assert_eq!((&back.0, &back.1), (&r.selector, &r.condition), "{written}");
            }
        }
    }
    let env = |_: &str| Some("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_string());
    if let Err(e) = parse_with_env(path, text, &overrides, &env) {
        check_error(&e, text);
    }
    if let Err(e) = parse_sink(path, text, None) {
        check_error(&e, text);
    }
});
