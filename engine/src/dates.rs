//! Dates and times as the voice agent passes them: ISO (`2025-11-28`, `2025-11-28T10:00`),
//! German numeric (`28.11.2025`, `28.11.`), and words (`heute`, `morgen`, `übermorgen`, a
//! weekday, `nächster Freitag`), resolved against the engine's clock in the salon's zone.
//! And the German the agent reads back ("Freitag, den 28. November um 10:00 Uhr").

use chrono::{
    DateTime, Datelike, Days, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, TimeZone, Utc,
    Weekday,
};
use chrono_tz::Tz;

const WEEKDAYS: [(&str, Weekday); 7] = [
    ("montag", Weekday::Mon),
    ("dienstag", Weekday::Tue),
    ("mittwoch", Weekday::Wed),
    ("donnerstag", Weekday::Thu),
    ("freitag", Weekday::Fri),
    ("samstag", Weekday::Sat),
    ("sonntag", Weekday::Sun),
];

const MONTHS: [&str; 12] = [
    "Januar",
    "Februar",
    "März",
    "April",
    "Mai",
    "Juni",
    "Juli",
    "August",
    "September",
    "Oktober",
    "November",
    "Dezember",
];

fn weekday_name(day: Weekday) -> &'static str {
    match day {
        Weekday::Mon => "Montag",
        Weekday::Tue => "Dienstag",
        Weekday::Wed => "Mittwoch",
        Weekday::Thu => "Donnerstag",
        Weekday::Fri => "Freitag",
        Weekday::Sat => "Samstag",
        Weekday::Sun => "Sonntag",
    }
}

/// The day `text` names, seen from `today`. A plain weekday is its next occurrence from
/// today on; "nächster/nächsten/kommenden Freitag" is the next one after today.
pub fn resolve_date(text: &str, today: NaiveDate) -> Option<NaiveDate> {
    let t = text.trim().to_lowercase();
    let t = t.trim_start_matches("am ").trim();
    match t {
        "heute" => return Some(today),
        "morgen" => return today.checked_add_days(Days::new(1)),
        "übermorgen" | "uebermorgen" => return today.checked_add_days(Days::new(2)),
        _ => {}
    }
    if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        return Some(d);
    }
    if let Ok(d) = NaiveDate::parse_from_str(t, "%d.%m.%Y") {
        return Some(d);
    }
    if let Some(rest) = t.strip_suffix('.')
        && let Some((d, m)) = rest.split_once('.')
        && let (Ok(d), Ok(m)) = (d.trim().parse::<u32>(), m.trim().parse::<u32>())
    {
        let this_year = NaiveDate::from_ymd_opt(today.year(), m, d)?;
        return if this_year < today {
            NaiveDate::from_ymd_opt(today.year() + 1, m, d)
        } else {
            Some(this_year)
        };
    }
    let (strictly_after, name) = [
        "nächster ",
        "nächsten ",
        "naechster ",
        "naechsten ",
        "kommenden ",
        "kommender ",
    ]
    .iter()
    .find_map(|prefix| t.strip_prefix(prefix).map(|rest| (true, rest.trim())))
    .unwrap_or((false, t));
    let (_, weekday) = WEEKDAYS.iter().find(|(n, _)| *n == name)?;
    let mut day = if strictly_after {
        today.succ_opt()?
    } else {
        today
    };
    while day.weekday() != *weekday {
        day = day.succ_opt()?;
    }
    Some(day)
}

/// A time of day: `10:00`, `10.30`, `10 Uhr`, `10:30 Uhr`, `9`.
pub fn resolve_time(text: &str) -> Option<NaiveTime> {
    let t = text.trim().to_lowercase();
    let t = t.trim_end_matches("uhr").trim().replace('.', ":");
    if let Ok(time) = NaiveTime::parse_from_str(&t, "%H:%M") {
        return Some(time);
    }
    if let Ok(time) = NaiveTime::parse_from_str(&t, "%H:%M:%S") {
        return Some(time);
    }
    t.parse::<u32>()
        .ok()
        .and_then(|h| NaiveTime::from_hms_opt(h, 0, 0))
}

