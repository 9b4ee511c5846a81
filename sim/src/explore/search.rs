//! The search: worlds run in batches under a policy, findings grouped by kind, the first
//! of each shrunk and written with the report (`bookingsim explore` without the printing).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::explore::around::Worlds;
use crate::explore::generate::Draw;
use crate::explore::merge::{self, Identity, Part, Record};
pub use crate::explore::merge::{Exploration, Finding, Phases, SLOWEST};
use crate::explore::shrink::{Tried, smallest_within};
use crate::pipeline::parallel;
use crate::scenario::Scenario;

/// Runs the scenario `text` under `policy`; the first violation found, if any.
pub fn check(text: &str, origin: &str, policy: &str) -> Result<Violated, String> {
    violations(text, origin, policy).map(|found| found.into_iter().next())
}

/// Runs the scenario `text` under `policy`: every kind of violation it shows, in kind
/// order, each with its first one's detail.
pub fn violations(text: &str, origin: &str, policy: &str) -> Result<Vec<Shown>, String> {
    run_world(text, origin, policy).map(|(found, _)| found)
}

/// A violation's kind and detail.
pub type Shown = (String, String);
type Violated = Option<Shown>;

/// [`violations`], and which rare paths the run reached.
fn run_world(
    text: &str,
    origin: &str,
    policy: &str,
) -> Result<(Vec<Shown>, BTreeMap<String, u64>), String> {
    run_world_timed(text, origin, policy, &mut Phases::default())
}

/// [`run_world`], adding the wall time of each stage to `phases` (reporting only).
fn run_world_timed(
    text: &str,
    origin: &str,
    policy: &str,
    phases: &mut Phases,
) -> Result<(Vec<Shown>, BTreeMap<String, u64>), String> {
    let mut stopwatch = Stopwatch::start();
    let scenario = Scenario::parse(text, origin).map_err(|e| e.to_string())?;
    phases.parse += stopwatch.lap();
    // `pipeline::run`, stage by stage.
    let mut spec = scenario.clone();
    spec.policy.preset = policy.to_owned();
    let resolved = spec.policy()?;
    resolved
        .check_ranges()
        .map_err(|e| format!("policy `{policy}`: {e}"))?;
    let seed = scenario.seed;
    // What explore reads of a run's summary, and nothing more: the violations (in the
    // summary's order) and the coverage; no histograms, time series, gates or digest.
    crate::pipeline::isolated(|| {
        let record =
            crate::world::simulated::run_with_progress(&scenario, seed, &resolved, &mut |_, _| {})?;
        phases.run += stopwatch.lap();
        let violations = crate::check::check(&scenario, &record)?;
        phases.check += stopwatch.lap();
        let coverage = crate::results::summary::coverage_of(&scenario, &record);
        let found = each_kind(&violations);
        phases.coverage += stopwatch.lap();
        Ok((found, coverage))
    })
}

/// Wall time, for the harness's own speed only: never part of a result, a report file or a
/// decision about a simulated outcome.
struct Stopwatch(std::time::Instant);

impl Stopwatch {
    #[allow(clippy::disallowed_methods)] // reason: reporting the harness's own speed only
    fn start() -> Self {
        Stopwatch(std::time::Instant::now())
    }

    /// The time since the start or the last lap.
    #[allow(clippy::disallowed_methods)] // reason: reporting the harness's own speed only
    fn lap(&mut self) -> Duration {
        let now = std::time::Instant::now();
        let lap = now - self.0;
        self.0 = now;
        lap
    }
}

/// The first violation of each kind (the checker lists them in kind order, as the summary
/// does).
fn each_kind(violations: &[crate::check::Violation]) -> Vec<Shown> {
    let mut out: Vec<Shown> = Vec::new();
    for v in violations {
        if out.last().is_none_or(|(k, _)| k != v.kind.name()) {
            out.push((v.kind.name().to_owned(), v.detail.clone()));
        }
    }
    out
}

