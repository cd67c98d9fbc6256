//! Entities and their wire format.
//!
//! [`Chat`] and [`Message`] are what the HTTP API serves and what the
//! in-process accessors of [`MockChatServer`](crate::MockChatServer) return.
//! Their `serde` form is the wire form in the default [`IdStyle::Number`].

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize, Serializer};

/// A chat: a conversation between the user and the chat's bot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chat {
    /// Positive id, assigned in increasing order from 1.
    pub id: u64,
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

impl std::str::FromStr for Author {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "user" => Ok(Author::User),
            "bot" => Ok(Author::Bot),
            other => Err(format!("author must be \"user\" or \"bot\", not {other:?}")),
        }
    }
}

/// A message stored in a chat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Positive id, assigned in increasing order from 1 across all chats.
    pub id: u64,
    /// The chat this message belongs to.
    pub chat_id: u64,
    /// Who wrote it.
    pub author: Author,
    /// The text, as sent.
    pub text: String,
    /// When it was stored (RFC 3339, UTC, millisecond precision on the wire).
    #[serde(serialize_with = "serialize_millis")]
    pub sent_at: DateTime<Utc>,
    /// The `Idempotency-Key` the client sent; a seeded UUID v4 for bot and
    /// injected messages.
    pub idempotency_key: String,
}

fn serialize_millis<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_timestamp(t))
}

/// Formats a timestamp the way the wire does: `2026-11-24T18:12:08.123Z`.
pub fn format_timestamp(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// How ids appear on the wire.
///
/// The reference server documents numeric ids but serves UUID strings; pick
/// [`IdStyle::Uuid`] to match what it really sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IdStyle {
    /// `"id": 7` — positive integers from 1 (the default).
    #[default]
    Number,
    /// `"id": "9b2c…"` — UUID strings drawn from the seeded RNG, so the same
    /// seed gives the same ids. Paths accept them too.
    Uuid,
}

/// How chaos-duplicated SSE deliveries are numbered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DuplicateIds {
    /// Each copy gets its own new event id, as the reference server does:
    /// clients must de-duplicate by message id (the default).
    #[default]
    New,
    /// Every copy repeats the first copy's event id.
    Same,
}

/// Which past events a new SSE subscriber (one without `Last-Event-ID`) gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Replay {
    /// Live events only (the default when embedded).
    #[default]
    None,
    /// The whole replay log first, then live events — what the reference
    /// server's SSE library does, and a real source of duplicates.
    All,
}

/// A chat to create at start and on every reset, with its earlier messages.
///
/// This is also the format of the `serve --fixtures FILE` JSON file: a list
/// of these.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatFixture {
    /// The chat's name.
    pub name: String,
    /// Messages already in the chat, oldest first.
    #[serde(default)]
    pub messages: Vec<MessageFixture>,
}

/// A message that exists before any client connects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageFixture {
    /// Who wrote it (default `bot`).
    #[serde(default = "default_fixture_author")]
    pub author: Author,
    /// The text.
    pub text: String,
    /// How long before the server's start it was sent, in seconds (default 0).
    #[serde(default)]
    pub ago_secs: u64,
}

fn default_fixture_author() -> Author {
    Author::Bot
}

impl ChatFixture {
    /// A chat with no messages.
    pub fn new(name: impl Into<String>) -> Self {
        ChatFixture {
            name: name.into(),
            messages: Vec::new(),
        }
    }

    /// Adds an earlier message, sent `ago_secs` seconds before start.
    pub fn message(mut self, author: Author, text: impl Into<String>, ago_secs: u64) -> Self {
        self.messages.push(MessageFixture {
            author,
            text: text.into(),
            ago_secs,
        });
        self
    }

    /// The default fixtures: four chats, each with one earlier bot message,
    /// sent now, one minute, 32 minutes and one day before start.
    pub fn defaults() -> Vec<ChatFixture> {
        vec![
            ChatFixture::new("General").message(Author::Bot, "Welcome! Say hi.", 0),
            ChatFixture::new("Support").message(
                Author::Bot,
                "Hello, how can I help you today?",
                60,
            ),
            ChatFixture::new("Random").message(
                Author::Bot,
                "Did you know octopuses have three hearts?",
                32 * 60,
            ),
            ChatFixture::new("Weekend plans").message(
                Author::Bot,
                "Any plans for the weekend?",
                24 * 60 * 60,
            ),
        ]
    }
}

/// The JSON error body every error response carries:
/// `{"error": {"code": "...", "message": "..."}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error itself.
    pub error: ErrorDetail,
}

/// The inside of an [`ErrorBody`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `chat_not_found`.
    pub code: String,
    /// A human sentence.
    pub message: String,
}

/// A request the server received, as [`MockChatServer::received_requests`](crate::MockChatServer::received_requests)
/// and `GET /__admin/requests` report it (bounded: the oldest fall off).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedRequest {
    /// Sequence number from 1 since start or reset.
    pub seq: u64,
    /// HTTP method.
    pub method: String,
    /// Path, without the query.
    pub path: String,
    /// Raw query string, if any.
    pub query: Option<String>,
    /// The `Idempotency-Key` header, if any (lossy UTF-8).
    pub idempotency_key: Option<String>,
    /// The body as text (lossy UTF-8, at most 4 KiB kept).
    pub body: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn timestamps_have_millis_and_z() {
        let t = Utc.with_ymd_and_hms(2026, 11, 24, 18, 12, 8).unwrap()
            + chrono::Duration::milliseconds(123);
        assert_eq!(format_timestamp(&t), "2026-11-24T18:12:08.123Z");
        let t0 = Utc.with_ymd_and_hms(2026, 11, 24, 18, 12, 8).unwrap();
        assert_eq!(format_timestamp(&t0), "2026-11-24T18:12:08.000Z");
    }

    #[test]
    fn message_wire_form() {
        let m = Message {
            id: 3,
            chat_id: 1,
            author: Author::Bot,
            text: "hi".into(),
            sent_at: Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap(),
            idempotency_key: "k".into(),
        };
        let v = serde_json::to_value(&m).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"id":3,"chat_id":1,"author":"bot","text":"hi",
                "sent_at":"2026-01-02T03:04:05.000Z","idempotency_key":"k"})
        );
        let back: Message = serde_json::from_value(v).unwrap();
        assert_eq!(back, m);
    }

    #[test]
    fn fixture_defaults_are_four_staggered_chats() {
        let f = ChatFixture::defaults();
        assert_eq!(f.len(), 4);
        let agos: Vec<u64> = f.iter().map(|c| c.messages[0].ago_secs).collect();
        assert_eq!(agos, vec![0, 60, 1920, 86400]);
    }
}