/// A local date and time in `zone` from a `datetime` argument (`2025-11-28T10:00`,
/// `2025-11-28 10:00`, or RFC 3339 with an offset, `2025-11-28T09:00:00Z`, which names an
/// instant and is read in the salon's zone) or from separate date and time arguments.
pub fn resolve_datetime(
    datetime: Option<&str>,
    date: Option<&str>,
    time: Option<&str>,
    today: NaiveDate,
    zone: Tz,
) -> Option<NaiveDateTime> {
    if let Some(dt) = datetime {
        let dt = dt.trim();
        for format in [
            "%Y-%m-%dT%H:%M:%S",
            "%Y-%m-%dT%H:%M",
            "%Y-%m-%d %H:%M:%S",
            "%Y-%m-%d %H:%M",
        ] {
            if let Ok(v) = NaiveDateTime::parse_from_str(dt, format) {
                return Some(v);
            }
        }
        if let Ok(v) = chrono::DateTime::parse_from_rfc3339(dt) {
            return Some(v.with_timezone(&zone).naive_local());
        }
        return None;
    }
    Some(resolve_date(date?, today)?.and_time(resolve_time(time?)?))
}

/// The first instant of local day `day` in `zone` (a midnight a DST change skips: the first
/// local time that exists after it).
pub fn start_of_day(day: NaiveDate, zone: Tz) -> DateTime<Utc> {
    let midnight = day.and_time(NaiveTime::MIN);
    (0..=24)
        .find_map(|h| {
            zone.from_local_datetime(&(midnight + TimeDelta::hours(h)))
                .earliest()
        })
        .map_or_else(|| midnight.and_utc(), |t| t.with_timezone(&Utc))
}

/// The Monday of the local week (Monday to Sunday) holding `day`.
pub fn monday_of(day: NaiveDate) -> NaiveDate {
    day - Days::new(u64::from(day.weekday().num_days_from_monday()))
}

/// The local week holding `day` in `zone` as UTC instants, first and last second: Monday
/// 00:00 up to the second before next Monday 00:00, local time, so a week the clocks go
/// back in (169 hours) or forward in (167) is listed whole, and no more.
pub fn week_bounds(day: NaiveDate, zone: Tz) -> (DateTime<Utc>, DateTime<Utc>) {
    let monday = monday_of(day);
    let next = monday + Days::new(7);
    (
        start_of_day(monday, zone),
        start_of_day(next, zone) - TimeDelta::seconds(1),
    )
}

/// "Freitag, den 28. November um 10:00 Uhr".
pub fn german(dt: NaiveDateTime) -> String {
    format!(
        "{}, den {}. {} um {} Uhr",
        weekday_name(dt.weekday()),
        dt.day(),
        MONTHS[dt.month0() as usize],
        dt.format("%H:%M")
    )
}

