//! Generated worlds: a whole salon, its callers and Cal.com's misbehaviour from one seed.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use rand::Rng;
use simkit::SeedStreams;
use simkit::seed::StreamRng;

use crate::explore::features::{Plan, Row};

/// Which fault and workload classes a generated world has (swarm testing: each on or off).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Swarm {
    bursts: bool,
    journeys: bool,
    scripted: bool,
    staff_bookings: bool,
    channel: bool,
    create_errors: bool,
    throttling: bool,
    listing_lag: bool,
    webhook_loss: bool,
    webhook_duplicates: bool,
    save_failures: bool,
    engine_crash: bool,
    /// Whether a crash comes again during the first's recovery, when the schedule says.
    crash_twice: Option<bool>,
    partition: bool,
}

impl Swarm {
    /// Each class on or off, with the odds that give rare combinations room (or as the
    /// pairwise schedule of `plan` says).
    pub(super) fn draw(rng: &mut StreamRng, plan: &mut Plan) -> Self {
        let bursts = plan.on("bursts", rng.random_bool(0.7));
        let journeys = plan.on("journeys", rng.random_bool(0.5));
        // Scripted callers, the first of whom talks as `conversation` says (recorded there).
        let scripted = rng.random_bool(0.4);
        let scripted = plan.forced("conversation").map_or(scripted, |c| c > 0);
        Swarm {
            bursts,
            journeys,
            scripted,
            staff_bookings: plan.on("staff_bookings", rng.random_bool(0.4)),
            channel: plan.on("channel", rng.random_bool(0.3)),
            create_errors: plan.on("calcom_5xx", rng.random_bool(0.25)),
            throttling: plan.on("calcom_429_window", rng.random_bool(0.15)),
            listing_lag: plan.on("stale_slots", rng.random_bool(0.3)),
            webhook_loss: plan.on("webhook_loss", rng.random_bool(0.2)),
            webhook_duplicates: plan.on("webhook_duplicates", rng.random_bool(0.2)),
            save_failures: plan.on("save_failures", rng.random_bool(0.15)),
            // The feature `engine_crash`: off, once, twice (recorded from the faults).
            engine_crash: plan
                .forced("engine_crash")
                .map_or(rng.random_bool(0.1), |c| c > 0),
            crash_twice: plan.forced("engine_crash").map(|c| c == 2),
            partition: plan.on("partition", rng.random_bool(0.1)),
        }
    }
}

/// The days a world's calls ask for, and the day it starts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Calendar {
    start: &'static str,
    days: [&'static str; 2],
    /// The day the salon enters its own appointment for (one no caller asks for).
    channel: &'static str,
    /// The salon opens on Sundays (the calendar's first day is one).
    sunday: bool,
    /// The salon's time zone when not Europe/Berlin.
    zone: Option<&'static str>,
}

const CALENDARS: [Calendar; 5] = [
    Calendar {
        start: "2025-11-24",
        days: ["2025-11-25", "2025-11-26"],
        channel: "2025-11-27",
        sunday: false,
        zone: None,
    },
    // The Sunday clocks go forward (23 hours), then the first summer-time Monday.
    Calendar {
        start: "2026-03-27",
        days: ["2026-03-29", "2026-03-30"],
        channel: "2026-03-31",
        sunday: true,
        zone: None,
    },
    // The Sunday clocks go back (25 hours), then the first winter-time Monday.
    Calendar {
        start: "2025-10-24",
        days: ["2025-10-26", "2025-10-27"],
        channel: "2025-10-28",
        sunday: true,
        zone: None,
    },
    // Across the new year.
    Calendar {
        start: "2025-12-30",
        days: ["2025-12-31", "2026-01-02"],
        channel: "2026-01-05",
        sunday: false,
        zone: None,
    },
    // A Saturday the salon is closed, then Monday.
    Calendar {
        start: "2025-11-28",
        days: ["2025-11-29", "2025-12-01"],
        channel: "2025-12-02",
        sunday: false,
        zone: None,
    },
];

/// Salons elsewhere (a stream of their own draws one for some shaped worlds): a zone half
/// an hour off the hour, days whose local date is not UTC's, and clock changes of other
/// sizes and seasons, on the day callers ask for.
const ZONED: [Calendar; 4] = [
    // +05:30, no clock changes.
    Calendar {
        start: "2025-11-24",
        days: ["2025-11-25", "2025-11-26"],
        channel: "2025-11-27",
        sunday: false,
        zone: Some("Asia/Kolkata"),
    },
    // The Sunday New York's clocks go back, then Monday.
    Calendar {
        start: "2025-10-31",
        days: ["2025-11-02", "2025-11-03"],
        channel: "2025-11-04",
        sunday: true,
        zone: Some("America/New_York"),
    },
    // Lord Howe Island's clocks go forward by half an hour (+10:30 -> +11:00).
    Calendar {
        start: "2025-10-03",
        days: ["2025-10-05", "2025-10-06"],
        channel: "2025-10-07",
        sunday: true,
        zone: Some("Australia/Lord_Howe"),
    },
    // Chatham (+12:45 -> +13:45): the salon's morning is the previous day in UTC.
    Calendar {
        start: "2025-09-26",
        days: ["2025-09-28", "2025-09-29"],
        channel: "2025-09-30",
        sunday: true,
        zone: Some("Pacific/Chatham"),
    },
];

/// The salon's shape beyond its stylists and services: the calendar, working hours with
/// breaks or short days, lengths off the slot grid, three-part services, slot intervals,
/// minimum notice, Cal.com's host order differing from the salon's, bookings already there.
/// Drawn from a stream of its own; half the worlds are plain (as before shapes existed, so
/// those worlds are byte-identical to what explore generated then).
struct Shape {
    rng: StreamRng,
    plain: bool,
    calendar: Calendar,
    interval: Option<u32>,
}

impl Shape {
    fn draw(seed: u64, plan: &mut Plan) -> Self {
        let mut rng = SeedStreams::new(seed).stream("explore-shape");
        let plain = rng.random_bool(0.5);
        let calendar = if plain || rng.random_bool(0.4) {
            0
        } else {
            rng.random_range(1..CALENDARS.len())
        };
        let mut zone = SeedStreams::new(seed).stream("explore-zone");
        let calendar = if !plain && zone.random_bool(0.3) {
            CALENDARS.len() + zone.random_range(0..ZONED.len())
        } else {
            calendar
        };
        // The feature's values: the calendars, then the salons elsewhere.
        let calendar = match plan.pick("calendar", calendar) {
            c if c < CALENDARS.len() => CALENDARS[c],
            c => ZONED[c - CALENDARS.len()],
        };
        let interval = if plain {
            Some(5)
        } else {
            [Some(5), Some(10), Some(15), Some(30), None][rng.random_range(0..5)]
        };
        Shape {
            rng,
            plain,
            calendar,
            interval,
        }
    }

    /// Now and then, when not plain.
    fn varies(&mut self, p: f64) -> bool {
        !self.plain && self.rng.random_bool(p)
    }

