//! One run: a turmoil simulation with three hosts (`calcom`, `engine`, `callers`); every
//! voice call is a task on `callers`, every external booking a plain call on the mock.

use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use booking_engine::calcom::CalcomSample;
use booking_engine::engine::EngineStats;
use booking_engine::store::{Appointment, LocalReservation};
use booking_engine::{Backends, Engine, EngineSettings, Policy};
use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use mock_calcom::config::SubscriptionConfig;
use mock_calcom::mock::{ExternalBooking, RequestStats};
use mock_calcom::{GroundTruth, MockCalcom};
use serde_json::{Value, json};
use simkit::SeedStreams;
use simkit::transport::{HttpClient, Listener, Network, Timeouts};

use crate::scenario::workers::Skew;
use crate::scenario::{Fault, Scenario};
use crate::world::judge;
use crate::world::record::{CallRecord, Completion, RunRecord, StepRecord};
use crate::world::workers;
use crate::world::workload::{CallPlan, plan, workload_end};

/// The engine's webhook secret in every simulated world.
const WEBHOOK_SECRET: &str = "whsec_bookingsim";

/// The engine's subscription to Cal.com's booking webhooks, at `url`, signed with `secret`.
pub fn engine_subscription(url: &str, secret: Option<&str>) -> SubscriptionConfig {
    SubscriptionConfig {
        subscriber_url: url.to_owned(),
        triggers: vec![
            "BOOKING_CREATED".into(),
            "BOOKING_CANCELLED".into(),
            "BOOKING_RESCHEDULED".into(),
        ],
        secret: secret.map(Into::into),
        active: true,
    }
}

/// What the mock and the engine hold at the end.
struct Final {
    truth: GroundTruth,
    calcom_requests: RequestStats,
    appointments: Vec<Appointment>,
    reservations: Vec<LocalReservation>,
    engine: EngineStats,
    calcom_samples: Vec<CalcomSample>,
    lock_waits: Vec<u64>,
    locks_held: Vec<String>,
}

fn slot<T>() -> Arc<Mutex<Option<T>>> {
    Arc::new(Mutex::new(None))
}

/// Runs `scenario` with `seed` under `policy`.
pub fn run(scenario: &Scenario, seed: u64, policy: &Policy) -> Result<RunRecord, String> {
    run_with_progress(scenario, seed, policy, &mut |_, _| {})
}

/// How the step loop treats idle time (no message in flight, no task woken, no timer due).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdleTime {
    /// Advance straight to the last tick before the earliest deadline (one step), and
    /// leave out of each step the hosts with nothing to do in it (`Sim::step_lazy`).
    Skip,
    /// [`IdleTime::Skip`], polling every host every step (`Sim::step_by`): the proof, for
    /// tests, that leaving hosts out changes nothing.
    SkipPollingEveryHost,
    /// Step through it tick by tick, as turmoil alone does, and fail the run if anything
    /// happens where a skip would have been taken: the proof, for tests, that skipping
    /// never passes over work (an unregistered timer, a wake it cannot see).
    Verify,
}

/// [`run`], stepping idle time tick by tick and checking that skipping it would have
/// been safe ([`IdleTime::Verify`]).
pub fn run_verifying_idle_time(
    scenario: &Scenario,
    seed: u64,
    policy: &Policy,
) -> Result<RunRecord, String> {
    run_in(scenario, seed, policy, IdleTime::Verify, &mut |_, _| {})
}

/// [`run`], polling every running host in every step ([`IdleTime::SkipPollingEveryHost`]).
pub fn run_polling_every_host(
    scenario: &Scenario,
    seed: u64,
    policy: &Policy,
) -> Result<RunRecord, String> {
    run_in(
        scenario,
        seed,
        policy,
        IdleTime::SkipPollingEveryHost,
        &mut |_, _| {},
    )
}

/// Called now and then with (simulated so far, simulated time expected in all).
pub type Progress<'a> = &'a mut dyn FnMut(Duration, Duration);

/// [`run`], reporting progress as it goes.
pub fn run_with_progress(
    scenario: &Scenario,
    seed: u64,
    policy: &Policy,
    progress: Progress<'_>,
) -> Result<RunRecord, String> {
    run_in(scenario, seed, policy, IdleTime::Skip, progress)
}

