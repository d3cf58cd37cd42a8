//! A run against a store's history: per series, a prediction interval on
//! the log values of the runs since the series' last change point.
//!
//! The runs in the store are the between-run noise a single run cannot
//! show (another runner, another hour); a prediction interval asks
//! whether the new value is one the history would produce. Change points
//! (an accepted regression, a new runner image) split the history, and
//! only the runs since the last one speak for "now". With fewer than
//! three runs there, the run's own block bootstrap stands in for the
//! spread, widened for the baseline's own noise.

use super::decide::{Spread, Test, Untested};
use super::pair::{self, Resampled, Values, cell_metrics, threshold, transform};
use super::stats;
use super::store::{Store, StoredRun, same_testbed};
use super::types::{Class, LeftOut, Metric};
use super::units::RunData;
use crate::plan::baseline::Floors;

/// The significance of a change point in a history.
pub const CHANGE_POINT_ALPHA: f64 = 0.001;
/// The shortest segment between change points.
pub const MIN_SEGMENT: usize = 3;
/// The fewest runs for a prediction interval.
pub const MIN_RUNS: usize = 3;

/// What history comparing found, beside its tests.
#[derive(Debug, Default)]
pub struct Found {
    /// Runs left out, and why.
    pub left_out: Vec<LeftOut>,
    /// Runs used.
    pub used: usize,
    /// Notes for the reader.
    pub notes: Vec<String>,
}

/// Compares `run` with the store's runs on its testbed.
pub fn compare(store: &Store, run: &RunData, min_effect: f64, floors: &Floors) -> (Vec<Test>, Vec<Untested>, Found) {
    let mut found = Found::default();
    let mut runs: Vec<&StoredRun> = Vec::new();
    let mut models = std::collections::BTreeSet::new();
    for r in &store.runs {
        let same = match &run.digest {
            Some(d) => *d == r.digest,
            None => r.started_at_ms == run.started_at_ms && r.started_at == run.started_at,
        };
        if same {
            found.left_out.push(LeftOut {
                started_at: r.started_at.clone(),
                why: "it is this run".into(),
            });
            continue;
        }
        match same_testbed(&r.testbed, &run.testbed) {
            Ok(warning) => {
                if let Some(w) = warning {
                    models.insert(w);
                }
                runs.push(r);
            }
            Err(why) => found.left_out.push(LeftOut {
                started_at: r.started_at.clone(),
                why: format!("another testbed: {why}"),
            }),
        }
    }
    for m in models {
        found.notes.push(format!(
            "kept runs from {m}: hosted runners change CPU models between jobs"
        ));
    }
    found.used = runs.len();
    let mut tests = Vec::new();
    let mut untested = Vec::new();
    if runs.is_empty() {
        found.notes.push(if store.runs.is_empty() {
            "the store has no runs yet: this run is judged on its thresholds alone".into()
        } else {
            "no stored run was made on this testbed: nothing to compare with honestly".into()
        });
        return (tests, untested, found);
    }
    let closed = run.closed_model && runs.iter().all(|r| r.closed_model);
    // Every cell in the run or the newest stored run.
    let newest = runs[runs.len() - 1];
    let mut keys: Vec<(String, String)> = run
        .cells
        .iter()
        .map(|c| (c.endpoint.clone(), c.phase.clone()))
        .chain(newest.cells.iter().map(|c| (c.endpoint.clone(), c.phase.clone())))
        .collect();
    keys.sort();
    keys.dedup();
    let resampled: Vec<Option<Resampled>> = pair::parallel_map(&keys, |(e, p)| {
        run.cell(e, p).map(|c| pair::resample(c, pair::seed_of(e, p, 1)))
    });
    for ((endpoint, phase), res) in keys.iter().zip(resampled) {
        let metrics = cell_metrics(endpoint, closed);
        let cell_floors = pair::cell_floors(endpoint, floors);
        let history: Vec<Values> = runs
            .iter()
            .filter_map(|r| r.cell(endpoint, phase))
            .map(|c| c.values())
            .collect();
        let Some(res) = res else {
            for m in &metrics {
                untested.push(Untested {
                    endpoint: endpoint.clone(),
                    phase: phase.clone(),
                    metric: *m,
                    baseline: history.last().map(|v| v.get(*m)).filter(|v| v.is_finite()),
                    value: None,
                    class: Class::Missing,
                    note: None,
                });
            }
            continue;
        };
        if history.is_empty() {
            for m in &metrics {
                untested.push(Untested {
                    endpoint: endpoint.clone(),
                    phase: phase.clone(),
                    metric: *m,
                    baseline: None,
                    value: Some(res.point.get(*m)).filter(|v| v.is_finite()),
                    class: Class::New,
                    note: None,
                });
            }
            continue;
        }
        for m in &metrics {
            match series_test(endpoint, phase, *m, &history, &res, min_effect, &cell_floors) {
                Ok(t) => tests.push(t),
                Err(u) => untested.push(u),
            }
        }
    }
    if closed {
        // Throughput is a cell metric; nothing run-wide.
    } else if run.scheduled > 0 {
        let rates: Vec<f64> = runs
            .iter()
            .filter(|r| r.scheduled > 0)
            .map(|r| r.dropped as f64 / r.scheduled as f64)
            .collect();
        let value = run.dropped as f64 / run.scheduled as f64;
        if rates.len() >= MIN_RUNS {
            let (mean, sd) = mean_sd(&rates);
            let n = rates.len() as f64;
            let binom = (value * (1.0 - value) / run.scheduled as f64).sqrt();
            let (thr, from) = threshold(Metric::Dropped, mean, min_effect, floors, sd);
            tests.push(Test {
                endpoint: "*".into(),
                phase: "run".into(),
                metric: Metric::Dropped,
                baseline: mean,
                value,
                change: value - mean,
                spread: Spread::T {
                    scale: (sd * (1.0 + 1.0 / n).sqrt()).max(binom).max(1e-9),
                    df: n - 1.0,
                },
                threshold: thr,
                threshold_from: from,
                note: None,
            });
        }
    }
    (tests, untested, found)
}