    /// A stylist's working hours (`weekdays = [...]`, and Sundays when the calendar opens)
    /// and the weekday ranges, in minutes of the day.
    /// `forced`: the feature `hours` as the pairwise schedule says (0 plain, else the
    /// break, the late day, the short day).
    fn hours(
        &mut self,
        plain: &'static str,
        forced: Option<usize>,
    ) -> (String, Vec<(u32, u32)>, usize) {
        let drawn = if self.varies(0.3) {
            1 + self.rng.random_range(0..3)
        } else {
            0
        };
        let kind = forced.unwrap_or(drawn);
        let weekdays: &[&str] = match kind {
            0 => &[plain][..],
            k => [
                &["09:00-12:00", "13:00-18:00"][..],
                &["11:00-19:00"][..],
                &["10:00-11:30"][..],
            ][k - 1],
        };
        let ranges = weekdays
            .iter()
            .filter_map(|r| r.split_once('-'))
            .map(|(from, to)| (minute_of_day(from), minute_of_day(to)))
            .collect();
        let list = weekdays
            .iter()
            .map(|r| format!("\"{r}\""))
            .collect::<Vec<_>>()
            .join(", ");
        let text = if self.calendar.sunday {
            format!("weekdays = [{list}], sun = [\"10:00-16:00\"]")
        } else {
            format!("weekdays = [{list}]")
        };
        (text, ranges, kind)
    }

    /// A segment's length: mostly as drawn, now and then off the 15-minute grid or long.
    fn minutes(&mut self, drawn: u32) -> u32 {
        if self.varies(0.25) {
            [10, 20, 25, 60, 90][self.rng.random_range(0..5)]
        } else {
            drawn
        }
    }

    /// An event type's extra lines: its slot interval and minimum notice. A part of a
    /// compound service must be bookable where the service puts it: its slot grid takes
    /// the 5-minute one unless the world's divides every part's offset.
    /// `forced`: the feature `notice` as the pairwise schedule says (0 none, 2 h, 26 h);
    /// the notice written.
    fn event_type_lines(
        &mut self,
        segments: &[(u32, bool)],
        forced: Option<usize>,
    ) -> (String, usize) {
        let mut out = String::new();
        let offsets: Vec<u32> = segments
            .iter()
            .scan(0, |at, (m, _)| {
                let start = *at;
                *at += m;
                Some(start)
            })
            .collect();
        let fits = |every: Option<u32>| match every {
            Some(every) => offsets.iter().all(|o| o % every == 0),
            None => segments.len() == 1,
        };
        let interval = if fits(self.interval) {
            self.interval
        } else {
            Some(5)
        };
        if let Some(every) = interval {
            let _ = writeln!(out, "slot_interval_minutes = {every}");
        }
        let drawn = if self.varies(0.2) {
            1 + self.rng.random_range(0..2)
        } else {
            0
        };
        let notice = forced.unwrap_or(drawn);
        if notice > 0 {
            let _ = writeln!(out, "minimum_notice = \"{}\"", ["2h", "26h"][notice - 1]);
        }
        (out, notice)
    }

    /// Cal.com's host order for an event type (it picks the first free): now and then the
    /// reverse of the salon's staff order.
    fn hosts(&mut self, staff: &[u64]) -> Vec<u64> {
        let mut hosts = staff.to_vec();
        if self.varies(0.3) {
            hosts.reverse();
        }
        hosts
    }

    /// Bookings already in Cal.com when the world starts, on the days callers ask for,
    /// none overlapping another of its host's.
    fn existing(&mut self, event_types: &[(u64, Vec<u64>, u32)], plan: &mut Plan) -> String {
        let mut out = String::new();
        if event_types.is_empty() {
            return out;
        }
        let drawn = self.varies(0.3);
        if !plan.on("existing_bookings", drawn) {
            return out;
        }
        let mut held: Vec<(u64, &str, u32, u32)> = Vec::new();
        for _ in 0..self.rng.random_range(1..=4) {
            let (id, hosts, minutes) = &event_types[self.rng.random_range(0..event_types.len())];
            let host = hosts[self.rng.random_range(0..hosts.len())];
            let day = self.calendar.days[self.rng.random_range(0..2)];
            let time = STARTS[self.rng.random_range(0..STARTS.len())];
            let from = minute_of_day(time);
            let until = from + minutes;
            if held
                .iter()
                .any(|&(h, d, f, u)| h == host && d == day && f < until && from < u)
            {
                continue;
            }
            held.push((host, day, from, until));
            let Some(start) = local_instant(day, time, self.calendar.zone) else {
                continue;
            };
            let _ = writeln!(
                out,
                "[[calcom.bookings]]\nevent_type = {id}\nstart = \"{start}\"\nhost = {host}\n"
            );
        }
        out
    }
}

/// `"HH:MM"` (one of the generator's own) as minutes of the day.
fn minute_of_day(hhmm: &str) -> u32 {
    use chrono::Timelike as _;
    chrono::NaiveTime::parse_from_str(hhmm, "%H:%M")
        .map_or(0, |t| t.num_seconds_from_midnight() / 60)
}

/// `day` at `time` in the salon's time zone `zone` (Berlin when `None`), with its offset
/// on that day.
pub(super) fn local_instant(day: &str, time: &str, zone: Option<&str>) -> Option<String> {
    use chrono::TimeZone as _;
    let local =
        chrono::NaiveDateTime::parse_from_str(&format!("{day}T{time}"), "%Y-%m-%dT%H:%M").ok()?;
    let zone: chrono_tz::Tz = zone
        .map_or(Ok(chrono_tz::Europe::Berlin), str::parse)
        .ok()?;
    let at = zone.from_local_datetime(&local).earliest()?;
    Some(at.fixed_offset().to_rfc3339())
}

/// How long explored runs settle (generated ones say `settle = "6m"` too).
pub(super) const SETTLE: std::time::Duration = std::time::Duration::from_secs(360);

pub(super) const STARTS: [&str; 6] = ["10:00", "10:15", "10:30", "10:45", "11:00", "14:00"];

/// How explore draws a world's features ([`crate::explore::features`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Draw {
    /// Each feature on its own (swarm testing), as explore drew before pairwise drawing.
    Swarm,
    /// Swarm draws under a covering array: every pair of two features' values meets within
    /// any `features::rows()` consecutive seeds.
    #[default]
    Pairwise,
}

/// The scenario file of run `seed`, drawn swarm-wise: a valid scenario (it is parsed
/// before it runs).
pub fn generate(seed: u64) -> String {
    generate_drawn(seed, Draw::Swarm).0
}

/// The scenario file of run `seed`, drawn as `draw` says, and the features it took.
pub fn generate_drawn(seed: u64, draw: Draw) -> (String, Row) {
    let mut plan = match draw {
        Draw::Swarm => Plan::swarm(),
        Draw::Pairwise => Plan::pairwise(seed),
    };
    let text = world(seed, &mut plan);
    let row = plan
        .row()
        .unwrap_or_else(|e| panic!("generator of seed {seed}: {e}"));
    (text, row)
}

