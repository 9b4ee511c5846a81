//! The shape of `sim/src`: data flows down the layers of `lib.rs`, and no file imports one
//! in a layer above its own, nor one that (through others) imports it back. Read from the
//! source text, so that a new `use crate::…` that breaks the shape fails here, naming it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, bottom first: a file may import its own layer and those below.
const LAYERS: [&str; 10] = [
    "kinds",
    "scenario",
    "world",
    "history",
    "check",
    "results",
    "pipeline",
    "experiment",
    "calibrate",
    "explore",
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `dir`, as its module path (`results::summary`, `world` for
/// `world/mod.rs`, `` for `lib.rs`).
fn modules(dir: &Path, prefix: &[String], out: &mut BTreeMap<String, PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path.file_stem().unwrap().to_str().unwrap().to_owned();
        if path.is_dir() {
            let mut p = prefix.to_vec();
            p.push(name);
            modules(&path, &p, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let mut p = prefix.to_vec();
            if !["mod", "lib", "main"].contains(&name.as_str()) {
                p.push(name);
            }
            out.insert(p.join("::"), path);
        }
    }
}

/// The code of a file without comments, strings' contents and its test module.
fn code(text: &str) -> String {
    let text = text.split("#[cfg(test)]").next().unwrap_or_default();
    text.lines()
        .map(|l| l.split("//").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The paths a file names with `crate::`, expanded through `use crate::{a, b::{c}}` groups.
fn crate_paths(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if rest.starts_with('{') {
            let end = matching(rest);
            for item in split_top(&rest[1..end]) {
                out.extend(expand("", item.trim()));
            }
        } else {
            let end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(rest.len());
            let path = rest[..end].trim_end_matches(':');
            if rest[end..].starts_with('{') {
                let group = &rest[end..];
                let close = matching(group);
                for item in split_top(&group[1..close]) {
                    out.extend(expand(path, item.trim()));
                }
            } else {
                out.push(path.to_owned());
            }
        }
    }
    out
}

fn matching(text: &str) -> usize {
    let mut depth = 0;
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return i;
                }
            }
            _ => {}
        }
    }
    text.len()
}

fn split_top(text: &str) -> Vec<&str> {
    let (mut depth, mut start, mut out) = (0, 0, Vec::new());
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&text[start..]);
    out
}

fn expand(prefix: &str, item: &str) -> Vec<String> {
    let join = |a: &str, b: &str| {
        if a.is_empty() {
            b.to_owned()
        } else {
            format!("{a}::{b}")
        }
    };
    if let Some(i) = item.find('{') {
        let head = item[..i].trim_end_matches(':');
        let inner = &item[i + 1..item.rfind('}').unwrap_or(item.len())];
        return split_top(inner)
            .into_iter()
            .flat_map(|x| expand(&join(prefix, head), x.trim()))
            .collect();
    }
    let item = item.split(" as ").next().unwrap_or_default().trim();
    if item.is_empty() || item == "self" {
        return vec![prefix.to_owned()];
    }
    vec![join(prefix, item)]
}

/// The module a path lands in: its longest prefix that is a module file.
fn module_of(path: &str, modules: &BTreeMap<String, PathBuf>) -> String {
    let parts: Vec<&str> = path.split("::").collect();
    (0..=parts.len())
        .rev()
        .map(|n| parts[..n].join("::"))
        .find(|m| modules.contains_key(m))
        .unwrap_or_default()
}

fn layer(module: &str) -> usize {
    let top = module.split("::").next().unwrap_or_default();
    LAYERS
        .iter()
        .position(|l| *l == top)
        .unwrap_or(LAYERS.len())
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let mut mods = BTreeMap::new();
    modules(&src(), &[], &mut mods);
    let mut graph = BTreeMap::new();
    for (module, path) in &mods {
        if path.ends_with("main.rs") {
            continue;
        }
        let text = std::fs::read_to_string(path).unwrap();
        let deps: BTreeSet<String> = crate_paths(&code(&text))
            .iter()
            .map(|p| module_of(p, &mods))
            .filter(|m| m != module && !m.is_empty())
            .collect();
        graph.insert(module.clone(), deps);
    }
    graph
}

#[test]
fn no_file_imports_a_layer_above_its_own() {
    let mut upward = Vec::new();
    for (module, deps) in graph() {
        for d in deps {
            if layer(&d) > layer(&module) {
                upward.push(format!("{module} -> {d}"));
            }
        }
    }
    assert!(upward.is_empty(), "imports running up: {upward:#?}");
}

#[test]
fn no_import_circle() {
    let graph = graph();
    // Depth-first search; a node met again while on the stack closes a circle.
    fn visit(
        n: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
        circles: &mut Vec<String>,
    ) {
        if done.contains(n) {
            return;
        }
        if let Some(i) = stack.iter().position(|s| s == n) {
            circles.push(format!("{} -> {n}", stack[i..].join(" -> ")));
            return;
        }
        stack.push(n.to_owned());
        for d in graph.get(n).into_iter().flatten() {
            visit(d, graph, stack, done, circles);
        }
        stack.pop();
        done.insert(n.to_owned());
    }
    let mut circles = Vec::new();
    let mut done = BTreeSet::new();
    for n in graph.keys() {
        visit(n, &graph, &mut Vec::new(), &mut done, &mut circles);
    }
    assert!(circles.is_empty(), "import circles: {circles:#?}");
}

#[test]
fn the_checker_sees_an_upward_import_and_a_circle() {
    // The reader itself can fail: a group import is expanded, comments are not code.
    let paths = crate_paths(&code(
        "use crate::results::{summary::{self, Summary}, metrics};\n// crate::explore\nuse crate::kinds::KINDS as K;",
    ));
    assert_eq!(
        paths,
        [
            "results::summary",
            "results::summary::Summary",
            "results::metrics",
            "kinds::KINDS"
        ]
    );
    assert!(layer("explore::shrink") > layer("scenario::format"));
}
