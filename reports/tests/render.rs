//! Every chart is well-formed SVG holding its series; the HTML is well-formed with the
//! charts inline; the Markdown has the tables.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use reports::model::{LatencyStats, RunView};

type Counts = BTreeMap<String, u64>;

fn counts(pairs: &[(&str, u64)]) -> Counts {
    pairs.iter().map(|(k, n)| ((*k).to_owned(), *n)).collect()
}

/// A run's view with nothing in it but its names and `timeseries`, `calcom_blocks`.
fn view<'a>(
    empty: &'a (
        Counts,
        BTreeMap<String, Counts>,
        BTreeMap<String, LatencyStats>,
    ),
    timeseries: &'a [(u64, &'a Counts)],
    calcom_blocks: &'a [(u64, u64)],
) -> RunView<'a> {
    RunView {
        scenario: "s",
        seed: 1,
        policy: "baseline",
        calls: 0,
        simulated_seconds: 0.0,
        told_available: 0,
        race_failure_rate: 0.0,
        false_refusal_rate: 0.0,
        told_unavailable: 0,
        unavailable_free_rate: 0.0,
        unavailable_free: &empty.0,
        outcomes: &empty.0,
        outcome_errors: &empty.1,
        invariants: &empty.0,
        violations: &[],
        latency_ms: &empty.2,
        gates: &[],
        timeseries,
        calcom_blocks,
        digest: "abc",
    }
}

fn histogram(values: &[u64]) -> Histogram<u64> {
    let mut h = Histogram::new_with_bounds(1, 3_600_000, 3).unwrap();
    for v in values {
        h.record(*v).unwrap();
    }
    h
}

fn texts(xml: &str) -> String {
    let doc = roxmltree::Document::parse_with_options(
        xml,
        roxmltree::ParsingOptions {
            allow_dtd: true,
            ..Default::default()
        },
    )
    .unwrap_or_else(|e| panic!("not well-formed: {e}\n{xml}"));
    doc.descendants()
        .filter_map(|n| n.text())
        .map(str::trim)
        .collect::<Vec<_>>()
        .join("|")
}

#[test]
fn a_run_report_draws_its_series_and_parses() {
    let outcomes = counts(&[("booked", 1), ("race_lost", 1)]);
    let invariants = counts(&[("double_booking", 1)]);
    let latency = BTreeMap::from([(
        "start_booking".to_owned(),
        LatencyStats {
            count: 2,
            p50: 1100,
            p90: 1900,
            p95: 1900,
            p99: 1900,
            max: 1900,
        },
    )]);
    let (t3, t14) = (
        counts(&[("calcom_2xx", 4), ("calcom_429", 1)]),
        counts(&[("calcom_2xx", 2)]),
    );
    let empty = Default::default();
    let summary = RunView {
        scenario: "incident-741",
        seed: 741,
        calls: 2,
        outcomes: &outcomes,
        told_available: 2,
        race_failure_rate: 0.5,
        invariants: &invariants,
        violations: &[("double_booking", "two <bookings> & more")],
        latency_ms: &latency,
        gates: &[("invariants.double_booking == 0", Some(1.0), false)],
        simulated_seconds: 30.0,
        timeseries: &[(3, &t3), (14, &t14)],
        ..view(&empty, &[], &[])
    };
    let check = histogram(&[300, 420, 800]);
    let booking = histogram(&[1100, 1900]);
    let histograms = BTreeMap::from([
        ("check_availability".to_owned(), check.clone()),
        ("start_booking".to_owned(), booking.clone()),
    ]);
    let intervals = vec![
        (0, histograms.clone()),
        (
            10_000,
            BTreeMap::from([("start_booking".to_owned(), booking)]),
        ),
    ];
    let doc = reports::run::document(&summary, &histograms, intervals, 10_000);
    let charts: BTreeMap<&str, &str> = doc
        .charts()
        .map(|c| (c.file.as_str(), c.svg.as_str()))
        .collect();
    let expect = [
        (
            "latency-spectrum.svg",
            ["check_availability", "start_booking", "percentile"],
        ),
        (
            "latency-over-time.svg",
            [
                "start_booking p95",
                "check_availability p50",
                "simulated time (s)",
            ],
        ),
        (
            "calcom-status-over-time.svg",
            ["2xx", "429 throttled", "requests per 10 s"],
        ),
    ];
    for (file, series) in expect {
        let text = texts(charts.get(file).unwrap_or_else(|| panic!("no {file}")));
        for s in series {
            assert!(text.contains(s), "{file} lacks {s}: {text}");
        }
    }
    let html = doc.html();
    let text = texts(&html);
    assert!(
        text.contains("two <bookings> & more"),
        "escaped and read back"
    );
    assert!(text.contains("FAIL") && text.contains("Latency by percentile"));
    assert_eq!(html.matches("<svg").count(), 3, "charts inline");
    assert!(
        !html.contains("src=") && !html.contains("href=") && !html.contains("<script"),
        "self-contained: nothing to fetch, nothing to run"
    );
    let md = doc.markdown();
    assert!(md.contains("| start_booking | 2 | 1.10 s |"), "{md}");
    assert!(md.contains("![Latency by percentile](charts/latency-spectrum.svg)"));
}

