//! Generated bad configurations for `mock-calcom validate` and `serve`: every number and
//! duration of the demo world and of the misbehaving example replaced by NaN, ±inf, 0,
//! negative, huge and tiny values, durations of a nanosecond and 600 million years. Each is
//! refused with the file and the field, or accepted; an accepted world starts and answers a
//! slot listing and a booking. Nothing panics.

mod common;

use std::sync::Arc;

use chrono::TimeDelta;
use mock_calcom::model::{BookingRequest, BookingSource, SlotQuery};
use mock_calcom::{MockCalcom, MockConfig};
use simkit::transport::Network;
use simkit::{ManualClock, SeedStreams};

const NUMBERS: [&str; 9] = [
    "nan",
    "inf",
    "-inf",
    "0",
    "-1",
    "1e300",
    "1e-300",
    "4294967295",
    "9223372036854775807",
];
const DURATIONS: [&str; 5] = ["\"0s\"", "\"1ns\"", "\"600000000y\"", "\"-1s\"", "\"soon\""];

/// Every (path, kind) of a number or a duration in a TOML document.
fn leaves(value: &toml::Value, path: &mut Vec<String>, out: &mut Vec<(Vec<String>, bool)>) {
    match value {
        toml::Value::Table(t) => {
            for (k, v) in t {
                path.push(k.clone());
                leaves(v, path, out);
                path.pop();
            }
        }
        toml::Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                path.push(i.to_string());
                leaves(v, path, out);
                path.pop();
            }
        }
        toml::Value::Integer(_) | toml::Value::Float(_) => out.push((path.clone(), true)),
        toml::Value::String(s) if humantime::parse_duration(s).is_ok() => {
            out.push((path.clone(), false));
        }
        _ => {}
    }
}

fn replaced(doc: &toml::Value, path: &[String], value: &str) -> toml::Value {
    let new: toml::Value = toml::from_str::<toml::Table>(&format!("v = {value}"))
        .map(|mut t| t.remove("v").unwrap())
        .unwrap_or_else(|_| toml::Value::String(value.into()));
    let mut doc = doc.clone();
    let mut here = &mut doc;
    for part in path {
        here = match here {
            toml::Value::Table(t) => t.get_mut(part).unwrap(),
            toml::Value::Array(a) => &mut a[part.parse::<usize>().unwrap()],
            _ => unreachable!("paths come from the document"),
        };
    }
    *here = new;
    doc
}

#[test]
fn every_mutated_value_is_refused_clearly_or_the_world_works() {
    let worlds = [
        ("demo.toml", mock_calcom::config::DEMO_TOML.to_owned()),
        (
            "misbehaving.toml",
            std::fs::read_to_string(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/examples/misbehaving.toml"
            ))
            .unwrap(),
        ),
    ];
    let (mut refused, mut accepted) = (0, 0);
    for (name, text) in worlds {
        let doc: toml::Value = toml::from_str(&text).unwrap();
        let mut found = Vec::new();
        leaves(&doc, &mut Vec::new(), &mut found);
        for (path, number) in found {
            let values: &[&str] = if number { &NUMBERS } else { &DURATIONS };
            for v in values {
                let mutated = toml::to_string(&replaced(&doc, &path, v)).unwrap();
                let what = format!("{name} {} = {v}", path.join("."));
                let parsed = std::panic::catch_unwind(|| MockConfig::from_toml(&mutated, name));
                match parsed {
                    Err(_) => panic!("{what}: validation panicked"),
                    Ok(Err(e)) => {
                        refused += 1;
                        assert!(e.to_string().starts_with(name), "{what}: {e}");
                    }
                    Ok(Ok(config)) => {
                        accepted += 1;
                        let works = std::panic::catch_unwind(|| {
                            let now = common::start_instant();
                            let mock = MockCalcom::new(
                                config.clone(),
                                Arc::new(ManualClock::new(now)),
                                SeedStreams::new(1),
                                Network::Real,
                            );
                            for et in &config.event_types {
                                let q = SlotQuery::new(et.id, now, now + TimeDelta::days(7));
                                let _ = mock.with_world(|w| w.available_slots(&q, now, now));
                                let req = BookingRequest::simple(
                                    et.id,
                                    now + TimeDelta::days(1),
                                    "Fuzz",
                                    BookingSource::Api,
                                );
                                let _ = mock.with_world(|w| w.admit_booking(&req, now, None));
                            }
                        });
                        assert!(works.is_ok(), "{what}: the accepted world panicked");
                    }
                }
            }
        }
    }
    eprintln!("{refused} refused, {accepted} accepted");
    assert!(
        refused > 100 && accepted > 10,
        "{refused} refused, {accepted} accepted"
    );
}
