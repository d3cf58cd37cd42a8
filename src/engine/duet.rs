//! Duet: every request goes to the target and to a baseline target at the
//! same time, so that both see the same runner noise.
//!
//! One schedule and one random stream drive both sides. Each send (open
//! model) or iteration (closed model) is rendered once per side from the
//! same draws and the same clock reading ([`Exchange::prepare`]), and is
//! sent to each side on that side's own connections, with the same
//! intended time. Each side records into a recorder and an aggregator of
//! its own, so the two are measured completely apart: their own
//! histograms, errors, timeline, `timeline.hlog` and pacing, each
//! corrected for coordinated omission against the same intended times.
//!
//! Why one engine and not two: two engines seeded alike would drift apart
//! at the first send one of them drops (its random stream stops
//! advancing) and, in the closed model, at the first answer one of them
//! waits longer for; then the two would no longer see the same requests
//! at the same times.

use std::sync::Arc;

use tokio::sync::mpsc::UnboundedReceiver;

use super::exchange::Exchange;
use crate::metrics::live::Live;
use crate::metrics::{Aggregator, Delta};

/// The baseline target's side of a duet: its requests and its live state.
pub struct Peer {
    /// Sends the baseline target's requests.
    pub exchange: Exchange,
    /// Its version table (its own: no rollout runs beside a duet).
    pub live: Arc<Live>,
}

/// The coordinator's view of the baseline side: its deltas and its
/// aggregator.
pub(super) struct PeerAgg {
    /// The baseline side's aggregator.
    pub agg: Aggregator,
    rx: UnboundedReceiver<Delta>,
    /// Workers whose baseline recorder has finished.
    finished: usize,
    /// The channel is still open.
    open: bool,
}

impl PeerAgg {
    pub(super) fn new(agg: Aggregator, rx: UnboundedReceiver<Delta>) -> Self {
        PeerAgg {
            agg,
            rx,
            finished: 0,
            open: true,
        }
    }

    /// Whether deltas are still to come from some of `n_workers` workers.
    pub(super) fn pending(&self, n_workers: usize) -> bool {
        self.open && self.finished < n_workers
    }

    /// The next delta; `None` once the channel is closed.
    pub(super) async fn recv(&mut self) -> Option<Delta> {
        self.rx.recv().await
    }

    /// Applies a delta, or notes the channel closed.
    pub(super) fn apply(&mut self, delta: Option<Delta>) {
        match delta {
            Some(d) => {
                self.finished += usize::from(d.done);
                self.agg.apply(d);
            }
            None => self.open = false,
        }
    }
}
