//! The HTML reports as a person sees them: the reports of runs, a comparison and a sweep of
//! the catalogue opened in headless Chromium at 1400 px, where every chart keeps the
//! promises of `reports::charts` (issue #26):
//! - every data mark lies inside its plot area (not on the frame) and below the top labelled
//!   tick; every chart has data;
//! - no legend box meets a data mark;
//! - no text is cut off by its chart's edge, and no two labels of a chart overlap;
//! - no table is wider than the 1400-px window, nor the page.
//!
//! A chart broken on purpose (a point above the top tick or on the frame, a legend over the
//! data, a label past the edge, a table too wide) must fail these checks: the checks are
//! tested too.
//!
//! Chromium: `/usr/bin/chromium` and the like, or `BOOKINGSIM_CHROMIUM`; `.ci/run` installs
//! Debian's. Without one the tests FAIL, saying so, unless `BOOKINGSIM_SKIP_BROWSER=1` is
//! set: then they pass with a `skipped:` line (`cargo test -- --nocapture` shows it), a skip
//! someone chose rather than one that reads as a pass.

use std::path::{Path, PathBuf};
use std::process::Command;

fn chromium() -> Option<PathBuf> {
    let found = std::env::var_os("BOOKINGSIM_CHROMIUM")
        .map(PathBuf::from)
        .or_else(|| {
            [
                "/usr/bin/chromium",
                "/usr/bin/chromium-browser",
                "/usr/bin/google-chrome",
            ]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.exists())
        });
    if found.is_none() {
        assert!(
            std::env::var_os("BOOKINGSIM_SKIP_BROWSER").is_some(),
            "no Chromium found: install Debian's `chromium` (.ci/run does), set BOOKINGSIM_CHROMIUM to one, \
             or set BOOKINGSIM_SKIP_BROWSER=1 to skip the browser tests"
        );
        eprintln!("skipped: no Chromium found and BOOKINGSIM_SKIP_BROWSER is set");
    }
    found
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

