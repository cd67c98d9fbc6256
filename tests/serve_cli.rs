//! The `serve` example as a user runs it: a real process, flags and
//! environment, its banner and log on stdout, HTTP, and a graceful SIGTERM.
//! Also the example fixtures file, through the builder and through `serve`.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::StreamExt;
use mock_chat_server::{BotBehavior, ChatFixture, MockChatServer};
use serde_json::Value;

use common::PATIENCE;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/fixtures.json");

/// The `serve` example binary.
///
/// `cargo test` builds the example only as a test harness (Cargo.toml has
/// `test = true` for it, so its CLI unit tests run), not as a plain binary.
/// So this asks cargo to build it, once per test process, with the profile
/// and target directory of this test binary: a no-op when it is fresh, and
/// never a stale binary. Cargo holds no lock while tests run. A failure to
/// build is a test failure, never a skip.
fn serve_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(build_serve)
}

fn build_serve() -> PathBuf {
    // This test runs as <target-dir>[/<triple>]/<profile-dir>/deps/serve_cli-<hash>.
    let exe = std::env::current_exe().expect("current_exe");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test binary under <target>/<profile>/deps");
    let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") => "dev".to_string(),
        Some(other) => other.to_string(),
        None => "dev".to_string(),
    };
    let mut target_dir = profile_dir.parent().expect("target dir").to_path_buf();
    let mut triple = None;
    if !target_dir.join("CACHEDIR.TAG").exists()
        && target_dir
            .parent()
            .is_some_and(|p| p.join("CACHEDIR.TAG").exists())
    {
        // Cross-compiling layout: <target-dir>/<triple>/<profile>.
        triple = target_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned());
        target_dir = target_dir.parent().unwrap().to_path_buf();
    }
    let mut cmd = Command::new(env!("CARGO"));
    cmd.args(["build", "--quiet", "--example", "serve"])
        .args(["--message-format", "json", "--profile", &profile])
        .arg("--manifest-path")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir);
    if let Some(triple) = &triple {
        cmd.args(["--target", triple]);
    }
    let out = cmd.output().expect("run cargo to build the serve example");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "`cargo build --example serve` failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let exe = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "serve")
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .expect("cargo reported no executable for the serve example");
    assert!(exe.is_file(), "{} is missing", exe.display());
    exe
}

/// A `serve` command with a clean environment (none of the variables that
/// supply defaults, the default log filter) and backtraces on, so a panic
/// would show.
fn serve_command(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(serve_bin());
    cmd.args(args)
        .env_remove("PORT")
        .env_remove("HTTP_HOST")
        .env_remove("MOCK_CHAT_SEED")
        .env_remove("RUST_LOG")
        .env("RUST_BACKTRACE", "1")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

fn read_all(mut r: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut s = String::new();
        let _ = r.read_to_string(&mut s);
        s
    })
}

/// Waits for a child to exit; `None` after [`PATIENCE`] (a hang guard).
fn wait_with_deadline(child: &mut Child) -> Option<ExitStatus> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Runs `serve` to its exit (it must exit by itself): status, stdout, stderr.
fn run_to_exit(args: &[&str], env: &[(&str, &str)]) -> (ExitStatus, String, String) {
    let mut child = serve_command(args, env).spawn().expect("spawn serve");
    let out = read_all(child.stdout.take().unwrap());
    let err = read_all(child.stderr.take().unwrap());
    let status = wait_with_deadline(&mut child);
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let (out, err) = (out.join().unwrap(), err.join().unwrap());
    let status = status.unwrap_or_else(|| {
        panic!("serve {args:?} did not exit by itself\nstdout:\n{out}\nstderr:\n{err}")
    });
    (status, out, err)
}

/// A running `serve` process; killed when dropped (also when a test fails).
struct Serve {
    child: Child,
    stdout: mpsc::Receiver<String>,
    stderr: Option<JoinHandle<String>>,
    banner: Vec<String>,
    url: String,
}

