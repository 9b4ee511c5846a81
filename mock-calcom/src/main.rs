//! `mock-calcom`: the mock Cal.com as a standalone server for real applications.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use mock_calcom::{MockCalcom, MockConfig, config::DEMO_TOML};
use simkit::access::{Secret, SecretSource, beyond_loopback};
use simkit::say;
use simkit::transport::{Listener, Network};
use simkit::{SeedStreams, TokioClock};

#[derive(Parser)]
#[command(
    name = "mock-calcom",
    version,
    about = "A misbehaving, wire-compatible mock of Cal.com API v2"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the mock over real sockets in real time (Ctrl-C stops it).
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8787")]
        listen: SocketAddr,
        /// World and misbehaviour (TOML); without it, the demo salon.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Seed of every random choice (latency, lag, faults, ids, webhooks).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Token the admin routes (`/_mock/…`) require as `Authorization: Bearer <token>`.
        /// Prefer --admin-token-file or the environment variable MOCK_CALCOM_ADMIN_TOKEN:
        /// a flag's value is visible to every user of the machine in the process list.
        #[arg(long, value_name = "TOKEN")]
        admin_token: Option<String>,
        /// File holding the admin token (a trailing newline is ignored).
        #[arg(long, value_name = "FILE")]
        admin_token_file: Option<PathBuf>,
        /// Listen beyond loopback without an admin token: anyone who reaches the port may
        /// read and rewrite the world through `/_mock/…`.
        #[arg(long)]
        insecure: bool,
    },
    /// Print the demo world's configuration, a starting point for your own.
    DemoConfig,
    /// Check configuration files without serving.
    Validate {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

fn load(path: &PathBuf) -> Result<MockConfig, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    MockConfig::from_toml(&text, &path.display().to_string()).map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::DemoConfig => {
            print!("{DEMO_TOML}");
            ExitCode::SUCCESS
        }
        Command::Validate { files } => {
            let mut ok = true;
            for file in &files {
                match load(file) {
                    Ok(_) => say!("{}: ok", file.display()),
                    Err(e) => {
                        eprintln!("error: {e}");
                        ok = false;
                    }
                }
            }
            if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            }
        }
        Command::Serve {
            listen,
            config,
            seed,
            admin_token,
            admin_token_file,
            insecure,
        } => {
            let config = match config.as_ref().map(load).transpose() {
                Ok(config) => config,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            let access = SecretSource {
                flag: "--admin-token",
                value: admin_token,
                file_flag: "--admin-token-file",
                file: admin_token_file.as_deref(),
                env: ADMIN_TOKEN_ENV,
            }
            .read()
            .and_then(|token| access(listen, token, insecure));
            let access = match access {
                Ok(access) => access,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            // Several threads: one slow request (a long listing of a big world) must not
            // hold up every other. The simulation runs the mock on turmoil's runtime instead.
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build();
            match runtime
                .map_err(|e| e.to_string())
                .and_then(|rt| rt.block_on(serve(listen, config, seed, access)))
            {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// The environment variable the admin token may come from.
const ADMIN_TOKEN_ENV: &str = "MOCK_CALCOM_ADMIN_TOKEN";

/// Who may use `/_mock/…`.
enum Access {
    /// Those who present this token.
    Token(Secret),
    /// Anyone who reaches the port: loopback (this machine's users), or `--insecure`.
    Open { beyond_loopback: bool },
}

/// Beyond loopback the mock does not start with its admin routes open, unless told to.
fn access(listen: SocketAddr, token: Option<Secret>, insecure: bool) -> Result<Access, String> {
    match token {
        Some(token) => Ok(Access::Token(token)),
        None if beyond_loopback(listen) && !insecure => Err(format!(
            "--listen {listen} is reachable from other machines, and the admin routes \
             (/_mock/…) would be open to them: give an admin token with --admin-token-file \
             FILE (or the environment variable {ADMIN_TOKEN_ENV}), or say --insecure to \
             serve them open"
        )),
        None => Ok(Access::Open {
            beyond_loopback: beyond_loopback(listen),
        }),
    }
}

async fn serve(
    listen: SocketAddr,
    config: Option<MockConfig>,
    seed: u64,
    access: Access,
) -> Result<(), String> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_target(false)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let demo = config.is_none();
    let config = config.unwrap_or_else(MockConfig::demo);
    let listener = Listener::bind(Network::Real, listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let mock: Arc<MockCalcom> = MockCalcom::new(
        config.clone(),
        Arc::new(TokioClock::real_time()),
        SeedStreams::new(seed),
        Network::Real,
    );
    say!("mock Cal.com listening on http://{addr} (seed {seed})");
    if demo {
        say!("demo world: a salon in Europe/Berlin; any API key starting with cal_ is accepted");
    }
    for et in &config.event_types {
        say!(
            "  event type {:>5}  {:<28} {} min, hosts {:?}",
            et.id,
            et.slug,
            et.length_minutes,
            et.hosts
        );
    }
    say!(
        "admin: GET http://{addr}/_mock/state, POST /_mock/bookings, POST /_mock/reset, PUT /_mock/config"
    );
    match access {
        Access::Token(token) => {
            mock.require_admin_token(token);
            say!("  admin routes need `Authorization: Bearer <admin token>`");
        }
        Access::Open {
            beyond_loopback: true,
        } => say!(
            "  warning: --insecure: the admin routes (/_mock/…: read every booking, rewrite the world) are open to anyone who reaches {addr}"
        ),
        Access::Open {
            beyond_loopback: false,
        } => {}
    }
    let shutdown = async {
        simkit::transport::shutdown_signal().await;
        say!("stopping");
    };
    mock.serve(listener, shutdown).await;
    Ok(())
}
