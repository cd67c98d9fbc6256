//! A chat client that survives the real server.
//!
//! This file is the reusable part of `examples/resilient_client.rs`; the soak
//! test (`tests/soak.rs`) includes the very same file, so what the README
//! documents is what is tested. Copy it into your project and adapt.
//!
//! Two halves:
//! - [`ChatClient::send`]: POST a message **exactly once**, whatever the
//!   network does: one idempotency key per message, kept across retries;
//!   retry 5xx, timeouts, dropped connections and truncated bodies with
//!   exponential backoff and seeded jitter; wait on 409; give up loudly on
//!   422 and other 4xx.
//! - [`follow_events`]: follow `/events?stream=messages` forever: reconnect
//!   with `Last-Event-ID` whenever the stream breaks, and hand each message
//!   to the application **once**, however many times it is delivered.

use std::collections::HashSet;
use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use eventsource_stream::Eventsource;
use futures::StreamExt;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;
use tokio::sync::{mpsc, watch};

/// A message as the server sends it. The client keeps its own type rather
/// than borrowing the server's, as a real client would.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Message {
    pub id: u64,
    pub chat_id: u64,
    pub author: String,
    pub text: String,
    pub sent_at: String,
    pub idempotency_key: String,
}

/// Knobs of the client. [`Config::new`] has production-like defaults.
#[derive(Debug, Clone)]
pub struct Config {
    /// `http://host:port`, without a trailing slash.
    pub base_url: String,
    /// How long one POST attempt may take, answer included.
    pub request_timeout: Duration,
    /// First retry waits about this long; each retry doubles it...
    pub backoff_base: Duration,
    /// ...up to this cap.
    pub backoff_max: Duration,
    /// Attempts per message before giving up (first try included).
    pub max_attempts: u32,
    /// An SSE connection silent for this long is presumed dead (the server
    /// sends a keep-alive comment every 15 s by default).
    pub sse_idle_timeout: Duration,
    /// Seeds idempotency keys and jitter, so a run can be replayed.
    pub seed: u64,
}

impl Config {
    pub fn new(base_url: impl Into<String>) -> Self {
        Config {
            base_url: base_url.into(),
            request_timeout: Duration::from_secs(10),
            backoff_base: Duration::from_millis(200),
            backoff_max: Duration::from_secs(10),
            max_attempts: 10,
            sse_idle_timeout: Duration::from_secs(45),
            seed: 0,
        }
    }
}

/// Why an attempt did not deliver; every variant is worth another try.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Trouble {
    /// 5xx (or 408/429): the server says "not now".
    Status(u16),
    /// No answer within `request_timeout`.
    Timeout,
    /// The connection broke before a whole answer arrived.
    Dropped,
    /// 200, but the body is not a whole message (cut short).
    Truncated,
    /// 409: the first request with this key is still being processed.
    InFlight,
}

impl fmt::Display for Trouble {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Trouble::Status(s) => write!(f, "HTTP {s}"),
            Trouble::Timeout => f.write_str("client timeout"),
            Trouble::Dropped => f.write_str("dropped connection"),
            Trouble::Truncated => f.write_str("truncated body"),
            Trouble::InFlight => f.write_str("409 key in use"),
        }
    }
}

/// What one POST attempt produced.
#[derive(Debug)]
pub enum Attempt {
    /// 200 with a whole message. `body` is the exact bytes received.
    Delivered {
        message: Message,
        body: Bytes,
        replayed: bool,
    },
    /// Try again, with the same key, after a pause.
    Retry(Trouble),
    /// Retrying cannot help: the request itself is wrong.
    Fatal(SendError),
}

/// Why [`ChatClient::send`] gave up. Each one is loud on purpose: it means a
/// bug in the caller or a server that stayed down through every retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// 422 `idempotency_key_reused`: this key was already used for another
    /// message. Retrying would be wrong; the caller reused a key.
    KeyReused { key: String },
    /// Another 4xx (bad chat id, empty text, ...).
    Rejected {
        status: u16,
        code: String,
        message: String,
    },
    /// Every attempt failed.
    GaveUp { attempts: u32, last: Trouble },
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::KeyReused { key } => write!(
                f,
                "idempotency key {key} was already used for a different message (422)"
            ),
            SendError::Rejected {
                status,
                code,
                message,
            } => write!(f, "rejected with {status} {code}: {message}"),
            SendError::GaveUp { attempts, last } => {
                write!(f, "gave up after {attempts} attempts (last: {last})")
            }
        }
    }
}

impl std::error::Error for SendError {}

/// A delivered message and what it took.
#[derive(Debug, Clone)]
pub struct Sent {
    pub message: Message,
    pub attempts: u32,
    /// Whether the final answer was an idempotent replay (an earlier attempt
    /// had been stored, but its answer was lost).
    pub replayed: bool,
    /// What went wrong on the way, in order.
    pub troubles: Vec<Trouble>,
}

