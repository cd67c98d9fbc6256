//! The `mock-chat-server` binary itself: it starts, answers, logs and
//! stops on a signal.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A running binary and its stdout, line by line.
struct Serve {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Serve {
    fn start(args: &[&str]) -> Serve {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mock-chat-server"))
            .args(["--host", "127.0.0.1", "--port", "0", "--seed", "3"])
            .args(args)
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the binary starts");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Serve { child, lines }
    }

    /// The next line containing `needle` (panics after 20 s).
    fn line_with(&self, needle: &str) -> String {
        loop {
            match self.lines.recv_timeout(Duration::from_secs(20)) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(_) => panic!("no line with {needle:?}"),
            }
        }
    }

    /// Every line until stdout closes.
    fn rest(&self) -> Vec<String> {
        let mut out = Vec::new();
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(20)) {
            out.push(line);
        }
        out
    }

    fn url(&self) -> String {
        let banner = self.line_with("listening on");
        banner
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .expect("a URL in the banner")
            .to_string()
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([format!("-{name}"), self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    fn wait(mut self) -> std::process::ExitStatus {
        self.child.wait().expect("the binary exits")
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

async fn get(url: &str) -> reqwest::Response {
    reqwest::get(url).await.expect("an answer")
}

#[tokio::test]
async fn the_binary_serves_logs_and_stops_on_sigterm() {
    let serve = Serve::start(&["--chaos", "none"]);
    let url = serve.url();
    let chats = get(&format!("{url}/chats")).await;
    assert_eq!(chats.status(), 200);
    assert!(chats.text().await.unwrap().contains("\"name\":\"John\""));
    let logged = serve.line_with("GET /chats");
    assert!(logged.contains("200"), "{logged}");
    serve.signal("TERM");
    let rest = serve.rest();
    assert!(rest.iter().any(|l| l.contains("stopped")), "{rest:?}");
    assert!(serve.wait().success());
}

#[tokio::test]
async fn quiet_drops_the_request_lines_and_sigint_stops() {
    let serve = Serve::start(&["--chaos", "none", "--quiet"]);
    let url = serve.url();
    assert_eq!(get(&format!("{url}/chats")).await.status(), 200);
    assert_eq!(get(&format!("{url}/nope")).await.status(), 404);
    serve.signal("INT");
    let rest = serve.rest();
    assert!(!rest.iter().any(|l| l.contains("GET /")), "{rest:?}");
    assert!(serve.wait().success());
}

#[test]
fn a_bad_plan_file_is_one_line_naming_the_field() {
    let dir = std::env::temp_dir().join(format!("mcs-plan-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let plan = dir.join("plan.json");
    std::fs::write(
        &plan,
        r#"{"get_chats":{"latency_before":{"uniform_ms":[500,1]}}}"#,
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_mock-chat-server"))
        .args(["--port", "0", "--chaos"])
        .arg(&plan)
        .output()
        .expect("the binary runs");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("get_chats.latency_before"), "{err}");
}

#[tokio::test]
async fn the_banner_warns_when_the_admin_api_is_reachable_from_elsewhere() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mock-chat-server"))
        .args([
            "--host",
            "0.0.0.0",
            "--port",
            "0",
            "--admin",
            "--admin-insecure",
            "--chaos",
            "none",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary starts");
    let stdout = child.stdout.take().unwrap();
    let mut warned = false;
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        if line.contains("WARNING") && line.contains("admin API") && line.contains("no token") {
            warned = true;
        }
        if line.contains("Ctrl-C") {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(warned);
}

#[test]
fn the_admin_api_beyond_loopback_needs_a_token_or_admin_insecure() {
    let out = Command::new(env!("CARGO_BIN_EXE_mock-chat-server"))
        .args(["--host", "0.0.0.0", "--port", "0", "--admin"])
        .stdin(Stdio::null())
        .output()
        .expect("the binary runs");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("--admin-token") && err.contains("--admin-insecure"),
        "{err}"
    );
}

#[test]
fn an_unreadable_script_is_one_line_naming_it_whether_flag_or_variable() {
    let missing = "/no/such/dir/script.json";
    let by_flag = Command::new(env!("CARGO_BIN_EXE_mock-chat-server"))
        .args(["--port", "0", "--script", missing])
        .env_remove("MOCK_CHAT_SCRIPT")
        .stdin(Stdio::null())
        .output()
        .expect("the binary runs");
    let by_env = Command::new(env!("CARGO_BIN_EXE_mock-chat-server"))
        .args(["--port", "0"])
        .env("MOCK_CHAT_SCRIPT", missing)
        .stdin(Stdio::null())
        .output()
        .expect("the binary runs");
    for out in [by_flag, by_env] {
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains(missing) && err.contains("MOCK_CHAT_SCRIPT"),
            "{err}"
        );
    }
}

#[tokio::test]
async fn the_dashboard_names_the_script_file_serve_replays() {
    use futures::StreamExt;
    use mock_chat_server::{Fault, MockChatServer, Route};
    let recorder = MockChatServer::builder().seed(3).start().await;
    recorder.force(Route::GetChats, Fault::Unavailable);
    assert_eq!(get(&recorder.url("/chats")).await.status(), 503);
    let file = std::env::temp_dir().join(format!("serve-script-{}.json", std::process::id()));
    std::fs::write(&file, recorder.fault_script().to_json()).expect("the script is written");
    let file = file.to_string_lossy().into_owned();

    let serve = Serve::start(&["--admin", "--script", &file]);
    let url = serve.url();
    let live = get(&format!("{url}/__admin/live")).await;
    let mut body = live.bytes_stream();
    let mut text = String::new();
    while !text.contains("\n\n") {
        let chunk = tokio::time::timeout(Duration::from_secs(20), body.next())
            .await
            .expect("the snapshot in time")
            .expect("a frame")
            .expect("bytes");
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    let _ = std::fs::remove_file(&file);
    let words = format!("replaying {file}: 1 fault, everything else calm");
    assert!(text.contains(&words), "{text}");
    assert!(text.contains(&format!("--script {file}")), "{text}");
}
