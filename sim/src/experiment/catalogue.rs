//! `bookingsim gate`: every scenario of a catalogue with its own seed and policy, its gates,
//! and optionally its committed baseline. Each scenario stands alone: one that cannot be
//! read or whose run fails is that scenario's failure, and the others still run.

use std::path::{Path, PathBuf};

use crate::pipeline::parallel;
use crate::results::{baseline, output};
use crate::{Scenario, Summary};

/// How one scenario fared.
#[derive(Debug, Clone)]
pub enum ScenarioVerdict {
    /// It ran: its summary (with wall time), whether every gate held and the baseline
    /// matched, and the differences from the baseline when one was checked.
    Ran {
        summary: Box<Summary>,
        pass: bool,
        diff: Option<Vec<String>>,
        note: String,
    },
    /// The file is not a valid scenario (exit 2).
    Invalid(String),
    /// The run failed: the simulation broke or panicked (exit 1).
    Failed(String),
}

#[derive(Debug, Clone)]
pub struct Entry {
    /// The scenario's name, or the file's when it could not be read.
    pub name: String,
    pub verdict: ScenarioVerdict,
}

impl Entry {
    pub fn pass(&self) -> bool {
        matches!(self.verdict, ScenarioVerdict::Ran { pass: true, .. })
    }
}

/// The scenario files of `paths`: files as given, folders' `*.toml` in name order.
pub fn scenario_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| format!("{}: {e}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.extension().is_some_and(|x| x == "toml"))
                .collect();
            found.sort();
            files.extend(found);
        } else {
            files.push(p.clone());
        }
    }
    Ok(files)
}

/// Runs every file's scenario on `jobs` threads; with `baseline`, compares (or with `bless`
/// rewrites) its committed summary. Entries come back in file order.
pub fn run(files: &[PathBuf], baseline: Option<&Path>, bless: bool, jobs: usize) -> Vec<Entry> {
    let loaded: Vec<Result<Scenario, String>> = files
        .iter()
        .map(|f| Scenario::load(f).map_err(|e| e.to_string()))
        .collect();
    let runs = parallel::map(&loaded, jobs, &|_, _| {}, |s| match s {
        Ok(s) => crate::pipeline::run_timed(s, s.seed, &s.policy.preset, &mut |_, _| {})
            .map(|(summary, _)| Some(Box::new(summary))),
        Err(_) => Ok(None),
    });
    files
        .iter()
        .zip(loaded)
        .zip(runs)
        .map(|((file, scenario), run)| {
            let stem = file.file_stem().map_or_else(
                || file.display().to_string(),
                |s| s.to_string_lossy().into_owned(),
            );
            match (scenario, run) {
                (Err(e), _) => Entry {
                    name: stem,
                    verdict: ScenarioVerdict::Invalid(e),
                },
                (Ok(s), Err(e)) => Entry {
                    name: s.name,
                    verdict: ScenarioVerdict::Failed(e),
                },
                (Ok(s), Ok(summary)) => Entry {
                    verdict: match summary {
                        Some(summary) => judge(&s.name, summary, baseline, bless),
                        None => ScenarioVerdict::Failed("the run produced no summary".into()),
                    },
                    name: s.name,
                },
            }
        })
        .collect()
}

fn judge(name: &str, summary: Box<Summary>, dir: Option<&Path>, bless: bool) -> ScenarioVerdict {
    let mut pass = summary.passes();
    let failing = summary.failures();
    let mut note = if failing.is_empty() {
        String::new()
    } else {
        format!("  failing: {}", failing.join("; "))
    };
    let mut diff = None;
    if let Some(dir) = dir {
        if bless {
            let text = serde_json::to_string_pretty(&baseline::deterministic(&summary))
                .unwrap_or_default();
            match output::write_atomically(dir, &format!("{name}.json"), &text) {
                Ok(_) => note += "  baseline written",
                Err(e) => return ScenarioVerdict::Failed(format!("{}: {e}", dir.display())),
            }
        } else {
            match baseline::check(dir, &summary) {
                Ok(d) => {
                    if !d.is_empty() {
                        pass = false;
                        note += &format!("  {} fields differ from the baseline", d.len());
                    }
                    diff = Some(d);
                }
                Err(e) => {
                    pass = false;
                    note += &format!("  {e}");
                }
            }
        }
    }
    ScenarioVerdict::Ran {
        summary,
        pass,
        diff,
        note,
    }
}

/// The verdicts as JUnit XML: one suite a scenario, one case a gate, one for the baseline,
/// and one failing case for a scenario that could not be read or run.
pub fn junit(entries: &[Entry]) -> Result<String, String> {
    use reports::junit::{GateCase, Suite};
    // What a gate read, as the summary's JSON writes it.
    fn as_json(v: &impl serde::Serialize) -> String {
        serde_json::to_string(v).unwrap_or_default()
    }
    let suites: Vec<Suite> = entries
        .iter()
        .map(|e| match &e.verdict {
            ScenarioVerdict::Ran { summary, diff, .. } => Suite {
                name: e.name.clone(),
                gates: summary
                    .gates
                    .iter()
                    .map(|g| GateCase {
                        gate: g.gate.clone(),
                        pass: g.pass,
                        value: as_json(&g.value),
                    })
                    .collect(),
                baseline: diff.clone(),
            },
            ScenarioVerdict::Invalid(message) | ScenarioVerdict::Failed(message) => Suite {
                name: e.name.clone(),
                gates: vec![GateCase {
                    gate: "the scenario loads and runs".into(),
                    pass: false,
                    value: as_json(message),
                }],
                baseline: None,
            },
        })
        .collect();
    reports::junit::gates(&suites)
}
