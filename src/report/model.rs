//! What every format shows, computed once from the files: the verdict
//! line, the reliability table, the per-endpoint and per-phase tables,
//! availability, delivery, the generator's health and the baseline deltas.
//! Every value is already written with its unit, so the terminal summary,
//! the Markdown templates and JUnit say the same thing the same way.

mod sections;
mod validated;

use std::collections::BTreeMap;

use serde::Serialize;

use super::Input;
use crate::compare::{Class, ComparisonFile, Series};
use crate::metrics::result::{ReasonKind, RunStatus, StatsSummary, VerdictResult};
use crate::metrics::{ErrorClass, RunResult};
use crate::plan::record::PlanRecord;
use crate::plan::units::{self, count, ms, percent, secs};
use crate::plan::{ReportLink, SignoffItem};

use sections::lat;
pub use sections::{Availability, Delivery, Generator, PhaseRow, Rollout};
pub use validated::RequirementRow;

/// Everything a report shows.
#[derive(Debug, Clone, Serialize)]
pub struct Model {
    /// `[report] title`, else the plan's name.
    pub title: String,
    /// The plan's id.
    pub plan_id: String,
    /// The verdict.
    pub verdict: VerdictView,
    /// About the run.
    pub run: RunView,
    /// `[report] links`.
    pub links: Vec<ReportLink>,
    /// What failed, one line each, most important first: failed
    /// requirements, failed thresholds, regressions, then the rest of the
    /// verdict's reasons.
    pub failures: Vec<String>,
    /// The reliability table, one row per requirement.
    pub requirements: Vec<RequirementRow>,
    /// The thresholds.
    pub thresholds: Vec<ThresholdRow>,
    /// One row per endpoint.
    pub endpoints: Vec<EndpointRow>,
    /// Every endpoint together.
    pub total: EndpointRow,
    /// Failed requests by class, with the statuses each holds.
    pub errors: Vec<ErrorRow>,
    /// Head, rollout and tail.
    pub phases: Vec<PhaseRow>,
    /// How the rollout went.
    pub rollout: Option<Rollout>,
    /// Downtime, outages, RTO and time to detect.
    pub availability: Option<Availability>,
    /// The sink's figures.
    pub delivery: Option<Delivery>,
    /// The open-model pacer's health.
    pub generator: Option<Generator>,
    /// One line per probe.
    pub probes: Vec<String>,
    /// The comparisons with baselines.
    pub comparisons: Vec<ComparisonView>,
    /// The release sign-off: one item per requirement.
    pub signoff: Vec<SignoffRow>,
    /// `[[report.signoff]]`: manual items for people to tick.
    pub manual: Vec<SignoffItem>,
    /// Where the run can be seen (its Actions run), when known.
    pub run_url: Option<String>,
    /// For a ramping run: the load at which the thresholds first broke.
    pub knee: Option<String>,
}

/// The verdict, as every format opens.
#[derive(Debug, Clone, Serialize)]
pub struct VerdictView {
    /// `PASS`, `FAIL`, `ERROR`, or `NO VERDICT` for a file without one.
    pub word: String,
    /// `✅`, `❌` or `⚠️`.
    pub icon: String,
    /// Whether it passed.
    pub pass: bool,
    /// The exit code it stands for.
    pub exit_code: Option<i32>,
    /// The one line, in Markdown: `✅ **PASS**: demo — 4,185 requests in
    /// 16.8 s; 5/5 requirements met; …`.
    pub line: String,
    /// The same line as plain text, for a terminal.
    pub plain: String,
    /// Every reason, one line each.
    pub reasons: Vec<String>,
}

/// About the run.
#[derive(Debug, Clone, Serialize)]
pub struct RunView {
    /// When its load started.
    pub started_at: String,
    /// How long it ran, with its unit.
    pub duration: String,
    /// `completed`, `aborted (…)`, or `killed (…)`.
    pub status: String,
    /// loadcheck's version.
    pub version: String,
    /// The git commit, short, with its branch.
    pub git: Option<String>,
    /// The machine: OS, arch, CPUs, CPU model.
    pub testbed: String,
}

