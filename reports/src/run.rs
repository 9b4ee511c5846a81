//! The report of one run, from its `summary.json` and its histograms.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;

use crate::charts::{self, Axis, Format, Line, LineChart};
use crate::model::{LatencyStats, RunView};
use crate::{Document, cell, ms, percent};

/// Operations whose latency the charts show, in this order.
pub const CHARTED: [&str; 3] = ["check_availability", "start_booking", "call"];
/// Cal.com answers in the summary's time series.
const STATUS: [(&str, &str); 6] = [
    ("calcom_2xx", "2xx"),
    ("calcom_409", "409 conflict"),
    ("calcom_429", "429 throttled"),
    ("calcom_4xx", "other 4xx"),
    ("calcom_5xx", "5xx"),
    ("calcom_no_answer", "no answer"),
];

/// `intervals` yields histograms per `width_ms` of simulated time (by start, in ms).
pub fn document(
    summary: &RunView<'_>,
    histograms: &BTreeMap<String, Histogram<u64>>,
    intervals: impl IntoIterator<Item = (u64, BTreeMap<String, Histogram<u64>>)>,
    width_ms: u64,
) -> Document {
    let s = summary;
    let mut doc = Document::new(format!(
        "bookingsim run: {} (seed {}, policy {})",
        s.scenario, s.seed, s.policy
    ));
    // A count as the summary's JSON shows it (`null` when it lists none).
    let count = |outcome: &str| {
        s.outcomes
            .get(outcome)
            .map_or_else(|| "null".to_owned(), u64::to_string)
    };
    doc.text(format!(
        "{} calls over {:.1} simulated s; race-failure rate {} ({} race_lost of {} told available); false-refusal rate {} ({} refused_free); unavailable-free rate {} ({} of {} told unavailable{}); digest {}.",
        s.calls,
        s.simulated_seconds,
        percent(s.race_failure_rate),
        count("race_lost"),
        s.told_available,
        percent(s.false_refusal_rate),
        count("refused_free"),
        percent(s.unavailable_free_rate),
        s.unavailable_free.get("all").copied().unwrap_or(0),
        s.told_unavailable,
        {
            let why: Vec<String> = s
                .unavailable_free
                .iter()
                .filter(|(k, n)| k.as_str() != "all" && **n > 0)
                .map(|(k, n)| format!("{k} {n}"))
                .collect();
            if why.is_empty() {
                String::new()
            } else {
                format!(": {}", why.join(", "))
            }
        },
        s.digest,
    ));
    outcomes_and_latency(&mut doc, s);
    doc.heading("Invariants");
    let broken: Vec<Vec<String>> = s
        .invariants
        .iter()
        .filter(|(_, n)| **n != 0)
        .map(|(k, n)| vec![k.clone(), n.to_string()])
        .collect();
    if broken.is_empty() {
        doc.text("All invariants hold.");
    } else {
        doc.table(&["violated invariant", "count"], broken);
        let first: Vec<Vec<String>> = s
            .violations
            .iter()
            .take(20)
            .map(|(kind, detail)| vec![(*kind).to_owned(), (*detail).to_owned()])
            .collect();
        doc.table(&["kind", "detail (first 20)"], first);
    }
    gates(&mut doc, s);
    doc.heading("Charts");
    let spectra: Vec<(String, &Histogram<u64>)> = CHARTED
        .iter()
        .filter_map(|op| histograms.get(*op).map(|h| ((*op).to_owned(), h)))
        .collect();
    doc.chart(charts::spectrum(
        "latency-spectrum.svg",
        "Latency by percentile",
        &spectra,
    ));
    let secs = |at: u64| at as f64 / 1000.0;
    // p50 and p95 of the first two charted operations, interval by interval.
    let mut over_time: Vec<Line> = Vec::new();
    for (at, h) in intervals {
        for op in &CHARTED[..2] {
            let Some(h) = h.get(*op).filter(|h| !h.is_empty()) else {
                continue;
            };
            for (q, label) in [(0.5, "p50"), (0.95, "p95")] {
                let name = format!("{op} {label}");
                let point = (secs(at), h.value_at_quantile(q) as f64);
                match over_time.iter_mut().find(|l| l.name == name) {
                    Some(line) => line.points.push(point),
                    None => over_time.push(Line::new(name, vec![point])),
                }
            }
        }
    }
    over_time.sort_by_key(|l| {
        CHARTED
            .iter()
            .position(|op| l.name.starts_with(op))
            .map(|i| (i, l.name.ends_with("p95")))
    });
    // One time axis for every chart of the run: its whole simulated time, from zero.
    let end = s
        .simulated_seconds
        .max(s.timeseries.last().map_or(0.0, |(t, _)| *t as f64));
    let time = || Axis::linear("simulated time (s)").cover(0.0, end);
    doc.chart(charts::line_chart(LineChart {
        file: "latency-over-time.svg",
        title: &format!("Latency over time (per {} s)", width_ms / 1000),
        x: time(),
        y: latency_axis(&over_time),
        lines: over_time,
        spans: Vec::new(),
    }));
    let bucket = (width_ms / 1000).max(1);
    doc.chart(charts::line_chart(LineChart {
        file: "outcomes-over-time.svg",
        title: "Outcomes over time (calls by the interval they ended in)",
        x: time(),
        y: Axis::linear(format!("calls per {bucket} s")),
        lines: over_time_lines(s.timeseries, bucket, &OUTCOMES),
        spans: Vec::new(),
    }));
    let blocks = charts::Spans {
        name: "throttler's block".to_owned(),
        spans: s
            .calcom_blocks
            .iter()
            .map(|(from, until)| (secs(*from), secs(*until)))
            .collect(),
        ..charts::Spans::default()
    };
    doc.chart(charts::line_chart(LineChart {
        file: "calcom-status-over-time.svg",
        title: "Cal.com answers over time (shaded: blocked by the throttler, every request answered 429)",
        x: time(),
        y: Axis::linear(format!("requests per {bucket} s")),
        lines: over_time_lines(s.timeseries, bucket, &STATUS),
        spans: vec![blocks],
    }));
    doc
}

