//! One run of the ping-pong anchor or of a catalogue scenario, for counting its instructions
//! under callgrind (`benches/instructions.sh`): instruction counts do not drift with the
//! machine's load as wall times do.
//!
//! `instructions pingpong` makes 10 000 exchanges (enough that setting up the simulation is
//! lost in them); `instructions NAME` runs the scenario once (`sim::run`); both print their
//! HTTP exchanges. `instructions explore` runs explore's first 20 generated worlds under
//! `full` on one thread (`sim::explore::search::explore`, the covering array built before)
//! and prints `worlds 20`.

use std::time::Duration;

const EXCHANGES: usize = 10_000;

fn main() -> std::process::ExitCode {
    let Some(what) = std::env::args().nth(1) else {
        eprintln!("usage: instructions pingpong | instructions SCENARIO");
        return std::process::ExitCode::from(2);
    };
    if what == "explore" {
        let worlds = sim::explore::around::Worlds::generated();
        // The covering array pairwise drawing reads is built once per process (about
        // 340 million instructions, three worlds), before the count: a world's own cost.
        sim::explore::features::rows();
        let found = sim::explore::search::explore(&worlds, 1, 20, "full", 1, &|_, _| {});
        assert!(found.broken.is_empty(), "{:?}", found.broken);
        println!("worlds 20");
    } else if what == "pingpong" {
        bookingsim_benches::pingpong(
            EXCHANGES,
            Duration::from_millis(10),
            (Duration::from_millis(20), Duration::from_millis(60)),
        );
        println!("exchanges {EXCHANGES}");
    } else {
        let s = bookingsim_benches::scenario(&what);
        let policy = s.policy.preset.clone();
        let (_, record) = sim::run(&s, s.seed, &policy).expect("runs");
        println!("exchanges {}", bookingsim_benches::exchanges(&record));
    }
    std::process::ExitCode::SUCCESS
}
