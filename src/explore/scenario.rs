//! [`Explore`]: the engine over a Rust closure, one in-process server per
//! run.

use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;

use super::defaults;
use super::engine::{self, mask, Attempt, Failed, Outcome, Plan, Runner};
use super::report::{ExploreReport, FailureGroup};
use super::seeds::Shard;
use crate::chaos::FaultScript;
use crate::server::resolve;
use crate::server::{MockChatServer, MockChatServerBuilder};

type BoxedRun = std::pin::Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

/// Runs a scenario over many seeds; see the [module docs](super).
pub struct Explore {
    scenario: Arc<dyn Fn(MockChatServer) -> BoxedRun + Send + Sync>,
    builder: MockChatServerBuilder,
    seeds: Vec<u64>,
    shard: Option<(usize, usize)>,
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
            seeds: defaults::SEEDS.collect(),
            shard: None,
            concurrency: defaults::CONCURRENCY,
            shrink_budget: defaults::SHRINK_BUDGET,
            confirmations: defaults::CONFIRMATIONS,
            timeout: defaults::TIMEOUT,
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

    /// Explores only shard `k` of `n` (from 1 to `n`): the seeds whose
    /// index modulo `n` is `k - 1`, so that `n` CI jobs with the same seeds
    /// cover each once. Without it, `MOCK_CHAT_SHARD=K/N` does the same.
    /// Out of range (`k` 0 or above `n`), the exploration refuses to run.
    pub fn shard(mut self, k: usize, n: usize) -> Self {
        self.shard = Some((k, n));
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

    /// Runs every seed, then shrinks one failure of each distinct kind.
    pub async fn run(self) -> ExploreReport {
        let plan = match self.plan() {
            Ok(plan) => plan,
            Err(why) => return ExploreReport::refused(why),
        };
        let found = engine::explore(&self, &plan, &|_| {}, &|_, _| {}).await;
        let mut report = ExploreReport::found(found);
        for group in report.groups_mut() {
            let file = write_script(group);
            group.set_script_file(file);
        }
        report
    }

    /// The seeds and script to run. `MOCK_CHAT_SEED` narrows the seeds to
    /// one; `MOCK_CHAT_SCRIPT` runs that script (with its seed); the shard
    /// keeps its part. A variable set but unusable, or a builder that
    /// cannot start a server, is the one error of the exploration.
    fn plan(&self) -> Result<Plan, String> {
        self.builder
            .check()
            .map_err(|e| format!("the server cannot start: {e}"))?;
        let script = resolve::env_script()
            .map_err(|e| crate::StartError::from(e).to_string())?
            .map(|(_, script)| script);
        let env_seed = resolve::env_seed().map_err(|e| e.to_string())?;
        let mut seeds = match (env_seed, script.as_ref().and_then(|s| s.seed)) {
            (Some(seed), _) | (None, Some(seed)) => vec![seed],
            (None, None) => self.seeds.clone(),
        };
        let shard = match self.shard {
            Some((k, n)) => Some(Shard::new(k, n)?),
            None => Shard::from_env()?,
        };
        if let Some(shard) = shard {
            seeds = shard.select(&seeds);
        }
        Ok(Plan {
            seeds,
            script,
            concurrency: self.concurrency,
            shrink_budget: self.shrink_budget,
            confirmations: self.confirmations,
        })
    }

    async fn run_once(&self, seed: u64, script: Option<FaultScript>) -> Outcome {
        let mut builder = self.builder.clone().seed(seed);
        if let Some(s) = script {
            builder = builder.script(s);
        }
        let server = match builder.try_start().await {
            Ok(s) => s,
            Err(e) => return failed(format!("the server did not start: {e}")),
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
        Outcome {
            failed: error.map(|error| Failed {
                identity: mask(&error),
                error,
            }),
            script: app.recorded_script(),
        }
    }
}

impl Runner for Explore {
    fn run(&self, seed: u64, script: Option<FaultScript>, _: Attempt) -> BoxFuture<'_, Outcome> {
        Box::pin(self.run_once(seed, script))
    }
}

fn failed(error: String) -> Outcome {
    Outcome {
        failed: Some(Failed {
            identity: mask(&error),
            error,
        }),
        script: FaultScript::new(),
    }
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

/// Writes a group's script under the target directory.
fn write_script(group: &FailureGroup) -> Option<PathBuf> {
    let script = group.script()?;
    let dir = target_dir().join("mock-chat-server");
    std::fs::create_dir_all(&dir).ok()?;
    let path = dir.join(format!("seed-{}-shrunk.json", group.shrunk_seed()));
    std::fs::write(&path, script.to_json()).ok()?;
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
