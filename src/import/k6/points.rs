//! k6's `--out json` stream: one JSON object a line, each a metric's
//! declaration (`"type": "Metric"`, with its kind, thresholds and
//! sub-metrics) or a sample (`"type": "Point"`, with its time, value and
//! tags).
//!
//! The file is read line by line, never whole, and no sample is kept. Each
//! is folded into its metric's aggregate for its tag set (an index into a
//! table of the distinct tag sets): a count, a sum, the extremes, the last
//! value, and for trends a [`Sketch`] of the values. Any k6 selector
//! (`http_req_duration{name:search}`) is then the merge of the aggregates
//! of the tag sets it matches, so memory grows with the tag sets and the
//! sketches' bins, not with the file. Every sample also goes, as it is
//! read, to the caller's `on_point` (the import's per-second timeline).

use std::collections::{BTreeMap, HashMap};
use std::io::BufRead;
use std::path::Path;

use serde::Deserialize;

use super::error::ImportError;
use super::percentile;
use super::sketch::Sketch;
use super::summary::Kind;

/// A metric as its declaration line gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Declared {
    /// Its kind.
    pub kind: Kind,
    /// Its thresholds' expressions (definitions only: the stream holds no
    /// outcomes).
    pub thresholds: Vec<String>,
    /// The sub-metrics the script names (`http_req_duration{name:search}`).
    pub submetrics: Vec<String>,
}

/// One sample, as it is read.
#[derive(Debug, Clone, Copy)]
pub struct Point<'a> {
    /// Its metric.
    pub metric: &'a str,
    /// Its value (milliseconds for time metrics).
    pub value: f64,
    /// When, in unix milliseconds.
    pub time_ms: i64,
    /// Its tag set's index into [`Points::tags`].
    pub tag_index: u32,
    /// Its tags.
    pub tags: &'a BTreeMap<String, String>,
    /// The stream's first sample's time, unix ms.
    pub origin_ms: i64,
}

/// A metric's samples of one tag set (or, merged, of a selector).
#[derive(Debug, Clone, PartialEq)]
pub struct Agg {
    /// How many samples.
    pub count: u64,
    /// Their sum.
    pub sum: f64,
    /// How many were not zero (a rate's passes).
    pub nonzero: u64,
    /// The smallest and largest.
    pub min: f64,
    /// The largest.
    pub max: f64,
    /// The last one in the file's order, and its place in it.
    pub last: (u64, f64),
    /// The values, for trends (and metrics the stream never declared).
    pub sketch: Option<Sketch>,
}

impl Agg {
    fn new(keep_values: bool) -> Self {
        Agg {
            count: 0,
            sum: 0.0,
            nonzero: 0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            last: (0, 0.0),
            sketch: keep_values.then(Sketch::default),
        }
    }

    fn record(&mut self, v: f64, seq: u64) {
        self.count += 1;
        self.sum += v;
        self.nonzero += u64::from(v != 0.0);
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        self.last = (seq, v);
        if let Some(s) = &mut self.sketch {
            s.record(v);
        }
    }

    fn merge(&mut self, o: &Agg) {
        self.count += o.count;
        self.sum += o.sum;
        self.nonzero += o.nonzero;
        self.min = self.min.min(o.min);
        self.max = self.max.max(o.max);
        if o.last.0 >= self.last.0 {
            self.last = o.last;
        }
        match (&mut self.sketch, &o.sketch) {
            (Some(a), Some(b)) => a.merge(b),
            // One kept values and one did not: no values for the merge.
            (Some(_), None) => self.sketch = None,
            _ => {}
        }
    }
}

/// A trend's statistics as k6 computes them.
#[derive(Debug, Clone, PartialEq)]
pub struct TrendStats {
    /// The values.
    pub sketch: Sketch,
}

impl TrendStats {
    /// How many samples.
    pub fn count(&self) -> u64 {
        self.sketch.count()
    }

