//! Client diagnostics: what the real server would do to a client silently,
//! said out loud. A correct client produces none, under any preset.
//! [`MockChatServer::diagnostics`](crate::MockChatServer::diagnostics) lists
//! them; each names its rule ([`DiagnosticKind`]), when, and the request.
//!
//! Every time threshold is scaled by `time_scale`.
//!
//! ```
//! use mock_chat_server::diagnostics::DiagnosticKind;
//!
//! let kind = DiagnosticKind::ResentUnderNewKey;
//! assert_eq!(kind.to_string(), "message resent under a new key after its answer was lost");
//! ```

// Knows nothing of HTTP: the HTTP layer reports what it saw (a POST with
// this key started, was answered or abandoned, stored a message; a stream
// opened or ended) and this module applies the rules.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::chaos::Fault;
use crate::key::quoted;
use crate::model::ChatId;
use crate::seeded::stable_hash;
use crate::sync::{lock, Ring};

mod resent;

use resent::{Loss, Memory, Resend};

/// How many diagnostics a server keeps (the oldest fall off).
const CAPACITY: usize = 1_000;
/// How many keys the retry rule follows at once.
const KEYS_FOLLOWED: usize = 10_000;
/// How much of a key's bytes the rules keep as they are (a longer key is
/// kept as this much, its length and a hash of the whole) and a message
/// quotes.
const KEY_BYTES_KEPT: usize = 1024;

/// Which rule a client broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DiagnosticKind {
    /// A key already stored came with another chat or text: the real server
    /// answers an empty 200 and the second message is lost.
    KeyReusedForDifferentMessage,
    /// The same key on two connections that were both still open: the
    /// client sends twice without waiting (not a retry of an abandoned
    /// attempt).
    ConcurrentSameKey,
    /// The same key again within 10 ms of the previous answer, 3 or more
    /// times in a row: a retry loop without backoff.
    RetryWithoutBackoff,
    /// A POST without `Idempotency-Key` (the real server answers 400).
    MissingIdempotencyKey,
    /// An SSE connection without `Last-Event-ID` opened within 1 s of the
    /// server ending or cutting a stream that had delivered events: it gets
    /// the whole log again.
    ReconnectWithoutLastEventId,
    /// More than 5 SSE connections within 1 s that no server end or cut
    /// explains.
    ReconnectStorm,
    /// A CORS preflight asked for a method or request header the real
    /// server does not allow: it answers without the grant, and the browser
    /// blocks the request with nothing but "a CORS error". The message
    /// names the method or header to drop.
    PreflightRefused,
    /// A message stored again under a new key within 30 s of its first
    /// answer not reaching the client (dropped, truncated, abandoned) or of
    /// a retry of its key getting the empty 200: the real server stores it
    /// twice. The 30 s are scaled by `time_scale`, down to 10 s at least
    /// (the resend waits on the client's own backoff, which is not
    /// scaled). The same chat and text sent again with no such loss in
    /// between is not this, nor a retry under the same key.
    ResentUnderNewKey,
}

impl fmt::Display for DiagnosticKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            DiagnosticKind::KeyReusedForDifferentMessage => "key reused for a different message",
            DiagnosticKind::ConcurrentSameKey => "same key on two open connections",
            DiagnosticKind::RetryWithoutBackoff => "retry without backoff",
            DiagnosticKind::MissingIdempotencyKey => "missing Idempotency-Key",
            DiagnosticKind::ReconnectWithoutLastEventId => "reconnect without Last-Event-ID",
            DiagnosticKind::ReconnectStorm => "reconnect storm",
            DiagnosticKind::PreflightRefused => "CORS preflight refused",
            DiagnosticKind::ResentUnderNewKey => {
                "message resent under a new key after its answer was lost"
            }
        };
        f.write_str(name)
    }
}

/// One thing the client did that the real server would punish silently.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnostic {
    /// The rule.
    pub kind: DiagnosticKind,
    /// When (the server's clock).
    pub at: DateTime<FixedOffset>,
    /// The [`RecordedRequest::seq`](crate::records::RecordedRequest::seq) of the
    /// request that broke it.
    pub request_seq: u64,
    /// What happened and what the real server would do, in a sentence.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "request #{}: {}: {}",
            self.request_seq, self.kind, self.message
        )
    }
}

