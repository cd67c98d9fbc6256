//! The seeded fault plan: what can go wrong, how often, and the journal of
//! what did.
//!
//! Every random choice is a pure function of the seed and a position:
//! a request's fate is drawn from `(seed, route, k)` where `k` counts that
//! route's requests since start or reset. Nothing here knows about HTTP; the
//! `http` module asks for a [`Decision`] and acts it out.

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::model::Replay;
use crate::seeded::{lock, rng_at, stable_hash, Stream};

/// The routes a fault can be aimed at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Route {
    /// `GET /chats`
    GetChats,
    /// `GET /chats/{id}/messages`
    GetMessages,
    /// `POST /chats/{id}/messages`
    PostMessage,
    /// `GET /events?stream=messages`
    Events,
}

impl Route {
    /// Every route, in a fixed order.
    pub const ALL: [Route; 4] = [
        Route::GetChats,
        Route::GetMessages,
        Route::PostMessage,
        Route::Events,
    ];

    fn index(self) -> usize {
        match self {
            Route::GetChats => 0,
            Route::GetMessages => 1,
            Route::PostMessage => 2,
            Route::Events => 3,
        }
    }

    /// The snake_case name used in JSON (`"post_message"`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Route::GetChats => "get_chats",
            Route::GetMessages => "get_messages",
            Route::PostMessage => "post_message",
            Route::Events => "events",
        }
    }
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Route {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Route::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown route {s:?}: expected get_chats, get_messages, post_message or events"
                )
            })
    }
}

/// One fault, as forced by [`MockChatServer::force`](crate::MockChatServer::force)
/// or recorded in the [journal](JournalEntry).
///
/// In JSON: `{"kind": "timeout", "after_ms": 5000}`, `{"kind": "unavailable"}`, …
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Fault {
    /// 503 `unavailable`; nothing is stored.
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
    /// The request is fully handled (a POST's message is stored and
    /// published), then the connection is closed with no response. A retry
    /// with the same key gets the replay.
    DropAfterCommit,
    /// 200 with the first half of the JSON body, then the connection closes.
    /// The request *was* handled.
    TruncatedBody,
    /// The next published message is delivered `copies` times on SSE.
    DuplicateEvent {
        /// Total deliveries (1 = no duplicate).
        copies: u32,
    },
    /// The SSE connection is cut right after an event.
    StreamDisconnect,
    /// A resumed SSE stream starts with the event named by `Last-Event-ID`,
    /// which the client already had. Forced, it waits for the next *resumed*
    /// connection (one with `Last-Event-ID`).
    ResumeOverlap,
}

impl Fault {
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
            Fault::ResumeOverlap => "resume_overlap",
        }
    }

    /// The default timeout fault: 5 s of silence, then 504.
    pub const fn timeout() -> Fault {
        Fault::Timeout {
            after: Duration::from_secs(5),
        }
    }

    /// Whether this fault makes sense on `route` (JSON faults on JSON routes,
    /// stream faults on [`Route::Events`]).
    pub fn applies_to(&self, route: Route) -> bool {
        let stream_fault = matches!(self, Fault::StreamDisconnect | Fault::ResumeOverlap);
        match self {
            Fault::DuplicateEvent { .. } => false,
            _ => stream_fault == (route == Route::Events),
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Timeout { after } => write!(f, "timeout({}ms)", after.as_millis()),
            Fault::DuplicateEvent { copies } => write!(f, "duplicate_event(x{copies})"),
            other => f.write_str(other.name()),
        }
    }
}

mod millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis().min(u64::MAX as u128) as u64)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

/// A random (or fixed) duration, in milliseconds in JSON.
///
/// `{"fixed_ms": 200}`, `{"uniform_ms": [0, 1500]}`, `{"one_of_ms": [3000, 4000, 5000]}`,
/// or `"none"`.
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

impl Delay {
    /// Draws a delay (unscaled).
    pub fn draw(&self, rng: &mut impl Rng) -> Duration {
        let ms = match self {
            Delay::None => 0,
            Delay::Fixed(ms) => *ms,
            Delay::Uniform(a, b) => {
                let (lo, hi) = if a <= b { (*a, *b) } else { (*b, *a) };
                rng.gen_range(lo..=hi)
            }
            Delay::OneOf(v) if v.is_empty() => 0,
            Delay::OneOf(v) => v[rng.gen_range(0..v.len())],
        };
        Duration::from_millis(ms)
    }

    fn is_zero(&self) -> bool {
        match self {
            Delay::None => true,
            Delay::Fixed(ms) => *ms == 0,
            Delay::Uniform(a, b) => *a == 0 && *b == 0,
            Delay::OneOf(v) => v.iter().all(|ms| *ms == 0),
        }
    }
}

