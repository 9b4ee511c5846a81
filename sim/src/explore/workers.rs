//! What explore draws of the engine's workers and the hosts' clocks (`[engine]`,
//! `[clocks]`), from a stream of its own (`explore-workers`) so that every other draw of a
//! world stays as it was.

use std::fmt::Write as _;

use rand::Rng;
use simkit::SeedStreams;
use simkit::seed::StreamRng;

/// A clock's skew as a table: an offset (often none, sometimes small, sometimes minutes) and
/// now and then a drift.
fn skew(rng: &mut StreamRng) -> String {
    let offset: i64 = [0, 0, 300, 2_000, 20_000, 90_000, 600_000][rng.random_range(0..7)];
    let offset = if rng.random_bool(0.5) {
        -offset
    } else {
        offset
    };
    let drift: i64 = [0, 0, 0, 50, 500][rng.random_range(0..5)];
    let drift = if rng.random_bool(0.5) { -drift } else { drift };
    format!("{{ offset_ms = {offset}, drift_ppm = {drift}.0 }}")
}

/// `[engine]` and `[clocks]` tables for the world of `seed` (empty for most worlds: one
/// worker, true clocks, as before).
pub fn draw(seed: u64, plan: &mut super::features::Plan) -> String {
    let mut rng = SeedStreams::new(seed).stream("explore-workers");
    let mut s = String::new();
    if plan.on("engine_workers", rng.random_bool(0.4)) {
        let workers: u32 = rng.random_range(2..=4);
        let balancer = ["round_robin", "random"][rng.random_range(0..2)];
        let _ = writeln!(
            s,
            "[engine]\nworkers = {workers}\nbalancer = \"{balancer}\"\n"
        );
        if rng.random_bool(0.4) {
            let worker = rng.random_range(0..workers);
            let at = rng.random_range(2..40);
            let down = [3, 10, 30, 90][rng.random_range(0..4)];
            let _ = writeln!(
                s,
                "[[engine.faults]]\nkind = \"worker_crash\"\nworker = {worker}\nat = \"{at}s\"\nrestart_after = \"{down}s\"\n"
            );
        }
        if rng.random_bool(0.4) {
            let worker = rng.random_range(0..workers);
            let at = rng.random_range(2..40);
            let pause = [500, 2_000, 8_000, 35_000][rng.random_range(0..4)];
            let _ = writeln!(
                s,
                "[[engine.faults]]\nkind = \"worker_stall\"\nworker = {worker}\nat = \"{at}s\"\nduration = \"{pause}ms\"\n"
            );
        }
    }
    if plan.on("clock_skew", rng.random_bool(0.35)) {
        let mut clocks = String::from("[clocks]\n");
        let workers = rng.random_range(1..=3);
        let engine: Vec<String> = (0..workers).map(|_| skew(&mut rng)).collect();
        let _ = writeln!(clocks, "engine = [{}]", engine.join(", "));
        if rng.random_bool(0.5) {
            let _ = writeln!(clocks, "calcom = {}", skew(&mut rng));
        }
        if rng.random_bool(0.3) {
            let _ = writeln!(clocks, "retell = {}", skew(&mut rng));
        }
        s.push_str(&clocks);
        s.push('\n');
    }
    s
}
