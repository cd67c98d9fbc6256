//! The command line's parsing and configuration.

use super::*;

fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
    let mut all = vec!["mock-chat-server"];
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
    let config = configure(&cli, None).unwrap();
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
    let config = configure(&cli, None).unwrap();
    assert_eq!(config.plan, FaultPlan::none());
    assert_eq!(config.addr, "127.0.0.1:0".parse().unwrap());
}

#[test]
fn bad_flags_are_one_line_errors() {
    assert!(parse(&["--port", "99999"]).is_err());
    assert!(parse(&["--ids", "hex"]).is_err());
    let cli = parse(&["--chaos", "/no/such/plan.json"]).unwrap();
    let e = configure(&cli, None).unwrap_err();
    assert!(e.contains("--chaos") && !e.contains('\n'), "{e}");
    let cli = parse(&["--time-scale", "0"]).unwrap();
    assert!(configure(&cli, None).unwrap_err().contains("--time-scale"));
}

#[test]
fn the_connection_cap_follows_the_file_limit_unless_given() {
    let cli = parse(&["--port", "0"]).unwrap();
    let cap = |files| configure(&cli, files).unwrap().max_connections;
    assert_eq!(cap(None), crate::server::DEFAULT_MAX_CONNECTIONS);
    assert_eq!(cap(Some(1_048_576)), 65_536, "clamped");
    assert_eq!(cap(Some(20_000)), 20_000 - 64, "a margin for other files");
    assert_eq!(cap(Some(u64::MAX)), 65_536, "unlimited");
    assert_eq!(cap(Some(16)), 64, "a floor");
    let given = parse(&["--port", "0", "--max-connections", "100"]).unwrap();
    assert_eq!(
        configure(&given, Some(1_048_576)).unwrap().max_connections,
        100
    );
}

#[test]
fn ids_flag_maps_to_id_style() {
    let config = configure(&parse(&["--port", "0"]).unwrap(), None).unwrap();
    assert_eq!(config.id_style, IdStyle::Uuid);
    assert!(config.chats.is_none());
    let config = configure(&parse(&["--port", "0", "--ids", "number"]).unwrap(), None).unwrap();
    assert_eq!(config.id_style, IdStyle::Number);
}

#[test]
fn env_variables_are_the_defaults_of_host_port_and_seed() {
    use clap::CommandFactory;
    let cmd = Cli::command();
    let env_of = |id: &str| {
        cmd.get_arguments()
            .find(|a| a.get_id() == id)
            .and_then(|a| a.get_env())
            .map(|e| e.to_string_lossy().into_owned())
    };
    assert_eq!(env_of("host").as_deref(), Some("HTTP_HOST"));
    assert_eq!(env_of("port").as_deref(), Some("PORT"));
    assert_eq!(env_of("seed").as_deref(), Some("MOCK_CHAT_SEED"));
    assert_eq!(env_of("chaos"), None);
    // Flags win over the environment (clap's rule); checked end to end in
    // tests/serve_cli.rs, which sets the variables on a child process.
}

#[test]
fn help_lists_every_flag_and_variable() {
    use clap::CommandFactory;
    let help = Cli::command().render_long_help().to_string();
    for needle in [
        "--host",
        "--port",
        "--seed",
        "--chaos",
        "--time-scale",
        "--admin",
        "--ids",
        "--fixtures",
        "HTTP_HOST",
        "PORT",
        "MOCK_CHAT_SEED",
        "reference, none, hostile",
        "number",
        "uuid",
        "RUST_LOG",
    ] {
        assert!(help.contains(needle), "--help lacks {needle}:\n{help}");
    }
    // What the server is comes first, not a note meant for rustdoc.
    assert!(
        help.starts_with("A reproducibly flaky chat server"),
        "{help}"
    );
    assert!(!help.contains("module docs"), "{help}");
}

#[test]
fn localhost_prefers_ipv4() {
    let addr = resolve("localhost", 0).unwrap();
    assert!(addr.ip().is_loopback());
    // Any system that resolves localhost to 127.0.0.1 at all gets it.
    let any_v4 = ("localhost", 0)
        .to_socket_addrs()
        .unwrap()
        .any(|a| a.is_ipv4());
    assert_eq!(addr.is_ipv4(), any_v4);
    assert!(resolve("no-such-host.invalid", 0)
        .unwrap_err()
        .contains("--host"));
}

#[test]
fn the_example_fixtures_file_is_accepted() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/fixtures.json");
    let cli = parse(&["--fixtures", path]).unwrap();
    let config = configure(&cli, None).unwrap();
    let chats = config.chats.unwrap();
    let expected: Vec<ChatFixture> =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(chats, expected);
    assert!(chats.len() >= 2 && chats.iter().any(|c| c.messages.is_empty()));
}

#[tokio::test]
async fn banner_fits_one_screen_and_names_url_seed_and_plan() {
    let cli = parse(&[
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--seed",
        "42",
        "--chaos",
        "hostile",
        "--admin",
    ])
    .unwrap();
    let config = configure(&cli, None).unwrap();
    let server = config.builder.clone().start().await;
    let text = banner(&cli, &config, &server);
    assert!(text.lines().count() <= 12, "{text}");
    assert!(
        text.contains(&format!("listening on {}", server.uri())),
        "{text}"
    );
    assert!(text.contains("seed:       42"), "{text}");
    assert!(text.contains("--seed 42"), "{text}");
    assert!(text.contains(&FaultPlan::hostile().summary()), "{text}");
    assert!(text.contains("/__admin/reset"), "{text}");
    assert!(text.contains("  dashboard:  http://"), "{text}");
    assert!(text.contains("10.0.2.2"), "{text}");
    assert!(text.contains("connections: 4096"), "{text}");
}

#[tokio::test]
async fn banner_for_every_interface_points_at_localhost_and_the_lan() {
    let cli = parse(&["--host", "0.0.0.0", "--port", "0", "--chaos", "none"]).unwrap();
    let config = configure(&cli, None).unwrap();
    let server = config.builder.clone().start().await;
    let port = server.address().port();
    let text = banner(&cli, &config, &server);
    let first = text.lines().next().unwrap();
    assert_eq!(
        first,
        format!("mock-chat-server listening on http://localhost:{port}")
    );
    assert!(text.contains("  LAN:        "), "{text}");
    assert!(text.contains(&format!("http://10.0.2.2:{port}")), "{text}");
    assert!(!text.contains("phones need"), "{text}");
    assert!(text.contains("admin API:  off"), "{text}");
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
    assert_eq!(configure(&cli, None).unwrap().plan, FaultPlan::hostile());
    let cli = parse(&["--chaos", bad.to_str().unwrap()]).unwrap();
    assert!(configure(&cli, None).unwrap_err().contains("unavailable"));
    let cli = parse(&["--fixtures", fixtures.to_str().unwrap()]).unwrap();
    assert!(configure(&cli, None).is_ok());
    std::fs::write(&fixtures, "[{\"nom\": 1}]").unwrap();
    let cli = parse(&["--fixtures", fixtures.to_str().unwrap()]).unwrap();
    assert!(configure(&cli, None).unwrap_err().contains("--fixtures"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_message_cap_is_off_unless_given() {
    assert_eq!(parse(&[]).unwrap().max_message_bytes, None);
    let cli = parse(&["--max-message-bytes", "1048576"]).unwrap();
    assert_eq!(cli.max_message_bytes, Some(1_048_576));
    assert!(parse(&["--max-message-bytes", "lots"]).is_err());
}