/// What can go wrong on one JSON route, and how often (probabilities in 0..=1).
///
/// The five faults are mutually exclusive for a request; their probabilities
/// must add up to at most 1. Latencies apply on top.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RouteFaults {
    /// Delay before the request is handled.
    pub latency_before: Delay,
    /// Delay after it is handled, before the answer is sent (a client timing
    /// out here has a committed POST it never heard about).
    pub latency_after: Delay,
    /// Probability of 503 `unavailable`.
    pub unavailable: f64,
    /// Probability of silence then 504 `timeout`.
    pub timeout: f64,
    /// How long a timeout stays silent, in ms (default 5000).
    pub timeout_after_ms: u64,
    /// Probability of closing the connection before handling.
    pub drop_before_commit: f64,
    /// Probability of closing the connection after handling.
    pub drop_after_commit: f64,
    /// Probability of a 200 with half its body.
    pub truncated_body: f64,
}

impl Default for RouteFaults {
    fn default() -> Self {
        RouteFaults {
            latency_before: Delay::None,
            latency_after: Delay::None,
            unavailable: 0.0,
            timeout: 0.0,
            timeout_after_ms: 5000,
            drop_before_commit: 0.0,
            drop_after_commit: 0.0,
            truncated_body: 0.0,
        }
    }
}

impl RouteFaults {
    fn probabilities(&self) -> [(f64, &'static str); 5] {
        [
            (self.unavailable, "unavailable"),
            (self.timeout, "timeout"),
            (self.drop_before_commit, "drop_before_commit"),
            (self.drop_after_commit, "drop_after_commit"),
            (self.truncated_body, "truncated_body"),
        ]
    }

    /// True when this route can never be delayed or faulted.
    pub fn is_calm(&self) -> bool {
        self.latency_before.is_zero()
            && self.latency_after.is_zero()
            && self.probabilities().iter().all(|(p, _)| *p == 0.0)
    }

    fn pick(&self, u: f64) -> Option<Fault> {
        let faults = [
            Fault::Unavailable,
            Fault::Timeout {
                after: Duration::from_millis(self.timeout_after_ms),
            },
            Fault::DropBeforeCommit,
            Fault::DropAfterCommit,
            Fault::TruncatedBody,
        ];
        let mut acc = 0.0;
        for ((p, _), fault) in self.probabilities().iter().zip(faults) {
            acc += p;
            if u < acc {
                return Some(fault);
            }
        }
        None
    }
}

/// What can go wrong on the SSE stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StreamFaults {
    /// Minimum deliveries of each message event (default 1).
    pub copies_min: u32,
    /// Maximum deliveries of each message event, uniform between min and max
    /// (default 1: no duplicates).
    pub copies_max: u32,
    /// Probability, per delivered event, that the connection is cut after it.
    pub stream_disconnect: f64,
    /// Probability that a resumed stream re-sends the `Last-Event-ID` event.
    pub resume_overlap: f64,
    /// Replay for new subscribers; `null` leaves the server's own setting.
    pub replay: Option<Replay>,
}

impl Default for StreamFaults {
    fn default() -> Self {
        StreamFaults {
            copies_min: 1,
            copies_max: 1,
            stream_disconnect: 0.0,
            resume_overlap: 0.0,
            replay: None,
        }
    }
}

/// Why a [`FaultPlan`] was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// A probability outside 0..=1 (or NaN).
    #[error("{route}.{field} must be a probability between 0 and 1, got {value}")]
    BadProbability {
        /// The route's name.
        route: &'static str,
        /// The field's name.
        field: &'static str,
        /// The value, as text.
        value: String,
    },
    /// The exclusive faults of a route add up to more than 1.
    #[error("{route}: the fault probabilities add up to {sum}, more than 1")]
    ProbabilitiesOverOne {
        /// The route's name.
        route: &'static str,
        /// Their sum, as text.
        sum: String,
    },
    /// `copies_min` is 0 or greater than `copies_max`, or `copies_max` is
    /// absurd (over 100).
    #[error(
        "events: copies must satisfy 1 <= copies_min <= copies_max <= 100 (got {min}..={max})"
    )]
    BadCopies {
        /// `copies_min`
        min: u32,
        /// `copies_max`
        max: u32,
    },
    /// Not valid JSON for a plan.
    #[error("not a valid fault plan: {0}")]
    Json(String),
    /// An unknown preset name.
    #[error("unknown preset {0:?}: expected none, reference or hostile")]
    UnknownPreset(String),
}

/// Per-route fault probabilities and latencies: the whole chaos configuration.
///
/// Build one from a preset and adjust it, or load it from JSON:
///
/// ```
/// use mock_chat_server::{Delay, FaultPlan, Route};
///
/// let mut plan = FaultPlan::none();
/// plan.route_mut(Route::PostMessage).unavailable = 0.25;
/// plan.route_mut(Route::GetChats).latency_before = Delay::Uniform(0, 100);
/// assert!(plan.validate().is_ok());
///
/// let json = plan.to_json();
/// assert_eq!(FaultPlan::from_json(&json).unwrap(), plan);
/// assert_eq!(FaultPlan::from_json(r#"{"preset":"reference"}"#).unwrap(), FaultPlan::reference());
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultPlan {
    /// Faults on `GET /chats`.
    pub get_chats: RouteFaults,
    /// Faults on `GET /chats/{id}/messages`.
    pub get_messages: RouteFaults,
    /// Faults on `POST /chats/{id}/messages`.
    pub post_message: RouteFaults,
    /// Faults on the SSE stream.
    pub events: StreamFaults,
}

