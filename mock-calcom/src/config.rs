//! The one configuration struct that describes a mock Cal.com: its calendar (hosts, event
//! types, existing bookings) and every way it misbehaves. It is read from TOML on its own
//! (`mock-calcom serve --config FILE`) and embedded as is in scenario files.
//!
//! Every table and field has a default, so an empty file is a valid (empty) world and a
//! scenario only says what differs. Unknown fields are errors that name line and field.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use chrono::{DateTime, FixedOffset, NaiveTime, Weekday};
use chrono_tz::Tz;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use simkit::limits;

use simkit::Distribution;

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
pub const DEMO_TOML: &str = include_str!("demo.toml");

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

/// The API operations the mock distinguishes for latency, faults and statistics.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Endpoint {
    /// `GET /v2/slots` and legacy `GET /v2/slots/available`.
    Slots,
    /// `POST /v2/bookings`.
    CreateBooking,
    /// `GET /v2/bookings/{uid}`.
    GetBooking,
    /// `POST /v2/bookings/{uid}/cancel`.
    CancelBooking,
    /// `POST /v2/bookings/{uid}/reschedule`.
    RescheduleBooking,
    /// `POST /v2/slots/reservations` and legacy `POST /v2/slots/reserve`.
    ReserveSlot,
    /// `GET|PATCH|DELETE /v2/slots/reservations/{uid}` and legacy `DELETE /v2/slots/selected-slot`.
    Reservation,
    /// `/v2/webhooks`.
    Webhooks,
    /// `GET /v2/event-types`.
    EventTypes,
}

impl Endpoint {
    pub const ALL: [Endpoint; 9] = [
        Endpoint::Slots,
        Endpoint::CreateBooking,
        Endpoint::GetBooking,
        Endpoint::CancelBooking,
        Endpoint::RescheduleBooking,
        Endpoint::ReserveSlot,
        Endpoint::Reservation,
        Endpoint::Webhooks,
        Endpoint::EventTypes,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Endpoint::Slots => "slots",
            Endpoint::CreateBooking => "create_booking",
            Endpoint::GetBooking => "get_booking",
            Endpoint::CancelBooking => "cancel_booking",
            Endpoint::RescheduleBooking => "reschedule_booking",
            Endpoint::ReserveSlot => "reserve_slot",
            Endpoint::Reservation => "reservation",
            Endpoint::Webhooks => "webhooks",
            Endpoint::EventTypes => "event_types",
        }
    }
}

/// Per-endpoint answer latency. Without a `[latency]` table the seeds' measurements apply
/// (see `Default`); a `[latency]` table replaces them: endpoints it does not name take its
/// `default` (itself p50 150 / p90 300 / p99 600 ms unless given).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LatencyConfig {
    #[serde(default = "small_operation")]
    pub default: Distribution,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slots: Option<Distribution>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_booking: Option<Distribution>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub get_booking: Option<Distribution>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel_booking: Option<Distribution>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reschedule_booking: Option<Distribution>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reserve_slot: Option<Distribution>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reservation: Option<Distribution>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhooks: Option<Distribution>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_types: Option<Distribution>,
}

impl Default for LatencyConfig {
    /// The seeds' measurements of real Cal.com: slots p50 500 / p90 1200 / p99 2000 ms,
    /// create p50 400 / p90 1000 / p99 1500 ms; cancel and reschedule as create; the rest
    /// (small reads and writes) p50 150 / p90 300 / p99 600 ms.
    fn default() -> Self {
        let ms = Duration::from_millis;
        let create = Distribution::percentiles(ms(400), ms(1000), ms(1500));
        Self {
            default: small_operation(),
            slots: Some(Distribution::percentiles(ms(500), ms(1200), ms(2000))),
            create_booking: Some(create.clone()),
            get_booking: None,
            cancel_booking: Some(create.clone()),
            reschedule_booking: Some(create),
            reserve_slot: None,
            reservation: None,
            webhooks: None,
            event_types: None,
        }
    }
}

