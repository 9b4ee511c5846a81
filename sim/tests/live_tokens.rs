//! `bookingsim live` against servers that guard their admin routes with tokens (as they do
//! beyond loopback): with the tokens the run loads the mock's world, books behind the
//! engine's back, enters the salon's appointment and reads the ground truth; without the
//! mock's it stops with a message naming the flag, and without the engine's the channel's
//! entry is refused (nothing reaches the engine's store).

use std::path::Path;
use std::sync::Arc;

use booking_engine::{Engine, EngineSettings, Policy};
use mock_calcom::{MockCalcom, MockConfig};
use sim::Scenario;
use sim::world::live::{AdminTokens, Options};
use simkit::access::Secret;
use simkit::transport::{Listener, Network};
use simkit::{SeedStreams, TokioClock};

const MOCK_TOKEN: &str = "mock-admin-token-live";
const ENGINE_TOKEN: &str = "engine-admin-token-live";
const WEBHOOK_SECRET: &str = "whsec_live_tokens";

async fn listener() -> (Listener, String) {
    let l = Listener::bind(Network::Real, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    (l, url)
}

/// Both servers on loopback, each requiring its admin token.
async fn guarded(scenario: &Scenario) -> (Arc<Engine>, String, String) {
    let (calcom_listener, calcom) = listener().await;
    let mock = MockCalcom::new(
        MockConfig::default(),
        Arc::new(TokioClock::real_time()),
        SeedStreams::new(1),
        Network::Real,
    );
    mock.require_admin_token(Secret::new(MOCK_TOKEN).unwrap());
    tokio::spawn(mock.serve(calcom_listener, std::future::pending()));
    let (engine_listener, engine_url) = listener().await;
    let engine = Engine::new(
        EngineSettings {
            catalog: scenario.catalog(),
            policy: Policy::with_overrides("full", &scenario.policy.overrides).unwrap(),
            calcom_url: calcom.clone(),
            calcom_api_key: "cal_live_test".into(),
            webhook_secret: Some(WEBHOOK_SECRET.into()),
            retell_api_key: None,
        },
        Arc::new(TokioClock::real_time()),
        SeedStreams::new(1),
        Network::Real,
    );
    tokio::spawn(booking_engine::server::serve_with(
        engine.clone(),
        engine_listener,
        std::future::pending(),
        Secret::new(ENGINE_TOKEN),
    ));
    (engine, engine_url, calcom)
}

/// A walk-in booked in the Cal.com app, then the salon's desk entering a customer into a
/// free slot, in seconds.
fn scenario() -> Scenario {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/channel-into-full-slot.toml");
    let mut text = std::fs::read_to_string(path).unwrap();
    for (from, to) in [
        ("duration = \"2m\"", "duration = \"2s\""),
        ("settle = \"5m\"", "settle = \"1s\""),
        ("at = \"5s\"", "at = \"100ms\""),
        ("at = \"65s\"", "at = \"600ms\""),
        // A free slot, so that an entry that reaches the engine is saved.
        (
            "datetime = \"2025-11-25T10:00\"",
            "datetime = \"2025-11-25T11:00\"",
        ),
    ] {
        assert!(text.contains(from), "no `{from}`");
        text = text.replacen(from, to, 1);
    }
    Scenario::parse(&text, "channel-into-full-slot").unwrap()
}

fn options(engine: &str, calcom: &str, tokens: AdminTokens) -> Options {
    Options {
        engine: engine.to_owned(),
        calcom: calcom.to_owned(),
        retell_api_key: None,
        webhook_url: None,
        webhook_secret: Some(WEBHOOK_SECRET.into()),
        seed: 1,
        admin_tokens: tokens,
    }
}

async fn drive(
    scenario: &Scenario,
    options: &Options,
) -> Result<sim::world::live::LiveRun, String> {
    sim::world::live::drive(scenario, options, std::future::pending(), |_, _, _| {}).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_passes_the_admin_tokens_where_the_servers_need_them() {
    let scenario = scenario();
    let (engine, engine_url, calcom) = guarded(&scenario).await;

    // Without the mock's token the run cannot load its world: a clear error, no run.
    let err = drive(
        &scenario,
        &options(&engine_url, &calcom, AdminTokens::default()),
    )
    .await
    .err()
    .expect("refused");
    assert!(
        err.contains("401") && err.contains("--mock-admin-token-file"),
        "{err}"
    );
    assert!(!err.contains(MOCK_TOKEN), "{err}");

    // With the mock's but not the engine's: the run goes through, the desk's entry is
    // refused at the engine's door (nothing saved).
    let mock_only = AdminTokens {
        mock: Secret::new(MOCK_TOKEN),
        engine: None,
    };
    let run = drive(&scenario, &options(&engine_url, &calcom, mock_only))
        .await
        .unwrap();
    assert_eq!(
        run.record.truth.bookings.len(),
        1,
        "the walk-in, through /_mock/bookings"
    );
    assert!(engine.appointments.appointments().is_empty());

    // With both: the desk's entry reaches the engine and is saved.
    let both = AdminTokens {
        mock: Secret::new(MOCK_TOKEN),
        engine: Secret::new(ENGINE_TOKEN),
    };
    let run = drive(&scenario, &options(&engine_url, &calcom, both))
        .await
        .unwrap();
    assert!(!run.incomplete);
    assert!(!run.record.truth.bookings.is_empty());
    let saved = engine.appointments.appointments();
    assert_eq!(saved.len(), 1, "the desk's entry: {saved:?}");
}
