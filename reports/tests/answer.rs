//! The one-sentence-per-policy answer atop a sweep's report names, for many generated
//! sweeps, the grid values the numbers say: where a policy books most, how far it holds race
//! failures and both kinds of false refusals at zero, and where Cal.com starts to answer 429.

use std::collections::BTreeMap;

use reports::model::{IndexMap, Paired, Point, PolicySummary, SweepReport};

/// A small deterministic generator (no randomness crate: the same sweeps every run).
struct Draw(u64);

impl Draw {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }

    /// Zero half the time, else a rate.
    fn rate(&mut self) -> f64 {
        if self.next(2) == 0 {
            0.0
        } else {
            (1 + self.next(99)) as f64 / 100.0
        }
    }
}

fn sweep(seed: u64) -> SweepReport<()> {
    let mut d = Draw(seed);
    let policies: Vec<String> = ["baseline", "double-check", "full"][..1 + d.next(3) as usize]
        .iter()
        .map(|p| (*p).to_owned())
        .collect();
    let mut x = 0.05;
    let points = (0..2 + d.next(6))
        .map(|_| {
            x *= 1.5 + d.next(3) as f64;
            let value = format!("{x:.2}");
            let runs = 1 + d.next(3) as usize;
            Point {
                params: IndexMap::from([("journeys[0].arrivals.rate".to_owned(), value.clone())]),
                x: Some(x),
                policies: policies
                    .iter()
                    .map(|p| {
                        let s = PolicySummary::<()> {
                            policy: p.clone(),
                            runs,
                            outcomes: BTreeMap::from([("booked".to_owned(), d.next(80))]),
                            race_failure_rate: d.rate(),
                            false_refusal_rate: d.rate(),
                            unavailable_free_rate: d.rate(),
                            calcom: BTreeMap::from([(
                                "create_booking".to_owned(),
                                BTreeMap::from([(429, d.next(2) * d.next(50))]),
                            )]),
                            ..PolicySummary::default()
                        };
                        (p.clone(), s)
                    })
                    .collect(),
                paired: Paired::default(),
            }
        })
        .collect();
    SweepReport {
        scenario: "voice-journeys".into(),
        params: vec!["journeys[0].arrivals.rate".into()],
        policies,
        seeds: vec![1],
        runs: 0,
        complete: true,
        dropped: Vec::new(),
        points,
        knees: Vec::new(),
    }
}

/// What the answer must say of a measure along `values`: held over the whole grid, broken
/// from the first point, or held up to the value before the first crossing.
fn held(what: &str, values: &[(String, f64)]) -> String {
    match values.iter().position(|(_, v)| *v > 0.0) {
        None => format!(
            "holds {what} at 0 over the whole grid (up to rate {})",
            values[values.len() - 1].0
        ),
        Some(0) => format!("has {what} from the first point"),
        Some(i) => format!("holds {what} at 0 up to rate {}, then", values[i - 1].0),
    }
}

#[test]
fn the_answer_names_the_grid_values_the_numbers_say_over_many_sweeps() {
    let mut seen = BTreeMap::new();
    for seed in 0..200 {
        let report = sweep(seed);
        let sentences = reports::sweep::answer(&report);
        assert_eq!(sentences.len(), report.policies.len(), "seed {seed}");
        for (policy, sentence) in report.policies.iter().zip(&sentences) {
            assert!(
                sentence.starts_with(&format!("`{policy}` ")),
                "seed {seed}: {sentence}"
            );
            let row: Vec<(String, &PolicySummary<()>)> = report
                .points
                .iter()
                .map(|p| (p.params[0].clone(), &p.policies[policy]))
                .collect();
            let along = |f: &dyn Fn(&PolicySummary<()>) -> f64| -> Vec<(String, f64)> {
                row.iter().map(|(v, s)| (v.clone(), f(s))).collect()
            };
            let booked = along(&|s| s.outcome("booked") as f64 / s.runs as f64);
            let best = booked
                .iter()
                .fold(&booked[0], |b, c| if c.1 > b.1 { c } else { b });
            let throttled = row.iter().find(|(_, s)| s.calcom_429() > 0);
            let expected = [
                format!("books most at rate {} (", best.0),
                held("race failures", &along(&|s| s.race_failure_rate)),
                held(
                    "false refusals (\"vergeben\" while free)",
                    &along(&|s| s.false_refusal_rate),
                ),
                held(
                    "\"nicht verfügbar\" while free",
                    &along(&|s| s.unavailable_free_rate),
                ),
                match throttled {
                    Some((v, _)) => format!("Cal.com answers 429 from rate {v} ("),
                    None => "Cal.com never answers 429".to_owned(),
                },
            ];
            for e in expected {
                assert!(
                    sentence.contains(&e),
                    "seed {seed}, {policy}: expected {e:?} in\n{sentence}"
                );
                *seen
                    .entry(e.split(' ').take(2).collect::<String>())
                    .or_insert(0) += 1;
            }
        }
    }
    // The generated sweeps reach every form of the sentence.
    for form in ["holdsrace", "hasrace", "Cal.comanswers", "Cal.comnever"] {
        assert!(seen.contains_key(form), "{form} never drawn: {seen:?}");
    }
}
