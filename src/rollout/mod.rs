//! The rollout: head, rollout and tail phases and what marks them; faults;
//! probes; and the availability analysis.
//!
//! The controller runs beside the engine. It fires or watches the trigger,
//! moves the phase every request is tagged with, runs faults at their
//! offsets, and tells the engine when the tail is over.

pub(crate) mod command;
mod context;
pub(crate) mod controller;
mod fault;
pub mod github;
pub mod probe;
mod trigger;

use std::time::Instant;

/// What a trigger or watcher reports to the controller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TriggerEvent {
    /// The rollout began (observed at `at`).
    Started {
        /// When it was observed.
        at: Instant,
        /// For people: what was seen (a run's URL, a deployment's id and
        /// GitHub's timestamp).
        detail: String,
    },
    /// The rollout ended.
    Finished {
        /// When it was observed.
        at: Instant,
        /// Whether it succeeded.
        ok: bool,
        /// For people: the conclusion or final state.
        detail: String,
    },
}