#[test]
fn the_calcom_chart_shades_the_throttlers_blocks() {
    let (a, b, c) = (
        counts(&[("calcom_2xx", 4)]),
        counts(&[("calcom_429", 9)]),
        counts(&[("calcom_2xx", 3)]),
    );
    let rows = [(3, &a), (70, &b), (140, &c)];
    let empty = Default::default();
    let chart = |blocks: &[(u64, u64)]| {
        let summary = view(&empty, &rows, blocks);
        let doc = reports::run::document(&summary, &BTreeMap::new(), Vec::new(), 10_000);
        let svg = doc
            .charts()
            .find(|c| c.file == "calcom-status-over-time.svg")
            .expect("the Cal.com chart")
            .svg
            .clone();
        (texts(&svg), svg.matches("<rect").count())
    };
    let (plain, plain_rects) = chart(&[]);
    let (text, rects) = chart(&[(49_000, 109_000), (120_000, 180_000)]);
    assert!(!plain.contains("throttler's block"), "{plain}");
    assert!(text.contains("throttler's block"), "{text}");
    // Two shaded blocks and the legend's swatch.
    assert_eq!(rects, plain_rects + 3);
}

#[test]
fn a_sweep_report_draws_one_line_per_policy_against_the_parameter() {
    use reports::model::{
        IndexMap, Knee, LatencyStats, Paired, PairedDifference, PairedMetrics, Point,
        PolicySummary, SweepReport,
    };
    let summary = |booked: u64, race_lost: u64, rate: f64, p95: u64| PolicySummary::<()> {
        runs: 2,
        calls: 10,
        outcomes: BTreeMap::from([("booked".into(), booked), ("race_lost".into(), race_lost)]),
        race_failure_rate: rate,
        latency_ms: BTreeMap::from([(
            "start_booking".into(),
            LatencyStats {
                p95,
                ..LatencyStats::default()
            },
        )]),
        ..PolicySummary::default()
    };
    let point = |rate: &str, x: f64, rf: (f64, f64)| Point {
        params: IndexMap::from([("rate".to_owned(), rate.to_owned())]),
        x: Some(x),
        policies: IndexMap::from([
            ("baseline".to_owned(), summary(5, 5, rf.0, 1500)),
            ("full".to_owned(), summary(9, 1, rf.1, 2500)),
        ]),
        paired: Paired {
            reference: "baseline".into(),
            policies: IndexMap::from([(
                "full".to_owned(),
                PairedMetrics {
                    race_failure_rate: Some(PairedDifference {
                        pairs: 2,
                        reference_mean: rf.0,
                        mean: rf.1,
                        difference: rf.1 - rf.0,
                        ci95: Some([-0.5, -0.1]),
                        relative: Some(-0.9),
                    }),
                    ..PairedMetrics::default()
                },
            )]),
        },
    };
    let report = SweepReport {
        scenario: "voice-journeys".into(),
        params: vec!["rate".into()],
        policies: vec!["baseline".into(), "full".into()],
        seeds: vec![1, 2],
        runs: 8,
        complete: true,
        dropped: Vec::new(),
        points: vec![point("1", 1.0, (0.0, 0.0)), point("5", 5.0, (0.5, 0.05))],
        knees: vec![Knee {
            condition: "race_failure_rate > 0.01".into(),
            policy: "baseline".into(),
            along: "rate".into(),
            at: Some("5".into()),
            interpolated: Some(1.08),
            bracketed: true,
            ..Knee::default()
        }],
    };
    // The report is what `sweep.json` holds: it reads back as written.
    let text = serde_json::to_string_pretty(&report).unwrap();
    assert_eq!(
        serde_json::from_str::<SweepReport<()>>(&text).unwrap(),
        report
    );
    let h = histogram(&[1000, 2000]);
    let doc = reports::sweep::document(&report, &[("baseline".into(), &h), ("full".into(), &h)]);
    let files: Vec<&str> = doc.charts().map(|c| c.file.as_str()).collect();
    assert_eq!(
        files,
        [
            "sweep-booking-spectrum.svg",
            "sweep-booked.svg",
            "sweep-false-refusals.svg",
            "sweep-race-failure-rate.svg",
            "sweep-calcom-429.svg",
            "sweep-booking-p95.svg"
        ]
    );
    for c in doc.charts() {
        let text = texts(&c.svg);
        assert!(
            text.contains("baseline") && text.contains("full"),
            "{}: {text}",
            c.file
        );
    }
    let rf = doc
        .charts()
        .find(|c| c.file == "sweep-race-failure-rate.svg")
        .unwrap();
    assert!(texts(&rf.svg).contains("race-failure rate (%)"));
    let md = doc.markdown();
    assert!(
        md.contains("| race_failure_rate > 0.01 | baseline | - | rate = 5 | 1.080 |"),
        "{md}"
    );
    assert!(md.contains("-90 %"), "{md}");
    texts(&doc.html());
}

