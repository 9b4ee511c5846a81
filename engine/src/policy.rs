//! Every protection layer of the booking path is a field of one [`Policy`]; named presets
//! reproduce the seed system as it was on 2025-11-21 (`baseline`) and each proposed fix.
//! Scenario files take a preset and override any field.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use simkit::{Distribution, limits};

/// How the booking lock is keyed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LockMode {
    /// No lock.
    Off,
    /// As the seeds key it: `booking_lock:{company}:{service}:{start}`. Overlapping requests
    /// with another start or service do not contend.
    ExactStart,
    /// The fix: one lock per staff member, held over the booked interval.
    StaffInterval,
}

/// How the pre-sync conflict check looks for a clash in the local store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConflictCheck {
    Off,
    /// As the seeds wrote it: same branch, same start time, active status.
    ExactStart,
    /// The fix: any active appointment of the staff member overlapping the interval.
    Overlap,
}

/// How a compound service's staffed segments are booked in Cal.com.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SegmentMode {
    Sequential,
    Parallel,
}

/// Retries of the Cal.com client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RetryPolicy {
    /// Retries after the first attempt on a server error or a broken connection.
    pub max_retries: u32,
    /// Wait before each of those retries.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "simkit::schema::HumanDuration")]
    pub delay: Duration,
    /// Waits before retrying a 409 or 429, one per retry (the seeds: 2 s, 4 s, 8 s). Empty:
    /// 409 and 429 are not retried.
    #[serde(with = "duration_list")]
    #[schemars(with = "Vec<simkit::schema::HumanDuration>")]
    pub conflict_backoff: Vec<Duration>,
    /// Each wait is stretched by a random factor in `[1, 1 + jitter]` (seeded).
    pub jitter: f64,
    /// Whether a timed-out create is retried (it may have happened: duplicates).
    pub retry_timeouts: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 3,
            delay: Duration::from_millis(200),
            conflict_backoff: vec![
                Duration::from_secs(2),
                Duration::from_secs(4),
                Duration::from_secs(8),
            ],
            jitter: 0.0,
            retry_timeouts: true,
        }
    }
}

/// Cal.com client timeouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ClientTimeouts {
    #[serde(with = "humantime_serde")]
    #[schemars(with = "simkit::schema::HumanDuration")]
    pub connect: Duration,
    #[serde(with = "humantime_serde")]
    #[schemars(with = "simkit::schema::HumanDuration")]
    pub total: Duration,
}

impl Default for ClientTimeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(5),
            total: Duration::from_secs(30),
        }
    }
}

/// A `cal-api-version` the engine can send on `/v2/bookings`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum BookingsVersion {
    #[serde(rename = "2024-08-13")]
    V2024_08_13,
    #[serde(rename = "2026-02-25")]
    V2026_02_25,
}

impl BookingsVersion {
    /// The header's value.
    pub fn header(self) -> &'static str {
        match self {
            BookingsVersion::V2024_08_13 => "2024-08-13",
            BookingsVersion::V2026_02_25 => "2026-02-25",
        }
    }
}

/// The engine's own infrastructure: latency (the seeds: Redis 1-5 ms, DB 5-30 ms), so that
/// lock waits and database time show in the histograms, and injected save failures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Infrastructure {
    pub redis: Distribution,
    pub database: Distribution,
    /// Chance that saving an appointment fails after Cal.com booked it (saga territory).
    pub save_failure_probability: f64,
    /// The application's own time per function call (framework, middleware, logging, what
    /// the other layers do not model). Zero by default; the seed system's Laravel spent about
    /// 600 ms (its own table: check 1.1 s against Cal.com's 500 ms), see
    /// `scenarios/calibration.toml`.
    pub request_overhead: Distribution,
}

impl Default for Infrastructure {
    fn default() -> Self {
        let ms = Duration::from_millis;
        Self {
            redis: Distribution::uniform(ms(1), ms(5)),
            database: Distribution::uniform(ms(5), ms(30)),
            save_failure_probability: 0.0,
            request_overhead: Distribution::ZERO,
        }
    }
}

