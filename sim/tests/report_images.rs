//! The report images the README shows are the charts the current code draws: one of a run,
//! one of a comparison and one of a sweep, regenerated here and compared byte for byte with
//! `docs/images/` (the charts are deterministic: same seeds, same SVG). After a change to
//! the charts, `BOOKINGSIM_BLESS_IMAGES=1 cargo test -p sim --test report_images` rewrites
//! them; `git diff docs/images` shows what changed.

use std::path::Path;
use std::process::Command;

fn bookingsim(args: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_bookingsim"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "bookingsim {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_readmes_report_images_are_what_the_reports_draw() {
    let tmp = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let scenario = |name: &str| root.join("scenarios").join(name).display().to_string();
    let dir = |name: &str| tmp.path().join(name).display().to_string();
    bookingsim(&[
        "run",
        &scenario("voice-journeys.toml"),
        "--out",
        &dir("run"),
    ]);
    bookingsim(&[
        "compare",
        &scenario("storm-overlap.toml"),
        "--policies",
        "baseline,double-check,full",
        "--out",
        &dir("compare"),
    ]);
    bookingsim(&[
        "sweep",
        &scenario("voice-journeys.toml"),
        "--param",
        "journeys[0].arrivals.rate=0.1,0.4,1,4",
        "--policies",
        "baseline,full",
        "--seeds",
        "1",
        "--knee",
        "p95(start_booking) > 2s",
        "--out",
        &dir("sweep"),
    ]);
    let bless = std::env::var_os("BOOKINGSIM_BLESS_IMAGES").is_some();
    for (report, chart, image) in [
        (
            "run",
            "latency-spectrum.svg",
            "run-voice-journeys-latency.svg",
        ),
        (
            "compare",
            "compare-paired-differences.svg",
            "compare-storm-overlap-paired.svg",
        ),
        (
            "sweep",
            "sweep-booking-p95.svg",
            "sweep-voice-journeys-p95.svg",
        ),
    ] {
        let drawn = std::fs::read_to_string(tmp.path().join(report).join("charts").join(chart))
            .unwrap_or_else(|e| panic!("{report}: {chart}: {e}"));
        let path = root.join("docs/images").join(image);
        if bless {
            std::fs::write(&path, &drawn).unwrap();
            continue;
        }
        let shown = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            shown == drawn,
            "{} is not what the {report} report draws now: rerun with BOOKINGSIM_BLESS_IMAGES=1",
            path.display()
        );
    }
}