/// Explores `runs` worlds from seed `first` on under `policy`.
pub fn explore(
    worlds: &Worlds,
    first: u64,
    runs: u64,
    policy: &str,
    jobs: usize,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Exploration {
    let seeds: Vec<u64> = (0..runs).map(|i| first.wrapping_add(i)).collect();
    explore_seeds(worlds, &seeds, policy, jobs, progress)
}

/// Explores the worlds of `seeds` (in that order) under `policy`.
pub fn explore_seeds(
    worlds: &Worlds,
    seeds: &[u64],
    policy: &str,
    jobs: usize,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Exploration {
    let results = parallel::map(seeds, jobs, progress, |seed| {
        let mut phases = Phases::default();
        let mut stopwatch = Stopwatch::start();
        let (text, row) = worlds.world_features(*seed)?;
        phases.generate = stopwatch.lap();
        let r = run_world_timed(&text, &format!("explore-{seed}"), policy, &mut phases);
        Ok((r, row, phases))
    });
    let mut out = Exploration::default();
    for (&seed, r) in seeds.iter().zip(results) {
        let r = match r {
            Ok((r, row, phases)) => {
                out.phases.absorb(phases);
                let took =
                    phases.generate + phases.parse + phases.run + phases.check + phases.coverage;
                out.note_slow([(seed, took)]);
                r.map(|r| (r, row))
            }
            Err(e) => Err(e),
        };
        match r {
            Ok(((found, coverage), row)) => {
                if let Some(row) = row {
                    out.pairs.add(&row);
                }
                for (k, n) in coverage {
                    *out.coverage.entry(k).or_default() += n;
                }
                for (kind, detail) in found {
                    out.findings.push(Finding { seed, kind, detail });
                }
            }
            Err(e) => out.broken.push((seed, e)),
        }
    }
    out
}

/// How many candidate worlds one shrink runs at most: a count, so that the shrunk file is
/// the same on any machine, and a failure's shrink costs a bounded time (a few hundred
/// runs of its world) however many steps down it could still take.
pub const SHRINK_BUDGET: u64 = 400;

/// Shrinks the scenario `text` while a run under `policy` still shows a violation of `kind`
/// (among whatever else it shows) ([`smallest_within`], at most [`SHRINK_BUDGET`]
/// candidates). Deterministic.
pub fn shrink(text: &str, policy: &str, kind: &str) -> String {
    shrink_counted(text, policy, kind).0
}

/// [`shrink`], and what it cost.
pub fn shrink_counted(text: &str, policy: &str, kind: &str) -> (String, Tried) {
    smallest_within(text, SHRINK_BUDGET, |candidate| {
        violations(candidate, "shrinking", policy)
            .is_ok_and(|found| found.iter().any(|(k, _)| k == kind))
    })
}

/// `bookingsim explore`: which worlds, how many of them (or for how long), under which
/// policy, on how many threads, and where the failures and the report go.
#[derive(Debug, Clone)]
pub struct Search {
    /// Scenario files (or folders of them) to explore around; none: generated worlds.
    pub paths: Vec<PathBuf>,
    /// `--set field=value`, applied to every world.
    pub sets: Vec<String>,
    /// How many worlds to run (with `time`: at most).
    pub runs: u64,
    /// A wall-time budget: worlds run in batches until it is spent.
    pub time: Option<Duration>,
    /// The first world's seed (the others follow).
    pub seed: u64,
    /// The policy under test: one of the presets.
    pub policy: String,
    /// Runs at once, one per thread.
    pub jobs: usize,
    /// Where `failures/` and `report.md` go.
    pub out: PathBuf,
    /// How generated worlds draw their features.
    pub draw: Draw,
    /// `--shard K/N`: only the search's `i`-th worlds with `i mod N = K - 1`.
    pub shard: Option<(u64, u64)>,
}

/// Why a search stopped: bad input (the CLI exits 2), or a world that ran once and then
/// could not be generated again to be shrunk (exit 1).
#[derive(Debug, Clone, PartialEq)]
pub enum SearchError {
    Input(String),
    Run(String),
}

impl std::fmt::Display for SearchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SearchError::Input(e) | SearchError::Run(e) => f.write_str(e),
        }
    }
}

