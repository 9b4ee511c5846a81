//! The calendar's state and its rules: what is booked, reserved and subscribed, what is
//! free, and what a new booking or reservation is refused for. Pure: the current time is
//! always passed in, ids are passed in, nothing here sleeps or draws random numbers.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::calendar::{self, Span};
use crate::config::{EventTypeConfig, HostConfig, MockConfig, WeeklyHours};

/// `t + d`, or `None` past chrono's last instant (a duration that big included).
fn after(t: DateTime<Utc>, d: std::time::Duration) -> Option<DateTime<Utc>> {
    TimeDelta::from_std(d)
        .ok()
        .and_then(|d| t.checked_add_signed(d))
}

/// Lifecycle of a booking, as Cal.com's REST API spells it (webhooks use upper case).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BookingStatus {
    Accepted,
    Cancelled,
}

impl BookingStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            BookingStatus::Accepted => "accepted",
            BookingStatus::Cancelled => "cancelled",
        }
    }
}

/// Who made a booking: the API (the application under test), staff or another channel
/// behind its back, or the initial configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BookingSource {
    Api,
    External,
    Initial,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Attendee {
    pub name: String,
    pub email: String,
    pub time_zone: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    pub language: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Booking {
    pub id: u64,
    pub uid: String,
    pub event_type_id: u64,
    pub host_id: u64,
    pub title: String,
    pub description: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub status: BookingStatus,
    pub attendee: Attendee,
    pub guests: Vec<String>,
    pub location: String,
    pub metadata: BTreeMap<String, Value>,
    pub responses: BTreeMap<String, Value>,
    /// When Cal.com checked its host free (see [`Admitted::at`]); `created_at` is the commit.
    pub admitted_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancelled_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancellation_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rescheduled_from_uid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rescheduled_to_uid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rescheduling_reason: Option<String>,
    pub source: BookingSource,
    /// Cancelled (or moved away) by staff in the Cal.com app, not through the API.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub by_staff: bool,
}

impl Booking {
    pub fn span(&self) -> Span {
        Span::new(self.start, self.end)
    }

    /// Whether the booking blocked its time at instant `t` (created by then, not yet cancelled).
    pub fn active_at(&self, t: DateTime<Utc>) -> bool {
        self.created_at <= t && self.cancelled_at.is_none_or(|c| c > t)
    }

    pub fn duration_minutes(&self) -> i64 {
        (self.end - self.start).num_minutes()
    }
}

/// A slot held for a while (Cal.com's "selected slot"). Hides the slot from listings; does
/// not stop `POST /v2/bookings`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reservation {
    pub uid: String,
    pub event_type_id: u64,
    pub host_id: u64,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub reservation_minutes: u32,
    pub created_at: DateTime<Utc>,
    pub until: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub released_at: Option<DateTime<Utc>>,
    /// Made with the legacy `POST /v2/slots/reserve`.
    pub legacy: bool,
}

impl Reservation {
    pub fn span(&self) -> Span {
        Span::new(self.start, self.end)
    }

    pub fn active_at(&self, t: DateTime<Utc>) -> bool {
        self.created_at <= t && t < self.until && self.released_at.is_none_or(|r| r > t)
    }

    /// `held`, `released` (deleted) or `expired`, as of `now`.
    pub fn state(&self, now: DateTime<Utc>) -> &'static str {
        match self.released_at {
            Some(r) if r <= now && r < self.until => "released",
            _ if now >= self.until => "expired",
            _ => "held",
        }
    }
}

/// A webhook subscription.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Subscription {
    pub id: u64,
    pub user_id: u64,
    pub subscriber_url: String,
    pub triggers: Vec<String>,
    pub active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload_template: Option<String>,
}

/// What a slot listing asks for: free slots of an event type starting within `[from, to]`.
#[derive(Debug, Clone, Copy)]
pub struct SlotQuery<'a> {
    pub event_type_id: u64,
    /// A length other than the event type's default (multi-duration event types).
    pub length_minutes: Option<u32>,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// The booking being rescheduled, whose own time counts as free.
    pub rescheduling: Option<&'a str>,
}

impl SlotQuery<'_> {
    pub fn new(event_type_id: u64, from: DateTime<Utc>, to: DateTime<Utc>) -> Self {
        Self {
            event_type_id,
            length_minutes: None,
            from,
            to,
            rescheduling: None,
        }
    }
}

/// What a caller asks to book.
#[derive(Debug, Clone)]
pub struct BookingRequest {
    pub event_type_id: u64,
    pub start: DateTime<Utc>,
    pub length_minutes: Option<u32>,
    /// Book this host (staff booking in the app); otherwise the first free host.
    pub host_id: Option<u64>,
    pub attendee: Attendee,
    pub guests: Vec<String>,
    pub location: Option<String>,
    pub metadata: BTreeMap<String, Value>,
    pub responses: BTreeMap<String, Value>,
    pub source: BookingSource,
    /// Book even if the host is busy or off (staff overbooking by hand).
    pub force: bool,
}

