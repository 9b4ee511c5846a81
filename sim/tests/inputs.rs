//! Generated bad input for `validate` and `run`: every number and duration of every bundled
//! scenario replaced by NaN, ±inf, 0, negative, huge and tiny values, durations of zero, a
//! nanosecond and 600 million years, every date by one before 1970, in year 9999, on
//! 30 February or at 24:00, min and max swapped. Each mutant is either refused with
//! a message that names the file and the field, or accepted, and an accepted one that plans
//! little work runs to the end. And random edits of one to three places of any kind (another
//! type, a key removed, an array emptied or repeated). Nothing panics, nothing hangs.

use std::path::PathBuf;
use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestRunner};
use sim::Scenario;
use sim::scenario::with_sets_text;

fn catalogue() -> Vec<(String, String)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(p).unwrap())
        })
        .collect()
}

/// What a leaf holds, for choosing its mutations.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Leaf {
    Number,
    Duration,
    Date,
}

/// Whether a string is a date or a date and time as scenarios write them.
fn is_date(s: &str) -> bool {
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok()
        || chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S").is_ok()
        || chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M").is_ok()
        || chrono::DateTime::parse_from_rfc3339(s).is_ok()
}

/// Dotted paths (`journeys[0].arrivals.rate`) of every number and duration in a document.
fn leaves(value: &toml::Value, path: &str, out: &mut Vec<(String, Leaf)>) {
    match value {
        toml::Value::Table(t) => {
            for (k, v) in t {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                leaves(v, &p, out);
            }
        }
        toml::Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                leaves(v, &format!("{path}[{i}]"), out);
            }
        }
        toml::Value::Integer(_) | toml::Value::Float(_) => {
            out.push((path.to_owned(), Leaf::Number))
        }
        toml::Value::String(s) if humantime::parse_duration(s).is_ok() => {
            out.push((path.to_owned(), Leaf::Duration));
        }
        toml::Value::String(s) if is_date(s) => out.push((path.to_owned(), Leaf::Date)),
        _ => {}
    }
}

const NUMBERS: [&str; 11] = [
    "nan",
    "inf",
    "-inf",
    "0",
    "-1",
    "1e300",
    "-1e300",
    "1e-300",
    "4294967295",
    "9223372036854775807",
    "0.5",
];
const DURATIONS: [&str; 7] = [
    "\"0s\"",
    "\"1ns\"",
    "\"600000000y\"",
    "\"100000h\"",
    "\"-1s\"",
    "\"soon\"",
    "7",
];

const DATES: [&str; 9] = [
    "\"0001-01-01T00:00:00\"",
    "\"1969-12-31T23:59:59\"",
    "\"1970-01-01\"",
    "\"9999-12-31T23:59:59\"",
    "\"9999-12-31T23:30:00+14:00\"",
    "\"2025-02-30T10:00:00\"",
    "\"2025-11-25T24:00\"",
    "\"2025-11-25T10:00:00-12:00\"",
    "\"\"",
];

/// Every (file, `--set` override) that replaces one leaf by one bad value.
fn mutants() -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for (name, text) in catalogue() {
        let doc: toml::Value = toml::from_str(&text).unwrap();
        let mut found = Vec::new();
        leaves(&doc, "", &mut found);
        for (path, leaf) in found {
            let values: &[&str] = match leaf {
                Leaf::Number => &NUMBERS,
                Leaf::Duration => &DURATIONS,
                Leaf::Date => &DATES,
            };
            for v in values {
                out.push((name.clone(), text.clone(), format!("{path}={v}")));
            }
        }
        // min and max swapped wherever a table has both.
        for (min, max) in [
            ("min_latency", "max_latency"),
            ("min", "max"),
            ("lead", "horizon"),
            ("from", "until"),
        ] {
            let mut pairs = Vec::new();
            swapped(&doc, "", min, max, &mut pairs);
            for (path, a, b) in pairs {
                out.push((name.clone(), text.clone(), format!("{path}.{min}={b}")));
                out.push((name.clone(), text.clone(), format!("{path}.{max}={a}")));
            }
        }
    }
    out
}

fn swapped(
    v: &toml::Value,
    path: &str,
    min: &str,
    max: &str,
    out: &mut Vec<(String, String, String)>,
) {
    match v {
        toml::Value::Table(t) => {
            if let (Some(a), Some(b)) = (t.get(min), t.get(max)) {
                out.push((path.to_owned(), a.to_string(), b.to_string()));
            }
            for (k, v) in t {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                swapped(v, &p, min, max, out);
            }
        }
        toml::Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                swapped(v, &format!("{path}[{i}]"), min, max, out);
            }
        }
        _ => {}
    }
}