/// Every world run, before any is shrunk.
#[derive(Debug, Clone)]
pub struct Ran {
    /// How many worlds ran (fewer than asked when the time budget ran out).
    pub runs: u64,
    pub jobs: usize,
    /// The wall time it took: the harness's own speed, in no file.
    pub elapsed: Duration,
    pub exploration: Exploration,
    /// What ended the search: the runs or the time.
    pub ended: Ended,
}

/// The worlds that showed one kind of violation, in seed order; the first shrunk to `file`.
#[derive(Debug, Clone, PartialEq)]
pub struct KindFound {
    pub kind: String,
    pub findings: Vec<Finding>,
    pub file: PathBuf,
}

/// What a search found: the runs, each kind of violation with its shrunk file (by kind
/// name), and the report (the same seeds give the same text), written to `report_file`.
#[derive(Debug, Clone)]
pub struct Explored {
    pub ran: Ran,
    pub kinds: Vec<KindFound>,
    pub report: String,
    pub report_file: PathBuf,
}

impl Explored {
    /// No world showed a violation, and every one ran.
    pub fn clean(&self) -> bool {
        self.ran.exploration.findings.is_empty() && self.ran.exploration.broken.is_empty()
    }
}

/// What a search tells as it goes, for a caller to print.
#[derive(Debug)]
pub enum Event<'a> {
    /// Every world ran.
    Ran(&'a Ran),
    /// The first world of `kind` is about to be shrunk.
    Shrinking {
        kind: &'a str,
        findings: &'a [Finding],
    },
    /// It was, to `file`, after `tried` candidates in `took` (wall time, reporting only).
    Shrunk {
        kind: &'a str,
        file: &'a Path,
        tried: Tried,
        took: Duration,
    },
}

impl Search {
    /// The policy is one of the presets.
    fn known_policy(&self) -> Result<(), SearchError> {
        let policy = &self.policy;
        booking_engine::Policy::preset(policy)
            .map(drop)
            .ok_or_else(|| SearchError::Input(format!("--policy: unknown policy `{policy}`")))
    }

    fn worlds(&self) -> Result<Worlds, SearchError> {
        Worlds::around_files(&self.paths, &self.sets)
            .map(|w| Worlds {
                draw: self.draw,
                ..w
            })
            .map_err(SearchError::Input)
    }

    /// The world of `seed` as a scenario file (whole, not shrunk), under the policy the
    /// search runs it with: `explore --print`.
    pub fn world_file(&self) -> Result<String, SearchError> {
        self.known_policy()?;
        let text = self
            .worlds()?
            .world(self.seed)
            .map_err(SearchError::Input)?;
        Ok(with_policy(&text, &self.policy))
    }

    /// The search's `i`-th worlds this invocation runs, in order: every one, or with
    /// `--shard K/N` those with `i mod N = K - 1`.
    fn part(&self) -> (u64, u64) {
        self.shard.map_or((0, 1), |(k, n)| (k - 1, n))
    }

