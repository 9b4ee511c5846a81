//! The one configuration struct that describes a mock Cal.com: its calendar (hosts, event
//! types, existing bookings) and every way it misbehaves. It is read from TOML on its own
//! (`mock-calcom serve --config FILE`) and embedded as is in scenario files.
//!
//! Every table and field has a default, so an empty file is a valid (empty) world and a
//! scenario only says what differs. Unknown fields are errors that name line and field.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, FixedOffset};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use simkit::limits;

use simkit::Distribution;

mod calendar;
mod endpoints;
mod faults;

pub use calendar::*;
pub use endpoints::*;
pub use faults::*;

/// Everything the mock is and does.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MockConfig {
    /// Keys, rate limit, body limit, id numbering.
    #[serde(default)]
    pub api: ApiConfig,
    /// How long each endpoint takes to answer.
    #[serde(default)]
    pub latency: LatencyConfig,
    /// How stale slot listings are.
    #[serde(default)]
    pub consistency: ConsistencyConfig,
    /// Injected failures by endpoint and time window.
    #[serde(default)]
    pub faults: Vec<FaultRule>,
    /// Webhook delivery behaviour and pre-configured subscribers.
    #[serde(default)]
    pub webhooks: WebhookConfig,
    /// Bookings made behind the application's back by a seeded Poisson process.
    #[serde(default)]
    pub external: ExternalConfig,
    /// Staff members (Cal.com users who host event types).
    #[serde(default)]
    pub hosts: Vec<HostConfig>,
    /// Bookable services.
    #[serde(default)]
    pub event_types: Vec<EventTypeConfig>,
    /// Bookings that exist when the mock starts.
    #[serde(default)]
    pub bookings: Vec<InitialBooking>,
}

/// A configuration that could not be used; `Display` says where and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub origin: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.origin, self.message)
    }
}

impl std::error::Error for ConfigError {}

