//! Result files: written through a temporary file and a rename, so never half-written.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use reports::Document;

/// Writes `name` in `dir` (created if missing) atomically.
pub fn write_atomically(dir: &Path, name: &str, text: &str) -> std::io::Result<PathBuf> {
    write_with(dir, name, |w| {
        w.write_all(text.as_bytes())?;
        if !text.ends_with('\n') {
            w.write_all(b"\n")?;
        }
        Ok(())
    })
}

/// Writes `name` in `dir` atomically from `fill`, through a buffer: large files stream out
/// without being held in memory.
pub fn write_with(
    dir: &Path,
    name: &str,
    fill: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> std::io::Result<()>,
) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(name);
    // A temporary name of this writer's own: two runs writing the same folder at once
    // (two shells, a doc test's parallel cases) each rename a whole file, the last one wins.
    static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!(".{name}.{}.{n}.tmp", std::process::id()));
    let mut w = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
    fill(&mut w)?;
    let f = w.into_inner().map_err(|e| e.into_error())?;
    f.sync_all()?;
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

/// `report.md`, `report.html` and `charts/*.svg` in `dir`.
pub fn write_report(dir: &Path, doc: &Document) -> std::io::Result<()> {
    for chart in doc.charts() {
        write_atomically(&dir.join("charts"), &chart.file, &chart.svg)?;
    }
    write_atomically(dir, "report.md", &doc.markdown())?;
    write_atomically(dir, "report.html", &doc.html())?;
    Ok(())
}

/// Width of the intervals of over-time charts and interval logs: the roundest width that
/// gives the run about a hundred of them (5 s for a five-minute run, 2 min for three hours).
pub fn interval_ms(simulated_seconds: f64) -> u64 {
    const WIDTHS_S: [u64; 10] = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600];
    let wanted = simulated_seconds / 100.0;
    WIDTHS_S
        .iter()
        .find(|w| **w as f64 >= wanted)
        .map_or(3_600_000, |w| w * 1000)
}

/// Everything a run leaves in `dir`: `summary.json`, `history.jsonl`, `latency.hlog`
/// (HdrHistogram interval log) and the report with its charts. Returns the summary's path.
pub fn write_run(
    dir: &Path,
    scenario: &crate::Scenario,
    summary: &crate::Summary,
    record: &crate::world::record::RunRecord,
) -> Result<PathBuf, String> {
    let failed = |e: std::io::Error| format!("{}: {e}", dir.display());
    write_with(dir, "history.jsonl", |w| {
        crate::history::write(scenario, record, w)
    })
    .map_err(failed)?;
    let samples = crate::results::metrics::samples(record, scenario);
    let width = interval_ms(record.simulated.as_secs_f64());
    let start_ms = scenario.start_utc().timestamp_millis();
    let intervals = || crate::results::metrics::intervals(&samples, width);
    let hlog = reports::interval_log::write(start_ms, width, intervals())?;
    write_atomically(dir, "latency.hlog", &hlog).map_err(failed)?;
    let doc = summary.with_view(|view| {
        reports::run::document(
            view,
            &crate::results::metrics::histograms(&samples),
            intervals(),
            width,
        )
    });
    write_report(dir, &doc).map_err(failed)?;
    write_atomically(
        dir,
        "summary.json",
        &serde_json::to_string_pretty(&summary.to_json()).unwrap_or_default(),
    )
    .map_err(failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writers_of_one_file_at_once_each_write_it_whole() {
        let dir = std::env::temp_dir().join(format!("bookingsim-output-{}", std::process::id()));
        let texts: Vec<String> = (0..8).map(|i| format!("{i}\n").repeat(10_000)).collect();
        std::thread::scope(|s| {
            for text in &texts {
                let dir = &dir;
                s.spawn(move || write_atomically(dir, "summary.json", text).unwrap());
            }
        });
        let written = std::fs::read_to_string(dir.join("summary.json")).unwrap();
        assert!(texts.contains(&written), "a file mixed of several writers");
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(left.len(), 1, "temporary files left behind");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
