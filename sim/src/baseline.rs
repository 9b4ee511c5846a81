//! Golden baselines: a committed summary per scenario at its fixed seed. A run whose
//! deterministic fields differ from its baseline fails, with a diff a person can read.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// A summary without what may change between identical runs (the wall time).
pub fn deterministic(summary: &Value) -> Value {
    let mut v = summary.clone();
    if let Some(sim) = v.get_mut("sim").and_then(Value::as_object_mut) {
        sim.remove("wall_seconds");
    }
    v
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
/// error when there is no readable baseline.
pub fn check(dir: &Path, summary: &Value) -> Result<Vec<String>, String> {
    let name = summary["scenario"].as_str().unwrap_or_default();
    let file = path(dir, name);
    let text = std::fs::read_to_string(&file).map_err(|e| {
        format!(
            "{}: {e} (write it with `bookingsim gate --baseline {} --bless`)",
            file.display(),
            dir.display()
        )
    })?;
    let expected: Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", file.display()))?;
    Ok(diff(&expected, &deterministic(summary)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_changed_field_shows_in_the_diff() {
        let base = json!({ "outcomes": { "booked": 3, "race_lost": 1 }, "gates": [{ "pass": true }],
                           "sim": { "simulated_seconds": 10.0, "wall_seconds": 0.2 } });
        let mut changed = base.clone();
        changed["outcomes"]["race_lost"] = json!(2);
        changed["gates"][0]["pass"] = json!(false);
        changed["sim"]["wall_seconds"] = json!(9.9);
        changed["new"] = json!(1);
        let d = diff(&deterministic(&base), &deterministic(&changed));
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
            diff(&deterministic(&base), &deterministic(&slower)).is_empty(),
            "wall time is not a deterministic field"
        );
    }
}
