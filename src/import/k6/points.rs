//! k6's `--out json` stream: one JSON object a line, each a metric's
//! declaration (`"type": "Metric"`, with its kind, thresholds and
//! sub-metrics) or a sample (`"type": "Point"`, with its time, value and
//! tags).
//!
//! The file is read line by line, never whole. Each sample is kept as its
//! value, its time and an index into a table of the distinct tag sets, so a
//! sample costs 24 bytes whatever its line's length; any k6 selector
//! (`http_req_duration{name:search}`) is then recomputed from them exactly
//! as k6 computes its summary.

use std::collections::{BTreeMap, HashMap};
use std::io::BufRead;
use std::path::Path;

use serde::Deserialize;

use super::error::ImportError;
use super::percentile;
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

/// One sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Its value (milliseconds for time metrics).
    pub value: f64,
    /// When, in unix milliseconds.
    pub time_ms: i64,
    /// Its tag set, an index into [`Points::tags`].
    pub tags: u32,
}

/// A trend's statistics as k6 computes them.
#[derive(Debug, Clone, PartialEq)]
pub struct TrendStats {
    /// The samples, sorted.
    pub sorted: Vec<f64>,
    /// Their mean.
    pub avg: f64,
}

impl TrendStats {
    /// How many samples.
    pub fn count(&self) -> usize {
        self.sorted.len()
    }

    /// k6's statistic by its name: `avg`, `min`, `med`, `max`, `count`,
    /// `p(N)`.
    pub fn stat(&self, name: &str) -> Option<f64> {
        match name {
            "avg" => Some(self.avg),
            "min" => self.sorted.first().copied(),
            "max" => self.sorted.last().copied(),
            "count" => Some(self.sorted.len() as f64),
            _ => percentile::k6(&self.sorted, percentile::of_name(name)?),
        }
    }
}

/// Everything a stream holds.
#[derive(Debug, Clone, Default)]
pub struct Points {
    /// Metrics by name, as declared.
    pub declared: BTreeMap<String, Declared>,
    /// Samples by metric, in the file's order.
    pub samples: BTreeMap<String, Vec<Sample>>,
    /// The distinct tag sets.
    pub tags: Vec<BTreeMap<String, String>>,
    index: HashMap<BTreeMap<String, String>, u32>,
    /// Lines read.
    pub lines: u64,
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

/// Reads a stream; `file` names it in errors.
pub fn read(file: &Path, reader: impl BufRead) -> Result<Points, ImportError> {
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
        points.take(line).map_err(|e| ImportError::at(file, line_no, e))?;
    }
    if points.declared.is_empty() && points.samples.is_empty() {
        return Err(ImportError::new(
            file,
            "no k6 metrics or points in it; expected the file `k6 run --out json=FILE` writes",
        ));
    }
    Ok(points)
}

impl Points {
    fn take(&mut self, line: Line) -> Result<(), String> {
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
                let tags = self.intern(tags);
                self.samples.entry(metric).or_default().push(Sample {
                    value: d.value,
                    time_ms,
                    tags,
                });
                Ok(())
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

    /// The samples a k6 selector names (`http_req_duration`,
    /// `http_req_duration{name:search,method:GET}`): the metric's samples
    /// whose tags hold every pair.
    pub fn select(&self, selector: &str) -> Result<Vec<&Sample>, String> {
        let (metric, filter) = parse_selector(selector)?;
        let Some(samples) = self.samples.get(metric) else {
            return Ok(Vec::new());
        };
        let matches: Vec<bool> = self
            .tags
            .iter()
            .map(|t| filter.iter().all(|(k, v)| t.get(*k).map(String::as_str) == Some(*v)))
            .collect();
        Ok(samples.iter().filter(|s| matches[s.tags as usize]).collect())
    }

    /// A trend's statistics for a selector, as k6's summary computes them.
    pub fn trend(&self, selector: &str) -> Result<Option<TrendStats>, String> {
        let mut values: Vec<f64> = self.select(selector)?.iter().map(|s| s.value).collect();
        if values.is_empty() {
            return Ok(None);
        }
        values.sort_by(f64::total_cmp);
        let avg = values.iter().sum::<f64>() / values.len() as f64;
        Ok(Some(TrendStats { sorted: values, avg }))
    }

    /// A counter's sum for a selector.
    pub fn sum(&self, selector: &str) -> Result<f64, String> {
        Ok(self.select(selector)?.iter().map(|s| s.value).sum())
    }

    /// A rate's non-zero samples and all its samples, for a selector.
    pub fn rate(&self, selector: &str) -> Result<(u64, u64), String> {
        let s = self.select(selector)?;
        Ok((s.iter().filter(|x| x.value != 0.0).count() as u64, s.len() as u64))
    }

    /// The endpoint a sample is for: its `name` tag, else its `url`.
    pub fn endpoint(&self, sample: &Sample) -> Option<&str> {
        endpoint_of(&self.tags[sample.tags as usize])
    }

    /// The first and the last sample's time, in unix milliseconds.
    pub fn span_ms(&self) -> Option<(i64, i64)> {
        let times = self.samples.values().flatten().map(|s| s.time_ms);
        let (mut lo, mut hi) = (i64::MAX, i64::MIN);
        for t in times {
            lo = lo.min(t);
            hi = hi.max(t);
        }
        (lo <= hi).then_some((lo, hi))
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
        read(Path::new("t.ndjson"), text.as_bytes())
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
        assert_eq!(a.sorted, vec![1.0, 5.0]);
        assert_eq!(a.stat("med"), Some(3.0));
        assert_eq!(p.trend("d{name:a,status:500}").unwrap().unwrap().count(), 1);
        assert_eq!(p.trend("d").unwrap().unwrap().count(), 3);
        assert!(p.trend("d{name:c}").unwrap().is_none());
        assert_eq!(p.span_ms().map(|(a, b)| b - a), Some(1500));
        assert!(p.select("d{name}").is_err());
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
