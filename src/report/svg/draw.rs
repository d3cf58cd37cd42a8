//! The one layout every chart is drawn with: a title, a legend band, a band
//! of phase and event labels, then one or more panels stacked on one x axis.
//! A chart is data ([`Chart`]) until [`render`] draws it with plotters'
//! SVG backend; every size is fixed here, so that labels never overlap:
//! ticks are chosen here (at most a handful per axis), the legend wraps,
//! event labels are stacked in lanes so that none covers another or a line,
//! and an event whose label fits nowhere is listed under the chart.

use plotters::coord::Shift;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::font::{self, FAMILY};

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

/// Every chart's width, px.
pub const WIDTH: u32 = 960;
const MARGIN_L: u32 = 14;
const MARGIN_R: u32 = 36;
/// Room for the y tick labels and the y axis description.
const Y_AREA: u32 = 84;
const TITLE_H: u32 = 42;
const LEGEND_ROW: u32 = 22;
const LANE_H: u32 = 18;
const NOTE_ROW: u32 = 18;
/// Lanes for event labels, above the phase strip.
const EVENT_LANES: usize = 3;
/// The x label area of the bottom panel (ticks and description) and of the
/// others (ticks only).
const X_AREA_LAST: u32 = 54;
const X_AREA: u32 = 28;
const PANEL_TOP: u32 = 8;

/// The colour of text and axes.
pub const INK: RGBColor = RGBColor(0x22, 0x22, 0x22);
const AXIS: RGBColor = RGBColor(0x55, 0x55, 0x55);
const GRID: RGBColor = RGBColor(0xe2, 0xe2, 0xe2);

/// Series colours (Tableau 10, in an order whose neighbours differ most).
pub const PALETTE: [RGBColor; 10] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x8c, 0x56, 0x4b),
    RGBColor(0xe3, 0x77, 0xc2),
    RGBColor(0x7f, 0x7f, 0x7f),
    RGBColor(0xbc, 0xbd, 0x22),
    RGBColor(0x17, 0xbe, 0xcf),
];

/// A text style whose SVG `font-size` is `px` (plotters writes its size
/// divided by 1.24; the sizes used, 12, 12.5, 14 and 18, come back whole
/// from that round trip).
pub fn text(px: f64) -> TextStyle<'static> {
    colored(px, INK)
}

/// [`text`] in `color`.
pub fn colored(px: f64, color: RGBColor) -> TextStyle<'static> {
    (FAMILY, px * 1.24).into_font().color(&color)
}

/// The width of `s` in `style`, px, as plotters measures it with the
/// embedded font (a little wider than a browser draws it).
fn width(style: &TextStyle<'_>, s: &str) -> i32 {
    style
        .font
        .box_size(s)
        .map_or(8 * s.chars().count() as i32, |(w, _)| w as i32)
}

/// `s` cut to fit `max` px in `style`, with an ellipsis.
pub fn fit(style: &TextStyle<'_>, s: &str, max: i32) -> String {
    if width(style, s) <= max {
        return s.to_string();
    }
    let mut chars: Vec<char> = s.chars().collect();
    while !chars.is_empty() {
        chars.pop();
        let t: String = chars.iter().collect::<String>() + "…";
        if width(style, &t) <= max {
            return t;
        }
    }
    "…".to_string()
}

/// Text from a user's file as it may appear in a chart: no control
/// characters (they are not XML), at most `max` characters.
pub fn clean(s: &str, max: usize) -> String {
    let t: String = s.chars().filter(|c| !c.is_control()).collect();
    if t.chars().count() > max {
        t.chars().take(max.saturating_sub(1)).collect::<String>() + "…"
    } else {
        t
    }
}

/// An axis: its range, its ticks with their labels, its description.
#[derive(Debug, Clone)]
pub struct Axis {
    /// The low end.
    pub lo: f64,
    /// The high end (above `lo`).
    pub hi: f64,
    /// Tick positions and labels.
    pub ticks: Vec<(f64, String)>,
    /// The description, with the unit.
    pub desc: String,
}

