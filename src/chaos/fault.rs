//! The fault catalogue: [`Fault`] and its table. One [`FaultSpec`] per
//! kind gives its name, its words, what it aims at and, for a request
//! fault, its plan probability; the names, validation, the draw and the
//! journal's words all come from it.
//!
//! Adding a fault is one variant, one entry of `FAULTS` (and, for a drawn
//! request fault, its field of [`RouteFaults`]), plus the code that acts it
//! out.

use std::fmt;
use std::mem::discriminant;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Route, RouteFaults};

/// The most deliveries of one message (a plan's `copies` entries, a
/// forced `duplicate_event`).
pub(crate) const MAX_COPIES: u32 = 100;

/// How long the reference server stays silent before its 504.
pub(crate) const REFERENCE_TIMEOUT: Duration = Duration::from_secs(5);

/// One fault, as [forced](crate::MockChatServer::force) by a test or
/// recorded in the [journal](super::JournalEntry).
///
/// In JSON: `{"kind": "timeout", "after_ms": 5000}`, `{"kind": "unavailable"}`, …
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Fault {
    /// 503 `unavailable` (plain text); nothing is stored.
    Unavailable,
    /// Silence for `after` (scaled by `time_scale`), then 504 `timeout`;
    /// nothing is stored.
    Timeout {
        /// How long the server stays silent (unscaled).
        #[serde(rename = "after_ms", with = "millis")]
        after: Duration,
    },
    /// The connection is closed with no response; nothing is stored.
    DropBeforeCommit,
    /// The request is handled (a POST's message is stored and published),
    /// then the connection is closed with no response. A retry with the same
    /// key gets the reference's empty 200.
    DropAfterCommit,
    /// 200 with the first half of the body, then the connection closes. The
    /// request *was* handled.
    TruncatedBody,
    /// The next published message is delivered `copies` times on SSE.
    DuplicateEvent {
        /// Total deliveries (1 = no duplicate).
        copies: u32,
    },
    /// The SSE connection is cut (transport error, no clean end) right after
    /// an event.
    StreamDisconnect,
    /// The SSE response ends cleanly right after an event, as every stream
    /// does after 30 s.
    StreamEnd,
}

impl Fault {
    /// The reference server's timeout: 5 s of silence, then 504.
    pub const fn timeout() -> Fault {
        Fault::Timeout {
            after: REFERENCE_TIMEOUT,
        }
    }

    /// Its row of the table.
    pub(crate) fn spec(&self) -> &'static FaultSpec {
        FAULTS
            .iter()
            .find(|spec| discriminant(&spec.sample) == discriminant(self))
            .unwrap_or(&FAULTS[0]) // every variant has its row (tested)
    }

    /// The snake_case name (`"drop_after_commit"`, …).
    pub fn name(&self) -> &'static str {
        self.spec().name
    }

    /// Every fault name, for error messages.
    pub(crate) const NAMES: &'static str = match std::str::from_utf8(&NAMES_BYTES) {
        Ok(names) => names,
        Err(_) => panic!("fault names are UTF-8"),
    };

    /// Whether this fault can be forced on `route`: request faults on the
    /// JSON routes, stream faults on [`Route::Events`]. `DuplicateEvent` is
    /// forced with [`force_duplicates`](crate::MockChatServer::force_duplicates).
    pub fn applies_to(&self, route: Route) -> bool {
        match self.spec().aim {
            Aim::Request(_) => route.is_json(),
            Aim::Stream => !route.is_json(),
            Aim::Copies => false,
        }
    }

    /// The fault in words, for reports (`"dropped after commit"`).
    pub fn describe(&self) -> String {
        let words = self.spec().words;
        match self {
            Fault::Timeout { after } => format!("silent {after:?} then {words}"),
            Fault::DuplicateEvent { copies } => format!("{words} {copies} times"),
            _ => words.to_string(),
        }
    }
}

/// What a fault acts on.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Aim {
    /// A request on a JSON route, drawn from the plan as this.
    Request(Drawn),
    /// An SSE connection.
    Stream,
    /// The copies of a published message.
    Copies,
}

/// How a plan draws a request fault: the request faults exclude each
/// other, tested in the table's order.
#[derive(Clone, Copy)]
pub(crate) struct Drawn {
    /// Its probability in a route's plan (the field of its name).
    pub(crate) probability: fn(&RouteFaults) -> f64,
    /// The fault drawn, with the plan's parameters.
    pub(crate) fault: fn(&RouteFaults) -> Fault,
}

impl fmt::Debug for Drawn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Drawn")
    }
}

