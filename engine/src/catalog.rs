//! What the salon offers and how it maps to Cal.com: services (simple, or compound with
//! segments and processing gaps) and their event types. The default matches the mock's demo
//! world, so `booking-engine serve` and `mock-calcom serve` work together without a file.

use chrono_tz::Tz;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use simkit::limits;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    #[serde(default = "company")]
    pub company_id: u64,
    #[serde(default = "company")]
    pub branch_id: u64,
    #[serde(default = "berlin")]
    #[schemars(with = "simkit::schema::TimeZone")]
    pub time_zone: Tz,
    pub services: Vec<Service>,
}

fn company() -> u64 {
    15
}

fn berlin() -> Tz {
    chrono_tz::Europe::Berlin
}

/// A service callers ask for by name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Service {
    pub id: u64,
    pub name: String,
    /// Other names callers use (matched case-insensitively).
    #[serde(default)]
    pub aliases: Vec<String>,
    /// The phases in order. A simple service is one staffed segment.
    pub segments: Vec<Segment>,
    /// Cal.com host ids of the staff who can do it (Cal.com assigns one of them).
    pub staff: Vec<u64>,
}

/// One phase of a service: staffed (booked as a Cal.com event type) or a processing gap.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Segment {
    pub name: String,
    pub minutes: u32,
    /// The Cal.com event type booked for this segment; `None`: a gap that needs no staff.
    pub event_type_id: Option<u64>,
}

impl Service {
    pub fn duration_minutes(&self) -> u32 {
        self.segments
            .iter()
            .fold(0u32, |total, s| total.saturating_add(s.minutes))
    }

    pub fn is_compound(&self) -> bool {
        self.segments.len() > 1
    }

    /// The event type whose slots say whether the service can start at a time: the first
    /// staffed segment's.
    pub fn lead_event_type(&self) -> Option<u64> {
        self.segments.iter().find_map(|s| s.event_type_id)
    }

    /// Each segment with its start offset in minutes from the service's start.
    pub fn timeline(&self) -> impl Iterator<Item = (u32, &Segment)> {
        self.segments.iter().scan(0u32, |offset, seg| {
            let at = *offset;
            *offset = offset.saturating_add(seg.minutes);
            Some((at, seg))
        })
    }

    pub fn answers_to(&self, name: &str) -> bool {
        let name = name.trim();
        self.name.eq_ignore_ascii_case(name)
            || self.aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
    }
}

impl Catalog {
    /// What the types cannot say: unique ids and names, a staffed segment in every service,
    /// segments of sane length (a service is at most a day).
    pub fn check(&self) -> Result<(), String> {
        let mut ids = std::collections::BTreeSet::new();
        for (i, s) in self.services.iter().enumerate() {
            let at = format!("services[{i}]");
            if !ids.insert(s.id) {
                return Err(format!("{at}.id: service id {} is used twice", s.id));
            }
            if s.name.trim().is_empty() {
                return Err(format!("{at}.name: expected a name callers can say"));
            }
            if let Some(other) = self.services[..i].iter().find(|o| {
                std::iter::once(&s.name)
                    .chain(&s.aliases)
                    .any(|n| o.answers_to(n))
            }) {
                return Err(format!(
                    "{at}.name: `{}` (or an alias) is already a name of `{}`",
                    s.name, other.name
                ));
            }
            if s.lead_event_type().is_none() {
                return Err(format!(
                    "{at}.segments: expected at least one segment with an event_type_id"
                ));
            }
            for (j, seg) in s.segments.iter().enumerate() {
                let min = u64::from(seg.event_type_id.is_some());
                limits::count(
                    &format!("{at}.segments[{j}].minutes"),
                    seg.minutes.into(),
                    min,
                    1440,
                )
                .map_err(|e| e.to_string())?;
            }
            limits::count(
                &format!("{at}.segments"),
                s.duration_minutes().into(),
                1,
                1440,
            )
            .map_err(|e| format!("{e} (the whole service)"))?;
        }
        Ok(())
    }

    /// Every staffed segment against the length Cal.com books for its event type
    /// (`lengths`, minutes by event type id; ids not in it are not checked): a segment
    /// shorter or longer than its event type makes the engine lock and check another span
    /// than Cal.com books. `Err` names the segment, its minutes and the event type's.
    pub fn check_lengths(
        &self,
        lengths: &std::collections::BTreeMap<u64, u32>,
    ) -> Result<(), String> {
        for (i, s) in self.services.iter().enumerate() {
            for (j, seg) in s.segments.iter().enumerate() {
                let Some(id) = seg.event_type_id else {
                    continue;
                };
                if let Some(&booked) = lengths.get(&id)
                    && booked != seg.minutes
                {
                    return Err(format!(
                        "services[{i}].segments[{j}].minutes ({}, {}): {} minutes, but Cal.com books event type {id} for {booked} minutes (its length_minutes): the engine would lock and check {} minutes while Cal.com books {booked}; make them equal",
                        s.name, seg.name, seg.minutes, seg.minutes
                    ));
                }
            }
        }
        Ok(())
    }

    pub fn service(&self, name: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.answers_to(name))
    }

    pub fn service_by_event_type(&self, event_type_id: u64) -> Option<&Service> {
        self.services.iter().find(|s| {
            s.segments
                .iter()
                .any(|seg| seg.event_type_id == Some(event_type_id))
        })
    }

    /// The event type of segment `segment` of service `service_id`.
    pub fn service_by_event_type_in(&self, service_id: u64, segment: &str) -> Option<u64> {
        self.services
            .iter()
            .find(|s| s.id == service_id)?
            .segments
            .iter()
            .find(|s| s.name == segment)?
            .event_type_id
    }

    /// The mock's demo salon: Herrenhaarschnitt (30 min) and Dauerwelle (A 45, B 45, a
    /// 20-minute processing gap C, D 45).
    pub fn demo() -> Self {
        let seg = |name: &str, minutes, event_type_id| Segment {
            name: name.into(),
            minutes,
            event_type_id,
        };
        Catalog {
            company_id: 15,
            branch_id: 15,
            time_zone: berlin(),
            services: vec![
                Service {
                    id: 1,
                    name: "Herrenhaarschnitt".into(),
                    aliases: vec!["Haarschnitt".into(), "Herren Haarschnitt".into()],
                    segments: vec![seg("Haarschnitt", 30, Some(1001))],
                    staff: vec![1, 2],
                },
                Service {
                    id: 2,
                    name: "Dauerwelle".into(),
                    aliases: vec![],
                    segments: vec![
                        seg("A: Vorbereitung", 45, Some(1002)),
                        seg("B: Wickeln", 45, Some(1003)),
                        seg("C: Einwirkzeit", 20, None),
                        seg("D: Fixieren und Finish", 45, Some(1004)),
                    ],
                    staff: vec![1, 2],
                },
            ],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_are_found_by_name_or_alias() {
        let c = Catalog::demo();
        assert_eq!(c.service("herrenhaarschnitt").unwrap().id, 1);
        assert_eq!(c.service(" Haarschnitt ").unwrap().id, 1);
        let perm = c.service("Dauerwelle").unwrap();
        assert!(perm.is_compound());
        assert_eq!(perm.duration_minutes(), 155);
        assert_eq!(perm.lead_event_type(), Some(1002));
        assert!(c.service("Färben").is_none());
        assert_eq!(c.service_by_event_type(1004).unwrap().id, 2);
        let offsets: Vec<u32> = perm.timeline().map(|(at, _)| at).collect();
        assert_eq!(offsets, [0, 45, 90, 110]);
    }
}
