//! A chat client that survives the real server, in one file to copy.
//!
//! ```sh
//! cargo run --example resilient_client                      # in-process hostile mock
//! cargo run --example resilient_client -- --url http://localhost:3000 --messages 10
//! ```
//!
//! It follows the event stream, sends `--messages` messages one at a time
//! (each under its own `Idempotency-Key`), waits until each is seen on the
//! stream, then checks the chat's history: every text stored exactly once.
//!
//! What the wire does, and what this client does about it:
//! - `POST /chats/{id}/messages` with `Idempotency-Key` and `{"text": ...}`:
//!   200 + the message JSON = stored now. **200 + empty body = this key was
//!   stored by an earlier attempt whose answer we lost**: find the message
//!   with that `idempotency_key` in the history. 503, 504, connection errors,
//!   our own timeouts and unparseable (cut) bodies: retry with the SAME key,
//!   after an exponential, jittered backoff. 400: our bug, stop.
//! - JSON answers say `Content-Type: text/plain`: parse the body regardless.
//! - `GET /events?stream=messages` sends `id: N` / `data: {message}` frames.
//!   Every message may come 1-3 times (each copy with its own id), a new
//!   stream replays the whole log, and every stream ends after 30 s. We
//!   reconnect with `Last-Event-ID` (the server sends that event again) and
//!   drop messages we have already seen, by message id.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use eventsource_stream::Eventsource;
use futures::StreamExt;
use rand::Rng;
use serde::Deserialize;
use tokio::sync::mpsc;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

#[derive(Parser, Debug, Clone)]
struct Args {
    /// Server to talk to; without it, an in-process hostile mock is started.
    #[arg(long)]
    url: Option<String>,
    /// How many messages to send.
    #[arg(long, default_value_t = 20)]
    messages: usize,
    /// Seed of the in-process mock (random if not given).
    #[arg(long)]
    seed: Option<u64>,
    /// Give up on one HTTP attempt after this long [default: 10000, mock: 1000].
    #[arg(long)]
    timeout_ms: Option<u64>,
    /// First backoff between retries; doubles up to the cap [default: 250, mock: 5].
    #[arg(long)]
    backoff_ms: Option<u64>,
    /// Longest backoff [default: 8000, mock: 200].
    #[arg(long)]
    backoff_cap_ms: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
struct Chat {
    id: String, // a UUID
    name: String,
}

#[derive(Debug, Clone, Deserialize)]
#[allow(dead_code)] // the whole wire shape, though this client reads only some fields
struct Message {
    id: String,
    chat_id: String,
    author: String, // "user" or "bot"
    text: String,
    sent_at: String,
    idempotency_key: String,
}

/// An HTTP client that retries, plus counters for the summary.
struct Client {
    http: reqwest::Client,
    base: String,
    backoff: Duration,
    backoff_cap: Duration,
    retries: AtomicU32,
    reconciliations: AtomicU32,
}

impl Client {
    /// Sends `text` to `chat` exactly once, however many attempts it takes.
    async fn send(&self, chat: &str, text: &str) -> Result<Message> {
        // One key per message, drawn once and reused by every retry: that is
        // what lets the server tell a retry from a new message.
        let key = uuid::Uuid::new_v4().to_string();
        let url = format!("{}/chats/{chat}/messages", self.base);
        let body = serde_json::json!({ "text": text });
        let request = || {
            self.http
                .post(&url)
                .header("Idempotency-Key", &key)
                .json(&body)
        };
        // `None`: an empty 200, i.e. the key was stored by an earlier attempt.
        let parse = |b: &[u8]| match b {
            [] => Some(None),
            _ => serde_json::from_slice(b).ok().map(Some),
        };
        if let Some(message) = self.call(request, parse).await? {
            return Ok(message);
        }
        // Reconcile: the message is in the history under our key.
        self.reconciliations.fetch_add(1, Relaxed);
        let history: Vec<Message> = self.get(&format!("/chats/{chat}/messages")).await?;
        let found = history.into_iter().find(|m| m.idempotency_key == key);
        found.ok_or_else(|| format!("key {key} stored but not in the last 100 messages").into())
    }

    /// `GET /chats` (all chats, in any order) or `GET /chats/{id}/messages`
    /// (the 100 most recent messages, oldest first), retried.
    async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T> {
        let url = format!("{}{path}", self.base);
        self.call(|| self.http.get(&url), |b| serde_json::from_slice(b).ok())
            .await
    }

