//! What the engine a live run drives says it runs (`GET /api/info`), checked against the
//! scenario's policy before anything is sent: an engine started without the scenario's
//! preset (or its overrides) is refused with what differs, rather than measured as if it
//! were the scenario's.

use booking_engine::Policy;
use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use serde_json::Value;
use simkit::transport::HttpClient;

/// The engine's statement: its preset (when it is one) and every switch.
#[derive(Debug, Clone, PartialEq)]
pub struct Stated {
    pub preset: Option<String>,
    pub policy: Value,
}

/// Asks the engine at `engine` for its policy. `Ok(None)`: it does not say (no
/// `/api/info`: an engine that is not this repository's, or an older one) or cannot be
/// reached (the run will show it).
pub async fn stated(
    client: &HttpClient,
    engine: &str,
    bearer: Option<String>,
) -> Result<Option<Stated>, String> {
    let url = format!("{engine}/api/info");
    let mut request = Request::get(url.as_str());
    // An engine serving beyond loopback guards its read-outs with its admin token.
    if let Some(bearer) = bearer {
        request = request.header("authorization", bearer);
    }
    let request = request
        .body(Full::new(Bytes::new()))
        .map_err(|e| format!("{url}: {e}"))?;
    let Ok(response) = client.send(request).await else {
        return Ok(None);
    };
    if !response.status.is_success() {
        return Ok(None);
    }
    let info: Value = response
        .json()
        .map_err(|e| format!("{url}: not the engine's info: {e}"))?;
    Ok(Some(Stated {
        preset: info["preset"].as_str().map(str::to_owned),
        policy: info["policy"].clone(),
    }))
}

/// Whether the engine's stated policy is `wanted`; if not, what differs, field by field.
pub fn compare(wanted: &Policy, preset: &str, stated: &Stated, engine: &str) -> Result<(), String> {
    let theirs: Policy = serde_json::from_value(stated.policy.clone())
        .map_err(|e| format!("{engine}/api/info: a policy this bookingsim cannot read: {e}"))?;
    if &theirs == wanted {
        return Ok(());
    }
    let (ours, theirs) = (
        serde_json::to_value(wanted).unwrap_or_default(),
        serde_json::to_value(&theirs).unwrap_or_default(),
    );
    let mut differ = Vec::new();
    if let (Some(ours), Some(theirs)) = (ours.as_object(), theirs.as_object()) {
        for (field, want) in ours {
            let have = theirs.get(field).unwrap_or(&Value::Null);
            if have != want {
                differ.push(format!("{field} (engine {have}, scenario {want})"));
            }
        }
    }
    Err(format!(
        "the engine at {engine} runs policy {} but the scenario's is {preset}{}: {}; serve the engine with the scenario's policy (`bookingsim live FILE --print-engine-config` prints its `--policy` and `[policy]` table)",
        stated
            .preset
            .as_deref()
            .unwrap_or("(a preset with overrides)"),
        if Policy::preset(preset).as_ref() == Some(wanted) {
            ""
        } else {
            " with overrides"
        },
        differ.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stated(p: &Policy) -> Stated {
        Stated {
            preset: p.preset_of().map(str::to_owned),
            policy: serde_json::to_value(p).unwrap(),
        }
    }

    /// Every preset against every preset: accepted exactly when they are the same policy,
    /// and a refusal names a field that differs.
    #[test]
    fn a_stated_policy_is_accepted_exactly_when_it_is_the_scenarios() {
        let names: Vec<&str> = booking_engine::policy::PRESETS
            .iter()
            .map(|(n, _)| *n)
            .collect();
        for ours in &names {
            let wanted = Policy::preset(ours).unwrap();
            for theirs in &names {
                let engine = Policy::preset(theirs).unwrap();
                let verdict = compare(&wanted, ours, &stated(&engine), "http://e");
                assert_eq!(verdict.is_ok(), wanted == engine, "{ours} vs {theirs}");
                if let Err(e) = verdict {
                    assert!(e.contains(&format!("runs policy {theirs}")), "{e}");
                    assert!(e.contains("(engine "), "{e}");
                }
            }
        }
        // One override differs: named.
        let wanted =
            Policy::with_overrides("full", &toml::from_str("lock_wait = \"9s\"").unwrap()).unwrap();
        let err = compare(
            &wanted,
            "full",
            &stated(&Policy::preset("full").unwrap()),
            "http://e",
        )
        .unwrap_err();
        assert!(
            err.contains("lock_wait") && err.contains("with overrides"),
            "{err}"
        );
    }

    /// `--print-engine-config` of every catalogue scenario, read by an engine started with
    /// any preset: the scenario's policy, every switch.
    #[test]
    fn the_printed_engine_config_gives_the_scenarios_policy_whatever_the_preset() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .collect();
        files.sort();
        assert!(files.len() > 20);
        for file in files {
            let scenario =
                crate::Scenario::parse(&std::fs::read_to_string(&file).unwrap(), "s").unwrap();
            let text = crate::world::live::engine_config(&scenario, "http://c");
            let table: toml::Table = toml::from_str(&text).unwrap();
            let printed = table["policy"].as_table().unwrap();
            for (preset, _) in booking_engine::policy::PRESETS {
                let served = Policy::with_overrides(preset, printed).unwrap();
                assert_eq!(
                    served,
                    scenario.policy().unwrap(),
                    "{}: served with --policy {preset}",
                    file.display()
                );
            }
        }
    }
}
