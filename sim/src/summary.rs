//! The result of a run: `summary.json` (schema in the README) and the readable table.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::gates::Gate;
use crate::invariants::{self, Violation};
use crate::metrics;
use crate::record::Outcome;
use crate::scenario::Scenario;
use crate::world::RunRecord;

/// Builds the summary: everything in it is deterministic except `sim.wall_seconds`, which
/// the caller adds after the digest.
pub fn summarize(
    scenario: &Scenario,
    seed: u64,
    policy: &str,
    run: &RunRecord,
    violations: &[Violation],
) -> Value {
    let mut outcomes: BTreeMap<&str, u64> = Outcome::ALL.iter().map(|o| (o.name(), 0)).collect();
    // Per outcome, the error types that decided it.
    let mut outcome_errors: BTreeMap<&str, BTreeMap<&str, u64>> = BTreeMap::new();
    for call in &run.calls {
        let outcome = call.outcome().name();
        *outcomes.entry(outcome).or_default() += 1;
        if outcome != "booked" {
            *outcome_errors
                .entry(outcome)
                .or_default()
                .entry(call.decisive_error())
                .or_default() += 1;
        }
    }
    let told = run.calls.iter().filter(|c| c.told_available()).count() as u64;
    let rate = |n: u64| {
        if told == 0 {
            0.0
        } else {
            n as f64 / told as f64
        }
    };
    let mut invariant_counts: BTreeMap<&str, u64> =
        invariants::KINDS.iter().map(|k| (*k, 0)).collect();
    for v in violations {
        *invariant_counts.entry(v.kind).or_default() += 1;
    }
    let latency = metrics::latency_table(&metrics::histograms(&metrics::samples(run, scenario)));
    // Reservations by where they are held and how they ended.
    let mut local: BTreeMap<&str, u64> = BTreeMap::new();
    for r in &run.reservations {
        *local.entry(r.state).or_default() += 1;
    }
    let mut calcom: BTreeMap<String, u64> = BTreeMap::new();
    for r in &run.truth.reservations {
        *calcom
            .entry(r["state"].as_str().unwrap_or("unknown").to_owned())
            .or_default() += 1;
    }
    let mut webhooks: BTreeMap<String, u64> = BTreeMap::new();
    for d in &run.truth.webhook_deliveries {
        *webhooks.entry(d.outcome.clone()).or_default() += 1;
    }
    let mut summary = json!({
        "scenario": scenario.name,
        "seed": seed,
        "policy": policy,
        "calls": run.calls.len(),
        "outcomes": outcomes,
        "outcome_errors": outcome_errors,
        "told_available": told,
        "race_failure_rate": rate(outcomes["race_lost"]),
        "false_refusal_rate": rate(outcomes["refused_free"]),
        "invariants": invariant_counts,
        "violations": violations,
        "latency_ms": latency,
        "calcom": run.calcom_requests.by_endpoint,
        "engine": run.engine,
        "webhooks": webhooks,
        "reservations": { "local": local, "calcom": calcom },
        "sim": { "simulated_seconds": run.simulated.as_secs_f64() },
        "timeseries": timeseries(scenario, run),
    });
    let gates: Vec<Value> = scenario
        .gates
        .iter()
        .map(|text| {
            let gate = Gate::parse(text).expect("gates were checked when the scenario loaded");
            serde_json::to_value(gate.check(text, &summary)).unwrap_or(Value::Null)
        })
        .collect();
    summary["gates"] = Value::Array(gates);
    summary["digest"] = json!(digest(&summary));
    summary
}

/// Cal.com answers in the time series: by class, with 409 and 429 on their own.
pub const STATUS_KEYS: [&str; 6] = [
    "calcom_2xx",
    "calcom_409",
    "calcom_429",
    "calcom_4xx",
    "calcom_5xx",
    "calcom_no_answer",
];

fn status_class(status: u16) -> usize {
    match status {
        200..=299 => 0,
        409 => 1,
        429 => 2,
        400..=499 => 3,
        500..=599 => 4,
        _ => 5,
    }
}

/// Per simulated second with activity: calls ending by outcome, and Cal.com requests by
/// when they were sent, by answer ([`STATUS_KEYS`]).
fn timeseries(scenario: &Scenario, run: &RunRecord) -> Value {
    let mut rows: BTreeMap<u64, BTreeMap<&str, u64>> = BTreeMap::new();
    for call in &run.calls {
        let end = call.steps.last().map_or(call.start_ms, |s| s.completed_ms);
        *rows
            .entry(end / 1000)
            .or_default()
            .entry(call.outcome().name())
            .or_default() += 1;
    }
    let start_ms = scenario.start_utc().timestamp_millis();
    for s in &run.calcom_samples {
        let second = u64::try_from((s.at_ms - start_ms).max(0) / 1000).unwrap_or(0);
        let row = rows.entry(second).or_default();
        *row.entry("calcom_requests").or_default() += 1;
        *row.entry(STATUS_KEYS[status_class(s.status)]).or_default() += 1;
    }
    Value::Array(
        rows.into_iter()
            .map(|(t, counts)| {
                let mut row = json!({ "t": t });
                for (k, v) in counts {
                    row[k] = json!(v);
                }
                row
            })
            .collect(),
    )
}

