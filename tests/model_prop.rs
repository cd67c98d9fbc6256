//! Model-based property test: random sequences of operations (post, retry
//! with the same or a different text, inject, reset, subscribe/resume and
//! read, paged history) run against the server and against a tiny model of
//! it, which must agree after every step.
//!
//! Invariants: message ids strictly increasing (and exactly as the model
//! predicts), history at most 100 and oldest first, one message per key,
//! idempotent replays byte-identical, SSE event ids strictly increasing on
//! every connection, and every connection gets exactly the events the model
//! says it should (resumes included).
//!
//! Deterministic: a fixed proptest seed, no failure persistence, a fixed
//! server seed and clock, and silent bots (nothing asynchronous).

mod common;

use std::collections::{HashMap, VecDeque};

use bytes::Bytes;
use chrono::TimeZone;
use eventsource_stream::Event;
use futures::{Stream, StreamExt};
use mock_chat_server::{Author, BotBehavior, Clock, Message, MockChatServer};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

const CHATS: u64 = 4;
const MAX_CONNECTIONS: usize = 3;

#[derive(Debug, Clone)]
enum Op {
    /// POST a new message with a new key.
    Post { chat: u64, text: u8 },
    /// POST again with an earlier key, same chat and text: a replay.
    RetrySame { pick: usize },
    /// POST with an earlier key but another text (or chat): 422.
    RetryDifferent { pick: usize, other_chat: bool },
    /// Inject `n` messages through the handle.
    Inject { chat: u64, n: usize, bot: bool },
    /// Reset the server.
    Reset,
    /// Open an SSE connection: live only, or resuming `back` events behind
    /// the newest (`back == 99`: an id never issued).
    Subscribe { resume: Option<u64> },
    /// Read everything a connection should have received by now.
    Read { pick: usize },
    /// `GET /chats/{chat}/messages` with optional `limit` and `before`.
    Page {
        chat: u64,
        limit: Option<usize>,
        before: Option<usize>,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (1..=CHATS, any::<u8>()).prop_map(|(chat, text)| Op::Post { chat, text }),
        3 => any::<usize>().prop_map(|pick| Op::RetrySame { pick }),
        2 => (any::<usize>(), any::<bool>())
            .prop_map(|(pick, other_chat)| Op::RetryDifferent { pick, other_chat }),
        3 => (1..=CHATS, 1..=60usize, any::<bool>())
            .prop_map(|(chat, n, bot)| Op::Inject { chat, n, bot }),
        1 => Just(Op::Reset),
        2 => prop_oneof![Just(None), (0..=5u64).prop_map(Some), Just(Some(99))]
            .prop_map(|resume| Op::Subscribe { resume }),
        3 => any::<usize>().prop_map(|pick| Op::Read { pick }),
        4 => (
            1..=CHATS,
            prop::option::of(1..=100usize),
            prop::option::of(any::<usize>())
        )
            .prop_map(|(chat, limit, before)| Op::Page { chat, limit, before }),
    ]
}

/// A message as the model knows it: the message, and the exact bytes the
/// POST answered with (for posted ones).
#[derive(Debug, Clone)]
struct Known {
    message: Message,
    body: Option<Bytes>,
}

#[derive(Debug, Clone)]
struct Posted {
    chat: u64,
    text: String,
    body: Bytes,
}

type Events = std::pin::Pin<Box<dyn Stream<Item = Event> + Send>>;

struct Connection {
    events: Events,
    /// Event ids and messages it must deliver next, in order.
    expected: VecDeque<(u64, Known)>,
    last_id: Option<u64>,
}

struct Model {
    fixtures: Vec<Vec<Known>>,
    chats: Vec<Vec<Known>>,
    next_id: u64,
    /// Every event published since the last reset (the replay log never
    /// fills in these short runs).
    log: Vec<(u64, Known)>,
    keys: HashMap<String, Posted>,
    key_order: Vec<String>,
    key_seq: u64,
    connections: Vec<Connection>,
}

impl Model {
    fn new(server: &MockChatServer) -> Self {
        let fixtures: Vec<Vec<Known>> = (1..=CHATS)
            .map(|c| {
                server
                    .messages(c)
                    .into_iter()
                    .map(|message| Known {
                        message,
                        body: None,
                    })
                    .collect()
            })
            .collect();
        let next_id = fixtures
            .iter()
            .flatten()
            .map(|k| k.message.id)
            .max()
            .unwrap_or(0)
            + 1;
        Model {
            chats: fixtures.clone(),
            fixtures,
            next_id,
            log: Vec::new(),
            keys: HashMap::new(),
            key_order: Vec::new(),
            key_seq: 0,
            connections: Vec::new(),
        }
    }

