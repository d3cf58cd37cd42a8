//! The SVG charts of a run, drawn with plotters: `latency.svg` (p50, p95,
//! p99 over time), `throughput.svg` (requests and errors by class per
//! second), `versions.svg` (the version mix), `spectrum.svg` (the latency
//! percentile spectrum, with the baseline or the head and tail over it) and
//! `probes.svg` (the metric probes' readings), each only when the run has
//! its data. The time charts shade the head, rollout and tail phases and
//! mark the events.
//!
//! Text stays `<text>`, in an embedded font ([`font`]): it is measured and
//! drawn with the same glyphs everywhere.

mod draw;
mod font;
mod spectrum;
mod timeline;

use super::{Format, Input, Rendered};

/// The charts' embedded font (TrueType), for whatever draws them to pixels.
pub use font::TTF as FONT;

/// The SVG charts format.
#[derive(Debug, Clone, Copy, Default)]
pub struct Svg;

impl Format for Svg {
    fn name(&self) -> &'static str {
        "svg"
    }

    fn render(&self, input: &Input<'_>) -> Result<Vec<Rendered>, String> {
        charts(input)?
            .into_iter()
            .map(|(file, chart)| {
                Ok(Rendered {
                    file: file.to_string(),
                    text: draw::render(&chart)?,
                })
            })
            .collect()
    }
}

/// The charts `input` has data for, by file name, not yet drawn.
fn charts(input: &Input<'_>) -> Result<Vec<(&'static str, draw::Chart)>, String> {
    let run = input.run;
    let charts = [
        ("latency.svg", timeline::latency(run)),
        ("throughput.svg", timeline::throughput(run)),
        ("versions.svg", timeline::versions(run)),
        ("spectrum.svg", spectrum::chart(run, input.baseline)?),
        ("probes.svg", timeline::probes(run)),
    ];
    Ok(charts
        .into_iter()
        .filter_map(|(file, chart)| chart.map(|c| (file, c)))
        .collect())
}

/// A chart the SVG format draws, for a report to show.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ChartFile {
    /// Its file name.
    pub file: &'static str,
    /// Its title.
    pub title: String,
}

