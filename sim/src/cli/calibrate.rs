//! `bookingsim calibrate`: reads the target, fits, prints the fit table, writes the files.

use std::path::{Path, PathBuf};

use sim::calibrate::{Options, Target};
use simkit::say;

use crate::{BAD_INPUT, Failure, GATE_FAILED};

pub(crate) fn calibrate(
    file: &Path,
    target: Option<&Path>,
    durations: Option<&Path>,
    seeds: u64,
    jobs: Option<usize>,
    out: Option<PathBuf>,
) -> Result<u8, Failure> {
    let read = |p: &Path| {
        std::fs::read_to_string(p).map_err(|e| Failure(BAD_INPUT, format!("{}: {e}", p.display())))
    };
    let text = read(file)?;
    let origin = file.display().to_string();
    let target = match (target, durations) {
        (Some(t), _) => Target::parse(&read(t)?, &t.display().to_string()),
        (None, Some(d)) => Target::from_durations(&read(d)?, &d.display().to_string()),
        (None, None) => Err("expected --target FILE or --durations FILE".into()),
    }
    .map_err(|e| Failure(BAD_INPUT, e))?;
    let scenario =
        sim::Scenario::parse(&text, &origin).map_err(|e| Failure(BAD_INPUT, e.to_string()))?;
    if !(1..=1000).contains(&seeds) {
        return Err(Failure(
            BAD_INPUT,
            format!("--seeds {seeds}: expected a whole number from 1 to 1000"),
        ));
    }
    let options = Options {
        seeds,
        jobs: jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
        progress: std::io::IsTerminal::is_terminal(&std::io::stderr())
            || std::env::var_os("BOOKINGSIM_PROGRESS").is_some(),
    };
    let fit = sim::calibrate::calibrate(&text, &origin, &target, &options)
        .map_err(|e| Failure(BAD_INPUT, format!("{origin}: {e}")))?;
    let calibrated = fit.calibrated(&text, &target);
    let out =
        out.unwrap_or_else(|| PathBuf::from("out").join(format!("{}-calibrate", scenario.name)));
    let write = |name: &str, body: &str| {
        sim::results::output::write_atomically(&out, name, body)
            .map_err(|e| Failure(BAD_INPUT, format!("{}: {e}", out.join(name).display())))
    };
    write("calibrated.toml", &calibrated)?;
    write("fit.md", &fit.table())?;
    say!(
        "{}: {} figures, {} candidates on seeds {}..={}",
        scenario.name,
        fit.rows.len(),
        fit.evaluations,
        fit.seeds.first().copied().unwrap_or_default(),
        fit.seeds.last().copied().unwrap_or_default()
    );
    for line in fit.table().lines() {
        say!("{line}");
    }
    for set in &fit.sets {
        say!("  {set}");
    }
    say!("wrote {}", out.join("calibrated.toml").display());
    if fit.pass() {
        Ok(0)
    } else {
        for miss in fit.misses() {
            eprintln!("error: {miss}");
        }
        Ok(GATE_FAILED)
    }
}