/// What a line chart's SVG breaks of its promises (empty: none). `log`: which axes (x, y)
/// are logarithmic, whose maximum must carry a tick of its own.
fn chart_problems(svg: &str, log: (bool, bool)) -> Vec<String> {
    let doc = roxmltree::Document::parse(svg).unwrap();
    let mut problems = Vec::new();
    let class = |name: &str| {
        doc.descendants()
            .find(|n| n.attribute("class") == Some(name))
            .unwrap_or_else(|| panic!("no {name}"))
    };
    let f = |n: roxmltree::Node, a: &str| n.attribute(a).unwrap().parse::<f64>().unwrap();
    let area = class("plot-area");
    let (left, top) = (f(area, "x"), f(area, "y"));
    let (right, bottom) = (left + f(area, "width"), top + f(area, "height"));
    let top_tick = f(area, "data-top-tick");
    if top_tick <= top {
        problems.push("the top tick on the frame".to_owned());
    }
    let mut points: Vec<(f64, f64)> = Vec::new();
    for n in class("data").descendants() {
        match n.tag_name().name() {
            "circle" => points.push((f(n, "cx"), f(n, "cy"))),
            "polyline" => points.extend(n.attribute("points").unwrap().split(' ').map(|p| {
                let (x, y) = p.split_once(',').unwrap();
                (x.parse().unwrap(), y.parse().unwrap())
            })),
            _ => {}
        }
    }
    if points.is_empty() {
        problems.push("no data drawn".to_owned());
    }
    for &(x, y) in &points {
        if !(x > left && x < right && y > top && y < bottom) {
            problems.push(format!(
                "({x}, {y}) outside the plot ({left}..{right}, {top}..{bottom})"
            ));
        }
        // Strictly below the top labelled tick: a maximum on it is not covered.
        if y <= top_tick + 0.05 {
            problems.push(format!("({x}, {y}) not below the top tick {top_tick}"));
        }
    }
    for n in class("legend")
        .descendants()
        .filter(|n| n.has_attribute("x"))
    {
        if f(n, "x") <= right {
            problems.push("the legend inside the plot".to_owned());
        }
    }
    // The axes' ticks (the short marks outside the frame) and their labels.
    let axes = class("axes");
    let lines = || axes.children().filter(|n| n.has_tag_name("line"));
    let near = |a: f64, b: f64| (a - b).abs() < 0.11;
    let y_ticks: Vec<f64> = lines()
        .filter(|n| near(f(*n, "x2"), left) && near(f(*n, "x1"), left - 5.0))
        .map(|n| f(n, "y1"))
        .collect();
    let x_ticks: Vec<f64> = lines()
        .filter(|n| near(f(*n, "y1"), bottom) && near(f(*n, "y2"), bottom + 5.0))
        .map(|n| f(n, "x1"))
        .collect();
    let labels = |pick: &dyn Fn(roxmltree::Node) -> bool| -> Vec<(f64, f64, String)> {
        axes.children()
            .filter(|n| n.has_tag_name("text") && pick(*n))
            .map(|n| {
                (
                    f(n, "x"),
                    f(n, "y"),
                    n.text().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    };
    let y_labels = labels(&|n| near(f(n, "x"), left - 8.0));
    let x_labels = labels(&|n| near(f(n, "y"), bottom + 18.0));
    let width = |t: &str| t.chars().count() as f64 * 11.0 * 0.62;
    for (i, a) in y_labels.iter().enumerate() {
        for b in &y_labels[i + 1..] {
            if (a.1 - b.1).abs() < 12.0 {
                problems.push(format!("the y labels {} and {} collide", a.2, b.2));
            }
        }
    }
    for (i, a) in x_labels.iter().enumerate() {
        for b in &x_labels[i + 1..] {
            if (a.0 - b.0).abs() < (width(&a.2) + width(&b.2)) / 2.0 + 2.0 {
                problems.push(format!("the x labels {} and {} collide", a.2, b.2));
            }
        }
    }
    // A log axis is labelled at the data's maximum (the highest point, the rightmost).
    let highest = points.iter().map(|p| p.1).fold(f64::MAX, f64::min);
    let rightmost = points.iter().map(|p| p.0).fold(f64::MIN, f64::max);
    if log.1 && !y_ticks.iter().any(|t| near(*t, highest)) {
        problems.push(format!(
            "the log y axis's maximum (at {highest}) has no tick"
        ));
    }
    if log.0 && !x_ticks.iter().any(|t| near(*t, rightmost)) {
        problems.push(format!(
            "the log x axis's maximum (at {rightmost}) has no tick"
        ));
    }
    problems
}

/// Over many generated line charts (linear and log axes, values from 0.001 to 10^6, a few
/// points or many, maxima exactly on a tick and close to a decade), every data point lies
/// strictly inside the plot area and strictly below the top labelled tick, the legend lies
/// right of the plot, a log axis carries a tick at the data's maximum and no two tick labels
/// collide: the promises `sim/tests/browser.rs` checks in Chromium, here without one.
#[test]
fn generated_line_charts_keep_their_marks_inside_the_plot_and_under_the_top_tick() {
    use reports::charts::{Axis, Format, Line, LineChart, line_chart};
    let mut state = 7u64;
    let mut next = |n: u64| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) % n
    };
    let (mut on_tick, mut near_decade) = (0, 0);
    for case in 0..400 {
        let log_x = next(2) == 0;
        let log_y = next(2) == 0;
        let scale = 10f64.powi(next(10) as i32 - 3);
        // A third of the log charts: a maximum within 10 % of a decade (above or below).
        let by_decade = log_y && next(3) == 0;
        let mut lines: Vec<Line> = (0..1 + next(4))
            .map(|i| {
                let n = 1 + next(60) as usize;
                let points = (0..n)
                    .map(|k| {
                        let x = if log_x {
                            0.05 * 2f64.powi(k as i32)
                        } else {
                            k as f64 * 5.0
                        };
                        // Round values half the time: a maximum exactly at a tick.
                        let y = if next(2) == 0 {
                            next(1000) as f64 / 1000.0 * scale
                        } else {
                            next(6) as f64 * scale
                        };
                        let y = y + if log_y { scale } else { 0.0 };
                        (x, y)
                    })
                    .collect();
                Line::new(format!("series {i}"), points)
            })
            .collect();
        if by_decade {
            let decade = scale * 10f64.powi(1 + next(2) as i32);
            let max = decade * (0.9 + next(21) as f64 / 100.0);
            let x = lines[0].points.last().unwrap().0;
            lines[0].points.push((x, max));
            near_decade += 1;
        }
        let max = lines
            .iter()
            .flat_map(|l| &l.points)
            .map(|p| p.1)
            .fold(0.0, f64::max);
        if !log_y && (max / scale).fract() == 0.0 {
            on_tick += 1;
        }
        let axis = |log: bool| {
            if log {
                Axis::log("v").format(Format::Millis)
            } else {
                Axis::linear("v")
            }
        };
        let chart = line_chart(LineChart {
            file: "c.svg",
            title: "generated",
            x: axis(log_x),
            y: axis(log_y),
            lines,
            spans: Vec::new(),
        })
        .expect("a chart");
        let problems = chart_problems(&chart.svg, (log_x, log_y));
        assert!(
            problems.is_empty(),
            "case {case}:\n{}\n{}",
            problems.join("\n"),
            chart.svg
        );
    }
    assert!(on_tick > 20 && near_decade > 20, "{on_tick} {near_decade}");
}

/// The checks above fail a chart that breaks a promise: a maximum on the top tick, a log
/// axis's maximum without its tick, two labels on each other.
#[test]
fn a_chart_broken_on_purpose_fails_the_generated_checks() {
    use reports::charts::{Axis, Format, Line, LineChart, line_chart};
    let chart = |y: Axis| {
        line_chart(LineChart {
            file: "c.svg",
            title: "broken",
            x: Axis::linear("x"),
            y,
            lines: vec![Line::new("a", vec![(0.0, 2.0), (1.0, 5.0), (2.0, 9300.0)])],
            spans: Vec::new(),
        })
        .unwrap()
        .svg
    };
    let svg = chart(Axis::log("v").format(Format::Millis));
    assert_eq!(chart_problems(&svg, (false, true)), Vec::<String>::new());
    // The highest point's height, as drawn.
    let highest = svg
        .split(" cy=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next()?.parse::<f64>().ok())
        .fold(f64::MAX, f64::min);
    let area = svg
        .split("data-top-tick=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_owned();
    // An axis that did not extend: its top tick where the maximum is.
    let on_top = svg.replace(
        &format!("data-top-tick=\"{area}\""),
        &format!("data-top-tick=\"{highest:.1}\""),
    );
    let problems = chart_problems(&on_top, (false, true));
    assert!(
        problems
            .iter()
            .any(|p| p.contains("not below the top tick")),
        "{problems:?}"
    );
    // The maximum's tick and label gone (what the axis did when a decade was near it).
    let label = svg
        .lines()
        .find(|l| l.contains(">9.3 s</text>"))
        .expect("the maximum labelled");
    // The label sits 4 px below its tick mark (from 5 px left of the frame to it).
    let y: f64 = label
        .split(" y=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let mark = format!("x1=\"79.0\" y1=\"{:.1}\"", y - 4.0);
    assert!(svg.contains(&mark), "{mark}");
    let unlabelled: String = svg
        .lines()
        .filter(|l| *l != label && !l.contains(&mark))
        .collect::<Vec<_>>()
        .join("\n");
    let problems = chart_problems(&unlabelled, (false, true));
    assert!(
        problems
            .iter()
            .any(|p| p.contains("maximum") && p.contains("no tick")),
        "{problems:?}"
    );
    // A decade label beside the maximum's.
    let crowded = svg.replacen(
        label,
        &format!("{label}\n{}", label.replace(">9.3 s<", ">10 s<")),
        1,
    );
    let problems = chart_problems(&crowded, (false, true));
    assert!(
        problems.iter().any(|p| p.contains("collide")),
        "{problems:?}"
    );
}

/// Charts in a row: side by side in the HTML (a grid of two columns that wraps on a narrow
/// page), one after the other in Markdown, and among the document's charts; one chart alone
/// (the other not drawn) is a plain figure.
#[test]
fn a_row_of_charts_reads_side_by_side_in_html_and_in_turn_in_markdown() {
    let bars = |file: &str| {
        reports::charts::stacked_bars(
            file,
            file,
            "policy",
            "calls",
            &["a".to_owned()],
            &[("booked".to_owned(), vec![3.0])],
        )
    };
    let mut doc = reports::Document::new("row");
    doc.row([bars("one.svg"), bars("two.svg")]);
    doc.row([bars("three.svg"), None]);
    let files: Vec<&str> = doc.charts().map(|c| c.file.as_str()).collect();
    assert_eq!(files, ["one.svg", "two.svg", "three.svg"]);
    let html = doc.html();
    let row = html.find("<div class=\"row\">").expect("a row");
    let (one, two, three) = (
        html.find("one.svg").unwrap(),
        html.find("two.svg").unwrap(),
        html.find("three.svg").unwrap(),
    );
    let end = row + html[row..].find("</div>").unwrap();
    assert!(row < one && one < two && two < end && end < three, "{html}");
    assert_eq!(html.matches("class=\"row\"").count(), 1, "{html}");
    assert!(html.contains("grid-template-columns"), "{html}");
    texts(&html);
    assert!(
        doc.markdown()
            .contains("![one.svg](charts/one.svg)\n![two.svg](charts/two.svg)\n"),
        "{}",
        doc.markdown()
    );
}
