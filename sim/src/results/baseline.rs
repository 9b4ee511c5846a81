//! Golden baselines: a committed summary per scenario at its fixed seed. A run whose
//! deterministic fields differ from its baseline fails, with a diff a person can read.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::Summary;

/// A summary without what may change between identical runs (the wall time), as JSON.
pub fn deterministic(summary: &Summary) -> Value {
    let mut s = summary.clone();
    s.sim.wall_seconds = None;
    s.to_json()
}

pub fn path(dir: &Path, scenario: &str) -> PathBuf {
    dir.join(format!("{scenario}.json"))
}

/// Every leaf that differs, as `path: expected -> actual` (`+`/`-` for added or removed
/// fields), in document order.
pub fn diff(expected: &Value, actual: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk("", expected, actual, &mut out);
    out
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn walk(path: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, v) in x {
                match y.get(k) {
                    Some(w) => walk(&join(path, k), v, w, out),
                    None => out.push(format!("- {}: {v}", join(path, k))),
                }
            }
            for (k, w) in y {
                if !x.contains_key(k) {
                    out.push(format!("+ {}: {w}", join(path, k)));
                }
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            for i in 0..x.len().max(y.len()) {
                let here = format!("{path}[{i}]");
                match (x.get(i), y.get(i)) {
                    (Some(v), Some(w)) => walk(&here, v, w, out),
                    (Some(v), None) => out.push(format!("- {here}: {v}")),
                    (None, Some(w)) => out.push(format!("+ {here}: {w}")),
                    (None, None) => {}
                }
            }
        }
        _ if a != b => out.push(format!("  {path}: {a} -> {b}")),
        _ => {}
    }
}

/// Compares a run with its baseline in `dir`: the differences (empty when equal), or an
/// error when there is no readable baseline (or it is not a summary).
pub fn check(dir: &Path, summary: &Summary) -> Result<Vec<String>, String> {
    let file = path(dir, &summary.scenario);
    let text = std::fs::read_to_string(&file).map_err(|e| {
        format!(
            "{}: {e} (write it with `bookingsim gate --baseline {} --bless`)",
            file.display(),
            dir.display()
        )
    })?;
    let expected: Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", file.display()))?;
    // A baseline is a summary: an old or hand-edited one that is not says so.
    Summary::from_json(expected.clone())
        .map_err(|e| format!("{}: not a summary of this version: {e}", file.display()))?;
    Ok(diff(&expected, &deterministic(summary)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A summary as JSON without its wall time.
    fn without_wall_time(v: &Value) -> Value {
        let mut v = v.clone();
        if let Some(sim) = v.get_mut("sim").and_then(Value::as_object_mut) {
            sim.remove("wall_seconds");
        }
        v
    }

    #[test]
    fn a_changed_field_shows_in_the_diff() {
        let base = json!({ "outcomes": { "booked": 3, "race_lost": 1 }, "gates": [{ "pass": true }],
                           "sim": { "simulated_seconds": 10.0, "wall_seconds": 0.2 } });
        let mut changed = base.clone();
        changed["outcomes"]["race_lost"] = json!(2);
        changed["gates"][0]["pass"] = json!(false);
        changed["sim"]["wall_seconds"] = json!(9.9);
        changed["new"] = json!(1);
        let d = diff(&without_wall_time(&base), &without_wall_time(&changed));
        assert_eq!(
            d,
            [
                "  outcomes.race_lost: 1 -> 2",
                "  gates[0].pass: true -> false",
                "+ new: 1"
            ]
        );
        let mut slower = base.clone();
        slower["sim"]["wall_seconds"] = json!(5.0);
        assert!(
            diff(&without_wall_time(&base), &without_wall_time(&slower)).is_empty(),
            "wall time is not a deterministic field"
        );
    }

    /// A committed baseline reads as a typed summary and writes back to the same JSON: the
    /// type is the documented format. The wall time is never part of it.
    #[test]
    fn a_baseline_is_a_summary_and_round_trips_to_the_same_json() {
        let text = include_str!("../../../reports/baselines/calcom-flaky.json");
        let json: Value = serde_json::from_str(text).unwrap();
        let mut summary = Summary::from_json(json.clone()).unwrap();
        assert_eq!(summary.to_json(), json);
        summary.sim.wall_seconds = Some(1.5);
        assert_ne!(summary.to_json(), json);
        assert_eq!(deterministic(&summary), json);
        let mut typo = json;
        typo["outcomes_typo"] = 1.into();
        assert!(
            Summary::from_json(typo).is_err(),
            "an unknown field is not a summary"
        );
    }
}
