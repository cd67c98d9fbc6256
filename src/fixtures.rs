//! The chats that exist at start and after every reset.

use serde::{Deserialize, Serialize};

use crate::model::Author;

/// A chat to create at start and on every reset, with its earlier messages.
///
/// This is also the format of the `serve --fixtures FILE` JSON file: a list
/// of these.
///
/// ```
/// use mock_chat_server::config::ChatFixture;
/// use mock_chat_server::Author;
///
/// let support = ChatFixture::new("Support").message(Author::Bot, "How can I help?", 60);
/// assert_eq!(support.messages.len(), 1);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatFixture {
    /// The chat's name.
    pub name: String,
    /// Messages already in the chat, oldest first. They are history, not
    /// events: the SSE stream never carries them.
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

    /// The reference server's chats: John, Jessica, Matt and Sarah, each
    /// with one earlier bot message sent now, 1 minute, 32 minutes and
    /// 24 hours before start (the texts are this crate's own).
    pub fn defaults() -> Vec<ChatFixture> {
        vec![
            ChatFixture::new("John").message(Author::Bot, "See you at the station 🚉", 0),
            ChatFixture::new("Jessica").message(Author::Bot, "Did the parcel arrive?", 60),
            ChatFixture::new("Matt").message(Author::Bot, "brb, walking the dog", 32 * 60),
            ChatFixture::new("Sarah").message(
                Author::Bot,
                "Thanks again for Sunday!",
                24 * 60 * 60,
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_the_reference_chats_and_ages() {
        let f = ChatFixture::defaults();
        let names: Vec<&str> = f.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["John", "Jessica", "Matt", "Sarah"]);
        let agos: Vec<u64> = f.iter().map(|c| c.messages[0].ago_secs).collect();
        assert_eq!(agos, [0, 60, 1920, 86400]);
        assert!(f
            .iter()
            .any(|c| c.messages[0].text.chars().any(|ch| ch as u32 > 0xffff)));
    }
}