/// Measures the rendered page: per chart its data marks against its plot area, top tick and
/// legend; its texts against its edges and each other; the tables' widths. Marks and plot
/// areas are found by the classes `reports::charts` gives them (`g.data`, `rect.plot-area`
/// with `data-top-tick`, `g.bands`, `g.legend`).
const PROBE: &str = r#"<script>
window.addEventListener('load', () => {
  const problems = [];
  const tol = 0.5;
  const inside = (r, b) => r.left >= b.left + tol && r.right <= b.right - tol
    && r.top >= b.top + tol && r.bottom <= b.bottom - tol;
  const within = (r, b) => r.left >= b.left - tol && r.right <= b.right + tol
    && r.top >= b.top - tol && r.bottom <= b.bottom + tol;
  const meets = (a, b) => a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
  const point = (x, y) => ({ left: x, right: x, top: y, bottom: y });
  const shrink = (r, by) => ({ left: r.left + by, right: r.right - by, top: r.top + by, bottom: r.bottom - by });
  // A mark's boxes: a polyline's vertices, a line's two ends, a circle's or a rect's box.
  const boxes = el => {
    const m = el.getScreenCTM();
    const at = (x, y) => { const q = new DOMPoint(x, y).matrixTransform(m); return point(q.x, q.y); };
    switch (el.tagName) {
      // A line's vertices and points every 4 px between them (a legend may cover a segment).
      case 'polyline': return [...el.points].flatMap((p, i, all) => {
        const q = all[i + 1];
        if (!q) return [at(p.x, p.y)];
        const steps = Math.max(1, Math.ceil(Math.hypot(q.x - p.x, q.y - p.y) / 4));
        return [...Array(steps).keys()].map(k => at(p.x + (q.x - p.x) * k / steps, p.y + (q.y - p.y) * k / steps));
      });
      case 'line': return [at(el.x1.baseVal.value, el.y1.baseVal.value), at(el.x2.baseVal.value, el.y2.baseVal.value)];
      default: return [el.getBoundingClientRect()];
    }
  };
  let marks = 0;
  const svgs = [...document.querySelectorAll('figure svg')];
  svgs.forEach((svg, n) => {
    const name = ((svg.querySelector('text.title') || svg.querySelector('text') || {}).textContent || '') + ` (chart ${n + 1})`;
    const sbox = svg.getBoundingClientRect();
    const scale = sbox.height / svg.viewBox.baseVal.height;
    const areas = [...svg.querySelectorAll('rect.plot-area')];
    const groups = [...svg.querySelectorAll('g.data')];
    if (!areas.length || areas.length !== groups.length) problems.push(`${name}: ${areas.length} plot areas for ${groups.length} data groups`);
    const legends = [...svg.querySelectorAll('g.legend')].map(g => g.getBoundingClientRect());
    let count = 0;
    groups.forEach((g, i) => {
      const area = areas[i];
      if (!area) return;
      const abox = area.getBoundingClientRect();
      const top = sbox.top + parseFloat(area.getAttribute('data-top-tick')) * scale;
      for (const el of g.querySelectorAll('polyline, line, circle, rect')) {
        for (const b of boxes(el)) {
          count++;
          if (!inside(b, abox)) problems.push(`${name}: a data mark (${el.tagName}) on or outside the plot area`);
          if (b.top < top - tol) problems.push(`${name}: a data mark (${el.tagName}) above the top labelled tick`);
          for (const l of legends) if (meets(shrink(b, -1), l)) problems.push(`${name}: the legend covers a data mark (${el.tagName})`);
        }
      }
    });
    for (const g of svg.querySelectorAll('g.bands')) for (const el of g.children) {
      const b = el.getBoundingClientRect();
      if (!areas.some(a => inside(b, a.getBoundingClientRect()))) problems.push(`${name}: a shaded band outside the plot area`);
    }
    if (count === 0) problems.push(`${name}: no data drawn`);
    marks += count;
    const texts = [...svg.querySelectorAll('text')].map(t => ({ t: t.textContent, b: t.getBoundingClientRect() }));
    texts.forEach((t, i) => {
      if (!within(t.b, sbox)) problems.push(`${name}: the text "${t.t}" is cut off by the chart's edge`);
      for (const u of texts.slice(i + 1)) if (meets(shrink(t.b, 1), shrink(u.b, 1))) problems.push(`${name}: the texts "${t.t}" and "${u.t}" overlap`);
    });
  });
  // Charts of a row side by side at this width: one top, one beside the other.
  for (const row of document.querySelectorAll('.row')) {
    const figs = [...row.children].map(f => f.getBoundingClientRect());
    figs.slice(1).forEach((f, i) => {
      if (Math.abs(f.top - figs[i].top) > 1 || f.left < figs[i].right) problems.push(`charts of a row not side by side: ${row.textContent.slice(0, 60)}`);
    });
  }
  const page = document.documentElement.clientWidth;
  for (const t of document.querySelectorAll('table')) {
    const w = t.getBoundingClientRect().width;
    if (w > page) problems.push(`a table ${Math.round(w)} px wide in a ${page}-px window: ${t.rows[0].textContent.slice(0, 60)}`);
  }
  if (document.documentElement.scrollWidth > page) problems.push(`the page is ${document.documentElement.scrollWidth} px wide in a ${page}-px window`);
  document.body.setAttribute('data-probe', JSON.stringify({ charts: svgs.length, marks, problems }));
});
</script>"#;

/// What the probe found in `html` rendered at 1400 px: charts, data marks and problems.
struct Probe {
    charts: u64,
    marks: u64,
    problems: Vec<String>,
}

