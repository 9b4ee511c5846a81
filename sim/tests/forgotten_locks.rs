//! Generated worlds of `save-after-redis-restart`'s class: a booking's create hangs in Cal.com,
//! Redis forgets the booking's lock while it is in flight (a restart without persistence, or a
//! failover to a replica that missed the lock), the create's answer is lost and the booking
//! is made by the engine's look-and-create, then the database pauses before the save. The
//! background job that looks again at creates whose answer was lost must not take the
//! booking for unsaved: it checks under the stylist's lock, which the booking holds from
//! before its create until after its save, so the booking must hold it again once Redis has
//! forgotten it. Drawn: the seed, when Redis loses the lock and how, how long it is down, when
//! the database pauses and for how long. Under `full` every world holds every invariant and
//! no booking is cancelled behind its caller. Simulated time is free.

mod common;

use common::{Draw, case_seed, catalogue_text, run_holding, with_swaps};

const CASES: u64 = 24;

/// The catalogue world with the drawn Redis loss and database pause.
fn world(d: &mut Draw) -> String {
    let redis = match d.below(2) {
        0 => format!(
            "[[faults]]\nat = \"{}ms\"\nduration = \"{}ms\"\nkind = \"redis\"\nmode = \"restart\"\n",
            d.range(52_000, 78_000),
            d.range(200, 4_000)
        ),
        _ => format!(
            "[[faults]]\nat = \"{}ms\"\nduration = \"{}ms\"\nkind = \"redis\"\nmode = \"failover\"\nlost_writes = \"{}s\"\n",
            d.range(52_000, 78_000),
            d.range(200, 4_000),
            d.range(30, 60)
        ),
    };
    let database = format!(
        "[[faults]]\nat = \"{}ms\"\nduration = \"{}ms\"\nkind = \"database\"\nmode = \"pause\"\n",
        d.range(60_000, 80_000),
        d.range(60_000, 150_000)
    );
    with_swaps(
        &catalogue_text("save-after-redis-restart"),
        &[
            (
                "[[faults]]\nat = \"58554ms\"\nduration = \"1157ms\"\nkind = \"redis\"\nmode = \"restart\"\n",
                redis,
            ),
            (
                "[[faults]]\nat = \"70811ms\"\nduration = \"98832ms\"\nkind = \"database\"\nmode = \"pause\"\n",
                database,
            ),
        ],
    )
}

#[test]
fn a_booking_whose_lock_redis_forgot_is_not_cancelled_while_it_saves() {
    let mut booked = 0;
    for case in 0..CASES {
        let mut d = Draw(case * 7_919 + 3);
        let text = world(&mut d);
        let seed = case_seed(&mut d, case, 2_620_265);
        let summary = run_holding(&text, case, seed);
        assert_eq!(
            summary["calcom"]["cancel_booking"]["200"]
                .as_u64()
                .unwrap_or(0),
            0,
            "case {case} (seed {seed}): a booking was cancelled\n{text}"
        );
        booked += summary["outcomes"]["booked"].as_u64().unwrap();
    }
    // The class is exercised: call_2's booking is made and saved after the pause in most.
    assert!(booked >= CASES, "{booked} bookings over {CASES} worlds");
}
