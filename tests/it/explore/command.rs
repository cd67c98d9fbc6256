//! `mock-chat-server explore -- COMMAND`: exit codes, grouping, the JUnit
//! and JSON reports, shards, and a real client (this test binary, run as
//! a command) whose double send is found, shrunk to its one fault, and
//! fails the same way every time its script is rerun.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use mock_chat_server::{Chat, FaultPlan, Message};

use crate::common::{parse, raw, request_bytes};

/// A fresh folder for one test's reports.
fn folder(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mcs-explore-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `mock-chat-server explore ARGS` in `dir`.
fn explore(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mock-chat-server"));
    command
        .arg("explore")
        .args(args)
        .current_dir(dir)
        .env_remove("MOCK_CHAT_SCRIPT")
        .env_remove("MOCK_CHAT_SHARD")
        .stdin(Stdio::null());
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().expect("the binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Fails on seeds 1 and 4 of 0..6, whatever the faults.
const FAILS_ON_1_AND_4: &str =
    r#"test $((MOCK_CHAT_SEED % 3)) -ne 1 || { echo "boom at seed $MOCK_CHAT_SEED"; exit 3; }"#;

#[test]
fn a_failing_command_is_found_grouped_and_reported_in_junit_and_json() {
    let dir = folder("sh");
    let out = explore(
        &dir,
        &[
            "--seeds",
            "0..6",
            "--time-scale",
            "0.01",
            "--junit",
            "junit.xml",
            "--json",
            "report.json",
            "--",
            "sh",
            "-c",
            FAILS_ON_1_AND_4,
        ],
        &[],
    );
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("6 seeds"), "{stdout}");
    assert!(stdout.contains("seeds: 1, 4"), "{stdout}");
    assert!(
        stdout.contains(r#"last line: "boom at seed 1""#),
        "{stdout}"
    );
    assert!(
        stdout.contains("mock-chat-server explore --script "),
        "{stdout}"
    );
    assert!(stdout.contains("mock-chat-server --script "), "{stdout}");
    let junit = std::fs::read_to_string(dir.join("junit.xml")).unwrap();
    let cases = well_formed(&junit).unwrap_or_else(|e| panic!("{e}:\n{junit}"));
    assert_eq!(cases, 6, "{junit}");
    assert_eq!(junit.matches("<failure ").count(), 2, "{junit}");
    assert!(junit.contains(r#"<testcase name="seed 4""#), "{junit}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(json["schema"], "mock-chat-server/explore");
    assert_eq!(json["version"], 1);
    assert_eq!(json["results"].as_array().unwrap().len(), 6);
    assert_eq!(json["failures"][0]["seeds"], serde_json::json!([1, 4]));
    assert_eq!(json["failures"][0]["outcome"], "minimal");
    let out_dir = dir.join("mock-chat-server-explore");
    assert!(out_dir.join("failure-1/minimal.json").is_file());
    assert!(out_dir.join("failure-1/original.json").is_file());
    let log = std::fs::read_to_string(out_dir.join("runs/seed-4.log")).unwrap();
    assert!(log.contains("boom at seed 4"), "{log}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn exit_codes_say_passed_failed_or_usage_error() {
    let dir = folder("codes");
    // The environment and {url}, checked by the command itself.
    let env_check = r#"test "$1" = "$MOCK_CHAT_URL" && test -n "$MOCK_CHAT_ADMIN_TOKEN" \
        && test "$MOCK_CHAT_ADMIN_URL" = "$MOCK_CHAT_URL/__admin" \
        && case "$MOCK_CHAT_URL" in http://127.0.0.1:*/) false ;; http://127.0.0.1:*) true ;; *) false ;; esac \
        && test "$MOCK_CHAT_SEED" -lt 3"#;
    let passed = explore(
        &dir,
        &[
            "--seeds", "0..3", "--", "sh", "-c", env_check, "sh", "{url}",
        ],
        &[],
    );
    assert_eq!(passed.status.code(), Some(0), "{}", text(&passed.stdout));
    let failed = explore(&dir, &["--seeds", "0..2", "--", "false"], &[]);
    assert_eq!(failed.status.code(), Some(1));
    let usage: [&[&str]; 4] = [
        &[],
        &["--seeds", "5..2", "--", "true"],
        &["--random-seeds", "10", "--shard", "1/2", "--", "true"],
        &["--chaos", "wild", "--", "true"],
    ];
    for args in usage {
        let out = explore(&dir, args, &[]);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
    let bad_script = explore(
        &dir,
        &["--", "true"],
        &[("MOCK_CHAT_SCRIPT", "/no/such/script.json")],
    );
    assert_eq!(bad_script.status.code(), Some(2));
    let err = text(&bad_script.stderr);
    assert_eq!(err.lines().count(), 1, "one clear error: {err}");
    assert!(
        err.contains("MOCK_CHAT_SCRIPT") && err.contains("/no/such/script.json"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_failure_its_script_does_not_replay_is_reported_as_such() {
    let dir = folder("flaky");
    // Fails the first time each seed runs, passes when rerun.
    let flaky = r#"test -e "ran-$MOCK_CHAT_SEED" && exit 0; touch "ran-$MOCK_CHAT_SEED"; echo flaky; exit 1"#;
    let out = explore(
        &dir,
        &[
            "--seeds", "0..2", "--json", "r.json", "--", "sh", "-c", flaky,
        ],
        &[],
    );
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("not replayable"), "{stdout}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("r.json")).unwrap()).unwrap();
    let failure = &json["failures"][0];
    assert_eq!(failure["outcome"], "not_replayable");
    assert_eq!(failure["minimal_script"], serde_json::Value::Null);
    assert!(
        failure["rerun"].as_str().unwrap().contains("original.json"),
        "{failure}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The seeds a shard ran, from its JSON report.
fn shard_seeds(dir: &Path, shard: &str) -> Vec<u64> {
    let json = format!("shard-{}.json", shard.replace('/', "-"));
    let out = explore(
        dir,
        &[
            "--random-seeds",
            "9",
            "--base-seed",
            "5",
            "--shard",
            shard,
            "--json",
            &json,
            "--",
            "true",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join(json)).unwrap()).unwrap();
    assert_eq!(report["base_seed"], 5);
    report["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["seed"].as_u64().unwrap())
        .collect()
}

#[test]
fn shards_one_and_two_of_two_cover_every_seed_once() {
    let dir = folder("shards");
    let mut first = shard_seeds(&dir, "1/2");
    let second = shard_seeds(&dir, "2/2");
    assert_eq!((first.len(), second.len()), (5, 4));
    first.extend(&second);
    let mut all = first.clone();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 9, "no seed twice: {first:?}");
    let mut whole = shard_seeds(&dir, "1/1");
    whole.sort();
    assert_eq!(whole, all);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Drops the connection after storing, on 40% of the POSTs.
fn drop_after_commit_plan(dir: &Path) -> String {
    let mut plan = FaultPlan::none();
    plan.post_message.drop_after_commit = 0.4;
    let path = dir.join("plan.json");
    std::fs::write(&path, plan.to_json()).unwrap();
    path.display().to_string()
}

/// This test binary, running only [`client`].
fn client_command() -> Vec<String> {
    let me = std::env::current_exe().unwrap().display().to_string();
    [
        &me,
        "explore::command::client",
        "--exact",
        "--ignored",
        "--nocapture",
        "-q",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

#[test]
fn a_double_send_is_found_shrunk_to_its_fault_and_its_script_fails_alike() {
    let dir = folder("double-send");
    let plan = drop_after_commit_plan(&dir);
    let client = client_command();
    let mut args = vec!["--seeds", "0..8", "--chaos", &plan, "--confirmations", "1"];
    args.push("--");
    args.extend(client.iter().map(String::as_str));
    let correct = explore(&dir, &args, &[]);
    assert_eq!(correct.status.code(), Some(0), "{}", text(&correct.stdout));
    let buggy = explore(&dir, &args, &[("CLIENT_BUG", "resend")]);
    let stdout = text(&buggy.stdout);
    assert_eq!(buggy.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("stored 2 times"), "{stdout}");
    assert!(stdout.contains("minimal: 1 of the run's"), "{stdout}");
    assert!(stdout.contains("POST #"), "{stdout}");
    let minimal = dir.join("mock-chat-server-explore/failure-1/minimal.json");
    let script = std::fs::read_to_string(&minimal).unwrap();
    assert!(script.contains("drop_after_commit"), "{script}");
    let copy = dir.join("minimal.json");
    std::fs::copy(&minimal, &copy).unwrap();
    let first = stdout
        .lines()
        .find(|l| l.starts_with("failure 1:"))
        .unwrap();
    for _ in 0..5 {
        let mut rerun = vec!["--script", copy.to_str().unwrap(), "--chaos", &plan, "--"];
        rerun.extend(client.iter().map(String::as_str));
        let again = explore(&dir, &rerun, &[("CLIENT_BUG", "resend")]);
        let out = text(&again.stdout);
        assert_eq!(again.status.code(), Some(1), "{out}");
        assert!(out.lines().any(|l| l == first), "{first}\n{out}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn deny_misuse_fails_a_run_that_exits_0_with_a_client_diagnostic() {
    let dir = folder("misuse");
    let client = client_command();
    let mut args = vec!["--seeds", "0..2", "--chaos", "none", "--"];
    args.extend(client.iter().map(String::as_str));
    let lenient = explore(&dir, &args, &[("CLIENT_BUG", "no-key")]);
    assert_eq!(lenient.status.code(), Some(0), "{}", text(&lenient.stdout));
    args.insert(0, "--deny-misuse");
    let strict = explore(&dir, &args, &[("CLIENT_BUG", "no-key")]);
    let stdout = text(&strict.stdout);
    assert_eq!(strict.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("missing Idempotency-Key"), "{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Checks that `xml` is well-formed (tags balanced and named alike,
/// attributes quoted, no stray `<` or `&`); returns its `<testcase>` count.
fn well_formed(xml: &str) -> Result<usize, String> {
    let body = xml
        .strip_prefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>")
        .ok_or("no XML declaration")?;
    let mut open: Vec<&str> = Vec::new();
    let mut cases = 0;
    let mut rest = body;
    while let Some(start) = rest.find('<') {
        check_text(&rest[..start])?;
        let end = rest[start..].find('>').ok_or("an unclosed tag")? + start;
        let tag = &rest[start + 1..end];
        rest = &rest[end + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            if open.pop() != Some(name) {
                return Err(format!("</{name}> closes nothing open"));
            }
            continue;
        }
        let self_closing = tag.ends_with('/');
        let tag = tag.trim_end_matches('/');
        let name = tag.split_whitespace().next().ok_or("an empty tag")?;
        check_attributes(&tag[name.len()..])?;
        cases += usize::from(name == "testcase");
        if !self_closing {
            open.push(name);
        }
    }
    check_text(rest)?;
    match open.is_empty() {
        true => Ok(cases),
        false => Err(format!("unclosed: {open:?}")),
    }
}

fn check_text(text: &str) -> Result<(), String> {
    for (i, _) in text.match_indices('&') {
        let entity = &text[i..text[i..].find(';').map_or(text.len(), |e| i + e + 1)];
        if !["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"].contains(&entity) {
            return Err(format!("a bare & at {:?}", &text[i..]));
        }
    }
    if text
        .chars()
        .any(|c| (c as u32) < 0x20 && !"\t\n\r".contains(c))
    {
        return Err("a control character".into());
    }
    Ok(())
}

fn check_attributes(mut attrs: &str) -> Result<(), String> {
    loop {
        attrs = attrs.trim_start();
        if attrs.is_empty() {
            return Ok(());
        }
        let eq = attrs
            .find("=\"")
            .ok_or_else(|| format!("unquoted: {attrs}"))?;
        let value_end = attrs[eq + 2..].find('"').ok_or("an unclosed value")? + eq + 2;
        let value = &attrs[eq + 2..value_end];
        if value.contains('<') {
            return Err(format!("a < in {value:?}"));
        }
        check_text(value)?;
        attrs = &attrs[value_end + 1..];
    }
}

/// One GET, retried until a complete 200.
async fn get_json<T: serde::de::DeserializeOwned>(addr: SocketAddr, path: &str) -> T {
    loop {
        if let Some(r) = parse(&raw(addr, &request_bytes("GET", path, &[], b"")).await) {
            if r.status == 200 && r.complete {
                if let Ok(value) = serde_json::from_slice(&r.body) {
                    return value;
                }
            }
        }
    }
}

/// The client the tests above explore: it sends three messages, retrying
/// under the same key until answered (`CLIENT_BUG=resend`: under a new key
/// when the connection drops, the double send; `CLIENT_BUG=no-key`: one
/// POST without a key), then checks each is stored once. Runs only as the
/// explorer's command.
#[tokio::test]
#[ignore = "the client that the explore tests run as a command"]
async fn client() {
    let Ok(url) = std::env::var("MOCK_CHAT_URL") else {
        return;
    };
    let addr: SocketAddr = url.trim_start_matches("http://").parse().unwrap();
    let bug = std::env::var("CLIENT_BUG").unwrap_or_default();
    let chats: Vec<Chat> = get_json(addr, "/chats").await;
    let john = chats.iter().find(|c| c.name == "John").unwrap();
    let path = format!("/chats/{}/messages", john.id);
    if bug == "no-key" {
        let _ = raw(addr, &request_bytes("POST", &path, &[], br#"{"text":"x"}"#)).await;
        return;
    }
    for i in 0..3 {
        let body = format!(r#"{{"text":"message {i}"}}"#);
        let mut key = format!("key-{i}");
        for attempt in 0.. {
            let bytes = request_bytes("POST", &path, &[("Idempotency-Key", &key)], body.as_bytes());
            match parse(&raw(addr, &bytes).await) {
                Some(r) if r.status == 200 => break,
                None if bug == "resend" => key = format!("key-{i}-again-{attempt}"),
                _ => {}
            }
        }
    }
    let stored: Vec<Message> = get_json(addr, &path).await;
    for i in 0..3 {
        let text = format!("message {i}");
        let n = stored.iter().filter(|m| m.text == text).count();
        if n != 1 {
            println!("{text} stored {n} times");
            std::process::exit(1);
        }
    }
}