/// The booking path, layer by layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    /// Layer 1: Availability cache keyed by event type + week (+ staff); `None` (`"off"`):
    /// no cache.
    #[serde(with = "off_or_duration")]
    #[schemars(with = "Option<simkit::schema::OffOrDuration>")]
    pub cache_ttl: Option<Duration>,
    /// Layer 2: The booking lock and how long it is held at most and waited for.
    pub lock: LockMode,
    #[serde(with = "humantime_serde")]
    #[schemars(with = "simkit::schema::HumanDuration")]
    pub lock_ttl: Duration,
    #[serde(with = "humantime_serde")]
    #[schemars(with = "simkit::schema::HumanDuration")]
    pub lock_wait: Duration,
    /// Renew held locks every third of `lock_ttl` while the booking still works, so that a
    /// create outlasting the TTL (timeouts, retries, backoff) keeps its stylists locked.
    pub lock_renewal: bool,
    /// Treat the lock as a lease with fencing (see [`crate::lock`]): renewal starts with the
    /// first lock held, pays a Redis round trip like every other Redis call and checks its
    /// answer (a renewal refused marks the locks lost); right before each Cal.com create the
    /// holder checks (and extends) its fencing tokens in one round trip, and a booking whose
    /// locks were lost is refused as such (`lock_lost`) instead of creating unguarded.
    pub lock_fencing: bool,
    /// A lock outlives every create it guards, whatever Redis does (see [`crate::infra`]):
    /// with `lock_fencing`, the fence right before a create leases the locks for the
    /// longest the create can be in flight ([`Policy::create_in_flight_max`]) instead of one
    /// TTL that renewals must keep extending (a Redis down longer than the TTL let them lapse
    /// under a create in flight); and after Redis lost writes (a restart without
    /// persistence, a failover to a replica that missed the last ones) no lock is granted
    /// while a create sent before the loss may still be in flight (Chubby's lock-delay, over
    /// the creates recorded in flight: [`crate::infra::InFlight`]): a holder whose lock was forgotten under a create
    /// already sent cannot be fenced any more. Bookings wait (and may time out,
    /// `lock_timeout`) meanwhile; a crashed engine's locks last that long.
    pub lock_outlives_create: bool,
    /// Layer 3: Fresh slots from Cal.com, bypassing the cache, right before booking.
    pub double_check: bool,
    /// Layer 4: Conflict check against the local store before calling Cal.com.
    pub pre_sync_check: ConflictCheck,
    /// Layer 5: The Cal.com client.
    pub retry: RetryPolicy,
    pub timeouts: ClientTimeouts,
    /// The `cal-api-version` of the bookings requests: `"2024-08-13"` (the seed system's) or
    /// `"2026-02-25"` (what Cal.com's current docs send; no documented difference).
    pub calcom_bookings_version: BookingsVersion,
    /// Layer 6: Post-sync validation of Cal.com's answer: time mismatch, freshness, call id.
    pub post_sync_validation: bool,
    #[serde(with = "humantime_serde")]
    #[schemars(with = "simkit::schema::HumanDuration")]
    pub freshness: Duration,
    /// Post-sync validation also refuses an answer that is not an active booking (Cal.com's
    /// idempotency handing back the caller's own cancelled booking); the seeds checked only
    /// time, freshness and call id.
    pub post_sync_status: bool,
    /// Layer 7: Cancel the Cal.com booking when the local save fails (saga compensation).
    pub saga_compensation: bool,
    /// A post-sync rejection is compensated like any other failure (with
    /// `saga_compensation`): what Cal.com made for this call is cancelled. The seeds did
    /// not, and left the other parts of a compound booking standing.
    pub post_sync_compensation: bool,
    /// A caller's cancel first waits for this call's bookings still at work (their answer
    /// lost, Retell gave up), so it cancels what they made instead of answering from an
    /// older appointment or "nothing found" while they go on to book.
    pub cancel_waits_for_booking: bool,
    /// A compensation Cal.com refused for now (429, 5xx, no answer) is retried by the
    /// background job every 30 s, this many times, instead of being given up (an orphan).
    pub compensation_retries: u32,
    /// Look for a create whose answer was lost in Cal.com (its metadata at that start) and
    /// adopt it before creating again.
    pub reconcile_lost_creates: bool,
    /// A create whose answer was lost is looked at again once twice the client's total
    /// timeout has passed (Cal.com may make it after the engine looked and created again),
    /// and every own booking of it that no appointment holds is cancelled.
    pub settle_late_creates: bool,
    /// After a crash, cancel the Cal.com bookings whose local save never happened and queue
    /// the pending syncs again ([`crate::recovery`]).
    pub recover_on_restart: bool,
    /// Layer 8: Local optimistic reservation made at `check_availability`; `None` (`"off"`):
    /// off.
    #[serde(with = "off_or_duration")]
    #[schemars(with = "Option<simkit::schema::OffOrDuration>")]
    pub local_reservation_ttl: Option<Duration>,
    /// Layer 9: Cal.com reservation (`POST /v2/slots/reservations`) held during the conversation,
    /// in minutes; `None` (`"off"`): off.
    #[serde(with = "off_or_minutes")]
    #[schemars(with = "Option<simkit::schema::OffOrMinutes>")]
    pub calcom_reservation_minutes: Option<u32>,
    /// A caller who moves on (checks or books another slot) lets go of the holds it passed
    /// over, local and in Cal.com, instead of leaving them to lapse while other callers
    /// hear "nicht verfügbar" for a slot nobody wants.
    pub release_passed_over: bool,
    /// A hold's release Cal.com refused for now (429, 5xx, no answer) is tried again with
    /// the repair backoff (30 s, then twice as long, up to 5 min) until it lands or the hold
    /// has lapsed, instead of once (the hold hid the slot for its whole 5 minutes).
    pub release_retries: bool,
    /// With both reservations on, a caller's local hold lapses with its Cal.com hold: it is
    /// held for `calcom_reservation_minutes`, not `local_reservation_ttl` (a local hold that
    /// lapsed first let a later caller take locally a slot the first still held in Cal.com).
    pub holds_lapse_together: bool,
    /// Under Cal.com's rate limit no Cal.com hold is asked for while the key's budget is
    /// nearly spent (the last answer a 429 whose block has not ended, or fewer than a
    /// quarter of the window's requests left): the caller is held locally only, and the
    /// budget left goes to bookings (a hold the booking cannot follow spends two requests,
    /// reserve and release, for nothing).
    pub holds_spare_budget: bool,
    /// Layer 10: Invalidate the availability cache on Cal.com webhooks.
    pub webhook_invalidation: bool,
    /// Layer 11: Compound services: how staffed segments are booked.
    pub segments: SegmentMode,
    /// Layer 12: The async sync job for appointments made by other channels: queue delay,
    /// then up to `sync_attempts` tries `sync_retry_delay` apart.
    pub sync_queue_delay: Distribution,
    pub sync_attempts: u32,
    pub sync_retry_delay: Distribution,
    /// A sync Cal.com refused for now (429, 5xx, no answer, a stylist's lock still taken)
    /// once its attempts are spent is tried again, 30 s later and then twice as long each
    /// time up to 5 min, until it lands or the appointment's start has passed, instead of
    /// being given up (an appointment Cal.com never learns of).
    pub sync_retry_transient: bool,
    /// The salon's channel (`POST /api/appointments`) refuses (409) an appointment whose slot
    /// the local store, Cal.com's fresh listing or Cal.com's bookings of the day (one read,
    /// every event type and host: the listing can lag) already fill, instead of saving it
    /// and leaving its sync to fail (an appointment Cal.com never learns of).
    pub channel_conflict_check: bool,
    /// A sync Cal.com refuses for good (the slot no longer bookable there: staff closed the
    /// hours, blocked the time or booked it in the app while the sync waited in its queue)
    /// cancels the local appointment and says so (a warning for the salon to call the
    /// customer), instead of keeping an appointment Cal.com never learns of (`Failed`).
    pub sync_refusal_cancels: bool,
    /// A booking staff cancelled or moved in the Cal.com app (`BOOKING_CANCELLED`,
    /// `BOOKING_RESCHEDULED`) is followed by its appointment: cancelled with it (a compound
    /// service's other parts cancelled in Cal.com too) or moved to the new booking, instead
    /// of the salon showing an appointment Cal.com no longer holds ([`crate::staff`]).
    pub follow_staff_changes: bool,
    /// With `follow_staff_changes`: every this long, read Cal.com's bookings of the event types future appointments use
    /// and follow the staff changes whose webhook was lost (Cal.com does not resend);
    /// `None` (`"off"`): webhooks only.
    #[serde(with = "off_or_duration")]
    #[schemars(with = "Option<simkit::schema::OffOrDuration>")]
    pub staff_reconcile: Option<Duration>,
    pub infra: Infrastructure,
    /// How far ahead callers may book; later dates are refused like any invalid date.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "simkit::schema::HumanDuration")]
    pub booking_horizon: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Policy::baseline()
    }
}