/// The POSTing half.
#[derive(Debug, Clone)]
pub struct ChatClient {
    http: reqwest::Client,
    config: Config,
}

impl ChatClient {
    pub fn new(config: Config) -> Self {
        let http = reqwest::Client::builder()
            // A connect that hangs is a failed attempt like any other.
            .connect_timeout(config.request_timeout)
            .build()
            .expect("an HTTP client with default TLS-less settings");
        ChatClient { http, config }
    }

    /// The random source for one message: its key and its jitter. Seeded by
    /// `(seed, n)`, so message `n` gets the same key and waits on every run.
    pub fn rng_for(&self, n: u64) -> ChaCha8Rng {
        let mut rng = ChaCha8Rng::seed_from_u64(self.config.seed);
        rng.set_stream(n);
        rng
    }

    /// A fresh idempotency key: a UUID v4 drawn from `rng`. Make it once per
    /// message, *before* the first attempt, and keep it for every retry.
    pub fn new_key(rng: &mut impl Rng) -> String {
        uuid::Builder::from_random_bytes(rng.gen())
            .into_uuid()
            .to_string()
    }

    /// How long to wait before retry number `retry` (1 = first retry):
    /// exponential (`base × 2^(retry-1)`, capped), with "equal jitter":
    /// half of it fixed, half uniformly random. The jitter spreads retries
    /// of many clients so they do not hit a recovering server in lockstep.
    pub fn backoff(&self, retry: u32, rng: &mut impl Rng) -> Duration {
        backoff(&self.config, retry, rng)
    }

    /// Sends the `n`-th message of a run: draws its key (once, before the
    /// first attempt) and its jitter from [`rng_for(n)`](Self::rng_for),
    /// then [`send`](Self::send)s it. Returns the key with the outcome.
    pub async fn send_nth(
        &self,
        n: u64,
        chat_id: u64,
        text: &str,
    ) -> (String, Result<Sent, SendError>) {
        let mut rng = self.rng_for(n);
        let key = Self::new_key(&mut rng);
        let sent = self.send(chat_id, text, &key, &mut rng).await;
        (key, sent)
    }

    /// Sends `text` to `chat_id` once, retrying as needed with the same key.
    pub async fn send(
        &self,
        chat_id: u64,
        text: &str,
        key: &str,
        rng: &mut impl Rng,
    ) -> Result<Sent, SendError> {
        let mut troubles = Vec::new();
        for attempt in 1..=self.config.max_attempts {
            match self.attempt(chat_id, text, key).await {
                Attempt::Delivered {
                    message, replayed, ..
                } => {
                    return Ok(Sent {
                        message,
                        attempts: attempt,
                        replayed,
                        troubles,
                    })
                }
                Attempt::Fatal(e) => return Err(e),
                Attempt::Retry(trouble) => {
                    troubles.push(trouble);
                    if attempt < self.config.max_attempts {
                        // 409 and failures alike: wait, then try again.
                        tokio::time::sleep(self.backoff(attempt, rng)).await;
                    }
                }
            }
        }
        Err(SendError::GaveUp {
            attempts: self.config.max_attempts,
            last: *troubles.last().expect("at least one attempt was made"),
        })
    }

    /// One POST attempt, classified.
    pub async fn attempt(&self, chat_id: u64, text: &str, key: &str) -> Attempt {
        let url = format!("{}/chats/{chat_id}/messages", self.config.base_url);
        let res = self
            .http
            .post(url)
            .header("Idempotency-Key", key)
            .json(&serde_json::json!({ "text": text }))
            // The whole attempt, answer body included, has this long.
            .timeout(self.config.request_timeout)
            .send()
            .await;
        let res = match res {
            Ok(res) => res,
            Err(e) => return Attempt::Retry(transport_trouble(&e)),
        };
        let status = res.status().as_u16();
        let replayed = res.headers().contains_key("idempotent-replayed");
        // Read the whole body before deciding: a connection cut mid-body is
        // a failed attempt, not an answer.
        let body = match res.bytes().await {
            Ok(body) => body,
            Err(e) => return Attempt::Retry(transport_trouble(&e)),
        };
        match status {
            200 => match serde_json::from_slice::<Message>(&body) {
                Ok(message) => Attempt::Delivered {
                    message,
                    body,
                    replayed,
                },
                // Half a JSON body: the message may well be stored; the
                // retry (same key) will get the original answer replayed.
                Err(_) => Attempt::Retry(Trouble::Truncated),
            },
            409 => Attempt::Retry(Trouble::InFlight),
            408 | 429 | 500..=599 => Attempt::Retry(Trouble::Status(status)),
            422 => Attempt::Fatal(SendError::KeyReused {
                key: key.to_string(),
            }),
            _ => {
                let (code, message) = error_fields(&body);
                Attempt::Fatal(SendError::Rejected {
                    status,
                    code,
                    message,
                })
            }
        }
    }
}

