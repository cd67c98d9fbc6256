//! `--json FILE`: the report as JSON, schema version 1.
//! The schema is documented in the [command line's docs](crate::cli).

use serde::Serialize;

use super::{failure_dir, Explored};
use crate::diagnostics::DiagnosticKind;
use crate::explore::Shrunk;

/// The schema's name.
pub(crate) const SCHEMA: &str = "mock-chat-server/explore";
/// The schema's version.
pub(crate) const VERSION: u32 = 1;

#[derive(Serialize)]
struct Report<'a> {
    schema: &'static str,
    version: u32,
    command: &'a [String],
    chaos: &'a str,
    time_scale: Option<f64>,
    base_seed: Option<u64>,
    shard: Option<String>,
    seeds: usize,
    runs: usize,
    passed: usize,
    failed: usize,
    elapsed_ms: u128,
    results: Vec<SeedResult>,
    failures: Vec<FailureJson>,
}

#[derive(Serialize)]
struct SeedResult {
    seed: u64,
    passed: bool,
    exit: String,
    diagnostics: Vec<DiagnosticKind>,
    elapsed_ms: u128,
    output: String,
    failure: Option<usize>,
}

#[derive(Serialize)]
struct FailureJson {
    number: usize,
    error: String,
    seeds: Vec<u64>,
    shrunk_seed: u64,
    outcome: &'static str,
    faults: Vec<String>,
    minimal_script: Option<String>,
    original_script: String,
    output_tail: Vec<String>,
    rerun: Option<String>,
    serve: Option<String>,
}

/// The JSON report.
pub(super) fn render(done: &Explored) -> String {
    let report = &done.report;
    let failed = report.failures().len();
    let json = Report {
        schema: SCHEMA,
        version: VERSION,
        command: &done.setup.command,
        chaos: &done.setup.chaos,
        time_scale: done.setup.time_scale,
        base_seed: done.setup.base_seed,
        shard: done.setup.shard.map(|s| s.to_string()),
        seeds: report.seeds(),
        runs: report.runs(),
        passed: report.seeds() - failed,
        failed,
        elapsed_ms: report.elapsed().as_millis(),
        results: results(done),
        failures: (0..report.groups().len())
            .map(|n| failure(done, n))
            .collect(),
    };
    serde_json::to_string_pretty(&json).unwrap_or_default() + "\n"
}

fn results(done: &Explored) -> Vec<SeedResult> {
    let groups = done.report.groups();
    done.runner
        .records()
        .into_iter()
        .map(|(seed, r)| SeedResult {
            seed,
            passed: r.passed,
            exit: r.exit.class(),
            diagnostics: r.diagnostics,
            elapsed_ms: r.elapsed.as_millis(),
            output: r.log.display().to_string(),
            failure: groups
                .iter()
                .position(|g| g.seeds().contains(&seed))
                .map(|n| n + 1),
        })
        .collect()
}

fn failure(done: &Explored, n: usize) -> FailureJson {
    let g = &done.report.groups()[n];
    let outcome = match g.outcome() {
        Shrunk::Minimal(_) => "minimal",
        Shrunk::NotReplayable => "not_replayable",
        Shrunk::BudgetSpent(_) => "budget_spent",
    };
    let faults = g
        .script()
        .map(|s| s.to_string().lines().map(str::to_string).collect())
        .unwrap_or_default();
    FailureJson {
        number: n + 1,
        error: g.error().to_string(),
        seeds: g.seeds().to_vec(),
        shrunk_seed: g.shrunk_seed(),
        outcome,
        faults,
        minimal_script: g.script_file().map(|p| p.display().to_string()),
        original_script: failure_dir(&done.setup.out, n)
            .join("original.json")
            .display()
            .to_string(),
        output_tail: done
            .runner
            .records()
            .get(&g.shrunk_seed())
            .map(|r| r.tail.clone())
            .unwrap_or_default(),
        rerun: done.rerun_line(n),
        serve: done.serve_line(n),
    }
}
