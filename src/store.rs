//! In-memory state: chats, messages and the idempotency keys.
//!
//! Knows nothing of HTTP or SSE. Every message is rendered to its wire JSON
//! once, when stored; history answers and SSE frames share those bytes. A
//! POST is checked and stored under one lock, in the reference's order, so
//! POSTs are serialised as the reference serialises them.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};

use crate::clock::Ticker;
use crate::fixtures::ChatFixture;
use crate::model::{Author, Chat, ChatId, IdStyle, Message, MessageId};
use crate::seeded::{rng_at, shuffle_at, stable_hash, uuid_from, Purpose};
use crate::sync::lock;
use crate::wire;

/// How many messages `GET /chats/{id}/messages` returns: the most recent.
pub(crate) const HISTORY_LIMIT: usize = 100;

pub(crate) use crate::model::StoredMessage;

/// What one remembered key costs beyond its bytes (it is held twice: in
/// the table and in its order; this is the two string headers, the record
/// and the hash slot).
const KEY_OVERHEAD: usize = 96;

/// Limits and rendering options of a [`Store`].
#[derive(Debug, Clone)]
pub(crate) struct StoreConfig {
    pub(crate) seed: u64,
    pub(crate) id_style: IdStyle,
    pub(crate) key_capacity: usize,
    /// The key table's budget in bytes (the newest key is always kept).
    pub(crate) key_bytes: usize,
    /// The stored messages' budget in bytes, if any: past it, the oldest
    /// messages beyond each chat's newest [`HISTORY_LIMIT`] are forgotten.
    pub(crate) message_bytes: Option<usize>,
}

/// Why a chat id from a path was refused; `Display` is the reference's text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum LookupError {
    /// Not an id at all.
    #[error("invalid chat ID {raw}: {reason}")]
    Invalid { raw: String, reason: String },
    /// A well-formed id no chat has.
    #[error("chat not found with ID {raw}")]
    NotFound { raw: String },
}

/// Where a new message's id comes from: each kind of message draws from its
/// own purpose of draws, so a bot answering late never shifts a user's ids.
#[derive(Debug, Clone, Copy)]
pub(crate) enum IdSource {
    User(u64),
    Bot(u64),
    Injected(u64),
    Fixture(u64),
}

impl IdSource {
    fn purpose(self) -> (Purpose, u64) {
        match self {
            IdSource::User(n) => (Purpose::UserMessageUuid, n),
            IdSource::Bot(n) => (Purpose::BotMessageUuid, n),
            IdSource::Injected(n) => (Purpose::InjectedMessageUuid, n),
            IdSource::Fixture(n) => (Purpose::FixtureMessage, n),
        }
    }
}

/// A message that is not a client POST, on its way in.
#[derive(Debug)]
pub(crate) struct NewMessage {
    pub(crate) chat: ChatId,
    pub(crate) author: Author,
    pub(crate) text: String,
    pub(crate) source: IdSource,
    pub(crate) key: String,
    /// The epoch it belongs to (a bot answer's), or `None`: now.
    pub(crate) epoch: Option<u64>,
}

/// A POST, as the store checks it.
#[derive(Debug)]
pub(crate) struct PostInput<'a> {
    pub(crate) raw_chat: &'a str,
    /// The `Idempotency-Key`'s raw bytes: Go compares keys byte for byte.
    pub(crate) key: Option<&'a [u8]>,
    pub(crate) body: PostBody<'a>,
}

/// A POST's body, as far as it was read.
#[derive(Debug, Clone, Copy)]
pub(crate) enum PostBody<'a> {
    Read(&'a [u8]),
    /// Over the size limit.
    TooLarge,
    /// Not read: the client waits for `100 Continue`, which Go sends only
    /// when the handler reads, and the key check needs no body.
    Unread,
}

