//! Generated dates, from chrono's first year to its last and every form a request may write
//! them in, sent to every route that takes a date (slots new and legacy, bookings and their
//! listing and rescheduling, reservations new and legacy, `/_mock/bookable`,
//! `/_mock/bookings`): the mock answers each (no panic, no dropped connection) with a 2xx
//! or a 4xx, errors in Cal.com's envelope.

mod common;

use bytes::Bytes;
use common::{KEY, one_host};
use http::Request;
use http_body_util::Full;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestRunner};
use serde_json::{Value, json};
use simkit::transport::{HttpClient, Network, Timeouts};

/// A year as a request might write it: chrono's limits and their neighbours, the edges of
/// four-digit years, and anything between.
fn year() -> impl Strategy<Value = i32> {
    prop_oneof![
        prop::sample::select(vec![
            -262_144, -262_143, -262_142, -1, 0, 1, 2, 1969, 1970, 2025, 9999, 10_000, 262_141,
            262_142, 262_143, 262_144,
        ]),
        -262_145..=262_145i32,
        1..=9999i32,
    ]
}

/// A date or instant in one of the forms the routes parse.
fn date() -> impl Strategy<Value = String> {
    (
        year(),
        1..=12u32,
        prop_oneof![1..=28u32, Just(29), Just(30), Just(31)],
        0..=23u32,
        prop::sample::select(vec!["Z", "+14:00", "-12:00", "+01:00", ""]),
        0..4usize,
    )
        .prop_map(|(y, m, d, h, zone, form)| {
            let year = match form {
                0 => format!("{y:04}"),
                1 if y >= 0 => format!("+{y:06}"),
                _ => y.to_string(),
            };
            match form {
                3 => format!("{year}-{m:02}-{d:02}"),
                _ => format!("{year}-{m:02}-{d:02}T{h:02}:00:00{zone}"),
            }
        })
}

