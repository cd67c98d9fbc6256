//! The double send's memory: the messages stored lately, by key and by
//! content (chat and text), and whether their answers reached the client.
//!
//! It keeps hashes, not texts or keys, so every entry has one fixed size:
//! [`REMEMBERED`] entries bound its bytes as well as its items.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use chrono::{DateTime, FixedOffset};
use tokio::time::Instant;

use crate::model::ChatId;
use crate::seeded::stable_hash;

/// How many stored messages the rule remembers, the oldest forgotten first.
/// An entry costs about 100 bytes (its slots in two maps and a queue), so
/// the whole stays under half a MiB.
pub(super) const REMEMBERED: usize = 4_096;

/// How long after a lost answer (or the empty 200 of its key) a resend
/// under a new key counts, unscaled.
pub(super) const WINDOW: Duration = Duration::from_secs(30);

/// The least the window becomes once scaled: the resend follows the
/// client's own backoff, which `time_scale` does not shorten.
pub(super) const WINDOW_FLOOR: Duration = Duration::from_secs(10);

/// A message's content: its chat and its text's hash.
type Content = (ChatId, u64);

/// Why a message's answer never reached the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Loss {
    /// The connection closed with no answer, or in the middle of it.
    Dropped,
    /// The client closed its connection before the answer was written.
    Abandoned,
    /// A retry of its key got the empty 200.
    EmptyAnswer,
}

impl Loss {
    pub(super) fn words(self) -> &'static str {
        match self {
            Loss::Dropped => "its answer was lost (the connection dropped)",
            Loss::Abandoned => "the client abandoned its answer",
            Loss::EmptyAnswer => "a retry of its key got the empty 200",
        }
    }
}

#[derive(Debug)]
struct Sent {
    content: Content,
    stored: Instant,
    request_seq: u64,
    /// When it was stored, on the server's clock.
    at: DateTime<FixedOffset>,
    /// The last time its answer was lost, and how.
    lost: Option<(Instant, Loss)>,
    /// Already reported as a resend (each resend is reported once).
    reported: bool,
}

/// A resend found: the request that stored the message again, the one that
/// stored it first, and how the first one's answer was lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Resend {
    pub(super) request_seq: u64,
    pub(super) at: DateTime<FixedOffset>,
    pub(super) earlier_seq: u64,
    pub(super) loss: Loss,
}

/// The messages stored lately (see the module's doc).
#[derive(Debug, Default)]
pub(super) struct Memory {
    by_key: HashMap<u64, Sent>,
    by_content: HashMap<Content, Vec<u64>>,
    /// Keys in the order stored, for forgetting the oldest.
    order: VecDeque<u64>,
}

impl Memory {
    /// A message was stored under `key` (a key the store had not seen).
    /// Returns the resend it is, if a message with the same chat and text
    /// under another key lost its answer at most `window` ago.
    pub(super) fn stored(
        &mut self,
        key: &[u8],
        (chat, text): (ChatId, &str),
        (request_seq, at): (u64, DateTime<FixedOffset>),
        now: Instant,
        window: Duration,
    ) -> Option<Resend> {
        let key = stable_hash(key);
        // The same key stored again (the store had forgotten it): a retry,
        // which replaces what was known of it.
        self.forget(key);
        let content = (chat, stable_hash(text));
        let found = self
            .by_content
            .get(&content)
            .into_iter()
            .flatten()
            .filter_map(|k| self.by_key.get(k))
            .find_map(|s| match s.lost {
                Some((t, loss)) if now.duration_since(t) <= window => Some(Resend {
                    request_seq,
                    at,
                    earlier_seq: s.request_seq,
                    loss,
                }),
                _ => None,
            });
        self.remember(
            key,
            Sent {
                content,
                stored: now,
                request_seq,
                at,
                lost: None,
                reported: found.is_some(),
            },
        );
        found
    }

    /// The answer to a POST with `key` did not reach the client. A client
    /// that abandoned it may have sent its resend before the server saw
    /// the connection close: those stored since, at most `window` ago, are
    /// returned.
    pub(super) fn lost(
        &mut self,
        key: &[u8],
        loss: Loss,
        now: Instant,
        window: Duration,
    ) -> Vec<Resend> {
        let key = stable_hash(key);
        let Some(s) = self.by_key.get_mut(&key) else {
            return Vec::new();
        };
        s.lost = Some((now, loss));
        if loss != Loss::Abandoned {
            return Vec::new();
        }
        let (content, first, earlier_seq) = (s.content, s.stored, s.request_seq);
        let mut found = Vec::new();
        for k in self.by_content.get(&content).into_iter().flatten() {
            let Some(later) = self.by_key.get_mut(k) else {
                continue;
            };
            let recent = now.duration_since(later.stored) <= window;
            if *k != key && later.stored > first && recent && !later.reported {
                later.reported = true;
                found.push(Resend {
                    request_seq: later.request_seq,
                    at: later.at,
                    earlier_seq,
                    loss,
                });
            }
        }
        found
    }

