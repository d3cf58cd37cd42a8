//! What the rollout controller and the engine share while the run is live:
//! the current phase, which every request is tagged with when it is
//! prepared, and the table of app versions seen in responses. It lives in
//! `metrics`, below both, because the recorder keys every sample by phase
//! and version.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use serde::Serialize;

/// A deployment window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Before the rollout.
    Head,
    /// While it runs.
    Rollout,
    /// After it.
    Tail,
}

impl Phase {
    /// Every phase, in order; a phase's index is its position here.
    pub const ALL: [Phase; 3] = [Phase::Head, Phase::Rollout, Phase::Tail];

    /// Its name in tags and `run.json`.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Head => "head",
            Phase::Rollout => "rollout",
            Phase::Tail => "tail",
        }
    }

    /// Looks a phase up by name.
    pub fn from_name(name: &str) -> Option<Phase> {
        Phase::ALL.into_iter().find(|p| p.name() == name)
    }

    /// Its index in [`Phase::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// The most distinct versions tracked; later ones are counted as the last.
pub const MAX_VERSIONS: usize = 16;

/// The phase and the versions seen, shared by the engine's workers and the
/// rollout controller.
pub struct Live {
    phase: AtomicU8,
    /// The version header, when the plan sets one.
    pub version_header: Option<http::HeaderName>,
    versions: VersionTable,
}

impl Live {
    /// Starts in the head phase.
    pub fn new(version_header: Option<&str>) -> Self {
        Live {
            phase: AtomicU8::new(0),
            version_header: version_header.and_then(|h| http::HeaderName::from_bytes(h.as_bytes()).ok()),
            versions: VersionTable::default(),
        }
    }

    /// The current phase.
    #[inline]
    pub fn phase(&self) -> Phase {
        Phase::ALL[usize::from(self.phase.load(Ordering::Relaxed)).min(2)]
    }

    /// Moves to `phase`.
    pub fn set_phase(&self, phase: Phase) {
        self.phase.store(phase as u8, Ordering::Relaxed);
    }

    /// The version table.
    pub fn versions(&self) -> &VersionTable {
        &self.versions
    }
}

/// Version strings and when each was first and last seen (ms since the
/// run's start, by response time).
pub struct VersionTable {
    names: Mutex<Vec<String>>,
    first_ms: [AtomicU64; MAX_VERSIONS],
    last_ms: [AtomicU64; MAX_VERSIONS],
}

impl Default for VersionTable {
    fn default() -> Self {
        VersionTable {
            names: Mutex::new(Vec::new()),
            first_ms: std::array::from_fn(|_| AtomicU64::new(u64::MAX)),
            last_ms: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

/// One version as seen so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionSpan {
    /// The header's value.
    pub version: String,
    /// First response carrying it, ms since the run's start.
    pub first_ms: u64,
    /// Last response carrying it.
    pub last_ms: u64,
}

impl VersionTable {
    /// The id of a version string, adding it if new. Values past
    /// [`MAX_VERSIONS`] share the last id.
    pub fn intern(&self, value: &str) -> usize {
        let mut names = self.names.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = names.iter().position(|n| n == value) {
            return i;
        }
        if names.len() < MAX_VERSIONS - 1 {
            names.push(value.to_string());
            names.len() - 1
        } else {
            if names.len() == MAX_VERSIONS - 1 {
                names.push("(other)".to_string());
            }
            MAX_VERSIONS - 1
        }
    }

    /// The name of version `id`.
    pub fn name(&self, id: usize) -> Option<String> {
        self.names.lock().unwrap_or_else(|e| e.into_inner()).get(id).cloned()
    }

    /// Records that version `id` was seen at `ms`.
    #[inline]
    pub fn seen(&self, id: usize, ms: u64) {
        self.first_ms[id].fetch_min(ms, Ordering::Relaxed);
        self.last_ms[id].fetch_max(ms, Ordering::Relaxed);
    }

    /// Every version seen, in order of first appearance.
    pub fn snapshot(&self) -> Vec<VersionSpan> {
        let names = self.names.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let mut out: Vec<VersionSpan> = names
            .into_iter()
            .enumerate()
            .filter_map(|(i, version)| {
                let first_ms = self.first_ms[i].load(Ordering::Relaxed);
                (first_ms != u64::MAX).then(|| VersionSpan {
                    version,
                    first_ms,
                    last_ms: self.last_ms[i].load(Ordering::Relaxed),
                })
            })
            .collect();
        out.sort_by_key(|s| s.first_ms);
        out
    }
}

/// How long at least two versions served at once: the total length of the
/// time covered by two or more of the `[first, last]` intervals, in ms.
pub fn overlap_ms(seen: &[VersionSpan]) -> u64 {
    let mut edges: Vec<(u64, i32)> = seen.iter().flat_map(|s| [(s.first_ms, 1), (s.last_ms, -1)]).collect();
    edges.sort_by_key(|&(t, d)| (t, -d));
    let (mut depth, mut since, mut total) = (0i32, 0u64, 0u64);
    for (t, d) in edges {
        if depth >= 2 {
            total += t - since;
        }
        depth += d;
        since = t;
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(v: &str, a: u64, b: u64) -> VersionSpan {
        VersionSpan {
            version: v.into(),
            first_ms: a,
            last_ms: b,
        }
    }

    #[test]
    fn interns_and_tracks_first_and_last() {
        let t = VersionTable::default();
        let a = t.intern("v1");
        let b = t.intern("v2");
        assert_eq!((a, b, t.intern("v1")), (0, 1, 0));
        t.seen(b, 900);
        t.seen(a, 100);
        t.seen(a, 1000);
        t.seen(b, 2000);
        let s = t.snapshot();
        assert_eq!(s, vec![seen("v1", 100, 1000), seen("v2", 900, 2000)]);
        for i in 0..40 {
            t.intern(&format!("x{i}"));
        }
        assert_eq!(t.intern("x39"), MAX_VERSIONS - 1);
        assert_eq!(t.name(MAX_VERSIONS - 1).as_deref(), Some("(other)"));
    }

    #[test]
    fn overlap_counts_time_with_two_or_more() {
        assert_eq!(overlap_ms(&[seen("v1", 0, 1000), seen("v2", 900, 2000)]), 100);
        assert_eq!(overlap_ms(&[seen("v1", 0, 1000), seen("v2", 1000, 2000)]), 0);
        assert_eq!(overlap_ms(&[seen("v1", 0, 5000)]), 0);
        assert_eq!(
            overlap_ms(&[seen("a", 0, 100), seen("b", 50, 300), seen("c", 60, 70)]),
            50
        );
    }

    #[test]
    fn phases_move() {
        let l = Live::new(Some("X-App-Version"));
        assert_eq!(l.phase(), Phase::Head);
        l.set_phase(Phase::Tail);
        assert_eq!(l.phase(), Phase::Tail);
        assert_eq!(l.version_header.as_ref().map(|h| h.as_str()), Some("x-app-version"));
        assert_eq!(Phase::from_name("rollout"), Some(Phase::Rollout));
    }
}