impl BookingRequest {
    /// A booking for `attendee_name` as staff or a script would enter it: a placeholder
    /// email, the salon's zone and language, the event type's length, the first free host,
    /// no guests, metadata or responses.
    pub fn simple(
        event_type_id: u64,
        start: DateTime<Utc>,
        attendee_name: &str,
        source: BookingSource,
    ) -> Self {
        BookingRequest {
            event_type_id,
            start,
            length_minutes: None,
            host_id: None,
            attendee: Attendee {
                name: attendee_name.to_owned(),
                email: placeholder_email(attendee_name),
                time_zone: "Europe/Berlin".into(),
                phone_number: None,
                language: "de".into(),
            },
            guests: Vec::new(),
            location: None,
            metadata: BTreeMap::new(),
            responses: BTreeMap::new(),
            source,
            force: false,
        }
    }
}

/// Why a booking is refused when it arrives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BookingRefusal {
    EventTypeNotFound(u64),
    LengthNotAllowed(u32),
    InPast,
    /// Host busy or off work: Cal.com's 400.
    Unavailable,
    /// Closer than the event type's minimum booking notice: Cal.com's 400 of its own.
    TooSoon,
    BookingNotFound(String),
    AlreadyCancelled(String),
    /// Staff named a host the world does not have.
    HostNotFound(u64),
}

/// A booking that passed the availability check and will be committed when Cal.com answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admitted {
    pub host_id: u64,
    pub span: Span,
    /// When Cal.com checked the host free: a booking committed after this and before the
    /// commit was not seen (the race window).
    pub at: DateTime<Utc>,
}

/// Two identical bookings (same start, end, host) raced past the check: the later commit
/// hits the unique idempotency key. Cal.com's 409 `booking_conflict_error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyConflict;

/// Why a reservation is refused: both are Cal.com's 422.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReservationRefusal {
    EventTypeNotFound(u64),
    AlreadyBooked,
    AlreadyReserved,
    NotFound(String),
}

/// The whole calendar.
#[derive(Debug, Clone)]
pub struct World {
    hosts: BTreeMap<u64, HostConfig>,
    event_types: BTreeMap<u64, EventTypeConfig>,
    bookings: BTreeMap<u64, Booking>,
    by_uid: BTreeMap<String, u64>,
    reservations: BTreeMap<String, Reservation>,
    subscriptions: BTreeMap<u64, Subscription>,
    next_booking_id: u64,
    next_subscription_id: u64,
    /// Time staff blocked in the app (out of office, a busy entry): no booking, no slots.
    blocks: Vec<Block>,
    /// Working hours staff changed in the app, per host: from that instant on, in order.
    hours_changes: BTreeMap<u64, Vec<(DateTime<Utc>, WeeklyHours)>>,
}

/// Time a host is blocked (out of office, a busy calendar entry) from `created_at` on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Block {
    pub host_id: u64,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

impl Block {
    pub fn span(&self) -> Span {
        Span::new(self.start, self.end)
    }
}

/// The id of the account every API key acts as (the salon's owner account).
pub const ACCOUNT_USER_ID: u64 = 1;

impl World {
    /// The world a configuration describes, at time `now`. Initial bookings get uids from
    /// `uid` in order.
    pub fn new(config: &MockConfig, now: DateTime<Utc>, mut uid: impl FnMut() -> String) -> Self {
        let mut world = World {
            hosts: config.hosts.iter().map(|h| (h.id, h.clone())).collect(),
            event_types: config
                .event_types
                .iter()
                .map(|e| (e.id, e.clone()))
                .collect(),
            bookings: BTreeMap::new(),
            by_uid: BTreeMap::new(),
            reservations: BTreeMap::new(),
            subscriptions: BTreeMap::new(),
            next_booking_id: config.api.first_booking_id,
            next_subscription_id: 1,
            blocks: Vec::new(),
            hours_changes: BTreeMap::new(),
        };
        for initial in &config.bookings {
            let request = BookingRequest {
                length_minutes: initial.length_minutes,
                host_id: initial.host,
                metadata: initial
                    .metadata
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                    .collect(),
                force: true,
                ..BookingRequest::simple(
                    initial.event_type,
                    initial.start.to_utc(),
                    &initial.attendee,
                    BookingSource::Initial,
                )
            };
            let created = initial.start.to_utc().min(now);
            if let Ok(admitted) = world.admit_booking(&request, created, None) {
                let _ = world.commit_booking(request, admitted, uid(), created);
            }
        }
        for s in &config.webhooks.subscriptions {
            world.add_subscription(
                s.subscriber_url.clone(),
                s.triggers.clone(),
                s.active,
                s.secret.clone(),
                None,
            );
        }
        world
    }