/// The charts [`Svg`] draws for `input`, without drawing them; none when
/// a histogram does not read (the SVG format then says why).
pub fn files(input: &Input<'_>) -> Vec<ChartFile> {
    charts(input)
        .map(|c| {
            c.into_iter()
                .map(|(file, chart)| ChartFile {
                    file,
                    title: chart.title,
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `scaling.svg`: several runs side by side, one point per run in order
/// (`labels`): p95 and p99 latency above, requests per second below.
pub fn scaling(labels: &[String], rps: &[f64], p95: &[Option<f64>], p99: &[Option<f64>]) -> Result<String, String> {
    use draw::{Axis, Chart, Line, PALETTE, Panel};
    let n = labels.len();
    if n == 0 {
        return Err("no runs to draw".into());
    }
    let x = Axis {
        lo: -0.5,
        hi: n as f64 - 0.5,
        ticks: labels
            .iter()
            .enumerate()
            .map(|(i, l)| (i as f64, draw::clean(l, 16)))
            .collect(),
        desc: "run".into(),
    };
    let at = |v: &[Option<f64>]| -> Vec<(f64, Option<f64>)> {
        v.iter()
            .enumerate()
            .map(|(i, y)| (i as f64, y.filter(|y| y.is_finite())))
            .collect()
    };
    let latency = vec![
        Line {
            label: "p95".into(),
            color: PALETTE[1],
            points: at(p95),
        },
        Line {
            label: "p99".into(),
            color: PALETTE[3],
            points: at(p99),
        },
    ];
    let throughput = vec![Line {
        label: "requests/s".into(),
        color: PALETTE[0],
        points: at(&rps.iter().map(|r| Some(*r)).collect::<Vec<_>>()),
    }];
    draw::render(&Chart {
        title: "Scaling: latency and throughput per run".into(),
        x,
        panels: vec![
            Panel {
                y: Axis::for_values(&latency, 6, 0.0, "latency (ms)"),
                lines: latency,
                height: 300,
            },
            Panel {
                y: Axis::for_values(&throughput, 5, 1.0, "requests/s"),
                lines: throughput,
                height: 220,
            },
        ],
        phases: Vec::new(),
        marks: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;
    use std::sync::Arc;

    use resvg::{tiny_skia, usvg};
    use serde_json::{Value, json};

    use super::*;
    use crate::metrics::{Hist, RunResult};

    /// A deterministic stream in 0..1.
    struct Lcg(u64);

    impl Lcg {
        fn next(&mut self) -> f64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (self.0 >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    /// `n` latencies around `median_ms` with a long tail, in µs.
    fn hist(seed: u64, n: usize, median_ms: f64) -> String {
        let mut rng = Lcg(seed);
        let mut h = Hist::default();
        for _ in 0..n {
            let u = rng.next().max(1e-9);
            // Exponential-ish tail: most near the median, a few 20× it.
            let v = median_ms * (0.6 + 0.8 * rng.next()) * (1.0 + (-u.ln()).powf(2.2) / 6.0);
            h.record((v * 1000.0) as u64);
        }
        h.to_base64()
    }

    fn summary(requests: u64, histogram: &str) -> Value {
        json!({
            "requests": requests, "ok": requests, "failed": 0, "errors": {}, "status": {},
            "rps": 0.0, "clamped": 0,
            "histograms": {
                "http_req_duration": histogram, "http_req_service_duration": "",
                "http_req_failure_duration": ""
            }
        })
    }

    fn run_from(rows: Vec<Value>, duration: f64, extra: Value) -> RunResult {
        let mut v = json!({
            "schema": "loadcheck.run/v1", "plan": {}, "plan_fingerprint": "", "started_at": "",
            "started_at_ms": 0, "duration_s": duration, "status": "completed", "metadata": {
                "loadcheck_version": "0", "workers": 1, "seed": 0,
                "testbed": {"os": "linux", "arch": "x86_64", "cpus": 1}
            },
            "id": "shop",
            "stats": {"total": summary(0, ""), "endpoints": {}, "scenarios": {}},
            "timeline": {"resolution_s": 1, "approximate_percentiles": false, "total": rows, "endpoints": {}},
            "generator": {"scheduled_sends": 0, "dropped_sends": 0, "late_sends": 0, "late_after_ms": 0.0},
            "thresholds": [], "requirements": []
        });
        if let (Some(v), Some(extra)) = (v.as_object_mut(), extra.as_object()) {
            for (k, e) in extra {
                v.insert(k.clone(), e.clone());
            }
        }
        serde_json::from_value(v).unwrap()
    }

    /// A two-minute rollout: head 0–40 s, rollout 40–70 s, tail 70–120 s,
    /// a fault and a probe going down and up during the rollout, errors and
    /// a slower p99 while it lasts, v1 replaced by v2, two probes.
    fn rollout_run(seconds: u64) -> RunResult {
        let mut rng = Lcg(7);
        let scale = seconds as f64 / 120.0;
        let in_rollout = |s: f64| (40.0 * scale..70.0 * scale).contains(&s);
        let rows: Vec<Value> = (0..seconds)
            .map(|s| {
                let t = s as f64;
                let rolling = in_rollout(t);
                let requests = 200 + (rng.next() * 20.0) as u64;
                let (e5, timeouts) = if rolling {
                    ((rng.next() * 12.0) as u64, (rng.next() * 4.0) as u64)
                } else {
                    (0, 0)
                };
                let share_v2 = ((t - 40.0 * scale) / (30.0 * scale)).clamp(0.0, 1.0);
                let v2 = (requests as f64 * share_v2) as u64;
                let slow = if rolling { 2.5 } else { 1.0 };
                let mut errors = serde_json::Map::new();
                if e5 > 0 {
                    errors.insert("status_5xx".into(), e5.into());
                }
                if timeouts > 0 {
                    errors.insert("timeout".into(), timeouts.into());
                }
                json!({
                    "second": s, "requests": requests, "ok": requests - e5 - timeouts,
                    "errors": errors,
                    "p50_ms": 18.0 + rng.next() * 3.0,
                    "p95_ms": (35.0 + rng.next() * 8.0) * slow,
                    "p99_ms": (60.0 + rng.next() * 25.0) * slow,
                    "versions": {"v1.4.2": requests - v2, "v1.5.0": v2},
                    "probes": {
                        "queue_depth": if rolling { 40.0 + rng.next() * 300.0 } else { rng.next() * 20.0 },
                        "ready_replicas": if rolling { 2.0 } else { 3.0 }
                    }
                })
            })
            .collect();
        let at = |s: f64| s * scale;
        run_from(
            rows,
            seconds as f64,
            json!({
                "phases": [
                    {"name": "head", "start_s": 0.0, "end_s": at(40.0)},
                    {"name": "rollout", "start_s": at(40.0), "end_s": at(70.0)},
                    {"name": "tail", "start_s": at(70.0)}
                ],
                "events": [
                    {"kind": "rollout_start", "name": "rollout", "at_s": at(40.0)},
                    {"kind": "fault", "name": "kill-pod", "at_s": at(52.0)},
                    {"kind": "probe_down", "name": "health", "at_s": at(55.0)},
                    {"kind": "probe_up", "name": "health", "at_s": at(58.5)},
                    {"kind": "fault_end", "name": "kill-pod", "at_s": at(60.0)},
                    {"kind": "rollout_end", "name": "rollout", "at_s": at(70.0), "ok": true}
                ],
                "stats": {
                    "total": summary(24000, &hist(1, 24000, 20.0)),
                    "endpoints": {}, "scenarios": {},
                    "phases": {
                        "head": summary(8000, &hist(2, 8000, 18.0)),
                        "rollout": summary(6000, &hist(3, 6000, 30.0)),
                        "tail": summary(10000, &hist(4, 10000, 24.0))
                    }
                }
            }),
        )
    }

    fn render(run: &RunResult, baseline: Option<&RunResult>) -> Vec<Rendered> {
        Svg.render(&Input {
            run,
            comparison: None,
            baseline,
        })
        .unwrap()
    }

    /// The SVG parsed with the embedded font alone and drawn on white.
    fn rasterize(svg: &str) -> (usvg::Tree, tiny_skia::Pixmap) {
        let mut db = usvg::fontdb::Database::new();
        db.load_font_data(font::TTF.to_vec());
        assert_eq!(db.len(), 1, "the embedded font loads");
        let opt = usvg::Options {
            fontdb: Arc::new(db),
            font_family: "DejaVu Sans".to_string(),
            ..usvg::Options::default()
        };
        let tree = usvg::Tree::from_str(svg, &opt).unwrap_or_else(|e| panic!("not SVG: {e}"));
        let size = tree.size().to_int_size();
        let mut pixmap = tiny_skia::Pixmap::new(size.width(), size.height()).expect("a non-empty size");
        pixmap.fill(tiny_skia::Color::WHITE);
        resvg::render(&tree, tiny_skia::Transform::default(), &mut pixmap.as_mut());
        (tree, pixmap)
    }

    /// Pixels that are not (almost) white.
    fn inked(p: &tiny_skia::Pixmap) -> usize {
        p.pixels()
            .iter()
            .filter(|c| c.red() < 245 || c.green() < 245 || c.blue() < 245)
            .count()
    }

    /// The text of every `<text>` element, and that each is in the
    /// embedded font.
    fn texts(svg: &str) -> Vec<String> {
        let doc = usvg::roxmltree::Document::parse(svg).unwrap();
        doc.descendants()
            .filter(|n| n.has_tag_name("text"))
            .map(|n| {
                assert_eq!(n.attribute("font-family"), Some(font::FAMILY));
                n.text().unwrap_or("").trim().to_string()
            })
            .collect()
    }

    /// Every `Text` node of the tree was shaped into glyphs (the font was
    /// found); returns how many there are.
    fn shaped_texts(g: &usvg::Group) -> usize {
        g.children()
            .iter()
            .map(|n| match n {
                usvg::Node::Group(g) => shaped_texts(g),
                usvg::Node::Text(t) => {
                    assert!(
                        t.flattened().has_children(),
                        "text {:?} has no glyphs",
                        t.chunks().first().map(|c| c.text())
                    );
                    1
                }
                _ => 0,
            })
            .sum()
    }

    /// Checks one chart as a person would need it: it parses, has a size,
    /// is drawn with a meaningful share of ink, and shows `want` as text;
    /// writes the PNG (and the SVG) to `$LOADCHECK_CHART_PNG_DIR` when set.
    fn check(file: &Rendered, prefix: &str, want: &[&str]) {
        let (tree, pixmap) = rasterize(&file.text);
        let size = tree.size();
        assert!(
            size.width() >= 600.0 && size.height() >= 300.0,
            "{}: {size:?}",
            file.file
        );
        let share = inked(&pixmap) as f64 / (pixmap.width() * pixmap.height()) as f64;
        assert!(
            share > 0.03,
            "{}: only {:.1}% of the pixels are drawn",
            file.file,
            share * 100.0
        );
        let texts = texts(&file.text);
        assert!(shaped_texts(tree.root()) >= texts.len() - texts.iter().filter(|t| t.is_empty()).count());
        for w in want {
            assert!(
                texts.iter().any(|t| t.contains(w)),
                "{}: no text {w:?} in {texts:?}",
                file.file
            );
        }
        if let Some(dir) = std::env::var_os("LOADCHECK_CHART_PNG_DIR") {
            std::fs::create_dir_all(&dir).unwrap();
            let dir = std::path::Path::new(&dir);
            pixmap
                .save_png(dir.join(format!("{prefix}{}", file.file.replace(".svg", ".png"))))
                .unwrap();
            std::fs::write(dir.join(format!("{prefix}{}", file.file)), &file.text).unwrap();
        }
    }

    fn find<'a>(files: &'a [Rendered], name: &str) -> &'a Rendered {
        files
            .iter()
            .find(|f| f.file == name)
            .unwrap_or_else(|| panic!("no {name}"))
    }

    #[test]
    fn every_chart_parses_draws_and_names_its_axes() {
        let run = rollout_run(120);
        let files = render(&run, None);
        let names: Vec<&str> = files.iter().map(|f| f.file.as_str()).collect();
        assert_eq!(
            names,
            [
                "latency.svg",
                "throughput.svg",
                "versions.svg",
                "spectrum.svg",
                "probes.svg"
            ]
        );
        let marks = [
            "head",
            "rollout",
            "tail",
            "rollout start",
            "fault: kill-pod",
            "health down",
        ];
        let with = |v: &[&'static str]| [v, &marks[..]].concat();
        check(
            find(&files, "latency.svg"),
            "",
            &with(&["Latency over time", "time (s)", "latency (ms)", "p50", "p95", "p99"]),
        );
        check(
            find(&files, "throughput.svg"),
            "",
            &with(&[
                "Throughput",
                "time (s)",
                "requests/s",
                "errors/s",
                "requests",
                "status_5xx",
                "timeout",
            ]),
        );
        check(
            find(&files, "versions.svg"),
            "",
            &with(&["Version mix", "time (s)", "responses/s", "v1.4.2", "v1.5.0"]),
        );
        check(
            find(&files, "spectrum.svg"),
            "",
            &[
                "Latency percentile spectrum",
                "percentile",
                "latency (ms",
                "head (8,000 requests)",
                "tail (10,000 requests)",
                "50%",
                "99%",
                "99.9%",
            ],
        );
        check(
            find(&files, "probes.svg"),
            "",
            &with(&["Probes over time", "time (s)", "queue_depth", "ready_replicas"]),
        );
    }

    #[test]
    fn the_baseline_is_laid_over_the_spectrum() {
        let run = rollout_run(120);
        let mut baseline = rollout_run(60);
        baseline.stats.total = serde_json::from_value(summary(5000, &hist(9, 5000, 14.0))).unwrap();
        let files = render(&run, Some(&baseline));
        check(
            find(&files, "spectrum.svg"),
            "baseline-",
            &[
                "run and baseline",
                "baseline (5,000 requests)",
                "run (24,000 requests)",
                "latency (ms",
            ],
        );
    }

    #[test]
    fn a_long_run_is_bucketed_and_still_readable() {
        let run = rollout_run(3600);
        let files = render(&run, None);
        assert_eq!(files.len(), 5);
        for f in &files {
            // One polyline per series: at most 600 points each.
            for line in f.text.lines().filter(|l| l.starts_with("<polyline")) {
                assert!(
                    line.matches(',').count() <= 601,
                    "{}: {} points",
                    f.file,
                    line.matches(',').count()
                );
            }
            assert!(f.text.len() < 200_000, "{}: {} bytes", f.file, f.text.len());
        }
        let latency = find(&files, "latency.svg");
        check(latency, "hour-", &["one point per 6 s, its highest value"]);
        check(
            find(&files, "throughput.svg"),
            "hour-",
            &["one point per 6 s, the mean per second"],
        );
    }

    #[test]
    fn empty_and_tiny_runs_render_without_panicking() {
        // Nothing at all: no chart.
        let empty = run_from(Vec::new(), 0.0, json!({}));
        assert!(render(&empty, None).is_empty());

        // One second, no percentiles: the throughput chart alone, a dot.
        let one = run_from(
            vec![json!({"second": 0, "requests": 1, "ok": 0, "errors": {"timeout": 1}})],
            1.0,
            json!({"phases": [{"name": "head", "start_s": 0.0}]}),
        );
        let files = render(&one, None);
        assert_eq!(
            files.iter().map(|f| f.file.as_str()).collect::<Vec<_>>(),
            ["throughput.svg"]
        );
        check(&files[0], "one-", &["requests/s", "errors/s", "timeout", "head"]);

        // Nonsense a hand-edited file can hold: every chart still parses.
        let mut odd = rollout_run(5);
        odd.duration_s = f64::NAN;
        odd.phases[0].start_s = f64::INFINITY;
        odd.phases[1].end_s = Some(-3.0);
        odd.events[0].at_s = -1.0;
        odd.events[1].at_s = f64::NAN;
        odd.events[2].name = "bad\u{0}name <&>\u{7}".to_string();
        odd.timeline.total[2].second = 10_000_000_000;
        odd.timeline.total[3].p99_ms = Some(f64::INFINITY);
        odd.timeline.total[4].versions.insert("v\u{1b}[31m".to_string(), 3);
        odd.timeline.total[4].versions.insert("v9".to_string(), u64::MAX);
        for c in 0..12 {
            odd.timeline.total[1].errors.insert(format!("class_{c}"), u64::MAX - c);
        }
        let files = render(&odd, None);
        assert_eq!(files.len(), 5);
        for f in &files {
            rasterize(&f.text);
        }
        let legend = texts(&find(&files, "throughput.svg").text);
        assert!(legend.iter().any(|t| t.ends_with(" other classes")), "{legend:?}");

        // A histogram that is not one is an error, not a panic.
        let mut bad = rollout_run(5);
        bad.stats.total.histograms.http_req_duration = "not base64!".to_string();
        let err = Svg
            .render(&Input {
                run: &bad,
                comparison: None,
                baseline: None,
            })
            .unwrap_err();
        assert!(err.contains("stats.total.histograms.http_req_duration"), "{err}");
    }

    #[test]
    fn the_font_is_embedded_as_a_woff_of_the_same_tables() {
        let woff = font::woff(font::TTF).unwrap();
        assert_eq!(&woff[..4], b"wOFF");
        assert_eq!(u32::from_be_bytes(woff[8..12].try_into().unwrap()) as usize, woff.len());
        let n = usize::from(u16::from_be_bytes([woff[12], woff[13]]));
        let be = |b: &[u8], o: usize| u32::from_be_bytes(b[o..o + 4].try_into().unwrap()) as usize;
        assert_eq!(n, usize::from(u16::from_be_bytes([font::TTF[4], font::TTF[5]])));
        for i in 0..n {
            let (d, t) = (44 + 20 * i, 12 + 16 * i);
            assert_eq!(be(&woff, d), be(font::TTF, t), "tag");
            let (off, comp, orig) = (be(&woff, d + 4), be(&woff, d + 8), be(&woff, d + 12));
            assert_eq!(off % 4, 0);
            let table = &font::TTF[be(font::TTF, t + 8)..][..be(font::TTF, t + 12)];
            let stored = &woff[off..off + comp];
            let data = if comp < orig {
                let mut out = Vec::new();
                flate2::read::ZlibDecoder::new(stored).read_to_end(&mut out).unwrap();
                out
            } else {
                stored.to_vec()
            };
            assert_eq!(data, table);
        }
        // And every chart carries it.
        let files = render(&rollout_run(10), None);
        assert!(files.iter().all(|f| {
            f.text
                .contains("@font-face{font-family:\"DejaVu Sans\";src:url(data:font/woff;base64,")
        }));
    }

    /// The charts of a one-hour run, timed (release: `cargo test --release
    /// --lib report::svg -- --ignored --nocapture`).
    #[test]
    #[ignore]
    fn time_an_hour() {
        let run = rollout_run(3600);
        let _ = render(&run, None);
        let start = std::time::Instant::now();
        let n = 20;
        for _ in 0..n {
            std::hint::black_box(render(&run, None));
        }
        println!("all charts of a 3,600-row run: {:?} each", start.elapsed() / n);
    }
}