    /// k6's statistic by its name: `avg`, `min`, `med`, `max`, `count`,
    /// `p(N)`.
    pub fn stat(&self, name: &str) -> Option<f64> {
        match name {
            "avg" => self.sketch.mean(),
            "min" => self.sketch.min(),
            "max" => self.sketch.max(),
            "count" => Some(self.sketch.count() as f64),
            _ => self.sketch.k6(percentile::of_name(name)?),
        }
    }
}

/// Everything a stream holds, aggregated.
#[derive(Debug, Clone, Default)]
pub struct Points {
    /// Metrics by name, as declared.
    pub declared: BTreeMap<String, Declared>,
    /// Per metric, each tag set's aggregate.
    pub series: BTreeMap<String, HashMap<u32, Agg>>,
    /// The distinct tag sets.
    pub tags: Vec<BTreeMap<String, String>>,
    index: HashMap<BTreeMap<String, String>, u32>,
    /// Lines read.
    pub lines: u64,
    /// Samples read.
    pub samples: u64,
    /// The first sample's time, and the earliest and the latest, unix ms.
    first_ms: Option<i64>,
    span: Option<(i64, i64)>,
}

#[derive(Deserialize)]
struct Line {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    metric: Option<String>,
    data: serde_json::Value,
}

#[derive(Deserialize)]
struct MetricData {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    thresholds: Option<Vec<String>>,
    #[serde(default)]
    submetrics: Option<Vec<Submetric>>,
}

#[derive(Deserialize)]
struct Submetric {
    name: String,
}

#[derive(Deserialize)]
struct PointData {
    time: String,
    value: f64,
    #[serde(default)]
    tags: Option<BTreeMap<String, serde_json::Value>>,
}

/// What `on_point` may answer: go on, or stop the read with this error
/// (for the line being read).
pub type Flow = Result<(), String>;

