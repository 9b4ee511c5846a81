//! Result folders (a run's, a comparison's, a sweep's and its shards', an exploration's and
//! a merged one's): published as one set, never two results mixed, never written through a
//! symlink planted in `--out`. Each is stopped at every step of its writing (each file, the
//! swap into place, the clean-up), and the folder must then hold the previous result whole
//! or the new one whole, with no temporary file or folder left beside it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sim::Scenario;
use sim::results::output::{RunFolder, fail_next_folder_at, write_run, write_run_into};
use sim::world::record::RunRecord;

fn scenario(name: &str) -> Scenario {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../scenarios/{name}.toml"));
    Scenario::parse(&std::fs::read_to_string(file).unwrap(), name).unwrap()
}

fn ran(scenario: &Scenario, seed: u64) -> (sim::Summary, RunRecord) {
    sim::run(scenario, seed, &scenario.policy.preset.clone()).unwrap()
}

/// Every entry under `dir` (relative path: its bytes, or `->target` for a symlink).
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, into: &mut BTreeMap<PathBuf, Vec<u8>>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries {
            let path = e.unwrap().path();
            let rel = path.strip_prefix(root).unwrap().to_owned();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&path).unwrap();
                into.insert(rel, format!("->{}", target.display()).into_bytes());
            } else if meta.is_dir() {
                into.insert(rel, b"/".to_vec());
                walk(root, &path, into);
            } else {
                into.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    let mut files = BTreeMap::new();
    walk(dir, dir, &mut files);
    files
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn a_run_stopped_at_any_write_leaves_the_previous_run_or_the_new_one_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("results");
    for name in ["lone-caller", "incident-741"] {
        let scenario = scenario(name);
        let (first, first_record) = ran(&scenario, 1);
        let (second, second_record) = ran(&scenario, 2);
        write_run(&out, &scenario, &first, &first_record).unwrap();
        let previous = snapshot(&out);
        assert!(previous.contains_key(Path::new("summary.json")));
        // The new run, written whole somewhere else: what a published run must be.
        let elsewhere = tmp.path().join("elsewhere");
        write_run(&elsewhere, &scenario, &second, &second_record).unwrap();
        let new = snapshot(&elsewhere);
        assert_ne!(previous, new, "two seeds, two runs");
        let mut stopped = 0;
        for k in 1.. {
            assert!(k < 1000, "a run never finished");
            let folder = RunFolder::begin(&out).unwrap().failing_at(k);
            let result = write_run_into(folder, &scenario, &second, &second_record);
            let now = snapshot(&out);
            assert!(
                now == previous || now == new,
                "{name}: stopped at step {k}, the folder mixes two runs: {:?}",
                now.keys().collect::<Vec<_>>()
            );
            assert_eq!(
                names(tmp.path()),
                ["elsewhere", "results"],
                "{name}: stopped at step {k}, temporary files left"
            );
            if result.is_ok() {
                assert_eq!(now, new, "{name}: a finished run is the new run");
                break;
            }
            stopped += 1;
            // Every step but the last clean-up leaves the previous run in place.
            if now == new {
                assert!(
                    write_run_into(
                        RunFolder::begin(&out).unwrap().failing_at(k + 1),
                        &scenario,
                        &second,
                        &second_record
                    )
                    .is_ok(),
                    "{name}: only the step after the swap may fail with the new run in place"
                );
                break;
            }
        }
        // History, hlog, charts, reports and summary: every one was a step that stopped.
        assert!(stopped >= 6, "{name}: only {stopped} steps");
        std::fs::remove_dir_all(&elsewhere).unwrap();
    }
}

#[cfg(unix)]
#[test]
fn symlinks_planted_in_the_output_folder_never_change_a_file_outside_it() {
    let tmp = tempfile::tempdir().unwrap();
    let outside = tmp.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("precious.txt"), "keep me\n").unwrap();
    let before = snapshot(&outside);
    let out = tmp.path().join("results");
    std::fs::create_dir(&out).unwrap();
    let scenario = scenario("lone-caller");
    let (summary, record) = ran(&scenario, 1);
    // Symlinks at the names a run writes: every file of the run, its charts folder, and the
    // temporary names the old writer used.
    let plant = |dir: &Path| {
        let link = |name: &str, target: &Path| {
            std::os::unix::fs::symlink(target, dir.join(name)).unwrap();
        };
        link("charts", &outside);
        for name in ["summary.json", "history.jsonl", "report.md", "latency.hlog"] {
            link(name, &outside.join("precious.txt"));
        }
    };
    plant(&out);
    for name in ["summary.json", "history.jsonl", "report.md"] {
        std::os::unix::fs::symlink(
            outside.join("precious.txt"),
            tmp.path().join(format!(".{name}.tmp")),
        )
        .unwrap();
    }
    write_run(&out, &scenario, &summary, &record).unwrap();
    assert_eq!(snapshot(&outside), before, "a file outside --out changed");
    let now = snapshot(&out);
    assert!(
        now.values().all(|bytes| !bytes.starts_with(b"->")),
        "a symlink stayed in the run's folder"
    );
    let written = std::fs::read_to_string(out.join("summary.json")).unwrap();
    assert!(written.contains("\"digest\""), "{written}");
    assert!(
        std::fs::symlink_metadata(out.join("charts"))
            .unwrap()
            .is_dir()
    );
}

