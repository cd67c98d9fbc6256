//! Entities as the wire carries them: [`Chat`], [`Message`], [`Author`] and
//! the typed wire ids [`ChatId`] and [`MessageId`].
//!
//! The `serde` form of each type is the reference server's JSON, so a test
//! can deserialize what the server sent (`serde_json::from_str::<Vec<Chat>>`)
//! and compare it with what the handle returns.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::wire;

/// How ids appear on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IdStyle {
    /// `"id": "9b2c0f3e-…"`: lowercase hyphenated UUID strings, drawn from
    /// the seed. What the reference server sends (the default).
    #[default]
    Uuid,
    /// `"id": 7`: positive integers from 1, for clients written from the
    /// challenge's prose (which says "number"). Not what the real server
    /// sends: opt in knowingly.
    Number,
}

/// The value behind a [`ChatId`] or [`MessageId`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum RawId {
    Uuid(uuid::Uuid),
    Number(u64),
}

impl fmt::Display for RawId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RawId::Uuid(u) => fmt::Display::fmt(&u.hyphenated(), f),
            RawId::Number(n) => fmt::Display::fmt(n, f),
        }
    }
}

impl FromStr for RawId {
    type Err = IdParseError;
    fn from_str(s: &str) -> Result<Self, IdParseError> {
        if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            return s
                .parse()
                .map(RawId::Number)
                .map_err(|_| IdParseError(s.to_string()));
        }
        wire::parse_uuid(s)
            .map(RawId::Uuid)
            .map_err(|_| IdParseError(s.to_string()))
    }
}

impl Serialize for RawId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            RawId::Uuid(u) => s.collect_str(&u.hyphenated()),
            RawId::Number(n) => s.serialize_u64(*n),
        }
    }
}

impl<'de> Deserialize<'de> for RawId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            Number(u64),
            Text(String),
        }
        match Either::deserialize(d)? {
            Either::Number(n) => Ok(RawId::Number(n)),
            Either::Text(s) => s.parse().map_err(serde::de::Error::custom),
        }
    }
}

/// A string that is neither a UUID nor a positive integer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a wire id (a UUID or a positive integer)")]
pub struct IdParseError(String);

macro_rules! wire_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(RawId);

        impl $name {
            pub(crate) fn uuid(u: uuid::Uuid) -> Self {
                $name(RawId::Uuid(u))
            }

            pub(crate) fn number(n: u64) -> Self {
                $name(RawId::Number(n))
            }

            /// The UUID, when the server runs with [`IdStyle::Uuid`].
            pub fn as_uuid(&self) -> Option<uuid::Uuid> {
                match self.0 {
                    RawId::Uuid(u) => Some(u),
                    RawId::Number(_) => None,
                }
            }

            /// The number, when the server runs with [`IdStyle::Number`].
            pub fn as_number(&self) -> Option<u64> {
                match self.0 {
                    RawId::Number(n) => Some(n),
                    RawId::Uuid(_) => None,
                }
            }
        }

        impl fmt::Display for $name {
            /// The wire form: what goes in a path (`/chats/{id}/messages`).
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl FromStr for $name {
            type Err = IdParseError;
            /// Parses the wire form: a UUID (any form the reference server
            /// accepts) or a positive integer.
            fn from_str(s: &str) -> Result<Self, IdParseError> {
                s.parse().map($name)
            }
        }
    };
}

wire_id! {
    /// A chat's id, as the wire carries it: a UUID string by default, a
    /// number with [`IdStyle::Number`]. `Display` gives the form a path
    /// takes; `FromStr` and `Deserialize` read it back.
    ///
    /// ```
    /// use mock_chat_server::ChatId;
    ///
    /// let id: ChatId = "0b8a3c62-5a8e-4d0f-9d6e-2f1c3b4a5d6e".parse().unwrap();
    /// assert_eq!(format!("/chats/{id}/messages"), "/chats/0b8a3c62-5a8e-4d0f-9d6e-2f1c3b4a5d6e/messages");
    /// assert!("not an id".parse::<ChatId>().is_err());
    /// ```
    ChatId
}

wire_id! {
    /// A message's id, as the wire carries it (see [`ChatId`]).
    MessageId
}

/// A chat: a conversation between the user and the chat's bot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chat {
    /// The chat's id.
    pub id: ChatId,
    /// Display name.
    pub name: String,
}

/// Who wrote a [`Message`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Author {
    /// The human using the client.
    User,
    /// The chat's bot (answers, fixtures and most injected messages).
    Bot,
}

impl Author {
    /// The wire name: `"user"` or `"bot"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Author::User => "user",
            Author::Bot => "bot",
        }
    }
}

