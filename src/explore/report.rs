//! What an exploration found: [`ExploreReport`], its failures and their
//! groups.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::chaos::{FaultScript, SCRIPT_ENV};
use crate::server::SEED_ENV;

/// What the engine found.
#[derive(Debug, Clone)]
pub(crate) struct Found {
    pub(crate) runs: usize,
    pub(crate) seeds: usize,
    pub(crate) failures: Vec<Failure>,
    pub(crate) groups: Vec<FailureGroup>,
    pub(crate) elapsed: Duration,
}

/// A seed's failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The seed.
    pub seed: u64,
    /// The scenario's error (or panic message).
    pub error: String,
    /// Every non-calm decision of the failing run.
    pub script: FaultScript,
}

/// How shrinking a group's failure ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Shrunk {
    /// A minimal script: it fails the same way every time it was tried, and
    /// without any one of its decisions it does not.
    Minimal(FaultScript),
    /// The failing run's own script, replayed, did not fail the same way
    /// (the failure depends on timing the script does not fix).
    NotReplayable,
    /// The shrink budget ran out first: the smallest script found, which
    /// fails the same way every time it was tried, but may not be minimal.
    BudgetSpent(FaultScript),
}

/// One distinct failure: every seed that failed the same way, and the one
/// that was shrunk. See [`ExploreReport::groups`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureGroup {
    error: String,
    seeds: Vec<u64>,
    shrunk_seed: u64,
    outcome: Shrunk,
    script_file: Option<PathBuf>,
}

impl FailureGroup {
    pub(crate) fn new(error: String, seeds: Vec<u64>, shrunk_seed: u64, outcome: Shrunk) -> Self {
        FailureGroup {
            error,
            seeds,
            shrunk_seed,
            outcome,
            script_file: None,
        }
    }

    /// The error of the seed that was shrunk (the others' differ at most in
    /// numbers and ids).
    pub fn error(&self) -> &str {
        &self.error
    }

    /// Every seed that failed this way, in order.
    pub fn seeds(&self) -> &[u64] {
        &self.seeds
    }

    /// The seed whose run was shrunk: the one with the fewest faults.
    pub fn shrunk_seed(&self) -> u64 {
        self.shrunk_seed
    }

    /// How shrinking ended.
    pub fn outcome(&self) -> &Shrunk {
        &self.outcome
    }

    /// The smallest script that fails this way, if shrinking found one
    /// (minimal, or the best when the budget ran out).
    pub fn script(&self) -> Option<&FaultScript> {
        match &self.outcome {
            Shrunk::Minimal(s) | Shrunk::BudgetSpent(s) => Some(s),
            Shrunk::NotReplayable => None,
        }
    }

    /// The file that [`script`](Self::script) was written to, if it was.
    pub fn script_file(&self) -> Option<&Path> {
        self.script_file.as_deref()
    }

    pub(crate) fn set_script_file(&mut self, file: Option<PathBuf>) {
        self.script_file = file;
    }

    /// The outcome in a few words, with the script's length.
    pub(crate) fn outcome_words(&self, of: usize) -> String {
        match &self.outcome {
            Shrunk::Minimal(s) if s.is_empty() => {
                "minimal: no fault needed (it fails with every decision calm)".to_string()
            }
            Shrunk::Minimal(s) => format!("minimal: {} of the run's {of} faults", s.len()),
            Shrunk::BudgetSpent(s) => format!(
                "shrink budget spent: {} of the run's {of} faults, maybe not minimal",
                s.len()
            ),
            Shrunk::NotReplayable => {
                format!("not replayable: the run's {of} faults replayed did not fail the same way")
            }
        }
    }
}

/// What an exploration found.
#[derive(Debug, Clone)]
pub struct ExploreReport {
    runs: usize,
    seeds: usize,
    failures: Vec<Failure>,
    groups: Vec<FailureGroup>,
    elapsed: Duration,
    refused: Option<String>,
}

