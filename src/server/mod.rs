//! Starting, driving and stopping a server.
//!
//! - [`builder`]: [`MockChatServerBuilder`], its options and [`StartError`];
//! - [`budgets`]: the builder's memory budgets, in bytes;
//! - [`handle`]: [`MockChatServer`], the running server's handle, and
//!   [`HandleError`];
//! - [`report`]: what a failing test prints (seed, journal, rerun line);
//! - [`wait`]: the handle's waits and [`WaitTimeout`];
//! - [`transport`]: the accept loop (HTTP/1.1 only, bounded connections,
//!   header timeout) serving the HTTP layer.

mod budgets;
mod builder;
mod handle;
mod report;
mod transport;
mod wait;

pub use builder::{MockChatServerBuilder, StartError, SEED_ENV};
pub use handle::{HandleError, Hold, MessageStream, MockChatServer};
pub use wait::WaitTimeout;
