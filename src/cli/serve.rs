//! `mock-chat-server [OPTIONS]`: the standalone server (see the
//! [command line's docs](super)).

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, ValueEnum};

use crate::chaos::{FaultScript, SCRIPT_ENV};
use crate::config::ChatFixture;
use crate::server::defaults::serve as defaults;
use crate::server::{check_time_scale, SEED_ENV};
use crate::{FaultPlan, IdStyle, MockChatServer, MockChatServerBuilder};

/// The standalone server's flags (see the [command line's docs](super)).
#[derive(Debug, Args, PartialEq)]
pub(super) struct ServeArgs {
    /// Host or address to listen on (0.0.0.0: every interface, for phones on the LAN).
    #[arg(long, env = defaults::HOST_ENV, default_value = defaults::HOST)]
    pub(super) host: String,

    /// Port to listen on (0 picks a free one).
    #[arg(long, env = defaults::PORT_ENV, default_value_t = defaults::PORT)]
    pub(super) port: u16,

    /// Seed of every random choice (default: random, printed at start).
    #[arg(long, env = SEED_ENV)]
    pub(super) seed: Option<u64>,

    /// Fault plan: a preset (reference, none, hostile) or a JSON plan file.
    #[arg(long, default_value = defaults::CHAOS, value_name = "PRESET|FILE")]
    pub(super) chaos: String,

    /// Replay this fault script (JSON, as `GET /__admin/script` or `explore`
    /// writes it) exactly: its decisions, and every other one calm. Its seed
    /// is used unless --seed is given.
    #[arg(long, env = SCRIPT_ENV, value_name = "FILE")]
    pub(super) script: Option<PathBuf>,

    /// Multiplies every injected delay and the bot's delay (0.1 = ten times faster).
    #[arg(
        long,
        default_value_t = 1.0,
        value_name = "F",
        allow_negative_numbers = true
    )]
    pub(super) time_scale: f64,

    /// Serve the dashboard at /__admin/ and the admin API under it (reset, chats, messages,
    /// forced faults, plans, holds, journal, script, live feed).
    #[arg(long)]
    pub(super) admin: bool,

    /// Id format on the wire.
    #[arg(long, value_enum, default_value_t = Ids::Uuid)]
    pub(super) ids: Ids,

    /// JSON file of chats with optional initial messages (see examples/fixtures.json).
    #[arg(long, value_name = "FILE")]
    pub(super) fixtures: Option<PathBuf>,

    /// Require `Authorization: Bearer T` on every admin request.
    #[arg(long, value_name = "T")]
    pub(super) admin_token: Option<String>,

    /// Allow --admin beyond loopback without a token (anyone who can reach
    /// the address can then reset and drive the server).
    #[arg(long)]
    pub(super) admin_insecure: bool,

    /// No longer needed: CORS is always on, as the reference sends it.
    /// Accepted, so that older scripts keep working, and changes nothing.
    #[arg(long, hide = true)]
    pub(super) cors: bool,

    /// Start every SSE stream with `retry: MS` (scaled by --time-scale).
    #[arg(long, value_name = "MS")]
    pub(super) sse_retry: Option<u64>,

    /// Send a `: keep-alive` comment on SSE streams idle this many seconds.
    #[arg(long, value_name = "SECS")]
    pub(super) keep_alive: Option<u64>,

    /// No request lines (warnings and client diagnostics still show).
    #[arg(long)]
    pub(super) quiet: bool,

    /// Most connections open at once (default: the open-file limit, raised to its
    /// maximum at start, less 64, within 64..=65536); at the cap the connection idle
    /// the longest is closed to admit a new one.
    #[arg(long, value_name = "N")]
    pub(super) max_connections: Option<usize>,

    /// Cap the stored messages at about this many bytes: past it, the
    /// oldest beyond each chat's 100 most recent are forgotten (no cap by
    /// default).
    #[arg(long, value_name = "BYTES")]
    pub(super) max_message_bytes: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(super) enum Ids {
    /// UUID strings, as the reference server sends (the default).
    Uuid,
    /// Positive integers, as the challenge's prose says (not the real wire).
    Number,
}