fn world(seed: u64, plan: &mut Plan) -> String {
    let mut rng: StreamRng = SeedStreams::new(seed).stream("explore");
    let swarm = Swarm::draw(&mut rng, plan);
    let mut shape = Shape::draw(seed, plan);
    let calendar = shape.calendar;
    let stylists: u64 = rng.random_range(1..=5);
    let stylists = match plan.pick("stylists", usize::from(stylists > 1)) {
        0 => 1,
        _ => stylists.max(2),
    };
    let mut s = format!(
        "# Generated by bookingsim explore, seed {seed}.\nname = \"explore-{seed}\"\nseed = {seed}\nstart = \"{}T09:00:00\"\n{}duration = \"2m\"\nsettle = \"6m\"\ntick = \"20ms\"\n\n",
        calendar.start,
        calendar
            .zone
            .map(|z| format!("time_zone = \"{z}\"\n"))
            .unwrap_or_default()
    );
    let mut world = String::new();
    // A zoned world is zoned throughout: the salon's engine and every stylist's hours too.
    let zone = calendar
        .zone
        .map(|z| format!("time_zone = \"{z}\"\n"))
        .unwrap_or_default();
    // Each stylist's weekday hours and each service's staff and length, so that the salon
    // enters its own appointment where one of its staff works.
    let mut hours_of: BTreeMap<u64, Vec<(u32, u32)>> = BTreeMap::new();
    let mut lengths: BTreeMap<String, (Vec<u64>, u32)> = BTreeMap::new();
    for id in 1..=stylists {
        let hours: &'static str = if rng.random_bool(0.7) {
            "09:00-18:00"
        } else {
            "10:00-16:00"
        };
        let shape_hours = shape.hours(hours, plan.forced("hours"));
        if id == 1 {
            plan.record("hours", shape_hours.2);
        }
        let _ = writeln!(
            world,
            "[[calcom.hosts]]\nid = {id}\nname = \"Stylist {id}\"\n{zone}working_hours = {{ {} }}\n",
            shape_hours.0
        );
        hours_of.insert(id, shape_hours.1);
    }
    let services = rng.random_range(1..=4usize);
    let mut catalog = format!("[catalog]\n{zone}\n");
    let mut names = Vec::new();
    let mut event_types = Vec::new();
    for i in 0..services {
        let mut staff: Vec<u64> = (1..=stylists).collect();
        for k in (1..staff.len()).rev() {
            let j = rng.random_range(0..=k);
            staff.swap(k, j);
        }
        staff.truncate(rng.random_range(1..=staff.len()));
        let compound = rng.random_bool(0.35);
        // The first service's shape is the feature `service`.
        let forced = plan.forced("service").filter(|_| i == 0);
        let compound = forced.map_or(compound, |v| v > 0);
        let mut kind = usize::from(compound);
        let minutes = |rng: &mut StreamRng| if rng.random_bool(0.5) { 30 } else { 45 };
        let first = minutes(&mut rng);
        let mut segments = vec![(shape.minutes(first), true)];
        if compound {
            let gap = [0, 15, 20][rng.random_range(0..3)];
            if gap > 0 {
                segments.push((gap, false));
            }
            let second = minutes(&mut rng);
            segments.push((shape.minutes(second), true));
            let third = shape.varies(0.3);
            if forced.map_or(third, |v| v == 2) {
                segments.push((shape.minutes(30), true));
                kind = 2;
            }
        }
        if i == 0 {
            plan.record("service", kind);
        }
        let mut written = Vec::new();
        for (j, (m, staffed)) in segments.iter().enumerate() {
            if *staffed {
                let id = 2000 + 10 * i + j;
                let hosts = shape.hosts(&staff);
                let (lines, notice) = shape.event_type_lines(&segments, plan.forced("notice"));
                if event_types.is_empty() {
                    plan.record("notice", notice);
                }
                let _ = writeln!(
                    world,
                    "[[calcom.event_types]]\nid = {id}\nslug = \"s{i}-{j}\"\ntitle = \"Service {i} part {j}\"\nlength_minutes = {m}\n{lines}hosts = {hosts:?}\n",
                );
                event_types.push((id as u64, hosts, *m));
                written.push(format!(
                    "{{ name = \"part {j}\", minutes = {m}, event_type_id = {id} }}"
                ));
            } else {
                written.push(format!("{{ name = \"gap {j}\", minutes = {m} }}"));
            }
        }
        let name = format!("Service {i}");
        let _ = writeln!(
            catalog,
            "[[catalog.services]]\nid = {}\nname = \"{name}\"\nsegments = [{}]\nstaff = {staff:?}\n",
            i + 1,
            written.join(", ")
        );
        let total = segments.iter().map(|(m, _)| m).sum();
        lengths.insert(name.clone(), (staff, total));
        names.push(name);
    }
    world.push_str(&shape.existing(&event_types, plan));
    let mut tables = String::new();
    if swarm.staff_bookings {
        let _ = writeln!(
            tables,
            "[calcom.external]\nrate_per_hour = {}\nlead = \"10m\"\nhorizon = \"2d\"\n",
            [30, 120][rng.random_range(0..2)]
        );
    }
    // Now and then (a stream of its own) a tighter Cal.com plan, whose throttler blocks
    // the key for a minute after 10-60 requests.
    let mut config = SeedStreams::new(seed).stream("explore-config");
    if plan.on("tight_plan", config.random_bool(0.15)) {
        let limit = [10, 30, 60][config.random_range(0..3)];
        let _ = writeln!(
            tables,
            "[calcom.api.rate_limit]\nlimit = {limit}\nwindow = \"60s\"\nblock = \"60s\"\n"
        );
    }
    // Timings, Cal.com's latency and the policy's numbers: streams of their own.
    let timing = Timing::draw(seed);
    tables.push_str(&timing.tables);
    let mut work = String::new();
    let service = |rng: &mut StreamRng| names[rng.random_range(0..names.len())].clone();
    let slot = |rng: &mut StreamRng| {
        format!(
            "{}T{}",
            calendar.days[rng.random_range(0..calendar.days.len())],
            STARTS[rng.random_range(0..STARTS.len())]
        )
    };
    let bursts = swarm.bursts || !(swarm.journeys || swarm.scripted);
    plan.record("bursts", usize::from(bursts));
    if !swarm.scripted {
        plan.record("conversation", 0);
    }
    if bursts {
        for _ in 0..rng.random_range(1..=4) {
            let _ = writeln!(
                work,
                "[[storms]]\nfunction = \"start_booking\"\nrate = 20\nfrom = \"{}ms\"\nduration = \"{}ms\"\ndatetimes = [\"{}\"]\nargs = {{ service_name = \"{}\", customer_name = \"Burst\" }}\n",
                rng.random_range(1000..4000),
                50 * rng.random_range(1..=3),
                slot(&mut rng),
                service(&mut rng)
            );
        }
    }
    if swarm.journeys {
        let rate = [0.05, 0.2][rng.random_range(0..2)];
        // Now and then (a stream of its own) one of the grid's five slots draws most of the
        // callers: the contention concentrated.
        let mut crowd = SeedStreams::new(seed).stream("explore-crowd");
        let arrivals = format!("{{ kind = \"poisson\", rate = {rate} }}");
        let weights = if crowd.random_bool(0.25) {
            let mut w = [1; 5];
            w[crowd.random_range(0..5)] = [5, 20][crowd.random_range(0..2)];
            format!("weights = {w:?}\n")
        } else {
            String::new()
        };
        let _ = writeln!(
            work,
            "[[journeys]]\narrivals = {arrivals}\nduration = \"2m\"\nservice = \"{}\"\nslot_grid = {{ days = [\"{}\"], from = \"10:00\", to = \"11:00\", every = \"15m\" }}\n{weights}",
            service(&mut rng),
            calendar.days[0]
        );
        work.push_str(&timing.journey);
    }
    if swarm.scripted {
        // Half the scripted callers (a stream of its own) talk in another shape than "check,
        // then book": see `Conversation`.
        let mut talk = SeedStreams::new(seed).stream("explore-conversation");
        for c in 0..rng.random_range(1..=3) {
            let (service, at) = (service(&mut rng), slot(&mut rng));
            let (day, time) = at.split_once('T').expect("slots have a T");
            let retries = rng.random_bool(0.3);
            // The first caller talks as the feature `conversation` says: 1 "check, then
            // book", then each shape of `Conversation`.
            let forced = plan.forced("conversation").filter(|_| c == 0);
            let talks = talk.random_bool(0.5);
            if forced.map_or(talks, |v| v > 1) {
                let other = slot(&mut talk);
                let drawn = Conversation::draw(&mut talk);
                let shape = forced.map_or(drawn, |v| Conversation::ALL[v - 2]);
                if c == 0 {
                    plan.record(
                        "conversation",
                        2 + Conversation::ALL
                            .iter()
                            .position(|s| *s == shape)
                            .unwrap_or(0),
                    );
                }
                let steps = shape.steps(&service, &at, &other, c);
                let _ = writeln!(
                    work,
                    "[[calls]]\nid = \"call_{c}\"\nstart = \"{}s\"\n\n{steps}",
                    rng.random_range(0..20),
                );
                continue;
            }
            if c == 0 {
                plan.record("conversation", 1);
            }
            let _ = writeln!(
                work,
                "[[calls]]\nid = \"call_{c}\"\nstart = \"{}s\"\n\n[[calls.steps]]\nat = \"2s\"\nfunction = \"check_availability\"\nargs = {{ datum = \"{day}\", uhrzeit = \"{time}\", dienstleistung = \"{service}\" }}\n\n[[calls.steps]]\nat = \"{}s\"\nfunction = \"start_booking\"\nargs = {{ datetime = \"{at}\", service_name = \"{service}\", customer_name = \"Anrufer {c}\" }}\n",
                rng.random_range(0..20),
                // Now and then a caller who thinks it over for minutes: holds run out mid-call.
                if rng.random_bool(0.2) {
                    rng.random_range(130..300)
                } else {
                    rng.random_range(5..25)
                },
            );
            if retries {
                let _ = writeln!(
                    work,
                    "[[calls.steps]]\nat = \"40s\"\nfunction = \"start_booking\"\nargs = {{ datetime = \"{at}\", service_name = \"{service}\", customer_name = \"Anrufer {c}\" }}\n"
                );
            }
        }
    }
    if swarm.channel {
        // The salon enters its own appointments for a day the callers do not ask for: one
        // entered over a booked slot cannot sync (the #751 family, in the catalogue). It
        // is entered where one of the service's staff works (the first such start from the
        // one drawn): one Cal.com could never hold is the salon's mistake, not a race.
        let (at, name) = (rng.random_range(0..30), service(&mut rng));
        let drawn = rng.random_range(0..STARTS.len());
        let (staff, minutes) = &lengths[&name];
        let fits = |start: &str| {
            let from = minute_of_day(start);
            staff.iter().any(|s| {
                hours_of[s]
                    .iter()
                    .any(|&(a, b)| a <= from && from + minutes <= b)
            })
        };
        if let Some(start) = (drawn..STARTS.len()).map(|i| STARTS[i]).find(|s| fits(s)) {
            let _ = writeln!(
                work,
                "[[channel]]\nat = \"{at}s\"\nservice = \"{name}\"\ndatetime = \"{}T{start}\"\n",
                calendar.channel,
            );
        }
    }
    let callers = if swarm.scripted {
        work.matches("[[calls]]").count()
    } else {
        0
    };
    work.push_str(&super::staff::draw(
        seed,
        calendar.days,
        calendar.zone,
        stylists,
        callers,
        plan,
    ));
    // Outages and the faults' lengths come from streams of their own, so that the rest of
    // every world stays as it was before they were added.
    let mut lengths = SeedStreams::new(seed).stream("explore-lengths");
    let mut again = SeedStreams::new(seed).stream("explore-crash-again");
    let mut faults = misbehaviour(&mut rng, &mut lengths, &mut again, &swarm);
    let crashes = faults.matches("kind = \"engine_crash\"").count();
    plan.record("engine_crash", crashes);
    faults.push_str(&outage(
        &mut SeedStreams::new(seed).stream("explore-outage"),
        plan,
    ));
    faults.push_str(&replay(
        &mut SeedStreams::new(seed).stream("explore-replay"),
        plan,
    ));
    faults.push_str(&infra_faults(
        &mut SeedStreams::new(seed).stream("explore-infra"),
        plan,
    ));
    // Tables the faults may have begun already (saves that fail, webhooks lost, a lag).
    merge_table(&mut faults, "[policy.infra]", &timing.infra);
    merge_table(&mut faults, "[calcom.webhooks]", &timing.webhooks);
    merge_table(&mut faults, "[calcom.consistency]", &timing.consistency);
    faults.push_str(&timing.policy);
    s.push_str(&tables);
    s.push_str(&world);
    s.push_str(&catalog);
    s.push_str(&work);
    s.push_str(&faults);
    s.push_str(&crate::explore::workers::draw(seed, plan));
    s
}