/// The presets, each with one line for `booking-engine policies`.
pub const PRESETS: &[(&str, &str)] = &[
    (
        "baseline",
        "the seed system on 2025-11-21: 60-s cache, exact-start lock, pre-sync and post-sync checks, retry 3x200 ms and 2/4/8-s backoff on 409/429, sequential segments",
    ),
    (
        "double-check",
        "baseline + fresh Cal.com slots (no cache) right before booking, alternatives when gone",
    ),
    ("ttl-30s", "baseline with a 30-s availability cache"),
    (
        "webhook-invalidation",
        "baseline + Cal.com webhooks invalidate the availability cache",
    ),
    (
        "local-reservation",
        "baseline + a local optimistic reservation held from check to booking",
    ),
    (
        "calcom-reservation",
        "baseline + a Cal.com slot reservation held during the conversation",
    ),
    (
        "parallel-segments",
        "baseline with compound segments booked in parallel",
    ),
    (
        "full",
        "every fix that pays: per-stylist interval locks renewed while booking and fenced before each create, lost creates reconciled, compensations retried until they land, recovery after a crash, overlap conflict check (the salon's channel too), both reservations, webhook invalidation, staff changes in the Cal.com app followed (webhooks, a 2-min reconciliation), parallel segments (no double-check: with a Cal.com hold it only relabels a refusal and costs a Cal.com request)",
    ),
    ("no-lock", "broken on purpose: baseline without the lock"),
    (
        "no-conflict-check",
        "broken on purpose: baseline without the lock and without the pre-sync check",
    ),
];

