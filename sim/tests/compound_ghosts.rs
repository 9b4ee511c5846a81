//! Generated worlds around two classes explore found under `full` after the crash fixes
//! (seed 1104321, and 964 around the catalogue): each family
//! draws the class's parameters and the run's seed around its catalogue scenario, and every
//! world must hold every invariant under `full`; where the fix lives under a switch, the
//! same worlds with it off must show the class.

mod common;

use common::{Draw, case_seed, catalogue_text, run_holding, with_swaps};

const CASES: u64 = 16;

/// Several workers recover after a crash on a tight plan while a failed saga's undo waited
/// in the crashed worker's outbox: the sweep, resumed round after round, undoes it.
#[test]
fn crash_recoveries_of_several_workers_on_a_tight_plan_finish_their_sweep() {
    let base = catalogue_text("recovery-throttled-workers");
    let mut draw = Draw(41);
    let mut recovered = 0;
    for case in 0..CASES {
        let workers = draw.range(2, 4);
        let restart = *draw.pick(&[45, 60, 90, 120]);
        let limit = *draw.pick(&[10, 12, 15]);
        let text = with_swaps(
            &base,
            &[
                ("workers = 4", format!("workers = {workers}")),
                (
                    "restart_after = \"90s\"",
                    format!("restart_after = \"{restart}s\""),
                ),
                ("limit = 11", format!("limit = {limit}")),
            ],
        );
        let seed = case_seed(&mut draw, case, 1104321);
        let summary = run_holding(&text, case, seed);
        if summary["engine"]["recovered"].as_u64().unwrap_or(0) > 0 {
            recovered += 1;
        }
    }
    assert!(
        recovered >= 1,
        "the family reaches the recovery's cancel in {recovered} of {CASES} worlds"
    );
}

/// A cancel while the same call's booking is stuck on a create Cal.com does not answer (a
/// partition, a hang): answered within Retell's timeout, and what the booking makes is
/// undone, never a ghost.
#[test]
fn a_cancel_during_a_stuck_booking_answers_and_the_booking_is_undone() {
    let base = catalogue_text("cancel-during-stuck-booking");
    let mut draw = Draw(43);
    for case in 0..CASES {
        let cut = draw.range(8, 11);
        let length = draw.range(6, 15);
        let cancel = 12 + 10 + draw.range(0, 18);
        let timeout = *draw.pick(&[8, 10, 15]);
        let text = with_swaps(
            &base,
            &[
                (
                    "at = \"10s\"\nduration = \"10000ms\"",
                    format!("at = \"{cut}s\"\nduration = \"{length}s\""),
                ),
                ("at = \"30s\"", format!("at = \"{cancel}s\"")),
                ("timeout = \"10s\"", format!("timeout = \"{timeout}s\"")),
            ],
        );
        let seed = case_seed(&mut draw, case, 964);
        run_holding(&text, case, seed);
    }
}
