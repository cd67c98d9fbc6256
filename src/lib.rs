//! # mock-chat-server
//!
//! An in-process test double of a small chat API (chats, messages, bots that
//! answer, a Server-Sent Events stream) that is **flaky on purpose, but
//! reproducibly so**: every fault — a 503, a timeout, a dropped connection
//! after the message was stored, an event delivered three times — is drawn
//! from a seeded ChaCha RNG. The same seed and the same requests give the
//! same faults, every time, and a failing test prints the seed.
//!
//! Each test gets its own server on `127.0.0.1:<ephemeral port>`, served as a
//! task on the test's own tokio runtime; dropping the handle stops it.
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
//! assert!(body.starts_with(r#"[{"id":1,"name":"General"}"#));
//!
//! // Faults can be drawn from a plan, or forced for the next request:
//! server.force(Route::GetChats, Fault::Unavailable);
//! let (status, body) = get(&server.address(), "/chats").await;
//! assert_eq!(status, 503);
//! assert!(body.contains(r#""code":"unavailable""#));
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
//! See the crate's README for the wire contract, the fault catalogue and
//! its presets ([`FaultPlan::reference`], [`FaultPlan::hostile`]), and
//! `examples/serve.rs` for the standalone server.
//!
//! ## Module map
//! - [`model`]: entities and wire format;
//! - [`chaos`]: fault plan, deterministic decisions, journal;
//! - [`bot`]: what the bots answer;
//! - the store, the SSE hub, the HTTP layer and the server lifecycle are
//!   internal; their surface is [`MockChatServer`] and its builder.

#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod app;
pub mod bot;
pub mod chaos;
mod events;
mod http;
pub mod model;
mod seeded;
mod server;
mod store;

pub use bot::BotBehavior;
pub use chaos::{
    Decision, Delay, EntryKind, Fault, FaultPlan, JournalEntry, PlanError, Route, RouteFaults,
    StreamFaults,
};
pub use model::{
    Author, Chat, ChatFixture, DuplicateIds, ErrorBody, ErrorDetail, IdStyle, Message,
    MessageFixture, RecordedRequest, Replay,
};
pub use server::{Error, MessageStream, MockChatServer, MockChatServerBuilder, SEED_ENV};
pub use store::Clock;
