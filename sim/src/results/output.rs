//! Result files.
//!
//! - Every temporary file is created exclusively (`create_new`: an existing file or a
//!   planted symlink at its name is an error, never followed) under a name no one can guess
//!   (the process id and random bytes), then renamed into place.
//! - A run's folder (and a comparison's, a sweep's or shard's, an exploration's: one
//!   writer, [`RunFolder`]) is published as one set: its files are written into a fresh folder
//!   beside `--out` (`.NAME.PID-TOKEN.tmp`, created exclusively), which then takes the place
//!   of `--out` in one step (Linux: `renameat2(RENAME_EXCHANGE)`; elsewhere two renames).
//!   A reader sees the previous run or the new one whole, never files of two runs mixed; a
//!   run that fails or is stopped mid-write leaves the previous run and no temporary
//!   folder. A symlink planted in `--out` (`charts`, a temporary name) goes with the
//!   previous run: nothing is written through it.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use reports::Document;

/// Random bytes for a temporary name, so that no one can plant a file at it beforehand.
fn token() -> String {
    let mut bytes = [0u8; 12];
    let read = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
    if read.is_err() {
        // No /dev/urandom: what differs between processes, writes and instants, hashed.
        use sha2::Digest as _;
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        #[allow(clippy::disallowed_methods)] // reason: a temporary file's name, never a result
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let local = 0u8;
        let address = std::ptr::addr_of!(local) as usize;
        let digest = sha2::Sha256::digest(format!("{}:{n}:{now}:{address}", std::process::id()));
        bytes.copy_from_slice(&digest[..12]);
    }
    hex::encode(bytes)
}

/// A temporary name in `dir` for `name`: `.NAME.PID-TOKEN.tmp`.
fn temporary(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!(".{name}.{}-{}.tmp", std::process::id(), token()))
}

/// Creates `path` for writing, exclusively: an existing file or symlink there is an error.
fn create_new(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

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
/// without being held in memory. The temporary file is this writer's own (created
/// exclusively, under a name no one can guess): two runs writing the same folder at once
/// each rename a whole file, the last one wins; a symlink at `name` is replaced, not
/// followed.
pub fn write_with(
    dir: &Path,
    name: &str,
    fill: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> std::io::Result<()>,
) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(name);
    let tmp = temporary(dir, name);
    let written = (|| {
        let mut w = std::io::BufWriter::new(create_new(&tmp)?);
        fill(&mut w)?;
        let f = w.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written.map(|()| path)
}

/// What a run's folder may hold: anything else in an existing `--out` means it is not a
/// run's folder, and it is not replaced.
pub const RUN_FILES: [&str; 6] = [
    "summary.json",
    "history.jsonl",
    "latency.hlog",
    "report.md",
    "report.html",
    "charts",
];

/// What a comparison's or sweep's folder may hold (a shard's: `plan.json` and `runs.jsonl`).
pub const SWEEP_FILES: [&str; 7] = [
    "plan.json",
    "runs.jsonl",
    "sweep.json",
    "points.csv",
    "report.md",
    "report.html",
    "charts",
];

/// What an exploration's folder may hold.
pub const EXPLORE_FILES: [&str; 3] = ["explore.json", "report.md", "failures"];

/// A folder of results being written (a run's, a comparison's or sweep's, an
/// exploration's): a fresh folder beside `out`, published in one step by
/// [`RunFolder::publish`]; dropped unpublished, it is removed and `out` stays as it was.
#[derive(Debug)]
pub struct RunFolder {
    out: PathBuf,
    staging: PathBuf,
    /// Steps taken (writes, the swap, the clean-up), for [`RunFolder::failing_at`].
    steps: usize,
    fail_at: Option<usize>,
}

/// `out`'s name and parent when `out` may be replaced by a `what`'s folder (see
/// [`RunFolder::begin_as`]).
fn replaceable(out: &Path, what: &str, files: &[&str]) -> std::io::Result<(String, PathBuf)> {
    let invalid = |what: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, what);
    let a = if what.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    };
    let name = out
        .file_name()
        .and_then(|n| n.to_str())
        .filter(|n| *n != "..")
        .ok_or_else(|| {
            invalid(format!(
                "{}: the output must name a folder of its own ({a} {what} replaces it whole)",
                out.display()
            ))
        })?
        .to_owned();
    match std::fs::symlink_metadata(out) {
        Ok(m) if m.is_dir() => {
            for entry in std::fs::read_dir(out)? {
                let entry = entry?.file_name();
                if !files.iter().any(|f| entry == *f) {
                    return Err(invalid(format!(
                        "{}: holds {}, which is not {a} {what}'s file: {a} {what} replaces its \
                         folder whole; give a new or empty folder",
                        out.display(),
                        entry.to_string_lossy()
                    )));
                }
            }
        }
        Ok(m) if m.is_file() => {
            return Err(invalid(format!("{}: a file, not a folder", out.display())));
        }
        _ => {}
    }
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    Ok((name, parent))
}