impl FaultPlan {
    /// No faults at all: the default when embedded.
    pub fn none() -> Self {
        FaultPlan::default()
    }

    /// What the reference companion server does (the default of `serve`):
    /// on every JSON route a uniform 0–1500 ms delay before and after
    /// handling, 5% 503, 5% 5 s timeout then 504; every message event
    /// delivered 1, 2 or 3 times; new subscribers get the whole log; a resume
    /// re-sends the `Last-Event-ID` event.
    pub fn reference() -> Self {
        let route = RouteFaults {
            latency_before: Delay::Uniform(0, 1500),
            latency_after: Delay::Uniform(0, 1500),
            unavailable: 0.05,
            timeout: 0.05,
            ..RouteFaults::default()
        };
        FaultPlan {
            get_chats: route.clone(),
            get_messages: route.clone(),
            post_message: route,
            events: StreamFaults {
                copies_min: 1,
                copies_max: 3,
                stream_disconnect: 0.0,
                resume_overlap: 1.0,
                replay: Some(Replay::All),
            },
        }
    }

    /// Everything [`reference`](Self::reference) does at higher rates, plus
    /// dropped connections after commit, truncated bodies and cut streams.
    pub fn hostile() -> Self {
        let route = RouteFaults {
            latency_before: Delay::Uniform(0, 2000),
            latency_after: Delay::Uniform(0, 2000),
            unavailable: 0.10,
            timeout: 0.10,
            drop_before_commit: 0.05,
            drop_after_commit: 0.10,
            truncated_body: 0.05,
            ..RouteFaults::default()
        };
        FaultPlan {
            get_chats: route.clone(),
            get_messages: route.clone(),
            post_message: route,
            events: StreamFaults {
                copies_min: 1,
                copies_max: 4,
                stream_disconnect: 0.05,
                resume_overlap: 1.0,
                replay: Some(Replay::All),
            },
        }
    }

    /// A preset by name: `none`, `reference` or `hostile`.
    pub fn preset(name: &str) -> Result<Self, PlanError> {
        match name {
            "none" => Ok(Self::none()),
            "reference" => Ok(Self::reference()),
            "hostile" => Ok(Self::hostile()),
            other => Err(PlanError::UnknownPreset(other.to_string())),
        }
    }

    /// The faults of a JSON route (`Route::Events` has none of these: it gets
    /// `post_message`'s, which is harmless; use [`events`](Self::events)).
    pub fn route(&self, route: Route) -> &RouteFaults {
        match route {
            Route::GetChats => &self.get_chats,
            Route::GetMessages => &self.get_messages,
            Route::PostMessage | Route::Events => &self.post_message,
        }
    }

    /// Mutable access to a JSON route's faults (see [`route`](Self::route)).
    pub fn route_mut(&mut self, route: Route) -> &mut RouteFaults {
        match route {
            Route::GetChats => &mut self.get_chats,
            Route::GetMessages => &mut self.get_messages,
            Route::PostMessage | Route::Events => &mut self.post_message,
        }
    }

    /// The same faults on all three JSON routes.
    pub fn with_all_routes(mut self, faults: RouteFaults) -> Self {
        self.get_chats = faults.clone();
        self.get_messages = faults.clone();
        self.post_message = faults;
        self
    }

    /// Checks probabilities and copy counts.
    pub fn validate(&self) -> Result<(), PlanError> {
        for route in [Route::GetChats, Route::GetMessages, Route::PostMessage] {
            let faults = self.route(route);
            let mut sum = 0.0;
            for (p, field) in faults.probabilities() {
                check_probability(route.as_str(), field, p)?;
                sum += p;
            }
            if sum > 1.0 + 1e-9 {
                return Err(PlanError::ProbabilitiesOverOne {
                    route: route.as_str(),
                    sum: sum.to_string(),
                });
            }
        }
        check_probability("events", "stream_disconnect", self.events.stream_disconnect)?;
        check_probability("events", "resume_overlap", self.events.resume_overlap)?;
        let (min, max) = (self.events.copies_min, self.events.copies_max);
        if min == 0 || min > max || max > 100 {
            return Err(PlanError::BadCopies { min, max });
        }
        Ok(())
    }

    /// Parses and validates a plan from JSON: either a whole plan (missing
    /// fields default to calm) or `{"preset": "none" | "reference" | "hostile"}`.
    pub fn from_json(json: &str) -> Result<Self, PlanError> {
        let value: serde_json::Value =
            serde_json::from_str(json).map_err(|e| PlanError::Json(e.to_string()))?;
        Self::from_value(value)
    }

