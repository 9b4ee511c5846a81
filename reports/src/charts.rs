//! SVG charts drawn with plotters: every chart has a title, axis labels with units and a
//! legend. A chart without data is not drawn (`None`).

use hdrhistogram::Histogram;
use plotters::coord::Shift;
use plotters::coord::ranged1d::Ranged;
use plotters::prelude::*;

use crate::Chart;

const SIZE: (u32, u32) = (860, 440);
/// Colour-blind-safe (Okabe-Ito), then greys.
const COLORS: [RGBColor; 9] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(240, 228, 66),
    RGBColor(0, 0, 0),
    RGBColor(150, 150, 150),
];

fn color(i: usize) -> RGBColor {
    COLORS[i % COLORS.len()]
}

/// A named series of (x, y) points.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn draw(
    file: &str,
    title: &str,
    paint: impl FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> Result<()>,
) -> Option<Chart> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).ok()?;
        paint(&root).ok()?;
        root.present().ok()?;
    }
    Some(Chart {
        file: file.to_owned(),
        title: title.to_owned(),
        svg,
    })
}

/// Axis numbers without trailing noise: `12000`, `2.5`, `0.25`.
fn number(v: &f64) -> String {
    if v.abs() >= 10.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    }
}

/// What every chart shares: the title, margins, room for the axis labels.
fn frame<'a, 'b>(
    root: &'a DrawingArea<SVGBackend<'b>, Shift>,
    title: &str,
) -> ChartBuilder<'a, 'b, SVGBackend<'b>> {
    let mut builder = ChartBuilder::on(root);
    builder
        .caption(title, ("sans-serif", 20))
        .margin(14)
        .x_label_area_size(44)
        .y_label_area_size(70);
    builder
}

type Context<'a, X, Y> = ChartContext<'a, SVGBackend<'a>, Cartesian2d<X, Y>>;

fn legend<X: Ranged, Y: Ranged>(
    chart: &mut Context<'_, X, Y>,
    position: SeriesLabelPosition,
) -> Result<()> {
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

/// Series `i` as a line with its legend entry; returns its colour.
fn line<X: Ranged<ValueType = f64>, Y: Ranged<ValueType = f64>>(
    chart: &mut Context<'_, X, Y>,
    i: usize,
    name: &str,
    points: &[(f64, f64)],
) -> Result<RGBColor> {
    let c = color(i);
    chart
        .draw_series(LineSeries::new(points.iter().copied(), c.stroke_width(2)))?
        .label(name)
        .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], c.stroke_width(2)));
    Ok(c)
}

fn upper(max: f64) -> f64 {
    if max > 0.0 { max * 1.1 } else { 1.0 }
}

/// Lines against a linear x axis, y from zero.
pub fn lines(
    file: &str,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Line],
) -> Option<Chart> {
    lines_over_spans(file, title, x_label, y_label, series, &Spans::default())
}

/// Stretches of the x axis shaded behind a chart's lines, under one legend entry.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Spans {
    pub name: String,
    pub spans: Vec<(f64, f64)>,
}

/// [`lines`], with `spans` shaded behind them (a throttler's blocks, say).
pub fn lines_over_spans(
    file: &str,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Line],
    spans: &Spans,
) -> Option<Chart> {
    let all = || series.iter().flat_map(|s| s.points.iter());
    let (x0, x1) = all().fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.0), b.max(p.0)));
    if x0 > x1 {
        return None;
    }
    let (x0, x1) = if x0 == x1 {
        (x0 - 1.0, x1 + 1.0)
    } else {
        (x0, x1)
    };
    let y1 = upper(all().fold(0.0, |m: f64, p| m.max(p.1)));
    draw(file, title, |root| {
        let mut chart = frame(root, title).build_cartesian_2d(x0..x1, 0.0..y1)?;
        chart
            .configure_mesh()
            .x_desc(x_label)
            .y_desc(y_label)
            .x_label_formatter(&number)
            .y_label_formatter(&number)
            .draw()?;
        if !spans.spans.is_empty() {
            let shade = RGBColor(213, 94, 0).mix(0.15);
            chart
                .draw_series(spans.spans.iter().map(|&(a, b)| {
                    Rectangle::new([(a.max(x0), 0.0), (b.min(x1), y1)], shade.filled())
                }))?
                .label(spans.name.as_str())
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 18, y + 5)], shade.filled())
                });
        }
        for (i, s) in series.iter().enumerate() {
            let c = line(&mut chart, i, s.name.as_str(), &s.points)?;
            chart.draw_series(s.points.iter().map(|p| Circle::new(*p, 3, c.filled())))?;
        }
        legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
        Ok(())
    })
}

