//! Requests to Cal.com API v2 with the reference's versions and headers, and retries.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use http::{Method, Request};
use http_body_util::Full;
use rand::Rng;
use serde_json::{Value, json};
use simkit::seed::StreamRng;
use simkit::transport::{HttpClient, HttpResponse, Network, Timeouts};

use super::error::CalcomError;
use crate::policy::{ClientTimeouts, RetryPolicy};

/// The bookings `cal-api-version` unless [`CalcomClient::with_bookings_version`] says another.
const BOOKINGS_VERSION: &str = "2024-08-13";
const SLOTS_VERSION: &str = "2024-09-04";
const EVENT_TYPES_VERSION: &str = "2024-06-14";

/// What to book.
#[derive(Debug, Clone, PartialEq)]
pub struct NewBooking {
    pub event_type_id: u64,
    pub start: DateTime<Utc>,
    pub attendee_name: String,
    pub attendee_email: Option<String>,
    pub attendee_phone: Option<String>,
    pub time_zone: String,
    pub language: String,
    pub metadata: BTreeMap<String, String>,
}

/// A booking as Cal.com answered it (the fields the engine uses).
#[derive(Debug, Clone, PartialEq)]
pub struct CalcomBooking {
    pub id: u64,
    pub uid: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub status: String,
    pub created_at: Option<DateTime<Utc>>,
    pub metadata: BTreeMap<String, Value>,
    pub host_id: Option<u64>,
    /// The booking this one was moved from (`rescheduledFromUid`), if it was.
    pub rescheduled_from: Option<String>,
    /// The booking this one was moved to (`rescheduledToUid`), if it was.
    pub rescheduled_to: Option<String>,
}

/// A held slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotReservation {
    pub uid: String,
    pub until: DateTime<Utc>,
}

/// One request to Cal.com as the engine saw it: when, how long, and how it ended.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CalcomSample {
    pub endpoint: &'static str,
    /// Milliseconds since the Unix epoch (the engine's clock) when the request was sent.
    pub at_ms: i64,
    pub latency_ms: u64,
    /// The HTTP status, or 0 when no answer came (timeout, reset, unreachable).
    pub status: u16,
}

/// A prepared request, sent once per attempt.
struct Call {
    /// The endpoint's name in statistics (`slots`, `create_booking`, …).
    endpoint: &'static str,
    method: Method,
    path: String,
    version: Option<&'static str>,
    body: Option<Value>,
}

/// How often a request is tried.
#[derive(Debug, Clone, Copy)]
enum Tries {
    /// As the retry policy says.
    AsPolicy,
    /// Once: an error is returned as it comes.
    Once,
}

/// The Cal.com client of one engine. Cheap to share behind an `Arc`.
pub struct CalcomClient {
    http: HttpClient,
    base: String,
    api_key: String,
    retry: RetryPolicy,
    jitter: Mutex<StreamRng>,
    retries: AtomicU64,
    samples: Mutex<Vec<CalcomSample>>,
    clock: Option<simkit::SharedClock>,
    bookings_version: &'static str,
    /// What Cal.com's `X-RateLimit-*-Default` headers said last (see [`Self::budget_low`]).
    budget: Mutex<Budget>,
}

/// The API key's rate-limit budget as Cal.com's last answer told it.
#[derive(Debug, Default, Clone, Copy)]
struct Budget {
    limit: Option<u64>,
    remaining: Option<u64>,
    /// When the window (or a 429's block) ends.
    reset: Option<tokio::time::Instant>,
    /// The last answer was a 429.
    blocked: bool,
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn parse_time(v: &Value, field: &str) -> Result<DateTime<Utc>, CalcomError> {
    v.get(field)
        .and_then(Value::as_str)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.to_utc())
        .ok_or_else(|| CalcomError::Malformed(format!("`{field}` is not an ISO 8601 time")))
}

