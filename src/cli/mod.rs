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
//! defaults for `--host`, `--port`, `--seed` and `--script`. Each request is logged on one line through a
//! non-blocking writer (`--quiet` drops them; `RUST_LOG` filters); client
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

mod files;
mod log;
mod serve;

use std::process::ExitCode;

use clap::Parser;

use serve::ServeArgs;

/// The command line of the standalone server (see the [module docs](self)).
#[derive(Debug, Parser, PartialEq)]
#[command(
    name = "mock-chat-server",
    version,
    verbatim_doc_comment,
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
        mock-chat-server --fixtures FILE           your own chats and messages\n\n\
        --quiet (or RUST_LOG=warn) hides the per-request log lines."
)]
pub struct Cli {
    #[command(flatten)]
    serve: ServeArgs,
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

/// Runs what `cli` describes: the server until Ctrl-C or SIGTERM. The exit
/// code says how it went (2: bad flags or files, 1: could not start, 130:
/// forced stop).
pub async fn run(cli: Cli) -> ExitCode {
    serve::serve(cli.serve).await
}

#[cfg(test)]
mod tests;