impl Axis {
    /// A linear axis over `lo..hi` with at most `max_ticks` round ticks, at
    /// least `min_step` apart (1 for whole seconds, 0 for any).
    pub fn linear(lo: f64, hi: f64, max_ticks: usize, min_step: f64, desc: impl Into<String>) -> Axis {
        let (lo, hi) = sane_range(lo, hi);
        let (ticks, decimals) = nice_ticks(lo, hi, max_ticks, min_step);
        Axis {
            lo,
            hi,
            ticks: ticks.into_iter().map(|t| (t, number(t, decimals))).collect(),
            desc: desc.into(),
        }
    }

    /// A value axis for the values of `lines`: from 0 (or the lowest value,
    /// when negative) to a little above the highest, ticked at least
    /// `min_step` apart (1 for counts).
    pub fn for_values(lines: &[Line], max_ticks: usize, min_step: f64, desc: impl Into<String>) -> Axis {
        let values = lines.iter().flat_map(|l| l.points.iter().filter_map(|p| p.1));
        let (mut lo, mut hi) = (0.0f64, 0.0f64);
        for v in values.filter(|v| v.is_finite()) {
            lo = lo.min(v);
            hi = hi.max(v);
        }
        if hi <= lo {
            hi = lo + 1.0;
        }
        let pad = (hi - lo) * 0.08;
        Axis::linear(
            if lo < 0.0 { lo - pad } else { 0.0 },
            hi + pad,
            max_ticks,
            min_step,
            desc,
        )
    }
}

/// A finite range with `lo < hi`.
fn sane_range(lo: f64, hi: f64) -> (f64, f64) {
    let lo = if lo.is_finite() { lo } else { 0.0 };
    let hi = if hi.is_finite() { hi } else { lo + 1.0 };
    if hi > lo {
        (lo, hi)
    } else {
        (lo, lo + lo.abs().max(1.0))
    }
}

/// Round ticks in `lo..=hi`, at most `max` of them and at least `min_step`
/// apart, and the decimals their labels need.
pub fn nice_ticks(lo: f64, hi: f64, max: usize, min_step: f64) -> (Vec<f64>, usize) {
    let max = max.max(2);
    let span = hi - lo;
    if !(span.is_finite() && span > 0.0) {
        return (vec![lo], 0);
    }
    let raw = span / max as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let (mult, step) = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| (*m, m * mag))
        .find(|(_, s)| span / s <= max as f64 && *s >= min_step)
        .unwrap_or((10.0, (10.0 * mag).max(min_step)));
    let mut decimals = (-step.log10().floor()).max(0.0) as usize;
    if mult == 2.5 && step < 10.0 {
        decimals += 1;
    }
    let first = (lo / step).ceil();
    let ticks = (0..=max + 1)
        .map(|i| (first + i as f64) * step)
        .take_while(|t| *t <= hi + step * 1e-9)
        .collect();
    (ticks, decimals.min(6))
}

/// A tick label: `decimals` places, thousands as `k` and millions as `M`.
pub fn number(v: f64, decimals: usize) -> String {
    let trim = |s: String| {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    };
    let a = v.abs();
    if a >= 1e6 {
        format!("{}M", trim(format!("{:.2}", v / 1e6)))
    } else if a >= 1e4 {
        format!("{}k", trim(format!("{:.2}", v / 1e3)))
    } else if a < 1e-12 {
        "0".to_string()
    } else {
        format!("{v:.decimals$}")
    }
}

/// One series: a line through its points, broken where a point has no
/// value. A lone point is drawn as a dot.
#[derive(Debug, Clone)]
pub struct Line {
    /// Its legend entry.
    pub label: String,
    /// Its colour.
    pub color: RGBColor,
    /// (x, y) points in x order; `None` breaks the line.
    pub points: Vec<(f64, Option<f64>)>,
}

