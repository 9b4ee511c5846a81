//! The report of a comparison (policies on the same seeds) or a sweep (a grid of scenario
//! variants x policies x seeds), from `sweep.json`.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;

use crate::charts::{self, Axis, Format, Line, LineChart, Panel, Spans};
use crate::model::{IndexMap, Knee, Metric, Point, PolicySummary, SweepReport};
use crate::{Document, ms, percent};

/// `spectra` holds, per policy, its start_booking latencies over the whole sweep.
pub fn document<E>(report: &SweepReport<E>, spectra: &[(String, &Histogram<u64>)]) -> Document {
    let params = &report.params;
    let policies = &report.policies;
    let points = &report.points;
    let kind = if params.is_empty() {
        "compare"
    } else {
        "sweep"
    };
    let mut doc = Document::new(if params.is_empty() {
        format!("bookingsim compare: {}", report.scenario)
    } else {
        format!(
            "bookingsim sweep: {} over {}",
            report.scenario,
            params.join(", ")
        )
    });
    let seeds = report.seeds.len();
    doc.text(format!(
        "{} runs: {} point(s) x {} policies x {} seeds (common random numbers: every policy meets the same callers and external bookings on a seed){}.",
        report.runs,
        points.len(),
        policies.len(),
        seeds,
        if !report.complete { "; INCOMPLETE: some runs are missing" } else { "" }
    ));
    if !report.dropped.is_empty() {
        doc.text(format!(
            "Left out by the merge ({}): {}.",
            report.dropped.len(),
            report.dropped.join("; ")
        ));
    }

    if !params.is_empty() {
        doc.heading("Answer");
        for sentence in answer(report) {
            doc.text(sentence);
        }
    }

    doc.heading("Results per policy");
    let mut header: Vec<&str> = params.iter().map(String::as_str).collect();
    // The capacity signals first: what booked, what broke, where Cal.com throttled.
    header.extend([
        "policy",
        "booked",
        "violations",
        "Cal.com 429",
        "race-failure rate",
        "false-refusal rate",
        "unavailable-free rate",
        "booking p95",
        "runs",
        "calls",
        "race_lost",
        "refused_free",
        "unavailable_free",
        "check p95",
        "booking p50",
        "booking p99",
    ]);
    let mut rows = Vec::new();
    for p in points {
        for (policy, s) in &p.policies {
            let mut row: Vec<String> = at(params, p);
            let b = s.latency_ms.get("start_booking");
            let stat = |l: Option<&crate::model::LatencyStats>,
                        f: fn(&crate::model::LatencyStats) -> u64| {
                ms(l.map(|l| f(l) as f64))
            };
            row.extend([
                policy.clone(),
                s.outcome("booked").to_string(),
                s.violations().to_string(),
                s.calcom_429().to_string(),
                percent(s.race_failure_rate),
                percent(s.false_refusal_rate),
                percent(s.unavailable_free_rate),
                stat(b, |l| l.p95),
                s.runs.to_string(),
                s.calls.to_string(),
                s.outcome("race_lost").to_string(),
                s.outcome("refused_free").to_string(),
                s.unavailable_free
                    .get("all")
                    .copied()
                    .unwrap_or(0)
                    .to_string(),
                stat(s.latency_ms.get("check_availability"), |l| l.p95),
                stat(b, |l| l.p50),
                stat(b, |l| l.p99),
            ]);
            rows.push(row);
        }
    }
    doc.table(&header, rows);

    paired(&mut doc, params, points);
    knees(&mut doc, &report.knees);

    doc.heading("Charts");
    if params.is_empty() {
        compare_charts(&mut doc, report);
    }
    doc.chart(charts::spectrum(
        &format!("{kind}-booking-spectrum.svg"),
        "start_booking latency by percentile, per policy",
        spectra,
    ));
    if let Some(along) = params.first() {
        sweep_charts(&mut doc, report, along);
    }
    doc
}

