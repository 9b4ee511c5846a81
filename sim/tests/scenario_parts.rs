//! A scenario is parsed in parts (`sim::scenario::parts`: the `[[calls]]` tables a group at
//! a time, the rest as one document) so that `validate`'s cost is proportional to the file.
//! Over generated files (the catalogue, explore's worlds, and scripted calls interleaved
//! with other tables, comments, strings and arrays that look like table headers), the parts
//! read what the file read whole reads, or the file is read whole; errors come from the
//! whole file, naming its line; and no part handed to the parser grows with the file.

use sim::Scenario;
use sim::scenario::parts::{self, GROUP};

/// What the parts read equals what the whole file reads (`None`: read whole anyway).
fn same(text: &str, what: &str) -> bool {
    let whole = Scenario::parse_whole(text, "t.toml");
    match parts::parse(text) {
        Some((s, zoned)) => {
            let (w, wz) =
                whole.unwrap_or_else(|e| panic!("{what}: parts read a file TOML refuses: {e}"));
            assert_eq!(format!("{s:?}"), format!("{w:?}"), "{what}");
            assert_eq!(zoned, wz, "{what}");
            true
        }
        None => false,
    }
}

fn call(id: &str, at: u64) -> String {
    format!(
        "[[calls]]\nid = \"{id}\"\n[[calls.steps]]\nat = \"{at}s\"\nfunction = \"check_availability\"\nargs = {{ datum = \"2025-11-25\", uhrzeit = \"10:00\", dienstleistung = \"Herrenhaarschnitt\" }}\n[[calls.steps]]\nat = \"{}s\"\nfunction = \"start_booking\"\n",
        at + 20
    )
}

const HEAD: &str = "name = \"t\"\nseed = 1\nstart = \"2025-11-24T07:00:00\"\nduration = \"10m\"\n";

#[test]
fn the_catalogue_and_explores_worlds_read_the_same_in_parts() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let mut in_parts = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        if path.extension().is_some_and(|x| x == "toml") {
            let text = std::fs::read_to_string(&path).unwrap();
            in_parts += usize::from(same(&text, &path.display().to_string()));
        }
    }
    assert!(in_parts >= 10, "{in_parts} catalogue files have calls");
    for seed in 1..=150 {
        same(
            &sim::explore::generate::generate(seed),
            &format!("world {seed}"),
        );
    }
}

/// Calls in many groups, interleaved with other tables (before, between, after), headers
/// indented, and strings, comments and arrays holding lines that look like headers.
#[test]
fn generated_files_of_calls_among_other_tables_read_the_same_in_parts() {
    let mut state = 11u64;
    let mut next = |n: u64| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) % n
    };
    // Tables that may follow a call (each once but `[[journeys]]`, TOML refuses a table
    // twice: that is tested below); keys of the scenario's own go before the first table.
    let tables = [
        "[policy]\npreset = \"full\"\n",
        "  [limits]\n  max_calls = 100000\n",
        "# [[calls]]\n# [policy]\n",
        "[[journeys]]\narrivals = { kind = \"poisson\", rate = 0.01 }\nduration = \"1m\"\nservice = \"Herrenhaarschnitt\"\nslots = [\n\"2025-11-25T10:00\",\n]\n",
    ];
    let keys = [
        "description = \"\"\"\n[[calls]]\nid = \"in a string\"\n[policy]\n\"\"\"\n",
        "time_zone = \"Europe/Berlin\"\n",
        "gates = [\n\"calls >= 1\",\n]\n",
    ];
    let mut read_in_parts = 0;
    for case in 0..60 {
        let mut text = HEAD.to_owned();
        for k in keys {
            if next(2) == 0 {
                text.push_str(k);
            }
        }
        let mut used = [false; 4];
        let calls = 1 + next(3 * GROUP as u64) as usize;
        for i in 0..calls {
            if next(200) == 0 {
                let k = next(tables.len() as u64) as usize;
                if !used[k] || k == 3 {
                    used[k] = true;
                    text.push_str(tables[k]);
                }
            }
            text.push_str(&call(&format!("c{i}"), i as u64 % 500));
            if next(7) == 0 {
                text.push_str("[calls.steps.args]\n");
            }
        }
        if !used[0] && next(2) == 0 {
            text.push_str(tables[0]);
        }
        read_in_parts += usize::from(same(&text, &format!("case {case}")));
    }
    assert!(read_in_parts >= 40, "{read_in_parts}");
}