/// What the flags resolve to, before anything is bound.
#[derive(Debug)]
pub(super) struct Config {
    pub(super) addr: SocketAddr,
    pub(super) plan: FaultPlan,
    pub(super) plan_name: String,
    pub(super) id_style: IdStyle,
    /// The chats of `--fixtures`, if given.
    pub(super) chats: Option<Vec<ChatFixture>>,
    /// The connection cap: `--max-connections`, or one that follows the
    /// file limit.
    pub(super) max_connections: usize,
    /// The script of `--script` (or `MOCK_CHAT_SCRIPT`): its file and itself.
    pub(super) script: Option<(String, FaultScript)>,
    pub(super) builder: MockChatServerBuilder,
}

/// Resolves `--host`, preferring IPv4: `localhost` may resolve to `::1`
/// first, which an Android emulator (10.0.2.2 is the host's 127.0.0.1) and
/// clients dialling 127.0.0.1 cannot reach.
pub(super) fn resolve(host: &str, port: u16) -> Result<SocketAddr, String> {
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
pub(super) fn configure(cli: &ServeArgs, open_files: Option<u64>) -> Result<Config, String> {
    let addr = resolve(&cli.host, cli.port)?;
    check_time_scale(cli.time_scale).map_err(|e| format!("--time-scale: {e}"))?;
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
    let max_connections = cli
        .max_connections
        .unwrap_or_else(|| defaults::max_connections(open_files));
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
    let script = cli.script.as_deref().map(load_script).transpose()?;
    if let Some((file, script)) = &script {
        builder = builder.script(script.clone()).script_file(file.clone());
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
        script,
        builder,
    })
}

/// `--chaos`: a preset's name, or a JSON plan file; the plan and how the
/// banner names it.
pub(super) fn load_plan(chaos: &str) -> Result<(FaultPlan, String), String> {
    if let Ok(plan) = FaultPlan::preset(chaos) {
        return Ok((plan, chaos.to_string()));
    }
    let text = std::fs::read_to_string(chaos).map_err(|e| {
        format!("--chaos {chaos:?} is neither a preset (reference, none, hostile) nor a readable file: {e}")
    })?;
    let plan = FaultPlan::from_json(&text).map_err(|e| format!("--chaos {chaos}: {e}"))?;
    Ok((plan, format!("file {chaos}")))
}

/// `--script`: a fault script file, and the file's name as given.
fn load_script(path: &std::path::Path) -> Result<(String, FaultScript), String> {
    let name = path.display().to_string();
    let script = crate::server::resolve::read_script(&name)
        .map_err(|e| format!("--script ({SCRIPT_ENV}) {e}"))?;
    Ok((name, script))
}

/// `--fixtures`: a JSON list of chats.
fn load_fixtures(path: &std::path::Path) -> Result<Vec<ChatFixture>, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("--fixtures {}: {e}", path.display()))?;
    serde_json::from_str(&text)
        .map_err(|e| format!("--fixtures {}: not a list of chats: {e}", path.display()))
}

/// The start-up banner: URL, seed, plan and how to reach the server.
pub(super) fn banner(cli: &ServeArgs, config: &Config, server: &MockChatServer) -> String {
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
    out += &format!("  seed:       {seed}   (reproduce: --seed {seed} or {SEED_ENV}={seed})\n");
    out += &format!("  chaos:      {}\n", chaos_line(config));
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

/// What the banner says of the chaos: the script replayed, or the plan
/// (its summary names the preset: "reference: …", "none (calm)").
fn chaos_line(config: &Config) -> String {
    if let Some((file, script)) = &config.script {
        let n = script.len();
        let faults = if n == 1 { "fault" } else { "faults" };
        return format!("replaying {file}: {n} {faults}, everything else calm");
    }
    let mut out = config.plan.summary();
    if config.plan_name.starts_with("file ") {
        out += &format!("   (from {})", config.plan_name);
    }
    out
}

/// The banner's admin API line, and its warning when the API is reachable
/// beyond this machine.
fn admin_lines(cli: &ServeArgs, ip: IpAddr, url: &str) -> String {
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

/// Runs the server described by `cli` until Ctrl-C or SIGTERM; the exit
/// code says how it went (2: bad flags or files, 1: could not start,
/// 130: forced stop).
pub(super) async fn serve(cli: ServeArgs) -> ExitCode {
    let _log = super::log::init(cli.quiet);
    let open_files = super::files::raise_limit();
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
