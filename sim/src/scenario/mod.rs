//! Scenario files: one TOML file tells one story. Unknown fields are errors naming the file,
//! line and field; semantic mistakes name the field and what was expected.

pub mod format;
pub mod gates;
pub mod overrides;
pub mod parts;
pub mod schema;
pub mod space;
pub mod staff;
pub mod validate;
pub mod workers;

use std::path::Path;

pub use format::*;
pub use overrides::with_sets_text;
pub use staff::{BookingChoice, StaffAction};

/// A scenario that could not be loaded; `Display` names file, line and field.
#[derive(Debug, Clone)]
pub struct ScenarioError(pub String);

impl std::fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ScenarioError {}

impl Scenario {
    pub fn load(path: &Path) -> Result<Self, ScenarioError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ScenarioError(format!("{}: {e}", path.display())))?;
        Self::parse(&text, &path.display().to_string())
    }

    pub fn parse(text: &str, origin: &str) -> Result<Self, ScenarioError> {
        let (mut scenario, zoned) = match parts::parse(text) {
            Some(parsed) => parsed,
            None => Self::parse_whole(text, origin)?,
        };
        scenario.zone_throughout(&zoned);
        scenario
            .check()
            .map_err(|e| match validate::line_of(text, validate::field_of(&e)) {
                Some(line) => ScenarioError(format!("{origin}:{line}: {e}")),
                None => ScenarioError(format!("{origin}: {e}")),
            })?;
        Ok(scenario)
    }

    /// The file parsed as one document: what [`parts::parse`] falls back to, and where
    /// every error comes from (naming the line, as `toml::from_str`'s do).
    pub fn parse_whole(text: &str, origin: &str) -> Result<(Self, format::Zoned), ScenarioError> {
        let failed =
            |e: toml::de::Error| ScenarioError(format!("{origin}: {}", e.to_string().trim_end()));
        // Parsed once: which zones it writes out is read from the document, then the
        // scenario.
        let doc = toml::de::DeTable::parse(text).map_err(failed)?;
        let zoned = format::Zoned::of(doc.get_ref());
        let scenario =
            <Scenario as serde::Deserialize>::deserialize(toml::de::Deserializer::from(doc))
                .map_err(|mut e| {
                    e.set_input(Some(text));
                    failed(e)
                })?;
        Ok((scenario, zoned))
    }

    /// Applies `--set field=value` overrides (dotted TOML paths into the scenario).
    pub fn with_sets(text: &str, origin: &str, sets: &[String]) -> Result<Self, ScenarioError> {
        if sets.is_empty() {
            return Self::parse(text, origin);
        }
        let text = with_sets_text(text, origin, sets)?;
        Self::parse(&text, &format!("{origin} (with --set)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use booking_engine::Policy;
    use mock_calcom::MockConfig;

    const MINIMAL: &str = "name = \"t\"\nstart = \"2025-11-24T09:00:00\"\nduration = \"1m\"\n";

    #[test]
    fn a_minimal_scenario_takes_every_default() {
        let s = Scenario::parse(MINIMAL, "t.toml").unwrap();
        assert_eq!(s.policy().unwrap(), Policy::baseline());
        assert_eq!(s.calcom, MockConfig::demo());
        assert_eq!(s.start_utc().to_rfc3339(), "2025-11-24T08:00:00+00:00");
    }

    #[test]
    fn typos_wrong_types_and_bad_durations_name_file_line_and_field() {
        let typo = format!("{MINIMAL}sed = 3\n");
        let e = Scenario::parse(&typo, "s.toml").unwrap_err().to_string();
        assert!(
            e.starts_with("s.toml:") && e.contains("line 4") && e.contains("unknown field `sed`"),
            "{e}"
        );
        let wrong_type = format!("{MINIMAL}seed = \"three\"\n");
        let e = Scenario::parse(&wrong_type, "s.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 4") && e.contains("invalid type"), "{e}");
        let bad_duration = MINIMAL.replace("\"1m\"", "\"one minute\"");
        let e = Scenario::parse(&bad_duration, "s.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 3") && e.contains("duration"), "{e}");
        let bad_policy = format!("{MINIMAL}[policy]\npreset = \"fastest\"\n");
        let e = Scenario::parse(&bad_policy, "s.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown policy `fastest`"), "{e}");
        let bad_gate = format!("{MINIMAL}gates = [\"race_failure_rate <\"]\n");
        let e = Scenario::parse(&bad_gate, "s.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("gates"), "{e}");
        let nested = format!("{MINIMAL}[calcom.api.rate_limit]\nlimt = 5\n");
        let e = Scenario::parse(&nested, "s.toml").unwrap_err().to_string();
        assert!(
            e.contains("line 5") && e.contains("unknown field `limt`"),
            "{e}"
        );
    }

    #[test]
    fn sets_override_any_field() {
        let s = Scenario::with_sets(
            MINIMAL,
            "t.toml",
            &["seed=9".into(), "policy.double_check=true".into()],
        )
        .unwrap();
        assert_eq!(s.seed, 9);
        assert!(s.policy().unwrap().double_check);
        let journeys = format!(
            "{MINIMAL}[[journeys]]\narrivals = {{ kind = \"poisson\", rate = 10 }}\nduration = \"1m\"\nservice = \"Herrenhaarschnitt\"\nslots = [\"2025-11-24T10:00\"]\n"
        );
        for path in ["journeys[0].arrivals.rate", "journeys.0.arrivals.rate"] {
            let s = Scenario::with_sets(&journeys, "t.toml", &[format!("{path}=3.5")]).unwrap();
            assert!(
                matches!(s.journeys[0].arrivals, Arrivals::Poisson { rate } if rate == 3.5),
                "{path}"
            );
        }
        let e = Scenario::with_sets(&journeys, "t.toml", &["journeys[1].duration=\"2m\"".into()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("`journeys` is a list of 1"), "{e}");
    }
}
