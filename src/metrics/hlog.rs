//! `timeline.hlog`: each second's latency histograms, written as the second
//! closes, in HdrHistogram's interval-log format (the `hdrhistogram` crate's
//! `IntervalLogIterator` and HdrHistogram's own tools read it).
//!
//! One interval per metric (`http_req_duration`, `http_req_service_duration`),
//! endpoint and scenario that saw a response in the second, tagged
//! `<metric>;endpoint=<name>;scenario=<name>`. Values are µs. The log has a
//! `StartTime` header (the run's start, unix seconds) and no `BaseTime`, so
//! interval start times are absolute unix seconds, and shards line up. Each
//! second's lines go to the file in one write, flushed, so a killed run
//! leaves the seconds it closed whole, and at most the second it was
//! writing cut short in its last line (`metrics::recover`).

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};

use super::hist::Hist;

/// The file's name in the output folder.
pub const FILE_NAME: &str = "timeline.hlog";

/// The webhook deliveries' per-second log, in the output folder.
pub const DELIVERY_FILE: &str = "delivery.hlog";
/// Its one tag: end-to-end delivery latency, by second of submission.
pub const DELIVERY_TAG: &str = "delivery_latency";

/// The metrics written per endpoint and scenario, in the order written.
pub const METRICS: [&str; 2] = ["http_req_duration", "http_req_service_duration"];

/// One second's histograms of one scenario × endpoint (phases merged).
#[derive(Debug, Clone, Default)]
pub struct Cell {
    /// `http_req_duration`.
    pub duration: Hist,
    /// `http_req_service_duration`.
    pub service: Hist,
}

/// The interval-log writer of one run.
pub struct IntervalLog {
    out: Box<dyn Write + Send>,
    serializer: V2DeflateSerializer,
    /// The run's start, unix time, whole ms (as `run.json`'s `started_at_ms`).
    start: Duration,
    /// Tags by `(metric * n_scenarios + scenario) * n_endpoints + endpoint`.
    tags: Vec<String>,
    n_scenarios: usize,
    n_endpoints: usize,
}

/// A tag: `<metric>;endpoint=<endpoint>;scenario=<scenario>` (Graphite's
/// tagged form). Plan names hold only `[A-Za-z0-9_.-]`; any other byte is
/// written `%XX`, so that a tag never holds the format's separators (`,`,
/// space, CR, LF) nor its own (`;`, `=`).
pub fn tag(metric: &str, endpoint: &str, scenario: &str) -> String {
    format!("{metric};endpoint={};scenario={}", encode(endpoint), encode(scenario))
}

fn encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Cell {
    /// The `http_req_duration` of `cells` (indexed `scenario * n_endpoints
    /// + endpoint`) summed: in total, and by endpoint.
    pub fn durations(cells: &[Cell], n_endpoints: usize) -> (Hist, Vec<Hist>) {
        let n = n_endpoints.max(1);
        let mut total = Hist::default();
        let mut by_endpoint = vec![Hist::default(); n_endpoints];
        for (k, cell) in cells.iter().enumerate() {
            total += &cell.duration;
            if let Some(h) = by_endpoint.get_mut(k % n) {
                *h += &cell.duration;
            }
        }
        (total, by_endpoint)
    }
}

