//! Shrinking: a failing scenario reduced, one step at a time, while it still fails.

/// The smallest form of the scenario `text` for which `still_fails` (given a candidate's
/// text) holds: drops workloads, calls, bookings behind the back, salon entries, faults,
/// services and stylists one at a time, halves rates and durations, makes distributions
/// fixed and fault odds certain, until nothing more can go. Deterministic when
/// `still_fails` is.
pub fn smallest(text: &str, still_fails: impl Fn(&str) -> bool) -> String {
    smallest_within(text, u64::MAX, still_fails).0
}

/// How much a shrink cost: candidates tried, and whether it stopped at its budget.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tried {
    pub runs: u64,
    pub capped: bool,
}

/// [`smallest`], trying at most `budget` candidates (a count, not a time, so the result
/// stays the same on any machine): a world whose every step down is a long run, or one
/// with a great many steps, costs a bounded time; the smallest form found by then is the
/// answer.
pub fn smallest_within(
    text: &str,
    budget: u64,
    still_fails: impl Fn(&str) -> bool,
) -> (String, Tried) {
    let mut tried = Tried::default();
    let Ok(mut best) = toml::from_str::<toml::Table>(text) else {
        return (text.to_owned(), tried);
    };
    'shrink: loop {
        for candidate in candidates(&best) {
            if tried.runs >= budget {
                tried.capped = true;
                break 'shrink;
            }
            let Ok(text) = toml::to_string(&candidate) else {
                continue;
            };
            tried.runs += 1;
            if still_fails(&text) {
                best = candidate;
                continue 'shrink;
            }
        }
        break;
    }
    (
        toml::to_string(&best).unwrap_or_else(|_| text.to_owned()),
        tried,
    )
}

/// Every one-step reduction of a scenario, smallest effect last.
fn candidates(doc: &toml::Table) -> Vec<toml::Table> {
    let mut out = Vec::new();
    // Whole lists and single entries of the workload and the faults.
    for key in [
        "storms", "journeys", "calls", "external", "channel", "faults", "staff",
    ] {
        if let Some(toml::Value::Array(items)) = doc.get(key) {
            let mut none = doc.clone();
            none.remove(key);
            out.push(none);
            for i in 0..items.len() {
                let mut fewer = doc.clone();
                if let Some(toml::Value::Array(a)) = fewer.get_mut(key) {
                    a.remove(i);
                }
                out.push(fewer);
            }
        }
    }
    if let Some(toml::Value::Table(calcom)) = doc.get("calcom") {
        for key in ["faults", "external", "consistency", "webhooks"] {
            if calcom.contains_key(key) {
                let mut without = doc.clone();
                if let Some(toml::Value::Table(c)) = without.get_mut("calcom") {
                    c.remove(key);
                }
                out.push(without);
            }
        }
        // A stylist fewer: out of the hosts, every event type and every staff list.
        if let Some(toml::Value::Array(hosts)) = calcom.get("hosts") {
            for h in hosts
                .iter()
                .filter_map(|h| h.get("id").and_then(toml::Value::as_integer))
            {
                out.push(without_stylist(doc, h));
            }
        }
    }
    // A service fewer: out of the catalogue, with its event types.
    if let Some(services) = doc
        .get("catalog")
        .and_then(|c| c.get("services"))
        .and_then(toml::Value::as_array)
    {
        for i in 0..services.len() {
            out.push(without_service(doc, i));
        }
    }
    // Rates halved, durations halved, distributions made fixed, fault odds made certain.
    let mut paths = Vec::new();
    simplifiable(
        &toml::Value::Table(doc.clone()),
        &mut Vec::new(),
        &mut paths,
    );
    for (path, simpler) in paths {
        let mut d = toml::Value::Table(doc.clone());
        if let Some(node) = at_path(&mut d, &path) {
            *node = simpler;
            if let toml::Value::Table(t) = d {
                out.push(t);
            }
        }
    }
    // Storm bursts of one call, shorter scripted calls.
    if let Some(toml::Value::Array(storms)) = doc.get("storms") {
        for i in 0..storms.len() {
            let mut one = doc.clone();
            if let Some(toml::Value::Array(a)) = one.get_mut("storms")
                && let Some(toml::Value::Table(t)) = a.get_mut(i)
                && t.get("duration").and_then(toml::Value::as_str) != Some("50ms")
            {
                t.insert("duration".into(), "50ms".into());
                out.push(one);
            }
        }
    }
    out
}

/// A step down a TOML document: a key or an index.
#[derive(Debug, Clone)]
enum Step {
    Key(String),
    Index(usize),
}

