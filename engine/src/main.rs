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
use simkit::access::{Secret, SecretSource, beyond_loopback};
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
        /// Cal.com API key (default: the mock's demo key `cal_live_salon_demo`). Prefer
        /// --calcom-api-key-file or BOOKING_ENGINE_CALCOM_API_KEY: a flag's value is
        /// visible to every user of the machine in the process list.
        #[arg(long, value_name = "KEY")]
        calcom_api_key: Option<String>,
        /// File holding the Cal.com API key.
        #[arg(long, value_name = "FILE")]
        calcom_api_key_file: Option<PathBuf>,
        /// A preset (see `booking-engine policies`).
        #[arg(long, default_value = "baseline")]
        policy: String,
        /// Services and policy overrides (TOML: `[[catalog.services]]`, `[policy]`);
        /// without it, the mock's demo salon.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Secret of the Cal.com webhook subscription (`X-Cal-Signature-256`); without it
        /// every webhook is refused. Also --webhook-secret-file or
        /// BOOKING_ENGINE_WEBHOOK_SECRET.
        #[arg(long, value_name = "SECRET")]
        webhook_secret: Option<String>,
        /// File holding the webhook secret.
        #[arg(long, value_name = "FILE")]
        webhook_secret_file: Option<PathBuf>,
        /// Retell API key: when given, function calls must carry a valid `x-retell-signature`.
        /// Also --retell-api-key-file or BOOKING_ENGINE_RETELL_API_KEY.
        #[arg(long, value_name = "KEY")]
        retell_api_key: Option<String>,
        /// File holding the Retell API key.
        #[arg(long, value_name = "FILE")]
        retell_api_key_file: Option<PathBuf>,
        /// Token that `/api/appointments` (the salon's channel and the store's read-out) and
        /// every other route but Retell's, Cal.com's and `/health` require, as
        /// `Authorization: Bearer <token>`. Also --admin-token-file or
        /// BOOKING_ENGINE_ADMIN_TOKEN.
        #[arg(long, value_name = "TOKEN")]
        admin_token: Option<String>,
        /// File holding the admin token.
        #[arg(long, value_name = "FILE")]
        admin_token_file: Option<PathBuf>,
        /// Listen beyond loopback without an admin token, a Retell API key or a webhook
        /// secret: what they would guard is open to anyone who reaches the port.
        #[arg(long)]
        insecure: bool,
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
            calcom_api_key_file,
            policy,
            config,
            webhook_secret,
            webhook_secret_file,
            retell_api_key,
            retell_api_key_file,
            admin_token,
            admin_token_file,
            insecure,
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
            let secrets = Secrets::read(
                [calcom_api_key, webhook_secret, retell_api_key, admin_token],
                [
                    calcom_api_key_file,
                    webhook_secret_file,
                    retell_api_key_file,
                    admin_token_file,
                ],
            )
            .and_then(|secrets| secrets.check(listen, insecure).map(|()| secrets));
            let secrets = match secrets {
                Ok(secrets) => secrets,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            let settings = EngineSettings {
                catalog,
                policy: policy_struct,
                calcom_url,
                calcom_api_key: secrets
                    .calcom_api_key
                    .as_ref()
                    .map_or(DEMO_CALCOM_KEY, Secret::expose)
                    .to_owned(),
                webhook_secret: secrets
                    .webhook_secret
                    .as_ref()
                    .map(|s| s.expose().to_owned()),
                retell_api_key: secrets
                    .retell_api_key
                    .as_ref()
                    .map(|s| s.expose().to_owned()),
            };
            // Several threads: one slow request must not hold up every other.
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build();
            let result = runtime.map_err(|e| e.to_string()).and_then(|rt| {
                rt.block_on(serve(
                    listen,
                    settings,
                    &policy,
                    seed,
                    data.as_deref().map(|d| (d, fresh)),
                    secrets,
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

/// The mock's demo key, the Cal.com API key when none is given.
const DEMO_CALCOM_KEY: &str = "cal_live_salon_demo";

/// The engine's secrets, each from its flag, its `--…-file` flag or its environment variable.
struct Secrets {
    calcom_api_key: Option<Secret>,
    webhook_secret: Option<Secret>,
    retell_api_key: Option<Secret>,
    admin_token: Option<Secret>,
}

/// (flag, environment variable) of each secret, in the order of [`Secrets`]' fields.
const SECRET_NAMES: [(&str, &str); 4] = [
    ("--calcom-api-key", "BOOKING_ENGINE_CALCOM_API_KEY"),
    ("--webhook-secret", "BOOKING_ENGINE_WEBHOOK_SECRET"),
    ("--retell-api-key", "BOOKING_ENGINE_RETELL_API_KEY"),
    ("--admin-token", "BOOKING_ENGINE_ADMIN_TOKEN"),
];

impl Secrets {
    fn read(values: [Option<String>; 4], files: [Option<PathBuf>; 4]) -> Result<Self, String> {
        let mut read = values
            .into_iter()
            .zip(files)
            .zip(SECRET_NAMES)
            .map(|((value, file), (flag, env))| {
                SecretSource {
                    flag,
                    value,
                    file_flag: &format!("{flag}-file"),
                    file: file.as_deref(),
                    env,
                }
                .read()
            })
            .collect::<Result<Vec<_>, String>>()?
            .into_iter();
        let mut next = || read.next().flatten();
        Ok(Secrets {
            calcom_api_key: next(),
            webhook_secret: next(),
            retell_api_key: next(),
            admin_token: next(),
        })
    }

    /// What is open or refused for want of a secret: (file flag, environment variable, what).
    fn open(&self) -> Vec<(&'static str, &'static str, &'static str)> {
        let mut open = Vec::new();
        if self.admin_token.is_none() {
            open.push((
                "--admin-token-file",
                "BOOKING_ENGINE_ADMIN_TOKEN",
                "/api/appointments is open (every appointment with its customer's name; new appointments)",
            ));
        }
        if self.retell_api_key.is_none() {
            open.push((
                "--retell-api-key-file",
                "BOOKING_ENGINE_RETELL_API_KEY",
                "Retell's function calls are accepted unsigned (anyone may check and book)",
            ));
        }
        if self.webhook_secret.is_none() {
            open.push((
                "--webhook-secret-file",
                "BOOKING_ENGINE_WEBHOOK_SECRET",
                "Cal.com's webhooks are refused (no secret to check their signature with)",
            ));
        }
        open
    }

    /// Beyond loopback the engine needs all three secrets, unless `--insecure`.
    fn check(&self, listen: SocketAddr, insecure: bool) -> Result<(), String> {
        let missing = self.open();
        if !beyond_loopback(listen) || insecure || missing.is_empty() {
            return Ok(());
        }
        let needed: Vec<String> = missing
            .iter()
            .map(|(flag, env, _)| format!("{flag} FILE (or {env})"))
            .collect();
        Err(format!(
            "--listen {listen} is reachable from other machines, and the engine would be open to them: give {}; or say --insecure to serve open",
            needed.join(", ")
        ))
    }
}

async fn serve(
    listen: SocketAddr,
    settings: EngineSettings,
    preset: &str,
    seed: u64,
    data: Option<(&std::path::Path, bool)>,
    secrets: Secrets,
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
    if secrets.admin_token.is_some() {
        say!(
            "  /api/appointments and every route but these need `Authorization: Bearer <admin token>`"
        );
    }
    let beyond = beyond_loopback(listen);
    for (flag, _, what) in secrets.open() {
        if beyond {
            say!("  warning: --insecure without {flag}: to anyone who reaches {addr}, {what}");
        } else {
            say!("  note: without {flag}: {what}");
        }
    }
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
    booking_engine::server::serve_with(engine, listener, shutdown, secrets.admin_token).await;
    Ok(())
}