impl CalcomClient {
    /// A client for the Cal.com at `base_url` (e.g. `https://api.cal.com` or `http://calcom`).
    pub fn new(
        network: Network,
        base_url: &str,
        api_key: &str,
        timeouts: ClientTimeouts,
        retry: RetryPolicy,
        jitter: StreamRng,
    ) -> Self {
        Self {
            http: HttpClient::new(
                network,
                Timeouts {
                    connect: timeouts.connect,
                    total: timeouts.total,
                },
            ),
            base: base_url.trim_end_matches('/').to_owned(),
            api_key: api_key.to_owned(),
            retry,
            jitter: Mutex::new(jitter),
            retries: AtomicU64::new(0),
            samples: Mutex::default(),
            clock: None,
            bookings_version: BOOKINGS_VERSION,
            budget: Mutex::default(),
        }
    }

    /// The `cal-api-version` of the bookings requests (`2024-08-13` by default).
    pub fn with_bookings_version(mut self, version: &'static str) -> Self {
        self.bookings_version = version;
        self
    }

    /// Time-stamps the requests' samples with `clock` (otherwise they are stamped 0).
    pub fn with_clock(mut self, clock: simkit::SharedClock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Every request made so far, in order.
    pub fn samples(&self) -> Vec<CalcomSample> {
        self.samples.lock().expect("samples").clone()
    }

    /// Whether the API key's budget is nearly spent: Cal.com's last answer was a 429 whose
    /// block has not ended, or left fewer than a quarter of the window's requests. A request
    /// that can wait (a hold that only helps a booking to come) is better not sent: the
    /// budget left is the bookings'.
    pub fn budget_low(&self) -> bool {
        let b = *self.budget.lock().expect("budget");
        let Some(reset) = b.reset else {
            return false;
        };
        if tokio::time::Instant::now() >= reset {
            return false;
        }
        b.blocked || matches!((b.remaining, b.limit), (Some(left), Some(limit)) if left * 4 < limit)
    }

    fn note_budget(&self, response: Option<&HttpResponse>, error: Option<&CalcomError>) {
        let now = tokio::time::Instant::now();
        let mut b = self.budget.lock().expect("budget");
        if let Some(CalcomError::RateLimited { reset_seconds }) = error {
            b.blocked = true;
            b.remaining = Some(0);
            b.reset = Some(now + Duration::from_secs(reset_seconds.unwrap_or(60)));
            return;
        }
        let Some(r) = response else { return };
        let number = |name: &str| r.header(name).and_then(|v| v.trim().parse::<u64>().ok());
        if let Some(left) = number("x-ratelimit-remaining-default") {
            b.blocked = false;
            b.remaining = Some(left);
            b.limit = number("x-ratelimit-limit-default").or(b.limit);
            b.reset =
                Some(now + Duration::from_secs(number("x-ratelimit-reset-default").unwrap_or(60)));
        }
    }

    /// Retries made so far (all requests).
    pub fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }

    /// The wait before retry number `retry` (0-based) after `error`, or `None` when the
    /// policy gives up.
    pub fn retry_wait(
        policy: &RetryPolicy,
        error: &CalcomError,
        transient_so_far: u32,
        conflicts_so_far: usize,
    ) -> Option<Duration> {
        match error {
            CalcomError::Conflict | CalcomError::RateLimited { .. } => {
                policy.conflict_backoff.get(conflicts_so_far).copied()
            }
            CalcomError::Server(_) | CalcomError::Unreachable(_)
                if transient_so_far < policy.max_retries =>
            {
                Some(policy.delay)
            }
            CalcomError::Timeout | CalcomError::ConnectionLost(_)
                if policy.retry_timeouts && transient_so_far < policy.max_retries =>
            {
                Some(policy.delay)
            }
            _ => None,
        }
    }

    async fn attempt(&self, call: &Call) -> Result<HttpResponse, CalcomError> {
        let at_ms = self
            .clock
            .as_ref()
            .map_or(0, |c| c.now().timestamp_millis());
        let sent = tokio::time::Instant::now();
        let result = self.exchange(call).await;
        let status = match &result {
            Ok(r) => r.status.as_u16(),
            Err(e) => e.status().unwrap_or(0),
        };
        self.samples.lock().expect("samples").push(CalcomSample {
            endpoint: call.endpoint,
            at_ms,
            latency_ms: u64::try_from(sent.elapsed().as_millis()).unwrap_or(u64::MAX),
            status,
        });
        result
    }