    pub(crate) fn from_value(value: serde_json::Value) -> Result<Self, PlanError> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Preset {
            preset: String,
        }
        if !value.is_object() {
            return Err(PlanError::Json(
                "a fault plan must be a JSON object, like {\"preset\": \"none\"}".to_string(),
            ));
        }
        if value.get("preset").is_some() {
            let p: Preset =
                serde_json::from_value(value).map_err(|e| PlanError::Json(e.to_string()))?;
            return Self::preset(&p.preset);
        }
        let plan: FaultPlan =
            serde_json::from_value(value).map_err(|e| PlanError::Json(e.to_string()))?;
        plan.validate()?;
        Ok(plan)
    }

    /// The plan as pretty JSON (the format [`from_json`](Self::from_json) reads).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// A one-line human summary, e.g. for `serve`'s banner.
    pub fn summary(&self) -> String {
        if *self == Self::none() {
            return "none (calm)".to_string();
        }
        let name = if *self == Self::reference() {
            "reference: "
        } else if *self == Self::hostile() {
            "hostile: "
        } else {
            "custom: "
        };
        let mut parts = Vec::new();
        for route in [Route::GetChats, Route::GetMessages, Route::PostMessage] {
            let f = self.route(route);
            if f.is_calm() {
                continue;
            }
            let mut s = format!("{route}[");
            let mut items = Vec::new();
            if !f.latency_before.is_zero() {
                items.push(format!("before {:?}", f.latency_before));
            }
            if !f.latency_after.is_zero() {
                items.push(format!("after {:?}", f.latency_after));
            }
            for (p, field) in f.probabilities() {
                if p > 0.0 {
                    items.push(format!("{field} {:.0}%", p * 100.0));
                }
            }
            s.push_str(&items.join(", "));
            s.push(']');
            parts.push(s);
        }
        let e = &self.events;
        parts.push(format!(
            "events[copies {}..={}, disconnect {:.0}%, resume_overlap {:.0}%, replay {:?}]",
            e.copies_min,
            e.copies_max,
            e.stream_disconnect * 100.0,
            e.resume_overlap * 100.0,
            e.replay
        ));
        format!("{name}{}", parts.join("; "))
    }
}

fn check_probability(route: &'static str, field: &'static str, p: f64) -> Result<(), PlanError> {
    if (0.0..=1.0).contains(&p) {
        Ok(())
    } else {
        Err(PlanError::BadProbability {
            route,
            field,
            value: p.to_string(),
        })
    }
}

/// The fate of one request on a JSON route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The journal sequence number of this request.
    pub seq: u64,
    /// The route.
    pub route: Route,
    /// How many earlier requests this route had since start or reset.
    pub k: u64,
    /// Delay before handling (already scaled by `time_scale`).
    pub latency_before: Duration,
    /// Delay after handling (already scaled).
    pub latency_after: Duration,
    /// The fault, if any (a `Timeout`'s `after` is already scaled).
    pub fault: Option<Fault>,
    /// Whether the fault was forced rather than drawn.
    pub forced: bool,
}

/// The fate of one SSE connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamDecision {
    /// The journal sequence number of this connection.
    pub seq: u64,
    /// How many earlier connections the stream had since start or reset.
    pub k: u64,
    /// Cut the connection after this many delivered events, if set.
    pub disconnect_after: Option<u64>,
    /// Re-send the `Last-Event-ID` event (only meaningful on a resume).
    pub resume_overlap: bool,
}

/// What kind of thing a [`JournalEntry`] records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// A request on a JSON route.
    Request,
    /// An SSE connection.
    Stream,
    /// A bot answer being published.
    BotAnswer,
    /// A message injected through the handle or the admin API.
    Injected,
}

/// One recorded chaos decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalEntry {
    /// Sequence number, from 1 since start or reset.
    pub seq: u64,
    /// What is recorded.
    pub kind: EntryKind,
    /// The route (for bot answers and injections: `events`, where they go).
    pub route: Route,
    /// The route's request counter for this request.
    pub k: u64,
    /// HTTP method (`"GET"`, `"POST"`), or empty for bot answers and injections.
    pub method: String,
    /// Request path with query, or empty.
    pub path: String,
    /// The idempotency key, if any.
    pub idempotency_key: Option<String>,
    /// The fault applied, if any.
    pub fault: Option<Fault>,
    /// Whether the fault was forced by the test rather than drawn.
    pub forced: bool,
    /// Delay before handling, in ms (scaled).
    pub latency_before_ms: u64,
    /// Delay after handling, in ms (scaled).
    pub latency_after_ms: u64,
    /// HTTP status the handler produced (before a drop or truncation), if any.
    pub status: Option<u16>,
    /// Whether a message was stored by this request.
    pub committed: bool,
    /// Whether the answer was an idempotent replay.
    pub replayed: bool,
    /// The stored (or replayed) message id.
    pub message_id: Option<u64>,
    /// SSE event ids this message was published under (one per copy).
    pub event_ids: Vec<u64>,
}