/// A random duration as TOML, around `p50` milliseconds: fixed, uniform or by percentiles.
fn distribution(rng: &mut StreamRng, p50: u64) -> String {
    drawn(rng, p50).0
}

/// [`distribution`] and its largest value in ms (by percentiles: p99 + (p99 - p90)).
fn drawn(rng: &mut StreamRng, p50: u64) -> (String, u64) {
    let p50 = p50.max(1);
    match rng.random_range(0..3) {
        0 => (format!("{{ fixed = \"{p50}ms\" }}"), p50),
        1 => (
            format!("{{ min = \"{}ms\", max = \"{}ms\" }}", p50 * 2 / 5, p50 * 2),
            p50 * 2,
        ),
        _ => (
            format!(
                "{{ p50 = \"{p50}ms\", p90 = \"{}ms\", p99 = \"{}ms\" }}",
                p50 * 2,
                p50 * 4
            ),
            p50 * 6,
        ),
    }
}

/// [`distribution`] around one of `p50s`.
fn around(rng: &mut StreamRng, p50s: &[u64]) -> String {
    let p50 = p50s[rng.random_range(0..p50s.len())];
    distribution(rng, p50)
}

/// The world's timings beyond its workload: how callers talk between check and booking,
/// Retell's patience, the network, Cal.com's latency and webhooks' delays, and the numbers
/// of the policy under test. Each class on or off per world (swarm testing), each from a
/// stream of its own, so that every other draw of a world stays as it was.
struct Timing {
    /// Top-level tables: `[retell]`, `[network]`, `[calcom.latency]`.
    tables: String,
    /// A journey's `from` and `[journeys.conversation]`, written after its `[[journeys]]`.
    journey: String,
    /// Lines of `[policy.infra]`.
    infra: String,
    /// Lines of `[calcom.webhooks]` and of `[calcom.consistency]`.
    webhooks: String,
    consistency: String,
    /// `[policy]`, `[policy.retry]`, `[policy.timeouts]`.
    policy: String,
    /// The engine's steady answers take seconds (a slow Redis, database or Cal.com): Retell
    /// waits long enough for them, or every call would go unanswered in a world whose
    /// faults all ended, which says nothing of the engine.
    slow: bool,
    /// Retell waits at least this long (s): longer than a booking waits for a lock.
    patience: u64,
    /// Cal.com's slowest answer and the network's slowest hop (ms), and the client's
    /// timeouts (s) if drawn.
    calcom_top: u64,
    network_top: u64,
    timeouts: Option<(u64, u64)>,
}

impl Timing {
    fn draw(seed: u64) -> Self {
        let streams = SeedStreams::new(seed);
        let mut t = Timing {
            tables: String::new(),
            journey: String::new(),
            infra: String::new(),
            webhooks: String::new(),
            consistency: String::new(),
            policy: String::new(),
            slow: false,
            patience: 0,
            // The seeds' latency: create p99 1.5 s (max 2 s); the network up to 60 ms.
            calcom_top: 2_000,
            network_top: 60,
            timeouts: None,
        };
        t.conversation(&mut streams.stream("explore-talk-timing"));
        t.calcom(&mut streams.stream("explore-calcom-latency"));
        t.numbers(&mut streams.stream("explore-policy-numbers"));
        t.network(&mut streams.stream("explore-network"));
        t.fit_timeouts();
        t
    }