/// A threshold.
#[derive(Debug, Clone, Serialize)]
pub struct ThresholdRow {
    /// The selector.
    pub metric: String,
    /// The condition.
    pub expression: String,
    /// The measured value with its unit, or why there is none.
    pub measured: String,
    /// Whether it holds.
    pub ok: bool,
}

/// A row of the per-endpoint table.
#[derive(Debug, Clone, Serialize)]
pub struct EndpointRow {
    /// The endpoint (or `total`).
    pub name: String,
    /// Requests sent.
    pub requests: String,
    /// Requests that failed.
    pub failed: String,
    /// The failure rate.
    pub failed_rate: String,
    /// Mean requests per second.
    pub rps: String,
    /// The busiest second's requests per second.
    pub max_rps: String,
    /// Latency percentiles, with their unit.
    pub p50: String,
    /// p90.
    pub p90: String,
    /// p95.
    pub p95: String,
    /// p99.
    pub p99: String,
    /// The slowest.
    pub max: String,
    /// Every status code answered, most frequent first: `200 ×2,412, 404 ×2`.
    pub statuses: String,
}

/// An error class.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorRow {
    /// The class.
    pub class: String,
    /// How many.
    pub count: String,
    /// The unexpected statuses it holds: `502 ×7, 503 ×5`.
    pub statuses: String,
}

/// One comparison with a baseline.
#[derive(Debug, Clone, Serialize)]
pub struct ComparisonView {
    /// What it was compared with.
    pub description: String,
    /// Head vs tail, duet, store, run.
    pub source: String,
    /// Whether a regression fails the verdict.
    pub gating: bool,
    /// `1 regression, 0 improvements, 11 unchanged, 2 inconclusive`.
    pub counts: String,
    /// The method and its confidence.
    pub method: String,
    /// The regressions and improvements, then inconclusive series with a
    /// note, then the rest.
    pub rows: Vec<DeltaRow>,
    /// Its notes.
    pub notes: Vec<String>,
}

/// One compared series.
#[derive(Debug, Clone, Serialize)]
pub struct DeltaRow {
    /// `search tail p95`.
    pub series: String,
    /// `regression`, `improvement`, `unchanged`, `inconclusive`, `new`,
    /// `missing`.
    pub class: String,
    /// `✗`, `✓`, `=`, `?`.
    pub mark: String,
    /// `slower`, `faster`, `more errors`, …
    pub direction: String,
    /// `+31.2%`.
    pub change: String,
    /// `[+24.0%, +38.5%]`.
    pub interval: String,
    /// The baseline's value with its unit.
    pub before: String,
    /// The run's value with its unit.
    pub after: String,
    /// The smallest change that counts.
    pub threshold: String,
    /// Why it is inconclusive, when it is.
    pub note: Option<String>,
}

/// One item of the release sign-off.
#[derive(Debug, Clone, Serialize)]
pub struct SignoffRow {
    /// Ticked: validated by this run.
    pub checked: bool,
    /// The requirement.
    pub name: String,
    /// Its target.
    pub target: String,
    /// The measured value, with its unit.
    pub measured: String,
    /// What tested it.
    pub validated: String,
}