    pub fn host(&self, id: u64) -> Option<&HostConfig> {
        self.hosts.get(&id)
    }

    pub fn event_type(&self, id: u64) -> Option<&EventTypeConfig> {
        self.event_types.get(&id)
    }

    pub fn event_types(&self) -> impl Iterator<Item = &EventTypeConfig> {
        self.event_types.values()
    }

    pub fn bookings(&self) -> impl Iterator<Item = &Booking> {
        self.bookings.values()
    }

    pub fn booking(&self, uid: &str) -> Option<&Booking> {
        self.by_uid.get(uid).and_then(|id| self.bookings.get(id))
    }

    pub fn reservations(&self) -> impl Iterator<Item = &Reservation> {
        self.reservations.values()
    }

    pub fn reservation(&self, uid: &str) -> Option<&Reservation> {
        self.reservations.get(uid)
    }

    pub fn subscriptions(&self) -> impl Iterator<Item = &Subscription> {
        self.subscriptions.values()
    }

    /// The time blocks staff entered.
    pub fn blocks(&self) -> impl Iterator<Item = &Block> {
        self.blocks.iter()
    }

    /// Staff blocks `[start, end)` of `host_id` from `now` on (no booking, no webhook).
    pub fn block_time(
        &mut self,
        host_id: u64,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), BookingRefusal> {
        if !self.hosts.contains_key(&host_id) {
            return Err(BookingRefusal::HostNotFound(host_id));
        }
        self.blocks.push(Block {
            host_id,
            start,
            end,
            created_at: now,
        });
        Ok(())
    }

    /// Staff change `host_id`'s working hours from `now` on (bookings already made stay).
    pub fn change_hours(
        &mut self,
        host_id: u64,
        hours: WeeklyHours,
        now: DateTime<Utc>,
    ) -> Result<(), BookingRefusal> {
        if !self.hosts.contains_key(&host_id) {
            return Err(BookingRefusal::HostNotFound(host_id));
        }
        self.hours_changes
            .entry(host_id)
            .or_default()
            .push((now, hours));
        Ok(())
    }

    /// The working hours of `host` as they stood at `t`.
    fn hours_at<'a>(&'a self, host: &'a HostConfig, t: DateTime<Utc>) -> &'a WeeklyHours {
        self.hours_changes
            .get(&host.id)
            .and_then(|changes| changes.iter().rev().find(|(from, _)| *from <= t))
            .map_or(&host.working_hours, |(_, hours)| hours)
    }

    /// Whether a block entered by `t` covers part of `span` for `host_id`.
    fn blocked(&self, host_id: u64, span: Span, t: DateTime<Utc>) -> bool {
        self.blocks
            .iter()
            .any(|b| b.host_id == host_id && b.created_at <= t && b.span().overlaps(&span))
    }

    fn length_of(
        et: &EventTypeConfig,
        requested: Option<u32>,
    ) -> Result<TimeDelta, BookingRefusal> {
        match requested {
            None => Ok(TimeDelta::minutes(et.length_minutes.into())),
            Some(len) if len == et.length_minutes || et.length_options.contains(&len) => {
                Ok(TimeDelta::minutes(len.into()))
            }
            Some(len) => Err(BookingRefusal::LengthNotAllowed(len)),
        }
    }

    /// Whether `host` may take `span` as of `t`: working, no active booking overlapping
    /// (ignoring `except`), and, if `reservations` is set, no active reservation overlapping.
    fn host_free(
        &self,
        host: &HostConfig,
        span: Span,
        t: DateTime<Utc>,
        except: Option<&str>,
        reservations: bool,
    ) -> bool {
        let working = calendar::within_working_hours(self.hours_at(host, t), host.time_zone, span)
            && !self.blocked(host.id, span, t);
        working
            && !self.booking_blocks(host.id, span, t, except)
            && !(reservations && self.reservation_blocks(host.id, span, t, None))
    }

    fn booking_blocks(
        &self,
        host_id: u64,
        span: Span,
        t: DateTime<Utc>,
        except: Option<&str>,
    ) -> bool {
        self.bookings.values().any(|b| {
            b.host_id == host_id
                && b.status == BookingStatus::Accepted
                && b.active_at(t)
                && Some(b.uid.as_str()) != except
                && b.span().overlaps(&span)
        })
    }

