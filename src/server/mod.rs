//! Starting, driving and stopping a server.
//!
//! - [`builder`]: [`MockChatServerBuilder`] and its options;
//! - [`error`]: [`StartError`], why a server could not start;
//! - [`handle`]: [`MockChatServer`], the running server's handle, and
//!   [`HandleError`];
//! - [`report`]: what a failing test prints (seed, journal, rerun line);
//! - [`resolve`]: where the seed and the fault script come from (one
//!   policy for the builder, the report, the explorer and `serve`);
//! - [`defaults`]: the defaults that are not a plain setting, embedded and
//!   standalone side by side;
//! - [`wait`]: the handle's waits and [`WaitTimeout`];
//! - [`transport`]: the accept loop (HTTP/1.1 only, bounded connections
//!   that evict the idle at the cap, head deadlines) serving the HTTP layer.

mod builder;
pub(crate) mod defaults;
mod error;
mod handle;
mod report;
pub(crate) mod resolve;
mod transport;
mod wait;

#[cfg(feature = "cli")]
pub(crate) use builder::check_time_scale;
pub use builder::MockChatServerBuilder;
pub use error::StartError;
pub use handle::{HandleError, Hold, MessageStream, MockChatServer};
pub use resolve::SEED_ENV;
pub use wait::WaitTimeout;
