//! The example clients of `examples/clients/` (Node, Python), explored as
//! their users explore them: each seed a fresh server with the hostile
//! preset at time scale 0.01, the client run against it with
//! `MOCK_CHAT_URL`. The correct variants pass and leave no diagnostic; the
//! buggy ones (an empty 200 taken for a failure, the message resent under a
//! new key) are caught by their own check, and, with `--no-check`, by the
//! server's `ResentUnderNewKey` alone.
//!
//! A runtime that is not on the machine (node with the npm packages in
//! `examples/clients/node/node_modules`; python3 with httpx) skips its
//! tests, saying so. `.ci/run` installs the packages.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use mock_chat_server::diagnostics::{Diagnostic, DiagnosticKind};
use mock_chat_server::{FaultPlan, MockChatServer};
use tokio::process::Command;

/// The seeds every correct variant passes in CI (the 100-seed runs are
/// manual: see `examples/clients/README.md`).
const CORRECT_SEEDS: Range<u64> = 0..4;
/// Where a buggy variant must be caught (the first catch ends the search).
const SEARCH: Range<u64> = 0..40;
/// A run's limit: a stuck client fails, it does not hang the suite.
const RUN_LIMIT: Duration = Duration::from_secs(120);

/// A client and the program that runs it.
struct Client {
    name: &'static str,
    program: &'static str,
    script: PathBuf,
}

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/clients")
}

/// The first line `program args` prints, if it runs and succeeds.
async fn probe(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().await.ok()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    out.status
        .success()
        .then(|| text.lines().next().unwrap_or("").to_string())
}

/// The Node client, or why it cannot run here.
async fn node() -> Result<Client, String> {
    let version = probe("node", &["--version"])
        .await
        .ok_or("node is not installed")?;
    let major: u32 = version
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    if major < 20 {
        return Err(format!("node {version} is older than 20"));
    }
    let dir = examples().join("node");
    if !dir.join("node_modules/eventsource/package.json").exists() {
        return Err(
            "its packages are not installed (npm ci --prefix examples/clients/node)".into(),
        );
    }
    Ok(Client {
        name: "node",
        program: "node",
        script: dir.join("client.mjs"),
    })
}

/// The Python client, or why it cannot run here.
async fn python() -> Result<Client, String> {
    let script = "import httpx; print(httpx.__version__)";
    probe("python3", &["-c", script]).await.ok_or(
        "python3 with httpx is not installed (pip install -r examples/clients/python/requirements.txt)",
    )?;
    Ok(Client {
        name: "python",
        program: "python3",
        script: examples().join("python/client.py"),
    })
}

/// What one seed's run gave.
struct Run {
    seed: u64,
    output: Output,
    diagnostics: Vec<Diagnostic>,
}

impl Run {
    fn passed(&self) -> bool {
        self.output.status.success()
    }

    fn resent(&self) -> bool {
        self.diagnostics
            .iter()
            .any(|d| d.kind == DiagnosticKind::ResentUnderNewKey)
    }

    /// The last non-empty line of the client's output.
    fn last_line(&self) -> String {
        let out = String::from_utf8_lossy(&self.output.stdout);
        out.lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .to_string()
    }

    fn describe(&self) -> String {
        format!(
            "seed {}: {}\n--- stdout\n{}--- stderr\n{}--- diagnostics\n{:#?}",
            self.seed,
            self.output.status,
            String::from_utf8_lossy(&self.output.stdout),
            String::from_utf8_lossy(&self.output.stderr),
            self.diagnostics
        )
    }
}

/// Runs `client args` against a fresh hostile server with `seed`.
async fn run(client: &Client, seed: u64, args: &[&str]) -> Run {
    let server = MockChatServer::builder()
        .seed(seed)
        .faults(FaultPlan::hostile())
        .time_scale(0.01)
        // The stream's reconnection delay, scaled as every other delay.
        .sse_retry(Duration::from_secs(1))
        .start()
        .await;
    let child = Command::new(client.program)
        .arg(&client.script)
        .args(args)
        .env("MOCK_CHAT_URL", server.uri())
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = match tokio::time::timeout(RUN_LIMIT, child).await {
        Ok(Ok(output)) => output,
        Ok(Err(e)) => panic!("{} cannot start: {e}", client.program),
        Err(_) => panic!("{} seed {seed}: no end within {RUN_LIMIT:?}", client.name),
    };
    let diagnostics = server.diagnostics();
    server.shutdown().await;
    Run {
        seed,
        output,
        diagnostics,
    }
}

/// The correct variant passes every seed and leaves no diagnostic (what
/// `explore --deny-misuse` asks).
async fn passes(client: Result<Client, String>) {
    let client = match client {
        Ok(c) => c,
        Err(why) => return println!("skipped: {why}"),
    };
    for seed in CORRECT_SEEDS {
        let run = run(&client, seed, &[]).await;
        assert!(run.passed(), "{} failed: {}", client.name, run.describe());
        assert!(
            run.diagnostics.is_empty(),
            "{} misused the API: {}",
            client.name,
            run.describe()
        );
        assert!(
            run.last_line().contains("ok: message"),
            "{}",
            run.describe()
        );
    }
}

/// The first seed of [`SEARCH`] on which `accept` holds for the buggy
/// variant run with `args`.
async fn first_caught(client: &Client, args: &[&str], accept: impl Fn(&Run) -> bool) -> Run {
    for seed in SEARCH {
        let run = run(client, seed, args).await;
        if accept(&run) {
            return run;
        }
    }
    panic!(
        "{} {args:?}: not caught within seeds {SEARCH:?}",
        client.name
    );
}

/// The buggy variant fails its own check on some seed (the double send),
/// and the server names it; with `--no-check` it passes, and the server
/// alone catches it.
async fn is_caught(client: Result<Client, String>) {
    let client = match client {
        Ok(c) => c,
        Err(why) => return println!("skipped: {why}"),
    };
    let caught = first_caught(&client, &["--buggy"], |r| !r.passed()).await;
    assert_eq!(
        caught.last_line(),
        "FAIL: the message was stored 2 times, not once",
        "{}",
        caught.describe()
    );
    assert!(
        caught.resent(),
        "the server saw it too: {}",
        caught.describe()
    );
    let unchecked = first_caught(&client, &["--buggy", "--no-check"], Run::resent).await;
    assert!(unchecked.passed(), "{}", unchecked.describe());
    assert_eq!(
        unchecked.seed, caught.seed,
        "the same faults, the same double send"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_client_passes_hostile_seeds_without_misuse() {
    passes(node().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_buggy_node_client_is_caught() {
    is_caught(node().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_client_passes_hostile_seeds_without_misuse() {
    passes(python().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_buggy_python_client_is_caught() {
    is_caught(python().await).await;
}