fn run_in(
    scenario: &Scenario,
    seed: u64,
    policy: &Policy,
    idle_time: IdleTime,
    progress: Progress<'_>,
) -> Result<RunRecord, String> {
    let plans = plan(scenario, seed);
    let start = scenario.start_utc();
    let epoch = UNIX_EPOCH
        + Duration::from_millis(
            u64::try_from(start.timestamp_millis()).map_err(|_| "start before 1970")?,
        );
    let workload_end = workload_end(scenario, &plans);
    // Deadlines left on this thread by an earlier run (one that failed mid-way) are not ours.
    simkit::time::forget_all();
    let mut sim = turmoil::Builder::new()
        .epoch(epoch)
        .rng_seed(seed)
        .tick_duration(scenario.tick)
        // turmoil panics when a listener's backlog or a socket's buffer overflows (64 by
        // default); a storm of a thousand calls a tick must queue, not crash the run.
        .tcp_capacity(1 << 16)
        .simulation_duration(
            workload_end + scenario.settle + longest_hold(policy) + Duration::from_secs(600),
        )
        .min_message_latency(scenario.network.min_latency)
        .max_message_latency(scenario.network.max_latency)
        .build();
    let streams = SeedStreams::new(seed);

    let mock_slot = slot::<Arc<MockCalcom>>();
    let mut calcom_config = scenario.calcom.clone();
    calcom_config
        .webhooks
        .subscriptions
        .push(engine_subscription(
            "http://engine/api/webhooks/calcom",
            Some(WEBHOOK_SECRET),
        ));
    let put = mock_slot.clone();
    let calcom_skew = scenario.clocks.calcom;
    sim.host("calcom", move || {
        let config = calcom_config.clone();
        let put = put.clone();
        async move {
            let mock = MockCalcom::new(
                config,
                workers::clock(calcom_skew, start),
                streams.derive("calcom"),
                Network::Simulated,
            );
            *put.lock().expect("slot") = Some(mock.clone());
            let listener = Listener::bind(
                Network::Simulated,
                (std::net::Ipv4Addr::UNSPECIFIED, 80).into(),
            )
            .await?;
            mock.serve(listener, std::future::pending()).await;
            Ok(())
        }
    });

    let workers = scenario.engine.workers.max(1);
    let engine_slots: Vec<Arc<Mutex<Option<Arc<Engine>>>>> =
        (0..workers).map(|_| slot::<Arc<Engine>>()).collect();
    let engine_slot = engine_slots[0].clone();
    let settings = EngineSettings {
        catalog: scenario.catalog(),
        policy: policy.clone(),
        calcom_url: "http://calcom".into(),
        calcom_api_key: "cal_live_bookingsim".into(),
        webhook_secret: Some(WEBHOOK_SECRET.into()),
        retell_api_key: None,
    };
    let backends = Backends {
        infra: infra_faults(&scenario.faults, start),
        ..Backends::in_memory()
    };
    let lengths: std::collections::BTreeMap<u64, u32> = scenario
        .calcom
        .event_types
        .iter()
        .map(|e| (e.id, e.length_minutes))
        .collect();
    for (i, put) in (0..workers).zip(engine_slots.iter().cloned()) {
        let settings = settings.clone();
        let lengths = lengths.clone();
        let backends = backends.clone();
        let skew = scenario.clocks.worker(i);
        let stalls = workers::stalls(&scenario.engine.faults, i);
        sim.host(workers::host(i), move || {
            let settings = settings.clone();
            let lengths = lengths.clone();
            let put = put.clone();
            let backends = backends.clone();
            let stalls = stalls.clone();
            async move {
                let engine = Engine::with_backends(
                    settings,
                    workers::clock(skew, start),
                    workers::streams(streams, i),
                    Network::Simulated,
                    backends,
                );
                if !stalls.is_empty() {
                    engine.set_stall_gate(workers::stall_gate(stalls));
                }
                if workers > 1 {
                    engine.set_worker(&workers::host(i));
                }
                // Redis and the database keep true time, whatever the worker's clock says.
                if !skew.is_zero() {
                    engine.set_store_clock(Arc::new(simkit::SimClock::new()));
                }
                // What Cal.com books for each event type (the scenario's own world; validation
                // refuses a catalogue that says otherwise), as `serve` learns it from Cal.com.
                engine.set_event_type_minutes(lengths.clone());
                *put.lock().expect("slot") = Some(engine.clone());
                let listener = Listener::bind(
                    Network::Simulated,
                    (std::net::Ipv4Addr::UNSPECIFIED, 80).into(),
                )
                .await?;
                booking_engine::server::serve(engine, listener, std::future::pending()).await;
                Ok(())
            }
        });
    }

    let records = Arc::new(Mutex::new(Vec::<CallRecord>::new()));
    let sink = records.clone();
    let finals = slot::<Final>();
    let final_sink = finals.clone();
    let engine_for_callers = engine_slot.clone();
    let all_engines = engine_slots.clone();
    // One worker: every request to `engine`, as always; more: through the balancer.
    let balance = (workers > 1).then(|| {
        Arc::new(workers::Balance::new(
            workers,
            scenario.engine.balancer,
            streams,
        ))
    });
    let channel_balance = balance.clone();
    let clocks = scenario.clocks.clone();
    let externals = scenario.external.clone();
    let staff = scenario.staff.clone();
    let channel = scenario.channel.clone();
    let retell = scenario.retell.clone();
    let settle = scenario.settle;
    let mock_for_callers = mock_slot.clone();
    let catalog = scenario.catalog();
    sim.client("callers", async move {
        let client = HttpClient::new(
            Network::Simulated,
            Timeouts {
                connect: Duration::from_secs(5),
                total: retell.timeout,
            },
        );
        let started = tokio::time::Instant::now();
        let mut tasks = Vec::new();
        for e in externals {
            let mock = mock_for_callers.clone();
            tasks.push(tokio::spawn(async move {
                simkit::time::sleep_until(started + e.at).await;
                let mock = mock.lock().expect("slot").clone();
                if let Some(mock) = mock {
                    let result = mock.book_external(ExternalBooking {
                        event_type_id: e.event_type,
                        start: e.start.to_utc(),
                        length_minutes: None,
                        host_id: None,
                        attendee_name: e.attendee.clone(),
                        metadata: Default::default(),
                        force: false,
                    });
                    if let Err(refusal) = result {
                        tracing::warn!(?refusal, "external booking refused");
                    }
                }
            }));
        }
        tasks.extend(super::staff::spawn(&staff, &mock_for_callers, started));
        for c in channel {
            let client = client.clone();
            let balance = channel_balance.clone();
            tasks.push(tokio::spawn(async move {
                simkit::time::sleep_until(started + c.at).await;
                let body = json!({ "service": c.service, "datetime": c.datetime, "customer_name": c.customer });
                let url = balance.map_or_else(
                    || "http://engine/api/appointments".to_owned(),
                    |b| b.url("/api/appointments"),
                );
                let request = Request::post(url)
                    .header("content-type", "application/json")
                    .body(Full::new(Bytes::from(body.to_string())))
                    .expect("valid request");
                if let Err(e) = client.send(request).await {
                    tracing::warn!(error = %e, "channel appointment failed");
                }
            }));
        }
        // Calls are spawned when they start and reaped as they end, so memory follows the
        // calls in progress, not the length of the run (plans are sorted by start).
        let mut running = tokio::task::JoinSet::new();
        let mut calls: Vec<(usize, CallRecord)> = Vec::with_capacity(plans.len());
        let target = Arc::new(Target {
            balance,
            ..Target::simulated()
        });
        for (i, p) in plans.into_iter().enumerate() {
            simkit::time::sleep_until(started + p.start).await;
            while let Some(done) = running.try_join_next() {
                calls.push(done?);
            }
            let client = client.clone();
            let retries = retell.retries;
            let target = target.clone();
            running.spawn(async move { (i, call(client, p, started, retries, &target).await) });
        }
        while let Some(done) = running.join_next().await {
            calls.push(done?);
        }
        calls.sort_by_key(|(i, _)| *i);
        let mut calls: Vec<CallRecord> = calls.into_iter().map(|(_, c)| c).collect();
        for t in tasks {
            t.await?;
        }
        simkit::time::sleep(settle).await;
        let mock = mock_for_callers.lock().expect("slot").clone();
        let engine = engine_for_callers.lock().expect("slot").clone();
        // A settled run holds nothing; a hold made in a short settle's last minutes is
        // still its caller's, not a leak: the run goes on until every hold has lapsed.
        if let (Some(mock), Some(engine)) = (&mock, &engine)
            && let Some(until) = last_live_hold(mock, engine)
        {
            let left = (until - mock.now()).to_std().unwrap_or_default();
            simkit::time::sleep(left + Duration::from_millis(1)).await;
        }
        // The ground truth is read here, inside the simulation, at its final instant.
        if let Some(mock) = &mock {
            judge::judge_refusals(&mut calls, &**mock, &catalog, start);
            let held = engine
                .as_ref()
                .map(|e| e.reservations.reservations())
                .unwrap_or_default();
            judge::judge_unavailable(&mut calls, &**mock, &held, &catalog, start);
        }
        *sink.lock().expect("records") = calls;
        if let (Some(mock), Some(engine)) = (mock, engine) {
            let engines: Vec<(Arc<Engine>, Skew)> = (0..)
                .zip(&all_engines)
                .filter_map(|(i, s)| {
                    let engine = s.lock().expect("slot").clone()?;
                    Some((engine, clocks.worker(i)))
                })
                .collect();
            let (stats, calcom_samples, lock_waits) = workers::merged(&engines, start);
            *final_sink.lock().expect("final") = Some(Final {
                truth: mock.ground_truth(),
                calcom_requests: mock.request_stats(),
                appointments: engine.appointments.appointments(),
                reservations: engine.reservations.reservations(),
                engine: stats,
                calcom_samples,
                lock_waits,
                locks_held: engine.held_locks(),
            });
        }
        Ok(())
    });
    let expected = workload_end + scenario.settle;
    drive(
        &mut sim,
        &scenario.faults,
        &scenario.engine,
        scenario.tick,
        idle_time,
        expected,
        progress,
    )
    .map_err(|e| format!("simulation failed: {e}"))?;
    let simulated = sim.elapsed();

    let last = finals
        .lock()
        .expect("final")
        .take()
        .ok_or("the mock or the engine never started")?;
    let calls = std::mem::take(&mut *records.lock().expect("records"));
    Ok(RunRecord {
        calls,
        truth: last.truth,
        calcom_requests: last.calcom_requests,
        appointments: last.appointments,
        reservations: last.reservations,
        engine: last.engine,
        calcom_samples: last.calcom_samples,
        lock_waits: last.lock_waits,
        locks_held: last.locks_held,
        simulated,
        engine_visible: true,
    })
}

