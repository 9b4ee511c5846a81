//! `bookingsim live`'s load generator against a trivial loopback server (answers at once):
//! the sustained rate it holds and its send skew (how late each function call leaves after
//! its instant). A bench command, not criterion: the figure is a rate held over seconds.
//!
//!   cargo bench -p bookingsim-benches --bench generator

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::post;
use mock_calcom::{MockCalcom, MockConfig};
use simkit::transport::{Listener, Network};
use simkit::{SeedStreams, TokioClock};

/// `storms` storms of 1000 calls a second each (the most one storm may have), for `secs`.
fn scenario(rate_per_storm: u32, storms: u32, secs: u32) -> sim::Scenario {
    let mut text = format!(
        r#"
name = "generator"
start = "2025-11-24T09:00:00"
duration = "{secs}s"
settle = "0s"

[limits]
max_calls = 1000000
{}"#,
        bookingsim_benches::ONE_STYLIST
    );
    for i in 0..storms {
        text += &format!(
            r#"
[[storms]]
function = "check_availability"
rate = {rate_per_storm}
from = "{}us"
duration = "{secs}s"
args = {{ datum = "2025-11-25", uhrzeit = "10:00", dienstleistung = "Herrenhaarschnitt" }}
"#,
            200_000 + i * 1_000_000 / (rate_per_storm * storms)
        );
    }
    sim::Scenario::parse(&text, "generator").expect("a valid scenario")
}

async fn serve(router: Router) -> String {
    let listener = Listener::bind(Network::Real, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(simkit::transport::serve(
        listener,
        router,
        std::future::pending(),
        Duration::from_secs(1),
        simkit::transport::ConnectionLimit::Unlimited,
    ));
    url
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let engine = serve(Router::new().route(
            "/api/webhooks/retell/function",
            post(|| async { r#"{"success":true,"available":true}"# }),
        ))
        .await;
        let mock = MockCalcom::new(
            MockConfig::default(),
            Arc::new(TokioClock::real_time()),
            SeedStreams::new(1),
            Network::Real,
        );
        let calcom = serve(mock_calcom::api::router(mock)).await;
        println!("rate (req/s)  sent (req/s)  skew p50 (µs)  p99 (µs)  max (µs)  latency p99 (ms)");
        for (rate, storms) in [
            (100, 1),
            (1000, 1),
            (1000, 2),
            (1000, 4),
            (1000, 8),
            (1000, 16),
        ] {
            let s = scenario(rate, storms, 5);
            let options = sim::world::live::Options {
                engine: engine.clone(),
                calcom: calcom.clone(),
                retell_api_key: None,
                webhook_url: None,
                webhook_secret: None,
                seed: 1,
                admin_tokens: Default::default(),
            };
            let run = sim::world::live::drive(&s, &options, std::future::pending(), |_, _, _| {})
                .await
                .expect("runs");
            let steps: Vec<_> = run.record.calls.iter().flat_map(|c| &c.steps).collect();
            let first = steps.iter().map(|s| s.invoked_ms).min().unwrap_or(0);
            let last = steps.iter().map(|s| s.invoked_ms).max().unwrap_or(0);
            let sent = steps.len() as f64 / ((last - first).max(1) as f64 / 1000.0);
            let section = sim::results::live::section(&run);
            let skew = &section.send_skew_us;
            let latency = section
                .latency_from_scheduled_ms
                .get("check_availability")
                .map_or(0, |l| l.p99);
            println!(
                "{:>12}  {:>12.0}  {:>13}  {:>8}  {:>8}  {:>16}",
                rate * storms,
                sent,
                skew.p50,
                skew.p99,
                skew.max,
                latency
            );
        }
    });
}
