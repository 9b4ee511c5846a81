//! Comparisons, sweeps, shards and baselines end to end.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use sim::Scenario;

fn scenarios() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios")
}

fn tmp(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn bookingsim(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_bookingsim"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.code().is_some_and(|c| c < 2),
        "bookingsim {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn policies_on_one_seed_meet_the_same_callers_and_external_bookings() {
    let s = Scenario::with_sets(
        &std::fs::read_to_string(scenarios().join("voice-gap.toml")).unwrap(),
        "voice-gap.toml",
        &[
            "duration=\"4m\"".into(),
            "journeys[0].duration=\"4m\"".into(),
        ],
    )
    .unwrap();
    // Who calls when and asks for what, and when Cal.com sees bookings behind our back.
    let arrivals = |seed: u64, policy: &str| {
        let (_, record) = sim::run(&s, seed, policy).unwrap();
        let calls: Vec<(String, u64, u64, String)> = record
            .calls
            .iter()
            .map(|c| {
                (
                    c.id.clone(),
                    c.start_ms,
                    c.steps[0].invoked_ms,
                    c.steps[0].args.get().to_owned(),
                )
            })
            .collect();
        let externals: Vec<String> = record
            .truth
            .bookings
            .iter()
            .filter(|b| b.source == "external")
            .map(|b| mock_calcom::wire::iso_ms(b.created_at))
            .collect();
        (calls, externals)
    };
    let baseline = arrivals(215, "baseline");
    assert!(
        baseline.0.len() > 20 && !baseline.1.is_empty(),
        "{baseline:?}"
    );
    for policy in ["double-check", "full", "no-lock"] {
        assert_eq!(arrivals(215, policy), baseline, "{policy}");
    }
    assert_ne!(
        arrivals(216, "baseline"),
        baseline,
        "another seed, other callers"
    );
}

#[test]
fn merged_shards_are_the_unsharded_sweep_byte_for_byte() {
    let file = scenarios().join("storm-overlap.toml");
    let sweep = |out: &Path, shard: Option<&str>| {
        let mut args = vec![
            "sweep",
            path(&file),
            "--param",
            "storms[0].rate=50,100",
            "--policies",
            "baseline,full",
            "--seeds",
            "3",
            "--knee",
            "invariants.double_booking > 0",
            "--out",
            path(out),
        ];
        if let Some(s) = shard {
            args.extend(["--shard", s]);
        }
        bookingsim(&args)
    };
    let whole = tmp("sweep-whole");
    let unsharded = sweep(&whole, None);
    let shards: Vec<PathBuf> = (1..=3)
        .map(|k| {
            let dir = tmp(&format!("sweep-shard-{k}"));
            sweep(&dir, Some(&format!("{k}/3")));
            dir
        })
        .collect();
    let merged = tmp("sweep-merged");
    // Shards in any order.
    let out = bookingsim(&[
        "merge",
        path(&shards[2]),
        path(&shards[0]),
        path(&shards[1]),
        "--out",
        path(&merged),
    ]);
    // Baseline double-books: the merged sweep reports the failing gates as the unsharded
    // one does (per run; a sweep reports its scenario's gates without enforcing them).
    assert_eq!(out.status.code(), unsharded.status.code());
    assert_eq!(out.status.code(), Some(0));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("not enforced in a sweep") && said.contains("of 3 runs"),
        "{said}"
    );
    for file in ["sweep.json", "points.csv", "report.md", "report.html"] {
        let a = std::fs::read(whole.join(file)).unwrap();
        let b = std::fs::read(merged.join(file)).unwrap();
        assert!(
            a == b,
            "{file} differs between the sweep and the merged shards"
        );
    }
    let report: Value =
        serde_json::from_slice(&std::fs::read(whole.join("sweep.json")).unwrap()).unwrap();
    assert_eq!(report["runs"], 12);
    assert_eq!(report["complete"], true);
    let first = &report["points"][0]["policies"];
    assert_eq!(first["baseline"]["runs"], 3);
    assert!(first["baseline"]["invariants"]["double_booking"].as_u64() > Some(0));
    assert_eq!(first["full"]["invariants"]["double_booking"], 0);
    let knee = report["knees"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["policy"] == "baseline")
        .unwrap();
    assert_eq!(knee["at"], "50");
    // A shard alone is not the whole: its report says so.
    let partial = tmp("sweep-partial");
    bookingsim(&["merge", path(&shards[0]), "--out", path(&partial)]);
    let p: Value =
        serde_json::from_slice(&std::fs::read(partial.join("sweep.json")).unwrap()).unwrap();
    assert_eq!(p["complete"], false);
}