/// Small reads and writes of Cal.com: p50 150 / p90 300 / p99 600 ms.
fn small_operation() -> Distribution {
    let ms = Duration::from_millis;
    Distribution::percentiles(ms(150), ms(300), ms(600))
}

impl LatencyConfig {
    /// Every endpoint answers at once: for tests of logic rather than timing.
    pub fn instant() -> Self {
        Self {
            default: Distribution::ZERO,
            slots: None,
            create_booking: None,
            get_booking: None,
            cancel_booking: None,
            reschedule_booking: None,
            reserve_slot: None,
            reservation: None,
            webhooks: None,
            event_types: None,
        }
    }

    pub fn of(&self, endpoint: Endpoint) -> &Distribution {
        let specific = match endpoint {
            Endpoint::Slots => &self.slots,
            Endpoint::CreateBooking => &self.create_booking,
            Endpoint::GetBooking => &self.get_booking,
            Endpoint::CancelBooking => &self.cancel_booking,
            Endpoint::RescheduleBooking => &self.reschedule_booking,
            Endpoint::ReserveSlot => &self.reserve_slot,
            Endpoint::Reservation => &self.reservation,
            Endpoint::Webhooks => &self.webhooks,
            Endpoint::EventTypes => &self.event_types,
        };
        specific.as_ref().unwrap_or(&self.default)
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

/// Which requests a fault rule applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EndpointSelector {
    Any,
    #[serde(untagged)]
    One(Endpoint),
}

impl EndpointSelector {
    pub fn matches(self, endpoint: Endpoint) -> bool {
        match self {
            EndpointSelector::Any => true,
            EndpointSelector::One(e) => e == endpoint,
        }
    }
}

/// One injected failure: for requests to `endpoint` arriving between `from` and `until`
/// (offsets from the mock's start), with `probability`, do `kind`.
///
/// ```toml
/// [[faults]]
/// endpoint = "create_booking"   # or "any"
/// from = "10m"
/// until = "12m"
/// probability = 0.5
/// kind = "status"               # "status", "hang", "reset", "replay" or "replay_key"
/// status = 503                  # 400 (with `message`), 429, 500, 502, 503, 504
/// ```
///
/// `replay` (create_booking only) answers 201 with the newest booking of the requested event
/// type instead of creating one: the idempotency collision the seeds feared ("a retry returns
/// an existing booking"), which post-sync validation exists to catch. Real Cal.com answers
/// such a collision with 409 (see the reference); this fault is there to test the guard.
///
/// `replay_key` (create_booking only) answers a create with the newest existing booking of
/// the same event type and start, whatever its status, and creates as usual when there is
/// none: Cal.com's idempotency key (event type, start, end, host) matching a booking it
/// should have nulled on cancel (PR #13865, #21058), so a caller who booked, cancelled and
/// books the same slot again is handed the cancelled booking.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(try_from = "FaultRuleSpec", into = "FaultRuleSpec")]
pub struct FaultRule {
    pub endpoint: EndpointSelector,
    pub from: Duration,
    pub until: Option<Duration>,
    pub probability: f64,
    pub action: FaultAction,
}

/// What a fault does to the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultAction {
    /// Answer with this status (after the endpoint's usual latency): 400 carries `message`
    /// in Cal.com's envelope, 429 the throttler's, 500 Cal.com's internal error, 502-504 the
    /// plain-text page a gateway in front of Cal.com sends.
    Status {
        status: u16,
        message: Option<String>,
    },
    /// Answer nothing for this long (then 504), so the client's timeout fires first.
    Hang(Duration),
    /// Drop the connection without an answer.
    Reset,
    /// Answer a create with an existing booking of the same event type (see [`FaultRule`]).
    Replay,
    /// Answer a create with an existing booking of the same event type and start, cancelled
    /// ones too (see [`FaultRule`]).
    ReplayKey,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct FaultRuleSpec {
    /// The endpoint whose requests fail, or `"any"`.
    endpoint: EndpointSelector,
    /// From this offset from the mock's start (default: its start).
    #[serde(default, with = "humantime_serde")]
    #[schemars(with = "simkit::schema::HumanDuration")]
    from: Duration,
    /// Up to this offset (default: for ever).
    #[serde(
        default,
        with = "humantime_serde::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "Option<simkit::schema::HumanDuration>")]
    until: Option<Duration>,
    /// Chance that a matching request fails (default: 1).
    #[serde(default = "one")]
    probability: f64,
    /// `"status"` (answer `status`), `"hang"` (answer nothing for `hang_for`, then 504),
    /// `"reset"` (drop the connection) or `"replay"` (create_booking only: answer with an
    /// existing booking).
    kind: FaultKind,
    /// With kind = "status": 400 (with `message`), 429, 500, 502, 503 or 504.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status: Option<u16>,
    /// With status 400: the error message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    message: Option<String>,
    /// With kind = "hang": how long (default: 10 min).
    #[serde(
        default,
        with = "humantime_serde::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "Option<simkit::schema::HumanDuration>")]
    hang_for: Option<Duration>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
enum FaultKind {
    Status,
    Hang,
    Reset,
    Replay,
    ReplayKey,
}

fn one() -> f64 {
    1.0
}

/// How long a hang lasts when `hang_for` is not given: longer than any sane client timeout.
pub const DEFAULT_HANG: Duration = Duration::from_secs(600);

impl TryFrom<FaultRuleSpec> for FaultRule {
    type Error = String;

    fn try_from(s: FaultRuleSpec) -> Result<Self, String> {
        if !matches!(s.kind, FaultKind::Status) && (s.status.is_some() || s.message.is_some()) {
            return Err("`status` and `message` are only used with kind = \"status\"".into());
        }
        let action = match s.kind {
            FaultKind::Status => {
                let status = s
                    .status
                    .ok_or("kind = \"status\" needs `status` (e.g. 503)")?;
                if !matches!(status, 400 | 429 | 500 | 502 | 503 | 504) {
                    return Err(format!(
                        "status {status}: expected one of 400, 429, 500, 502, 503, 504"
                    ));
                }
                if s.message.is_some() && status != 400 {
                    return Err("`message` is only used with status 400".into());
                }
                FaultAction::Status {
                    status,
                    message: s.message,
                }
            }
            FaultKind::Hang => FaultAction::Hang(s.hang_for.unwrap_or(DEFAULT_HANG)),
            FaultKind::Reset => FaultAction::Reset,
            FaultKind::Replay | FaultKind::ReplayKey => {
                if s.endpoint != EndpointSelector::One(Endpoint::CreateBooking) {
                    return Err(
                        "kind = \"replay\" and \"replay_key\" are only for endpoint = \"create_booking\""
                            .into(),
                    );
                }
                if matches!(s.kind, FaultKind::Replay) {
                    FaultAction::Replay
                } else {
                    FaultAction::ReplayKey
                }
            }
        };
        if let Some(until) = s.until
            && until < s.from
        {
            return Err("`until` must not be before `from`".into());
        }
        Ok(FaultRule {
            endpoint: s.endpoint,
            from: s.from,
            until: s.until,
            probability: s.probability,
            action,
        })
    }
}

impl From<FaultRule> for FaultRuleSpec {
    fn from(r: FaultRule) -> Self {
        let (kind, status, message, hang_for) = match r.action {
            FaultAction::Status { status, message } => {
                (FaultKind::Status, Some(status), message, None)
            }
            FaultAction::Hang(d) => (FaultKind::Hang, None, None, Some(d)),
            FaultAction::Reset => (FaultKind::Reset, None, None, None),
            FaultAction::Replay => (FaultKind::Replay, None, None, None),
            FaultAction::ReplayKey => (FaultKind::ReplayKey, None, None, None),
        };
        FaultRuleSpec {
            endpoint: r.endpoint,
            from: r.from,
            until: r.until,
            probability: r.probability,
            kind,
            status,
            message,
            hang_for,
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
