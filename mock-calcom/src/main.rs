//! `mock-calcom`: the mock Cal.com as a standalone server for real applications.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use mock_calcom::{MockCalcom, MockConfig, config::DEMO_TOML};
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
        } => {
            let config = match config.as_ref().map(load).transpose() {
                Ok(config) => config,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            match runtime
                .map_err(|e| e.to_string())
                .and_then(|rt| rt.block_on(serve(listen, config, seed)))
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

async fn serve(listen: SocketAddr, config: Option<MockConfig>, seed: u64) -> Result<(), String> {
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
    let shutdown = async {
        simkit::transport::shutdown_signal().await;
        say!("stopping");
    };
    mock.serve(listener, shutdown).await;
    Ok(())
}