impl Model {
    /// Everything a report shows, from the files.
    pub fn of(input: &Input<'_>) -> Model {
        let r = input.run;
        let record = PlanRecord::from_json(std::path::Path::new("run.json"), &r.plan).ok();
        let report = record.as_ref().map(|p| p.report.clone()).unwrap_or_default();
        let name = r.plan.get("name").and_then(|v| v.as_str()).unwrap_or(&r.id).to_string();
        let requirements = validated::requirements(r, record.as_ref());
        let thresholds: Vec<ThresholdRow> = r
            .thresholds
            .iter()
            .map(|t| ThresholdRow {
                metric: t.metric.clone(),
                expression: t.expression.clone(),
                measured: if t.not_in_file {
                    "not in this file".into()
                } else {
                    units::measured(units::check_parts(&t.metric, &t.expression), t.value)
                },
                ok: t.ok,
            })
            .collect();
        let comparisons = input.comparison.map(comparison_views).unwrap_or_default();
        let verdict = verdict(r, &name, &requirements, &thresholds, input.comparison);
        let failures = failures(r, &requirements, &thresholds, input.comparison);
        let signoff = requirements
            .iter()
            .map(|q| SignoffRow {
                checked: q.ok,
                name: q.name.clone(),
                target: q.target.clone(),
                measured: q.measured.clone(),
                validated: q.validated.clone(),
            })
            .collect();
        Model {
            title: report.title.clone().unwrap_or_else(|| name.clone()),
            plan_id: r.id.clone(),
            verdict,
            run: run_view(r),
            links: report.links.clone(),
            failures,
            requirements,
            thresholds,
            endpoints: r
                .stats
                .endpoints
                .iter()
                .map(|(n, s)| endpoint_row(r, n, s, r.timeline.endpoints.get(n).map(Vec::as_slice)))
                .collect(),
            total: endpoint_row(r, "total", &r.stats.total, Some(&r.timeline.total)),
            errors: errors(r),
            phases: sections::phases(r),
            rollout: sections::rollout(r),
            availability: sections::availability(r),
            delivery: sections::delivery(r),
            generator: sections::generator(r),
            probes: sections::probes(r),
            comparisons,
            signoff,
            manual: report.signoff,
            run_url: run_url(r),
            knee: super::knee::find(r).map(|k| k.line()),
        }
    }
}

fn run_view(r: &RunResult) -> RunView {
    let m = &r.metadata;
    let t = &m.testbed;
    let mut testbed = format!(
        "{} {}, {} CPU{}",
        t.os,
        t.arch,
        t.cpus,
        if t.cpus == 1 { "" } else { "s" }
    );
    if let Some(model) = &t.cpu_model {
        testbed.push_str(&format!(" ({model})"));
    }
    RunView {
        started_at: r.started_at.clone(),
        duration: secs(r.duration_s),
        status: status(r),
        version: m.loadcheck_version.clone(),
        git: m.git.as_ref().map(|g| {
            let sha: String = g.sha.chars().take(12).collect();
            match &g.branch {
                Some(b) => format!("{sha} ({b})"),
                None => sha,
            }
        }),
        testbed,
    }
}

fn status(r: &RunResult) -> String {
    match r.status {
        RunStatus::Completed => "completed".into(),
        RunStatus::Aborted => format!(
            "aborted ({})",
            r.abort
                .as_ref()
                .map_or_else(|| "unknown".to_string(), ToString::to_string)
        ),
        RunStatus::Running => "killed (run.json still says running)".into(),
        RunStatus::Killed => format!(
            "killed ({})",
            r.recovered
                .as_ref()
                .map_or_else(|| "read back from its files".to_string(), ToString::to_string)
        ),
    }
}

/// The Actions run's page, from the metadata the run recorded
/// (`GITHUB_SERVER_URL`, `GITHUB_REPOSITORY`, `GITHUB_RUN_ID` when it ran).
/// Never from the environment `report` runs in: that may be another job.
fn run_url(r: &RunResult) -> Option<String> {
    let gh = r.metadata.github.as_ref()?;
    let server = gh.server_url.as_deref()?;
    let repo = gh.repository.as_deref()?;
    let id = gh.run_id.as_deref()?;
    Some(format!("{}/{repo}/actions/runs/{id}", server.trim_end_matches('/')))
}