/// One panel: its y axis and its lines.
#[derive(Debug, Clone)]
pub struct Panel {
    /// The y axis.
    pub y: Axis,
    /// The lines, drawn in order.
    pub lines: Vec<Line>,
    /// Its height, px, with its x tick labels.
    pub height: u32,
}

/// A phase of the run, shaded across the panels and named above them.
#[derive(Debug, Clone)]
pub struct Phase {
    /// Its name.
    pub name: String,
    /// Its start, in x units.
    pub start: f64,
    /// Its end.
    pub end: f64,
}

/// Something that happened at a time: a vertical line with a short label.
#[derive(Debug, Clone)]
pub struct Mark {
    /// When, in x units.
    pub at: f64,
    /// Its label.
    pub label: String,
    /// Its colour.
    pub color: RGBColor,
}

/// A whole chart.
#[derive(Debug, Clone)]
pub struct Chart {
    /// The title.
    pub title: String,
    /// The x axis, shared by every panel.
    pub x: Axis,
    /// The panels, top to bottom.
    pub panels: Vec<Panel>,
    /// Phases to shade.
    pub phases: Vec<Phase>,
    /// Events to mark.
    pub marks: Vec<Mark>,
}

/// A linear f64 coordinate ticked at the axis's ticks alone (plotters'
/// own f64 coordinate picks its ticks itself).
struct Ticked {
    lo: f64,
    hi: f64,
    ticks: Vec<f64>,
}

impl Ticked {
    fn of(axis: &Axis) -> Ticked {
        Ticked {
            lo: axis.lo,
            hi: axis.hi,
            ticks: axis.ticks.iter().map(|t| t.0).collect(),
        }
    }
}

impl Ranged for Ticked {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        let f = ((v - self.lo) / (self.hi - self.lo)).clamp(-1.0, 2.0);
        let len = f64::from(limit.1 - limit.0);
        if !f.is_finite() {
            return limit.0;
        }
        if len >= 0.0 {
            limit.0 + (len * f + 1e-3).floor() as i32
        } else {
            limit.0 - (-len * f + 1e-3).floor() as i32
        }
    }

    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.lo..self.hi
    }
}

/// The light shade of a phase's span and its strip's colour and text.
fn phase_colors(name: &str) -> (RGBColor, RGBColor, RGBColor) {
    match name {
        "head" => (
            RGBColor(0xec, 0xf3, 0xfb),
            RGBColor(0xc9, 0xdc, 0xf2),
            RGBColor(0x1c, 0x4a, 0x85),
        ),
        "rollout" => (
            RGBColor(0xfd, 0xf2, 0xe1),
            RGBColor(0xf7, 0xd9, 0xa8),
            RGBColor(0x80, 0x4d, 0x00),
        ),
        "tail" => (
            RGBColor(0xea, 0xf6, 0xeb),
            RGBColor(0xc6, 0xe5, 0xc8),
            RGBColor(0x22, 0x63, 0x29),
        ),
        _ => (
            RGBColor(0xf2, 0xf2, 0xf2),
            RGBColor(0xdd, 0xdd, 0xdd),
            RGBColor(0x44, 0x44, 0x44),
        ),
    }
}

/// Where the plots' x range is on the page (the same for every panel).
struct XMap {
    lo: f64,
    hi: f64,
    left: i32,
    right: i32,
}

impl XMap {
    fn px(&self, x: f64) -> i32 {
        let f = ((x - self.lo) / (self.hi - self.lo)).clamp(0.0, 1.0);
        self.left + (f * f64::from(self.right - self.left)).round() as i32
    }
}

/// A label placed in the band: its lane (0 is the phase strip, 1.. the
/// event lanes upwards), where it is anchored, and its text.
struct Placed {
    lane: usize,
    x: i32,
    h: HPos,
    text: String,
    color: RGBColor,
    /// Drawn on a box of the strip's colour: a phase name that could not
    /// avoid an event line.
    boxed: Option<(i32, i32, RGBColor)>,
}

