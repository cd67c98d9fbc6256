//! The standalone server's command line: `mock-chat-server` (installed
//! with `cargo install mock-chat-server --features cli`) and
//! `cargo run --example serve` are this module. A drop-in for the
//! reference's `go run .`: same address defaults (`localhost:3000`, env
//! `HTTP_HOST`, `PORT`), same wire, the reference's chaos, plus a seed and
//! flags. Only with the `cli` feature.
//!
//! ```text
//! mock-chat-server                                  # localhost:3000, reference chaos
//! mock-chat-server --chaos none --admin
//! mock-chat-server --seed 42 --time-scale 0.1 --sse-retry 1000
//! mock-chat-server --host 0.0.0.0 --fixtures examples/fixtures.json
//! ```
//!
//! `HTTP_HOST`, `PORT`, `MOCK_CHAT_SEED` and `MOCK_CHAT_SCRIPT` supply
//! defaults for `--host`, `--port`, `--seed` and `--script` (a fault script
//! replayed exactly, every other decision calm). Each request is logged on
//! one line through a non-blocking writer (`--quiet` drops them; `RUST_LOG` filters); client
//! diagnostics are logged as warnings.
//!
//! The fixtures file (`--fixtures`) is a JSON list of chats, each with its
//! earlier messages, oldest first; `author` defaults to `"bot"` and
//! `ago_secs` (how long before start the message was sent) to 0:
//!
//! ```json
//! [
//!   {"name": "Team", "messages": [
//!     {"author": "bot", "text": "Stand-up in 5 minutes", "ago_secs": 300},
//!     {"author": "user", "text": "On my way", "ago_secs": 120}
//!   ]},
//!   {"name": "Empty chat"}
//! ]
//! ```
//!
//! Ctrl-C or SIGTERM stops the server: open SSE streams are closed and the
//! process exits with status 0. A second Ctrl-C during the stop exits at
//! once (status 130).
//!
//! ## `mock-chat-server explore [OPTIONS] -- COMMAND [ARGS…]`
//!
//! Runs a client's own test command against a fresh server per seed
//! (`127.0.0.1:0`), judged by its exit status (and, with `--deny-misuse`,
//! by the client diagnostics), and shrinks each distinct failure by
//! rerunning the command with fewer faults: the engine of
//! [`Explore`](crate::explore::Explore). The command gets `MOCK_CHAT_URL`
//! (no trailing slash), `MOCK_CHAT_SEED`, `MOCK_CHAT_ADMIN_URL` and
//! `MOCK_CHAT_ADMIN_TOKEN` (the admin API is on, with a fresh token per
//! run); `{url}` in its arguments becomes the URL. It runs in its own
//! process group, killed whole past `--timeout`. Exit code: 0 every seed
//! passed, 1 some failed, 2 a usage error. `mock-chat-server explore
//! --help` lists the options (seeds, shards, chaos, reports).
//!
//! ```text
//! mock-chat-server explore --seeds 0..100 --time-scale 0.01 -- node client.test.js
//! mock-chat-server explore --random-seeds 500 --base-seed 7 --shard 2/4 --junit junit.xml -- pytest
//! ```
//!
//! `--json FILE` writes the report as JSON. Its schema is versioned: a
//! reader checks `schema` and `version`; a later version may add fields,
//! and only a new `version` removes or changes one.
//!
//! Version 1 (a `//` note explains a field; it is not in the file):
//!
//! ```text
//! {
//!   "schema": "mock-chat-server/explore",
//!   "version": 1,
//!   "command": ["node", "client.js"],      // as given, before {url} is replaced
//!   "chaos": "hostile",                    // --chaos
//!   "time_scale": 0.01,                    // --time-scale, or null
//!   "base_seed": 123,                      // with --random-seeds, else null
//!   "shard": "1/2",                        // --shard, or null
//!   "seeds": 100, "runs": 131, "passed": 97, "failed": 3,
//!   "elapsed_ms": 12345,
//!   "results": [                           // one per seed, in seed order
//!     {"seed": 0, "passed": true, "exit": "exit code 0",   // or "signal 9", "timeout", "not started"
//!      "diagnostics": [],                  // kinds, e.g. "key_reused_for_different_message"
//!      "elapsed_ms": 120, "output": "mock-chat-server-explore/runs/seed-0.log",
//!      "failure": null}                    // else the number of its failure (from 1)
//!   ],
//!   "failures": [                          // one per distinct failure
//!     {"number": 1, "error": "exit code 1, last line: \"…\"",
//!      "seeds": [17, 42], "shrunk_seed": 17,
//!      "outcome": "minimal",               // or "not_replayable", "budget_spent"
//!      "faults": ["POST #3: drop after commit"],   // the minimal faults in words
//!      "minimal_script": "…/failure-1/minimal.json",   // or null
//!      "original_script": "…/failure-1/original.json",
//!      "output_tail": ["…"],
//!      "rerun": "mock-chat-server explore --script … -- node client.js",
//!      "serve": "mock-chat-server --script …"}
//!   ]
//! }
//! ```