fn parse(name: &str, text: &str, set: &str) -> Result<Scenario, String> {
    let text = with_sets_text(text, name, &[set.to_owned()]).map_err(|e| e.to_string())?;
    Scenario::parse(&text, name).map_err(|e| e.to_string())
}

#[test]
fn every_mutated_value_is_refused_clearly_or_accepted() {
    let all = mutants();
    assert!(all.len() > 2000, "only {} mutants", all.len());
    let (mut refused, mut accepted) = (0, 0);
    for (name, text, set) in &all {
        let outcome = std::panic::catch_unwind(|| parse(name, text, set));
        match outcome {
            Err(_) => panic!("{name} --set {set}: validate panicked"),
            Ok(Err(message)) => {
                refused += 1;
                assert!(
                    message.starts_with(name.as_str()),
                    "{name} --set {set}: {message}"
                );
                // A refusal says where: a line and a field, or the TOML error's own pointer.
                let field = set.split('=').next().unwrap();
                let leaf = field.rsplit(['.', ']']).next().unwrap();
                assert!(
                    message.contains(leaf) || message.contains("line") || message.contains(':'),
                    "{name} --set {set}: {message}"
                );
            }
            Ok(Ok(_)) => accepted += 1,
        }
    }
    eprintln!(
        "{} mutants: {refused} refused, {accepted} accepted",
        all.len()
    );
    assert!(
        refused > accepted,
        "most of these values are nonsense: {refused} refused, {accepted} accepted"
    );
}

