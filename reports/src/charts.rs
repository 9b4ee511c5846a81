//! SVG charts, written out element by element so that every chart keeps the same promises
//! (checked in a real browser by `sim/tests/browser.rs`):
//! - the axes cover the data with a labelled tick below and above it, a y axis's top tick
//!   strictly above the data (a log axis is labelled at each decade that fits and at the
//!   data's maximum: a decade whose label would collide with the maximum's gives way), and
//!   nothing is drawn on or outside the frame;
//! - the legend has its own column right of the plot, so it never covers a data mark, and
//!   lists only the series that occur;
//! - no label is cut off by the chart's edge (the title shrinks to fit, the legend column
//!   widens for long names);
//! - a run's time charts share one time axis (`Axis::cover`).
//!
//! Every chart is one `<svg>` whose parts are marked for tools (and the browser test):
//! `rect.plot-area` is the plot's frame (`data-top-tick`: the y pixel of the top labelled
//! tick), `g.data` holds the data marks, `g.bands` shaded stretches of the x axis, `g.legend`
//! the legend and `g.axes` the frame, grid, ticks and their labels.
//!
//! A chart without data is not drawn (`None`).

use std::fmt::Write as _;

use hdrhistogram::Histogram;

use crate::Chart;

const WIDTH: f64 = 900.0;
const HEIGHT: f64 = 420.0;
/// Room left of the plot for the y tick labels and the y axis title.
const LEFT: f64 = 84.0;
/// Room above the plot for the title.
const TOP: f64 = 46.0;
/// Room below the plot for the x tick labels and the x axis title.
const BOTTOM: f64 = 60.0;
/// Space between the plot and the legend column, and at the right edge.
const GAP: f64 = 18.0;
const TICK_FONT: f64 = 11.0;
const LABEL_FONT: f64 = 12.0;
/// Share of the axis span left free on each side of the data, so no mark lies on the frame.
const PAD: f64 = 0.04;

/// Colour-blind-safe (Okabe-Ito, without its yellow), then greys.
const COLORS: [&str; 8] = [
    "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#969696",
];

pub fn color(i: usize) -> &'static str {
    COLORS[i % COLORS.len()]
}

/// A rough width of `text` in pixels at `font` px in a sans-serif face (wide enough for
/// DejaVu Sans, the widest common default).
fn text_width(text: &str, font: f64) -> f64 {
    text.chars().count() as f64 * font * 0.62
}

fn esc(text: &str) -> String {
    crate::html::escape(text)
}

/// A named series of (x, y) points.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    /// Its colour's index (by default its place among the chart's lines).
    pub color: Option<usize>,
    /// Drawn dashed (a second measure of the same policy, say).
    pub dashed: bool,
}

impl Line {
    pub fn new(name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Line {
            name: name.into(),
            points,
            color: None,
            dashed: false,
        }
    }
}

/// Stretches of the x axis shaded behind a chart's lines, under one legend entry.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Spans {
    pub name: String,
    pub spans: Vec<(f64, f64)>,
    /// Its colour's index; `None`: the throttler's orange.
    pub color: Option<usize>,
    /// A value marked with a dashed vertical line inside the spans (an interpolated knee).
    pub marks: Vec<f64>,
}

/// How an axis maps and labels its values.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub enum Scale {
    #[default]
    Linear,
    Log,
}

/// How tick labels read.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub enum Format {
    /// `12000`, `2.5`, `0.25`.
    #[default]
    Number,
    /// Milliseconds as `850 ms`, `2 s`, `82 s`.
    Millis,
    /// `x = 1/(1-q)` as the percentile `q`: `90 %`, `99.9 %`.
    Percentile,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Axis {
    pub label: String,
    pub scale: Scale,
    pub format: Format,
    /// A range the axis covers whatever the data (a run's whole simulated time).
    pub cover: Option<(f64, f64)>,
}

impl Axis {
    pub fn linear(label: impl Into<String>) -> Self {
        Axis {
            label: label.into(),
            ..Axis::default()
        }
    }

