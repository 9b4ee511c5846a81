//! `bookingsim live`: a scenario file against a running booking engine and a running mock
//! Cal.com (`mock-calcom serve`), in real time. The same plans, outcomes, invariants,
//! histograms, gates and files as a simulated run, from what can be seen from outside: what
//! every caller was told and what Cal.com holds.
//!
//! - The scenario's `[calcom]` world is loaded into the mock (`PUT /_mock/config`) with the
//!   engine's webhook subscribed; its fault windows count from the load, which is the run's
//!   start.
//! - Every absolute date and instant (slots in arguments, staff bookings, channel entries,
//!   bookings present at start) moves forward by whole weeks, so that weekdays and local
//!   times hold and every slot lies in the future. Relative words ("morgen", "Dienstag") are
//!   the engine's to resolve from its own today.
//! - Calls start at their instants, open loop (a late answer never delays the next caller);
//!   each step's latency is kept from when it was sent and from when it was due, and the
//!   generator's own lag (`send_skew`) is reported as the run's health figure.
//! - Call ids carry the run's tag, so that a second run against the same engine is not
//!   taken for Retell retrying the first.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Days, FixedOffset, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use http::{Method, Request};
use http_body_util::Full;
use mock_calcom::{GroundTruth, MockConfig};
use serde::Serialize;
use serde_json::{Value, json};
use simkit::transport::{HttpClient, Network, Timeouts};
use simkit::{SharedClock, TokioClock};

use crate::scenario::{ChannelAppointment, Fault, Scenario, StaffBooking};
use crate::world::judge::{self, Bookable};
use crate::world::record::CallRecord;
use crate::world::record::RunRecord;
use crate::world::simulated::{Target, call, engine_subscription};
use crate::world::workload::{CallPlan, plan, workload_end};
use crate::world::{live_engine, live_pages};

/// Where a live run sends its traffic.
#[derive(Debug, Clone)]
pub struct Options {
    /// The engine's base URL: Retell's function calls go to
    /// `<engine>/api/webhooks/retell/function`, channel entries to `<engine>/api/appointments`.
    pub engine: String,
    /// The mock Cal.com's base URL (`mock-calcom serve`), which the engine must use too.
    pub calcom: String,
    /// Sign function calls as Retell does (`x-retell-signature`).
    pub retell_api_key: Option<String>,
    /// Where the mock posts Cal.com's webhooks (default `<engine>/api/webhooks/calcom`).
    pub webhook_url: Option<String>,
    /// The webhook subscription's secret (`X-Cal-Signature-256`), as the engine expects it.
    pub webhook_secret: Option<String>,
    pub seed: u64,
    /// The servers' admin tokens, sent where the run reconfigures the mock (`/_mock/…`) and
    /// enters appointments at the engine (`/api/appointments`).
    pub admin_tokens: AdminTokens,
}

/// The admin tokens of `mock-calcom serve` and `booking-engine serve`, when they have one.
#[derive(Debug, Clone, Default)]
pub struct AdminTokens {
    pub mock: Option<simkit::access::Secret>,
    pub engine: Option<simkit::access::Secret>,
}

impl AdminTokens {
    /// `Authorization: Bearer …` for a request to a server with `token`, if any.
    fn bearer(token: Option<&simkit::access::Secret>) -> Option<String> {
        token.map(|t| format!("Bearer {}", t.expose()))
    }
}

/// The `booking-engine serve --config` file that gives the engine this scenario's services
/// and policy overrides, headed by the command that serves it against `calcom`.
pub fn engine_config(scenario: &Scenario, calcom: &str) -> String {
    #[derive(Serialize)]
    struct EngineFile {
        policy: toml::Table,
        catalog: booking_engine::catalog::Catalog,
    }
    // The whole policy, every switch (the preset's and the scenario's overrides): the
    // engine reads it as overrides of its `--policy`, so it runs this policy whatever
    // preset it is started with, and says so at `GET /api/info`.
    let policy = scenario
        .policy()
        .ok()
        .and_then(|p| toml::Table::try_from(p).ok())
        .unwrap_or_else(|| scenario.policy.overrides.clone());
    let file = EngineFile {
        policy,
        catalog: scenario.catalog(),
    };
    format!(
        "# {name}: the engine's services and policy for `bookingsim live`.\n\
         #   booking-engine serve --policy {preset} --config engine.toml --calcom-url {calcom} --webhook-secret S\n\
         # and give `bookingsim live` the same `--webhook-secret S`.\n\n{body}",
        name = scenario.name,
        preset = scenario.policy.preset,
        body = toml::to_string(&file).unwrap_or_default(),
    )
}