/// What goes above (and below) the panels.
struct Band {
    /// Phase names and event labels.
    labels: Vec<Placed>,
    /// Every event line: its x and the lane of its label, if it has one.
    lines: Vec<(i32, Option<usize>, RGBColor)>,
    /// Events whose label fits nowhere, listed under the chart.
    notes: Vec<(String, RGBColor)>,
    /// Lanes in the band (0: no band).
    lanes: u32,
}

/// Items laid out left to right in rows: (x, row) of each; and the rows.
fn flow(widths: &[i32], left: i32, right: i32, gap: i32) -> (Vec<(i32, u32)>, u32) {
    let (mut x, mut row) = (left, 0u32);
    let mut out = Vec::with_capacity(widths.len());
    for w in widths {
        if x > left && x + w > right {
            x = left;
            row += 1;
        }
        out.push((x, row));
        x += w + gap;
    }
    (out, if widths.is_empty() { 0 } else { row + 1 })
}

/// Seconds for a note: `52 s`, `58.5 s`.
fn seconds(at: f64) -> String {
    if (at - at.round()).abs() < 0.05 {
        format!("{at:.0} s")
    } else {
        format!("{at:.1} s")
    }
}

/// Places the event labels in lanes above the phase strip, so that no
/// label covers another or a line, and no line crosses a label; an event
/// whose label fits nowhere becomes a note under the chart. Then the phase
/// names in the strip, as near their span's middle as the event lines let
/// them.
fn place_labels(chart: &Chart, map: &XMap) -> Band {
    const PAD: i32 = 6;
    let style = text(12.0);
    let mut labels: Vec<Vec<(i32, i32)>> = vec![Vec::new(); EVENT_LANES + 1];
    let mut crossing: Vec<Vec<i32>> = vec![Vec::new(); EVENT_LANES + 1];
    let mut band = Band {
        labels: Vec::new(),
        lines: Vec::new(),
        notes: Vec::new(),
        lanes: 0,
    };
    let mut marks: Vec<&Mark> = chart.marks.iter().collect();
    marks.sort_by(|a, b| a.at.total_cmp(&b.at));
    let px: Vec<i32> = marks.iter().map(|m| map.px(m.at)).collect();
    let w: Vec<i32> = marks.iter().map(|m| width(&style, &m.label)).collect();
    // Events whose labels would reach each other form a cluster, labelled
    // as a staircase: the first in the highest lane, the last in the
    // lowest, each label right of its line. No line then crosses a label.
    let mut proposed: Vec<Option<(usize, bool)>> = vec![None; marks.len()];
    let mut i = 0;
    while i < marks.len() {
        let mut j = i;
        let mut reach = px[i] + 4 + w[i];
        while j + 1 < marks.len() && px[j + 1] < reach + PAD && j + 1 - i < EVENT_LANES {
            j += 1;
            reach = reach.max(px[j] + 4 + w[j]);
        }
        let k = j + 1 - i;
        for (n, p) in proposed[i..=j].iter_mut().enumerate() {
            // A label that would leave the page goes left of its line.
            let right = px[i + n] + 4 + w[i + n] <= WIDTH as i32 - 4;
            *p = Some((k - n, right));
        }
        // The lanes are full: events within the cluster's labels are notes.
        i = j + 1;
        while i < marks.len() && px[i] < reach + PAD {
            i += 1;
        }
    }
    // Every proposal checked; one that breaks a rule becomes a note.
    for (n, m) in marks.iter().enumerate() {
        let (px, w) = (px[n], w[n]);
        let placed = proposed[n].and_then(|(lane, right)| {
            let (a, h, x) = if right {
                (px + 4, HPos::Left, px + 4)
            } else {
                (px - 4 - w, HPos::Right, px - 4)
            };
            let fits = a >= map.left - 20 && a + w <= WIDTH as i32 - 4;
            let clear = labels[lane].iter().all(|(x0, x1)| a + w + PAD <= *x0 || x1 + PAD <= a)
                && crossing[lane].iter().all(|l| *l < a - 3 || *l > a + w + 3)
                && !labels[1..lane]
                    .iter()
                    .flatten()
                    .any(|(x0, x1)| px >= x0 - 3 && px <= x1 + 3);
            (fits && clear).then_some((lane, a, h, x))
        });
        match placed {
            Some((lane, a, h, x)) => {
                labels[lane].push((a, a + w));
                for c in crossing.iter_mut().take(lane).skip(1) {
                    c.push(px);
                }
                band.labels.push(Placed {
                    lane,
                    x,
                    h,
                    text: m.label.clone(),
                    color: m.color,
                    boxed: None,
                });
                band.lines.push((px, Some(lane), m.color));
            }
            None => {
                band.notes.push((format!("{} {}", seconds(m.at), m.label), m.color));
                band.lines.push((px, None, m.color));
            }
        }
    }

    // Phases: the rollout first, it is often the narrowest and matters most.
    let mut phases: Vec<&Phase> = chart.phases.iter().collect();
    phases.sort_by_key(|p| match p.name.as_str() {
        "rollout" => 0,
        "head" | "tail" => 1,
        _ => 2,
    });
    let mut strip: Vec<(i32, i32)> = Vec::new();
    for p in phases {
        let w = width(&style, &p.name);
        let (pa, pb) = (map.px(p.start), map.px(p.end));
        let c = (pa + pb) / 2;
        let mut starts = vec![c - w / 2, pa + 4, pb - 4 - w];
        for (px, _, _) in &band.lines {
            starts.extend([px + 5, px - 5 - w]);
        }
        let ok = |a: i32| {
            a >= map.left
                && a + w <= map.right
                && a < pb + 10
                && a + w > pa - 10
                && band.lines.iter().all(|(px, _, _)| *px < a - 3 || *px > a + w + 3)
                && strip.iter().all(|(x0, x1)| a + w + PAD <= *x0 || x1 + PAD <= a)
        };
        let best = starts
            .into_iter()
            .filter(|a| ok(*a))
            .min_by_key(|a| (a + w / 2 - c).abs());
        let (a, boxed) = match best {
            Some(a) => (a, None),
            None => {
                let a = (c - w / 2).clamp(map.left, (map.right - w).max(map.left));
                (a, Some((a - 3, a + w + 3, phase_colors(&p.name).1)))
            }
        };
        if strip.iter().all(|(x0, x1)| a + w + PAD <= *x0 || x1 + PAD <= a) {
            strip.push((a, a + w));
            band.labels.push(Placed {
                lane: 0,
                x: a + w / 2,
                h: HPos::Center,
                text: p.name.clone(),
                color: phase_colors(&p.name).2,
                boxed,
            });
        }
    }
    let top_lane = band.labels.iter().map(|l| l.lane).max();
    band.lanes = match top_lane {
        Some(l) => l as u32 + 1,
        None if !chart.phases.is_empty() => 1,
        None => 0,
    };
    band
}