/// A sample of the accepted mutants that plan little work runs to the end without a panic
/// (a run that cannot go on ends with an error, not a crash).
#[test]
fn accepted_mutants_run_to_the_end() {
    let all: Vec<(String, String, String)> = mutants()
        .into_iter()
        .filter(|(name, text, set)| {
            parse(name, text, set).is_ok_and(|s| {
                sim::scenario::validate::planned_calls(&s) <= 200.0
                    && sim::scenario::validate::planned_time(&s) <= Duration::from_secs(2 * 3600)
            })
        })
        .collect();
    assert!(all.len() > 50, "only {} small accepted mutants", all.len());
    let mut runner = TestRunner::new(Config {
        cases: 24,
        rng_seed: RngSeed::Fixed(17),
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&(0..all.len()), |i| {
            let (name, text, set) = &all[i];
            let scenario = parse(name, text, set).unwrap();
            let policy = scenario.policy.preset.clone();
            let result = std::panic::catch_unwind(|| sim::run(&scenario, scenario.seed, &policy));
            prop_assert!(result.is_ok(), "{name} --set {set}: the run panicked");
            Ok(())
        })
        .unwrap();
}

/// Every accepted mutant of a date that plans little work runs, and runs to the end: a date
/// `validate` lets through is one the simulation can keep (it used to refuse a start before
/// 1970 only once running, without naming file or field).
#[test]
fn accepted_dates_run_to_the_end() {
    let dates: Vec<(String, String, String)> = mutants()
        .into_iter()
        .filter(|(_, _, set)| DATES.iter().any(|d| set.ends_with(&format!("={d}"))))
        .filter(|(name, text, set)| {
            parse(name, text, set).is_ok_and(|s| {
                sim::scenario::validate::planned_calls(&s) <= 50.0
                    && sim::scenario::validate::planned_time(&s) <= Duration::from_secs(3600)
            })
        })
        .collect();
    assert!(
        dates.len() > 20,
        "only {} small accepted dates",
        dates.len()
    );
    for (name, text, set) in &dates {
        let scenario = parse(name, text, set).unwrap();
        let policy = scenario.policy.preset.clone();
        let result = std::panic::catch_unwind(|| sim::run(&scenario, scenario.seed, &policy));
        match result {
            Err(_) => panic!("{name} --set {set}: the run panicked"),
            Ok(Err(e)) => panic!("{name} --set {set}: accepted, then failed: {e}"),
            Ok(Ok(_)) => {}
        }
    }
}

/// Values of every type a scenario field could wrongly hold.
const ANY_VALUES: [&str; 14] = [
    "\"\"",
    "\"ü€😀\"",
    "0",
    "-1",
    "9007199254740993",
    "1e300",
    "nan",
    "true",
    "[]",
    "{}",
    "\"1s\"",
    "\"2025-11-24T09:00\"",
    "[1, \"a\"]",
    "{ x = 1 }",
];

/// Every place in a document (table keys and array elements), as key paths.
fn places(value: &toml::Value, path: &mut Vec<toml::Value>, out: &mut Vec<Vec<toml::Value>>) {
    let children: Vec<(toml::Value, &toml::Value)> = match value {
        toml::Value::Table(t) => t
            .iter()
            .map(|(k, v)| (toml::Value::String(k.clone()), v))
            .collect(),
        toml::Value::Array(a) => a
            .iter()
            .enumerate()
            .map(|(i, v)| (toml::Value::Integer(i as i64), v))
            .collect(),
        _ => return,
    };
    for (key, child) in children {
        path.push(key);
        out.push(path.clone());
        places(child, path, out);
        path.pop();
    }
}

/// One edit at `path`: `kind` 0 replaces the value by `ANY_VALUES[choice]`, 1 removes it,
/// 2 empties it, 3 repeats an array's elements (or puts a 5000-character string).
fn edit(doc: &mut toml::Value, path: &[toml::Value], kind: u8, choice: usize) {
    let (last, parents) = path.split_last().unwrap();
    let mut parent = doc;
    for key in parents {
        parent = match (parent, key) {
            (toml::Value::Table(t), toml::Value::String(k)) => t.get_mut(k).unwrap(),
            (toml::Value::Array(a), toml::Value::Integer(i)) => &mut a[*i as usize],
            _ => unreachable!("paths follow the document"),
        };
    }
    let slot = match (&mut *parent, last) {
        (toml::Value::Table(t), toml::Value::String(k)) if kind == 1 => {
            t.remove(k);
            return;
        }
        (toml::Value::Array(a), toml::Value::Integer(i)) if kind == 1 => {
            a.remove(*i as usize);
            return;
        }
        (toml::Value::Table(t), toml::Value::String(k)) => t.get_mut(k).unwrap(),
        (toml::Value::Array(a), toml::Value::Integer(i)) => &mut a[*i as usize],
        _ => unreachable!("paths follow the document"),
    };
    *slot = match (kind, &*slot) {
        (2, toml::Value::Table(_)) => toml::Value::Table(Default::default()),
        (2, _) => toml::Value::Array(Vec::new()),
        (3, toml::Value::Array(a)) => {
            toml::Value::Array(a.iter().chain(a).chain(a).cloned().collect())
        }
        (3, _) => toml::Value::String("x".repeat(5000)),
        _ => {
            let text = format!("v = {}", ANY_VALUES[choice % ANY_VALUES.len()]);
            text.parse::<toml::Table>().unwrap().remove("v").unwrap()
        }
    };
}

/// Random edits of one to three places at once, of any kind: a value of another type, a
/// key or an element removed, a table or array emptied, an array repeated, a huge string.
/// Each edited scenario is refused with a message that names its file, or accepted; an
/// accepted one that plans little work runs to the end without a panic.
#[test]
fn random_edits_anywhere_are_refused_clearly_or_run() {
    let catalogue = catalogue();
    const CASES: u32 = 1000;
    let mut runner = TestRunner::new(Config {
        cases: CASES,
        rng_seed: RngSeed::Fixed(23),
        failure_persistence: None,
        ..Config::default()
    });
    let edits = proptest::collection::vec((any::<usize>(), 0u8..4, any::<usize>()), 1..=3);
    let (refused, ran) = (std::cell::Cell::new(0), std::cell::Cell::new(0));
    runner
        .run(&(0..catalogue.len(), edits), |(i, edits)| {
            let (name, text) = &catalogue[i];
            let mut doc: toml::Value = toml::from_str(text).unwrap();
            let mut done = Vec::new();
            for (at, kind, choice) in edits {
                let mut all = Vec::new();
                places(&doc, &mut Vec::new(), &mut all);
                let Some(path) = all.get(at % all.len().max(1)).cloned() else {
                    break;
                };
                done.push(format!("{kind}@{path:?}"));
                edit(&mut doc, &path, kind, choice);
            }
            let Ok(edited) = toml::to_string(&doc) else {
                return Ok(()); // not writable as TOML (e.g. a value after a table)
            };
            let parsed = std::panic::catch_unwind(|| Scenario::parse(&edited, name));
            prop_assert!(parsed.is_ok(), "{name} {done:?}: validate panicked");
            match parsed.unwrap() {
                Err(e) => {
                    refused.set(refused.get() + 1);
                    prop_assert!(
                        e.to_string().starts_with(name.as_str()),
                        "{name} {done:?}: {e}"
                    );
                }
                Ok(s) => {
                    if sim::scenario::validate::planned_calls(&s) <= 100.0
                        && sim::scenario::validate::planned_time(&s) <= Duration::from_secs(3600)
                    {
                        ran.set(ran.get() + 1);
                        let policy = s.policy.preset.clone();
                        let result = std::panic::catch_unwind(|| sim::run(&s, s.seed, &policy));
                        prop_assert!(result.is_ok(), "{name} {done:?}: the run panicked");
                    }
                }
            }
            Ok(())
        })
        .unwrap();
    let (refused, ran) = (refused.get(), ran.get());
    eprintln!("{CASES} edited scenarios: {refused} refused, {ran} small accepted ones ran");
    assert!(refused > 300 && ran > 30, "{refused} refused, {ran} ran");
}