fn probe(browser: &Path, html: &str, dir: &Path) -> Probe {
    let page = dir.join("probe.html");
    std::fs::write(&page, html.replace("</body>", &format!("{PROBE}</body>"))).unwrap();
    let profile = dir.join("chromium-profile");
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
            "--hide-scrollbars",
            "--window-size=1400,1000",
            "--virtual-time-budget=2000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&out.stdout);
    let start = dom.find("data-probe=\"").unwrap_or_else(|| {
        panic!(
            "Chromium rendered no probe result: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    }) + "data-probe=\"".len();
    let end = start + dom[start..].find('"').unwrap();
    let json = dom[start..end]
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    Probe {
        charts: v["charts"].as_u64().unwrap(),
        marks: v["marks"].as_u64().unwrap(),
        problems: v["problems"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap().to_owned())
            .collect(),
    }
}

#[test]
fn every_chart_of_the_catalogues_reports_keeps_its_promises_in_a_real_browser() {
    let Some(browser) = chromium() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let scenario = |name: &str| {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../scenarios")
            .join(name)
            .display()
            .to_string()
    };
    let dir = |name: &str| root.join(name).display().to_string();
    bookingsim(&[
        "run",
        &scenario("incident-741.toml"),
        "--out",
        &dir("run-741"),
    ]);
    bookingsim(&[
        "run",
        &scenario("voice-journeys.toml"),
        "--out",
        &dir("run-journeys"),
    ]);
    bookingsim(&[
        "compare",
        &scenario("storm-overlap.toml"),
        "--policies",
        "baseline,double-check,full",
        "--seeds",
        "4",
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
        "false_refusal_rate > 0.05",
        "--knee",
        "p95(start_booking) > 2s",
        "--knee",
        "calcom.create_booking.429 > 0",
        "--out",
        &dir("sweep"),
    ]);
    for (report, charts) in [
        ("run-741", 4),
        ("run-journeys", 4),
        ("compare", 4),
        ("sweep", 6),
    ] {
        let html = std::fs::read_to_string(root.join(report).join("report.html")).unwrap();
        // What broke beside what booked (baseline double-books the storm).
        assert_eq!(
            html.contains("<div class=\"row\">"),
            report == "compare",
            "{report}"
        );
        let found = probe(&browser, &html, &root.join(report));
        assert_eq!(found.charts, charts, "{report}: charts");
        assert!(found.marks > 0, "{report}: nothing plotted");
        assert!(
            found.problems.is_empty(),
            "{report}:\n{}",
            found.problems.join("\n")
        );
    }
}

/// A report of two lines and a wide-enough table, made with the crate the reports use.
fn small_report() -> String {
    use reports::charts::{Axis, Line, LineChart, line_chart};
    let mut doc = reports::Document::new("probe");
    doc.table(&["a", "b"], vec![vec!["1".into(), "2".into()]]);
    doc.chart(line_chart(LineChart {
        file: "a.svg",
        title: "two lines",
        x: Axis::linear("x"),
        y: Axis::linear("y"),
        lines: vec![
            Line::new("up", vec![(0.0, 1.0), (5.0, 40.0), (10.0, 97.0)]),
            Line::new("flat", vec![(0.0, 0.0), (10.0, 0.0)]),
        ],
        spans: Vec::new(),
    }));
    // Two charts side by side.
    let bars = |file: &str, title: &str| {
        reports::charts::stacked_bars(
            file,
            title,
            "policy",
            "calls",
            &["a".to_owned(), "b".to_owned()],
            &[("booked".to_owned(), vec![3.0, 5.0])],
        )
    };
    doc.row([bars("b.svg", "left"), bars("c.svg", "right")]);
    doc.html()
}

#[test]
fn a_chart_broken_on_purpose_fails_the_browser_checks() {
    let Some(browser) = chromium() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let html = small_report();
    let intact = probe(&browser, &html, tmp.path());
    assert!(intact.problems.is_empty(), "{:?}", intact.problems);
    assert_eq!(intact.charts, 3);
    let data = "<g class=\"data\">\n";
    assert!(html.contains(data) && html.contains("<g class=\"legend\">"));
    let breaks: [(&str, String, &str); 6] = [
        (
            "a point above the top tick",
            html.replace(
                data,
                &format!("{data}<circle cx=\"300\" cy=\"50\" r=\"3\" fill=\"#0072B2\"/>\n"),
            ),
            "above the top labelled tick",
        ),
        (
            "a point on the frame",
            html.replace(
                data,
                &format!("{data}<circle cx=\"84\" cy=\"200\" r=\"3\" fill=\"#0072B2\"/>\n"),
            ),
            "on or outside the plot area",
        ),
        (
            "the legend moved over the data",
            html.replace(
                "<g class=\"legend\">",
                "<g class=\"legend\" transform=\"translate(-312 172)\">",
            ),
            "the legend covers a data mark",
        ),
        (
            "a label past the edge",
            html.replace(
                "class=\"title\">two lines</text>",
                "class=\"title\">two lines</text><text x=\"880\" y=\"300\" font-size=\"12\">cut off here</text>",
            ),
            "is cut off by the chart's edge",
        ),
        (
            "a row's charts stacked",
            html.replace("<div class=\"row\">", "<div class=\"row\" style=\"display:block\">"),
            "not side by side",
        ),
        (
            "a table too wide",
            html.replace(
                "<td>2</td>",
                &format!("<td style=\"white-space:nowrap\">{}</td>", "wide ".repeat(400)),
            ),
            "px wide in a 1400-px window",
        ),
    ];
    for (what, broken, expect) in breaks {
        assert_ne!(broken, html, "{what}: the break did not apply");
        let found = probe(&browser, &broken, tmp.path());
        assert!(
            found.problems.iter().any(|p| p.contains(expect)),
            "{what}: the checks did not notice; they found {:?}",
            found.problems
        );
    }
}