/// `e` from [`RunFolder::begin_as`] or [`check_out`] for `out` as a message naming `out`
/// once (a refusal names it already).
pub fn message(out: &Path, e: &std::io::Error) -> String {
    if e.kind() == std::io::ErrorKind::InvalidInput {
        e.to_string()
    } else {
        format!("{}: {e}", out.display())
    }
}

/// Whether a `what` (`run`, `comparison`, …) whose folder holds `files` may write to `out`:
/// the error [`RunFolder::begin_as`] would give, before the work that would be lost to it.
pub fn check_out(out: &Path, what: &str, files: &[&str]) -> std::io::Result<()> {
    replaceable(out, what, files).map(drop)
}

thread_local! {
    /// The step at which the next folder begun on this thread fails (tests).
    static FAIL_NEXT: std::cell::Cell<Option<usize>> = const { std::cell::Cell::new(None) };
}

/// Makes the next folder begun on this thread fail at its `k`th step (see
/// [`RunFolder::failing_at`]), whichever command writes it: for tests that stop a
/// comparison, a sweep or an exploration at every write.
#[doc(hidden)]
pub fn fail_next_folder_at(k: usize) {
    FAIL_NEXT.with(|f| f.set(Some(k)));
}

impl RunFolder {
    /// Starts a run's folder for `out`. Refused: an `out` that names no folder of its own
    /// (`.`, `/`), that is a file, or a folder holding anything but a run's files.
    pub fn begin(out: &Path) -> std::io::Result<Self> {
        Self::begin_as(out, "run", &RUN_FILES)
    }

    /// Starts the folder of a `what` (`run`, `comparison`, `sweep`, `exploration`) whose
    /// files are `files` for `out`; refused as [`RunFolder::begin`] says.
    pub fn begin_as(out: &Path, what: &str, files: &[&str]) -> std::io::Result<Self> {
        let (name, parent) = replaceable(out, what, files)?;
        std::fs::create_dir_all(&parent)?;
        sweep_stale(&parent, &name);
        let staging = temporary(&parent, &name);
        std::fs::create_dir(&staging)?;
        Ok(RunFolder {
            out: out.to_owned(),
            staging,
            steps: 0,
            fail_at: FAIL_NEXT.with(std::cell::Cell::take),
        })
    }

    /// Where the folder is published (where its files will be read).
    pub fn out(&self) -> &Path {
        &self.out
    }

    /// Fails the `k`th step (1-based: each file written, the swap, the clean-up) as a run
    /// stopped there would: for tests.
    #[doc(hidden)]
    #[must_use]
    pub fn failing_at(mut self, k: usize) -> Self {
        self.fail_at = Some(k);
        self
    }

    /// The steps taken so far.
    pub fn steps(&self) -> usize {
        self.steps
    }

    fn step(&mut self) -> std::io::Result<()> {
        self.steps += 1;
        if self.fail_at == Some(self.steps) {
            return Err(std::io::Error::other(format!(
                "failure injected at step {}",
                self.steps
            )));
        }
        Ok(())
    }

    /// Writes `name` (`charts/NAME` for a chart, `failures/NAME`) into the folder from
    /// `fill`.
    pub fn write_with(
        &mut self,
        name: &str,
        fill: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        self.step()?;
        // Inside the folder: a name from a record (`failures/NAME`) cannot lead out of it.
        let inside = Path::new(name)
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)));
        if !inside {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("{name}: not a file name inside the folder"),
            ));
        }
        let path = self.staging.join(name);
        if let Some(dir) = path.parent()
            && dir != self.staging
            && !dir.is_dir()
        {
            std::fs::create_dir(dir)?;
        }
        let mut w = std::io::BufWriter::new(create_new(&path)?);
        fill(&mut w)?;
        let f = w.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()
    }

    /// Writes `name` into the folder (a final newline added when missing).
    pub fn write(&mut self, name: &str, text: &str) -> std::io::Result<()> {
        self.write_with(name, |w| {
            w.write_all(text.as_bytes())?;
            if !text.ends_with('\n') {
                w.write_all(b"\n")?;
            }
            Ok(())
        })
    }

    /// `report.md`, `report.html` and `charts/*.svg`.
    pub fn report(&mut self, doc: &Document) -> std::io::Result<()> {
        for chart in doc.charts() {
            self.write(&format!("charts/{}", chart.file), &chart.svg)?;
        }
        self.write("report.md", &doc.markdown())?;
        self.write("report.html", &doc.html())
    }

    /// Puts the folder in `out`'s place in one step and removes the previous run.
    pub fn publish(mut self) -> std::io::Result<PathBuf> {
        self.step()?;
        swap(&self.staging, &self.out)?;
        // The previous run, now at the temporary name, goes (dropped, if this step fails).
        self.step()?;
        remove(&self.staging)?;
        Ok(self.out.clone())
    }
}

impl Drop for RunFolder {
    fn drop(&mut self) {
        let _ = remove(&self.staging);
    }
}

