//! A run's result files: published as one set, never two runs mixed, never written through a
//! symlink planted in `--out`. A run is stopped at every step of its writing (each file, the
//! swap into place, the clean-up), and the folder must then hold the previous run whole or
//! the new one whole, with no temporary file or folder left beside it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sim::Scenario;
use sim::results::output::{RunFolder, write_run, write_run_into};
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
