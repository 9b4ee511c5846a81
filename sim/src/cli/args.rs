//! `bookingsim`'s arguments: every subcommand and its flags, as clap reads them.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "bookingsim",
    version,
    about = "Deterministic simulation of voice-AI appointment booking against a misbehaving Cal.com"
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand)]
pub(crate) enum Command {
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
        /// How many worlds to run (default 200; with --time: at most, and without it no
        /// bound but the time).
        #[arg(long)]
        runs: Option<u64>,
        /// A wall-time budget (`10m`): worlds run in batches until it is spent.
        #[arg(long, value_parser = humantime::parse_duration)]
        time: Option<std::time::Duration>,
        /// Run only part K of N (1-based) of the search's worlds (the i-th with
        /// i mod N = K - 1): shards on other machines run the others; `merge` combines them.
        #[arg(long, value_name = "K/N")]
        shard: Option<String>,
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
        /// How generated worlds draw their features: `pairwise` (every pair of two
        /// features' values within a fixed number of consecutive seeds) or `swarm` (each on
        /// its own, the worlds explore drew before pairwise drawing).
        #[arg(long, default_value = "pairwise", value_parser = parse_draw)]
        draw: DrawArg,
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
        /// policy overrides), and the command that serves it; run nothing. `neutral`: the
        /// salon as JSON a team maps into its own engine (services, event type ids and
        /// lengths, stylists, zone, the route and Cal.com metadata live expects).
        #[arg(long, num_args = 0..=1, default_missing_value = "engine", value_name = "FORM")]
        print_engine_config: Option<ConfigForm>,
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
        /// File holding `mock-calcom serve`'s admin token (else MOCK_CALCOM_ADMIN_TOKEN),
        /// sent to /_mock/….
        #[arg(long, value_name = "FILE")]
        mock_admin_token_file: Option<std::path::PathBuf>,
        /// File holding `booking-engine serve`'s admin token (else
        /// BOOKING_ENGINE_ADMIN_TOKEN), sent to /api/appointments.
        #[arg(long, value_name = "FILE")]
        engine_admin_token_file: Option<std::path::PathBuf>,
        /// Seed of the plans and of the mock's random choices (default: the scenario's).
        #[arg(long)]
        seed: Option<u64>,
        #[arg(long = "set", value_name = "FIELD=VALUE")]
        sets: Vec<String>,
        /// Where summary.json goes (default: out/<scenario name>-live).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Fit the scenario's Cal.com latency distributions (and, for a hit rate, the cache TTL)
    /// to production figures; write OUT/calibrated.toml and OUT/fit.md. Exit 1 when a
    /// figure stays outside the tolerance.
    Calibrate {
        file: PathBuf,
        /// The figures: `[latency.NAME] p50 = "1.1s"`, `[rates] cache_hit = 0.5`,
        /// `tolerance = 0.15` (docs/calibrate.md).
        #[arg(
            long,
            required_unless_present = "durations",
            conflicts_with = "durations"
        )]
        target: Option<PathBuf>,
        /// Raw production durations instead: one `{"name": "check_availability", "ms": 1234}`
        /// a line; their percentiles are the target.
        #[arg(long)]
        durations: Option<PathBuf>,
        /// Seeds every candidate runs on: the scenario's seed and the ones after it.
        #[arg(long, default_value_t = 4)]
        seeds: u64,
        /// Runs at once, one per thread (default: every core).
        #[arg(long)]
        jobs: Option<usize>,
        /// Where calibrated.toml and fit.md go (default: out/<scenario>-calibrate).
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
pub(crate) struct GridArgs {
    /// Seeds per point: the scenario's seed and the ones after it.
    #[arg(long, default_value_t = 10)]
    pub(crate) seeds: u64,
    /// Runs at once, one per thread (default: every core).
    #[arg(long)]
    pub(crate) jobs: Option<usize>,
    /// Override scenario fields for every run, as `run --set`.
    #[arg(long = "set", value_name = "FIELD=VALUE")]
    pub(crate) sets: Vec<String>,
    /// Run only slice K of N (1-based) of the (point, seed) pairs; merge with `merge`.
    #[arg(long, value_name = "K/N")]
    pub(crate) shard: Option<String>,
    /// Output folder (default: out/<scenario>-compare or -sweep).
    #[arg(long)]
    pub(crate) out: Option<PathBuf>,
}

/// `--draw`, parsed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DrawArg(pub(crate) sim::explore::generate::Draw);

fn parse_draw(text: &str) -> Result<DrawArg, String> {
    use sim::explore::generate::Draw;
    match text {
        "pairwise" => Ok(DrawArg(Draw::Pairwise)),
        "swarm" => Ok(DrawArg(Draw::Swarm)),
        _ => Err(format!("expected `pairwise` or `swarm`, not `{text}`")),
    }
}

/// The form `bookingsim live --print-engine-config` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ConfigForm {
    /// This repository's `booking-engine serve --config` file.
    Engine,
    /// Neutral JSON for any engine.
    Neutral,
}