impl fmt::Display for Author {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A message stored in a chat.
///
/// Deserializes the real server's answers too:
///
/// ```
/// use mock_chat_server::{Author, Message};
///
/// let wire = r#"{"id":"5f0c6b1e-8d7a-4c2b-9e3f-1a2b3c4d5e6f","chat_id":"0b8a3c62-5a8e-4d0f-9d6e-2f1c3b4a5d6e","author":"user","text":"hi","sent_at":"2026-11-25T04:49:27.276719669Z","idempotency_key":"k-1"}"#;
/// let m: Message = serde_json::from_str(wire).unwrap();
/// assert_eq!(m.author, Author::User);
/// assert_eq!(m.sent_at.timestamp_subsec_nanos(), 276_719_669);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// The message's id.
    pub id: MessageId,
    /// The chat it belongs to.
    pub chat_id: ChatId,
    /// Who wrote it.
    pub author: Author,
    /// The text, as sent (may be empty: the reference server stores `""`).
    pub text: String,
    /// When it was stored, in the server's local offset, to the nanosecond.
    #[serde(serialize_with = "serialize_go_time")]
    pub sent_at: DateTime<FixedOffset>,
    /// The `Idempotency-Key` the client sent; a seeded UUID for bot answers,
    /// fixtures and injected messages.
    pub idempotency_key: String,
}

fn serialize_go_time<S: Serializer>(t: &DateTime<FixedOffset>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&wire::format_rfc3339_nano(t))
}

/// A message as the server holds it: its wire JSON, rendered once and
/// shared (by reference count) by the chat's history, the event log, the
/// SSE stream and the POST answer, plus the fields the server reads without
/// parsing. The text and the key are kept only inside the JSON: a stored
/// message costs its wire size plus [`StoredMessage::OVERHEAD`].
#[derive(Debug)]
pub(crate) struct StoredMessage {
    pub(crate) id: MessageId,
    pub(crate) chat_id: ChatId,
    pub(crate) author: Author,
    pub(crate) sent_at: DateTime<FixedOffset>,
    /// `data: {json}\n\n`: the SSE data line and its blank line, whose
    /// middle is the wire JSON and whose middle plus one `\n` is the POST
    /// answer's body.
    sse: bytes::Bytes,
}

/// What precedes the JSON in [`StoredMessage::sse`].
const DATA: &[u8] = b"data: ";

/// The two strings of a message that live only in its JSON.
#[derive(Deserialize)]
struct Strings {
    text: String,
    idempotency_key: String,
}

impl StoredMessage {
    /// What a stored message costs beyond its wire bytes: this struct, its
    /// `Arc`'s counts, the shared buffer's header and its slot in a history.
    pub(crate) const OVERHEAD: usize = std::mem::size_of::<StoredMessage>()
        + 2 * std::mem::size_of::<usize>()
        + 4 * std::mem::size_of::<usize>()
        + std::mem::size_of::<usize>();

    /// Renders `m` once, into one buffer of exactly its size.
    pub(crate) fn new(m: &Message) -> Self {
        let json = wire::message_json(m);
        let mut sse = Vec::with_capacity(DATA.len() + json.len() + 2);
        sse.extend_from_slice(DATA);
        sse.extend_from_slice(&json);
        sse.extend_from_slice(b"\n\n");
        StoredMessage {
            id: m.id,
            chat_id: m.chat_id,
            author: m.author,
            sent_at: m.sent_at,
            sse: sse.into(),
        }
    }

    /// The wire JSON (no trailing newline), sharing the stored bytes.
    pub(crate) fn json(&self) -> bytes::Bytes {
        self.sse.slice(DATA.len()..self.sse.len() - 2)
    }

    /// The POST answer's body: the JSON and Go's `\n`, sharing the stored
    /// bytes.
    pub(crate) fn body(&self) -> bytes::Bytes {
        self.sse.slice(DATA.len()..self.sse.len() - 1)
    }

    /// `data: {json}\n\n`, what follows an event's `id:` line.
    pub(crate) fn sse_data(&self) -> &bytes::Bytes {
        &self.sse
    }

    /// The bytes this message holds, overhead included.
    pub(crate) fn cost(&self) -> usize {
        self.sse.len() + Self::OVERHEAD
    }

    /// The public [`Message`], its text and key read back from the JSON
    /// (what a client reads: the key as displayed).
    pub(crate) fn message(&self) -> Message {
        // The JSON is this crate's own rendering of two `String`s: it
        // always reads back; empty strings are the harmless fallback.
        let Strings {
            text,
            idempotency_key,
        } = serde_json::from_slice(&self.json()).unwrap_or(Strings {
            text: String::new(),
            idempotency_key: String::new(),
        });
        Message {
            id: self.id,
            chat_id: self.chat_id,
            author: self.author,
            text,
            sent_at: self.sent_at,
            idempotency_key,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_display_and_parse_as_the_wire_form() {
        let u = uuid::Uuid::from_u128(0x0b8a3c62_5a8e_4d0f_9d6e_2f1c3b4a5d6e);
        let id = ChatId::uuid(u);
        assert_eq!(id.to_string(), "0b8a3c62-5a8e-4d0f-9d6e-2f1c3b4a5d6e");
        assert_eq!(id.to_string().parse::<ChatId>().unwrap(), id);
        assert_eq!(
            serde_json::to_string(&id).unwrap(),
            r#""0b8a3c62-5a8e-4d0f-9d6e-2f1c3b4a5d6e""#
        );
        let n = MessageId::number(7);
        assert_eq!(n.to_string(), "7");
        assert_eq!(serde_json::to_string(&n).unwrap(), "7");
        assert_eq!(serde_json::from_str::<MessageId>("7").unwrap(), n);
        assert_eq!(n.as_number(), Some(7));
        assert!(n.as_uuid().is_none());
        assert!("".parse::<ChatId>().is_err());
        assert!("12x".parse::<ChatId>().is_err());
    }
}
