//! # mock-chat-server
//!
//! A faithful, in-process test double of the "client challenge" chat
//! server (chats, messages, bots that answer, an SSE stream) that is
//! **flaky on purpose, but reproducibly so**. The wire is the real
//! server's, byte for byte: UUID ids, plain-text errors, an empty 200 for a
//! reused idempotency key, the whole event log replayed to every new SSE
//! subscriber, streams that end every 30 s. Every fault (a 503, a 5 s
//! timeout, a dropped connection after the message was stored, an event
//! delivered three times) is drawn from a seeded ChaCha RNG: the same seed
//! and the same requests give the same faults, and a failing test prints
//! its seed.
//!
//! Each test gets its own server on `127.0.0.1:<ephemeral port>`, served as
//! a task on the test's own tokio runtime; dropping the handle stops it.
//!
//! ```
//! use mock_chat_server::{Fault, MockChatServer, Route};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let server = MockChatServer::builder().seed(7).start().await;
//! // Any HTTP client works; this one is plain tokio, to keep the example small.
//! let (status, body) = get(&server.address(), "/chats").await;
//! assert_eq!(status, 200);
//! assert!(body.contains(r#""name":"John""#));
//!
//! // Faults can be drawn from a plan, or forced for the next request:
//! server.force(Route::GetChats, Fault::Unavailable);
//! let (status, body) = get(&server.address(), "/chats").await;
//! assert_eq!((status, body.as_str()), (503, "unavailable\n"));
//! assert_eq!(server.journal().last().unwrap().fault, Some(Fault::Unavailable));
//! # }
//! # async fn get(addr: &std::net::SocketAddr, path: &str) -> (u16, String) {
//! #     use tokio::io::{AsyncReadExt, AsyncWriteExt};
//! #     let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
//! #     s.write_all(format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").as_bytes()).await.unwrap();
//! #     let mut out = String::new();
//! #     s.read_to_string(&mut out).await.unwrap();
//! #     let status = out[9..12].parse().unwrap();
//! #     let body = out.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
//! #     (status, body)
//! # }
//! ```
//!
//! See the README for the wire, the differences from the real server, the
//! fault catalogue and its presets ([`FaultPlan::reference`],
//! [`FaultPlan::hostile`]), and `examples/serve.rs` for the standalone
//! server.
//!
//! ## Layout
//! - `model`: the entities and typed wire ids;
//! - `fixtures`: the chats present at start and after each reset;
//! - `wire`: byte-exact Go emulation (JSON encoding and decoding, times,
//!   UUID parsing, `Atoi`); no HTTP;
//! - `key`: idempotency keys as bytes, compared as Go compares them;
//! - `store`: chats, messages, idempotency keys; no HTTP;
//! - `events`: the shared, bounded SSE event log and its cursors;
//! - `chaos`: routes, faults, plans, the journal and the decision engine;
//!   no HTTP;
//! - `bot`: what the bots answer, and when;
//! - `records`: the bounded record of received requests;
//! - `clock`, `seeded`, `sync`: time, seeded randomness, locks and rings;
//! - `app`: one server's state; the only way down from HTTP;
//! - `http`: routing, requests, the reference's answers, chaos acted out,
//!   the stream, the reference's CORS (go-chi/cors), the admin API;
//! - `server`: the builder and its memory budgets, the handle, the failure
//!   report, the accept loop and its connection registry.

#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod activity;
mod admin;
mod app;
mod bot;
pub mod chaos;
#[cfg(feature = "cli")]
pub mod cli;
mod clock;
pub mod config;
pub mod diagnostics;
mod events;
pub mod explore;
mod feed;
mod fixtures;
mod http;
mod key;
mod model;
pub mod records;
mod seeded;
mod server;
mod store;
mod sync;
mod wire;

pub use chaos::{Fault, FaultPlan, Route};
pub use model::{Author, Chat, ChatId, IdParseError, IdStyle, Message, MessageId};
pub use server::{
    HandleError, Hold, MessageStream, MockChatServer, MockChatServerBuilder, StartError,
    WaitTimeout,
};

/// The README's examples, run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