impl MockConfig {
    /// Parses and checks a TOML document; `origin` (a file name) prefixes every error.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let config: MockConfig = toml::from_str(text).map_err(|e| ConfigError {
            origin: origin.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })?;
        config.validate().map_err(|message| ConfigError {
            origin: match limits::line_of(text, limits::field_of(&message)) {
                Some(line) => format!("{origin}:{line}"),
                None => origin.to_owned(),
            },
            message,
        })?;
        Ok(config)
    }

    /// Checks what TOML parsing cannot: references between tables, unique ids, sane ranges.
    pub fn validate(&self) -> Result<(), String> {
        let mut host_ids = std::collections::BTreeSet::new();
        for (i, host) in self.hosts.iter().enumerate() {
            if !host_ids.insert(host.id) {
                return Err(format!(
                    "hosts[{i}].id: host id {} is defined twice",
                    host.id
                ));
            }
        }
        let mut event_type_ids = std::collections::BTreeSet::new();
        for (i, et) in self.event_types.iter().enumerate() {
            let at = format!("event_types[{i}] (id {})", et.id);
            if !event_type_ids.insert(et.id) {
                return Err(format!("{at}.id: event type id is defined twice"));
            }
            if et.length_minutes == 0 {
                return Err(format!(
                    "{at}.length_minutes: expected a positive number of minutes"
                ));
            }
            if et.slot_interval_minutes == Some(0) {
                return Err(format!(
                    "{at}.slot_interval_minutes: expected a positive number of minutes"
                ));
            }
            if et.hosts.is_empty() {
                return Err(format!("{at}.hosts: expected at least one host id"));
            }
            if let Some(missing) = et.hosts.iter().find(|h| !host_ids.contains(*h)) {
                return Err(format!(
                    "{at}.hosts: host {missing} is not defined in [[hosts]]"
                ));
            }
        }
        for (i, b) in self.bookings.iter().enumerate() {
            let Some(et) = self.event_types.iter().find(|et| et.id == b.event_type) else {
                return Err(format!(
                    "bookings[{i}].event_type: event type {} is not defined",
                    b.event_type
                ));
            };
            if let Some(host) = b.host
                && !et.hosts.contains(&host)
            {
                return Err(format!(
                    "bookings[{i}].host: host {host} does not host event type {}",
                    et.id
                ));
            }
        }
        // Two bookings of one host that overlap before anything runs would be reported as
        // a double booking the system under test never made.
        let mut held: Vec<(u64, DateTime<FixedOffset>, DateTime<FixedOffset>, usize)> = Vec::new();
        for (i, b) in self.bookings.iter().enumerate() {
            let Some(et) = self.event_types.iter().find(|et| et.id == b.event_type) else {
                continue;
            };
            let host = b.host.or_else(|| et.hosts.first().copied()).unwrap_or(0);
            let minutes = b.length_minutes.unwrap_or(et.length_minutes);
            let end = b.start + chrono::TimeDelta::minutes(minutes.into());
            held.push((host, b.start, end, i));
        }
        held.sort_by_key(|(host, start, _, i)| (*host, *start, *i));
        for pair in held.windows(2) {
            let ((host, _, end, i), (next_host, next_start, _, j)) = (pair[0], pair[1]);
            if host == next_host && next_start < end {
                let (first, second) = (i.min(j), i.max(j));
                return Err(format!(
                    "bookings[{second}]: overlaps bookings[{first}] for host {host}: a double \
                     booking before the run starts"
                ));
            }
        }
        for (i, f) in self.faults.iter().enumerate() {
            if !(0.0..=1.0).contains(&f.probability) {
                return Err(format!(
                    "faults[{i}].probability: expected a number from 0 to 1"
                ));
            }
        }
        for (name, p) in [
            ("loss_probability", self.webhooks.loss_probability),
            ("duplicate_probability", self.webhooks.duplicate_probability),
            ("late_probability", self.webhooks.late_probability),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return Err(format!("webhooks.{name}: expected a number from 0 to 1"));
            }
        }
        if let Some(missing) = self
            .external
            .event_types
            .iter()
            .find(|id| !event_type_ids.contains(*id))
        {
            return Err(format!(
                "external.event_types: event type {missing} is not defined"
            ));
        }
        if self.api.rate_limit.limit == 0 {
            return Err("api.rate_limit.limit: expected a positive number of requests".into());
        }
        self.check_ranges().map_err(|e| e.to_string())
    }

    /// Every number within its documented range (README, "Configuration").
    pub fn check_ranges(&self) -> limits::Checked {
        use limits::{DAY, HOUR, MINUTE, SECOND, YEAR};
        let rl = &self.api.rate_limit;
        limits::count("api.rate_limit.limit", rl.limit.into(), 1, 1_000_000)?;
        limits::duration("api.rate_limit.window", rl.window, SECOND, DAY)?;
        limits::duration("api.rate_limit.block", rl.block, Duration::ZERO, DAY)?;
        limits::count(
            "api.max_body_bytes",
            self.api.max_body_bytes as u64,
            1024,
            64 << 20,
        )?;
        for endpoint in Endpoint::ALL {
            let field = format!("latency.{}", endpoint.name());
            limits::distribution(&field, self.latency.of(endpoint), 10 * MINUTE)?;
        }
        limits::distribution("consistency.slots_lag", &self.consistency.slots_lag, HOUR)?;
        limits::distribution(
            "consistency.reservation_window",
            &self.consistency.reservation_window,
            MINUTE,
        )?;
        for (i, f) in self.faults.iter().enumerate() {
            let at = format!("faults[{i}]");
            limits::probability(&format!("{at}.probability"), f.probability)?;
            limits::duration(&format!("{at}.from"), f.from, Duration::ZERO, YEAR)?;
            if let Some(until) = f.until {
                limits::duration(&format!("{at}.until"), until, f.from, YEAR)?;
            }
            if let FaultAction::Hang(d) = f.action {
                limits::duration(&format!("{at}.hang_for"), d, Duration::ZERO, HOUR)?;
            }
        }
        let w = &self.webhooks;
        limits::distribution("webhooks.delay", &w.delay, HOUR)?;
        limits::distribution("webhooks.duplicate_delay", &w.duplicate_delay, HOUR)?;
        limits::distribution("webhooks.late_delay", &w.late_delay, HOUR)?;
        limits::probability("webhooks.loss_probability", w.loss_probability)?;
        limits::probability("webhooks.duplicate_probability", w.duplicate_probability)?;
        limits::probability("webhooks.late_probability", w.late_probability)?;
        limits::duration(
            "webhooks.timeout",
            w.timeout,
            Duration::from_millis(1),
            10 * MINUTE,
        )?;
        limits::count(
            "webhooks.subscriptions",
            w.subscriptions.len() as u64,
            0,
            MAX_SUBSCRIPTIONS as u64,
        )?;
        let e = &self.external;
        limits::number("external.rate_per_hour", e.rate_per_hour, 0.0, 3600.0)?;
        limits::duration("external.lead", e.lead, Duration::ZERO, YEAR)?;
        limits::duration("external.horizon", e.horizon, e.lead, YEAR)?;
        for (i, et) in self.event_types.iter().enumerate() {
            let at = format!("event_types[{i}]");
            limits::count(
                &format!("{at}.length_minutes"),
                et.length_minutes.into(),
                1,
                1440,
            )?;
            for len in &et.length_options {
                limits::count(&format!("{at}.length_options"), (*len).into(), 1, 1440)?;
            }
            if let Some(every) = et.slot_interval_minutes {
                limits::count(
                    &format!("{at}.slot_interval_minutes"),
                    every.into(),
                    1,
                    1440,
                )?;
            }
            limits::duration(
                &format!("{at}.minimum_notice"),
                et.minimum_notice,
                Duration::ZERO,
                YEAR,
            )?;
        }
        for (i, b) in self.bookings.iter().enumerate() {
            let at = format!("bookings[{i}]");
            if let Some(len) = b.length_minutes {
                limits::count(&format!("{at}.length_minutes"), len.into(), 1, 1440)?;
            }
            let year = i64::from(chrono::Datelike::year(&b.start));
            if !(2000..=2100).contains(&year) {
                return Err(limits::OutOfRange::new(
                    format!("{at}.start"),
                    b.start.to_rfc3339(),
                    "an instant in the years 2000 to 2100",
                ));
            }
        }
        Ok(())
    }

    /// The demo world `mock-calcom serve` uses without `--config`: a hair salon in Berlin
    /// with two staff and the seeds' services. See the README for the table.
    pub fn demo() -> Self {
        toml::from_str(DEMO_TOML).expect("the bundled demo configuration parses")
    }
}

