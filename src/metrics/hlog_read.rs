//! Reading `timeline.hlog` back, sparsely.
//!
//! `hdrhistogram`'s own decoder allocates every histogram's whole counts
//! array (27,648 buckets for 1 µs to 60 s at 3 digits) before filling it; a
//! one-hour, ten-endpoint log holds 36,000 intervals, so decoding it that
//! way zero-fills gigabytes. This reader parses the log's lines with the
//! crate's `IntervalLogIterator` and decodes each interval's V2 deflate
//! payload itself, into the (value, count) pairs it actually holds.
//!
//! The V2 encoding (HdrHistogram's, shared by every implementation): a
//! 4-byte cookie and the compressed length, then zlib data holding a
//! 40-byte header (cookie, payload length, normalizing offset, significant
//! digits, lowest and highest trackable values, conversion ratio) and the
//! counts as zig-zag LEB128 integers, a negative one being a run of that
//! many empty buckets.

use std::collections::BTreeMap;
use std::io::Read;
use std::time::Duration;

use base64::Engine as _;
use flate2::read::ZlibDecoder;
use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};

use super::hlog::{Cell, METRICS, tag};
use crate::plan::roster::Roster;

const V2_COOKIE: u32 = 0x1c84_9303;
const V2_DEFLATE_COOKIE: u32 = 0x1c84_9304;
/// The largest decompressed payload accepted (a full 1 µs–1 h histogram at
/// 5 digits is well under this).
const MAX_PAYLOAD: u64 = 64 << 20;

/// One interval of the log.
#[derive(Debug, Clone, PartialEq)]
pub struct Interval {
    /// The tag (`<metric>;endpoint=<e>;scenario=<s>`), if any.
    pub tag: Option<String>,
    /// The interval's start, as written (absolute unix time in loadcheck's
    /// logs).
    pub start: Duration,
    /// Its length.
    pub duration: Duration,
    /// `(value, count)` for every non-empty bucket, ascending; a value is
    /// the lowest of its bucket.
    pub counts: Vec<(u64, u64)>,
}

impl Interval {
    /// The number of values.
    pub fn total(&self) -> u64 {
        self.counts.iter().map(|(_, n)| n).sum()
    }

    /// The second of a run started at `start_ms` (unix ms) that the
    /// interval stamps, to the nearest (the log keeps whole ms); 0 for one
    /// stamped before the start.
    pub fn second(&self, start_ms: i64) -> u64 {
        second_at(self.start, start_ms)
    }
}

/// The second of a run started at `start_ms` (unix ms) that `at` (unix
/// time) falls in, to the nearest; 0 before the start.
pub fn second_at(at: Duration, start_ms: i64) -> u64 {
    let offset_ms = at.as_millis() as i64 - start_ms;
    ((offset_ms.max(0) as f64) / 1000.0).round() as u64
}

/// The start of the unfinished last line of `bytes` (a log cut mid-line),
/// when the cut came after that line's start-time field; `None` when the
/// log ends with a whole line or its last line is cut before that field.
pub fn cut_start(bytes: &[u8]) -> Option<Duration> {
    let tail = &bytes[bytes.iter().rposition(|b| *b == b'\n').map_or(0, |p| p + 1)..];
    let tail = std::str::from_utf8(tail).ok()?;
    let fields = match tail.strip_prefix("Tag=") {
        Some(rest) => rest.split_once(',')?.1,
        None => tail,
    };
    let (start, _) = fields.split_once(',')?;
    let (secs, frac) = start.split_once('.').unwrap_or((start, ""));
    let millis: u64 = format!("{frac:0<3}").get(..3)?.parse().ok()?;
    Some(Duration::from_secs(secs.parse().ok()?) + Duration::from_millis(millis))
}

/// One or more logs of one roster's run, summed second by second: the
/// intervals each second stamps, from every log, added into that second's
/// cells (indexed `scenario * endpoints + endpoint`). Merging shards and
/// recovering a killed run both read their logs this way, one second in
/// memory at a time.
pub struct Seconds<'a> {
    logs: Vec<&'a [Interval]>,
    next: Vec<usize>,
    /// Each tag's (metric, cell).
    tags: BTreeMap<String, (usize, usize)>,
    start_ms: i64,
    n_cells: usize,
}

