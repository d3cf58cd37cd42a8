//! Two runs' seconds against each other: a stationary block bootstrap
//! per side (head vs tail, duet, run vs run), and the same replicates
//! for a history too short for a prediction interval.
//!
//! Each side's units are resampled in blocks whose mean length is
//! Politis and White's for that side's per-second mean log latency, so
//! that slow stretches (a noisy neighbour, a CPU burner, a GC) move
//! together in a replicate as they do in a run. The two sides are
//! independent; a replicate of the change is the ratio (or difference) of
//! one replicate of each.

use std::hash::{DefaultHasher, Hash, Hasher};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::decide::{Spread, Test, Untested, to_transform};
use super::stats;
use super::types::{Class, Metric};
use super::units::{BINS, Cell, DELIVERY, RunData, value_of};
use crate::plan::baseline::Floors;

/// Bootstrap resamples per side.
pub const RESAMPLES: usize = 2000;
/// The fewest units a side needs to be resampled.
pub const MIN_UNITS: usize = 5;
/// The fewest requests a side needs.
pub const MIN_REQUESTS: u64 = 20;

/// A cell's metrics, in their units (ms, fraction, req/s).
#[derive(Debug, Clone, Copy, Default)]
pub struct Values {
    /// p50, p95, p99 of latency, ms (NaN when no latency was recorded).
    pub quantiles: [f64; 3],
    /// Failed over requests.
    pub error_rate: f64,
    /// Requests per second.
    pub throughput: f64,
}

impl Values {
    /// The value of a per-cell metric.
    pub fn get(&self, m: Metric) -> f64 {
        match m {
            Metric::P50 => self.quantiles[0],
            Metric::P95 => self.quantiles[1],
            Metric::P99 => self.quantiles[2],
            Metric::ErrorRate => self.error_rate,
            Metric::Throughput => self.throughput,
            Metric::Dropped => f64::NAN,
        }
    }
}

/// Merges units into a dense bin array and reads the values.
pub struct Merger {
    dense: Vec<u32>,
    touched: Vec<u16>,
}

impl Default for Merger {
    fn default() -> Self {
        Merger::new()
    }
}

impl Merger {
    /// An empty merger.
    pub fn new() -> Self {
        Merger {
            dense: vec![0; BINS],
            touched: Vec::new(),
        }
    }

    /// The values of the units at `picks` (each unit `seconds_per_unit` long).
    pub fn values(&mut self, cell: &Cell, picks: impl Iterator<Item = usize>, seconds_per_unit: f64) -> Values {
        let (mut requests, mut errors, mut total, mut units) = (0u64, 0u64, 0u64, 0usize);
        for i in picks {
            let u = &cell.units[i];
            units += 1;
            requests += u.requests;
            errors += u.errors;
            for (b, n) in &u.bins {
                let slot = &mut self.dense[*b as usize];
                if *slot == 0 {
                    self.touched.push(*b);
                }
                *slot += n;
                total += u64::from(*n);
            }
        }
        self.touched.sort_unstable();
        let mut quantiles = [f64::NAN; 3];
        if total > 0 {
            // Nearest rank, as HDR reads a quantile.
            let ranks = [0.50, 0.95, 0.99].map(|q: f64| ((q * total as f64).ceil() as u64).max(1));
            let (mut seen, mut k) = (0u64, 0usize);
            for b in &self.touched {
                seen += u64::from(self.dense[*b as usize]);
                while k < 3 && seen >= ranks[k] {
                    quantiles[k] = value_of(*b) / 1000.0;
                    k += 1;
                }
            }
        }
        for b in self.touched.drain(..) {
            self.dense[b as usize] = 0;
        }
        Values {
            quantiles,
            error_rate: if requests > 0 {
                errors as f64 / requests as f64
            } else {
                0.0
            },
            throughput: requests as f64 / (units as f64 * seconds_per_unit).max(1e-9),
        }
    }
}

