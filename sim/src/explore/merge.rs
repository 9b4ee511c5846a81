//! What a search ran and found, as data (`explore.json` next to `report.md`), the report
//! made from it, and `bookingsim merge` of explore outputs: shards of one search
//! (`explore --shard K/N`) combined exactly, the report byte for byte the one a single
//! search of the same seeds writes.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::explore::features::{self, Pair, PairCoverage};
use crate::explore::generate::Draw;

/// The file a search writes its record to, in its `--out` folder.
pub const RECORD: &str = "explore.json";

/// One kind of violation a world showed, with the first one's detail (a world showing
/// several kinds has a finding for each).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Finding {
    pub seed: u64,
    pub kind: String,
    pub detail: String,
}

/// Where the worlds' wall time went (summed over worlds and threads): the harness's own
/// speed, printed, in no file.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Phases {
    /// Drawing the world as a scenario text.
    pub generate: Duration,
    /// Parsing and validating that text.
    pub parse: Duration,
    /// Building and running the world (the simulation and its settle).
    pub run: Duration,
    /// The checker over the run's history.
    pub check: Duration,
    /// The coverage counts and the first violation of each kind (explore builds no
    /// summary: no histograms, time series, gates or digest).
    pub coverage: Duration,
}

impl Phases {
    pub(crate) fn absorb(&mut self, other: Phases) {
        self.generate += other.generate;
        self.parse += other.parse;
        self.run += other.run;
        self.check += other.check;
        self.coverage += other.coverage;
    }
}

/// How many of the slowest worlds a search keeps (seed, wall time).
pub const SLOWEST: usize = 5;

/// What an exploration found: every kind of violation each world showed, in seed order
/// (the same whatever `jobs`), runs
/// that could not run (a generator bug), and how often each rare path was reached in all.
#[derive(Debug, Clone, Default)]
pub struct Exploration {
    pub findings: Vec<Finding>,
    pub broken: Vec<(u64, String)>,
    pub coverage: BTreeMap<String, u64>,
    /// Which pairs of the generator's features the generated worlds met.
    pub pairs: PairCoverage,
    /// Wall time per stage, summed (reporting only: in no file).
    pub phases: Phases,
    /// The slowest worlds, slowest first: (seed, wall time) (reporting only: in no file).
    pub slowest: Vec<(u64, Duration)>,
}

impl Exploration {
    /// Adds a later batch's results (its seeds follow this one's).
    pub fn absorb(&mut self, later: Exploration) {
        self.findings.extend(later.findings);
        self.broken.extend(later.broken);
        self.pairs.absorb(later.pairs);
        self.phases.absorb(later.phases);
        self.note_slow(later.slowest);
        for (k, n) in later.coverage {
            *self.coverage.entry(k).or_default() += n;
        }
    }

    /// Keeps the [`SLOWEST`] slowest of these worlds and the ones kept before.
    pub(crate) fn note_slow(&mut self, worlds: impl IntoIterator<Item = (u64, Duration)>) {
        self.slowest.extend(worlds);
        self.slowest
            .sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        self.slowest.truncate(SLOWEST);
    }

    /// How many worlds showed a violation (of one kind or more).
    pub fn worlds_found(&self) -> usize {
        let mut seeds: Vec<u64> = self.findings.iter().map(|f| f.seed).collect();
        seeds.dedup();
        seeds.len()
    }

    /// The rare paths no run reached.
    pub fn never_reached(&self) -> Vec<&str> {
        self.coverage
            .iter()
            .filter(|(_, n)| **n == 0)
            .map(|(k, _)| k.as_str())
            .collect()
    }
}

/// The record's format: a merge refuses another.
pub(crate) const FORMAT: u32 = 1;

/// Which search a record belongs to: shards merge only when every field is the same.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub policy: String,
    pub sets: Vec<String>,
    pub draw: String,
    /// The first world's seed.
    pub seed: u64,
    /// The worlds asked for (`--runs`; with `--time` alone, every seed there is).
    pub runs: u64,
    /// The files explored around (origin and a digest of each text).
    pub around: Vec<String>,
    /// A digest of the first worlds' texts: a different generator (or file) makes
    /// different worlds of the same seeds.
    pub generator: String,
}

/// Worlds a record holds: the search's `offset + j * stride`-th, for `j < count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Part {
    pub offset: u64,
    pub stride: u64,
    pub count: u64,
}