/// What a POST came to, in the reference's order of checks.
#[derive(Debug)]
pub(crate) enum PostOutcome {
    /// No `Idempotency-Key`, or an empty one: 400.
    MissingKey,
    /// The key was used before: an empty 200, nothing stored. `same` says
    /// whether this request carries the same chat and text as the first.
    KnownKey { same: bool },
    /// The body is over the limit: 413.
    TooLarge,
    /// Go's decoder refused the body: 400 with its message.
    BadBody(String),
    /// The chat id: 400.
    BadChat(LookupError),
    /// Stored; the closure given to [`Store::post`] has run.
    Stored(Committed),
}

/// A stored message and what follows from it.
#[derive(Debug, Clone)]
pub(crate) struct Committed {
    pub(crate) message: Arc<StoredMessage>,
    /// The message's ordinal among user messages since reset (for the bot).
    pub(crate) user_ordinal: Option<u64>,
    /// The epoch it belongs to.
    pub(crate) epoch: u64,
}

#[derive(Debug)]
struct KeyRecord {
    chat: ChatId,
    text_hash: u64,
}

/// Idempotency keys (their raw bytes), forgotten oldest first past the
/// capacity or the byte budget.
#[derive(Debug, Default)]
struct KeyTable {
    records: HashMap<Box<[u8]>, KeyRecord>,
    order: VecDeque<Box<[u8]>>,
    /// What the keys held cost, by [`key_cost`].
    bytes: usize,
}

#[derive(Debug)]
struct ChatState {
    chat: Chat,
    /// The chat's wire JSON, rendered once.
    json: Bytes,
    messages: VecDeque<Arc<StoredMessage>>,
}

#[derive(Debug, Default)]
struct Inner {
    epoch: u64,
    chats: Vec<ChatState>,
    index: HashMap<ChatId, usize>,
    keys: KeyTable,
    /// What the held messages cost ([`StoredMessage::cost`]).
    message_bytes: usize,
    /// With a message budget: the chat (index) of each message that left
    /// its chat's newest [`HISTORY_LIMIT`], in the order they left.
    beyond_history: VecDeque<usize>,
    user_messages: u64,
    next_number: u64,
    chat_reads: u64,
}

/// The in-memory store of one server.
#[derive(Debug)]
pub(crate) struct Store {
    config: StoreConfig,
    ticker: Arc<Ticker>,
    inner: Mutex<Inner>,
}

impl Store {
    pub(crate) fn new(config: StoreConfig, ticker: Arc<Ticker>, fixtures: &[ChatFixture]) -> Self {
        let store = Store {
            config,
            ticker,
            inner: Mutex::new(Inner::default()),
        };
        store.load(fixtures, 0);
        store
    }

    /// Replaces everything with the fixtures, in a new epoch.
    pub(crate) fn reset(&self, fixtures: &[ChatFixture]) {
        let epoch = lock(&self.inner).epoch + 1;
        self.load(fixtures, epoch);
    }

    fn load(&self, fixtures: &[ChatFixture], epoch: u64) {
        self.ticker.reset();
        let now = self.ticker.now();
        let mut inner = lock(&self.inner);
        *inner = Inner {
            epoch,
            next_number: 1,
            ..Inner::default()
        };
        let mut n = 0;
        for fixture in fixtures {
            let chat = self.new_chat(&mut inner, fixture.name.clone());
            for m in &fixture.messages {
                let key = uuid_from(&mut rng_at(
                    self.config.seed,
                    Purpose::FixtureKey as u64,
                    epoch,
                    n,
                ))
                .to_string();
                let ago =
                    chrono::Duration::seconds(i64::try_from(m.ago_secs.min(1 << 40)).unwrap_or(0));
                let sent_at = now.checked_sub_signed(ago).unwrap_or(now);
                let message = self.message(
                    &mut inner,
                    IdSource::Fixture(n),
                    chat,
                    m.author,
                    m.text.clone(),
                    key,
                );
                let message = Message { sent_at, ..message };
                self.push(&mut inner, chat, &message);
                n += 1;
            }
        }
    }