/// The scenario's Redis and database faults, on the simulation's own clock (whatever the
/// engine's says), from the run's start instant.
fn infra_faults(
    faults: &[Fault],
    start: chrono::DateTime<chrono::Utc>,
) -> Arc<booking_engine::infra::Infra> {
    let at = |d: Duration| start + chrono::TimeDelta::from_std(d).unwrap_or_default();
    let windows: Vec<booking_engine::infra::Window> = faults
        .iter()
        .filter_map(Fault::infra)
        .map(|f| booking_engine::infra::Window {
            part: f.part,
            mode: f.mode,
            from: at(f.at),
            until: at(f.at + f.duration),
            latency: f.latency.unwrap_or_default(),
            lost_writes: f.lost_writes.unwrap_or_default(),
        })
        .collect();
    if windows.is_empty() {
        return booking_engine::infra::Infra::none();
    }
    booking_engine::infra::Infra::new(windows, Arc::new(simkit::SimClock::new()))
}

/// What the step loop does to the world, and when.
#[derive(Debug, Clone, Copy)]
enum WorldEvent {
    Crash,
    Restart,
    Cut,
    Heal,
    /// One worker dies, or comes back.
    CrashWorker(u32),
    RestartWorker(u32),
}

/// The end of the last hold still live, in Cal.com or in the engine's store.
fn last_live_hold(mock: &MockCalcom, engine: &Engine) -> Option<chrono::DateTime<chrono::Utc>> {
    let now = mock.now();
    let calcom = mock.with_world(|w| {
        w.reservations()
            .filter(|r| r.state(now) == "held")
            .map(|r| r.until)
            .max()
    });
    let local = engine
        .reservations
        .reservations()
        .into_iter()
        .filter(|r| r.state == "held" && r.until > now)
        .map(|r| r.until)
        .max();
    calcom.max(local)
}