    pub fn log(label: impl Into<String>) -> Self {
        Axis {
            label: label.into(),
            scale: Scale::Log,
            ..Axis::default()
        }
    }

    pub fn format(mut self, format: Format) -> Self {
        self.format = format;
        self
    }

    pub fn cover(mut self, from: f64, to: f64) -> Self {
        self.cover = Some((from, to));
        self
    }
}

/// Axis numbers without trailing noise: `12000`, `2.5`, `0.25`.
pub fn number(v: f64) -> String {
    if v.abs() >= 100.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.3}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        if s == "-0" { "0".into() } else { s.to_owned() }
    }
}

fn label(format: Format, v: f64) -> String {
    match format {
        Format::Number => number(v),
        Format::Millis if v.abs() >= 1000.0 => format!("{} s", number(v / 1000.0)),
        Format::Millis => format!("{} ms", number(v)),
        Format::Percentile => {
            let p = (1.0 - 1.0 / v) * 100.0;
            let digits = (v.log10().round() as usize).saturating_sub(2);
            format!("{p:.digits$} %")
        }
    }
}

/// An axis laid out over the data: its range (padded) and its labelled ticks.
#[derive(Debug, Clone)]
struct Layout {
    scale: Scale,
    /// The range mapped onto the plot, in data units (log10 of them on a log axis).
    lo: f64,
    hi: f64,
    ticks: Vec<(f64, String)>,
}

impl Layout {
    fn t(&self, v: f64) -> f64 {
        let v = match self.scale {
            Scale::Linear => v,
            Scale::Log => v.max(f64::MIN_POSITIVE).log10(),
        };
        (v - self.lo) / (self.hi - self.lo)
    }

    /// Lays out `axis` over values from `min` to `max`; about `count` ticks fit.
    /// `strict`: the top tick lies above the maximum, not at it (a y axis).
    fn new(axis: &Axis, min: f64, max: f64, count: usize, strict: bool) -> Layout {
        let (min, max) = match axis.cover {
            Some((a, b)) => (min.min(a), max.max(b)),
            None => (min, max),
        };
        match axis.scale {
            Scale::Linear => {
                let (min, max) = if max > min {
                    (min, max)
                } else if min == 0.0 {
                    (0.0, 1.0)
                } else {
                    (min - min.abs() * 0.5, max + max.abs() * 0.5)
                };
                let step = nice_step((max - min) / count.max(2) as f64);
                let first = (min / step).floor();
                let mut last = (max / step).ceil();
                // A labelled tick above the data, not at it.
                if strict && last * step <= max && max != 0.0 {
                    last += 1.0;
                }
                let (a, b) = (first * step, last * step);
                let ticks = (0..=(last - first) as i64)
                    .map(|i| {
                        let v = (first + i as f64) * step;
                        (v, label(axis.format, v))
                    })
                    .collect();
                let pad = (b - a) * PAD;
                Layout {
                    scale: Scale::Linear,
                    lo: a - pad,
                    hi: b + pad,
                    ticks,
                }
            }
            Scale::Log => {
                let min = min.max(f64::MIN_POSITIVE);
                let max = max.max(min);
                let top = max.log10();
                let mut first = min.log10().floor();
                let mut last = top.ceil();
                if strict && last <= top {
                    last += 1.0;
                }
                // As many decades labelled as fit: every `every`-th, counted from the top.
                let every = ((last - first) / count.max(2) as f64).ceil().max(1.0);
                // The maximum is labelled: a decade whose label would collide with it gives
                // way. An end of the axis does not: it moves out, so a labelled tick stays
                // below the data and (`strict`) above it.
                let decade = 10f64.powi(top.round() as i32) == max;
                let room = if every > 1.0 { 0.75 * every } else { 0.0 };
                let near = |e: f64, span: f64| (e - top).abs() <= (0.12 * span.max(1.0)).max(room);
                if !decade && near(first, last - first) {
                    first -= every;
                }
                if !decade && strict && near(last, last - first) {
                    last += every;
                }
                first = last - ((last - first) / every).ceil() * every;
                let span = last - first;
                let on_grid = |e: f64| (last - e) % every == 0.0;
                let labelled = decade && on_grid(top.round());
                let mut ticks: Vec<(f64, String)> = (first as i32..=last as i32)
                    .map(f64::from)
                    .filter(|e| {
                        on_grid(*e)
                            && (labelled
                                || *e == first
                                || (strict && *e == last)
                                || !near(*e, span))
                    })
                    .map(|e| {
                        let v = 10f64.powi(e as i32);
                        (v, label(axis.format, v))
                    })
                    .collect();
                if !labelled {
                    ticks.push((max, label(axis.format, significant(max))));
                    ticks.sort_by(|a, b| a.0.total_cmp(&b.0));
                }
                let pad = span * PAD;
                Layout {
                    scale: Scale::Log,
                    lo: first - pad,
                    hi: last + pad,
                    ticks,
                }
            }
        }
    }
}

