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
//! `HTTP_HOST`, `PORT` and `MOCK_CHAT_SEED` supply defaults for `--host`,
//! `--port` and `--seed`. Each request is logged on one line through a
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

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, ValueEnum};

use crate::config::ChatFixture;
use crate::server::{max_connections_for_file_limit, DEFAULT_MAX_CONNECTIONS};
use crate::{FaultPlan, IdStyle, MockChatServer, MockChatServerBuilder};

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
        mock-chat-server --host 0.0.0.0            reachable from phones and browser apps\n  \
        mock-chat-server --fixtures FILE           your own chats and messages\n\n\
        --quiet (or RUST_LOG=warn) hides the per-request log lines."
)]
pub struct Cli {
    /// Host or address to listen on (0.0.0.0: every interface, for phones on the LAN).
    #[arg(long, env = "HTTP_HOST", default_value = "localhost")]
    host: String,

    /// Port to listen on (0 picks a free one).
    #[arg(long, env = "PORT", default_value_t = 3000)]
    port: u16,

    /// Seed of every random choice (default: random, printed at start).
    #[arg(long, env = "MOCK_CHAT_SEED")]
    seed: Option<u64>,

    /// Fault plan: a preset (reference, none, hostile) or a JSON plan file.
    #[arg(long, default_value = "reference", value_name = "PRESET|FILE")]
    chaos: String,

    /// Multiplies every injected delay and the bot's delay (0.1 = ten times faster).
    #[arg(
        long,
        default_value_t = 1.0,
        value_name = "F",
        allow_negative_numbers = true
    )]
    time_scale: f64,

    /// Serve the /__admin/ API (reset, create chats, inject messages, force faults, journal).
    #[arg(long)]
    admin: bool,

    /// Id format on the wire.
    #[arg(long, value_enum, default_value_t = Ids::Uuid)]
    ids: Ids,

    /// JSON file of chats with optional initial messages (see examples/fixtures.json).
    #[arg(long, value_name = "FILE")]
    fixtures: Option<PathBuf>,

    /// Require `Authorization: Bearer T` on every admin request.
    #[arg(long, value_name = "T")]
    admin_token: Option<String>,

    /// Allow --admin beyond loopback without a token (anyone who can reach
    /// the address can then reset and drive the server).
    #[arg(long)]
    admin_insecure: bool,

    /// No longer needed: CORS is always on, as the reference sends it.
    /// Accepted, so that older scripts keep working, and changes nothing.
    #[arg(long, hide = true)]
    cors: bool,

    /// Start every SSE stream with `retry: MS` (scaled by --time-scale).
    #[arg(long, value_name = "MS")]
    sse_retry: Option<u64>,

    /// Send a `: keep-alive` comment on SSE streams idle this many seconds.
    #[arg(long, value_name = "SECS")]
    keep_alive: Option<u64>,

    /// No request lines (warnings and client diagnostics still show).
    #[arg(long)]
    quiet: bool,

    /// Most connections open at once (default: the open-file limit, raised to its
    /// maximum at start, less 64, within 64..=65536); at the cap the connection idle
    /// the longest is closed to admit a new one.
    #[arg(long, value_name = "N")]
    max_connections: Option<usize>,

    /// Cap the stored messages at about this many bytes: past it, the
    /// oldest beyond each chat's 100 most recent are forgotten (no cap by
    /// default).
    #[arg(long, value_name = "BYTES")]
    max_message_bytes: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Ids {
    /// UUID strings, as the reference server sends (the default).
    Uuid,
    /// Positive integers, as the challenge's prose says (not the real wire).
    Number,
}

/// What the flags resolve to, before anything is bound.
#[derive(Debug)]
struct Config {
    addr: SocketAddr,
    plan: FaultPlan,
    plan_name: String,
    id_style: IdStyle,
    /// The chats of `--fixtures`, if given.
    chats: Option<Vec<ChatFixture>>,
    /// The connection cap: `--max-connections`, or one that follows the
    /// file limit.
    max_connections: usize,
    builder: MockChatServerBuilder,
}

/// Resolves `--host`, preferring IPv4: `localhost` may resolve to `::1`
/// first, which an Android emulator (10.0.2.2 is the host's 127.0.0.1) and
/// clients dialling 127.0.0.1 cannot reach.
fn resolve(host: &str, port: u16) -> Result<SocketAddr, String> {
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve --host {host:?}: {e}"))?
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or_else(|| addrs.first())
        .copied()
        .ok_or_else(|| format!("--host {host:?} resolves to no address"))
}