/// Reads a stream; `file` names it in errors; every sample goes to
/// `on_point` as it is read.
pub fn read(
    file: &Path,
    reader: impl BufRead,
    on_point: &mut dyn FnMut(Point<'_>) -> Flow,
) -> Result<Points, ImportError> {
    let mut points = Points::default();
    let mut buf = String::new();
    let mut reader = reader;
    loop {
        buf.clear();
        let n = reader
            .read_line(&mut buf)
            .map_err(|e| ImportError::at(file, points.lines + 1, format!("cannot read it: {e}")))?;
        if n == 0 {
            break;
        }
        points.lines += 1;
        let line_no = points.lines;
        let text = buf.trim();
        if text.is_empty() {
            continue;
        }
        let complete = buf.ends_with('\n');
        let line: Line = serde_json::from_str(text).map_err(|e| {
            let why = if complete {
                format!("not a k6 JSON line (column {}): {e}", e.column())
            } else {
                format!("the file ends inside this line (truncated?): {e}")
            };
            ImportError::at(file, line_no, why)
        })?;
        points
            .take(line, on_point)
            .map_err(|e| ImportError::at(file, line_no, e))?;
    }
    if points.declared.is_empty() && points.samples == 0 {
        return Err(ImportError::new(
            file,
            "no k6 metrics or points in it; expected the file `k6 run --out json=FILE` writes",
        ));
    }
    Ok(points)
}

impl Points {
    fn take(&mut self, line: Line, on_point: &mut dyn FnMut(Point<'_>) -> Flow) -> Result<(), String> {
        match line.kind.as_str() {
            "Metric" => {
                let d: MetricData =
                    serde_json::from_value(line.data).map_err(|e| format!("a Metric line's `data`: {e}"))?;
                let kind =
                    Kind::parse(&d.kind).ok_or_else(|| format!("metric {:?}: unknown type {:?}", d.name, d.kind))?;
                self.declared.insert(
                    d.name,
                    Declared {
                        kind,
                        thresholds: d.thresholds.unwrap_or_default(),
                        submetrics: d.submetrics.unwrap_or_default().into_iter().map(|s| s.name).collect(),
                    },
                );
                Ok(())
            }
            "Point" => {
                let metric = line.metric.ok_or("a Point line without `metric`")?;
                let d: PointData =
                    serde_json::from_value(line.data).map_err(|e| format!("a Point line's `data`: {e}"))?;
                let time_ms = chrono::DateTime::parse_from_rfc3339(&d.time)
                    .map_err(|e| format!("`data.time` {:?}: not an RFC 3339 time: {e}", d.time))?
                    .timestamp_millis();
                if !d.value.is_finite() {
                    return Err(format!("`data.value` of {metric}: not a finite number"));
                }
                let tags: BTreeMap<String, String> = d
                    .tags
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| {
                        let v = match v {
                            serde_json::Value::String(s) => s,
                            other => other.to_string(),
                        };
                        (k, v)
                    })
                    .collect();
                let tag_index = self.intern(tags);
                let seq = self.samples;
                self.samples += 1;
                let origin_ms = *self.first_ms.get_or_insert(time_ms);
                self.span = Some(match self.span {
                    Some((lo, hi)) => (lo.min(time_ms), hi.max(time_ms)),
                    None => (time_ms, time_ms),
                });
                // Values are kept for trends, and for a metric not (yet)
                // declared, whose kind is not known.
                let keep_values = self.declared.get(&metric).is_none_or(|d| d.kind == Kind::Trend);
                let series = match self.series.get_mut(&metric) {
                    Some(s) => s,
                    None => self.series.entry(metric.clone()).or_default(),
                };
                series
                    .entry(tag_index)
                    .or_insert_with(|| Agg::new(keep_values))
                    .record(d.value, seq);
                on_point(Point {
                    metric: &metric,
                    value: d.value,
                    time_ms,
                    tag_index,
                    tags: &self.tags[tag_index as usize],
                    origin_ms,
                })
            }
            other => Err(format!("`type` {other:?}: expected \"Metric\" or \"Point\"")),
        }
    }

    fn intern(&mut self, tags: BTreeMap<String, String>) -> u32 {
        if let Some(i) = self.index.get(&tags) {
            return *i;
        }
        let i = self.tags.len() as u32;
        self.index.insert(tags.clone(), i);
        self.tags.push(tags);
        i
    }

    /// The merged aggregate of the samples a k6 selector names
    /// (`http_req_duration`, `http_req_duration{name:search,method:GET}`):
    /// the metric's samples whose tags hold every pair; `None` when there
    /// are none.
    pub fn select(&self, selector: &str) -> Result<Option<Agg>, String> {
        let (metric, filter) = parse_selector(selector)?;
        let Some(series) = self.series.get(metric) else {
            return Ok(None);
        };
        // In tag-set order, so that merging is the same on every read.
        let mut matching: Vec<(&u32, &Agg)> = series
            .iter()
            .filter(|(t, _)| {
                let tags = &self.tags[**t as usize];
                filter.iter().all(|(k, v)| tags.get(*k).map(String::as_str) == Some(*v))
            })
            .collect();
        matching.sort_by_key(|(t, _)| **t);
        let mut out: Option<Agg> = None;
        for (_, agg) in matching {
            match &mut out {
                Some(o) => o.merge(agg),
                None => out = Some(agg.clone()),
            }
        }
        Ok(out)
    }

    /// A trend's statistics for a selector, as k6's summary computes them.
    pub fn trend(&self, selector: &str) -> Result<Option<TrendStats>, String> {
        Ok(self
            .select(selector)?
            .and_then(|a| a.sketch)
            .map(|sketch| TrendStats { sketch }))
    }

    /// A counter's sum for a selector.
    pub fn sum(&self, selector: &str) -> Result<f64, String> {
        Ok(self.select(selector)?.map_or(0.0, |a| a.sum))
    }

    /// A rate's non-zero samples and all its samples, for a selector.
    pub fn rate(&self, selector: &str) -> Result<(u64, u64), String> {
        Ok(self.select(selector)?.map_or((0, 0), |a| (a.nonzero, a.count)))
    }

    /// The earliest and the latest sample's time, in unix milliseconds.
    pub fn span_ms(&self) -> Option<(i64, i64)> {
        self.span
    }

    /// The first sample's time in the file, unix ms: second 0 of the
    /// timeline starts there.
    pub fn origin_ms(&self) -> Option<i64> {
        self.first_ms
    }
}

/// The endpoint a tag set names: its `name` tag, else its `url`.
pub fn endpoint_of(tags: &BTreeMap<String, String>) -> Option<&str> {
    tags.get("name").or_else(|| tags.get("url")).map(String::as_str)
}

/// A selector's metric and its `tag:value` pairs.
pub type Selector<'a> = (&'a str, Vec<(&'a str, &'a str)>);

