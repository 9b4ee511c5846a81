//! The work one slots listing may cost is bounded: hosts × slot starts in the range, counted
//! before the world's lock is taken, at most `MAX_SLOT_CANDIDATES`; beyond, a 400 in Cal.com's
//! envelope. (A 6 000-host world asked for 93 days of one-minute slots held the lock that
//! every request waits for during 55 s.)

mod common;

use chrono::{DateTime, TimeDelta, Utc};
use mock_calcom::MockConfig;
use mock_calcom::api::slots::{MAX_SLOT_CANDIDATES, slot_candidates};
use mock_calcom::calendar::{Span, slot_starts};
use proptest::prelude::*;
use reqwest::StatusCode;
use serde_json::Value;

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

proptest! {
    /// The count the bound is checked on is never below the slots the listing then weighs
    /// (for one host working around the clock, the most a host can have).
    #[test]
    fn the_counted_candidates_bound_the_slots_weighed(
        interval in 1..=240u32,
        length in 1..=240i64,
        minutes in 0..=20_000i64,
        offset in 0..=1440i64,
    ) {
        let from = utc("2025-11-24T00:00:00Z") + TimeDelta::minutes(offset);
        let to = from + TimeDelta::minutes(minutes);
        let day = [Span::new(from - TimeDelta::days(1), to + TimeDelta::days(1))];
        let weighed = slot_starts(
            &day,
            TimeDelta::minutes(length),
            TimeDelta::minutes(interval.into()),
            from,
            to,
        )
        .len() as u64;
        prop_assert!(weighed <= slot_candidates(1, interval, (from, to)) + 1);
        prop_assert_eq!(slot_candidates(7, interval, (from, to)), 7 * slot_candidates(1, interval, (from, to)));
    }
}

/// A world of `hosts` stylists sharing one event type with a slot every minute.
fn crowded(hosts: usize) -> MockConfig {
    let mut text = String::from(
        "[latency]\ndefault = { fixed = \"0s\" }\n[consistency]\nslots_lag = { fixed = \"0s\" }\n",
    );
    for id in 1..=hosts {
        text.push_str(&format!(
            "[[hosts]]\nid = {id}\nname = \"Host {id}\"\nworking_hours = {{ weekdays = [\"09:00-18:00\"] }}\n"
        ));
    }
    let ids: Vec<String> = (1..=hosts).map(|i| i.to_string()).collect();
    text.push_str(&format!(
        "[[event_types]]\nid = 7\nslug = \"minute\"\ntitle = \"Minute\"\nlength_minutes = 1\nhosts = [{}]\n",
        ids.join(", ")
    ));
    let mut config = MockConfig::from_toml(&text, "crowded").unwrap();
    config.api.rate_limit.enabled = false;
    config
}

#[tokio::test]
async fn a_listing_beyond_the_bound_is_refused_before_any_work() {
    let hosts = 100;
    let s = common::serve(crowded(hosts)).await;
    let list = |end: &str| {
        let url = format!(
            "{}/v2/slots?eventTypeId=7&start=2025-11-25&end={end}",
            s.base
        );
        let http = s.http.clone();
        async move {
            let r = http
                .get(url)
                .header("cal-api-version", "2024-09-04")
                .send()
                .await
                .unwrap();
            (r.status(), r.json::<Value>().await.unwrap())
        }
    };
    // One day: 100 hosts × 1 440 starts, within the bound.
    let one_day = slot_candidates(
        hosts,
        1,
        (utc("2025-11-25T00:00:00Z"), utc("2025-11-25T23:59:59Z")),
    );
    assert!(one_day <= MAX_SLOT_CANDIDATES, "{one_day}");
    let (status, body) = list("2025-11-25").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["2025-11-25"].as_array().unwrap().len(), 9 * 60);
    // Four days: 576 000 candidates.
    let (status, body) = list("2025-11-28").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["status"], "error");
    assert_eq!(body["error"]["code"], "BadRequestException");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("shorter range") && message.contains("500000"),
        "{message}"
    );
    assert_eq!(
        s.mock.ground_truth().requests.by_endpoint["slots"].get(&400),
        Some(&1),
        "counted as a refused listing"
    );
}
