//! `mock-chat-server explore [OPTIONS] -- COMMAND [ARGS…]`: any client's
//! own test command, run against a fresh server per seed, judged by its
//! exit status, failures shrunk by rerunning it (the engine of
//! [`Explore`](crate::explore::Explore)).
//!
//! The command's environment: `MOCK_CHAT_URL` (the base URL, no trailing
//! slash), `MOCK_CHAT_SEED`, `MOCK_CHAT_ADMIN_URL` and
//! `MOCK_CHAT_ADMIN_TOKEN` (the admin API is on, with a fresh token per
//! run); `{url}` in its arguments is replaced by the URL. It runs in its
//! own process group, killed whole on timeout. Exit code: 0 when every
//! seed passed, 1 when any failed, 2 on a usage error.
//!
//! `--json FILE` writes the report as JSON; its schema is in the
//! [command line's docs](crate::cli).

mod args;
pub(crate) mod json;
mod junit;
mod progress;
mod text;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub(super) use args::ExploreArgs;
use args::Setup;

use crate::explore::command::CommandRunner;
use crate::explore::engine;
use crate::explore::ExploreReport;

/// An exploration done: what is needed to report it.
#[derive(Debug)]
pub(super) struct Explored {
    setup: Setup,
    runner: CommandRunner,
    report: ExploreReport,
}

/// Explores the command of `args`; the exit code is the verdict.
pub(super) async fn explore(args: ExploreArgs) -> ExitCode {
    let setup = match args::setup(args) {
        Ok(setup) => setup,
        Err(e) => {
            eprintln!("mock-chat-server explore: {e}");
            return ExitCode::from(2);
        }
    };
    let done = run(setup).await;
    print!("{}", text::render(&done));
    let mut code = if done.report.passed() { 0 } else { 1 };
    for (file, body) in [
        (&done.setup.junit, junit::render(&done)),
        (&done.setup.json, json::render(&done)),
    ] {
        if let Some(file) = file {
            if let Err(e) = std::fs::write(file, body) {
                eprintln!(
                    "mock-chat-server explore: cannot write {}: {e}",
                    file.display()
                );
                code = 2;
            }
        }
    }
    ExitCode::from(code)
}

/// Runs the engine over the command, then writes each group's scripts.
async fn run(setup: Setup) -> Explored {
    let runner = CommandRunner::new(
        setup.builder.clone(),
        setup.command.clone(),
        setup.timeout,
        setup.deny_misuse,
        setup.out.join("runs"),
    );
    let bar = progress::Bar::new();
    let found = engine::explore(&runner, &setup.plan, &|p| bar.tick(p), &|n, of| {
        bar.shrinking(n, of)
    })
    .await;
    let mut done = Explored {
        setup,
        runner,
        report: ExploreReport::found(found),
    };
    write_scripts(&mut done);
    done
}

/// `DIR/failure-N/minimal.json` (if shrinking found one) and
/// `DIR/failure-N/original.json` for each group.
fn write_scripts(done: &mut Explored) {
    let out = done.setup.out.clone();
    let originals: Vec<Option<String>> = done
        .report
        .groups()
        .iter()
        .map(|g| {
            done.report
                .failure(g.shrunk_seed())
                .map(|f| f.script.to_json())
        })
        .collect();
    for (n, group) in done.report.groups_mut().iter_mut().enumerate() {
        let dir = failure_dir(&out, n);
        if std::fs::create_dir_all(&dir).is_err() {
            continue;
        }
        if let Some(original) = &originals[n] {
            let _ = std::fs::write(dir.join("original.json"), original);
        }
        let minimal = group.script().map(|s| s.to_json());
        let file = minimal.and_then(|json| {
            let path = dir.join("minimal.json");
            std::fs::write(&path, json).ok().map(|_| path)
        });
        group.set_script_file(file);
    }
}

/// `DIR/failure-N` (N from 1).
fn failure_dir(out: &Path, n: usize) -> PathBuf {
    out.join(format!("failure-{}", n + 1))
}

impl Explored {
    /// The command as given, quoted for a shell.
    pub(super) fn command_line(&self) -> String {
        shell_words(&self.setup.command)
    }

    /// The script file that reruns group `n`: the minimal one, else the
    /// failing seed's whole script.
    fn rerun_file(&self, n: usize) -> Option<PathBuf> {
        let group = self.report.groups().get(n)?;
        Some(match group.script_file() {
            Some(file) => file.to_path_buf(),
            None => failure_dir(&self.setup.out, n).join("original.json"),
        })
    }

    /// `mock-chat-server explore --script FILE [options] -- COMMAND…`
    pub(super) fn rerun_line(&self, n: usize) -> Option<String> {
        let file = self.rerun_file(n)?;
        let mut words = vec![
            "mock-chat-server".to_string(),
            "explore".into(),
            "--script".into(),
            file.display().to_string(),
        ];
        words.extend(self.setup.same_options.iter().cloned());
        words.push("--".into());
        words.extend(self.setup.command.iter().cloned());
        Some(shell_words(&words))
    }

    /// `mock-chat-server --script FILE`
    pub(super) fn serve_line(&self, n: usize) -> Option<String> {
        let file = self.rerun_file(n)?;
        Some(shell_words(&[
            "mock-chat-server".to_string(),
            "--script".into(),
            file.display().to_string(),
        ]))
    }
}

/// Words joined for a POSIX shell: quoted when they hold anything but
/// plain characters.
fn shell_words(words: &[String]) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./=:,+@%{}".contains(c);
    words
        .iter()
        .map(|w| {
            if !w.is_empty() && w.chars().all(plain) {
                w.clone()
            } else {
                format!("'{}'", w.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::shell_words;

    #[test]
    fn words_are_quoted_only_when_needed() {
        let words: Vec<String> = ["node", "client.js", "{url}", "it's here", ""]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            shell_words(&words),
            r"node client.js {url} 'it'\''s here' ''"
        );
    }
}
