//! Staff in the Cal.com app (`[[staff]]`): each action at its instant, on the mock's own
//! state (no rate limit, no latency), firing the webhooks the real service fires.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::TimeDelta;
use mock_calcom::MockCalcom;
use mock_calcom::model::{Booking, BookingStatus};

use crate::scenario::{BookingChoice, StaffAction};

/// The reason staff give in the app (a host must give one).
pub const REASON: &str = "Storniert im Cal.com-Kalender";

/// Spawns one task per action, each waiting until `started + at`.
pub fn spawn(
    actions: &[StaffAction],
    mock: &Arc<Mutex<Option<Arc<MockCalcom>>>>,
    started: tokio::time::Instant,
) -> Vec<tokio::task::JoinHandle<()>> {
    actions
        .iter()
        .cloned()
        .map(|action| {
            let mock = mock.clone();
            tokio::spawn(async move {
                simkit::time::sleep_until(started + action.at()).await;
                let mock = mock.lock().expect("slot").clone();
                if let Some(mock) = mock
                    && let Err(why) = act(&mock, &action)
                {
                    tracing::warn!(action = action.name(), %why, "staff action refused");
                }
            })
        })
        .collect()
}

/// The booking `choice` names among those accepted now, in start order (then id).
pub fn choose(mock: &MockCalcom, choice: &BookingChoice) -> Option<Booking> {
    mock.with_world(|w| {
        let mut matching: Vec<&Booking> =
            w.bookings()
                .filter(|b| b.status == BookingStatus::Accepted)
                .filter(|b| {
                    choice.call.as_deref().is_none_or(|c| {
                        b.metadata.get("call_id").and_then(|v| v.as_str()) == Some(c)
                    })
                })
                .filter(|b| {
                    choice
                        .attendee
                        .as_deref()
                        .is_none_or(|a| b.attendee.name == a)
                })
                .filter(|b| choice.start.is_none_or(|s| b.start == s))
                .collect();
        matching.sort_by_key(|b| (b.start, b.id));
        let n = usize::try_from(choice.nth.unwrap_or(1)).unwrap_or(usize::MAX);
        matching.get(n.checked_sub(1)?).map(|b| (*b).clone())
    })
}

/// Does one action now.
pub fn act(mock: &MockCalcom, action: &StaffAction) -> Result<(), String> {
    match action {
        StaffAction::Cancel { .. } | StaffAction::Reschedule { .. } => {
            let choice = action.booking().unwrap_or_default();
            let booking =
                choose(mock, &choice).ok_or_else(|| format!("no booking matches {choice:?}"))?;
            if let StaffAction::Reschedule { to, later, .. } = action {
                let start = match (to, later) {
                    (Some(to), _) => to.to_utc(),
                    (None, Some(later)) => {
                        booking.start + TimeDelta::from_std(*later).unwrap_or_default()
                    }
                    (None, None) => return Err("no new start".into()),
                };
                mock.reschedule_external(&booking.uid, start, Some("Verschoben im Salon".into()))
                    .map(|_| ())
                    .map_err(|r| format!("{r:?}"))
            } else {
                mock.cancel_external(&booking.uid, Some(REASON.into()))
                    .map(|_| ())
                    .map_err(|r| format!("{r:?}"))
            }
        }
        StaffAction::Block {
            host,
            start,
            length,
            ..
        } => {
            let start = start.to_utc();
            let end = start + TimeDelta::from_std(*length).unwrap_or(TimeDelta::zero());
            mock.block_time(*host, start, end)
                .map_err(|r| format!("{r:?}"))
        }
        StaffAction::Hours {
            host,
            working_hours,
            ..
        } => mock
            .change_hours(*host, working_hours.clone())
            .map_err(|r| format!("{r:?}")),
    }
}

/// The last instant a staff action happens.
pub fn last(actions: &[StaffAction]) -> Duration {
    actions
        .iter()
        .map(StaffAction::at)
        .max()
        .unwrap_or_default()
}
