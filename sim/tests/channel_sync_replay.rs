//! Generated worlds around `channel-sync-handed-anothers-booking` (explore seed 2003252 under
//! swarm drawing): the salon's sync runs while Cal.com's idempotency answers creates with
//! other bookings. Under `full` every world holds every invariant; with post-sync validation
//! off the same worlds show the class, so the family can fail.

mod common;

use common::{Draw, catalogue_text, violations, with_swaps};

const CASES: u64 = 16;

/// The family's worlds: when the salon enters its appointment and when Cal.com replays.
fn worlds() -> Vec<(String, u64)> {
    let base = catalogue_text("channel-sync-handed-anothers-booking");
    let mut draw = Draw(47);
    (0..CASES)
        .map(|case| {
            let at = draw.range(10, 40);
            let from = at + draw.range(5, 30);
            let until = from + draw.range(30, 90);
            let text = with_swaps(
                &base,
                &[
                    ("at = \"23s\"", format!("at = \"{at}s\"")),
                    ("from = \"48s\"", format!("from = \"{from}s\"")),
                    ("until = \"108s\"", format!("until = \"{until}s\"")),
                ],
            );
            let seed = if case == 0 {
                2003252
            } else {
                draw.next() % 100_000
            };
            (text, seed)
        })
        .collect()
}

fn parse(text: &str) -> sim::Scenario {
    sim::Scenario::parse(text, "generated").unwrap_or_else(|e| panic!("{e}\n{text}"))
}

#[test]
fn a_sync_handed_anothers_booking_never_takes_it() {
    for (case, (text, seed)) in worlds().iter().enumerate() {
        let found = violations(&parse(text), *seed);
        assert!(
            found.is_empty(),
            "case {case} (seed {seed}): {found:?}\n{text}"
        );
    }
}

#[test]
fn without_post_sync_validation_the_family_shows_the_class() {
    let broken = worlds()
        .iter()
        .filter(|(text, seed)| {
            let off = text.replace(
                "preset = \"full\"",
                "preset = \"full\"\npost_sync_validation = false",
            );
            !violations(&parse(&off), *seed).is_empty()
        })
        .count();
    assert!(
        broken >= 1,
        "no world of the family shows the class with the layer off"
    );
}