#[derive(Debug, Default)]
struct KeyState {
    /// POSTs with this key in flight (their connections still open).
    in_flight: usize,
    last_answer: Option<Instant>,
    quick_retries: u32,
}

/// A key as the rules follow it: its raw bytes (Go compares keys byte for
/// byte, so two keys that show alike are two keys), bounded in size.
type FollowedKey = Box<[u8]>;

/// `key` as followed: as it is up to [`KEY_BYTES_KEPT`] bytes; a longer one
/// as its first bytes, then its length and its hash (so memory stays
/// bounded whatever clients send, and long keys that share a prefix still
/// differ).
fn followed(key: &[u8]) -> FollowedKey {
    if key.len() <= KEY_BYTES_KEPT {
        return key.into();
    }
    let mut out = Vec::with_capacity(KEY_BYTES_KEPT + 16);
    out.extend_from_slice(&key[..KEY_BYTES_KEPT]);
    out.extend_from_slice(&(key.len() as u64).to_le_bytes());
    out.extend_from_slice(&stable_hash(key).to_le_bytes());
    out.into()
}

/// `key` quoted for a message (bytes that are not UTF-8 as `\xNN`, so two
/// keys that show alike read apart), cut after [`KEY_BYTES_KEPT`] bytes
/// (not inside a character).
fn shown(key: &[u8]) -> String {
    if key.len() <= KEY_BYTES_KEPT {
        return quoted(key);
    }
    let mut cut = KEY_BYTES_KEPT;
    // Back to the start of a character (continuation bytes are 10xxxxxx).
    while cut > KEY_BYTES_KEPT - 3 && key[cut] & 0xc0 == 0x80 {
        cut -= 1;
    }
    format!("{}…", quoted(&key[..cut]))
}

#[derive(Debug, Default)]
struct State {
    keys: HashMap<FollowedKey, KeyState>,
    key_order: VecDeque<FollowedKey>,
    /// When the server last ended or cut a stream that had delivered events.
    last_server_end: Option<Instant>,
    /// Recent SSE connections no server end explains.
    unexplained_opens: VecDeque<Instant>,
    /// The messages stored lately, for the double send.
    resent: Memory,
}

/// The diagnostics of one server.
pub(crate) struct Diagnostics {
    time_scale: f64,
    found: Mutex<Ring<Diagnostic>>,
    state: Mutex<State>,
    /// Told of each diagnostic as it is found (the live feed).
    observer: Option<Observer>,
}

/// What hears of each diagnostic as it is found.
type Observer = Arc<dyn Fn(&Diagnostic) + Send + Sync>;

impl fmt::Debug for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Diagnostics")
            .field("time_scale", &self.time_scale)
            .field("found", &self.found)
            .field("state", &self.state)
            .field("observed", &self.observer.is_some())
            .finish()
    }
}

/// Marks a POST in flight until dropped (hyper drops a request's future
/// when its client goes away, so an abandoned attempt stops counting).
/// Dropped before [`answered`](Self::answered), its answer never reached
/// the client.
#[derive(Debug)]
pub(crate) struct InFlight {
    diagnostics: Arc<Diagnostics>,
    key: FollowedKey,
    answered: bool,
}

impl InFlight {
    /// The POST's answer goes out, as `fault` (if any) makes it: a dropped
    /// connection or a cut body does not reach the client.
    pub(crate) fn answered(mut self, fault: Option<Fault>) {
        self.answered = true;
        let d = &self.diagnostics;
        if let Some(k) = lock(&d.state).keys.get_mut(&self.key) {
            k.last_answer = Some(Instant::now());
        }
        let lost = matches!(
            fault,
            Some(Fault::DropBeforeCommit | Fault::DropAfterCommit | Fault::TruncatedBody)
        );
        if lost {
            d.answer_lost(&self.key, Loss::Dropped);
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut state = lock(&self.diagnostics.state);
        if let Some(k) = state.keys.get_mut(&self.key) {
            k.in_flight = k.in_flight.saturating_sub(1);
        }
        drop(state);
        if !self.answered {
            self.diagnostics.answer_lost(&self.key, Loss::Abandoned);
        }
    }
}

impl Diagnostics {
    pub(crate) fn new(time_scale: f64) -> Self {
        Diagnostics {
            time_scale,
            found: Mutex::new(Ring::new(CAPACITY)),
            state: Mutex::new(State::default()),
            observer: None,
        }
    }