impl Serve {
    /// Spawns `serve` and waits for its banner (the line `Ctrl-C to stop.`).
    fn start(args: &[&str], env: &[(&str, &str)]) -> Serve {
        let mut child = serve_command(args, env).spawn().expect("spawn serve");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Some(read_all(child.stderr.take().unwrap()));
        let mut serve = Serve {
            child,
            stdout: rx,
            stderr,
            banner: Vec::new(),
            url: String::new(),
        };
        loop {
            match serve.stdout.recv_timeout(PATIENCE) {
                Ok(line) => {
                    let done = line == "Ctrl-C to stop.";
                    serve.banner.push(line);
                    if done {
                        break;
                    }
                }
                Err(e) => {
                    let _ = serve.child.kill();
                    let _ = serve.child.wait();
                    let err = serve.stderr.take().unwrap().join().unwrap();
                    panic!(
                        "serve {args:?} printed no banner ({e}):\nstdout:\n{}\nstderr:\n{err}",
                        serve.banner.join("\n")
                    );
                }
            }
        }
        serve.url = serve
            .banner
            .iter()
            .find_map(|l| l.strip_prefix("mock-chat-server listening on "))
            .unwrap_or_else(|| panic!("no URL in the banner:\n{}", serve.banner.join("\n")))
            .to_string();
        serve
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    fn banner_line(&self, prefix: &str) -> &str {
        self.banner
            .iter()
            .map(|l| l.trim_start())
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} line in:\n{}", self.banner.join("\n")))
    }

    /// Sends SIGTERM and waits for the exit: status, the rest of stdout
    /// (every line after the banner) and stderr.
    #[cfg(unix)]
    fn terminate(&mut self) -> (ExitStatus, Vec<String>, String) {
        self.signal("TERM")
    }

