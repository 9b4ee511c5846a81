//! `booking-engine`: the engine as a server for real Retell and Cal.com traffic.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use booking_engine::catalog::Catalog;
use booking_engine::policy::PRESETS;
use booking_engine::{Backends, Engine, EngineSettings, Policy};

use clap::{Parser, Subcommand};
use serde::Deserialize;
use simkit::say;
use simkit::transport::{Listener, Network};
use simkit::{SeedStreams, TokioClock};

#[derive(Parser)]
#[command(
    name = "booking-engine",
    version,
    about = "The appointment booking engine under test"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
#[allow(clippy::large_enum_variant)] // reason: parsed once at start-up
enum Command {
    /// Serve Retell function calls and Cal.com webhooks over real sockets.
    Serve {
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Cal.com API base URL (the mock: http://127.0.0.1:8787).
        #[arg(long, default_value = "http://127.0.0.1:8787")]
        calcom_url: String,
        #[arg(long, default_value = "cal_live_salon_demo")]
        calcom_api_key: String,
        /// A preset (see `booking-engine policies`).
        #[arg(long, default_value = "baseline")]
        policy: String,
        /// Services and policy overrides (TOML: `[[catalog.services]]`, `[policy]`);
        /// without it, the mock's demo salon.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Secret of the Cal.com webhook subscription (`X-Cal-Signature-256`).
        #[arg(long)]
        webhook_secret: Option<String>,
        /// Retell API key: when given, function calls must carry a valid `x-retell-signature`.
        #[arg(long)]
        retell_api_key: Option<String>,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Keep appointments and local reservations in DIR/engine.sqlite3, so that nothing
        /// answered is lost in a crash (default: in memory).
        #[arg(long, value_name = "DIR")]
        data: Option<PathBuf>,
        /// With `--data`: empty the store first (the last run's appointments, reservations
        /// and starts removed), so that a run after a run starts clean against the freshly
        /// loaded Cal.com world.
        #[arg(long, requires = "data")]
        fresh: bool,
    },
    /// List the policy presets.
    Policies,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EngineFile {
    catalog: Option<Catalog>,
    #[serde(default)]
    policy: toml::Table,
}

fn settings(config: Option<&PathBuf>, preset: &str) -> Result<(Catalog, Policy), String> {
    let Some(path) = config else {
        return Ok((
            Catalog::demo(),
            Policy::with_overrides(preset, &toml::Table::new())?,
        ));
    };
    let origin = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| format!("{origin}: {e}"))?;
    let file: EngineFile = toml::from_str(&text).map_err(|e| format!("{origin}: {e}"))?;
    let policy = Policy::with_overrides(preset, &file.policy)
        .map_err(|e| format!("{origin}: [policy]: {e}"))?;
    policy
        .check_ranges()
        .map_err(|e| format!("{origin}: [policy] {e}"))?;
    let catalog = file.catalog.unwrap_or_else(Catalog::demo);
    catalog
        .check()
        .map_err(|e| format!("{origin}: catalog.{e}"))?;
    Ok((catalog, policy))
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Policies => {
            for (name, description) in PRESETS {
                say!("{name:<22} {description}");
            }
            ExitCode::SUCCESS
        }
        Command::Serve {
            listen,
            calcom_url,
            calcom_api_key,
            policy,
            config,
            webhook_secret,
            retell_api_key,
            seed,
            data,
            fresh,
        } => {
            let (catalog, policy_struct) = match settings(config.as_ref(), &policy) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            let settings = EngineSettings {
                catalog,
                policy: policy_struct,
                calcom_url,
                calcom_api_key,
                webhook_secret,
                retell_api_key,
            };
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            let result = runtime.map_err(|e| e.to_string()).and_then(|rt| {
                rt.block_on(serve(
                    listen,
                    settings,
                    &policy,
                    seed,
                    data.as_deref().map(|d| (d, fresh)),
                ))
            });
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

async fn serve(
    listen: SocketAddr,
    settings: EngineSettings,
    preset: &str,
    seed: u64,
    data: Option<(&std::path::Path, bool)>,
) -> Result<(), String> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_target(false)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let listener = Listener::bind(Network::Real, listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    say!(
        "booking engine listening on http://{addr} (policy {preset}, Cal.com at {})",
        settings.calcom_url
    );
    say!("  Retell functions: POST http://{addr}/api/webhooks/retell/function");
    say!("  Cal.com webhooks: POST http://{addr}/api/webhooks/calcom");
    let backends = match data {
        Some((dir, fresh)) => {
            let backends = Backends::persistent(dir, fresh)?;
            say!(
                "  appointments kept in {}{}",
                dir.join("engine.sqlite3").display(),
                if fresh {
                    " (emptied: a fresh start)"
                } else {
                    ""
                }
            );
            backends
        }
        None => Backends::in_memory(),
    };
    let engine = Engine::with_backends(
        settings,
        Arc::new(TokioClock::real_time()),
        SeedStreams::new(seed),
        Network::Real,
        backends,
    );
    // What Cal.com books for each event type: a catalogue segment of another length would
    // be locked and checked for the wrong span, so the engine goes by Cal.com's.
    match engine.learn_event_types().await {
        Ok(Ok(())) => {}
        Ok(Err(mismatch)) => {
            say!("  warning: catalog.{mismatch}; locking and checking Cal.com's length meanwhile")
        }
        Err(e) => say!(
            "  warning: Cal.com's event types could not be read ({e}): the catalogue's segment lengths are taken as Cal.com's"
        ),
    }
    let shutdown = async {
        simkit::transport::shutdown_signal().await;
        say!("stopping");
    };
    booking_engine::server::serve(engine, listener, shutdown).await;
    Ok(())
}
