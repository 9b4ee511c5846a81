//! `bookingsim calibrate`: fits a scenario's Cal.com latency distributions (and, where the
//! target gives a hit rate, the availability cache's TTL) so that the simulated end-to-end
//! percentiles match a team's production figures.
//!
//! The search is coordinate descent over the fitted distributions' points (`min`, then the
//! steps up to `p50`, `p90` and `p99`, so that they can never decrease) and the TTL. Every
//! candidate runs on the same seeds (the scenario's and the ones after it), so the objective
//! (the sum of squared log ratios, simulated over target) is paired and noise-free: a step
//! that looks better is better on those seeds, not luckier. The candidates of one step
//! run at once on every core. Same scenario, target and seeds: the same fit, byte for byte.

pub mod target;

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use mock_calcom::config::{Endpoint, LatencyConfig};
use simkit::Distribution;

use crate::results::metrics;
use crate::scenario::{Scenario, with_sets_text};
pub use target::{Figure, Target};

/// Rounds of coordinate steps at most (each tries every knob both ways).
const MAX_ROUNDS: usize = 12;
/// The search stops early once every figure is within this share of the tolerance: a
/// margin, so that the fit holds on other seeds too.
const MARGIN: f64 = 0.5;
/// A step in a distribution's point below this (ms) is not worth a round.
const MIN_STEP_MS: f64 = 4.0;
/// A TTL step below this (s) is not worth a round.
const MIN_STEP_TTL: f64 = 0.5;
/// The longest TTL the search tries (s).
const MAX_TTL: f64 = 3600.0;

/// What to fit on: how many seeds, how many at once.
#[derive(Debug, Clone)]
pub struct Options {
    /// Seeds per candidate: the scenario's seed and the ones after it.
    pub seeds: u64,
    pub jobs: usize,
    /// A line on stderr per improving step (the objective and the values).
    pub progress: bool,
}

/// One figure of the fit.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub figure: Figure,
    pub simulated: f64,
    pub ratio: f64,
    pub within: bool,
    /// Out of tolerance: the closest any candidate got, and why the figure cannot be met.
    pub closest: Option<f64>,
    pub why: Option<String>,
}

/// The outcome of a fit.
#[derive(Debug, Clone)]
pub struct Fit {
    pub rows: Vec<Row>,
    pub tolerance: f64,
    /// The fitted fields as `--set` overrides of the scenario.
    pub sets: Vec<String>,
    /// Candidates evaluated (each on every seed).
    pub evaluations: usize,
    pub seeds: Vec<u64>,
    pub policy: String,
    /// The scenario with the fitted values, as TOML (comments dropped).
    pub body: String,
}

impl Fit {
    pub fn pass(&self) -> bool {
        self.rows.iter().all(|r| r.within)
    }

    /// The fit table: figure, target, simulated, ratio.
    pub fn table(&self) -> String {
        let mut out =
            String::from("| figure | target | simulated | ratio |  |\n|---|---|---|---|---|\n");
        for r in &self.rows {
            out.push_str(&format!(
                "| {} | {} | {} | {:.2} | {} |\n",
                r.figure.label(),
                r.figure.show(r.figure.value()),
                r.figure.show(r.simulated),
                r.ratio,
                if r.within { "ok" } else { "OUT" }
            ));
        }
        out
    }

    /// One line per figure out of tolerance: which, the closest reached, why.
    pub fn misses(&self) -> Vec<String> {
        self.rows
            .iter()
            .filter(|r| !r.within)
            .map(|r| {
                let closest = r.closest.unwrap_or(r.simulated);
                format!(
                    "{} stays outside ±{:.0} %: target {}, closest reached {}{}",
                    r.figure.label(),
                    self.tolerance * 100.0,
                    r.figure.show(r.figure.value()),
                    r.figure.show(closest),
                    r.why
                        .as_ref()
                        .map(|w| format!(" ({w})"))
                        .unwrap_or_default()
                )
            })
            .collect()
    }