    /// Sends a signal (`TERM`, `INT`) with `kill` and waits for the exit.
    #[cfg(unix)]
    fn signal(&mut self, name: &str) -> (ExitStatus, Vec<String>, String) {
        let killed = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(killed.success(), "kill -{name} failed");
        let status = wait_with_deadline(&mut self.child).expect("serve ignored SIGTERM");
        // The process is gone: the reader ends at EOF.
        let rest: Vec<String> = self.stdout.iter().collect();
        let err = self.stderr.take().unwrap().join().unwrap();
        (status, rest, err)
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

async fn get_json(url: &str) -> (u16, Value) {
    let res = common::client().get(url).send().await.expect("GET");
    let status = res.status().as_u16();
    (status, res.json().await.expect("JSON body"))
}

/// Checks that the server at `base` serves exactly the chats and messages of
/// `fixtures`, in order, with `sent_at` spaced as `ago_secs` says.
async fn assert_serves_fixtures(base: &str, fixtures: &[ChatFixture]) {
    let (status, chats) = get_json(&format!("{base}/chats")).await;
    assert_eq!(status, 200);
    let chats = chats.as_array().expect("chat list").clone();
    let names: Vec<&str> = chats.iter().map(|c| c["name"].as_str().unwrap()).collect();
    let expected: Vec<&str> = fixtures.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, expected);
    let mut starts = Vec::new();
    for (chat, fixture) in chats.iter().zip(fixtures) {
        let id = match &chat["id"] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let (status, messages) = get_json(&format!("{base}/chats/{id}/messages")).await;
        assert_eq!(status, 200);
        let messages = messages.as_array().unwrap();
        let got: Vec<(&str, &str)> = messages
            .iter()
            .map(|m| (m["author"].as_str().unwrap(), m["text"].as_str().unwrap()))
            .collect();
        let want: Vec<(&str, &str)> = fixture
            .messages
            .iter()
            .map(|m| (m.author.as_str(), m.text.as_str()))
            .collect();
        assert_eq!(got, want, "messages of {:?}", fixture.name);
        for (m, f) in messages.iter().zip(&fixture.messages) {
            assert_eq!(m["chat_id"], chat["id"]);
            let sent_at: DateTime<Utc> = m["sent_at"].as_str().unwrap().parse().unwrap();
            // Every fixture message is `ago_secs` before one common start.
            starts.push(sent_at + chrono::Duration::seconds(f.ago_secs as i64));
            let key = m["idempotency_key"].as_str().unwrap();
            assert!(uuid::Uuid::parse_str(key).is_ok(), "{key}");
        }
    }
    assert!(!starts.is_empty());
    assert!(starts.windows(2).all(|w| w[0] == w[1]), "{starts:?}");
}

fn example_fixtures() -> Vec<ChatFixture> {
    serde_json::from_str(&std::fs::read_to_string(FIXTURES).unwrap())
        .expect("examples/fixtures.json is a list of ChatFixture")
}

#[tokio::test]
async fn fixtures_file_round_trips_through_the_builder() {
    let fixtures = example_fixtures();
    assert!(fixtures.iter().any(|c| c.messages.is_empty()));
    assert!(fixtures.iter().any(|c| c.messages.len() >= 3));
    let server = MockChatServer::builder()
        .seed(5)
        .chats(fixtures.clone())
        .bot(BotBehavior::Silent)
        .start()
        .await;
    assert_serves_fixtures(&server.uri(), &fixtures).await;
    // In-process accessors agree, and message ids follow time across chats.
    let mut all: Vec<_> = (1..=fixtures.len() as u64)
        .flat_map(|c| server.messages(c))
        .collect();
    all.sort_by_key(|m| m.id);
    assert!(all.windows(2).all(|w| w[0].sent_at <= w[1].sent_at));
    // A reset brings back exactly the fixtures.
    server.add_chat("extra");
    server.reset();
    assert_serves_fixtures(&server.uri(), &fixtures).await;
}

#[cfg(unix)]
#[tokio::test]
async fn serve_answers_over_http_and_stops_cleanly_on_sigterm() {
    let mut serve = Serve::start(
        &[
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--chaos",
            "none",
            "--admin",
            "--seed",
            "42",
        ],
        &[],
    );
    assert!(serve.url.starts_with("http://127.0.0.1:"), "{}", serve.url);
    assert!(!serve.url.ends_with(":0"), "{}", serve.url);
    assert!(serve.banner_line("seed:").contains("42"));
    assert!(serve.banner_line("seed:").contains("--seed 42"));
    assert_eq!(serve.banner_line("chaos:"), "chaos:      none (calm)");
    assert!(serve.banner_line("admin API:").contains("on"));
    assert!(serve.banner.len() <= 12, "{:?}", serve.banner);

    let (status, chats) = get_json(&serve.url("/chats")).await;
    assert_eq!(status, 200);
    assert_eq!(chats.as_array().unwrap().len(), 4);
    assert_eq!(chats[0]["name"], "General");

    // An SSE stream that stays open until the server stops.
    let res = common::client()
        .get(serve.url("/events?stream=messages"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let mut events = Box::pin(
        eventsource_stream::Eventsource::eventsource(res.bytes_stream())
            .take_while(|e| futures::future::ready(e.is_ok()))
            .filter_map(|e| async move { e.ok() }),
    );

    let res = common::client()
        .post(serve.url("/chats/1/messages"))
        .header("idempotency-key", "cli-1")
        .json(&serde_json::json!({"text": "hello from a process"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let posted: Value = res.json().await.unwrap();
    assert_eq!(posted["author"], "user");
    let event = tokio::time::timeout(PATIENCE, events.next())
        .await
        .expect("an SSE event")
        .expect("stream open");
    let delivered: Value = serde_json::from_str(&event.data).unwrap();
    assert_eq!(delivered, posted);

    let (status, seed) = get_json(&serve.url("/__admin/seed")).await;
    assert_eq!(status, 200);
    assert_eq!(seed["seed"], 42);

    let (status, rest, stderr) = serve.terminate();
    // The open stream was closed by the server, not left hanging.
    let end = tokio::time::timeout(PATIENCE, async {
        while let Some(e) = events.next().await {
            // The bot's answer may still arrive; nothing else is expected.
            let m: Value = serde_json::from_str(&e.data).unwrap();
            assert_eq!(m["author"], "bot");
        }
    })
    .await;
    assert!(end.is_ok(), "the SSE stream stayed open after SIGTERM");
    assert_eq!(status.code(), Some(0), "stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(
        rest.last().map(String::as_str),
        Some("stopped."),
        "{rest:?}"
    );

    // One log line per request, with method, path, status and latency.
    let log_lines = |needle: &str| rest.iter().filter(|l| l.contains(needle)).count();
    assert_eq!(log_lines("GET /chats -> 200 in "), 1, "{rest:#?}");
    assert_eq!(
        log_lines("POST /chats/1/messages -> 200 in "),
        1,
        "{rest:#?}"
    );
    assert_eq!(
        log_lines("GET /events?stream=messages -> 200 in "),
        1,
        "{rest:#?}"
    );
    assert_eq!(log_lines("GET /__admin/seed -> 200 in "), 1, "{rest:#?}");
    assert!(
        rest.iter().all(|l| !l.contains('\x1b')),
        "no colour codes when stdout is not a terminal: {rest:?}"
    );
}

#[cfg(unix)]
#[tokio::test]
async fn request_log_shows_faults_and_respects_rust_log() {
    // GETs fail with 503 and every stream is cut after one event: the log
    // line names the fault.
    let dir = tempdir("plan");
    let plan = dir.join("all-503.json");
    std::fs::write(
        &plan,
        r#"{"get_chats": {"unavailable": 1.0}, "get_messages": {"unavailable": 1.0},
            "events": {"stream_disconnect": 1.0}}"#,
    )
    .unwrap();
    let mut serve = Serve::start(
        &[
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--chaos",
            plan.to_str().unwrap(),
        ],
        &[],
    );
    assert!(serve.banner_line("chaos:").contains("all-503.json"));
    assert!(serve
        .banner_line("chaos:")
        .contains("get_chats[unavailable 100%]"));
    let res = common::client()
        .get(serve.url("/chats"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
    let res = common::client()
        .get(serve.url("/events?stream=messages"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let mut stream = res.bytes_stream();
    let res = common::client()
        .post(serve.url("/chats/2/messages"))
        .header("idempotency-key", "cut-1")
        .json(&serde_json::json!({"text": "one event, then the cut"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let mut received = Vec::new();
    let cut = tokio::time::timeout(PATIENCE, async {
        while let Some(Ok(chunk)) = stream.next().await {
            received.extend_from_slice(&chunk);
        }
    })
    .await;
    assert!(cut.is_ok(), "the stream was not cut");
    assert!(String::from_utf8_lossy(&received).contains("one event, then the cut"));
    let (status, rest, _) = serve.terminate();
    assert_eq!(status.code(), Some(0));
    let line = rest
        .iter()
        .find(|l| l.contains("GET /chats -> 503 in "))
        .unwrap_or_else(|| panic!("no log line: {rest:#?}"));
    assert!(line.contains("fault=unavailable"), "{line}");
    assert!(line.contains("INFO"), "{line}");
    let line = rest
        .iter()
        .find(|l| l.contains("GET /events?stream=messages -> 200 in "))
        .unwrap_or_else(|| panic!("no log line: {rest:#?}"));
    assert!(line.contains("fault=stream_disconnect"), "{line}");
    // The cut is the plan's doing, not an error worth shouting about.
    assert!(rest.iter().all(|l| !l.contains("ERROR")), "{rest:#?}");

    // RUST_LOG=warn: the same request, no log line.
    let mut serve = Serve::start(
        &["--host", "127.0.0.1", "--port", "0", "--chaos", "none"],
        &[("RUST_LOG", "warn")],
    );
    let res = common::client()
        .get(serve.url("/chats"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let (status, rest, _) = serve.terminate();
    assert_eq!(status.code(), Some(0));
    assert!(rest.iter().all(|l| !l.contains(" -> ")), "{rest:#?}");
    assert!(rest.iter().any(|l| l == "stopped."), "{rest:#?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg(unix)]
#[tokio::test]
async fn ctrl_c_stops_cleanly_too() {
    let mut serve = Serve::start(
        &["--host", "127.0.0.1", "--port", "0", "--chaos", "none"],
        &[],
    );
    let res = common::client()
        .get(serve.url("/events?stream=messages"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let mut stream = res.bytes_stream();
    let (status, rest, stderr) = serve.signal("INT");
    // Closed by the server: the body ends cleanly, not with a reset.
    let closed = tokio::time::timeout(PATIENCE, async {
        while let Some(chunk) = stream.next().await {
            if let Err(e) = chunk {
                panic!("the SSE stream was broken, not closed: {e}");
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the SSE stream stayed open after SIGINT");
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert_eq!(
        rest.last().map(String::as_str),
        Some("stopped."),
        "{rest:?}"
    );
}

#[tokio::test]
async fn environment_supplies_defaults_and_flags_win() {
    let serve = Serve::start(
        &["--chaos", "none", "--admin"],
        &[
            ("HTTP_HOST", "127.0.0.1"),
            ("PORT", "0"),
            ("MOCK_CHAT_SEED", "7"),
        ],
    );
    assert!(serve.url.starts_with("http://127.0.0.1:"), "{}", serve.url);
    assert!(serve.banner_line("seed:").starts_with("seed:       7 "));
    let (status, seed) = get_json(&serve.url("/__admin/seed")).await;
    assert_eq!(status, 200);
    assert_eq!(seed["seed"], 7);
    drop(serve);

    let serve = Serve::start(
        &["--chaos", "none", "--admin", "--seed", "8"],
        &[
            ("HTTP_HOST", "127.0.0.1"),
            ("PORT", "0"),
            ("MOCK_CHAT_SEED", "7"),
        ],
    );
    let (_, seed) = get_json(&serve.url("/__admin/seed")).await;
    assert_eq!(seed["seed"], 8);
    // Admin off unless asked: /__admin/ is then an unknown path.
    drop(serve);
    let serve = Serve::start(
        &["--host", "127.0.0.1", "--port", "0", "--chaos", "none"],
        &[],
    );
    assert!(serve.banner_line("admin API:").contains("off"));
    let (status, body) = get_json(&serve.url("/__admin/seed")).await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "not_found");
}

#[tokio::test]
async fn serve_loads_the_fixtures_file_with_uuid_ids() {
    let serve = Serve::start(
        &[
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--chaos",
            "none",
            "--ids",
            "uuid",
            "--fixtures",
            FIXTURES,
        ],
        &[],
    );
    assert!(serve.banner_line("time scale:").contains("ids: uuid"));
    assert!(serve
        .banner_line("time scale:")
        .contains("fixtures.json (4 chats)"));
    assert_serves_fixtures(&serve.url, &example_fixtures()).await;
    let (_, chats) = get_json(&serve.url("/chats")).await;
    for chat in chats.as_array().unwrap() {
        let id = chat["id"].as_str().expect("a UUID string id");
        assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
    }
}

fn tempdir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mcs-serve-cli-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Asserts a failed start: the exit code, no panic, and stderr that names
/// `needle` (in one line, for errors `serve` itself reports).
fn assert_fails(args: &[&str], env: &[(&str, &str)], code: i32, needle: &str, one_line: bool) {
    let (status, stdout, stderr) = run_to_exit(args, env);
    let what = format!("serve {args:?} {env:?}\nstdout:\n{stdout}\nstderr:\n{stderr}");
    assert_eq!(status.code(), Some(code), "{what}");
    assert!(!stderr.contains("panicked"), "{what}");
    assert!(!stderr.contains("backtrace"), "{what}");
    assert!(stderr.contains(needle), "{what}");
    assert!(!stdout.contains("listening on"), "{what}");
    if one_line {
        assert_eq!(stderr.trim_end().lines().count(), 1, "{what}");
        assert!(stderr.starts_with("serve: "), "{what}");
    } else {
        // clap: the problem on the first line, then a hint.
        assert!(stderr.starts_with("error: "), "{what}");
        assert!(stderr.lines().next().unwrap().contains(needle), "{what}");
    }
}

#[test]
fn bad_flags_and_files_fail_with_a_clear_error_and_no_panic() {
    let dir = tempdir("bad");
    let bad_plan = dir.join("bad-plan.json");
    std::fs::write(&bad_plan, r#"{"get_chats": {"unavailable": 2}}"#).unwrap();
    let not_json = dir.join("not-json.json");
    std::fs::write(&not_json, "chaos: lots").unwrap();
    let bad_fixtures = dir.join("bad-fixtures.json");
    std::fs::write(&bad_fixtures, r#"[{"name": "A", "colour": "red"}]"#).unwrap();
    let p = |p: &Path| p.to_str().unwrap().to_string();
    let (bad_plan, not_json, bad_fixtures) = (p(&bad_plan), p(&not_json), p(&bad_fixtures));

    // Flag syntax, reported by clap (exit 2).
    assert_fails(&["--port", "99999"], &[], 2, "--port", false);
    assert_fails(&["--ids", "hex"], &[], 2, "hex", false);
    assert_fails(&["--time-scale", "fast"], &[], 2, "--time-scale", false);
    assert_fails(&["--bogus"], &[], 2, "--bogus", false);
    assert_fails(&[], &[("MOCK_CHAT_SEED", "abc")], 2, "--seed", false);
    assert_fails(&[], &[("PORT", "http")], 2, "--port", false);
    // Values and files, reported by serve in one line (exit 2).
    let port0 = ["--host", "127.0.0.1", "--port", "0"];
    let with = |extra: &[&'static str]| -> Vec<String> {
        port0
            .iter()
            .chain(extra)
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
    };
    let cases: Vec<(Vec<String>, &str)> = vec![
        (with(&["--chaos", "/no/such/plan.json"]), "--chaos"),
        (with(&["--chaos", "wild"]), "neither a preset"),
        (
            with(&["--chaos"]).into_iter().chain([bad_plan]).collect(),
            "get_chats.unavailable",
        ),
        (
            with(&["--chaos"]).into_iter().chain([not_json]).collect(),
            "not a valid fault plan",
        ),
        (
            with(&["--fixtures", "/no/such/fixtures.json"]),
            "--fixtures",
        ),
        (
            with(&["--fixtures"])
                .into_iter()
                .chain([bad_fixtures])
                .collect(),
            "colour",
        ),
        (with(&["--time-scale", "0"]), "--time-scale"),
        (with(&["--time-scale", "-1"]), "--time-scale"),
        (with(&["--time-scale", "NaN"]), "--time-scale"),
        (
            vec!["--host".into(), "no-such-host.invalid".into()],
            "--host",
        ),
    ];
    for (args, needle) in &cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        assert_fails(&args, &[], 2, needle, true);
    }
    // A port already taken: one line, exit 1.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    assert_fails(
        &["--host", "127.0.0.1", "--port", &port],
        &[],
        1,
        "cannot bind",
        true,
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn help_and_version() {
    let (status, help, _) = run_to_exit(&["--help"], &[]);
    assert!(status.success());
    for needle in [
        "Usage: serve [OPTIONS]",
        "--host <HOST>",
        "[env: HTTP_HOST=]",
        "[default: localhost]",
        "--port <PORT>",
        "[env: PORT=]",
        "[default: 3000]",
        "--seed <SEED>",
        "[env: MOCK_CHAT_SEED=]",
        "--chaos <PRESET|FILE>",
        "[default: reference]",
        "--time-scale <F>",
        "--admin",
        "--ids <IDS>",
        "uuid",
        "--fixtures <FILE>",
        "Examples:",
        "RUST_LOG",
    ] {
        assert!(help.contains(needle), "--help lacks {needle:?}:\n{help}");
    }
    assert!(help.lines().all(|l| l.chars().count() <= 100), "{help}");
    let (status, version, _) = run_to_exit(&["--version"], &[]);
    assert!(status.success());
    assert_eq!(
        version.trim(),
        format!("serve {}", env!("CARGO_PKG_VERSION"))
    );
}