    pub(crate) fn epoch(&self) -> u64 {
        lock(&self.inner).epoch
    }

    fn new_chat(&self, inner: &mut Inner, name: String) -> ChatId {
        let i = inner.chats.len() as u64;
        let id = match self.config.id_style {
            IdStyle::Uuid => ChatId::uuid(uuid_from(&mut rng_at(
                self.config.seed,
                Purpose::ChatUuid as u64,
                inner.epoch,
                i,
            ))),
            IdStyle::Number => ChatId::number(i + 1),
        };
        inner.index.insert(id, inner.chats.len());
        let chat = Chat { id, name };
        inner.chats.push(ChatState {
            json: Bytes::from(wire::chat_json(&chat)),
            chat,
            messages: VecDeque::new(),
        });
        id
    }

    fn message(
        &self,
        inner: &mut Inner,
        source: IdSource,
        chat_id: ChatId,
        author: Author,
        text: String,
        idempotency_key: String,
    ) -> Message {
        let id = match self.config.id_style {
            IdStyle::Uuid => {
                let (purpose, n) = source.purpose();
                MessageId::uuid(uuid_from(&mut rng_at(
                    self.config.seed,
                    purpose as u64,
                    inner.epoch,
                    n,
                )))
            }
            IdStyle::Number => {
                inner.next_number += 1;
                MessageId::number(inner.next_number - 1)
            }
        };
        Message {
            id,
            chat_id,
            author,
            text,
            sent_at: self.ticker.now(),
            idempotency_key,
        }
    }

    /// Stores `message` in its chat, rendered once; with a message budget,
    /// then forgets the oldest messages beyond each chat's newest
    /// [`HISTORY_LIMIT`] while over it.
    fn push(&self, inner: &mut Inner, chat: ChatId, message: &Message) -> Arc<StoredMessage> {
        let stored = Arc::new(StoredMessage::new(message));
        let Some(&i) = inner.index.get(&chat) else {
            return stored;
        };
        let messages = &mut inner.chats[i].messages;
        messages.push_back(Arc::clone(&stored));
        let held = messages.len();
        inner.message_bytes += stored.cost();
        if let Some(budget) = self.config.message_bytes {
            if held > HISTORY_LIMIT {
                inner.beyond_history.push_back(i);
            }
            forget_beyond_history(inner, budget);
        }
        stored
    }

    /// Adds a chat with no messages.
    pub(crate) fn add_chat(&self, name: String) -> Chat {
        let mut inner = lock(&self.inner);
        let id = self.new_chat(&mut inner, name);
        inner.chats[inner.index[&id]].chat.clone()
    }

    /// Every chat, in creation order.
    pub(crate) fn chats(&self) -> Vec<Chat> {
        lock(&self.inner)
            .chats
            .iter()
            .map(|c| c.chat.clone())
            .collect()
    }

    /// `GET /chats`: every chat, in an order drawn from `(seed, epoch, k)`
    /// for the k-th call of the epoch (the reference's order changes
    /// from call to call; no other draw shifts it).
    pub(crate) fn chats_body(&self) -> Bytes {
        let mut inner = lock(&self.inner);
        let k = inner.chat_reads;
        inner.chat_reads += 1;
        let mut order: Vec<usize> = (0..inner.chats.len()).collect();
        shuffle_at(
            self.config.seed,
            Purpose::ChatOrder as u64,
            inner.epoch,
            k,
            &mut order,
        );
        let items = order.iter().map(|&i| inner.chats[i].json.clone());
        json_array(items)
    }

    /// Resolves a chat id from a path, as the reference does.
    fn resolve(&self, inner: &Inner, raw: &str) -> Result<usize, LookupError> {
        let id = match self.config.id_style {
            IdStyle::Uuid => wire::parse_uuid(raw).map(ChatId::uuid),
            IdStyle::Number => match wire::atoi(raw) {
                Some(n) if n > 0 => Ok(ChatId::number(n as u64)),
                _ => Err("not a positive integer".to_string()),
            },
        };
        let id = id.map_err(|reason| LookupError::Invalid {
            raw: raw.to_string(),
            reason,
        })?;
        inner
            .index
            .get(&id)
            .copied()
            .ok_or_else(|| LookupError::NotFound {
                raw: raw.to_string(),
            })
    }

