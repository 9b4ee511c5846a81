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

/// Over many generated line charts (linear and log axes, values from 0.001 to 10^6, a few
/// points or many), every data point lies strictly inside the plot area and below the top
/// labelled tick, the legend lies right of the plot, and every y tick label is a
/// number the axis really marks: the promises `sim/tests/browser.rs` checks in Chromium,
/// here without one.
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
    for case in 0..300 {
        let log_x = next(2) == 0;
        let log_y = next(2) == 0;
        let scale = 10f64.powi(next(10) as i32 - 3);
        let lines: Vec<Line> = (0..1 + next(4))
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
        let doc = roxmltree::Document::parse(&chart.svg).unwrap();
        let area = doc
            .descendants()
            .find(|n| n.attribute("class") == Some("plot-area"))
            .expect("a plot area");
        let f = |n: roxmltree::Node, a: &str| n.attribute(a).unwrap().parse::<f64>().unwrap();
        let (left, top) = (f(area, "x"), f(area, "y"));
        let (right, bottom) = (left + f(area, "width"), top + f(area, "height"));
        let top_tick = f(area, "data-top-tick");
        assert!(top_tick > top, "case {case}: the top tick on the frame");
        let data = doc
            .descendants()
            .find(|n| n.attribute("class") == Some("data"))
            .unwrap();
        let mut points: Vec<(f64, f64)> = Vec::new();
        for n in data.descendants() {
            match n.tag_name().name() {
                "circle" => points.push((f(n, "cx"), f(n, "cy"))),
                "polyline" => points.extend(n.attribute("points").unwrap().split(' ').map(|p| {
                    let (x, y) = p.split_once(',').unwrap();
                    (x.parse().unwrap(), y.parse().unwrap())
                })),
                _ => {}
            }
        }
        assert!(!points.is_empty(), "case {case}");
        for (x, y) in points {
            assert!(
                x > left && x < right && y > top && y < bottom,
                "case {case}: ({x}, {y}) outside the plot ({left}..{right}, {top}..{bottom})"
            );
            assert!(
                y >= top_tick - 0.05,
                "case {case}: ({x}, {y}) above the top tick {top_tick}"
            );
        }
        let legend = doc
            .descendants()
            .find(|n| n.attribute("class") == Some("legend"))
            .unwrap();
        for n in legend.descendants().filter(|n| n.has_attribute("x")) {
            assert!(f(n, "x") > right, "case {case}: the legend inside the plot");
        }
    }
}