/// A cell's point values and bootstrap replicates.
#[derive(Debug, Clone)]
pub struct Resampled {
    /// The values of the whole cell.
    pub point: Values,
    /// One per replicate.
    pub replicates: Vec<Values>,
    /// The mean block length used.
    pub block: f64,
    /// Requests in the cell.
    pub requests: u64,
    /// Units in the cell.
    pub units: usize,
}

/// Resamples a cell `RESAMPLES` times; `seed` fixes the draws, so the
/// same files give the same comparison.
pub fn resample(cell: &Cell, seed: u64) -> Resampled {
    let n = cell.units.len();
    let per_unit = if n > 0 { cell.seconds / n as f64 } else { 1.0 };
    let mut m = Merger::new();
    let point = m.values(cell, 0..n, per_unit);
    let requests = cell.units.iter().map(|u| u.requests).sum();
    if n < MIN_UNITS {
        return Resampled {
            point,
            replicates: Vec::new(),
            block: 1.0,
            requests,
            units: n,
        };
    }
    let series = mean_logs(cell);
    let block = stats::optimal_block_length(&series).clamp(1.0, (n as f64 / 3.0).max(1.0));
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut idx = Vec::with_capacity(n);
    let replicates = (0..RESAMPLES)
        .map(|_| {
            stats::stationary_resample(n, block, &mut rng, &mut idx);
            m.values(cell, idx.iter().copied(), per_unit)
        })
        .collect();
    Resampled {
        point,
        replicates,
        block,
        requests,
        units: n,
    }
}

/// Each unit's mean log latency (the previous unit's when it has none),
/// the series block lengths are chosen on.
fn mean_logs(cell: &Cell) -> Vec<f64> {
    let mut last = 0.0;
    cell.units
        .iter()
        .map(|u| {
            let n: u64 = u.bins.iter().map(|(_, c)| u64::from(*c)).sum();
            if n > 0 {
                last = u.bins.iter().map(|(b, c)| f64::from(*b) * f64::from(*c)).sum::<f64>() / n as f64;
            }
            last
        })
        .collect()
}

/// A stable seed for a cell and a side.
pub fn seed_of(endpoint: &str, phase: &str, side: u8) -> u64 {
    let mut h = DefaultHasher::new();
    (endpoint, phase, side, "loadcheck-compare").hash(&mut h);
    h.finish()
}

/// The threshold of a metric at a baseline value, transform scale, and
/// what set it.
pub fn threshold(metric: Metric, baseline: f64, min_effect: f64, floors: &Floors, noise: f64) -> (f64, &'static str) {
    let (floor, relative_floor) = match metric {
        Metric::P50 => (floors.p50.as_secs_f64() * 1000.0, true),
        Metric::P95 => (floors.p95.as_secs_f64() * 1000.0, true),
        Metric::P99 => (floors.p99.as_secs_f64() * 1000.0, true),
        Metric::Throughput => (floors.throughput, true),
        Metric::ErrorRate => (floors.error_rate, false),
        Metric::Dropped => (floors.dropped, false),
    };
    let by_effect = if metric.relative() {
        to_transform(metric, min_effect)
    } else {
        min_effect * baseline
    };
    let by_floor = if relative_floor {
        if baseline > 0.0 {
            to_transform(metric, floor / baseline)
        } else {
            f64::INFINITY
        }
    } else {
        floor
    };
    let mut best = (by_effect, "min_effect");
    if by_floor > best.0 {
        best = (by_floor, "floor");
    }
    if noise > best.0 {
        best = (noise, "noise");
    }
    best
}

/// The metrics compared for an endpoint's cells: the webhook deliveries'
/// cell has latency only (its losses are counted against thresholds, not
/// sampled per second); throughput only where the model makes it a result.
pub fn cell_metrics(endpoint: &str, closed_model: bool) -> Vec<Metric> {
    if endpoint == DELIVERY {
        return vec![Metric::P50, Metric::P95, Metric::P99];
    }
    let mut v = vec![Metric::P50, Metric::P95, Metric::P99, Metric::ErrorRate];
    if closed_model {
        v.push(Metric::Throughput);
    }
    v
}

