//! A `[[fault]]`: its command at its offset, and its restore at its own.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::context::{Controller, secs};
use crate::metrics::deploy::Event;
use crate::plan::rollout::Fault;

/// What one fault produced.
pub(super) struct FaultRun {
    pub(super) events: Vec<Event>,
    pub(super) marks: Vec<(String, Duration)>,
    pub(super) outputs: Vec<(String, String, String)>,
}

/// Runs a fault at its offset, and its restore at its own.
pub(super) async fn run_fault(ctx: Arc<Controller>, f: Fault) -> FaultRun {
    let mut out = FaultRun {
        events: Vec::new(),
        marks: Vec::new(),
        outputs: Vec::new(),
    };
    let at = ctx.run_start + f.at;
    if !ctx.sleep_until(at).await {
        return out;
    }
    let started = Instant::now();
    out.marks
        .push((f.name.clone(), started.saturating_duration_since(ctx.run_start)));
    out.events.push(Event {
        kind: "fault".into(),
        name: f.name.clone(),
        at_s: secs(ctx.run_start, started),
        ok: None,
        detail: Some(ctx.redactor.redact(&f.run.run)),
    });
    // A fault command may run until its restore is due.
    let deadline = f.restore_at.map(|r| ctx.run_start + r);
    let done = ctx.command(&f.run, &f.name, deadline).await;
    out.events.push(Event {
        kind: "fault_end".into(),
        name: f.name.clone(),
        at_s: secs(ctx.run_start, done.ended_at),
        ok: Some(done.ok()),
        detail: Some(done.describe()),
    });
    out.outputs.push((f.name.clone(), "fault".into(), done.output));
    if let (Some(restore_at), Some(restore)) = (f.restore_at, &f.restore) {
        if !ctx.sleep_until(ctx.run_start + restore_at).await {
            return out;
        }
        let started = Instant::now();
        let done = ctx.command(restore, &format!("{}:restore", f.name), None).await;
        out.events.push(Event {
            kind: "restore".into(),
            name: f.name.clone(),
            at_s: secs(ctx.run_start, started),
            ok: Some(done.ok()),
            detail: Some(done.describe()),
        });
        out.outputs.push((f.name.clone(), "restore".into(), done.output));
    }
    out
}
