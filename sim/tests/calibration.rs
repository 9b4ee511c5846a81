//! Calibration: `scenarios/calibration.toml` is `bookingsim calibrate`'s output against the
//! seeds' end-to-end table (`scenarios/targets/calibration.toml`) and holds all of it; the
//! fit meets other plausible targets or names what it cannot meet and why; raw durations
//! drawn from known distributions are recovered; a bad target is refused with its file, line
//! and field. Incident #741's own durations are held on `scenarios/incident-741.toml`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rand::SeedableRng as _;
use sim::Scenario;
use sim::calibrate::{Figure, Options, Target, calibrate, measure};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap()
}

fn within(name: &str, value: f64, target: f64, band: f64) {
    let ratio = value / target;
    assert!(
        (1.0 - band..=1.0 + band).contains(&ratio),
        "{name}: {value:.3} against {target} ({:+.0} %, band ±{:.0} %)",
        (ratio - 1.0) * 100.0,
        band * 100.0
    );
}

/// The calibration scenario, shortened (for the searches below, which run it many times).
fn short_calibration(duration: &str) -> String {
    sim::scenario::with_sets_text(
        &read("scenarios/calibration.toml"),
        "calibration.toml",
        &[format!("duration=\"{duration}\"")],
    )
    .unwrap()
}

fn options(seeds: u64) -> Options {
    Options {
        seeds,
        jobs: 2,
        progress: false,
    }
}

#[test]
fn the_calibrated_world_holds_the_seeds_end_to_end_table() {
    // The six tails and the hit rate, on the seeds calibrate fitted on (its default: the
    // scenario's seed and the three after it).
    let scenario = Scenario::load(&root().join("scenarios/calibration.toml")).unwrap();
    let target = Target::parse(
        &read("scenarios/targets/calibration.toml"),
        "targets/calibration.toml",
    )
    .unwrap();
    assert_eq!(target.figures.len(), 7, "six tails and the hit rate");
    let seeds: Vec<u64> = (0..4).map(|i| scenario.seed + i).collect();
    let values = measure(&scenario, &target, &seeds, 2).unwrap();
    for (f, v) in target.figures.iter().zip(&values) {
        within(&f.label(), *v, f.value(), 0.15);
    }
    // And on seeds it was not fitted on, the medians and the hit rate still hold.
    let other: Vec<u64> = (100..102).map(|i| scenario.seed + i).collect();
    let values = measure(&scenario, &target, &other, 2).unwrap();
    for (f, v) in target.figures.iter().zip(&values) {
        if f.label().ends_with("p50") || f.label() == "cache_hit" {
            within(&format!("{} (other seeds)", f.label()), *v, f.value(), 0.15);
        }
    }
}

#[test]
fn a_faster_calcom_with_a_longer_tail_is_met() {
    // A team whose Cal.com lists slots faster than the seeds' (p50 300 ms) but books more
    // slowly, with a long tail.
    let target = Target::parse(
        r#"
[latency."calcom.slots"]
p50 = "300ms"
p90 = "700ms"
[latency.start_booking]
p50 = "1.3s"
p95 = "2.4s"
"#,
        "faster.toml",
    )
    .unwrap();
    let text = short_calibration("1h");
    let fit = calibrate(&text, "calibration.toml", &target, &options(1)).unwrap();
    assert!(fit.pass(), "{}\n{:?}", fit.table(), fit.misses());
    assert!(
        fit.evaluations > 1,
        "the seeds' world does not meet it as it is"
    );
    // The calibrated scenario is a scenario, and carries the fit in its comments.
    let calibrated = fit.calibrated(&text, &target);
    let again = Scenario::parse(&calibrated, "calibrated.toml").unwrap();
    let slots = again.calcom.latency.slots.as_ref().unwrap();
    assert!(
        slots.quantile(0.5) < Duration::from_millis(400),
        "{slots:?}"
    );
    assert!(
        calibrated.contains("# --- bookingsim calibrate"),
        "{calibrated}"
    );
    assert!(calibrated.contains("calcom.slots p50"), "{calibrated}");
}

#[test]
fn a_median_below_the_applications_own_time_is_named_with_why() {
    // The calibration world spends ~600 ms in the application on every call: a check median
    // of 300 ms cannot be met by any Cal.com.
    let target = Target::parse(
        "[latency.check_availability]\np50 = \"300ms\"\n",
        "impossible.toml",
    )
    .unwrap();
    let fit = calibrate(
        &short_calibration("30m"),
        "calibration.toml",
        &target,
        &options(1),
    )
    .unwrap();
    assert!(!fit.pass());
    let misses = fit.misses();
    assert_eq!(misses.len(), 1, "{misses:?}");
    assert!(
        misses[0].starts_with("check_availability p50 stays outside ±15 %")
            && misses[0].contains("closest reached")
            && misses[0].contains("even with Cal.com answering in 1 ms"),
        "{}",
        misses[0]
    );
}

