//! The catalogue as a mutation test: every protection layer, switched off alone, and every
//! deliberately broken preset must make some bundled scenario's gates fail, while that
//! scenario passes under its own policy. `bookingsim mutants scenarios/` runs the whole
//! matrix (every mutant against every scenario); this test runs, for each mutant, the
//! scenario that must kill it, so a catalogue change that loses a kill fails here.

use std::path::Path;

use sim::Scenario;
use sim::experiment::mutants::{MUTANTS, matrix};

/// Each mutant and the scenario whose gates catch it.
const KILLERS: [(&str, &str); 31] = [
    ("cache off", "availability-flood"),
    ("lock off", "overlapping-staff"),
    ("lock renewal off", "database-slow-under-lock"),
    ("lock fencing off", "lock-lapses-slow-redis"),
    ("lock outlives create off", "redis-failover-forgets-lock"),
    ("channel conflict check off", "channel-into-full-slot"),
    (
        "sync refusal keeps the appointment",
        "staff-closes-hours-before-sync",
    ),
    ("reconciliation off", "lock-outlives-ttl"),
    ("late-create settling off", "create-lands-late"),
    ("pre-sync check off", "incident-751"),
    ("retries off", "calcom-flaky"),
    ("post-sync validation off", "idempotency-collision"),
    ("post-sync status off", "rebook-after-cancel"),
    ("post-sync compensation off", "post-sync-rejects-part"),
    ("cancel wait off", "cancel-during-booking"),
    ("saga compensation off", "compound-segment-failure"),
    ("compensation retries off", "compensation-throttled"),
    ("recovery off", "crash-recovery"),
    ("sync retries off", "sync-outage"),
    ("local reservation off", "calcom-flaky"),
    ("Cal.com reservation off", "staff-walk-ins"),
    ("passed-over release off", "holds-passed-over"),
    ("release retries off", "holds-passed-over"),
    ("holds lapsing together off", "holds-passed-over"),
    ("hold budget sparing off", "holds-passed-over"),
    ("webhook invalidation off", "calcom-flaky"),
    ("staff following off", "staff-changes-webhook-lost"),
    ("staff reconciliation off", "staff-changes-webhook-lost"),
    ("parallel segments off", "lone-caller"),
    ("preset no-lock", "storm-overlap"),
    ("preset no-conflict-check", "storm-overlap"),
];

fn scenario(name: &str) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scenarios")
        .join(format!("{name}.toml"));
    Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn every_layer_of_full_and_every_broken_preset_is_killed_by_the_catalogue() {
    let full = booking_engine::Policy::preset("full").unwrap();
    let mut covered = Vec::new();
    for mutant in MUTANTS {
        // A layer no preset-`full` policy has needs no killer (the double-check: see the
        // README's outcomes section for why `full` goes without it).
        let in_full = match mutant.mutation {
            sim::experiment::mutants::Mutation::Layer(off) => {
                let mut p = full.clone();
                off(&mut p);
                p != full
            }
            sim::experiment::mutants::Mutation::Preset(_) => true,
        };
        let Some((_, killer)) = KILLERS.iter().find(|(m, _)| *m == mutant.name) else {
            assert!(!in_full, "no scenario is named to kill `{}`", mutant.name);
            continue;
        };
        covered.push(mutant.name);
        let result = matrix(&[scenario(killer)], &[mutant], 2, &|_, _| {}).unwrap();
        assert!(
            result.broken.is_empty(),
            "{killer} fails under its own policy: {:?}",
            result.broken
        );
        assert!(
            result.verdicts[0].killed(),
            "`{}` survives {killer}: the catalogue no longer shows the layer matters",
            mutant.name
        );
    }
    assert_eq!(
        covered.len(),
        KILLERS.len(),
        "a killer names an unknown mutant"
    );
}
