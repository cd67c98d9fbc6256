//! The example clients of `examples/clients/` (Node, Python), explored as
//! their users explore them: each seed a fresh server with the hostile
//! preset at time scale 0.01, the client run against it with
//! `MOCK_CHAT_URL`. The correct variants pass and leave no diagnostic; the
//! buggy ones (an empty 200 taken for a failure, the message resent under a
//! new key) fail their own check, and the server names the double send
//! (`ResentUnderNewKey`). Then through `mock-chat-server explore`: the
//! failure found and shrunk to at most 2 faults; `--deny-misuse` failing
//! `--buggy --no-check`, whose own check is off, and passing the correct
//! variant. CI runs a few seeds; the 100-seed runs are manual
//! (`examples/clients/README.md`).
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
const CORRECT_SEEDS: Range<u64> = 0..3;
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
async fn passes(client: &Client) {
    for seed in CORRECT_SEEDS {
        let run = run(client, seed, &[]).await;
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
/// and the server names it. Returns the seed.
async fn is_caught(client: &Client) -> u64 {
    let caught = first_caught(client, &["--buggy"], |r| !r.passed()).await;
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
    caught.seed
}

/// `mock-chat-server explore` on the hostile preset at time scale 0.01,
/// with `args`, then `-- client client_args`, in a fresh folder: its exit
/// code, its report and the folder.
async fn explore(
    client: &Client,
    args: &[&str],
    client_args: &[&str],
) -> (Option<i32>, String, PathBuf) {
    let name = format!(
        "mcs-clients-{}-{}-{}",
        client.name,
        client_args.join(""),
        std::process::id()
    );
    let dir = std::env::temp_dir().join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a temporary folder");
    let explored = Command::new(env!("CARGO_BIN_EXE_mock-chat-server"))
        .args([
            "explore",
            "--chaos",
            "hostile",
            "--time-scale",
            "0.01",
            "--sse-retry",
            "1000",
        ])
        .args(args)
        .arg("--")
        .arg(client.program)
        .arg(&client.script)
        .args(client_args)
        .current_dir(&dir)
        .env_remove("MOCK_CHAT_SCRIPT")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(RUN_LIMIT, explored)
        .await
        .expect("explore ends")
        .expect("the binary runs");
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.code(), report, dir)
}

/// The number of faults a report's failure shrank to.
fn minimal_faults(report: &str) -> Option<usize> {
    let (_, rest) = report.split_once("minimal: ")?;
    rest.split(' ').next()?.parse().ok()
}

/// The explorer finds the buggy client on the seed that catches it and
/// shrinks the failure to at most 2 faults; with `--deny-misuse` the server
/// catches `--buggy --no-check`, whose own check is off; the correct client
/// passes other seeds with `--deny-misuse`.
async fn explored(client: &Client, seed: u64) {
    let seeds = seed.to_string();
    let once = ["--seeds", &seeds, "--confirmations", "1"];
    let (code, report, dir) = explore(client, &once, &["--buggy"]).await;
    assert_eq!(code, Some(1), "{report}");
    assert!(report.contains("stored 2 times"), "{report}");
    let faults = minimal_faults(&report).unwrap_or_else(|| panic!("not shrunk: {report}"));
    assert!((1..=2).contains(&faults), "{report}");
    assert!(dir
        .join("mock-chat-server-explore/failure-1/minimal.json")
        .is_file());
    let deny = ["--seeds", &seeds, "--deny-misuse", "--shrink-budget", "0"];
    let (code, report, _) = explore(client, &deny, &["--buggy", "--no-check"]).await;
    assert_eq!(code, Some(1), "{report}");
    // Its own check passed: the diagnostic alone failed it.
    assert!(report.contains("failure 1: exit code 0, "), "{report}");
    assert!(
        report.contains("message resent under a new key"),
        "{report}"
    );
    let (code, report, _) = explore(client, &["--seeds", "3..5", "--deny-misuse"], &[]).await;
    assert_eq!(code, Some(0), "{report}");
}

/// Runs `test` with the client, or says why it is skipped.
async fn with<F: std::future::Future<Output = ()>>(
    client: Result<Client, String>,
    test: impl FnOnce(Client) -> F,
) {
    match client {
        Ok(c) => test(c).await,
        Err(why) => println!("skipped: {why}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_client_passes_hostile_seeds_without_misuse() {
    with(node().await, |c| async move { passes(&c).await }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_buggy_node_client_is_caught_and_shrunk() {
    with(node().await, |c| async move {
        let seed = is_caught(&c).await;
        explored(&c, seed).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_client_passes_hostile_seeds_without_misuse() {
    with(python().await, |c| async move { passes(&c).await }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_buggy_python_client_is_caught_and_shrunk() {
    with(python().await, |c| async move {
        let seed = is_caught(&c).await;
        explored(&c, seed).await;
    })
    .await;
}
