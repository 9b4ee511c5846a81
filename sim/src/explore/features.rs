//! The generator's features, named: each a small set of values a generated world takes
//! (its service's shape, how a caller talks, each Cal.com and engine fault, the calendar,
//! notice and hours, ...). Swarm testing draws each feature on its own, so a combination
//! of two rare values may wait thousands of worlds; pairwise drawing lays a covering array
//! over the swarm draws: world `seed` takes row `seed mod ROWS` of it, and every pair of
//! values of two features meets within any [`rows`] consecutive seeds. What is not a
//! feature is still drawn as before.
//!
//! Adding a feature is one line in [`FEATURES`] and one `plan.pick("name", drawn)` where
//! the generator draws it (`drawn` its value index as swarm testing drew it).

use std::collections::BTreeSet;
use std::sync::OnceLock;

/// A feature of generated worlds: its name and its values (the first is the plain one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Feature {
    pub name: &'static str,
    pub values: &'static [&'static str],
}

const OFF_ON: &[&str] = &["off", "on"];

const fn feature(name: &'static str, values: &'static [&'static str]) -> Feature {
    Feature { name, values }
}

/// Every feature, one line each.
pub const FEATURES: &[Feature] = &[
    feature("stylists", &["one", "several"]),
    feature("service", &["simple", "compound", "three_part"]),
    feature("hours", &["plain", "lunch_break", "late", "short_day"]),
    feature("notice", &["none", "2h", "26h"]),
    feature(
        "calendar",
        &[
            "plain",
            "dst_forward",
            "dst_back",
            "new_year",
            "closed_saturday",
            "kolkata",
            "new_york_dst_back",
            "lord_howe_dst",
            "chatham",
        ],
    ),
    feature("existing_bookings", OFF_ON),
    feature("tight_plan", OFF_ON),
    feature("bursts", OFF_ON),
    feature("journeys", OFF_ON),
    feature(
        "conversation",
        &[
            "none",
            "check_book",
            "checks_two_books_second",
            "checks_twice",
            "books_unchecked",
            "books_cancels_rebooks",
            "books_another",
            "asks_alternatives",
            "books_two",
        ],
    ),
    feature("staff_bookings", OFF_ON),
    feature("channel", OFF_ON),
    feature("calcom_5xx", OFF_ON),
    feature("calcom_429_window", OFF_ON),
    feature("stale_slots", OFF_ON),
    feature("webhook_loss", OFF_ON),
    feature("webhook_duplicates", OFF_ON),
    feature(
        "calcom_outage",
        &["none", "503", "502", "429", "reset", "hang"],
    ),
    feature("calcom_replay", &["off", "replay", "replay_key"]),
    feature("save_failures", OFF_ON),
    feature("engine_crash", &["off", "once", "twice"]),
    feature("partition", OFF_ON),
    feature(
        "redis_fault",
        &[
            "none", "slow", "refuse", "timeout", "pause", "restart", "failover",
        ],
    ),
    feature(
        "database_fault",
        &["none", "slow", "refuse", "timeout", "pause"],
    ),
    feature("staff_actions", OFF_ON),
    feature("engine_workers", OFF_ON),
    feature("clock_skew", OFF_ON),
];

/// The index of the feature `name` in [`FEATURES`]; a name not registered is the
/// generator's own bug (every test generating worlds finds it).
fn index(name: &str) -> usize {
    FEATURES
        .iter()
        .position(|f| f.name == name)
        .unwrap_or_else(|| panic!("feature `{name}` is not in FEATURES"))
}

/// A world's value of every feature, by index into [`FEATURES`].
pub type Row = Vec<usize>;

/// What the generator of one world is told and what it records: the values a pairwise
/// schedule forces (none for swarm drawing), and the values the world took.
#[derive(Debug, Clone)]
pub struct Plan {
    forced: Option<&'static [usize]>,
    took: Vec<Option<usize>>,
}

impl Plan {
    /// Swarm drawing: every feature as drawn.
    pub fn swarm() -> Self {
        Plan {
            forced: None,
            took: vec![None; FEATURES.len()],
        }
    }

    /// Pairwise drawing: world `seed` takes row `seed mod ROWS` of the covering array.
    pub fn pairwise(seed: u64) -> Self {
        let rows = covering_array();
        Plan {
            forced: Some(&rows[(seed % rows.len() as u64) as usize]),
            took: vec![None; FEATURES.len()],
        }
    }

    /// The value the schedule forces on `name`, if any.
    pub fn forced(&self, name: &str) -> Option<usize> {
        self.forced.map(|row| row[index(name)])
    }

    /// The value of `name` in this world: the forced one, else `drawn`; recorded.
    pub fn pick(&mut self, name: &str, drawn: usize) -> usize {
        let value = self.forced(name).unwrap_or(drawn);
        self.record(name, value);
        value
    }

    /// [`Plan::pick`] for an off/on feature.
    pub fn on(&mut self, name: &str, drawn: bool) -> bool {
        self.pick(name, usize::from(drawn)) == 1
    }

    /// Records the value `name` took (when the world's rules changed what was picked).
    pub fn record(&mut self, name: &str, value: usize) {
        let i = index(name);
        debug_assert!(value < FEATURES[i].values.len(), "{name} = {value}");
        self.took[i] = Some(value);
    }

    /// The values the world took; a feature the generator never picked is an error
    /// naming it.
    pub fn row(&self) -> Result<Row, String> {
        self.took
            .iter()
            .zip(FEATURES)
            .map(|(v, f)| v.ok_or_else(|| format!("feature `{}` was never picked", f.name)))
            .collect()
    }
}

/// The generator's own rules over features: what a world whose features are `row` (some
/// perhaps not set yet) has instead of what was picked, `(feature, value)`. A world with
/// neither journeys nor scripted callers has bursts (some workload there must be).
fn ruled(row: &[Option<usize>]) -> Option<(usize, usize)> {
    let (bursts, journeys, talk) = (index("bursts"), index("journeys"), index("conversation"));
    (row[journeys] == Some(0) && row[talk] == Some(0)).then_some((bursts, 1))
}

/// A row as the generator's rules make it ([`ruled`]).
pub fn realize(row: &mut [usize]) {
    let set: Vec<Option<usize>> = row.iter().copied().map(Some).collect();
    if let Some((f, v)) = ruled(&set) {
        row[f] = v;
    }
}

/// Whether a partly set row asks for what the rules would change.
fn breaks(row: &[Option<usize>]) -> bool {
    ruled(row).is_some_and(|(f, v)| row[f].is_some_and(|w| w != v))
}

/// A pair of values of two features, `(feature a, value a, feature b, value b)`, `a < b`.
pub type Pair = (usize, usize, usize, usize);

/// Every pair of values of two different features.
pub fn all_pairs() -> Vec<Pair> {
    let mut out = Vec::new();
    for (a, fa) in FEATURES.iter().enumerate() {
        for (b, fb) in FEATURES.iter().enumerate().skip(a + 1) {
            for va in 0..fa.values.len() {
                for vb in 0..fb.values.len() {
                    out.push((a, va, b, vb));
                }
            }
        }
    }
    out
}

/// The pairs a world of `row` meets.
pub fn pairs_of(row: &[usize]) -> impl Iterator<Item = Pair> + '_ {
    (0..row.len()).flat_map(move |a| (a + 1..row.len()).map(move |b| (a, row[a], b, row[b])))
}

