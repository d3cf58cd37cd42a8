//! The exact merge of a distributed run's shards (`loadcheck merge`).
//!
//! - **Statistics** are added, not averaged: each scenario × endpoint ×
//!   phase atom's histograms are summed bucket by bucket and its counters
//!   added, and every view (total, endpoint, scenario, phase) is summed
//!   again from the merged atoms, so the merged percentiles are those of
//!   the union of all shards' samples, within HDR precision.
//! - **Seconds** are aligned by wall clock: a shard's second `s` is the
//!   merged run's second `s + round((its start − the earliest start) / 1 s)`,
//!   and each merged second's histograms are the sum of the shards'
//!   histograms of that second from their `timeline.hlog`.
//! - **Pacing** adds scheduled, dropped and late sends and the send-lag
//!   histograms.
//! - What needs each request's outcome or watched the rollout (phases,
//!   events, the rollout, availability, probes, versions, delivery) cannot
//!   be summed: it is taken from the lowest shard that has it, and the
//!   merged run's `metadata.merged.not_merged` says so.

use std::collections::BTreeMap;

use super::hist::{Hist, Latency};
use super::hlog::Cell;
use super::hlog_read::{Log, Seconds};
use super::result::{
    Generator, MergedRecord, RunResult, RunStatus, ScenarioGenerator, ScenarioLoad, StatsSet, TimelineRow,
};
use super::stats::Stats;
use crate::plan::roster::Roster;

/// One shard to merge: its result and its per-second histograms.
pub struct ShardInput {
    /// The shard's `run.json`.
    pub result: RunResult,
    /// Its `timeline.hlog`.
    pub log: Log,
}

/// The earliest start of `shards`, unix ms: the merged run's start, which
/// its `timeline.hlog` is written from.
pub fn start_ms(shards: &[ShardInput]) -> i64 {
    shards.iter().map(|s| s.result.started_at_ms).min().unwrap_or(0)
}