    /// The calibrated scenario: the source's leading comments, the target and the fit as
    /// comments, then the scenario with the fitted values.
    pub fn calibrated(&self, text: &str, target: &Target) -> String {
        let mut out = String::new();
        let mut in_block = false;
        for line in text.lines() {
            if !line.starts_with('#') && !line.trim().is_empty() {
                break;
            }
            // A previous calibration's block is replaced, not kept.
            if line.starts_with(BLOCK_START) {
                in_block = true;
            }
            if !in_block {
                out.push_str(line);
                out.push('\n');
            }
            if line.starts_with(BLOCK_END) {
                in_block = false;
            }
        }
        while out.ends_with("\n\n") {
            out.pop();
        }
        if !out.is_empty() {
            out.push_str("#\n");
        }
        out.push_str(&format!(
            "{BLOCK_START} on seeds {}..={} under `{}` ({} candidates)\n",
            self.seeds.first().copied().unwrap_or_default(),
            self.seeds.last().copied().unwrap_or_default(),
            self.policy,
            self.evaluations
        ));
        out.push_str("# The target:\n");
        for line in target.to_toml().lines() {
            out.push_str(&format!("#   {line}\n"));
        }
        out.push_str("# The fit:\n");
        for line in self.table().lines() {
            out.push_str(&format!("#   {line}\n"));
        }
        out.push_str("# Fitted:\n");
        for set in &self.sets {
            out.push_str(&format!("#   {set}\n"));
        }
        out.push_str(BLOCK_END);
        out.push_str("\n\n");
        out.push_str(&self.body);
        out
    }
}

const BLOCK_START: &str = "# --- bookingsim calibrate";
const BLOCK_END: &str = "# --- end of calibrate";

/// What a fit moves.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Knob {
    /// A step of an endpoint's distribution: 0 `min`, 1 `min`→`p50`, 2 `p50`→`p90`,
    /// 3 `p90`→`p99` (ms).
    Point(Endpoint, usize),
    /// The availability cache's TTL (s).
    Ttl,
}