impl JournalEntry {
    /// An entry with nothing recorded yet; `seq` is set by the journal.
    fn blank(kind: EntryKind, route: Route) -> Self {
        JournalEntry {
            seq: 0,
            kind,
            route,
            k: 0,
            method: String::new(),
            path: String::new(),
            idempotency_key: None,
            fault: None,
            forced: false,
            latency_before_ms: 0,
            latency_after_ms: 0,
            status: None,
            committed: false,
            replayed: false,
            message_id: None,
            event_ids: Vec::new(),
        }
    }
}

impl fmt::Display for JournalEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{} ", self.seq)?;
        match self.kind {
            EntryKind::Request | EntryKind::Stream => {
                write!(f, "{} {} (k={})", self.method, self.path, self.k)?
            }
            EntryKind::BotAnswer => f.write_str("bot answer")?,
            EntryKind::Injected => f.write_str("injected message")?,
        }
        if let Some(key) = &self.idempotency_key {
            write!(f, " key={key}")?;
        }
        match &self.fault {
            Some(fault) if self.forced => write!(f, " fault={fault} (forced)")?,
            Some(fault) => write!(f, " fault={fault}")?,
            None => f.write_str(" fault=none")?,
        }
        if let Some(status) = self.status {
            write!(f, " status={status}")?;
        }
        if self.committed {
            f.write_str(" committed")?;
        }
        if self.replayed {
            f.write_str(" replayed")?;
        }
        if !self.event_ids.is_empty() {
            write!(f, " events={:?}", self.event_ids)?;
        }
        Ok(())
    }
}

/// A bounded log of [`JournalEntry`]s: the oldest fall off.
#[derive(Debug)]
pub(crate) struct Journal {
    entries: VecDeque<JournalEntry>,
    next_seq: u64,
    capacity: usize,
}

impl Journal {
    fn new(capacity: usize) -> Self {
        Journal {
            entries: VecDeque::new(),
            next_seq: 1,
            capacity: capacity.max(1),
        }
    }

    fn push(&mut self, mut entry: JournalEntry) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        entry.seq = seq;
        if self.entries.len() == self.capacity {
            self.entries.pop_front();
        }
        self.entries.push_back(entry);
        seq
    }

    fn get_mut(&mut self, seq: u64) -> Option<&mut JournalEntry> {
        let first = self.entries.front()?.seq;
        let idx = usize::try_from(seq.checked_sub(first)?).ok()?;
        self.entries.get_mut(idx)
    }
}

/// The chaos engine of one server: plan, counters, forced faults, journal.
#[derive(Debug)]
pub(crate) struct Chaos {
    seed: u64,
    time_scale: f64,
    plan: RwLock<Arc<FaultPlan>>,
    counters: [AtomicU64; 4],
    forced: Mutex<[VecDeque<Fault>; 4]>,
    forced_duplicates: Mutex<VecDeque<u32>>,
    journal: Mutex<Journal>,
}

impl Chaos {
    pub(crate) fn new(
        seed: u64,
        time_scale: f64,
        plan: FaultPlan,
        journal_capacity: usize,
    ) -> Self {
        Chaos {
            seed,
            time_scale,
            plan: RwLock::new(Arc::new(plan)),
            counters: Default::default(),
            forced: Mutex::new(Default::default()),
            forced_duplicates: Mutex::new(VecDeque::new()),
            journal: Mutex::new(Journal::new(journal_capacity)),
        }
    }

    pub(crate) fn seed(&self) -> u64 {
        self.seed
    }

    /// Multiplies a delay by `time_scale`.
    pub(crate) fn scale(&self, d: Duration) -> Duration {
        if self.time_scale == 1.0 {
            d
        } else {
            // `mul_f64` panics on overflow; a huge plan value (from a JSON
            // file or the admin API) must mean "forever", not a panic.
            Duration::try_from_secs_f64(d.as_secs_f64() * self.time_scale).unwrap_or(Duration::MAX)
        }
    }

    pub(crate) fn plan(&self) -> Arc<FaultPlan> {
        Arc::clone(&self.plan.read().unwrap_or_else(|e| e.into_inner()))
    }

    pub(crate) fn set_plan(&self, plan: FaultPlan) {
        *self.plan.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(plan);
    }

    pub(crate) fn force(&self, route: Route, fault: Fault) {
        lock(&self.forced)[route.index()].push_back(fault);
    }

    pub(crate) fn force_duplicates(&self, copies: u32) {
        lock(&self.forced_duplicates).push_back(copies.max(1));
    }

    /// Clears counters, forced faults and the journal.
    pub(crate) fn reset(&self) {
        for c in &self.counters {
            c.store(0, Ordering::SeqCst);
        }
        *lock(&self.forced) = Default::default();
        lock(&self.forced_duplicates).clear();
        let mut journal = lock(&self.journal);
        let capacity = journal.capacity;
        *journal = Journal::new(capacity);
    }

