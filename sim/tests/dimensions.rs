//! No blind dimension: every field of the scenario format (every leaf of its schema, e.g.
//! `policy.lock_ttl`, `calcom.latency.create_booking`, `journeys[].conversation.gap`) is
//! either varied by `bookingsim explore` (it takes more than one value across the worlds
//! explore generates, whole or around a bundled scenario) or listed in [`FIXED`] with the
//! reason it stays fixed. A field added to the format without either fails here, by name.
//!
//! Entries whose reason starts with `BLIND` are fields explore should vary and does not
//! yet: the next work. [`BLIND`] counts them, so adding one shows in the diff.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::Value;

/// Fields explore deliberately leaves alone, by path (`prefix.*`: every field under it),
/// one reason each.
const FIXED: &[(&str, &str)] = &[
    ("description", "a label: no behaviour depends on it"),
    (
        "duration",
        "fixed at 2m so that every world costs the same; what happens within it is drawn",
    ),
    (
        "settle",
        "fixed at 6m: every hold lapses before a world is judged",
    ),
    ("tick", "the simulator's resolution, not the world's"),
    (
        "gates",
        "thresholds over results: explore judges the invariants instead",
    ),
    (
        "explore.faults",
        "explore's own control, taken out of the world before it runs",
    ),
    (
        "explore.ranges",
        "explore's own control, taken out of the world before it runs",
    ),
    ("limits.*", "guards against typos, not behaviour"),
    (
        "live.*",
        "bounds a live run holds its own numbers to: a simulated world has no generator to fall behind",
    ),
    (
        "policy.preset",
        "the policy under test: `explore --policy` sets it for every world",
    ),
    (
        "policy.lock",
        "a layer of the policy under test: `explore --policy` sets it for every world, `bookingsim mutants` switches it off",
    ),
    (
        "policy.lock_renewal",
        "a layer of the policy under test: `explore --policy` sets it for every world, `bookingsim mutants` switches it off",
    ),
    (
        "policy.double_check",
        "a layer of the policy under test: `explore --policy` sets it for every world, `bookingsim mutants` switches it off",
    ),
    (
        "policy.lock_fencing",
        "a layer of the policy under test: `explore --policy` sets it for every world, `bookingsim mutants` switches it off",
    ),
    (
        "policy.lock_outlives_create",
        "a layer of the policy under test: `explore --policy` sets it for every world, `bookingsim mutants` switches it off",
    ),
    (
        "policy.channel_conflict_check",
        "a layer of the policy under test: `explore --policy` sets it for every world, `bookingsim mutants` switches it off",
    ),
    (
        "policy.sync_refusal_cancels",
        "a layer of the policy under test: `explore --policy` sets it for every world, `bookingsim mutants` switches it off",
    ),
    (
        "policy.post_sync_status",
        "a layer of the policy under test: `explore --policy` sets it for every world, `bookingsim mutants` switches it off",
    ),
    (
        "policy.post_sync_compensation",
        "a layer of the policy under test: `explore --policy` sets it for every world, `bookingsim mutants` switches it off",
    ),
    (
        "policy.settle_late_creates",
        "a layer of the policy under test: `explore --policy` sets it for every world, `bookingsim mutants` switches it off",
    ),
    (
        "policy.release_passed_over",
        "a layer of the policy under test: `explore --policy` sets it for every world, `bookingsim mutants` switches it off",
    ),
    (
        "policy.release_retries",
        "a layer of the policy under test: `explore --policy` sets it for every world, `bookingsim mutants` switches it off",
    ),
    (
        "policy.holds_lapse_together",
        "a layer of the policy under test: `explore --policy` sets it for every world, `bookingsim mutants` switches it off",
    ),
    (
        "policy.holds_spare_budget",
        "a layer of the policy under test: `explore --policy` sets it for every world, `bookingsim mutants` switches it off",
    ),
    (
        "policy.cancel_waits_for_booking",
        "a layer of the policy under test: `explore --policy` sets it for every world, `bookingsim mutants` switches it off",
    ),
    (
        "policy.pre_sync_check",
        "a layer of the policy under test: `explore --policy` sets it for every world, `bookingsim mutants` switches it off",
    ),
    (
        "policy.post_sync_validation",
        "a layer of the policy under test: `explore --policy` sets it for every world, `bookingsim mutants` switches it off",
    ),
    (
        "policy.saga_compensation",
        "a layer of the policy under test: `explore --policy` sets it for every world, `bookingsim mutants` switches it off",
    ),
    (
        "policy.reconcile_lost_creates",
        "a layer of the policy under test: `explore --policy` sets it for every world, `bookingsim mutants` switches it off",
    ),
    (
        "policy.recover_on_restart",
        "a layer of the policy under test: `explore --policy` sets it for every world, `bookingsim mutants` switches it off",
    ),
    (
        "policy.follow_staff_changes",
        "a layer of the policy under test: `explore --policy` sets it for every world, `bookingsim mutants` switches it off",
    ),
    (
        "policy.staff_reconcile",
        "a layer of the policy under test: `explore --policy` sets it for every world, `bookingsim mutants` switches it off",
    ),
    (
        "policy.webhook_invalidation",
        "a layer of the policy under test: `explore --policy` sets it for every world, `bookingsim mutants` switches it off",
    ),
    (
        "policy.segments",
        "a layer of the policy under test: `explore --policy` sets it for every world, `bookingsim mutants` switches it off",
    ),
    (
        "policy.sync_retry_transient",
        "a layer of the policy under test: `explore --policy` sets it for every world, `bookingsim mutants` switches it off",
    ),
    (
        "policy.retry.retry_timeouts",
        "a layer of the policy under test: `explore --policy` sets it for every world, `bookingsim mutants` switches it off",
    ),
    (
        "policy.calcom_bookings_version",
        "no documented difference between the versions; the mock answers both alike",
    ),
    (
        "policy.booking_horizon",
        "a year, far beyond every world's two-day calendar",
    ),
    (
        "policy.local_reservation_ttl",
        "BLIND: not yet drawn by explore (the preset's hold only; one lapsing mid-call is untried)",
    ),
    (
        "policy.calcom_reservation_minutes",
        "BLIND: not yet drawn by explore (the preset's hold only; one lapsing mid-call is untried)",
    ),
    (
        "policy.compensation_retries",
        "BLIND: not yet drawn by explore",
    ),
    (
        "calcom.api.keys",
        "authentication: the world's engine always holds a valid key",
    ),
    (
        "calcom.api.max_body_bytes",
        "a guard against huge bodies; the engine's are far below it",
    ),
    (
        "calcom.api.first_booking_id",
        "a label: no behaviour depends on it",
    ),
    (
        "calcom.api.rate_limit.enabled",
        "the throttler is varied by its limit; off is a world without 429s, as most worlds are",
    ),
    (
        "calcom.faults[].message",
        "the text of a 400: the engine does not read it",
    ),
    (
        "calcom.webhooks.timeout",
        "how long the sender waits for the engine, which answers in milliseconds",
    ),
    (
        "calcom.webhooks.version",
        "a header's value: the engine does not branch on it",
    ),
    (
        "calcom.webhooks.subscriptions[].*",
        "the world subscribes the engine itself; more subscribers only fan deliveries out",
    ),
    (
        "calcom.external.event_types",
        "every event type (the default) takes staff bookings; a subset only thins them",
    ),
    (
        "calcom.hosts[].email",
        "a label: no behaviour depends on it",
    ),
    (
        "calcom.hosts[].username",
        "a label: no behaviour depends on it",
    ),
    (
        "calcom.hosts[].working_hours.mon",
        "a weekday's own hours take the path `weekdays` and `sun` take (WeeklyHours::on)",
    ),
    (
        "calcom.hosts[].working_hours.tue",
        "a weekday's own hours take the path `weekdays` and `sun` take (WeeklyHours::on)",
    ),
    (
        "calcom.hosts[].working_hours.wed",
        "a weekday's own hours take the path `weekdays` and `sun` take (WeeklyHours::on)",
    ),
    (
        "calcom.hosts[].working_hours.thu",
        "a weekday's own hours take the path `weekdays` and `sun` take (WeeklyHours::on)",
    ),
    (
        "calcom.hosts[].working_hours.fri",
        "a weekday's own hours take the path `weekdays` and `sun` take (WeeklyHours::on)",
    ),
    (
        "calcom.hosts[].working_hours.sat",
        "a day's own hours take the path `sun` takes (WeeklyHours::on)",
    ),
    (
        "calcom.event_types[].description",
        "a label: no behaviour depends on it",
    ),
    (
        "calcom.event_types[].location",
        "text Cal.com returns; the engine ignores it",
    ),
    (
        "calcom.event_types[].length_options",
        "the engine never asks for another length (no lengthInMinutes)",
    ),
    (
        "calcom.bookings[].attendee",
        "a label: no behaviour depends on it",
    ),
    (
        "calcom.bookings[].length_minutes",
        "BLIND: not yet drawn by explore (a booking at start longer or shorter than its event type)",
    ),
    (
        "calcom.bookings[].metadata",
        "BLIND: not yet drawn by explore (metadata like the engine's own would try reconciliation's matching)",
    ),
    (
        "catalog.company_id",
        "a key of the engine's records and locks: one salon per world",
    ),
    (
        "catalog.branch_id",
        "a key of the engine's records and locks: one salon per world",
    ),
    (
        "catalog.services[].aliases",
        "other names callers use: matching, not a race (engine's unit tests)",
    ),
    (
        "journeys[].slots",
        "explore gives the slots as `slot_grid`; listed slots join the same list",
    ),
    (
        "journeys[].arrivals.phases[].duration",
        "BLIND: not yet drawn by explore (ramps; the shrinker cannot cut them yet: phases replace the duration it shrinks)",
    ),
    (
        "journeys[].arrivals.phases[].rate",
        "BLIND: not yet drawn by explore (ramps; the shrinker cannot cut them yet: phases replace the duration it shrinks)",
    ),
    (
        "journeys[].arrivals.phases[].ramp_to",
        "BLIND: not yet drawn by explore (ramps; the shrinker cannot cut them yet: phases replace the duration it shrinks)",
    ),
    (
        "external[].*",
        "explore books behind the engine's back with the Poisson `calcom.external`; a scheduled one is the same request at a chosen instant",
    ),
];

