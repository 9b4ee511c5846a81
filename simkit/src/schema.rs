//! JSON Schemas of the values written the way people write them (`bookingsim schema`):
//! durations as humantime text, distributions in their four forms, IANA time zones. The
//! types here are stand-ins for `#[schemars(with = "…")]`: they describe what a field's
//! custom serde accepts; nothing is ever made of them.

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};

/// A humantime duration, as `humantime_serde` reads it.
pub struct HumanDuration;

/// What [`humantime::parse_duration`] accepts: numbers (a fraction allowed) with a unit,
/// one after another.
pub const DURATION_PATTERN: &str = r"^\s*([0-9]+(\.[0-9]+)?\s*(nanos|nsec|ns|usec|us|µs|millis|msec|ms|seconds|second|secs|sec|s|minutes|minute|mins|min|m|hours|hour|hrs|hr|h|days|day|d|weeks|week|wks|wk|w|months|month|M|years|year|yrs|yr|y)\s*)+$";

impl JsonSchema for HumanDuration {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "A duration: 90s, 300ms, 5m, 1h 30m, 1.5s.",
            "pattern": DURATION_PATTERN,
            "examples": ["30s", "300ms", "1h 30m"],
        })
    }
}

/// A duration or `"off"` (a protection layer switched off).
pub struct OffOrDuration;

impl JsonSchema for OffOrDuration {
    fn schema_name() -> Cow<'static, str> {
        "OffOrDuration".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A duration such as \"30s\", or \"off\".",
            "anyOf": [{ "const": "off" }, generator.subschema_for::<HumanDuration>()],
        })
    }
}

/// Whole minutes or `"off"`.
pub struct OffOrMinutes;

impl JsonSchema for OffOrMinutes {
    fn schema_name() -> Cow<'static, str> {
        "OffOrMinutes".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "Minutes (a whole number), or \"off\".",
            "anyOf": [{ "const": "off" }, { "type": "integer", "minimum": 0 }],
        })
    }
}

/// An IANA time zone name, as `chrono_tz::Tz` reads it.
pub struct TimeZone;

impl JsonSchema for TimeZone {
    fn schema_name() -> Cow<'static, str> {
        "TimeZone".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "An IANA time zone, e.g. Europe/Berlin.",
            "examples": ["Europe/Berlin", "America/New_York"],
        })
    }
}

/// Any TOML table (function arguments, passed on as they are).
pub type AnyTable = std::collections::BTreeMap<String, serde_json::Value>;

impl JsonSchema for crate::Distribution {
    fn schema_name() -> Cow<'static, str> {
        "Distribution".into()
    }

    /// The four forms `DistributionInput` accepts; the checks after parsing (order of the
    /// values, at most a day) are the file's validation's.
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let d = generator.subschema_for::<HumanDuration>();
        json_schema!({
            "description": "A random duration: a duration alone (fixed, \"300ms\"), { fixed = \"300ms\" }, { min = \"0s\", max = \"2s\" } (uniform), or percentiles { p50 = \"500ms\", p90 = \"1200ms\", p99 = \"2s\" } with optional min, p95 and max (linear between the points; min defaults to 40 % of p50, max to p99 + (p99 - p90)).",
            "anyOf": [
                d,
                {
                    "type": "object",
                    "properties": { "fixed": d },
                    "required": ["fixed"],
                    "additionalProperties": false,
                },
                {
                    "type": "object",
                    "properties": { "min": d, "max": d },
                    "required": ["min", "max"],
                    "additionalProperties": false,
                },
                {
                    "type": "object",
                    "properties": { "min": d, "p50": d, "p90": d, "p95": d, "p99": d, "max": d },
                    "required": ["p50"],
                    "additionalProperties": false,
                },
            ],
        })
    }
}