fn verdict(
    r: &RunResult,
    name: &str,
    requirements: &[RequirementRow],
    thresholds: &[ThresholdRow],
    comparison: Option<&ComparisonFile>,
) -> VerdictView {
    let (word, icon, pass) = match r.verdict.as_ref().map(|v| v.result) {
        Some(VerdictResult::Pass) => ("PASS", "✅", true),
        Some(VerdictResult::Fail) => ("FAIL", "❌", false),
        Some(VerdictResult::Error) => ("ERROR", "⚠️", false),
        None => ("NO VERDICT", "⚠️", false),
    };
    let mut parts = vec![format!(
        "{} requests in {}",
        count(r.stats.total.requests),
        secs(r.duration_s)
    )];
    let held = |oks: &mut dyn Iterator<Item = bool>| {
        let (n, ok) = oks.fold((0, 0), |(n, ok), b| (n + 1, ok + usize::from(b)));
        (n, ok)
    };
    let (n, ok) = held(&mut requirements.iter().map(|q| q.ok));
    if n > 0 {
        parts.push(format!("{ok}/{n} requirements met"));
    }
    let (n, ok) = held(&mut thresholds.iter().map(|t| t.ok));
    if n > 0 {
        parts.push(format!("{ok}/{n} thresholds held"));
    }
    if let Some(ro) = &r.rollout {
        let status = serde_json::to_value(ro.trigger.status)
            .ok()
            .and_then(|v| v.as_str().map(|s| s.replace('_', " ")))
            .unwrap_or_default();
        let zd = match &ro.zero_downtime {
            Some(z) if z.ok => " with zero downtime",
            Some(_) => " with failed requests",
            None => "",
        };
        parts.push(format!("rollout {status}{zd}"));
    }
    if let Some(c) = comparison {
        let regressions: usize = c.comparisons.iter().map(|c| c.counts.regression).sum();
        parts.push(format!(
            "{regressions} regression{}",
            if regressions == 1 { "" } else { "s" }
        ));
    }
    if r.status != RunStatus::Completed {
        parts.push(status(r));
    }
    let reasons = r
        .verdict
        .as_ref()
        .map(|v| {
            v.reasons
                .iter()
                .map(|x| format!("{}: {}", kind_name(x.kind), x.detail))
                .collect()
        })
        .unwrap_or_default();
    VerdictView {
        word: word.into(),
        icon: icon.into(),
        pass,
        exit_code: r.verdict.as_ref().map(|v| v.exit_code),
        line: format!("{icon} **{word}**: {name} — {}", parts.join("; ")),
        plain: format!("{word}: {name} — {}", parts.join("; ")),
        reasons,
    }
}

/// The verdict's kinds of reason, for people.
pub fn kind_name(kind: ReasonKind) -> &'static str {
    match kind {
        ReasonKind::Threshold => "threshold",
        ReasonKind::Requirement => "requirement",
        ReasonKind::ZeroDowntime => "zero downtime",
        ReasonKind::Rollout => "rollout",
        ReasonKind::Fault => "fault",
        ReasonKind::Abort => "abort",
        ReasonKind::Regression => "regression",
    }
}

fn failures(
    r: &RunResult,
    requirements: &[RequirementRow],
    thresholds: &[ThresholdRow],
    comparison: Option<&ComparisonFile>,
) -> Vec<String> {
    let mut out: Vec<String> = requirements
        .iter()
        .filter(|q| !q.ok)
        .map(|q| format!("requirement **{}** (target {}): {}", q.name, q.target, q.measured))
        .collect();
    out.extend(
        thresholds
            .iter()
            .filter(|t| !t.ok)
            .map(|t| format!("threshold `{} {}`: {}", t.metric, t.expression, t.measured)),
    );
    if let Some(c) = comparison {
        for (cmp, s) in c.gating_regressions() {
            out.push(format!(
                "regression against {}: {}",
                cmp.baseline.description,
                series_line(s)
            ));
        }
    }
    if let Some(v) = &r.verdict {
        out.extend(
            v.reasons
                .iter()
                .filter(|x| {
                    !matches!(
                        x.kind,
                        ReasonKind::Threshold | ReasonKind::Requirement | ReasonKind::Regression
                    )
                })
                .map(|x| format!("{}: {}", kind_name(x.kind), x.detail)),
        );
    }
    out
}

