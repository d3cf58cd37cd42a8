//! The sink's counters, served as JSON at `/_sink/stats` and as Prometheus
//! text at `/_sink/metrics`, and recorded in `run.json`.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use serde::Serialize;

use crate::metrics::delivery::{Signatures, SinkLimits, SinkStats};

/// Live counters, updated per POST.
#[derive(Debug, Default)]
pub struct Counters {
    /// Every request to a delivery route.
    pub posts: AtomicU64,
    /// Bodies over the limit (answered 413).
    pub too_large: AtomicU64,
    /// Verified signatures.
    pub valid: AtomicU64,
    /// Signatures present but wrong (answered 401).
    pub invalid: AtomicU64,
    /// Signatures absent (answered 401).
    pub missing: AtomicU64,
    /// Bodies or ids that could not be read (answered 400).
    pub malformed: AtomicU64,
    /// Accepted deliveries (answered 2xx).
    pub accepted: AtomicU64,
    /// Accepted deliveries of an id already accepted.
    pub duplicates: AtomicU64,
    /// Programmed failures: statuses, resets and hangs.
    pub failed: AtomicU64,
    /// Of those, connection resets.
    pub resets: AtomicU64,
    /// Of those, hangs.
    pub hangs: AtomicU64,
}

/// What the sink's limits turned away, per connection.
#[derive(Debug, Default)]
pub struct Guards {
    /// Connections closed at once because `max_connections` were open.
    pub connections_refused: AtomicU64,
    /// Connections closed because no whole request head came within
    /// `header_timeout`.
    pub header_timeouts: AtomicU64,
    /// Connections open now.
    pub connections_open: AtomicU64,
}

/// The counters with what the limits turned away: what `/_sink/stats`
/// serves and `loadcheck sink` prints.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StatsView {
    /// The delivery counters (`run.json`'s `delivery.stats`).
    #[serde(flatten)]
    pub stats: SinkStats,
    /// New ids that the full ledger did not record (`max_ids`): answered
    /// as programmed, but not deduplicated.
    pub ids_over_cap: u64,
    /// Connections closed at once because `max_connections` were open.
    pub connections_refused: u64,
    /// Connections closed for sending no whole request head within
    /// `header_timeout`.
    pub header_timeouts: u64,
    /// Connections open when the figures were taken.
    pub connections_open: u64,
}

impl Guards {
    /// `stats` with these counters and the ledger's `ids_over_cap`.
    pub fn view(&self, stats: SinkStats, ids_over_cap: u64) -> StatsView {
        StatsView {
            stats,
            ids_over_cap,
            connections_refused: self.connections_refused.load(Relaxed),
            header_timeouts: self.header_timeouts.load(Relaxed),
            connections_open: self.connections_open.load(Relaxed),
        }
    }
}

impl StatsView {
    /// The counters of what the limits turned away, for `run.json`.
    pub fn limits(&self) -> SinkLimits {
        SinkLimits {
            ids_over_cap: self.ids_over_cap,
            connections_refused: self.connections_refused,
            header_timeouts: self.header_timeouts,
        }
    }

    /// Prometheus text exposition (version 0.0.4), the limits included.
    pub fn prometheus(&self) -> String {
        let mut out = self.stats.prometheus();
        for (name, kind, help, value) in [
            (
                "ids_over_cap_total",
                "counter",
                "New ids not recorded because the ledger held max_ids.",
                self.ids_over_cap,
            ),
            (
                "connections_refused_total",
                "counter",
                "Connections closed at once because max_connections were open.",
                self.connections_refused,
            ),
            (
                "header_timeouts_total",
                "counter",
                "Connections closed for sending no whole request head within header_timeout.",
                self.header_timeouts,
            ),
            (
                "connections_open",
                "gauge",
                "Connections open now.",
                self.connections_open,
            ),
        ] {
            let _ = writeln!(out, "# HELP loadcheck_sink_{name} {help}");
            let _ = writeln!(out, "# TYPE loadcheck_sink_{name} {kind}");
            let _ = writeln!(out, "loadcheck_sink_{name} {value}");
        }
        out
    }
}