impl Policy {
    /// The seed system as of 2025-11-21.
    pub fn baseline() -> Self {
        Self {
            cache_ttl: Some(Duration::from_secs(60)),
            lock: LockMode::ExactStart,
            lock_ttl: Duration::from_secs(30),
            lock_wait: Duration::from_secs(10),
            lock_renewal: false,
            lock_fencing: false,
            lock_outlives_create: false,
            double_check: false,
            pre_sync_check: ConflictCheck::ExactStart,
            retry: RetryPolicy::default(),
            timeouts: ClientTimeouts::default(),
            calcom_bookings_version: BookingsVersion::V2024_08_13,
            post_sync_validation: true,
            freshness: Duration::from_secs(30),
            post_sync_status: false,
            saga_compensation: true,
            post_sync_compensation: false,
            cancel_waits_for_booking: false,
            reconcile_lost_creates: false,
            settle_late_creates: false,
            recover_on_restart: false,
            compensation_retries: 0,
            local_reservation_ttl: None,
            calcom_reservation_minutes: None,
            release_passed_over: false,
            release_retries: false,
            holds_lapse_together: false,
            holds_spare_budget: false,
            webhook_invalidation: false,
            segments: SegmentMode::Sequential,
            sync_queue_delay: Distribution::uniform(
                Duration::from_secs(5),
                Duration::from_secs(30),
            ),
            sync_attempts: 3,
            sync_retry_delay: Distribution::uniform(
                Duration::from_secs(1),
                Duration::from_secs(30),
            ),
            sync_retry_transient: false,
            channel_conflict_check: false,
            sync_refusal_cancels: false,
            follow_staff_changes: false,
            staff_reconcile: None,
            infra: Infrastructure::default(),
            booking_horizon: Duration::from_secs(365 * 86_400),
        }
    }