fn endpoint_row(
    r: &RunResult,
    name: &str,
    s: &StatsSummary,
    timeline: Option<&[crate::metrics::result::TimelineRow]>,
) -> EndpointRow {
    let l = s.latency_ms.as_ref();
    let res = f64::from(r.timeline.resolution_s.max(1));
    let max_rps = timeline
        .and_then(|rows| rows.iter().map(|t| t.requests).max())
        .map_or_else(|| "-".into(), |m| units::per_second(m as f64 / res, "requests"));
    let mut statuses: Vec<(&String, &u64)> = s.status.iter().collect();
    statuses.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    // A killed run's log holds no failure: its count is not known.
    let unknown = r.recovered.is_some();
    EndpointRow {
        name: name.to_string(),
        requests: count(s.requests),
        failed: if unknown { "unknown".into() } else { count(s.failed) },
        failed_rate: if unknown {
            "unknown".into()
        } else if s.requests == 0 {
            "-".into()
        } else {
            percent(s.failed as f64 / s.requests as f64)
        },
        rps: units::per_second(s.rps, "requests"),
        max_rps,
        p50: lat(l.map(|l| l.p50)),
        p90: lat(l.map(|l| l.p90)),
        p95: lat(l.map(|l| l.p95)),
        p99: lat(l.map(|l| l.p99)),
        max: lat(l.map(|l| l.max)),
        statuses: statuses
            .iter()
            .map(|(c, n)| format!("{c} ×{}", count(**n)))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

fn errors(r: &RunResult) -> Vec<ErrorRow> {
    r.stats
        .total
        .errors
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(c, n)| ErrorRow {
            class: c.clone(),
            count: count(*n),
            statuses: status_codes(r, c),
        })
        .collect()
}

/// The status codes an error class holds, as `404` or `502 ×7, 503 ×5`
/// (most frequent first); empty for a class that is not about statuses.
/// Counted per endpoint, leaving out the statuses the endpoint expects, so
/// a 404 one endpoint expects is not listed as another one's error.
pub fn status_codes(r: &RunResult, class: &str) -> String {
    let Some(class) = ErrorClass::ALL.iter().copied().find(|c| c.name() == class) else {
        return String::new();
    };
    let mut codes: BTreeMap<u16, u64> = BTreeMap::new();
    for (name, s) in &r.stats.endpoints {
        if s.errors.get(class.name()).copied().unwrap_or(0) == 0 {
            continue;
        }
        let expect = expected_statuses(r, name);
        for (code, n) in &s.status {
            let Ok(code) = code.parse::<u16>() else { continue };
            let expected = match &expect {
                Some(list) if !list.is_empty() => list.contains(&code),
                _ => (200..=399).contains(&code),
            };
            if ErrorClass::of_status(code) == class && !expected {
                *codes.entry(code).or_default() += n;
            }
        }
    }
    let mut codes: Vec<(u16, u64)> = codes.into_iter().collect();
    codes.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    match codes.as_slice() {
        [] => String::new(),
        [(code, _)] => code.to_string(),
        _ => codes
            .iter()
            .map(|(code, n)| format!("{code} ×{n}"))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// The `expect` list of an endpoint, read from the plan `run.json` holds.
fn expected_statuses(r: &RunResult, endpoint: &str) -> Option<Vec<u16>> {
    let ep = r
        .plan
        .get("endpoints")?
        .as_array()?
        .iter()
        .find(|e| e.get("name").and_then(|n| n.as_str()) == Some(endpoint))?;
    let list = ep.get("expect")?.as_array()?;
    Some(
        list.iter()
            .filter_map(|v| v.as_u64().and_then(|v| u16::try_from(v).ok()))
            .collect(),
    )
}

/// The comparisons of a `comparison.json`, for people.
pub fn comparison_views(f: &ComparisonFile) -> Vec<ComparisonView> {
    f.comparisons
        .iter()
        .map(|c| {
            let n = &c.counts;
            let plural = |k: usize, one: &str, many: &str| format!("{k} {}", if k == 1 { one } else { many });
            let mut counts = vec![
                plural(n.regression, "regression", "regressions"),
                plural(n.improvement, "improvement", "improvements"),
                format!("{} unchanged", n.unchanged),
                format!("{} inconclusive", n.inconclusive),
            ];
            if n.new > 0 {
                counts.push(format!("{} new", n.new));
            }
            if n.missing > 0 {
                counts.push(format!("{} missing", n.missing));
            }
            let rank = |s: &Series| match s.class {
                Class::Regression => 0,
                Class::Improvement => 1,
                Class::Inconclusive if s.note.is_some() => 2,
                _ => 3,
            };
            let mut series: Vec<&Series> = c.series.iter().collect();
            series.sort_by_key(|s| rank(s));
            ComparisonView {
                description: c.baseline.description.clone(),
                source: c.source.label().to_string(),
                gating: c.gating,
                counts: counts.join(", "),
                method: format!(
                    "{}, {:.0}% confidence, minimum effect {}",
                    c.method.name,
                    c.method.confidence * 100.0,
                    percent(c.method.min_effect)
                ),
                rows: series.into_iter().map(delta_row).collect(),
                notes: c.notes.clone(),
            }
        })
        .collect()
}

fn series_name(s: &Series) -> String {
    format!("{} {} {}", s.endpoint, s.phase, s.metric.name())
}

/// A series' value with its unit.
fn series_value(s: &Series, v: Option<f64>) -> String {
    match (v, s.unit.as_str()) {
        (None, _) => "-".into(),
        (Some(v), "ms") => ms(v),
        (Some(v), "fraction") => percent(v),
        (Some(v), "req/s") => units::per_second(v, "requests"),
        (Some(v), u) => format!("{v:.3} {u}").trim_end().to_string(),
    }
}

fn change(s: &Series, x: f64) -> String {
    if s.metric.relative() {
        format!("{:+.1}%", x * 100.0)
    } else {
        format!("{:+.2} pts", x * 100.0)
    }
}

fn delta_row(s: &Series) -> DeltaRow {
    let (mark, class) = match s.class {
        Class::Regression => ("✗", "regression"),
        Class::Improvement => ("✓", "improvement"),
        Class::Unchanged => ("=", "unchanged"),
        _ => ("?", s.class.name()),
    };
    let direction = match s.change {
        Some(c) if c * s.metric.worse() > 0.0 => "worse",
        Some(c) if c * s.metric.worse() < 0.0 => "better",
        Some(_) => "same",
        None => "-",
    };
    DeltaRow {
        series: series_name(s),
        class: class.into(),
        mark: mark.into(),
        direction: direction.into(),
        change: s.change.map_or_else(|| "-".into(), |x| change(s, x)),
        interval: s
            .interval
            .map_or_else(|| "-".into(), |[a, b]| format!("[{}, {}]", change(s, a), change(s, b))),
        before: series_value(s, s.baseline),
        after: series_value(s, s.value),
        threshold: change(s, s.threshold).trim_start_matches('+').to_string(),
        note: s.note.clone(),
    }
}

/// `search tail p95 +31.2% [+24.0%, +38.5%] (5.10 ms → 6.70 ms; minimum
/// effect 5.0%)`.
pub fn series_line(s: &Series) -> String {
    delta_row(s).line()
}

impl DeltaRow {
    /// The row as one line: `search tail p95 +31.2% [+24.0%, +38.5%]
    /// (5.10 ms → 6.70 ms; minimum effect 5.0%)`.
    pub fn line(&self) -> String {
        format!(
            "{} {}{} ({} → {}; minimum effect {})",
            self.series,
            self.change,
            if self.interval == "-" {
                String::new()
            } else {
                format!(" {}", self.interval)
            },
            self.before,
            self.after,
            self.threshold
        )
    }
}
