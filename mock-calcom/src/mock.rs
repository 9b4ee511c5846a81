//! [`MockCalcom`]: one mock Cal.com, its state, its clock and random streams, and the
//! operations both its HTTP API and the simulation harness use.

use crate::truth::{BookingRecord, ReservationRecord};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, TimeDelta, Utc};
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use simkit::seed::StreamRng;
use simkit::transport::{Listener, Network};
use simkit::{SeedStreams, SharedClock, SimClock, ids};
use tokio::sync::mpsc;

use crate::config::{Endpoint, FaultAction, MockConfig};
use crate::model::{Booking, BookingRefusal, BookingRequest, BookingSource, World};
use crate::rate_limit::{RateDecision, RateLimiter, ThrottleBlock};
use crate::webhooks::{self, Delivery, DeliveryCopy, DeliveryRecord};
use crate::{external, wire};

/// Random streams of the mock, one per concern, so that e.g. turning on faults does not
/// change the latencies drawn.
struct Streams {
    latency: StreamRng,
    lag: StreamRng,
    faults: StreamRng,
    ids: StreamRng,
    webhooks: StreamRng,
}

impl Streams {
    fn new(seed: SeedStreams) -> Self {
        Self {
            latency: seed.stream("calcom.latency"),
            lag: seed.stream("calcom.lag"),
            faults: seed.stream("calcom.faults"),
            ids: seed.stream("calcom.ids"),
            webhooks: seed.stream("calcom.webhooks"),
        }
    }
}

/// Requests answered, by endpoint and status.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestStats {
    /// endpoint name → status → count.
    pub by_endpoint: BTreeMap<String, BTreeMap<u16, u64>>,
}

/// A booking made behind the application's back (staff in the Cal.com app).
#[derive(Debug, Clone)]
pub struct ExternalBooking {
    pub event_type_id: u64,
    pub start: DateTime<Utc>,
    pub length_minutes: Option<u32>,
    pub host_id: Option<u64>,
    pub attendee_name: String,
    pub metadata: BTreeMap<String, Value>,
    /// Book even if the host is busy or off.
    pub force: bool,
}

/// Everything the mock knows, as `GET /_mock/state` returns it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct GroundTruth {
    pub now: String,
    pub bookings: Vec<BookingRecord>,
    pub reservations: Vec<ReservationRecord>,
    pub subscriptions: Vec<Value>,
    pub webhook_deliveries: Vec<DeliveryRecord>,
    pub requests: RequestStats,
    /// Creates admitted while an overlapping create for the same host was in flight.
    pub race_windows: u64,
    /// The throttler's blocks (429 for every request of a key until `until`).
    #[serde(default)]
    pub throttle_blocks: Vec<ThrottleBlock>,
}

pub struct MockCalcom {
    clock: SharedClock,
    network: Network,
    /// The world's configuration and when it was loaded: replaced whole by [`MockCalcom::load`].
    loaded: Mutex<Loaded>,
    /// Bumped by every [`MockCalcom::load`]: background work of an older world stops.
    generation: tokio::sync::watch::Sender<u64>,
    world: Mutex<World>,
    limiter: Mutex<RateLimiter>,
    streams: Mutex<Streams>,
    stats: Mutex<RequestStats>,
    deliveries: Mutex<Vec<DeliveryRecord>>,
    outbox: mpsc::UnboundedSender<Delivery>,
    outbox_rx: Mutex<Option<mpsc::UnboundedReceiver<Delivery>>>,
    /// Creates admitted and not yet committed, and how often one was admitted while another
    /// for the same host and an overlapping time was in flight (the race window).
    in_flight: Mutex<InFlight>,
    /// The token `/_mock/…` requires (`Authorization: Bearer …`); unset, they are open (the
    /// simulation, a server on loopback, or one started with `--insecure`).
    admin_token: std::sync::OnceLock<simkit::access::Secret>,
}