/// The Cal.com endpoints whose latency decides a latency name.
fn endpoints_of(name: &str) -> Vec<Endpoint> {
    match name {
        "check_availability" => vec![Endpoint::Slots],
        "start_booking" | "compound_booking" => vec![Endpoint::CreateBooking],
        "call" => vec![Endpoint::Slots, Endpoint::CreateBooking],
        _ => Endpoint::ALL
            .into_iter()
            .filter(|e| name.strip_prefix("calcom.") == Some(e.name()))
            .collect(),
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A distribution as an inline TOML value, in whole milliseconds.
fn dist_toml(d: &Distribution) -> String {
    let v = |d: &Duration| format!("\"{}ms\"", ms(*d).round() as u64);
    match d {
        Distribution::Fixed(d) => v(d),
        Distribution::Uniform { min, max } => format!("{{ min = {}, max = {} }}", v(min), v(max)),
        Distribution::Quantiles(points) => {
            let parts: Vec<String> = points
                .iter()
                .map(|(q, d)| {
                    let name = match q {
                        0.0 => "min".to_owned(),
                        1.0 => "max".to_owned(),
                        q => format!("p{}", (q * 100.0).round() as u32),
                    };
                    format!("{name} = {}", v(d))
                })
                .collect();
            format!("{{ {} }}", parts.join(", "))
        }
    }
}

/// The search's state: knobs and their values.
struct Space {
    knobs: Vec<Knob>,
    latency: LatencyConfig,
}

impl Space {
    fn new(scenario: &Scenario, target: &Target) -> Result<(Space, Vec<f64>), String> {
        let mut endpoints: Vec<Endpoint> = Vec::new();
        let mut ttl = false;
        for f in &target.figures {
            match f {
                Figure::Latency { name, .. } => {
                    for e in endpoints_of(name) {
                        if !endpoints.contains(&e) {
                            endpoints.push(e);
                        }
                    }
                }
                Figure::CacheHit(_) => ttl = true,
            }
        }
        endpoints.sort();
        let latency = scenario.calcom.latency.clone();
        let mut knobs = Vec::new();
        let mut x = Vec::new();
        for e in endpoints {
            let d = latency.of(e);
            let p = [0.0, 0.5, 0.9, 0.99].map(|q| ms(d.quantile(q)));
            let steps = [p[0], p[1] - p[0], p[2] - p[1], p[3] - p[2]];
            for (i, s) in steps.into_iter().enumerate() {
                knobs.push(Knob::Point(e, i));
                x.push(s.max(if i == 0 { 1.0 } else { 0.0 }));
            }
        }
        if ttl {
            let policy = scenario.policy()?;
            knobs.push(Knob::Ttl);
            x.push(policy.cache_ttl.map_or(60.0, |t| t.as_secs_f64()));
        }
        Ok((Space { knobs, latency }, x))
    }

    fn lower(&self, k: usize) -> f64 {
        match self.knobs[k] {
            Knob::Point(_, 0) => 1.0,
            _ => 0.0,
        }
    }

    fn upper(&self, k: usize) -> f64 {
        match self.knobs[k] {
            Knob::Point(..) => 60_000.0,
            Knob::Ttl => MAX_TTL,
        }
    }

    fn first_step(&self, k: usize, x: f64) -> f64 {
        match self.knobs[k] {
            Knob::Point(..) => (x * 0.5).max(50.0),
            Knob::Ttl => (x * 0.5).max(10.0),
        }
    }

    fn min_step(&self, k: usize) -> f64 {
        match self.knobs[k] {
            Knob::Point(..) => MIN_STEP_MS,
            Knob::Ttl => MIN_STEP_TTL,
        }
    }

    /// The overrides that make the scenario take `x`: every endpoint's distribution written
    /// out (a `[calcom.latency]` table replaces the defaults as a whole), the fitted ones
    /// from `x`.
    fn sets(&self, x: &[f64]) -> Vec<String> {
        let mut fitted: BTreeMap<Endpoint, [f64; 4]> = BTreeMap::new();
        let mut out = Vec::new();
        for (k, knob) in self.knobs.iter().enumerate() {
            match *knob {
                Knob::Point(e, i) => fitted.entry(e).or_default()[i] = x[k],
                Knob::Ttl => out.push(format!(
                    "policy.cache_ttl=\"{}ms\"",
                    (x[k] * 1000.0).round()
                )),
            }
        }
        let mut latency = vec![format!(
            "calcom.latency.default={}",
            dist_toml(&self.latency.default)
        )];
        for e in Endpoint::ALL {
            let d = if let Some(s) = fitted.get(&e) {
                let p50 = s[0] + s[1];
                let p90 = p50 + s[2];
                let p99 = p90 + s[3];
                let r = |v: f64| v.round() as u64;
                Some(format!(
                    "{{ min = \"{}ms\", p50 = \"{}ms\", p90 = \"{}ms\", p99 = \"{}ms\" }}",
                    r(s[0]),
                    r(p50),
                    r(p90),
                    r(p99)
                ))
            } else if std::ptr::eq(self.latency.of(e), &self.latency.default) {
                None
            } else {
                Some(dist_toml(self.latency.of(e)))
            };
            if let Some(d) = d {
                latency.push(format!("calcom.latency.{}={d}", e.name()));
            }
        }
        latency.extend(out);
        latency
    }

    /// The same with every fitted endpoint answering in 1 ms: what the rest of the world takes.
    fn floor(&self, x: &[f64]) -> Vec<f64> {
        let mut y = x.to_vec();
        for (k, knob) in self.knobs.iter().enumerate() {
            if let Knob::Point(_, i) = knob {
                y[k] = if *i == 0 { 1.0 } else { 0.0 };
            }
        }
        y
    }
}

/// Per seed: histograms of the target's latency names, and the cache's hits and misses.
struct Measured {
    histograms: BTreeMap<String, Histogram<u64>>,
    hits: u64,
    lookups: u64,
}

fn run_one(scenario: &Scenario, seed: u64, names: &[String]) -> Result<Measured, String> {
    let policy = scenario.policy.preset.clone();
    let (summary, record) = crate::pipeline::run(scenario, seed, &policy)?;
    let mut histograms = BTreeMap::new();
    for s in metrics::samples(&record, scenario) {
        if names.contains(&s.op) {
            histograms
                .entry(s.op)
                .or_insert_with(metrics::histogram)
                .saturating_record(s.latency_ms.max(1));
        }
    }
    Ok(Measured {
        histograms,
        hits: summary.engine.cache_hits,
        lookups: summary.engine.cache_hits + summary.engine.cache_misses,
    })
}

/// The figures' values, pooled over the seeds.
fn values(target: &Target, runs: &[Measured]) -> Result<Vec<f64>, String> {
    let mut pooled: BTreeMap<&str, Histogram<u64>> = BTreeMap::new();
    let (mut hits, mut lookups) = (0, 0);
    for m in runs {
        for (name, h) in &m.histograms {
            pooled
                .entry(name)
                .or_insert_with(metrics::histogram)
                .add(h)
                .map_err(|e| e.to_string())?;
        }
        hits += m.hits;
        lookups += m.lookups;
    }
    target
        .figures
        .iter()
        .map(|f| match f {
            Figure::Latency { name, q, .. } => pooled
                .get(name.as_str())
                .filter(|h| !h.is_empty())
                .map(|h| h.value_at_quantile(*q) as f64)
                .ok_or_else(|| {
                    format!(
                        "the scenario never records `{name}`: it cannot be fitted (no such call or \
                         request in its workload)"
                    )
                }),
            Figure::CacheHit(_) if lookups == 0 => Err(
                "the scenario never looks up the availability cache: `rates.cache_hit` cannot be \
                 fitted (is the cache off in its policy?)"
                    .into(),
            ),
            Figure::CacheHit(_) => Ok(hits as f64 / lookups as f64),
        })
        .collect()
}

/// Each scenario's figures, every (scenario, seed) run on `jobs` threads.
fn measure_many(
    scenarios: &[Scenario],
    target: &Target,
    seeds: &[u64],
    jobs: usize,
) -> Result<Vec<Vec<f64>>, String> {
    let mut names: Vec<String> = target
        .figures
        .iter()
        .filter_map(|f| match f {
            Figure::Latency { name, .. } => Some(name.clone()),
            Figure::CacheHit(_) => None,
        })
        .collect();
    names.dedup();
    let tasks: Vec<(usize, u64)> = (0..scenarios.len())
        .flat_map(|i| seeds.iter().map(move |s| (i, *s)))
        .collect();
    let mut results = crate::pipeline::parallel::map(&tasks, jobs, &|_, _| {}, |(i, seed)| {
        run_one(&scenarios[*i], *seed, &names)
    })
    .into_iter();
    let mut out = Vec::new();
    for _ in scenarios {
        let runs: Vec<Measured> = results
            .by_ref()
            .take(seeds.len())
            .collect::<Result<_, _>>()?;
        out.push(values(target, &runs)?);
    }
    Ok(out)
}

/// A scenario's figures on `seeds` (what the fit measured, for tests and the docs).
pub fn measure(
    scenario: &Scenario,
    target: &Target,
    seeds: &[u64],
    jobs: usize,
) -> Result<Vec<f64>, String> {
    Ok(measure_many(std::slice::from_ref(scenario), target, seeds, jobs)?.remove(0))
}

fn log_ratio(value: f64, target: f64) -> f64 {
    (value.max(1e-6) / target.max(1e-6)).ln()
}

/// The sum of squared log ratios, plus a hundred times the squared excess of each beyond
/// the band the search aims for: a figure outside it weighs more than a better fit of those
/// inside, so the search trades closeness for every figure within the tolerance.
fn objective(target: &Target, v: &[f64]) -> f64 {
    let band = (1.0 + target.tolerance * MARGIN).ln();
    target
        .figures
        .iter()
        .zip(v)
        .map(|(f, v)| {
            let r = log_ratio(*v, f.value()).abs();
            r * r + 100.0 * (r - band).max(0.0).powi(2)
        })
        .sum()
}

fn within(target: &Target, v: &[f64], share: f64) -> bool {
    target
        .figures
        .iter()
        .zip(v)
        .all(|(f, v)| (v / f.value().max(1e-6) - 1.0).abs() <= target.tolerance * share)
}

/// Fits `scenario` (its TOML `text`, read from `origin`) to `target`.
pub fn calibrate(
    text: &str,
    origin: &str,
    target: &Target,
    options: &Options,
) -> Result<Fit, String> {
    let scenario = Scenario::parse(text, origin).map_err(|e| e.to_string())?;
    let normalized = explicit_calcom(text, origin)?;
    let text = normalized.as_str();
    let seeds: Vec<u64> = (0..options.seeds.max(1))
        .map(|i| scenario.seed.wrapping_add(i))
        .collect();
    let (space, mut x) = Space::new(&scenario, target)?;
    let build =
        |x: &[f64]| Scenario::with_sets(text, origin, &space.sets(x)).map_err(|e| e.to_string());
    let mut best = measure(&build(&x)?, target, &seeds, options.jobs)?;
    let mut evaluations = 1;
    let mut closest = best.clone();
    let note = |v: &[f64], closest: &mut Vec<f64>| {
        for ((c, v), f) in closest.iter_mut().zip(v).zip(&target.figures) {
            if log_ratio(*v, f.value()).abs() < log_ratio(*c, f.value()).abs() {
                *c = *v;
            }
        }
    };
    let mut steps: Vec<f64> = (0..x.len()).map(|k| space.first_step(k, x[k])).collect();
    for _round in 0..MAX_ROUNDS {
        if within(target, &best, MARGIN) {
            break;
        }
        let mut moved = false;
        for k in 0..x.len() {
            if steps[k] < space.min_step(k) {
                continue;
            }
            let mut trials = Vec::new();
            for sign in [1.0, -1.0] {
                let v = (x[k] + sign * steps[k]).clamp(space.lower(k), space.upper(k));
                if v != x[k] {
                    let mut y = x.clone();
                    y[k] = v;
                    trials.push(y);
                }
            }
            let scenarios: Vec<Scenario> =
                trials.iter().map(|y| build(y)).collect::<Result<_, _>>()?;
            let measured = measure_many(&scenarios, target, &seeds, options.jobs)?;
            evaluations += measured.len();
            let now = objective(target, &best);
            let mut improved = None;
            for (y, v) in trials.into_iter().zip(measured) {
                note(&v, &mut closest);
                let o = objective(target, &v);
                if o < now && improved.as_ref().is_none_or(|(_, _, b)| o < *b) {
                    improved = Some((y, v, o));
                }
            }
            match improved {
                Some((y, v, o)) => {
                    if options.progress {
                        eprintln!(
                            "  calibrate: candidate {evaluations}, objective {o:.4}: {v:.0?}"
                        );
                    }
                    x = y;
                    best = v;
                    moved = true;
                }
                None => steps[k] *= 0.5,
            }
            if within(target, &best, MARGIN) {
                break;
            }
        }
        if !moved
            && steps
                .iter()
                .enumerate()
                .all(|(k, s)| *s < space.min_step(k))
        {
            break;
        }
    }
    let mut rows: Vec<Row> = target
        .figures
        .iter()
        .zip(&best)
        .zip(&closest)
        .map(|((f, v), c)| {
            let ratio = v / f.value().max(1e-6);
            let ok = (ratio - 1.0).abs() <= target.tolerance;
            Row {
                figure: f.clone(),
                simulated: *v,
                ratio,
                within: ok,
                closest: (!ok).then_some(*c),
                why: None,
            }
        })
        .collect();
    if rows.iter().any(|r| !r.within) {
        explain(&mut rows, &space, &x, &build, target, &seeds, options)?;
    }
    let sets = space.sets(&x);
    Ok(Fit {
        body: with_sets_text(text, origin, &sets).map_err(|e| e.to_string())?,
        rows,
        tolerance: target.tolerance,
        sets,
        evaluations,
        seeds,
        policy: scenario.policy.preset.clone(),
    })
}

/// The scenario text with its `calcom` table written out when it has none (it then takes
/// the demo world): a `[calcom.latency]` table alone would leave a world without stylists.
fn explicit_calcom(text: &str, origin: &str) -> Result<String, String> {
    let mut doc: toml::Table = toml::from_str(text).map_err(|e| format!("{origin}: {e}"))?;
    if doc.contains_key("calcom") {
        return Ok(text.to_owned());
    }
    let demo = toml::Value::try_from(mock_calcom::MockConfig::demo()).map_err(|e| e.to_string())?;
    doc.insert("calcom".into(), demo);
    toml::to_string(&doc).map_err(|e| e.to_string())
}

/// Why each figure out of tolerance is: measured at the ends of what the fit may move.
fn explain(
    rows: &mut [Row],
    space: &Space,
    x: &[f64],
    build: &dyn Fn(&[f64]) -> Result<Scenario, String>,
    target: &Target,
    seeds: &[u64],
    options: &Options,
) -> Result<(), String> {
    let floor = measure(&build(&space.floor(x))?, target, seeds, options.jobs)?;
    let ttl = space.knobs.iter().position(|k| *k == Knob::Ttl);
    let longest = match ttl {
        Some(k) => {
            let mut y = x.to_vec();
            y[k] = MAX_TTL;
            Some(measure(&build(&y)?, target, seeds, options.jobs)?)
        }
        None => None,
    };
    for (i, row) in rows.iter_mut().enumerate() {
        if row.within {
            continue;
        }
        let f = &row.figure;
        row.why = Some(match f {
            Figure::Latency { name, .. } if endpoints_of(name).is_empty() => format!(
                "no Cal.com request decides `{name}`; calibrate fits Cal.com latencies and the \
                 cache TTL only"
            ),
            Figure::Latency { name, label: l, .. }
                if row.simulated > f.value() && floor[i] > f.value() * (1.0 - target.tolerance) =>
            {
                format!(
                    "even with Cal.com answering in 1 ms, {name} {l} is {}: the rest of the \
                     world (the scenario's infra.request_overhead, the network, the engine's \
                     own steps) takes that long",
                    f.show(floor[i])
                )
            }
            Figure::CacheHit(t) if row.simulated < *t => match &longest {
                Some(v) if v[i] < *t * (1.0 - target.tolerance) => format!(
                    "even a 1-h cache TTL gives {}: the calls do not ask for the same cache key \
                     often enough",
                    f.show(v[i])
                ),
                _ => "the latency figures pull the TTL the other way".into(),
            },
            Figure::Latency { .. } => "the other figures pull the same distribution the other \
                                       way: the percentiles given cannot all hold with one \
                                       distribution per Cal.com request"
                .into(),
            Figure::CacheHit(_) => "the latency figures pull the TTL the other way".into(),
        });
    }
    Ok(())
}
