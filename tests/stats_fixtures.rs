//! `compare::stats` against independent implementations: the values in
//! `tests/fixtures/stats/*.json` were computed by arch, statsmodels, scipy,
//! numpy and Apache Otava (`scripts/stats_fixtures.py`; the versions are in
//! each file's `generated_by`).

use std::path::Path;

use loadcheck::compare::stats::{
    Tail, best_split, change_points, holm, optimal_block_length, percentile_interval, prediction_interval,
    prediction_p_value, welch,
};
use serde_json::Value;

/// Closed forms: 1e-9 relative.
const CLOSED: f64 = 1e-9;
/// The block length: 1e-6 relative.
const BLOCK: f64 = 1e-6;

fn load(name: &str) -> Vec<Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/stats")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let v: Value = serde_json::from_str(&text).unwrap();
    assert!(
        v["generated_by"]["scipy"].is_string(),
        "{name} names the versions that made it"
    );
    v["cases"].as_array().unwrap().clone()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

fn pair(v: &Value) -> Option<(f64, f64)> {
    (!v.is_null()).then(|| {
        let f = floats(v);
        (f[0], f[1])
    })
}

/// `|got - want| ≤ tol · max(|got|, |want|)`, with an absolute floor of
/// `tol · 1e-6` for values at zero.
fn close(got: f64, want: f64, tol: f64) -> bool {
    got == want || (got - want).abs() <= tol * got.abs().max(want.abs()).max(1e-6)
}

#[track_caller]
fn check(what: &str, got: f64, want: f64, tol: f64) {
    assert!(
        close(got, want, tol),
        "{what}: got {got:e}, expected {want:e} (diff {:e})",
        got - want
    );
}

#[test]
fn block_length_matches_arch() {
    let mut compared = 0;
    for case in load("series.json") {
        let name = case["name"].as_str().unwrap();
        let xs = floats(&case["xs"]);
        let got = optimal_block_length(&xs);
        assert!((1.0..=xs.len() as f64).contains(&got), "{name}: {got}");
        match case["block_length_arch"].as_f64() {
            // arch does not clamp below one; this does.
            Some(arch) => {
                check(name, got, arch.clamp(1.0, xs.len() as f64), BLOCK);
                compared += 1;
            }
            // arch raises (n < 8) or answers NaN (no variance).
            None if name == "constant" => assert_eq!(got, 1.0, "{name}"),
            None => {}
        }
    }
    assert!(compared >= 5);
}

#[test]
fn prediction_interval_and_p_value_match_scipy() {
    for case in load("series.json") {
        let name = case["name"].as_str().unwrap();
        let xs = floats(&case["xs"]);
        for (level, want) in case["prediction_interval"].as_object().unwrap() {
            let level: f64 = level.parse().unwrap();
            let got = prediction_interval(&xs, level);
            match (got, pair(want)) {
                (Some(g), Some(w)) => {
                    check(&format!("{name} {level} lower"), g.0, w.0, CLOSED);
                    check(&format!("{name} {level} upper"), g.1, w.1, CLOSED);
                }
                (None, None) => {}
                (g, w) => panic!("{name} {level}: got {g:?}, expected {w:?}"),
            }
        }
        for probe in case["prediction_p"].as_array().unwrap() {
            let x = probe["x"].as_f64().unwrap();
            let up = prediction_p_value(&xs, x, Tail::Upper);
            let low = prediction_p_value(&xs, x, Tail::Lower);
            if probe["p"].is_null() {
                assert_eq!((up, low), (None, None), "{name} at {x}");
                continue;
            }
            check(
                &format!("{name} upper p at {x}"),
                up.unwrap(),
                probe["p"]["upper"].as_f64().unwrap(),
                CLOSED,
            );
            check(
                &format!("{name} lower p at {x}"),
                low.unwrap(),
                probe["p"]["lower"].as_f64().unwrap(),
                CLOSED,
            );
        }
    }
}

#[test]
fn percentile_interval_matches_numpy() {
    for case in load("series.json") {
        let name = case["name"].as_str().unwrap();
        let mut xs = floats(&case["xs"]);
        xs.sort_by(f64::total_cmp);
        for (level, want) in case["percentile_interval"].as_object().unwrap() {
            let (lo, hi) = percentile_interval(&xs, level.parse().unwrap()).unwrap();
            let (wlo, whi) = pair(want).unwrap();
            check(&format!("{name} {level} lower"), lo, wlo, CLOSED);
            check(&format!("{name} {level} upper"), hi, whi, CLOSED);
        }
    }
}

#[test]
fn welch_matches_scipy() {
    for case in load("welch.json") {
        let name = case["name"].as_str().unwrap();
        let got = welch(&floats(&case["a"]), &floats(&case["b"]));
        let want = &case["expected"];
        if want.is_null() {
            assert_eq!(got, None, "{name}");
            continue;
        }
        let got = got.unwrap_or_else(|| panic!("{name}: None"));
        match want["t"].as_f64() {
            Some(t) => check(&format!("{name} t"), got.t, t, CLOSED),
            None => assert!(got.t.is_infinite(), "{name}: t {}", got.t),
        }
        check(&format!("{name} df"), got.df, want["df"].as_f64().unwrap(), CLOSED);
        check(&format!("{name} p"), got.p, want["p"].as_f64().unwrap(), CLOSED);
    }
}

#[test]
fn holm_matches_statsmodels() {
    for case in load("holm.json") {
        let name = case["name"].as_str().unwrap();
        let got = holm(&floats(&case["p"]));
        let want = floats(&case["expected"]);
        assert_eq!(got.len(), want.len(), "{name}");
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            check(&format!("{name}[{i}]"), *g, *w, CLOSED);
        }
    }
}

#[test]
fn best_split_matches_otava() {
    for case in load("change_points.json") {
        let name = case["name"].as_str().unwrap();
        let xs = floats(&case["xs"]);
        let want = &case["otava_best_split"];
        let (index, qhat) = best_split(&xs, 1).unwrap();
        assert_eq!(index as u64, want["index"].as_u64().unwrap(), "{name}");
        check(&format!("{name} q̂"), qhat, want["qhat"].as_f64().unwrap(), CLOSED);
    }
}

#[test]
fn change_points_match_the_reference() {
    for case in load("change_points.json") {
        let name = case["name"].as_str().unwrap();
        let xs = floats(&case["xs"]);
        let alpha = case["alpha"].as_f64().unwrap();
        let min_segment = case["min_segment"].as_u64().unwrap() as usize;
        let want: Vec<usize> = case["expected"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect();
        assert_eq!(change_points(&xs, alpha, min_segment), want, "{name}");
    }
}
