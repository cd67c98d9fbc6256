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
