//! Shards of one explore search (`--shard K/N`) merged (`bookingsim merge`) equal the whole
//! search byte for byte: report, record and shrunk files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sim::explore::Search;
use sim::explore::generate::Draw;
use sim::explore::merge::merge;

fn search(out: &Path, shard: Option<(u64, u64)>) -> Search {
    Search {
        paths: Vec::new(),
        sets: Vec::new(),
        runs: 6,
        time: None,
        seed: 1,
        policy: "no-lock".into(),
        jobs: 2,
        out: out.to_path_buf(),
        draw: Draw::Pairwise,
        shard,
    }
}

fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for sub in ["", "failures"] {
        for e in std::fs::read_dir(dir.join(sub)).unwrap() {
            let path = e.unwrap().path();
            if path.is_file() {
                let name = path.strip_prefix(dir).unwrap().display().to_string();
                out.insert(name, std::fs::read(&path).unwrap());
            }
        }
    }
    out
}

/// Seeds 1 to 6 under no-lock (seed 6 shows an orphan) searched whole, and as 3 and as
/// 4 shards merged: the same report, record and shrunk files, byte for byte. A shard
/// of another search, or one shard twice, is refused.
#[test]
fn shards_merged_are_the_whole_search_byte_for_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let merged = tmp.path().join("merged");
    let whole = search(&merged, None).run(&|_, _| {}, &mut |_| {}).unwrap();
    assert!(!whole.clean(), "seed 6 shows an orphan under no-lock");
    let single = tmp.path().join("single");
    std::fs::rename(&merged, &single).unwrap();
    let expected = files(&single);
    assert!(
        expected.keys().any(|k| k.starts_with("failures")),
        "{:?}",
        expected.keys()
    );
    for n in [3u64, 4] {
        let shards: Vec<PathBuf> = (1..=n)
            .map(|k| {
                let dir = tmp.path().join(format!("shard-{k}-of-{n}"));
                search(&dir, Some((k, n)))
                    .run(&|_, _| {}, &mut |_| {})
                    .unwrap();
                dir
            })
            .collect();
        let shard = std::fs::read_to_string(shards[1].join("report.md")).unwrap();
        assert!(
            shard.contains("2 worlds (of the search from seed 1: 2 from seed 2 every"),
            "{shard}"
        );
        // Any order of the folders.
        let mut reversed = shards.clone();
        reversed.reverse();
        let _ = std::fs::remove_dir_all(&merged);
        let done = merge(&reversed, &merged).unwrap();
        assert_eq!(done.shards, n as usize);
        assert_eq!(files(&merged), expected, "{n} shards");
        assert_eq!(done.report, whole.report);
        let twice = [shards[0].clone(), shards[0].clone()];
        let e = merge(&twice, &tmp.path().join("twice")).unwrap_err();
        assert!(e.contains("overlap"), "{e}");
    }
    let other = tmp.path().join("other");
    Search {
        policy: "full".into(),
        ..search(&other, Some((2, 3)))
    }
    .run(&|_, _| {}, &mut |_| {})
    .unwrap();
    let e = merge(
        &[tmp.path().join("shard-1-of-3"), other],
        &tmp.path().join("mixed"),
    )
    .unwrap_err();
    assert!(
        e.contains("another search") && e.contains("the policy"),
        "{e}"
    );
}
