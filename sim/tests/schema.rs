//! `docs/scenario.schema.json` is what `bookingsim schema` prints (so it cannot drift from
//! the types that read scenario files), and every bundled scenario validates against it (so
//! it refuses nothing they use, and knows every field they use: it refuses unknown ones).

use std::path::{Path, PathBuf};

use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("sim/ lies in the repository")
        .to_path_buf()
}

const SCHEMA: &str = "docs/scenario.schema.json";

#[test]
fn the_committed_schema_is_what_bookingsim_schema_prints() {
    let printed = std::process::Command::new(env!("CARGO_BIN_EXE_bookingsim"))
        .arg("schema")
        .output()
        .expect("bookingsim runs");
    assert!(printed.status.success(), "bookingsim schema failed");
    let printed = String::from_utf8(printed.stdout).expect("the schema is UTF-8");
    assert_eq!(printed, sim::scenario::schema::scenario_schema_text());
    let committed = std::fs::read_to_string(root().join(SCHEMA)).unwrap_or_default();
    assert!(
        committed == printed,
        "{SCHEMA} differs from what `bookingsim schema` prints: the scenario format changed. \
         Run `cargo run -p sim -- schema > {SCHEMA}` and commit it"
    );
}

/// A scenario file as JSON, the way a TOML editor hands it to the schema (date-times as
/// their text).
fn as_json(value: toml::Value) -> Value {
    match value {
        toml::Value::String(s) => Value::String(s),
        toml::Value::Integer(i) => i.into(),
        toml::Value::Float(f) => f.into(),
        toml::Value::Boolean(b) => b.into(),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(items) => items.into_iter().map(as_json).collect(),
        toml::Value::Table(t) => t.into_iter().map(|(k, v)| (k, as_json(v))).collect(),
    }
}

/// Validates scenario texts against the committed schema; the errors, one per file.
pub fn invalid(files: &[(String, String)]) -> Vec<String> {
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join(SCHEMA)).expect("the schema is committed"),
    )
    .expect("the schema is JSON");
    let mut schemas = boon::Schemas::new();
    let mut compiler = boon::Compiler::new();
    compiler
        .add_resource("file:///scenario.schema.json", schema)
        .expect("the schema is added");
    let id = compiler
        .compile("file:///scenario.schema.json", &mut schemas)
        .expect("the schema compiles");
    let mut errors = Vec::new();
    for (origin, text) in files {
        let doc: toml::Value = toml::from_str(text).unwrap_or_else(|e| panic!("{origin}: {e}"));
        if let Err(e) = schemas.validate(&as_json(doc), id) {
            errors.push(format!("{origin}: {e:#}"));
        }
    }
    errors
}

fn bundled() -> Vec<(String, String)> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(root().join("scenarios"))
        .expect("scenarios/ exists")
        .map(|e| e.expect("scenarios/ is readable").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    paths.sort();
    assert!(paths.len() >= 20, "scenarios/*.toml: {paths:?}");
    paths.push(root().join("docs/examples/minimal.toml"));
    paths
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("a scenario is readable");
            (p.display().to_string(), text)
        })
        .collect()
}

#[test]
fn every_bundled_scenario_validates_against_the_schema() {
    let errors = invalid(&bundled());
    assert!(errors.is_empty(), "{}", errors.join("\n\n"));
}

/// The schema is not vacuous: what the parser refuses, it refuses too.
#[test]
fn the_schema_refuses_typos_and_wrong_shapes() {
    let minimal = "name = \"t\"\nstart = \"2025-11-24T09:00:00\"\nduration = \"1m\"\n";
    let cases = [
        ("top-level typo", format!("{minimal}sed = 3\n")),
        ("bad duration", minimal.replace("\"1m\"", "\"one minute\"")),
        (
            "policy typo",
            format!("{minimal}[policy]\nlock_tl = \"5s\"\n"),
        ),
        (
            "unknown preset",
            format!("{minimal}[policy]\npreset = \"fastest\"\n"),
        ),
        (
            "nested typo",
            format!("{minimal}[calcom.api.rate_limit]\nlimt = 5\n"),
        ),
        (
            "distribution typo",
            format!("{minimal}[calcom.latency]\nslots = {{ p51 = \"1s\" }}\n"),
        ),
        (
            "arrivals kind",
            format!(
                "{minimal}[[journeys]]\narrivals = {{ kind = \"burst\", rate = 1 }}\nduration = \"1m\"\nservice = \"x\"\n"
            ),
        ),
    ];
    for (what, text) in cases {
        sim::Scenario::parse(&text, what).expect_err(what);
        let errors = invalid(&[(what.to_owned(), text)]);
        assert_eq!(errors.len(), 1, "{what}: the schema accepts it");
    }
    // And what the parser takes, it takes: every form of a distribution, "off", a
    // `[policy]` sub-table merged field by field.
    let fine = format!(
        "{minimal}[policy]\npreset = \"full\"\ncache_ttl = \"off\"\ncalcom_reservation_minutes = \"off\"\nretry = {{ max_retries = 1 }}\nsync_queue_delay = \"2s\"\ninfra = {{ redis = {{ min = \"0s\", max = \"2ms\" }}, database = {{ p50 = \"10ms\", p99 = \"30ms\" }}, request_overhead = {{ fixed = \"1.5ms\" }} }}\n"
    );
    sim::Scenario::parse(&fine, "fine").expect("the parser takes it");
    assert_eq!(invalid(&[("fine".into(), fine)]), Vec::<String>::new());
}
