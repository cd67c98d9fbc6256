//! In-memory state: chats, messages and the idempotency table.
//!
//! Knows nothing of HTTP or SSE: it stores, looks up and renders. Every
//! message is serialized to its wire JSON exactly once, when stored, and the
//! bytes are shared by history answers, idempotent replays and SSE.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, SubsecRound, Utc};
use serde_json::json;
use tokio::time::Instant;

use crate::model::{Author, Chat, ChatFixture, IdStyle, Message};
use crate::seeded::{lock, stable_hash, uuid_at, Stream};

/// Where `sent_at` timestamps come from.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use mock_chat_server::Clock;
/// use std::time::Duration;
///
/// // Every stored message is 1 s after the previous one, from a fixed start.
/// let clock = Clock::fixed(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(), Duration::from_secs(1));
/// # let _ = clock;
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Clock {
    /// The system clock (the default).
    #[default]
    Real,
    /// Reproducible timestamps: the n-th reading (from 0) is `start + n × step`.
    Fixed {
        /// The first reading.
        start: DateTime<Utc>,
        /// The advance per reading.
        step: Duration,
    },
}

impl Clock {
    /// A fixed clock starting at `start` and advancing `step` per reading.
    pub fn fixed(start: DateTime<Utc>, step: Duration) -> Self {
        Clock::Fixed { start, step }
    }
}

/// A [`Clock`] with its reading counter.
#[derive(Debug)]
pub(crate) struct Ticker {
    clock: Clock,
    readings: AtomicU64,
}

impl Ticker {
    pub(crate) fn new(clock: Clock) -> Self {
        Ticker {
            clock,
            readings: AtomicU64::new(0),
        }
    }

    /// The next reading, truncated to the millisecond the wire shows, so a
    /// `Message` from the handle equals the one parsed from the wire.
    pub(crate) fn now(&self) -> DateTime<Utc> {
        let t = match &self.clock {
            Clock::Real => Utc::now(),
            Clock::Fixed { start, step } => {
                let n = self.readings.fetch_add(1, Ordering::SeqCst);
                let offset = step.saturating_mul(u32::try_from(n).unwrap_or(u32::MAX));
                chrono::Duration::from_std(offset)
                    .ok()
                    .and_then(|d| start.checked_add_signed(d))
                    .unwrap_or(DateTime::<Utc>::MAX_UTC)
            }
        };
        t.trunc_subsecs(3)
    }

    fn reset(&self) {
        self.readings.store(0, Ordering::SeqCst);
    }
}

/// A stored message with its wire JSON.
#[derive(Debug)]
pub(crate) struct StoredMessage {
    pub(crate) message: Message,
    pub(crate) json: Bytes,
}

/// Limits and rendering options of a [`Store`].
#[derive(Debug, Clone)]
pub(crate) struct StoreConfig {
    pub(crate) seed: u64,
    pub(crate) id_style: IdStyle,
    pub(crate) key_retention: Duration,
    pub(crate) key_capacity: usize,
}

/// Why a lookup failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LookupError {
    /// The id is not a positive integer (or UUID, in UUID mode).
    Invalid,
    /// No such chat.
    NotFound,
}

/// The outcome of trying to reserve an idempotency key.
#[derive(Debug)]
pub(crate) enum Begin {
    /// The key is new: go ahead and commit with this reservation.
    Fresh(Reservation),
    /// The key was used with the same chat and text: here is the original.
    Replay(Arc<StoredMessage>),
    /// The first request with this key is still being processed.
    InUse,
    /// The key was used with another chat or text.
    Reused,
}

#[derive(Debug)]
enum KeyState {
    InFlight,
    Done(Arc<StoredMessage>),
}

#[derive(Debug)]
struct KeyEntry {
    serial: u64,
    chat_id: u64,
    fingerprint: (u64, usize),
    state: KeyState,
}

#[derive(Debug, Default)]
struct KeyTable {
    entries: HashMap<String, KeyEntry>,
    order: VecDeque<(Instant, u64, String)>,
    next_serial: u64,
}

#[derive(Debug)]
struct ChatState {
    chat: Chat,
    messages: Vec<Arc<StoredMessage>>,
}

#[derive(Debug, Default)]
struct Inner {
    chats: Vec<ChatState>,
    chats_json: Option<Bytes>,
    next_message_id: u64,
    user_messages: u64,
    generation: u64,
    keys: KeyTable,
    chat_uuids: HashMap<uuid::Uuid, u64>,
    message_uuids: HashMap<uuid::Uuid, u64>,
}