#[derive(Debug, Default)]
struct InFlight {
    next: u64,
    creates: Vec<(u64, u64, crate::calendar::Span)>,
    races: u64,
}

/// A create between Cal.com's check and its commit; ends the window when dropped.
pub struct InFlightCreate<'a> {
    mock: &'a MockCalcom,
    id: u64,
}

impl Drop for InFlightCreate<'_> {
    fn drop(&mut self) {
        lock(&self.mock.in_flight)
            .creates
            .retain(|c| c.0 != self.id);
    }
}

/// What [`MockCalcom::load`] replaces: fault windows count from `started_at`.
struct Loaded {
    config: Arc<MockConfig>,
    seed: SeedStreams,
    started_at: DateTime<Utc>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl MockCalcom {
    /// A mock whose time is `clock`, whose randomness comes from `seed`, and whose webhooks
    /// go out over `network`. Start [`MockCalcom::run_background`] for webhooks and the
    /// external-booking injector to run.
    pub fn new(
        config: MockConfig,
        clock: SharedClock,
        seed: SeedStreams,
        network: Network,
    ) -> Arc<Self> {
        let started_at = clock.now();
        let mut streams = Streams::new(seed);
        let world = World::new(&config, started_at, || ids::short_uid(&mut streams.ids));
        let (outbox, outbox_rx) = mpsc::unbounded_channel();
        Arc::new(Self {
            limiter: Mutex::new(RateLimiter::new(config.api.rate_limit.clone())),
            loaded: Mutex::new(Loaded {
                config: Arc::new(config),
                seed,
                started_at,
            }),
            generation: tokio::sync::watch::Sender::new(0),
            clock,
            network,
            world: Mutex::new(world),
            streams: Mutex::new(streams),
            stats: Mutex::default(),
            deliveries: Mutex::default(),
            outbox,
            outbox_rx: Mutex::new(Some(outbox_rx)),
            in_flight: Mutex::default(),
            admin_token: std::sync::OnceLock::new(),
        })
    }

    /// From now on `/_mock/…` answers 401 to a request without `Authorization: Bearer
    /// <token>`. Set once, at start-up; a second token is ignored.
    pub fn require_admin_token(&self, token: simkit::access::Secret) {
        let _ = self.admin_token.set(token);
    }

    /// The admin token `/_mock/…` requires, if any.
    pub fn admin_token(&self) -> Option<&simkit::access::Secret> {
        self.admin_token.get()
    }

    /// The configuration of the world now loaded.
    pub fn config(&self) -> Arc<MockConfig> {
        lock(&self.loaded).config.clone()
    }

    /// Which world is loaded: 0 at start, one more after each [`MockCalcom::load`].
    pub fn generation(&self) -> u64 {
        *self.generation.borrow()
    }

    /// Waits until another world is loaded.
    pub fn generations(&self) -> tokio::sync::watch::Receiver<u64> {
        self.generation.subscribe()
    }

    pub fn network(&self) -> Network {
        self.network
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub fn seed(&self) -> SeedStreams {
        lock(&self.loaded).seed
    }

    /// Read or change the calendar under its lock (never held across an await).
    pub fn with_world<R>(&self, f: impl FnOnce(&mut World) -> R) -> R {
        f(&mut lock(&self.world))
    }

    /// Runs what the mock does on its own: the webhook sender and the Poisson injector.
    /// Call once, inside the runtime (simulated host) the mock serves from.
    pub async fn run_background(self: Arc<Self>) {
        let queue = lock(&self.outbox_rx)
            .take()
            .expect("run_background is called once");
        tokio::join!(
            webhooks::run_sender(self.clone(), queue),
            external::run_injector(self.clone())
        );
    }

    /// Serves the API on `listener` until `shutdown`, with the background tasks running.
    pub async fn serve(
        self: Arc<Self>,
        listener: Listener,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        let background = tokio::spawn(self.clone().run_background());
        simkit::transport::serve(
            listener,
            crate::api::router(self),
            shutdown,
            Duration::from_secs(5),
            // Stands in for Cal.com, a service far larger than one engine.
            simkit::transport::ConnectionLimit::Unlimited,
        )
        .await;
        background.abort();
    }

    /// Runs a mock as a turmoil host: simulated clock (from the simulation's epoch) and
    /// network, listening on `port`, until the simulation ends.
    pub async fn run_simulated(
        config: MockConfig,
        seed: SeedStreams,
        port: u16,
    ) -> std::io::Result<()> {
        let mock = MockCalcom::new(config, Arc::new(SimClock::new()), seed, Network::Simulated);
        let listener = Listener::bind(
            Network::Simulated,
            (std::net::Ipv4Addr::UNSPECIFIED, port).into(),
        )
        .await?;
        mock.serve(listener, std::future::pending()).await;
        Ok(())
    }

    // ----- what the API layer draws on -----

    pub fn next_request_id(&self) -> String {
        ids::uuid_v4(&mut lock(&self.streams).ids).to_string()
    }

    pub fn next_uid(&self) -> String {
        ids::short_uid(&mut lock(&self.streams).ids)
    }

    pub fn next_uuid(&self) -> String {
        ids::uuid_v4(&mut lock(&self.streams).ids).to_string()
    }

    /// Runs the rest of a write to completion even if the client goes away: Cal.com does not
    /// cancel server-side work when a connection drops (hyper would drop the handler).
    pub async fn detached<T: Send + 'static>(
        work: impl std::future::Future<Output = T> + Send + 'static,
    ) -> T {
        tokio::spawn(work)
            .await
            .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
    }

    /// Waits the endpoint's latency, drawn from the latency stream.
    pub async fn delay(&self, endpoint: Endpoint) {
        let d = self
            .config()
            .latency
            .of(endpoint)
            .sample(&mut lock(&self.streams).latency);
        if !d.is_zero() {
            simkit::time::sleep(d).await;
        }
    }

    /// The instant a slot listing made now reflects (now minus a drawn lag).
    /// Waits out a reservation's check-and-insert window (see `ConsistencyConfig`).
    pub async fn reservation_window(&self) {
        let d = self
            .config()
            .consistency
            .reservation_window
            .sample(&mut lock(&self.streams).lag);
        if !d.is_zero() {
            simkit::time::sleep(d).await;
        }
    }

    pub fn listing_as_of(&self) -> DateTime<Utc> {
        let lag = self
            .config()
            .consistency
            .slots_lag
            .sample(&mut lock(&self.streams).lag);
        self.now() - TimeDelta::from_std(lag).unwrap_or(TimeDelta::zero())
    }

    /// The fault, if any, injected into a request to `endpoint` arriving now.
    pub fn fault_for(&self, endpoint: Endpoint) -> Option<FaultAction> {
        let (config, started_at) = {
            let loaded = lock(&self.loaded);
            (loaded.config.clone(), loaded.started_at)
        };
        let elapsed = (self.now() - started_at).to_std().unwrap_or_default();
        let rule = config.faults.iter().find(|rule| {
            rule.endpoint.matches(endpoint)
                && rule.from <= elapsed
                && rule.until.is_none_or(|until| elapsed < until)
        })?;
        let fires =
            rule.probability >= 1.0 || lock(&self.streams).faults.random_bool(rule.probability);
        fires.then(|| rule.action.clone())
    }

    pub fn rate_limit(&self, key: &str) -> RateDecision {
        lock(&self.limiter).hit(key, self.now())
    }

    /// Whether an API key is accepted: one of the configured keys, or any `cal_…` key when
    /// none are configured.
    pub fn key_is_valid(&self, key: &str) -> bool {
        let config = self.config();
        if config.api.keys.is_empty() {
            key.starts_with("cal_")
        } else {
            config.api.keys.iter().any(|k| k == key)
        }
    }

    pub fn record_request(&self, endpoint: &str, status: u16) {
        *lock(&self.stats)
            .by_endpoint
            .entry(endpoint.to_owned())
            .or_default()
            .entry(status)
            .or_default() += 1;
    }

    pub fn record_delivery(&self, record: DeliveryRecord) {
        lock(&self.deliveries).push(record);
    }

    pub fn request_stats(&self) -> RequestStats {
        lock(&self.stats).clone()
    }

    pub fn webhook_deliveries(&self) -> Vec<DeliveryRecord> {
        lock(&self.deliveries).clone()
    }

    /// Queues `trigger` for every active subscriber of it, deciding now (from the webhook
    /// stream) whether each delivery is lost, late or duplicated and when it is due.
    pub fn emit(&self, trigger: &str, booking: &Booking, rescheduled_from: Option<&Booking>) {
        let now = self.now();
        let (body, subscribers) = self.with_world(|w| {
            let body = wire::webhook_body(w, trigger, booking, rescheduled_from, now);
            let subscribers: Vec<_> = w
                .subscriptions()
                .filter(|s| s.active && s.triggers.iter().any(|t| t == trigger))
                .cloned()
                .collect();
            (Bytes::from(body.to_string()), subscribers)
        });
        let config = self.config();
        let cfg = &config.webhooks;
        let generation = self.generation();
        for sub in subscribers {
            let mut rng = lock(&self.streams);
            let rng = &mut rng.webhooks;
            let lost = rng.random_bool(cfg.loss_probability);
            let mut delay = cfg.delay.sample(rng);
            if rng.random_bool(cfg.late_probability) {
                delay += cfg.late_delay.sample(rng);
            }
            let duplicate = rng.random_bool(cfg.duplicate_probability);
            let duplicate_delay = cfg.duplicate_delay.sample(rng);
            let base = Delivery {
                subscription_id: sub.id,
                url: sub.subscriber_url.clone(),
                trigger: trigger.to_owned(),
                booking_uid: booking.uid.clone(),
                signature: webhooks::signature(sub.secret.as_deref(), &body),
                body: body.clone(),
                due: now + TimeDelta::from_std(delay).unwrap_or(TimeDelta::zero()),
                copy: DeliveryCopy::Original,
                generation,
            };
            if lost {
                self.record_delivery(DeliveryRecord {
                    subscription_id: sub.id,
                    trigger: trigger.to_owned(),
                    booking_uid: booking.uid.clone(),
                    copy: DeliveryCopy::Original,
                    outcome: "lost".into(),
                    status: None,
                    error: None,
                    at: now,
                });
            } else {
                let _ = self.outbox.send(base.clone());
            }
            if duplicate {
                let copy = Delivery {
                    due: base.due
                        + TimeDelta::from_std(duplicate_delay).unwrap_or(TimeDelta::zero()),
                    copy: DeliveryCopy::Duplicate,
                    ..base
                };
                let _ = self.outbox.send(copy);
            }
        }
    }

    // ----- operations behind the application's back (admin API and harness) -----

    /// Books as staff in the Cal.com app would: no rate limit, no latency, webhooks fire.
    pub fn book_external(&self, req: ExternalBooking) -> Result<Booking, BookingRefusal> {
        let now = self.now();
        let uid = self.next_uid();
        let request = BookingRequest {
            length_minutes: req.length_minutes,
            host_id: req.host_id,
            metadata: req.metadata,
            force: req.force,
            ..BookingRequest::simple(
                req.event_type_id,
                req.start,
                &req.attendee_name,
                BookingSource::External,
            )
        };
        let booking = self.with_world(|w| {
            let admitted = w.admit_booking(&request, now, None)?;
            w.commit_booking(request, admitted, uid, now)
                .map_err(|_| BookingRefusal::Unavailable)
        })?;
        tracing::debug!(uid = %booking.uid, start = %booking.start, "external booking");
        self.emit("BOOKING_CREATED", &booking, None);
        Ok(booking)
    }

    /// Marks a create admitted for `host` over `span` as in flight until the returned value
    /// is dropped; counts it when another such create for that host overlaps it.
    pub fn create_in_flight(&self, host: u64, span: crate::calendar::Span) -> InFlightCreate<'_> {
        let mut f = lock(&self.in_flight);
        if f.creates.iter().any(|c| c.1 == host && c.2.overlaps(&span)) {
            f.races += 1;
        }
        f.next += 1;
        let id = f.next;
        f.creates.push((id, host, span));
        InFlightCreate { mock: self, id }
    }