/// A comparison's charts: what booked and what broke per policy, then the paired
/// differences as dots with whiskers.
fn compare_charts<E>(doc: &mut Document, report: &SweepReport<E>) {
    let policies = &report.policies;
    let summed = |field: &dyn Fn(&PolicySummary<E>) -> &BTreeMap<String, u64>| {
        let mut names: Vec<String> = Vec::new();
        for p in &report.points {
            for s in p.policies.values() {
                for (k, n) in field(s) {
                    if *n > 0 && !names.contains(k) {
                        names.push(k.clone());
                    }
                }
            }
        }
        names
            .into_iter()
            .map(|k| {
                let v: Vec<f64> = policies
                    .iter()
                    .map(|policy| {
                        report
                            .points
                            .iter()
                            .filter_map(|p| p.policies.get(policy))
                            .map(|s| field(s).get(&k).copied().unwrap_or(0) as f64)
                            .sum()
                    })
                    .collect();
                (k, v)
            })
            .collect::<Vec<(String, Vec<f64>)>>()
    };
    // Booked first, at the bottom of every bar, so the bars compare what booked.
    let mut outcomes = summed(&|s| &s.outcomes);
    outcomes.sort_by_key(|(k, _)| k != "booked");
    let booked = charts::stacked_bars(
        "compare-outcomes.svg",
        "What booked: calls per policy by outcome (summed over seeds)",
        "policy",
        "calls",
        policies,
        &outcomes,
    );
    let broken = summed(&|s| &s.invariants);
    if broken.is_empty() {
        doc.chart(booked);
        doc.text("What broke: no invariant was violated under any policy.");
    } else {
        // Beside what booked, so "books more but double-books" reads at a glance.
        doc.row([
            booked,
            charts::stacked_bars(
                "compare-violations.svg",
                "What broke: invariant violations per policy by kind (summed over seeds)",
                "policy",
                "violations",
                policies,
                &broken,
            ),
        ]);
    }
    let Some(point) = report.points.first() else {
        return;
    };
    let panels: Vec<Panel> = Metric::ALL
        .into_iter()
        .map(|metric| {
            let (unit, scale, format) = match metric {
                Metric::RaceFailureRate
                | Metric::FalseRefusalRate
                | Metric::UnavailableFreeRate
                | Metric::BookedShare => ("percentage points", 100.0, Format::Number),
                Metric::P95(_) => ("ms", 1.0, Format::Millis),
                Metric::Violations | Metric::Calcom429 => ("per run", 1.0, Format::Number),
            };
            Panel {
                title: format!(
                    "{} ({unit}): policy minus {}",
                    metric.name(),
                    point.paired.reference
                ),
                format,
                rows: point
                    .paired
                    .policies
                    .iter()
                    .filter_map(|(policy, m)| {
                        let d = m.iter().find(|(k, _)| *k == metric)?.1?;
                        Some((
                            policy.clone(),
                            d.difference * scale,
                            d.ci95.map(|[a, b]| [a * scale, b * scale]),
                        ))
                    })
                    .collect(),
            }
        })
        .collect();
    // A metric no policy moved (zero difference, zero interval) is named, not drawn.
    let (panels, unmoved): (Vec<Panel>, Vec<Panel>) = panels.into_iter().partition(|p| {
        p.rows
            .iter()
            .any(|(_, d, ci)| *d != 0.0 || ci.is_some_and(|[a, b]| a != 0.0 || b != 0.0))
    });
    let unmoved: Vec<String> = unmoved
        .iter()
        .filter(|p| !p.rows.is_empty())
        .filter_map(|p| p.title.split(' ').next().map(str::to_owned))
        .collect();
    if !unmoved.is_empty() {
        doc.text(format!(
            "No policy differs from {} in {}.",
            point.paired.reference,
            unmoved.join(", ")
        ));
    }
    doc.chart(charts::dot_whisker(
        "compare-paired-differences.svg",
        &format!(
            "Paired differences against {}: mean over seeds, whiskers its 95 % confidence interval",
            point.paired.reference
        ),
        &panels,
    ));
}

/// Whether a sweep's x values are geometric (each a multiple of the last) rather than
/// evenly spaced: then a log axis spreads them evenly.
pub fn geometric(xs: &[f64]) -> bool {
    let mut xs: Vec<f64> = xs.to_vec();
    xs.sort_by(f64::total_cmp);
    xs.dedup();
    if xs.len() < 3 || xs[0] <= 0.0 || xs[xs.len() - 1] / xs[0] < 10.0 {
        return false;
    }
    // Spread of the gaps relative to their mean: the even spacing wins.
    let spread = |gaps: Vec<f64>| {
        let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
        let var = gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / gaps.len() as f64;
        var.sqrt() / mean
    };
    let linear = spread(xs.windows(2).map(|w| w[1] - w[0]).collect());
    let log = spread(xs.windows(2).map(|w| (w[1] / w[0]).ln()).collect());
    log < linear
}

/// A policy's index, the line's name and its points.
type Curve = (usize, String, Vec<(f64, f64)>);