/// `v` to three significant digits.
fn significant(v: f64) -> f64 {
    if v == 0.0 || !v.is_finite() {
        return v;
    }
    let scale = 10f64.powi(2 - v.abs().log10().floor() as i32);
    (v * scale).round() / scale
}

/// 1, 2 or 5 times a power of ten, at least `raw`.
fn nice_step(raw: f64) -> f64 {
    if raw.is_nan() || raw <= 0.0 || !raw.is_finite() {
        return 1.0;
    }
    let decade = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * decade)
        .find(|s| *s >= raw * 0.999)
        .unwrap_or(10.0 * decade)
}

/// A legend entry: how its swatch is drawn and its name.
enum Swatch {
    Line { color: usize, dashed: bool },
    Block { color: &'static str, opacity: f64 },
}

/// An SVG being written: the canvas, then the plot's parts.
struct Svg {
    out: String,
}

impl Svg {
    fn new(height: f64) -> Svg {
        let mut out = String::new();
        let _ = write!(
            out,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" viewBox=\"0 0 {WIDTH} {height}\" font-family=\"sans-serif\">\n<rect width=\"{WIDTH}\" height=\"{height}\" fill=\"#FFFFFF\"/>\n"
        );
        Svg { out }
    }

    fn title(&mut self, title: &str, right: f64) {
        let font = (right - 16.0) / (0.62 * title.chars().count().max(1) as f64);
        let font = font.clamp(9.0, 16.0);
        self.text(
            8.0,
            24.0,
            "start",
            font,
            title,
            " font-weight=\"bold\" class=\"title\"",
        );
    }

    fn text(&mut self, x: f64, y: f64, anchor: &str, font: f64, text: &str, extra: &str) {
        let _ = writeln!(
            self.out,
            "<text x=\"{x:.1}\" y=\"{y:.1}\" text-anchor=\"{anchor}\" font-size=\"{font}\"{extra}>{}</text>",
            esc(text)
        );
    }

    fn line(&mut self, a: (f64, f64), b: (f64, f64), stroke: &str, extra: &str) {
        let _ = writeln!(
            self.out,
            "<line x1=\"{:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"{stroke}\"{extra}/>",
            a.0, a.1, b.0, b.1
        );
    }

    fn open(&mut self, class: &str) {
        let _ = writeln!(self.out, "<g class=\"{class}\">");
    }

    fn close(&mut self) {
        self.out += "</g>\n";
    }

    /// The legend in its column from `x`: one row per entry.
    fn legend(&mut self, x: f64, y: f64, entries: &[(Swatch, String)]) {
        if entries.is_empty() {
            return;
        }
        self.open("legend");
        for (i, (swatch, name)) in entries.iter().enumerate() {
            let y = y + 8.0 + i as f64 * 20.0;
            match swatch {
                Swatch::Line { color: c, dashed } => self.line(
                    (x, y),
                    (x + 22.0, y),
                    color(*c),
                    &format!(
                        " stroke-width=\"2.5\"{}",
                        if *dashed {
                            " stroke-dasharray=\"6 3\""
                        } else {
                            ""
                        }
                    ),
                ),
                Swatch::Block { color, opacity } => {
                    let _ = writeln!(
                        self.out,
                        "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"22\" height=\"12\" fill=\"{color}\" fill-opacity=\"{opacity}\"/>",
                        y - 6.0
                    );
                }
            }
            self.text(x + 28.0, y + 4.0, "start", LABEL_FONT, name, "");
        }
        self.close();
    }