    /// A preset by name (see [`PRESETS`]).
    pub fn preset(name: &str) -> Option<Self> {
        let mut p = Self::baseline();
        match name {
            "baseline" => {}
            "double-check" => p.double_check = true,
            "ttl-30s" => p.cache_ttl = Some(Duration::from_secs(30)),
            "webhook-invalidation" => p.webhook_invalidation = true,
            "local-reservation" => p.local_reservation_ttl = Some(Duration::from_secs(120)),
            "calcom-reservation" => p.calcom_reservation_minutes = Some(5),
            "parallel-segments" => p.segments = SegmentMode::Parallel,
            "full" => {
                p.webhook_invalidation = true;
                p.local_reservation_ttl = Some(Duration::from_secs(120));
                p.calcom_reservation_minutes = Some(5);
                p.release_passed_over = true;
                p.release_retries = true;
                p.holds_lapse_together = true;
                p.holds_spare_budget = true;
                p.segments = SegmentMode::Parallel;
                p.lock = LockMode::StaffInterval;
                p.lock_renewal = true;
                p.lock_fencing = true;
                p.lock_outlives_create = true;
                p.channel_conflict_check = true;
                p.sync_refusal_cancels = true;
                p.reconcile_lost_creates = true;
                p.settle_late_creates = true;
                p.recover_on_restart = true;
                p.compensation_retries = 20;
                p.sync_retry_transient = true;
                // Reconciliation instead of a blind retry, which books twice.
                p.retry.retry_timeouts = false;
                p.pre_sync_check = ConflictCheck::Overlap;
                p.post_sync_status = true;
                p.post_sync_compensation = true;
                p.cancel_waits_for_booking = true;
                p.follow_staff_changes = true;
                p.staff_reconcile = Some(Duration::from_secs(120));
            }
            "no-lock" => p.lock = LockMode::Off,
            "no-conflict-check" => {
                p.lock = LockMode::Off;
                p.pre_sync_check = ConflictCheck::Off;
            }
            _ => return None,
        }
        Some(p)
    }