/// One line per policy (and combination of the other parameters) of `metric` against the
/// first parameter.
fn curves<E>(
    report: &SweepReport<E>,
    metric: &dyn Fn(&PolicySummary<E>) -> Option<f64>,
) -> Vec<Curve> {
    let params = &report.params;
    let mut lines: BTreeMap<(usize, String), Vec<(f64, f64)>> = BTreeMap::new();
    for (i, p) in report.points.iter().enumerate() {
        let x = p.x.unwrap_or(i as f64);
        let others: Vec<String> = params[1..]
            .iter()
            .map(|k| format!("{k}={}", param(p, k)))
            .collect();
        for (j, policy) in report.policies.iter().enumerate() {
            let Some(y) = p.policies.get(policy).and_then(metric) else {
                continue;
            };
            let name = if others.is_empty() {
                policy.clone()
            } else {
                format!("{policy} ({})", others.join(", "))
            };
            lines.entry((j, name)).or_default().push((x, y));
        }
    }
    lines
        .into_iter()
        .map(|((j, name), points)| (j, name, points))
        .collect()
}

/// The chart a knee's condition belongs on.
fn knee_chart(condition: &str) -> &'static str {
    let c = condition.trim_start();
    if c.starts_with("race") {
        "race"
    } else if c.starts_with("false_refusal") || c.starts_with("unavailable_free") {
        "refusals"
    } else if c.starts_with("p95(start_booking") {
        "p95"
    } else if c.contains("429") {
        "429"
    } else if c.contains("booked") {
        "booked"
    } else {
        ""
    }
}

/// A sweep's charts: per policy against the first parameter, bookings, false refusals (both
/// kinds), race failures, Cal.com's 429s and the booking p95, each knee marked with its
/// bracket on the chart of its measure.
fn sweep_charts<E>(doc: &mut Document, report: &SweepReport<E>, along: &str) {
    let xs: Vec<f64> = report
        .points
        .iter()
        .enumerate()
        .map(|(i, p)| p.x.unwrap_or(i as f64))
        .collect();
    let x = || {
        if geometric(&xs) {
            Axis::log(format!("{along} (log)"))
        } else {
            Axis::linear(along)
        }
    };
    let colored = |metric: &dyn Fn(&PolicySummary<E>) -> Option<f64>, suffix: &str, dashed| {
        curves(report, metric)
            .into_iter()
            .enumerate()
            .map(|(i, (j, name, points))| Line {
                name: format!("{name}{suffix}"),
                points,
                color: Some(if report.params.len() > 1 { i } else { j }),
                dashed,
            })
            .collect::<Vec<Line>>()
    };
    let spans = |chart: &str| -> Vec<Spans> {
        report
            .knees
            .iter()
            .filter(|k| knee_chart(&k.condition) == chart)
            .filter_map(|k| {
                let (from, to) = bracket(report, k)?;
                let j = report.policies.iter().position(|p| *p == k.policy)?;
                Some(Spans {
                    // The condition is the chart's measure; the knee table names it.
                    name: format!(
                        "{} knee: between {} and {}",
                        k.policy,
                        charts::number(from),
                        charts::number(to)
                    ),
                    spans: vec![(from, to)],
                    color: Some(j),
                    marks: k.interpolated.into_iter().collect(),
                })
            })
            .collect()
    };
    let per_run = |n: u64, s: &PolicySummary<E>| n as f64 / s.runs.max(1) as f64;
    let charts: [(&str, &str, &str, Vec<Line>, Axis); 5] = [
        (
            "booked",
            "sweep-booked.svg",
            "Bookings per run",
            colored(&|s| Some(per_run(s.outcome("booked"), s)), "", false),
            Axis::linear("booked calls per run"),
        ),
        (
            "refusals",
            "sweep-false-refusals.svg",
            "False refusals: \"vergeben\" (solid) and \"nicht verfügbar\" (dashed) while a stylist was free",
            {
                let mut l = colored(&|s| Some(s.false_refusal_rate * 100.0), ": vergeben", false);
                l.extend(colored(
                    &|s| Some(s.unavailable_free_rate * 100.0),
                    ": nicht verfügbar",
                    true,
                ));
                l
            },
            Axis::linear("share of the calls told free / unavailable (%)"),
        ),
        (
            "race",
            "sweep-race-failure-rate.svg",
            "Race-failure rate",
            colored(&|s| Some(s.race_failure_rate * 100.0), "", false),
            Axis::linear("race-failure rate (%)"),
        ),
        (
            "429",
            "sweep-calcom-429.svg",
            "Cal.com 429s (throttled requests) per run",
            colored(&|s| Some(per_run(s.calcom_429(), s)), "", false),
            Axis::linear("429 answers per run"),
        ),
        (
            "p95",
            "sweep-booking-p95.svg",
            "start_booking p95",
            colored(
                &|s| s.latency_ms.get("start_booking").map(|l| l.p95 as f64),
                "",
                false,
            ),
            Axis::default(),
        ),
    ];
    for (key, file, title, lines, y) in charts {
        let y = if key == "p95" {
            crate::run::latency_axis(&lines)
        } else {
            y
        };
        doc.chart(charts::line_chart(LineChart {
            file,
            title: &format!("{title} against {along}"),
            x: x(),
            y,
            lines,
            spans: spans(key),
        }));
    }
}