/// Webhook subscriptions the mock keeps at most (configured and made with the API): one
/// booking fans out to every subscriber, so an unbounded list is an amplifier.
pub const MAX_SUBSCRIPTIONS: usize = 100;

/// The demo world, as a user would write it.
pub const DEMO_TOML: &str = include_str!("../demo.toml");

/// Authentication, rate limiting and request limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// Accepted API keys. Empty: any key that starts with `cal_` is accepted.
    pub keys: Vec<String>,
    pub rate_limit: RateLimitConfig,
    /// Larger request bodies are refused with 413.
    pub max_body_bytes: usize,
    /// The numeric id of the first booking the mock creates.
    pub first_booking_id: u64,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            keys: Vec::new(),
            rate_limit: RateLimitConfig::default(),
            max_body_bytes: 1024 * 1024,
            first_booking_id: 1,
        }
    }
}

/// Cal.com's throttler: `limit` requests per `window` per key, then the key is blocked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    pub enabled: bool,
    pub limit: u32,
    #[serde(with = "humantime_serde")]
    #[schemars(with = "simkit::schema::HumanDuration")]
    pub window: Duration,
    #[serde(with = "humantime_serde")]
    #[schemars(with = "simkit::schema::HumanDuration")]
    pub block: Duration,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            limit: 120,
            window: Duration::from_secs(60),
            block: Duration::from_secs(60),
        }
    }
}

/// Eventual consistency of slot listings: a listing reflects bookings and reservations as
/// they were `slots_lag` ago, drawn per request. Booking creation always sees the truth.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ConsistencyConfig {
    pub slots_lag: Distribution,
    /// Between a reservation's conflict check and its insert (Cal.com checks and inserts in
    /// one short database transaction, at the end of the request): two reservations of one
    /// slot whose checks fall within this window both succeed. Zero: never.
    pub reservation_window: Distribution,
}

impl Default for ConsistencyConfig {
    /// Cal.com's own 2-s slots cache: a listing is between 0 and 2 s old; a reservation's
    /// check-and-insert takes up to 20 ms.
    fn default() -> Self {
        Self {
            slots_lag: Distribution::uniform(Duration::ZERO, Duration::from_secs(2)),
            reservation_window: Distribution::uniform(Duration::ZERO, Duration::from_millis(20)),
        }
    }
}