/// Removes a file, symlink or folder (a folder's symlinks are removed, never followed).
fn remove(path: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Temporary folders of `name` in `parent` left by a process that no longer runs (killed
/// mid-write): removed. Those of a running process are its own.
fn sweep_stale(parent: &Path, name: &str) {
    let prefix = format!(".{name}.");
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let file = entry.file_name();
        let Some(rest) = file
            .to_str()
            .and_then(|f| f.strip_prefix(&prefix))
            .and_then(|f| f.strip_suffix(".tmp"))
        else {
            continue;
        };
        let Some((pid, token)) = rest.split_once('-') else {
            continue;
        };
        if pid.parse::<u32>().is_err() || token.len() != 24 {
            continue;
        }
        if cfg!(target_os = "linux") && !Path::new("/proc").join(pid).exists() {
            let _ = remove(&entry.path());
        }
    }
}

/// Exchanges `new` and `out` in one step (`out` missing: `new` is renamed to it). After
/// it, `new`'s path holds the previous `out`, if there was one.
#[cfg(target_os = "linux")]
fn swap(new: &Path, out: &Path) -> std::io::Result<()> {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    use rustix::io::Errno;
    match renameat_with(CWD, new, CWD, out, RenameFlags::EXCHANGE) {
        Ok(()) => Ok(()),
        Err(Errno::NOENT) if std::fs::symlink_metadata(out).is_err() => std::fs::rename(new, out),
        // A file system without the exchange.
        Err(Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP) => swap_in_two(new, out),
        Err(e) => Err(e.into()),
    }
}

#[cfg(not(target_os = "linux"))]
fn swap(new: &Path, out: &Path) -> std::io::Result<()> {
    swap_in_two(new, out)
}

/// The swap in two renames: `out` aside to a temporary name, `new` into its place, the
/// previous run to `new`'s name. Between the two, `out` is missing (never mixed).
fn swap_in_two(new: &Path, out: &Path) -> std::io::Result<()> {
    if std::fs::symlink_metadata(out).is_err() {
        return std::fs::rename(new, out);
    }
    let parent = new.parent().unwrap_or(Path::new("."));
    let aside = temporary(
        parent,
        &out.file_name().unwrap_or_default().to_string_lossy(),
    );
    std::fs::rename(out, &aside)?;
    if let Err(e) = std::fs::rename(new, out) {
        let _ = std::fs::rename(&aside, out);
        return Err(e);
    }
    std::fs::rename(&aside, new)
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
/// (HdrHistogram interval log) and the report with its charts, published as one set (see
/// the module). Returns the summary's path.
pub fn write_run(
    dir: &Path,
    scenario: &crate::Scenario,
    summary: &crate::Summary,
    record: &crate::world::record::RunRecord,
) -> Result<PathBuf, String> {
    let folder = RunFolder::begin(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    write_run_into(folder, scenario, summary, record)
}

/// [`write_run`] into a folder already begun (a test's, failing at some step).
pub fn write_run_into(
    mut folder: RunFolder,
    scenario: &crate::Scenario,
    summary: &crate::Summary,
    record: &crate::world::record::RunRecord,
) -> Result<PathBuf, String> {
    let dir = folder.out.clone();
    let failed = |e: std::io::Error| format!("{}: {e}", dir.display());
    folder
        .write_with("history.jsonl", |w| {
            crate::history::write(scenario, record, w)
        })
        .map_err(failed)?;
    let samples = crate::results::metrics::samples(record, scenario);
    let width = interval_ms(record.simulated.as_secs_f64());
    let start_ms = scenario.start_utc().timestamp_millis();
    let intervals = || crate::results::metrics::intervals(&samples, width);
    let hlog = reports::interval_log::write(start_ms, width, intervals())?;
    folder.write("latency.hlog", &hlog).map_err(failed)?;
    let doc = summary.with_view(|view| {
        reports::run::document(
            view,
            &crate::results::metrics::histograms(&samples),
            intervals(),
            width,
        )
    });
    folder.report(&doc).map_err(failed)?;
    folder
        .write(
            "summary.json",
            &serde_json::to_string_pretty(&summary.to_json()).unwrap_or_default(),
        )
        .map_err(failed)?;
    let out = folder.publish().map_err(failed)?;
    Ok(out.join("summary.json"))
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

    #[cfg(unix)]
    #[test]
    fn a_symlink_at_a_files_name_is_replaced_not_followed() {
        let tmp = std::env::temp_dir().join(format!("bookingsim-links-{}", std::process::id()));
        let (dir, outside) = (tmp.join("sweep"), tmp.join("outside"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("f"), "keep").unwrap();
        std::os::unix::fs::symlink(outside.join("f"), dir.join("sweep.json")).unwrap();
        write_atomically(&dir, "sweep.json", "new").unwrap();
        assert_eq!(std::fs::read_to_string(outside.join("f")).unwrap(), "keep");
        assert_eq!(
            std::fs::read_to_string(dir.join("sweep.json")).unwrap(),
            "new\n"
        );
        std::fs::remove_dir_all(&tmp).unwrap();
    }
}
