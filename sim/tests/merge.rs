//! `merge` checks what it reads: every record's digest (an edited record is refused, on
//! any line of any shard), every run against the plan (a point, seed or policy the plan does
//! not have is left out and named, a second copy too), and says `complete` only when every
//! planned run is there exactly once.

use std::path::{Path, PathBuf};

use serde_json::Value;
use sim::experiment::sweep::{self, SweepArgs};

fn tmp(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// A sweep of storm-overlap (2 points x 2 policies x 2 seeds) in two shards.
fn shards(name: &str) -> Vec<PathBuf> {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/storm-overlap.toml");
    (1..=2)
        .map(|k| {
            let dir = tmp(&format!("{name}-shard-{k}"));
            let planned = sweep::plan(&SweepArgs {
                file: file.clone(),
                params: vec!["storms[0].rate=50,100".into()],
                policies: vec!["baseline".into(), "full".into()],
                seeds: 2,
                shard: Some(format!("{k}/2")),
                out: Some(dir.clone()),
                kind: "sweep".into(),
                ..SweepArgs::default()
            })
            .unwrap();
            let executed = planned.execute(1, &|_, _| {});
            assert!(executed.broken.is_empty());
            planned.write_runs(&executed.runs).unwrap();
            dir
        })
        .collect()
}

fn lines(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("runs.jsonl"))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn set_lines(dir: &Path, lines: &[String]) {
    std::fs::write(dir.join("runs.jsonl"), lines.join("\n") + "\n").unwrap();
}

fn plan_text(dir: &Path) -> String {
    let plan: sim::experiment::Plan =
        serde_json::from_str(&std::fs::read_to_string(dir.join("plan.json")).unwrap()).unwrap();
    plan.to_text()
}

/// Every numeric leaf under `v`, as a JSON pointer.
fn numbers(v: &Value, at: String, into: &mut Vec<String>) {
    match v {
        Value::Number(_) => into.push(at),
        Value::Object(m) => m
            .iter()
            .for_each(|(k, v)| numbers(v, format!("{at}/{k}"), into)),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, v)| numbers(v, format!("{at}/{i}"), into)),
        _ => {}
    }
}

#[test]
fn every_planned_run_there_once_is_complete() {
    let dirs = shards("merge-whole");
    let merged = sweep::merge(&dirs, Some(tmp("merge-whole-out"))).unwrap();
    assert_eq!((merged.runs.len(), merged.expected), (8, 8));
    assert!(merged.dropped.is_empty(), "{:?}", merged.dropped);
    assert!(merged.finish().unwrap().report.complete);
    // One shard alone: not complete.
    let half = sweep::merge(&dirs[..1], Some(tmp("merge-half-out"))).unwrap();
    assert!(!half.finish().unwrap().report.complete);
}

#[test]
fn an_edited_record_is_refused_on_any_line_in_any_field() {
    let dirs = shards("merge-edited");
    for dir in &dirs {
        let original = lines(dir);
        for (n, line) in original.iter().enumerate() {
            let record: Value = serde_json::from_str(line).unwrap();
            let mut fields = Vec::new();
            numbers(&record["counts"], "/counts".into(), &mut fields);
            assert!(fields.len() > 10, "{fields:?}");
            // A few fields of every record, spread over its counts, and its place in the grid.
            let picks = fields
                .iter()
                .step_by(fields.len() / 5)
                .cloned()
                .chain(["/seed".to_owned(), "/point".to_owned()]);
            for field in picks {
                let mut edited = record.clone();
                let v = edited.pointer_mut(&field).unwrap();
                *v = Value::from(v.as_u64().unwrap_or(0) + 1);
                let mut text = original.clone();
                text[n] = serde_json::to_string(&edited).unwrap();
                set_lines(dir, &text);
                let err = sweep::merge(&dirs, Some(tmp("merge-edited-out"))).unwrap_err();
                assert!(
                    err.contains(&format!("runs.jsonl:{}", n + 1))
                        && err.contains("digest does not match"),
                    "{field} on line {}: {err}",
                    n + 1
                );
            }
            // Without its digest.
            let mut bare = record.clone();
            bare.as_object_mut().unwrap().remove("digest");
            let mut text = original.clone();
            text[n] = serde_json::to_string(&bare).unwrap();
            set_lines(dir, &text);
            let err = sweep::merge(&dirs, Some(tmp("merge-edited-out"))).unwrap_err();
            assert!(err.contains("no digest"), "{err}");
        }
        set_lines(dir, &original);
    }
    assert!(sweep::merge(&dirs, Some(tmp("merge-edited-out"))).is_ok());
}

#[test]
fn a_run_the_plan_does_not_have_or_a_second_copy_is_left_out_and_named() {
    use sim::results::aggregate::RunResult;
    let dirs = shards("merge-offplan");
    let plan = plan_text(&dirs[0]);
    let first = RunResult::parse(&lines(&dirs[0])[0]).unwrap();
    let mut strangers = Vec::new();
    for (what, edit) in [
        (
            "seed",
            Box::new(|r: &mut RunResult| r.seed = 999) as Box<dyn Fn(&mut RunResult)>,
        ),
        (
            "policy",
            Box::new(|r: &mut RunResult| r.policy = "no-lock".into()),
        ),
        ("point", Box::new(|r: &mut RunResult| r.point = 7)),
    ] {
        let mut r = first.clone();
        edit(&mut r);
        // Sealed as a writer of this plan would: its digest holds, its place does not.
        strangers.push((what, serde_json::to_string(&r.sealed(&plan)).unwrap()));
    }
    let original = lines(&dirs[1]);
    let mut text = original.clone();
    text.extend(strangers.iter().map(|(_, l)| l.clone()));
    // And a second copy of a run, in the other shard.
    text.push(lines(&dirs[0])[1].clone());
    set_lines(&dirs[1], &text);
    let out = tmp("merge-offplan-out");
    let merged = sweep::merge(&dirs, Some(out.clone())).unwrap();
    assert_eq!(
        merged.runs.len(),
        merged.expected,
        "every planned run is there"
    );
    assert_eq!(merged.dropped.len(), 4, "{:#?}", merged.dropped);
    for (i, (what, _)) in strangers.iter().enumerate() {
        let d = &merged.dropped[i];
        assert!(
            d.contains(&format!("runs.jsonl:{}", original.len() + i + 1))
                && d.contains("not a run of the plan"),
            "{what}: {d}"
        );
    }
    assert!(
        merged.dropped[3].contains("a second time"),
        "{:?}",
        merged.dropped
    );
    let outcome = merged.finish().unwrap();
    assert!(!outcome.report.complete, "records were left out");
    let report: Value =
        serde_json::from_slice(&std::fs::read(out.join("sweep.json")).unwrap()).unwrap();
    assert_eq!(report["complete"], false);
    assert_eq!(report["dropped"].as_array().unwrap().len(), 4);
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("Left out by the merge (4)"), "{md}");
    // The command says what it left out.
    let cli = std::process::Command::new(env!("CARGO_BIN_EXE_bookingsim"))
        .arg("merge")
        .args(&dirs)
        .arg("--out")
        .arg(tmp("merge-offplan-cli"))
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&cli.stderr);
    assert!(said.matches("warning: left out:").count() == 4, "{said}");
}