    async fn exchange(&self, call: &Call) -> Result<HttpResponse, CalcomError> {
        let mut request = Request::builder()
            .method(call.method.clone())
            .uri(format!("{}{}", self.base, call.path))
            .header("authorization", format!("Bearer {}", self.api_key))
            .header("accept", "application/json");
        if let Some(version) = call.version {
            request = request.header("cal-api-version", version);
        }
        let body = match &call.body {
            Some(body) => {
                request = request.header("content-type", "application/json");
                Bytes::from(body.to_string())
            }
            None => Bytes::new(),
        };
        let request = request
            .body(Full::new(body))
            .map_err(|e| CalcomError::Malformed(format!("cannot build request: {e}")))?;
        let response = self.http.send(request).await?;
        if response.status.is_success() {
            self.note_budget(Some(&response), None);
            Ok(response)
        } else {
            let error = CalcomError::from_response(&response);
            self.note_budget(Some(&response), Some(&error));
            Err(error)
        }
    }

    /// Sends `call`, retrying as the policy says; returns the success body as JSON.
    async fn send(&self, call: Call) -> Result<Value, CalcomError> {
        self.send_tries(call, Tries::AsPolicy).await
    }

    async fn send_tries(&self, call: Call, tries: Tries) -> Result<Value, CalcomError> {
        let (mut transient, mut conflicts) = (0u32, 0usize);
        loop {
            let error = match self.attempt(&call).await {
                Ok(response) => {
                    return serde_json::from_slice(&response.body)
                        .map_err(|e| CalcomError::Malformed(e.to_string()));
                }
                Err(error) => error,
            };
            let retry = match tries {
                Tries::AsPolicy => Self::retry_wait(&self.retry, &error, transient, conflicts),
                Tries::Once => None,
            };
            let Some(wait) = retry else {
                return Err(error);
            };
            match error {
                CalcomError::Conflict | CalcomError::RateLimited { .. } => conflicts += 1,
                _ => transient += 1,
            }
            self.retries.fetch_add(1, Ordering::Relaxed);
            let stretch = if self.retry.jitter > 0.0 {
                1.0 + self
                    .jitter
                    .lock()
                    .expect("jitter rng")
                    .random_range(0.0..=self.retry.jitter)
            } else {
                1.0
            };
            tracing::debug!(path = %call.path, %error, ?wait, "retrying Cal.com request");
            simkit::time::sleep(wait.mul_f64(stretch)).await;
        }
    }

