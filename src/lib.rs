#![doc = include_str!("../README.md")]
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
pub mod docs;
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