    /// `preset` with the fields of `overrides` (a TOML table, nested like the struct)
    /// replaced: what a scenario's `[policy]` table does.
    /// The preset this policy is, field for field; `None` when overridden.
    pub fn preset_of(&self) -> Option<&'static str> {
        PRESETS
            .iter()
            .map(|(name, _)| *name)
            .find(|name| Self::preset(name).as_ref() == Some(self))
    }

    pub fn with_overrides(preset: &str, overrides: &toml::Table) -> Result<Self, String> {
        let base = Self::preset(preset).ok_or_else(|| {
            format!(
                "unknown policy `{preset}`; expected one of {}",
                Self::preset_names()
            )
        })?;
        let mut merged = toml::Table::try_from(&base).map_err(|e| e.to_string())?;
        merge(&mut merged, overrides);
        toml::Value::Table(merged)
            .try_into()
            .map_err(|e: toml::de::Error| e.to_string())
    }

    /// Every field within its documented range (README, "The booking path").
    pub fn check_ranges(&self) -> limits::Checked {
        use limits::{DAY, HOUR, MINUTE, SECOND};
        let ms = Duration::from_millis;
        if let Some(ttl) = self.cache_ttl {
            limits::duration("cache_ttl", ttl, Duration::ZERO, DAY)?;
        }
        limits::duration("lock_ttl", self.lock_ttl, SECOND, HOUR)?;
        limits::duration("lock_wait", self.lock_wait, Duration::ZERO, 10 * MINUTE)?;
        self.check_lock_lease()?;
        let r = &self.retry;
        limits::count("retry.max_retries", r.max_retries.into(), 0, 10)?;
        limits::duration("retry.delay", r.delay, Duration::ZERO, MINUTE)?;
        limits::count(
            "retry.conflict_backoff",
            r.conflict_backoff.len() as u64,
            0,
            10,
        )?;
        for d in &r.conflict_backoff {
            limits::duration("retry.conflict_backoff", *d, Duration::ZERO, 10 * MINUTE)?;
        }
        limits::number("retry.jitter", r.jitter, 0.0, 10.0)?;
        limits::duration(
            "timeouts.connect",
            self.timeouts.connect,
            ms(1),
            10 * MINUTE,
        )?;
        limits::duration("timeouts.total", self.timeouts.total, ms(1), HOUR)?;
        limits::duration("freshness", self.freshness, Duration::ZERO, DAY)?;
        if let Some(ttl) = self.local_reservation_ttl {
            limits::duration("local_reservation_ttl", ttl, SECOND, DAY)?;
        }
        if let Some(minutes) = self.calcom_reservation_minutes {
            limits::count("calcom_reservation_minutes", minutes.into(), 1, 1440)?;
        }
        limits::distribution("sync_queue_delay", &self.sync_queue_delay, DAY)?;
        limits::count("sync_attempts", self.sync_attempts.into(), 1, 10)?;
        limits::count(
            "compensation_retries",
            self.compensation_retries.into(),
            0,
            1000,
        )?;
        limits::distribution("sync_retry_delay", &self.sync_retry_delay, HOUR)?;
        if let Some(every) = self.staff_reconcile {
            limits::duration("staff_reconcile", every, 30 * SECOND, DAY)?;
        }
        let i = &self.infra;
        limits::distribution("infra.redis", &i.redis, MINUTE)?;
        limits::distribution("infra.database", &i.database, MINUTE)?;
        limits::distribution("infra.request_overhead", &i.request_overhead, MINUTE)?;
        limits::probability("infra.save_failure_probability", i.save_failure_probability)?;
        limits::duration(
            "booking_horizon",
            self.booking_horizon,
            DAY,
            10 * limits::YEAR,
        )
    }

    /// Lock values that cannot work together, naming both fields. A lock must outlive what
    /// its holder does before it can even use it: the wait for the booking's other locks
    /// (`lock_wait`: a first lock taken, the next ones waited for that long) and the Redis
    /// round trips that take and renew it (`infra.redis`: a renewal sent every third of the
    /// TTL must land before the TTL runs out, so the slowest round trip stays under two
    /// thirds of it). A TTL shorter than either hands the stylist to the next booking while
    /// the holder still works.
    fn check_lock_lease(&self) -> limits::Checked {
        if self.lock == LockMode::Off {
            return Ok(());
        }
        if self.lock_ttl < self.lock_wait {
            return Err(limits::OutOfRange::new(
                "lock_ttl",
                format!("\"{}\"", limits::show(self.lock_ttl)),
                format!(
                    "at least lock_wait (\"{}\"): a first lock must outlive the wait for the others",
                    limits::show(self.lock_wait)
                ),
            ));
        }
        let redis = self.infra.redis.quantile(1.0);
        if redis.saturating_mul(3) >= self.lock_ttl.saturating_mul(2) {
            return Err(limits::OutOfRange::new(
                "lock_ttl",
                format!("\"{}\"", limits::show(self.lock_ttl)),
                format!(
                    "more than 1.5 x the slowest infra.redis round trip (\"{}\"): a renewal sent every third of the TTL must land before it runs out",
                    limits::show(redis)
                ),
            ));
        }
        Ok(())
    }

    /// The longest one Cal.com create can be in flight in the client: every attempt the
    /// retry policy allows, each up to its connect and total timeouts, and the waits between
    /// them (stretched by the jitter at most).
    pub fn create_in_flight_max(&self) -> Duration {
        let r = &self.retry;
        let attempts = 1 + r.max_retries + u32::try_from(r.conflict_backoff.len()).unwrap_or(0);
        let stretch = 1.0 + r.jitter.clamp(0.0, 10.0);
        let waits = (r.delay * r.max_retries + r.conflict_backoff.iter().sum::<Duration>())
            .mul_f64(stretch);
        (self.timeouts.connect + self.timeouts.total).saturating_mul(attempts) + waits
    }

    /// The longest one attempt of a Cal.com create can be in flight: its connect and total
    /// timeouts. A create no process sends any more (its worker crashed, or its answer was
    /// lost) can still land only through its last attempt.
    pub fn create_attempt_max(&self) -> Duration {
        self.timeouts.connect + self.timeouts.total
    }

    /// The names of all presets, for error messages.
    pub fn preset_names() -> String {
        PRESETS
            .iter()
            .map(|(n, _)| *n)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The policy's sub-structs: an override table merges into these field by field. Every
/// other value (distributions included) is replaced whole, so `{ fixed = "1s" }` replaces
/// `{ min = …, max = … }` instead of mixing with it.
const STRUCT_TABLES: [&str; 3] = ["retry", "timeouts", "infra"];

fn merge(base: &mut toml::Table, overrides: &toml::Table) {
    for (key, value) in overrides {
        match (base.get_mut(key), value) {
            (Some(toml::Value::Table(inner)), toml::Value::Table(over))
                if STRUCT_TABLES.contains(&key.as_str()) =>
            {
                for (field, v) in over {
                    inner.insert(field.clone(), v.clone());
                }
            }
            _ => {
                base.insert(key.clone(), value.clone());
            }
        }
    }
}

/// A layer that is off is written `"off"` (TOML has no null), so a scenario or `--set` can
/// switch it off on top of any preset: `cache_ttl = "off"`.
mod off_or_duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(d) => s.serialize_str(&humantime::format_duration(*d).to_string()),
            None => s.serialize_str("off"),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let text = String::deserialize(d)?;
        if text == "off" {
            return Ok(None);
        }
        humantime::parse_duration(&text).map(Some).map_err(|e| {
            serde::de::Error::custom(format!(
                "`{text}`: {e}; expected a duration such as \"30s\" or \"off\""
            ))
        })
    }
}

