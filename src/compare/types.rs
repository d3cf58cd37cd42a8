//! `comparison.json`: what a comparison found, series by series.

use serde::{Deserialize, Serialize};

/// The `schema` value of this version of `comparison.json`.
pub const SCHEMA: &str = "loadcheck.comparison/v1";

/// The file: every comparison made for one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComparisonFile {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// The run compared.
    pub run: RunRef,
    /// One per source the run was compared with (head vs tail, a duet
    /// peer, a store, another run).
    pub comparisons: Vec<Comparison>,
}

/// A run, as a comparison names it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRef {
    /// The plan's id.
    pub id: String,
    /// When its load started.
    pub started_at: String,
    /// Where it was read from, when it was read from a file.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub path: Option<String>,
}

/// What a run was compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The tail (new version) against the head (old version) of one
    /// rollout run.
    HeadVsTail,
    /// The same requests sent to a baseline target at the same time.
    Duet,
    /// The runs of a baseline store since its last change point.
    History,
    /// Another run's `run.json`.
    Run,
}

impl Source {
    /// How the summary names it.
    pub fn label(self) -> &'static str {
        match self {
            Source::HeadVsTail => "head vs tail",
            Source::Duet => "duet",
            Source::History => "history",
            Source::Run => "run vs run",
        }
    }
}

/// One comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// What the run was compared with.
    pub source: Source,
    /// Whether a regression here fails the verdict (`head_vs_tail =
    /// "report"` reports only).
    pub gating: bool,
    /// The baseline side: a file, a store's runs, or the head.
    pub baseline: BaselineRef,
    /// The method's settings, as used.
    pub method: Method,
    /// Every endpoint × phase × metric.
    pub series: Vec<Series>,
    /// How many series fell in each class.
    pub counts: Counts,
    /// What the reader must know (runs left out, fallbacks, missing data).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub notes: Vec<String>,
}

/// The baseline side of a comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaselineRef {
    /// In words: "the head (v1) of this run", "12 runs of baselines/x.json".
    pub description: String,
    /// The file read, when one was.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub path: Option<String>,
    /// The runs compared with (1 for a run or the head).
    pub runs: usize,
    /// Store runs left out, and why (another testbed, before a change
    /// point, not accepted).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub left_out: Vec<LeftOut>,
}

/// A stored run left out of a history comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeftOut {
    /// Its start.
    pub started_at: String,
    /// Why.
    pub why: String,
}

/// The method's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Method {
    /// `block_bootstrap` (two runs' seconds) or `prediction_interval`
    /// (a history's run values).
    pub name: String,
    /// The level of the intervals shown.
    pub confidence: f64,
    /// The family-wise error rate, shared by all series (Holm).
    pub alpha: f64,
    /// Bootstrap resamples per side (0 for a prediction interval).
    pub resamples: usize,
    /// The plan's `min_effect`.
    pub min_effect: f64,
    /// The tail's warm-up left out, seconds (head vs tail).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub warmup_s: Option<f64>,
}

/// A compared metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Median `http_req_duration`, ms.
    P50,
    /// 95th percentile, ms.
    P95,
    /// 99th percentile, ms.
    P99,
    /// Failed requests over requests.
    ErrorRate,
    /// Requests per second (closed model).
    Throughput,
    /// Dropped sends over scheduled sends (open model).
    Dropped,
}

impl Metric {
    /// Every metric, in the order reported.
    pub const ALL: [Metric; 6] = [
        Metric::P50,
        Metric::P95,
        Metric::P99,
        Metric::ErrorRate,
        Metric::Throughput,
        Metric::Dropped,
    ];

