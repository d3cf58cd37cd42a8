//! The reliability table's rows, and their "Validated" cell: what tested
//! a requirement, built from what the run recorded (the scenarios that
//! actually sent to its selector and their load, the phase, the rollout's
//! trigger, a fault's name, a probe), never from free text.

use serde::Serialize;

use crate::metrics::RunResult;
use crate::metrics::judge::{covering, load};
use crate::plan::MetricSelector;
use crate::plan::expr::parse_check;
use crate::plan::record::PlanRecord;
use crate::plan::registry::Tag;
use crate::plan::units;

/// A row of the reliability table.
#[derive(Debug, Clone, Serialize)]
pub struct RequirementRow {
    /// The requirement's name.
    pub name: String,
    /// Its target, as the plan wrote it.
    pub target: String,
    /// What tested it, short: the scenarios that sent to its selector and
    /// their load, the phase, the rollout's trigger, the fault.
    pub validated: String,
    /// The long form, as `run.json` records it.
    pub validated_long: String,
    /// `✓ p(95) 8.02 ms`, with its unit.
    pub result: String,
    /// The measured value alone, with its unit.
    pub measured: String,
    /// Whether it holds.
    pub ok: bool,
    /// The plan's note.
    pub note: Option<String>,
    /// The check as written.
    pub check: String,
}

/// The most scenarios a short "Validated" names before `+ N more`.
const NAMED: usize = 2;

pub(super) fn requirements(r: &RunResult, record: Option<&PlanRecord>) -> Vec<RequirementRow> {
    r.requirements
        .iter()
        .map(|q| {
            let parsed = parse_check(&q.check).ok();
            let parts = parsed.as_ref().map(|(s, c)| (s.metric, c.aggregation));
            let measured = if q.not_in_file {
                "not in this file".to_string()
            } else {
                units::measured(parts, q.value)
            };
            let validated = match (&parsed, record) {
                (Some((sel, _)), Some(rec)) => short(r, rec, sel),
                _ => q.validated.clone(),
            };
            RequirementRow {
                name: q.name.clone(),
                target: q.target.clone(),
                validated,
                validated_long: q.validated.clone(),
                result: format!("{} {measured}", if q.ok { "✓" } else { "✗" }),
                measured,
                ok: q.ok,
                note: q.note.clone(),
                check: q.check.clone(),
            }
        })
        .collect()
}

/// The short "Validated": `steady (200 req/s)`, `rollout (version header):
/// steady (200 req/s) + browse (5 VUs)`, `fault redis-kill`.
fn short(r: &RunResult, record: &PlanRecord, sel: &MetricSelector) -> String {
    let tag = |want: Tag| sel.tags.iter().find(|(t, _)| *t == want).map(|(_, v)| v.as_str());
    let metric = sel.metric.name;
    let trigger = r
        .rollout
        .as_ref()
        .map(|ro| format!("rollout ({})", ro.trigger.trigger.replace('_', " ")));
    match metric {
        "rto_seconds" | "time_to_detect_seconds" => {
            let events: Vec<String> = match tag(Tag::Event) {
                Some("rollout") => trigger.into_iter().collect(),
                Some(name) => vec![format!("fault {name}")],
                None => trigger
                    .into_iter()
                    .chain(record.faults.iter().map(|f| format!("fault {}", f.name)))
                    .collect(),
            };
            return if events.is_empty() {
                "no rollout or fault event".into()
            } else {
                events.join(", ")
            };
        }
        "probe_down_seconds" => {
            return match tag(Tag::Probe) {
                Some(name) => format!("probe {name}"),
                None => {
                    let names: Vec<&str> = record.probes.iter().map(|p| p.name.as_str()).collect();
                    format!("probe{} {}", if names.len() == 1 { "" } else { "s" }, names.join(", "))
                }
            };
        }
        _ => {}
    }
    let roster = record.roster();
    let scenarios: Vec<String> = covering(&roster, sel)
        .iter()
        .map(|s| format!("{} ({})", s.name, load(&s.executor)))
        .collect();
    let mut text = match scenarios.len() {
        0 => "no scenario sent to it".to_string(),
        n if n <= NAMED => scenarios.join(" + "),
        n => format!("{} + {} more", scenarios[..NAMED].join(" + "), n - NAMED),
    };
    if metric.starts_with("delivery_") {
        text.push_str(" → sink");
    }
    let phase =
        tag(Tag::Phase).or(matches!(metric, "rollout_failed_requests" | "rollout_reset_requests").then_some("rollout"));
    match (phase, trigger) {
        (Some("rollout"), Some(trigger)) => format!("{trigger}: {text}"),
        (Some(phase), _) => format!("{phase} phase: {text}"),
        (None, _) => text,
    }
}