/// The in-memory store of one server.
#[derive(Debug)]
pub(crate) struct Store {
    config: StoreConfig,
    ticker: Ticker,
    inner: Mutex<Inner>,
}

/// Holds an idempotency key "in flight" until dropped; then the key is
/// either finalized (if [`Store::commit`] stored a message) or released.
#[derive(Debug)]
pub(crate) struct Reservation {
    store: Arc<Store>,
    key: String,
    serial: u64,
    chat_id: u64,
    text: String,
    committed: Option<Arc<StoredMessage>>,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let mut inner = lock(&self.store.inner);
        let matches = inner
            .keys
            .entries
            .get(&self.key)
            .is_some_and(|e| e.serial == self.serial);
        if !matches {
            return;
        }
        match self.committed.take() {
            Some(msg) => {
                if let Some(e) = inner.keys.entries.get_mut(&self.key) {
                    e.state = KeyState::Done(msg);
                }
            }
            None => {
                inner.keys.entries.remove(&self.key);
            }
        }
    }
}

/// What a commit produced: the message and, for a user message, its ordinal
/// `n` among committed user messages (for the bot).
#[derive(Debug, Clone)]
pub(crate) struct Committed {
    pub(crate) message: Arc<StoredMessage>,
    pub(crate) user_ordinal: Option<u64>,
    pub(crate) generation: u64,
}

impl Store {
    pub(crate) fn new(config: StoreConfig, clock: Clock, fixtures: &[ChatFixture]) -> Arc<Self> {
        let store = Arc::new(Store {
            config,
            ticker: Ticker::new(clock),
            inner: Mutex::new(Inner::default()),
        });
        store.load(fixtures, false);
        store
    }

    /// Replaces everything with the fixtures (the reset operation).
    pub(crate) fn reset(&self, fixtures: &[ChatFixture]) {
        self.load(fixtures, true);
    }

    fn load(&self, fixtures: &[ChatFixture], bump_generation: bool) {
        self.ticker.reset();
        let now = self.ticker.now();
        let mut inner = lock(&self.inner);
        let generation = inner.generation + u64::from(bump_generation);
        // Key serials keep counting across resets: a reservation from before
        // a reset must never match (and finalize or release) a new entry.
        let next_serial = inner.keys.next_serial;
        *inner = Inner {
            generation,
            next_message_id: 1,
            ..Inner::default()
        };
        inner.keys.next_serial = next_serial;
        let mut seeded: Vec<(u64, &crate::model::MessageFixture, usize)> = Vec::new();
        for (i, fixture) in fixtures.iter().enumerate() {
            let id = self.add_chat_locked(&mut inner, fixture.name.clone());
            for m in &fixture.messages {
                seeded.push((id, m, i));
            }
        }
        // Fixture messages get ids in time order, so history stays ordered by
        // both id and sent_at.
        seeded.sort_by_key(|(_, m, i)| (std::cmp::Reverse(m.ago_secs), *i));
        for (n, (chat_id, m, _)) in seeded.into_iter().enumerate() {
            let sent_at = now - chrono::Duration::seconds(i64::try_from(m.ago_secs).unwrap_or(0));
            let key = uuid_at(self.config.seed, Stream::Inject, u64::MAX - n as u64).to_string();
            self.insert_locked(
                &mut inner,
                chat_id,
                m.author,
                m.text.clone(),
                key,
                Some(sent_at),
            );
        }
    }

    fn add_chat_locked(&self, inner: &mut Inner, name: String) -> u64 {
        let id = inner.chats.len() as u64 + 1;
        if self.config.id_style == IdStyle::Uuid {
            inner
                .chat_uuids
                .insert(uuid_at(self.config.seed, Stream::ChatUuid, id), id);
        }
        inner.chats.push(ChatState {
            chat: Chat { id, name },
            messages: Vec::new(),
        });
        inner.chats_json = None;
        id
    }

    fn insert_locked(
        &self,
        inner: &mut Inner,
        chat_id: u64,
        author: Author,
        text: String,
        key: String,
        sent_at: Option<DateTime<Utc>>,
    ) -> Arc<StoredMessage> {
        let id = inner.next_message_id;
        inner.next_message_id += 1;
        let message = Message {
            id,
            chat_id,
            author,
            text,
            sent_at: sent_at.unwrap_or_else(|| self.ticker.now()),
            idempotency_key: key,
        };
        if self.config.id_style == IdStyle::Uuid {
            inner
                .message_uuids
                .insert(uuid_at(self.config.seed, Stream::MessageUuid, id), id);
        }
        let json = self.render_message(&message);
        let stored = Arc::new(StoredMessage { message, json });
        if let Some(chat) = usize::try_from(chat_id - 1)
            .ok()
            .and_then(|i| inner.chats.get_mut(i))
        {
            chat.messages.push(Arc::clone(&stored));
        }
        stored
    }