    fn next_event_id(&self) -> u64 {
        self.log.len() as u64 + 1
    }

    /// A message was stored: check its id, then store and publish it.
    fn stored(&mut self, known: Known) {
        assert_eq!(known.message.id, self.next_id, "ids are assigned in order");
        self.next_id += 1;
        let id = self.next_event_id();
        self.log.push((id, known.clone()));
        for c in &mut self.connections {
            c.expected.push_back((id, known.clone()));
        }
        self.chats[known.message.chat_id as usize - 1].push(known);
    }
}

async fn post(server: &MockChatServer, chat: u64, key: &str, text: &str) -> reqwest::Response {
    common::post(server, chat, key, text).await.expect("POST")
}

async fn open(server: &MockChatServer, last_event_id: Option<u64>) -> Events {
    let id = last_event_id.map(|i| i.to_string());
    Box::pin(common::sse(server, id.as_deref()).await)
}

/// Reads everything `c` should have been sent, checking ids and payloads.
async fn drain(c: &mut Connection) {
    let n = c.expected.len();
    if n == 0 {
        return;
    }
    let got = common::next_events(&mut c.events, n).await;
    for e in got {
        let (want_id, want) = c.expected.pop_front().unwrap();
        let id: u64 = e.id.parse().expect("numeric event id");
        if let Some(last) = c.last_id {
            assert!(id > last, "event ids went backwards: {last} then {id}");
        }
        c.last_id = Some(id);
        assert_eq!(id, want_id, "event id");
        assert_eq!(common::message_of(&e), want.message, "event payload");
        if let Some(body) = &want.body {
            assert_eq!(
                e.data.as_bytes(),
                &body[..],
                "SSE data differs from the POST answer"
            );
        }
    }
}

