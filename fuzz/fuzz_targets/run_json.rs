//! Bytes as a `run.json`, through the reader `loadcheck verdict` and
//! `report` share (`read_run`, and for a file that still says `running`,
//! the read-back of a killed run), then judged as `verdict` judges it
//! (`judge_file`: the recorded plan, its checks, the atoms decoded, the
//! thresholds and requirements evaluated, the verdict decided). It never
//! panics or hangs, and (`loadcheck::fuzzing::readers::run_json`):
//!
//! - a run it reads, written back as `verdict` rewrites it, reads the same;
//! - a run judged, written and judged again, gets the same verdict.
#![no_main]

use libfuzzer_sys::fuzz_target;
use loadcheck::fuzzing::readers::run_json;

fuzz_target!(|data: &[u8]| {
    if let Err(why) = run_json(data) {
        panic!("{why}");
    }
});