/// `metric{k:v,…}` into the metric and its tag pairs.
pub fn parse_selector(selector: &str) -> Result<Selector<'_>, String> {
    let Some(open) = selector.find('{') else {
        return Ok((selector.trim(), Vec::new()));
    };
    let inner = selector[open + 1..]
        .strip_suffix('}')
        .ok_or_else(|| format!("{selector:?}: a tag filter must end with `}}`"))?;
    let pairs = inner
        .split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|p| {
            p.split_once(':')
                .map(|(k, v)| (k.trim(), v.trim()))
                .ok_or_else(|| format!("{selector:?}: `{p}` is not tag:value"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((selector[..open].trim(), pairs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Result<Points, ImportError> {
        read(Path::new("t.ndjson"), text.as_bytes(), &mut |_| Ok(()))
    }

    #[test]
    fn selectors_filter_by_tags() {
        let p = lines(concat!(
            r#"{"type":"Metric","metric":"d","data":{"name":"d","type":"trend","thresholds":["p(95)<1"],"submetrics":null}}"#,
            "\n",
            r#"{"type":"Point","metric":"d","data":{"time":"2026-01-01T00:00:00.5Z","value":1,"tags":{"name":"a","status":"200"}}}"#,
            "\n",
            r#"{"type":"Point","metric":"d","data":{"time":"2026-01-01T00:00:01Z","value":3,"tags":{"name":"b","status":"200"}}}"#,
            "\n",
            r#"{"type":"Point","metric":"d","data":{"time":"2026-01-01T00:00:02Z","value":5,"tags":{"name":"a","status":500}}}"#,
            "\n"
        ))
        .unwrap();
        assert_eq!(p.declared["d"].thresholds, vec!["p(95)<1"]);
        let a = p.trend("d{name:a}").unwrap().unwrap();
        assert_eq!((a.stat("min"), a.stat("max"), a.count()), (Some(1.0), Some(5.0), 2));
        assert_eq!(a.stat("med"), Some(3.0));
        assert_eq!(p.trend("d{name:a,status:500}").unwrap().unwrap().count(), 1);
        assert_eq!(p.trend("d").unwrap().unwrap().count(), 3);
        assert!(p.trend("d{name:c}").unwrap().is_none());
        assert_eq!(p.span_ms().map(|(a, b)| b - a), Some(1500));
        assert!(p.select("d{name}").is_err());
        assert_eq!(p.sum("d{name:a}").unwrap(), 6.0);
        assert_eq!(p.select("d").unwrap().unwrap().last.1, 5.0);
    }

    #[test]
    fn a_bad_or_truncated_line_is_named() {
        let good = r#"{"type":"Point","metric":"d","data":{"time":"2026-01-01T00:00:00Z","value":1,"tags":{}}}"#;
        let e = lines(&format!("{good}\n{{\"type\":\"Po")).unwrap_err();
        assert_eq!(e.line, Some(2));
        assert!(e.message.contains("truncated"), "{e}");
        let e = lines(&format!("{good}\n{{\"type\":\"Nope\",\"data\":{{}}}}\n")).unwrap_err();
        assert_eq!(e.line, Some(2));
        assert!(e.to_string().starts_with("t.ndjson: line 2: "), "{e}");
        let e = lines("\n\n").unwrap_err();
        assert_eq!(e.line, None);
        let e = lines(&good.replace("2026-01-01T00:00:00Z", "yesterday")).unwrap_err();
        assert!(e.message.contains("RFC 3339"), "{e}");
    }
}
