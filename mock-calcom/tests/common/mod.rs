//! Starting a mock on real loopback with a hand-driven clock, for tests.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use mock_calcom::{MockCalcom, MockConfig};
use simkit::transport::{Listener, Network};
use simkit::{ManualClock, SeedStreams};

/// Monday 2025-11-24 08:00 UTC (09:00 in Berlin): the tests' "now".
pub fn start_instant() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2025-11-24T08:00:00Z")
        .unwrap()
        .to_utc()
}

/// A world with one stylist, so that every request competes for the same host.
pub const ONE_HOST: &str = r#"
[api]
first_booking_id = 500

[latency]
default = { fixed = "0s" }

[consistency]
slots_lag = { fixed = "0s" }

[webhooks]
delay = { fixed = "0s" }

[[hosts]]
id = 1
name = "Fabian Spitzer"
working_hours = { weekdays = ["09:00-18:00"] }

[[event_types]]
id = 1001
slug = "herrenhaarschnitt"
title = "Herrenhaarschnitt"
length_minutes = 30
length_options = [45]
hosts = [1]
"#;

pub fn one_host() -> MockConfig {
    MockConfig::from_toml(ONE_HOST, "ONE_HOST").unwrap()
}

pub struct Running {
    pub base: String,
    pub mock: Arc<MockCalcom>,
    pub clock: ManualClock,
    pub http: reqwest::Client,
}

/// Serves `config` on a fresh loopback port; time moves only with `clock.advance`.
pub async fn serve(config: MockConfig) -> Running {
    let clock = ManualClock::new(start_instant());
    let mock = MockCalcom::new(
        config,
        Arc::new(clock.clone()),
        SeedStreams::new(7),
        Network::Real,
    );
    let listener = Listener::bind(Network::Real, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(mock.clone().serve(listener, std::future::pending()));
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    Running {
        base,
        mock,
        clock,
        http,
    }
}

pub const KEY: &str = "Bearer cal_test_0123456789";