async fn apply(server: &MockChatServer, model: &mut Model, op: &Op) {
    match op {
        Op::Post { chat, text } => {
            model.key_seq += 1;
            let key = format!("key-{}", model.key_seq);
            let text = format!("text {text}");
            let res = post(server, *chat, &key, &text).await;
            assert_eq!(res.status(), 200);
            assert!(res.headers().get("idempotent-replayed").is_none());
            let body = res.bytes().await.unwrap();
            let message: Message = serde_json::from_slice(&body).unwrap();
            assert_eq!(
                (
                    message.chat_id,
                    message.author,
                    &message.text,
                    &message.idempotency_key
                ),
                (*chat, Author::User, &text, &key)
            );
            model.keys.insert(
                key.clone(),
                Posted {
                    chat: *chat,
                    text,
                    body: body.clone(),
                },
            );
            model.key_order.push(key);
            model.stored(Known {
                message,
                body: Some(body),
            });
        }
        Op::RetrySame { pick } => {
            let Some(key) = pick_from(&model.key_order, *pick) else {
                return;
            };
            let p = model.keys[&key].clone();
            let res = post(server, p.chat, &key, &p.text).await;
            assert_eq!(res.status(), 200);
            assert_eq!(res.headers()["idempotent-replayed"], "true");
            let body = res.bytes().await.unwrap();
            assert_eq!(body, p.body, "a replay must be byte-identical");
        }
        Op::RetryDifferent { pick, other_chat } => {
            let Some(key) = pick_from(&model.key_order, *pick) else {
                return;
            };
            let p = model.keys[&key].clone();
            let (chat, text) = if *other_chat {
                (p.chat % CHATS + 1, p.text.clone())
            } else {
                (p.chat, format!("{} (edited)", p.text))
            };
            let res = post(server, chat, &key, &text).await;
            common::assert_error(res, 422, "idempotency_key_reused").await;
        }
        Op::Inject { chat, n, bot } => {
            let author = if *bot { Author::Bot } else { Author::User };
            for i in 0..*n {
                let message = server
                    .inject_message(*chat, author, format!("injected {i}"))
                    .unwrap();
                assert_eq!((message.chat_id, message.author), (*chat, author));
                model.stored(Known {
                    message,
                    body: None,
                });
            }
        }
        Op::Reset => {
            for c in &mut model.connections {
                drain(c).await;
            }
            server.reset();
            // Every stream is ended by the reset.
            for mut c in model.connections.drain(..) {
                let next = tokio::time::timeout(common::PATIENCE, c.events.next())
                    .await
                    .expect("a stream outlived the reset");
                assert!(next.is_none(), "an event after the reset: {next:?}");
            }
            model.chats = model.fixtures.clone();
            model.next_id = model
                .fixtures
                .iter()
                .flatten()
                .map(|k| k.message.id)
                .max()
                .unwrap_or(0)
                + 1;
            model.log.clear();
            model.keys.clear();
            model.key_order.clear();
        }
        Op::Subscribe { resume } => {
            if model.connections.len() >= MAX_CONNECTIONS {
                return;
            }
            let newest = model.log.len() as u64; // 0 when nothing was published
            let (last_event_id, expected) = match resume {
                None => (None, VecDeque::new()),
                Some(99) => (Some(newest + 7), model.log.iter().cloned().collect()),
                Some(back) => {
                    let after = newest.saturating_sub(*back);
                    let expected = model
                        .log
                        .iter()
                        .filter(|(id, _)| *id > after)
                        .cloned()
                        .collect();
                    (Some(after), expected)
                }
            };
            let events = open(server, last_event_id).await;
            model.connections.push(Connection {
                events,
                expected,
                last_id: None,
            });
        }
        Op::Read { pick } => {
            let len = model.connections.len();
            if len > 0 {
                drain(&mut model.connections[pick % len]).await;
            }
        }
        Op::Page {
            chat,
            limit,
            before,
        } => {
            let history = &model.chats[*chat as usize - 1];
            let before_id = before.map(|p| {
                // Mostly an id from this chat, sometimes any id at all.
                if p % 4 != 0 && !history.is_empty() {
                    history[p % history.len()].message.id
                } else {
                    (p % (model.next_id as usize + 5)).max(1) as u64
                }
            });
            let mut path = format!("/chats/{chat}/messages");
            let mut sep = '?';
            if let Some(l) = limit {
                path.push_str(&format!("{sep}limit={l}"));
                sep = '&';
            }
            if let Some(b) = before_id {
                path.push_str(&format!("{sep}before={b}"));
            }
            let res = common::client()
                .get(server.url(&path))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200, "{path}");
            let page: Vec<Message> = res.json().await.unwrap();
            let older: Vec<&Known> = history
                .iter()
                .filter(|k| before_id.map_or(true, |b| k.message.id < b))
                .collect();
            let want = limit.unwrap_or(100);
            let expected: Vec<Message> = older[older.len().saturating_sub(want)..]
                .iter()
                .map(|k| k.message.clone())
                .collect();
            assert!(page.len() <= 100);
            assert!(
                page.windows(2).all(|w| w[0].id < w[1].id),
                "{path}: not oldest first"
            );
            assert_eq!(page, expected, "{path}");
        }
    }
}

fn pick_from(keys: &[String], pick: usize) -> Option<String> {
    (!keys.is_empty()).then(|| keys[pick % keys.len()].clone())
}

/// The whole server state against the model, after every operation.
fn check_state(server: &MockChatServer, model: &Model) {
    let mut keys = HashMap::new();
    for chat in 1..=CHATS {
        let stored = server.messages(chat);
        assert!(
            stored.windows(2).all(|w| w[0].id < w[1].id),
            "chat {chat} out of order"
        );
        let expected: Vec<&Message> = model.chats[chat as usize - 1]
            .iter()
            .map(|k| &k.message)
            .collect();
        assert_eq!(stored.iter().collect::<Vec<_>>(), expected, "chat {chat}");
        for m in stored.iter().filter(|m| m.author == Author::User) {
            let dup = keys.insert(m.idempotency_key.clone(), m.id);
            assert!(dup.is_none(), "two messages with key {}", m.idempotency_key);
        }
    }
}

async fn run(ops: Vec<Op>) {
    let server = MockChatServer::builder()
        .seed(1234)
        .bot(BotBehavior::Silent)
        .clock(Clock::fixed(
            chrono::Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
            std::time::Duration::from_millis(250),
        ))
        .start()
        .await;
    let mut model = Model::new(&server);
    for op in &ops {
        apply(&server, &mut model, op).await;
        check_state(&server, &model);
    }
    for c in &mut model.connections {
        drain(c).await;
    }
}

proptest! {
    #![proptest_config(Config {
        cases: 32,
        rng_seed: RngSeed::Fixed(0x6d6f_636b_6368_6174),
        failure_persistence: None,
        max_shrink_iters: 256,
        ..Config::default()
    })]

    #[test]
    fn the_server_behaves_like_the_model(ops in prop::collection::vec(op(), 1..=30)) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(run(ops));
    }
}