/// Every route that takes a date: (method, path, version, body) with the date put in.
fn requests(date: &str) -> Vec<(&'static str, String, &'static str, Value)> {
    let q = encode(date);
    vec![
        (
            "GET",
            format!("/v2/slots?eventTypeId=1001&start={q}&end={q}"),
            "2024-09-04",
            json!({}),
        ),
        (
            "GET",
            format!("/v2/slots?eventTypeId=1001&start=2025-11-25&end={q}"),
            "2024-09-04",
            json!({}),
        ),
        (
            "GET",
            format!("/v2/slots/available?eventTypeId=1001&startTime={q}&endTime={q}"),
            "2024-08-13",
            json!({}),
        ),
        (
            "POST",
            "/v2/bookings".into(),
            "2024-08-13",
            json!({ "start": date, "eventTypeId": 1001,
                "attendee": { "name": "Anrufer", "email": "a@example.com", "timeZone": "Europe/Berlin" } }),
        ),
        (
            "GET",
            format!("/v2/bookings?afterStart={q}&beforeEnd={q}"),
            "2024-08-13",
            json!({}),
        ),
        (
            "POST",
            "/v2/bookings/bk_none/reschedule".into(),
            "2024-08-13",
            json!({ "start": date }),
        ),
        (
            "POST",
            "/v2/slots/reservations".into(),
            "2024-09-04",
            json!({ "eventTypeId": 1001, "slotStart": date }),
        ),
        (
            "PATCH",
            "/v2/slots/reservations/none".into(),
            "2024-09-04",
            json!({ "eventTypeId": 1001, "slotStart": date }),
        ),
        (
            "POST",
            "/v2/slots/reserve".into(),
            "2024-04-15",
            json!({ "eventTypeId": 1001, "slotUtcStartDate": date, "slotUtcEndDate": date }),
        ),
        (
            "POST",
            "/_mock/bookable".into(),
            "",
            json!({ "queries": [{ "eventTypeId": 1001, "start": date, "at": "2025-11-24T08:00:00Z" },
                                { "eventTypeId": 1001, "start": "2025-11-25T10:00:00Z", "at": date }] }),
        ),
        (
            "POST",
            "/_mock/bookings".into(),
            "",
            json!({ "eventTypeId": 1001, "start": date }),
        ),
    ]
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b':' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn every_route_answers_every_date_without_a_panic() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut world = one_host();
    world.api.rate_limit.enabled = false;
    let running = rt.block_on(common::serve(world));
    let client = HttpClient::new(Network::Real, Timeouts::default());
    let mut runner = TestRunner::new(Config {
        cases: 200,
        rng_seed: RngSeed::Fixed(25),
        failure_persistence: None,
        ..Config::default()
    });
    let statuses = std::sync::Mutex::new(std::collections::BTreeMap::<u16, u32>::new());
    // The dates the issue found panicking come first, then generated ones.
    let named = [
        "-262143-01-01",
        "-262143-01-01T00:00:00",
        "+262142-12-31T23:59:59Z",
        "262142-12-31",
    ];
    let check = |date: &str| -> Result<(), TestCaseError> {
        for (method, path, version, body) in requests(date) {
            let mut req = Request::builder()
                .method(method)
                .uri(format!("{}{path}", running.base))
                .header("authorization", KEY)
                .header("content-type", "application/json");
            if !version.is_empty() {
                req = req.header("cal-api-version", version);
            }
            let req = req.body(Full::new(Bytes::from(body.to_string()))).unwrap();
            let response = rt
                .block_on(client.send(req))
                .map_err(|e| TestCaseError::fail(format!("{method} {path}: no answer: {e}")))?;
            let status = response.status.as_u16();
            *statuses.lock().unwrap().entry(status).or_default() += 1;
            prop_assert!(
                (200..300).contains(&status) || (400..500).contains(&status),
                "{status} for {method} {path} {body}: {:?}",
                String::from_utf8_lossy(&response.body)
            );
            if status >= 400 {
                let answer: Value = serde_json::from_slice(&response.body).unwrap_or_default();
                prop_assert_eq!(&answer["status"], "error", "{} {} {}", method, path, body);
            }
        }
        Ok(())
    };
    for date in named {
        check(date).unwrap();
    }
    runner.run(&date(), |d| check(&d)).unwrap();
    let statuses = statuses.into_inner().unwrap();
    eprintln!("answers by status: {statuses:?}");
    assert!(
        statuses.keys().any(|s| *s < 300) && statuses.get(&400).is_some_and(|n| *n > 100),
        "both admitted and refused dates were generated: {statuses:?}"
    );
}

#[test]
fn calendar_arithmetic_at_chronos_limits_does_not_panic() {
    use chrono::{DateTime, TimeDelta, Utc};
    use mock_calcom::calendar::{Span, slot_starts, working_windows};
    let hours = mock_calcom::config::WeeklyHours {
        weekdays: vec!["00:00-23:59".to_string().try_into().unwrap()],
        ..Default::default()
    };
    let (min, max) = (DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC);
    for tz in [
        chrono_tz::UTC,
        chrono_tz::Pacific::Kiritimati,
        chrono_tz::Etc::GMTPlus12,
    ] {
        for (from, to) in [
            (min, min + TimeDelta::days(2)),
            (max - TimeDelta::days(2), max),
        ] {
            let windows = working_windows(&hours, tz, from, to);
            let _ = slot_starts(
                &windows,
                TimeDelta::minutes(30),
                TimeDelta::minutes(15),
                from,
                to,
            );
        }
    }
    let edge = [Span::new(max - TimeDelta::minutes(20), max)];
    assert_eq!(
        slot_starts(
            &edge,
            TimeDelta::minutes(30),
            TimeDelta::minutes(15),
            min,
            max
        ),
        Vec::<DateTime<Utc>>::new(),
        "a slot that would end past the last instant is not offered"
    );
}