/// The grid points a knee lies between: the last x before its first crossing and the
/// crossing's x (none when the grid does not bracket it).
fn bracket<E>(report: &SweepReport<E>, k: &Knee) -> Option<(f64, f64)> {
    if !k.bracketed {
        return None;
    }
    let at = k.at.as_deref()?;
    let along = report.params.first()?;
    let row: Vec<(f64, &str)> = report
        .points
        .iter()
        .enumerate()
        .filter(|(_, p)| {
            k.r#where
                .iter()
                .all(|(name, v)| p.params.get(name) == Some(v))
        })
        .map(|(i, p)| {
            (
                p.x.unwrap_or(i as f64),
                p.params.get(along).map_or("", String::as_str),
            )
        })
        .collect();
    let i = row.iter().position(|(_, v)| *v == at)?;
    Some((row.get(i.checked_sub(1)?)?.0, row[i].0))
}

/// A point's value of parameter `k` as table text.
fn param<E>(p: &Point<E>, k: &str) -> String {
    p.params
        .get(k)
        .map_or_else(|| "-".to_owned(), String::clone)
}

/// A point's parameter values in the report's order.
fn at<E>(params: &[String], p: &Point<E>) -> Vec<String> {
    params.iter().map(|k| param(p, k)).collect()
}

fn paired<E>(doc: &mut Document, params: &[String], points: &[Point<E>]) {
    // Sweeps show the two headline metrics; comparisons all of them.
    let shown = |metric: Metric| {
        params.is_empty()
            || matches!(
                metric,
                Metric::RaceFailureRate | Metric::P95("start_booking")
            )
    };
    let mut rows = Vec::new();
    let mut reference = String::new();
    for p in points {
        reference.clone_from(&p.paired.reference);
        for (policy, metrics) in &p.paired.policies {
            for (metric, d) in metrics.iter() {
                let Some(d) = d.filter(|_| shown(metric)) else {
                    continue;
                };
                let fmt = |x: f64| match metric {
                    Metric::RaceFailureRate
                    | Metric::FalseRefusalRate
                    | Metric::UnavailableFreeRate
                    | Metric::BookedShare => percent(x),
                    // A latency percentile, in milliseconds.
                    Metric::P95(_) => ms(Some(x)),
                    // Counts per run (violations, 429s).
                    Metric::Violations | Metric::Calcom429 => format!("{x:.1} per run"),
                };
                let mut row: Vec<String> = at(params, p);
                row.extend([
                    policy.clone(),
                    metric.name(),
                    fmt(d.reference_mean),
                    fmt(d.mean),
                    fmt(d.difference),
                    match d.ci95 {
                        Some([low, high]) => format!("{} .. {}", fmt(low), fmt(high)),
                        None => "-".into(),
                    },
                    d.relative
                        .map_or("-".into(), |r| format!("{:+.0} %", r * 100.0)),
                ]);
                rows.push(row);
            }
        }
    }
    if rows.is_empty() {
        return;
    }
    doc.heading(format!("Paired differences against {reference}"));
    doc.text(
        "Per seed, policy minus reference on the same arrivals; mean over seeds with a 95 % confidence interval (Student's t).",
    );
    let mut header: Vec<&str> = params.iter().map(String::as_str).collect();
    header.extend([
        "policy",
        "metric",
        "reference",
        "policy mean",
        "difference",
        "95 % CI",
        "relative",
    ]);
    doc.table(&header, rows);
}