/// The floors for an endpoint's cells: the deliveries' latency takes
/// `floors.delivery` at every quantile.
pub fn cell_floors(endpoint: &str, floors: &Floors) -> Floors {
    if endpoint == DELIVERY {
        Floors {
            p50: floors.delivery,
            p95: floors.delivery,
            p99: floors.delivery,
            ..*floors
        }
    } else {
        *floors
    }
}

/// Compares two runs' cells. `phases` maps a baseline phase to the run's
/// (head → tail for head vs tail; the same phase otherwise).
pub fn compare(
    base: &RunData,
    run: &RunData,
    phases: &[(&str, &str)],
    min_effect: f64,
    floors: &Floors,
) -> (Vec<Test>, Vec<Untested>) {
    let closed = base.closed_model && run.closed_model;
    // The cells to compare, by run-side (endpoint, phase).
    let mut jobs: Vec<(String, String, Option<&Cell>, Option<&Cell>)> = Vec::new();
    for (bp, rp) in phases {
        let mut endpoints: Vec<&str> = base
            .cells
            .iter()
            .filter(|c| c.phase == *bp)
            .chain(run.cells.iter().filter(|c| c.phase == *rp))
            .map(|c| c.endpoint.as_str())
            .collect();
        endpoints.sort_unstable();
        endpoints.dedup();
        for e in endpoints {
            jobs.push((e.to_string(), rp.to_string(), base.cell(e, bp), run.cell(e, rp)));
        }
    }
    let resampled = parallel_map(&jobs, |(e, p, b, r)| {
        (
            b.map(|c| resample(c, seed_of(e, p, 0))),
            r.map(|c| resample(c, seed_of(e, p, 1))),
        )
    });
    let mut tests = Vec::new();
    let mut untested = Vec::new();
    for ((endpoint, phase, _, _), (b, r)) in jobs.iter().zip(resampled) {
        let metrics = cell_metrics(endpoint, closed);
        let floors = &cell_floors(endpoint, floors);
        let (b, r) = match (b, r) {
            (Some(b), Some(r)) => (b, r),
            (b, r) => {
                let class = if r.is_some() { Class::New } else { Class::Missing };
                for m in &metrics {
                    untested.push(Untested {
                        endpoint: endpoint.clone(),
                        phase: phase.clone(),
                        metric: *m,
                        baseline: b.as_ref().map(|x| x.point.get(*m)).filter(|v| v.is_finite()),
                        value: r.as_ref().map(|x| x.point.get(*m)).filter(|v| v.is_finite()),
                        class,
                        note: None,
                    });
                }
                continue;
            }
        };
        let names = if phases == [("head", "tail")] {
            ["the head", "the tail"]
        } else {
            ["the baseline", "the run"]
        };
        let thin = [(&b, names[0]), (&r, names[1])].into_iter().find_map(|(s, who)| {
            (s.units < MIN_UNITS || s.requests < MIN_REQUESTS).then(|| {
                format!(
                    "{who} has {} request(s) over {} second(s) here; at least {MIN_REQUESTS} over {MIN_UNITS} are needed",
                    s.requests, s.units
                )
            })
        });
        for m in &metrics {
            let (bv, rv) = (b.point.get(*m), r.point.get(*m));
            let inconclusive = |note: String| Untested {
                endpoint: endpoint.clone(),
                phase: phase.clone(),
                metric: *m,
                baseline: Some(bv).filter(|v| v.is_finite()),
                value: Some(rv).filter(|v| v.is_finite()),
                class: Class::Inconclusive,
                note: Some(note),
            };
            if let Some(why) = &thin {
                untested.push(inconclusive(why.clone()));
                continue;
            }
            let Some(change) = transform(*m, bv, rv) else {
                untested.push(inconclusive("no value on one side".into()));
                continue;
            };
            // A block bootstrap of a short series is too narrow: it sees n/L
            // blocks, not n seconds, and its variance is biased low by about
            // (n − L)/n. The replicates are widened around the point by
            // both corrections (docs/baselines.md).
            let widen = small_sample(b.units, b.block).max(small_sample(r.units, r.block));
            let mut reps: Vec<f64> = b
                .replicates
                .iter()
                .zip(&r.replicates)
                .filter_map(|(x, y)| transform(*m, x.get(*m), y.get(*m)))
                .map(|d| change + (d - change) * widen)
                .collect();
            reps.sort_by(f64::total_cmp);
            let (threshold, from) = threshold(*m, bv, min_effect, floors, 0.0);
            tests.push(Test {
                endpoint: endpoint.clone(),
                phase: phase.clone(),
                metric: *m,
                baseline: bv,
                value: rv,
                change,
                spread: Spread::Replicates(reps),
                threshold,
                threshold_from: from,
                note: None,
            });
        }
    }
    if !base.closed_model && !run.closed_model && base.scheduled > 0 && run.scheduled > 0 {
        let (pb, pr) = (
            base.dropped as f64 / base.scheduled as f64,
            run.dropped as f64 / run.scheduled as f64,
        );
        let sd = (pb * (1.0 - pb) / base.scheduled as f64 + pr * (1.0 - pr) / run.scheduled as f64)
            .sqrt()
            .max(1e-12);
        let (threshold, from) = threshold(Metric::Dropped, pb, min_effect, floors, 0.0);
        tests.push(Test {
            endpoint: "*".into(),
            phase: phases.last().map_or("run", |p| p.1).to_string(),
            metric: Metric::Dropped,
            baseline: pb,
            value: pr,
            change: pr - pb,
            spread: Spread::Normal(sd),
            threshold,
            threshold_from: from,
            note: None,
        });
    }
    (tests, untested)
}

