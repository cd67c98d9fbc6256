//! `explore`'s flags, and what they resolve to before anything runs.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::chaos::{FaultScript, SCRIPT_ENV};
use crate::explore::defaults::{self, command};
use crate::explore::engine::Plan;
use crate::explore::seeds::{self, Shard};
use crate::explore::SHARD_ENV;
use crate::server::{check_time_scale, resolve};
use crate::{MockChatServer, MockChatServerBuilder};

/// The flags of `mock-chat-server explore`.
#[derive(Debug, Args, PartialEq)]
pub(crate) struct ExploreArgs {
    /// Seeds and half-open ranges: `0..100` is 100 seeds; `3,17,40..60`.
    #[arg(long, value_name = "LIST", default_value = defaults::SEEDS_TEXT, conflicts_with = "random_seeds")]
    seeds: String,

    /// N seeds drawn from a base seed (printed; --base-seed repeats them).
    #[arg(long, value_name = "N")]
    random_seeds: Option<usize>,

    /// The base seed of --random-seeds.
    #[arg(long, value_name = "S", requires = "random_seeds")]
    base_seed: Option<u64>,

    /// How many commands run at once.
    #[arg(long, value_name = "N", default_value_t = command::CONCURRENCY)]
    concurrency: usize,

    /// Only the seeds whose index modulo N is K-1, for CI matrices (with
    /// --random-seeds, only with --base-seed).
    #[arg(long, value_name = "K/N", value_parser = parse_shard, env = SHARD_ENV)]
    shard: Option<Shard>,

    /// Fault plan: a preset (reference, none, hostile) or a JSON plan file.
    #[arg(long, value_name = "PRESET|FILE", default_value = command::CHAOS)]
    chaos: String,

    /// Multiplies every injected delay, the bots' delays and the stream lifetime.
    #[arg(long, value_name = "F", allow_negative_numbers = true)]
    time_scale: Option<f64>,

    /// Start every SSE stream with `retry: MS` (scaled by --time-scale).
    #[arg(long, value_name = "MS")]
    sse_retry: Option<u64>,

    /// How many times a smaller script is rerun while shrinking; it counts
    /// only if every run fails the same way.
    #[arg(long, value_name = "N", default_value_t = defaults::CONFIRMATIONS)]
    confirmations: usize,

    /// How many runs shrinking may make per distinct failure.
    #[arg(long, value_name = "RUNS", default_value_t = defaults::SHRINK_BUDGET)]
    shrink_budget: usize,

    /// Seconds a run may take; past it, its whole process group is killed.
    #[arg(long, value_name = "SECS", default_value_t = command::TIMEOUT.as_secs_f64())]
    timeout: f64,

    /// A run also fails if the client did what the real server punishes
    /// silently (a client diagnostic).
    #[arg(long)]
    deny_misuse: bool,

    /// Folder of the scripts (failure-N/minimal.json, failure-N/original.json)
    /// and of each run's output (runs/).
    #[arg(long, value_name = "DIR", default_value = command::OUT)]
    out: PathBuf,

    /// Write a JUnit XML report (one test case per seed).
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,

    /// Write the report as JSON (schema "mock-chat-server/explore", version 1).
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,

    /// Run once with this fault script (as written to failure-N/minimal.json)
    /// instead of seeds; a failure is still shrunk, from that script.
    #[arg(long, value_name = "FILE", env = SCRIPT_ENV)]
    script: Option<PathBuf>,

    /// The client's test command and its arguments; `{url}` is replaced by
    /// the server's URL.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    command: Vec<String>,
}

fn parse_shard(text: &str) -> Result<Shard, String> {
    text.parse()
}

/// What the flags resolve to.
#[derive(Debug)]
pub(crate) struct Setup {
    pub(crate) plan: Plan,
    pub(crate) builder: MockChatServerBuilder,
    pub(crate) command: Vec<String>,
    pub(crate) timeout: Duration,
    pub(crate) deny_misuse: bool,
    pub(crate) out: PathBuf,
    pub(crate) junit: Option<PathBuf>,
    pub(crate) json: Option<PathBuf>,
    pub(crate) chaos: String,
    pub(crate) time_scale: Option<f64>,
    pub(crate) base_seed: Option<u64>,
    pub(crate) shard: Option<Shard>,
    /// The flags a rerun repeats (chaos, time, limits).
    pub(crate) same_options: Vec<String>,
}