impl ExploreReport {
    pub(crate) fn found(found: Found) -> Self {
        ExploreReport {
            runs: found.runs,
            seeds: found.seeds,
            failures: found.failures,
            groups: found.groups,
            elapsed: found.elapsed,
            refused: None,
        }
    }

    pub(crate) fn refused(why: String) -> Self {
        ExploreReport {
            runs: 0,
            seeds: 0,
            failures: Vec::new(),
            groups: Vec::new(),
            elapsed: Duration::ZERO,
            refused: Some(why),
        }
    }

    pub(crate) fn groups_mut(&mut self) -> &mut [FailureGroup] {
        &mut self.groups
    }

    /// How many runs were made (seeds and shrinking together).
    pub fn runs(&self) -> usize {
        self.runs
    }

    /// How many seeds were explored.
    pub fn seeds(&self) -> usize {
        self.seeds
    }

    /// How long the exploration took.
    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }

    /// The failing seeds, in seed order.
    pub fn failures(&self) -> &[Failure] {
        &self.failures
    }

    /// One group per distinct failure (the same error once numbers and ids
    /// are masked), in the order of their first seeds.
    pub fn groups(&self) -> &[FailureGroup] {
        &self.groups
    }

    /// The failure of `seed`, if it failed.
    pub fn failure(&self, seed: u64) -> Option<&Failure> {
        self.failures.iter().find(|f| f.seed == seed)
    }

    /// Whether every seed passed (false if nothing could be explored).
    pub fn passed(&self) -> bool {
        self.failures.is_empty() && self.refused.is_none()
    }

    /// Why nothing could be explored, if so: the one error that stopped it
    /// before any run (an unreadable `MOCK_CHAT_SCRIPT`, an invalid
    /// `MOCK_CHAT_SHARD`, a builder that cannot start a server).
    pub fn refusal(&self) -> Option<&str> {
        self.refused.as_deref()
    }

    /// Returns if every seed passed; else panics with this report.
    pub fn assert_passed(&self) {
        if !self.passed() {
            panic!("{self}");
        }
    }
}

impl fmt::Display for ExploreReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(why) = &self.refused {
            return writeln!(f, "nothing explored: {why}");
        }
        writeln!(
            f,
            "explored {} seeds in {:.1?} ({} runs): {} failed, {} distinct failure(s)",
            self.seeds,
            self.elapsed,
            self.runs,
            self.failures.len(),
            self.groups.len()
        )?;
        for (n, group) in self.groups.iter().enumerate() {
            let of = self
                .failure(group.shrunk_seed)
                .map_or(0, |f| f.script.len());
            writeln!(f, "\nfailure {}: seeds {}", n + 1, seed_list(&group.seeds))?;
            writeln!(f, "  error: {}", group.error)?;
            writeln!(
                f,
                "  seed {} shrunk, {}",
                group.shrunk_seed,
                group.outcome_words(of)
            )?;
            for line in group
                .script()
                .map(|s| s.to_string())
                .unwrap_or_default()
                .lines()
            {
                writeln!(f, "    {line}")?;
            }
            let seed = group.shrunk_seed;
            writeln!(f, "  rerun the original: {SEED_ENV}={seed} cargo test …")?;
            match (&group.script_file, group.script()) {
                (Some(p), _) => writeln!(
                    f,
                    "  rerun the minimal:  {SCRIPT_ENV}={} cargo test …",
                    p.display()
                )?,
                (None, Some(_)) => {
                    writeln!(f, "  (the script could not be written to a file)")?;
                }
                (None, None) => {}
            }
        }
        Ok(())
    }
}

/// `3, 17, 40` (at most 20, then how many more).
pub(crate) fn seed_list(seeds: &[u64]) -> String {
    const SHOWN: usize = 20;
    let mut out: Vec<String> = seeds.iter().take(SHOWN).map(u64::to_string).collect();
    if seeds.len() > SHOWN {
        out.push(format!("… ({} more)", seeds.len() - SHOWN));
    }
    out.join(", ")
}