impl<'a> Seconds<'a> {
    /// Reads `logs`, whose seconds count from `start_ms` (unix ms); an
    /// interval whose tag is not one of `roster`'s is skipped.
    pub fn new(logs: Vec<&'a [Interval]>, roster: &Roster, start_ms: i64) -> Seconds<'a> {
        let n = roster.endpoints.len().max(1);
        let mut tags = BTreeMap::new();
        for (m, metric) in METRICS.iter().enumerate() {
            for (s, sc) in roster.scenarios.iter().enumerate() {
                for (e, ep) in roster.endpoints.iter().enumerate() {
                    tags.insert(tag(metric, ep, &sc.name), (m, s * n + e));
                }
            }
        }
        Seconds {
            next: vec![0; logs.len()],
            logs,
            tags,
            start_ms,
            n_cells: roster.scenarios.len().max(1) * n,
        }
    }

    /// The last second any log stamps; `None` when they hold no interval.
    pub fn last(&self) -> Option<u64> {
        self.logs
            .iter()
            .filter_map(|l| l.last().map(|iv| iv.second(self.start_ms)))
            .max()
    }

    /// Second `second`'s cells, and whether any interval fell in it. Call
    /// it for seconds in increasing order: an interval stamped earlier than
    /// `second` that was not taken yet is added to it.
    pub fn take(&mut self, second: u64) -> (Vec<Cell>, bool) {
        let mut cells = vec![Cell::default(); self.n_cells];
        let mut any = false;
        for (log, at) in self.logs.iter().zip(self.next.iter_mut()) {
            while let Some(iv) = log.get(*at) {
                if iv.second(self.start_ms) > second {
                    break;
                }
                *at += 1;
                let Some(&(m, key)) = iv.tag.as_deref().and_then(|t| self.tags.get(t)) else {
                    continue;
                };
                let cell = &mut cells[key];
                let hist = if m == 0 { &mut cell.duration } else { &mut cell.service };
                for &(v, c) in &iv.counts {
                    hist.record_n(v, c);
                }
                any = true;
            }
        }
        (cells, any)
    }
}

/// A parsed log: its `StartTime` header and intervals.
#[derive(Debug, Clone, Default)]
pub struct Log {
    /// The `#[StartTime: …]` header.
    pub start_time: Option<Duration>,
    /// Every interval, in file order.
    pub intervals: Vec<Interval>,
}

/// Parses a whole interval log. A line that does not parse ends the log
/// there (the log of a killed run may end mid-line): what came before is
/// kept and `truncated` says so. A payload that does not decode is an
/// error naming its interval.
pub fn read(bytes: &[u8]) -> Result<(Log, bool), String> {
    let mut log = Log::default();
    let mut truncated = false;
    // A killed run can leave its last line cut anywhere, even mid-payload:
    // an unfinished last line is dropped, not decoded.
    let bytes = match bytes.last() {
        Some(b'\n') | None => bytes,
        Some(_) => {
            truncated = true;
            &bytes[..bytes.iter().rposition(|b| *b == b'\n').map_or(0, |p| p + 1)]
        }
    };
    for (i, entry) in IntervalLogIterator::new(bytes).enumerate() {
        match entry {
            Ok(LogEntry::StartTime(t)) => log.start_time = Some(t),
            Ok(LogEntry::BaseTime(t)) => {
                if log.start_time.is_none() {
                    log.start_time = Some(t);
                }
            }
            Ok(LogEntry::Interval(iv)) => {
                let counts = decode(iv.encoded_histogram()).map_err(|e| {
                    format!(
                        "interval {} ({}): {e}",
                        i + 1,
                        iv.tag().map_or("untagged", |t| t.as_str())
                    )
                })?;
                log.intervals.push(Interval {
                    tag: iv.tag().map(|t| t.as_str().to_string()),
                    start: iv.start_timestamp(),
                    duration: iv.duration(),
                    counts,
                });
            }
            Err(_) => {
                truncated = true;
                break;
            }
        }
    }
    Ok((log, truncated))
}

/// Decodes one base64 V2 (deflate or plain) histogram into its non-empty
/// buckets.
pub fn decode(base64_text: &str) -> Result<Vec<(u64, u64)>, String> {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(base64_text.trim())
        .map_err(|e| format!("not base64: {e}"))?;
    let cookie = be_u32(&raw, 0).ok_or("shorter than a histogram's cookie")?;
    // Implementations set bits 4-7 to the word size (0x10 in Java's and
    // the Rust crate's): compare without them.
    let payload = match cookie & !0xf0 {
        V2_DEFLATE_COOKIE => {
            let len = be_u32(&raw, 4).ok_or("no compressed length")? as usize;
            let body = raw.get(8..).ok_or("no compressed data")?;
            if body.len() < len {
                return Err(format!("compressed length {len} but {} bytes follow", body.len()));
            }
            let mut out = Vec::new();
            ZlibDecoder::new(&body[..len])
                .take(MAX_PAYLOAD)
                .read_to_end(&mut out)
                .map_err(|e| format!("bad deflate data: {e}"))?;
            out
        }
        V2_COOKIE => raw,
        _ => return Err(format!("cookie {cookie:#x} is not an HdrHistogram V2 histogram")),
    };
    counts(&payload)
}

fn counts(p: &[u8]) -> Result<Vec<(u64, u64)>, String> {
    if be_u32(p, 0).map(|c| c & !0xf0) != Some(V2_COOKIE) {
        return Err("the payload is not a V2 histogram".into());
    }
    let len = be_u32(p, 4).ok_or("truncated header")? as usize;
    let offset = be_u32(p, 8).ok_or("truncated header")?;
    let digits = be_u32(p, 12).ok_or("truncated header")?;
    let lowest = be_u64(p, 16).ok_or("truncated header")?;
    if offset != 0 {
        return Err("normalized (shifted) histograms are not supported".into());
    }
    if !(1..=5).contains(&digits) {
        return Err(format!("{digits} significant digits is outside 1 to 5"));
    }
    if lowest == 0 {
        return Err("lowest discernible value 0".into());
    }
    let body = p
        .get(40..40 + len)
        .ok_or("the counts are shorter than the header says")?;
    // HdrHistogram's bucket layout.
    let largest_single = 2 * 10u64.pow(digits);
    let sub_bucket_count_magnitude = 64 - (largest_single - 1).leading_zeros();
    let half_magnitude = sub_bucket_count_magnitude.saturating_sub(1);
    let half_count = 1u64 << half_magnitude;
    let unit_magnitude = 63 - lowest.leading_zeros();
    let value_at = |index: u64| -> Option<u64> {
        let mut bucket = (index >> half_magnitude) as i64 - 1;
        let mut sub = (index & (half_count - 1)) + half_count;
        if bucket < 0 {
            sub -= half_count;
            bucket = 0;
        }
        let shift = bucket as u32 + unit_magnitude;
        if shift >= 64 || sub.leading_zeros() < shift {
            return None;
        }
        Some(sub << shift)
    };
    let mut out = Vec::new();
    let mut index: u64 = 0;
    let mut pos = 0;
    while pos < body.len() {
        let (zz, used) = leb128(&body[pos..]).ok_or("a count is cut off")?;
        pos += used;
        let n = ((zz >> 1) as i64) ^ -((zz & 1) as i64);
        if n < 0 {
            index = index
                .checked_add(n.unsigned_abs())
                .ok_or("a run of empty buckets overflows")?;
        } else {
            if n > 0 {
                let v = value_at(index).ok_or("a bucket index is beyond 64-bit values")?;
                out.push((v, n as u64));
            }
            index = index.checked_add(1).ok_or("a bucket index is beyond 64-bit values")?;
        }
    }
    Ok(out)
}

fn leb128(b: &[u8]) -> Option<(u64, usize)> {
    let mut v: u64 = 0;
    for (i, byte) in b.iter().enumerate().take(9) {
        if i == 8 {
            v |= u64::from(*byte) << 56;
            return Some((v, 9));
        }
        v |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((v, i + 1));
        }
    }
    None
}