    fn remember(&mut self, key: u64, sent: Sent) {
        self.by_content.entry(sent.content).or_default().push(key);
        self.by_key.insert(key, sent);
        self.order.push_back(key);
        while let Some(&old) = self.order.front() {
            if self.order.len() <= REMEMBERED {
                break;
            }
            self.forget(old);
        }
    }

    fn forget(&mut self, key: u64) {
        // The oldest in the common case (a capacity drop); a key stored
        // again after the store forgot it is rare.
        if self.order.front() == Some(&key) {
            self.order.pop_front();
        } else if self.by_key.contains_key(&key) {
            self.order.retain(|k| *k != key);
        }
        let Some(sent) = self.by_key.remove(&key) else {
            return;
        };
        if let Some(keys) = self.by_content.get_mut(&sent.content) {
            keys.retain(|k| *k != key);
            if keys.is_empty() {
                self.by_content.remove(&sent.content);
            }
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.by_key.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chat(n: u64) -> ChatId {
        ChatId::number(n)
    }

    const W: Duration = WINDOW;

    fn at() -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn a_resend_after_a_loss_is_found_once_per_new_key() {
        let mut m = Memory::default();
        let t = Instant::now();
        assert_eq!(m.stored(b"a", (chat(1), "hi"), (1, at()), t, W), None);
        assert!(m.lost(b"a", Loss::Dropped, t, W).is_empty());
        let found = m.stored(b"b", (chat(1), "hi"), (2, at()), t, W);
        assert_eq!(
            found,
            Some(Resend {
                request_seq: 2,
                at: at(),
                earlier_seq: 1,
                loss: Loss::Dropped
            })
        );
        // Another chat, another text: not the same message.
        assert_eq!(m.stored(b"c", (chat(2), "hi"), (3, at()), t, W), None);
        assert_eq!(m.stored(b"d", (chat(1), "hi!"), (4, at()), t, W), None);
    }

    #[tokio::test(start_paused = true)]
    async fn no_loss_no_resend_and_the_window_closes() {
        let mut m = Memory::default();
        let t = Instant::now();
        m.stored(b"a", (chat(1), "hi"), (1, at()), t, W);
        assert_eq!(
            m.stored(b"b", (chat(1), "hi"), (2, at()), t, W),
            None,
            "deliberate"
        );
        m.lost(b"b", Loss::EmptyAnswer, t, W);
        let found = m.stored(b"c", (chat(1), "hi"), (3, at()), t + W, W);
        assert_eq!(
            found.map(|r| (r.earlier_seq, r.loss)),
            Some((2, Loss::EmptyAnswer))
        );
        let late = t + W + Duration::from_millis(1);
        assert_eq!(m.stored(b"d", (chat(1), "hi"), (4, at()), late, W), None);
    }

    #[tokio::test(start_paused = true)]
    async fn the_same_key_stored_again_is_a_retry() {
        let mut m = Memory::default();
        let t = Instant::now();
        m.stored(b"a", (chat(1), "hi"), (1, at()), t, W);
        m.lost(b"a", Loss::Dropped, t, W);
        assert_eq!(m.stored(b"a", (chat(1), "hi"), (2, at()), t, W), None);
        assert_eq!(m.len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn an_abandoned_answer_noticed_late_still_finds_the_resend() {
        let mut m = Memory::default();
        let t = Instant::now();
        m.stored(b"a", (chat(1), "hi"), (1, at()), t, W);
        let later = t + Duration::from_millis(5);
        assert_eq!(m.stored(b"b", (chat(1), "hi"), (2, at()), later, W), None);
        let found = m.lost(b"a", Loss::Abandoned, later, W);
        assert_eq!(found.iter().map(|r| r.request_seq).collect::<Vec<_>>(), [2]);
        assert!(m.lost(b"a", Loss::Abandoned, later, W).is_empty(), "once");
    }

    #[tokio::test(start_paused = true)]
    async fn memory_is_bounded() {
        let mut m = Memory::default();
        let t = Instant::now();
        for i in 0..(REMEMBERED as u64 + 10) {
            m.stored(&i.to_le_bytes(), (chat(1), "same"), (i, at()), t, W);
        }
        assert_eq!(m.len(), REMEMBERED);
        assert_eq!(m.order.len(), REMEMBERED);
        let kept: usize = m.by_content.values().map(Vec::len).sum();
        assert_eq!(kept, REMEMBERED);
    }
}
