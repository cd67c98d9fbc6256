//! What the builder's options take: bots, fixtures, the stream's replay and
//! duplicate ids, the clock.
//!
//! ```
//! use mock_chat_server::config::{BotBehavior, Replay};
//! use mock_chat_server::MockChatServer;
//!
//! let builder = MockChatServer::builder()
//!     .bot(BotBehavior::Echo)
//!     .replay(Replay::None);
//! # drop(builder);
//! ```

pub use crate::bot::{BotBehavior, BotFn, DEFAULT_LINES};
pub use crate::clock::Clock;
pub use crate::events::{DuplicateIds, Replay};
pub use crate::fixtures::{ChatFixture, MessageFixture};