#[test]
fn a_folder_that_is_not_a_runs_is_never_replaced() {
    let tmp = tempfile::tempdir().unwrap();
    let scenario = scenario("lone-caller");
    let (summary, record) = ran(&scenario, 1);
    let out = tmp.path().join("mine");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("notes.txt"), "mine\n").unwrap();
    let err = write_run(&out, &scenario, &summary, &record).unwrap_err();
    assert!(
        err.contains("notes.txt") && err.contains("not a run's file"),
        "{err}"
    );
    assert_eq!(names(&out), ["notes.txt"]);
    for bad in [".", "/", ".."] {
        let err = write_run(Path::new(bad), &scenario, &summary, &record).unwrap_err();
        assert!(
            err.contains("must name a folder of its own"),
            "{bad}: {err}"
        );
    }
    let file = tmp.path().join("file");
    std::fs::write(&file, "x").unwrap();
    let err = write_run(&file, &scenario, &summary, &record).unwrap_err();
    assert!(err.contains("not a folder"), "{err}");
}

#[test]
fn a_killed_writers_temporary_folder_is_swept_by_the_next_run() {
    let tmp = tempfile::tempdir().unwrap();
    let scenario = scenario("lone-caller");
    let (summary, record) = ran(&scenario, 1);
    let out = tmp.path().join("results");
    // A process id above Linux's largest: that writer is gone.
    let stale = tmp
        .path()
        .join(format!(".results.999999999-{}.tmp", "ab".repeat(12)));
    std::fs::create_dir(&stale).unwrap();
    std::fs::write(stale.join("history.jsonl"), "half").unwrap();
    // Another folder's, or a live writer's (this process), are not this run's to remove.
    let other = tmp
        .path()
        .join(format!(".other.999999999-{}.tmp", "ab".repeat(12)));
    let live = tmp.path().join(format!(
        ".results.{}-{}.tmp",
        std::process::id(),
        "cd".repeat(12)
    ));
    std::fs::create_dir(&other).unwrap();
    std::fs::create_dir(&live).unwrap();
    write_run(&out, &scenario, &summary, &record).unwrap();
    let left = names(tmp.path());
    if cfg!(target_os = "linux") {
        assert!(!stale.exists(), "{left:?}");
    }
    assert!(other.exists() && live.exists(), "{left:?}");
}

/// Stops `write` (which publishes one folder at `out`) at every step, from the first on,
/// until it finishes: `out` must hold `previous` (what it held before) or `new` whole, and
/// nothing may be left beside it. Returns how many steps were stopped.
fn stopped_at_every_step(
    what: &str,
    out: &Path,
    previous: &BTreeMap<PathBuf, Vec<u8>>,
    new: &BTreeMap<PathBuf, Vec<u8>>,
    write: &dyn Fn() -> Result<(), String>,
) -> usize {
    assert_ne!(previous, new, "{what}: two different results");
    assert_eq!(&snapshot(out), previous, "{what}");
    let beside = names(out.parent().unwrap());
    let mut stopped = 0;
    for k in 1.. {
        assert!(k < 1000, "{what}: never finished");
        fail_next_folder_at(k);
        let result = write();
        let now = snapshot(out);
        assert!(
            now == *previous || now == *new,
            "{what}: stopped at step {k}, the folder mixes two results: {:?}",
            now.keys().collect::<Vec<_>>()
        );
        assert_eq!(
            names(out.parent().unwrap()),
            beside,
            "{what}: stopped at step {k}, temporary files left"
        );
        if result.is_ok() {
            assert_eq!(now, *new, "{what}: a finished write is the new result");
            break;
        }
        let e = result.unwrap_err();
        assert!(e.contains("failure injected"), "{what}: step {k}: {e}");
        stopped += 1;
        if now == *new {
            // Only the clean-up after the swap may fail with the new result in place.
            fail_next_folder_at(k + 1);
            assert!(write().is_ok(), "{what}: step {k}");
            break;
        }
    }
    stopped
}

/// Writes with `first`, then with `second`, into `out`: the snapshots of each (the second
/// in place), then `first` again, so that `out` holds the first.
fn both(
    out: &Path,
    first: &dyn Fn() -> Result<(), String>,
    second: &dyn Fn() -> Result<(), String>,
) -> (BTreeMap<PathBuf, Vec<u8>>, BTreeMap<PathBuf, Vec<u8>>) {
    second().unwrap();
    let new = snapshot(out);
    first().unwrap();
    (snapshot(out), new)
}