/// The widening of a side's replicates: Student's t on the n/L
/// independent blocks over the normal, times √(n / (n − L)).
pub fn small_sample(units: usize, block: f64) -> f64 {
    use statrs::distribution::{ContinuousCDF, Normal, StudentsT};
    let n = units as f64;
    let blocks = (n / block.max(1.0)).max(2.0);
    let z = Normal::standard().inverse_cdf(0.975);
    let t = StudentsT::new(0.0, 1.0, blocks - 1.0).map_or(z, |t| t.inverse_cdf(0.975));
    (t / z) * (n / (n - block.min(n / 2.0))).sqrt()
}

/// The change on the transform scale, oriented so that larger is worse;
/// `None` when a side has no value.
pub fn transform(m: Metric, base: f64, run: f64) -> Option<f64> {
    if !base.is_finite() || !run.is_finite() {
        return None;
    }
    if m.relative() {
        if base <= 0.0 || run <= 0.0 {
            return None;
        }
        Some(m.worse() * (run / base).ln())
    } else {
        Some(run - base)
    }
}

/// Maps `f` over `items` on up to as many threads as there are CPUs.
pub fn parallel_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(items.len().max(1));
    if threads <= 1 {
        return items.iter().map(f).collect();
    }
    let chunk = items.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|c| s.spawn(|| c.iter().map(&f).collect::<Vec<R>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::decide::{Rules, finish};
    use crate::compare::testing::{cell, run};

    fn compare_two(a: &RunData, b: &RunData) -> Vec<crate::compare::Series> {
        let (t, u) = compare(a, b, &[("run", "run")], 0.05, &Floors::default());
        finish(t, u, Rules::default())
    }

    #[test]
    fn a_slower_route_is_a_regression_and_only_that_route() {
        let a = run(vec![cell("fast", 5.0, 20, 100, 1), cell("slow", 50.0, 20, 100, 2)]);
        let b = run(vec![
            cell("fast", 5.0 * 1.25, 20, 100, 3),
            cell("slow", 50.0, 20, 100, 4),
        ]);
        let s = compare_two(&a, &b);
        let flagged: Vec<_> = s.iter().filter(|s| s.class == Class::Regression).collect();
        assert!(
            flagged.iter().any(|s| s.endpoint == "fast" && s.metric == Metric::P50),
            "{s:#?}"
        );
        assert!(flagged.iter().all(|s| s.endpoint == "fast"), "{flagged:#?}");
        let p50 = s
            .iter()
            .find(|s| s.endpoint == "fast" && s.metric == Metric::P50)
            .unwrap();
        let [lo, hi] = p50.interval.unwrap();
        assert!(
            lo < 0.25 && 0.25 < hi + 0.05,
            "p50 interval {lo}..{hi} should be near +25%"
        );
        assert!(p50.change.unwrap() > 0.15 && p50.change.unwrap() < 0.35);
    }

    #[test]
    fn same_distribution_is_never_a_regression_and_intervals_cover_zero() {
        let mut covered = 0;
        let rounds: u64 = 30;
        for i in 0..rounds {
            let a = run(vec![cell("x", 5.0, 20, 60, 100 + i)]);
            let b = run(vec![cell("x", 5.0, 20, 60, 200 + i)]);
            let s = compare_two(&a, &b);
            assert!(s.iter().all(|s| s.class != Class::Regression), "round {i}: {s:#?}");
            let p50 = s.iter().find(|s| s.metric == Metric::P50).unwrap();
            let [lo, hi] = p50.interval.unwrap();
            covered += usize::from(lo <= 0.0 && 0.0 <= hi);
        }
        // A 95% interval; the bootstrap of 20 dependent seconds is a little
        // narrow, as percentile intervals on short series are.
        assert!(covered as u64 >= rounds * 80 / 100, "covered {covered} of {rounds}");
    }

    #[test]
    fn thin_and_one_sided_cells_are_not_tested() {
        let a = run(vec![cell("x", 5.0, 3, 50, 1), cell("gone", 5.0, 20, 50, 2)]);
        let b = run(vec![cell("x", 5.0, 3, 50, 3), cell("new", 5.0, 20, 50, 4)]);
        let s = compare_two(&a, &b);
        assert!(
            s.iter()
                .filter(|s| s.endpoint == "x")
                .all(|s| s.class == Class::Inconclusive)
        );
        assert!(
            s.iter()
                .filter(|s| s.endpoint == "gone")
                .all(|s| s.class == Class::Missing)
        );
        assert!(s.iter().filter(|s| s.endpoint == "new").all(|s| s.class == Class::New));
    }

    #[test]
    fn the_same_files_give_the_same_comparison() {
        let a = run(vec![cell("x", 5.0, 20, 80, 1)]);
        let b = run(vec![cell("x", 5.4, 20, 80, 2)]);
        assert_eq!(compare_two(&a, &b), compare_two(&a, &b));
    }

    #[test]
    fn thresholds_take_the_largest_of_effect_and_floor() {
        let f = Floors::default();
        // 5 ms: 0.5 ms floor is 10%, above the 5% effect.
        let (t, from) = threshold(Metric::P50, 5.0, 0.05, &f, 0.0);
        assert!((t - 1.1f64.ln()).abs() < 1e-12 && from == "floor");
        let (t, from) = threshold(Metric::P50, 50.0, 0.05, &f, 0.0);
        assert!((t - 1.05f64.ln()).abs() < 1e-12 && from == "min_effect");
        let (t, from) = threshold(Metric::P95, 50.0, 0.05, &f, 0.2);
        assert!((t - 0.2).abs() < 1e-12 && from == "noise");
        let (t, _) = threshold(Metric::ErrorRate, 0.0, 0.05, &f, 0.0);
        assert!((t - 0.001).abs() < 1e-12);
    }
}
