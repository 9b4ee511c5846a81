//! Docs that cannot drift: every ```console block of README.md and docs/*.md is run and its
//! output compared (trycmd). A `$ bookingsim …` line is a command, the lines after it its
//! expected output (stdout and stderr together); `[..]` stands for any text within a line,
//! `...` on a line of its own for any lines; `? failed` or `? 2` after the command expects
//! that exit. Blocks marked ```text (or ```sh, ```toml, …) are shown, not run.
//!
//! Each file runs in a fresh folder of its own where `scenarios/`, `docs/` and `reports/`
//! point into the repository, so the commands read as they do from the repository's root and
//! what they write (`out/…`) goes to that folder, not into the work tree.

use std::path::{Path, PathBuf};

#[test]
fn readme_and_docs() {
    let root: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("sim/ lies in the repository")
        .to_path_buf();
    let mut pages = vec![root.join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .expect("docs/ exists")
        .map(|e| e.expect("docs/ is readable").path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    assert!(docs.len() >= 10, "docs/*.md: {docs:?}");
    pages.extend(docs);

    let cwd = tempfile::tempdir().expect("a temporary folder");
    for dir in ["scenarios", "docs", "reports"] {
        link(&root.join(dir), &cwd.path().join(dir));
    }
    // trycmd runs a Markdown file's commands in the test's working directory.
    std::env::set_current_dir(cwd.path()).expect("into the temporary folder");

    let cases = trycmd::TestCases::new();
    cases
        .register_bin(
            "bookingsim",
            PathBuf::from(env!("CARGO_BIN_EXE_bookingsim")),
        )
        // No terminal colours or progress lines, and no logging but errors.
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "error");
    for page in &pages {
        cases.case(page);
    }
    cases.run();
}

/// The example files the pages show in full are the files committed beside them.
#[test]
fn examples_shown_are_the_files() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("sim/ lies in the repository");
    let read = |p: &str| std::fs::read_to_string(root.join(p)).expect(p);
    for (page, lang, file) in [
        (
            "docs/scenario-format.md",
            "toml",
            "docs/examples/minimal.toml",
        ),
        ("docs/ci.md", "yaml", "docs/examples/ci-workflow.yml"),
    ] {
        let text = read(page);
        let open = format!("```{lang}\n");
        let start = text.find(&open).expect("the page shows the file") + open.len();
        let shown = &text[start..start + text[start..].find("```").expect("a closed block")];
        assert!(
            read(file).contains(shown),
            "{page} shows a {lang} block that is not in {file}: update one from the other"
        );
    }
}

#[cfg(unix)]
fn link(target: &Path, at: &Path) {
    std::os::unix::fs::symlink(target, at).expect("a symbolic link");
}

#[cfg(not(unix))]
fn link(target: &Path, at: &Path) {
    std::os::windows::fs::symlink_dir(target, at).expect("a symbolic link");
}

/// The README's catalogue table names every scenario in `scenarios/` and only those: a
/// scenario added without a row (fifteen had none once) is a story nobody finds from the
/// front door.
#[test]
fn readme_catalogue_names_every_scenario() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("sim/ lies in the repository");
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let table = readme
        .split("## The catalogue")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("README.md has a `## The catalogue` section");
    let listed: std::collections::BTreeSet<&str> = table
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| group"))
        .filter_map(|l| l.rsplit('|').nth(1))
        .flat_map(|cell| cell.split(',').map(|n| n.trim().trim_matches('`')))
        .filter(|n| !n.is_empty())
        .collect();
    let files: std::collections::BTreeSet<String> = std::fs::read_dir(root.join("scenarios"))
        .expect("scenarios/ exists")
        .map(|e| e.expect("scenarios/ is readable").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .map(|p| {
            p.file_stem()
                .expect("a file name")
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    let unlisted: Vec<&String> = files
        .iter()
        .filter(|f| !listed.contains(f.as_str()))
        .collect();
    let unknown: Vec<&&str> = listed.iter().filter(|n| !files.contains(**n)).collect();
    assert!(
        unlisted.is_empty() && unknown.is_empty(),
        "README's catalogue table: scenarios without a row {unlisted:?}; names with no file {unknown:?}"
    );
}
