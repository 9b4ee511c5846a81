//! Printing the catalogue gate, mutants, comparisons, sweeps and merges.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use simkit::say;

use crate::cli::args::GridArgs;
use crate::{BAD_INPUT, Failure, GATE_FAILED, RUN_FAILED, load, scenario_files};

pub(crate) fn mutants(paths: &[PathBuf], jobs: Option<usize>) -> Result<u8, Failure> {
    let mut scenarios = Vec::new();
    for f in scenario_files(paths)? {
        scenarios.push(load(&f, &[])?);
    }
    let jobs = jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let matrix = sim::experiment::mutants::matrix(
        &scenarios,
        &sim::experiment::mutants::MUTANTS,
        jobs,
        &|_, _| {},
    )
    .map_err(|e| Failure(BAD_INPUT, e))?;
    for b in &matrix.broken {
        say!(
            "BROKEN   {:<26} fails under its own policy ({}): left out",
            b.scenario,
            b.failing.join("; ")
        );
    }
    let mut survivors = matrix.broken.len();
    for v in &matrix.verdicts {
        let killers: Vec<String> = v
            .trials
            .iter()
            .filter(|t| !t.failing.is_empty())
            .map(|t| format!("{} ({})", t.scenario, t.failing.join("; ")))
            .collect();
        if v.trials.is_empty() {
            say!("-        {:<26} no scenario's policy has it", v.mutant);
        } else if killers.is_empty() {
            survivors += 1;
            say!(
                "SURVIVES {:<26} tried on {} scenario(s), no gate failed",
                v.mutant,
                v.trials.len()
            );
        } else {
            say!("killed   {:<26} by {}", v.mutant, killers.join(", "));
        }
    }
    Ok(if survivors == 0 { 0 } else { GATE_FAILED })
}

pub(crate) fn gate(
    paths: &[PathBuf],
    junit: Option<&Path>,
    baseline: Option<&Path>,
    bless: bool,
) -> Result<u8, Failure> {
    let files = scenario_files(paths)?;
    // Every core runs scenarios; verdicts are printed in file order.
    let jobs = std::thread::available_parallelism().map_or(1, |n| n.get());
    let entries = sim::experiment::catalogue::run(&files, baseline, bless, jobs);
    let mut code = 0;
    for e in &entries {
        match &e.verdict {
            sim::experiment::catalogue::ScenarioVerdict::Ran {
                summary,
                pass,
                diff,
                note,
            } => {
                if !pass {
                    code = code.max(GATE_FAILED);
                }
                say!(
                    "{} {:<28} {:>4} gates  simulated {:>7.1} s in {:>6.2} s{note}",
                    if *pass { "pass" } else { "FAIL" },
                    e.name,
                    summary.gates.len(),
                    summary.sim.simulated_seconds,
                    summary.sim.wall_seconds.unwrap_or(0.0),
                );
                let diff = diff.as_deref().unwrap_or_default();
                for line in diff.iter().take(40) {
                    say!("       {line}");
                }
                if diff.len() > 40 {
                    say!("       ... and {} more", diff.len() - 40);
                }
            }
            sim::experiment::catalogue::ScenarioVerdict::Invalid(message) => {
                code = BAD_INPUT;
                say!("FAIL {:<28} invalid: {message}", e.name);
            }
            sim::experiment::catalogue::ScenarioVerdict::Failed(message) => {
                code = code.max(RUN_FAILED);
                say!("FAIL {:<28} the run failed: {message}", e.name);
            }
        }
    }
    if let Some(path) = junit {
        let xml = sim::experiment::catalogue::junit(&entries).map_err(|e| Failure(BAD_INPUT, e))?;
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("junit.xml");
        sim::results::output::write_atomically(dir, name, &xml)
            .map_err(|e| Failure(BAD_INPUT, format!("{}: {e}", path.display())))?;
    }
    if baseline.is_some() && !bless && entries.iter().any(|e| !e.pass()) {
        say!("(a deliberate change? rewrite the baselines with --bless and commit them)");
    }
    Ok(code)
}

