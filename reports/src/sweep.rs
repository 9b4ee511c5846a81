//! The report of a comparison (policies on the same seeds) or a sweep (a grid of scenario
//! variants x policies x seeds), from `sweep.json`.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde_json::Value;

use crate::charts::{self, Line};
use crate::{Document, cell, ms, percent};

fn strings(v: &Value) -> Vec<String> {
    v.as_array().into_iter().flatten().map(cell).collect()
}

fn count(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

fn sum(v: &Value) -> u64 {
    v.as_object()
        .map_or(0, |m| m.values().filter_map(Value::as_u64).sum())
}

/// `spectra` holds, per policy, its start_booking latencies over the whole sweep.
pub fn document(report: &Value, spectra: &[(String, &Histogram<u64>)]) -> Document {
    let params = strings(&report["params"]);
    let policies = strings(&report["policies"]);
    let points = report["points"].as_array().cloned().unwrap_or_default();
    let kind = if params.is_empty() {
        "compare"
    } else {
        "sweep"
    };
    let mut doc = Document::new(if params.is_empty() {
        format!("bookingsim compare: {}", cell(&report["scenario"]))
    } else {
        format!(
            "bookingsim sweep: {} over {}",
            cell(&report["scenario"]),
            params.join(", ")
        )
    });
    let seeds = report["seeds"].as_array().map_or(0, Vec::len);
    doc.text(format!(
        "{} runs: {} point(s) x {} policies x {} seeds (common random numbers: every policy meets the same callers and external bookings on a seed){}.",
        report["runs"],
        points.len(),
        policies.len(),
        seeds,
        if report["complete"] == false { "; INCOMPLETE: some runs are missing" } else { "" }
    ));

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
        "check p95",
        "booking p50",
        "booking p95",
        "booking p99",
        "violations",
        "Cal.com 429",
    ]);
    let mut rows = Vec::new();
    for p in &points {
        for (policy, s) in p["policies"].as_object().into_iter().flatten() {
            let mut row: Vec<String> = params.iter().map(|k| cell(&p["params"][k])).collect();
            let b = &s["latency_ms"]["start_booking"];
            row.extend([
                policy.clone(),
                s["runs"].to_string(),
                s["calls"].to_string(),
                count(&s["outcomes"]["booked"]).to_string(),
                count(&s["outcomes"]["race_lost"]).to_string(),
                percent(s["race_failure_rate"].as_f64().unwrap_or(0.0)),
                count(&s["outcomes"]["refused_free"]).to_string(),
                percent(s["false_refusal_rate"].as_f64().unwrap_or(0.0)),
                ms(&s["latency_ms"]["check_availability"]["p95"]),
                ms(&b["p50"]),
                ms(&b["p95"]),
                ms(&b["p99"]),
                sum(&s["invariants"]).to_string(),
                s["calcom"]
                    .as_object()
                    .map_or(0, |m| m.values().map(|e| count(&e["429"])).sum::<u64>())
                    .to_string(),
            ]);
            rows.push(row);
        }
    }
    doc.table(&header, rows);

    paired(&mut doc, &params, &points);
    knees(&mut doc, report);

    doc.heading("Charts");
    // One bar per policy and grid point (a comparison has one point): outcomes summed over
    // its seeds, never over points.
    let mut categories: Vec<String> = Vec::new();
    let mut totals: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut outcome_names: Vec<String> = Vec::new();
    for p in &points {
        let at: Vec<String> = params.iter().map(|k| cell(&p["params"][k])).collect();
        for policy in &policies {
            let label = if at.is_empty() {
                policy.clone()
            } else {
                format!("{} {policy}", at.join(" "))
            };
            categories.push(label);
            let column = categories.len() - 1;
            for (outcome, n) in p["policies"][policy]["outcomes"]
                .as_object()
                .into_iter()
                .flatten()
            {
                if !outcome_names.contains(outcome) {
                    outcome_names.push(outcome.clone());
                }
                let v = totals.entry(outcome.clone()).or_default();
                v.resize(column + 1, 0.0);
                v[column] += n.as_f64().unwrap_or(0.0);
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
        let curve = |metric: &dyn Fn(&Value) -> Option<f64>| -> Vec<Line> {
            let mut lines: BTreeMap<(usize, String), Line> = BTreeMap::new();
            for (i, p) in points.iter().enumerate() {
                let x = p["x"].as_f64().unwrap_or(i as f64);
                let others: Vec<String> = params[1..]
                    .iter()
                    .map(|k| format!("{k}={}", cell(&p["params"][k])))
                    .collect();
                for (j, policy) in policies.iter().enumerate() {
                    let Some(y) = p["policies"].get(policy).and_then(metric) else {
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
            &curve(&|s| s["race_failure_rate"].as_f64().map(|r| r * 100.0)),
        ));
        doc.chart(charts::lines(
            "sweep-booking-p95.svg",
            &format!("start_booking p95 against {along}"),
            along,
            "p95 latency (ms)",
            &curve(&|s| s["latency_ms"]["start_booking"]["p95"].as_f64()),
        ));
    }
    doc
}

fn paired(doc: &mut Document, params: &[String], points: &[Value]) {
    // Sweeps show the two headline metrics; comparisons all of them.
    let shown = |metric: &str| {
        params.is_empty() || matches!(metric, "race_failure_rate" | "p95(start_booking)")
    };
    let mut rows = Vec::new();
    let mut reference = String::new();
    for p in points {
        reference = cell(&p["paired"]["reference"]);
        for (policy, metrics) in p["paired"]["policies"].as_object().into_iter().flatten() {
            for (metric, d) in metrics.as_object().into_iter().flatten() {
                if !shown(metric) || d.is_null() {
                    continue;
                }
                let fmt = |v: &Value| {
                    let x = v.as_f64().unwrap_or(f64::NAN);
                    if metric.contains("rate") || metric.contains("share") {
                        percent(x)
                    } else if metric.starts_with('p') && metric.contains('(') {
                        // A latency percentile, in milliseconds.
                        crate::ms(v)
                    } else {
                        // Counts per run (violations, 429s).
                        format!("{x:.1} per run")
                    }
                };
                let mut row: Vec<String> = params.iter().map(|k| cell(&p["params"][k])).collect();
                row.extend([
                    policy.clone(),
                    metric.clone(),
                    fmt(&d["reference_mean"]),
                    fmt(&d["mean"]),
                    fmt(&d["difference"]),
                    match d["ci95"].as_array() {
                        Some(ci) if ci.len() == 2 => format!("{} .. {}", fmt(&ci[0]), fmt(&ci[1])),
                        _ => "-".into(),
                    },
                    d["relative"]
                        .as_f64()
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

fn knees(doc: &mut Document, report: &Value) {
    let rows: Vec<Vec<String>> = report["knees"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|k| {
            let fixed = k["where"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .map(|(a, b)| format!("{a}={}", cell(b)))
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default();
            vec![
                cell(&k["condition"]),
                cell(&k["policy"]),
                if fixed.is_empty() { "-".into() } else { fixed },
                match (&k["at"], k["bracketed"].as_bool()) {
                    (Value::Null, _) => "not crossed within the grid: extend it upwards".into(),
                    (v, Some(false)) => format!(
                        "{} = {} already, the grid's first point: the knee lies below it, extend the grid downwards",
                        cell(&k["along"]),
                        cell(v)
                    ),
                    (v, _) => format!("{} = {}", cell(&k["along"]), cell(v)),
                },
                k["interpolated"]
                    .as_f64()
                    .map_or("-".into(), |x| format!("{x:.3}")),
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