/// Turns flags into a server configuration, reading the plan and fixtures
/// files; `open_files` is the process's file limit, if known, which the
/// connection cap follows unless `--max-connections` is given. Every error
/// is one line naming the problem.
fn configure(cli: &Cli, open_files: Option<u64>) -> Result<Config, String> {
    let addr = resolve(&cli.host, cli.port)?;
    if !(cli.time_scale.is_finite() && cli.time_scale > 0.0) {
        return Err(format!(
            "--time-scale must be a number above 0, got {}",
            cli.time_scale
        ));
    }
    let (plan, plan_name) = load_plan(&cli.chaos)?;
    let id_style = match cli.ids {
        Ids::Number => IdStyle::Number,
        Ids::Uuid => IdStyle::Uuid,
    };
    if cli.cors {
        eprintln!(
            "note: --cors is no longer needed: every answer carries the reference's CORS headers"
        );
    }
    let max_connections = cli.max_connections.unwrap_or_else(|| {
        open_files.map_or(DEFAULT_MAX_CONNECTIONS, max_connections_for_file_limit)
    });
    let mut builder = MockChatServer::builder()
        .bind(addr)
        .faults(plan.clone())
        .time_scale(cli.time_scale)
        .admin_api(cli.admin)
        .max_connections(max_connections)
        .id_style(id_style);
    if let Some(token) = &cli.admin_token {
        builder = builder.admin_token(token.clone());
    }
    builder = builder.admin_insecure(cli.admin_insecure);
    if let Some(bytes) = cli.max_message_bytes {
        builder = builder.max_message_bytes(bytes);
    }
    if let Some(ms) = cli.sse_retry {
        builder = builder.sse_retry(Duration::from_millis(ms));
    }
    if let Some(secs) = cli.keep_alive.filter(|s| *s > 0) {
        builder = builder.keep_alive(Duration::from_secs(secs));
    }
    if let Some(seed) = cli.seed {
        builder = builder.seed(seed);
    }
    let chats = cli.fixtures.as_deref().map(load_fixtures).transpose()?;
    if let Some(chats) = &chats {
        builder = builder.chats(chats.clone());
    }
    Ok(Config {
        addr,
        plan,
        plan_name,
        id_style,
        chats,
        max_connections,
        builder,
    })
}

/// `--chaos`: a preset's name, or a JSON plan file; the plan and how the
/// banner names it.
fn load_plan(chaos: &str) -> Result<(FaultPlan, String), String> {
    if let Ok(plan) = FaultPlan::preset(chaos) {
        return Ok((plan, chaos.to_string()));
    }
    let text = std::fs::read_to_string(chaos).map_err(|e| {
        format!("--chaos {chaos:?} is neither a preset (reference, none, hostile) nor a readable file: {e}")
    })?;
    let plan = FaultPlan::from_json(&text).map_err(|e| format!("--chaos {chaos}: {e}"))?;
    Ok((plan, format!("file {chaos}")))
}

/// `--fixtures`: a JSON list of chats.
fn load_fixtures(path: &std::path::Path) -> Result<Vec<ChatFixture>, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("--fixtures {}: {e}", path.display()))?;
    serde_json::from_str(&text)
        .map_err(|e| format!("--fixtures {}: not a list of chats: {e}", path.display()))
}

/// The start-up banner: URL, seed, plan and how to reach the server.
fn banner(cli: &Cli, config: &Config, server: &MockChatServer) -> String {
    // The port from the server (--port 0 picks one), the address as asked.
    let port = server.address().port();
    let ip = config.addr.ip();
    let url = if ip.is_unspecified() || (cli.host == "localhost" && ip.is_loopback()) {
        format!("http://localhost:{port}")
    } else {
        server.uri()
    };
    let seed = server.seed();
    let fixtures = match (&cli.fixtures, &config.chats) {
        (Some(path), Some(chats)) => format!("{} ({} chats)", path.display(), chats.len()),
        _ => "built-in (4 chats)".to_string(),
    };
    let ids = match config.id_style {
        IdStyle::Number => "number",
        IdStyle::Uuid => "uuid",
    };
    let mut out = format!("mock-chat-server listening on {url}\n");
    out += &format!("  seed:       {seed}   (reproduce: --seed {seed} or MOCK_CHAT_SEED={seed})\n");
    // The summary names the preset ("reference: …", "none (calm)").
    out += &format!("  chaos:      {}", config.plan.summary());
    if config.plan_name.starts_with("file ") {
        out += &format!("   (from {})", config.plan_name);
    }
    out += "\n";
    out += &format!(
        "  time scale: {}   ids: {ids}   fixtures: {fixtures}   connections: {}\n",
        cli.time_scale, config.max_connections
    );
    out += &admin_lines(cli, ip, &url);
    out += &device_lines(ip, port, &url);
    out += &format!("  try:        curl {url}/chats\n");
    out += "Ctrl-C to stop.";
    out
}