    /// The journey's start and the check-to-book window: the race itself.
    fn conversation(&mut self, rng: &mut StreamRng) {
        if rng.random_bool(0.3) {
            let _ = writeln!(self.journey, "from = \"{}s\"", rng.random_range(0..60));
        }
        if !rng.random_bool(0.6) {
            return;
        }
        let mut c = String::from("[journeys.conversation]\n");
        if rng.random_bool(0.4) {
            // The whole gap as one: from no pause at all to a caller who thinks for minutes.
            let p50 = [0, 500, 3_000, 10_000, 25_000, 90_000][rng.random_range(0..6)];
            let gap = if p50 == 0 {
                "{ fixed = \"0s\" }".to_owned()
            } else {
                distribution(rng, p50)
            };
            let _ = writeln!(c, "gap = {gap}");
        } else {
            let scale = [0.2, 0.5, 1.0, 2.0, 4.0][rng.random_range(0..5)];
            for (name, p50) in [
                ("until_check", 20_000.0),
                ("llm", 800.0),
                ("tts", 265.0),
                ("ai_response", 7_100.0),
                ("listening", 6_200.0),
                ("confirmation", 2_200.0),
                ("name", 4_900.0),
                ("name_reask", 15_000.0),
            ] {
                if rng.random_bool(0.5) {
                    let d = distribution(rng, (p50 * scale) as u64);
                    let _ = writeln!(c, "{name} = {d}");
                }
            }
            if rng.random_bool(0.5) {
                let p = [0.0, 0.4, 1.0][rng.random_range(0..3)];
                let _ = writeln!(c, "name_reask_probability = {p}");
            }
        }
        if rng.random_bool(0.3) {
            let p = [0.0, 0.03, 0.3][rng.random_range(0..3)];
            let _ = writeln!(c, "abandon_probability = {p}");
        }
        self.journey.push('\n');
        self.journey.push_str(&c);
        self.journey.push('\n');
    }

    /// Retell's patience with a function call and the links between hosts.
    fn network(&mut self, rng: &mut StreamRng) {
        let drawn = rng.random_bool(0.3);
        if drawn || self.slow || self.patience > 32 {
            // Never shorter than the seeds' 32 s: the client's 429 backoff (2 + 4 + 8 s) under a
            // tight plan's throttler, which no fault window ends, must fit in one wait.
            let timeout = [32, 45, 60][rng.random_range(0..3)];
            let timeout = if self.slow { 120 } else { timeout }.max(self.patience);
            let retries = rng.random_range(0..=3);
            let _ = writeln!(
                self.tables,
                "[retell]\ntimeout = \"{timeout}s\"\nretries = {retries}\n"
            );
        }
        if rng.random_bool(0.3) {
            let (min, max) = [(0, 5), (20, 60), (50, 400), (200, 2_000)][rng.random_range(0..4)];
            self.network_top = max;
            let _ = writeln!(
                self.tables,
                "[network]\nmin_latency = \"{min}ms\"\nmax_latency = \"{max}ms\"\n"
            );
        }
    }

    /// Cal.com's answer latency per endpoint, webhooks' delays, its reservation window.
    fn calcom(&mut self, rng: &mut StreamRng) {
        if rng.random_bool(0.35) {
            let mut table = String::from("[calcom.latency]\n");
            let scale = [0.1, 1.0, 3.0][rng.random_range(0..3)];
            self.slow |= scale > 2.0;
            let (d, top) = drawn(rng, (150.0 * scale) as u64);
            self.calcom_top = top;
            let _ = writeln!(table, "default = {d}");
            for (name, p50) in [
                ("slots", 500.0),
                ("create_booking", 400.0),
                ("get_booking", 150.0),
                ("cancel_booking", 400.0),
                ("reschedule_booking", 400.0),
                ("reserve_slot", 150.0),
                ("reservation", 150.0),
                ("webhooks", 150.0),
                ("event_types", 150.0),
            ] {
                if rng.random_bool(0.5) {
                    // Now and then one endpoint far slower than the rest (seconds).
                    let slow = if rng.random_bool(0.2) { 10.0 } else { 1.0 };
                    self.slow |= scale * slow > 2.0;
                    let (d, top) = drawn(rng, (p50 * scale * slow) as u64);
                    self.calcom_top = self.calcom_top.max(top);
                    let _ = writeln!(table, "{name} = {d}");
                }
            }
            self.tables.push_str(&table);
            self.tables.push('\n');
        }
        if rng.random_bool(0.3) {
            let delay = around(rng, &[50, 500, 5_000]);
            let duplicate = around(rng, &[100, 2_000, 30_000]);
            let late = [0.0, 0.2, 0.5][rng.random_range(0..3)];
            let late_delay = around(rng, &[1_000, 10_000, 60_000]);
            let _ = writeln!(
                self.webhooks,
                "delay = {delay}\nduplicate_delay = {duplicate}\nlate_probability = {late}\nlate_delay = {late_delay}"
            );
        }
        if rng.random_bool(0.2) {
            let window = around(rng, &[1, 20, 300]);
            let _ = writeln!(self.consistency, "reservation_window = {window}");
        }
    }

    /// The numbers of the policy under test, drawn around the presets' values (every preset
    /// shares them) and always within what `Policy::check_ranges` accepts: the lock outlives
    /// the wait for the others and 1.5 x the slowest Redis round trip. Some worlds have a
    /// slow Redis (seconds): a lock lapsing while its holder works was a real class.
    fn numbers(&mut self, rng: &mut StreamRng) {
        if !rng.random_bool(0.5) {
            return;
        }
        let mut policy = String::from("[policy]\n");
        let mut infra = String::new();
        // The slowest Redis round trip, in ms.
        let mut redis_max = 5;
        if rng.random_bool(0.4) {
            let (min, max) =
                [(1, 5), (20, 200), (500, 3_000), (2_000, 6_000)][rng.random_range(0..4)];
            redis_max = max;
            self.slow |= max > 1_000;
            let _ = writeln!(infra, "redis = {{ min = \"{min}ms\", max = \"{max}ms\" }}");
        }
        if rng.random_bool(0.4) {
            let (min, max) = [(5, 30), (50, 500), (500, 3_000)][rng.random_range(0..3)];
            self.slow |= max > 1_000;
            let _ = writeln!(
                infra,
                "database = {{ min = \"{min}ms\", max = \"{max}ms\" }}"
            );
        }
        if rng.random_bool(0.3) {
            let p50 = [50, 600][rng.random_range(0..2)];
            self.slow |= p50 > 100;
            let d = distribution(rng, p50);
            let _ = writeln!(infra, "request_overhead = {d}");
        }
        if rng.random_bool(0.5) || redis_max > 1_000 {
            let wait = [0, 2_000, 10_000, 30_000][rng.random_range(0..4)];
            let ttl = [3_000, 10_000, 30_000, 120_000][rng.random_range(0..4)];
            // At least the wait, and more than 1.5 x the slowest Redis round trip.
            let ttl = ttl.max(wait).max(redis_max * 3 / 2 + 1_000);
            self.patience = wait / 1_000 + 20;
            let _ = writeln!(policy, "lock_ttl = \"{ttl}ms\"\nlock_wait = \"{wait}ms\"");
        }
        if rng.random_bool(0.3) {
            let ttl = [0, 5, 30, 60, 300][rng.random_range(0..5)];
            let _ = writeln!(policy, "cache_ttl = \"{ttl}s\"");
        }
        if rng.random_bool(0.3) {
            let f = [5, 30, 120][rng.random_range(0..3)];
            let _ = writeln!(policy, "freshness = \"{f}s\"");
        }
        if rng.random_bool(0.3) {
            let _ = writeln!(
                policy,
                "sync_attempts = {}\nsync_queue_delay = {}\nsync_retry_delay = {}",
                rng.random_range(1..=5),
                around(rng, &[1_000, 15_000, 60_000]),
                around(rng, &[500, 10_000, 60_000]),
            );
        }
        let mut tables = String::new();
        if rng.random_bool(0.4) {
            let backoff = [
                "[]",
                "[\"2s\", \"4s\", \"8s\"]",
                "[\"500ms\"]",
                "[\"1s\", \"1s\", \"2s\", \"4s\", \"8s\"]",
            ][rng.random_range(0..4)];
            let _ = writeln!(
                tables,
                "[policy.retry]\nmax_retries = {}\ndelay = \"{}ms\"\nconflict_backoff = {backoff}\njitter = {}\n",
                rng.random_range(0..=5),
                [0, 200, 1_000, 5_000][rng.random_range(0..4)],
                [0.0, 0.5, 1.0][rng.random_range(0..3)],
            );
        }
        if rng.random_bool(0.3) {
            let total = [3, 10, 30, 60][rng.random_range(0..4)];
            let connect = [1, 5][rng.random_range(0..2)].min(total);
            self.timeouts = Some((connect, total));
        }
        self.infra = infra;
        if policy.len() > "[policy]\n".len() {
            self.policy.push_str(&policy);
            self.policy.push('\n');
        }
        self.policy.push_str(&tables);
    }
}