/// Every node of `value` that has a simpler form, with that form: a `rate` or
/// `rate_per_hour` halved, a `duration` halved (down to 10 s), a distribution of
/// percentiles or a range made fixed, a fault's `probability` made 1.
fn simplifiable(
    value: &toml::Value,
    path: &mut Vec<Step>,
    out: &mut Vec<(Vec<Step>, toml::Value)>,
) {
    match value {
        toml::Value::Table(t) => {
            if let Some(p50) = t.get("p50").filter(|_| !t.contains_key("fixed")) {
                let mut fixed = toml::Table::new();
                fixed.insert("fixed".into(), p50.clone());
                out.push((path.clone(), toml::Value::Table(fixed)));
            } else if let (Some(min), true) = (t.get("min"), t.contains_key("max")) {
                let mut fixed = toml::Table::new();
                fixed.insert("fixed".into(), min.clone());
                out.push((path.clone(), toml::Value::Table(fixed)));
            }
            for (k, v) in t {
                path.push(Step::Key(k.clone()));
                let simpler = match (k.as_str(), v) {
                    ("rate" | "rate_per_hour", toml::Value::Integer(n)) if *n >= 2 => {
                        Some(toml::Value::Integer(n / 2))
                    }
                    ("rate" | "rate_per_hour", toml::Value::Float(x)) if *x > 0.01 => {
                        Some(toml::Value::Float(x / 2.0))
                    }
                    // Only within a window: a fault that never ends, made certain, would
                    // fail for good, which no client survives: another failure than the one
                    // being shrunk.
                    ("probability", toml::Value::Float(p))
                        if *p < 1.0 && t.contains_key("until") =>
                    {
                        Some(toml::Value::Float(1.0))
                    }
                    ("duration", toml::Value::String(d)) => humantime::parse_duration(d)
                        .ok()
                        .filter(|d| d.as_secs() >= 20)
                        .map(|d| toml::Value::String(format!("{}ms", d.as_millis() / 2))),
                    _ => None,
                };
                if let Some(simpler) = simpler {
                    out.push((path.clone(), simpler));
                }
                simplifiable(v, path, out);
                path.pop();
            }
        }
        toml::Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                path.push(Step::Index(i));
                simplifiable(v, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

fn at_path<'a>(value: &'a mut toml::Value, path: &[Step]) -> Option<&'a mut toml::Value> {
    path.iter().try_fold(value, |v, step| match step {
        Step::Key(k) => v.as_table_mut()?.get_mut(k),
        Step::Index(i) => v.as_array_mut()?.get_mut(*i),
    })
}

fn without_stylist(doc: &toml::Table, host: i64) -> toml::Table {
    let mut d = doc.clone();
    let drop_from = |v: &mut toml::Value| {
        if let Some(a) = v.as_array_mut() {
            a.retain(|x| x.as_integer() != Some(host));
        }
    };
    if let Some(toml::Value::Table(c)) = d.get_mut("calcom") {
        if let Some(toml::Value::Array(hosts)) = c.get_mut("hosts") {
            hosts.retain(|h| h.get("id").and_then(toml::Value::as_integer) != Some(host));
        }
        if let Some(toml::Value::Array(ets)) = c.get_mut("event_types") {
            for et in ets.iter_mut() {
                if let Some(h) = et.get_mut("hosts") {
                    drop_from(h);
                }
            }
        }
    }
    if let Some(toml::Value::Array(services)) =
        d.get_mut("catalog").and_then(|c| c.get_mut("services"))
    {
        for s in services.iter_mut() {
            if let Some(staff) = s.get_mut("staff") {
                drop_from(staff);
            }
        }
    }
    d
}

fn without_service(doc: &toml::Table, index: usize) -> toml::Table {
    let mut d = doc.clone();
    let mut event_types = Vec::new();
    if let Some(toml::Value::Array(services)) =
        d.get_mut("catalog").and_then(|c| c.get_mut("services"))
    {
        let removed = services.remove(index);
        for seg in removed
            .get("segments")
            .and_then(toml::Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(id) = seg.get("event_type_id").and_then(toml::Value::as_integer) {
                event_types.push(id);
            }
        }
    }
    if let Some(toml::Value::Array(ets)) =
        d.get_mut("calcom").and_then(|c| c.get_mut("event_types"))
    {
        ets.retain(|et| {
            et.get("id")
                .and_then(toml::Value::as_integer)
                .is_none_or(|id| !event_types.contains(&id))
        });
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the predicate needs stays, everything else goes, one step at a time; a text
    /// that is not TOML comes back as it was. (Shrinking real failures: `search`'s tests.)
    #[test]
    fn the_smallest_form_keeps_only_what_still_fails() {
        let text = "name = \"x\"\n[[calls]]\nid = \"a\"\n[[calls]]\nid = \"b\"\n\
            [[storms]]\nrate = 40\nduration = \"40s\"\n";
        let small = smallest(text, |t| t.contains("id = \"b\""));
        assert!(small.contains("id = \"b\""), "{small}");
        assert!(!small.contains("id = \"a\""), "{small}");
        assert!(!small.contains("[[storms]]"), "{small}");
        let halved = smallest(text, |t| t.contains("[[storms]]"));
        assert!(halved.contains("rate = 1\n"), "{halved}");
        assert!(!halved.contains("[[calls]]"), "{halved}");
        assert_eq!(smallest("not [toml", |_| true), "not [toml");
    }

    /// A shrink stops at its budget of candidates tried, with the smallest form found by
    /// then (the same whatever the machine), and says so; within the budget it is
    /// [`smallest`].
    #[test]
    fn a_shrink_stops_at_its_budget() {
        let text = "name = \"x\"\n[[calls]]\nid = \"a\"\n[[calls]]\nid = \"b\"\n\
            [[storms]]\nrate = 40\nduration = \"40s\"\n";
        let tried = std::cell::Cell::new(0);
        let fails = |t: &str| {
            tried.set(tried.get() + 1);
            t.contains("[[storms]]")
        };
        let (whole, cost) = smallest_within(text, u64::MAX, fails);
        assert_eq!(whole, smallest(text, |t| t.contains("[[storms]]")));
        assert_eq!(cost.runs, tried.get());
        assert!(!cost.capped && cost.runs > 3, "{cost:?}");
        let (part, cost) = smallest_within(text, 3, |t| t.contains("[[storms]]"));
        assert_eq!(
            cost,
            Tried {
                runs: 3,
                capped: true
            }
        );
        assert!(part.contains("[[storms]]") && part != whole, "{part}");
        assert_eq!(
            smallest_within(text, 3, |t| t.contains("[[storms]]")).0,
            part
        );
    }
}
