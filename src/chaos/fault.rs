//! The fault catalogue and the delays a plan draws.

use std::fmt;
use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Serialize};

use super::Route;

/// How long the reference server stays silent before its 504.
pub(crate) const REFERENCE_TIMEOUT: Duration = Duration::from_secs(5);

/// One fault, as [forced](crate::MockChatServer::force) by a test or
/// recorded in the [journal](super::JournalEntry).
///
/// In JSON: `{"kind": "timeout", "after_ms": 5000}`, `{"kind": "unavailable"}`, …
#[doc = include_str!("../docs/fault.md")]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Fault {
    /// 503 `unavailable` (plain text); nothing is stored.
    Unavailable,
    /// Silence for `after` (scaled by `time_scale`), then 504 `timeout`;
    /// nothing is stored.
    Timeout {
        /// How long the server stays silent (unscaled).
        #[serde(rename = "after_ms", with = "millis")]
        after: Duration,
    },
    /// The connection is closed with no response; nothing is stored.
    DropBeforeCommit,
    /// The request is handled (a POST's message is stored and published),
    /// then the connection is closed with no response. A retry with the same
    /// key gets the reference's empty 200.
    DropAfterCommit,
    /// 200 with the first half of the body, then the connection closes. The
    /// request *was* handled.
    TruncatedBody,
    /// The next published message is delivered `copies` times on SSE.
    DuplicateEvent {
        /// Total deliveries (1 = no duplicate).
        copies: u32,
    },
    /// The SSE connection is cut (transport error, no clean end) right after
    /// an event.
    StreamDisconnect,
    /// The SSE response ends cleanly right after an event, as every stream
    /// does after 30 s.
    StreamEnd,
}

impl Fault {
    /// The reference server's timeout: 5 s of silence, then 504.
    pub const fn timeout() -> Fault {
        Fault::Timeout {
            after: REFERENCE_TIMEOUT,
        }
    }

    /// The snake_case name (`"drop_after_commit"`, …).
    pub fn name(&self) -> &'static str {
        match self {
            Fault::Unavailable => "unavailable",
            Fault::Timeout { .. } => "timeout",
            Fault::DropBeforeCommit => "drop_before_commit",
            Fault::DropAfterCommit => "drop_after_commit",
            Fault::TruncatedBody => "truncated_body",
            Fault::DuplicateEvent { .. } => "duplicate_event",
            Fault::StreamDisconnect => "stream_disconnect",
            Fault::StreamEnd => "stream_end",
        }
    }

    /// Every fault name, for error messages.
    pub(crate) const NAMES: &'static str = "unavailable, timeout, drop_before_commit, \
        drop_after_commit, truncated_body, duplicate_event, stream_disconnect, stream_end";

    /// Whether this fault can be forced on `route`: request faults on the
    /// JSON routes, stream faults on [`Route::Events`]. `DuplicateEvent` is
    /// forced with [`force_duplicates`](crate::MockChatServer::force_duplicates).
    pub fn applies_to(&self, route: Route) -> bool {
        match self {
            Fault::StreamDisconnect | Fault::StreamEnd => route == Route::Events,
            Fault::DuplicateEvent { .. } => false,
            _ => route != Route::Events,
        }
    }

    /// The fault in words, for reports (`"dropped after commit"`).
    pub fn describe(&self) -> String {
        match self {
            Fault::Unavailable => "503 unavailable".into(),
            Fault::Timeout { after } => format!("silent {after:?} then 504 timeout"),
            Fault::DropBeforeCommit => "dropped before commit".into(),
            Fault::DropAfterCommit => "dropped after commit".into(),
            Fault::TruncatedBody => "body truncated".into(),
            Fault::DuplicateEvent { copies } => format!("delivered {copies} times"),
            Fault::StreamDisconnect => "stream cut".into(),
            Fault::StreamEnd => "stream ended".into(),
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Timeout { after } => write!(f, "timeout({}ms)", after.as_millis()),
            Fault::DuplicateEvent { copies } => write!(f, "duplicate_event({copies})"),
            other => f.write_str(other.name()),
        }
    }
}

pub(crate) mod millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

/// A random (or fixed) duration, in milliseconds in JSON.
///
/// `{"fixed_ms": 200}`, `{"uniform_ms": [0, 1499]}` (both bounds included),
/// `{"one_of_ms": [3000, 4000, 5000]}`, or `"none"`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Delay {
    /// No delay.
    #[default]
    None,
    /// Always this many milliseconds.
    #[serde(rename = "fixed_ms")]
    Fixed(u64),
    /// Uniform between the two bounds, inclusive, in milliseconds.
    #[serde(rename = "uniform_ms")]
    Uniform(u64, u64),
    /// One of these values, each equally likely, in milliseconds.
    #[serde(rename = "one_of_ms")]
    OneOf(Vec<u64>),
}

/// The longest delay a plan may hold.
pub(crate) const MAX_DELAY_MS: u64 = 60 * 60 * 1000;

impl Delay {
    /// Draws a delay (unscaled).
    pub(crate) fn draw(&self, rng: &mut impl Rng) -> Duration {
        let ms = match self {
            Delay::None => 0,
            Delay::Fixed(ms) => *ms,
            Delay::Uniform(a, b) => rng.gen_range(*a.min(b)..=*a.max(b)),
            Delay::OneOf(v) if v.is_empty() => 0,
            Delay::OneOf(v) => v[rng.gen_range(0..v.len())],
        };
        Duration::from_millis(ms)
    }

    pub(crate) fn is_zero(&self) -> bool {
        match self {
            Delay::None => true,
            Delay::Fixed(ms) => *ms == 0,
            Delay::Uniform(a, b) => *a == 0 && *b == 0,
            Delay::OneOf(v) => v.iter().all(|ms| *ms == 0),
        }
    }

    /// Why this delay is unusable, if it is.
    pub(crate) fn problem(&self) -> Option<String> {
        let too_long = |ms: u64| ms > MAX_DELAY_MS;
        match self {
            Delay::None => None,
            Delay::Fixed(ms) if too_long(*ms) => Some(format!("{ms} ms is over 1 hour")),
            Delay::Uniform(a, b) if a > b => {
                Some(format!("uniform_ms [{a}, {b}] is not ordered (low, high)"))
            }
            Delay::Uniform(_, b) if too_long(*b) => Some(format!("{b} ms is over 1 hour")),
            Delay::OneOf(v) if v.is_empty() => Some("one_of_ms must not be empty".into()),
            Delay::OneOf(v) => v
                .iter()
                .find(|ms| too_long(**ms))
                .map(|ms| format!("{ms} ms is over 1 hour")),
            _ => None,
        }
    }
}

impl fmt::Display for Delay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Delay::None => f.write_str("0 ms"),
            Delay::Fixed(ms) => write!(f, "{ms} ms"),
            Delay::Uniform(a, b) => write!(f, "{a}–{b} ms"),
            Delay::OneOf(v) => {
                let parts: Vec<String> = v.iter().map(u64::to_string).collect();
                write!(f, "one of {} ms", parts.join("/"))
            }
        }
    }
}