    /// `GET /chats/{id}/messages`: the 100 most recent, oldest first.
    pub(crate) fn history_body(&self, raw_chat: &str) -> Result<Bytes, LookupError> {
        let inner = lock(&self.inner);
        let i = self.resolve(&inner, raw_chat)?;
        let messages = &inner.chats[i].messages;
        let start = messages.len().saturating_sub(HISTORY_LIMIT);
        Ok(json_array(messages.range(start..).map(|m| m.json())))
    }

    /// Every message of a chat still held, oldest first.
    pub(crate) fn messages(&self, chat: &ChatId) -> Option<Vec<Message>> {
        let held: Vec<Arc<StoredMessage>> = {
            let inner = lock(&self.inner);
            let i = *inner.index.get(chat)?;
            inner.chats[i].messages.iter().cloned().collect()
        };
        // Read back outside the lock: POSTs do not wait for it.
        Some(held.iter().map(|m| m.message()).collect())
    }

    /// The chat with this id.
    pub(crate) fn chat(&self, chat: &ChatId) -> Option<Chat> {
        let inner = lock(&self.inner);
        inner.index.get(chat).map(|&i| inner.chats[i].chat.clone())
    }

    /// The messages a chat holds, shared (for tests of the sharing).
    #[cfg(test)]
    pub(crate) fn held(&self, chat: &ChatId) -> Vec<Arc<StoredMessage>> {
        let inner = lock(&self.inner);
        let i = inner.index[chat];
        inner.chats[i].messages.iter().cloned().collect()
    }

    /// What the key table holds: keys and their cost.
    #[cfg(test)]
    pub(crate) fn key_bytes(&self) -> (usize, usize) {
        let inner = lock(&self.inner);
        (inner.keys.order.len(), inner.keys.bytes)
    }

    /// Whether a POST with `key` gets as far as reading its body (the key
    /// is there and not known yet), as the reference's handler decides it.
    pub(crate) fn post_reads_body(&self, key: Option<&[u8]>) -> bool {
        present_key(key).is_some_and(|k| !lock(&self.inner).keys.records.contains_key(k))
    }

    /// A POST: checks in the reference's order, stores, and runs
    /// `on_commit` under the lock (so events are published in store order).
    pub(crate) fn post(
        &self,
        input: PostInput<'_>,
        on_commit: impl FnOnce(&Arc<StoredMessage>),
    ) -> PostOutcome {
        let mut inner = lock(&self.inner);
        let Some(key) = present_key(input.key) else {
            return PostOutcome::MissingKey;
        };
        if let Some(first) = inner.keys.records.get(key) {
            let same = self.same_message(&inner, first, &input);
            return PostOutcome::KnownKey { same };
        }
        let body = match input.body {
            PostBody::Read(b) => b,
            // Left unread because the key was known, and forgotten since
            // (a reset, or the key table's bound): read as nothing.
            PostBody::Unread => &[],
            PostBody::TooLarge => return PostOutcome::TooLarge,
        };
        let text = match wire::decode_message(body) {
            Ok(text) => text,
            Err(e) => return PostOutcome::BadBody(e),
        };
        let i = match self.resolve(&inner, input.raw_chat) {
            Ok(i) => i,
            Err(e) => return PostOutcome::BadChat(e),
        };
        let chat = inner.chats[i].chat.id;
        let n = inner.user_messages;
        inner.user_messages += 1;
        let text_hash = stable_hash(&text);
        let message = self.message(
            &mut inner,
            IdSource::User(n),
            chat,
            Author::User,
            text,
            // Shown as Go's encoder shows it; compared by its bytes.
            wire::go_lossy(key).into_owned(),
        );
        let stored = self.push(&mut inner, chat, &message);
        drop(message);
        on_commit(&stored);
        remember_key(
            &mut inner.keys,
            (self.config.key_capacity, self.config.key_bytes),
            key,
            KeyRecord { chat, text_hash },
        );
        PostOutcome::Stored(Committed {
            message: stored,
            user_ordinal: Some(n),
            epoch: inner.epoch,
        })
    }

