//! `bookingsim`: run, replay, validate and gate scenarios.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use sim::Scenario;
use sim::results::summary;
use simkit::say;

/// A run allocates and frees small objects by the million (messages, JSON, futures):
/// mimalloc takes 12 % fewer instructions than the system allocator for `voice-journeys`
/// (README, performance).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "bookingsim",
    version,
    about = "Deterministic simulation of voice-AI appointment booking against a misbehaving Cal.com"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a scenario: outcome table, race-failure rate, latencies, invariants; summary.json.
    Run {
        file: PathBuf,
        /// Seed of every random choice (default: the scenario's).
        #[arg(long)]
        seed: Option<u64>,
        /// Policy preset (default: the scenario's), the scenario's overrides still applied.
        #[arg(long)]
        policy: Option<String>,
        /// Override any scenario field: `--set policy.cache_ttl="30s"`, `--set seed=7`.
        #[arg(long = "set", value_name = "FIELD=VALUE")]
        sets: Vec<String>,
        /// Where summary.json goes (default: out/<scenario name>).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Print one call's timeline, line by line.
    Replay {
        file: PathBuf,
        #[arg(long)]
        seed: Option<u64>,
        #[arg(long)]
        policy: Option<String>,
        /// The call: its id, or its number (1 = the first call to start).
        #[arg(long, default_value = "1")]
        call: String,
    },
    /// Check a written history (history.jsonl, from a run or from elsewhere) against every
    /// invariant; each violation with the first instant it held. Exit 1 when one is found.
    Check { history: PathBuf },
    /// Check scenario files without running them.
    Validate {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Run every policy on the same seeds; paired differences against the first policy.
    Compare {
        file: PathBuf,
        /// Policies to compare, the reference first: `baseline,double-check,full`.
        #[arg(long, value_delimiter = ',', required = true)]
        policies: Vec<String>,
        #[command(flatten)]
        grid: GridArgs,
    },
    /// Run a grid of scenario variants x policies x seeds; per point the summed results,
    /// paired differences and the knee.
    Sweep {
        file: PathBuf,
        /// A swept field: `NAME=A..B`, `NAME=A..B:STEP` (`policy.cache_ttl=0s..60s:15s`) or
        /// `NAME=a,b,c`; repeat for a grid. Knees are found along the first.
        #[arg(long = "param", value_name = "NAME=RANGE", required = true)]
        params: Vec<String>,
        /// Policies (default: the scenario's), the reference first.
        #[arg(long, value_delimiter = ',')]
        policies: Vec<String>,
        /// The knee: the smallest value of the first parameter at which this holds
        /// (gate grammar), per policy. Repeatable.
        #[arg(long = "knee", default_value = "race_failure_rate > 0.01")]
        knees: Vec<String>,
        #[command(flatten)]
        grid: GridArgs,
    },
    /// Combine the outputs of shards (`--shard K/N`) exactly; report and gates as if one
    /// machine had run them all.
    Merge {
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// Where the merged results go (default: out/<scenario>-merged).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Run every scenario (files or folders) and its gates; exit 1 if one fails.
    Gate {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Write the verdicts as JUnit XML.
        #[arg(long)]
        junit: Option<PathBuf>,
        /// Also fail when a deterministic field differs from the summary in this folder.
        #[arg(long)]
        baseline: Option<PathBuf>,
        /// Rewrite the baselines from this run instead of comparing.
        #[arg(long, requires = "baseline")]
        bless: bool,
    },
    /// Mutation-test a catalogue: switch off each layer of the scenarios' policies alone
    /// (and try the broken presets); every mutant must make some scenario's gates fail.
    /// Exit 1 if one survives.
    Mutants {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Runs at once, one per thread (default: every core).
        #[arg(long)]
        jobs: Option<usize>,
    },
    /// Search generated worlds (stylists, services, workloads, Cal.com misbehaviour, engine
    /// faults) for invariant violations; shrink the first of each kind to a small scenario
    /// file in OUT/failures. Exit 1 if one was found.
    Explore {
        /// Explore around these scenario files (or the ones in these folders) instead of
        /// generating whole worlds: what they fix stays fixed; an `[explore]` table says
        /// what may vary.
        paths: Vec<PathBuf>,
        /// How many worlds to run (with --time: at most).
        #[arg(long, default_value_t = 200)]
        runs: u64,
        /// A wall-time budget (`10m`): worlds run in batches until it is spent.
        #[arg(long, value_parser = humantime::parse_duration)]
        time: Option<std::time::Duration>,
        /// The first world's seed (the others follow).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// The policy under test.
        #[arg(long, default_value = "full")]
        policy: String,
        /// Override a field in every world: `--set policy.saga_compensation=false`.
        #[arg(long = "set", value_name = "FIELD=VALUE")]
        sets: Vec<String>,
        /// Runs at once, one per thread (default: every core).
        #[arg(long)]
        jobs: Option<usize>,
        /// Where failures go (default: out/explore).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Print the world of `--seed` as a scenario file (whole, not shrunk), run nothing:
        /// `bookingsim explore --seed 7617 --print > world.toml`.
        #[arg(long)]
        print: bool,
    },
    /// Run a scenario against a running booking engine and a running `mock-calcom serve`, in
    /// real time: the same outcomes, invariants (what can be seen from outside), histograms,
    /// gates and files as `run`. Ctrl-C stops it and still writes the results, marked
    /// incomplete.
    Live {
        file: PathBuf,
        /// The engine's base URL (Retell's function calls go to /api/webhooks/retell/function).
        #[arg(long, required_unless_present = "print_engine_config")]
        engine: Option<String>,
        /// Print the `booking-engine serve --config` file for this scenario (its services and
        /// policy overrides), and the command that serves it; run nothing.
        #[arg(long)]
        print_engine_config: bool,
        /// The mock Cal.com's base URL; the engine must use the same one.
        #[arg(long, default_value = "http://127.0.0.1:8787")]
        calcom: String,
        /// Sign function calls as Retell does (`x-retell-signature`).
        #[arg(long)]
        retell_api_key: Option<String>,
        /// Where the mock posts Cal.com's webhooks (default: ENGINE/api/webhooks/calcom).
        #[arg(long)]
        webhook_url: Option<String>,
        /// The webhook subscription's secret, as the engine is configured with it.
        #[arg(long)]
        webhook_secret: Option<String>,
        /// Seed of the plans and of the mock's random choices (default: the scenario's).
        #[arg(long)]
        seed: Option<u64>,
        #[arg(long = "set", value_name = "FIELD=VALUE")]
        sets: Vec<String>,
        /// Where summary.json goes (default: out/<scenario name>-live).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// List the policy presets.
    Policies,
    /// Print the scenario format as JSON Schema (docs/scenario.schema.json), for editors.
    Schema,
}

/// What comparisons and sweeps share.
#[derive(clap::Args)]
struct GridArgs {
    /// Seeds per point: the scenario's seed and the ones after it.
    #[arg(long, default_value_t = 10)]
    seeds: u64,
    /// Runs at once, one per thread (default: every core).
    #[arg(long)]
    jobs: Option<usize>,
    /// Override scenario fields for every run, as `run --set`.
    #[arg(long = "set", value_name = "FIELD=VALUE")]
    sets: Vec<String>,
    /// Run only slice K of N (1-based) of the (point, seed) pairs; merge with `merge`.
    #[arg(long, value_name = "K/N")]
    shard: Option<String>,
    /// Output folder (default: out/<scenario>-compare or -sweep).
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Exit codes: 0 ok, 1 a gate failed, 2 bad input.
const GATE_FAILED: u8 = 1;
const BAD_INPUT: u8 = 2;
/// A run that broke (the simulation failed or panicked) counts as a failure, like a gate.
const RUN_FAILED: u8 = 1;

/// `bookingsim check`: exit 0 when every invariant holds, 1 when one does not, 2 when the
/// history cannot be read.
fn check_history(path: &Path) -> ExitCode {
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
            say!("{}: {} violation(s)", path.display(), found.len());
            for v in &found {
                say!(
                    "  {:>9.3} s  {}: {}",
                    v.at_ms as f64 / 1000.0,
                    v.kind,
                    v.detail
                );
            }
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    // `RUST_LOG=booking_engine=debug bookingsim run …`: what the engine and the mock log,
    // on stderr (off unless asked for: a run's outputs never depend on it).
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .without_time()
            .with_writer(std::io::stderr)
            .init();
    }
    match Cli::parse().command {
        Command::Policies => {
            for (name, description) in booking_engine::policy::PRESETS {
                say!("{name:<22} {description}");
            }
            ExitCode::SUCCESS
        }
        Command::Schema => {
            use std::io::Write as _;
            let text = sim::scenario::schema::scenario_schema_text();
            // A closed pipe (`| head`) is not an error.
            let _ = std::io::stdout().write_all(text.as_bytes());
            ExitCode::SUCCESS
        }
        Command::Validate { files } => {
            let mut ok = true;
            for f in files {
                match Scenario::load(&f) {
                    Ok(s) => say!("{}: ok ({})", f.display(), s.name),
                    Err(e) => {
                        eprintln!("error: {e}");
                        ok = false;
                    }
                }
            }
            if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(BAD_INPUT)
            }
        }
        Command::Run {
            file,
            seed,
            policy,
            sets,
            out,
        } => exit(run(&file, seed, policy, &sets, out)),
        Command::Check { history } => check_history(&history),
        Command::Live {
            file,
            engine,
            print_engine_config,
            calcom,
            retell_api_key,
            webhook_url,
            webhook_secret,
            seed,
            sets,
            out,
        } => {
            let scenario = match load(&file, &sets) {
                Ok(s) => s,
                Err(e) => return exit(Err(e)),
            };
            if print_engine_config {
                print!("{}", sim::world::live::engine_config(&scenario, &calcom));
                return ExitCode::SUCCESS;
            }
            let options = sim::world::live::Options {
                engine: engine.unwrap_or_default(),
                calcom,
                retell_api_key,
                webhook_url,
                webhook_secret,
                seed: seed.unwrap_or(scenario.seed),
            };
            exit(live(&file, &scenario, &options, out))
        }
        Command::Replay {
            file,
            seed,
            policy,
            call,
        } => exit(replay(&file, seed, policy, &call)),
        Command::Compare {
            file,
            policies,
            grid,
        } => exit(sweep(
            &file,
            Vec::new(),
            policies,
            Vec::new(),
            grid,
            "compare",
        )),
        Command::Sweep {
            file,
            params,
            policies,
            knees,
            grid,
        } => exit(sweep(&file, params, policies, knees, grid, "sweep")),
        Command::Merge { dirs, out } => exit(merge(&dirs, out)),
        Command::Gate {
            paths,
            junit,
            baseline,
            bless,
        } => exit(gate(&paths, junit.as_deref(), baseline.as_deref(), bless)),
        Command::Mutants { paths, jobs } => exit(mutants(&paths, jobs)),
        Command::Explore {
            paths,
            runs,
            time,
            seed,
            policy,
            sets,
            jobs,
            out,
            print,
        } => {
            if print {
                exit(print_world(&paths, &sets, seed, &policy))
            } else {
                exit(explore(&paths, &sets, runs, time, seed, &policy, jobs, out))
            }
        }
    }
}

/// Errors end the program with their exit code and message.
struct Failure(u8, String);

fn exit(result: Result<u8, Failure>) -> ExitCode {
    match result {
        Ok(code) => ExitCode::from(code),
        Err(Failure(code, message)) => {
            eprintln!("error: {message}");
            ExitCode::from(code)
        }
    }
}

fn load(file: &Path, sets: &[String]) -> Result<Scenario, Failure> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| Failure(BAD_INPUT, format!("{}: {e}", file.display())))?;
    Scenario::with_sets(&text, &file.display().to_string(), sets)
        .map_err(|e| Failure(BAD_INPUT, e.to_string()))
}