/// The banner's admin API line, and its warning when the API is reachable
/// beyond this machine.
fn admin_lines(cli: &Cli, ip: IpAddr, url: &str) -> String {
    if !cli.admin {
        return "  admin API:  off (--admin to enable /__admin/)\n".to_string();
    }
    let mut out = format!("  admin API:  on — e.g. curl -X POST {url}/__admin/reset\n");
    let token = cli.admin_token.as_ref().map(|t| format!("?token={t}"));
    out += &format!(
        "  dashboard:  {url}/__admin/{}\n",
        token.unwrap_or_default()
    );
    if !ip.is_loopback() {
        let guard = if cli.admin_token.is_some() {
            "token required"
        } else {
            "no token: --admin-insecure"
        };
        let host = if ip.is_unspecified() {
            "this machine".to_string()
        } else {
            ip.to_string()
        };
        out += &format!(
            "  WARNING:    the admin API is reachable beyond this machine ({guard}): anyone who can reach {host} can reset and drive this server\n"
        );
    }
    out
}

/// The banner's lines for phones and emulators.
fn device_lines(ip: IpAddr, port: u16, url: &str) -> String {
    if ip.is_unspecified() {
        let lan = match crate::admin::lan_ip() {
            Some(lan) => format!("  LAN:        http://{}\n", SocketAddr::new(lan, port)),
            None => "  LAN:        no network address found\n".to_string(),
        };
        lan + &format!("  emulator:   http://10.0.2.2:{port} (Android), {url} (iOS simulator)\n")
    } else if ip.is_loopback() && ip.is_ipv4() {
        // 10.0.2.2 is the Android emulator's name for the host's 127.0.0.1.
        format!(
            "  emulator:   http://10.0.2.2:{port} (Android), {url} (iOS simulator); \
             phones need --host 0.0.0.0\n"
        )
    } else {
        String::new()
    }
}

/// Ctrl-C and (on Unix) SIGTERM, listened for from the moment this exists.
/// It is created before the banner is printed: a signal sent as soon as the
/// banner appears must not meet the default action, which kills the process
/// with its streams half-written.
struct StopSignals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
    #[cfg(windows)]
    ctrl_c: tokio::signal::windows::CtrlC,
}

impl StopSignals {
    fn new() -> std::io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(StopSignals {
                interrupt: signal(SignalKind::interrupt())?,
                terminate: signal(SignalKind::terminate())?,
            })
        }
        #[cfg(windows)]
        {
            Ok(StopSignals {
                ctrl_c: tokio::signal::windows::ctrl_c()?,
            })
        }
        #[cfg(not(any(unix, windows)))]
        {
            Ok(StopSignals {})
        }
    }

    /// The next stop request.
    async fn recv(&mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
        #[cfg(windows)]
        self.ctrl_c.recv().await;
        #[cfg(not(any(unix, windows)))]
        std::future::pending::<()>().await;
    }
}

/// Parses the command line and runs the server until Ctrl-C or SIGTERM:
/// the whole `mock-chat-server` binary.
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

/// Runs the server described by `cli` until Ctrl-C or SIGTERM; the exit
/// code says how it went (2: bad flags or files, 1: could not start,
/// 130: forced stop).
pub async fn run(cli: Cli) -> ExitCode {
    let _log = log::init(cli.quiet);
    let open_files = files::raise_limit();
    let config = match configure(&cli, open_files) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("mock-chat-server: {e}");
            return ExitCode::from(2);
        }
    };
    let mut signals = match StopSignals::new() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("mock-chat-server: cannot listen for Ctrl-C: {e}");
            return ExitCode::from(1);
        }
    };
    let server = match config.builder.clone().try_start().await {
        Ok(s) => s,
        Err(e @ crate::StartError::AdminUnprotected { .. }) => {
            // A refusal of the flags given, not a failure to start.
            eprintln!("mock-chat-server: {e}");
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("mock-chat-server: {e}");
            return ExitCode::from(1);
        }
    };
    println!("{}", banner(&cli, &config, &server));
    signals.recv().await;
    println!("stopping (closing open connections; Ctrl-C again to force)…");
    tokio::select! {
        _ = server.shutdown() => {}
        _ = signals.recv() => {
            eprintln!("mock-chat-server: forced stop");
            return ExitCode::from(130);
        }
    }
    println!("stopped.");
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests;