#[test]
fn durations_drawn_from_known_distributions_are_recovered() {
    // Production logs of a Cal.com slower than the seeds' at the median, faster in the tail.
    let slots = simkit::Distribution::percentiles(
        Duration::from_millis(700),
        Duration::from_millis(1100),
        Duration::from_millis(1500),
    );
    let create = simkit::Distribution::percentiles(
        Duration::from_millis(600),
        Duration::from_millis(900),
        Duration::from_millis(1300),
    );
    let mut rng = rand::rngs::StdRng::seed_from_u64(27);
    let mut lines = String::new();
    for _ in 0..10_000 {
        for (name, d) in [("calcom.slots", &slots), ("calcom.create_booking", &create)] {
            let ms = d.sample(&mut rng).as_millis();
            lines.push_str(&format!("{{\"name\": \"{name}\", \"ms\": {ms}}}\n"));
        }
    }
    let target = Target::from_durations(&lines, "durations.jsonl").unwrap();
    // The file's percentiles are the distributions' (10 000 draws each).
    for f in &target.figures {
        let Figure::Latency { name, q, ms, .. } = f else {
            panic!("{f:?}")
        };
        let d = if name == "calcom.slots" {
            &slots
        } else {
            &create
        };
        within(
            &format!("{} in the file", f.label()),
            *ms,
            d.quantile(*q).as_secs_f64() * 1000.0,
            0.05,
        );
    }
    let fit = calibrate(
        &short_calibration("1h"),
        "calibration.toml",
        &target,
        &options(1),
    )
    .unwrap();
    assert!(fit.pass(), "{}\n{:?}", fit.table(), fit.misses());
    for row in &fit.rows {
        within(&row.figure.label(), row.simulated, row.figure.value(), 0.15);
    }
}

#[test]
fn a_bad_target_names_file_line_and_field() {
    let bad = |text: &str| Target::parse(text, "t.toml").unwrap_err();
    let e = bad("[latency.check_availability]\np50 = \"1s\"\np60 = \"2s\"\n");
    assert!(
        e.starts_with("t.toml: ") && e.contains("line 3") && e.contains("unknown field `p60`"),
        "{e}"
    );
    let e = bad("[latency.check_availability]\np50 = \"2s\"\np95 = \"1s\"\n");
    assert!(
        e.starts_with("t.toml:1: ")
            && e.contains("latency.\"check_availability\".p95")
            && e.contains("must not decrease"),
        "{e}"
    );
    let e = bad("[latency.check_avail]\np50 = \"1s\"\n");
    assert!(
        e.contains("unknown latency name") && e.contains("check_availability, start_booking"),
        "{e}"
    );
    let e = bad("tolerance = 2\n[rates]\ncache_hit = 0.5\n");
    assert!(e.starts_with("t.toml:1: tolerance"), "{e}");
    let e = bad("[rates]\ncache_hit = 1.5\n");
    assert!(e.starts_with("t.toml:2: rates.cache_hit"), "{e}");
    let e = bad("[latency.start_booking]\np50 = \"soon\"\n");
    assert!(e.contains("line 2") && e.contains("p50"), "{e}");
    let e = bad("tolerance = 0.1\n");
    assert!(e.contains("no figure to fit"), "{e}");
    let e = Target::from_durations(
        "{\"name\": \"start_booking\", \"ms\": 5}\n{\"ms\": 3}\n",
        "d.jsonl",
    )
    .unwrap_err();
    assert!(e.starts_with("d.jsonl:2: ") && e.contains("name"), "{e}");
    let e = Target::from_durations("{\"name\": \"booking\", \"ms\": 5}\n", "d.jsonl").unwrap_err();
    assert!(
        e.starts_with("d.jsonl:1: ") && e.contains("unknown latency name"),
        "{e}"
    );
}

#[test]
fn incident_741_takes_the_seeds_check_and_booking_durations() {
    // Seed 000's timeline: the check took 1.349 s, start_booking 1.662 s.
    let path = root().join("scenarios/incident-741.toml");
    let scenario = Scenario::load(&path).unwrap();
    let summary = sim::run(&scenario, scenario.seed, "baseline").unwrap().0;
    let took = |op: &str| summary.latency_ms[op].max as f64 / 1000.0;
    within("#741 check (s)", took("check_availability"), 1.349, 0.15);
    within("#741 start_booking (s)", took("start_booking"), 1.662, 0.15);
}
