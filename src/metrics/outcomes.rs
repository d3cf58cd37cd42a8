//! The outcome log: how many requests succeeded and failed in each
//! millisecond of the run, by intended send time. Availability (outages,
//! downtime, RTO) is computed from it rather than from per-second buckets.
//!
//! Memory follows the run's length, not its rate, and only what happened
//! is stored: each second that had a success gets one block of 1,000 `u16`
//! success counts (2 KB), and a block of failure counts exists only for a
//! second that had a failure. A run that fails nothing costs 2 KB per
//! second per worker (7 MB an hour); each block is allocated once and never
//! moved, so nothing is copied or left behind as the run grows. Counts
//! saturate at 65,535 per millisecond.

/// Milliseconds per block.
const BLOCK: usize = 1000;

type Block = Box<[u16; BLOCK]>;

/// Successes and failures per millisecond since the run's start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutcomeLog {
    /// Success counts, one block per second (`None`: no success in it).
    ok: Vec<Option<Block>>,
    /// Failure counts, one block per second (`None`: no failure in it).
    failed: Vec<Option<Block>>,
}

/// Adds `n` to the count at `ms` in `blocks`, allocating its block if need be.
#[inline]
fn bump(blocks: &mut Vec<Option<Block>>, ms: u64, n: u64) {
    let (b, i) = ((ms / BLOCK as u64) as usize, (ms % BLOCK as u64) as usize);
    if b >= blocks.len() {
        blocks.resize_with(b + 1, || None);
    }
    let block = blocks[b].get_or_insert_with(|| Box::new([0; BLOCK]));
    block[i] = block[i].saturating_add(u16::try_from(n).unwrap_or(u16::MAX));
}

/// The count at `ms` in `blocks`.
#[inline]
fn count(blocks: &[Option<Block>], ms: u64) -> u64 {
    let (b, i) = (ms / BLOCK as u64, (ms % BLOCK as u64) as usize);
    usize::try_from(b)
        .ok()
        .and_then(|b| blocks.get(b))
        .and_then(Option::as_ref)
        .map_or(0, |block| u64::from(block[i]))
}

/// The last millisecond with a nonzero count.
fn last(blocks: &[Option<Block>]) -> Option<u64> {
    blocks.iter().enumerate().rev().find_map(|(b, block)| {
        let i = block.as_ref()?.iter().rposition(|&n| n > 0)?;
        Some((b * BLOCK + i) as u64)
    })
}

fn merge_blocks(into: &mut Vec<Option<Block>>, from: &[Option<Block>]) {
    if from.len() > into.len() {
        into.resize_with(from.len(), || None);
    }
    for (a, b) in into.iter_mut().zip(from) {
        if let Some(b) = b {
            let a = a.get_or_insert_with(|| Box::new([0; BLOCK]));
            for (x, y) in a.iter_mut().zip(b.iter()) {
                *x = x.saturating_add(*y);
            }
        }
    }
}

impl OutcomeLog {
    /// Records one request meant to be sent `ms` milliseconds after the
    /// run's start.
    #[inline]
    pub fn record(&mut self, ms: u64, ok: bool) {
        bump(if ok { &mut self.ok } else { &mut self.failed }, ms, 1);
    }

    /// Adds `ok` successes and `failed` failures at `ms`.
    #[cfg(test)]
    pub(crate) fn add(&mut self, ms: u64, ok: u64, failed: u64) {
        if ok > 0 {
            bump(&mut self.ok, ms, ok);
        }
        if failed > 0 {
            bump(&mut self.failed, ms, failed);
        }
    }

    /// Adds another worker's log.
    pub fn merge(&mut self, other: &OutcomeLog) {
        merge_blocks(&mut self.ok, &other.ok);
        merge_blocks(&mut self.failed, &other.failed);
    }

    /// Successes at `ms`.
    #[inline]
    pub fn ok_at(&self, ms: u64) -> u64 {
        count(&self.ok, ms)
    }

    /// Failures at `ms`.
    #[inline]
    pub fn failed_at(&self, ms: u64) -> u64 {
        count(&self.failed, ms)
    }