/// Draws `chart` as an SVG document, with the font embedded.
pub fn render(chart: &Chart) -> Result<String, String> {
    font::register()?;
    let err = |e: DrawingAreaErrorKind<_>| format!("cannot draw \"{}\": {e}", chart.title);
    let left = (MARGIN_L + Y_AREA) as i32;
    let right = (WIDTH - MARGIN_R) as i32;
    let map = XMap {
        lo: chart.x.lo,
        hi: chart.x.hi,
        left,
        right,
    };

    let mut entries: Vec<(String, RGBColor)> = Vec::new();
    for l in chart.panels.iter().flat_map(|p| &p.lines) {
        if !entries.iter().any(|(label, _)| *label == l.label) {
            entries.push((l.label.clone(), l.color));
        }
    }
    let legend_style = text(12.5);
    let widths: Vec<i32> = entries.iter().map(|e| 26 + width(&legend_style, &e.0)).collect();
    let (legend, legend_rows) = flow(&widths, left, right, 22);
    let legend_h = legend_rows * LEGEND_ROW + if legend_rows > 0 { 6 } else { 0 };

    let band = place_labels(chart, &map);
    let band_top = TITLE_H + legend_h;
    let panels_top = band_top + band.lanes * LANE_H;
    let panels_h = chart.panels.iter().map(|p| p.height).sum::<u32>();

    let note_style = text(12.0);
    let mut notes = band.notes.clone();
    if !notes.is_empty() {
        notes.insert(0, ("Events not labelled above:".to_string(), INK));
    }
    let widths: Vec<i32> = notes.iter().map(|n| width(&note_style, &n.0)).collect();
    let (note_at, note_rows) = flow(&widths, left, right, 16);
    let notes_h = if note_rows > 0 { note_rows * NOTE_ROW + 8 } else { 0 };
    let height = panels_top + panels_h + notes_h;

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        root.draw_text(
            &chart.title,
            &text(18.0).pos(Pos::new(HPos::Center, VPos::Center)),
            (WIDTH as i32 / 2, TITLE_H as i32 / 2),
        )
        .map_err(err)?;
        let swatch_style = legend_style.pos(Pos::new(HPos::Left, VPos::Center));
        for ((label, color), (x, row)) in entries.iter().zip(&legend) {
            let y = (TITLE_H + row * LEGEND_ROW + LEGEND_ROW / 2) as i32;
            root.draw(&PathElement::new(vec![(*x, y), (x + 20, y)], color.stroke_width(3)))
                .map_err(err)?;
            root.draw_text(label, &swatch_style, (x + 26, y)).map_err(err)?;
        }

        let mut top = panels_top;
        let mut plot_top = None;
        for (i, panel) in chart.panels.iter().enumerate() {
            let last = i + 1 == chart.panels.len();
            let area = root.clone().shrink((0, top), (WIDTH, panel.height));
            let y = draw_panel(&area, chart, panel, last).map_err(err)?;
            plot_top.get_or_insert(y);
            top += panel.height;
        }
        let plot_top = plot_top.unwrap_or(panels_top as i32);
        draw_band(&root, chart, &map, &band, band_top as i32, plot_top).map_err(err)?;

        let notes_top = (panels_top + panels_h + 4) as i32;
        for ((note, color), (x, row)) in notes.iter().zip(&note_at) {
            let style = colored(12.0, *color).pos(Pos::new(HPos::Left, VPos::Center));
            let y = notes_top + (row * NOTE_ROW + NOTE_ROW / 2) as i32;
            root.draw_text(note, &style, (*x, y)).map_err(err)?;
        }
        root.present().map_err(err)?;
    }
    Ok(embed_font(svg))
}