/// A search's (or merged shards') results: everything its report says, as data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub format: u32,
    pub search: Identity,
    pub parts: Vec<Part>,
    /// Every kind each world showed, in seed order.
    pub findings: Vec<Finding>,
    pub broken: Vec<(u64, String)>,
    pub coverage: BTreeMap<String, u64>,
    /// Generated worlds whose features were counted, and the pairs they met.
    pub pair_worlds: u64,
    pub pairs_met: Vec<Pair>,
    /// Each kind's shrunk file (its first world's), by name in `failures/`.
    pub failures: BTreeMap<String, String>,
}

pub(crate) fn draw_name(draw: Draw) -> &'static str {
    match draw {
        Draw::Pairwise => "pairwise",
        Draw::Swarm => "swarm",
    }
}

pub(crate) fn hex_digest(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

impl Record {
    /// How many worlds ran.
    pub fn runs(&self) -> u64 {
        self.parts.iter().map(|p| p.count).sum()
    }

    /// The results as an exploration (no wall times).
    pub fn exploration(&self) -> Exploration {
        Exploration {
            findings: self.findings.clone(),
            broken: self.broken.clone(),
            coverage: self.coverage.clone(),
            pairs: PairCoverage::from_met(self.pair_worlds, self.pairs_met.iter().copied()),
            ..Exploration::default()
        }
    }

    /// The seeds run, in words: a range when they are every one from the first on.
    fn seeds(&self) -> String {
        let (seed, runs) = (self.search.seed, self.runs());
        if contiguous(&self.parts) {
            return format!(
                "seeds {seed} to {}",
                seed.wrapping_add(runs.saturating_sub(1))
            );
        }
        let parts: Vec<String> = self
            .parts
            .iter()
            .map(|p| {
                format!(
                    "{} from seed {} every {}",
                    p.count,
                    seed.wrapping_add(p.offset),
                    p.stride
                )
            })
            .collect();
        format!("of the search from seed {seed}: {}", parts.join(", "))
    }

    /// The report (`report.md`) of these results, its shrunk files in `dir/failures/`: the
    /// same record, the same text.
    pub fn report(&self, dir: &Path) -> String {
        let found = self.exploration();
        let (policy, sets) = (&self.search.policy, &self.search.sets);
        let mut report = format!(
            "# bookingsim explore\n\n{} worlds ({}) under `{policy}`{}{}: {} found a violation, {} did not run.\n\n",
            self.runs(),
            self.seeds(),
            if self.search.around.is_empty() {
                String::new()
            } else {
                format!(", around {} scenario file(s)", self.search.around.len())
            },
            if sets.is_empty() {
                String::new()
            } else {
                format!(", with `--set {}`", sets.join(" --set "))
            },
            found.worlds_found(),
            self.broken.len()
        );
        let mut by_kind: BTreeMap<&str, Vec<&Finding>> = BTreeMap::new();
        for f in &self.findings {
            by_kind.entry(f.kind.as_str()).or_default().push(f);
        }
        if !by_kind.is_empty() {
            report.push_str(
                "| violation | worlds | first seed | what | minimised |\n|---|---|---|---|---|\n",
            );
        }
        for (kind, found) in &by_kind {
            let first = found[0];
            let name = self
                .failures
                .get(*kind)
                .cloned()
                .unwrap_or_else(|| format!("{kind}-seed-{}.toml", first.seed));
            let _ = writeln!(
                report,
                "| {kind} | {} | {} | {} | `{}` |",
                found.len(),
                first.seed,
                first.detail.replace('|', "\\|"),
                dir.join("failures").join(name).display()
            );
        }
        report.push_str("\n## Coverage of rare paths\n\n| path | reached |\n|---|---|\n");
        for (path, n) in &found.coverage {
            let _ = writeln!(report, "| {path} | {n} |");
        }
        let never = found.never_reached();
        if !never.is_empty() {
            let _ = writeln!(report, "\nNever reached: {}.", never.join(", "));
        }
        let pairs = &found.pairs;
        if pairs.worlds > 0 {
            let (met, all) = pairs.met();
            let pairwise = self.search.draw == "pairwise";
            let _ = writeln!(
                report,
                "\n## Pairs of the generator's features\n\n{met} of {all} pairs of two features' values met in {} generated worlds ({} drawing: {}).",
                pairs.worlds,
                self.search.draw,
                if pairwise {
                    format!("any {} consecutive seeds meet every pair", features::rows())
                } else {
                    "each feature on its own".to_owned()
                }
            );
            let missing = pairs.missing();
            if !missing.is_empty() {
                let _ = writeln!(report, "\nNot yet met:\n");
                for p in &missing {
                    let _ = writeln!(report, "- {}", features::describe(p));
                }
            }
        }
        for (s, e) in &self.broken {
            let _ = writeln!(report, "\nWorld {s} did not run: {e}");
        }
        report
    }

    /// Reads `dir/explore.json`.
    pub fn load(dir: &Path) -> Result<Record, String> {
        let file = dir.join(RECORD);
        let text =
            std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        let record: Record = serde_json::from_str(&text)
            .map_err(|e| format!("{}: not an explore record: {e}", file.display()))?;
        if record.format != FORMAT {
            return Err(format!(
                "{}: format {}, expected {FORMAT} (written by another bookingsim)",
                file.display(),
                record.format
            ));
        }
        Ok(record)
    }
}

/// The worlds of `parts` (of distinct offsets) are every one from the search's first: one
/// stride, each part as long as the range's share of its residue (so the parts' counts add
/// up to the range only when every residue with a share is there).
fn contiguous(parts: &[Part]) -> bool {
    let total: u64 = parts.iter().map(|p| p.count).sum();
    let Some(stride) = parts.first().map(|p| p.stride) else {
        return true;
    };
    parts.iter().all(|p| p.stride == stride)
        && parts.iter().all(|p| {
            let share = if p.offset >= total {
                0
            } else {
                (total - p.offset).div_ceil(stride)
            };
            p.count == share
        })
}

/// Parts in order; those that together are every world from the first, as one part.
pub(crate) fn normalized(mut parts: Vec<Part>) -> Vec<Part> {
    parts.sort();
    parts.retain(|p| p.count > 0);
    if contiguous(&parts) {
        let count = parts.iter().map(|p| p.count).sum();
        return vec![Part {
            offset: 0,
            stride: 1,
            count,
        }];
    }
    parts
}

/// Whether every folder in `dirs` holds an explore record (so `merge` means this one).
pub fn is_explore(dirs: &[PathBuf]) -> bool {
    !dirs.is_empty() && dirs.iter().all(|d| d.join(RECORD).is_file())
}

/// What a merge wrote.
#[derive(Debug, Clone)]
pub struct Merged {
    pub record: Record,
    pub report: String,
    pub report_file: PathBuf,
    /// How many records were merged.
    pub shards: usize,
}

/// Merges the explore outputs in `dirs` (shards of one search) into `out`: findings in seed
/// order, coverage summed, pairs met united, each kind's shrunk file the one of its first
/// world (copied, its commands naming the new place), `report.md` and `explore.json` as a
/// single search of the same seeds writes them. Refuses records of different searches
/// and shards that overlap.
pub fn merge(dirs: &[PathBuf], out: &Path) -> Result<Merged, String> {
    let mut records = Vec::new();
    for d in dirs {
        records.push((d, Record::load(d)?));
    }
    let Some((first_dir, first)) = records.first() else {
        return Err("merge: no explore output given".into());
    };
    for (dir, r) in &records[1..] {
        if r.search != first.search {
            let which = differs(&first.search, &r.search);
            return Err(format!(
                "{}: another search than {}'s ({which} differs): merge shards of one search only",
                dir.display(),
                first_dir.display()
            ));
        }
    }
    // Each world at most once: shards of one N, each once.
    let mut parts: Vec<Part> = Vec::new();
    for (dir, r) in &records {
        for p in &r.parts {
            let overlaps = parts.iter().any(|q| {
                if q.stride == p.stride {
                    q.offset == p.offset
                } else {
                    // Different splits of the same seeds: compare the worlds themselves.
                    let qs: std::collections::BTreeSet<u64> =
                        (0..q.count).map(|j| q.offset + j * q.stride).collect();
                    (0..p.count).any(|j| qs.contains(&(p.offset + j * p.stride)))
                }
            });
            if overlaps {
                return Err(format!(
                    "{}: its worlds overlap another folder's (the same shard twice?)",
                    dir.display()
                ));
            }
            parts.push(*p);
        }
    }
    let mut merged = Record {
        format: FORMAT,
        search: first.search.clone(),
        parts: normalized(parts),
        findings: Vec::new(),
        broken: Vec::new(),
        coverage: BTreeMap::new(),
        pair_worlds: 0,
        pairs_met: Vec::new(),
        failures: BTreeMap::new(),
    };
    let mut met = std::collections::BTreeSet::new();
    for (_, r) in &records {
        merged.findings.extend(r.findings.iter().cloned());
        merged.broken.extend(r.broken.iter().cloned());
        for (k, n) in &r.coverage {
            *merged.coverage.entry(k.clone()).or_default() += n;
        }
        merged.pair_worlds += r.pair_worlds;
        met.extend(r.pairs_met.iter().copied());
    }
    merged.pairs_met = met.into_iter().collect();
    // A seed is in one record only: a stable sort keeps each world's kinds in kind order.
    let order = |seed: u64| seed.wrapping_sub(first.search.seed);
    merged.findings.sort_by_key(|f| order(f.seed));
    merged.broken.sort_by_key(|(s, _)| order(*s));
    // Each kind's shrunk file: the one of the record holding its first world.
    // The merged folder is published as one set: the shrunk files, the record, the report.
    let failed = |e: std::io::Error| format!("{}: {e}", out.display());
    let mut folder = crate::results::output::RunFolder::begin_as(
        out,
        "exploration",
        &crate::results::output::EXPLORE_FILES,
    )
    .map_err(|e| crate::results::output::message(out, &e))?;
    let mut kinds: Vec<&str> = merged.findings.iter().map(|f| f.kind.as_str()).collect();
    kinds.sort_unstable();
    kinds.dedup();
    for kind in kinds {
        let seed = merged
            .findings
            .iter()
            .find(|f| f.kind == kind)
            .map(|f| f.seed)
            .unwrap_or_default();
        let (dir, r) = records
            .iter()
            .find(|(_, r)| r.findings.iter().any(|f| f.kind == kind && f.seed == seed))
            .ok_or_else(|| format!("merge: no record holds {kind}'s seed {seed}"))?;
        let name = r
            .failures
            .get(kind)
            .ok_or_else(|| format!("{}: {kind} has no shrunk file", dir.display()))?;
        let from = dir.join("failures").join(name);
        let to = out.join("failures").join(name);
        let text =
            std::fs::read_to_string(&from).map_err(|e| format!("{}: {e}", from.display()))?;
        let text = text.replace(
            &format!(" {}", from.display()),
            &format!(" {}", to.display()),
        );
        folder
            .write(&format!("failures/{name}"), &text)
            .map_err(failed)?;
        merged.failures.insert(kind.to_owned(), name.clone());
    }
    let report = merged.report(out);
    let json = serde_json::to_string_pretty(&merged).map_err(|e| e.to_string())?;
    folder.write(RECORD, &json).map_err(failed)?;
    folder.write("report.md", &report).map_err(failed)?;
    let report_file = folder.publish().map_err(failed)?.join("report.md");
    Ok(Merged {
        record: merged,
        report,
        report_file,
        shards: records.len(),
    })
}

/// The first field two searches differ in.
fn differs(a: &Identity, b: &Identity) -> &'static str {
    if a.policy != b.policy {
        "the policy"
    } else if a.sets != b.sets {
        "--set"
    } else if a.draw != b.draw {
        "--draw"
    } else if a.seed != b.seed {
        "--seed"
    } else if a.runs != b.runs {
        "--runs"
    } else if a.around != b.around {
        "the scenario files"
    } else {
        "the generator version"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(offset: u64, stride: u64, count: u64) -> Part {
        Part {
            offset,
            stride,
            count,
        }
    }

    /// Shards that together are every world from the first collapse to one range; a
    /// shard alone, or shards that ran for different times, do not.
    #[test]
    fn parts_are_a_range_only_when_they_cover_one() {
        assert!(contiguous(&[part(0, 1, 7)]));
        assert!(contiguous(&[part(0, 3, 3), part(1, 3, 2), part(2, 3, 2)]));
        assert!(!contiguous(&[part(0, 3, 3), part(1, 3, 2)]));
        assert!(!contiguous(&[part(0, 3, 3), part(1, 3, 1), part(2, 3, 2)]));
        assert!(!contiguous(&[part(1, 3, 3)]));
        assert!(
            contiguous(&[part(0, 3, 1), part(1, 3, 1)]),
            "2 worlds of 3 shards"
        );
        assert_eq!(
            normalized(vec![part(2, 3, 2), part(0, 3, 3), part(1, 3, 2)]),
            vec![part(0, 1, 7)]
        );
        assert_eq!(
            normalized(vec![part(1, 3, 2), part(0, 3, 1)]),
            vec![part(0, 3, 1), part(1, 3, 2)]
        );
    }
}