/// Checks the flags, reads the files they name and prepares the output
/// folder; every error is one line.
pub(crate) fn setup(args: ExploreArgs) -> Result<Setup, String> {
    let script = match &args.script {
        Some(path) => Some(
            resolve::read_script(&path.display().to_string())
                .map_err(|e| format!("--script ({SCRIPT_ENV}) {e}"))?,
        ),
        None => None,
    };
    let (seeds, base_seed) = seeds_of(&args, script.as_ref())?;
    let builder = builder_of(&args)?;
    if !(args.timeout.is_finite() && args.timeout > 0.0) {
        return Err(format!(
            "--timeout must be a number of seconds above 0, got {}",
            args.timeout
        ));
    }
    prepare(&args.out)?;
    let same_options = same_options(&args);
    Ok(Setup {
        plan: Plan {
            seeds,
            script,
            concurrency: args.concurrency.max(1),
            shrink_budget: args.shrink_budget,
            confirmations: args.confirmations.max(1),
        },
        builder,
        timeout: Duration::from_secs_f64(args.timeout),
        deny_misuse: args.deny_misuse,
        out: args.out,
        junit: args.junit,
        json: args.json,
        chaos: args.chaos,
        time_scale: args.time_scale,
        base_seed,
        shard: args.shard,
        same_options,
        command: args.command,
    })
}

/// The seeds to run (the shard's part) and the base they were drawn from.
fn seeds_of(
    args: &ExploreArgs,
    script: Option<&FaultScript>,
) -> Result<(Vec<u64>, Option<u64>), String> {
    let (mut all, base) = match args.random_seeds {
        Some(n) => {
            if args.shard.is_some() && args.base_seed.is_none() {
                return Err("--shard with --random-seeds needs --base-seed (every shard must draw the same seeds)".into());
            }
            let base = args.base_seed.unwrap_or_else(rand::random);
            (seeds::random_seeds(base, n), Some(base))
        }
        None => (
            seeds::parse_seeds(&args.seeds).map_err(|e| format!("--seeds: {e}"))?,
            None,
        ),
    };
    if let Some(script) = script {
        // Once, with the script's seed (or the first seed asked for).
        all = vec![script.seed.or(all.first().copied()).unwrap_or(0)];
    }
    if let Some(shard) = args.shard {
        all = shard.select(&all);
    }
    Ok((all, base))
}

/// Every run's server, but for its seed, script and admin token.
fn builder_of(args: &ExploreArgs) -> Result<MockChatServerBuilder, String> {
    let (plan, _) = super::super::serve::load_plan(&args.chaos)?;
    let mut builder = MockChatServer::builder().faults(plan);
    if let Some(factor) = args.time_scale {
        check_time_scale(factor).map_err(|e| format!("--time-scale: {e}"))?;
        builder = builder.time_scale(factor);
    }
    if let Some(ms) = args.sse_retry {
        builder = builder.sse_retry(Duration::from_millis(ms));
    }
    builder.check().map_err(|e| e.to_string())?;
    Ok(builder)
}

/// The flags a rerun line repeats.
fn same_options(args: &ExploreArgs) -> Vec<String> {
    let mut out = vec!["--chaos".to_string(), args.chaos.clone()];
    if let Some(f) = args.time_scale {
        out.extend(["--time-scale".into(), f.to_string()]);
    }
    if let Some(ms) = args.sse_retry {
        out.extend(["--sse-retry".into(), ms.to_string()]);
    }
    if args.timeout != command::TIMEOUT.as_secs_f64() {
        out.extend(["--timeout".into(), args.timeout.to_string()]);
    }
    if args.deny_misuse {
        out.push("--deny-misuse".into());
    }
    out
}

/// Creates `DIR/runs`, and clears what an earlier exploration left there
/// (`runs/` and `failure-N/`), so that nothing stale is taken for new.
fn prepare(out: &std::path::Path) -> Result<(), String> {
    let cannot = |e: std::io::Error| format!("--out {}: {e}", out.display());
    if let Ok(entries) = std::fs::read_dir(out) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name == "runs" || name.starts_with("failure-") {
                std::fs::remove_dir_all(entry.path()).map_err(cannot)?;
            }
        }
    }
    std::fs::create_dir_all(out.join("runs")).map_err(cannot)
}
