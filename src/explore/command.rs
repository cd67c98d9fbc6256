//! The engine over a command: each run starts a fresh server on
//! `127.0.0.1:0` (admin API on, a fresh token) and runs the command in its
//! own process group, its output in a file. A run passes when the command
//! exits 0 within the time limit (and, with `deny_misuse`, the server saw
//! no client misuse). On timeout the whole group is killed.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;

use super::engine::{mask, Attempt, Failed, Outcome, Runner};
use crate::chaos::{FaultScript, SCRIPT_ENV};
use crate::diagnostics::DiagnosticKind;
use crate::server::{MockChatServer, MockChatServerBuilder, SEED_ENV};

/// The command's variable: the server's base URL, without a trailing slash.
pub(crate) const URL_ENV: &str = "MOCK_CHAT_URL";
/// The command's variable: the admin API's base URL.
pub(crate) const ADMIN_URL_ENV: &str = "MOCK_CHAT_ADMIN_URL";
/// The command's variable: the admin API's bearer token (fresh per run).
pub(crate) const ADMIN_TOKEN_ENV: &str = "MOCK_CHAT_ADMIN_TOKEN";
/// Replaced by the server's URL in the command's arguments.
pub(crate) const URL_PLACEHOLDER: &str = "{url}";

/// How much of a run's output the tail is read from, and how many lines
/// it keeps.
const TAIL_BYTES: u64 = 64 * 1024;
const TAIL_LINES: usize = 20;
/// The longest line kept in a tail.
const LINE_CHARS: usize = 500;

/// How a command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Exit {
    Code(i32),
    Signal(i32),
    Timeout(Duration),
    NotStarted(String),
}

impl Exit {
    /// The class two failures must share.
    pub(crate) fn class(&self) -> String {
        match self {
            Exit::Code(c) => format!("exit code {c}"),
            Exit::Signal(s) => format!("signal {s}"),
            Exit::Timeout(_) => "timeout".into(),
            Exit::NotStarted(_) => "not started".into(),
        }
    }

    /// In words.
    pub(crate) fn words(&self) -> String {
        match self {
            Exit::Code(c) => format!("exit code {c}"),
            Exit::Signal(s) => format!("killed by signal {s}"),
            Exit::Timeout(t) => format!("timed out after {t:?} (its process group was killed)"),
            Exit::NotStarted(e) => format!("the command did not start: {e}"),
        }
    }

    fn of(status: ExitStatus) -> Exit {
        #[cfg(unix)]
        {
            use std::os::unix::process::ExitStatusExt;
            if let Some(signal) = status.signal() {
                return Exit::Signal(signal);
            }
        }
        Exit::Code(status.code().unwrap_or(-1))
    }
}

/// What one seed's first run did (for the reports).
#[derive(Debug, Clone)]
pub(crate) struct Record {
    pub(crate) exit: Exit,
    pub(crate) diagnostics: Vec<DiagnosticKind>,
    pub(crate) log: PathBuf,
    pub(crate) tail: Vec<String>,
    pub(crate) elapsed: Duration,
    pub(crate) passed: bool,
}

/// A command explored: the runner the engine drives.
#[derive(Debug)]
pub(crate) struct CommandRunner {
    builder: MockChatServerBuilder,
    program: Vec<String>,
    timeout: Duration,
    deny_misuse: bool,
    runs_dir: PathBuf,
    records: Mutex<BTreeMap<u64, Record>>,
    replays: AtomicUsize,
}

impl CommandRunner {
    /// `program` (with its arguments) against servers from `builder`,
    /// each run's output under `runs_dir` (which must exist).
    pub(crate) fn new(
        builder: MockChatServerBuilder,
        program: Vec<String>,
        timeout: Duration,
        deny_misuse: bool,
        runs_dir: PathBuf,
    ) -> Self {
        CommandRunner {
            builder,
            program,
            timeout,
            deny_misuse,
            runs_dir,
            records: Mutex::new(BTreeMap::new()),
            replays: AtomicUsize::new(0),
        }
    }

    /// Every seed's first run, by seed.
    pub(crate) fn records(&self) -> BTreeMap<u64, Record> {
        self.records.lock().map(|r| r.clone()).unwrap_or_default()
    }

    async fn run_once(&self, seed: u64, script: Option<FaultScript>, attempt: Attempt) -> Outcome {
        let token = format!("{:032x}", rand::random::<u128>());
        let mut builder = self
            .builder
            .clone()
            .seed(seed)
            .admin_api(true)
            .admin_token(token.clone());
        if let Some(s) = script {
            builder = builder.script(s);
        }
        let log = match attempt {
            Attempt::First => self.runs_dir.join(format!("seed-{seed}.log")),
            Attempt::Replay => {
                let n = self.replays.fetch_add(1, Ordering::Relaxed) + 1;
                self.runs_dir.join(format!("seed-{seed}-replay-{n}.log"))
            }
        };
        let started = Instant::now();
        let (exit, diagnostics, script) = match builder.try_start().await {
            Ok(server) => {
                server.quiet_report();
                let exit = self.spawn(&server, seed, &token, &log).await;
                let mut kinds: Vec<DiagnosticKind> =
                    server.diagnostics().into_iter().map(|d| d.kind).collect();
                kinds.sort_by_key(|k| k.to_string());
                kinds.dedup();
                (exit, kinds, server.fault_script())
            }
            Err(e) => (
                Exit::NotStarted(format!("the server did not start: {e}")),
                Vec::new(),
                FaultScript::new(),
            ),
        };
        let tail = tail_of(&log);
        let passed = exit == Exit::Code(0) && (diagnostics.is_empty() || !self.deny_misuse);
        let record = Record {
            exit,
            diagnostics,
            log,
            tail,
            elapsed: started.elapsed(),
            passed,
        };
        let failed = (!passed).then(|| judge(&record));
        if attempt == Attempt::First {
            if let Ok(mut records) = self.records.lock() {
                records.insert(seed, record);
            }
        }
        Outcome { failed, script }
    }

