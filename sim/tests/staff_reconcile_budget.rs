//! Generated worlds of `staff-cancel-throttled-workers`'s class: staff cancel one part of a
//! compound in the Cal.com app, its webhook may be lost, and the engine's workers, sharing a
//! key throttled to a few requests a minute, must still notice it by reading Cal.com's
//! bookings (the staff reconciliation). Drawn: the seed, the number of workers (4 to 6), the key's
//! budget, when staff cancel. Under `full` every world holds every invariant: the
//! reconciliation reads the whole account in one (paged) request, so a round fits the budget.
//! Simulated time is free.

mod common;

use common::{Draw, case_seed, catalogue_text, run_holding, with_swaps};

const CASES: u64 = 24;

#[test]
fn a_part_staff_cancelled_is_noticed_by_workers_on_a_throttled_key() {
    for case in 0..CASES {
        let mut d = Draw(case * 6_841 + 29);
        let text = with_swaps(
            &catalogue_text("staff-cancel-throttled-workers"),
            &[
                ("workers = 4", format!("workers = {}", d.range(4, 6))),
                ("limit = 10", format!("limit = {}", d.range(6, 12))),
                ("at = \"88s\"", format!("at = \"{}s\"", d.range(20, 120))),
            ],
        );
        let seed = case_seed(&mut d, case, 2_622_004);
        run_holding(&text, case, seed);
    }
}
