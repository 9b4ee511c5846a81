//! `bookingsim`: parses the arguments (`cli/args.rs`), calls the library, prints (`cli/`) and
//! exits 0 (ok), 1 (a gate or a run failed) or 2 (bad input).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use sim::Scenario;
use sim::explore::search::Search;
use simkit::say;

mod cli;

use cli::args::{Cli, Command, ConfigForm};
use cli::experiments::{gate, merge, mutants, sweep};
use cli::explore::{explore, print_world};
use cli::runs::{check_history, live, replay, run};

/// A run allocates and frees small objects by the million (messages, JSON, futures):
/// mimalloc takes 12 % fewer instructions than the system allocator for `voice-journeys`
/// (README, performance).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Exit codes: 0 ok, 1 a gate failed, 2 bad input.
pub(crate) const GATE_FAILED: u8 = 1;
pub(crate) const BAD_INPUT: u8 = 2;
/// A run that broke (the simulation failed or panicked) counts as a failure, like a gate.
pub(crate) const RUN_FAILED: u8 = 1;

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
            mock_admin_token_file,
            engine_admin_token_file,
            seed,
            sets,
            out,
        } => {
            let scenario = match load(&file, &sets) {
                Ok(s) => s,
                Err(e) => return exit(Err(e)),
            };
            match print_engine_config {
                Some(ConfigForm::Engine) => {
                    print!("{}", sim::world::live::engine_config(&scenario, &calcom));
                    return ExitCode::SUCCESS;
                }
                Some(ConfigForm::Neutral) => {
                    println!("{}", sim::world::live::neutral_config(&scenario, &calcom));
                    return ExitCode::SUCCESS;
                }
                None => {}
            }
            let options = sim::world::live::Options {
                engine: engine.unwrap_or_default(),
                calcom,
                retell_api_key,
                webhook_url,
                webhook_secret,
                seed: seed.unwrap_or(scenario.seed),
                admin_tokens: match admin_tokens(mock_admin_token_file, engine_admin_token_file) {
                    Ok(tokens) => tokens,
                    Err(e) => return exit(Err(Failure(2, e))),
                },
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
        Command::Merge { dirs, out } => exit(if sim::explore::merge::is_explore(&dirs) {
            cli::explore::merge(&dirs, out)
        } else {
            merge(&dirs, out)
        }),
        Command::Gate {
            paths,
            junit,
            baseline,
            bless,
        } => exit(gate(&paths, junit.as_deref(), baseline.as_deref(), bless)),
        Command::Mutants { paths, jobs } => exit(mutants(&paths, jobs)),
        Command::Calibrate {
            file,
            target,
            durations,
            seeds,
            jobs,
            out,
        } => exit(cli::calibrate::calibrate(
            &file,
            target.as_deref(),
            durations.as_deref(),
            seeds,
            jobs,
            out,
        )),
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
            draw,
            shard,
        } => {
            let shard = match shard.as_deref().map(sim::experiment::sweep::parse_shard) {
                None => None,
                Some(Ok((k, n))) => Some((k as u64, n as u64)),
                Some(Err(e)) => return exit(Err(Failure(BAD_INPUT, e))),
            };
            let search = Search {
                paths,
                sets,
                draw: draw.0,
                // With a time budget and no count, the time alone ends the search.
                runs: runs.unwrap_or(if time.is_some() { u64::MAX } else { 200 }),
                time,
                shard,
                seed,
                policy,
                jobs: jobs
                    .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
                out: out.unwrap_or_else(|| PathBuf::from("out").join("explore")),
            };
            exit(if print {
                print_world(&search)
            } else {
                explore(&search)
            })
        }
    }
}

/// Errors end the program with their exit code and message.
pub(crate) struct Failure(pub(crate) u8, pub(crate) String);

fn exit(result: Result<u8, Failure>) -> ExitCode {
    match result {
        Ok(code) => ExitCode::from(code),
        Err(Failure(code, message)) => {
            eprintln!("error: {message}");
            ExitCode::from(code)
        }
    }
}

pub(crate) fn load(file: &Path, sets: &[String]) -> Result<Scenario, Failure> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| Failure(BAD_INPUT, format!("{}: {e}", file.display())))?;
    Scenario::with_sets(&text, &file.display().to_string(), sets)
        .map_err(|e| Failure(BAD_INPUT, e.to_string()))
}

pub(crate) fn scenario_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, Failure> {
    sim::experiment::catalogue::scenario_files(paths).map_err(|e| Failure(BAD_INPUT, e))
}

/// The servers' admin tokens for `live`: each from its file, else its environment variable
/// (the same one the server reads, so one `export` serves both).
fn admin_tokens(
    mock: Option<std::path::PathBuf>,
    engine: Option<std::path::PathBuf>,
) -> Result<sim::world::live::AdminTokens, String> {
    let read = |file_flag, file: Option<std::path::PathBuf>, env| {
        simkit::access::SecretSource {
            flag: file_flag,
            value: None,
            file_flag,
            file: file.as_deref(),
            env,
        }
        .read()
    };
    Ok(sim::world::live::AdminTokens {
        mock: read("--mock-admin-token-file", mock, "MOCK_CALCOM_ADMIN_TOKEN")?,
        engine: read(
            "--engine-admin-token-file",
            engine,
            "BOOKING_ENGINE_ADMIN_TOKEN",
        )?,
    })
}
