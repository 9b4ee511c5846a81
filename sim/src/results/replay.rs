//! `bookingsim replay`: one call's timeline, line by line, the way the incident analyses
//! wrote theirs, with the Cal.com bookings of the slots it asked for.

use std::fmt::Write as _;

use crate::Scenario;
use crate::world::record::RunRecord;
use crate::world::record::{CallRecord, Completion};

/// The call named `call`: its id, or its number (1 = the first call to start).
pub fn find<'a>(record: &'a RunRecord, call: &str) -> Result<&'a CallRecord, String> {
    match call.parse::<usize>() {
        Ok(n) if n >= 1 => record.calls.get(n - 1),
        _ => record.calls.iter().find(|c| c.id == call),
    }
    .ok_or_else(|| {
        format!(
            "no call `{call}` in this run ({} calls)",
            record.calls.len()
        )
    })
}

/// The timeline of `call` in a run of `scenario` (with `seed` and `policy`).
pub fn timeline(
    scenario: &Scenario,
    record: &RunRecord,
    call: &str,
    seed: u64,
    policy: &str,
) -> Result<String, String> {
    let chosen = find(record, call)?;
    let start = scenario.start_utc();
    let clock = |ms: u64| {
        (start + chrono::TimeDelta::milliseconds(i64::try_from(ms).unwrap_or(i64::MAX)))
            .with_timezone(&scenario.time_zone)
            .format("%H:%M:%S%.3f")
            .to_string()
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} ({:?}), {} seed {seed}, policy {policy}",
        chosen.id, chosen.kind, scenario.name
    );
    let _ = writeln!(out, "{}  call starts", clock(chosen.start_ms));
    for step in &chosen.steps {
        let offset = |ms: u64| (ms as f64 - chosen.start_ms as f64) / 1000.0;
        let _ = writeln!(
            out,
            "{}  (T+{:.3} s) {} {}",
            clock(step.invoked_ms),
            offset(step.invoked_ms),
            step.function,
            step.args.get()
        );
        let verdict = match step.completion {
            Completion::Ok => "ok",
            Completion::Fail => "fail",
            Completion::Info => "no answer",
        };
        let answer = step.answer();
        let said = answer["message"]
            .as_str()
            .or_else(|| answer["error"].as_str())
            .unwrap_or_default();
        let kind = answer["error_type"]
            .as_str()
            .map(|t| format!(" [{t}]"))
            .unwrap_or_default();
        let retries = if step.retries > 0 {
            format!(" after {} Retell retries", step.retries)
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "{}  (T+{:.3} s)   -> {verdict}{kind}{retries}: {said}",
            clock(step.completed_ms),
            offset(step.completed_ms)
        );
    }
    let _ = writeln!(out, "outcome: {}", chosen.outcome().name());
    // The Cal.com side of the slots this call asked for.
    let asked: Vec<String> = chosen
        .steps
        .iter()
        .filter_map(|s| s.args()["datetime"].as_str().map(str::to_owned))
        .collect();
    for b in &record.truth.bookings {
        let local = b
            .start
            .with_timezone(&scenario.time_zone)
            .format("%Y-%m-%dT%H:%M")
            .to_string();
        if asked.contains(&local) {
            let _ = writeln!(
                out,
                "Cal.com: booking {} for {} created {} by {} ({})",
                b.uid,
                local,
                mock_calcom::wire::iso_ms(b.created_at),
                b.source,
                b.status
            );
        }
    }
    Ok(out)
}