    fn finish(mut self) -> String {
        self.out += "</svg>\n";
        self.out
    }
}

/// The legend column's width for these names: the same for every chart whose names fit it,
/// so the plots of a report line up (a run's time axes above each other).
fn legend_width(names: &[&str]) -> f64 {
    let widest = names
        .iter()
        .map(|n| text_width(n, LABEL_FONT))
        .fold(0.0, f64::max);
    (widest + 34.0).clamp(LEGEND, 420.0)
}

/// The legend column's usual width.
const LEGEND: f64 = 230.0;

/// A plot's frame in pixels, and its two axes.
struct Plot {
    left: f64,
    top: f64,
    right: f64,
    bottom: f64,
    x: Layout,
    y: Layout,
}

impl Plot {
    fn px(&self, x: f64) -> f64 {
        self.left + self.x.t(x) * (self.right - self.left)
    }

    fn py(&self, y: f64) -> f64 {
        self.bottom - self.y.t(y) * (self.bottom - self.top)
    }

    /// The frame, grid, ticks, their labels and the axis titles; then the plot area's marker.
    fn axes(&self, svg: &mut Svg, x_label: &str, y_label: &str, x_ticks: bool) {
        svg.open("axes");
        for (v, text) in &self.y.ticks {
            let y = self.py(*v);
            svg.line((self.left, y), (self.right, y), "#E4E4E4", "");
            svg.line((self.left - 5.0, y), (self.left, y), "#000000", "");
            svg.text(self.left - 8.0, y + 4.0, "end", TICK_FONT, text, "");
        }
        if x_ticks {
            for (v, text) in &self.x.ticks {
                let x = self.px(*v);
                svg.line((x, self.top), (x, self.bottom), "#F0F0F0", "");
                svg.line((x, self.bottom), (x, self.bottom + 5.0), "#000000", "");
                svg.text(x, self.bottom + 18.0, "middle", TICK_FONT, text, "");
            }
        }
        let _ = writeln!(
            svg.out,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"none\" stroke=\"#000000\"/>",
            self.left,
            self.top,
            self.right - self.left,
            self.bottom - self.top
        );
        svg.text(
            (self.left + self.right) / 2.0,
            self.bottom + 42.0,
            "middle",
            LABEL_FONT,
            x_label,
            "",
        );
        let (cx, cy) = (16.0, (self.top + self.bottom) / 2.0);
        svg.text(
            cx,
            cy,
            "middle",
            LABEL_FONT,
            y_label,
            &format!(" transform=\"rotate(-90 {cx:.1} {cy:.1})\""),
        );
        svg.close();
        let top_tick = self.y.ticks.last().map_or(self.top, |(v, _)| self.py(*v));
        let _ = writeln!(
            svg.out,
            "<rect class=\"plot-area\" x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"none\" stroke=\"none\" data-top-tick=\"{top_tick:.1}\"/>",
            self.left,
            self.top,
            self.right - self.left,
            self.bottom - self.top
        );
    }
}

/// How many x ticks fit: the widest label plus room, across the plot.
fn x_tick_count(width: f64, sample: &[String]) -> usize {
    let widest = sample
        .iter()
        .map(|s| text_width(s, TICK_FONT))
        .fold(30.0, f64::max);
    ((width / (widest + 24.0)) as usize).clamp(2, 10)
}

/// A chart of lines: against a linear or log x axis, y linear or log, with shaded spans.
#[derive(Debug, Clone, Default)]
pub struct LineChart<'a> {
    pub file: &'a str,
    pub title: &'a str,
    pub x: Axis,
    pub y: Axis,
    pub lines: Vec<Line>,
    pub spans: Vec<Spans>,
}

