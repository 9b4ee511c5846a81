//! Worlds around catalogue files: a file's world and workload with its seed changed,
//! generated faults merged in where it has none, and its `[explore.ranges]` drawn.

use std::path::PathBuf;

use rand::Rng;
use simkit::SeedStreams;
use simkit::seed::StreamRng;

use crate::explore::features::{Plan, Row};
use crate::explore::generate::{Draw, SETTLE, Swarm, generate_drawn, misbehaviour};
use crate::scenario::Scenario;
use crate::scenario::space::Space;

/// Where explored worlds come from: generated whole, or around given scenario files (run
/// `i` takes file `i mod n`); `sets` (`--set field=value`) apply to every world, e.g. a
/// policy override that switches one layer off.
#[derive(Debug, Clone, Default)]
pub struct Worlds {
    pub around: Vec<(String, String)>,
    pub sets: Vec<String>,
    /// How generated worlds draw their features (pairwise unless told).
    pub draw: Draw,
}

impl Worlds {
    /// Whole worlds generated from each seed.
    pub fn generated() -> Self {
        Worlds::default()
    }

    /// Around the scenario files in `paths` (files, or folders of them), each of which must
    /// load; `sets` apply to every world.
    pub fn around_files(paths: &[PathBuf], sets: &[String]) -> Result<Self, String> {
        let mut around = Vec::new();
        for f in crate::experiment::catalogue::scenario_files(paths)? {
            let text = std::fs::read_to_string(&f).map_err(|e| format!("{}: {e}", f.display()))?;
            let origin = f.display().to_string();
            Scenario::with_sets(&text, &origin, &[]).map_err(|e| e.to_string())?;
            around.push((origin, text));
        }
        Ok(Worlds {
            around,
            sets: sets.to_vec(),
            draw: Draw::default(),
        })
    }

    /// The scenario text of run `seed`.
    pub fn world(&self, seed: u64) -> Result<String, String> {
        self.world_features(seed).map(|(text, _)| text)
    }

    /// The scenario text of run `seed`, and the generator's features it took (none for a
    /// world around a file).
    pub fn world_features(&self, seed: u64) -> Result<(String, Option<Row>), String> {
        let (text, row) = if self.around.is_empty() {
            let (text, row) = generate_drawn(seed, self.draw);
            (text, Some(row))
        } else {
            let (origin, text) = &self.around[(seed % self.around.len() as u64) as usize];
            (around(origin, text, seed)?, None)
        };
        if self.sets.is_empty() {
            return Ok((text, row));
        }
        crate::scenario::with_sets_text(&text, "explore", &self.sets)
            .map(|text| (text, row))
            .map_err(|e| e.to_string())
    }
}

/// Run `seed` around the scenario `text`: its own seed, generated misbehaviour merged in
/// where the file has none of that kind, and its `[explore.ranges]` drawn.
fn around(origin: &str, text: &str, seed: u64) -> Result<String, String> {
    let mut doc: toml::Table = toml::from_str(text).map_err(|e| format!("{origin}: {e}"))?;
    let space: Space = match doc.remove("explore") {
        Some(v) => v
            .try_into()
            .map_err(|e| format!("{origin}: explore: {e}"))?,
        None => Space::default(),
    };
    let mut rng: StreamRng = SeedStreams::new(seed).stream("explore.around");
    doc.insert("seed".into(), toml::Value::Integer(seed as i64 & i64::MAX));
    // Judged once settled: long enough for every hold to lapse (Cal.com's 5 min, the local
    // 2 min and the 30-s expiry job), so that one still held at the end is truly dangling.
    let settle = doc
        .get("settle")
        .and_then(toml::Value::as_str)
        .and_then(|s| humantime::parse_duration(s).ok());
    if settle.is_none_or(|s| s < SETTLE) {
        doc.insert("settle".into(), "6m".into());
    }
    // Without a `[calcom]` table a scenario runs in the demo world: write it out, so that
    // the misbehaviour merged in joins that world instead of replacing it.
    if !doc.contains_key("calcom") {
        let demo: toml::Table =
            toml::from_str(mock_calcom::config::DEMO_TOML).expect("the demo world parses");
        doc.insert("calcom".into(), toml::Value::Table(demo));
    }
    if space.faults {
        let swarm = Swarm::draw(&mut rng, &mut Plan::swarm());
        let mut lengths = rng.clone();
        let mut again = SeedStreams::new(seed).stream("explore-crash-again");
        let extra: toml::Table =
            toml::from_str(&misbehaviour(&mut rng, &mut lengths, &mut again, &swarm))
                .expect("generated tables parse");
        merge(&mut doc, extra);
    }
    let mut sets = Vec::new();
    for (field, range) in &space.ranges {
        let value =
            draw(range, &mut rng).map_err(|e| format!("{origin}: explore.ranges.{field}: {e}"))?;
        sets.push(format!("{field}={value}"));
    }
    let text = toml::to_string(&doc).map_err(|e| e.to_string())?;
    crate::scenario::with_sets_text(&text, origin, &sets).map_err(|e| e.to_string())
}