/// How long a hold the policy makes lasts at most (the run's settle may outlast it).
fn longest_hold(policy: &Policy) -> Duration {
    let calcom = policy
        .calcom_reservation_minutes
        .map_or(Duration::ZERO, |m| Duration::from_secs(u64::from(m) * 60));
    calcom.max(policy.local_reservation_ttl.unwrap_or_default())
}

/// Steps the simulation until every call is done, applying the faults at their instants.
/// Idle time costs one step: when no message is in flight, it advances straight to the
/// last tick before the earliest timer (or fault) is due, which every host would otherwise
/// spend polling for nothing, tick by tick, with the same results.
fn drive(
    sim: &mut turmoil::Sim<'_>,
    faults: &[Fault],
    engine: &crate::scenario::workers::EngineSpec,
    tick: Duration,
    mode: IdleTime,
    expected: Duration,
    progress: Progress<'_>,
) -> turmoil::Result {
    let mut events: Vec<(Duration, WorldEvent)> = faults
        .iter()
        .flat_map(|f| match *f {
            Fault::EngineCrash { at, restart_after } => vec![
                (at, WorldEvent::Crash),
                (at + restart_after, WorldEvent::Restart),
            ],
            Fault::Partition { at, duration } => {
                vec![(at, WorldEvent::Cut), (at + duration, WorldEvent::Heal)]
            }
            // The engine meets them itself, round trip by round trip (`Backends::infra`).
            Fault::Redis { .. } | Fault::Database { .. } => Vec::new(),
        })
        .collect();
    events.extend(
        engine
            .faults
            .iter()
            .filter_map(|f| match *f {
                crate::scenario::workers::WorkerFault::WorkerCrash {
                    worker,
                    at,
                    restart_after,
                } => Some([
                    (at, WorldEvent::CrashWorker(worker)),
                    (at + restart_after, WorldEvent::RestartWorker(worker)),
                ]),
                // A stall is the worker's own gate (`workers::stall_gate`), nothing the step loop does.
                crate::scenario::workers::WorkerFault::WorkerStall { .. } => None,
            })
            .flatten(),
    );
    let hosts: Vec<String> = (0..engine.workers.max(1)).map(workers::host).collect();
    events.sort_by_key(|(at, _)| *at);
    let mut events = events.into_iter().peekable();
    let mut steps: u64 = 0;
    // Verify: (until, earliest deadline then, since, earliest delivery then) of the last idle
    // stretch a skip would take.
    let mut quiet: (Duration, Option<Duration>, Duration, Option<Duration>) =
        (Duration::ZERO, None, Duration::ZERO, None);
    loop {
        let mut faulted = false;
        while let Some((_, event)) = events.next_if(|(at, _)| *at <= sim.elapsed()) {
            faulted = true;
            tracing::debug!(?event, at = ?sim.elapsed(), "fault");
            match event {
                WorldEvent::Crash => hosts.iter().for_each(|h| sim.crash(h.as_str())),
                WorldEvent::Restart => hosts.iter().for_each(|h| sim.bounce(h.as_str())),
                WorldEvent::Cut => hosts
                    .iter()
                    .for_each(|h| sim.partition(h.as_str(), "calcom")),
                WorldEvent::Heal => hosts.iter().for_each(|h| sim.repair(h.as_str(), "calcom")),
                WorldEvent::CrashWorker(i) => sim.crash(workers::host(i)),
                // Back only if still down (an `engine_crash`'s restart may have brought it back).
                WorldEvent::RestartWorker(i) => {
                    if !sim.is_host_running(workers::host(i)) {
                        sim.bounce(workers::host(i));
                    }
                }
            }
        }
        let idle = idle_ticks(sim, tick, events.peek().map(|(at, _)| *at));
        let finished = match mode {
            // A host with nothing to do in the step (no task woken, no message, no
            // timer of its own due) is left out, its clock moved on without polling
            // its tasks: in most steps one host of three has work.
            IdleTime::SkipPollingEveryHost => sim.step_by(tick * idle.max(1))?,
            IdleTime::Skip => sim.step_lazy(tick * idle.max(1), &simkit::time::earliest_due_on)?,
            IdleTime::Verify => {
                let now = sim.elapsed();
                let delivery = sim.next_delivery().map(|d| now + d);
                // Nothing woken, no timer come or gone, no message sent or delivered: up to
                // the stretch's end for the messages (the last step of a skip must not
                // deliver one; it arrives in the step after).
                let within = now < quiet.0
                    && (sim.has_woken_hosts()
                        || simkit::time::earliest_due() != quiet.1
                        || delivery != quiet.3);
                // (A fault applied at the stretch's end may drop messages: not the skip's doing.)
                let at_end = now == quiet.0 && now > quiet.2 && !faulted && delivery != quiet.3;
                if within || at_end {
                    return Err(format!(
                        "idle time skipped at {:?} up to {:?} would have skipped over work at {now:?}",
                        quiet.2, quiet.0
                    )
                    .into());
                }
                if idle > 1 && now >= quiet.0 {
                    quiet = (
                        now + tick * idle,
                        simkit::time::earliest_due(),
                        now,
                        delivery,
                    );
                }
                sim.step()?
            }
        };
        if finished {
            return Ok(());
        }
        steps += 1;
        if steps.is_multiple_of(2000) {
            progress(sim.elapsed(), expected);
        }
    }
}