impl Timing {
    /// The client's total timeout outlasts Cal.com's slowest answer (and the hops there and
    /// back). Held back until fixed: a create that outlasts it lands after `full`'s lookup
    /// for a lost create found nothing, and its booking is an orphan (`orphan_calcom`,
    /// explore seed 377; reported, the engine is unchanged).
    fn fit_timeouts(&mut self) {
        let floor = (self.calcom_top + 2 * self.network_top + 3_000).div_ceil(1_000);
        let timeouts = match self.timeouts {
            Some((connect, total)) => Some((connect, total.max(floor))),
            None if floor > 30 => Some((5, floor)),
            None => None,
        };
        if let Some((connect, total)) = timeouts {
            let _ = writeln!(
                self.policy,
                "[policy.timeouts]\nconnect = \"{connect}s\"\ntotal = \"{total}s\"\n"
            );
        }
    }
}

/// `lines` added to the table `header` of `text`, or the table appended with them.
fn merge_table(text: &mut String, header: &str, lines: &str) {
    if lines.is_empty() {
        return;
    }
    let head = format!("{header}\n");
    if text.contains(&head) {
        *text = text.replacen(&head, &format!("{head}{lines}"), 1);
    } else {
        let _ = writeln!(text, "{head}{lines}");
    }
}

/// How a generated caller talks beyond "check, then book": the shapes a voice agent's
/// conversation takes that the journeys never do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Conversation {
    /// Checks one slot, then another, and books the second.
    ChecksTwoBooksSecond,
    /// Checks a slot, checks it again later in the call, then books it.
    ChecksTwice,
    /// Books without checking first.
    BooksUnchecked,
    /// Books, cancels, then checks and books the same slot again.
    BooksCancelsRebooks,
    /// Checks one slot and books another it never checked.
    BooksAnother,
    /// Checks, asks for alternatives, then books the slot it checked.
    AsksAlternatives,
    /// Books one slot, then a second one in the same call.
    BooksTwo,
}

impl Conversation {
    const ALL: [Conversation; 7] = [
        Conversation::ChecksTwoBooksSecond,
        Conversation::ChecksTwice,
        Conversation::BooksUnchecked,
        Conversation::BooksCancelsRebooks,
        Conversation::BooksAnother,
        Conversation::AsksAlternatives,
        Conversation::BooksTwo,
    ];

    fn draw(rng: &mut StreamRng) -> Self {
        Self::ALL[rng.random_range(0..Self::ALL.len())]
    }

    /// The call's steps as TOML, `at` the slot it came for, `other` another.
    fn steps(self, service: &str, at: &str, other: &str, caller: usize) -> String {
        let step = |secs: u32, function: &str, slot: &str| {
            let args = match function {
                "start_booking" => format!(
                    "{{ datetime = \"{slot}\", service_name = \"{service}\", customer_name = \"Anrufer {caller}\" }}"
                ),
                "cancel_appointment" => "{}".to_owned(),
                _ => {
                    let (day, time) = slot.split_once('T').expect("slots have a T");
                    format!(
                        "{{ datum = \"{day}\", uhrzeit = \"{time}\", dienstleistung = \"{service}\" }}"
                    )
                }
            };
            format!(
                "[[calls.steps]]\nat = \"{secs}s\"\nfunction = \"{function}\"\nargs = {args}\n\n"
            )
        };
        let (check, book) = ("check_availability", "start_booking");
        let steps: Vec<(u32, &str, &str)> = match self {
            Conversation::ChecksTwoBooksSecond => {
                vec![(2, check, at), (12, check, other), (25, book, other)]
            }
            Conversation::ChecksTwice => vec![(2, check, at), (20, check, at), (35, book, at)],
            Conversation::BooksUnchecked => vec![(5, book, at)],
            Conversation::BooksCancelsRebooks => vec![
                (2, check, at),
                (15, book, at),
                (40, "cancel_appointment", at),
                (55, check, at),
                (70, book, at),
            ],
            Conversation::BooksAnother => vec![(2, check, at), (20, book, other)],
            Conversation::AsksAlternatives => {
                vec![(2, check, at), (10, "get_alternatives", at), (25, book, at)]
            }
            Conversation::BooksTwo => vec![(2, check, at), (15, book, at), (35, book, other)],
        };
        steps
            .into_iter()
            .map(|(secs, function, slot)| step(secs, function, slot))
            .collect()
    }
}

/// In one world in ten, Cal.com (or one of its endpoints) fails for 20 s to 2 min: 503, 502,
/// 429, dropped connections or requests that hang 45 s, longer than the client's backoff, over whatever repair is
/// under way (a sync, a compensation, a reconciliation, a recovery). It heals by 3 min, so
/// that a repair backing off up to 5 min lands within the 6 min the world settles.
fn outage(rng: &mut StreamRng, plan: &mut Plan) -> String {
    // The feature `calcom_outage`: none, then each kind below in turn.
    let forced = plan.forced("calcom_outage");
    if !forced.map_or(rng.random_bool(0.1), |v| v > 0) {
        plan.record("calcom_outage", 0);
        return String::new();
    }
    let endpoint = [
        "any",
        "any",
        "create_booking",
        "slots",
        "get_booking",
        "cancel_booking",
    ][rng.random_range(0..6)];
    let kind = [
        "kind = \"status\"\nstatus = 503",
        "kind = \"status\"\nstatus = 502",
        "kind = \"status\"\nstatus = 429",
        "kind = \"reset\"",
        "kind = \"hang\"\nhang_for = \"45s\"",
    ][plan.pick("calcom_outage", 1 + rng.random_range(0..5)) - 1];
    let from = rng.random_range(5..60);
    let length = [20, 60, 120][rng.random_range(0..3)];
    format!(
        "[[calcom.faults]]\nendpoint = \"{endpoint}\"\nfrom = \"{from}s\"\nuntil = \"{}s\"\n{kind}\n\n",
        from + length
    )
}

