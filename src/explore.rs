//! Exploring seeds and shrinking failures.
//!
//! [`Explore`] runs a client scenario against a fresh server per seed. Each
//! failing run's chaos decisions are replayed as an explicit
//! [`FaultScript`], and decisions are removed (delta debugging: halves,
//! then smaller pieces, then single decisions) while the scenario still
//! fails the same way, until a minimal script remains: usually the one or
//! two faults that break the client.
//!
//! ```no_run
//! use mock_chat_server::explore::Explore;
//! use mock_chat_server::{FaultPlan, MockChatServer};
//!
//! async fn my_scenario(server: &MockChatServer) -> Result<(), String> {
//!     // drive your client against server.uri(), check what it stored
//!     Ok(())
//! }
//!
//! # async fn f() {
//! let report = Explore::new(|server: MockChatServer| async move { my_scenario(&server).await })
//!     .builder(MockChatServer::builder().faults(FaultPlan::hostile()).time_scale(0.001))
//!     .seeds(0..200)
//!     .concurrency(4)
//!     .run()
//!     .await;
//! report.assert_passed(); // panics with the minimal reproduction
//! # }
//! ```
//!
//! Scenarios race bots and reconnects against real sockets, so a candidate
//! script may fail only sometimes. The shrinker re-runs each candidate
//! [`confirmations`](Explore::confirmations) times (default 2) and keeps a
//! removal only if every re-run fails the same way; the minimal script it
//! reports is one that failed every time it was tried. Two failures are
//! "the same" when their error texts match after numbers and ids are masked.
//! When the scenario itself is deterministic, the same failing seed always
//! shrinks to the same script.
//!
//! Setting `MOCK_CHAT_SEED` runs only that seed; setting `MOCK_CHAT_SCRIPT`
//! runs only that script: the two rerun lines the report prints.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;

use crate::chaos::{FaultScript, ScriptedDecision, SCRIPT_ENV};
use crate::server::{MockChatServer, MockChatServerBuilder, SEED_ENV};

/// A seed's failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The seed.
    pub seed: u64,
    /// The scenario's error (or panic message).
    pub error: String,
    /// Every non-calm decision of the failing run.
    pub script: FaultScript,
    /// The minimal script that still fails the same way (for the first
    /// failure of each distinct error; later failures with the same error
    /// keep their full script here).
    pub shrunk: FaultScript,
}

/// What an exploration found.
#[derive(Debug, Clone)]
pub struct ExploreReport {
    runs: usize,
    seeds: usize,
    failures: Vec<Failure>,
    /// For each distinct failure: its index in `failures` and the file its
    /// shrunk script was written to.
    distinct: Vec<(usize, Option<PathBuf>)>,
    elapsed: Duration,
}

impl ExploreReport {
    /// How many scenario runs were made (seeds and shrinking together).
    pub fn runs(&self) -> usize {
        self.runs
    }

    /// How many seeds were explored.
    pub fn seeds(&self) -> usize {
        self.seeds
    }

    /// The failing seeds, in seed order.
    pub fn failures(&self) -> &[Failure] {
        &self.failures
    }

    /// Whether every seed passed.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
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
        writeln!(
            f,
            "explored {} seeds in {:.1?} ({} runs): {} failed, {} distinct failure(s)",
            self.seeds,
            self.elapsed,
            self.runs,
            self.failures.len(),
            self.distinct.len()
        )?;
        for (n, (i, path)) in self.distinct.iter().enumerate() {
            let failure = &self.failures[*i];
            writeln!(f, "\nfailure {}: seed {}", n + 1, failure.seed)?;
            writeln!(f, "  error: {}", failure.error)?;
            writeln!(
                f,
                "  minimal faults ({} of the run's {}):",
                failure.shrunk.len(),
                failure.script.len()
            )?;
            for line in failure.shrunk.to_string().lines() {
                writeln!(f, "    {line}")?;
            }
            writeln!(
                f,
                "  rerun the original: {SEED_ENV}={} cargo test …",
                failure.seed
            )?;
            match path {
                Some(p) => writeln!(
                    f,
                    "  rerun the minimal:  {SCRIPT_ENV}={} cargo test …",
                    p.display()
                )?,
                None => writeln!(f, "  (the minimal script could not be written to a file)")?,
            }
        }
        Ok(())
    }
}

type BoxedRun = std::pin::Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

/// Runs a scenario over many seeds; see the [module docs](self).
pub struct Explore {
    scenario: Arc<dyn Fn(MockChatServer) -> BoxedRun + Send + Sync>,
    builder: MockChatServerBuilder,
    seeds: Vec<u64>,
    concurrency: usize,
    shrink_budget: usize,
    confirmations: usize,
    timeout: Duration,
}

impl fmt::Debug for Explore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Explore")
            .field("seeds", &self.seeds.len())
            .field("concurrency", &self.concurrency)
            .finish_non_exhaustive()
    }
}

