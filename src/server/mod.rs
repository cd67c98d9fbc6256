//! Starting, driving and stopping a server.
//!
//! - [`builder`]: [`MockChatServerBuilder`] and its options;
//! - [`error`]: [`StartError`], why a server could not start;
//! - [`budgets`]: the builder's memory budgets, in bytes;
//! - [`handle`]: [`MockChatServer`], the running server's handle, and
//!   [`HandleError`];
//! - [`report`]: what a failing test prints (seed, journal, rerun line);
//! - [`wait`]: the handle's waits and [`WaitTimeout`];
//! - [`transport`]: the accept loop (HTTP/1.1 only, bounded connections
//!   that evict the idle at the cap, head deadlines) serving the HTTP layer.

mod budgets;
mod builder;
mod error;
mod handle;
mod report;
mod transport;
mod wait;

#[cfg(feature = "cli")]
pub(crate) use builder::{max_connections_for_file_limit, DEFAULT_MAX_CONNECTIONS};
pub use builder::{MockChatServerBuilder, SEED_ENV};
pub use error::StartError;
pub use handle::{HandleError, Hold, MessageStream, MockChatServer};
pub use wait::WaitTimeout;