/// `svg` with the font's `<defs>` first inside its root element.
fn embed_font(svg: String) -> String {
    match svg.find("<svg").and_then(|s| svg[s..].find('>').map(|e| s + e + 1)) {
        Some(at) => {
            let mut out = String::with_capacity(svg.len() + font::defs().len() + 1);
            out.push_str(&svg[..at]);
            out.push('\n');
            out.push_str(font::defs());
            out.push_str(svg[at..].trim_start_matches('\n'));
            out
        }
        None => svg,
    }
}

/// What drawing on the SVG backend fails with.
type DrawErr = DrawingAreaErrorKind<std::io::Error>;

/// Draws one panel; returns the y of its plot's top edge, px.
fn draw_panel(area: &Area<'_>, chart: &Chart, panel: &Panel, last: bool) -> Result<i32, DrawErr> {
    let x = &chart.x;
    let y = &panel.y;
    let mut chart_ctx = ChartBuilder::on(area)
        .margin_left(MARGIN_L)
        .margin_right(MARGIN_R)
        .margin_top(PANEL_TOP)
        .x_label_area_size(if last { X_AREA_LAST } else { X_AREA })
        .y_label_area_size(Y_AREA)
        .build_cartesian_2d(Ticked::of(x), Ticked::of(y))?;

    // Phases under everything.
    chart_ctx.draw_series(
        chart
            .phases
            .iter()
            .filter(|p| p.start.max(x.lo) < p.end.min(x.hi))
            .map(|p| {
                Rectangle::new(
                    [(p.start.max(x.lo), y.hi), (p.end.min(x.hi), y.lo)],
                    phase_colors(&p.name).0.filled(),
                )
            }),
    )?;

    let label_of = |ticks: &[(f64, String)], v: f64| {
        ticks
            .iter()
            .find(|(t, _)| (t - v).abs() <= 1e-9 * t.abs().max(1.0))
            .map_or_else(String::new, |(_, s)| s.clone())
    };
    let fx = |v: &f64| label_of(&x.ticks, *v);
    let fy = |v: &f64| label_of(&y.ticks, *v);
    let plot_h = panel.height as i32 - (PANEL_TOP + if last { X_AREA_LAST } else { X_AREA }) as i32;
    let y_desc = fit(&text(14.0), &y.desc, plot_h - 8);
    let mut mesh = chart_ctx.configure_mesh();
    mesh.bold_line_style(GRID)
        .axis_style(AXIS)
        .label_style(text(12.5))
        .axis_desc_style(text(14.0))
        .x_label_formatter(&fx)
        .y_label_formatter(&fy)
        .y_desc(y_desc);
    if last {
        mesh.x_desc(x.desc.clone());
    }
    mesh.draw()?;

    for m in &chart.marks {
        chart_ctx.draw_series(std::iter::once(PathElement::new(
            vec![(m.at, y.lo), (m.at, y.hi)],
            m.color.mix(0.75).stroke_width(1),
        )))?;
    }

    let clamp = |v: f64| v.clamp(y.lo, y.hi);
    for line in &panel.lines {
        let style = line.color.stroke_width(2);
        let mut segment: Vec<(f64, f64)> = Vec::new();
        let mut flush = |segment: &mut Vec<(f64, f64)>| -> Result<(), DrawErr> {
            match segment.len() {
                0 => {}
                1 => {
                    chart_ctx.draw_series(std::iter::once(Circle::new(segment[0], 3, line.color.filled())))?;
                }
                _ => {
                    chart_ctx.draw_series(std::iter::once(PathElement::new(std::mem::take(segment), style)))?;
                }
            }
            segment.clear();
            Ok(())
        };
        for (px, py) in &line.points {
            match py {
                Some(v) if v.is_finite() && px.is_finite() => segment.push((*px, clamp(*v))),
                _ => flush(&mut segment)?,
            }
        }
        flush(&mut segment)?;
    }
    Ok(chart_ctx.backend_coord(&(x.lo, y.hi)).1)
}