/// The outcome of one run.
struct Run {
    error: Option<String>,
    script: FaultScript,
}

impl Explore {
    /// An exploration of `scenario`: an async closure that gets a fresh
    /// server, drives a client against it and returns `Ok(())` or an error
    /// that implements `Display` (`String`, `anyhow::Error`,
    /// `Box<dyn Error>`…). A panic inside it counts as a failure.
    /// Defaults: seeds 0..100, concurrency 4, a shrink budget of 200 runs,
    /// 2 confirmations, 60 s per run.
    pub fn new<S, Fut, E>(scenario: S) -> Self
    where
        S: Fn(MockChatServer) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: fmt::Display + 'static,
    {
        let scenario = Arc::new(scenario);
        Explore {
            scenario: Arc::new(move |server| {
                let run = scenario(server);
                Box::pin(async move { run.await.map_err(|e| e.to_string()) })
            }),
            builder: MockChatServer::builder(),
            seeds: (0..100).collect(),
            concurrency: 4,
            shrink_budget: 200,
            confirmations: 2,
            timeout: Duration::from_secs(60),
        }
    }

    /// The builder of every run's server (its seed and script are set per
    /// run).
    pub fn builder(mut self, builder: MockChatServerBuilder) -> Self {
        self.builder = builder;
        self
    }

    /// The seeds to explore.
    pub fn seeds(mut self, seeds: impl IntoIterator<Item = u64>) -> Self {
        self.seeds = seeds.into_iter().collect();
        self
    }

    /// `n` random seeds.
    pub fn random_seeds(mut self, n: usize) -> Self {
        self.seeds = (0..n).map(|_| rand::random()).collect();
        self
    }

    /// How many servers run at once (default 4).
    pub fn concurrency(mut self, servers: usize) -> Self {
        self.concurrency = servers.max(1);
        self
    }

    /// How many runs shrinking may make per distinct failure (default 200).
    pub fn shrink_budget(mut self, runs: usize) -> Self {
        self.shrink_budget = runs;
        self
    }

    /// How many times a candidate script is run while shrinking; it counts
    /// as failing only if every run fails the same way (default 2).
    pub fn confirmations(mut self, runs: usize) -> Self {
        self.confirmations = runs.max(1);
        self
    }

    /// The longest a run may take before it counts as failed (default 60 s).
    pub fn timeout(mut self, limit: Duration) -> Self {
        self.timeout = limit;
        self
    }

    async fn run_once(&self, seed: u64, script: Option<FaultScript>) -> Run {
        let mut builder = self.builder.clone().seed(seed);
        if let Some(s) = script {
            builder = builder.script(s);
        }
        let server = match builder.try_start().await {
            Ok(s) => s,
            Err(e) => {
                return Run {
                    error: Some(format!("the server did not start: {e}")),
                    script: FaultScript::new(),
                }
            }
        };
        server.quiet_report();
        let app = Arc::clone(server.app());
        let task = tokio::spawn((self.scenario)(server));
        let error = match tokio::time::timeout(self.timeout, task).await {
            Err(_) => Some(format!("the scenario took longer than {:?}", self.timeout)),
            Ok(Ok(Ok(()))) => None,
            Ok(Ok(Err(e))) => Some(e),
            Ok(Err(join)) => Some(panic_message(join)),
        };
        app.begin_shutdown();
        Run {
            error,
            script: app.recorded_script(),
        }
    }

    /// Runs every seed, then shrinks each distinct failure.
    pub async fn run(self) -> ExploreReport {
        let started = Instant::now();
        let (seeds, fixed_script) = self.seeds_and_script();
        let this = &self;
        let mut outcomes: Vec<(u64, Run)> = futures::stream::iter(seeds.iter().copied())
            .map(|seed| {
                let script = fixed_script.clone();
                async move { (seed, this.run_once(seed, script).await) }
            })
            .buffer_unordered(self.concurrency)
            .collect()
            .await;
        outcomes.sort_by_key(|(seed, _)| *seed);
        let mut runs = outcomes.len();
        let mut failures: Vec<Failure> = outcomes
            .into_iter()
            .filter_map(|(seed, run)| {
                run.error.map(|error| Failure {
                    seed,
                    error,
                    shrunk: run.script.clone(),
                    script: run.script,
                })
            })
            .collect();
        let mut groups: BTreeMap<String, usize> = BTreeMap::new();
        for (i, f) in failures.iter().enumerate() {
            let best = groups.entry(mask(&f.error)).or_insert(i);
            if f.script.len() < failures[*best].script.len() {
                *best = i;
            }
        }
        let mut distinct: Vec<usize> = groups.into_values().collect();
        distinct.sort();
        let mut written = Vec::new();
        for &i in &distinct {
            let (shrunk, used) = self.shrink(&failures[i]).await;
            runs += used;
            failures[i].shrunk = shrunk;
            written.push((i, write_script(&failures[i])));
        }
        ExploreReport {
            runs,
            seeds: seeds.len(),
            failures,
            distinct: written,
            elapsed: started.elapsed(),
        }
    }