impl IntervalLog {
    /// Creates `path` (and its folder) and writes the header.
    pub fn create(path: &Path, started_at: SystemTime, scenarios: &[&str], endpoints: &[&str]) -> io::Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let file = File::create(path)?;
        Self::new(Box::new(BufWriter::new(file)), started_at, scenarios, endpoints)
    }

    /// Writes the header to `out`.
    pub fn new(
        mut out: Box<dyn Write + Send>,
        started_at: SystemTime,
        scenarios: &[&str],
        endpoints: &[&str],
    ) -> io::Result<Self> {
        let start_ms = started_at.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as u64;
        let start = Duration::from_millis(start_ms);
        let mut tags = Vec::with_capacity(METRICS.len() * scenarios.len() * endpoints.len());
        for metric in METRICS {
            for sc in scenarios {
                for ep in endpoints {
                    tags.push(tag(metric, ep, sc));
                }
            }
        }
        let mut serializer = V2DeflateSerializer::new();
        IntervalLogWriterBuilder::new()
            .add_comment("loadcheck timeline.hlog: one run's per-second latency histograms")
            .add_comment("values in microseconds (us), the Interval_Max column too")
            .add_comment(
                "tag: <metric>;endpoint=<name>;scenario=<name>, one interval per metric, endpoint and scenario",
            )
            .add_comment(
                "  with responses in the second (phases merged); metrics: http_req_duration, http_req_service_duration",
            )
            .add_comment(
                "seconds by completion time, as run.json's timeline rows; no BaseTime: timestamps are unix seconds",
            )
            .add_comment("[Histogram log format version 1.3]")
            .with_start_time(UNIX_EPOCH + start)
            .begin_log_with(&mut out, &mut serializer)?;
        out.write_all(b"\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"\n")?;
        out.flush()?;
        Ok(IntervalLog {
            out,
            serializer,
            start,
            tags,
            n_scenarios: scenarios.len(),
            n_endpoints: endpoints.len(),
        })
    }

    /// Writes second `second`'s cells (indexed `scenario * n_endpoints +
    /// endpoint`; empty ones are left out) and flushes.
    pub fn write_second(&mut self, second: u64, cells: &[Cell]) -> io::Result<()> {
        let at = self.start + Duration::from_secs(second);
        let mut lines = Vec::new();
        let mut writer = IntervalLogWriterBuilder::new().begin_log_with(&mut lines, &mut self.serializer)?;
        let group = self.n_scenarios * self.n_endpoints;
        for (i, cell) in cells.iter().enumerate().take(group) {
            for (m, hist) in [&cell.duration, &cell.service].into_iter().enumerate() {
                let Some(h) = hist.histogram() else { continue };
                let tag = Tag::new(&self.tags[m * group + i]);
                writer
                    .write_histogram(h, at, Duration::from_secs(1), tag)
                    .map_err(|e| io::Error::other(e.to_string()))?;
            }
        }
        drop(writer);
        self.out.write_all(&lines)?;
        self.out.flush()
    }

    /// Writes one second's cells, each named by its scenario and endpoint
    /// (for a writer that learns the names as it goes, such as an import;
    /// a log created with no names), and flushes.
    pub fn write_named(&mut self, second: u64, cells: &[(&str, &str, &Cell)]) -> io::Result<()> {
        let at = self.start + Duration::from_secs(second);
        let mut lines = Vec::new();
        let mut writer = IntervalLogWriterBuilder::new().begin_log_with(&mut lines, &mut self.serializer)?;
        for (scenario, endpoint, cell) in cells {
            for (metric, hist) in METRICS.into_iter().zip([&cell.duration, &cell.service]) {
                let Some(h) = hist.histogram() else { continue };
                let name = tag(metric, endpoint, scenario);
                writer
                    .write_histogram(h, at, Duration::from_secs(1), Tag::new(&name))
                    .map_err(|e| io::Error::other(e.to_string()))?;
            }
        }
        drop(writer);
        self.out.write_all(&lines)?;
        self.out.flush()
    }
}