    fn next_k(&self, route: Route) -> u64 {
        self.counters[route.index()].fetch_add(1, Ordering::SeqCst)
    }

    /// Draws the fate of the next request on a JSON route and journals it.
    pub(crate) fn decide(
        &self,
        route: Route,
        method: &str,
        path: &str,
        key: Option<&str>,
    ) -> Decision {
        let k = self.next_k(route);
        let plan = self.plan();
        let faults = plan.route(route);
        let (mut latency_before, mut latency_after, mut fault) =
            (Duration::ZERO, Duration::ZERO, None);
        if !faults.is_calm() {
            let mut rng = rng_at(self.seed, Stream::Route0 as u64 + route.index() as u64, k);
            latency_before = self.scale(faults.latency_before.draw(&mut rng));
            let u: f64 = rng.gen();
            fault = faults.pick(u);
            latency_after = self.scale(faults.latency_after.draw(&mut rng));
        }
        let forced_fault = lock(&self.forced)[route.index()].pop_front();
        let forced = forced_fault.is_some();
        if forced_fault.is_some() {
            fault = forced_fault;
        }
        if let Some(Fault::Timeout { after }) = fault {
            fault = Some(Fault::Timeout {
                after: self.scale(after),
            });
        }
        let seq = lock(&self.journal).push(JournalEntry {
            k,
            method: method.to_string(),
            path: path.to_string(),
            idempotency_key: key.map(str::to_string),
            fault,
            forced,
            latency_before_ms: latency_before.as_millis() as u64,
            latency_after_ms: latency_after.as_millis() as u64,
            ..JournalEntry::blank(EntryKind::Request, route)
        });
        Decision {
            seq,
            route,
            k,
            latency_before,
            latency_after,
            fault,
            forced,
        }
    }

    /// Draws the fate of the next SSE connection and journals it.
    pub(crate) fn decide_stream(&self, path: &str, resumed: bool) -> StreamDecision {
        let route = Route::Events;
        let k = self.next_k(route);
        let plan = self.plan();
        let mut rng = rng_at(self.seed, Stream::Route0 as u64 + route.index() as u64, k);
        let p = plan.events.stream_disconnect;
        let mut disconnect_after = if p > 0.0 {
            // Geometric: the number of events delivered before the cut, by
            // inversion (one draw, whatever `p`); `1 - gen()` is in (0, 1].
            let u = 1.0 - rng.gen::<f64>();
            Some(((u.ln() / (-p).ln_1p()).floor() as u64).saturating_add(1))
        } else {
            None
        };
        let overlap_p = plan.events.resume_overlap;
        let mut resume_overlap = resumed && overlap_p > 0.0 && rng.gen::<f64>() < overlap_p;
        let forced_fault = {
            let mut forced = lock(&self.forced);
            let queue = &mut forced[route.index()];
            // A forced overlap waits for a resumed connection: a fresh one
            // has nothing to overlap and would waste it.
            if !resumed && queue.front() == Some(&Fault::ResumeOverlap) {
                None
            } else {
                queue.pop_front()
            }
        };
        match forced_fault {
            Some(Fault::StreamDisconnect) => disconnect_after = Some(1),
            Some(Fault::ResumeOverlap) => resume_overlap = resumed,
            _ => {}
        }
        let fault = if let Some(f) = forced_fault {
            Some(f)
        } else if resume_overlap {
            Some(Fault::ResumeOverlap)
        } else if disconnect_after.is_some() {
            Some(Fault::StreamDisconnect)
        } else {
            None
        };
        let seq = lock(&self.journal).push(JournalEntry {
            k,
            method: "GET".to_string(),
            path: path.to_string(),
            fault,
            forced: forced_fault.is_some(),
            status: Some(200),
            ..JournalEntry::blank(EntryKind::Stream, route)
        });
        StreamDecision {
            seq,
            k,
            disconnect_after,
            resume_overlap,
        }
    }

    /// How many times a message with this idempotency key is delivered:
    /// a forced count if one is queued, else a pure function of
    /// `(seed, key)`.
    pub(crate) fn copies_for(&self, key: &str) -> (u32, bool) {
        if let Some(n) = lock(&self.forced_duplicates).pop_front() {
            return (n, true);
        }
        let plan = self.plan();
        let (min, max) = (plan.events.copies_min.max(1), plan.events.copies_max);
        if max <= min {
            return (min, false);
        }
        let mut rng = rng_at(self.seed, Stream::Duplicates as u64, stable_hash(key));
        (rng.gen_range(min..=max), false)
    }

