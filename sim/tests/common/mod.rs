//! What generated tests share: a small deterministic generator of their own draws.

/// splitmix64: the draws are the test's, not the run's, and the same on every run.
pub struct Draw(pub u64);

#[allow(dead_code)] // each test file uses some of these
impl Draw {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Below `n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// From `lo` to `hi`, both included.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }

    /// One of `of`.
    pub fn pick<'a, T>(&mut self, of: &'a [T]) -> &'a T {
        &of[self.below(of.len() as u64) as usize]
    }
}

/// A salon of three stylists and the services the lock and infrastructure tests book.
#[allow(dead_code)] // each test file uses some of these
pub const WORLD: &str = r#"[[calcom.hosts]]
id = 1
name = "Fabian Spitzer"
working_hours = { weekdays = ["09:00-18:00"] }

[[calcom.hosts]]
id = 2
name = "Lena Hoffmann"
working_hours = { weekdays = ["09:00-18:00"] }

[[calcom.hosts]]
id = 3
name = "Aylin Demir"
working_hours = { weekdays = ["09:00-18:00"] }

[[calcom.event_types]]
id = 3001
slug = "faerben"
title = "Färben"
length_minutes = 60
slot_interval_minutes = 15
hosts = [1, 2, 3]

[[calcom.event_types]]
id = 1001
slug = "herrenhaarschnitt"
title = "Herrenhaarschnitt"
length_minutes = 30
slot_interval_minutes = 15
hosts = [1]

[catalog]

[[catalog.services]]
id = 1
name = "Färben"
segments = [{ name = "colour", minutes = 60, event_type_id = 3001 }]
staff = [1, 2, 3]

[[catalog.services]]
id = 2
name = "Herrenhaarschnitt"
segments = [{ name = "cut", minutes = 30, event_type_id = 1001 }]
staff = [1]

"#;

/// The invariant violations a run of `s` under `full` shows, as text (empty: all hold).
#[allow(dead_code)] // each test file uses some of these
pub fn violations(s: &sim::Scenario, seed: u64) -> Vec<String> {
    let summary = sim::run(s, seed, "full").unwrap().0.to_json();
    summary["violations"]
        .as_array()
        .map(|v| v.iter().map(ToString::to_string).collect())
        .unwrap_or_default()
}

/// The text of catalogue scenario `name` (`scenarios/NAME.toml`).
#[allow(dead_code)]
pub fn catalogue_text(name: &str) -> String {
    let path = format!("{}/../scenarios/{name}.toml", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// `text` with each `(text, replacement)` swapped in wherever it stands (it must stand
/// somewhere): a generated world around a catalogue scenario.
#[allow(dead_code)]
pub fn with_swaps(text: &str, swaps: &[(&str, String)]) -> String {
    let mut out = text.to_owned();
    for (from, to) in swaps {
        assert!(out.contains(from), "no `{from}` in the scenario");
        out = out.replace(from, to);
    }
    out
}

/// A run of `text` (a generated world) under `full`: its summary as JSON.
#[allow(dead_code)]
pub fn run_full(text: &str, seed: u64) -> serde_json::Value {
    let s = sim::Scenario::parse(text, "generated").unwrap_or_else(|e| panic!("{e}\n{text}"));
    sim::run(&s, seed, "full").unwrap().0.to_json()
}

/// The seed of case `case` of a family around a catalogue world: the world's own seed
/// (`first`) for case 0, drawn for the others.
#[allow(dead_code)]
pub fn case_seed(draw: &mut Draw, case: u64, first: u64) -> u64 {
    if case == 0 {
        first
    } else {
        draw.next() % 100_000
    }
}

/// A run of a family's world under `full` that must hold every invariant (the failure names
/// the case, the seed and the world): its summary as JSON.
#[allow(dead_code)]
pub fn run_holding(text: &str, case: u64, seed: u64) -> serde_json::Value {
    let summary = run_full(text, seed);
    assert!(
        summary["violations"].as_array().unwrap().is_empty(),
        "case {case} (seed {seed}): {}\n{text}",
        summary["violations"]
    );
    summary
}
