//! The journal: one bounded entry per chaos decision, in order.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{Fault, Route};
use crate::model::MessageId;
use crate::sync::Ring;

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
    /// The route's request counter for this request (0 for publishes).
    pub k: u64,
    /// HTTP method, or empty for bot answers and injections.
    pub method: String,
    /// Request path with query (clipped), or empty.
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
    /// The stored message's id.
    pub message_id: Option<MessageId>,
    /// SSE event ids the message was published under (one per copy).
    pub event_ids: Vec<u64>,
}

impl JournalEntry {
    /// An entry with nothing recorded yet; `seq` is set by the journal.
    pub(crate) fn blank(kind: EntryKind, route: Route) -> Self {
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
        if !self.event_ids.is_empty() {
            write!(f, " events={:?}", self.event_ids)?;
        }
        Ok(())
    }
}

/// A bounded log of [`JournalEntry`]s: the oldest fall off.
#[derive(Debug)]
pub(crate) struct Journal {
    entries: Ring<JournalEntry>,
    next_seq: u64,
}

impl Journal {
    pub(crate) fn new(capacity: usize) -> Self {
        Journal {
            entries: Ring::new(capacity.max(1)),
            next_seq: 1,
        }
    }

    /// Appends an entry, giving it the next sequence number; returns that
    /// number and the entry that fell off, for the caller to drop once it
    /// has let go of the journal's lock.
    pub(crate) fn push(&mut self, mut entry: JournalEntry) -> (u64, Option<JournalEntry>) {
        let seq = self.next_seq;
        self.next_seq += 1;
        entry.seq = seq;
        (seq, self.entries.push(entry))
    }

    /// The entry `seq`, if still held.
    pub(crate) fn get_mut(&mut self, seq: u64) -> Option<&mut JournalEntry> {
        self.entries.iter_mut().rev().find(|e| e.seq == seq)
    }

    pub(crate) fn entries(&self) -> Vec<JournalEntry> {
        self.entries.iter().cloned().collect()
    }

    pub(crate) fn tail(&self, n: usize) -> Vec<JournalEntry> {
        let skip = self.entries.len().saturating_sub(n);
        self.entries.iter().skip(skip).cloned().collect()
    }

    pub(crate) fn clear(&mut self) {
        self.entries.clear();
        self.next_seq = 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_journal_is_bounded_and_updatable() {
        let mut j = Journal::new(2);
        let evicted: Vec<Option<u64>> = (0..3)
            .map(|_| {
                let (_, out) = j.push(JournalEntry::blank(EntryKind::Request, Route::GetChats));
                out.map(|e| e.seq)
            })
            .collect();
        assert_eq!(evicted, vec![None, None, Some(1)]);
        let seqs: Vec<u64> = j.entries().iter().map(|e| e.seq).collect();
        assert_eq!(seqs, vec![2, 3]);
        j.get_mut(3).unwrap().status = Some(200);
        assert!(j.get_mut(1).is_none());
        assert_eq!(j.tail(1)[0].status, Some(200));
        j.clear();
        let (seq, evicted) = j.push(JournalEntry::blank(EntryKind::Stream, Route::Events));
        assert_eq!((seq, evicted.is_none()), (1, true));
    }
}
