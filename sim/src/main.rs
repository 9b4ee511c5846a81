//! `bookingsim`: run, replay, validate and gate scenarios.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use serde_json::{Value, json};
use sim::record::Completion;
use sim::{Scenario, summary};
use simkit::say;

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
    /// Check scenario files without running them.
    Validate {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Run every scenario (files or folders) and its gates; exit 1 if one fails.
    Gate {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Write the verdicts as JUnit XML.
        #[arg(long)]
        junit: Option<PathBuf>,
    },
    /// List the policy presets.
    Policies,
}

/// Exit codes: 0 ok, 1 a gate failed, 2 bad input.
const GATE_FAILED: u8 = 1;
const BAD_INPUT: u8 = 2;

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Policies => {
            for (name, description) in booking_engine::policy::PRESETS {
                say!("{name:<22} {description}");
            }
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
        Command::Replay {
            file,
            seed,
            policy,
            call,
        } => exit(replay(&file, seed, policy, &call)),
        Command::Gate { paths, junit } => exit(gate(&paths, junit.as_deref())),
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
) -> Result<(Value, sim::world::RunRecord), Failure> {
    #[allow(clippy::disallowed_methods)]
    // reason: the harness's own speed, never part of the results' digest
    let started = std::time::Instant::now();
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
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
    let result = sim::run_with_progress(scenario, seed, policy, &mut progress);
    if terminal {
        let _ = write!(std::io::stderr(), "\r\x1b[2K");
    }
    let (mut summary, record) = result.map_err(|e| Failure(BAD_INPUT, e))?;
    summary["sim"]["wall_seconds"] = json!(started.elapsed().as_secs_f64());
    Ok((summary, record))
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
    let (summary, record) = timed_run(&scenario, seed, &policy)?;
    let _ = write!(std::io::stdout(), "{}", summary::render(&summary));
    let dir = out.unwrap_or_else(|| PathBuf::from("out").join(&scenario.name));
    let failed = |e: std::io::Error| Failure(BAD_INPUT, format!("{}: {e}", dir.display()));
    let history: Vec<String> = sim::history::history(&scenario, &record)
        .iter()
        .map(Value::to_string)
        .collect();
    write_atomically(&dir, "history.jsonl", &history.join("\n")).map_err(failed)?;
    let path = write_atomically(
        &dir,
        "summary.json",
        &serde_json::to_string_pretty(&summary).unwrap_or_default(),
    )
    .map_err(failed)?;
    say!("  wrote {} (and history.jsonl)", path.display());
    Ok(if summary::gates_pass(&summary) {
        0
    } else {
        GATE_FAILED
    })
}