fn mean_sd(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = if xs.len() > 1 {
        xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    (mean, var.sqrt())
}

/// One series against its history.
fn series_test(
    endpoint: &str,
    phase: &str,
    m: Metric,
    history: &[Values],
    res: &Resampled,
    min_effect: f64,
    floors: &Floors,
) -> Result<Test, Untested> {
    let value = res.point.get(m);
    let untested = |class, note: &str| Untested {
        endpoint: endpoint.to_string(),
        phase: phase.to_string(),
        metric: m,
        baseline: history.last().map(|v| v.get(m)).filter(|v| v.is_finite()),
        value: Some(value).filter(|v| v.is_finite()),
        class,
        note: Some(note.to_string()),
    };
    if res.units < pair::MIN_UNITS || res.requests < pair::MIN_REQUESTS {
        return Err(untested(Class::Inconclusive, "too few requests in this run here"));
    }
    // The series on the transform scale (log for relative metrics).
    let raw: Vec<f64> = history.iter().map(|v| v.get(m)).filter(|v| v.is_finite()).collect();
    let xs: Vec<f64> = if m.relative() {
        raw.iter().filter(|v| **v > 0.0).map(|v| v.ln()).collect()
    } else {
        raw.clone()
    };
    if xs.is_empty() || !value.is_finite() || (m.relative() && value <= 0.0) {
        return Err(untested(Class::Inconclusive, "no value on one side"));
    }
    let cps = stats::change_points(&xs, CHANGE_POINT_ALPHA, MIN_SEGMENT);
    let start = cps.last().copied().unwrap_or(0);
    let seg = &xs[start..];
    let mut note = (start > 0).then(|| format!("{} run(s) since a change point in the history", seg.len()));
    let (mean, sd) = mean_sd(seg);
    let base_value = if m.relative() { mean.exp() } else { mean };
    let x = if m.relative() { value.ln() } else { value };
    let w = m.worse();
    let change = w * (x - mean);
    let test = |spread, noise: f64, note| {
        let (threshold, threshold_from) = threshold(m, base_value, min_effect, floors, noise);
        Test {
            endpoint: endpoint.to_string(),
            phase: phase.to_string(),
            metric: m,
            baseline: base_value,
            value,
            change,
            spread,
            threshold,
            threshold_from,
            note,
        }
    };
    if seg.len() >= MIN_RUNS && sd > 0.0 {
        let n = seg.len() as f64;
        let spread = Spread::T {
            scale: sd * (1.0 + 1.0 / n).sqrt(),
            df: n - 1.0,
        };
        return Ok(test(spread, sd, note));
    }
    // Too short a history (or a flat one): the run's own replicates, widened
    // by √(1 + 1/k) for the k baseline runs' noise.
    if res.replicates.is_empty() {
        return Err(untested(Class::Inconclusive, "too few seconds in this run here"));
    }
    let k = seg.len() as f64;
    let widen = (1.0 + 1.0 / k).sqrt();
    let mut reps: Vec<f64> = res
        .replicates
        .iter()
        .filter_map(|r| transform(m, base_value, r.get(m)))
        .map(|d| change + (d - change) * widen)
        .collect();
    reps.sort_by(f64::total_cmp);
    let fallback = format!(
        "{} baseline run(s){}: this run's own noise stands in for the history's",
        seg.len(),
        if sd == 0.0 && seg.len() >= MIN_RUNS {
            " with identical values"
        } else {
            ""
        }
    );
    note = Some(match note {
        Some(n) => format!("{n}; {fallback}"),
        None => fallback,
    });
    Ok(test(Spread::Replicates(reps), 0.0, note))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::decide::{Rules, finish};
    use crate::compare::store::{SCHEMA, StoredRun};
    use crate::compare::testing::{cell, run};
    use crate::compare::types::Series;

    fn store_of(runs: Vec<RunData>) -> Store {
        Store {
            schema: SCHEMA.into(),
            id: "t".into(),
            history: 20,
            runs: runs
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    let mut s = StoredRun::of(r, "pass", None);
                    s.started_at_ms = i as i64 + 1;
                    s.started_at = format!("run {i}");
                    s
                })
                .collect(),
        }
    }

    fn flagged(s: &[Series]) -> Vec<String> {
        s.iter()
            .filter(|s| s.class == Class::Regression)
            .map(|s| format!("{} {}", s.endpoint, s.metric.name()))
            .collect()
    }

    fn against(store: &Store, r: &RunData) -> (Vec<Series>, Found) {
        let (t, u, found) = compare(store, r, 0.05, &Floors::default());
        (finish(t, u, Rules::default()), found)
    }

    /// Ten runs whose medians wander a little from run to run.
    fn history(shift_first: usize, factor: f64) -> Store {
        store_of(
            (0..10)
                .map(|i| {
                    let wobble = 1.0 + 0.01 * ((i * 7 % 5) as f64 - 2.0);
                    let f = if i < shift_first { factor } else { 1.0 };
                    run(vec![cell("x", 20.0 * wobble * f, 20, 80, 10 + i as u64)])
                })
                .collect(),
        )
    }

    #[test]
    fn a_run_like_the_history_passes_and_a_slower_one_is_a_regression() {
        let st = history(0, 1.0);
        let (same, found) = against(&st, &run(vec![cell("x", 20.0, 20, 80, 99)]));
        assert_eq!(found.used, 10);
        assert!(flagged(&same).is_empty(), "{same:#?}");
        let p50 = same.iter().find(|s| s.metric == Metric::P50).unwrap();
        assert!(p50.mde.unwrap() < 0.15, "ten quiet runs detect well under 15%: {p50:?}");
        let (slow, _) = against(&st, &run(vec![cell("x", 20.0 * 1.2, 20, 80, 98)]));
        assert!(flagged(&slow).contains(&"x p50".to_string()), "{slow:#?}");
    }

    #[test]
    fn only_the_runs_since_a_change_point_count() {
        // The first five runs were twice as slow (before a fix): against all
        // ten, a run at today's speed would look like a big improvement and
        // a +20% run would hide in the spread.
        let st = history(5, 2.0);
        let (slow, _) = against(&st, &run(vec![cell("x", 20.0 * 1.2, 20, 80, 97)]));
        let p50 = slow.iter().find(|s| s.metric == Metric::P50).unwrap();
        assert!(
            p50.note.as_deref().unwrap_or("").contains("since a change point"),
            "{p50:?}"
        );
        assert_eq!(p50.class, Class::Regression, "{p50:?}");
    }

    #[test]
    fn other_testbeds_are_left_out_and_a_short_history_falls_back() {
        let mut st = history(0, 1.0);
        for r in st.runs.iter_mut().take(8) {
            r.testbed.cpus = 64;
        }
        let (s, found) = against(&st, &run(vec![cell("x", 20.0, 20, 80, 96)]));
        assert_eq!(found.used, 2);
        assert_eq!(found.left_out.len(), 8);
        assert!(found.left_out[0].why.contains("64 CPUs"), "{:?}", found.left_out);
        let p50 = s.iter().find(|s| s.metric == Metric::P50).unwrap();
        assert!(p50.note.as_deref().unwrap_or("").contains("own noise"), "{p50:?}");
        let empty = Store { runs: vec![], ..st };
        let (s, found) = against(&empty, &run(vec![cell("x", 20.0, 20, 80, 95)]));
        assert!(s.is_empty());
        assert!(found.notes[0].contains("no runs yet"), "{:?}", found.notes);
    }
}