fn be_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn be_u64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use hdrhistogram::Histogram;
    use hdrhistogram::serialization::{Serializer, V2DeflateSerializer, V2Serializer};
    use rand::{Rng, SeedableRng};

    use super::*;

    fn expected(h: &Histogram<u64>) -> Vec<(u64, u64)> {
        h.iter_recorded()
            .map(|v| (h.lowest_equivalent(v.value_iterated_to()), v.count_at_value()))
            .collect()
    }

    #[test]
    fn matches_the_crate_on_random_histograms() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
        for digits in [2u8, 3, 4] {
            for round in 0..20 {
                let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, digits).unwrap();
                let n = rng.random_range(0..3000);
                for _ in 0..n {
                    let v = (rng.random::<f64>() * 17.0).exp() as u64 + 1;
                    h.record(v.min(60_000_000)).unwrap();
                }
                if round % 5 == 0 {
                    h.record_n(59_999_999, 3).unwrap();
                }
                let mut buf = Vec::new();
                if round % 2 == 0 {
                    V2DeflateSerializer::new().serialize(&h, &mut buf).unwrap();
                } else {
                    V2Serializer::new().serialize(&h, &mut buf).unwrap();
                }
                let text = base64::engine::general_purpose::STANDARD.encode(&buf);
                assert_eq!(decode(&text).unwrap(), expected(&h), "digits {digits} round {round}");
            }
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(9);
        let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
        h.record_n(1234, 10).unwrap();
        let mut good = Vec::new();
        V2DeflateSerializer::new().serialize(&h, &mut good).unwrap();
        for cut in 0..good.len() {
            let text = base64::engine::general_purpose::STANDARD.encode(&good[..cut]);
            assert!(decode(&text).is_err(), "cut at {cut}");
        }
        for _ in 0..2000 {
            let mut b = good.clone();
            let i = rng.random_range(0..b.len());
            b[i] ^= rng.random_range(1..=255u8);
            let _ = decode(&base64::engine::general_purpose::STANDARD.encode(&b));
        }
        assert!(decode("@@@").is_err());
        assert!(decode("").is_err());
    }

    #[test]
    fn a_log_cut_mid_line_keeps_what_came_before() {
        let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
        h.record_n(500, 4).unwrap();
        let mut buf = Vec::new();
        V2DeflateSerializer::new().serialize(&h, &mut buf).unwrap();
        let enc = base64::engine::general_purpose::STANDARD.encode(&buf);
        let text = format!(
            "#[StartTime: 1700000000.000 (seconds since epoch)]\nTag=a,1700000000.000,1.000,0.500,{enc}\nTag=a,1700000001.000,1.000,0.500,{}",
            &enc[..10]
        );
        let (log, truncated) = read(text.as_bytes()).unwrap();
        assert!(truncated);
        assert_eq!(log.intervals.len(), 1);
        assert_eq!(log.intervals[0].counts, vec![(500, 4)]);
        assert_eq!(log.start_time, Some(Duration::from_secs(1_700_000_000)));
    }

    /// Found with `fuzz/fuzz_targets/timeline_hlog.rs`: a plain V2 payload
    /// whose runs of empty buckets add up to the last 64-bit index, then a
    /// zero count, overflowed the bucket index (a panic under debug
    /// assertions, a silent wrap to bucket 0 in release). It is an error.
    #[test]
    fn runs_of_empty_buckets_up_to_the_last_index_are_an_error() {
        let payload = "HISTEwAAABMAAAAAAAAAAwAAAAAAAAABAAAAANaTpAA/8AAAAAAAAP////////////3//////////wA=";
        let e = decode(payload).unwrap_err();
        assert!(e.contains("64-bit"), "{e}");
    }
}
