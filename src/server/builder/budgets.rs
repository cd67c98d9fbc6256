//! The builder's memory budgets, in bytes, beside its item counts: what
//! bounds a server's memory when keys, texts or requests are large. Each
//! budget drops the oldest items first and always keeps the newest one.

use super::MockChatServerBuilder;

/// One server's budgets, in bytes.
#[derive(Debug, Clone)]
pub(crate) struct MemoryBudgets {
    pub(crate) keys: usize,
    pub(crate) event_log: usize,
    pub(crate) request_log: usize,
    pub(crate) messages: Option<usize>,
}

impl Default for MemoryBudgets {
    fn default() -> Self {
        MemoryBudgets {
            keys: MockChatServerBuilder::DEFAULT_KEY_BYTES,
            event_log: MockChatServerBuilder::DEFAULT_EVENT_LOG_BYTES,
            request_log: MockChatServerBuilder::DEFAULT_REQUEST_LOG_BYTES,
            messages: None,
        }
    }
}

const MIB: usize = 1024 * 1024;

impl MockChatServerBuilder {
    /// The default of [`key_bytes`](Self::key_bytes): 16 MiB.
    pub const DEFAULT_KEY_BYTES: usize = 16 * MIB;
    /// The default of [`event_log_bytes`](Self::event_log_bytes): 64 MiB.
    pub const DEFAULT_EVENT_LOG_BYTES: usize = 64 * MIB;
    /// The default of [`request_log_bytes`](Self::request_log_bytes): 8 MiB.
    pub const DEFAULT_REQUEST_LOG_BYTES: usize = 8 * MIB;

    /// How many bytes of idempotency keys are remembered (default
    /// [`DEFAULT_KEY_BYTES`](Self::DEFAULT_KEY_BYTES); a key counts twice
    /// its length plus about 100 bytes). Past it, as past
    /// [`key_capacity`](Self::key_capacity), the oldest keys are forgotten:
    /// a POST reusing one is stored again as a new message, where the real
    /// server would answer an empty 200.
    #[doc = include_str!("../../docs/builder/key_bytes.md")]
    pub fn key_bytes(mut self, bytes: usize) -> Self {
        self.memory.keys = bytes;
        self
    }

    /// How many bytes of SSE frames the event log holds (default
    /// [`DEFAULT_EVENT_LOG_BYTES`](Self::DEFAULT_EVENT_LOG_BYTES); each
    /// delivery counts its frame, chaos copies each time). Past it, as past
    /// [`event_log_capacity`](Self::event_log_capacity), the oldest
    /// deliveries are dropped: a new subscriber's replay starts later, one
    /// resuming from a dropped id gets the oldest held, and a subscriber
    /// still reading a dropped delivery is cut (it can resume).
    #[doc = include_str!("../../docs/builder/event_log_bytes.md")]
    pub fn event_log_bytes(mut self, bytes: usize) -> Self {
        self.memory.event_log = bytes;
        self
    }

    /// How many bytes of request records are kept (default
    /// [`DEFAULT_REQUEST_LOG_BYTES`](Self::DEFAULT_REQUEST_LOG_BYTES); a
    /// record counts its fields: bodies are clipped to 4 KiB, headers to
    /// 1 KiB). Past it, as past
    /// [`request_log_capacity`](Self::request_log_capacity), the oldest
    /// records are forgotten by
    /// [`received_requests`](super::MockChatServer::received_requests).
    #[doc = include_str!("../../docs/builder/request_log_bytes.md")]
    pub fn request_log_bytes(mut self, bytes: usize) -> Self {
        self.memory.request_log = bytes;
        self
    }

    /// Caps the stored messages at about `bytes` (default: no cap, they are
    /// the data; a message counts its wire JSON plus about 100 bytes). Past
    /// it, the oldest messages beyond each chat's 100 most recent are
    /// forgotten, in the order they left those 100: the wire never shows
    /// them again (`GET …/messages` answers the 100 most recent), only
    /// [`messages`](super::MockChatServer::messages) no longer lists them.
    /// The newest 100 of every chat are always kept, so the cap can be
    /// exceeded by them.
    #[doc = include_str!("../../docs/builder/max_message_bytes.md")]
    pub fn max_message_bytes(mut self, bytes: usize) -> Self {
        self.memory.messages = Some(bytes);
        self
    }
}