    fn wire_id(&self, stream: Stream, id: u64) -> serde_json::Value {
        match self.config.id_style {
            IdStyle::Number => json!(id),
            IdStyle::Uuid => json!(uuid_at(self.config.seed, stream, id).to_string()),
        }
    }

    /// The wire form of a chat id (a number, or a UUID string in UUID mode).
    pub(crate) fn wire_chat_id(&self, id: u64) -> serde_json::Value {
        self.wire_id(Stream::ChatUuid, id)
    }

    /// The wire form of a message id.
    pub(crate) fn wire_message_id(&self, id: u64) -> serde_json::Value {
        self.wire_id(Stream::MessageUuid, id)
    }

    fn render_message(&self, m: &Message) -> Bytes {
        let bytes = match self.config.id_style {
            IdStyle::Number => {
                // Sized up front: `to_vec` would grow (and copy) ~6 times.
                let mut out = Vec::with_capacity(128 + m.text.len() + m.idempotency_key.len());
                serde_json::to_writer(&mut out, m).map(|()| out)
            }
            IdStyle::Uuid => {
                let mut v = serde_json::to_value(m).unwrap_or_default();
                v["id"] = self.wire_message_id(m.id);
                v["chat_id"] = self.wire_chat_id(m.chat_id);
                serde_json::to_vec(&v)
            }
        };
        Bytes::from(bytes.unwrap_or_default())
    }

    /// How ids appear on the wire.
    pub(crate) fn id_style(&self) -> IdStyle {
        self.config.id_style
    }

    /// Parses a chat id from a path segment and checks the chat exists.
    pub(crate) fn resolve_chat(&self, raw: &str) -> Result<u64, LookupError> {
        let inner = lock(&self.inner);
        let id = match self.config.id_style {
            IdStyle::Number => parse_positive(raw).ok_or(LookupError::Invalid)?,
            IdStyle::Uuid => {
                let uuid = uuid::Uuid::parse_str(raw).map_err(|_| LookupError::Invalid)?;
                *inner.chat_uuids.get(&uuid).ok_or(LookupError::NotFound)?
            }
        };
        if id as usize <= inner.chats.len() {
            Ok(id)
        } else {
            Err(LookupError::NotFound)
        }
    }

    /// Parses a message id given in a query (`before`). `None` if malformed
    /// or (in UUID mode) unknown.
    pub(crate) fn parse_message_id(&self, raw: &str) -> Option<u64> {
        match self.config.id_style {
            IdStyle::Number => parse_positive(raw),
            IdStyle::Uuid => {
                let uuid = uuid::Uuid::parse_str(raw).ok()?;
                lock(&self.inner).message_uuids.get(&uuid).copied()
            }
        }
    }

    pub(crate) fn chats(&self) -> Vec<Chat> {
        lock(&self.inner)
            .chats
            .iter()
            .map(|c| c.chat.clone())
            .collect()
    }

    pub(crate) fn chat(&self, id: u64) -> Option<Chat> {
        let inner = lock(&self.inner);
        chat_ref(&inner, id).map(|c| c.chat.clone())
    }

    /// `GET /chats` body, cached until a chat is added.
    pub(crate) fn chats_json(&self) -> Bytes {
        let mut inner = lock(&self.inner);
        if let Some(b) = &inner.chats_json {
            return b.clone();
        }
        let list: Vec<serde_json::Value> = inner
            .chats
            .iter()
            .map(|c| json!({"id": self.wire_chat_id(c.chat.id), "name": c.chat.name}))
            .collect();
        let bytes = Bytes::from(serde_json::to_vec(&list).unwrap_or_default());
        inner.chats_json = Some(bytes.clone());
        bytes
    }

    /// Up to `limit` most recent messages of a chat with id `< before`
    /// (if given), oldest first. O(log n + limit).
    pub(crate) fn history(
        &self,
        chat_id: u64,
        limit: usize,
        before: Option<u64>,
    ) -> Option<Vec<Arc<StoredMessage>>> {
        let inner = lock(&self.inner);
        let chat = chat_ref(&inner, chat_id)?;
        let end = match before {
            Some(b) => chat.messages.partition_point(|m| m.message.id < b),
            None => chat.messages.len(),
        };
        let start = end.saturating_sub(limit);
        Some(chat.messages[start..end].to_vec())
    }