    /// Sends `request` until a 200 arrives whose body `parse` accepts.
    /// Everything else except a 4xx is worth another try.
    async fn call<T>(
        &self,
        request: impl Fn() -> reqwest::RequestBuilder,
        parse: impl Fn(&[u8]) -> Option<T>,
    ) -> Result<T> {
        for attempt in 0..50 {
            if attempt > 0 {
                self.retries.fetch_add(1, Relaxed);
                // Exponential backoff with "equal jitter": half fixed, half random.
                let full = self.backoff.saturating_mul(1 << (attempt - 1).min(16));
                let full = full.min(self.backoff_cap).as_millis() as u64;
                let ms = full / 2 + rand::thread_rng().gen_range(0..=full / 2);
                tokio::time::sleep(Duration::from_millis(ms)).await;
            }
            // Connection refused/reset, our timeout, or a body cut short:
            // we cannot know whether a POST was stored. Retry, same key.
            let response = match request().send().await {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("  retrying after: {}", describe(&e));
                    continue;
                }
            };
            let status = response.status();
            let body = response.bytes().await;
            match (status.as_u16(), body) {
                (200, Ok(body)) => match parse(&body) {
                    Some(value) => return Ok(value),
                    None => eprintln!("  retrying after: unreadable body ({} bytes)", body.len()),
                },
                (400..=499, body) => {
                    let text = body.map(|b| String::from_utf8_lossy(&b).into_owned());
                    return Err(format!("HTTP {status}: {}", text.unwrap_or_default()).into());
                }
                (_, Err(e)) => eprintln!("  retrying after: HTTP {status}, body: {}", describe(&e)),
                (_, Ok(_)) => eprintln!("  retrying after: HTTP {status}"),
            }
        }
        Err("gave up after 50 attempts".into())
    }
}

/// reqwest's own message hides the cause ("error sending request"): show it.
fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "our timeout".into();
    }
    let (mut text, mut cause) = (e.to_string(), std::error::Error::source(e));
    while let Some(c) = cause {
        text = format!("{text}: {c}");
        cause = c.source();
    }
    text
}

