//! Requests the engine must refuse in German instead of panicking or booking: dates beyond
//! the booking horizon (years up to +262142 overflow chrono's arithmetic), the past, and
//! nonsense.

use std::sync::Arc;

use booking_engine::booking::SlotRequest;
use booking_engine::catalog::Catalog;
use booking_engine::{Engine, EngineSettings, Policy};
use chrono::DateTime;
use simkit::transport::Network;
use simkit::{ManualClock, SeedStreams};

fn engine() -> Arc<Engine> {
    let now = DateTime::parse_from_rfc3339("2025-11-24T08:00:00Z")
        .unwrap()
        .to_utc();
    Engine::new(
        EngineSettings {
            catalog: Catalog::demo(),
            policy: Policy::preset("full").unwrap(),
            calcom_url: "http://127.0.0.1:9".into(),
            calcom_api_key: "cal_x".into(),
            webhook_secret: None,
            retell_api_key: None,
        },
        Arc::new(ManualClock::new(now)),
        SeedStreams::new(1),
        Network::Real,
    )
}

fn resolve(datetime: &str) -> Result<String, String> {
    engine()
        .resolve(&SlotRequest {
            call_id: "call_x".into(),
            service: Some("Dauerwelle".into()),
            datetime: Some(datetime.into()),
            ..SlotRequest::default()
        })
        .map(|r| r.local.to_string())
}

/// As `check_availability` asks: a date and a time.
fn resolve_date(date: &str) -> Result<String, String> {
    engine()
        .resolve(&SlotRequest {
            call_id: "call_x".into(),
            service: Some("Dauerwelle".into()),
            date: Some(date.into()),
            time: Some("10:00".into()),
            ..SlotRequest::default()
        })
        .map(|r| r.local.to_string())
}

#[test]
fn dates_beyond_the_horizon_or_past_are_refused_in_german() {
    assert!(resolve("2026-05-01T10:00").is_ok(), "within a year");
    for far in ["9999-12-31T10:00", "2027-11-25T10:00"] {
        let e = resolve(far).unwrap_err();
        assert!(e.contains("So weit im Voraus"), "{far}: {e}");
    }
    for far in ["+262142-12-31", "31.12.9999"] {
        let e = resolve_date(far).unwrap_err();
        assert!(e.contains("So weit im Voraus"), "{far}: {e}");
    }
    assert!(
        resolve_date("-262143-01-01")
            .unwrap_err()
            .contains("Vergangenheit")
    );
    for past in ["0001-01-01T10:00", "2025-11-23T10:00"] {
        let e = resolve(past).unwrap_err();
        assert!(e.contains("Vergangenheit"), "{past}: {e}");
    }
    for nonsense in [
        "",
        "morgen",
        "2025-13-45T10:00",
        "2025-11-25T25:61",
        "\u{0}",
    ] {
        assert!(resolve(nonsense).is_err(), "{nonsense:?}");
    }
}