/// Markers on every point up to this many points a line; beyond, the line alone.
const MARKED: usize = 24;

pub fn line_chart(c: LineChart<'_>) -> Option<Chart> {
    let lines: Vec<Line> = c
        .lines
        .into_iter()
        .map(|mut l| {
            l.points.retain(|p| {
                p.0.is_finite()
                    && p.1.is_finite()
                    && (c.x.scale == Scale::Linear || p.0 > 0.0)
                    && (c.y.scale == Scale::Linear || p.1 > 0.0)
            });
            l
        })
        .filter(|l| !l.points.is_empty())
        .collect();
    let all = || lines.iter().flat_map(|l| l.points.iter());
    let (x0, x1) = all().fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.0), b.max(p.0)));
    if x0 > x1 {
        return None;
    }
    let (y0, y1) = all().fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.1), b.max(p.1)));
    // Linear counts and rates start from zero.
    let y0 = if c.y.scale == Scale::Linear {
        y0.min(0.0)
    } else {
        y0
    };
    let spans: Vec<&Spans> = c.spans.iter().filter(|s| !s.spans.is_empty()).collect();
    let mut entries: Vec<(Swatch, String)> = Vec::new();
    for s in &spans {
        entries.push((
            Swatch::Block {
                color: s.color.map_or("#D55E00", color),
                opacity: 0.18,
            },
            s.name.clone(),
        ));
    }
    for (i, l) in lines.iter().enumerate() {
        entries.push((
            Swatch::Line {
                color: l.color.unwrap_or(i),
                dashed: l.dashed,
            },
            l.name.clone(),
        ));
    }
    let names: Vec<&str> = entries.iter().map(|(_, n)| n.as_str()).collect();
    let legend = legend_width(&names);
    let right = WIDTH - 2.0 * GAP - legend;
    let y = Layout::new(&c.y, y0, y1, 6, true);
    let probe = Layout::new(&c.x, x0, x1, 8, false);
    let labels: Vec<String> = probe.ticks.iter().map(|t| t.1.clone()).collect();
    let x = Layout::new(&c.x, x0, x1, x_tick_count(right - LEFT, &labels), false);
    let plot = Plot {
        left: LEFT,
        top: TOP,
        right,
        bottom: HEIGHT - BOTTOM,
        x,
        y,
    };
    let mut svg = Svg::new(HEIGHT);
    svg.title(c.title, WIDTH);
    plot.axes(&mut svg, &c.x.label, &c.y.label, true);
    // Spans are clipped to the data's x range and drawn between the frame's pad lines.
    let inner = |v: f64| v.clamp(x0.min(plot.x_cover_lo()), x1.max(plot.x_cover_hi()));
    if !spans.is_empty() {
        svg.open("bands");
        let (top, bottom) = (plot.top + 1.0, plot.bottom - 1.0);
        for s in &spans {
            let fill = s.color.map_or("#D55E00", color);
            for &(a, b) in &s.spans {
                let (a, b) = (plot.px(inner(a)), plot.px(inner(b)));
                if b > a {
                    let _ = writeln!(
                        svg.out,
                        "<rect x=\"{a:.1}\" y=\"{top:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{fill}\" fill-opacity=\"0.18\"/>",
                        b - a,
                        bottom - top
                    );
                }
            }
            for &m in &s.marks {
                let m = plot.px(inner(m));
                svg.line(
                    (m, top),
                    (m, bottom),
                    fill,
                    " stroke-width=\"1.5\" stroke-dasharray=\"4 3\"",
                );
            }
        }
        svg.close();
    }
    svg.open("data");
    let n = lines.len();
    for (i, l) in lines.iter().enumerate() {
        let c = color(l.color.unwrap_or(i));
        let points: Vec<String> = l
            .points
            .iter()
            .map(|p| format!("{:.1},{:.1}", plot.px(p.0), plot.py(p.1)))
            .collect();
        let dash = if l.dashed {
            " stroke-dasharray=\"6 3\""
        } else {
            ""
        };
        let _ = writeln!(
            svg.out,
            "<polyline points=\"{}\" fill=\"none\" stroke=\"{c}\" stroke-width=\"2\"{dash}/>",
            points.join(" ")
        );
        if l.points.len() <= MARKED {
            // Earlier lines' markers are larger: a point drawn on another's stays visible
            // as a ring around it.
            let r = 2.5 + 1.2 * (n - 1 - i).min(3) as f64;
            for p in &l.points {
                let _ = writeln!(
                    svg.out,
                    "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"{r}\" fill=\"{c}\" stroke=\"#FFFFFF\" stroke-width=\"0.8\"/>",
                    plot.px(p.0),
                    plot.py(p.1)
                );
            }
        }
    }
    svg.close();
    svg.legend(right + GAP, TOP, &entries);
    Some(Chart {
        file: c.file.to_owned(),
        title: c.title.to_owned(),
        svg: svg.finish(),
    })
}

