//! The report printed on stdout: the totals, then per distinct failure its
//! seeds, minimal faults in words, output tail and rerun lines.

use std::fmt::Write as _;

use super::Explored;
use crate::explore::Shrunk;

/// The report.
pub(super) fn render(done: &Explored) -> String {
    let report = &done.report;
    let failed = report.failures().len();
    let mut out = format!(
        "explored {} seeds in {:.1?} ({} runs): {} passed, {failed} failed, {} distinct failure(s)\n",
        report.seeds(),
        report.elapsed(),
        report.runs(),
        report.seeds() - failed,
        report.groups().len()
    );
    if let Some(base) = done.setup.base_seed {
        let _ = writeln!(
            out,
            "random seeds from base seed {base} (--base-seed {base} repeats them)"
        );
    }
    if let Some(shard) = done.setup.shard {
        let _ = writeln!(out, "shard {shard}");
    }
    for n in 0..report.groups().len() {
        out += &group(done, n);
    }
    if failed > 0 {
        let _ = writeln!(
            out,
            "\nscripts and every run's output: {}",
            done.setup.out.display()
        );
    }
    out
}

/// One distinct failure.
fn group(done: &Explored, n: usize) -> String {
    let g = &done.report.groups()[n];
    let of = done
        .report
        .failure(g.shrunk_seed())
        .map_or(0, |f| f.script.len());
    let mut out = format!("\nfailure {}: {}\n", n + 1, g.error());
    let _ = writeln!(out, "  seeds: {}", crate::explore::seed_list(g.seeds()));
    let _ = writeln!(
        out,
        "  seed {} shrunk, {}",
        g.shrunk_seed(),
        g.outcome_words(of)
    );
    match g.outcome() {
        Shrunk::NotReplayable => {}
        _ => {
            for line in g
                .script()
                .map(|s| s.to_string())
                .unwrap_or_default()
                .lines()
            {
                let _ = writeln!(out, "    {line}");
            }
        }
    }
    if let Some(record) = done.runner.records().get(&g.shrunk_seed()) {
        let _ = writeln!(
            out,
            "  output of seed {} ({}), last lines:",
            g.shrunk_seed(),
            record.log.display()
        );
        for line in record.tail.iter().rev().take(10).rev() {
            let _ = writeln!(out, "    | {line}");
        }
    }
    if let (Some(rerun), Some(serve)) = (done.rerun_line(n), done.serve_line(n)) {
        let _ = writeln!(out, "  rerun:  {rerun}");
        let _ = writeln!(out, "  serve:  {serve}   (those faults, to debug by hand)");
    }
    out
}