/// `feature=value × feature=value`.
pub fn describe(pair: &Pair) -> String {
    let (a, va, b, vb) = *pair;
    format!(
        "{}={} × {}={}",
        FEATURES[a].name, FEATURES[a].values[va], FEATURES[b].name, FEATURES[b].values[vb]
    )
}

/// How many consecutive seeds meet every pair under pairwise drawing.
pub fn rows() -> usize {
    covering_array().len()
}

/// The covering array: rows (each realized by the generator's rules, [`realize`]) in
/// which every pair of values of two features meets. Built greedily and deterministically
/// (each row from the first pair still missing, then feature by feature the value that
/// meets the most missing pairs, ties to the lowest), once per process.
pub fn covering_array() -> &'static [Row] {
    static ROWS: OnceLock<Vec<Row>> = OnceLock::new();
    ROWS.get_or_init(|| build(FEATURES))
}

fn build(features: &[Feature]) -> Vec<Row> {
    let n = features.len();
    let mut missing: BTreeSet<Pair> = all_pairs().into_iter().collect();
    let mut rows: Vec<Row> = Vec::new();
    while let Some(&seed_pair) = missing.iter().next() {
        // A few candidates, each started from another missing pair; the one meeting most.
        let mut best: Option<(usize, Row)> = None;
        for start in missing.iter().take(12).copied() {
            let row = candidate(features, &missing, start);
            let met = pairs_of(&row).filter(|p| missing.contains(p)).count();
            if best.as_ref().is_none_or(|(m, _)| met > *m) {
                best = Some((met, row));
            }
        }
        match best {
            Some((met, row)) if met > 0 => {
                for p in pairs_of(&row) {
                    missing.remove(&p);
                }
                rows.push(row);
            }
            // The generator's rules forbid this pair: no world can meet it.
            _ => {
                missing.remove(&seed_pair);
            }
        }
        debug_assert!(rows.len() < 10 * n * n, "covering array does not converge");
    }
    rows
}