    /// Free slot start times of an event type between `start` and `end` (`GET /v2/slots`).
    pub async fn slots(
        &self,
        event_type_id: u64,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<DateTime<Utc>>, CalcomError> {
        let body = self
            .send(Call {
                endpoint: "slots",
                method: Method::GET,
                path: format!(
                    "/v2/slots?eventTypeId={event_type_id}&start={}&end={}",
                    time(start),
                    time(end)
                ),
                version: Some(SLOTS_VERSION),
                body: None,
            })
            .await?;
        let days = body
            .get("data")
            .and_then(Value::as_object)
            .ok_or_else(|| CalcomError::Malformed("slots answer has no `data` object".into()))?;
        let mut starts = Vec::new();
        for slots in days.values() {
            for slot in slots.as_array().into_iter().flatten() {
                starts.push(parse_time(slot, "start")?);
            }
        }
        starts.sort_unstable();
        Ok(starts)
    }

    /// The length in minutes of every event type of the account (`GET /v2/event-types`):
    /// what Cal.com books for each, whatever the catalogue says.
    pub async fn event_type_lengths(&self) -> Result<BTreeMap<u64, u32>, CalcomError> {
        let body = self
            .send(Call {
                endpoint: "event_types",
                method: Method::GET,
                path: "/v2/event-types".into(),
                version: Some(EVENT_TYPES_VERSION),
                body: None,
            })
            .await?;
        let all = body.get("data").and_then(Value::as_array).ok_or_else(|| {
            CalcomError::Malformed("event types answer has no `data` array".into())
        })?;
        let mut lengths = BTreeMap::new();
        for e in all {
            let id = e.get("id").and_then(Value::as_u64);
            let minutes = e.get("lengthInMinutes").and_then(Value::as_u64);
            if let (Some(id), Some(minutes)) = (id, minutes.and_then(|m| u32::try_from(m).ok())) {
                lengths.insert(id, minutes);
            }
        }
        Ok(lengths)
    }

    /// `POST /v2/bookings`.
    pub async fn create_booking(&self, b: &NewBooking) -> Result<CalcomBooking, CalcomError> {
        let mut attendee =
            json!({ "name": b.attendee_name, "timeZone": b.time_zone, "language": b.language });
        if let Some(email) = &b.attendee_email {
            attendee["email"] = json!(email);
        }
        if let Some(phone) = &b.attendee_phone {
            attendee["phoneNumber"] = json!(phone);
        }
        let body = json!({
            "start": time(b.start),
            "eventTypeId": b.event_type_id,
            "attendee": attendee,
            "metadata": b.metadata,
        });
        let answer = self
            .send(Call {
                endpoint: "create_booking",
                method: Method::POST,
                path: "/v2/bookings".into(),
                version: Some(self.bookings_version),
                body: Some(body),
            })
            .await?;
        Self::booking(&answer)
    }

    /// `GET /v2/bookings/{uid}`.
    pub async fn get_booking(&self, uid: &str) -> Result<CalcomBooking, CalcomError> {
        let answer = self
            .send(Call {
                endpoint: "get_booking",
                method: Method::GET,
                path: format!("/v2/bookings/{uid}"),
                version: Some(self.bookings_version),
                body: None,
            })
            .await?;
        Self::booking(&answer)
    }

    /// `GET /v2/bookings?eventTypeId=&afterStart=&beforeEnd=`: the bookings of an event type
    /// within `[after_start, before_end]`.
    pub async fn list_bookings(
        &self,
        event_type_id: u64,
        after_start: DateTime<Utc>,
        before_end: DateTime<Utc>,
    ) -> Result<Vec<CalcomBooking>, CalcomError> {
        self.list_bookings_page(event_type_id, after_start, before_end, 100, 0)
            .await
    }

    /// One page of [`Self::list_bookings`]: `take` bookings after the first `skip`.
    pub async fn list_bookings_page(
        &self,
        event_type_id: u64,
        after_start: DateTime<Utc>,
        before_end: DateTime<Utc>,
        take: usize,
        skip: usize,
    ) -> Result<Vec<CalcomBooking>, CalcomError> {
        let filter = format!("eventTypeId={event_type_id}&");
        self.bookings_page(&filter, after_start, before_end, take, skip)
            .await
    }

    /// `GET /v2/bookings?afterStart=&beforeEnd=&take=&skip=`: one page of every booking of
    /// the account (all event types, all hosts) within `[after_start, before_end]`, oldest
    /// start first. Cal.com answers from its bookings, not from the slot listing's caches.
    pub async fn list_all_bookings_page(
        &self,
        after_start: DateTime<Utc>,
        before_end: DateTime<Utc>,
        take: usize,
        skip: usize,
    ) -> Result<Vec<CalcomBooking>, CalcomError> {
        self.bookings_page("", after_start, before_end, take, skip)
            .await
    }

    /// One page of `GET /v2/bookings?{filter}afterStart=&beforeEnd=&take=&skip=`.
    async fn bookings_page(
        &self,
        filter: &str,
        after_start: DateTime<Utc>,
        before_end: DateTime<Utc>,
        take: usize,
        skip: usize,
    ) -> Result<Vec<CalcomBooking>, CalcomError> {
        let answer = self
            .send(Call {
                endpoint: "get_booking",
                method: Method::GET,
                path: format!(
                    "/v2/bookings?{filter}afterStart={}&beforeEnd={}&take={take}&skip={skip}",
                    time(after_start),
                    time(before_end)
                ),
                version: Some(self.bookings_version),
                body: None,
            })
            .await?;
        answer
            .get("data")
            .and_then(Value::as_array)
            .ok_or_else(|| CalcomError::Malformed("bookings answer has no `data` list".into()))?
            .iter()
            .map(|b| Self::booking(&json!({ "data": b })))
            .collect()
    }

    /// `POST /v2/bookings/{uid}/cancel`, always with a reason (a host must give one).
    pub async fn cancel_booking(
        &self,
        uid: &str,
        reason: &str,
    ) -> Result<CalcomBooking, CalcomError> {
        self.cancel_booking_tries(uid, reason, Tries::AsPolicy)
            .await
    }

    /// [`Self::cancel_booking`] tried once, never retried: for a caller who should not wait
    /// out a backoff when someone else (an outbox) tries again later.
    pub async fn cancel_booking_once(
        &self,
        uid: &str,
        reason: &str,
    ) -> Result<CalcomBooking, CalcomError> {
        self.cancel_booking_tries(uid, reason, Tries::Once).await
    }

    async fn cancel_booking_tries(
        &self,
        uid: &str,
        reason: &str,
        tries: Tries,
    ) -> Result<CalcomBooking, CalcomError> {
        let call = Call {
            endpoint: "cancel_booking",
            method: Method::POST,
            path: format!("/v2/bookings/{uid}/cancel"),
            version: Some(self.bookings_version),
            body: Some(json!({ "cancellationReason": reason })),
        };
        Self::booking(&self.send_tries(call, tries).await?)
    }

    /// `POST /v2/slots/reservations`, held for `minutes`.
    pub async fn reserve_slot(
        &self,
        event_type_id: u64,
        start: DateTime<Utc>,
        minutes: u32,
    ) -> Result<SlotReservation, CalcomError> {
        let answer = self
            .send(Call {
                endpoint: "reserve_slot",
                method: Method::POST,
                path: "/v2/slots/reservations".into(),
                version: Some(SLOTS_VERSION),
                body: Some(json!({ "eventTypeId": event_type_id, "slotStart": time(start), "reservationDuration": minutes })),
            })
            .await?;
        let data = answer.get("data").unwrap_or(&Value::Null);
        Ok(SlotReservation {
            uid: data
                .get("reservationUid")
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    CalcomError::Malformed("reservation has no `reservationUid`".into())
                })?
                .to_owned(),
            until: parse_time(data, "reservationUntil")?,
        })
    }

    /// `DELETE /v2/slots/reservations/{uid}`.
    pub async fn release_slot(&self, uid: &str) -> Result<(), CalcomError> {
        self.release_slot_tries(uid, Tries::AsPolicy).await
    }

    /// [`Self::release_slot`] tried once, never retried (see [`Self::cancel_booking_once`]).
    pub async fn release_slot_once(&self, uid: &str) -> Result<(), CalcomError> {
        self.release_slot_tries(uid, Tries::Once).await
    }

    async fn release_slot_tries(&self, uid: &str, tries: Tries) -> Result<(), CalcomError> {
        let call = Call {
            endpoint: "reservation",
            method: Method::DELETE,
            path: format!("/v2/slots/reservations/{uid}"),
            version: Some(SLOTS_VERSION),
            body: None,
        };
        self.send_tries(call, tries).await.map(drop)
    }

    fn booking(answer: &Value) -> Result<CalcomBooking, CalcomError> {
        let data = answer
            .get("data")
            .ok_or_else(|| CalcomError::Malformed("booking answer has no `data`".into()))?;
        Ok(CalcomBooking {
            id: data
                .get("id")
                .and_then(Value::as_u64)
                .ok_or_else(|| CalcomError::Malformed("booking has no numeric `id`".into()))?,
            uid: data
                .get("uid")
                .and_then(Value::as_str)
                .ok_or_else(|| CalcomError::Malformed("booking has no `uid`".into()))?
                .to_owned(),
            start: parse_time(data, "start")?,
            end: parse_time(data, "end")?,
            status: data
                .get("status")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            created_at: parse_time(data, "createdAt").ok(),
            metadata: data
                .get("metadata")
                .and_then(Value::as_object)
                .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default(),
            host_id: data.pointer("/hosts/0/id").and_then(Value::as_u64),
            rescheduled_from: data
                .get("rescheduledFromUid")
                .and_then(Value::as_str)
                .map(str::to_owned),
            rescheduled_to: data
                .get("rescheduledToUid")
                .and_then(Value::as_str)
                .map(str::to_owned),
        })
    }
}
