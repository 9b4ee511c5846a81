//! The report of a comparison (policies on the same seeds) or a sweep (a grid of scenario
//! variants x policies x seeds), from `sweep.json`.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;

use crate::charts::{self, Line};
use crate::model::{Knee, Metric, Point, PolicySummary, SweepReport};
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

    doc.heading("Results per policy");
    let mut header: Vec<&str> = params.iter().map(String::as_str).collect();
    header.extend([
        "policy",
        "runs",
        "calls",
        "booked",
        "race_lost",
        "race-failure rate",
        "refused_free",
        "false-refusal rate",
        "unavailable_free",
        "unavailable-free rate",
        "check p95",
        "booking p50",
        "booking p95",
        "booking p99",
        "violations",
        "Cal.com 429",
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
                s.runs.to_string(),
                s.calls.to_string(),
                s.outcome("booked").to_string(),
                s.outcome("race_lost").to_string(),
                percent(s.race_failure_rate),
                s.outcome("refused_free").to_string(),
                percent(s.false_refusal_rate),
                s.unavailable_free
                    .get("all")
                    .copied()
                    .unwrap_or(0)
                    .to_string(),
                percent(s.unavailable_free_rate),
                stat(s.latency_ms.get("check_availability"), |l| l.p95),
                stat(b, |l| l.p50),
                stat(b, |l| l.p95),
                stat(b, |l| l.p99),
                s.violations().to_string(),
                s.calcom_429().to_string(),
            ]);
            rows.push(row);
        }
    }
    doc.table(&header, rows);

    paired(&mut doc, params, points);
    knees(&mut doc, &report.knees);

    doc.heading("Charts");
    // One bar per policy and grid point (a comparison has one point): outcomes summed over
    // its seeds, never over points.
    let mut categories: Vec<String> = Vec::new();
    let mut totals: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut outcome_names: Vec<String> = Vec::new();
    for p in points {
        let at: Vec<String> = at(params, p);
        for policy in policies {
            let label = if at.is_empty() {
                policy.clone()
            } else {
                format!("{} {policy}", at.join(" "))
            };
            categories.push(label);
            let column = categories.len() - 1;
            for (outcome, n) in p.policies.get(policy).into_iter().flat_map(|s| &s.outcomes) {
                if !outcome_names.contains(outcome) {
                    outcome_names.push(outcome.clone());
                }
                let v = totals.entry(outcome.clone()).or_default();
                v.resize(column + 1, 0.0);
                v[column] += *n as f64;
            }
        }
    }
    let stacks: Vec<(String, Vec<f64>)> = outcome_names
        .iter()
        .map(|o| {
            let mut v = totals.remove(o).unwrap_or_default();
            v.resize(categories.len(), 0.0);
            (o.clone(), v)
        })
        .collect();
    let (title, axis) = match params.first() {
        None => ("Outcomes per policy".to_owned(), "policy".to_owned()),
        Some(along) => (
            format!("Outcomes per point and policy (summed over seeds), against {along}"),
            format!("{} and policy", params.join(", ")),
        ),
    };
    doc.chart(charts::stacked_bars(
        &format!("{kind}-outcomes.svg"),
        &title,
        &axis,
        "calls",
        &categories,
        &stacks,
    ));
    doc.chart(charts::spectrum(
        &format!("{kind}-booking-spectrum.svg"),
        "start_booking latency by percentile, per policy",
        spectra,
    ));
    if let Some(along) = params.first() {
        let curve = |metric: &dyn Fn(&PolicySummary<E>) -> Option<f64>| -> Vec<Line> {
            let mut lines: BTreeMap<(usize, String), Line> = BTreeMap::new();
            for (i, p) in points.iter().enumerate() {
                let x = p.x.unwrap_or(i as f64);
                let others: Vec<String> = params[1..]
                    .iter()
                    .map(|k| format!("{k}={}", param(p, k)))
                    .collect();
                for (j, policy) in policies.iter().enumerate() {
                    let Some(y) = p.policies.get(policy).and_then(metric) else {
                        continue;
                    };
                    let name = if others.is_empty() {
                        policy.clone()
                    } else {
                        format!("{policy} ({})", others.join(", "))
                    };
                    lines
                        .entry((j, name.clone()))
                        .or_insert_with(|| Line {
                            name,
                            points: Vec::new(),
                        })
                        .points
                        .push((x, y));
                }
            }
            lines.into_values().collect()
        };
        doc.chart(charts::lines(
            "sweep-race-failure-rate.svg",
            &format!("Race-failure rate against {along}"),
            along,
            "race-failure rate (%)",
            &curve(&|s| Some(s.race_failure_rate * 100.0)),
        ));
        doc.chart(charts::lines(
            "sweep-booking-p95.svg",
            &format!("start_booking p95 against {along}"),
            along,
            "p95 latency (ms)",
            &curve(&|s| s.latency_ms.get("start_booking").map(|l| l.p95 as f64)),
        ));
    }
    doc
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