    /// Records a bot answer or an injected message being published.
    pub(crate) fn journal_publish(
        &self,
        kind: EntryKind,
        key: &str,
        message_id: u64,
        copies: u32,
        forced: bool,
        event_ids: Vec<u64>,
    ) {
        lock(&self.journal).push(JournalEntry {
            idempotency_key: Some(key.to_string()),
            fault: (copies > 1).then_some(Fault::DuplicateEvent { copies }),
            forced,
            committed: true,
            message_id: Some(message_id),
            event_ids,
            ..JournalEntry::blank(kind, Route::Events)
        });
    }

    /// Updates a journal entry in place (if it is still held).
    pub(crate) fn update(&self, seq: u64, f: impl FnOnce(&mut JournalEntry)) {
        if let Some(entry) = lock(&self.journal).get_mut(seq) {
            f(entry);
        }
    }

    pub(crate) fn journal(&self) -> Vec<JournalEntry> {
        lock(&self.journal).entries.iter().cloned().collect()
    }

    pub(crate) fn journal_tail(&self, n: usize) -> Vec<JournalEntry> {
        let j = lock(&self.journal);
        let skip = j.entries.len().saturating_sub(n);
        j.entries.iter().skip(skip).cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_validate_and_round_trip() {
        for plan in [
            FaultPlan::none(),
            FaultPlan::reference(),
            FaultPlan::hostile(),
        ] {
            plan.validate().unwrap();
            assert_eq!(FaultPlan::from_json(&plan.to_json()).unwrap(), plan);
        }
        assert_eq!(FaultPlan::preset("hostile").unwrap(), FaultPlan::hostile());
        assert!(matches!(
            FaultPlan::preset("wild"),
            Err(PlanError::UnknownPreset(_))
        ));
    }

    #[test]
    fn bad_plans_are_refused_with_a_reason() {
        let mut p = FaultPlan::none();
        p.post_message.unavailable = 1.5;
        assert!(p
            .validate()
            .unwrap_err()
            .to_string()
            .contains("post_message.unavailable"));
        let mut p = FaultPlan::none();
        p.get_chats.unavailable = 0.6;
        p.get_chats.timeout = 0.6;
        assert!(matches!(
            p.validate(),
            Err(PlanError::ProbabilitiesOverOne { .. })
        ));
        let mut p = FaultPlan::none();
        p.events.copies_min = 0;
        assert!(matches!(p.validate(), Err(PlanError::BadCopies { .. })));
        assert!(matches!(
            FaultPlan::from_json("{\"get_chats\": {\"nope\": 1}}"),
            Err(PlanError::Json(_))
        ));
        assert!(matches!(
            FaultPlan::from_json("{\"get_chats\": {\"unavailable\": -0.1}}"),
            Err(PlanError::BadProbability { .. })
        ));
    }

    #[test]
    fn decisions_depend_only_on_seed_route_and_k() {
        let plan = FaultPlan::reference();
        let run = |seed: u64, interleave: bool| {
            let c = Chaos::new(seed, 1.0, plan.clone(), 100);
            let mut out = Vec::new();
            for _ in 0..50 {
                if interleave {
                    c.decide(Route::GetChats, "GET", "/chats", None);
                }
                let d = c.decide(Route::PostMessage, "POST", "/chats/1/messages", Some("k"));
                out.push((d.latency_before, d.fault, d.latency_after));
            }
            out
        };
        assert_eq!(run(1, false), run(1, false));
        assert_eq!(
            run(1, false),
            run(1, true),
            "another route shifted post_message"
        );
        assert_ne!(run(1, false), run(2, false));
    }

    #[test]
    fn forced_faults_are_fifo_and_once() {
        let c = Chaos::new(1, 1.0, FaultPlan::none(), 100);
        c.force(Route::PostMessage, Fault::Unavailable);
        c.force(Route::PostMessage, Fault::DropAfterCommit);
        let f = |c: &Chaos| c.decide(Route::PostMessage, "POST", "/", None).fault;
        assert_eq!(c.decide(Route::GetChats, "GET", "/chats", None).fault, None);
        assert_eq!(f(&c), Some(Fault::Unavailable));
        assert_eq!(f(&c), Some(Fault::DropAfterCommit));
        assert_eq!(f(&c), None);
    }

    #[test]
    fn duplicate_copies_follow_the_key_not_the_order() {
        let c = Chaos::new(5, 1.0, FaultPlan::reference(), 100);
        let a = c.copies_for("alpha");
        let _ = c.copies_for("beta");
        assert_eq!(c.copies_for("alpha"), a);
        c.force_duplicates(7);
        assert_eq!(c.copies_for("alpha"), (7, true));
        let mut counts = [0u32; 4];
        for i in 0..3000 {
            counts[c.copies_for(&format!("key-{i}")).0 as usize] += 1;
        }
        assert_eq!(counts[0], 0);
        for n in 1..=3 {
            assert!((900..=1100).contains(&counts[n]), "{counts:?}");
        }
    }

    #[test]
    fn journal_is_bounded_and_updatable() {
        let c = Chaos::new(1, 1.0, FaultPlan::none(), 3);
        let seqs: Vec<u64> = (0..5)
            .map(|_| c.decide(Route::GetChats, "GET", "/chats", None).seq)
            .collect();
        assert_eq!(seqs, vec![1, 2, 3, 4, 5]);
        c.update(1, |e| e.status = Some(1)); // fell off: ignored
        c.update(5, |e| e.status = Some(200));
        let j = c.journal();
        assert_eq!(j.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![3, 4, 5]);
        assert_eq!(j[2].status, Some(200));
        c.reset();
        assert!(c.journal().is_empty());
        assert_eq!(c.decide(Route::GetChats, "GET", "/chats", None).k, 0);
    }

    #[test]
    fn huge_delays_saturate_instead_of_panicking() {
        let c = Chaos::new(1, 1000.0, FaultPlan::none(), 10);
        assert_eq!(c.scale(Duration::from_millis(u64::MAX)), Duration::MAX);
        assert_eq!(c.scale(Duration::from_millis(2)), Duration::from_secs(2));
    }

    #[test]
    fn a_plan_must_be_an_object() {
        for bad in ["[]", "1", "\"none\"", "null"] {
            assert!(
                matches!(FaultPlan::from_json(bad), Err(PlanError::Json(_))),
                "{bad}"
            );
        }
        assert_eq!(FaultPlan::from_json("{}").unwrap(), FaultPlan::none());
    }

    #[test]
    fn timeouts_are_scaled() {
        let c = Chaos::new(1, 0.01, FaultPlan::none(), 10);
        c.force(Route::GetChats, Fault::timeout());
        let d = c.decide(Route::GetChats, "GET", "/chats", None);
        assert_eq!(
            d.fault,
            Some(Fault::Timeout {
                after: Duration::from_millis(50)
            })
        );
    }

    #[test]
    fn stream_cuts_are_geometric_with_mean_one_over_p() {
        let mut plan = FaultPlan::none();
        plan.events.stream_disconnect = 0.1;
        let c = Chaos::new(9, 1.0, plan.clone(), 10);
        let n = 4000;
        let draws: Vec<u64> = (0..n)
            .map(|_| c.decide_stream("/events", false).disconnect_after.unwrap())
            .collect();
        assert!(draws.iter().all(|d| *d >= 1));
        let mean = draws.iter().sum::<u64>() as f64 / n as f64;
        // Geometric(0.1): mean 10, sd 9.5, so the sample mean's sd is 0.15.
        assert!((9.3..=10.7).contains(&mean), "{mean}");
        let ones = draws.iter().filter(|d| **d == 1).count();
        assert!((330..=470).contains(&ones), "{ones}"); // p = 0.1
                                                        // The same seed and k give the same cut.
        let again = Chaos::new(9, 1.0, plan.clone(), 10);
        assert_eq!(
            again.decide_stream("/events", false).disconnect_after,
            Some(draws[0])
        );
        // Extremes: always right away, or (almost) never.
        plan.events.stream_disconnect = 1.0;
        let c = Chaos::new(9, 1.0, plan.clone(), 10);
        assert!((0..100).all(|_| c.decide_stream("/", false).disconnect_after == Some(1)));
        plan.events.stream_disconnect = 1e-12;
        let c = Chaos::new(9, 1.0, plan, 10);
        assert!((0..100).all(|_| c.decide_stream("/", false).disconnect_after > Some(1_000)));
    }

    #[test]
    fn a_forced_overlap_waits_for_a_resumed_stream() {
        let c = Chaos::new(1, 1.0, FaultPlan::none(), 10);
        c.force(Route::Events, Fault::ResumeOverlap);
        c.force(Route::Events, Fault::StreamDisconnect);
        let fresh = c.decide_stream("/events", false);
        assert!(!fresh.resume_overlap && fresh.disconnect_after.is_none());
        let resumed = c.decide_stream("/events", true);
        assert!(resumed.resume_overlap && resumed.disconnect_after.is_none());
        // The queue moves on: the next connection, fresh or not, is cut.
        assert_eq!(c.decide_stream("/events", false).disconnect_after, Some(1));
        let faults: Vec<_> = c.journal().iter().map(|e| (e.fault, e.forced)).collect();
        assert_eq!(
            faults,
            [
                (None, false),
                (Some(Fault::ResumeOverlap), true),
                (Some(Fault::StreamDisconnect), true)
            ]
        );
    }

    #[test]
    fn a_calm_plan_leaves_requests_untouched() {
        let c = Chaos::new(3, 1.0, FaultPlan::none(), 10);
        for route in [Route::GetChats, Route::GetMessages, Route::PostMessage] {
            let d = c.decide(route, "GET", "/", None);
            assert_eq!(
                (d.latency_before, d.fault, d.latency_after),
                (Duration::ZERO, None, Duration::ZERO)
            );
        }
        let s = c.decide_stream("/events", true);
        assert!(!s.resume_overlap && s.disconnect_after.is_none());
    }
}
