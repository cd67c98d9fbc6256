//! Reference pages, rendered by rustdoc; they hold no items. The guide is
//! the crate's front page; the fault catalogue is on [`Fault`](crate::Fault)
//! and the presets on [`FaultPlan`](crate::FaultPlan).

/// The wire: the reference server's routes, answers, errors, CORS,
/// idempotency keys and stream, byte for byte; where this crate differs;
/// how a client survives it.
#[doc = include_str!("wire.md")]
pub mod wire {}

/// Every bound of a running server (tables, logs, connections, heads), its
/// default and its builder option.
#[doc = include_str!("limits.md")]
pub mod limits {}

/// The standalone server for apps not written in Rust: installing and
/// running it, its flags, phones and browsers, and the admin API.
#[doc = include_str!("serve.md")]
pub mod serve {}

/// The admin API, the dashboard and the live feed: who may call them,
/// every endpoint, and the feed's frames.
#[doc = include_str!("admin.md")]
pub mod admin {}