/// Writes `name` in `dir` through a temporary file and a rename: never half-written.
fn write_atomically(dir: &Path, name: &str, text: &str) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(text.as_bytes())?;
    f.write_all(b"\n")?;
    f.sync_all()?;
    std::fs::rename(&tmp, &path)?;
    Ok(path)
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
    let (_, record) = timed_run(&scenario, seed, &policy)?;
    let chosen = match call.parse::<usize>() {
        Ok(n) if n >= 1 => record.calls.get(n - 1),
        _ => record.calls.iter().find(|c| c.id == call),
    }
    .ok_or_else(|| {
        Failure(
            BAD_INPUT,
            format!(
                "no call `{call}` in this run ({} calls)",
                record.calls.len()
            ),
        )
    })?;
    let start = scenario.start_utc();
    let clock = |ms: u64| {
        (start + chrono::TimeDelta::milliseconds(ms as i64))
            .with_timezone(&scenario.time_zone)
            .format("%H:%M:%S%.3f")
            .to_string()
    };
    say!(
        "{} ({:?}), {} seed {seed}, policy {policy}",
        chosen.id,
        chosen.kind,
        scenario.name
    );
    say!("{}  call starts", clock(chosen.start_ms));
    for step in &chosen.steps {
        let offset = |ms: u64| (ms as f64 - chosen.start_ms as f64) / 1000.0;
        say!(
            "{}  (T+{:.3} s) {} {}",
            clock(step.invoked_ms),
            offset(step.invoked_ms),
            step.function,
            step.args
        );
        let verdict = match step.completion {
            Completion::Ok => "ok",
            Completion::Fail => "fail",
            Completion::Info => "no answer",
        };
        let said = step.answer["message"]
            .as_str()
            .or_else(|| step.answer["error"].as_str())
            .unwrap_or_default();
        let kind = step.answer["error_type"]
            .as_str()
            .map(|t| format!(" [{t}]"))
            .unwrap_or_default();
        let retries = if step.retries > 0 {
            format!(" after {} Retell retries", step.retries)
        } else {
            String::new()
        };
        say!(
            "{}  (T+{:.3} s)   -> {verdict}{kind}{retries}: {said}",
            clock(step.completed_ms),
            offset(step.completed_ms)
        );
    }
    say!("outcome: {}", chosen.outcome().name());
    // The Cal.com side of the slots this call asked for.
    let asked: Vec<String> = chosen
        .steps
        .iter()
        .filter_map(|s| s.args["datetime"].as_str().map(str::to_owned))
        .collect();
    for b in &record.truth.bookings {
        let local = b["start"]
            .as_str()
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
            .map(|t| {
                t.with_timezone(&scenario.time_zone)
                    .format("%Y-%m-%dT%H:%M")
                    .to_string()
            });
        if local.as_ref().is_some_and(|l| asked.contains(l)) {
            say!(
                "Cal.com: booking {} for {} created {} by {} ({})",
                b["uid"].as_str().unwrap_or(""),
                local.unwrap_or_default(),
                b["createdAt"].as_str().unwrap_or(""),
                b["source"].as_str().unwrap_or(""),
                b["status"].as_str().unwrap_or("")
            );
        }
    }
    Ok(0)
}

fn scenario_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, Failure> {
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| Failure(BAD_INPUT, format!("{}: {e}", p.display())))?
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

fn gate(paths: &[PathBuf], junit: Option<&Path>) -> Result<u8, Failure> {
    let files = scenario_files(paths)?;
    let mut scenarios = Vec::new();
    for f in &files {
        scenarios.push((f.clone(), load(f, &[])?));
    }
    let mut report = quick_junit::Report::new("bookingsim gate");
    let mut all_pass = true;
    for (file, scenario) in &scenarios {
        let (summary, _) = timed_run(scenario, scenario.seed, &scenario.policy.preset)?;
        let mut suite = quick_junit::TestSuite::new(scenario.name.as_str());
        for g in summary["gates"].as_array().into_iter().flatten() {
            let name = g["gate"].as_str().unwrap_or_default();
            let pass = g["pass"] == true;
            let status = if pass {
                quick_junit::TestCaseStatus::success()
            } else {
                let mut s =
                    quick_junit::TestCaseStatus::non_success(quick_junit::NonSuccessKind::Failure);
                s.set_message(format!("value {}", g["value"]));
                s
            };
            suite.add_test_case(quick_junit::TestCase::new(name, status));
        }
        report.add_test_suite(suite);
        let pass = summary::gates_pass(&summary);
        all_pass &= pass;
        let failing: Vec<&str> = summary["gates"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|g| g["pass"] != true)
            .filter_map(|g| g["gate"].as_str())
            .collect();
        say!(
            "{} {:<28} {:>4} gates  simulated {:>7.1} s in {:>6.2} s{}",
            if pass { "pass" } else { "FAIL" },
            scenario.name,
            summary["gates"].as_array().map_or(0, Vec::len),
            summary["sim"]["simulated_seconds"].as_f64().unwrap_or(0.0),
            summary["sim"]["wall_seconds"].as_f64().unwrap_or(0.0),
            if failing.is_empty() {
                String::new()
            } else {
                format!("  failing: {}", failing.join("; "))
            }
        );
        let _ = file;
    }
    if let Some(path) = junit {
        let xml = report
            .to_string()
            .map_err(|e| Failure(BAD_INPUT, e.to_string()))?;
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("junit.xml");
        write_atomically(dir, name, &xml)
            .map_err(|e| Failure(BAD_INPUT, format!("{}: {e}", path.display())))?;
    }
    Ok(if all_pass { 0 } else { GATE_FAILED })
}
