//! Printing an exploration as it goes.

use std::path::PathBuf;

use sim::explore::search::{Ended, Event, Search, SearchError};
use simkit::say;

use crate::cli::experiments::progress_bar;
use crate::{BAD_INPUT, Failure, GATE_FAILED, RUN_FAILED};

/// A search's refusal as the CLI's exit: bad input 2, a world that would not run again 1.
pub(crate) fn refused(e: SearchError) -> Failure {
    match e {
        SearchError::Input(m) => Failure(BAD_INPUT, m),
        SearchError::Run(m) => Failure(RUN_FAILED, m),
    }
}

/// `explore --print`: the world of one seed, under the policy explore would run it with.
pub(crate) fn print_world(search: &Search) -> Result<u8, Failure> {
    print!("{}", search.world_file().map_err(refused)?);
    Ok(0)
}

/// `explore`: the search, printed as it goes; exit 1 when a world showed a violation or did
/// not run.
pub(crate) fn explore(search: &Search) -> Result<u8, Failure> {
    let policy = &search.policy;
    // Candidates run, wall time (on their threads), shrinks stopped at their budget.
    let mut shrinking = (0u64, std::time::Duration::ZERO, 0u64);
    let explored = search
        .run(&progress_bar("explore"), &mut |event| match event {
            Event::Ran(ran) => {
                let (runs, found) = (ran.runs, &ran.exploration);
                let elapsed = ran.elapsed.as_secs_f64();
                say!(
                    "explore: {runs} worlds under {policy} in {elapsed:.1} s on {} threads ({:.0} runs/s){}: {} found a violation",
                    ran.jobs,
                    runs as f64 / elapsed.max(1e-9),
                    match (search.time, ran.ended) {
                        (None, _) => "",
                        (Some(_), Ended::Time) => ", the time spent",
                        (Some(_), Ended::Runs) => ", every run done",
                    },
                    found.worlds_found()
                );
                let phases = &found.phases;
                say!(
                    "  wall time: generate {:.2} s, parse {:.2} s, run {:.2} s, check {:.2} s, coverage {:.2} s (all threads); slowest worlds: {}",
                    phases.generate.as_secs_f64(),
                    phases.parse.as_secs_f64(),
                    phases.run.as_secs_f64(),
                    phases.check.as_secs_f64(),
                    phases.coverage.as_secs_f64(),
                    found
                        .slowest
                        .iter()
                        .map(|(seed, took)| format!("seed {seed} {:.2} s", took.as_secs_f64()))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                for (seed, e) in &found.broken {
                    eprintln!("error: world {seed} did not run: {e}");
                }
                let reached: Vec<String> = found
                    .coverage
                    .iter()
                    .filter(|(_, n)| **n > 0)
                    .map(|(k, n)| format!("{k} {n}"))
                    .collect();
                say!("  reached: {}", reached.join(", "));
                let never = found.never_reached();
                if !never.is_empty() {
                    say!("  never reached: {}", never.join(", "));
                }
                if found.pairs.worlds > 0 {
                    let (met, all) = found.pairs.met();
                    let missing = found.pairs.missing();
                    let shown: Vec<String> = missing.iter().take(5).map(sim::explore::features::describe).collect();
                    say!(
                        "  feature pairs met: {met} of {all}{}{}",
                        if missing.is_empty() { "" } else { "; not yet: " },
                        shown.join(", ") + if missing.len() > 5 { ", …" } else { "" }
                    );
                }
            }
            Event::Shrinking { kind, findings } => say!(
                "  {kind}: {} world(s), first seed {}: {}",
                findings.len(),
                findings[0].seed,
                findings[0].detail
            ),
            Event::Shrunk {
                file, tried, took, ..
            } => {
                say!("    shrunk to {}", file.display());
                shrinking.0 += tried.runs;
                shrinking.1 += took;
                shrinking.2 += u64::from(tried.capped);
            }
        })
        .map_err(refused)?;
    if !explored.kinds.is_empty() {
        let (runs, took, capped) = shrinking;
        say!(
            "  shrinking: {runs} candidate worlds in {:.1} s{}",
            took.as_secs_f64(),
            if capped > 0 {
                format!(", {capped} shrink(s) stopped at their budget")
            } else {
                String::new()
            }
        );
    }
    say!("  wrote {}", explored.report_file.display());
    Ok(if explored.clean() { 0 } else { GATE_FAILED })
}

/// `merge` of explore outputs (shards of one search): the report a single search of the
/// same seeds writes; exit 1 when a world showed a violation or did not run.
pub(crate) fn merge(dirs: &[PathBuf], out: Option<PathBuf>) -> Result<u8, Failure> {
    let out = out.unwrap_or_else(|| PathBuf::from("out").join("explore-merged"));
    let merged = sim::explore::merge::merge(dirs, &out).map_err(|e| Failure(BAD_INPUT, e))?;
    let record = &merged.record;
    let found = record.exploration();
    say!(
        "merge: {} worlds under {} from {} explore folders: {} found a violation",
        record.runs(),
        record.search.policy,
        merged.shards,
        found.worlds_found()
    );
    for (kind, name) in &record.failures {
        say!("  {kind}: {}", out.join("failures").join(name).display());
    }
    say!("  wrote {}", merged.report_file.display());
    Ok(if found.findings.is_empty() && found.broken.is_empty() {
        0
    } else {
        GATE_FAILED
    })
}