#[test]
fn a_comparison_reports_paired_differences_and_readable_files() {
    let out = tmp("compare");
    bookingsim(&[
        "compare",
        path(&scenarios().join("storm-overlap.toml")),
        "--policies",
        "no-lock,full",
        "--seeds",
        "4",
        "--out",
        path(&out),
    ]);
    let report: Value =
        serde_json::from_slice(&std::fs::read(out.join("sweep.json")).unwrap()).unwrap();
    let d = &report["points"][0]["paired"]["policies"]["full"]["violations"];
    assert_eq!(d["pairs"], 4);
    assert!(
        d["difference"].as_f64() < Some(0.0),
        "full removes violations: {d}"
    );
    let ci = d["ci95"].as_array().unwrap();
    assert!(ci[1].as_f64() < Some(0.0), "on every seed: {d}");
    // Every file parses and holds its series.
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    let doc = roxmltree::Document::parse_with_options(
        &html,
        roxmltree::ParsingOptions {
            allow_dtd: true,
            ..Default::default()
        },
    )
    .expect("report.html is well-formed");
    let text: String = doc
        .descendants()
        .filter_map(|n| n.text())
        .collect::<Vec<_>>()
        .join(" ");
    for expected in ["no-lock", "full", "Paired differences", "What booked"] {
        assert!(text.contains(expected), "report.html lacks {expected}");
    }
    assert!(
        doc.descendants().any(|n| n.has_tag_name("svg")),
        "charts inline"
    );
    for chart in std::fs::read_dir(out.join("charts")).unwrap() {
        let svg = std::fs::read_to_string(chart.unwrap().path()).unwrap();
        let doc = roxmltree::Document::parse(&svg).expect("chart is well-formed SVG");
        let text: Vec<&str> = doc.descendants().filter_map(|n| n.text()).collect();
        assert!(
            text.iter().any(|t| t.contains("full")),
            "legend names the policy"
        );
    }
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("| full | violations |"), "{md}");
}

#[test]
fn a_baseline_diff_fails_the_gate_and_bless_rewrites_it() {
    let dir = tmp("baselines");
    let file = scenarios().join("storm-overlap.toml");
    let gate = |extra: &[&str]| {
        let mut args = vec!["gate", path(&file), "--baseline", path(&dir)];
        args.extend(extra);
        bookingsim(&args)
    };
    assert_eq!(gate(&["--bless"]).status.code(), Some(0));
    assert_eq!(gate(&[]).status.code(), Some(0), "same seed, same fields");
    let stored = dir.join("storm-overlap.json");
    let mut baseline: Value = serde_json::from_slice(&std::fs::read(&stored).unwrap()).unwrap();
    assert!(baseline["sim"].get("wall_seconds").is_none());
    baseline["outcomes"]["booked"] = 77.into();
    std::fs::write(&stored, serde_json::to_string_pretty(&baseline).unwrap()).unwrap();
    let out = gate(&["--junit", path(&dir.join("junit.xml"))]);
    assert_eq!(out.status.code(), Some(1), "a changed field fails");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("outcomes.booked: 77 -> 1"), "{stdout}");
    let junit = std::fs::read_to_string(dir.join("junit.xml")).unwrap();
    assert!(junit.contains("matches baseline") && junit.contains("outcomes.booked"));
    assert_eq!(gate(&["--bless"]).status.code(), Some(0));
    assert_eq!(gate(&[]).status.code(), Some(0), "blessed again");
}

/// Every committed baseline reads back as a typed summary, and writing that summary again
/// gives the file byte for byte: the type is the file's format.
#[test]
fn every_committed_baseline_reads_through_the_summary_type_byte_for_byte() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../reports/baselines");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no baselines in {}", dir.display());
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let summary: sim::Summary = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{}: not a summary: {e}", file.display()));
        assert_eq!(
            serde_json::to_string_pretty(&summary).unwrap() + "\n",
            text,
            "{} does not write back as read",
            file.display()
        );
    }
}