fn knees(doc: &mut Document, knees: &[Knee]) {
    let rows: Vec<Vec<String>> = knees
        .iter()
        .map(|k| {
            let fixed = k
                .r#where
                .iter()
                .map(|(a, b)| format!("{a}={b}"))
                .collect::<Vec<_>>()
                .join(", ");
            vec![
                k.condition.clone(),
                k.policy.clone(),
                if fixed.is_empty() { "-".into() } else { fixed },
                match (&k.at, k.bracketed) {
                    (None, _) => "not crossed within the grid: extend it upwards".into(),
                    (Some(v), false) => format!(
                        "{} = {v} already, the grid's first point: the knee lies below it, extend the grid downwards",
                        k.along
                    ),
                    (Some(v), true) => format!("{} = {v}", k.along),
                },
                k.interpolated.map_or("-".into(), |x| format!("{x:.3}")),
            ]
        })
        .collect();
    if !rows.is_empty() {
        doc.heading("Knees");
        doc.text("The smallest swept value at which the condition holds, and the crossing interpolated between grid points.");
        doc.table(
            &[
                "condition",
                "policy",
                "other parameters",
                "first at",
                "interpolated",
            ],
            rows,
        );
    }
}

/// Per policy and combination of the other parameters, the first parameter's values with
/// their summaries.
type Groups<'a, E> = IndexMap<(usize, String), Vec<(String, &'a PolicySummary<E>)>>;

/// The one-page answer of a sweep: a sentence per policy (and combination of the other
/// parameters) a planner can paste, read off the numbers along the first parameter: the
/// most it books and where, how far it holds race failures and false refusals (both kinds)
/// at zero, where Cal.com starts to answer 429 and how the booking p95 moves.
pub fn answer<E>(report: &SweepReport<E>) -> Vec<String> {
    let Some(along) = report.params.first() else {
        return Vec::new();
    };
    let params = &report.params;
    let mut groups: Groups<'_, E> = IndexMap::new();
    for p in &report.points {
        let others: Vec<String> = params[1..]
            .iter()
            .map(|k| format!("{k}={}", param(p, k)))
            .collect();
        for (j, policy) in report.policies.iter().enumerate() {
            if let Some(s) = p.policies.get(policy) {
                groups
                    .entry((j, others.join(", ")))
                    .or_default()
                    .push((param(p, along), s));
            }
        }
    }
    groups.sort_keys();
    groups
        .into_iter()
        .map(|((j, others), row)| {
            let who = if others.is_empty() {
                format!("`{}`", report.policies[j])
            } else {
                format!("`{}` ({others})", report.policies[j])
            };
            // The parameter by its last name (`rate` for `journeys[0].arrivals.rate`).
            let short = along.rsplit('.').next().unwrap_or(along);
            let at = |v: &str| format!("{short} {v}");
            let last = &row[row.len() - 1].0;
            // How far a measure stays at zero: over the whole grid, up to a point, or not
            // even at the first.
            let held = |what: &str, value: &dyn Fn(&PolicySummary<E>) -> f64, fmt: &dyn Fn(f64) -> String| {
                match row.iter().position(|(_, s)| value(s) > 0.0) {
                    None => format!("holds {what} at 0 over the whole grid (up to {})", at(last)),
                    Some(0) => format!(
                        "has {what} from the first point ({} at {})",
                        fmt(value(row[0].1)),
                        at(&row[0].0)
                    ),
                    Some(i) => format!(
                        "holds {what} at 0 up to {}, then {} at {}",
                        at(&row[i - 1].0),
                        fmt(value(row[i].1)),
                        row[i].0
                    ),
                }
            };
            let booked = |s: &PolicySummary<E>| s.outcome("booked") as f64 / s.runs.max(1) as f64;
            let best = row
                .iter()
                .enumerate()
                .fold(0, |b, (i, (_, s))| if booked(s) > booked(row[b].1) { i } else { b });
            let throttled = match row.iter().find(|(_, s)| s.calcom_429() > 0) {
                Some((v, s)) => format!(
                    "Cal.com answers 429 from {} ({:.1} per run)",
                    at(v),
                    s.calcom_429() as f64 / s.runs.max(1) as f64
                ),
                None => "Cal.com never answers 429".to_owned(),
            };
            let p95 = |s: &PolicySummary<E>| ms(s.latency("start_booking").map(|l| l.p95 as f64));
            format!(
                "{who} books most at {} ({:.1} per run); {}; {}; {}; {}; booking p95 {} at {} to {} at {}.",
                at(&row[best].0),
                booked(row[best].1),
                held("race failures", &|s| s.race_failure_rate, &percent),
                held(
                    "false refusals (\"vergeben\" while free)",
                    &|s| s.false_refusal_rate,
                    &percent
                ),
                held(
                    "\"nicht verfügbar\" while free",
                    &|s| s.unavailable_free_rate,
                    &percent
                ),
                throttled,
                p95(row[0].1),
                row[0].0,
                p95(row[row.len() - 1].1),
                last,
            )
        })
        .collect()
}
