//! Zones proven: a world whose scenario names a zone only at the top speaks the salon's
//! local time throughout. Over zones with whole, half- and three-quarter-hour offsets and
//! across DST changes, generated: "heute" and "morgen" are the salon's days, an hour
//! already gone there is "in der Vergangenheit", and working hours are the stylist's local
//! hours. Before the zone reached the engine's catalogue and the stylists they stayed in
//! Berlin: "heute 19:00" in Los Angeles was read as Berlin's and refused as past.

use sim::Scenario;

mod common;
use common::Draw;

/// Zones and days: half-hour (Kolkata, Lord Howe's DST), 45-minute (Chatham, Kathmandu),
/// a DST change in the week (New York's on 2025-11-02, Lord Howe's on 2025-10-05).
const ZONES: &[&str] = &[
    "Asia/Kolkata",
    "America/New_York",
    "America/Los_Angeles",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "Asia/Kathmandu",
    "Europe/Berlin",
];
const DAYS: &[&str] = &["2025-11-03", "2025-10-06", "2025-11-24", "2026-03-30"];

fn world(zone: &str, day: &str, open: u32) -> String {
    format!(
        "name = \"zoned\"\nseed = 1\nstart = \"{day}T{open:02}:30:00\"\ntime_zone = \"{zone}\"\n\
         duration = \"1m\"\nsettle = \"1m\"\n\n[policy]\npreset = \"full\"\n\n\
         [[calcom.hosts]]\nid = 1\nname = \"Stylist 1\"\nworking_hours = {{ weekdays = [\"{open:02}:00-18:00\"] }}\n\n\
         [[calcom.event_types]]\nid = 2000\nslug = \"cut\"\ntitle = \"Cut\"\nlength_minutes = 30\nslot_interval_minutes = 15\nhosts = [1]\n\n\
         [catalog]\n[[catalog.services]]\nid = 1\nname = \"Cut\"\nstaff = [1]\nsegments = [{{ name = \"cut\", minutes = 30, event_type_id = 2000 }}]\n\n\
         [[calls]]\nid = \"today\"\nstart = \"1s\"\nsteps = [{{ at = \"0s\", function = \"check_availability\", args = {{ service_name = \"Cut\", date = \"heute\", time = \"17:00\" }} }}]\n\n\
         [[calls]]\nid = \"tomorrow\"\nstart = \"2s\"\nsteps = [{{ at = \"0s\", function = \"check_availability\", args = {{ service_name = \"Cut\", date = \"morgen\", time = \"{open:02}:00\" }} }}]\n\n\
         [[calls]]\nid = \"past\"\nstart = \"3s\"\nsteps = [{{ at = \"0s\", function = \"check_availability\", args = {{ service_name = \"Cut\", date = \"heute\", time = \"{:02}:00\" }} }}]\n\n\
         [[calls]]\nid = \"closed\"\nstart = \"4s\"\nsteps = [{{ at = \"0s\", function = \"check_availability\", args = {{ service_name = \"Cut\", date = \"morgen\", time = \"19:00\" }} }}]\n",
        open - 1
    )
}

#[test]
fn a_zoned_world_speaks_the_salons_local_time() {
    let mut draw = Draw(0x2043e);
    for (zone, day) in ZONES
        .iter()
        .flat_map(|z| DAYS.iter().map(move |d| (*z, *d)))
    {
        let open = u32::try_from(draw.range(8, 11)).unwrap();
        let text = world(zone, day, open);
        let s = Scenario::parse(&text, "zoned").unwrap_or_else(|e| panic!("{zone}: {e}"));
        assert_eq!(
            s.catalog().time_zone.name(),
            zone,
            "catalogue in the salon's zone"
        );
        assert!(s.calcom.hosts.iter().all(|h| h.time_zone.name() == zone));
        let policy = s.policy().unwrap();
        let run = sim::world::simulated::run(&s, 1, &policy).unwrap();
        let answer = |id: &str| {
            let call = run.calls.iter().find(|c| c.id == id).unwrap();
            (call.steps[0].available, call.steps[0].answer().to_string())
        };
        let (today, text) = answer("today");
        assert_eq!(
            today,
            Some(true),
            "{zone} {day}: heute 17:00 is free: {text}"
        );
        let (tomorrow, text) = answer("tomorrow");
        assert_eq!(
            tomorrow,
            Some(true),
            "{zone} {day}: morgen at opening: {text}"
        );
        let (_, text) = answer("past");
        assert!(
            text.contains("Vergangenheit"),
            "{zone} {day}: an hour before the start is past: {text}"
        );
        let (closed, text) = answer("closed");
        assert_ne!(
            closed,
            Some(true),
            "{zone} {day}: 19:00 is after hours: {text}"
        );
    }
}

/// A zone written for the catalogue or a stylist is kept: the top's zone fills in only
/// what the file leaves out.
#[test]
fn a_zone_written_below_the_top_is_kept() {
    let text = world("Asia/Kolkata", "2025-11-24", 9)
        .replace("[catalog]\n", "[catalog]\ntime_zone = \"Europe/Berlin\"\n")
        .replace(
            "name = \"Stylist 1\"\n",
            "name = \"Stylist 1\"\ntime_zone = \"Europe/London\"\n",
        );
    let s = Scenario::parse(&text, "zoned").unwrap();
    assert_eq!(s.catalog().time_zone.name(), "Europe/Berlin");
    assert_eq!(s.calcom.hosts[0].time_zone.name(), "Europe/London");
}