    fn reservation_blocks(
        &self,
        host_id: u64,
        span: Span,
        t: DateTime<Utc>,
        except: Option<&str>,
    ) -> bool {
        self.reservations.values().any(|r| {
            r.host_id == host_id
                && r.active_at(t)
                && Some(r.uid.as_str()) != except
                && r.span().overlaps(&span)
        })
    }

    /// When each reservation was made that, at `t`, holds a host of the event type who is
    /// otherwise free over the event starting at `start`: why a slot a stylist could take
    /// is hidden from listings (the judge of "nicht verfügbar" asks it).
    pub fn holds_on_free_hosts(
        &self,
        event_type_id: u64,
        start: DateTime<Utc>,
        t: DateTime<Utc>,
    ) -> Vec<DateTime<Utc>> {
        let Some(et) = self.event_types.get(&event_type_id) else {
            return Vec::new();
        };
        let Ok(length) = Self::length_of(et, None) else {
            return Vec::new();
        };
        let span = Span::new(start, start + length);
        let mut made = Vec::new();
        for host in et.hosts.iter().filter_map(|id| self.hosts.get(id)) {
            if !self.host_free(host, span, t, None, false) {
                continue;
            }
            made.extend(
                self.reservations
                    .values()
                    .filter(|r| r.host_id == host.id && r.active_at(t) && r.span().overlaps(&span))
                    .map(|r| r.created_at),
            );
        }
        made.sort_unstable();
        made
    }

    /// The check Cal.com makes when a booking request arrives. Reservations are not
    /// consulted: a held slot can still be booked by another channel. `rescheduling` is the
    /// uid of the booking being moved, whose own time does not count as busy.
    pub fn admit_booking(
        &self,
        req: &BookingRequest,
        now: DateTime<Utc>,
        rescheduling: Option<&str>,
    ) -> Result<Admitted, BookingRefusal> {
        let et = self
            .event_types
            .get(&req.event_type_id)
            .ok_or(BookingRefusal::EventTypeNotFound(req.event_type_id))?;
        let span = Span::new(
            req.start,
            req.start + Self::length_of(et, req.length_minutes)?,
        );
        if req.force {
            let host_id = req.host_id.unwrap_or(et.hosts[0]);
            return Ok(Admitted {
                host_id,
                span,
                at: now,
            });
        }
        if req.start < now {
            return Err(BookingRefusal::InPast);
        }
        if after(now, et.minimum_notice).is_none_or(|earliest| req.start < earliest) {
            return Err(BookingRefusal::TooSoon);
        }
        let candidates: Vec<u64> = match req.host_id {
            Some(h) => vec![h],
            None => et.hosts.clone(),
        };
        candidates
            .into_iter()
            .filter_map(|id| self.hosts.get(&id))
            .find(|host| self.host_free(host, span, now, rescheduling, false))
            .map(|host| Admitted {
                host_id: host.id,
                span,
                at: now,
            })
            .ok_or(BookingRefusal::Unavailable)
    }

    /// Stores an admitted booking when Cal.com answers. Whatever committed in between is
    /// not re-checked (the race window), except the unique key on start, end and host.
    pub fn commit_booking(
        &mut self,
        req: BookingRequest,
        admitted: Admitted,
        uid: String,
        now: DateTime<Utc>,
    ) -> Result<Booking, IdempotencyConflict> {
        let duplicate = self.bookings.values().any(|b| {
            b.status == BookingStatus::Accepted
                && b.host_id == admitted.host_id
                && b.start == admitted.span.start
                && b.end == admitted.span.end
        });
        if duplicate && !req.force {
            return Err(IdempotencyConflict);
        }
        let et = &self.event_types[&req.event_type_id];
        let host_name = self
            .hosts
            .get(&admitted.host_id)
            .map_or("", |h| h.name.as_str());
        let booking = Booking {
            id: self.next_booking_id,
            uid: uid.clone(),
            event_type_id: et.id,
            host_id: admitted.host_id,
            title: format!(
                "{} between {} and {}",
                et.title, host_name, req.attendee.name
            ),
            description: et.description.clone(),
            start: admitted.span.start,
            end: admitted.span.end,
            status: BookingStatus::Accepted,
            attendee: req.attendee,
            guests: req.guests,
            location: req.location.unwrap_or_else(|| et.location.clone()),
            metadata: req.metadata,
            responses: req.responses,
            admitted_at: admitted.at,
            created_at: now,
            updated_at: now,
            cancelled_at: None,
            cancellation_reason: None,
            rescheduled_from_uid: None,
            rescheduled_to_uid: None,
            rescheduling_reason: None,
            source: req.source,
            by_staff: false,
        };
        self.next_booking_id += 1;
        self.by_uid.insert(uid, booking.id);
        self.bookings.insert(booking.id, booking.clone());
        Ok(booking)
    }

