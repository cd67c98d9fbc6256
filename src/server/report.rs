//! The reproduction report a failing test prints.

use std::fmt::Write as _;

use super::resolve::{SeedSource, SEED_ENV};
use crate::chaos::JournalEntry;
use crate::diagnostics::Diagnostic;

/// How many journal entries the report prints.
pub(crate) const ENTRIES: usize = 20;

/// The report: the seed, the last journal entries, how to rerun.
pub(crate) fn render(
    seed: u64,
    source: SeedSource,
    tail: &[JournalEntry],
    diagnostics: &[Diagnostic],
) -> String {
    let mut out = format!("\n--- mock-chat-server: this server's seed was {seed} ---\n");
    if tail.is_empty() {
        out.push_str("fault journal: empty\n");
    } else {
        let _ = writeln!(out, "last {} fault journal entries:", tail.len());
        for entry in tail {
            let _ = writeln!(out, "  {entry}");
        }
    }
    if !diagnostics.is_empty() {
        let _ = writeln!(
            out,
            "client diagnostics (what the real server would do silently):"
        );
        for d in diagnostics {
            let _ = writeln!(out, "  {d}");
        }
    }
    // libtest names each test's thread after the test.
    let test = std::thread::current()
        .name()
        .filter(|n| !matches!(*n, "main" | "tokio-runtime-worker" | "mock-chat-server"))
        .map(|n| format!(" {n} -- --exact"))
        .unwrap_or_default();
    let _ = writeln!(out, "reproduce with:\n  {SEED_ENV}={seed} cargo test{test}");
    match source {
        SeedSource::Builder => {
            let _ = writeln!(
                out,
                "(the seed is fixed by the builder's .seed({seed}): a plain rerun reproduces too)"
            );
        }
        SeedSource::Env | SeedSource::Script | SeedSource::Random => {}
    }
    out
}
