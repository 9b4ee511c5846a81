//! The salon's calendar: hosts and their working hours, event types, bookings at the start.

use chrono::{DateTime, FixedOffset, NaiveTime, Weekday};
use chrono_tz::Tz;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// A staff member: a Cal.com user with weekly working hours in a time zone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HostConfig {
    pub id: u64,
    pub name: String,
    /// Default: `<username>@salon.example`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Default: the lower-cased name with dashes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// IANA time zone of the working hours.
    #[serde(default = "berlin")]
    #[schemars(with = "simkit::schema::TimeZone")]
    pub time_zone: Tz,
    pub working_hours: WeeklyHours,
}

fn berlin() -> Tz {
    chrono_tz::Europe::Berlin
}

impl HostConfig {
    pub fn username(&self) -> String {
        self.username.clone().unwrap_or_else(|| {
            self.name
                .to_lowercase()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join("-")
        })
    }

    pub fn email(&self) -> String {
        self.email
            .clone()
            .unwrap_or_else(|| format!("{}@salon.example", self.username()))
    }
}

/// Working hours per weekday as `"HH:MM-HH:MM"` ranges; `weekdays` applies to Monday to
/// Friday unless a day is given on its own.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct WeeklyHours {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub weekdays: Vec<TimeRange>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mon: Vec<TimeRange>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tue: Vec<TimeRange>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub wed: Vec<TimeRange>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub thu: Vec<TimeRange>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fri: Vec<TimeRange>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sat: Vec<TimeRange>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sun: Vec<TimeRange>,
}

impl WeeklyHours {
    /// The ranges worked on `day`.
    pub fn on(&self, day: Weekday) -> &[TimeRange] {
        let own = match day {
            Weekday::Mon => &self.mon,
            Weekday::Tue => &self.tue,
            Weekday::Wed => &self.wed,
            Weekday::Thu => &self.thu,
            Weekday::Fri => &self.fri,
            Weekday::Sat => &self.sat,
            Weekday::Sun => &self.sun,
        };
        let is_weekday = !matches!(day, Weekday::Sat | Weekday::Sun);
        if own.is_empty() && is_weekday {
            &self.weekdays
        } else {
            own
        }
    }
}

/// A local time range within one day, written `"09:00-18:00"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(try_from = "String", into = "String")]
#[schemars(extend("pattern" = r"^\s*[0-9]{1,2}:[0-9]{2}\s*-\s*[0-9]{1,2}:[0-9]{2}\s*$"))]
pub struct TimeRange {
    pub start: NaiveTime,
    pub end: NaiveTime,
}

impl TryFrom<String> for TimeRange {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let expected = || format!("`{text}`: expected a range like \"09:00-18:00\"");
        let (a, b) = text.split_once('-').ok_or_else(expected)?;
        let parse = |s: &str| NaiveTime::parse_from_str(s.trim(), "%H:%M").map_err(|_| expected());
        let (start, end) = (parse(a)?, parse(b)?);
        if end <= start {
            return Err(format!("`{text}`: the end must be after the start"));
        }
        Ok(TimeRange { start, end })
    }
}

impl From<TimeRange> for String {
    fn from(r: TimeRange) -> String {
        format!("{}-{}", r.start.format("%H:%M"), r.end.format("%H:%M"))
    }
}

/// A bookable service (a Cal.com event type).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EventTypeConfig {
    pub id: u64,
    pub slug: String,
    pub title: String,
    #[serde(default)]
    pub description: String,
    pub length_minutes: u32,
    /// Other lengths an attendee may pick with `lengthInMinutes` (multi-duration event type).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub length_options: Vec<u32>,
    /// Slots start every this many minutes from the start of working hours (default: length).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slot_interval_minutes: Option<u32>,
    /// Slots starting sooner than this from now are not offered and cannot be booked.
    #[serde(default, with = "humantime_serde")]
    #[schemars(with = "simkit::schema::HumanDuration")]
    pub minimum_notice: Duration,
    /// Host ids, in the order a free host is picked (round robin by first free).
    pub hosts: Vec<u64>,
    #[serde(default = "in_person")]
    pub location: String,
}

fn in_person() -> String {
    "Im Salon".into()
}

/// A booking present at start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InitialBooking {
    pub event_type: u64,
    /// Start, with its offset (e.g. `2025-11-25T12:00:00+01:00`).
    pub start: DateTime<FixedOffset>,
    /// Default: the event type's first host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length_minutes: Option<u32>,
    #[serde(default = "walk_in")]
    pub attendee: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
}

fn walk_in() -> String {
    "Bestandskunde".into()
}
