//! Working hours in a host's time zone turned into UTC windows and slot start times.

use chrono::{DateTime, Datelike, Days, NaiveDate, NaiveTime, Offset, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;

use crate::config::WeeklyHours;

/// A half-open UTC interval `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Span {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl Span {
    pub fn new(start: DateTime<Utc>, end: DateTime<Utc>) -> Self {
        Self { start, end }
    }

    pub fn overlaps(&self, other: &Span) -> bool {
        self.start < other.end && other.start < self.end
    }

    pub fn contains(&self, other: &Span) -> bool {
        self.start <= other.start && other.end <= self.end
    }
}

/// A local wall-clock time on a date as UTC. Times skipped by a DST change do not exist
/// (None); times repeated by one take their first occurrence.
pub fn local_to_utc(tz: Tz, date: NaiveDate, time: NaiveTime) -> Option<DateTime<Utc>> {
    tz.from_local_datetime(&date.and_time(time))
        .earliest()
        .map(|t| t.with_timezone(&Utc))
}

/// The date `t` falls on in `tz`; its UTC date where that local date is beyond chrono's range.
fn local_date(t: DateTime<Utc>, tz: Tz) -> NaiveDate {
    let offset = tz.offset_from_utc_datetime(&t.naive_utc()).fix();
    t.naive_utc()
        .checked_add_offset(offset)
        .map_or(t.date_naive(), |local| local.date())
}

/// The working windows (in UTC) of a host that intersect `[from, to]`, in time order.
pub fn working_windows(
    hours: &WeeklyHours,
    tz: Tz,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<Span> {
    // Checked: near chrono's first and last dates a local time or the day either side does
    // not exist. Dates within two days of them are left out (no request reaches them: the
    // API takes the years 0001-9999), so that every local time converts without a panic.
    let (earliest, latest) = (
        NaiveDate::MIN
            .checked_add_days(Days::new(2))
            .unwrap_or(NaiveDate::MIN),
        NaiveDate::MAX
            .checked_sub_days(Days::new(2))
            .unwrap_or(NaiveDate::MAX),
    );
    let first = local_date(from, tz).max(earliest);
    let first = first
        .checked_sub_days(Days::new(1))
        .unwrap_or(first)
        .max(earliest);
    let last = local_date(to, tz).min(latest);
    let last = last
        .checked_add_days(Days::new(1))
        .unwrap_or(last)
        .min(latest);
    let mut windows = Vec::new();
    let mut date = first;
    while date <= last {
        for range in hours.on(date.weekday()) {
            if let (Some(start), Some(end)) = (
                local_to_utc(tz, date, range.start),
                local_to_utc(tz, date, range.end),
            ) {
                let window = Span::new(start, end);
                if window.start <= to && window.end >= from {
                    windows.push(window);
                }
            }
        }
        match date.checked_add_days(Days::new(1)) {
            Some(next) => date = next,
            None => break,
        }
    }
    windows
}

/// Slot start times of `length` every `interval` from each window's start, that start
/// within `[from, to]` and end within their window.
pub fn slot_starts(
    windows: &[Span],
    length: TimeDelta,
    interval: TimeDelta,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<DateTime<Utc>> {
    let mut starts = Vec::new();
    for window in windows {
        let mut start = window.start;
        while start
            .checked_add_signed(length)
            .is_some_and(|end| end <= window.end)
        {
            if start >= from && start <= to {
                starts.push(start);
            }
            match start.checked_add_signed(interval) {
                Some(next) if interval > TimeDelta::zero() => start = next,
                _ => break,
            }
        }
    }
    starts
}

/// Whether `span` lies inside one working window of the host.
pub fn within_working_hours(hours: &WeeklyHours, tz: Tz, span: Span) -> bool {
    working_windows(hours, tz, span.start, span.end)
        .iter()
        .any(|w| w.contains(&span))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TimeRange;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    fn weekdays_9_to_18() -> WeeklyHours {
        WeeklyHours {
            weekdays: vec![TimeRange::try_from("09:00-18:00".to_string()).unwrap()],
            ..Default::default()
        }
    }

    #[test]
    fn berlin_hours_become_utc_windows_across_dst() {
        let tz = chrono_tz::Europe::Berlin;
        // Friday 2025-10-24 (CEST, +02:00) and Monday 2025-10-27 (CET, +01:00).
        let windows = working_windows(
            &weekdays_9_to_18(),
            tz,
            utc("2025-10-24T00:00:00Z"),
            utc("2025-10-27T23:00:00Z"),
        );
        assert_eq!(
            windows,
            vec![
                Span::new(utc("2025-10-24T07:00:00Z"), utc("2025-10-24T16:00:00Z")),
                Span::new(utc("2025-10-27T08:00:00Z"), utc("2025-10-27T17:00:00Z")),
            ]
        );
    }

    #[test]
    fn slots_step_by_interval_and_fit_their_window() {
        let window = [Span::new(
            utc("2025-11-25T08:00:00Z"),
            utc("2025-11-25T09:00:00Z"),
        )];
        let starts = slot_starts(
            &window,
            TimeDelta::minutes(45),
            TimeDelta::minutes(15),
            window[0].start,
            window[0].end,
        );
        assert_eq!(
            starts,
            vec![utc("2025-11-25T08:00:00Z"), utc("2025-11-25T08:15:00Z")]
        );
    }

    #[test]
    fn working_hours_contain_only_whole_spans() {
        let tz = chrono_tz::Europe::Berlin;
        let hours = weekdays_9_to_18();
        let inside = Span::new(utc("2025-11-25T16:30:00Z"), utc("2025-11-25T17:00:00Z"));
        let past_closing = Span::new(utc("2025-11-25T16:45:00Z"), utc("2025-11-25T17:15:00Z"));
        let saturday = Span::new(utc("2025-11-29T10:00:00Z"), utc("2025-11-29T10:30:00Z"));
        assert!(within_working_hours(&hours, tz, inside));
        assert!(!within_working_hours(&hours, tz, past_closing));
        assert!(!within_working_hours(&hours, tz, saturday));
    }
}
