//! Text as a baseline store (`baselines/<id>.json`), through
//! `loadcheck::compare::store::parse` (what `compare` and `baseline`
//! read), then a run like the store's last one compared with it
//! (`compare::against_store`: history, prediction intervals, change
//! points). It never panics or hangs, and:
//!
//! - a store it reads, written back (`store::to_text`, as `baseline update`
//!   writes it), reads back equal;
//! - appending a run to it keeps at most `history` runs, oldest first, the
//!   newest last, and reads back;
//! - the comparison, written as `comparison.json`, reads back the same
//!   (`verdict` reads what `compare` wrote), and it decides the verdict of
//!   a passing run: fail exactly when it gates on a regression.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use loadcheck::compare::store::{StoredRun, append, parse, to_text};
use loadcheck::compare::{Settings, against_store};
use loadcheck::fuzzing::readers::{comparison_file, comparison_round_trip, passing_run, run_like};
use loadcheck::metrics::result::VerdictResult;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let path = Path::new("baselines/fuzz.json");
    let Ok(store) = parse(path, text) else { return };
    let written = to_text(&store).expect("a store read serializes");
    let again = parse(path, &written).unwrap_or_else(|e| panic!("a store written does not read back: {e}\n{written}"));
    assert_eq!(again, store, "a store written reads back differently:\n{written}");

    // Only stores small enough to compare in a moment.
    let cells: usize = store.runs.iter().map(|r| r.cells.len()).sum();
    if store.runs.len() > 64 || cells > 256 {
        return;
    }
    let run = run_like(&store);
    let settings = Settings::recorded(&Default::default());
    let comparison = against_store(&store, path, &run, &settings);
    let file = comparison_file(vec![comparison]);
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

    let history = store.history.min(1000);
    let stored = StoredRun::of(&run, "pass", None);
    if let Ok(next) = append(Some(store.clone()), &store.id, history, stored.clone()) {
        assert!(
            next.runs.len() <= history.max(1),
            "{} runs kept of {history}",
            next.runs.len()
        );
        assert!(next.runs.is_sorted_by_key(|r| r.started_at_ms), "not oldest first");
        if store.runs.iter().all(|r| r.started_at_ms < stored.started_at_ms) {
            assert_eq!(
                next.runs.last(),
                Some(&stored),
                "the newest run appended is not the last"
            );
        }
        let written = to_text(&next).expect("serializes");
        parse(path, &written).unwrap_or_else(|e| panic!("a store appended to does not read back: {e}\n{written}"));
    }
});