/// "2025-11-28 10:00", as the seeds' answers carry `requested_time`.
pub fn compact(dt: NaiveDateTime) -> String {
    dt.format("%Y-%m-%d %H:%M").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn the_incidents_words_resolve_as_the_agent_meant_them() {
        // call_272edd18 on Sunday 2025-11-23: "nächster Freitag" was 2025-11-28.
        let sunday = d("2025-11-23");
        assert_eq!(
            resolve_date("nächster Freitag", sunday),
            Some(d("2025-11-28"))
        );
        assert_eq!(resolve_date("Freitag", sunday), Some(d("2025-11-28")));
        assert_eq!(resolve_date("am Dienstag", sunday), Some(d("2025-11-25")));
        assert_eq!(resolve_date("heute", sunday), Some(sunday));
        assert_eq!(resolve_date("morgen", sunday), Some(d("2025-11-24")));
        assert_eq!(resolve_date("Übermorgen", sunday), Some(d("2025-11-25")));
        assert_eq!(resolve_date("2025-11-28", sunday), Some(d("2025-11-28")));
        assert_eq!(resolve_date("28.11.2025", sunday), Some(d("2025-11-28")));
        assert_eq!(resolve_date("28.11.", sunday), Some(d("2025-11-28")));
        assert_eq!(
            resolve_date("3.1.", sunday),
            Some(d("2026-01-03")),
            "a past day this year is next year"
        );
        assert_eq!(resolve_date("irgendwann", sunday), None);
    }

    #[test]
    fn a_plain_weekday_can_be_today_but_the_next_one_is_not() {
        let friday = d("2025-11-28");
        assert_eq!(resolve_date("Freitag", friday), Some(friday));
        assert_eq!(
            resolve_date("nächsten Freitag", friday),
            Some(d("2025-12-05"))
        );
    }

    #[test]
    fn times_and_datetimes() {
        let t = |h, m| NaiveTime::from_hms_opt(h, m, 0).unwrap();
        assert_eq!(resolve_time("10:00"), Some(t(10, 0)));
        assert_eq!(resolve_time("10 Uhr"), Some(t(10, 0)));
        assert_eq!(resolve_time("10.30 Uhr"), Some(t(10, 30)));
        assert_eq!(resolve_time("25:00"), None);
        let sunday = d("2025-11-23");
        let ten = d("2025-11-28").and_time(t(10, 0));
        let berlin = chrono_tz::Europe::Berlin;
        assert_eq!(
            resolve_datetime(Some("2025-11-28T10:00"), None, None, sunday, berlin),
            Some(ten)
        );
        assert_eq!(
            resolve_datetime(
                None,
                Some("nächster Freitag"),
                Some("10:00"),
                sunday,
                berlin
            ),
            Some(ten)
        );
        assert_eq!(
            resolve_datetime(None, Some("Freitag"), None, sunday, berlin),
            None
        );
        assert_eq!(german(ten), "Freitag, den 28. November um 10:00 Uhr");
        assert_eq!(compact(ten), "2025-11-28 10:00");
    }

    #[test]
    fn an_offset_names_an_instant_read_in_the_salons_zone() {
        let berlin = chrono_tz::Europe::Berlin;
        let today = d("2025-11-23");
        let at = |h, m| d("2025-11-28").and_time(NaiveTime::from_hms_opt(h, m, 0).unwrap());
        let read = |text: &str| resolve_datetime(Some(text), None, None, today, berlin);
        // Winter: Berlin is UTC+1.
        assert_eq!(read("2025-11-28T11:00:00Z"), Some(at(12, 0)));
        assert_eq!(read("2025-11-28T11:00:00+01:00"), Some(at(11, 0)));
        assert_eq!(read("2025-11-28T11:00:00.000+02:00"), Some(at(10, 0)));
        assert_eq!(read("2025-11-28T11:00:00-05:00"), Some(at(17, 0)));
        // Summer: UTC+2.
        assert_eq!(
            resolve_datetime(Some("2026-07-03T08:30:00Z"), None, None, today, berlin),
            Some(d("2026-07-03").and_time(NaiveTime::from_hms_opt(10, 30, 0).unwrap()))
        );
        // Without an offset it is local time already.
        assert_eq!(read("2025-11-28T11:00:00"), Some(at(11, 0)));
        // Any offset, any minute: the instant is the same as the local time it is read as.
        for minutes in (-12 * 60..=14 * 60).step_by(15) {
            let offset = chrono::FixedOffset::east_opt(minutes * 60).unwrap();
            let instant = berlin
                .from_local_datetime(&at(9, 45))
                .single()
                .unwrap()
                .with_timezone(&offset);
            assert_eq!(read(&instant.to_rfc3339()), Some(at(9, 45)), "{instant}");
        }
    }

    #[test]
    fn a_week_listing_covers_the_whole_local_week_across_clock_changes() {
        let berlin = chrono_tz::Europe::Berlin;
        let local = |t: DateTime<Utc>| t.with_timezone(&berlin).naive_local();
        // 2025-10-26: the clocks go back (169 h); 2026-03-29: forward (167 h); and a plain
        // week; every day of each.
        for monday in ["2025-10-20", "2026-03-23", "2025-11-24"] {
            for offset in 0..7 {
                let day = d(monday) + Days::new(offset);
                let (start, end) = week_bounds(day, berlin);
                assert_eq!(local(start), d(monday).and_time(NaiveTime::MIN));
                let last = d(monday) + Days::new(6);
                assert_eq!(
                    local(end),
                    last.and_time(NaiveTime::from_hms_opt(23, 59, 59).unwrap()),
                    "week of {day}"
                );
            }
        }
        let (start, end) = week_bounds(d("2025-10-22"), berlin);
        assert_eq!((end - start).num_hours(), 168, "169 hours less a second");
        let (start, end) = week_bounds(d("2026-03-25"), berlin);
        assert_eq!((end - start).num_hours(), 166, "167 hours less a second");
        // Sunday 23:15 in the week the clocks go back is inside its week.
        let late = berlin
            .from_local_datetime(
                &d("2025-10-26").and_time(NaiveTime::from_hms_opt(23, 15, 0).unwrap()),
            )
            .single()
            .unwrap()
            .with_timezone(&Utc);
        let (start, end) = week_bounds(d("2025-10-26"), berlin);
        assert!(start <= late && late <= end);
        // A zone whose midnight a clock change skips (Santiago, 2025-09-07 00:00 → 01:00).
        let santiago = chrono_tz::America::Santiago;
        let first = start_of_day(d("2025-09-07"), santiago);
        assert_eq!(
            first.with_timezone(&santiago).naive_local(),
            d("2025-09-07").and_time(NaiveTime::from_hms_opt(1, 0, 0).unwrap())
        );
    }
}