/// SHA-256 of the deterministic fields (all but `digest` and `sim.wall_seconds`).
pub fn digest(summary: &Value) -> String {
    let mut v = summary.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove("digest");
    }
    if let Some(sim) = v.get_mut("sim").and_then(Value::as_object_mut) {
        sim.remove("wall_seconds");
    }
    hex::encode(Sha256::digest(v.to_string().as_bytes()))
}

pub fn gates_pass(summary: &Value) -> bool {
    summary["gates"]
        .as_array()
        .is_none_or(|g| g.iter().all(|g| g["pass"] == true))
}

/// The readable summary a run prints.
pub fn render(s: &Value) -> String {
    let mut out = String::new();
    let line = |out: &mut String, text: String| {
        out.push_str(&text);
        out.push('\n');
    };
    line(
        &mut out,
        format!(
            "{}  seed {}  policy {}",
            s["scenario"].as_str().unwrap_or("?"),
            s["seed"],
            s["policy"].as_str().unwrap_or("?")
        ),
    );
    line(&mut out, String::new());
    line(&mut out, format!("  {:<12} {:>7}", "outcome", "calls"));
    for o in Outcome::ALL {
        line(
            &mut out,
            format!(
                "  {:<12} {:>7}",
                o.name(),
                s["outcomes"][o.name()].to_string()
            ),
        );
    }
    line(
        &mut out,
        format!(
            "  race-failure rate {:.1} % ({} race_lost of {} told available)",
            s["race_failure_rate"].as_f64().unwrap_or(0.0) * 100.0,
            s["outcomes"]["race_lost"],
            s["told_available"]
        ),
    );
    line(
        &mut out,
        format!(
            "  false-refusal rate {:.1} % ({} refused_free of {} told available)",
            s["false_refusal_rate"].as_f64().unwrap_or(0.0) * 100.0,
            s["outcomes"]["refused_free"],
            s["told_available"]
        ),
    );
    line(&mut out, String::new());
    line(
        &mut out,
        format!(
            "  {:<22} {:>6} {:>7} {:>7} {:>7} {:>7} {:>7}",
            "latency (ms)", "count", "p50", "p90", "p95", "p99", "max"
        ),
    );
    if let Some(lat) = s["latency_ms"].as_object() {
        for (op, st) in lat {
            line(
                &mut out,
                format!(
                    "  {:<22} {:>6} {:>7} {:>7} {:>7} {:>7} {:>7}",
                    op,
                    st["count"].to_string(),
                    st["p50"].to_string(),
                    st["p90"].to_string(),
                    st["p95"].to_string(),
                    st["p99"].to_string(),
                    st["max"].to_string()
                ),
            );
        }
    }
    line(&mut out, String::new());
    let broken: Vec<String> = s["invariants"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(_, n)| n.as_u64() != Some(0))
                .map(|(k, n)| format!("{k} {n}"))
                .collect()
        })
        .unwrap_or_default();
    if broken.is_empty() {
        line(&mut out, "  invariants: all hold".into());
    } else {
        line(
            &mut out,
            format!("  invariants VIOLATED: {}", broken.join(", ")),
        );
        for v in s["violations"].as_array().into_iter().flatten().take(5) {
            line(
                &mut out,
                format!(
                    "    {}: {}",
                    v["kind"].as_str().unwrap_or(""),
                    v["detail"].as_str().unwrap_or("")
                ),
            );
        }
    }
    for g in s["gates"].as_array().into_iter().flatten() {
        let verdict = if g["pass"] == true { "pass" } else { "FAIL" };
        line(
            &mut out,
            format!(
                "  gate {verdict}: {} (value {})",
                g["gate"].as_str().unwrap_or(""),
                g["value"]
            ),
        );
    }
    let sim = &s["sim"];
    let simulated = sim["simulated_seconds"].as_f64().unwrap_or(0.0);
    match sim["wall_seconds"].as_f64() {
        Some(wall) if wall > 0.0 => line(
            &mut out,
            format!(
                "  simulated {simulated:.1} s in {wall:.2} s ({:.0}x real time)",
                simulated / wall
            ),
        ),
        _ => line(&mut out, format!("  simulated {simulated:.1} s")),
    }
    line(
        &mut out,
        format!("  digest {}", s["digest"].as_str().unwrap_or("")),
    );
    out
}