/// Where a call's function calls go, and how Retell signs them.
pub struct Target {
    /// The custom-function webhook's URL.
    pub url: String,
    /// Several engine workers: the balancer that picks each request's (the URL's path on it).
    pub balance: Option<Arc<workers::Balance>>,
    /// Retell's API key and the clock its signatures are dated by (`x-retell-signature`).
    pub signer: Option<(String, simkit::SharedClock)>,
    /// Live only: set when the run is stopped (steps not yet sent are not sent), and what
    /// wakes a step at its instant to the microsecond.
    pub live: Option<(
        Arc<std::sync::atomic::AtomicBool>,
        crate::world::pacer::Pacer,
    )>,
    /// The run's answers, each text kept once.
    pub answers: crate::world::record::Answers,
}

impl Target {
    /// The engine in the simulation, unsigned.
    pub fn simulated() -> Self {
        Target {
            url: "http://engine/api/webhooks/retell/function".into(),
            balance: None,
            signer: None,
            live: None,
            answers: Default::default(),
        }
    }
}

/// How many ticks from now nothing can happen in: no host is woken, no message is
/// delivered, and no timer (nor the next fault) is due before their end. A timer due inside
/// a tick fires in that tick's step, as it would have; one due at a tick's end wakes its
/// task at the next. A message in flight is delivered in the step whose end reaches its
/// instant (at that step's start, as stepping tick by tick does), so the skip ends at the
/// last tick before it: while a message is on the wire and nothing else happens, every host
/// would only have been left out of step after step.
fn idle_ticks(sim: &turmoil::Sim<'_>, tick: Duration, next_fault: Option<Duration>) -> u32 {
    let now = sim.elapsed();
    let due = simkit::time::earliest_due();
    let delivery = sim.next_delivery();
    if tick.is_zero() || (due.is_none() && delivery.is_none()) || sim.has_woken_hosts() {
        return 1;
    }
    let mut ticks = u128::MAX;
    if let Some(due) = due {
        if due <= now + tick {
            return 1;
        }
        ticks = (due - now).as_nanos() / tick.as_nanos();
    }
    if let Some(delivery) = delivery {
        // The last whole tick whose end is still before the delivery.
        ticks = ticks.min(
            delivery
                .as_nanos()
                .div_ceil(tick.as_nanos())
                .saturating_sub(1),
        );
    }
    if let Some(at) = next_fault {
        // Faults apply at the first tick boundary at or after their instant.
        ticks = ticks.min(
            at.saturating_sub(now)
                .as_nanos()
                .div_ceil(tick.as_nanos())
                .max(1),
        );
    }
    u32::try_from(ticks).unwrap_or(u32::MAX).max(1)
}