    /// The name used in files and the summary.
    pub fn name(self) -> &'static str {
        match self {
            Metric::P50 => "p50",
            Metric::P95 => "p95",
            Metric::P99 => "p99",
            Metric::ErrorRate => "error_rate",
            Metric::Throughput => "throughput",
            Metric::Dropped => "dropped",
        }
    }

    /// The unit of its values.
    pub fn unit(self) -> &'static str {
        match self {
            Metric::P50 | Metric::P95 | Metric::P99 => "ms",
            Metric::ErrorRate | Metric::Dropped => "fraction",
            Metric::Throughput => "req/s",
        }
    }

    /// Whether its change is relative (a ratio) rather than a difference
    /// of fractions.
    pub fn relative(self) -> bool {
        !matches!(self, Metric::ErrorRate | Metric::Dropped)
    }

    /// +1 when larger is worse, -1 when smaller is worse.
    pub fn worse(self) -> f64 {
        if self == Metric::Throughput { -1.0 } else { 1.0 }
    }
}

/// What a series' change is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    /// Worse, with the whole interval beyond the minimum effect, and
    /// significant after Holm.
    Regression,
    /// Better, likewise.
    Improvement,
    /// The whole interval within the minimum effect either way.
    Unchanged,
    /// Neither: the interval straddles the minimum effect, or the data is
    /// too thin.
    Inconclusive,
    /// Only in the run.
    New,
    /// Only in the baseline.
    Missing,
}

impl Class {
    /// The name used in files and the summary.
    pub fn name(self) -> &'static str {
        match self {
            Class::Regression => "regression",
            Class::Improvement => "improvement",
            Class::Unchanged => "unchanged",
            Class::Inconclusive => "inconclusive",
            Class::New => "new",
            Class::Missing => "missing",
        }
    }
}

/// One endpoint × phase × metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    /// The endpoint (`*` for a run-wide metric such as dropped sends).
    pub endpoint: String,
    /// The phase: `run` without a rollout, else `head`, `rollout`,
    /// `tail` (after its warm-up).
    pub phase: String,
    /// The metric.
    pub metric: Metric,
    /// Its unit (`ms`, `fraction`, `req/s`).
    pub unit: String,
    /// The baseline's value.
    pub baseline: Option<f64>,
    /// The run's value.
    pub value: Option<f64>,
    /// The change: relative (`0.12` = +12%) for latencies and throughput,
    /// a difference of fractions for rates.
    pub change: Option<f64>,
    /// The interval of the change, at `method.confidence`.
    pub interval: Option<[f64; 2]>,
    /// The minimum effect that applied: the largest of `min_effect`, the
    /// metric's floor and the history's noise floor, in the change's unit.
    pub threshold: f64,
    /// What set the threshold: `min_effect`, `floor` or `noise`.
    pub threshold_from: String,
    /// The minimum detectable effect: the smallest change, in the
    /// change's unit, that this baseline's noise would let through as a
    /// regression.
    pub mde: Option<f64>,
    /// The Holm-adjusted p-value of "worse by more than the threshold".
    pub p_value: Option<f64>,
    /// The class.
    pub class: Class,
    /// Why a series is inconclusive, or that its MDE is above
    /// `min_effect`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub note: Option<String>,
}

/// Series per class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Regressions.
    pub regression: usize,
    /// Improvements.
    pub improvement: usize,
    /// Unchanged.
    pub unchanged: usize,
    /// Inconclusive.
    pub inconclusive: usize,
    /// New.
    pub new: usize,
    /// Missing.
    pub missing: usize,
}

impl Counts {
    /// Counts the classes of `series`.
    pub fn of(series: &[Series]) -> Counts {
        let mut c = Counts::default();
        for s in series {
            *match s.class {
                Class::Regression => &mut c.regression,
                Class::Improvement => &mut c.improvement,
                Class::Unchanged => &mut c.unchanged,
                Class::Inconclusive => &mut c.inconclusive,
                Class::New => &mut c.new,
                Class::Missing => &mut c.missing,
            } += 1;
        }
        c
    }
}

impl ComparisonFile {
    /// The regressions that fail the verdict.
    pub fn gating_regressions(&self) -> impl Iterator<Item = (&Comparison, &Series)> {
        self.comparisons.iter().filter(|c| c.gating).flat_map(|c| {
            c.series
                .iter()
                .filter(|s| s.class == Class::Regression)
                .map(move |s| (c, s))
        })
    }
}