/// Runs a comparison (no parameters) or a sweep, whole or one shard of it.
pub(crate) fn sweep(
    file: &Path,
    params: Vec<String>,
    policies: Vec<String>,
    knees: Vec<String>,
    grid: GridArgs,
    kind: &str,
) -> Result<u8, Failure> {
    let bad = |e: String| Failure(BAD_INPUT, e);
    let planned = sim::experiment::sweep::plan(&sim::experiment::SweepArgs {
        file: file.to_owned(),
        sets: grid.sets,
        params,
        policies,
        knees,
        seeds: grid.seeds,
        shard: grid.shard,
        out: grid.out,
        kind: kind.to_owned(),
    })
    .map_err(bad)?;
    let (plan, dir) = (&planned.plan, &planned.dir);
    let jobs = grid
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    #[allow(clippy::disallowed_methods)]
    // reason: the harness's own speed, never part of the results
    let started = std::time::Instant::now();
    let executed = planned.execute(jobs, &progress_bar(kind));
    for (task, e) in &executed.broken {
        eprintln!(
            "error: point {} policy {} seed {}: {e} (left out: the results are marked incomplete)",
            task.point, task.policy, task.seed
        );
    }
    let broken = executed.broken.len();
    say!(
        "{kind}: {} runs ({} points x {} policies x {} seeds{}) in {:.1} s on {jobs} threads",
        executed.runs.len(),
        plan.points().len(),
        plan.policies.len(),
        plan.seeds.len(),
        planned
            .shard
            .map_or(String::new(), |(k, n)| format!(", shard {k}/{n}")),
        started.elapsed().as_secs_f64()
    );
    if planned.shard.is_some() {
        planned.write_runs(&executed.runs).map_err(bad)?;
        say!(
            "  wrote {} (plan.json, runs.jsonl); combine the shards with `bookingsim merge`",
            dir.display()
        );
        return Ok(if broken > 0 { RUN_FAILED } else { 0 });
    }
    let code = finish(&planned.finish(&executed.runs).map_err(bad)?);
    Ok(if broken > 0 {
        code.max(RUN_FAILED)
    } else {
        code
    })
}

/// A progress bar on a terminal; nothing when stderr is not one.
pub(crate) fn progress_bar(kind: &str) -> impl Fn(usize, usize) + Sync + use<> {
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let kind = kind.to_owned();
    move |done: usize, total: usize| {
        if !terminal {
            return;
        }
        const WIDTH: usize = 30;
        let filled = done * WIDTH / total.max(1);
        let _ = write!(
            std::io::stderr(),
            "\r  {kind} [{}{}] {done}/{total} runs{}",
            "#".repeat(filled),
            "-".repeat(WIDTH - filled),
            if done == total { "\r\x1b[2K" } else { "" }
        );
    }
}

/// Prints a finished comparison or sweep: the Markdown summary on stdout, where its files
/// are, and the gates some run failed; a comparison exits 1 when a run failed a gate.
pub(crate) fn finish(outcome: &sim::experiment::Outcome) -> u8 {
    // The Markdown summary without its charts: it reads in a terminal and a CI log.
    let text = outcome.doc.markdown();
    let text = text[..text.find("\n## Charts").unwrap_or(text.len())].trim_end();
    say!("{text}\n");
    say!(
        "wrote {}/sweep.json (and points.csv, runs.jsonl, report.md, report.html, charts/)",
        outcome.dir.display()
    );
    for f in &outcome.failing_gates {
        if outcome.enforced {
            say!("gate FAIL {f}");
        } else {
            say!("gate (reported, not enforced in a sweep) {f}");
        }
    }
    if outcome.gates_fail() { GATE_FAILED } else { 0 }
}

/// Reads the plan and runs of every shard folder, checks they belong together, and
/// finishes the sweep as if it had run in one place.
pub(crate) fn merge(dirs: &[PathBuf], out: Option<PathBuf>) -> Result<u8, Failure> {
    let bad = |e: String| Failure(BAD_INPUT, e);
    let merged = sim::experiment::sweep::merge(dirs, out).map_err(bad)?;
    if merged.runs.len() != merged.expected {
        eprintln!(
            "warning: {} of {} runs present: a shard is missing",
            merged.runs.len(),
            merged.expected
        );
    }
    for d in &merged.dropped {
        eprintln!("warning: left out: {d}");
    }
    say!(
        "merge: {} runs from {} folders",
        merged.runs.len(),
        dirs.len()
    );
    Ok(finish(&merged.finish().map_err(bad)?))
}