/// See [`ChatClient::backoff`].
pub fn backoff(config: &Config, retry: u32, rng: &mut impl Rng) -> Duration {
    let exp = config
        .backoff_base
        .saturating_mul(1u32 << retry.saturating_sub(1).min(20));
    let cap = exp.min(config.backoff_max);
    let half = cap / 2;
    half + half.mul_f64(rng.gen::<f64>())
}

fn transport_trouble(e: &reqwest::Error) -> Trouble {
    if e.is_timeout() {
        Trouble::Timeout
    } else {
        Trouble::Dropped
    }
}

/// `error.code` and `error.message` of an error body, as far as readable.
fn error_fields(body: &[u8]) -> (String, String) {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let field = |name: &str| v["error"][name].as_str().unwrap_or("?").to_string();
    (field("code"), field("message"))
}

/// What the event follower saw, for logs and tests.
#[derive(Debug, Clone, Default)]
pub struct FollowStats {
    /// Connections opened (the first one included).
    pub connections: u64,
    /// Events received, duplicates included.
    pub events: u64,
    /// Events dropped because their message had been seen already.
    pub duplicates: u64,
    /// Events whose id was not above the previous one on the same connection
    /// (should stay 0 apart from a resume's deliberate overlap).
    pub out_of_order: u64,
    /// Every event id received, in order (kept for the tests; a production
    /// client needs only the last one).
    pub event_ids: Vec<u64>,
}

/// Follows `/events?stream=messages` until `stop` turns true, sending every
/// message to `out` exactly once. Returns what it saw.
pub async fn follow_events(
    config: Config,
    out: mpsc::UnboundedSender<Message>,
    mut stop: watch::Receiver<bool>,
) -> FollowStats {
    // No overall timeout on this client: an SSE response never "completes".
    let http = reqwest::Client::builder()
        .connect_timeout(config.request_timeout)
        .build()
        .expect("an HTTP client");
    let url = format!("{}/events?stream=messages", config.base_url);
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    rng.set_stream(u64::MAX); // jitter of reconnects, apart from the POSTs'
    let mut stats = FollowStats::default();
    // The resume point: the id of the last event received, from any connection.
    let mut last_event_id: Option<String> = None;
    // Message ids already handed out: the de-duplication set.
    let mut seen: HashSet<u64> = HashSet::new();
    // Connections in a row that delivered nothing: the backoff exponent.
    let mut failures = 0u32;

    while !*stop.borrow() {
        stats.connections += 1;
        let resumed_from = last_event_id.clone();
        let mut req = http.get(&url).header("Accept", "text/event-stream");
        if let Some(id) = &last_event_id {
            req = req.header("Last-Event-ID", id);
        }
        let res = tokio::select! {
            _ = stop.changed() => break,
            res = req.send() => res,
        };
        match res {
            Ok(res) if res.status() == 200 => {
                let mut events = res.bytes_stream().eventsource();
                let mut previous_on_this_connection = None;
                loop {
                    let next = tokio::select! {
                        _ = stop.changed() => return stats,
                        next = tokio::time::timeout(config.sse_idle_timeout, events.next()) => next,
                    };
                    let event = match next {
                        Ok(Some(Ok(event))) => event,
                        // Cut (injected fault, lag, reset, shutdown), parse
                        // error, or silence longer than the keep-alive: reconnect.
                        Ok(Some(Err(_))) | Ok(None) | Err(_) => break,
                    };
                    stats.events += 1;
                    // Remember the position even for a duplicate: it is where
                    // the next connection must resume.
                    if !event.id.is_empty() {
                        last_event_id = Some(event.id.clone());
                        if let Ok(id) = event.id.parse::<u64>() {
                            if previous_on_this_connection.is_some_and(|p| id <= p) {
                                stats.out_of_order += 1;
                            }
                            previous_on_this_connection = Some(id);
                            stats.event_ids.push(id);
                        }
                    }
                    let Ok(message) = serde_json::from_str::<Message>(&event.data) else {
                        continue; // not a message; ignore it
                    };
                    // Copies of a message get their own event ids: de-duplicate
                    // by *message* id, never by event id.
                    if seen.insert(message.id) {
                        if out.send(message).is_err() {
                            return stats; // nobody is listening any more
                        }
                    } else {
                        stats.duplicates += 1;
                    }
                }
            }
            // 400 `invalid_last_event_id` would repeat forever with the same
            // id: forget it (we may then see duplicates, which we drop).
            Ok(res) if res.status() == 400 => last_event_id = None,
            // Anything else (5xx, connection refused, ...): just retry.
            Ok(_) | Err(_) => {}
        }
        // A stream that moved us forward and then ended is resumed at once:
        // every moment away is backlog, and events older than the server's
        // replay log are lost for good. Connections that bring nothing new
        // back off, exponentially.
        if last_event_id != resumed_from {
            failures = 0;
            continue;
        }
        failures += 1;
        let wait = backoff(&config, failures, &mut rng);
        tokio::select! {
            _ = stop.changed() => break,
            _ = tokio::time::sleep(wait) => {}
        }
    }
    stats
}
