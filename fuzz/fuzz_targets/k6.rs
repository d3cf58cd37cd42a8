//! The k6 importers (`loadcheck import k6`): the bytes as a summary
//! (`--summary-export` or `handleSummary` JSON) through
//! `import::k6::summary::read`, and as an `--out json` stream through
//! `import::k6::points::read`, its requests folded as the import folds
//! them (`Requests::point`), then both converted (`convert::convert`).
//! It never panics or hangs, and:
//!
//! - the stream reads the same through a 1-byte buffer as through a large
//!   one (lines cut anywhere by the reader);
//! - every sample reaches the callback, once;
//! - every `http_req_duration` sample is one request: in the keys' stats,
//!   in the converted total and in the per-second timeline;
//! - converted k6 thresholds are the summary's, one for one.
#![no_main]

use std::io::BufReader;
use std::path::{Path, PathBuf};

use libfuzzer_sys::fuzz_target;
use loadcheck::import::k6::convert::{Inputs, convert};
use loadcheck::import::k6::points::{self, Points};
use loadcheck::import::k6::requests::Requests;
use loadcheck::import::k6::summary;

/// The stream read through `reader`, the samples seen in order, and the
/// requests folded.
fn read_points(reader: impl std::io::BufRead) -> (Result<Points, String>, Vec<(String, u64, i64)>, Requests) {
    let mut seen = Vec::new();
    let mut requests = Requests::new(None);
    let got = points::read(Path::new("points.ndjson"), reader, &mut |p| {
        seen.push((p.metric.to_string(), p.value.to_bits(), p.time_ms));
        requests.point(p)
    });
    (got.map_err(|e| e.to_string()), seen, requests)
}

fuzz_target!(|data: &[u8]| {
    let file = PathBuf::from("summary.json");
    let summary = std::str::from_utf8(data)
        .ok()
        .and_then(|text| summary::read(&file, text).ok());

    let (got, seen, requests) = read_points(data);
    let (got1, seen1, _) = read_points(BufReader::with_capacity(1, data));
    match (&got, &got1) {
        (Ok(a), Ok(b)) => {
            assert_eq!((a.lines, a.samples), (b.lines, b.samples), "1-byte reads differ");
            assert_eq!(a.declared, b.declared, "1-byte reads differ");
        }
        (Err(a), Err(b)) => assert_eq!(a, b, "1-byte reads fail differently"),
        _ => panic!("1-byte reads differ: {got:?} vs {got1:?}"),
    }
    assert_eq!(seen, seen1, "1-byte reads see other samples");
    let points = got.ok();
    if let Some(p) = &points {
        assert_eq!(p.samples, seen.len() as u64, "samples read vs samples seen");
    }
    let durations = seen.iter().filter(|(m, _, _)| m == "http_req_duration").count() as u64;
    if requests.write_error.is_none() && points.is_some() {
        let folded: u64 = requests.keys.iter().map(|k| k.stats.requests).sum();
        assert_eq!(folded, durations, "requests folded vs http_req_duration samples");
    }

    let thresholds = summary
        .as_ref()
        .map(|s| s.metrics.values().map(|m| m.thresholds.len()).sum::<usize>());
    let inputs = Inputs {
        summary: summary.map(|s| (file.clone(), s)),
        points: points.map(|p| (PathBuf::from("points.ndjson"), p, requests)),
    };
    let from_points = inputs.points.is_some();
    let Ok(c) = convert(inputs, "k6: fuzz", "k6-fuzz") else {
        return;
    };
    if let Some(n) = thresholds {
        assert_eq!(c.thresholds.len(), n, "k6's thresholds, converted");
    }
    if from_points {
        assert_eq!(
            c.stats.total.requests, durations,
            "converted total vs http_req_duration samples"
        );
        let rows: u64 = c.timeline.total.iter().map(|r| r.requests).sum();
        assert_eq!(rows, durations, "timeline rows vs http_req_duration samples");
    }
});