/// Webhook delivery: Cal.com's sender does not retry, so a lost webhook stays lost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookConfig {
    /// From the booking change to the POST to each subscriber.
    pub delay: Distribution,
    /// A delivery is never sent.
    pub loss_probability: f64,
    /// A delivery is sent twice; the copy after `duplicate_delay` more.
    pub duplicate_probability: f64,
    pub duplicate_delay: Distribution,
    /// A delivery is held back by `late_delay` more (arrives after later events).
    pub late_probability: f64,
    pub late_delay: Distribution,
    /// How long the sender waits for a subscriber's answer.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "simkit::schema::HumanDuration")]
    pub timeout: Duration,
    /// Value of the `X-Cal-Webhook-Version` header.
    pub version: String,
    /// Subscriptions present from the start (besides those made with `POST /v2/webhooks`).
    pub subscriptions: Vec<SubscriptionConfig>,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        let ms = Duration::from_millis;
        Self {
            delay: Distribution::uniform(ms(100), ms(1000)),
            loss_probability: 0.0,
            duplicate_probability: 0.0,
            duplicate_delay: Distribution::uniform(ms(1000), ms(10_000)),
            late_probability: 0.0,
            late_delay: Distribution::uniform(ms(30_000), ms(300_000)),
            timeout: Duration::from_secs(10),
            version: "2021-10-20".into(),
            subscriptions: Vec::new(),
        }
    }
}

/// A webhook subscription given in the configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionConfig {
    pub subscriber_url: String,
    pub triggers: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    #[serde(default = "yes")]
    pub active: bool,
}

fn yes() -> bool {
    true
}

/// Bookings made by other channels (staff in the Cal.com app, another integration) at
/// random: a Poisson process of `rate_per_hour`, each taking a random free slot of one of
/// `event_types` (all when empty) starting between `lead` and `horizon` from now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ExternalConfig {
    pub rate_per_hour: f64,
    pub event_types: Vec<u64>,
    #[serde(with = "humantime_serde")]
    #[schemars(with = "simkit::schema::HumanDuration")]
    pub lead: Duration,
    #[serde(with = "humantime_serde")]
    #[schemars(with = "simkit::schema::HumanDuration")]
    pub horizon: Duration,
}