/// Draws the phase strip and the event labels above the panels.
fn draw_band(root: &Area<'_>, chart: &Chart, map: &XMap, band: &Band, top: i32, plot_top: i32) -> Result<(), DrawErr> {
    if band.lanes == 0 {
        return Ok(());
    }
    let lane_h = LANE_H as i32;
    let lane_top = |lane: usize| top + (band.lanes as i32 - 1 - lane as i32) * lane_h;
    let strip_top = lane_top(0) + 1;
    for p in &chart.phases {
        let (a, b) = (map.px(p.start), map.px(p.end));
        if b > a {
            root.draw(&Rectangle::new(
                [(a, strip_top), (b, plot_top)],
                phase_colors(&p.name).1.filled(),
            ))?;
        }
    }
    for (px, lane, color) in &band.lines {
        let from = lane.map_or(strip_top, |l| lane_top(l) + 2);
        root.draw(&PathElement::new(
            vec![(*px, from), (*px, plot_top)],
            color.mix(0.75).stroke_width(1),
        ))?;
    }
    for p in &band.labels {
        let mid = lane_top(p.lane) + lane_h / 2;
        if let Some((a, b, color)) = p.boxed {
            root.draw(&Rectangle::new(
                [(a, mid - lane_h / 2 + 2), (b, mid + lane_h / 2 - 1)],
                color.filled(),
            ))?;
        }
        let style = colored(12.0, p.color).pos(Pos::new(p.h, VPos::Center));
        root.draw_text(&p.text, &style, (p.x, mid))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The interval a placed label covers, px.
    fn span(p: &Placed) -> (i32, i32) {
        let w = width(&text(12.0), &p.text);
        match p.h {
            HPos::Left => (p.x, p.x + w),
            HPos::Right => (p.x - w, p.x),
            HPos::Center => (p.x - w / 2, p.x + w / 2),
        }
    }

    #[test]
    fn band_labels_never_cover_each_other_or_a_line() {
        font::register().unwrap();
        let names = [
            "rollout start",
            "fault: kill-pod",
            "health down",
            "up",
            "rollout end",
            "x",
        ];
        let mut seed = 11u64;
        let mut next = move |n: u64| {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 33) % n
        };
        let (mut stacked, mut noted, mut boxed) = (0, 0, 0);
        for _ in 0..300 {
            let hi = 30.0 + next(300) as f64;
            let marks: Vec<Mark> = (0..next(12))
                .map(|_| Mark {
                    at: next(hi as u64 + 1) as f64,
                    label: names[next(names.len() as u64) as usize].to_string(),
                    color: INK,
                })
                .collect();
            let cut = (next(hi as u64) as f64, hi * 0.8);
            let chart = Chart {
                title: String::new(),
                x: Axis::linear(0.0, hi, 10, 1.0, "time (s)"),
                panels: Vec::new(),
                phases: vec![
                    Phase {
                        name: "head".into(),
                        start: 0.0,
                        end: cut.0,
                    },
                    Phase {
                        name: "rollout".into(),
                        start: cut.0,
                        end: cut.1.max(cut.0 + 1.0),
                    },
                ],
                marks,
            };
            let map = XMap {
                lo: 0.0,
                hi,
                left: (MARGIN_L + Y_AREA) as i32,
                right: (WIDTH - MARGIN_R) as i32,
            };
            let band = place_labels(&chart, &map);
            stacked += band.labels.iter().filter(|l| l.lane >= 2).count();
            noted += band.notes.len();
            boxed += band.labels.iter().filter(|l| l.boxed.is_some()).count();
            assert_eq!(band.lines.len(), chart.marks.len());
            let labelled = band.lines.iter().filter(|l| l.1.is_some()).count();
            assert_eq!(labelled + band.notes.len(), chart.marks.len());
            for (i, a) in band.labels.iter().enumerate() {
                let (a0, a1) = span(a);
                for b in &band.labels[i + 1..] {
                    let (b0, b1) = span(b);
                    assert!(a.lane != b.lane || a1 < b0 || b1 < a0, "{} over {}", a.text, b.text);
                }
                // A line reaches down from its label through the lanes
                // below it, and through the phase strip from the top of
                // the band when it has no label.
                for (px, lane, _) in &band.lines {
                    let crosses = lane.map_or(a.lane == 0, |l| l > a.lane);
                    assert!(
                        !crosses || *px < a0 || *px > a1 || a.boxed.is_some(),
                        "a line at {px} crosses {:?} at {a0}..{a1}",
                        a.text
                    );
                }
            }
        }
        // Every rule was put to work.
        assert!(stacked > 0 && noted > 0 && boxed > 0, "{stacked} {noted} {boxed}");
    }
}