/// A row meeting `start`, the other features filled one by one with the value meeting
/// the most pairs still missing with those already set, then realized.
fn candidate(features: &[Feature], missing: &BTreeSet<Pair>, start: Pair) -> Row {
    let n = features.len();
    let (a, va, b, vb) = start;
    let mut row: Vec<Option<usize>> = vec![None; n];
    row[a] = Some(va);
    row[b] = Some(vb);
    for f in 0..n {
        if row[f].is_some() {
            continue;
        }
        let gain = |v: usize| {
            row.iter()
                .enumerate()
                .filter_map(|(g, set)| set.map(|w| (g, w)))
                .filter(|&(g, w)| {
                    let pair = if g < f { (g, w, f, v) } else { (f, v, g, w) };
                    missing.contains(&pair)
                })
                .count()
        };
        let allowed = |v: usize| {
            let mut tried = row.clone();
            tried[f] = Some(v);
            !breaks(&tried)
        };
        let best = (0..features[f].values.len())
            .max_by_key(|&v| (allowed(v), gain(v), std::cmp::Reverse(v)))
            .unwrap_or(0);
        row[f] = Some(best);
    }
    let mut row: Row = row.into_iter().map(|v| v.unwrap_or(0)).collect();
    realize(&mut row);
    row
}

/// Which pairs the worlds of a search met, and which not yet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PairCoverage {
    met: BTreeSet<Pair>,
    /// Worlds whose features were known (generated ones).
    pub worlds: u64,
}

impl PairCoverage {
    /// Counts the pairs a world of `row` met.
    pub fn add(&mut self, row: &[usize]) {
        self.worlds += 1;
        self.met.extend(pairs_of(row));
    }

    /// Adds another search's.
    pub fn absorb(&mut self, other: PairCoverage) {
        self.worlds += other.worlds;
        self.met.extend(other.met);
    }

    /// Coverage of `worlds` worlds that met `met` (a record's, read back).
    pub fn from_met(worlds: u64, met: impl IntoIterator<Item = Pair>) -> Self {
        PairCoverage {
            met: met.into_iter().collect(),
            worlds,
        }
    }

    /// The pairs met, in order.
    pub fn met_pairs(&self) -> impl Iterator<Item = Pair> + '_ {
        self.met.iter().copied()
    }

    /// How many pairs were met, of how many there are.
    pub fn met(&self) -> (usize, usize) {
        (self.met.len(), all_pairs().len())
    }

    /// The pairs no world met, in registry order.
    pub fn missing(&self) -> Vec<Pair> {
        all_pairs()
            .into_iter()
            .filter(|p| !self.met.contains(p))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The array meets every pair (each row as the generator's rules realize it), names
    /// each value of each feature once, and stays small: a few times the product of the
    /// two largest features' value counts.
    #[test]
    fn the_covering_array_meets_every_pair() {
        let rows = covering_array();
        let mut met = PairCoverage::default();
        for row in rows {
            assert_eq!(row.len(), FEATURES.len());
            let mut realized = row.clone();
            realize(&mut realized);
            assert_eq!(&realized, row, "rows are realized");
            met.add(row);
        }
        assert!(
            met.missing().is_empty(),
            "{:?}",
            met.missing().iter().map(describe).collect::<Vec<_>>()
        );
        let mut sizes: Vec<usize> = FEATURES.iter().map(|f| f.values.len()).collect();
        sizes.sort_unstable();
        let floor = sizes[sizes.len() - 1] * sizes[sizes.len() - 2];
        assert!(
            rows.len() >= floor && rows.len() <= 2 * floor,
            "{} rows, floor {floor}",
            rows.len()
        );
        let names: BTreeSet<&str> = FEATURES.iter().map(|f| f.name).collect();
        assert_eq!(names.len(), FEATURES.len(), "a feature named twice");
    }
}