impl Default for ExternalConfig {
    fn default() -> Self {
        Self {
            rate_per_hour: 0.0,
            event_types: Vec::new(),
            lead: Duration::from_secs(3600),
            horizon: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_world_is_valid_and_round_trips() {
        let demo = MockConfig::demo();
        demo.validate().unwrap();
        assert_eq!(demo.hosts.len(), 2);
        assert!(
            demo.event_types
                .iter()
                .any(|e| e.slug == "herrenhaarschnitt" && e.length_minutes == 30)
        );
        let text = toml::to_string(&demo).unwrap();
        assert_eq!(MockConfig::from_toml(&text, "round-trip").unwrap(), demo);
    }

    #[test]
    fn empty_file_is_an_empty_world_with_real_defaults() {
        let config = MockConfig::from_toml("", "empty.toml").unwrap();
        assert_eq!(config.api.rate_limit.limit, 120);
        assert_eq!(config.api.rate_limit.block, Duration::from_secs(60));
        assert_eq!(
            config.latency.of(Endpoint::Slots).quantile(0.5),
            Duration::from_millis(500)
        );
        assert_eq!(
            config.latency.of(Endpoint::CreateBooking).quantile(0.9),
            Duration::from_millis(1000)
        );
    }

    #[test]
    fn a_latency_table_replaces_the_measured_defaults() {
        let config =
            MockConfig::from_toml("[latency]\ndefault = { fixed = \"0s\" }\n", "l.toml").unwrap();
        assert_eq!(config.latency.of(Endpoint::Slots), &Distribution::ZERO);
        let config =
            MockConfig::from_toml("[latency]\nslots = { fixed = \"1s\" }\n", "l.toml").unwrap();
        assert_eq!(
            config.latency.of(Endpoint::Slots),
            &Distribution::fixed(Duration::from_secs(1))
        );
        assert_eq!(
            config.latency.of(Endpoint::CreateBooking).quantile(0.5),
            Duration::from_millis(150)
        );
    }

    #[test]
    fn typos_name_file_line_and_field() {
        let text = "[api]\nkeys = []\n\n[api.rate_limit]\nlimt = 5\n";
        let err = MockConfig::from_toml(text, "calcom.toml")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("calcom.toml: "), "{err}");
        assert!(err.contains("line 5"), "{err}");
        assert!(err.contains("unknown field `limt`"), "{err}");
        assert!(err.contains("expected one of"), "{err}");
    }

    /// Bookings present at start that overlap for one host are refused (the checker would
    /// blame the system under test); back to back, or on different hosts, they are fine.
    #[test]
    fn overlapping_bookings_at_start_are_refused() {
        let world = |bookings: &str| {
            format!(
                r#"
            [[hosts]]
            id = 1
            name = "Fabian Spitzer"
            working_hours = {{ weekdays = ["09:00-18:00"] }}

            [[hosts]]
            id = 2
            name = "Lena Hoffmann"
            working_hours = {{ weekdays = ["09:00-18:00"] }}

            [[event_types]]
            id = 10
            slug = "cut"
            title = "Cut"
            length_minutes = 30
            hosts = [1, 2]
            {bookings}"#
            )
        };
        let at = |start: &str, host: u64, minutes: u32| {
            format!(
                "\n[[bookings]]\nevent_type = 10\nstart = \"{start}\"\nhost = {host}\nlength_minutes = {minutes}\n"
            )
        };
        let overlapping = [
            at("2025-11-25T10:00:00+01:00", 1, 30),
            at("2025-11-25T11:00:00+01:00", 1, 30),
            at("2025-11-25T09:00:00+01:00", 2, 30),
            at("2025-11-25T09:45:00+01:00", 1, 30),
        ]
        .concat();
        let err = MockConfig::from_toml(&world(&overlapping), "w.toml")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("bookings[3]: overlaps bookings[0] for host 1"),
            "{err}"
        );
        let fine = [
            at("2025-11-25T10:00:00+01:00", 1, 30),
            at("2025-11-25T10:30:00+01:00", 1, 30),
            at("2025-11-25T10:00:00+01:00", 2, 30),
        ]
        .concat();
        MockConfig::from_toml(&world(&fine), "w.toml").unwrap();
    }

    #[test]
    fn broken_references_are_named() {
        let text = r#"
            [[hosts]]
            id = 1
            name = "Fabian Spitzer"
            working_hours = { weekdays = ["09:00-18:00"] }

            [[event_types]]
            id = 10
            slug = "cut"
            title = "Cut"
            length_minutes = 30
            hosts = [1, 2]
        "#;
        let err = MockConfig::from_toml(text, "w.toml")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "w.toml:7: event_types[0] (id 10).hosts: host 2 is not defined in [[hosts]]"
        );
    }

    #[test]
    fn fault_rules_parse_and_reject_nonsense() {
        let ok = r#"[[faults]]
            endpoint = "create_booking"
            from = "10m"
            until = "12m"
            kind = "status"
            status = 503
        "#;
        let config = MockConfig::from_toml(ok, "f.toml").unwrap();
        assert_eq!(
            config.faults[0].action,
            FaultAction::Status {
                status: 503,
                message: None
            }
        );
        assert_eq!(config.faults[0].probability, 1.0);
        let bad = "[[faults]]\nendpoint = \"any\"\nkind = \"status\"\nstatus = 418\n";
        let err = MockConfig::from_toml(bad, "f.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("expected one of 400, 429, 500"), "{err}");
        let bad = "[[faults]]\nendpoint = \"bookings\"\nkind = \"reset\"\n";
        let err = MockConfig::from_toml(bad, "f.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2") || err.contains("line 1"), "{err}");
    }

    #[test]
    fn time_ranges_must_be_well_formed() {
        assert!(TimeRange::try_from("09:00-18:00".to_string()).is_ok());
        assert!(
            TimeRange::try_from("18:00-09:00".to_string())
                .unwrap_err()
                .contains("after the start")
        );
        assert!(
            TimeRange::try_from("9-5".to_string())
                .unwrap_err()
                .contains("expected a range")
        );
    }
}