    /// Runs the worlds (`progress` is told runs done of each batch's), groups what they
    /// found by kind, shrinks the first of each into `out/failures/` and writes
    /// `out/report.md` (and `out/explore.json`, what `bookingsim merge` reads), the folder
    /// published as one set; `tell` hears each stage as it happens.
    pub fn run(
        &self,
        progress: &(dyn Fn(usize, usize) + Sync),
        tell: &mut dyn FnMut(Event<'_>),
    ) -> Result<Explored, SearchError> {
        let (seed, policy, paths, dir) = (self.seed, self.policy.as_str(), &self.paths, &self.out);
        self.known_policy()?;
        if self.runs == 0 || (self.runs > MAX_RUNS && self.time.is_none()) {
            return Err(SearchError::Input(format!(
                "--runs: expected 1 to {MAX_RUNS}"
            )));
        }
        if let Some((k, n)) = self.shard
            && (k == 0 || k > n)
        {
            return Err(SearchError::Input(format!(
                "--shard {k}/{n}: expected K/N with 1 <= K <= N"
            )));
        }
        // A folder that could not be replaced is refused now, not after the worlds ran.
        crate::results::output::check_out(
            dir,
            "exploration",
            &crate::results::output::EXPLORE_FILES,
        )
        .map_err(|e| SearchError::Input(crate::results::output::message(dir, &e)))?;
        let worlds = self.worlds()?;
        // The first worlds are checked up front: a bad `[explore]` range or `--set` is bad
        // input, not a world that fails to run.
        for s in seed..seed.saturating_add(paths.len().max(1) as u64) {
            let text = worlds.world(s).map_err(SearchError::Input)?;
            Scenario::parse(&text, &format!("explore world {s}"))
                .map_err(|e| SearchError::Input(e.to_string()))?;
        }
        #[allow(clippy::disallowed_methods)] // reason: the --time budget; never in the results
        let started = std::time::Instant::now();
        // This invocation's worlds: the search's `offset`-th, then every `stride`-th.
        let (offset, stride) = self.part();
        let mine = if offset >= self.runs {
            0
        } else {
            (self.runs - offset).div_ceil(stride)
        };
        // Without a budget one pass; with one, batches until it is spent (each batch's seeds
        // follow the last, so the worlds run are the same whatever the machine's speed allows).
        let mut found = Exploration::default();
        let mut done = 0;
        let mut ended = Ended::Runs;
        while done < mine {
            let batch = match self.time {
                None => mine,
                Some(_) => (8 * self.jobs as u64).max(32).min(mine - done),
            };
            let seeds: Vec<u64> = (done..done + batch)
                .map(|j| seed.wrapping_add(offset + j * stride))
                .collect();
            found.absorb(explore_seeds(&worlds, &seeds, policy, self.jobs, progress));
            done += batch;
            if done < mine && self.time.is_some_and(|t| started.elapsed() >= t) {
                ended = Ended::Time;
                break;
            }
        }
        let ran = Ran {
            runs: done,
            jobs: self.jobs,
            elapsed: started.elapsed(),
            exploration: found,
            ended,
        };
        tell(Event::Ran(&ran));
        let mut by_kind: BTreeMap<&str, Vec<Finding>> = BTreeMap::new();
        for f in &ran.exploration.findings {
            by_kind.entry(f.kind.as_str()).or_default().push(f.clone());
        }
        // Each kind's first world is shrunk on a thread of its own (the shrunk files are
        // the same whatever the threads); what happens is told in kind order.
        let firsts: Vec<u64> = by_kind.values().map(|found| found[0].seed).collect();
        let kinds_found: Vec<&str> = by_kind.keys().copied().collect();
        let jobs: Vec<(u64, &str)> = firsts.into_iter().zip(kinds_found).collect();
        let shrunk_all = parallel::map(&jobs, self.jobs, &|_, _| {}, |(seed, kind)| {
            let mut stopwatch = Stopwatch::start();
            let world = worlds.world(*seed)?;
            let (shrunk, tried) = shrink_counted(&world, policy, kind);
            // The header names what the shrunk file itself shows (its own calls).
            let shows = violations(&shrunk, "shrunk", policy).unwrap_or_default();
            Ok((shrunk, shows, tried, stopwatch.lap()))
        });
        // The folder is published as one set: the shrunk files, the record, the report.
        let failed = |e: std::io::Error| SearchError::Input(format!("{}: {e}", dir.display()));
        let mut folder = crate::results::output::RunFolder::begin_as(
            dir,
            "exploration",
            &crate::results::output::EXPLORE_FILES,
        )
        .map_err(|e| SearchError::Input(crate::results::output::message(dir, &e)))?;
        let mut kinds = Vec::new();
        for ((kind, found), shrunk) in by_kind.into_iter().zip(shrunk_all) {
            tell(Event::Shrinking {
                kind,
                findings: &found,
            });
            let first = &found[0];
            let (shrunk, shows, tried, took) = shrunk.map_err(SearchError::Run)?;
            let (file, text) = failure(dir, first, policy, &shrunk, &shows);
            let name = file.file_name().unwrap_or_default().to_string_lossy();
            folder
                .write(&format!("failures/{name}"), &text)
                .map_err(failed)?;
            tell(Event::Shrunk {
                kind,
                file: &file,
                tried,
                took,
            });
            kinds.push(KindFound {
                kind: kind.to_owned(),
                findings: found,
                file,
            });
        }
        let record = record(self, &worlds, &ran, &kinds);
        let report = record.report(dir);
        let written =
            serde_json::to_string_pretty(&record).map_err(|e| SearchError::Run(e.to_string()))?;
        folder.write(merge::RECORD, &written).map_err(failed)?;
        folder.write("report.md", &report).map_err(failed)?;
        let report_file = folder.publish().map_err(failed)?.join("report.md");
        Ok(Explored {
            ran,
            kinds,
            report,
            report_file,
        })
    }
}

/// The record of a search that ran (what `merge` reads and the report is made from).
pub fn record(search: &Search, worlds: &Worlds, ran: &Ran, kinds: &[KindFound]) -> Record {
    let (offset, stride) = search.shard.map_or((0, 1), |(k, n)| (k - 1, n));
    let mut generator = String::new();
    for s in search.seed..search.seed.saturating_add(4) {
        generator.push_str(&worlds.world(s).unwrap_or_default());
    }
    let found = &ran.exploration;
    Record {
        format: merge::FORMAT,
        search: Identity {
            policy: search.policy.clone(),
            sets: search.sets.clone(),
            draw: merge::draw_name(search.draw).to_owned(),
            seed: search.seed,
            runs: search.runs,
            around: worlds
                .around
                .iter()
                .map(|(origin, text)| format!("{origin} {}", merge::hex_digest(text)))
                .collect(),
            generator: merge::hex_digest(&generator),
        },
        parts: merge::normalized(vec![Part {
            offset,
            stride,
            count: ran.runs,
        }]),
        findings: found.findings.clone(),
        broken: found.broken.clone(),
        coverage: found.coverage.clone(),
        pair_worlds: found.pairs.worlds,
        pairs_met: found.pairs.met_pairs().collect(),
        failures: kinds
            .iter()
            .filter_map(|k| {
                let name = k.file.file_name()?.to_string_lossy().into_owned();
                Some((k.kind.clone(), name))
            })
            .collect(),
    }
}

/// Why a search stopped running worlds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// Every world asked for (`--runs`, or all there are) ran.
    Runs,
    /// The `--time` budget was spent first.
    Time,
}