/// A mistake anywhere (in the calls of a late group, a table twice, `calls` written
/// both ways) is reported as the whole file reports it: same message, its line.
#[test]
fn mistakes_read_whole_name_the_files_line() {
    let calls: String = (0..2 * GROUP + 10)
        .map(|i| call(&format!("c{i}"), 1))
        .collect();
    let line_of =
        |text: &str, needle: &str| text[..text.find(needle).unwrap()].matches('\n').count() + 1;
    let typo: String = (0..2 * GROUP + 10)
        .map(|i| {
            let c = call(&format!("c{i}"), 1);
            if i == 2 * GROUP + 3 {
                c.replacen("at = \"1s\"", "at = \"1s\"\nsed = 3", 1)
            } else {
                c
            }
        })
        .collect();
    let typo = format!("{HEAD}{typo}");
    let e = Scenario::parse(&typo, "s.toml").unwrap_err().to_string();
    let whole = Scenario::parse_whole(&typo, "s.toml")
        .unwrap_err()
        .to_string();
    assert_eq!(e, whole);
    // The typo sits in the last group: the message names its line in the whole file.
    let at = line_of(&typo, "sed = 3");
    assert!(at > 18 * GROUP, "{at}");
    assert!(
        e.contains(&format!("line {at}")) && e.contains("unknown field `sed`"),
        "{e}"
    );
    for bad in [
        format!("{HEAD}[policy]\npreset = \"full\"\n{calls}[policy]\npreset = \"baseline\"\n"),
        format!("{HEAD}calls = []\n{calls}"),
        format!("{HEAD}{calls}[calls]\nid = \"x\"\n"),
        // A `[` starting a line inside an array: split there, the parts fail.
        format!("{HEAD}gates = [\n[\"calls >= 1\"],\n]\n{calls}"),
    ] {
        assert!(parts::parse(&bad).is_none());
        let e = Scenario::parse(&bad, "s.toml").unwrap_err().to_string();
        assert!(e.starts_with("s.toml: TOML parse error at line"), "{e}");
    }
}

/// What the parser is handed does not grow with the file: `[[calls]]` tables in groups of
/// at most `GROUP`, nothing else beside them, every byte of the file in one part: the
/// parse is linear in the number of calls (the whole-file parse held the whole document,
/// 8.7 KB a call).
#[test]
fn no_part_grows_with_the_number_of_calls() {
    for n in [1, GROUP, GROUP + 1, 10_000, 40_000] {
        let calls: String = (0..n).map(|i| call(&format!("c{i}"), 1)).collect();
        let text = format!("{HEAD}{calls}[policy]\npreset = \"full\"\n");
        let split = parts::split(&text).unwrap();
        assert_eq!(split.groups.len(), n.div_ceil(GROUP), "{n}");
        for g in &split.groups {
            let tables = g.matches("[[calls]]").count();
            assert!((1..=GROUP).contains(&tables), "{n}: {tables}");
            assert!(g.starts_with("[[calls]]") && !g.contains("[policy]"), "{n}");
        }
        assert!(!split.rest.contains("[[calls") && split.rest.contains("[policy]"));
        let total: usize = split.rest.len() + split.groups.iter().map(String::len).sum::<usize>();
        assert_eq!(total, text.len(), "{n}: every byte in one part");
        let s = Scenario::parse(&text, "t.toml").unwrap();
        assert_eq!(s.calls.len(), n);
        assert_eq!(s.calls[n - 1].id, format!("c{}", n - 1));
    }
}
