//! Synthetic runs for the comparison's unit tests.

use rand::{Rng, SeedableRng};

use super::units::{Cell, RunData, Unit, bin_of};
use crate::metrics::result::{RunStatus, Testbed};

/// A cell of `seconds` seconds at `rate` requests per second, latency
/// `base_ms` × log-normal(σ 0.1), with a slow AR(1) drift per second
/// (φ 0.7, sd 3%) so seconds are not independent.
pub fn cell(endpoint: &str, base_ms: f64, seconds: usize, rate: usize, seed: u64) -> Cell {
    let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
    // Box–Muller.
    let z = |rng: &mut rand::rngs::SmallRng| -> f64 {
        let (u, v): (f64, f64) = (rng.random::<f64>().max(1e-12), rng.random());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    };
    let mut drift: f64 = 0.0;
    let units = (0..seconds)
        .map(|_| {
            drift = 0.7 * drift + 0.03 * z(&mut rng);
            let mut bins: std::collections::BTreeMap<u16, u32> = Default::default();
            for _ in 0..rate {
                let v = base_ms * 1000.0 * (0.1 * z(&mut rng) + drift).exp();
                *bins.entry(bin_of(v as u64)).or_default() += 1;
            }
            let errors = u64::from(rng.random::<f64>() < 0.01);
            Unit {
                requests: rate as u64,
                errors,
                bins: bins.into_iter().collect(),
            }
        })
        .collect();
    Cell {
        endpoint: endpoint.into(),
        phase: "run".into(),
        units,
        seconds: seconds as f64,
    }
}

pub fn run(cells: Vec<Cell>) -> RunData {
    RunData {
        path: None,
        digest: None,
        id: "t".into(),
        started_at: "2026-01-01T00:00:00Z".into(),
        started_at_ms: 0,
        testbed: Testbed::default(),
        status: RunStatus::Completed,
        closed_model: false,
        scheduled: 0,
        dropped: 0,
        warmup: None,
        settings: super::settings::Settings::recorded(&serde_json::Value::Null),
        cells,
    }
}