/// Adds `extra` to `doc`: arrays of tables are extended, tables merged, and a value the
/// file already sets is kept (its fixed parts stay fixed). A distribution written as a
/// table (`{ min, max }`, percentiles) is one value: merging a generated `{ fixed }` into
/// it made a world that does not parse.
fn merge(doc: &mut toml::Table, extra: toml::Table) {
    for (key, value) in extra {
        match (doc.get_mut(&key), value) {
            (None, value) => {
                doc.insert(key, value);
            }
            (Some(toml::Value::Table(mine)), toml::Value::Table(_)) if is_distribution(mine) => {}
            (Some(toml::Value::Table(mine)), toml::Value::Table(theirs)) => merge(mine, theirs),
            (Some(toml::Value::Array(mine)), toml::Value::Array(theirs)) => mine.extend(theirs),
            (Some(_), _) => {}
        }
    }
}

/// Whether a table is a latency/lag distribution (`simkit::Distribution`'s fields).
fn is_distribution(table: &toml::Table) -> bool {
    const FIELDS: [&str; 7] = ["fixed", "min", "p50", "p90", "p95", "p99", "max"];
    table.keys().any(|k| FIELDS.contains(&k.as_str()))
}

/// One value of a range (`"lo..hi"`: numbers, or durations with units) or of a list, as
/// TOML text for `--set`.
fn draw(range: &toml::Value, rng: &mut StreamRng) -> Result<String, String> {
    match range {
        toml::Value::Array(choices) if !choices.is_empty() => {
            Ok(choices[rng.random_range(0..choices.len())].to_string())
        }
        toml::Value::String(text) => {
            let (lo, hi) = text
                .split_once("..")
                .ok_or_else(|| format!("expected \"lo..hi\" or a list, found {text:?}"))?;
            let (lo, hi) = (lo.trim(), hi.trim());
            if let (Ok(a), Ok(b)) = (lo.parse::<i64>(), hi.parse::<i64>()) {
                return if a <= b {
                    Ok(rng.random_range(a..=b).to_string())
                } else {
                    Err(format!("{a} is above {b}"))
                };
            }
            if let (Ok(a), Ok(b)) = (lo.parse::<f64>(), hi.parse::<f64>()) {
                return if a <= b && a.is_finite() && b.is_finite() {
                    Ok(format!("{:?}", a + (b - a) * rng.random::<f64>()))
                } else {
                    Err(format!("expected finite lo <= hi, found {text:?}"))
                };
            }
            let (a, b) = humantime::parse_duration(lo)
                .and_then(|a| humantime::parse_duration(hi).map(|b| (a, b)))
                .map_err(|e| format!("{text:?}: expected numbers or durations ({e})"))?;
            let (a, b) = (a.as_millis() as u64, b.as_millis() as u64);
            if a > b {
                return Err(format!("{lo} is above {hi}"));
            }
            Ok(format!("\"{}ms\"", rng.random_range(a..=b)))
        }
        other => Err(format!("expected \"lo..hi\" or a list, found {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file's distribution table stays whole when generated misbehaviour of the same kind
    /// is merged in (every world around `calibration.toml` that drew a slots lag failed to
    /// parse: `fixed` beside the file's `min`/`max`); other tables still merge.
    #[test]
    fn a_files_distribution_is_kept_whole() {
        let mut doc: toml::Table = toml::from_str(
            "[calcom.consistency.slots_lag]\nmin = \"0s\"\nmax = \"2s\"\n[policy.infra]\na = 1\n",
        )
        .unwrap();
        let extra: toml::Table = toml::from_str(
            "[calcom.consistency]\nslots_lag = { fixed = \"5s\" }\nbookings_lag = { fixed = \"1s\" }\n\
             [policy.infra]\nb = 2\n",
        )
        .unwrap();
        merge(&mut doc, extra);
        let consistency = doc["calcom"]["consistency"].as_table().unwrap();
        let lag = consistency["slots_lag"].as_table().unwrap();
        assert_eq!(lag.keys().collect::<Vec<_>>(), ["max", "min"]);
        assert!(
            consistency.contains_key("bookings_lag"),
            "a kind the file lacks joins"
        );
        assert_eq!(doc["policy"]["infra"].as_table().unwrap().len(), 2);
    }

    /// Around a file: its world and workload stay, its seed changes, generated faults join
    /// only where it has none of that kind, and its `[explore.ranges]` are drawn per run.
    #[test]
    fn a_file_narrows_the_space_and_its_ranges_are_drawn() {
        let file = "name = \"f\"\nstart = \"2025-11-24T09:00:00\"\nduration = \"1m\"\n\
            [policy.infra]\nsave_failure_probability = 0.0\n\
            [[storms]]\nfunction = \"start_booking\"\nrate = 5\nduration = \"1s\"\n\
            datetimes = [\"2025-11-25T10:00\"]\nargs = { service_name = \"Herrenhaarschnitt\" }\n\
            [explore.ranges]\n\"calcom.external.rate_per_hour\" = \"10..20\"\n\
            \"retell.timeout\" = \"5s..9s\"\n\"policy.lock_wait\" = [\"1s\", \"2s\"]\n";
        let worlds = Worlds {
            around: vec![("f.toml".into(), file.into())],
            sets: Vec::new(),
            draw: Draw::default(),
        };
        let mut rates = std::collections::BTreeSet::new();
        for seed in 0..30 {
            let text = worlds.world(seed).unwrap();
            assert_eq!(text, worlds.world(seed).unwrap(), "the same for a seed");
            let s = Scenario::parse(&text, "around").unwrap_or_else(|e| panic!("{e}\n{text}"));
            assert_eq!(s.seed, seed);
            assert_eq!(s.storms.len(), 1, "the file's workload stays");
            let policy = s.policy().unwrap();
            assert_eq!(
                policy.infra.save_failure_probability, 0.0,
                "its fixed parts stay"
            );
            assert!(!s.calcom.event_types.is_empty(), "the demo world stays");
            let rate = s.calcom.external.rate_per_hour;
            assert!((10.0..=20.0).contains(&rate), "{rate}");
            rates.insert(rate as u64);
            assert!((5..=9).contains(&s.retell.timeout.as_secs()));
            let wait = policy.lock_wait.as_secs();
            assert!(wait == 1 || wait == 2);
        }
        assert!(rates.len() > 3, "drawn per run: {rates:?}");
        let with_faults = (0..30)
            .filter(|seed| {
                let s = Scenario::parse(&worlds.world(*seed).unwrap(), "around").unwrap();
                !s.faults.is_empty() || !s.calcom.faults.is_empty()
            })
            .count();
        assert!(
            (3..30).contains(&with_faults),
            "faults on in some runs: {with_faults}"
        );
        for bad in ["\"x..y\"", "\"9..1\"", "[]", "3"] {
            let text = file.replace("\"10..20\"", bad);
            let worlds = Worlds {
                around: vec![("f.toml".into(), text)],
                sets: Vec::new(),
                draw: Draw::default(),
            };
            let e = worlds.world(1).unwrap_err();
            assert!(
                e.contains("explore.ranges.calcom.external.rate_per_hour"),
                "{e}"
            );
        }
    }
}
