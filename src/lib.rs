#![doc = include_str!("../README.md")]
#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod activity;
mod app;
mod bot;
mod chaos;
#[cfg(feature = "cli")]
pub mod cli;
mod clock;
mod diagnostics;
pub mod docs;
mod events;
pub mod explore;
mod fixtures;
mod http;
mod key;
mod model;
mod records;
mod seeded;
mod server;
mod store;
mod sync;
mod wire;

pub use bot::{BotBehavior, BotFn, DEFAULT_LINES};
pub use chaos::{
    Delay, EntryKind, Fault, FaultPlan, FaultScript, JournalEntry, JsonRoute, PlanError, Route,
    RouteFaults, ScriptError, ScriptedCopies, ScriptedRequest, ScriptedStream, StreamFaults,
    SCRIPT_ENV,
};
pub use clock::Clock;
pub use diagnostics::{Diagnostic, DiagnosticKind};
pub use events::{DuplicateIds, Replay};
pub use fixtures::{ChatFixture, MessageFixture};
pub use key::IdempotencyKey;
pub use model::{Author, Chat, ChatId, IdParseError, IdStyle, Message, MessageId};
pub use records::{RecordedHeaders, RecordedRequest};
pub use server::{
    HandleError, Hold, MessageStream, MockChatServer, MockChatServerBuilder, StartError,
    WaitTimeout, SEED_ENV,
};