    /// `MOCK_CHAT_SEED` narrows the seeds to one; `MOCK_CHAT_SCRIPT` runs
    /// that script (with its seed).
    fn seeds_and_script(&self) -> (Vec<u64>, Option<FaultScript>) {
        let script = std::env::var(SCRIPT_ENV)
            .ok()
            .filter(|p| !p.trim().is_empty())
            .and_then(|p| std::fs::read_to_string(p.trim()).ok())
            .and_then(|text| FaultScript::from_json(&text).ok());
        let env_seed = std::env::var(SEED_ENV)
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok());
        let seeds = match (env_seed, script.as_ref().and_then(|s| s.seed)) {
            (Some(seed), _) | (None, Some(seed)) => vec![seed],
            (None, None) => self.seeds.clone(),
        };
        (seeds, script)
    }

    /// Whether `units` still make the scenario fail like `failure`, every
    /// time out of `confirmations`.
    async fn still_fails(
        &self,
        failure: &Failure,
        units: &[ScriptedDecision],
        used: &mut usize,
    ) -> bool {
        let script = FaultScript::from_decisions(Some(failure.seed), units);
        let want = mask(&failure.error);
        for _ in 0..self.confirmations {
            *used += 1;
            let run = self.run_once(failure.seed, Some(script.clone())).await;
            if run.error.as_deref().map(mask) != Some(want.clone()) {
                return false;
            }
        }
        true
    }

    /// Delta debugging over the failing run's decisions.
    async fn shrink(&self, failure: &Failure) -> (FaultScript, usize) {
        let mut used = 0;
        let mut units = failure.script.decisions();
        let budget = self.shrink_budget;
        let can_try = |used: usize| used + self.confirmations <= budget;
        // The whole script replayed must fail first; else nothing to shrink.
        if !self.still_fails(failure, &units, &mut used).await {
            return (failure.script.clone(), used);
        }
        if can_try(used) && self.still_fails(failure, &[], &mut used).await {
            return (FaultScript::from_decisions(Some(failure.seed), &[]), used);
        }
        let mut n = 2usize;
        while units.len() >= 2 && can_try(used) {
            let chunk = units.len().div_ceil(n);
            let mut reduced = false;
            for start in (0..units.len()).step_by(chunk) {
                if !can_try(used) {
                    break;
                }
                let end = (start + chunk).min(units.len());
                // Without this piece.
                let rest: Vec<ScriptedDecision> = units[..start]
                    .iter()
                    .chain(&units[end..])
                    .cloned()
                    .collect();
                if self.still_fails(failure, &rest, &mut used).await {
                    units = rest;
                    n = (n - 1).max(2);
                    reduced = true;
                    break;
                }
            }
            if !reduced {
                if n >= units.len() {
                    break;
                }
                n = (n * 2).min(units.len());
            }
        }
        (
            FaultScript::from_decisions(Some(failure.seed), &units),
            used,
        )
    }
}

/// The error text with ids and numbers masked, to tell failures apart.
fn mask(error: &str) -> String {
    let mut out = String::with_capacity(error.len());
    let mut chars = error.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_hexdigit() {
            let mut token = String::from(c);
            while let Some(&n) = chars.peek() {
                if n.is_ascii_hexdigit() || n == '-' {
                    token.push(n);
                    chars.next();
                } else {
                    break;
                }
            }
            let is_number = token.chars().all(|c| c.is_ascii_digit());
            let is_id = token.len() >= 8 && token.chars().any(|c| c.is_ascii_digit());
            if is_number || is_id {
                out.push('#');
            } else {
                out.push_str(&token);
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn panic_message(join: tokio::task::JoinError) -> String {
    if !join.is_panic() {
        return "the scenario was cancelled".into();
    }
    let payload = join.into_panic();
    let text = payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "(a panic without a message)".into());
    format!("panicked: {text}")
}

/// Writes the shrunk script under the target directory.
fn write_script(failure: &Failure) -> Option<PathBuf> {
    let dir = target_dir().join("mock-chat-server");
    std::fs::create_dir_all(&dir).ok()?;
    let path = dir.join(format!("seed-{}-shrunk.json", failure.seed));
    std::fs::write(&path, failure.shrunk.to_json()).ok()?;
    Some(path)
}

/// `CARGO_TARGET_DIR`, else the `target` folder above the running test
/// binary, else the temporary folder.
fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| {
            exe.ancestors()
                .find(|p| p.file_name().is_some_and(|n| n == "target"))
                .map(PathBuf::from)
        })
        .unwrap_or_else(std::env::temp_dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masking_hides_numbers_and_ids_only() {
        assert_eq!(
            mask("message 12 with id 0b8a3c62-5a8e-4d0f-9d6e-2f1c3b4a5d6e stored twice"),
            "message # with id # stored twice"
        );
        assert_eq!(mask("bad face"), "bad face");
    }
}