/// A comparison, and a sweep sharded and merged, made through the library: the files they
/// write read back through the types as the values they were written from.
#[test]
fn reports_plans_and_runs_read_back_through_their_types() {
    use sim::experiment::sweep::{self, SweepArgs};
    use sim::experiment::{Plan, Report};
    use sim::results::aggregate::RunResult;

    fn read_back(dir: &Path, report: &Report) {
        let text = std::fs::read_to_string(dir.join("sweep.json")).unwrap();
        let read: Report = serde_json::from_str(&text).unwrap();
        assert_eq!(&read, report, "{}/sweep.json", dir.display());
        assert_eq!(serde_json::to_string_pretty(&read).unwrap() + "\n", text);
    }
    fn runs_of(dir: &Path) -> Vec<RunResult> {
        std::fs::read_to_string(dir.join("runs.jsonl"))
            .unwrap()
            .lines()
            .map(|l| RunResult::parse(l).unwrap())
            .collect()
    }
    fn plan_of(dir: &Path) -> Plan {
        serde_json::from_str(&std::fs::read_to_string(dir.join("plan.json")).unwrap()).unwrap()
    }
    fn sealed(runs: &[RunResult], plan: &Plan) -> Vec<RunResult> {
        runs.iter().map(|r| r.sealed(&plan.to_text())).collect()
    }
    let no_progress = |_: usize, _: usize| {};

    // A comparison: baseline double-books on storm-overlap, and its gates are enforced.
    let out = tmp("typed-compare");
    let planned = sweep::plan(&SweepArgs {
        file: scenarios().join("storm-overlap.toml"),
        policies: vec!["baseline".into(), "full".into()],
        seeds: 2,
        out: Some(out.clone()),
        kind: "compare".into(),
        ..SweepArgs::default()
    })
    .unwrap();
    let executed = planned.execute(2, &no_progress);
    assert!(executed.broken.is_empty());
    planned.write_runs(&executed.runs).unwrap();
    let outcome = planned.finish(&executed.runs).unwrap();
    assert!(outcome.enforced && outcome.gates_fail(), "{outcome:?}");
    assert!(
        outcome
            .failing_gates
            .iter()
            .any(|g| g.starts_with("baseline: invariants.double_booking == 0 failed in 2 of 2")),
        "{:?}",
        outcome.failing_gates
    );
    let full = &outcome.report.points[0].paired.policies["full"];
    assert_eq!(full.violations.as_ref().unwrap().pairs, 2);
    read_back(&out, &outcome.report);
    assert_eq!(plan_of(&out), planned.plan);
    assert_eq!(runs_of(&out), sealed(&executed.runs, &planned.plan));

    // A sweep in two shards, merged: the report of the whole sweep.
    let args = |shard: Option<&str>, out: &Path| SweepArgs {
        file: scenarios().join("storm-overlap.toml"),
        params: vec!["storms[0].rate=50,100".into()],
        policies: vec!["baseline".into(), "full".into()],
        knees: vec!["invariants.double_booking > 0".into()],
        seeds: 2,
        shard: shard.map(str::to_owned),
        out: Some(out.to_owned()),
        kind: "sweep".into(),
        ..SweepArgs::default()
    };
    let whole = tmp("typed-sweep");
    let planned = sweep::plan(&args(None, &whole)).unwrap();
    let executed = planned.execute(2, &no_progress);
    planned.write_runs(&executed.runs).unwrap();
    let unsharded = planned.finish(&executed.runs).unwrap();
    assert!(!unsharded.enforced && !unsharded.gates_fail());
    assert!(
        !unsharded.failing_gates.is_empty(),
        "reported, not enforced"
    );
    let mut shards = Vec::new();
    for k in 1..=2 {
        let dir = tmp(&format!("typed-shard-{k}"));
        let planned = sweep::plan(&args(Some(&format!("{k}/2")), &dir)).unwrap();
        assert_eq!(planned.shard, Some((k, 2)));
        let executed = planned.execute(1, &no_progress);
        planned.write_runs(&executed.runs).unwrap();
        assert_eq!(plan_of(&dir), planned.plan);
        assert_eq!(runs_of(&dir), sealed(&executed.runs, &planned.plan));
        shards.push(dir);
    }
    let merged_dir = tmp("typed-merged");
    let merged = sweep::merge(&shards, Some(merged_dir.clone())).unwrap();
    assert_eq!(merged.runs.len(), merged.expected);
    let outcome = merged.finish().unwrap();
    assert_eq!(
        outcome.report, unsharded.report,
        "merged is the unsharded sweep"
    );
    assert_eq!(outcome.failing_gates, unsharded.failing_gates);
    assert!(outcome.report.complete && outcome.report.knees.len() == 2);
    read_back(&merged_dir, &outcome.report);
    assert_eq!(plan_of(&merged_dir), merged.plan);

    // A file with a misspelt key is not a plan.
    let text = std::fs::read_to_string(merged_dir.join("plan.json")).unwrap();
    let typo = text.replacen("\"policies\"", "\"policys\"", 1);
    assert!(serde_json::from_str::<Plan>(&typo).is_err());
}
