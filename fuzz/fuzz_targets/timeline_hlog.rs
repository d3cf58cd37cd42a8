//! Bytes as a `timeline.hlog` (HdrHistogram's interval log), through
//! `loadcheck::metrics::hlog_read::read`, each line's payload through
//! `decode`, and the log's cut point through `cut_start` (what reading a
//! killed run's log does). It never panics, and:
//!
//! - reading the same bytes twice gives the same log;
//! - a log that reads, cut anywhere (as a killed run leaves it), reads as
//!   a prefix of itself: the whole lines before the cut, nothing more;
//! - a decoded histogram's values are strictly ascending, with counts
//!   above zero, and an interval's total is their sum.
#![no_main]

use libfuzzer_sys::fuzz_target;
use loadcheck::metrics::hlog_read::{Interval, cut_start, decode, read};

fn decoded_holds(counts: &[(u64, u64)]) {
    for w in counts.windows(2) {
        assert!(w[0].0 < w[1].0, "values not ascending: {counts:?}");
    }
    assert!(counts.iter().all(|&(_, n)| n > 0), "an empty bucket: {counts:?}");
}

fuzz_target!(|data: &[u8]| {
    let Some((&cut, bytes)) = data.split_first() else {
        return;
    };
    let _ = cut_start(bytes);
    // Each line's last field as a payload, and the whole text as one.
    if let Ok(text) = std::str::from_utf8(bytes) {
        for line in text.lines().take(64) {
            if let Some(payload) = line.rsplit(',').next() {
                if let Ok(counts) = decode(payload) {
                    decoded_holds(&counts);
                }
            }
        }
        if let Ok(counts) = decode(text) {
            decoded_holds(&counts);
        }
    }
    let first = read(bytes);
    let second = read(bytes);
    match (&first, &second) {
        (Ok((a, ta)), Ok((b, tb))) => {
            assert_eq!((a.start_time, &a.intervals, ta), (b.start_time, &b.intervals, tb));
        }
        (Err(a), Err(b)) => assert_eq!(a, b),
        _ => panic!("read twice: {first:?}, then {second:?}"),
    }
    let Ok((log, _)) = first else { return };
    for iv in &log.intervals {
        decoded_holds(&iv.counts);
        let total: u128 = iv.counts.iter().map(|&(_, n)| u128::from(n)).sum();
        if total <= u128::from(u64::MAX) {
            assert_eq!(u128::from(iv.total()), total);
        }
    }
    // Cut at a point the first byte picks (a byte in 256ths of the length).
    let at = bytes.len() * usize::from(cut) / 256;
    let (prefix, truncated) = read(&bytes[..at]).unwrap_or_else(|e| panic!("the log reads, but not cut at {at}: {e}"));
    assert!(
        prefix.intervals.len() <= log.intervals.len(),
        "cut at {at}: {} intervals, whole: {}",
        prefix.intervals.len(),
        log.intervals.len()
    );
    let whole: &[Interval] = &log.intervals[..prefix.intervals.len()];
    assert_eq!(prefix.intervals.as_slice(), whole, "cut at {at}, the intervals differ");
    if at > 0 && bytes[at - 1] != b'\n' {
        assert!(truncated, "cut mid-line at {at}, but not truncated");
    }
});
