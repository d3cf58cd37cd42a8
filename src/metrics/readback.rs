//! A run read back from its `run.json`: the per-key statistics and pacing
//! rebuilt from the atoms, so thresholds and requirements can be judged
//! from the file exactly as they were during the run.

use super::delivery::DeliveryReport;
use super::eval::View;
use super::hist::Hist;
use super::live::Phase;
use super::recorder::GenStats;
use super::result::RunResult;
use super::stats::Stats;
use crate::plan::MetricSelector;
use crate::plan::registry::Tag;
use crate::plan::roster::Roster;

/// The metrics a killed run's `timeline.hlog` holds.
const RECOVERED: [&str; 2] = ["http_req_duration", "http_req_service_duration"];

/// What the evaluator needs that the file holds encoded.
pub struct Decoded {
    /// Stats by key, indexed as the run's aggregator indexed them.
    pub keys: Vec<Stats>,
    /// Pacing by scenario.
    pub generator: Vec<GenStats>,
    /// The sink's figures with the end-to-end histogram decoded.
    pub delivery: Option<DeliveryReport>,
    /// Metric families the file does not hold the data for, by name prefix.
    absent: Vec<&'static str>,
    /// Read back from a killed run's files: only the latencies of
    /// responses, with no phase.
    recovered: bool,
}

impl Decoded {
    /// Rebuilds the keys from `result`'s atoms; an atom that names an
    /// endpoint, scenario or phase the roster does not have, or whose
    /// histograms do not decode, is an error naming it.
    pub fn of(result: &RunResult, roster: &Roster) -> Result<Decoded, String> {
        let n = roster.endpoints.len().max(1);
        let n_sc = roster.scenarios.len().max(1);
        let mut keys = vec![Stats::default(); roster.phases() * n_sc * n];
        for (i, atom) in result.stats.atoms.iter().enumerate() {
            let at = |what: &str| format!("stats.atoms[{i}]: {what}");
            let e = roster
                .endpoints
                .iter()
                .position(|name| *name == atom.endpoint)
                .ok_or_else(|| at(&format!("the plan has no endpoint \"{}\"", atom.endpoint)))?;
            let s = roster
                .scenarios
                .iter()
                .position(|sc| sc.name == atom.scenario)
                .ok_or_else(|| at(&format!("the plan has no scenario \"{}\"", atom.scenario)))?;
            let p = match (&atom.phase, roster.has_rollout) {
                (None, false) => 0,
                // A killed run's log has no phases: its atoms count in the
                // first phase's keys, and no `{phase:…}` check is judged.
                (None, true) if result.recovered.is_some() => 0,
                (Some(name), true) => Phase::from_name(name)
                    .ok_or_else(|| at(&format!("\"{name}\" is not a phase (head, rollout, tail)")))?
                    .index(),
                (Some(_), false) => return Err(at("a phase, but the plan has no [rollout]")),
                (None, true) => return Err(at("no phase, but the plan has a [rollout]")),
            };
            let stats = atom.stats().map_err(|e| at(&e))?;
            keys[(p * n_sc + s) * n + e].try_add(&stats).map_err(|e| at(&e))?;
        }
        let mut generator = vec![GenStats::default(); n_sc];
        let scenarios = result.generator.as_ref().map(|g| &g.scenarios);
        for (name, g) in scenarios.into_iter().flatten() {
            let s = roster
                .scenarios
                .iter()
                .position(|sc| sc.name == *name)
                .ok_or_else(|| format!("generator.scenarios: the plan has no scenario \"{name}\""))?;
            generator[s] = g.stats().map_err(|e| format!("generator.scenarios.{name}.{e}"))?;
        }
        let mut delivery = result.delivery.clone();
        if let Some(c) = delivery.as_mut().and_then(|d| d.correlation.as_mut())
            && let Some(hdr) = &c.hdr
        {
            c.hist = Hist::from_base64(hdr).map_err(|e| format!("delivery.correlation.hdr: {e}"))?;
        }
        let mut absent = Vec::new();
        if result.stats.atoms.is_empty() && result.stats.total.requests > 0 {
            absent.push("http_");
        }
        match &result.generator {
            Some(g) if g.scenarios.is_empty() && (g.scheduled_sends > 0 || g.dropped_sends > 0) => {
                absent.extend(["send_lag", "dropped_sends"]);
            }
            None => absent.extend(["send_lag", "dropped_sends"]),
            Some(_) => {}
        }
        if delivery
            .as_ref()
            .and_then(|d| d.correlation.as_ref())
            .is_some_and(|c| c.latency_ms.is_some() && c.hdr.is_none())
        {
            absent.push("delivery_duration");
        }
        Ok(Decoded {
            keys,
            generator,
            delivery,
            absent,
            recovered: result.recovered.is_some(),
        })
    }

    /// Whether the file holds what `selector` is computed from. A killed
    /// run's (`recovered`) holds only `http_req_duration` and
    /// `http_req_service_duration`, without a phase.
    pub fn holds(&self, selector: &MetricSelector) -> bool {
        let metric = selector.metric.name;
        if self.recovered {
            return RECOVERED.contains(&metric) && !selector.tags.iter().any(|(t, _)| *t == Tag::Phase);
        }
        !self.absent.iter().any(|prefix| metric.starts_with(prefix))
    }

    /// The evaluator's view of the file.
    pub fn view<'a>(&'a self, result: &'a RunResult, roster: &'a Roster) -> View<'a> {
        View {
            roster,
            keys: &self.keys,
            generator: &self.generator,
            duration_s: result.duration_s,
            phases: &result.phases,
            availability: result.availability.as_ref(),
            probes: &result.probes,
            zero_downtime: result.rollout.as_ref().and_then(|r| r.zero_downtime.as_ref()),
            delivery: self.delivery.as_ref(),
        }
    }
}