impl Plot {
    /// The x range's ends in data units (what a span is clipped to).
    fn x_cover_lo(&self) -> f64 {
        self.x_value(self.x.lo)
    }

    fn x_cover_hi(&self) -> f64 {
        self.x_value(self.x.hi)
    }

    fn x_value(&self, v: f64) -> f64 {
        match self.x.scale {
            Scale::Linear => v,
            Scale::Log => 10f64.powf(v),
        }
    }
}

/// The latency percentile spectrum as HdrHistogram's tools draw it: x is 1/(1-q) on a log
/// axis labelled as percentiles (90 %, 99 %, 99.9 % …), y the latency on a log axis
/// (milliseconds of a cache hit to a minute of a whole call).
pub fn spectrum(file: &str, title: &str, series: &[(String, &Histogram<u64>)]) -> Option<Chart> {
    let series: Vec<&(String, &Histogram<u64>)> =
        series.iter().filter(|(_, h)| !h.is_empty()).collect();
    let count = series.iter().map(|(_, h)| h.len()).max()?;
    // Out to the percentile the data can resolve: 99.99 % needs ten thousand samples.
    let x_max = 10f64.powi((count as f64).log10().ceil().clamp(2.0, 6.0) as i32);
    let lines: Vec<Line> = series
        .iter()
        .map(|(name, h)| {
            let points = h
                .iter_quantiles(4)
                .map(|v| {
                    let q = v.quantile_iterated_to();
                    (
                        (1.0 / (1.0 - q)).min(x_max),
                        // On a log axis: 1 ms at the least.
                        (h.highest_equivalent(v.value_iterated_to()) as f64).max(1.0),
                    )
                })
                .collect();
            Line::new(name.clone(), points)
        })
        .collect();
    line_chart(LineChart {
        file,
        title,
        x: Axis {
            label: "percentile".into(),
            scale: Scale::Log,
            format: Format::Percentile,
            cover: Some((1.0, 1.0)),
        },
        y: Axis::log("latency (log)").format(Format::Millis),
        lines,
        spans: Vec::new(),
    })
}

