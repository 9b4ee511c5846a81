//! A comparison or sweep from its arguments to its files, in steps a caller prints between:
//! [`plan`] (the grid, checked, and this shard's runs), [`Planned::execute`],
//! [`Planned::write_runs`] (a shard: `plan.json`, `runs.jsonl`), [`Planned::finish`] (those,
//! the report and the gates' verdicts, [`Outcome`]); and [`merge`], which reads shards and
//! finishes them as one. Each folder is published as one set ([`RunFolder`]): a reader sees
//! the previous sweep's files or the new one's, never a mix.

use std::path::{Path, PathBuf};

use crate::experiment::{Plan, Report, Task};
use crate::results::aggregate::RunResult;
use crate::results::output::{RunFolder, SWEEP_FILES};
use crate::scenario::Scenario;

/// What defines a comparison (no parameters) or a sweep, as the command line gives it.
#[derive(Debug, Clone, Default)]
pub struct SweepArgs {
    /// The scenario file.
    pub file: PathBuf,
    /// `--set FIELD=VALUE` for every point: part of the plan's scenario text.
    pub sets: Vec<String>,
    /// `--param NAME=RANGE`; none for a comparison.
    pub params: Vec<String>,
    /// None: the scenario's own policy.
    pub policies: Vec<String>,
    pub knees: Vec<String>,
    /// Seeds per point.
    pub seeds: u64,
    /// `K/N`: run only that slice.
    pub shard: Option<String>,
    /// The output folder; `out/<scenario>-<kind>[-shard-K-of-N]` when none.
    pub out: Option<PathBuf>,
    /// `compare` or `sweep`, for the default folder.
    pub kind: String,
}

/// A checked plan and the runs this invocation makes of it.
#[derive(Debug, Clone)]
pub struct Planned {
    pub plan: Plan,
    /// The scenario at every grid point.
    pub scenarios: Vec<Scenario>,
    /// The whole plan's runs, or the shard's.
    pub tasks: Vec<Task>,
    /// `(k, n)` when this is shard k of n.
    pub shard: Option<(usize, usize)>,
    pub dir: PathBuf,
}

/// The runs made: those that completed, and those that broke with why.
#[derive(Debug, Clone, Default)]
pub struct Executed {
    pub runs: Vec<RunResult>,
    pub broken: Vec<(Task, String)>,
}

/// A finished comparison or sweep: its report, written to `dir`, and the gates' verdicts.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub report: Report,
    pub doc: reports::Document,
    /// Per policy and point, each gate some run failed:
    /// `policy[ name=value...]: gate failed in F of N runs`.
    pub failing_gates: Vec<String>,
    /// Whether the gates decide the exit: in a comparison (the scenario as written, policies
    /// aside) they do; a sweep changes what they were written for (`calls >= 2900` at a
    /// tenth of the call rate), so there they are reported per point, not enforced.
    pub enforced: bool,
    pub dir: PathBuf,
}

impl Outcome {
    /// An enforced gate failed in some run.
    pub fn gates_fail(&self) -> bool {
        self.enforced && !self.failing_gates.is_empty()
    }
}

/// `K/N` with 1 <= K <= N.
pub fn parse_shard(text: &str) -> Result<(usize, usize), String> {
    let bad = || format!("--shard {text}: expected K/N with 1 <= K <= N");
    let (k, n) = text.split_once('/').ok_or_else(bad)?;
    let (k, n) = (
        k.trim().parse::<usize>().map_err(|_| bad())?,
        n.trim().parse::<usize>().map_err(|_| bad())?,
    );
    if k == 0 || k > n {
        return Err(bad());
    }
    Ok((k, n))
}

/// Reads the scenario, builds and checks the plan, and picks this invocation's runs.
pub fn plan(args: &SweepArgs) -> Result<Planned, String> {
    let file = &args.file;
    let origin = file.display().to_string();
    let text = std::fs::read_to_string(file).map_err(|e| format!("{origin}: {e}"))?;
    let scenario = Scenario::with_sets(&text, &origin, &args.sets).map_err(|e| e.to_string())?;
    // `--set` applies to every point: it becomes part of the plan's scenario text.
    let text = if args.sets.is_empty() {
        text
    } else {
        crate::scenario::with_sets_text(&text, &origin, &args.sets).map_err(|e| e.to_string())?
    };
    let (plan, scenarios) = Plan::new(
        &origin,
        text,
        &scenario,
        &args.params,
        args.policies.clone(),
        args.seeds,
        args.knees.clone(),
    )?;
    let shard = args.shard.as_deref().map(parse_shard).transpose()?;
    let tasks = match shard {
        Some((k, n)) => plan.shard(k, n),
        None => plan.tasks(),
    };
    let dir = args.out.clone().unwrap_or_else(|| {
        let mut name = format!("{}-{}", scenario.name, args.kind);
        if let Some((k, n)) = shard {
            name += &format!("-shard-{k}-of-{n}");
        }
        PathBuf::from("out").join(name)
    });
    // A folder that could not be replaced is refused now, not after the runs.
    crate::results::output::check_out(&dir, "sweep", &SWEEP_FILES)
        .map_err(|e| crate::results::output::message(&dir, &e))?;
    Ok(Planned {
        plan,
        scenarios,
        tasks,
        shard,
        dir,
    })
}

/// Begins a comparison's or sweep's folder for `dir` (published whole, or not at all).
pub fn folder(dir: &Path) -> Result<RunFolder, String> {
    RunFolder::begin_as(dir, "sweep", &SWEEP_FILES)
        .map_err(|e| crate::results::output::message(dir, &e))
}

