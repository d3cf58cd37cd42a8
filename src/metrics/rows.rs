//! The closed seconds of a run's timeline, kept compact until the run ends.
//!
//! A run keeps one row a second for the whole run and for each endpoint,
//! for `run.json`'s timeline. As [`TimelineRow`]s (three maps, three
//! optional floats) they cost about 170 bytes each, so an hour over ten
//! endpoints held 6.7 MB; here a row is 32 bytes (two counts, the three
//! percentiles in µs, and an index into the few seconds that had
//! failures), and it becomes a [`TimelineRow`] only when read.

use super::hist::Hist;
use super::result::TimelineRow;
use crate::plan::registry::ErrorClass;

/// A percentile that is not there (an empty second).
const NONE: u32 = u32::MAX;

/// One closed second.
#[derive(Debug, Clone, Copy)]
struct Row {
    requests: u64,
    ok: u64,
    /// p50, p95 and p99 of `http_req_duration`, µs ([`NONE`]: no response).
    p_us: [u32; 3],
    /// 1 + the index of this second's failures in `Rows::errors`; 0: none.
    errors: u32,
}

/// The closed rows of one series (the whole run, or one endpoint).
#[derive(Debug, Clone, Default)]
pub struct Rows {
    rows: Vec<Row>,
    /// Failures by class, for the seconds that had any.
    errors: Vec<[u64; ErrorClass::COUNT]>,
}

impl Rows {
    /// Adds the next second's row.
    pub fn push(&mut self, requests: u64, ok: u64, errors: [u64; ErrorClass::COUNT], duration: &Hist) {
        let p = |q: f64| {
            duration
                .quantile(q)
                // The histogram tops out at 60 s (6e7 µs): far below NONE.
                .map_or(NONE, |us| u32::try_from(us).unwrap_or(NONE - 1).min(NONE - 1))
        };
        let errors = if errors.iter().any(|&n| n > 0) {
            self.errors.push(errors);
            u32::try_from(self.errors.len()).unwrap_or(u32::MAX)
        } else {
            0
        };
        self.rows.push(Row {
            requests,
            ok,
            p_us: [p(0.5), p(0.95), p(0.99)],
            errors,
        });
    }

    /// How many seconds are closed.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether no second is closed yet.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Second `i`'s row, as `run.json` writes it.
    pub fn get(&self, i: usize) -> Option<TimelineRow> {
        let r = self.rows.get(i)?;
        let errors = match r.errors {
            0 => [0; ErrorClass::COUNT],
            k => self.errors.get(k as usize - 1).copied().unwrap_or_default(),
        };
        let mut row = TimelineRow::new(i as u64, r.requests, r.ok, errors, &Hist::default());
        let ms = |us: u32| (us != NONE).then(|| f64::from(us) / 1000.0);
        row.p50_ms = ms(r.p_us[0]);
        row.p95_ms = ms(r.p_us[1]);
        row.p99_ms = ms(r.p_us[2]);
        Some(row)
    }

    /// The last closed second's row.
    pub fn last(&self) -> Option<TimelineRow> {
        self.len().checked_sub(1).and_then(|i| self.get(i))
    }

    /// Every row, from second 0.
    pub fn iter(&self) -> impl Iterator<Item = TimelineRow> + '_ {
        (0..self.len()).filter_map(|i| self.get(i))
    }

    /// Requests of second `i` (0 past the end), without building its row.
    pub fn requests(&self, i: usize) -> u64 {
        self.rows.get(i).map_or(0, |r| r.requests)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_reads_back_as_the_full_row_would_be_written() {
        let mut h = Hist::default();
        for us in [250, 1_000, 1_000, 3_700, 59_999_000, 70_000_000] {
            h.record(us);
        }
        let mut errors = [0; ErrorClass::COUNT];
        errors[ErrorClass::Reset as usize] = 2;
        errors[ErrorClass::Status5xx as usize] = 1;
        let mut rows = Rows::default();
        rows.push(0, 0, [0; ErrorClass::COUNT], &Hist::default());
        rows.push(9, 6, errors, &h);
        rows.push(6, 6, [0; ErrorClass::COUNT], &h);
        assert_eq!(rows.len(), 3);
        assert_eq!(rows.errors.len(), 1, "only the second with failures keeps its counts");
        for (i, (req, ok, err, hist)) in [
            (0, 0, [0; ErrorClass::COUNT], Hist::default()),
            (9, 6, errors, h.clone()),
            (6, 6, [0; ErrorClass::COUNT], h.clone()),
        ]
        .into_iter()
        .enumerate()
        {
            let want = TimelineRow::new(i as u64, req, ok, err, &hist);
            let got = rows.get(i).unwrap();
            assert_eq!(
                serde_json::to_value(&got).unwrap(),
                serde_json::to_value(&want).unwrap(),
                "second {i}"
            );
        }
        assert!(rows.get(3).is_none());
        assert_eq!(rows.last().unwrap().second, 2);
        assert_eq!(rows.iter().map(|r| r.requests).sum::<u64>(), 15);
        assert_eq!(std::mem::size_of::<Row>(), 32);
    }
}