    /// Milliseconds covered: whole seconds up to the last one with a block.
    pub fn len(&self) -> usize {
        self.ok.len().max(self.failed.len()) * BLOCK
    }

    /// The last millisecond with a recorded request.
    pub fn last_recorded(&self) -> Option<u64> {
        last(&self.ok).max(last(&self.failed))
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.last_recorded().is_none()
    }

    /// The milliseconds with at least one failure, in order.
    pub fn failures(&self) -> impl Iterator<Item = u64> + '_ {
        self.failed.iter().enumerate().flat_map(|(b, block)| {
            block
                .iter()
                .flat_map(|block| block.iter().enumerate())
                .filter(|&(_, &n)| n > 0)
                .map(move |(i, _)| (b * BLOCK + i) as u64)
        })
    }

    /// The first millisecond at or after `from` with a failure.
    pub fn first_failure_from(&self, from: u64) -> Option<u64> {
        let first_block = usize::try_from(from / BLOCK as u64).ok()?;
        self.failed.iter().enumerate().skip(first_block).find_map(|(b, block)| {
            let block = block.as_ref()?;
            let skip = if b == first_block {
                (from % BLOCK as u64) as usize
            } else {
                0
            };
            let i = block[skip..].iter().position(|&n| n > 0)?;
            Some((b * BLOCK + skip + i) as u64)
        })
    }

    /// Sets the counts at `ms` (tests build logs with it).
    #[cfg(test)]
    pub(crate) fn set(&mut self, ms: u64, ok: u16, failed: u16) {
        bump(&mut self.ok, ms, 0);
        bump(&mut self.failed, ms, 0);
        let (b, i) = ((ms / BLOCK as u64) as usize, (ms % BLOCK as u64) as usize);
        self.ok[b].as_mut().expect("allocated above")[i] = ok;
        self.failed[b].as_mut().expect("allocated above")[i] = failed;
    }

    /// Bytes held by the counts (for the memory test).
    #[cfg(test)]
    fn heap_bytes(&self) -> usize {
        let blocks = self.ok.iter().chain(&self.failed).filter(|b| b.is_some()).count();
        blocks * BLOCK * 2 + (self.ok.capacity() + self.failed.capacity()) * std::mem::size_of::<Option<Block>>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_merges() {
        let mut a = OutcomeLog::default();
        a.record(5, true);
        a.record(5, false);
        a.record(1500, true);
        assert_eq!(a.len(), 2000);
        assert_eq!(a.last_recorded(), Some(1500));
        let mut b = OutcomeLog::default();
        b.record(5, false);
        b.record(2999, false);
        a.merge(&b);
        assert_eq!((a.ok_at(5), a.failed_at(5)), (1, 2));
        assert_eq!((a.ok_at(1500), a.failed_at(2999)), (1, 1));
        assert_eq!(a.failed_at(1_000_000), 0);
        assert_eq!(a.failures().collect::<Vec<_>>(), vec![5, 2999]);
        assert_eq!(a.first_failure_from(6), Some(2999));
        assert_eq!(a.first_failure_from(5), Some(5));
        assert_eq!(a.first_failure_from(3000), None);
        assert!(!a.is_empty());
        assert!(OutcomeLog::default().is_empty());
    }

    #[test]
    fn counts_saturate() {
        let mut a = OutcomeLog::default();
        a.add(7, 70_000, 0);
        a.record(7, true);
        assert_eq!(a.ok_at(7), 65_535);
    }

    #[test]
    fn a_run_without_failures_costs_two_bytes_per_millisecond() {
        let mut a = OutcomeLog::default();
        // Ten minutes at 20 requests per millisecond.
        for ms in 0..600_000 {
            for _ in 0..20 {
                a.record(ms, true);
            }
        }
        let bytes = a.heap_bytes();
        assert!(bytes < 600_000 * 2 + 16_384, "{bytes} bytes");
        assert_eq!(a.ok_at(599_999), 20);
        // Failures in one second add one block.
        a.record(300_500, false);
        assert!(a.heap_bytes() - bytes <= 2 * BLOCK + 16_384);
    }
}
