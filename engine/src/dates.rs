//! Dates and times as the voice agent passes them: ISO (`2025-11-28`, `2025-11-28T10:00`),
//! German numeric (`28.11.2025`, `28.11.`), and words (`heute`, `morgen`, `übermorgen`, a
//! weekday, `nächster Freitag`), resolved against the engine's clock in the salon's zone.
//! And the German the agent reads back ("Freitag, den 28. November um 10:00 Uhr").

use chrono::{Datelike, Days, NaiveDate, NaiveDateTime, NaiveTime, Weekday};

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

/// A local date and time from a `datetime` argument (`2025-11-28T10:00`, `2025-11-28 10:00`)
/// or from separate date and time arguments.
pub fn resolve_datetime(
    datetime: Option<&str>,
    date: Option<&str>,
    time: Option<&str>,
    today: NaiveDate,
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
            return Some(v.naive_local());
        }
        return None;
    }
    Some(resolve_date(date?, today)?.and_time(resolve_time(time?)?))
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
        assert_eq!(
            resolve_datetime(Some("2025-11-28T10:00"), None, None, sunday),
            Some(ten)
        );
        assert_eq!(
            resolve_datetime(None, Some("nächster Freitag"), Some("10:00"), sunday),
            Some(ten)
        );
        assert_eq!(resolve_datetime(None, Some("Freitag"), None, sunday), None);
        assert_eq!(german(ten), "Freitag, den 28. November um 10:00 Uhr");
        assert_eq!(compact(ten), "2025-11-28 10:00");
    }
}
