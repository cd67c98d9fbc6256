//! The explorers' defaults: [`Explore`](super::Explore)'s (a closure
//! against an in-process server), and beside them the command line's
//! (`mock-chat-server explore -- COMMAND`, a process per run) where they
//! differ.

use std::ops::Range;
use std::time::Duration;

/// The seeds explored.
pub(crate) const SEEDS: Range<u64> = 0..100;
/// [`SEEDS`] as the command line writes them.
#[cfg(feature = "cli")]
pub(crate) const SEEDS_TEXT: &str = "0..100";
/// How many servers run at once.
pub(crate) const CONCURRENCY: usize = 4;
/// How many runs shrinking may make per distinct failure.
pub(crate) const SHRINK_BUDGET: usize = 200;
/// How many times a candidate script is run while shrinking.
pub(crate) const CONFIRMATIONS: usize = 2;
/// The longest a run may take.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(60);

/// Where a command's defaults differ: one process at a time (a client's
/// test command may use fixed files or ports), a longer time limit (it
/// compiles, starts a runtime…), hostile chaos (the point of exploring),
/// and a folder for the reports.
#[cfg(feature = "cli")]
pub(crate) mod command {
    use std::time::Duration;

    /// How many commands run at once.
    pub(crate) const CONCURRENCY: usize = 1;
    /// The longest a command may take before its process group is killed.
    pub(crate) const TIMEOUT: Duration = Duration::from_secs(120);
    /// The fault plan's preset.
    pub(crate) const CHAOS: &str = "hostile";
    /// The folder of the scripts, outputs and reports.
    pub(crate) const OUT: &str = "mock-chat-server-explore";
}

#[cfg(all(test, feature = "cli"))]
mod tests {
    #[test]
    fn the_seeds_text_names_the_seeds() {
        let parsed = super::super::seeds::parse_seeds(super::SEEDS_TEXT).unwrap();
        assert_eq!(parsed, super::SEEDS.collect::<Vec<u64>>());
    }
}