    /// Cancels an accepted booking.
    pub fn cancel_booking(
        &mut self,
        uid: &str,
        reason: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<Booking, BookingRefusal> {
        let id = *self
            .by_uid
            .get(uid)
            .ok_or_else(|| BookingRefusal::BookingNotFound(uid.into()))?;
        let booking = self.bookings.get_mut(&id).expect("uid index is consistent");
        if booking.status == BookingStatus::Cancelled {
            return Err(BookingRefusal::AlreadyCancelled(uid.into()));
        }
        booking.status = BookingStatus::Cancelled;
        booking.cancelled_at = Some(now);
        booking.cancellation_reason = reason;
        booking.updated_at = now;
        Ok(booking.clone())
    }

    /// Marks booking `uid` as changed by staff in the app (cancelled or moved there).
    pub fn mark_by_staff(&mut self, uid: &str) -> Option<Booking> {
        let id = self.by_uid.get(uid)?;
        let b = self.bookings.get_mut(id)?;
        b.by_staff = true;
        Some(b.clone())
    }

    /// The request that moves booking `uid` to `start`, checked like a new booking that may
    /// reuse the old booking's time.
    pub fn admit_reschedule(
        &self,
        uid: &str,
        start: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(BookingRequest, Admitted), BookingRefusal> {
        let old = self
            .booking(uid)
            .ok_or_else(|| BookingRefusal::BookingNotFound(uid.into()))?;
        if old.status == BookingStatus::Cancelled {
            return Err(BookingRefusal::AlreadyCancelled(uid.into()));
        }
        let request = BookingRequest {
            event_type_id: old.event_type_id,
            start,
            length_minutes: u32::try_from(old.duration_minutes()).ok(),
            host_id: None,
            attendee: old.attendee.clone(),
            guests: old.guests.clone(),
            location: Some(old.location.clone()),
            metadata: old.metadata.clone(),
            responses: old.responses.clone(),
            source: old.source,
            force: false,
        };
        let admitted = self.admit_booking(&request, now, Some(uid))?;
        Ok((request, admitted))
    }

    /// Commits a reschedule: the new booking refers to the old, which is cancelled.
    pub fn commit_reschedule(
        &mut self,
        old_uid: &str,
        request: BookingRequest,
        admitted: Admitted,
        new_uid: String,
        reason: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<(Booking, Booking), BookingRefusal> {
        let old = self.cancel_booking(old_uid, reason.clone(), now)?;
        let mut new = match self.commit_booking(request, admitted, new_uid, now) {
            Ok(new) => new,
            Err(IdempotencyConflict) => {
                // Undo the cancellation: the move did not happen.
                let b = self.bookings.get_mut(&old.id).expect("just cancelled");
                b.status = BookingStatus::Accepted;
                b.cancelled_at = None;
                b.cancellation_reason = None;
                return Err(BookingRefusal::Unavailable);
            }
        };
        let stored = self.bookings.get_mut(&new.id).expect("just committed");
        stored.rescheduled_from_uid = Some(old.uid.clone());
        stored.rescheduling_reason = reason;
        new = stored.clone();
        let old_stored = self.bookings.get_mut(&old.id).expect("just cancelled");
        old_stored.rescheduled_to_uid = Some(new.uid.clone());
        Ok((old_stored.clone(), new))
    }

    /// Free slots for `q`, as a listing computed at `now` from the state as of `as_of`
    /// (eventual consistency) would show them.
    pub fn available_slots(
        &self,
        q: &SlotQuery<'_>,
        now: DateTime<Utc>,
        as_of: DateTime<Utc>,
    ) -> Result<Vec<Span>, BookingRefusal> {
        let SlotQuery {
            event_type_id,
            length_minutes,
            from,
            to,
            rescheduling,
        } = *q;
        let et = self
            .event_types
            .get(&event_type_id)
            .ok_or(BookingRefusal::EventTypeNotFound(event_type_id))?;
        let length = Self::length_of(et, length_minutes)?;
        let interval =
            TimeDelta::minutes(et.slot_interval_minutes.unwrap_or(et.length_minutes).into());
        let earliest = after(now, et.minimum_notice).unwrap_or(DateTime::<Utc>::MAX_UTC);
        // Where the slots' ends may reach; checked, as everything near chrono's limits.
        let reach = to
            .checked_add_signed(length)
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        let mut free = BTreeSet::new();
        for host in et.hosts.iter().filter_map(|id| self.hosts.get(id)) {
            let windows =
                calendar::working_windows(self.hours_at(host, as_of), host.time_zone, from, reach);
            let horizon = Span::new(from, reach);
            let busy: Vec<Span> = self
                .bookings
                .values()
                .filter(|b| {
                    // As of `as_of`: a booking cancelled since then still shows as busy.
                    b.host_id == host.id
                        && b.active_at(as_of)
                        && Some(b.uid.as_str()) != rescheduling
                        && b.span().overlaps(&horizon)
                })
                .map(Booking::span)
                .chain(
                    self.reservations
                        .values()
                        .filter(|r| {
                            r.host_id == host.id
                                && r.active_at(as_of)
                                && r.span().overlaps(&horizon)
                        })
                        .map(Reservation::span),
                )
                .chain(
                    self.blocks
                        .iter()
                        .filter(|b| b.host_id == host.id && b.created_at <= as_of)
                        .map(Block::span),
                )
                .collect();
            for start in calendar::slot_starts(&windows, length, interval, from.max(earliest), to) {
                let slot = Span::new(start, start + length);
                if !busy.iter().any(|b| b.overlaps(&slot)) {
                    free.insert(slot);
                }
            }
        }
        Ok(free.into_iter().collect())
    }

    /// The check for a reservation of `[start, start + minutes)`: the first host neither
    /// booked nor holding another reservation then.
    pub fn admit_reservation(
        &self,
        event_type_id: u64,
        start: DateTime<Utc>,
        minutes: Option<u32>,
        now: DateTime<Utc>,
        except: Option<&str>,
    ) -> Result<Admitted, ReservationRefusal> {
        let et = self
            .event_types
            .get(&event_type_id)
            .ok_or(ReservationRefusal::EventTypeNotFound(event_type_id))?;
        let span = Span::new(
            start,
            start
                .checked_add_signed(TimeDelta::minutes(
                    minutes.unwrap_or(et.length_minutes).into(),
                ))
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
        );
        let hosts: Vec<&HostConfig> = et
            .hosts
            .iter()
            .filter_map(|id| self.hosts.get(id))
            .collect();
        let unbooked: Vec<&&HostConfig> = hosts
            .iter()
            .filter(|h| !self.booking_blocks(h.id, span, now, None))
            .collect();
        if unbooked.is_empty() {
            return Err(ReservationRefusal::AlreadyBooked);
        }
        unbooked
            .into_iter()
            .find(|h| !self.reservation_blocks(h.id, span, now, except))
            .map(|h| Admitted {
                host_id: h.id,
                span,
                at: now,
            })
            .ok_or(ReservationRefusal::AlreadyReserved)
    }

    pub fn commit_reservation(
        &mut self,
        uid: String,
        event_type_id: u64,
        admitted: Admitted,
        reservation_minutes: u32,
        legacy: bool,
        now: DateTime<Utc>,
    ) -> Reservation {
        let reservation = Reservation {
            uid: uid.clone(),
            event_type_id,
            host_id: admitted.host_id,
            start: admitted.span.start,
            end: admitted.span.end,
            reservation_minutes,
            created_at: now,
            until: now + TimeDelta::minutes(reservation_minutes.into()),
            released_at: None,
            legacy,
        };
        self.reservations.insert(uid, reservation.clone());
        reservation
    }

    /// Moves or extends a held reservation (PATCH).
    pub fn update_reservation(
        &mut self,
        uid: &str,
        event_type_id: u64,
        admitted: Admitted,
        reservation_minutes: u32,
        now: DateTime<Utc>,
    ) -> Result<Reservation, ReservationRefusal> {
        let r = self
            .reservations
            .get_mut(uid)
            .filter(|r| r.active_at(now))
            .ok_or_else(|| ReservationRefusal::NotFound(uid.into()))?;
        r.event_type_id = event_type_id;
        r.host_id = admitted.host_id;
        r.start = admitted.span.start;
        r.end = admitted.span.end;
        r.reservation_minutes = reservation_minutes;
        r.until = now + TimeDelta::minutes(reservation_minutes.into());
        Ok(r.clone())
    }

    /// Releases a held reservation (DELETE).
    pub fn release_reservation(
        &mut self,
        uid: &str,
        now: DateTime<Utc>,
    ) -> Result<Reservation, ReservationRefusal> {
        let r = self
            .reservations
            .get_mut(uid)
            .filter(|r| r.active_at(now))
            .ok_or_else(|| ReservationRefusal::NotFound(uid.into()))?;
        r.released_at = Some(now);
        Ok(r.clone())
    }

    pub fn add_subscription(
        &mut self,
        subscriber_url: String,
        triggers: Vec<String>,
        active: bool,
        secret: Option<String>,
        payload_template: Option<String>,
    ) -> Subscription {
        let subscription = Subscription {
            id: self.next_subscription_id,
            user_id: ACCOUNT_USER_ID,
            subscriber_url,
            triggers,
            active,
            secret,
            payload_template,
        };
        self.next_subscription_id += 1;
        self.subscriptions
            .insert(subscription.id, subscription.clone());
        subscription
    }

    pub fn remove_subscription(&mut self, id: u64) -> Option<Subscription> {
        self.subscriptions.remove(&id)
    }
}

/// Cal.com's placeholder e-mail for an attendee given without one.
pub fn placeholder_email(seed: &str) -> String {
    let local: String = seed
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_lowercase();
    format!(
        "{}@sms.cal.com",
        if local.is_empty() {
            "attendee".into()
        } else {
            local
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    /// Demo world with one host on the haircut, so every booking competes for host 1.
    fn world() -> World {
        let mut config = MockConfig::demo();
        config.event_types[0].hosts = vec![1];
        let mut n = 0;
        World::new(&config, utc("2025-11-24T08:00:00Z"), move || {
            n += 1;
            format!("uid{n}")
        })
    }

    fn request(start: &str, length: Option<u32>) -> BookingRequest {
        BookingRequest {
            length_minutes: length,
            ..BookingRequest::simple(1001, utc(start), "Siegfried Reu", BookingSource::Api)
        }
    }

    const NOW: &str = "2025-11-24T08:00:00Z";

    fn book(w: &mut World, start: &str, uid: &str, now: &str) -> Booking {
        let req = request(start, None);
        let admitted = w.admit_booking(&req, utc(now), None).unwrap();
        w.commit_booking(req, admitted, uid.into(), utc(now))
            .unwrap()
    }

    #[test]
    fn a_booked_slot_is_refused_and_hidden() {
        let mut w = world();
        book(&mut w, "2025-11-25T11:00:00Z", "a", NOW);
        let again = w.admit_booking(&request("2025-11-25T11:00:00Z", None), utc(NOW), None);
        assert_eq!(again, Err(BookingRefusal::Unavailable));
        let overlapping = w.admit_booking(&request("2025-11-25T11:15:00Z", None), utc(NOW), None);
        assert_eq!(overlapping, Err(BookingRefusal::Unavailable));
        let slots = w
            .available_slots(
                &SlotQuery::new(
                    1001,
                    utc("2025-11-25T10:00:00Z"),
                    utc("2025-11-25T12:00:00Z"),
                ),
                utc(NOW),
                utc(NOW),
            )
            .unwrap();
        let starts: Vec<String> = slots
            .iter()
            .map(|s| s.start.format("%H:%M").to_string())
            .collect();
        assert_eq!(starts, ["10:00", "10:30", "11:30", "12:00"]);
    }

    #[test]
    fn off_hours_past_and_unknown_event_types_are_refused() {
        let w = world();
        // 18:00 Berlin is closing time.
        assert_eq!(
            w.admit_booking(&request("2025-11-25T17:00:00Z", None), utc(NOW), None),
            Err(BookingRefusal::Unavailable)
        );
        assert_eq!(
            w.admit_booking(&request("2025-11-23T10:00:00Z", None), utc(NOW), None),
            Err(BookingRefusal::InPast)
        );
        let mut unknown = request("2025-11-25T10:00:00Z", None);
        unknown.event_type_id = 9;
        assert_eq!(
            w.admit_booking(&unknown, utc(NOW), None),
            Err(BookingRefusal::EventTypeNotFound(9))
        );
        assert_eq!(
            w.admit_booking(&request("2025-11-25T10:00:00Z", Some(40)), utc(NOW), None),
            Err(BookingRefusal::LengthNotAllowed(40))
        );
    }

    #[test]
    fn identical_bookings_in_flight_together_collide_on_the_unique_key() {
        let mut w = world();
        let (a, b) = (
            request("2025-11-25T11:00:00Z", None),
            request("2025-11-25T11:00:00Z", None),
        );
        // Both arrive before either commits: both pass the check.
        let admitted_a = w.admit_booking(&a, utc(NOW), None).unwrap();
        let admitted_b = w.admit_booking(&b, utc(NOW), None).unwrap();
        assert!(
            w.commit_booking(a, admitted_a, "a".into(), utc(NOW))
                .is_ok()
        );
        assert_eq!(
            w.commit_booking(b, admitted_b, "b".into(), utc(NOW)),
            Err(IdempotencyConflict)
        );
    }

    #[test]
    fn overlapping_bookings_in_flight_together_both_succeed() {
        // Cal.com issue #13397: the race the engine's lock and conflict check exist for.
        let mut w = world();
        let (a, b) = (
            request("2025-11-25T11:00:00Z", None),
            request("2025-11-25T11:15:00Z", None),
        );
        let admitted_a = w.admit_booking(&a, utc(NOW), None).unwrap();
        let admitted_b = w.admit_booking(&b, utc(NOW), None).unwrap();
        let a = w
            .commit_booking(a, admitted_a, "a".into(), utc(NOW))
            .unwrap();
        let b = w
            .commit_booking(b, admitted_b, "b".into(), utc(NOW))
            .unwrap();
        assert_eq!(a.host_id, b.host_id);
        assert!(a.span().overlaps(&b.span()), "a real double booking");
    }

    #[test]
    fn listings_lag_behind_bookings_and_cancellations() {
        let mut w = world();
        let from = utc("2025-11-25T11:00:00Z");
        let list = |w: &World, as_of: &str| {
            w.available_slots(
                &SlotQuery::new(1001, from, from),
                utc("2025-11-24T09:00:00Z"),
                utc(as_of),
            )
            .unwrap()
            .len()
        };
        book(&mut w, "2025-11-25T11:00:00Z", "a", "2025-11-24T08:30:00Z");
        assert_eq!(
            list(&w, "2025-11-24T08:29:59Z"),
            1,
            "a listing from before the booking still shows it"
        );
        assert_eq!(list(&w, "2025-11-24T08:30:00Z"), 0);
        w.cancel_booking("a", None, utc("2025-11-24T08:45:00Z"))
            .unwrap();
        assert_eq!(
            list(&w, "2025-11-24T08:44:00Z"),
            0,
            "a stale listing still hides a cancelled slot"
        );
        assert_eq!(list(&w, "2025-11-24T08:45:00Z"), 1);
    }

    #[test]
    fn reservations_hide_slots_expire_and_do_not_block_bookings() {
        let mut w = world();
        let start = utc("2025-11-25T11:00:00Z");
        let admitted = w
            .admit_reservation(1001, start, None, utc(NOW), None)
            .unwrap();
        w.commit_reservation("r1".into(), 1001, admitted, 5, false, utc(NOW));
        let listed = |w: &World, now: DateTime<Utc>| {
            w.available_slots(&SlotQuery::new(1001, start, start), now, now)
                .unwrap()
                .len()
        };
        assert_eq!(listed(&w, utc(NOW)), 0, "held slot is hidden");
        assert_eq!(
            w.admit_reservation(1001, start, None, utc(NOW), None),
            Err(ReservationRefusal::AlreadyReserved)
        );
        let later = utc(NOW) + TimeDelta::minutes(5);
        assert_eq!(listed(&w, later), 1, "reservation expired after 5 minutes");
        assert_eq!(w.reservation("r1").unwrap().state(later), "expired");
        // Held or not, a booking goes through.
        assert!(
            w.admit_booking(&request("2025-11-25T11:00:00Z", None), utc(NOW), None)
                .is_ok()
        );
        book(&mut w, "2025-11-25T11:00:00Z", "a", NOW);
        assert_eq!(
            w.admit_reservation(1001, start, None, utc(NOW), None),
            Err(ReservationRefusal::AlreadyBooked)
        );
    }

    #[test]
    fn cancel_and_reschedule_follow_calcom() {
        let mut w = world();
        book(&mut w, "2025-11-25T11:00:00Z", "a", NOW);
        let (req, admitted) = w
            .admit_reschedule("a", utc("2025-11-25T11:15:00Z"), utc(NOW))
            .unwrap();
        let (old, new) = w
            .commit_reschedule(
                "a",
                req,
                admitted,
                "b".into(),
                Some("later".into()),
                utc(NOW),
            )
            .unwrap();
        assert_eq!(old.status, BookingStatus::Cancelled);
        assert_eq!(old.rescheduled_to_uid.as_deref(), Some("b"));
        assert_eq!(new.rescheduled_from_uid.as_deref(), Some("a"));
        assert_eq!(
            w.cancel_booking("a", None, utc(NOW)),
            Err(BookingRefusal::AlreadyCancelled("a".into()))
        );
        assert_eq!(
            w.cancel_booking("zz", None, utc(NOW)),
            Err(BookingRefusal::BookingNotFound("zz".into()))
        );
        assert!(w.cancel_booking("b", None, utc(NOW)).is_ok());
    }

    #[test]
    fn a_free_second_host_takes_the_booking() {
        let mut config = MockConfig::demo();
        config.event_types[0].hosts = vec![1, 2];
        let mut w = World::new(&config, utc(NOW), || "x".into());
        let first = book(&mut w, "2025-11-25T11:00:00Z", "a", NOW);
        let second = book(&mut w, "2025-11-25T11:00:00Z", "b", NOW);
        assert_eq!((first.host_id, second.host_id), (1, 2));
        assert_eq!(
            w.admit_booking(&request("2025-11-25T11:00:00Z", None), utc(NOW), None),
            Err(BookingRefusal::Unavailable)
        );
    }
}
