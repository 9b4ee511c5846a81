//! `--set field=value`: overrides of any scenario field by its dotted path.

use crate::scenario::ScenarioError;

/// The scenario text with `--set` overrides applied (as TOML, comments dropped).
pub fn with_sets_text(text: &str, origin: &str, sets: &[String]) -> Result<String, ScenarioError> {
    let mut doc: toml::Table =
        toml::from_str(text).map_err(|e| ScenarioError(format!("{origin}: {e}")))?;
    for set in sets {
        let (path, value) = set
            .split_once('=')
            .ok_or_else(|| ScenarioError(format!("--set {set}: expected field=value")))?;
        let value: toml::Value = toml::from_str::<toml::Table>(&format!("v = {value}"))
            .map(|mut t| t.remove("v").expect("just written"))
            .unwrap_or_else(|_| toml::Value::String(value.to_owned()));
        set_path(&mut doc, path, value).map_err(|e| ScenarioError(format!("--set {set}: {e}")))?;
    }
    toml::to_string(&doc).map_err(|e| ScenarioError(e.to_string()))
}

/// Sets a dotted path (`policy.cache_ttl`, `journeys[0].arrivals.rate` or
/// `journeys.0.arrivals.rate`), creating missing tables on the way.
fn set_path(doc: &mut toml::Table, path: &str, value: toml::Value) -> Result<(), String> {
    let path = path.trim().replace('[', ".").replace(']', "");
    let parts: Vec<&str> = path.split('.').filter(|p| !p.is_empty()).collect();
    let (first, rest) = parts.split_first().ok_or("expected a field name")?;
    let table = || toml::Value::Table(toml::Table::new());
    if rest.is_empty() {
        doc.insert((*first).to_owned(), value);
        return Ok(());
    }
    let mut here = doc.entry((*first).to_owned()).or_insert_with(table);
    let mut name = *first;
    for (i, part) in rest.iter().enumerate() {
        let last = i + 1 == rest.len();
        here = match here {
            toml::Value::Table(t) => {
                if last {
                    t.insert((*part).to_owned(), value);
                    return Ok(());
                }
                t.entry((*part).to_owned()).or_insert_with(table)
            }
            toml::Value::Array(items) => {
                let len = items.len();
                let at = part.parse::<usize>().ok().filter(|i| *i < len).ok_or_else(|| {
                    format!("`{name}` is a list of {len}: give an index below {len}, e.g. `{name}[0]`")
                })?;
                if last {
                    items[at] = value;
                    return Ok(());
                }
                &mut items[at]
            }
            _ => return Err(format!("`{name}` is not a table")),
        };
        name = part;
    }
    unreachable!("the last part returns")
}