    /// Tells `observer` of every diagnostic found.
    pub(crate) fn with_observer(self, observer: Observer) -> Self {
        Diagnostics {
            observer: Some(observer),
            ..self
        }
    }

    fn scaled(&self, ms: u64) -> Duration {
        crate::clock::scale(Duration::from_millis(ms), self.time_scale)
    }

    /// The double send's window: [`resent::WINDOW`] scaled, at least
    /// [`resent::WINDOW_FLOOR`].
    fn resend_window(&self) -> Duration {
        let scaled = crate::clock::scale(resent::WINDOW, self.time_scale);
        scaled.max(resent::WINDOW_FLOOR)
    }

    fn report(
        &self,
        kind: DiagnosticKind,
        at: DateTime<FixedOffset>,
        request_seq: u64,
        message: String,
    ) {
        let d = Diagnostic {
            kind,
            at,
            request_seq,
            message,
        };
        tracing::warn!(target: "mock_chat_server::diagnostics", "{d}");
        if let Some(observer) = &self.observer {
            observer(&d);
        }
        lock(&self.found).push(d);
    }

    /// Everything found since start or reset.
    pub(crate) fn all(&self) -> Vec<Diagnostic> {
        lock(&self.found).iter().cloned().collect()
    }

    pub(crate) fn clear(&self) {
        lock(&self.found).clear();
        *lock(&self.state) = State::default();
    }

    /// A POST arrived. Returns the guard that keeps it in flight.
    pub(crate) fn post_started(
        self: &Arc<Self>,
        key: Option<&[u8]>,
        at: DateTime<FixedOffset>,
        request_seq: u64,
    ) -> Option<InFlight> {
        let Some(key) = key.filter(|k| !k.is_empty()) else {
            self.report(
                DiagnosticKind::MissingIdempotencyKey,
                at,
                request_seq,
                "POST without an Idempotency-Key: the real server answers 400 and stores nothing"
                    .into(),
            );
            return None;
        };
        let (raw, key) = (key, followed(key));
        let (concurrent, storm) = self.follow(&key);
        if concurrent {
            self.report(
                DiagnosticKind::ConcurrentSameKey,
                at,
                request_seq,
                format!(
                    "key {} sent again while an earlier request with it was still open: \
                     the real server stores one and answers the other an empty 200",
                    shown(raw)
                ),
            );
        }
        if storm {
            self.report(
                DiagnosticKind::RetryWithoutBackoff,
                at,
                request_seq,
                format!(
                    "key {} retried 3 times within 10 ms of each answer: back off between retries",
                    shown(raw)
                ),
            );
        }
        Some(InFlight {
            diagnostics: Arc::clone(self),
            key,
            answered: false,
        })
    }

    /// Counts one more POST of `key` in flight. Returns whether another was
    /// (the same key on two open connections) and whether this is the
    /// third quick retry in a row (a retry storm).
    fn follow(&self, key: &FollowedKey) -> (bool, bool) {
        let now = Instant::now();
        let mut state = lock(&self.state);
        if !state.keys.contains_key(key) {
            state.key_order.push_back(key.clone());
            while state.key_order.len() > KEYS_FOLLOWED {
                if let Some(old) = state.key_order.pop_front() {
                    state.keys.remove(&old);
                }
            }
        }
        let quick = self.scaled(10);
        let k = state.keys.entry(key.clone()).or_default();
        let concurrent = k.in_flight > 0;
        k.in_flight += 1;
        match k.last_answer {
            Some(t) if now.duration_since(t) < quick => k.quick_retries += 1,
            _ => k.quick_retries = 0,
        }
        (concurrent, k.quick_retries == 3)
    }

