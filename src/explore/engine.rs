//! The one engine of both explorers (the closure-based [`Explore`] and the
//! command line's `explore -- COMMAND`): run every seed, group the failures,
//! shrink one failure per group by delta debugging. What a run is belongs
//! to a [`Runner`].
//!
//! [`Explore`]: super::Explore

use std::collections::BTreeMap;
use std::time::Instant;

use futures::future::BoxFuture;
use futures::StreamExt;

use super::report::{Failure, FailureGroup, Found, Shrunk};
use crate::chaos::{FaultScript, ScriptedDecision};

/// What one run did.
#[derive(Debug, Clone)]
pub(crate) struct Outcome {
    /// `None` if it passed.
    pub(crate) failed: Option<Failed>,
    /// Every non-calm chaos decision it met.
    pub(crate) script: FaultScript,
}

/// How a run failed.
#[derive(Debug, Clone)]
pub(crate) struct Failed {
    /// In words, for people.
    pub(crate) error: String,
    /// What two runs must share to count as the same failure.
    pub(crate) identity: String,
}

/// Which run of a seed this is: its first, or a replay while shrinking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Attempt {
    First,
    Replay,
}

/// Runs one seed, with a script (replayed exactly) or with the plan.
pub(crate) trait Runner: Send + Sync {
    fn run(
        &self,
        seed: u64,
        script: Option<FaultScript>,
        attempt: Attempt,
    ) -> BoxFuture<'_, Outcome>;
}

/// What to explore, and how hard to shrink.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub(crate) seeds: Vec<u64>,
    /// Every seed runs this script instead of the plan.
    pub(crate) script: Option<FaultScript>,
    pub(crate) concurrency: usize,
    pub(crate) shrink_budget: usize,
    pub(crate) confirmations: usize,
}

/// How far the seeds have got, after each one (the command line shows it).
#[derive(Debug, Clone, Copy)]
#[cfg_attr(not(feature = "cli"), allow(dead_code))]
pub(crate) struct Progress {
    pub(crate) done: usize,
    pub(crate) failed: usize,
    pub(crate) total: usize,
    pub(crate) started: Instant,
}

/// Runs every seed of `plan`, then shrinks one failure of each group;
/// `progress` hears of each seed as it ends, `shrinking` of each group
/// (its number from 1) before it is shrunk.
pub(crate) async fn explore(
    runner: &dyn Runner,
    plan: &Plan,
    progress: &(dyn Fn(Progress) + Sync),
    shrinking: &(dyn Fn(usize, usize) + Sync),
) -> Found {
    let started = Instant::now();
    let total = plan.seeds.len();
    let mut outcomes: Vec<(u64, Outcome)> = Vec::with_capacity(total);
    let mut failed = 0;
    let mut runs = futures::stream::iter(plan.seeds.iter().copied())
        .map(|seed| async move {
            let outcome = runner.run(seed, plan.script.clone(), Attempt::First).await;
            (seed, outcome)
        })
        .buffer_unordered(plan.concurrency.max(1));
    while let Some((seed, outcome)) = runs.next().await {
        failed += usize::from(outcome.failed.is_some());
        outcomes.push((seed, outcome));
        progress(Progress {
            done: outcomes.len(),
            failed,
            total,
            started,
        });
    }
    drop(runs);
    outcomes.sort_by_key(|(seed, _)| *seed);
    let (failures, identities) = failures_of(outcomes);
    let mut used = 0;
    let mut groups = Vec::new();
    let grouped = group(&failures, &identities);
    for (n, (members, best)) in grouped.iter().enumerate() {
        shrinking(n + 1, grouped.len());
        let shrinker = Shrinker {
            runner,
            plan,
            failure: &failures[*best],
            identity: &identities[*best],
            used: 0,
        };
        let (outcome, spent) = shrinker.shrink().await;
        used += spent;
        groups.push(FailureGroup::new(
            failures[*best].error.clone(),
            members.iter().map(|&i| failures[i].seed).collect(),
            failures[*best].seed,
            outcome,
        ));
    }
    Found {
        runs: total + used,
        seeds: total,
        failures,
        groups,
        elapsed: started.elapsed(),
    }
}

/// The failing runs, in seed order, and their identities.
fn failures_of(outcomes: Vec<(u64, Outcome)>) -> (Vec<Failure>, Vec<String>) {
    outcomes
        .into_iter()
        .filter_map(|(seed, run)| {
            run.failed.map(|f| {
                let failure = Failure {
                    seed,
                    error: f.error,
                    script: run.script,
                };
                (failure, f.identity)
            })
        })
        .unzip()
}