/// The most worlds `--runs` asks for in one pass (with `--time` the worlds run in batches,
/// and `--time` alone has no bound but the time).
pub const MAX_RUNS: u64 = 10_000_000;

/// Writes a shrunk failure to `dir/failures/`: the scenario with a comment saying what it
/// shows (`shows`: what a run of the shrunk file found, kind and detail; the finding's own
/// detail if that run did not show its kind) and how to replay it. Returns the file's path.
pub fn write_failure(
    dir: &Path,
    finding: &Finding,
    policy: &str,
    shrunk: &str,
    shows: &[Shown],
) -> std::io::Result<std::path::PathBuf> {
    let (file, text) = failure(dir, finding, policy, shrunk, shows);
    let name = file.file_name().unwrap_or_default().to_string_lossy();
    crate::results::output::write_atomically(&dir.join("failures"), &name, &text)
}

/// A shrunk failure's path in `dir/failures/` and its text (see [`write_failure`]).
pub fn failure(
    dir: &Path,
    finding: &Finding,
    policy: &str,
    shrunk: &str,
    shows: &[Shown],
) -> (std::path::PathBuf, String) {
    let name = format!("{}-seed-{}.toml", finding.kind, finding.seed);
    let failures = dir.join("failures");
    let file = failures.join(&name);
    let detail = shows
        .iter()
        .find(|(k, _)| *k == finding.kind)
        .map_or(finding.detail.as_str(), |(_, d)| d.as_str());
    let call = detail
        .split_whitespace()
        .find(|w| w.starts_with("call_") || w.starts_with("storm"))
        .map(|c| c.trim_matches(|ch: char| !ch.is_alphanumeric() && ch != '_'));
    let mut text = format!(
        "# Found by `bookingsim explore` (seed {seed}, policy {policy}) and shrunk:\n# {kind}: {detail}\n",
        seed = finding.seed,
        kind = finding.kind,
    );
    for (kind, also) in shows.iter().filter(|(k, _)| *k != finding.kind) {
        let _ = writeln!(text, "# also {kind}: {also}");
    }
    let _ = writeln!(text, "#\n#   bookingsim run {}", file.display());
    if let Some(call) = call {
        let _ = writeln!(
            text,
            "#   bookingsim replay {} --call {call}",
            file.display()
        );
    }
    text.push('\n');
    text.push_str(&with_policy(shrunk, policy));
    (file, text)
}