/// Stacked bars: one bar per category, one stacked segment per series; series that are zero
/// everywhere are left out.
pub fn stacked_bars(
    file: &str,
    title: &str,
    x_label: &str,
    y_label: &str,
    categories: &[String],
    stacks: &[(String, Vec<f64>)],
) -> Option<Chart> {
    if categories.is_empty() {
        return None;
    }
    let stacks: Vec<(usize, &(String, Vec<f64>))> = stacks
        .iter()
        .enumerate()
        .filter(|(_, (_, v))| v.iter().any(|n| *n != 0.0))
        .collect();
    if stacks.is_empty() {
        return None;
    }
    let total = |i: usize| {
        stacks
            .iter()
            .map(|(_, (_, v))| v.get(i).copied().unwrap_or(0.0))
            .sum::<f64>()
    };
    let max = (0..categories.len()).map(total).fold(0.0, f64::max);
    let entries: Vec<(Swatch, String)> = stacks
        .iter()
        .map(|(k, (name, _))| {
            (
                Swatch::Block {
                    color: color(*k),
                    opacity: 1.0,
                },
                name.clone(),
            )
        })
        .collect();
    let names: Vec<&str> = entries.iter().map(|(_, n)| n.as_str()).collect();
    let legend = legend_width(&names);
    let right = WIDTH - 2.0 * GAP - legend;
    let n = categories.len() as f64;
    let x = Layout {
        scale: Scale::Linear,
        lo: 0.0,
        hi: n,
        ticks: Vec::new(),
    };
    let plot = Plot {
        left: LEFT,
        top: TOP,
        right,
        bottom: HEIGHT - BOTTOM,
        x,
        y: Layout::new(&Axis::linear(y_label), 0.0, max, 6, true),
    };
    let mut svg = Svg::new(HEIGHT);
    svg.title(title, WIDTH);
    plot.axes(&mut svg, x_label, y_label, false);
    // Category labels under their bars, smaller where they would run into each other.
    let band = (right - LEFT) / n;
    svg.open("axes");
    for (i, name) in categories.iter().enumerate() {
        let font = (band / (0.62 * name.chars().count().max(1) as f64)).clamp(7.0, TICK_FONT);
        svg.text(
            plot.px(i as f64 + 0.5),
            plot.bottom + 18.0,
            "middle",
            font,
            name,
            "",
        );
    }
    svg.close();
    svg.open("data");
    let mut base = vec![0.0; categories.len()];
    for (k, (_, values)) in &stacks {
        for (i, v) in values.iter().enumerate().take(categories.len()) {
            if *v <= 0.0 {
                continue;
            }
            let (a, b) = (plot.px(i as f64 + 0.15), plot.px(i as f64 + 0.85));
            let (top, bottom) = (plot.py(base[i] + v), plot.py(base[i]));
            let _ = writeln!(
                svg.out,
                "<rect x=\"{a:.1}\" y=\"{top:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{}\"><title>{}</title></rect>",
                b - a,
                bottom - top,
                color(*k),
                esc(&format!("{}: {}", categories[i], number(*v)))
            );
            base[i] += v;
        }
    }
    svg.close();
    svg.legend(right + GAP, TOP, &entries);
    Some(Chart {
        file: file.to_owned(),
        title: title.to_owned(),
        svg: svg.finish(),
    })
}

/// One panel of a dot-and-whisker chart: a metric's paired difference per row (policy).
#[derive(Debug, Clone, PartialEq)]
pub struct Panel {
    /// The metric and its unit.
    pub title: String,
    pub format: Format,
    /// Per row: its name, the mean difference and its 95 % confidence interval.
    pub rows: Vec<(String, f64, Option<[f64; 2]>)>,
}