/// Follows the message stream forever, handing each message on once.
async fn follow_stream(
    http: reqwest::Client,
    base: String,
    idle: Duration,
    out: mpsc::UnboundedSender<Message>,
    reconnects: Arc<AtomicU32>,
) {
    let mut seen = HashSet::new(); // message ids: copies and replays repeat them
    let mut last_event_id: Option<String> = None;
    loop {
        let mut request = http.get(format!("{base}/events?stream=messages"));
        if let Some(id) = &last_event_id {
            // The server resends event `id` itself, then everything after it.
            request = request.header("Last-Event-ID", id);
        }
        match request.send().await {
            Ok(response) if response.status() == 200 => {
                let mut events = response.bytes_stream().eventsource();
                // Ends when the server closes the stream (every 30 s), when
                // the connection breaks, or when nothing arrives for `idle`.
                while let Ok(Some(Ok(event))) = tokio::time::timeout(idle, events.next()).await {
                    if !event.id.is_empty() {
                        last_event_id = Some(event.id.clone());
                    }
                    match serde_json::from_str::<Message>(&event.data) {
                        Ok(m) if seen.insert(m.id.clone()) => {
                            if out.send(m).is_err() {
                                return; // nobody is listening any more
                            }
                        }
                        Ok(_) => {} // a copy or a replay
                        Err(e) => eprintln!("  stream: skipping bad event {}: {e}", event.id),
                    }
                }
            }
            Ok(response) => eprintln!("  stream: HTTP {}", response.status()),
            Err(e) => eprintln!("  stream: {}", describe(&e)),
        }
        reconnects.fetch_add(1, Relaxed);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Without --url: a mock with the real server's chaos and more, 100x
/// faster (its 5 s timeouts last 50 ms, its streams end after 0.3 s).
async fn start_mock(seed: Option<u64>) -> mock_chat_server::MockChatServer {
    let seed = seed.unwrap_or_else(rand::random);
    println!("in-process hostile mock, seed {seed}");
    let builder = mock_chat_server::MockChatServer::builder().seed(seed);
    let builder = builder.faults(mock_chat_server::FaultPlan::hostile());
    builder.time_scale(0.01).start().await
}

/// Client-side clocks: real-server defaults, or compressed for the mock.
fn clock(flag: Option<u64>, mocked: bool, real: u64, compressed: u64) -> Duration {
    Duration::from_millis(flag.unwrap_or(if mocked { compressed } else { real }))
}

/// The first chat by name (the server lists them in any order).
async fn pick_chat(client: &Client) -> Result<Chat> {
    let mut chats: Vec<Chat> = client.get("/chats").await?;
    chats.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(chats.first().ok_or("the server has no chats")?.clone())
}

/// Sends `count` messages, one at a time; the texts are unique to this run.
async fn send_all(client: &Client, chat: &Chat, count: usize) -> Result<Vec<Message>> {
    let run_tag = &uuid::Uuid::new_v4().to_string()[..8];
    let mut sent = Vec::new();
    for i in 1..=count {
        let message = client
            .send(&chat.id, &format!("resilient {run_tag} #{i}"))
            .await?;
        println!("  stored #{i} as {}", message.id);
        sent.push(message);
    }
    Ok(sent)
}

/// Waits (up to `limit`) until every sent message has come through the
/// stream; returns how many did.
async fn wait_until_seen(
    sent: &[Message],
    rx: &mut mpsc::UnboundedReceiver<Message>,
    limit: Duration,
) -> usize {
    let mut waiting: HashSet<String> = sent.iter().map(|m| m.id.clone()).collect();
    let _ = tokio::time::timeout(limit, async {
        while let Some(m) = rx.recv().await {
            waiting.remove(&m.id);
            if waiting.is_empty() {
                break;
            }
        }
    })
    .await;
    sent.len() - waiting.len()
}

/// How many sent texts the history holds exactly once (the last 100
/// messages: enough, as long as nobody else writes to this chat meanwhile).
async fn count_stored_once(client: &Client, chat: &Chat, sent: &[Message]) -> Result<usize> {
    let history: Vec<Message> = client.get(&format!("/chats/{}/messages", chat.id)).await?;
    let mut stored_once = 0;
    for m in sent {
        match history.iter().filter(|h| h.text == m.text).count() {
            1 => stored_once += 1,
            0 => eprintln!("LOST: {:?}", m.text),
            n => eprintln!("STORED {n} TIMES: {:?}", m.text),
        }
    }
    Ok(stored_once)
}

/// Runs the whole scenario and prints a summary; `Ok(true)` if every
/// message was stored exactly once and seen on the stream.
async fn run(args: Args) -> Result<bool> {
    let mock = match args.url {
        None => Some(start_mock(args.seed).await),
        Some(_) => None,
    };
    let base = match (&mock, &args.url) {
        (Some(server), _) => server.uri(),
        (None, url) => url
            .as_deref()
            .unwrap_or_default()
            .trim_end_matches('/')
            .into(),
    };
    let ms = |flag, real, compressed| clock(flag, mock.is_some(), real, compressed);
    let timeout = ms(args.timeout_ms, 10_000, 1_000);
    let client = Client {
        http: reqwest::Client::builder().timeout(timeout).build()?,
        base: base.clone(),
        backoff: ms(args.backoff_ms, 250, 5),
        backoff_cap: ms(args.backoff_cap_ms, 8_000, 200),
        retries: AtomicU32::new(0),
        reconciliations: AtomicU32::new(0),
    };

    // 1. Pick a chat.
    let chat = pick_chat(&client).await?;
    println!("chat {} ({}) on {base}", chat.name, chat.id);

    // 2. Follow the stream. No overall timeout on its HTTP client: a stream
    //    is long-lived; the follower notices silence itself.
    let (tx, mut rx) = mpsc::unbounded_channel();
    let reconnects = Arc::new(AtomicU32::new(0));
    let http = reqwest::Client::builder()
        .connect_timeout(timeout)
        .build()?;
    let idle = ms(None, 60_000, 2_000);
    let follower = tokio::spawn(follow_stream(http, base, idle, tx, reconnects.clone()));

    // 3. Send; 4. wait until the stream has shown every message; 5. check
    //    the history.
    let sent = send_all(&client, &chat, args.messages).await?;
    let seen = wait_until_seen(&sent, &mut rx, ms(None, 120_000, 20_000)).await;
    follower.abort();
    let stored_once = count_stored_once(&client, &chat, &sent).await?;

    println!(
        "sent {}, stored {stored_once} once each, seen on stream {seen}, retries {}, \
         empty-200 reconciliations {}, stream reconnects {}",
        sent.len(),
        client.retries.load(Relaxed),
        client.reconciliations.load(Relaxed),
        reconnects.load(Relaxed)
    );
    Ok(stored_once == sent.len() && seen == sent.len())
}

#[tokio::main]
async fn main() {
    match run(Args::parse()).await {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn survives_the_hostile_mock() {
        let args = Args::parse_from(["resilient_client", "--messages", "8", "--seed", "7"]);
        assert!(
            run(args).await.expect("the run"),
            "lost or duplicated messages"
        );
    }

    /// The exactly-once soak: several seeds of hostile chaos, every message
    /// stored once and seen once, whatever replays and copies add.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn stores_every_message_exactly_once_across_seeds() {
        for seed in 1..=4 {
            let seed = seed.to_string();
            let args = Args::parse_from(["resilient_client", "--messages", "30", "--seed", &seed]);
            assert!(run(args).await.expect("the run"), "seed {seed}");
        }
    }
}