    /// Reserves an idempotency key for `(chat_id, text)`.
    pub(crate) fn begin(self: &Arc<Self>, key: &str, chat_id: u64, text: &str) -> Begin {
        let fingerprint = (stable_hash(text), text.len());
        let now = Instant::now();
        let mut inner = lock(&self.inner);
        let capacity = self.config.key_capacity.max(1);
        self.evict_keys(&mut inner.keys, now, capacity);
        if let Some(entry) = inner.keys.entries.get(key) {
            if entry.chat_id != chat_id || entry.fingerprint != fingerprint {
                return Begin::Reused;
            }
            return match &entry.state {
                KeyState::InFlight => Begin::InUse,
                KeyState::Done(msg) if msg.message.text == text => Begin::Replay(Arc::clone(msg)),
                KeyState::Done(_) => Begin::Reused,
            };
        }
        let table = &mut inner.keys;
        // Make room: the `key_capacity` most recent keys, this one included, stay.
        self.evict_keys(table, now, capacity - 1);
        let serial = table.next_serial;
        table.next_serial += 1;
        table.entries.insert(
            key.to_string(),
            KeyEntry {
                serial,
                chat_id,
                fingerprint,
                state: KeyState::InFlight,
            },
        );
        table.order.push_back((now, serial, key.to_string()));
        Begin::Fresh(Reservation {
            store: Arc::clone(self),
            key: key.to_string(),
            serial,
            chat_id,
            text: text.to_string(),
            committed: None,
        })
    }

    /// Forgets expired keys, then the oldest ones until at most `keep` remain.
    /// A key still in flight is never forgotten (a retry would then commit
    /// a second message): it goes to the back of the line instead, so the
    /// table may exceed `keep` by the number of requests in flight.
    fn evict_keys(&self, table: &mut KeyTable, now: Instant, keep: usize) {
        let mut budget = table.order.len();
        while let Some((at, _, _)) = table.order.front() {
            let expired = now.saturating_duration_since(*at) >= self.config.key_retention;
            if (!expired && table.order.len() <= keep) || budget == 0 {
                break;
            }
            budget -= 1;
            let Some((at, serial, key)) = table.order.pop_front() else {
                break;
            };
            match table.entries.get(&key) {
                Some(e) if e.serial == serial && matches!(e.state, KeyState::InFlight) => {
                    table.order.push_back((at, serial, key));
                }
                Some(e) if e.serial == serial => {
                    table.entries.remove(&key);
                }
                _ => {}
            }
        }
    }

    /// Number of idempotency keys currently held.
    #[cfg(test)]
    pub(crate) fn key_count(&self) -> usize {
        lock(&self.inner).keys.entries.len()
    }

    /// Stores the reserved user message. `publish` runs under the store lock,
    /// so events go out in id order.
    pub(crate) fn commit(
        &self,
        reservation: &mut Reservation,
        publish: impl FnOnce(&Arc<StoredMessage>),
    ) -> Committed {
        let mut inner = lock(&self.inner);
        let msg = self.insert_locked(
            &mut inner,
            reservation.chat_id,
            Author::User,
            std::mem::take(&mut reservation.text),
            reservation.key.clone(),
            None,
        );
        inner.user_messages += 1;
        let n = inner.user_messages;
        publish(&msg);
        reservation.committed = Some(Arc::clone(&msg));
        Committed {
            message: msg,
            user_ordinal: Some(n),
            generation: inner.generation,
        }
    }

    /// Stores a message that needs no idempotency (bot answers, injections).
    /// With `generation`, nothing is stored if a reset happened since.
    pub(crate) fn insert(
        &self,
        chat_id: u64,
        author: Author,
        text: String,
        key: String,
        generation: Option<u64>,
        publish: impl FnOnce(&Arc<StoredMessage>),
    ) -> Option<Committed> {
        let mut inner = lock(&self.inner);
        if generation.is_some_and(|g| g != inner.generation) {
            return None;
        }
        chat_ref(&inner, chat_id)?;
        let msg = self.insert_locked(&mut inner, chat_id, author, text, key, None);
        publish(&msg);
        Some(Committed {
            message: msg,
            user_ordinal: None,
            generation: inner.generation,
        })
    }

    pub(crate) fn add_chat(&self, name: String) -> Chat {
        let mut inner = lock(&self.inner);
        let id = self.add_chat_locked(&mut inner, name);
        inner.chats[id as usize - 1].chat.clone()
    }

    #[cfg(test)]
    pub(crate) fn generation(&self) -> u64 {
        lock(&self.inner).generation
    }

    /// Total messages stored (all chats).
    #[cfg(test)]
    pub(crate) fn message_count(&self) -> usize {
        lock(&self.inner)
            .chats
            .iter()
            .map(|c| c.messages.len())
            .sum()
    }
}