/// Minutes, or `"off"`.
mod off_or_minutes {
    use serde::{Deserialize, Deserializer, Serializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Written {
        Minutes(u32),
        Text(String),
    }

    pub fn serialize<S: Serializer>(value: &Option<u32>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(m) => s.serialize_u32(*m),
            None => s.serialize_str("off"),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
        match Written::deserialize(d)? {
            Written::Minutes(m) => Ok(Some(m)),
            Written::Text(t) if t == "off" => Ok(None),
            Written::Text(t) => Err(serde::de::Error::custom(format!(
                "`{t}`: expected minutes (a whole number) or \"off\""
            ))),
        }
    }
}

/// A list of durations written as `["2s", "4s", "8s"]`.
mod duration_list {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(list: &[Duration], s: S) -> Result<S::Ok, S::Error> {
        list.iter()
            .map(|d| humantime_serde::Serde::from(*d))
            .collect::<Vec<_>>()
            .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Duration>, D::Error> {
        let list = Vec::<humantime_serde::Serde<Duration>>::deserialize(d)?;
        Ok(list.into_iter().map(|d| d.into_inner()).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_preset_exists_and_differs_from_baseline() {
        for (name, description) in PRESETS {
            let preset =
                Policy::preset(name).unwrap_or_else(|| panic!("{name} is listed but unknown"));
            assert!(!description.is_empty());
            if *name != "baseline" {
                assert_ne!(
                    preset,
                    Policy::baseline(),
                    "{name} is baseline under another name"
                );
            }
        }
        assert!(Policy::preset("fastest").is_none());
    }

    #[test]
    fn every_preset_is_within_range_and_nonsense_is_not() {
        for (name, _) in PRESETS {
            Policy::preset(name).unwrap().check_ranges().unwrap();
        }
        let mut p = Policy::baseline();
        p.lock_ttl = Duration::from_secs(600_000_000 * 365 * 86_400);
        assert_eq!(p.check_ranges().unwrap_err().field, "lock_ttl");
        let mut p = Policy::preset("full").unwrap();
        p.lock_ttl = Duration::from_secs(5);
        let err = p.check_ranges().unwrap_err().to_string();
        assert!(
            err.contains("lock_ttl") && err.contains("lock_wait"),
            "{err}"
        );
        let mut p = Policy::preset("full").unwrap();
        p.infra.redis = Distribution::uniform(Duration::from_secs(10), Duration::from_secs(21));
        let err = p.check_ranges().unwrap_err().to_string();
        assert!(
            err.contains("lock_ttl") && err.contains("infra.redis"),
            "{err}"
        );
        p.infra.redis = Distribution::uniform(Duration::from_secs(10), Duration::from_secs(12));
        p.check_ranges().unwrap();
        p.lock = LockMode::Off;
        p.lock_ttl = Duration::from_secs(5);
        p.check_ranges()
            .expect("no lock, no lease to outlive anything");
        let mut p = Policy::baseline();
        p.infra.save_failure_probability = f64::NAN;
        assert!(
            p.check_ranges()
                .unwrap_err()
                .to_string()
                .contains("probability")
        );
    }

    #[test]
    fn baseline_is_the_seed_system() {
        let p = Policy::baseline();
        assert_eq!(p.cache_ttl, Some(Duration::from_secs(60)));
        assert_eq!(
            (p.lock, p.lock_ttl, p.lock_wait),
            (
                LockMode::ExactStart,
                Duration::from_secs(30),
                Duration::from_secs(10)
            )
        );
        assert!(!p.double_check && !p.webhook_invalidation);
        assert_eq!(p.retry.conflict_backoff.len(), 3);
        assert_eq!(p.segments, SegmentMode::Sequential);
    }

    #[test]
    fn overrides_merge_into_any_preset() {
        let overrides: toml::Table =
            toml::from_str("cache_ttl = \"5s\"\n[retry]\nmax_retries = 1\n").unwrap();
        let p = Policy::with_overrides("full", &overrides).unwrap();
        assert_eq!(
            p.lock,
            LockMode::StaffInterval,
            "the preset's own fields stay"
        );
        assert_eq!(p.cache_ttl, Some(Duration::from_secs(5)));
        assert_eq!(
            (p.retry.max_retries, p.retry.conflict_backoff.len()),
            (1, 3)
        );
        let shape: toml::Table = toml::from_str(
            "sync_queue_delay = { fixed = \"40s\" }\n[infra]\nredis = { fixed = \"0s\" }\n",
        )
        .unwrap();
        let p = Policy::with_overrides("baseline", &shape).unwrap();
        assert_eq!(
            p.sync_queue_delay,
            Distribution::fixed(Duration::from_secs(40))
        );
        assert_eq!(p.infra.redis, Distribution::ZERO);
        assert_eq!(
            p.infra.database,
            Infrastructure::default().database,
            "other infra fields stay"
        );
        let off: toml::Table = toml::from_str(
            "cache_ttl = \"off\"\nlocal_reservation_ttl = \"off\"\ncalcom_reservation_minutes = \"off\"",
        )
        .unwrap();
        let p = Policy::with_overrides("full", &off).unwrap();
        assert_eq!(
            (
                p.cache_ttl,
                p.local_reservation_ttl,
                p.calcom_reservation_minutes
            ),
            (None, None, None),
            "layers switch off on top of a preset"
        );
        let mut no_cache = Policy::baseline();
        no_cache.cache_ttl = None;
        let text = toml::to_string(&no_cache).unwrap();
        assert_eq!(
            toml::from_str::<Policy>(&text).unwrap(),
            no_cache,
            "off round-trips"
        );
        let typo: toml::Table = toml::from_str("lock = \"sometimes\"").unwrap();
        assert!(
            Policy::with_overrides("baseline", &typo)
                .unwrap_err()
                .contains("sometimes")
        );
        assert!(
            Policy::with_overrides("best", &toml::Table::new())
                .unwrap_err()
                .contains("expected one of baseline")
        );
    }

    #[test]
    fn overrides_apply_on_top_of_a_preset_and_typos_are_errors() {
        let p: Policy = toml::from_str(
            "double_check = true\ncache_ttl = \"15s\"\n[retry]\nmax_retries = 0\nconflict_backoff = [\"1s\"]\n",
        )
        .unwrap();
        assert_eq!(p.retry.conflict_backoff, [Duration::from_secs(1)]);
        let text = toml::to_string(&Policy::preset("full").unwrap()).unwrap();
        assert_eq!(
            toml::from_str::<Policy>(&text).unwrap(),
            Policy::preset("full").unwrap()
        );
        assert!(p.double_check);
        assert_eq!(p.cache_ttl, Some(Duration::from_secs(15)));
        assert_eq!(p.retry.max_retries, 0);
        let err = toml::from_str::<Policy>("double_chek = true\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `double_chek`"), "{err}");
    }
}