/// Runs and times a scenario; the wall time is added outside the digest. On a terminal a
/// progress line shows how far the simulation has come.
fn timed_run(
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

fn run(
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
    Ok(if summary.gates_pass() { 0 } else { GATE_FAILED })
}

/// Exit code of a live run stopped by Ctrl-C (results written, marked incomplete).
const INTERRUPTED: u8 = 130;

fn live(
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
            sim::world::live::drive(scenario, options, stop, |elapsed, expected, in_flight| {
                if terminal {
                    let left = expected.saturating_sub(elapsed).as_secs();
                    let _ = write!(
                        std::io::stderr(),
                        "\r\x1b[2K  live: {} s of ~{} s, {left} s left, {in_flight} calls in flight (Ctrl-C stops)",
                        elapsed.as_secs(),
                        expected.as_secs()
                    );
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
    Ok(match &summary.live {
        Some(l) if l.incomplete => INTERRUPTED,
        _ if summary.gates_pass() => 0,
        _ => GATE_FAILED,
    })
}

fn replay(
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

fn scenario_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, Failure> {
    sim::experiment::catalogue::scenario_files(paths).map_err(|e| Failure(BAD_INPUT, e))
}

/// The worlds explore draws from: generated, or around the files in `paths`.
fn worlds(paths: &[PathBuf], sets: &[String]) -> Result<sim::explore::Worlds, Failure> {
    let mut around = Vec::new();
    for f in scenario_files(paths)? {
        load(&f, &[])?;
        let text = std::fs::read_to_string(&f)
            .map_err(|e| Failure(BAD_INPUT, format!("{}: {e}", f.display())))?;
        around.push((f.display().to_string(), text));
    }
    Ok(sim::explore::Worlds {
        around,
        sets: sets.to_vec(),
    })
}

/// `--policy` of `explore`: one of the presets.
fn known_policy(policy: &str) -> Result<(), Failure> {
    booking_engine::Policy::preset(policy)
        .map(drop)
        .ok_or_else(|| Failure(BAD_INPUT, format!("--policy: unknown policy `{policy}`")))
}

/// `explore --print`: the world of one seed, under the policy explore would run it with.
fn print_world(paths: &[PathBuf], sets: &[String], seed: u64, policy: &str) -> Result<u8, Failure> {
    known_policy(policy)?;
    let text = worlds(paths, sets)?
        .world(seed)
        .map_err(|e| Failure(BAD_INPUT, e))?;
    print!("{}", sim::explore::with_policy(&text, policy));
    Ok(0)
}

#[allow(clippy::too_many_arguments)]
fn explore(
    paths: &[PathBuf],
    sets: &[String],
    runs: u64,
    time: Option<std::time::Duration>,
    seed: u64,
    policy: &str,
    jobs: Option<usize>,
    out: Option<PathBuf>,
) -> Result<u8, Failure> {
    known_policy(policy)?;
    if runs == 0 || runs > 10_000_000 {
        return Err(Failure(BAD_INPUT, "--runs: expected 1 to 10000000".into()));
    }
    let worlds = worlds(paths, sets)?;
    // The first worlds are checked up front: a bad `[explore]` range or `--set` is bad input,
    // not a world that fails to run.
    for s in seed..seed.saturating_add(paths.len().max(1) as u64) {
        let text = worlds.world(s).map_err(|e| Failure(BAD_INPUT, e))?;
        Scenario::parse(&text, &format!("explore world {s}"))
            .map_err(|e| Failure(BAD_INPUT, e.to_string()))?;
    }
    let jobs = jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    #[allow(clippy::disallowed_methods)]
    // reason: the harness's own speed, never part of the results
    let started = std::time::Instant::now();
    // Without a budget one pass; with one, batches until it is spent (each batch's seeds
    // follow the last, so the worlds run are the same whatever the machine's speed allows).
    let mut found = sim::explore::Exploration::default();
    let mut done = 0;
    while done < runs {
        let batch = match time {
            None => runs,
            Some(_) => (8 * jobs as u64).max(32).min(runs - done),
        };
        found.absorb(sim::explore::explore(
            &worlds,
            seed.wrapping_add(done),
            batch,
            policy,
            jobs,
            &progress_bar("explore"),
        ));
        done += batch;
        if time.is_some_and(|t| started.elapsed() >= t) {
            break;
        }
    }
    let runs = done;
    let (findings, broken) = (&found.findings, &found.broken);
    let elapsed = started.elapsed().as_secs_f64();
    say!(
        "explore: {runs} worlds under {policy} in {elapsed:.1} s on {jobs} threads ({:.0} runs/s): {} found a violation",
        runs as f64 / elapsed.max(1e-9),
        findings.len()
    );
    for (seed, e) in broken {
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
    let mut by_kind: std::collections::BTreeMap<&str, Vec<&sim::explore::Finding>> =
        std::collections::BTreeMap::new();
    for f in findings {
        by_kind.entry(f.kind.as_str()).or_default().push(f);
    }
    let dir = out.unwrap_or_else(|| PathBuf::from("out").join("explore"));
    // The report: what ran, what broke, what the runs never reached (no wall time: the same
    // seeds give the same file).
    let mut report = format!(
        "# bookingsim explore\n\n{runs} worlds (seeds {seed} to {}) under `{policy}`{}{}: {} found a violation, {} did not run.\n\n",
        seed.wrapping_add(runs.saturating_sub(1)),
        if paths.is_empty() {
            String::new()
        } else {
            format!(", around {} scenario file(s)", worlds.around.len())
        },
        if sets.is_empty() {
            String::new()
        } else {
            format!(", with `--set {}`", sets.join(" --set "))
        },
        findings.len(),
        broken.len()
    );
    if !by_kind.is_empty() {
        report.push_str(
            "| violation | worlds | first seed | what | minimised |\n|---|---|---|---|---|\n",
        );
    }
    for (kind, found) in &by_kind {
        let first = found[0];
        say!(
            "  {kind}: {} world(s), first seed {}: {}",
            found.len(),
            first.seed,
            first.detail
        );
        let world = worlds
            .world(first.seed)
            .map_err(|e| Failure(RUN_FAILED, e))?;
        let shrunk = sim::explore::shrink(&world, policy, kind);
        let file = sim::explore::write_failure(&dir, first, policy, &shrunk)
            .map_err(|e| Failure(BAD_INPUT, format!("{}: {e}", dir.display())))?;
        say!("    shrunk to {}", file.display());
        report.push_str(&format!(
            "| {kind} | {} | {} | {} | `{}` |\n",
            found.len(),
            first.seed,
            first.detail.replace('|', "\\|"),
            file.display()
        ));
    }
    report.push_str("\n## Coverage of rare paths\n\n| path | reached |\n|---|---|\n");
    for (path, n) in &found.coverage {
        report.push_str(&format!("| {path} | {n} |\n"));
    }
    if !never.is_empty() {
        report.push_str(&format!("\nNever reached: {}.\n", never.join(", ")));
    }
    for (s, e) in broken {
        report.push_str(&format!("\nWorld {s} did not run: {e}\n"));
    }
    let written = sim::results::output::write_atomically(&dir, "report.md", &report)
        .map_err(|e| Failure(BAD_INPUT, format!("{}: {e}", dir.display())))?;
    say!("  wrote {}", written.display());
    Ok(if findings.is_empty() && broken.is_empty() {
        0
    } else {
        GATE_FAILED
    })
}

fn mutants(paths: &[PathBuf], jobs: Option<usize>) -> Result<u8, Failure> {
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

fn gate(
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
fn sweep(
    file: &Path,
    params: Vec<String>,
    policies: Vec<String>,
    knees: Vec<String>,
    grid: GridArgs,
    kind: &str,
) -> Result<u8, Failure> {
    let bad = |e: String| Failure(BAD_INPUT, e);
    let scenario = load(file, &grid.sets)?;
    let text =
        std::fs::read_to_string(file).map_err(|e| bad(format!("{}: {e}", file.display())))?;
    // `--set` applies to every point: it becomes part of the plan's scenario text.
    let text = if grid.sets.is_empty() {
        text
    } else {
        sim::scenario::with_sets_text(&text, &file.display().to_string(), &grid.sets)
            .map_err(|e| bad(e.to_string()))?
    };
    let (plan, scenarios) = sim::experiment::Plan::new(
        &file.display().to_string(),
        text,
        &scenario,
        &params,
        policies,
        grid.seeds,
        knees,
    )
    .map_err(bad)?;
    let shard = grid.shard.as_deref().map(parse_shard).transpose()?;
    let tasks = match shard {
        Some((k, n)) => plan.shard(k, n),
        None => plan.tasks(),
    };
    let dir = grid.out.unwrap_or_else(|| {
        let mut name = format!("{}-{kind}", scenario.name);
        if let Some((k, n)) = shard {
            name += &format!("-shard-{k}-of-{n}");
        }
        PathBuf::from("out").join(name)
    });
    let jobs = grid
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    #[allow(clippy::disallowed_methods)]
    // reason: the harness's own speed, never part of the results
    let started = std::time::Instant::now();
    let mut runs = Vec::new();
    let mut broken = 0;
    let results = sim::experiment::execute(&scenarios, &tasks, jobs, &progress_bar(kind));
    for (task, result) in tasks.iter().zip(results) {
        match result {
            Ok(run) => runs.push(run),
            Err(e) => {
                broken += 1;
                eprintln!(
                    "error: point {} policy {} seed {}: {e} (left out: the results are marked incomplete)",
                    task.point, task.policy, task.seed
                );
            }
        }
    }
    say!(
        "{kind}: {} runs ({} points x {} policies x {} seeds{}) in {:.1} s on {jobs} threads",
        runs.len(),
        plan.points().len(),
        plan.policies.len(),
        plan.seeds.len(),
        shard.map_or(String::new(), |(k, n)| format!(", shard {k}/{n}")),
        started.elapsed().as_secs_f64()
    );
    let failed = |e: std::io::Error| Failure(BAD_INPUT, format!("{}: {e}", dir.display()));
    let plan_text = serde_json::to_string_pretty(&plan.to_json()).unwrap_or_default();
    sim::results::output::write_atomically(&dir, "plan.json", &plan_text).map_err(failed)?;
    let lines: Vec<String> = runs.iter().map(|r| r.to_json().to_string()).collect();
    sim::results::output::write_atomically(&dir, "runs.jsonl", &lines.join("\n"))
        .map_err(failed)?;
    if shard.is_some() {
        say!(
            "  wrote {} (plan.json, runs.jsonl); combine the shards with `bookingsim merge`",
            dir.display()
        );
        return Ok(if broken > 0 { RUN_FAILED } else { 0 });
    }
    let code = finish(&plan, &scenarios, &runs, &dir)?;
    Ok(if broken > 0 {
        code.max(RUN_FAILED)
    } else {
        code
    })
}

fn parse_shard(text: &str) -> Result<(usize, usize), Failure> {
    let bad = || {
        Failure(
            BAD_INPUT,
            format!("--shard {text}: expected K/N with 1 <= K <= N"),
        )
    };
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

/// A progress bar on a terminal; nothing when stderr is not one.
fn progress_bar(kind: &str) -> impl Fn(usize, usize) + Sync + use<> {
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

/// The sweep's report from its runs: sweep.json, points.csv, report.md/html, charts; the
/// Markdown summary on stdout; a comparison exits 1 when a run fails one of the scenario's
/// gates.
fn finish(
    plan: &sim::experiment::Plan,
    scenarios: &[Scenario],
    runs: &[sim::results::aggregate::RunResult],
    dir: &Path,
) -> Result<u8, Failure> {
    let (report, aggregates) = sim::experiment::report(plan, scenarios, runs);
    let doc = sim::experiment::write_sweep(dir, &report, &aggregates)
        .map_err(|e| Failure(BAD_INPUT, e))?;
    // The Markdown summary without its charts: it reads in a terminal and a CI log.
    let text = doc.markdown();
    let text = text[..text.find("\n## Charts").unwrap_or(text.len())].trim_end();
    say!("{text}\n");
    say!(
        "wrote {}/sweep.json (and points.csv, runs.jsonl, report.md, report.html, charts/)",
        dir.display()
    );
    let failing: Vec<String> = report["points"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|p| p["policies"].as_object().into_iter().flatten())
        .flat_map(|(policy, s)| {
            s["gates"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|g| g["pass"] != true)
                .map(move |g| {
                    let at = s["params"]
                        .as_object()
                        .into_iter()
                        .flatten()
                        .map(|(k, v)| format!(" {k}={}", v.as_str().unwrap_or_default()))
                        .collect::<String>();
                    format!(
                        "{policy}{at}: {} failed in {} of {} runs",
                        g["gate"].as_str().unwrap_or_default(),
                        g["failed_runs"],
                        g["runs"]
                    )
                })
        })
        .collect();
    // A comparison runs the scenario as written (policies aside): its gates hold in every
    // run or it fails. A sweep changes what the gates were written for (`calls >= 2900` at
    // a tenth of the call rate): they are reported per point, not enforced.
    let enforced = plan.params.is_empty();
    for f in &failing {
        if enforced {
            say!("gate FAIL {f}");
        } else {
            say!("gate (reported, not enforced in a sweep) {f}");
        }
    }
    Ok(if failing.is_empty() || !enforced {
        0
    } else {
        GATE_FAILED
    })
}

/// Reads the plan and runs of every shard folder, checks they belong together, and
/// finishes the sweep as if it had run in one place.
fn merge(dirs: &[PathBuf], out: Option<PathBuf>) -> Result<u8, Failure> {
    let bad = |e: String| Failure(BAD_INPUT, e);
    let (plan, runs) = sim::experiment::read_shards(dirs).map_err(bad)?;
    let scenarios = plan.scenarios().map_err(bad)?;
    let expected = plan.tasks().len();
    if runs.len() != expected {
        eprintln!(
            "warning: {} of {expected} runs present: a shard is missing",
            runs.len()
        );
    }
    let dir = out.unwrap_or_else(|| PathBuf::from("out").join(format!("{}-merged", plan.scenario)));
    say!("merge: {} runs from {} folders", runs.len(), dirs.len());
    let plan_text = serde_json::to_string_pretty(&plan.to_json()).unwrap_or_default();
    sim::results::output::write_atomically(&dir, "plan.json", &plan_text)
        .map_err(|e| bad(format!("{}: {e}", dir.display())))?;
    finish(&plan, &scenarios, &runs, &dir)
}