/// Outcomes in the summary's time series, as the chart names them.
const OUTCOMES: [(&str, &str); 6] = [
    ("booked", "booked"),
    ("race_lost", "race lost"),
    ("refused_free", "refused while free"),
    ("throttled", "throttled"),
    ("failed", "failed"),
    ("error", "error"),
];

/// One line per series of the time series that has any count, summed per `bucket` seconds,
/// with zero where an interval had none (a line that only shows where something happened
/// would draw straight across the quiet stretches).
fn over_time_lines(
    rows: &[(u64, &BTreeMap<String, u64>)],
    bucket: u64,
    series: &[(&str, &str)],
) -> Vec<Line> {
    let end = rows.iter().map(|(t, _)| *t).max().unwrap_or(0) / bucket;
    let mut by_key: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for (t, row) in rows {
        let i = (t / bucket) as usize;
        for (key, _) in series {
            if let Some(n) = row.get(*key).copied().filter(|n| *n > 0) {
                let counts = by_key
                    .entry(key)
                    .or_insert_with(|| vec![0.0; end as usize + 1]);
                counts[i] += n as f64;
            }
        }
    }
    series
        .iter()
        .filter_map(|(key, name)| {
            let counts = by_key.get(key)?;
            Some(Line::new(
                *name,
                counts
                    .iter()
                    .enumerate()
                    .map(|(i, n)| ((i as u64 * bucket) as f64, *n))
                    .collect(),
            ))
        })
        .collect()
}

/// The outcome and latency tables of a run or of a sum of runs.
pub fn outcomes_and_latency(doc: &mut Document, s: &RunView<'_>) {
    doc.heading("Outcomes");
    doc.table(
        &["outcome", "calls", "why (error type: calls)"],
        s.outcomes
            .iter()
            .map(|(k, n)| {
                let why: Vec<String> = s
                    .outcome_errors
                    .get(k)
                    .into_iter()
                    .flatten()
                    .map(|(e, c)| format!("{e}: {c}"))
                    .collect();
                vec![k.clone(), n.to_string(), why.join(", ")]
            })
            .collect(),
    );
    doc.heading("Latency");
    doc.table(
        &["operation", "count", "p50", "p90", "p95", "p99", "max"],
        s.latency_ms
            .iter()
            .map(|(op, st)| {
                let mut row = vec![op.clone(), st.count.to_string()];
                let stats: [fn(&LatencyStats) -> u64; 5] =
                    [|l| l.p50, |l| l.p90, |l| l.p95, |l| l.p99, |l| l.max];
                row.extend(stats.map(|f| ms(Some(f(st) as f64))));
                row
            })
            .collect(),
    );
}

pub fn gates(doc: &mut Document, s: &RunView<'_>) {
    let rows: Vec<Vec<String>> = s
        .gates
        .iter()
        .map(|(gate, value, pass)| {
            vec![
                (*gate).to_owned(),
                // As JSON writes the number (`1.0`); `-` for none.
                value.map_or_else(|| "-".to_owned(), |v| cell(&v.into())),
                if *pass { "pass" } else { "FAIL" }.to_owned(),
            ]
        })
        .collect();
    if !rows.is_empty() {
        doc.heading("Gates");
        doc.table(&["gate", "value", "verdict"], rows);
    }
}

/// A latency axis in ms: logarithmic where the lines span more than a factor of 20 (a
/// cache hit beside a booking's tail), linear otherwise.
pub fn latency_axis(lines: &[Line]) -> Axis {
    let (lo, hi) = lines
        .iter()
        .flat_map(|l| l.points.iter())
        .fold((f64::MAX, 0.0f64), |(a, b), p| (a.min(p.1), b.max(p.1)));
    if lo > 0.0 && hi / lo > 20.0 {
        Axis::log("latency (log)").format(Format::Millis)
    } else {
        Axis::linear("latency").format(Format::Millis)
    }
}