/// Writes `delivery.hlog`: one interval per second of submission, tagged
/// [`DELIVERY_TAG`], stamped like `timeline.hlog`'s (unix seconds from the
/// run's start, whole ms), from `(second, latency µs)` in order of second;
/// one second's histogram is held at a time.
pub fn write_deliveries(path: &Path, started_at: SystemTime, latencies: &[(u64, u64)]) -> io::Result<()> {
    let start_ms = started_at.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as u64;
    let start = Duration::from_millis(start_ms);
    let mut out = BufWriter::new(File::create(path)?);
    let mut serializer = V2DeflateSerializer::new();
    let mut writer = IntervalLogWriterBuilder::new()
        .add_comment("loadcheck delivery.hlog: one run's webhook delivery latency per second")
        .add_comment("values in microseconds (us): submission sent -> first accepted delivery")
        .add_comment("tag: delivery_latency; seconds by submission time; timestamps are unix seconds")
        .add_comment("[Histogram log format version 1.3]")
        .with_start_time(UNIX_EPOCH + start)
        .begin_log_with(&mut out, &mut serializer)?;
    let tag = Tag::new(DELIVERY_TAG);
    for group in latencies.chunk_by(|a, b| a.0 == b.0) {
        let mut hist = Hist::default();
        for &(_, us) in group {
            hist.record(us);
        }
        let Some(h) = hist.histogram() else { continue };
        writer
            .write_histogram(h, start + Duration::from_secs(group[0].0), Duration::from_secs(1), tag)
            .map_err(|e| io::Error::other(e.to_string()))?;
    }
    drop(writer);
    out.flush()
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use hdrhistogram::serialization::Deserializer;
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};

    use super::*;

    /// A `Write` whose bytes the test can read while the log holds it.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn deliveries_are_one_interval_per_second_of_submission() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DELIVERY_FILE);
        let start = UNIX_EPOCH + Duration::from_millis(1_767_000_000_500);
        write_deliveries(&path, start, &[(0, 900), (0, 1_100), (0, 70_000_000), (3, 250)]).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let mut got = Vec::new();
        for entry in IntervalLogIterator::new(&bytes) {
            if let LogEntry::Interval(i) = entry.unwrap() {
                let raw =
                    base64::Engine::decode(&base64::engine::general_purpose::STANDARD, i.encoded_histogram()).unwrap();
                let h: hdrhistogram::Histogram<u64> = Deserializer::new().deserialize(&mut raw.as_slice()).unwrap();
                assert_eq!(i.tag().unwrap().as_str(), DELIVERY_TAG);
                got.push((i.start_timestamp().as_millis(), h.len(), h.max()));
            }
        }
        // The 70 s latency is clamped to the top (60 s, to 3 digits).
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!((got[0].0, got[0].1), (1_767_000_000_500, 3));
        assert!((59_900_000..=60_100_000).contains(&got[0].2), "{got:?}");
        assert_eq!((got[1].0, got[1].1), (1_767_000_003_500, 1));
    }

    #[test]
    fn tags_encode_what_the_format_forbids() {
        assert_eq!(
            tag("http_req_duration", "search", "steady"),
            "http_req_duration;endpoint=search;scenario=steady"
        );
        assert_eq!(
            tag("m", "a b,c;d=e", "x.y-z_1"),
            "m;endpoint=a%20b%2Cc%3Bd%3De;scenario=x.y-z_1"
        );
        assert!(Tag::new(&tag("m", "a b,\r\n", "s")).is_some());
    }

    #[test]
    fn writes_absolute_tagged_intervals_that_read_back() {
        let buf = Shared::default();
        let start = UNIX_EPOCH + Duration::from_millis(1_767_000_000_123);
        let mut log = IntervalLog::new(Box::new(buf.clone()), start, &["steady", "browse"], &["a", "b"]).unwrap();
        let mut cells = vec![Cell::default(); 4];
        for v in [1000, 2000, 3000] {
            cells[3].duration.record(v); // browse × b
            cells[3].service.record(v / 2);
        }
        cells[0].duration.record(40_000); // steady × a, no service sample
        log.write_second(2, &cells).unwrap();
        log.write_second(3, &vec![Cell::default(); 4]).unwrap();
        let bytes = buf.0.lock().unwrap().clone();
        let mut start_time = None;
        let mut got = Vec::new();
        for entry in IntervalLogIterator::new(&bytes) {
            match entry.unwrap() {
                LogEntry::StartTime(t) => start_time = Some(t),
                LogEntry::BaseTime(_) => panic!("no BaseTime: timestamps are absolute"),
                LogEntry::Interval(i) => {
                    let raw = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, i.encoded_histogram())
                        .unwrap();
                    let h: hdrhistogram::Histogram<u64> = Deserializer::new().deserialize(&mut raw.as_slice()).unwrap();
                    got.push((
                        i.tag().unwrap().as_str().to_string(),
                        i.start_timestamp(),
                        i.duration(),
                        h.len(),
                    ));
                }
            }
        }
        assert_eq!(start_time, Some(Duration::from_millis(1_767_000_000_123)));
        let at = Duration::from_millis(1_767_000_002_123);
        assert_eq!(
            got,
            vec![
                (
                    "http_req_duration;endpoint=a;scenario=steady".into(),
                    at,
                    Duration::from_secs(1),
                    1
                ),
                (
                    "http_req_duration;endpoint=b;scenario=browse".into(),
                    at,
                    Duration::from_secs(1),
                    3
                ),
                (
                    "http_req_service_duration;endpoint=b;scenario=browse".into(),
                    at,
                    Duration::from_secs(1),
                    3
                ),
            ]
        );
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.contains("microseconds"), "{text}");
    }
}
