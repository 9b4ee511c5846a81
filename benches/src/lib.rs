//! Shared by the benchmarks: the bare turmoil + hyper ping-pong every harness figure is
//! compared with, and the catalogue's scenarios.

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

/// The allocator the `bookingsim` binary runs with, for the anchor and the scenarios alike.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The catalogue's folder.
pub fn scenarios_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios")
}

/// A salon of one stylist and one service, for the benchmarks' own scenarios.
pub const ONE_STYLIST: &str = r#"
[[calcom.hosts]]
id = 1
name = "Fabian Spitzer"
working_hours = { weekdays = ["09:00-18:00"] }

[[calcom.event_types]]
id = 1001
slug = "herrenhaarschnitt"
title = "Herrenhaarschnitt"
length_minutes = 30
hosts = [1]
"#;

pub fn scenario(name: &str) -> sim::Scenario {
    sim::Scenario::load(&scenarios_dir().join(format!("{name}.toml"))).expect("catalogue scenario")
}

/// `exchanges` HTTP/1.1 request-answer pairs, one after the other, over one keep-alive
/// connection from a client task to a server host: the least a simulated exchange costs.
/// Same tick and link latency as the catalogue (10 ms, 20-60 ms) unless given.
pub fn pingpong(exchanges: usize, tick: Duration, latency: (Duration, Duration)) {
    let mut sim = turmoil::Builder::new()
        // Seeded, so the same exchanges take the same latencies, and instructions, each run.
        .rng_seed(1)
        .tick_duration(tick)
        .min_message_latency(latency.0)
        .max_message_latency(latency.1)
        .simulation_duration(Duration::from_secs(1_000_000))
        .build();
    sim.host("server", || async {
        let listener = turmoil::net::TcpListener::bind("0.0.0.0:80").await?;
        loop {
            let (stream, _) = listener.accept().await?;
            tokio::spawn(async move {
                let service = service_fn(|_req| async {
                    Ok::<_, hyper::Error>(hyper::Response::new(Full::new(Bytes::from_static(
                        b"pong",
                    ))))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .auto_date_header(false)
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    sim.client("client", async move {
        let stream = turmoil::net::TcpStream::connect("server:80").await?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(conn);
        for _ in 0..exchanges {
            let req = http::Request::get("http://server/ping")
                .body(Full::new(Bytes::from_static(b"ping")))?;
            let res = sender.send_request(req).await?;
            let body = res.into_body().collect().await?.to_bytes();
            assert_eq!(&body[..], b"pong");
        }
        Ok(())
    });
    sim.run().expect("ping-pong runs");
}

/// HTTP exchanges a run made: Retell function calls (with retries) and Cal.com requests.
pub fn exchanges(record: &sim::world::record::RunRecord) -> u64 {
    let calls: u64 = record
        .calls
        .iter()
        .flat_map(|c| c.steps.iter())
        .map(|s| 1 + u64::from(s.retries))
        .sum();
    calls + record.calcom_samples.len() as u64
}
