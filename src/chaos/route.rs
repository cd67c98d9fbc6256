//! The routes of the API and their table: one [`RouteSpec`] per route says
//! everything the rest of the crate derives from it (routing, 404/405,
//! counters, forced faults, plans, holds, body reading, seeded draws).
//!
//! Adding a route is one variant, one entry of `SPECS` (and, for a JSON
//! route, its field of [`FaultPlan`]), plus its handler.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{FaultPlan, RouteFaults};

/// A route of the public API.
///
/// Faults are forced, requests recorded and held per route. The three JSON
/// routes carry request faults (delays, 503, 504, drops, truncation);
/// [`Route::Events`] carries the stream's.
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

/// What a route answers: JSON under request faults, or the event stream.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Answers {
    /// A JSON answer; its request faults live in this plan field.
    Json(PlanField),
    /// The SSE stream (its faults are the plan's `events`).
    Stream,
}

/// A JSON route's field of a [`FaultPlan`].
#[derive(Clone, Copy)]
pub(crate) struct PlanField {
    pub(crate) get: fn(&FaultPlan) -> &RouteFaults,
    pub(crate) get_mut: fn(&mut FaultPlan) -> &mut RouteFaults,
}

impl fmt::Debug for PlanField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PlanField")
    }
}

/// Everything about one route.
#[derive(Debug)]
pub(crate) struct RouteSpec {
    /// The snake_case name: in JSON, in plans (its field's name) and in
    /// messages.
    pub(crate) name: &'static str,
    /// The method it answers (`None`: every method, as chi's `Handle`).
    pub(crate) method: Option<&'static str>,
    /// The path, `{chat_id}` standing for one segment.
    pub(crate) path: &'static str,
    /// How a script's words name it (`POST #3: dropped after commit`).
    pub(crate) words: &'static str,
    /// JSON or stream.
    pub(crate) answers: Answers,
    /// Whether its handler reads the request's body.
    pub(crate) reads_body: bool,
    /// The number of its own sequence of seeded draws (see
    /// [`Purpose`](crate::seeded::Purpose)): never change one (the same
    /// seed would draw other faults).
    pub(crate) draws: u64,
}

/// The table, in the order of [`Route::ALL`] (the variants' order).
const SPECS: [RouteSpec; 4] = [
    RouteSpec {
        name: "get_chats",
        method: Some("GET"),
        path: "/chats",
        words: "GET /chats",
        answers: Answers::Json(PlanField {
            get: |p| &p.get_chats,
            get_mut: |p| &mut p.get_chats,
        }),
        reads_body: false,
        draws: 1,
    },
    RouteSpec {
        name: "get_messages",
        method: Some("GET"),
        path: "/chats/{chat_id}/messages",
        words: "GET messages",
        answers: Answers::Json(PlanField {
            get: |p| &p.get_messages,
            get_mut: |p| &mut p.get_messages,
        }),
        reads_body: false,
        draws: 2,
    },
    RouteSpec {
        name: "post_message",
        method: Some("POST"),
        path: "/chats/{chat_id}/messages",
        words: "POST",
        answers: Answers::Json(PlanField {
            get: |p| &p.post_message,
            get_mut: |p| &mut p.post_message,
        }),
        reads_body: true,
        draws: 3,
    },
    RouteSpec {
        name: "events",
        method: None,
        path: "/events",
        words: "SSE",
        answers: Answers::Stream,
        reads_body: false,
        draws: 8,
    },
];

/// How many routes there are: the size of every per-route array.
pub(crate) const ROUTES: usize = SPECS.len();

impl Route {
    /// Every route, in a fixed order.
    pub const ALL: [Route; ROUTES] = [
        Route::GetChats,
        Route::GetMessages,
        Route::PostMessage,
        Route::Events,
    ];

    /// The JSON routes (those with request faults), in [`ALL`](Self::ALL)'s
    /// order.
    pub(crate) fn json_routes() -> impl Iterator<Item = Route> {
        Route::ALL.into_iter().filter(|r| r.is_json())
    }

    /// Its row of the table.
    pub(crate) const fn spec(self) -> &'static RouteSpec {
        &SPECS[self.position()]
    }

    /// Its position in [`ALL`](Self::ALL): the index of its counters and
    /// queues.
    pub(crate) const fn position(self) -> usize {
        self as usize
    }

    /// The snake_case name used in JSON (`"post_message"`, …).
    pub fn as_str(self) -> &'static str {
        self.spec().name
    }

    /// Whether this route answers JSON and carries request faults (every
    /// route but [`Route::Events`]).
    pub(crate) fn is_json(self) -> bool {
        matches!(self.spec().answers, Answers::Json(_))
    }

    /// Its field of a plan, `None` for the stream.
    pub(crate) fn plan_field(self) -> Option<PlanField> {
        match self.spec().answers {
            Answers::Json(field) => Some(field),
            Answers::Stream => None,
        }
    }
}

/// The table's one stream route.
const fn the_stream() -> Route {
    let mut i = 0;
    while i < ROUTES {
        if let Answers::Stream = SPECS[i].answers {
            return Route::ALL[i];
        }
        i += 1;
    }
    panic!("the route table has no stream");
}

impl Route {
    /// The route of the event stream (the one that answers
    /// [`Answers::Stream`]).
    pub(crate) const STREAM: Route = the_stream();
}

// `ALL` lists the variants in their order, so `position` indexes it.
const _: () = {
    let mut i = 0;
    while i < ROUTES {
        assert!(Route::ALL[i].position() == i);
        i += 1;
    }
};

impl fmt::Display for Route {
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
                let names: Vec<&str> = Route::ALL.iter().map(|r| r.as_str()).collect();
                let (last, rest) = names.split_last().unwrap_or((&"", &[]));
                format!(
                    "unknown route {s:?}: expected {} or {last}",
                    rest.join(", ")
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_agrees_with_serde_and_draws_apart() {
        for route in Route::ALL {
            let json = serde_json::to_string(&route).unwrap();
            assert_eq!(json, format!("\"{}\"", route.as_str()));
            assert_eq!(route.as_str().parse::<Route>(), Ok(route));
        }
        let mut draws: Vec<u64> = Route::ALL.iter().map(|r| r.spec().draws).collect();
        draws.dedup();
        assert_eq!(draws, [1, 2, 3, 8], "the routes' draws never change");
        assert_eq!(
            "nope".parse::<Route>().unwrap_err(),
            "unknown route \"nope\": expected get_chats, get_messages, post_message or events"
        );
    }
}