    /// Whether a POST with a known key is the message the key first stored
    /// (same chat, same text), for the key-reuse diagnostic.
    fn same_message(&self, inner: &Inner, first: &KeyRecord, input: &PostInput<'_>) -> bool {
        match input.body {
            // Nothing to compare: not a reuse anyone can tell.
            PostBody::Unread => true,
            PostBody::TooLarge => false,
            PostBody::Read(b) => wire::decode_message(b)
                .ok()
                .zip(self.resolve(inner, input.raw_chat).ok())
                .is_some_and(|(text, i)| {
                    inner.chats[i].chat.id == first.chat && stable_hash(&text) == first.text_hash
                }),
        }
    }

    /// Stores a message that is not a client POST (a bot answer or an
    /// injected message) if the chat exists and its epoch is still
    /// current; runs `on_commit` under the lock.
    pub(crate) fn insert(
        &self,
        new: NewMessage,
        on_commit: impl FnOnce(&Arc<StoredMessage>),
    ) -> Option<Committed> {
        let mut inner = lock(&self.inner);
        if new.epoch.is_some_and(|p| p != inner.epoch) || !inner.index.contains_key(&new.chat) {
            return None;
        }
        let message = self.message(
            &mut inner, new.source, new.chat, new.author, new.text, new.key,
        );
        let stored = self.push(&mut inner, new.chat, &message);
        on_commit(&stored);
        Some(Committed {
            message: stored,
            user_ordinal: None,
            epoch: inner.epoch,
        })
    }
}

/// Forgets messages that left their chat's newest [`HISTORY_LIMIT`], in
/// the order they left, until the messages cost at most `budget`.
fn forget_beyond_history(inner: &mut Inner, budget: usize) {
    while inner.message_bytes > budget {
        let Some(i) = inner.beyond_history.pop_front() else {
            break;
        };
        if let Some(old) = inner.chats[i].messages.pop_front() {
            inner.message_bytes -= old.cost();
        }
    }
}

/// What a remembered key costs: its bytes twice (map and order) and
/// [`KEY_OVERHEAD`].
fn key_cost(key: &[u8]) -> usize {
    2 * key.len() + KEY_OVERHEAD
}

/// Remembers `key`, then forgets the oldest keys past the count or the byte
/// budget (`limits`), keeping at least the newest.
fn remember_key(keys: &mut KeyTable, limits: (usize, usize), key: &[u8], record: KeyRecord) {
    let (capacity, budget) = limits;
    keys.records.insert(key.into(), record);
    keys.order.push_back(key.into());
    keys.bytes += key_cost(key);
    while keys.order.len() > capacity.max(1) || (keys.bytes > budget && keys.order.len() > 1) {
        if let Some(old) = keys.order.pop_front() {
            keys.records.remove(&old);
            keys.bytes -= key_cost(&old);
        }
    }
}

/// A POST's idempotency key, if it counts as given (an empty one does not).
fn present_key(key: Option<&[u8]>) -> Option<&[u8]> {
    key.filter(|k| !k.is_empty())
}

/// A JSON array of already-rendered elements, with the trailing newline of
/// Go's encoder.
pub(crate) fn json_array(items: impl Iterator<Item = Bytes>) -> Bytes {
    let mut out = BytesMut::with_capacity(256);
    out.extend_from_slice(b"[");
    for (i, item) in items.enumerate() {
        if i > 0 {
            out.extend_from_slice(b",");
        }
        out.extend_from_slice(&item);
    }
    out.extend_from_slice(b"]\n");
    out.freeze()
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