/// The latency percentile spectrum as HdrHistogram's tools draw it: x is 1/(1-q) on a log
/// axis labelled as percentiles (90 %, 99 %, 99.9 % …), y the latency.
pub fn spectrum(file: &str, title: &str, series: &[(String, &Histogram<u64>)]) -> Option<Chart> {
    let series: Vec<&(String, &Histogram<u64>)> =
        series.iter().filter(|(_, h)| !h.is_empty()).collect();
    let count = series.iter().map(|(_, h)| h.len()).max()?;
    // Out to the percentile the data can resolve: 99.99 % needs ten thousand samples.
    let x_max = 10f64.powi((count as f64).log10().ceil().clamp(2.0, 6.0) as i32);
    let lines: Vec<(String, Vec<(f64, f64)>)> = series
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
            (name.clone(), points)
        })
        .collect();
    let y1 = upper(
        series
            .iter()
            .map(|(_, h)| h.max() as f64)
            .fold(0.0, f64::max),
    );
    draw(file, title, |root| {
        // Latencies from milliseconds (a cache hit) to a minute (a whole call) on one log
        // axis: a linear one flattens every operation but the slowest onto zero.
        let mut chart = frame(root, title)
            .build_cartesian_2d((1.0..x_max).log_scale(), (1.0..y1.max(10.0)).log_scale())?;
        chart
            .configure_mesh()
            .x_desc("percentile")
            .y_desc("latency (ms, log)")
            .y_label_formatter(&number)
            .x_label_formatter(&|x| {
                let p = (1.0 - 1.0 / x) * 100.0;
                if p < 99.0 {
                    format!("{p:.0} %")
                } else {
                    format!(
                        "{p:.*} %",
                        ((1.0 / (1.0 - p / 100.0)).log10().round() as usize).saturating_sub(2)
                    )
                }
            })
            .draw()?;
        for (i, (name, points)) in lines.iter().enumerate() {
            line(&mut chart, i, name.as_str(), points)?;
        }
        legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
        Ok(())
    })
}

/// Stacked bars: one bar per category, one stacked segment per series.
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
    let n = categories.len() as i32;
    let total = |i: usize| {
        stacks
            .iter()
            .map(|(_, v)| v.get(i).copied().unwrap_or(0.0))
            .sum::<f64>()
    };
    let y1 = upper((0..categories.len()).map(total).fold(0.0, f64::max));
    draw(file, title, |root| {
        let mut chart =
            frame(root, title).build_cartesian_2d((0..n - 1).into_segmented(), 0.0..y1)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_desc(x_label)
            .y_desc(y_label)
            .y_label_formatter(&number)
            .x_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => {
                    categories.get(*i as usize).cloned().unwrap_or_default()
                }
                SegmentValue::Last => String::new(),
            })
            .draw()?;
        let mut base = vec![0.0; categories.len()];
        for (k, (name, values)) in stacks.iter().enumerate() {
            let c = color(k);
            let bars: Vec<Rectangle<(SegmentValue<i32>, f64)>> = values
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    let mut r = Rectangle::new(
                        [
                            (SegmentValue::Exact(i as i32), base[i]),
                            (SegmentValue::Exact(i as i32 + 1), base[i] + v),
                        ],
                        c.filled(),
                    );
                    r.set_margin(0, 0, 12, 12);
                    base[i] += v;
                    r
                })
                .collect();
            chart
                .draw_series(bars)?
                .label(name.as_str())
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], c.filled()));
        }
        legend(&mut chart, SeriesLabelPosition::UpperRight)?;
        Ok(())
    })
}