/// Paired differences as dots with whiskers (their confidence intervals), one panel per
/// metric stacked downwards, each with its own x axis and a dashed line at zero.
pub fn dot_whisker(file: &str, title: &str, panels: &[Panel]) -> Option<Chart> {
    let panels: Vec<&Panel> = panels.iter().filter(|p| !p.rows.is_empty()).collect();
    if panels.is_empty() {
        return None;
    }
    let row_h = 24.0;
    let panel_h = |p: &Panel| 30.0 + row_h * p.rows.len() as f64 + 34.0;
    let height = TOP + panels.iter().map(|p| panel_h(p)).sum::<f64>() + 6.0;
    let widest = panels
        .iter()
        .flat_map(|p| p.rows.iter())
        .map(|r| text_width(&r.0, LABEL_FONT))
        .fold(40.0, f64::max);
    let left = (widest + 20.0).max(LEFT);
    let right = WIDTH - 2.0 * GAP;
    let mut svg = Svg::new(height);
    svg.title(title, WIDTH);
    let mut top = TOP;
    for p in panels {
        let lows = p.rows.iter().map(|r| r.2.map_or(r.1, |c| c[0]).min(r.1));
        let highs = p.rows.iter().map(|r| r.2.map_or(r.1, |c| c[1]).max(r.1));
        let lo = lows.fold(0.0, f64::min);
        let hi = highs.fold(0.0, f64::max);
        let axis = Axis::linear(p.title.as_str()).format(p.format);
        let probe = Layout::new(&axis, lo, hi, 8, false);
        let labels: Vec<String> = probe.ticks.iter().map(|t| t.1.clone()).collect();
        let mut x = Layout::new(&axis, lo, hi, x_tick_count(right - left, &labels), false);
        // Differences run both ways: the lower end gets its tick below the data too.
        if x.ticks.first().is_some_and(|t| t.0 >= lo && lo < 0.0) {
            let step = x.ticks.get(1).map_or(1.0, |t| t.0) - x.ticks[0].0;
            let v = x.ticks[0].0 - step;
            x.ticks.insert(0, (v, label(p.format, v)));
            x.lo = v - (x.hi - x.lo) * PAD;
        }
        let rows = p.rows.len() as f64;
        let plot = Plot {
            left,
            top: top + 24.0,
            right,
            bottom: top + 24.0 + row_h * rows,
            x,
            y: Layout {
                scale: Scale::Linear,
                lo: 0.0,
                hi: rows,
                ticks: Vec::new(),
            },
        };
        svg.text(
            left,
            top + 16.0,
            "start",
            LABEL_FONT,
            &p.title,
            " font-weight=\"bold\"",
        );
        svg.open("axes");
        for (v, text) in &plot.x.ticks {
            let x = plot.px(*v);
            svg.line(
                (x, plot.top),
                (x, plot.bottom),
                if *v == 0.0 { "#777777" } else { "#EEEEEE" },
                if *v == 0.0 {
                    " stroke-dasharray=\"4 3\""
                } else {
                    ""
                },
            );
            svg.line((x, plot.bottom), (x, plot.bottom + 5.0), "#000000", "");
            svg.text(x, plot.bottom + 18.0, "middle", TICK_FONT, text, "");
        }
        for (i, (name, _, _)) in p.rows.iter().enumerate() {
            let y = plot.py(rows - i as f64 - 0.5);
            svg.text(left - 8.0, y + 4.0, "end", LABEL_FONT, name, "");
        }
        let _ = writeln!(
            svg.out,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"none\" stroke=\"#000000\"/>",
            plot.left,
            plot.top,
            plot.right - plot.left,
            plot.bottom - plot.top
        );
        svg.close();
        let _ = writeln!(
            svg.out,
            "<rect class=\"plot-area\" x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"none\" stroke=\"none\" data-top-tick=\"{:.1}\"/>",
            plot.left,
            plot.top,
            plot.right - plot.left,
            plot.bottom - plot.top,
            plot.top
        );
        svg.open("data");
        for (i, (name, mean, ci)) in p.rows.iter().enumerate() {
            let y = plot.py(rows - i as f64 - 0.5);
            let c = color(i + 1);
            if let Some([a, b]) = ci {
                let (a, b) = (plot.px(*a), plot.px(*b));
                svg.line((a, y), (b, y), c, " stroke-width=\"2\"");
                svg.line((a, y - 6.0), (a, y + 6.0), c, " stroke-width=\"2\"");
                svg.line((b, y - 6.0), (b, y + 6.0), c, " stroke-width=\"2\"");
            }
            let _ = writeln!(
                svg.out,
                "<circle cx=\"{:.1}\" cy=\"{y:.1}\" r=\"5\" fill=\"{c}\"><title>{}</title></circle>",
                plot.px(*mean),
                esc(&format!("{name}: {}", label(p.format, *mean)))
            );
        }
        svg.close();
        top += panel_h(p);
    }
    Some(Chart {
        file: file.to_owned(),
        title: title.to_owned(),
        svg: svg.finish(),
    })
}
