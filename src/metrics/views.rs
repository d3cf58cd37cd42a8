//! The views people read — in total, per endpoint, per scenario, and (with
//! a rollout) per deployment window and per endpoint in each window — and
//! the atoms they are summed from, built from per-key statistics indexed
//! (phase, scenario, endpoint), endpoint fastest. A run and a merge of
//! shards both write their statistics this way.

use std::collections::BTreeMap;

use super::deploy::PhaseSpan;
use super::live::Phase;
use super::result::{Atom, StatsSet, StatsSummary};
use super::stats::Stats;
use crate::plan::roster::Roster;

impl StatsSet {
    /// The views and atoms of `keys`, over a run of `duration_s` seconds;
    /// a phase's rates are over its own length in `phases`.
    pub fn of_keys(keys: &[Stats], roster: &Roster, phases: &[PhaseSpan], duration_s: f64) -> StatsSet {
        let n = roster.endpoints.len().max(1);
        let n_sc = roster.scenarios.len().max(1);
        // Sums the keys `pick(phase, scenario, endpoint)` selects.
        let sum = |pick: &dyn Fn(usize, usize, usize) -> bool| {
            let mut out = Stats::default();
            for (k, st) in keys.iter().enumerate() {
                if pick(k / (n_sc * n), (k / n) % n_sc, k % n) {
                    out += st;
                }
            }
            out
        };
        let mut stats = StatsSet {
            total: StatsSummary::of(&sum(&|_, _, _| true), duration_s),
            endpoints: roster
                .endpoints
                .iter()
                .enumerate()
                .map(|(e, name)| (name.clone(), StatsSummary::of(&sum(&|_, _, x| x == e), duration_s)))
                .collect(),
            scenarios: roster
                .scenarios
                .iter()
                .enumerate()
                .map(|(s, sc)| (sc.name.clone(), StatsSummary::of(&sum(&|_, x, _| x == s), duration_s)))
                .collect(),
            phases: BTreeMap::new(),
            endpoint_phases: BTreeMap::new(),
            atoms: atoms(keys, roster),
        };
        if roster.has_rollout {
            for (pi, phase) in Phase::ALL.iter().enumerate() {
                let length = phases
                    .iter()
                    .find(|p| p.name == phase.name())
                    .map_or(0.0, |p| p.end_s.unwrap_or(duration_s) - p.start_s);
                stats.phases.insert(
                    phase.name().to_string(),
                    StatsSummary::of(&sum(&|p, _, _| p == pi), length),
                );
                for (e, ep) in roster.endpoints.iter().enumerate() {
                    stats.endpoint_phases.entry(ep.clone()).or_default().insert(
                        phase.name().to_string(),
                        StatsSummary::of(&sum(&|p, _, x| p == pi && x == e), length),
                    );
                }
            }
        }
        stats
    }
}

/// One atom per key that saw requests, in key order.
fn atoms(keys: &[Stats], roster: &Roster) -> Vec<Atom> {
    let n = roster.endpoints.len().max(1);
    let n_sc = roster.scenarios.len().max(1);
    keys.iter()
        .enumerate()
        .filter(|(_, s)| s.requests > 0)
        .filter_map(|(k, s)| {
            let endpoint = roster.endpoints.get(k % n)?;
            let scenario = &roster.scenarios.get((k / n) % n_sc)?.name;
            let phase = roster.has_rollout.then(|| Phase::ALL[(k / (n * n_sc)).min(2)].name());
            Some(Atom::of(scenario, endpoint, phase, s))
        })
        .collect()
}