fn chat_ref(inner: &Inner, id: u64) -> Option<&ChatState> {
    inner.chats.get(usize::try_from(id.checked_sub(1)?).ok()?)
}

/// A positive decimal integer with no sign, spaces or leading `+`.
pub(crate) fn parse_positive(raw: &str) -> Option<u64> {
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    raw.parse::<u64>().ok().filter(|n| *n > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(capacity: usize) -> Arc<Store> {
        Store::new(
            StoreConfig {
                seed: 1,
                id_style: IdStyle::Number,
                key_retention: Duration::from_secs(3600),
                key_capacity: capacity,
            },
            Clock::Real,
            &ChatFixture::defaults(),
        )
    }

    fn post(s: &Arc<Store>, key: &str, chat: u64, text: &str) -> Result<u64, &'static str> {
        match s.begin(key, chat, text) {
            Begin::Fresh(mut r) => Ok(s.commit(&mut r, |_| {}).message.message.id),
            Begin::Replay(m) => Err(if m.message.text == text {
                "replay"
            } else {
                "?"
            }),
            Begin::InUse => Err("in_use"),
            Begin::Reused => Err("reused"),
        }
    }

    #[test]
    fn fixtures_are_loaded_in_time_order() {
        let s = store(10);
        assert_eq!(s.chats().len(), 4);
        assert_eq!(s.message_count(), 4);
        // The oldest fixture (one day ago, chat 4) gets message id 1.
        let h = s.history(4, 100, None).unwrap();
        assert_eq!(h[0].message.id, 1);
        let h = s.history(1, 100, None).unwrap();
        assert_eq!(h[0].message.id, 4);
    }

    #[test]
    fn idempotency_rules() {
        let s = store(100);
        let id = post(&s, "k1", 1, "hi").unwrap();
        assert_eq!(post(&s, "k1", 1, "hi"), Err("replay"));
        assert_eq!(post(&s, "k1", 1, "other"), Err("reused"));
        assert_eq!(post(&s, "k1", 2, "hi"), Err("reused"));
        assert_eq!(
            s.history(1, 100, None).unwrap().last().unwrap().message.id,
            id
        );
        // In flight: the reservation is held.
        let Begin::Fresh(r) = s.begin("k2", 1, "x") else {
            panic!()
        };
        assert_eq!(post(&s, "k2", 1, "x"), Err("in_use"));
        drop(r); // released without commit: retry may succeed
        assert!(post(&s, "k2", 1, "x").is_ok());
    }

    #[test]
    fn key_table_is_bounded() {
        let s = store(50);
        for i in 0..500 {
            post(&s, &format!("key-{i}"), 1, "t").unwrap();
        }
        assert!(s.key_count() <= 50, "{}", s.key_count());
    }

    #[test]
    fn history_pages_back() {
        let s = store(1000);
        let ids: Vec<u64> = (0..150)
            .map(|i| post(&s, &format!("k{i}"), 2, &format!("m{i}")).unwrap())
            .collect();
        let h = s.history(2, 100, None).unwrap();
        assert_eq!(h.len(), 100);
        assert_eq!(h.last().unwrap().message.id, *ids.last().unwrap());
        assert!(h.windows(2).all(|w| w[0].message.id < w[1].message.id));
        let older = s.history(2, 10, Some(h[0].message.id)).unwrap();
        assert_eq!(older.len(), 10);
        assert_eq!(older.last().unwrap().message.id + 1, h[0].message.id);
    }

    #[test]
    fn ids_parse_strictly() {
        assert_eq!(parse_positive("12"), Some(12));
        for bad in [
            "",
            "0",
            "-1",
            "+1",
            "1e3",
            " 1",
            "abc",
            "99999999999999999999",
        ] {
            assert_eq!(parse_positive(bad), None, "{bad}");
        }
    }

    #[test]
    fn reset_bumps_generation_and_refuses_stale_inserts() {
        let s = store(10);
        let g = s.generation();
        s.reset(&ChatFixture::defaults());
        assert!(s
            .insert(1, Author::Bot, "late".into(), "k".into(), Some(g), |_| {})
            .is_none());
        assert_eq!(s.message_count(), 4);
    }

    #[test]
    fn fixed_clock_steps() {
        let start = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 1, 1, 0, 0, 0).unwrap();
        let t = Ticker::new(Clock::fixed(start, Duration::from_millis(1500)));
        assert_eq!(t.now(), start);
        assert_eq!(t.now(), start + chrono::Duration::milliseconds(1500));
    }
}
