//! A salon appointment's sync on a throttled Cal.com key shared with several workers'
//! background jobs (`channel-sync-throttled-workers`, explore seeds 2303594 and 2308099
//! under `full`). Every worker's staff reconciliation read Cal.com each round while the
//! key was blocked, and whenever it came free their reads spent the plan before the sync's
//! creates went out: the compound appointment stayed `Pending` past a six-minute settle
//! (orphan_local). Generated around the catalogue world over the number of workers, the
//! plan's size, when the 429 window ends, when the desk enters the appointment and the
//! world's seed (case 0 the catalogue world as it is): every world holds every invariant (a `Pending` appointment without its
//! bookings at the end is `orphan_local`).

mod common;

use common::{Draw, case_seed, catalogue_text, run_holding, with_swaps};

const CASES: u64 = 12;

#[test]
fn a_desk_appointment_syncs_on_a_throttled_key_the_workers_background_reads_share() {
    let base = catalogue_text("channel-sync-throttled-workers");
    let mut draw = Draw(2_303_594);
    for case in 0..CASES {
        let workers = draw.range(2, 4);
        let limit = draw.range(8, 14);
        let until = draw.range(40, 120);
        let desk = draw.range(8, 20);
        // Case 0 is the catalogue world itself (it fails on the engine before the fix).
        let swapped = with_swaps(
            &base,
            &[
                ("workers = 4", format!("workers = {workers}")),
                // The stalled worker is the last one.
                ("worker = 3\n", format!("worker = {}\n", workers - 1)),
                ("limit = 10", format!("limit = {limit}")),
                ("until = \"95s\"", format!("until = \"{until}s\"")),
                ("at = \"14s\"", format!("at = \"{desk}s\"")),
            ],
        );
        let text = if case == 0 { base.clone() } else { swapped };
        let seed = case_seed(&mut draw, case, 2_303_594);
        run_holding(&text, case, seed);
    }
}