/// The scenario's salon in a neutral form (JSON) a team maps into its own engine: the
/// services (names, aliases, segments with their minutes and Cal.com event types), the
/// event types' lengths and hosts, the stylists, the zone, and what live sends and reads.
pub fn neutral_config(scenario: &Scenario, calcom: &str) -> String {
    let catalog = scenario.catalog();
    let length = |id: u64| {
        scenario
            .calcom
            .event_types
            .iter()
            .find(|e| e.id == id)
            .map(|e| e.length_minutes)
    };
    let services: Vec<Value> = catalog
        .services
        .iter()
        .map(|s| {
            json!({
                "name": s.name,
                "aliases": s.aliases,
                "stylists": s.staff,
                "segments": s.segments.iter().map(|seg| json!({
                    "name": seg.name,
                    "minutes": seg.minutes,
                    "event_type_id": seg.event_type_id,
                    "event_type_length_minutes": seg.event_type_id.and_then(length),
                    "staffed": seg.event_type_id.is_some(),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let value = json!({
        "salon": scenario.name,
        "time_zone": catalog.time_zone.name(),
        "calcom": {
            "base_url": calcom,
            "bookings_api_version": "2024-08-13",
            "slots_api_version": "2024-09-04",
            "booking_metadata": {
                "call_id": "the Retell call id (args.call_id or call.call_id): enables ghost_booking, lost_booking and grouping a compound's segments (partial_compound)",
                "service": "optional: the service's name; without it live takes the service from the call's request",
            },
            "webhook": "live subscribes ENGINE/api/webhooks/calcom (or --webhook-url), signed with --webhook-secret",
        },
        "retell": {
            "route": "POST ENGINE/api/webhooks/retell/function",
            "body": { "name": "check_availability_v17 | start_booking | …", "call": { "call_id": "call_…-TAG" }, "args": { "call_id": "call_…-TAG", "…": "the scenario's arguments" } },
            "answers": "read with [live.answers] (default: the seed system's `success`, `available`, German words in `error`/`message`)",
        },
        "stylists": scenario.calcom.hosts.iter().map(|h| json!({ "host_id": h.id, "name": h.name })).collect::<Vec<_>>(),
        "event_types": scenario.calcom.event_types.iter().map(|e| json!({
            "id": e.id, "slug": e.slug, "title": e.title, "length_minutes": e.length_minutes,
            "hosts": e.hosts, "minimum_notice": humantime::format_duration(e.minimum_notice).to_string(),
        })).collect::<Vec<_>>(),
        "services": services,
    });
    serde_json::to_string_pretty(&value).unwrap_or_default()
}

/// Scenario features a live run cannot do to an engine that is not its own: refused before
/// anything starts.
pub fn check(scenario: &Scenario) -> Result<(), String> {
    if let Some((i, f)) = scenario.faults.iter().enumerate().next() {
        let what = match f {
            Fault::EngineCrash { .. } => "an engine crash",
            Fault::Partition { .. } => "a partition between the engine and Cal.com",
            Fault::Redis { .. } => "a Redis fault",
            Fault::Database { .. } => "a database fault",
        };
        return Err(format!(
            "faults[{i}]: {what} cannot be done live (the engine is not bookingsim's to kill \
             or cut off): run the scenario in simulation, or remove its [[faults]]"
        ));
    }
    if scenario.engine.workers > 1 || !scenario.engine.faults.is_empty() {
        return Err(
            "engine: workers and worker faults cannot be done live (the engine is not \
             bookingsim's to start, kill or pause): run the scenario in simulation"
                .into(),
        );
    }
    if !scenario.clocks.is_zero() {
        return Err(
            "clocks: skewed clocks cannot be done live (the hosts keep their own time): run \
             the scenario in simulation"
                .into(),
        );
    }
    Ok(())
}

// ----- moving the scenario's instants forward by whole weeks -----

const NAIVE_FORMATS: [&str; 4] = [
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
];
const DATE_FORMATS: [&str; 2] = ["%Y-%m-%d", "%d.%m.%Y"];

/// An absolute date or instant written in one of the forms the engine reads.
enum Written {
    Naive(NaiveDateTime, &'static str),
    Date(NaiveDate, &'static str),
    Offset(DateTime<FixedOffset>),
}

fn written(text: &str) -> Option<Written> {
    let t = text.trim();
    NAIVE_FORMATS
        .iter()
        .find_map(|f| {
            NaiveDateTime::parse_from_str(t, f)
                .ok()
                .map(|d| Written::Naive(d, f))
        })
        .or_else(|| {
            DATE_FORMATS.iter().find_map(|f| {
                NaiveDate::parse_from_str(t, f)
                    .ok()
                    .map(|d| Written::Date(d, f))
            })
        })
        .or_else(|| DateTime::parse_from_rfc3339(t).ok().map(Written::Offset))
}

/// The instant a written date or time stands for (a date: its local midnight).
fn instant_of(text: &str, tz: Tz) -> Option<DateTime<Utc>> {
    let local = |d: NaiveDateTime| tz.from_local_datetime(&d).earliest();
    match written(text)? {
        Written::Naive(d, _) => local(d).map(|d| d.to_utc()),
        Written::Date(d, _) => local(d.and_hms_opt(0, 0, 0)?).map(|d| d.to_utc()),
        Written::Offset(d) => Some(d.to_utc()),
    }
}

/// `t` moved forward by `days` in `tz`'s local time (the same wall-clock time, its offset
/// as on the new day). A wall-clock time the new day skips (the hour clocks go forward)
/// is pushed on by the gap, as clocks do: 02:30 becomes 03:30 summer time.
fn later(t: DateTime<FixedOffset>, days: u64, tz: Tz) -> Option<DateTime<FixedOffset>> {
    let local = t
        .with_timezone(&tz)
        .naive_local()
        .checked_add_days(Days::new(days))?;
    match tz.from_local_datetime(&local).earliest() {
        Some(moved) => Some(moved.fixed_offset()),
        None => {
            // The skipped wall-clock time read with the offset in force before the gap.
            let before = tz
                .from_local_datetime(&(local - chrono::TimeDelta::hours(6)))
                .earliest()?;
            let utc = local
                - chrono::TimeDelta::seconds(
                    before.fixed_offset().offset().local_minus_utc().into(),
                );
            Some(utc.and_utc().with_timezone(&tz).fixed_offset())
        }
    }
}

/// A written date or time moved forward by `days`, in the form it was written; `None` for
/// text that is not one.
fn shifted_text(text: &str, days: u64, tz: Tz) -> Option<String> {
    Some(match written(text)? {
        Written::Naive(d, f) => d.checked_add_days(Days::new(days))?.format(f).to_string(),
        Written::Date(d, f) => d.checked_add_days(Days::new(days))?.format(f).to_string(),
        Written::Offset(d) => later(d, days, tz)?.to_rfc3339(),
    })
}

/// Every string in a JSON value.
fn strings_mut(v: &mut Value, f: &mut impl FnMut(&mut String)) {
    match v {
        Value::String(s) => f(s),
        Value::Array(items) => items.iter_mut().for_each(|i| strings_mut(i, f)),
        Value::Object(map) => map.values_mut().for_each(|i| strings_mut(i, f)),
        _ => {}
    }
}

/// A scenario's workload made ready for a live run: its instants moved forward by whole
/// weeks and its call ids tagged.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub plans: Vec<CallPlan>,
    pub external: Vec<StaffBooking>,
    pub channel: Vec<ChannelAppointment>,
    pub calcom: MockConfig,
    pub weeks: u32,
}

/// The whole weeks that put the earliest of `instants` at least `margin` after `now`.
pub fn weeks_ahead(
    instants: impl IntoIterator<Item = DateTime<Utc>>,
    now: DateTime<Utc>,
    margin: Duration,
) -> u32 {
    let Some(earliest) = instants.into_iter().min() else {
        return 0;
    };
    let behind = (now + chrono::TimeDelta::from_std(margin).unwrap_or_default()) - earliest;
    let (behind, week) = (
        behind.num_milliseconds(),
        chrono::TimeDelta::weeks(1).num_milliseconds(),
    );
    if behind <= 0 {
        return 0;
    }
    u32::try_from((behind + week - 1) / week).unwrap_or(u32::MAX)
}

/// Plans the scenario's calls on `seed` and moves everything absolute forward so that it
/// lies after `now` (plus the longest minimum notice of its event types).
pub fn prepare(
    scenario: &Scenario,
    seed: u64,
    now: DateTime<Utc>,
    tag: &str,
) -> Result<Prepared, String> {
    if !scenario.staff.is_empty() {
        return Err(
            "[[staff]]: staff actions in the Cal.com app run only in the simulated world (`bookingsim run`), not against a live mock".into(),
        );
    }
    let tz = scenario.time_zone;
    let mut plans = plan(scenario, seed);
    let mut args: Vec<Vec<Value>> = plans
        .iter()
        .map(|p| {
            p.steps
                .iter()
                .map(|s| serde_json::from_str(s.args.get()).unwrap_or(Value::Null))
                .collect()
        })
        .collect();
    let mut instants: Vec<DateTime<Utc>> = Vec::new();
    for v in args.iter_mut().flatten() {
        strings_mut(v, &mut |s| instants.extend(instant_of(s, tz)));
    }
    instants.extend(scenario.external.iter().map(|e| e.start.to_utc()));
    instants.extend(
        scenario
            .channel
            .iter()
            .filter_map(|c| instant_of(&c.datetime, tz)),
    );
    instants.extend(scenario.calcom.bookings.iter().map(|b| b.start.to_utc()));
    let notice = scenario
        .calcom
        .event_types
        .iter()
        .map(|e| e.minimum_notice)
        .max()
        .unwrap_or_default();
    let weeks = weeks_ahead(instants, now, notice + Duration::from_secs(15 * 60));
    let days = u64::from(weeks) * 7;
    let shift = |s: &mut String| {
        if let Some(moved) = shifted_text(s, days, tz) {
            *s = moved;
        }
    };
    for (p, mut steps) in plans.iter_mut().zip(args) {
        let id = format!("{}-{tag}", p.id);
        for (step, mut v) in p.steps.iter_mut().zip(steps.iter_mut().map(std::mem::take)) {
            strings_mut(&mut v, &mut |s| {
                if *s == p.id {
                    s.clone_from(&id);
                } else {
                    shift(s);
                }
            });
            step.args = serde_json::value::to_raw_value(&v).map_err(|e| e.to_string())?;
        }
        p.id = id;
    }
    let mut external = scenario.external.clone();
    for e in &mut external {
        e.start = later(e.start, days, tz).ok_or("an external booking's start does not exist")?;
    }
    let mut channel = scenario.channel.clone();
    for c in &mut channel {
        shift(&mut c.datetime);
    }
    let mut calcom = scenario.calcom.clone();
    for b in &mut calcom.bookings {
        b.start = later(b.start, days, tz).ok_or("a booking's start does not exist")?;
    }
    Ok(Prepared {
        plans,
        external,
        channel,
        calcom,
        weeks,
    })
}

// ----- running -----

/// What a live run leaves: the record the rest of bookingsim reads, its own figures, and
/// the scenario as the record's offsets count (its start is the run's start).
pub struct LiveRun {
    pub record: RunRecord,
    /// The scenario as it ran: its start moved to the run's first instant.
    pub scenario: Scenario,
    pub engine: String,
    pub calcom: String,
    /// The wall-clock instant the run's millisecond offsets count from.
    pub origin: DateTime<Utc>,
    /// How many weeks every absolute date and instant of the scenario was moved forward.
    pub weeks_shifted: u32,
    /// The run's tag, appended to every call id.
    pub tag: String,
    /// Stopped early (Ctrl-C) or cut short by a failure: calls not yet started never ran,
    /// the settle was cut short.
    pub incomplete: bool,
    /// Calls that never sent a function call (stopped before their first): not in the
    /// record, so that outcomes and gates judge what ran.
    pub not_started: u64,
    /// What failed, if something did after calls had run (the results are still written,
    /// marked incomplete with this reason, before the run fails).
    pub failure: Option<String>,
    /// Whether the mock's ground truth was read at the end (if not, no invariant could be
    /// checked).
    pub truth_read: bool,
    /// The policy the engine said it runs (`GET /api/info`; the scenario's, or the run
    /// was refused); `None` when it does not say.
    pub engine_policy: Option<live_engine::Stated>,
    /// How the engine's answers read (`[live.answers]`): unreadable ones, calls without a
    /// 2xx answer, and the cross-check against the engine's own `error_type`.
    pub readings: crate::world::live_answers::Readings,
    /// What live could not check with what the engine wrote into Cal.com, and why.
    pub unchecked: Vec<String>,
}

/// Talks JSON to the mock's admin API.
struct Admin<'a> {
    client: &'a HttpClient,
    base: &'a str,
    token: Option<&'a simkit::access::Secret>,
}

impl Admin<'_> {
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, String> {
        self.send_text(method, path, body.map(Value::to_string).unwrap_or_default())
            .await
    }

    async fn send_text(&self, method: Method, path: &str, body: String) -> Result<Value, String> {
        let url = format!("{}/_mock/{path}", self.base);
        let mut request = Request::builder()
            .method(method)
            .uri(url.as_str())
            .header("content-type", "application/json");
        if let Some(bearer) = AdminTokens::bearer(self.token) {
            request = request.header("authorization", bearer);
        }
        let request = request
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| format!("{url}: {e}"))?;
        let response = self
            .client
            .send(request)
            .await
            .map_err(|e| format!("the mock Cal.com at {}: {e}", self.base))?;
        let answer: Value = response.json().unwrap_or(Value::Null);
        if response.status.as_u16() == 404 {
            return Err(format!(
                "{url}: 404: is {} a `mock-calcom serve`? (a live run needs the mock's /_mock/ API)",
                self.base
            ));
        }
        if response.status.as_u16() == 401 {
            return Err(format!(
                "{url}: 401: the mock's admin routes need its admin token: give it with --mock-admin-token-file FILE or MOCK_CALCOM_ADMIN_TOKEN"
            ));
        }
        if !response.status.is_success() {
            return Err(format!("{url}: {}: {answer}", response.status));
        }
        Ok(answer)
    }
}

/// Runs `scenario` live until its calls are done and it has settled, or until `stop`
/// resolves (then calls not yet started never start, answers in flight drain, and the
/// result is marked incomplete). `progress` hears (elapsed, expected, calls in flight).
pub async fn drive(
    scenario: &Scenario,
    options: &Options,
    stop: impl Future<Output = ()>,
    mut progress: impl FnMut(Duration, Duration, usize),
) -> Result<LiveRun, String> {
    check(scenario)?;
    let clock: SharedClock = Arc::new(TokioClock::real_time());
    let now = clock.now();
    let tag = format!("{:x}", now.timestamp_millis() % 0x1_0000_0000);
    let prepared = prepare(scenario, options.seed, now, &tag)?;
    let retell = &scenario.retell;
    let client = HttpClient::new(
        Network::Real,
        Timeouts {
            connect: Duration::from_secs(5),
            total: retell.timeout,
        },
    );
    let admin = Admin {
        client: &client,
        base: options.calcom.trim_end_matches('/'),
        token: options.admin_tokens.mock.as_ref(),
    };
    let engine = options.engine.trim_end_matches('/').to_owned();
    // The engine's own word on its policy, checked before anything is sent.
    let engine_policy = live_engine::stated(
        &client,
        &engine,
        AdminTokens::bearer(options.admin_tokens.engine.as_ref()),
    )
    .await?;
    if let Some(stated) = &engine_policy {
        live_engine::compare(
            &scenario.policy()?,
            &scenario.policy.preset,
            stated,
            &engine,
        )?;
    }

    // The scenario's Cal.com, with the engine subscribed to its webhooks.
    let mut world = prepared.calcom.clone();
    let webhook_url = options
        .webhook_url
        .clone()
        .unwrap_or_else(|| format!("{engine}/api/webhooks/calcom"));
    world.webhooks.subscriptions.push(engine_subscription(
        &webhook_url,
        options.webhook_secret.as_deref(),
    ));
    let world = serde_json::to_value(&world).map_err(|e| e.to_string())?;
    admin
        .send(
            Method::PUT,
            &format!("config?seed={}", options.seed),
            Some(&world),
        )
        .await?;
    let started = tokio::time::Instant::now();
    let origin = clock.now();

    let stopping = Arc::new(AtomicBool::new(false));
    let mut background = tokio::task::JoinSet::new();
    for e in prepared.external.clone() {
        let (client, base, stopping) = (client.clone(), admin.base.to_owned(), stopping.clone());
        let token = options.admin_tokens.mock.clone();
        background.spawn(async move {
            simkit::time::sleep_until(started + e.at).await;
            if stopping.load(Ordering::Relaxed) {
                return;
            }
            let admin = Admin {
                client: &client,
                base: &base,
                token: token.as_ref(),
            };
            let body = json!({
                "eventTypeId": e.event_type,
                "start": e.start.to_rfc3339(),
                "attendeeName": e.attendee,
            });
            if let Err(err) = admin.send(Method::POST, "bookings", Some(&body)).await {
                tracing::warn!(error = %err, "external booking refused");
            }
        });
    }
    for c in prepared.channel.clone() {
        let (client, url, stopping) = (
            client.clone(),
            format!("{engine}/api/appointments"),
            stopping.clone(),
        );
        let bearer = AdminTokens::bearer(options.admin_tokens.engine.as_ref());
        background.spawn(async move {
            simkit::time::sleep_until(started + c.at).await;
            if stopping.load(Ordering::Relaxed) {
                return;
            }
            let body = json!({ "service": c.service, "datetime": c.datetime, "customer_name": c.customer });
            let mut request =
                Request::post(url.as_str()).header("content-type", "application/json");
            if let Some(bearer) = &bearer {
                request = request.header("authorization", bearer);
            }
            let request = request
                .body(Full::new(Bytes::from(body.to_string())))
                .expect("valid request");
            match client.send(request).await {
                Err(e) => tracing::warn!(error = %e, "channel appointment failed"),
                Ok(r) if r.status.as_u16() == 401 => tracing::warn!(
                    "channel appointment refused: the engine needs its admin token (--engine-admin-token-file or BOOKING_ENGINE_ADMIN_TOKEN)"
                ),
                Ok(_) => {}
            }
        });
    }

    let target = Arc::new(Target {
        url: format!("{engine}/api/webhooks/retell/function"),
        balance: None,
        signer: options
            .retell_api_key
            .clone()
            .map(|key| (key, clock.clone())),
        live: Some((stopping.clone(), crate::world::pacer::Pacer::start())),
        answers: Default::default(),
    });
    let expected = workload_end(scenario, &prepared.plans) + scenario.settle;

    let mut stop = std::pin::pin!(stop);
    let mut running = tokio::task::JoinSet::new();
    let mut calls: Vec<(usize, CallRecord)> = Vec::new();
    let mut ticker = simkit::time::interval(Duration::from_secs(1));
    let mut plans = prepared.plans.into_iter().enumerate().peekable();
    let mut failure: Option<String> = None;
    // Open loop: each call starts at its instant, whatever the calls before it are doing.
    loop {
        // Calls are spawned a little ahead: each paces its own steps to the microsecond.
        let next = plans
            .peek()
            .map(|(_, p)| (started + p.start).checked_sub(AHEAD).unwrap_or(started));
        tokio::select! {
            biased;
            () = &mut stop, if !stopping.load(Ordering::Relaxed) => {
                stopping.store(true, Ordering::Relaxed);
            }
            () = async { simkit::time::sleep_until(next.unwrap_or(started)).await },
                if next.is_some() && !stopping.load(Ordering::Relaxed) => {
                while let Some((i, p)) = plans.next_if(|(_, p)| started + p.start <= tokio::time::Instant::now() + AHEAD) {
                    let (client, target) = (client.clone(), target.clone());
                    let retries = retell.retries;
                    running.spawn(async move { (i, call(client, p, started, retries, &target).await) });
                }
            }
            Some(done) = running.join_next() => match done {
                Ok(done) => calls.push(done),
                // A call's task that panicked: the run stops and says so, its results kept.
                Err(e) => {
                    failure.get_or_insert_with(|| format!("a call's task failed: {e}"));
                    stopping.store(true, Ordering::Relaxed);
                }
            },
            _ = ticker.tick() => progress(started.elapsed(), expected, running.len()),
            else => break,
        }
        if (next.is_none() || stopping.load(Ordering::Relaxed)) && running.is_empty() {
            break;
        }
    }
    // Staff bookings and channel entries due after the last call still happen; then
    // webhooks, sync jobs and holds run their course, as a simulated run settles.
    let settle = scenario.settle;
    // From here the end is known: the settle's, not the calls' worst case.
    let settled_at = started.elapsed() + settle;
    let mut rest = std::pin::pin!(async move {
        while background.join_next().await.is_some() {}
        simkit::time::sleep(settle).await;
    });
    if !stopping.load(Ordering::Relaxed) {
        loop {
            tokio::select! {
                biased;
                () = &mut stop => {
                    stopping.store(true, Ordering::Relaxed);
                    break;
                }
                () = &mut rest => break,
                _ = ticker.tick() => progress(started.elapsed(), settled_at, 0),
            }
        }
    }
    let stopped = stopping.load(Ordering::Relaxed);
    let simulated = started.elapsed();
    // From here on a failure ends the run with what it gathered, marked incomplete.
    let truth = match admin.send(Method::GET, "state", None).await.and_then(|v| {
        serde_json::from_value::<GroundTruth>(v)
            .map_err(|e| format!("the mock's ground truth: {e}"))
    }) {
        Ok(truth) => Some(truth),
        Err(e) => {
            failure.get_or_insert(format!("reading the mock's ground truth: {e}"));
            None
        }
    };

    calls.sort_by_key(|(i, _)| *i);
    let mut calls: Vec<CallRecord> = calls.into_iter().map(|(_, c)| c).collect();
    // Calls never started (Ctrl-C before their first function call) are counted apart.
    let mut not_started = plans.count() as u64;
    if stopped {
        let before = calls.len();
        calls.retain(|c| !c.steps.is_empty());
        not_started += (before - calls.len()) as u64;
    }
    let mut timed = scenario.clone();
    timed.start = origin.with_timezone(&scenario.time_zone).naive_local();
    let catalog = timed.catalog();
    // What was said, read with the scenario's answer profile; what was asked, from the
    // request each call sent. Nothing below reads a field only this repository's engine sends.
    let mut readings = crate::world::live_answers::Readings::default();
    let own = crate::world::live_answers::read_all(
        &mut calls,
        &scenario.live.answers,
        &catalog,
        origin,
        &mut readings,
    );
    // Refusals are judged by the mock: first the questions, then its answers.
    let mut asked = Asked::default();
    judge::judge_refusals(&mut calls, &mut asked, &catalog, origin);
    // In pages that fit the mock's body limit, however many calls the run had.
    let mut answers: Vec<bool> = Vec::new();
    if truth.is_some() {
        for page in live_pages::pages(&asked.queries, prepared.calcom.api.max_body_bytes) {
            let answer = admin
                .send_text(Method::POST, "bookable", page)
                .await
                .and_then(|a| {
                    serde_json::from_value::<Vec<bool>>(a["data"].clone())
                        .map_err(|e| format!("the mock's answer to /_mock/bookable: {e}"))
                });
            match answer {
                Ok(a) => answers.extend(a),
                Err(e) => {
                    failure.get_or_insert(format!("judging refusals: {e}"));
                    break;
                }
            }
        }
    }
    let answered: BTreeMap<_, _> = asked.queries.into_iter().zip(answers).collect();
    judge::judge_refusals(&mut calls, Answered(&answered), &catalog, origin);
    // Cal.com's holds and the engine's own are not seen from outside: every hold reads as
    // a stale listing here.
    judge::judge_unavailable(&mut calls, Answered(&answered), &[], &catalog, origin);

    let mut truth = truth;
    let mut unchecked = Vec::new();
    if let Some(truth) = truth.as_mut() {
        crate::world::live_answers::judge_from_truth(
            &mut calls,
            truth,
            &prepared.calcom,
            &catalog,
            origin,
        );
        let anonymous = crate::world::live_answers::infer_services(truth, &calls, &catalog);
        if anonymous > 0 && catalog.services.iter().any(|s| s.is_compound()) {
            unchecked.push(format!(
                "partial_compound: {anonymous} Cal.com booking(s) made through the API carry neither `call_id` nor `service` metadata, so their segments cannot be grouped into one booking (not checked for them)"
            ));
        }
    }
    crate::world::live_answers::cross_check(&calls, &own, &mut readings.cross_check);
    let truth_read = truth.is_some();
    let record = RunRecord::seen_from_outside(calls, truth.unwrap_or_default(), simulated);
    Ok(LiveRun {
        record,
        scenario: timed,
        engine: options.engine.clone(),
        calcom: options.calcom.clone(),
        origin,
        weeks_shifted: prepared.weeks,
        tag,
        incomplete: stopped || failure.is_some(),
        not_started,
        failure,
        truth_read,
        engine_policy,
        readings,
        unchecked,
    })
}

/// How long before its instant a call's task is started.
const AHEAD: Duration = Duration::from_millis(50);

use crate::world::live_pages::Query;

/// Records what the judge asks (answering "free" for now).
#[derive(Default)]
struct Asked {
    queries: Vec<Query>,
}

impl Bookable for &mut Asked {
    fn bookable_at(&mut self, id: u64, start: DateTime<Utc>, at: DateTime<Utc>) -> bool {
        self.queries.push((id, start, at));
        true
    }
}

/// The mock's answers to what was asked.
struct Answered<'a>(&'a BTreeMap<Query, bool>);

impl Bookable for Answered<'_> {
    fn bookable_at(&mut self, id: u64, start: DateTime<Utc>, at: DateTime<Utc>) -> bool {
        self.0.get(&(id, start, at)).copied().unwrap_or(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalogue(name: &str) -> Scenario {
        let file = format!("{}/../scenarios/{name}.toml", env!("CARGO_MANIFEST_DIR"));
        Scenario::parse(&std::fs::read_to_string(file).unwrap(), name).unwrap()
    }

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    #[test]
    fn whole_weeks_put_the_earliest_instant_after_now() {
        let now = utc("2026-12-01T13:00:00Z");
        let day = Duration::from_secs(86_400);
        assert_eq!(
            weeks_ahead([utc("2026-12-02T09:00:00Z")], now, Duration::ZERO),
            0
        );
        assert_eq!(
            weeks_ahead([utc("2026-12-01T12:00:00Z")], now, Duration::ZERO),
            1
        );
        assert_eq!(
            weeks_ahead([utc("2025-11-25T11:00:00Z")], now, Duration::ZERO),
            54
        );
        assert_eq!(
            weeks_ahead([utc("2026-12-02T09:00:00Z")], now, day),
            1,
            "within the notice"
        );
        assert_eq!(weeks_ahead([], now, day), 0);
    }

    #[test]
    fn dates_keep_their_form_weekday_and_local_time() {
        let tz = chrono_tz::Europe::Berlin;
        let days = 7 * 19;
        assert_eq!(shifted_text("2025-11-25", days, tz).unwrap(), "2026-04-07");
        assert_eq!(shifted_text("25.11.2025", days, tz).unwrap(), "07.04.2026");
        assert_eq!(
            shifted_text("2025-11-25T12:00", days, tz).unwrap(),
            "2026-04-07T12:00"
        );
        assert_eq!(
            shifted_text("2025-11-25 12:00:30", days, tz).unwrap(),
            "2026-04-07 12:00:30"
        );
        // Across the change to summer time: 12:00 in Berlin stays 12:00, the offset follows.
        assert_eq!(
            shifted_text("2025-11-25T12:00:00+01:00", days, tz).unwrap(),
            "2026-04-07T12:00:00+02:00"
        );
        // Into the hour the clocks skip: pushed on by the gap, as the clocks are.
        assert_eq!(
            shifted_text("2032-02-29T02:00:00+01:00", 28, tz).unwrap(),
            "2032-03-28T03:00:00+02:00"
        );
        assert_eq!(
            shifted_text("2032-02-29T02:00", 28, tz).unwrap(),
            "2032-03-28T02:00"
        );
        for words in ["morgen", "Dienstag", "25.11.", "12:00", "Dauerwelle"] {
            assert_eq!(shifted_text(words, days, tz), None, "{words}");
        }
    }

    proptest::proptest! {
        /// Any date or time, in any form the engine reads, moved by any whole number of
        /// weeks: the same form, the same weekday, the same local time, later by the weeks.
        #[test]
        fn any_written_instant_keeps_its_form_weekday_and_local_time(
            days in 0i64..4000, minutes in 0u32..1440, weeks in 0u64..200, form in 0usize..7,
        ) {
            use chrono::{Datelike, Timelike};
            let tz = chrono_tz::Europe::Berlin;
            let local = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap()
                + chrono::TimeDelta::days(days);
            let local = local.and_hms_opt(minutes / 60, minutes % 60, 0).unwrap();
            let Some(zoned) = tz.from_local_datetime(&local).earliest() else {
                return Ok(()); // a time the clocks skip
            };
            let text = match form {
                0..=3 => local.format(NAIVE_FORMATS[form]).to_string(),
                4 | 5 => local.date().format(DATE_FORMATS[form - 4]).to_string(),
                _ => zoned.fixed_offset().to_rfc3339(),
            };
            let moved = shifted_text(&text, weeks * 7, tz).unwrap();
            let (before, after) = (instant_of(&text, tz).unwrap(), instant_of(&moved, tz));
            let Some(after) = after else {
                // A local time moved into the hour the clocks skip keeps its words.
                proptest::prop_assert!(form < 6, "{} -> {}", text, moved);
                return Ok(());
            };
            let (b, a) = (before.with_timezone(&tz), after.with_timezone(&tz));
            let target = b.naive_local() + chrono::TimeDelta::days(i64::try_from(weeks * 7).unwrap());
            if form == 6 && tz.from_local_datetime(&target).earliest().is_none() {
                // Moved into the skipped hour: pushed on by the gap, the same instant later.
                proptest::prop_assert_eq!(
                    (a.date_naive() - b.date_naive()).num_days(),
                    i64::try_from(weeks * 7).unwrap()
                );
                proptest::prop_assert_eq!(
                    (a.hour(), a.minute()),
                    (b.hour() + 1, b.minute()),
                    "{} -> {}", text, moved
                );
                return Ok(());
            }
            proptest::prop_assert_eq!(b.weekday(), a.weekday(), "{} -> {}", text, moved);
            proptest::prop_assert_eq!((b.hour(), b.minute()), (a.hour(), a.minute()));
            proptest::prop_assert_eq!(
                (a.date_naive() - b.date_naive()).num_days(),
                i64::try_from(weeks * 7).unwrap()
            );
            proptest::prop_assert_eq!(moved.len(), text.len(), "{} -> {}", text, moved);
        }
    }

    #[test]
    fn a_scenario_moves_forward_whole_and_its_calls_are_tagged() {
        let scenario = catalogue("incident-741");
        let now = utc("2026-12-01T13:00:00Z");
        let p = prepare(&scenario, 1, now, "t1").unwrap();
        assert_eq!(p.weeks, 54);
        assert_eq!(p.plans[0].id, "call_741-t1");
        let args: Value = serde_json::from_str(p.plans[0].steps[0].args.get()).unwrap();
        assert_eq!(args["datum"], "2026-12-08");
        assert_eq!(args["call_id"], "call_741-t1");
        let booking: Value = serde_json::from_str(p.plans[0].steps[1].args.get()).unwrap();
        assert_eq!(booking["datetime"], "2026-12-08T12:00");
        // The staff booking moved with it: the same Tuesday, the same local noon.
        assert_eq!(
            p.external[0].start.to_rfc3339(),
            "2026-12-08T12:00:00+01:00"
        );
        assert!(p.external[0].start.to_utc() > now);
    }

    #[test]
    fn engine_faults_are_refused_naming_the_fault() {
        let scenario = catalogue("engine-crash-mid-booking");
        let err = check(&scenario).unwrap_err();
        assert!(err.starts_with("faults[0]: an engine crash"), "{err}");
    }
}