impl Counters {
    /// Adds one to a counter.
    pub fn bump(c: &AtomicU64) {
        c.fetch_add(1, Relaxed);
    }

    /// The counters now.
    pub fn snapshot(&self, verified: bool, ids: u64) -> SinkStats {
        let (valid, invalid, missing) = (
            self.valid.load(Relaxed),
            self.invalid.load(Relaxed),
            self.missing.load(Relaxed),
        );
        let checked = valid + invalid + missing;
        SinkStats {
            posts: self.posts.load(Relaxed),
            too_large: self.too_large.load(Relaxed),
            signatures: Signatures {
                verified,
                valid,
                invalid,
                missing,
                rate: (verified && checked > 0).then(|| valid as f64 / checked as f64),
            },
            malformed: self.malformed.load(Relaxed),
            accepted: self.accepted.load(Relaxed),
            duplicates: self.duplicates.load(Relaxed),
            failed: self.failed.load(Relaxed),
            resets: self.resets.load(Relaxed),
            hangs: self.hangs.load(Relaxed),
            ids,
        }
    }
}

impl SinkStats {
    /// Prometheus text exposition (version 0.0.4).
    pub fn prometheus(&self) -> String {
        let mut out = String::new();
        let mut counter = |name: &str, help: &str, value: u64| {
            let _ = writeln!(out, "# HELP loadcheck_sink_{name} {help}");
            let _ = writeln!(out, "# TYPE loadcheck_sink_{name} counter");
            let _ = writeln!(out, "loadcheck_sink_{name} {value}");
        };
        counter("posts_total", "Requests to delivery routes.", self.posts);
        counter(
            "too_large_total",
            "Bodies over the limit, answered 413.",
            self.too_large,
        );
        counter(
            "malformed_total",
            "Bodies or ids that could not be read, answered 400.",
            self.malformed,
        );
        counter("accepted_total", "Deliveries answered 2xx.", self.accepted);
        counter(
            "duplicates_total",
            "Accepted deliveries of an id already accepted.",
            self.duplicates,
        );
        counter(
            "failed_total",
            "Programmed failures (status, reset or hang).",
            self.failed,
        );
        counter("resets_total", "Programmed connection resets.", self.resets);
        counter("hangs_total", "Programmed hangs.", self.hangs);
        let _ = writeln!(
            out,
            "# HELP loadcheck_sink_signatures_total Signature checks by result."
        );
        let _ = writeln!(out, "# TYPE loadcheck_sink_signatures_total counter");
        for (result, n) in [
            ("valid", self.signatures.valid),
            ("invalid", self.signatures.invalid),
            ("missing", self.signatures.missing),
        ] {
            let _ = writeln!(out, "loadcheck_sink_signatures_total{{result=\"{result}\"}} {n}");
        }
        let _ = writeln!(out, "# HELP loadcheck_sink_ids Distinct delivery ids seen.");
        let _ = writeln!(out, "# TYPE loadcheck_sink_ids gauge");
        let _ = writeln!(out, "loadcheck_sink_ids {}", self.ids);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_text_is_well_formed() {
        let c = Counters::default();
        Counters::bump(&c.posts);
        Counters::bump(&c.valid);
        Counters::bump(&c.missing);
        let s = c.snapshot(true, 1);
        assert_eq!(s.signatures.rate, Some(0.5));
        let g = Guards::default();
        Counters::bump(&g.header_timeouts);
        let text = g.view(s, 7).prometheus();
        assert!(text.contains("loadcheck_sink_posts_total 1\n"), "{text}");
        assert!(text.contains("loadcheck_sink_ids_over_cap_total 7\n"), "{text}");
        assert!(text.contains("loadcheck_sink_header_timeouts_total 1\n"), "{text}");
        assert!(
            text.contains("loadcheck_sink_signatures_total{result=\"missing\"} 1\n"),
            "{text}"
        );
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (name, value) = line.rsplit_once(' ').unwrap();
            assert!(name.starts_with("loadcheck_sink_"), "{line}");
            value.parse::<f64>().unwrap();
        }
    }
}
