//! Printing a run, a live run, a replay and a history check.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use sim::Scenario;
use sim::results::summary;
use simkit::say;

use crate::{BAD_INPUT, Failure, GATE_FAILED, RUN_FAILED, load};

/// `bookingsim check`: exit 0 when every invariant holds, 1 when one does not, 2 when the
/// history cannot be read.
pub(crate) fn check_history(path: &Path) -> ExitCode {
    let found = std::fs::File::open(path)
        .map_err(|e| e.to_string())
        .and_then(|f| sim::check::check_history_observed(std::io::BufReader::new(f)));
    let (found, seen) = match found {
        Err(e) => {
            eprintln!("error: {}: {e}", path.display());
            return ExitCode::from(BAD_INPUT);
        }
        Ok(read) => read,
    };
    // What was there to check: a history without Cal.com commits cannot show a double booking.
    say!(
        "{}: {} events: {} calls, {} Cal.com bookings, {} local saves, {} faults",
        path.display(),
        seen.events,
        seen.calls,
        seen.commits,
        seen.saves,
        seen.faults
    );
    if !seen.not_observable.is_empty() {
        say!(
            "  not observable in this history, so not checked: {}",
            seen.not_observable.join(", ")
        );
    }
    if seen.commits == 0 {
        say!(
            "  no Cal.com commits: double bookings, orphans and lost bookings had nothing to be checked on"
        );
    }
    match found {
        found if found.is_empty() => {
            say!("{}: every invariant holds", path.display());
            ExitCode::SUCCESS
        }
        found => {
            for line in sim::check::report_lines(&path.display().to_string(), &found) {
                say!("{line}");
            }
            ExitCode::FAILURE
        }
    }
}

/// Runs and times a scenario; the wall time is added outside the digest. On a terminal a
/// progress line shows how far the simulation has come.
pub(crate) fn timed_run(
    scenario: &Scenario,
    seed: u64,
    policy: &str,
    show_progress: bool,
) -> Result<(sim::Summary, sim::world::record::RunRecord), Failure> {
    let terminal = show_progress && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let mut progress = |done: std::time::Duration, total: std::time::Duration| {
        if terminal {
            let line = format!(
                "\r  {}: simulated {:.0} of ~{:.0} s",
                scenario.name,
                done.as_secs_f64(),
                total.as_secs_f64()
            );
            let _ = write!(std::io::stderr(), "{line}");
        }
    };
    let result = sim::run_timed(scenario, seed, policy, &mut progress);
    if terminal {
        let _ = write!(std::io::stderr(), "\r\x1b[2K");
    }
    result.map_err(|e| Failure(RUN_FAILED, e))
}

pub(crate) fn run(
    file: &Path,
    seed: Option<u64>,
    policy: Option<String>,
    sets: &[String],
    out: Option<PathBuf>,
) -> Result<u8, Failure> {
    let scenario = load(file, sets)?;
    let seed = seed.unwrap_or(scenario.seed);
    let policy = policy.unwrap_or_else(|| scenario.policy.preset.clone());
    let (summary, record) = timed_run(&scenario, seed, &policy, true)?;
    let _ = write!(std::io::stdout(), "{}", summary::render(&summary));
    let dir = out.unwrap_or_else(|| PathBuf::from("out").join(&scenario.name));
    let path = sim::results::output::write_run(&dir, &scenario, &summary, &record)
        .map_err(|e| Failure(BAD_INPUT, e))?;
    say!(
        "  wrote {} (and history.jsonl, latency.hlog, report.md, report.html, charts/)",
        path.display()
    );
    Ok(if summary.passes() { 0 } else { GATE_FAILED })
}

/// Exit code of a live run stopped by Ctrl-C (results written, marked incomplete).
pub(crate) const INTERRUPTED: u8 = 130;

/// How often a live run not on a terminal prints its progress line.
const NON_TERMINAL_PROGRESS: std::time::Duration = std::time::Duration::from_secs(5);

