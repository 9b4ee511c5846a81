//! The `[explore]` table of a scenario file: what `bookingsim explore FILE` may vary
//! around it.

use std::collections::BTreeMap;

/// The `[explore]` table of a scenario file: what `bookingsim explore FILE` varies around
/// it. Everything the file fixes stays fixed; each run gets its own seed.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Space {
    /// Add generated faults and Cal.com misbehaviour (each class on or off per run) to the
    /// file's own. Default: true.
    #[serde(default = "yes")]
    pub faults: bool,
    /// Fields drawn anew for each run, by `--set` path: a range `"lo..hi"` of numbers or
    /// durations (`"calcom.external.rate_per_hour" = "0..120"`, `"retell.timeout" =
    /// "5s..40s"`), or a list of values to pick from (`"policy.lock_wait" = ["1s", "10s"]`).
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, serde_json::Value>")]
    pub ranges: BTreeMap<String, toml::Value>,
}

impl Default for Space {
    fn default() -> Self {
        Space {
            faults: true,
            ranges: BTreeMap::new(),
        }
    }
}

fn yes() -> bool {
    true
}
