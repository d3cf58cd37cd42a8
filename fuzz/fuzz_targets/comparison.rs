//! Bytes as a `comparison.json`, through `loadcheck::compare::read_file`
//! (what `verdict`, `report` and `publish` read beside a run). It never
//! panics, and a file it reads:
//!
//! - written back, reads back the same;
//! - decides the verdict of a passing run: fail exactly when one of its
//!   gating comparisons has a regression, pass otherwise.
#![no_main]

use libfuzzer_sys::fuzz_target;
use loadcheck::fuzzing::readers::{comparison_round_trip, on_disk, passing_run};
use loadcheck::metrics::result::VerdictResult;

fuzz_target!(|data: &[u8]| {
    let path = on_disk("comparison/input.json", data);
    let Ok(file) = loadcheck::compare::read_file(&path) else {
        return;
    };
    if let Err(why) = comparison_round_trip(&file) {
        panic!("{why}");
    }
    let verdict = loadcheck::verdict::decide_with(passing_run(), Some(&file));
    let gates = file.gating_regressions().next().is_some();
    let want = if gates {
        VerdictResult::Fail
    } else {
        VerdictResult::Pass
    };
    assert_eq!(verdict.result, want, "{verdict:?}");
    assert_eq!(verdict.reasons.len(), file.gating_regressions().count(), "{verdict:?}");
});