/// In one world in twenty, Cal.com answers creates with a booking it already holds for a
/// while (20 s to 2 min, some or all of them): `replay`, any booking of the event type (a
/// wrong answer post-sync validation must catch), or `replay_key`, the booking with the
/// same idempotency key whatever its status (Cal.com handing back a cancelled booking).
fn replay(rng: &mut StreamRng, plan: &mut Plan) -> String {
    let drawn = if rng.random_bool(0.05) {
        1 + rng.random_range(0..2)
    } else {
        0
    };
    let kind = match plan.pick("calcom_replay", drawn) {
        0 => return String::new(),
        1 => "replay",
        _ => "replay_key",
    };
    let from = rng.random_range(0..60);
    let length = [20, 60, 120][rng.random_range(0..3)];
    let p = [0.3, 1.0][rng.random_range(0..2)];
    format!(
        "[[calcom.faults]]\nendpoint = \"create_booking\"\nfrom = \"{from}s\"\nuntil = \"{}s\"\nprobability = {p}\nkind = \"{kind}\"\n\n",
        from + length
    )
}

/// Redis and the database misbehaving (`kind = "redis"` / `"database"`, see
/// engine/src/infra.rs): in one world in five a Redis fault, in one in eight a database
/// fault, each in any of its modes, from a moment in the first 90 s, for a blink (under 5 s),
/// a while (to 40 s) or long (to 2 min, past the locks' TTL). A stream of its own: the rest
/// of every world stays as it was before these were drawn.
fn infra_faults(rng: &mut StreamRng, plan: &mut Plan) -> String {
    use booking_engine::infra::Mode;
    let mut out = String::new();
    for (part, odds, modes) in [
        ("redis", 0.2, &Mode::ALL[..]),
        ("database", 0.125, &Mode::ALL[..4]),
    ] {
        let drawn = if rng.random_bool(odds) {
            1 + rng.random_range(0..modes.len())
        } else {
            0
        };
        let Some(&mode) = plan
            .pick(&format!("{part}_fault"), drawn)
            .checked_sub(1)
            .and_then(|i| modes.get(i))
        else {
            continue;
        };
        let at = rng.random_range(0..90_000);
        let duration: u64 = match rng.random_range(0..3) {
            0 => rng.random_range(100..5_000),
            1 => rng.random_range(5_000..40_000),
            _ => rng.random_range(40_000..120_000),
        };
        let _ = write!(
            out,
            "[[faults]]\nkind = \"{part}\"\nmode = \"{}\"\nat = \"{at}ms\"\nduration = \"{duration}ms\"\n",
            mode.name()
        );
        let _ = match mode {
            Mode::Slow => writeln!(out, "latency = \"{}ms\"", rng.random_range(20..12_000)),
            Mode::Timeout => writeln!(out, "latency = \"{}ms\"", rng.random_range(200..5_000)),
            Mode::Failover => writeln!(out, "lost_writes = \"{}ms\"", rng.random_range(20..10_000)),
            _ => Ok(()),
        };
        out.push('\n');
    }
    out
}

