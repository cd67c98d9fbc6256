//! The routes of the API, as faults, records and holds name them.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A route of the public API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Route {
    /// `GET /chats`
    GetChats,
    /// `GET /chats/{chat_id}/messages`
    GetMessages,
    /// `POST /chats/{chat_id}/messages`
    PostMessage,
    /// `/events?stream=messages` (the SSE stream)
    Events,
}

/// One of the three JSON routes: the routes that carry request faults
/// (delays, 503, 504, drops, truncation). The stream cannot be named here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JsonRoute {
    /// `GET /chats`
    GetChats,
    /// `GET /chats/{chat_id}/messages`
    GetMessages,
    /// `POST /chats/{chat_id}/messages`
    PostMessage,
}

impl Route {
    /// Every route, in a fixed order.
    pub const ALL: [Route; 4] = [
        Route::GetChats,
        Route::GetMessages,
        Route::PostMessage,
        Route::Events,
    ];

    /// The snake_case name used in JSON (`"post_message"`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Route::GetChats => "get_chats",
            Route::GetMessages => "get_messages",
            Route::PostMessage => "post_message",
            Route::Events => "events",
        }
    }

    /// The JSON route this is, or `None` for the stream.
    pub fn json(self) -> Option<JsonRoute> {
        match self {
            Route::GetChats => Some(JsonRoute::GetChats),
            Route::GetMessages => Some(JsonRoute::GetMessages),
            Route::PostMessage => Some(JsonRoute::PostMessage),
            Route::Events => None,
        }
    }

    pub(crate) fn index(self) -> usize {
        match self {
            Route::GetChats => 0,
            Route::GetMessages => 1,
            Route::PostMessage => 2,
            Route::Events => 3,
        }
    }
}

impl JsonRoute {
    /// The three JSON routes, in a fixed order.
    pub const ALL: [JsonRoute; 3] = [
        JsonRoute::GetChats,
        JsonRoute::GetMessages,
        JsonRoute::PostMessage,
    ];

    /// The same route as a [`Route`].
    pub fn route(self) -> Route {
        match self {
            JsonRoute::GetChats => Route::GetChats,
            JsonRoute::GetMessages => Route::GetMessages,
            JsonRoute::PostMessage => Route::PostMessage,
        }
    }

    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        self.route().as_str()
    }
}

impl From<JsonRoute> for Route {
    fn from(r: JsonRoute) -> Route {
        r.route()
    }
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for JsonRoute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Route {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Route::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown route {s:?}: expected get_chats, get_messages, post_message or events"
                )
            })
    }
}