/// Writes `plan.json` and `runs.jsonl` (one [`RunResult`] a line, sealed) into `folder`.
pub fn write_runs(folder: &mut RunFolder, plan: &Plan, runs: &[RunResult]) -> Result<(), String> {
    let out = folder.out().display().to_string();
    let failed = |e: std::io::Error| format!("{out}: {e}");
    let text = plan.to_text();
    folder.write("plan.json", &text).map_err(failed)?;
    let lines: Vec<String> = runs
        .iter()
        .map(|r| serde_json::to_string(&r.sealed(&text)).expect("a run is plain data"))
        .collect();
    folder
        .write("runs.jsonl", &lines.join("\n"))
        .map_err(failed)
}

impl Planned {
    /// Makes the runs on `jobs` threads (see [`crate::experiment::execute`]).
    pub fn execute(&self, jobs: usize, progress: &(dyn Fn(usize, usize) + Sync)) -> Executed {
        let results = crate::experiment::execute(&self.scenarios, &self.tasks, jobs, progress);
        let mut executed = Executed::default();
        for (task, result) in self.tasks.iter().zip(results) {
            match result {
                Ok(run) => executed.runs.push(run),
                Err(e) => executed.broken.push((task.clone(), e)),
            }
        }
        executed
    }

    /// A shard's folder, published: `plan.json` and `runs.jsonl` (one [`RunResult`] a
    /// line), what a merge reads.
    pub fn write_runs(&self, runs: &[RunResult]) -> Result<(), String> {
        let mut folder = folder(&self.dir)?;
        write_runs(&mut folder, &self.plan, runs)?;
        folder
            .publish()
            .map(drop)
            .map_err(|e| format!("{}: {e}", self.dir.display()))
    }

    /// The whole folder of `runs`, published: `plan.json`, `runs.jsonl` and the report
    /// (see [`finish`]).
    pub fn finish(&self, runs: &[RunResult]) -> Result<Outcome, String> {
        let mut folder = folder(&self.dir)?;
        write_runs(&mut folder, &self.plan, runs)?;
        finish(&self.plan, &self.scenarios, runs, &[], folder)
    }
}

/// The report from the runs, written into `folder` (`sweep.json`, `points.csv`,
/// `report.md`, `report.html`, `charts/`) beside what it holds already, which is then
/// published; and every gate some run failed, per policy and point.
pub fn finish(
    plan: &Plan,
    scenarios: &[Scenario],
    runs: &[RunResult],
    dropped: &[String],
    mut folder: RunFolder,
) -> Result<Outcome, String> {
    let (mut report, aggregates) = crate::experiment::report(plan, scenarios, runs);
    if !dropped.is_empty() {
        report.dropped = dropped.to_vec();
        report.complete = false;
    }
    let doc = crate::experiment::write_sweep(&mut folder, &report, &aggregates)?;
    let failing_gates = report
        .points
        .iter()
        .flat_map(|p| &p.policies)
        .flat_map(|(policy, s)| {
            s.gates.iter().filter(|g| !g.pass).map(move |g| {
                let at: String = s.params.iter().map(|(k, v)| format!(" {k}={v}")).collect();
                format!(
                    "{policy}{at}: {} failed in {} of {} runs",
                    g.gate, g.failed_runs, g.runs
                )
            })
        })
        .collect();
    let out = folder.out().to_owned();
    let dir = folder
        .publish()
        .map_err(|e| format!("{}: {e}", out.display()))?;
    Ok(Outcome {
        report,
        doc,
        failing_gates,
        enforced: plan.params.is_empty(),
        dir,
    })
}

/// Shards read back: their plan, the runs present and how many the plan has.
#[derive(Debug, Clone)]
pub struct Merged {
    pub plan: Plan,
    pub scenarios: Vec<Scenario>,
    pub runs: Vec<RunResult>,
    /// Runs in the whole plan: fewer present means a shard is missing.
    pub expected: usize,
    /// Records left out, with where and why (see [`crate::experiment::Shards`]).
    pub dropped: Vec<String>,
    pub dir: PathBuf,
}

/// Reads the plan and runs of every shard folder and checks they belong together (see
/// [`crate::experiment::read_shards`]: every record's digest verified, a run the plan does
/// not have or a second copy left out and named); the output folder is `out/<scenario>-merged` when
/// none is given.
pub fn merge(dirs: &[PathBuf], out: Option<PathBuf>) -> Result<Merged, String> {
    let crate::experiment::Shards {
        plan,
        runs,
        dropped,
    } = crate::experiment::read_shards(dirs)?;
    let scenarios = plan.scenarios()?;
    let expected = plan.tasks().len();
    let dir = out.unwrap_or_else(|| PathBuf::from("out").join(format!("{}-merged", plan.scenario)));
    Ok(Merged {
        plan,
        scenarios,
        runs,
        expected,
        dropped,
        dir,
    })
}

impl Merged {
    /// Finishes the sweep as if it had run in one place: `plan.json`, `runs.jsonl` and the
    /// report, published as one set.
    pub fn finish(&self) -> Result<Outcome, String> {
        let mut folder = folder(&self.dir)?;
        write_runs(&mut folder, &self.plan, &self.runs)?;
        finish(
            &self.plan,
            &self.scenarios,
            &self.runs,
            &self.dropped,
            folder,
        )
    }
}