/// A world's text with `policy` as its preset, so that a plain `run` replays what explore
/// saw (the text as it was if it does not parse).
pub fn with_policy(world: &str, policy: &str) -> String {
    toml::from_str::<toml::Table>(world)
        .ok()
        .and_then(|mut doc| {
            let table = doc
                .entry("policy")
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            table.as_table_mut()?.insert("preset".into(), policy.into());
            toml::to_string(&doc).ok()
        })
        .unwrap_or_else(|| world.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Same seeds, same results, whatever the number of threads.
    #[test]
    fn an_exploration_is_the_same_on_one_thread_or_two() {
        let one = explore(&Worlds::generated(), 40, 6, "no-lock", 1, &|_, _| {});
        let two = explore(&Worlds::generated(), 40, 6, "no-lock", 2, &|_, _| {});
        assert_eq!(one.findings, two.findings);
        assert_eq!(one.coverage, two.coverage);
        assert!(one.broken.is_empty(), "{:?}", one.broken);
        assert!(one.coverage.values().sum::<u64>() > 0);
    }

    /// A world that shows several kinds of violation is reported under each (seed 5 under
    /// no-lock shows a double booking, an orphan, a partial compound and a ghost), counted
    /// once as a world; each kind is the first of its kind in the run's summary.
    #[test]
    fn a_world_is_reported_under_every_kind_it_shows() {
        let swarm = Worlds {
            draw: Draw::Swarm,
            ..Worlds::generated()
        };
        let found = explore(&swarm, 5, 1, "no-lock", 1, &|_, _| {});
        let kinds: Vec<&str> = found.findings.iter().map(|f| f.kind.as_str()).collect();
        assert!(kinds.len() >= 3, "{kinds:?}");
        assert!(kinds.contains(&"double_booking") && kinds.contains(&"partial_compound"));
        assert_eq!(found.worlds_found(), 1);
        let text = swarm.world(5).unwrap();
        let scenario = Scenario::parse(&text, "t").unwrap();
        let (summary, _) = crate::pipeline::run(&scenario, scenario.seed, "no-lock").unwrap();
        let mut every: Vec<&str> = summary.violations.iter().map(|v| v.kind.name()).collect();
        every.dedup();
        assert_eq!(kinds, every);
        for f in &found.findings {
            let first = summary.violations.iter().find(|v| v.kind.name() == f.kind);
            assert_eq!(first.map(|v| v.detail.as_str()), Some(f.detail.as_str()));
        }
    }

    /// Explore finds what each broken policy breaks within 200 worlds (the preset no-lock,
    /// the pre-sync check gone too, `full` with its interval lock taken back to the seeds'
    /// exact-start key or with the saga off) and shrinks it to a file of at most 3 calls
    /// that replays it with a plain `run`; shrinking is deterministic; `full` holds there.
    #[test]
    fn each_broken_layer_is_found_and_shrunk_to_a_replayable_file() {
        let cases: [(&str, &[&str], &str); 4] = [
            ("no-lock", &[], "double_booking"),
            ("no-conflict-check", &[], "double_booking"),
            ("full", &["policy.lock=\"exact_start\""], "double_booking"),
            ("full", &["policy.saga_compensation=false"], "orphan_calcom"),
        ];
        for (policy, sets, kind) in cases {
            let worlds = Worlds {
                around: Vec::new(),
                sets: sets.iter().map(|s| (*s).to_owned()).collect(),
                draw: Draw::Swarm,
            };
            let case = format!("{policy} {sets:?}");
            let found = (1..=200u64)
                .find_map(|seed| {
                    let text = worlds.world(seed).unwrap();
                    match check(&text, "explore", policy) {
                        Ok(Some((k, detail))) if k == kind => Some(Finding {
                            seed,
                            kind: k,
                            detail,
                        }),
                        _ => None,
                    }
                })
                .unwrap_or_else(|| panic!("{case}: no {kind} within 200 worlds"));
            let world = worlds.world(found.seed).unwrap();
            let shrunk = shrink(&world, policy, kind);
            let dir = tempfile::tempdir().unwrap();
            let shows = violations(&shrunk, "shrunk", policy).unwrap();
            let file = write_failure(dir.path(), &found, policy, &shrunk, &shows).unwrap();
            let written = std::fs::read_to_string(&file).unwrap();
            // The header names what the shrunk file shows, with its own calls.
            let (_, detail) = shows.iter().find(|(k, _)| k == kind).unwrap();
            assert!(
                written.contains(&format!("\n# {kind}: {detail}\n")),
                "{case}: {written}"
            );
            let scenario = Scenario::parse(&written, "failure").unwrap();
            assert!(
                crate::scenario::validate::planned_calls(&scenario) <= 3.0,
                "{case}: {written}"
            );
            let (summary, _) =
                crate::pipeline::run(&scenario, scenario.seed, &scenario.policy.preset).unwrap();
            assert!(summary.invariants[kind] > 0, "{case}: {written}");
            let mut repaired = scenario.clone();
            repaired.policy.overrides.clear();
            let (fixed, _) = crate::pipeline::run(&repaired, scenario.seed, "full").unwrap();
            assert_eq!(fixed.invariants[kind], 0, "{case}: full holds");
            assert_eq!(
                shrink(&world, policy, kind),
                shrunk,
                "{case}: deterministic"
            );
        }
    }

    /// A search called directly: with a time budget already spent it stops after its
    /// first batch (32 worlds); each kind found has its first world shrunk to a file, and
    /// the report it returns is the one it wrote.
    #[test]
    fn a_search_returns_what_it_wrote_and_stops_when_its_time_is_spent() {
        let dir = tempfile::tempdir().unwrap();
        let search = Search {
            paths: Vec::new(),
            sets: Vec::new(),
            runs: 40,
            time: Some(Duration::ZERO),
            seed: 6,
            policy: "no-lock".into(),
            jobs: 2,
            out: dir.path().to_path_buf(),
            draw: Draw::Swarm,
            shard: None,
        };
        let mut heard = Vec::new();
        let explored = search
            .run(&|_, _| {}, &mut |e| {
                heard.push(match e {
                    Event::Ran(ran) => format!("ran {}", ran.runs),
                    Event::Shrinking { kind, .. } => format!("shrinking {kind}"),
                    Event::Shrunk { kind, .. } => format!("shrunk {kind}"),
                })
            })
            .unwrap();
        assert_eq!(explored.ran.runs, 32);
        assert!(!explored.clean());
        assert!(!explored.kinds.is_empty());
        let mut expected = vec!["ran 32".to_owned()];
        for k in &explored.kinds {
            expected.push(format!("shrinking {}", k.kind));
            expected.push(format!("shrunk {}", k.kind));
            assert!(k.findings.iter().all(|f| f.kind == k.kind));
            let text = std::fs::read_to_string(&k.file).unwrap();
            assert!(
                text.starts_with("# Found by `bookingsim explore` (seed "),
                "{text}"
            );
        }
        assert_eq!(heard, expected);
        let found: usize = explored.kinds.iter().map(|k| k.findings.len()).sum();
        assert_eq!(found, explored.ran.exploration.findings.len());
        assert!(
            explored
                .report
                .starts_with("# bookingsim explore\n\n32 worlds (seeds 6 to 37) under `no-lock`: "),
            "{}",
            explored.report
        );
        assert_eq!(
            std::fs::read_to_string(&explored.report_file).unwrap(),
            explored.report
        );
        assert_eq!(
            search.world_file().unwrap(),
            with_policy(&crate::explore::generate::generate(6), "no-lock")
        );
    }

    /// `--time` without `--runs` (runs unbounded) stops only when the time is spent, after
    /// a whole batch, and says the time ended it; with both, the runs may end it first.
    #[test]
    fn a_time_budget_alone_ends_a_search_and_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let search = Search {
            paths: Vec::new(),
            sets: Vec::new(),
            runs: u64::MAX,
            time: Some(Duration::ZERO),
            seed: 1,
            policy: "full".into(),
            jobs: 2,
            out: dir.path().to_path_buf(),
            draw: Draw::default(),
            shard: None,
        };
        let ran = search.run(&|_, _| {}, &mut |_| {}).unwrap().ran;
        assert_eq!((ran.runs, ran.ended), (32, Ended::Time));
        let counted = Search {
            runs: 3,
            time: Some(Duration::from_secs(3600)),
            ..search.clone()
        };
        let ran = counted.run(&|_, _| {}, &mut |_| {}).unwrap().ran;
        assert_eq!((ran.runs, ran.ended), (3, Ended::Runs));
        let e = Search {
            time: None,
            ..search
        }
        .run(&|_, _| {}, &mut |_| {})
        .unwrap_err();
        assert_eq!(
            e,
            SearchError::Input(format!("--runs: expected 1 to {MAX_RUNS}"))
        );
    }

    /// Bad input is refused before any world runs.
    #[test]
    fn a_search_refuses_bad_input() {
        let search = Search {
            paths: Vec::new(),
            sets: Vec::new(),
            runs: 1,
            time: None,
            seed: 1,
            policy: "full".into(),
            jobs: 1,
            out: PathBuf::from("/nonexistent/explore"),
            draw: Draw::default(),
            shard: None,
        };
        let refused = |s: Search| s.run(&|_, _| {}, &mut |_| {}).unwrap_err();
        let e = refused(Search {
            policy: "nope".into(),
            ..search.clone()
        });
        assert_eq!(
            e,
            SearchError::Input("--policy: unknown policy `nope`".into())
        );
        let e = refused(Search {
            runs: 0,
            ..search.clone()
        });
        assert_eq!(
            e,
            SearchError::Input(format!("--runs: expected 1 to {MAX_RUNS}"))
        );
        let e = refused(Search {
            paths: vec![PathBuf::from("/nonexistent/world.toml")],
            ..search.clone()
        });
        assert!(matches!(e, SearchError::Input(m) if m.contains("/nonexistent/world.toml")));
        let e = refused(Search {
            sets: vec!["seed".into()],
            ..search.clone()
        });
        assert_eq!(
            e,
            SearchError::Input("--set seed: expected field=value".into())
        );
    }
}