/// Merges `shards` (sorted by shard index, at least one) of the plan whose
/// roster is `roster`; `count` is how many shards the plan was split into.
/// Each merged second's histograms (indexed `scenario * endpoints +
/// endpoint`) go to `write_second` as they are summed, one second in
/// memory at a time. The result is not judged: that is the caller's.
pub fn merge(
    shards: Vec<ShardInput>,
    roster: &Roster,
    count: u32,
    write_second: &mut dyn FnMut(u64, &[Cell]) -> std::io::Result<()>,
) -> Result<RunResult, String> {
    let first = shards.first().ok_or("no shard to merge")?;
    let n = roster.endpoints.len().max(1);
    let n_sc = roster.scenarios.len().max(1);
    let n_keys = roster.phases() * n_sc * n;
    let start_ms = start_ms(&shards);
    let end_ms = shards
        .iter()
        .map(|s| s.result.started_at_ms as f64 + s.result.duration_s * 1000.0)
        .fold(f64::MIN, f64::max);
    let duration_s = ((end_ms - start_ms as f64) / 1000.0).max(0.0);
    let offset_of = |r: &RunResult| ((r.started_at_ms - start_ms) as f64 / 1000.0).round() as u64;

    // The atoms, summed by key.
    let mut keys = vec![Stats::default(); n_keys];
    for shard in &shards {
        let decoded = super::readback::Decoded::of(&shard.result, roster)?;
        for (k, s) in decoded.keys.iter().enumerate() {
            keys[k] += s;
        }
    }
    let phases = first.result.phases.clone();
    let stats = StatsSet::of_keys(&keys, roster, &phases, duration_s);

    // Each shard's intervals, by merged second (the logs are in time order).
    let mut seconds = Seconds::new(
        shards.iter().map(|s| s.log.intervals.as_slice()).collect(),
        roster,
        start_ms,
    );
    let last_logged = seconds.last().unwrap_or(0);

    // The rows: counts added by aligned second, percentiles from the
    // merged histograms.
    let mut total_rows: BTreeMap<u64, TimelineRow> = BTreeMap::new();
    let mut endpoint_rows: BTreeMap<String, BTreeMap<u64, TimelineRow>> = BTreeMap::new();
    let add_row = |into: &mut TimelineRow, row: &TimelineRow| {
        into.requests += row.requests;
        into.ok += row.ok;
        for (class, n) in &row.errors {
            *into.errors.entry(class.clone()).or_default() += n;
        }
        for (v, n) in &row.versions {
            *into.versions.entry(v.clone()).or_default() += n;
        }
        for (sc, load) in &row.load {
            let merged = match (into.load.get(sc), load) {
                (Some(ScenarioLoad::Scheduled(a)), ScenarioLoad::Scheduled(b)) => ScenarioLoad::Scheduled(a + b),
                (Some(ScenarioLoad::Vus(a)), ScenarioLoad::Vus(b)) => ScenarioLoad::Vus(a + b),
                (_, l) => *l,
            };
            into.load.insert(sc.clone(), merged);
        }
        if into.probes.is_empty() {
            into.probes = row.probes.clone();
        }
    };
    let blank = TimelineRow::empty;
    for shard in &shards {
        let offset = offset_of(&shard.result);
        for row in &shard.result.timeline.total {
            let second = row.second + offset;
            add_row(total_rows.entry(second).or_insert_with(|| blank(second)), row);
        }
        for (ep, rows) in &shard.result.timeline.endpoints {
            let merged = endpoint_rows.entry(ep.clone()).or_default();
            for row in rows {
                let second = row.second + offset;
                add_row(merged.entry(second).or_insert_with(|| blank(second)), row);
            }
        }
    }
    // One second at a time: the shards' intervals of the second summed
    // into cells, written out, and the rows' percentiles taken from them;
    // only one second's histograms are in memory.
    let last = total_rows.keys().copied().max().unwrap_or(0).max(last_logged);
    let mut total = Vec::new();
    let mut endpoint_out: Vec<Vec<TimelineRow>> = vec![Vec::new(); roster.endpoints.len()];
    for second in 0..=last {
        let (cells, any) = seconds.take(second);
        if any {
            write_second(second, &cells).map_err(|e| format!("writing the merged timeline.hlog: {e}"))?;
        }
        let (all, by_endpoint) = Cell::durations(&cells, roster.endpoints.len());
        let mut row = total_rows.remove(&second).unwrap_or_else(|| blank(second));
        row.set_percentiles(&all);
        total.push(row);
        for ((ep, h), out) in roster.endpoints.iter().zip(&by_endpoint).zip(&mut endpoint_out) {
            let mut row = endpoint_rows
                .get_mut(ep)
                .and_then(|rows| rows.remove(&second))
                .unwrap_or_else(|| blank(second));
            row.set_percentiles(h);
            out.push(row);
        }
    }
    let endpoints: BTreeMap<String, Vec<TimelineRow>> = roster.endpoints.iter().cloned().zip(endpoint_out).collect();

    // Pacing.
    let mut per_scenario: BTreeMap<String, super::recorder::GenStats> = BTreeMap::new();
    // A shard whose file has no pacing (a killed one) leaves the merge
    // without it.
    let all_paced = shards.iter().all(|s| s.result.generator.is_some());
    let mut generator = Generator {
        scheduled_sends: 0,
        dropped_sends: 0,
        late_sends: 0,
        late_after_ms: first.result.generator.as_ref().map_or(0.0, |g| g.late_after_ms),
        send_lag_ms: None,
        scenarios: BTreeMap::new(),
    };
    for shard in &shards {
        let Some(g) = &shard.result.generator else { continue };
        generator.scheduled_sends += g.scheduled_sends;
        generator.dropped_sends += g.dropped_sends;
        generator.late_sends += g.late_sends;
        for (name, sg) in &g.scenarios {
            let st = sg.stats().map_err(|e| format!("generator.scenarios.{name}.{e}"))?;
            let into = per_scenario.entry(name.clone()).or_default();
            into.scheduled += st.scheduled;
            into.dropped += st.dropped;
            into.late += st.late;
            into.lag += &st.lag;
        }
    }
    let mut all_lag = Hist::default();
    for (name, st) in &per_scenario {
        all_lag += &st.lag;
        generator.scenarios.insert(name.clone(), ScenarioGenerator::of(st));
    }
    generator.send_lag_ms = Latency::of(&all_lag);

    // What cannot be summed comes from the lowest shard that has it.
    let mut not_merged = Vec::new();
    let index_of = |r: &RunResult| r.metadata.shard.as_ref().map_or(0, |s| s.index);
    macro_rules! taken {
        ($field:ident, $name:literal, $present:expr) => {{
            let from = shards.iter().find(|s| $present(&s.result.$field));
            if let Some(s) = from {
                not_merged.push(format!("{}: shard {}", $name, index_of(&s.result)));
            }
            from.map(|s| s.result.$field.clone())
        }};
    }
    let rollout = taken!(rollout, "rollout", |r: &Option<_>| r.is_some()).flatten();
    let availability = taken!(availability, "availability", |a: &Option<_>| a.is_some()).flatten();
    let versions = taken!(versions, "versions", |v: &Option<_>| v.is_some()).flatten();
    let probes = taken!(probes, "probes", |p: &Vec<_>| !p.is_empty()).unwrap_or_default();
    // The delivery log is the shard's own file, not copied into the merge.
    let delivery = taken!(delivery, "delivery", |d: &Option<_>| d.is_some()).flatten().map(
        |mut d: super::delivery::DeliveryReport| {
            if let Some(c) = d.correlation.as_mut() {
                c.interval_log = None;
            }
            d
        },
    );
    let events = taken!(events, "events", |e: &Vec<_>| !e.is_empty()).unwrap_or_default();
    if !phases.is_empty() {
        not_merged.push(format!("phases: shard {}", index_of(&first.result)));
    }

    let mut metadata = first.result.metadata.clone();
    let shard_record = metadata.shard.take().ok_or("the first shard has no metadata.shard")?;
    metadata.workers = shards.iter().map(|s| s.result.metadata.workers).sum();
    metadata.merged = Some(MergedRecord {
        count,
        shards: shards.iter().map(|s| index_of(&s.result)).collect(),
        partial: shards.len() < count as usize,
        not_merged,
    });
    let aborted = shards.iter().find(|s| s.result.status == RunStatus::Aborted);
    let result = RunResult {
        schema: first.result.schema.clone(),
        plan: shard_record.plan,
        plan_fingerprint: first.result.plan_fingerprint.clone(),
        id: first.result.id.clone(),
        started_at: shards
            .iter()
            .min_by_key(|s| s.result.started_at_ms)
            .map_or_else(String::new, |s| s.result.started_at.clone()),
        started_at_ms: start_ms,
        duration_s,
        status: if aborted.is_some() {
            RunStatus::Aborted
        } else {
            RunStatus::Completed
        },
        abort: aborted.and_then(|s| s.result.abort.clone()),
        verdict: None,
        metadata,
        stats,
        timeline: super::result::Timeline {
            resolution_s: 1,
            approximate_percentiles: false,
            total,
            endpoints,
            interval_log: None,
        },
        generator: all_paced.then_some(generator),
        thresholds: Vec::new(),
        requirements: Vec::new(),
        phases,
        events,
        rollout,
        availability,
        versions,
        probes,
        commands: Vec::new(),
        setup: first.result.setup.clone(),
        delivery,
        duet: None,
        imported: None,
        recovered: None,
    };
    Ok(result)
}