/// One group per identity, in the order of their first seeds: its
/// members, and the one to shrink (the shortest script, the first seed
/// among equals).
fn group(failures: &[Failure], identities: &[String]) -> Vec<(Vec<usize>, usize)> {
    let mut by_identity: BTreeMap<&str, (Vec<usize>, usize)> = BTreeMap::new();
    for (i, identity) in identities.iter().enumerate() {
        let entry = by_identity.entry(identity).or_insert((Vec::new(), i));
        entry.0.push(i);
        if failures[i].script.len() < failures[entry.1].script.len() {
            entry.1 = i;
        }
    }
    let mut groups: Vec<(Vec<usize>, usize)> = by_identity.into_values().collect();
    groups.sort_by_key(|(members, _)| members[0]);
    groups
}

/// Delta debugging over one failure's decisions.
struct Shrinker<'a> {
    runner: &'a dyn Runner,
    plan: &'a Plan,
    failure: &'a Failure,
    identity: &'a str,
    used: usize,
}

impl Shrinker<'_> {
    fn can_try(&self) -> bool {
        self.used + self.plan.confirmations.max(1) <= self.plan.shrink_budget
    }

    /// Whether `decisions` still fail the same way, every time of the
    /// confirmations.
    async fn still_fails(&mut self, decisions: &[ScriptedDecision]) -> bool {
        let script = FaultScript::from_decisions(Some(self.failure.seed), decisions);
        for _ in 0..self.plan.confirmations.max(1) {
            self.used += 1;
            let run = self
                .runner
                .run(self.failure.seed, Some(script.clone()), Attempt::Replay)
                .await;
            if run.failed.map(|f| f.identity).as_deref() != Some(self.identity) {
                return false;
            }
        }
        true
    }

    /// The outcome and the runs it took.
    async fn shrink(mut self) -> (Shrunk, usize) {
        let seed = Some(self.failure.seed);
        let mut decisions = self.failure.script.decisions();
        if !self.can_try() {
            return (Shrunk::BudgetSpent(self.failure.script.clone()), 0);
        }
        // The whole script replayed must fail first; else nothing to shrink.
        if !self.still_fails(&decisions).await {
            return (Shrunk::NotReplayable, self.used);
        }
        if decisions.is_empty() {
            return (
                Shrunk::Minimal(FaultScript::from_decisions(seed, &[])),
                self.used,
            );
        }
        if !self.can_try() {
            return (Shrunk::BudgetSpent(self.failure.script.clone()), self.used);
        }
        if self.still_fails(&[]).await {
            return (
                Shrunk::Minimal(FaultScript::from_decisions(seed, &[])),
                self.used,
            );
        }
        let minimal = self.reduce(&mut decisions).await;
        let script = FaultScript::from_decisions(seed, &decisions);
        let outcome = if minimal {
            Shrunk::Minimal(script)
        } else {
            Shrunk::BudgetSpent(script)
        };
        (outcome, self.used)
    }

    /// Removes pieces (halves, then smaller, then single decisions) while
    /// the rest still fails; true if no single decision can go (minimal),
    /// false if the budget ran out first.
    async fn reduce(&mut self, decisions: &mut Vec<ScriptedDecision>) -> bool {
        let mut n = 2usize;
        while decisions.len() >= 2 {
            let chunk = decisions.len().div_ceil(n);
            let mut reduced = false;
            for start in (0..decisions.len()).step_by(chunk) {
                if !self.can_try() {
                    return false;
                }
                let end = (start + chunk).min(decisions.len());
                let rest: Vec<ScriptedDecision> = decisions[..start]
                    .iter()
                    .chain(&decisions[end..])
                    .cloned()
                    .collect();
                if self.still_fails(&rest).await {
                    *decisions = rest;
                    n = (n - 1).max(2);
                    reduced = true;
                    break;
                }
            }
            if !reduced {
                if n >= decisions.len() {
                    return true;
                }
                n = (n * 2).min(decisions.len());
            }
        }
        true
    }
}

/// The text with ids and numbers masked, to tell failures apart.
pub(crate) fn mask(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if !c.is_ascii_hexdigit() {
            out.push(c);
            continue;
        }
        let mut token = String::from(c);
        while let Some(&n) = chars.peek() {
            if n.is_ascii_hexdigit() || n == '-' {
                token.push(n);
                chars.next();
            } else {
                break;
            }
        }
        let is_number = token.chars().all(|c| c.is_ascii_digit());
        let is_id = token.len() >= 8 && token.chars().any(|c| c.is_ascii_digit());
        if is_number || is_id {
            out.push('#');
        } else {
            out.push_str(&token);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masking_hides_numbers_and_ids_only() {
        assert_eq!(
            mask("message 12 with id 0b8a3c62-5a8e-4d0f-9d6e-2f1c3b4a5d6e stored twice"),
            "message # with id # stored twice"
        );
        assert_eq!(mask("bad face"), "bad face");
    }
}
