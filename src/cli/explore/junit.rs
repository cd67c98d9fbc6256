//! `--junit FILE`: one `<testcase name="seed N">` per seed, each failure
//! with its group's minimal faults and the run's output tail.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::Explored;

/// The JUnit XML of an exploration.
pub(super) fn render(done: &Explored) -> String {
    let records = done.runner.records();
    let failed = records.values().filter(|r| !r.passed).count();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites tests=\"{}\" failures=\"{failed}\" time=\"{:.3}\">",
        records.len(),
        done.report.elapsed().as_secs_f64()
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"mock-chat-server explore\" tests=\"{}\" failures=\"{failed}\" time=\"{:.3}\">",
        records.len(),
        done.report.elapsed().as_secs_f64()
    );
    let group_of: BTreeMap<u64, usize> = done
        .report
        .groups()
        .iter()
        .enumerate()
        .flat_map(|(n, g)| g.seeds().iter().map(move |s| (*s, n)))
        .collect();
    for (seed, record) in &records {
        let _ = write!(
            out,
            "    <testcase name=\"seed {seed}\" classname=\"{}\" time=\"{:.3}\"",
            escape(&done.command_line()),
            record.elapsed.as_secs_f64()
        );
        if record.passed {
            out.push_str("/>\n");
            continue;
        }
        let error = done.report.failure(*seed).map_or("", |f| f.error.as_str());
        let _ = writeln!(
            out,
            ">\n      <failure message=\"{}\" type=\"{}\">{}</failure>\n    </testcase>",
            escape(error),
            escape(&record.exit.class()),
            escape(&details(done, group_of.get(seed).copied(), &record.tail))
        );
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

/// A failure's body: its group, the minimal faults, the output's tail.
fn details(done: &Explored, group: Option<usize>, tail: &[String]) -> String {
    let mut out = String::new();
    if let Some(n) = group {
        let g = &done.report.groups()[n];
        let _ = writeln!(out, "failure {} (seeds {:?})", n + 1, g.seeds());
        match g.script() {
            Some(script) => {
                let _ = writeln!(out, "minimal faults ({}):", script.len());
                for line in script.to_string().lines() {
                    let _ = writeln!(out, "  {line}");
                }
            }
            None => out.push_str("not replayable: no minimal faults\n"),
        }
        if let Some(rerun) = done.rerun_line(n) {
            let _ = writeln!(out, "rerun: {rerun}");
        }
    }
    out.push_str("output (last lines):\n");
    for line in tail {
        let _ = writeln!(out, "  {line}");
    }
    out
}

/// Text made safe for XML 1.0 content and attributes: the five special
/// characters escaped, characters XML cannot hold replaced.
pub(super) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn escaping_leaves_no_markup_and_no_control_characters() {
        assert_eq!(
            escape("a<b>&\"c\" 'd'\u{1b}[0m\n"),
            "a&lt;b&gt;&amp;&quot;c&quot; &apos;d&apos;\u{FFFD}[0m\n"
        );
    }
}