#[test]
fn a_comparison_a_sweep_and_a_shard_stopped_at_any_write_leave_one_result_whole() {
    use sim::experiment::sweep::{self, SweepArgs};
    let tmp = tempfile::tempdir().unwrap();
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/lone-caller.toml");
    let out = tmp.path().join("compared");
    let args = |params: &[&str], seeds: u64, shard: Option<&str>| SweepArgs {
        file: file.clone(),
        params: params.iter().map(|p| (*p).to_owned()).collect(),
        policies: vec!["baseline".into(), "full".into()],
        seeds,
        shard: shard.map(str::to_owned),
        out: Some(out.clone()),
        kind: if params.is_empty() {
            "compare"
        } else {
            "sweep"
        }
        .into(),
        ..SweepArgs::default()
    };
    // Each plan runs once; what is stopped and repeated is its writing.
    let executed = |params: &[&str], seeds: u64, shard: Option<&str>| {
        let planned = sweep::plan(&args(params, seeds, shard)).unwrap();
        let runs = planned.execute(1, &|_, _| {}).runs;
        (planned, runs)
    };
    let (one, two, swept, sharded) = (
        executed(&[], 1, None),
        executed(&[], 2, None),
        executed(&["duration=1m,2m"], 1, None),
        executed(&[], 2, Some("1/2")),
    );
    let finish = |(planned, runs): &(sweep::Planned, Vec<_>)| planned.finish(runs).map(drop);
    let shard = || sharded.0.write_runs(&sharded.1);
    // A comparison replacing another (one seed, then two).
    let (previous, new) = both(&out, &|| finish(&one), &|| finish(&two));
    for f in [
        "plan.json",
        "runs.jsonl",
        "sweep.json",
        "points.csv",
        "report.html",
    ] {
        assert!(new.contains_key(Path::new(f)), "{f}: {:?}", new.keys());
    }
    let stopped = stopped_at_every_step("compare", &out, &previous, &new, &|| finish(&two));
    // plan, runs, charts, the reports, points, sweep.json: every one a step that stopped.
    assert!(stopped >= 7, "compare: only {stopped} steps");
    // A sweep replacing a comparison, and a shard replacing a sweep.
    let (compared, after) = both(&out, &|| finish(&two), &|| finish(&swept));
    let stopped = stopped_at_every_step("sweep", &out, &compared, &after, &|| finish(&swept));
    assert!(stopped >= 7, "sweep: only {stopped} steps");
    let (after, shard_files) = both(&out, &|| finish(&swept), &shard);
    assert_eq!(
        shard_files.keys().collect::<Vec<_>>(),
        [Path::new("plan.json"), Path::new("runs.jsonl")]
    );
    let stopped = stopped_at_every_step("shard", &out, &after, &shard_files, &shard);
    assert!(stopped >= 2, "shard: only {stopped} steps");
}

#[test]
fn an_exploration_and_a_merged_one_stopped_at_any_write_leave_one_result_whole() {
    use sim::explore::Search;
    use sim::explore::generate::Draw;
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("explored");
    let search = |out: &Path, runs: u64, shard: Option<(u64, u64)>| Search {
        paths: Vec::new(),
        sets: Vec::new(),
        runs,
        time: None,
        seed: 1,
        policy: "no-lock".into(),
        jobs: 1,
        out: out.to_path_buf(),
        draw: Draw::Pairwise,
        shard,
    };
    let explore = |runs: u64| {
        search(&out, runs, None)
            .run(&|_, _| {}, &mut |_| {})
            .map(drop)
            .map_err(|e| e.to_string())
    };
    // Seeds 1 to 5 under no-lock find nothing; seed 6 shows an orphan, shrunk to a file.
    let (previous, new) = both(&out, &|| explore(5), &|| explore(6));
    assert!(
        new.keys().any(|k| k.starts_with("failures"))
            && previous.contains_key(Path::new("explore.json")),
        "{:?}",
        new.keys()
    );
    let stopped = stopped_at_every_step("explore", &out, &previous, &new, &|| explore(6));
    // The shrunk file, the record, the report.
    assert!(stopped >= 3, "explore: only {stopped} steps");
    // Two shards merged into the folder.
    let shards: Vec<PathBuf> = (1..=2)
        .map(|k| {
            let dir = tmp.path().join(format!("shard-{k}"));
            search(&dir, 6, Some((k, 2)))
                .run(&|_, _| {}, &mut |_| {})
                .unwrap();
            dir
        })
        .collect();
    let merge = || sim::explore::merge::merge(&shards, &out).map(drop);
    let (explored, merged) = both(&out, &|| explore(5), &merge);
    stopped_at_every_step("explore merge", &out, &explored, &merged, &merge);
}
