//! Times the decoding of every histogram of a `timeline.hlog`, two ways:
//! loadcheck's sparse reader (`metrics::hlog_read`, what `merge` and
//! `compare` use) and the hdrhistogram crate's own V2 decoder (which
//! allocates each histogram's whole counts array). For bench/merge_speed.sh.
//!
//!   hist_decode FILE

use std::time::Instant;

use hdrhistogram::Histogram;
use hdrhistogram::serialization::Deserializer;
use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
use loadcheck::metrics::hlog_read;

fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: hist_decode FILE");
        std::process::exit(2);
    };
    let bytes = std::fs::read(&path).expect("read the log");
    let t = Instant::now();
    let (log, _) = hlog_read::read(&bytes).expect("a loadcheck interval log");
    let sparse = t.elapsed();
    let n = log.intervals.len().max(1);
    let t = Instant::now();
    let mut values = 0u64;
    let mut de = Deserializer::new();
    for entry in IntervalLogIterator::new(&bytes) {
        if let Ok(LogEntry::Interval(iv)) = entry {
            let raw = base64_decode(iv.encoded_histogram());
            let h: Histogram<u64> = de.deserialize(&mut raw.as_slice()).expect("V2 histogram");
            values += h.len();
        }
    }
    let crate_time = t.elapsed();
    println!(
        "{} intervals, {} values: sparse reader {:.2} µs per histogram ({:.3} s in all); \
         hdrhistogram crate {:.2} µs per histogram ({:.3} s in all)",
        log.intervals.len(),
        values,
        sparse.as_secs_f64() * 1e6 / n as f64,
        sparse.as_secs_f64(),
        crate_time.as_secs_f64() * 1e6 / n as f64,
        crate_time.as_secs_f64()
    );
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .expect("base64")
}
