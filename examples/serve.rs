//! The standalone mock chat server, for clients not written in Rust.
//!
//! ```text
//! cargo run --example serve                       # localhost:3000, reference chaos
//! cargo run --example serve -- --chaos none --admin
//! cargo run --example serve -- --seed 42 --time-scale 0.1 --ids uuid
//! ```
//!
//! `HTTP_HOST`, `PORT` and `MOCK_CHAT_SEED` supply defaults for `--host`,
//! `--port` and `--seed`. `RUST_LOG` filters the log (default `info`).

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use mock_chat_server::{ChatFixture, FaultPlan, IdStyle, MockChatServer, MockChatServerBuilder};

/// A reproducibly flaky chat server: chats, messages, bots and an SSE stream,
/// with seeded faults.
#[derive(Debug, Parser, PartialEq)]
#[command(name = "serve", version, about, long_about = None)]
struct Cli {
    /// Host or address to listen on.
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
    #[arg(long, default_value_t = 1.0, value_name = "F")]
    time_scale: f64,

    /// Serve the /__admin/ API (reset, inject, force faults, journal).
    #[arg(long)]
    admin: bool,

    /// Id format on the wire.
    #[arg(long, value_enum, default_value_t = Ids::Number)]
    ids: Ids,

    /// JSON file of chats with optional initial messages (see examples/fixtures.json).
    #[arg(long, value_name = "FILE")]
    fixtures: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Ids {
    /// Positive integers, as documented.
    Number,
    /// UUID strings, as the reference server really sends.
    Uuid,
}

/// What the flags resolve to, before anything is bound.
#[derive(Debug)]
struct Config {
    addr: SocketAddr,
    plan: FaultPlan,
    plan_name: String,
    builder: MockChatServerBuilder,
}

/// Turns flags into a server configuration, reading the plan and fixtures
/// files. Every error is one line naming the problem.
fn configure(cli: &Cli) -> Result<Config, String> {
    let addr = (cli.host.as_str(), cli.port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve --host {:?}: {e}", cli.host))?
        .next()
        .ok_or_else(|| format!("--host {:?} resolves to no address", cli.host))?;
    if !(cli.time_scale.is_finite() && cli.time_scale > 0.0) {
        return Err(format!(
            "--time-scale must be a number above 0, got {}",
            cli.time_scale
        ));
    }
    let (plan, plan_name) = match FaultPlan::preset(&cli.chaos) {
        Ok(plan) => (plan, cli.chaos.clone()),
        Err(_) => {
            let text = std::fs::read_to_string(&cli.chaos).map_err(|e| {
                format!(
                    "--chaos {:?} is neither a preset (reference, none, hostile) nor a readable file: {e}",
                    cli.chaos
                )
            })?;
            let plan =
                FaultPlan::from_json(&text).map_err(|e| format!("--chaos {}: {e}", cli.chaos))?;
            (plan, format!("file {}", cli.chaos))
        }
    };
    let mut builder = MockChatServer::builder()
        .bind(addr)
        .faults(plan.clone())
        .time_scale(cli.time_scale)
        .admin_api(cli.admin)
        .id_style(match cli.ids {
            Ids::Number => IdStyle::Number,
            Ids::Uuid => IdStyle::Uuid,
        });
    if let Some(seed) = cli.seed {
        builder = builder.seed(seed);
    }
    if let Some(path) = &cli.fixtures {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("--fixtures {}: {e}", path.display()))?;
        let chats: Vec<ChatFixture> = serde_json::from_str(&text)
            .map_err(|e| format!("--fixtures {}: not a list of chats: {e}", path.display()))?;
        builder = builder.chats(chats);
    }
    Ok(Config {
        addr,
        plan,
        plan_name,
        builder,
    })
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,warp::server=off")),
        )
        .with_target(false)
        .init();
    let config = match configure(&cli) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("serve: {e}");
            return ExitCode::from(2);
        }
    };
    let server = match config.builder.try_start().await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("serve: {e}");
            return ExitCode::from(1);
        }
    };
    let url = if config.addr.port() == 0 || cli.host != "localhost" {
        server.uri()
    } else {
        format!("http://localhost:{}", server.address().port())
    };
    println!("mock-chat-server listening on {url}");
    println!(
        "  seed:  {}   (reproduce: MOCK_CHAT_SEED={} or --seed {})",
        server.seed(),
        server.seed(),
        server.seed()
    );
    println!("  chaos: {} — {}", config.plan_name, config.plan.summary());
    println!(
        "  time scale: {}   ids: {:?}   admin API: {}",
        cli.time_scale,
        cli.ids,
        if cli.admin { "on (/__admin/)" } else { "off" }
    );
    println!("  try:   curl {url}/chats");
    println!("Ctrl-C to stop.");
    shutdown_signal().await;
    println!("stopping…");
    server.shutdown().await;
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        let mut all = vec!["serve"];
        all.extend_from_slice(args);
        Cli::try_parse_from(all)
    }

    #[test]
    fn defaults_are_localhost_3000_reference() {
        // Only meaningful when the env defaults are unset, as on CI.
        if std::env::var_os("PORT").is_some() || std::env::var_os("HTTP_HOST").is_some() {
            return;
        }
        let cli = parse(&[]).unwrap();
        assert_eq!(cli.port, 3000);
        assert_eq!(cli.host, "localhost");
        assert_eq!(cli.chaos, "reference");
        assert!(!cli.admin);
        let config = configure(&cli).unwrap();
        assert_eq!(config.plan, FaultPlan::reference());
        assert_eq!(config.addr.port(), 3000);
        assert!(config.addr.ip().is_loopback());
    }

    #[test]
    fn flags_map_to_configuration() {
        let cli = parse(&[
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--seed",
            "42",
            "--chaos",
            "none",
            "--time-scale",
            "0.5",
            "--admin",
            "--ids",
            "uuid",
        ])
        .unwrap();
        assert_eq!(cli.seed, Some(42));
        assert_eq!(cli.ids, Ids::Uuid);
        let config = configure(&cli).unwrap();
        assert_eq!(config.plan, FaultPlan::none());
        assert_eq!(config.addr, "127.0.0.1:0".parse().unwrap());
    }

    #[test]
    fn bad_flags_are_one_line_errors() {
        assert!(parse(&["--port", "99999"]).is_err());
        assert!(parse(&["--ids", "hex"]).is_err());
        let cli = parse(&["--chaos", "/no/such/plan.json"]).unwrap();
        let e = configure(&cli).unwrap_err();
        assert!(e.contains("--chaos") && !e.contains('\n'), "{e}");
        let cli = parse(&["--time-scale", "0"]).unwrap();
        assert!(configure(&cli).unwrap_err().contains("--time-scale"));
    }

    #[test]
    fn plan_and_fixture_files_are_read() {
        let dir = std::env::temp_dir().join(format!("mcs-serve-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let plan = dir.join("plan.json");
        std::fs::write(&plan, FaultPlan::hostile().to_json()).unwrap();
        let bad = dir.join("bad.json");
        std::fs::write(&bad, "{\"get_chats\": {\"unavailable\": 2}}").unwrap();
        let fixtures = dir.join("fixtures.json");
        std::fs::write(&fixtures, r#"[{"name":"Only","messages":[{"text":"hi"}]}]"#).unwrap();

        let cli = parse(&["--chaos", plan.to_str().unwrap()]).unwrap();
        assert_eq!(configure(&cli).unwrap().plan, FaultPlan::hostile());
        let cli = parse(&["--chaos", bad.to_str().unwrap()]).unwrap();
        assert!(configure(&cli).unwrap_err().contains("unavailable"));
        let cli = parse(&["--fixtures", fixtures.to_str().unwrap()]).unwrap();
        assert!(configure(&cli).is_ok());
        std::fs::write(&fixtures, "[{\"nom\": 1}]").unwrap();
        let cli = parse(&["--fixtures", fixtures.to_str().unwrap()]).unwrap();
        assert!(configure(&cli).unwrap_err().contains("--fixtures"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
