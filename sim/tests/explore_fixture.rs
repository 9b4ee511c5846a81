//! explore's results on a fixed seed range, recorded: whatever makes explore faster
//! (or changes how it runs its worlds) must find the same things in the same worlds, reach
//! the same rare paths as often and meet the same pairs. The fixture is `report.md` of
//! `bookingsim explore --runs 200 --seed 1 --policy full --out out/explore`; a change
//! that means to change what explore finds regenerates it with that command and says why.

use std::path::Path;
use std::time::Duration;

use sim::explore::around::Worlds;
use sim::explore::search::{self, Ended, Ran, Search};

#[test]
fn seeds_1_to_200_under_full_report_what_was_recorded() {
    let search = Search {
        paths: Vec::new(),
        sets: Vec::new(),
        runs: 200,
        time: None,
        seed: 1,
        policy: "full".into(),
        jobs: 2,
        out: "out/explore".into(),
        draw: Default::default(),
        shard: None,
    };
    let worlds = Worlds::generated();
    let exploration = search::explore(&worlds, 1, 200, "full", 2, &|_, _| {});
    let ran = Ran {
        runs: 200,
        jobs: 2,
        elapsed: Duration::ZERO,
        exploration,
        ended: Ended::Runs,
    };
    // Without shrinking: the report names each kind's file as the search writes it.
    let report = search::record(&search, &worlds, &ran, &[]).report(Path::new("out/explore"));
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/explore-full-seeds-1-200.md");
    let expected = std::fs::read_to_string(&fixture).unwrap();
    assert!(expected.contains("200 worlds (seeds 1 to 200) under `full`"));
    assert_eq!(report, expected, "{}", fixture.display());
}
