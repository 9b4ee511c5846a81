//! The HTML reports as a person sees them: a run's, a comparison's and a sweep's report.html
//! opened in headless Chromium, where every chart must have plotted data (a line with points
//! that is not flattened onto an axis). Skipped, saying so, where no Chromium is installed
//! (`.ci/run` installs Debian's; set `BOOKINGSIM_CHROMIUM` to use another).

use std::path::{Path, PathBuf};
use std::process::Command;

fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("BOOKINGSIM_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    [
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        "/usr/bin/google-chrome",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
}

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

/// Measures every chart in the browser: for each figure, its data marks (coloured polylines,
/// axes and ticks being black, and coloured bars) with their point counts and rendered sizes.
const PROBE: &str = r#"<script>
window.addEventListener('load', () => {
  const charts = [...document.querySelectorAll('figure svg')].map(svg => {
    const lines = [...svg.querySelectorAll('polyline')]
      .filter(p => (p.getAttribute('stroke') || '').toUpperCase() !== '#000000')
      .map(p => ({ points: p.points.length, height: p.getBBox().height, width: p.getBBox().width }));
    // Bars: coloured rectangles (the background is white).
    const bars = [...svg.querySelectorAll('rect')]
      .filter(r => !['#FFFFFF', 'NONE'].includes((r.getAttribute('fill') || 'none').toUpperCase()))
      .map(r => ({ points: 4, height: r.getBBox().height, width: r.getBBox().width }));
    const title = (svg.querySelector('text') || {}).textContent || '';
    const box = svg.getBoundingClientRect();
    return { title, width: box.width, height: box.height, lines: lines.concat(bars) };
  });
  document.body.setAttribute('data-charts', JSON.stringify(charts));
});
</script>"#;

fn charts_in(browser: &Path, report: &Path) -> serde_json::Value {
    let html = std::fs::read_to_string(report).unwrap();
    let probe = report.with_file_name("probe.html");
    std::fs::write(&probe, html.replace("</body>", &format!("{PROBE}</body>"))).unwrap();
    let profile = report.with_file_name("chromium-profile");
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=2000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", probe.display()))
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&out.stdout);
    let start = dom.find("data-charts=\"").unwrap_or_else(|| {
        panic!(
            "Chromium rendered no probe result: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    }) + "data-charts=\"".len();
    let end = start + dom[start..].find('"').unwrap();
    let json = dom[start..end]
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">");
    serde_json::from_str(&json).unwrap()
}

#[test]
fn every_chart_of_every_report_has_plotted_data_in_a_real_browser() {
    let Some(browser) = chromium() else {
        eprintln!(
            "skipped: no Chromium found (.ci/run installs Debian's `chromium`; or set BOOKINGSIM_CHROMIUM)"
        );
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let scenarios = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let dir = |name: &str| root.join(name).display().to_string();
    let journeys = scenarios.join("voice-journeys.toml").display().to_string();
    let gap = scenarios.join("voice-gap.toml").display().to_string();
    bookingsim(&["run", &journeys, "--out", &dir("run")]);
    bookingsim(&[
        "compare",
        &gap,
        "--policies",
        "baseline,full",
        "--seeds",
        "2",
        "--out",
        &dir("compare"),
    ]);
    bookingsim(&[
        "sweep",
        &gap,
        "--param",
        "journeys[0].conversation.gap=0s..40s:20s",
        "--seeds",
        "2",
        "--out",
        &dir("sweep"),
    ]);
    for report in ["run", "compare", "sweep"] {
        let charts = charts_in(&browser, &root.join(report).join("report.html"));
        let charts = charts.as_array().unwrap();
        assert!(!charts.is_empty(), "{report}: no chart");
        for chart in charts {
            let lines = chart["lines"].as_array().unwrap();
            assert!(
                chart["width"].as_f64().unwrap() > 100.0,
                "{report}: {chart}"
            );
            assert!(!lines.is_empty(), "{report}: a chart without data: {chart}");
            assert!(
                lines.iter().all(|l| l["points"].as_u64().unwrap() >= 1),
                "{report}: an empty line: {chart}"
            );
            // A percentile spectrum rises: each operation's line spans a fair part of the
            // plot (on a linear axis a 60-s call flattened checks and bookings onto zero).
            if chart["title"].as_str().unwrap().contains("percentile") {
                let h = chart["height"].as_f64().unwrap();
                // (Two-point lines are the legend's swatches.)
                assert!(
                    lines
                        .iter()
                        .filter(|l| l["points"].as_u64().unwrap() > 2)
                        .all(|l| l["height"].as_f64().unwrap() > 0.04 * h),
                    "{report}: a flattened percentile line: {chart}"
                );
            }
            // Something is drawn across the plot, not flattened onto an axis.
            assert!(
                lines
                    .iter()
                    .any(|l| l["height"].as_f64().unwrap() > 2.0
                        || l["width"].as_f64().unwrap() > 2.0),
                "{report}: every line is a dot: {chart}"
            );
        }
    }
}