    /// A POST stored its message (`chat`, `text`) under `key`, a key the
    /// store had not seen: a resend if the same message lost its answer
    /// under another key lately.
    pub(crate) fn message_stored(
        &self,
        key: &[u8],
        message: (ChatId, &str),
        at: DateTime<FixedOffset>,
        request_seq: u64,
    ) {
        let window = self.resend_window();
        let found = lock(&self.state).resent.stored(
            &followed(key),
            message,
            (request_seq, at),
            Instant::now(),
            window,
        );
        if let Some(r) = found {
            self.report_resend(r, Some(key));
        }
    }

    /// A POST with a known `key`, carrying the message the key stored, got
    /// the empty 200: the client may take it for a failure.
    pub(crate) fn known_key_answered(&self, key: &[u8]) {
        self.answer_lost(&followed(key), Loss::EmptyAnswer);
    }

    fn answer_lost(&self, key: &[u8], loss: Loss) {
        let window = self.resend_window();
        let found = lock(&self.state)
            .resent
            .lost(key, loss, Instant::now(), window);
        for r in found {
            self.report_resend(r, None);
        }
    }

    fn report_resend(&self, r: Resend, key: Option<&[u8]>) {
        let key = key.map_or_else(
            || "a new key".into(),
            |k| format!("the new key {}", shown(k)),
        );
        self.report(
            DiagnosticKind::ResentUnderNewKey,
            r.at,
            r.request_seq,
            format!(
                "the message of request #{} sent again under {key} after {}: the real server \
                 stores it twice; retry under the same key and take an empty 200 as \
                 \"already stored\"",
                r.earlier_seq,
                r.loss.words()
            ),
        );
    }

    /// A known key came with another chat or text.
    pub(crate) fn key_reused(&self, key: &[u8], at: DateTime<FixedOffset>, request_seq: u64) {
        self.report(
            DiagnosticKind::KeyReusedForDifferentMessage,
            at,
            request_seq,
            format!(
                "key {} was already used for another message: the real server answers an \
                 empty 200 and this message is lost",
                shown(key)
            ),
        );
    }

    /// A CORS preflight was refused for `what` (a sentence naming the
    /// method or header).
    pub(crate) fn preflight_refused(
        &self,
        what: &str,
        at: DateTime<FixedOffset>,
        request_seq: u64,
    ) {
        self.report(
            DiagnosticKind::PreflightRefused,
            at,
            request_seq,
            format!(
                "CORS preflight refused: {what}; the real server withholds the grant and the \
                 browser blocks the request"
            ),
        );
    }

    /// An SSE connection opened.
    pub(crate) fn stream_opened(
        &self,
        has_last_event_id: bool,
        at: DateTime<FixedOffset>,
        request_seq: u64,
    ) {
        let now = Instant::now();
        let window = self.scaled(1000);
        let mut state = lock(&self.state);
        let after_server_end = state
            .last_server_end
            .is_some_and(|t| now.duration_since(t) <= window);
        if after_server_end {
            state.last_server_end = None;
            drop(state);
            if !has_last_event_id {
                self.report(
                    DiagnosticKind::ReconnectWithoutLastEventId,
                    at,
                    request_seq,
                    "reconnected without Last-Event-ID after the server ended the stream: the \
                     real server replays its whole log again"
                        .into(),
                );
            }
            return;
        }
        state.unexplained_opens.push_back(now);
        while state
            .unexplained_opens
            .front()
            .is_some_and(|t| now.duration_since(*t) > window)
        {
            state.unexplained_opens.pop_front();
        }
        let storm = state.unexplained_opens.len() == 6;
        drop(state);
        if storm {
            self.report(
                DiagnosticKind::ReconnectStorm,
                at,
                request_seq,
                "more than 5 SSE connections within 1 s that no server end explains".into(),
            );
        }
    }

    /// The server ended or cut a stream after it delivered `delivered` events.
    pub(crate) fn stream_ended_by_server(&self, delivered: u64) {
        if delivered > 0 {
            lock(&self.state).last_server_end = Some(Instant::now());
        }
    }
}

#[cfg(test)]
mod tests;
