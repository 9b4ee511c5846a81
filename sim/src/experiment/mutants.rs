//! Mutation testing of a scenario catalogue: is every protection layer shown to matter?
//!
//! A mutant is a policy with one layer switched off (or a deliberately broken preset). Each
//! runs against every scenario whose policy it changes; a scenario whose gates then fail
//! *kills* it. A mutant no scenario kills is a layer the catalogue cannot tell from its
//! absence: either the layer buys nothing there, or a scenario that needs it is missing.

use booking_engine::Policy;
use booking_engine::policy::{ConflictCheck, LockMode, SegmentMode};
use serde::Serialize;

use crate::pipeline::parallel;
use crate::results::summary;
use crate::world::simulated as world;
use crate::{Scenario, Summary, check as invariants};

/// How a mutant changes a scenario's policy.
#[derive(Clone, Copy)]
pub enum Mutation {
    /// One layer of the scenario's own policy switched off.
    Layer(fn(&mut Policy)),
    /// The scenario's overrides on a (broken) preset instead of its own.
    Preset(&'static str),
}

#[derive(Clone, Copy)]
pub struct Mutant {
    pub name: &'static str,
    pub mutation: Mutation,
}

/// Every layer of `full` switched off alone, and the broken presets.
pub const MUTANTS: [Mutant; 32] = [
    Mutant {
        name: "cache off",
        mutation: Mutation::Layer(|p| p.cache_ttl = None),
    },
    Mutant {
        name: "lock off",
        mutation: Mutation::Layer(|p| p.lock = LockMode::Off),
    },
    Mutant {
        name: "lock renewal off",
        mutation: Mutation::Layer(|p| p.lock_renewal = false),
    },
    Mutant {
        name: "lock fencing off",
        mutation: Mutation::Layer(|p| p.lock_fencing = false),
    },
    Mutant {
        name: "lock outlives create off",
        mutation: Mutation::Layer(|p| p.lock_outlives_create = false),
    },
    Mutant {
        name: "double-check off",
        mutation: Mutation::Layer(|p| p.double_check = false),
    },
    Mutant {
        name: "pre-sync check off",
        mutation: Mutation::Layer(|p| p.pre_sync_check = ConflictCheck::Off),
    },
    Mutant {
        name: "retries off",
        mutation: Mutation::Layer(|p| {
            p.retry.max_retries = 0;
            p.retry.conflict_backoff.clear();
        }),
    },
    Mutant {
        name: "post-sync validation off",
        mutation: Mutation::Layer(|p| p.post_sync_validation = false),
    },
    Mutant {
        name: "post-sync status off",
        mutation: Mutation::Layer(|p| p.post_sync_status = false),
    },
    Mutant {
        name: "post-sync compensation off",
        mutation: Mutation::Layer(|p| p.post_sync_compensation = false),
    },
    Mutant {
        name: "cancel wait off",
        mutation: Mutation::Layer(|p| p.cancel_waits_for_booking = false),
    },
    Mutant {
        name: "reconciliation off",
        mutation: Mutation::Layer(|p| p.reconcile_lost_creates = false),
    },
    Mutant {
        name: "late-create settling off",
        mutation: Mutation::Layer(|p| p.settle_late_creates = false),
    },
    Mutant {
        name: "recovery off",
        mutation: Mutation::Layer(|p| p.recover_on_restart = false),
    },
    Mutant {
        name: "compensation retries off",
        mutation: Mutation::Layer(|p| p.compensation_retries = 0),
    },
    Mutant {
        name: "sync retries off",
        mutation: Mutation::Layer(|p| p.sync_retry_transient = false),
    },
    Mutant {
        name: "channel conflict check off",
        mutation: Mutation::Layer(|p| p.channel_conflict_check = false),
    },
    Mutant {
        name: "sync refusal keeps the appointment",
        mutation: Mutation::Layer(|p| p.sync_refusal_cancels = false),
    },
    Mutant {
        name: "saga compensation off",
        mutation: Mutation::Layer(|p| p.saga_compensation = false),
    },
    Mutant {
        name: "local reservation off",
        mutation: Mutation::Layer(|p| p.local_reservation_ttl = None),
    },
    Mutant {
        name: "passed-over release off",
        mutation: Mutation::Layer(|p| p.release_passed_over = false),
    },
    Mutant {
        name: "release retries off",
        mutation: Mutation::Layer(|p| p.release_retries = false),
    },
    Mutant {
        name: "holds lapsing together off",
        mutation: Mutation::Layer(|p| p.holds_lapse_together = false),
    },
    Mutant {
        name: "hold budget sparing off",
        mutation: Mutation::Layer(|p| p.holds_spare_budget = false),
    },
    Mutant {
        name: "Cal.com reservation off",
        mutation: Mutation::Layer(|p| p.calcom_reservation_minutes = None),
    },
    Mutant {
        name: "webhook invalidation off",
        mutation: Mutation::Layer(|p| p.webhook_invalidation = false),
    },
    Mutant {
        name: "staff following off",
        mutation: Mutation::Layer(|p| p.follow_staff_changes = false),
    },
    Mutant {
        name: "staff reconciliation off",
        mutation: Mutation::Layer(|p| p.staff_reconcile = None),
    },
    Mutant {
        name: "parallel segments off",
        mutation: Mutation::Layer(|p| p.segments = SegmentMode::Sequential),
    },
    Mutant {
        name: "preset no-lock",
        mutation: Mutation::Preset("no-lock"),
    },
    Mutant {
        name: "preset no-conflict-check",
        mutation: Mutation::Preset("no-conflict-check"),
    },
];

impl Mutant {
    /// The mutated policy of `scenario`, or `None` when the mutation changes nothing there.
    pub fn policy_for(&self, scenario: &Scenario) -> Result<Option<Policy>, String> {
        let own = scenario.policy()?;
        let mutated = match self.mutation {
            Mutation::Layer(switch_off) => {
                let mut p = own.clone();
                switch_off(&mut p);
                p
            }
            Mutation::Preset(name) => Policy::with_overrides(name, &scenario.policy.overrides)
                .map_err(|e| format!("policy: {e}"))?,
        };
        Ok((mutated != own).then_some(mutated))
    }
}

/// One scenario against one mutant.
#[derive(Debug, Clone, Serialize)]
pub struct Trial {
    pub scenario: String,
    /// The gates that failed (empty: the mutant survived this scenario).
    pub failing: Vec<String>,
}

/// One mutant against the catalogue.
#[derive(Debug, Clone, Serialize)]
pub struct MutantVerdict {
    pub mutant: String,
    pub trials: Vec<Trial>,
}

impl MutantVerdict {
    pub fn killed(&self) -> bool {
        self.trials.iter().any(|t| !t.failing.is_empty())
    }
}

/// Runs `scenario` on its own seed with `policy` (named `label` in the summary).
pub fn run_with(scenario: &Scenario, policy: &Policy, label: &str) -> Result<Summary, String> {
    crate::pipeline::isolated(|| {
        let record = world::run(scenario, scenario.seed, policy)?;
        let violations = invariants::check(scenario, &record)?;
        Ok(summary::summarize(
            scenario,
            scenario.seed,
            label,
            &record,
            &violations,
        ))
    })
}

fn failing_gates(summary: &Summary) -> Vec<String> {
    summary
        .failing_gates()
        .into_iter()
        .map(str::to_owned)
        .collect()
}

/// The outcome of a mutation test.
#[derive(Debug, Clone, Serialize)]
pub struct Matrix {
    /// Scenarios whose gates fail under their own policy: they cannot tell a mutant apart,
    /// so they take no part.
    pub broken: Vec<Trial>,
    pub verdicts: Vec<MutantVerdict>,
}

/// Every mutant of `mutants` against every scenario it changes, on `jobs` threads, after
/// checking that each scenario passes under its own policy.
pub fn matrix(
    scenarios: &[Scenario],
    mutants: &[Mutant],
    jobs: usize,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Matrix, String> {
    let mut work = Vec::new();
    for (s, scenario) in scenarios.iter().enumerate() {
        work.push((None, s, scenario.policy()?));
        for (m, mutant) in mutants.iter().enumerate() {
            if let Some(policy) = mutant.policy_for(scenario)? {
                work.push((Some(m), s, policy));
            }
        }
    }
    let results = parallel::map(&work, jobs, progress, |(m, s, policy)| {
        let label = m.map_or(scenarios[*s].policy.preset.as_str(), |m| mutants[m].name);
        run_with(&scenarios[*s], policy, label).map(|summary| failing_gates(&summary))
    });
    let mut broken = Vec::new();
    let mut verdicts: Vec<MutantVerdict> = mutants
        .iter()
        .map(|m| MutantVerdict {
            mutant: m.name.to_owned(),
            trials: Vec::new(),
        })
        .collect();
    for ((m, s, _), failing) in work.iter().zip(results) {
        let name = m.map_or("its own policy", |m| mutants[m].name);
        let failing = failing.map_err(|e| format!("{} under {name}: {e}", scenarios[*s].name))?;
        let trial = Trial {
            scenario: scenarios[*s].name.clone(),
            failing,
        };
        match m {
            None if !trial.failing.is_empty() => broken.push(trial),
            None => {}
            Some(_) if broken.iter().any(|b| b.scenario == trial.scenario) => {}
            Some(m) => verdicts[*m].trials.push(trial),
        }
    }
    Ok(Matrix { broken, verdicts })
}
