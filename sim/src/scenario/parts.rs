//! A scenario parsed in parts, so that its cost is proportional to its size: a file of
//! 100 000 `[[calls]]` tables parsed as one TOML document held the whole document (every
//! key and value with its span, in a map per table) at once, 870 MB and 3.9 s. Here the
//! file is split where TOML's own lexer finds a table header at the start of a line: the
//! `[[calls]]` tables go to the parser a group at a time (each group's document dropped
//! once its calls are read), everything else as one document.
//!
//! The parts are parsed only to be faster: whenever one fails (a mistake in the file, or a
//! split that TOML would not make, e.g. a `[` starting a line inside a multi-line array),
//! [`parse`] returns `None` and the file is parsed whole, where every error comes from, so
//! messages name the line as before. A split inside a value always leaves a part with that
//! value unterminated, so parts that all parse hold what the whole file holds.

use crate::scenario::format::{Scenario, ScriptedCall, Zoned};

/// `[[calls]]` tables parsed as one document.
pub const GROUP: usize = 512;

/// The calls of one group.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Calls {
    calls: Vec<ScriptedCall>,
}

/// The file split: everything but the calls (`rest`), and the calls in groups of at most
/// [`GROUP`] `[[calls]]` tables, each group a TOML document of its own.
#[derive(Debug, Default, PartialEq)]
pub struct Parts {
    pub rest: String,
    pub groups: Vec<String>,
}

/// Splits `text` at the table headers that start a line: a `[[calls]]` header starts a
/// call, and the call goes on through its own tables (`[[calls.steps]]`, `[calls.…]`)
/// up to the next other header. `None`: no `[[calls]]` header (nothing to gain).
pub fn split(text: &str) -> Option<Parts> {
    use toml_parser::lexer::TokenKind;
    let mut parts = Parts::default();
    let mut group = String::new();
    let mut in_group = 0;
    let mut calls = false;
    let mut from = 0;
    let mut line_start = true;
    let mut flush = |upto: usize, calls: bool, parts: &mut Parts, group: &mut String| {
        if calls {
            group.push_str(&text[from..upto]);
        } else {
            parts.rest.push_str(&text[from..upto]);
        }
        from = upto;
    };
    for token in toml_parser::Source::new(text).lex() {
        match token.kind() {
            TokenKind::Newline => line_start = true,
            TokenKind::Whitespace => {}
            TokenKind::LeftSquareBracket if line_start => {
                line_start = false;
                let at = token.span().start();
                let header = &text[at..];
                let call = header.starts_with("[[calls]]");
                let own = header.starts_with("[[calls.") || header.starts_with("[calls.");
                if call {
                    flush(at, calls, &mut parts, &mut group);
                    calls = true;
                    in_group += 1;
                    if in_group > GROUP {
                        parts.groups.push(std::mem::take(&mut group));
                        in_group = 1;
                    }
                } else if !(calls && own) {
                    flush(at, calls, &mut parts, &mut group);
                    calls = false;
                }
            }
            _ => line_start = false,
        }
    }
    flush(text.len(), calls, &mut parts, &mut group);
    if !group.is_empty() {
        parts.groups.push(group);
    }
    (!parts.groups.is_empty()).then_some(parts)
}

/// The scenario read part by part (see the module), or `None`: parse it whole.
pub fn parse(text: &str) -> Option<(Scenario, Zoned)> {
    let parts = split(text)?;
    let doc = toml::de::DeTable::parse(&parts.rest).ok()?;
    // `calls` written outside `[[calls]]` tables as well: TOML's to judge, whole.
    if doc
        .get_ref()
        .iter()
        .any(|(k, _)| k.get_ref().as_ref() == "calls")
    {
        return None;
    }
    let zoned = Zoned::of(doc.get_ref());
    let mut scenario: Scenario =
        serde::Deserialize::deserialize(toml::de::Deserializer::from(doc)).ok()?;
    for group in &parts.groups {
        let doc = toml::de::DeTable::parse(group).ok()?;
        let read: Calls =
            serde::Deserialize::deserialize(toml::de::Deserializer::from(doc)).ok()?;
        scenario.calls.extend(read.calls);
    }
    Some((scenario, zoned))
}