pub(crate) fn live(
    file: &Path,
    scenario: &Scenario,
    options: &sim::world::live::Options,
    out: Option<PathBuf>,
) -> Result<u8, Failure> {
    sim::world::live::check(scenario)
        .map_err(|e| Failure(BAD_INPUT, format!("{}: {e}", file.display())))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure(RUN_FAILED, e.to_string()))?;
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
    #[allow(clippy::disallowed_methods)] // reason: a live run's own wall time, shown to its user
    let wall = std::time::Instant::now();
    let run = runtime
        .block_on(async {
            // Ctrl-C is caught from before the first line on, so that it always ends in
            // results rather than a killed process.
            #[cfg(unix)]
            let mut interrupt =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()).ok();
            say!(
                "{}: live against {} (Cal.com: {}), real time",
                scenario.name,
                options.engine,
                options.calcom
            );
            let stop = async move {
                #[cfg(unix)]
                if let Some(interrupt) = interrupt.as_mut() {
                    interrupt.recv().await;
                    return;
                }
                let _ = tokio::signal::ctrl_c().await;
            };
            // Not on a terminal (CI logs, a pipe): one line every few seconds, as cargo does.
            let mut printed: Option<std::time::Duration> = None;
            sim::world::live::drive(scenario, options, stop, |elapsed, expected, in_flight| {
                // While calls run, the end is their worst case (every try timing out);
                // once they are done, the settle's end.
                let left = expected.saturating_sub(elapsed).as_secs();
                let text = format!(
                    "  live: {} s, at most {left} s left, {in_flight} calls in flight (Ctrl-C stops)",
                    elapsed.as_secs()
                );
                if terminal {
                    let _ = write!(std::io::stderr(), "\r\x1b[2K{text}");
                } else if printed.is_none_or(|p| elapsed >= p + NON_TERMINAL_PROGRESS) {
                    printed = Some(elapsed);
                    let _ = writeln!(std::io::stderr(), "{text}");
                }
            })
            .await
        })
        .map_err(|e| Failure(RUN_FAILED, e));
    if terminal {
        let _ = write!(std::io::stderr(), "\r\x1b[2K");
    }
    let run = run?;
    if run.weeks_shifted > 0 {
        say!(
            "  every date and instant of the scenario moved {} week(s) forward (weekdays and local times kept)",
            run.weeks_shifted
        );
    }
    let mut summary =
        sim::pipeline::summarize_live(&run, options.seed).map_err(|e| Failure(RUN_FAILED, e))?;
    summary.sim.wall_seconds = Some(wall.elapsed().as_secs_f64());
    let _ = write!(std::io::stdout(), "{}", summary::render(&summary));
    let dir = out.unwrap_or_else(|| PathBuf::from("out").join(format!("{}-live", scenario.name)));
    let path = sim::results::output::write_run(&dir, &run.scenario, &summary, &run.record)
        .map_err(|e| Failure(BAD_INPUT, e))?;
    say!(
        "  wrote {} (and history.jsonl, latency.hlog, report.md, report.html, charts/)",
        path.display()
    );
    // What failed at the end fails the run, after what it gathered is written.
    if let Some(failure) = &run.failure {
        return Err(Failure(
            RUN_FAILED,
            format!(
                "{failure} (the results gathered so far are in {}, marked incomplete)",
                dir.display()
            ),
        ));
    }
    Ok(match &summary.live {
        Some(l) if l.incomplete => INTERRUPTED,
        _ if summary.passes() => 0,
        _ => GATE_FAILED,
    })
}

pub(crate) fn replay(
    file: &Path,
    seed: Option<u64>,
    policy: Option<String>,
    call: &str,
) -> Result<u8, Failure> {
    let scenario = load(file, &[])?;
    let seed = seed.unwrap_or(scenario.seed);
    let policy = policy.unwrap_or_else(|| scenario.policy.preset.clone());
    let (_, record) = timed_run(&scenario, seed, &policy, true)?;
    let text = sim::results::replay::timeline(&scenario, &record, call, seed, &policy)
        .map_err(|e| Failure(BAD_INPUT, e))?;
    let _ = write!(std::io::stdout(), "{text}");
    Ok(0)
}
