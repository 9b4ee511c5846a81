//! Staff in the Cal.com app, drawn for a generated world (a stream of its own,
//! `explore-staff`, so that every other draw stays as it was): now and then one to three
//! `[[staff]]` actions during the workload: cancel or move a booking (named by its call,
//! its attendee, its start or its place in the calendar), block time for a stylist, or
//! change a stylist's hours from that instant on.

use std::fmt::Write as _;

use rand::Rng;
use simkit::SeedStreams;
use simkit::seed::StreamRng;

use super::generate::{STARTS, local_instant};

/// What staff do in the world of `seed`: `[[staff]]` tables (empty most of the time).
/// `days` are the days callers ask for, `zone` the salon's, `stylists` the hosts 1..=n,
/// `callers` the scripted calls `call_0..` there are.
pub(super) fn draw(
    seed: u64,
    days: [&str; 2],
    zone: Option<&str>,
    stylists: u64,
    callers: usize,
    plan: &mut super::features::Plan,
) -> String {
    let mut rng = SeedStreams::new(seed).stream("explore-staff");
    let mut out = String::new();
    if !plan.on("staff_actions", rng.random_bool(0.35)) {
        return out;
    }
    for _ in 0..rng.random_range(1..=3) {
        let at = rng.random_range(5..115);
        let instant = |rng: &mut StreamRng| {
            let day = days[rng.random_range(0..days.len())];
            local_instant(day, STARTS[rng.random_range(0..STARTS.len())], zone)
        };
        let host = rng.random_range(1..=stylists.max(1));
        let action = match rng.random_range(0..4) {
            0 | 1 => {
                let which = booking(&mut rng, callers, instant);
                if rng.random_bool(0.5) {
                    format!("action = \"cancel\"\n{which}")
                } else if rng.random_bool(0.6) {
                    let later = ["15m", "30m", "1h", "2h", "1d"][rng.random_range(0..5)];
                    format!("action = \"reschedule\"\n{which}later = \"{later}\"\n")
                } else {
                    let Some(to) = instant(&mut rng) else {
                        continue;
                    };
                    format!("action = \"reschedule\"\n{which}to = \"{to}\"\n")
                }
            }
            2 => {
                let Some(start) = instant(&mut rng) else {
                    continue;
                };
                let length = ["30m", "1h", "3h", "10h"][rng.random_range(0..4)];
                format!(
                    "action = \"block\"\nhost = {host}\nstart = \"{start}\"\nlength = \"{length}\"\n"
                )
            }
            _ => {
                let hours = ["09:00-12:00", "12:00-18:00", "10:00-11:00", "09:00-18:00"]
                    [rng.random_range(0..4)];
                // Mostly the weekdays' hours; now and then one day's own (the day callers ask for
                // is a weekday or a Sunday).
                let day = [
                    "weekdays", "weekdays", "mon", "tue", "wed", "thu", "fri", "sat", "sun",
                ][rng.random_range(0..9)];
                format!(
                    "action = \"hours\"\nhost = {host}\nworking_hours = {{ {day} = [\"{hours}\"] }}\n"
                )
            }
        };
        let _ = writeln!(out, "[[staff]]\nat = \"{at}s\"\n{action}");
    }
    out
}

/// Lines naming a booking: by its call (a scripted caller's), its attendee, its start, or
/// the n-th booking in the calendar; now and then two filters together.
fn booking(
    rng: &mut StreamRng,
    callers: usize,
    instant: impl Fn(&mut StreamRng) -> Option<String>,
) -> String {
    let mut out = String::new();
    match rng.random_range(0..4) {
        0 if callers > 0 => {
            let _ = writeln!(out, "call = \"call_{}\"", rng.random_range(0..callers));
        }
        1 => {
            let who = if callers > 0 && rng.random_bool(0.7) {
                format!("Anrufer {}", rng.random_range(0..callers))
            } else {
                "Burst".to_owned()
            };
            let _ = writeln!(out, "attendee = \"{who}\"");
        }
        2 => {
            if let Some(start) = instant(rng) {
                let _ = writeln!(out, "start = \"{start}\"");
            }
        }
        _ => {}
    }
    if out.is_empty() || rng.random_bool(0.2) {
        let _ = writeln!(out, "nth = {}", rng.random_range(1..=4));
    }
    out
}