/// Everything about one kind of fault.
#[derive(Debug)]
pub(crate) struct FaultSpec {
    /// The snake_case name: in JSON (`"kind"`), in plans, in messages.
    pub(crate) name: &'static str,
    /// One of its kind, for finding its row (and, with its default
    /// parameters, for the admin API's catalogue).
    pub(crate) sample: Fault,
    /// In words, for reports (a parameter is added by [`Fault::describe`]).
    words: &'static str,
    /// What it acts on.
    pub(crate) aim: Aim,
}

/// The catalogue; the request faults in the order a draw tests them.
pub(crate) const FAULTS: [FaultSpec; 8] = [
    FaultSpec {
        name: "unavailable",
        sample: Fault::Unavailable,
        words: "503 unavailable",
        aim: Aim::Request(Drawn {
            probability: |f| f.unavailable,
            fault: |_| Fault::Unavailable,
        }),
    },
    FaultSpec {
        name: "timeout",
        sample: Fault::timeout(),
        words: "504 timeout",
        aim: Aim::Request(Drawn {
            probability: |f| f.timeout,
            fault: |f| Fault::Timeout {
                after: Duration::from_millis(f.timeout_after_ms),
            },
        }),
    },
    FaultSpec {
        name: "drop_before_commit",
        sample: Fault::DropBeforeCommit,
        words: "dropped before commit",
        aim: Aim::Request(Drawn {
            probability: |f| f.drop_before_commit,
            fault: |_| Fault::DropBeforeCommit,
        }),
    },
    FaultSpec {
        name: "drop_after_commit",
        sample: Fault::DropAfterCommit,
        words: "dropped after commit",
        aim: Aim::Request(Drawn {
            probability: |f| f.drop_after_commit,
            fault: |_| Fault::DropAfterCommit,
        }),
    },
    FaultSpec {
        name: "truncated_body",
        sample: Fault::TruncatedBody,
        words: "body truncated",
        aim: Aim::Request(Drawn {
            probability: |f| f.truncated_body,
            fault: |_| Fault::TruncatedBody,
        }),
    },
    FaultSpec {
        name: "duplicate_event",
        sample: Fault::DuplicateEvent { copies: 2 },
        words: "delivered",
        aim: Aim::Copies,
    },
    FaultSpec {
        name: "stream_disconnect",
        sample: Fault::StreamDisconnect,
        words: "stream cut",
        aim: Aim::Stream,
    },
    FaultSpec {
        name: "stream_end",
        sample: Fault::StreamEnd,
        words: "stream ended",
        aim: Aim::Stream,
    },
];

/// The request faults a plan draws, in the order a draw tests them, with
/// their names.
pub(crate) fn drawn() -> impl Iterator<Item = (&'static str, Drawn)> {
    FAULTS.iter().filter_map(|spec| match spec.aim {
        Aim::Request(drawn) => Some((spec.name, drawn)),
        _ => None,
    })
}

/// The length of [`Fault::NAMES`]: the names and their `", "`.
const NAMES_LEN: usize = {
    let (mut len, mut i) = (0, 0);
    while i < FAULTS.len() {
        len += FAULTS[i].name.len() + if i > 0 { 2 } else { 0 };
        i += 1;
    }
    len
};

/// The names, joined by `", "`, at compile time.
const NAMES_BYTES: [u8; NAMES_LEN] = {
    let mut out = [0u8; NAMES_LEN];
    let (mut at, mut i) = (0, 0);
    while i < FAULTS.len() {
        if i > 0 {
            out[at] = b',';
            out[at + 1] = b' ';
            at += 2;
        }
        let name = FAULTS[i].name.as_bytes();
        let mut j = 0;
        while j < name.len() {
            out[at] = name[j];
            at += 1;
            j += 1;
        }
        i += 1;
    }
    out
};

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Timeout { after } => write!(f, "timeout({}ms)", after.as_millis()),
            Fault::DuplicateEvent { copies } => write!(f, "duplicate_event({copies})"),
            other => f.write_str(other.name()),
        }
    }
}

pub(crate) mod millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_agrees_with_serde_and_every_variant_has_a_row() {
        for spec in &FAULTS {
            let json = serde_json::to_value(spec.sample).unwrap();
            assert_eq!(json["kind"], spec.name);
            assert_eq!(spec.sample.spec().name, spec.name);
        }
        assert_eq!(
            Fault::NAMES,
            "unavailable, timeout, drop_before_commit, drop_after_commit, \
             truncated_body, duplicate_event, stream_disconnect, stream_end"
        );
        assert_eq!(Fault::timeout().describe(), "silent 5s then 504 timeout");
        assert_eq!(
            Fault::DuplicateEvent { copies: 3 }.describe(),
            "delivered 3 times"
        );
        let names: Vec<&str> = drawn().map(|(name, _)| name).collect();
        assert_eq!(names.len(), 5);
    }
}
