//! Inputs the fuzz targets in `fuzz/` crashed on, as a user would meet
//! them through the binary. A crash whose fix has to wait is `#[ignore]`d
//! here with the reason (`cargo test --test fuzz_regressions -- --ignored`
//! shows what is open); most fixes have their test beside the code.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// `tests/fixtures/report/pass.run.json` with one more atom: a copy of the
/// first one (the same scenario × endpoint), counting `u64::MAX` requests.
fn run_with_huge_duplicate_atom() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/report/pass.run.json");
    let mut run: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let atoms = run["stats"]["atoms"].as_array_mut().unwrap();
    let mut atom = atoms[0].clone();
    atom["requests"] = Value::from(u64::MAX);
    atom["ok"] = Value::from(u64::MAX);
    atoms.push(atom);
    run
}

/// Found with `fuzz/fuzz_targets/run_json.rs`: judging a run.json sums its
/// atoms per scenario × endpoint × phase (`Decoded::of`, then `Stats +=`
/// in `src/metrics/stats.rs:108`, `self.requests += o.requests`), with no
/// check: two atoms of one key whose counts add past `u64::MAX` panic
/// ("attempt to add with overflow") in a debug build and wrap silently in
/// a release build, so the verdict judged a wrong count. `loadcheck
/// verdict` refuses the file (exit 2, naming the atom) instead.
#[test]
fn atoms_whose_counts_overflow_are_bad_input_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let run_json = dir.path().join("run.json");
    std::fs::write(
        &run_json,
        serde_json::to_string_pretty(&run_with_huge_duplicate_atom()).unwrap(),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_loadcheck"))
        .arg("verdict")
        .arg(&run_json)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("run.json"), "{stderr}");
}