/// The faults and Cal.com misbehaviour `swarm` switches on, as scenario tables: 5xx on
/// create, a 429 window, a stale listing, lost or duplicated webhooks, saves that fail, an
/// engine crash, a partition.
pub(super) fn misbehaviour(
    rng: &mut StreamRng,
    lengths: &mut StreamRng,
    again: &mut StreamRng,
    swarm: &Swarm,
) -> String {
    let mut faults = String::new();
    if swarm.create_errors {
        let p = [0.1, 0.3][rng.random_range(0..2)];
        let _ = writeln!(
            faults,
            "[[calcom.faults]]\nendpoint = \"create_booking\"\nprobability = {p}\nkind = \"status\"\nstatus = 500\n"
        );
    }
    if swarm.throttling {
        let from = [30, 30, 5, 15, 45][lengths.random_range(0..5)];
        let until = from + [30, 30, 10, 60, 90][lengths.random_range(0..5)];
        let p = [0.5, 0.5, 0.2, 0.8, 1.0][lengths.random_range(0..5)];
        let _ = writeln!(
            faults,
            "[[calcom.faults]]\nendpoint = \"any\"\nfrom = \"{from}s\"\nuntil = \"{until}s\"\nprobability = {p}\nkind = \"status\"\nstatus = 429\n"
        );
    }
    if swarm.listing_lag {
        let lag = [5, 30, 120][rng.random_range(0..3)];
        let _ = writeln!(
            faults,
            "[calcom.consistency]\nslots_lag = {{ fixed = \"{lag}s\" }}\n"
        );
    }
    if swarm.webhook_loss || swarm.webhook_duplicates {
        let loss = if swarm.webhook_loss { 0.5 } else { 0.0 };
        let dup = if swarm.webhook_duplicates { 0.5 } else { 0.0 };
        let _ = writeln!(
            faults,
            "[calcom.webhooks]\nloss_probability = {loss}\nduplicate_probability = {dup}\n"
        );
    }
    if swarm.save_failures {
        // Saving after Cal.com booked fails now and then: the saga's work.
        let _ = writeln!(faults, "[policy.infra]\nsave_failure_probability = 0.3\n");
    }
    if swarm.engine_crash {
        let at = rng.random_range(2..30);
        let down = [10, 10, 45, 90][lengths.random_range(0..4)];
        let _ = writeln!(
            faults,
            "[[faults]]\nkind = \"engine_crash\"\nat = \"{at}s\"\nrestart_after = \"{down}s\"\n"
        );
        // In a third of those worlds (a stream of its own: the rest stay as they were) it
        // dies again, while its recovery is under way or soon after.
        let twice = again.random_bool(1.0 / 3.0);
        if swarm.crash_twice.unwrap_or(twice) {
            let at = at + down + again.random_range(0..30);
            let down = [5, 10, 45][again.random_range(0..3)];
            let _ = writeln!(
                faults,
                "[[faults]]\nkind = \"engine_crash\"\nat = \"{at}s\"\nrestart_after = \"{down}s\"\n"
            );
        }
    }
    if swarm.partition {
        let at = rng.random_range(2..30);
        let cut = [5, 5, 20, 60][lengths.random_range(0..4)];
        let _ = writeln!(
            faults,
            "[[faults]]\nkind = \"partition\"\nat = \"{at}s\"\nduration = \"{cut}s\"\n"
        );
    }
    faults
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::explore::search::check;
    use crate::scenario::Scenario;

    #[test]
    fn every_generated_world_is_a_valid_scenario_and_the_same_for_a_seed() {
        for seed in 0..300 {
            let text = generate(seed);
            assert_eq!(text, generate(seed));
            Scenario::parse(&text, "generated")
                .unwrap_or_else(|e| panic!("seed {seed}: {e}\n{text}"));
        }
        assert_ne!(generate(1), generate(2));
        // Some worlds have a tight Cal.com plan.
        let worlds: String = (0..300).map(generate).collect();
        assert!(worlds.contains("[calcom.api.rate_limit]\nlimit = 10\n"));
        // Some worlds crash the engine twice: the second while the first's recovery runs.
        assert!(
            (0..300).any(|seed| generate(seed).matches("kind = \"engine_crash\"").count() == 2),
            "no world with a second crash"
        );
    }

    /// Half the worlds have a salon shape beyond stylists and services, and across them
    /// every kind is drawn: each calendar (the clocks going forward and back, the new year,
    /// a closed Saturday), breaks and short days, lengths off the grid, three-part services,
    /// each slot interval, minimum notice, a host order of Cal.com's own, bookings already
    /// there. `full` holds in 60 of them.
    #[test]
    fn generated_salons_take_every_shape_and_full_holds_there() {
        let worlds: Vec<(u64, String)> = (0..400)
            .filter(|seed| !Shape::draw(*seed, &mut Plan::swarm()).plain)
            .map(|seed| (seed, generate(seed)))
            .collect();
        assert!(worlds.len() > 150, "{} shaped worlds of 400", worlds.len());
        let all = worlds.iter().map(|(_, w)| w.as_str()).collect::<String>();
        for mark in CALENDARS
            .iter()
            .chain(&ZONED)
            .map(|c| format!("start = \"{}T", c.start))
            .chain(
                ZONED
                    .iter()
                    .filter_map(|c| c.zone)
                    .map(|z| format!("time_zone = \"{z}\"")),
            )
            .chain(
                [
                    "\"09:00-12:00\", \"13:00-18:00\"",
                    "\"10:00-11:30\"",
                    "length_minutes = 25",
                    "length_minutes = 90",
                    "part 2",
                    "slot_interval_minutes = 30",
                    "minimum_notice = \"26h\"",
                    "[[calcom.bookings]]",
                    "sun = [",
                ]
                .map(str::to_owned),
            )
        {
            assert!(all.contains(&mark), "no shaped world has {mark}");
        }
        assert!(
            worlds.iter().any(|(_, w)| {
                w.contains("[[calcom.event_types]]") && !w.contains("slot_interval_minutes")
            }),
            "no world with slots every event type's length"
        );
        for (seed, text) in worlds.iter().take(60) {
            let found = check(text, "test", "full").unwrap();
            assert_eq!(found, None, "seed {seed} under full\n{text}");
        }
    }

    /// Scripted callers talk in every shape of `Conversation` (cancelling and booking
    /// again, checking twice, booking unchecked, booking two slots, ...) and `full` holds in
    /// 60 such worlds: a caller is never refused by its own hold or booking, and a caller
    /// told its appointment is cancelled holds none.
    #[test]
    fn generated_callers_talk_in_every_shape_and_full_holds_there() {
        let worlds: Vec<(u64, String)> = (0..400)
            .map(|seed| (seed, generate(seed)))
            .filter(|(_, w)| w.contains("cancel_appointment") || w.contains("get_alternatives"))
            .collect();
        // The functions each scripted call calls, in order, over 400 generated worlds.
        let functions = |calls: &str| -> Vec<String> {
            calls
                .lines()
                .filter_map(|l| l.strip_prefix("function = "))
                .map(str::to_owned)
                .collect()
        };
        let talked: std::collections::BTreeSet<Vec<String>> = (0..400)
            .flat_map(|seed| {
                let world = generate(seed);
                world
                    .split("[[calls]]")
                    .skip(1)
                    .map(functions)
                    .collect::<Vec<_>>()
            })
            .collect();
        for shape in Conversation::ALL {
            let steps = shape.steps("Service 0", "2025-11-25T10:00", "2025-11-25T11:00", 0);
            let wanted = functions(&steps);
            assert!(
                talked.iter().any(|t| t.starts_with(&wanted)),
                "no generated caller talks as {shape:?}: {wanted:?}"
            );
        }
        for (seed, text) in worlds.iter().take(60) {
            let found = check(text, "test", "full").unwrap();
            assert_eq!(found, None, "seed {seed} under full\n{text}");
        }
    }

    /// Pairwise drawing: the features each world records are what it holds, and any
    /// `features::rows()` consecutive seeds (from 0, from 37, from a million) meet every pair
    /// of two features' values, each world a valid scenario; as many swarm-drawn worlds meet
    /// fewer. `full` holds in the first 30 pairwise worlds.
    #[test]
    fn pairwise_worlds_meet_every_pair_of_features_within_the_array() {
        use crate::explore::features::{self, FEATURES, PairCoverage};
        let rows = features::rows() as u64;
        assert!(rows <= 100, "{rows} rows");
        for first in [0, 37, 1_000_000] {
            let mut met = PairCoverage::default();
            for seed in first..first + rows {
                let (text, row) = generate_drawn(seed, Draw::Pairwise);
                Scenario::parse(&text, "generated")
                    .unwrap_or_else(|e| panic!("seed {seed}: {e}\n{text}"));
                met.add(&row);
            }
            let missing: Vec<String> = met.missing().iter().map(features::describe).collect();
            assert!(missing.is_empty(), "from seed {first}: {missing:?}");
        }
        let mut swarm = PairCoverage::default();
        for seed in 0..rows {
            swarm.add(&generate_drawn(seed, Draw::Swarm).1);
        }
        assert!(!swarm.missing().is_empty(), "swarm met every pair too");
        // What a world records is what its text holds.
        let value = |row: &[usize], name: &str| {
            let i = FEATURES.iter().position(|f| f.name == name).unwrap();
            FEATURES[i].values[row[i]]
        };
        for seed in 0..rows {
            let (text, row) = generate_drawn(seed, Draw::Pairwise);
            let has = |mark: &str| text.contains(mark);
            let on = |name: &str| value(&row, name) != "off";
            assert_eq!(on("journeys"), has("[[journeys]]"), "seed {seed}");
            assert_eq!(on("bursts"), has("[[storms]]"), "seed {seed}");
            assert_eq!(
                value(&row, "conversation") != "none",
                has("[[calls]]"),
                "seed {seed}"
            );
            assert_eq!(
                on("tight_plan"),
                has("[calcom.api.rate_limit]"),
                "seed {seed}"
            );
            assert_eq!(
                on("existing_bookings"),
                has("[[calcom.bookings]]"),
                "seed {seed}"
            );
            assert_eq!(
                on("save_failures"),
                has("save_failure_probability"),
                "seed {seed}"
            );
            let crashes = text.matches("kind = \"engine_crash\"").count();
            assert_eq!(
                value(&row, "engine_crash"),
                ["off", "once", "twice"][crashes],
                "seed {seed}"
            );
            match value(&row, "calcom_replay") {
                "off" => assert!(!has("kind = \"replay"), "seed {seed}"),
                kind => assert!(has(&format!("kind = \"{kind}\"")), "seed {seed}"),
            }
            match value(&row, "notice") {
                "none" => {}
                notice => assert!(
                    has(&format!("minimum_notice = \"{notice}\"")),
                    "seed {seed}"
                ),
            }
            if value(&row, "service") == "three_part" {
                assert!(has("part 3") || has("part 2\""), "seed {seed}");
            }
        }
        for seed in 0..30 {
            let (text, _) = generate_drawn(seed, Draw::Pairwise);
            let found = check(&text, "test", "full").unwrap();
            assert_eq!(found, None, "pairwise seed {seed} under full\n{text}");
        }
    }

    /// Worlds in which explore found this class, each fixed since (`sync-outage` was
    /// found by hand).
    const FOUND: [u64; 4] = [501_708, 538_642, 13_488, 4_798];

    /// One generated world in ten has a Cal.com outage over whatever repair is under way
    /// (the class behind `recovery-throttled`, `unknown-create-retried`,
    /// `uncertain-compound-failed` and `uncertain-then-retried`): every kind of outage is
    /// drawn, and `full` holds in 80 such worlds and in those where explore found the class.
    #[test]
    fn full_holds_through_generated_calcom_outages() {
        let worlds: Vec<(u64, String, String)> = (0..)
            .map(|seed| {
                let outage = outage(
                    &mut SeedStreams::new(seed).stream("explore-outage"),
                    &mut Plan::swarm(),
                );
                (seed, outage, generate(seed))
            })
            .filter(|(_, outage, _)| !outage.is_empty())
            .take(80)
            .chain(FOUND.map(|seed| (seed, String::new(), generate(seed))))
            .collect();
        for kind in ["503", "502", "429", "reset", "hang"] {
            assert!(
                worlds.iter().any(|(_, o, _)| o.contains(kind)),
                "no outage of kind {kind}"
            );
        }
        for (seed, outage, text) in &worlds {
            assert!(
                text.contains(outage.as_str()),
                "seed {seed}: outage not in its world"
            );
            let found = check(text, "test", "full").unwrap();
            assert_eq!(found, None, "seed {seed} under full\n{text}");
        }
    }
}