    /// Creates admitted while an overlapping one for the same host was in flight.
    pub fn race_windows(&self) -> u64 {
        lock(&self.in_flight).races
    }

    /// Whether Cal.com would have admitted a booking of `event_type_id` at `start` arriving
    /// at instant `at` (a qualified host working and free then, the notice respected), from
    /// the bookings as they stood at `at`: the ground truth a refusal is judged against.
    pub fn bookable_at(&self, event_type_id: u64, start: DateTime<Utc>, at: DateTime<Utc>) -> bool {
        let request = BookingRequest::simple(event_type_id, start, "judge", BookingSource::Api);
        self.with_world(|w| w.admit_booking(&request, at, None).is_ok())
    }

    /// When each reservation was made that, at `at`, hides a host of the event type who is
    /// otherwise free at `start` (see `World::holds_on_free_hosts`).
    pub fn holds_at(
        &self,
        event_type_id: u64,
        start: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> Vec<DateTime<Utc>> {
        self.with_world(|w| w.holds_on_free_hosts(event_type_id, start, at))
    }

    /// Cancels as staff in the Cal.com app would.
    pub fn cancel_external(
        &self,
        uid: &str,
        reason: Option<String>,
    ) -> Result<Booking, BookingRefusal> {
        let now = self.now();
        let booking = self.with_world(|w| {
            let b = w.cancel_booking(uid, reason, now)?;
            Ok(w.mark_by_staff(&b.uid).unwrap_or(b))
        })?;
        self.emit("BOOKING_CANCELLED", &booking, None);
        Ok(booking)
    }

    /// Moves booking `uid` to `start` as staff in the app would: checked like a new booking
    /// that may reuse the old one's time; the new booking (made by staff, the old one's
    /// attendee, metadata and event type) refers to the old, which is cancelled; one
    /// `BOOKING_RESCHEDULED` fires, as for `POST /v2/bookings/{uid}/reschedule`.
    pub fn reschedule_external(
        &self,
        uid: &str,
        start: DateTime<Utc>,
        reason: Option<String>,
    ) -> Result<(Booking, Booking), BookingRefusal> {
        let now = self.now();
        let new_uid = self.next_uid();
        let (old, new) = self.with_world(|w| {
            let (mut request, admitted) = w.admit_reschedule(uid, start, now)?;
            request.source = BookingSource::External;
            let (old, new) = w.commit_reschedule(uid, request, admitted, new_uid, reason, now)?;
            Ok::<_, BookingRefusal>((w.mark_by_staff(&old.uid).unwrap_or(old), new))
        })?;
        tracing::debug!(old = %old.uid, new = %new.uid, start = %new.start, "staff reschedule");
        self.emit("BOOKING_RESCHEDULED", &new, Some(&old));
        Ok((old, new))
    }

    /// Blocks `[start, end)` of a host as staff in the app would (an out-of-office or busy
    /// entry): its slots go, no booking is made, no booking webhook fires.
    pub fn block_time(
        &self,
        host_id: u64,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<(), BookingRefusal> {
        let now = self.now();
        self.with_world(|w| w.block_time(host_id, start, end, now))
    }

    /// Changes a host's working hours from now on, as staff in the app would (no webhook).
    pub fn change_hours(
        &self,
        host_id: u64,
        hours: crate::config::WeeklyHours,
    ) -> Result<(), BookingRefusal> {
        let now = self.now();
        self.with_world(|w| w.change_hours(host_id, hours, now))
    }

    /// Everything the mock holds, in wire shapes, for checking against.
    pub fn ground_truth(&self) -> GroundTruth {
        let now = self.now();
        let (bookings, reservations, subscriptions) = self.with_world(|w| {
            let bookings = w
                .bookings()
                .map(|b| {
                    let mut v = wire::booking(w, b);
                    v["hostId"] = b.host_id.into();
                    v["source"] = serde_json::to_value(b.source).unwrap_or_default();
                    v["admittedAt"] = wire::iso_ms(b.admitted_at).into();
                    if let Some(at) = b.cancelled_at {
                        v["cancelledAt"] = wire::iso_ms(at).into();
                    }
                    if b.by_staff {
                        v["byStaff"] = true.into();
                    }
                    serde_json::from_value(v)
                        .expect("a booking's wire shape has its record's fields")
                })
                .collect();
            let reservations = w
                .reservations()
                .map(|r| {
                    let mut v = wire::reservation(r);
                    v["hostId"] = r.host_id.into();
                    v["state"] = r.state(now).into();
                    v["legacy"] = r.legacy.into();
                    serde_json::from_value(v)
                        .expect("a reservation's wire shape has its record's fields")
                })
                .collect();
            let subscriptions = w.subscriptions().map(wire::subscription).collect();
            (bookings, reservations, subscriptions)
        });
        GroundTruth {
            now: wire::iso_ms(now),
            bookings,
            reservations,
            subscriptions,
            webhook_deliveries: self.webhook_deliveries(),
            requests: self.request_stats(),
            race_windows: self.race_windows(),
            throttle_blocks: lock(&self.limiter).blocks().to_vec(),
        }
    }

    /// Back to the configured world: bookings, reservations, subscriptions, rate limits and
    /// statistics as at start (random streams continue).
    pub fn reset(&self) {
        let config = self.config();
        let now = self.now();
        let world = {
            let mut streams = lock(&self.streams);
            World::new(&config, now, || ids::short_uid(&mut streams.ids))
        };
        *lock(&self.world) = world;
        *lock(&self.limiter) = RateLimiter::new(config.api.rate_limit.clone());
        *lock(&self.stats) = RequestStats::default();
        lock(&self.deliveries).clear();
    }

    /// Replaces the whole world with `config`, as if the mock had just started with it (a
    /// live run loads its scenario's world): fault windows count from now, webhooks and
    /// external bookings still pending for the old world are dropped, and with `seed` the
    /// random streams start over from it.
    pub fn load(&self, config: MockConfig, seed: Option<u64>) {
        let now = self.now();
        let seed = seed.map_or_else(|| self.seed(), SeedStreams::new);
        let mut streams = Streams::new(seed);
        let world = World::new(&config, now, || ids::short_uid(&mut streams.ids));
        *lock(&self.streams) = streams;
        *lock(&self.world) = world;
        *lock(&self.limiter) = RateLimiter::new(config.api.rate_limit.clone());
        *lock(&self.stats) = RequestStats::default();
        *lock(&self.in_flight) = InFlight::default();
        lock(&self.deliveries).clear();
        *lock(&self.loaded) = Loaded {
            config: Arc::new(config),
            seed,
            started_at: now,
        };
        self.generation.send_modify(|g| *g += 1);
    }

    /// Changes the configuration of the world now loaded (its calendar stays): fault windows
    /// and webhook behaviour at run time. A change that leaves it invalid is refused whole.
    pub fn reconfigure(&self, change: impl FnOnce(&mut MockConfig)) -> Result<(), String> {
        let mut loaded = lock(&self.loaded);
        let mut config = (*loaded.config).clone();
        change(&mut config);
        config.validate()?;
        loaded.config = Arc::new(config);
        Ok(())
    }

    /// How long the loaded world has existed (fault windows count from its start).
    pub fn since_loaded(&self) -> Duration {
        (self.now() - lock(&self.loaded).started_at)
            .to_std()
            .unwrap_or_default()
    }
}