mod explore;
mod files;
mod log;
mod serve;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use explore::ExploreArgs;
use serve::ServeArgs;

/// The command line of the standalone server (see the [module docs](self)).
#[derive(Debug, Parser, PartialEq)]
#[command(
    name = "mock-chat-server",
    version,
    verbatim_doc_comment,
    args_conflicts_with_subcommands = true,
    about = "A reproducibly flaky chat server: chats, messages, bots and an SSE stream.",
    long_about = "A reproducibly flaky chat server: chats, messages, bots and an SSE stream.\n\n\
        By default it behaves like the reference companion server: slow answers,\n\
        5% 503s, 5% timeouts and duplicated SSE events. The seed printed at start\n\
        replays the same faults for the same sequence of requests.",
    after_help = "Examples:\n  \
        mock-chat-server --chaos none --admin      calm, with the /__admin/ API for UI tests\n  \
        mock-chat-server --seed 42                 replay the faults of an earlier run\n  \
        mock-chat-server --script failure.json     serve exactly a script's faults, nothing else\n  \
        mock-chat-server --host 0.0.0.0            reachable from phones and browser apps\n  \
        mock-chat-server --fixtures FILE           your own chats and messages\n  \
        mock-chat-server explore --seeds 0..100 --time-scale 0.01 -- npm test\n  \
        \x20                                          explore your client's own test command\n\n\
        --quiet (or RUST_LOG=warn) hides the per-request log lines."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,

    #[command(flatten)]
    serve: ServeArgs,
}

/// What to run instead of the server.
#[derive(Debug, Subcommand, PartialEq)]
enum Command {
    /// Run a client's own test command against a fresh server per seed,
    /// and shrink each distinct failure to the faults that cause it.
    #[command(
        long_about = "Run a client's own test command against a fresh server per seed, and shrink\n\
            each distinct failure to the faults that cause it.\n\n\
            The command gets MOCK_CHAT_URL (no trailing slash), MOCK_CHAT_SEED,\n\
            MOCK_CHAT_ADMIN_URL and MOCK_CHAT_ADMIN_TOKEN (the admin API is on, with a\n\
            fresh token per run); {url} in its arguments becomes the URL. A run passes\n\
            when the command exits 0 within --timeout. Two failures are the same when\n\
            they share the exit class, the client diagnostics and the last line of\n\
            output (numbers and ids masked).\n\n\
            Exit code: 0 every seed passed, 1 some failed, 2 usage error.",
        after_help = "Examples:\n  \
            mock-chat-server explore --seeds 0..100 --time-scale 0.01 -- node client.test.js\n  \
            mock-chat-server explore --random-seeds 500 --base-seed 7 --shard 1/4 --junit junit.xml -- pytest -x\n  \
            mock-chat-server explore --script mock-chat-server-explore/failure-1/minimal.json -- npm test"
    )]
    Explore(ExploreArgs),
}

/// Parses the command line and runs it: the whole `mock-chat-server`
/// binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mock-chat-server: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(run(cli))
}

/// Runs what `cli` describes: the server until Ctrl-C or SIGTERM (the exit
/// code says how it went: 2 bad flags or files, 1 could not start, 130
/// forced stop), or an exploration (0 every seed passed, 1 some failed, 2
/// bad flags or files).
pub async fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Some(Command::Explore(args)) => explore::explore(args).await,
        None => serve::serve(cli.serve).await,
    }
}

#[cfg(test)]
mod tests;