/// How many [`FIXED`] entries are `BLIND`: raise it with the entry, on purpose.
const BLIND: usize = 8;

/// Generated worlds (whole), and worlds around each bundled scenario.
const GENERATED: u64 = 300;
const AROUND_EACH: u64 = 8;

/// Every leaf path of the schema: tables and lists of tables are walked into (`[]` for a
/// list's elements, the variants of a tagged union merged), everything else is a leaf
/// (scalars, lists of scalars, distributions, free-form tables).
fn leaves(schema: &Value) -> BTreeSet<String> {
    let defs = schema["definitions"].as_object().expect("definitions");
    let mut out = BTreeSet::new();
    walk(schema, defs, "", &mut out, 0);
    out
}

fn resolve<'a>(node: &'a Value, defs: &'a serde_json::Map<String, Value>) -> &'a Value {
    if let Some(r) = node.get("$ref").and_then(Value::as_str) {
        let name = r.trim_start_matches("#/definitions/");
        return resolve(&defs[name], defs);
    }
    if let Some([one]) = node
        .get("allOf")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
    {
        return resolve(one, defs);
    }
    node
}

fn walk(
    node: &Value,
    defs: &serde_json::Map<String, Value>,
    path: &str,
    out: &mut BTreeSet<String>,
    depth: usize,
) {
    assert!(depth < 20, "{path}: the schema nests too deep");
    let node = resolve(node, defs);
    let is_distribution = node
        .get("description")
        .and_then(Value::as_str)
        .is_some_and(|d| d.starts_with("A random duration"));
    let variants: Vec<&Value> = node
        .get("oneOf")
        .and_then(Value::as_array)
        .map(|v| v.iter().map(|v| resolve(v, defs)).collect())
        .unwrap_or_default();
    if !is_distribution && let Some(props) = node.get("properties").and_then(Value::as_object) {
        for (key, sub) in props {
            walk(sub, defs, &join(path, key), out, depth + 1);
        }
    } else if !is_distribution && variants.iter().any(|v| v.get("properties").is_some()) {
        for v in variants {
            walk(v, defs, path, out, depth + 1);
        }
    } else if node.get("type") == Some(&Value::from("array"))
        && let Some(items) = node.get("items")
        && resolve(items, defs).get("properties").is_some()
            | resolve(items, defs).get("oneOf").is_some()
    {
        walk(items, defs, &format!("{path}[]"), out, depth + 1);
    } else {
        out.insert(path.to_owned());
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// The values a world gives each leaf path (a list's elements together).
fn values(doc: &toml::Value, leaves: &BTreeSet<String>) -> BTreeMap<String, BTreeSet<String>> {
    fn go(
        v: &toml::Value,
        path: &str,
        leaves: &BTreeSet<String>,
        out: &mut BTreeMap<String, BTreeSet<String>>,
    ) {
        if leaves.contains(path) {
            out.entry(path.to_owned())
                .or_default()
                .insert(v.to_string());
            return;
        }
        match v {
            toml::Value::Table(t) => {
                for (k, v) in t {
                    go(v, &join(path, k), leaves, out);
                }
            }
            toml::Value::Array(items) => {
                for item in items {
                    go(item, &format!("{path}[]"), leaves, out);
                }
            }
            other => panic!("`{path}` = {other}: a field the schema does not know"),
        }
    }
    let mut out = BTreeMap::new();
    go(doc, "", leaves, &mut out);
    out
}

/// What each leaf path takes across `worlds` (a world without it: `<absent>`).
fn spread(worlds: &[String], leaves: &BTreeSet<String>) -> BTreeMap<String, BTreeSet<String>> {
    let mut seen: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for text in worlds {
        let doc: toml::Value = toml::from_str(text).expect("a world is TOML");
        let mine = values(&doc, leaves);
        for leaf in leaves {
            let entry = seen.entry(leaf.clone()).or_default();
            match mine.get(leaf) {
                Some(v) => entry.extend(v.iter().cloned()),
                None => {
                    entry.insert("<absent>".into());
                }
            }
        }
    }
    seen
}

fn matches(pattern: &str, path: &str) -> bool {
    match pattern.strip_suffix(".*") {
        Some(prefix) => {
            path.starts_with(&format!("{prefix}.")) || path.starts_with(&format!("{prefix}[]."))
        }
        None => pattern == path,
    }
}

#[test]
fn every_field_is_varied_by_explore_or_fixed_on_purpose() {
    let schema =
        serde_json::to_value(sim::scenario::schema::scenario_schema()).expect("the schema is JSON");
    let leaves = leaves(&schema);
    assert!(leaves.len() > 100, "{} leaves: {leaves:?}", leaves.len());

    let mut varied = BTreeSet::new();
    let generated: Vec<String> = (1..=GENERATED)
        .map(sim::explore::generate::generate)
        .collect();
    for (leaf, seen) in spread(&generated, &leaves) {
        if seen.len() > 1 {
            varied.insert(leaf);
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the repository");
    let mut files: Vec<_> = std::fs::read_dir(root.join("scenarios"))
        .expect("scenarios/")
        .map(|e| e.expect("readable").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("readable");
        let origin = file.display().to_string();
        let worlds = sim::explore::around::Worlds {
            around: vec![(origin.clone(), text)],
            sets: Vec::new(),
            ..Default::default()
        };
        let around: Vec<String> = (1..=AROUND_EACH)
            .map(|seed| {
                worlds
                    .world(seed)
                    .unwrap_or_else(|e| panic!("{origin}: {e}"))
            })
            .collect();
        for (leaf, seen) in spread(&around, &leaves) {
            if seen.len() > 1 {
                varied.insert(leaf);
            }
        }
    }

    let fixed = |leaf: &str| FIXED.iter().any(|(p, _)| matches(p, leaf));
    let unvaried: Vec<&String> = leaves
        .iter()
        .filter(|l| !varied.contains(*l) && !fixed(l))
        .collect();
    let stale: Vec<&str> = FIXED
        .iter()
        .map(|(p, _)| *p)
        .filter(|p| !leaves.iter().any(|l| matches(p, l)))
        .collect();
    let now_varied: Vec<&str> = FIXED
        .iter()
        .map(|(p, _)| *p)
        .filter(|p| {
            let mine: Vec<&String> = leaves.iter().filter(|l| matches(p, l)).collect();
            !mine.is_empty() && mine.iter().all(|l| varied.contains(*l))
        })
        .collect();
    let blind = FIXED.iter().filter(|(_, r)| r.starts_with("BLIND")).count();
    assert!(
        unvaried.is_empty() && stale.is_empty() && now_varied.is_empty() && blind == BLIND,
        "{} fields of the scenario format are neither varied by explore nor in FIXED \
         (sim/tests/dimensions.rs) with a reason:\n  {}\n\
         FIXED entries that name no field of the format: {stale:?}\n\
         FIXED entries that explore now varies (remove them): {now_varied:?}\n\
         BLIND entries: {blind}, BLIND says {BLIND}\n\
         varied: {varied:?}",
        unvaried.len(),
        unvaried
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n  "),
    );
}