    /// Runs the command against `server` until it exits or times out.
    async fn spawn(&self, server: &MockChatServer, seed: u64, token: &str, log: &Path) -> Exit {
        let uri = server.uri();
        let Some((program, args)) = self.program.split_first() else {
            return Exit::NotStarted("no command".into());
        };
        let (out, err) = match File::create(log).and_then(|f| Ok((f.try_clone()?, f))) {
            Ok(files) => files,
            Err(e) => return Exit::NotStarted(format!("cannot write {}: {e}", log.display())),
        };
        let mut command = std::process::Command::new(program);
        command
            .args(args.iter().map(|a| a.replace(URL_PLACEHOLDER, &uri)))
            .env(URL_ENV, &uri)
            .env(SEED_ENV, seed.to_string())
            .env(ADMIN_URL_ENV, format!("{uri}/__admin"))
            .env(ADMIN_TOKEN_ENV, token)
            .env_remove(SCRIPT_ENV)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        match command.spawn() {
            Ok(child) => wait(child, self.timeout).await,
            Err(e) => Exit::NotStarted(format!("{program}: {e}")),
        }
    }
}

impl Runner for CommandRunner {
    fn run(
        &self,
        seed: u64,
        script: Option<FaultScript>,
        attempt: Attempt,
    ) -> BoxFuture<'_, Outcome> {
        Box::pin(self.run_once(seed, script, attempt))
    }
}

/// Waits for `child` at most `limit`; past it, kills its process group.
#[cfg(unix)]
async fn wait(mut child: std::process::Child, limit: Duration) -> Exit {
    use rustix::process::{kill_process_group, Pid, Signal};

    let group = Pid::from_child(&child);
    let mut waiting = tokio::task::spawn_blocking(move || child.wait());
    match tokio::time::timeout(limit, &mut waiting).await {
        Ok(Ok(Ok(status))) => Exit::of(status),
        Ok(Ok(Err(e))) => Exit::NotStarted(format!("cannot wait for the command: {e}")),
        Ok(Err(e)) => Exit::NotStarted(format!("cannot wait for the command: {e}")),
        Err(_) => {
            // The leader has not been reaped: its group id is still its own.
            let _ = kill_process_group(group, Signal::KILL);
            let _ = waiting.await;
            Exit::Timeout(limit)
        }
    }
}

/// Waits for `child` at most `limit`; past it, kills it.
#[cfg(not(unix))]
async fn wait(mut child: std::process::Child, limit: Duration) -> Exit {
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Exit::of(status),
            Ok(None) if started.elapsed() >= limit => {
                let _ = child.kill();
                let _ = child.wait();
                return Exit::Timeout(limit);
            }
            Ok(None) => tokio::time::sleep(Duration::from_millis(5)).await,
            Err(e) => return Exit::NotStarted(format!("cannot wait for the command: {e}")),
        }
    }
}

/// How a failed run failed: its words and its identity (exit class,
/// diagnostic kinds, last line of output with numbers and ids masked).
fn judge(record: &Record) -> Failed {
    let last = record.tail.last().map(String::as_str).unwrap_or("");
    let kinds: Vec<String> = record.diagnostics.iter().map(|k| k.to_string()).collect();
    let mut error = record.exit.words();
    if !last.is_empty() {
        error += &format!(", last line: {last:?}");
    }
    if !kinds.is_empty() {
        error += &format!("; client diagnostics: {}", kinds.join(", "));
    }
    Failed {
        identity: format!(
            "{} | {} | {}",
            record.exit.class(),
            kinds.join(", "),
            mask(last)
        ),
        error,
    }
}

/// The last non-empty lines of a run's output.
fn tail_of(log: &Path) -> Vec<String> {
    let mut bytes = Vec::new();
    if let Ok(mut file) = File::open(log) {
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        let _ = file.seek(SeekFrom::Start(len.saturating_sub(TAIL_BYTES)));
        let _ = file.take(TAIL_BYTES).read_to_end(&mut bytes);
    }
    let text = String::from_utf8_lossy(&bytes);
    let mut lines: Vec<String> = text
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.chars().take(LINE_CHARS).collect())
        .collect();
    let keep = lines.len().saturating_sub(TAIL_LINES);
    lines.drain(..keep);
    lines
}