/// Retell's custom-function request body, written in one pass: the arguments are JSON text
/// already (a `json!` value would parse them back only to write them out again).
fn invocation(function: &str, call_id: &str, args: &serde_json::value::RawValue) -> String {
    #[derive(serde::Serialize)]
    struct Call<'a> {
        call_id: &'a str,
    }
    #[derive(serde::Serialize)]
    struct Invocation<'a> {
        name: &'a str,
        call: Call<'a>,
        args: &'a serde_json::value::RawValue,
    }
    serde_json::to_string(&Invocation {
        name: function,
        call: Call { call_id },
        args,
    })
    .expect("strings and JSON text serialize")
}

/// One voice call: its function calls at their offsets, with Retell's retries. A step is
/// sent at its offset or, when the previous answer came later, as soon as it came (the
/// caller waits for the agent); its record keeps the instant it was scheduled for.
pub async fn call(
    client: HttpClient,
    plan: CallPlan,
    started: tokio::time::Instant,
    retries: u32,
    target: &Target,
) -> CallRecord {
    let call_start = started + plan.start;
    let ms = |t: tokio::time::Instant| u64::try_from((t - started).as_millis()).unwrap_or(u64::MAX);
    let mut record = CallRecord {
        id: plan.id.clone(),
        kind: plan.kind,
        start_ms: ms(call_start),
        // Sized for the plan (a long run keeps tens of thousands of these).
        steps: Vec::with_capacity(plan.steps.len()),
        abandoned: false,
    };
    let mut answered = call_start;
    for step in plan.steps {
        if step.needs_available {
            if !record.told_available() {
                break;
            }
            if plan.abandons {
                record.abandoned = true;
                break;
            }
        }
        let scheduled = call_start + step.at;
        let ready = scheduled.max(answered);
        if let Some((stopping, pacer)) = &target.live {
            // Live: a stopped run sends nothing more (it notices within a tenth of a second);
            // the last stretch is paced to the microsecond (tokio's timer is milliseconds late).
            let stopped = || stopping.load(std::sync::atomic::Ordering::Relaxed);
            let coarse = scheduled
                .checked_sub(Duration::from_millis(20))
                .unwrap_or(scheduled);
            while !stopped() && tokio::time::Instant::now() < coarse {
                let wake = coarse.min(tokio::time::Instant::now() + Duration::from_millis(100));
                simkit::time::sleep_until(wake).await;
            }
            if stopped() {
                break;
            }
            pacer.until(scheduled).await;
        } else {
            simkit::time::sleep_until(scheduled).await;
        }
        let body = invocation(&step.function, &plan.id, &step.args);
        let signature = target.signer.as_ref().map(|(key, clock)| {
            booking_engine::retell::sign(key, body.as_bytes(), clock.now().timestamp_millis())
        });
        let invoked = tokio::time::Instant::now();
        let mut attempt = 0;
        let (completion, answer) = loop {
            let url = target.balance.as_ref().map_or_else(
                || target.url.clone(),
                |b| b.url("/api/webhooks/retell/function"),
            );
            let mut request = Request::post(url).header("content-type", "application/json");
            if let Some(signature) = &signature {
                request = request.header("x-retell-signature", signature.as_str());
            }
            let request = request
                .body(Full::new(Bytes::from(body.clone())))
                .expect("valid request");
            let result = client.send(request).await;
            let done = match &result {
                Ok(r) if r.status.is_success() => {
                    // An answer that is not JSON is kept as its text (a foreign engine's
                    // plain words, read by a live run's answer profile).
                    let answer: Value = serde_json::from_slice(&r.body).unwrap_or_else(|_| {
                        Value::String(String::from_utf8_lossy(&r.body).into_owned())
                    });
                    let completion = if answer["success"] == true {
                        Completion::Ok
                    } else {
                        Completion::Fail
                    };
                    Some((completion, answer))
                }
                Ok(r) if attempt >= retries => Some((
                    Completion::Fail,
                    json!({ "http_status": r.status.as_u16() }),
                )),
                Err(e) if attempt >= retries => Some((
                    Completion::Info,
                    json!({ "transport_error": e.to_string() }),
                )),
                _ => None,
            };
            if let Some(done) = done {
                break done;
            }
            attempt += 1;
        };
        let now = tokio::time::Instant::now();
        let mut done = StepRecord::new(
            step.function,
            (ms(invoked), ms(now)),
            completion,
            attempt,
            step.args,
            &answer,
            &target.answers,
        );
        done.scheduled_ms = ms(scheduled);
        done.skew_us =
            u32::try_from(invoked.saturating_duration_since(ready).as_micros()).unwrap_or(u32::MAX);
        record.steps.push(done);
        answered = now;
    }
    record.steps.shrink_to_fit();
    record
}
