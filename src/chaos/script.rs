//! Fault scripts: the explicit decisions of a run, replayable exactly (see
//! [`FaultScript`]).

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Fault, Route};
use crate::key::IdempotencyKey;

/// The environment variable naming a script file for a builder that has
/// none.
pub const SCRIPT_ENV: &str = "MOCK_CHAT_SCRIPT";

/// One request's decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScriptedRequest {
    /// The route (a JSON one: the stream's decisions are
    /// [`ScriptedStream`]s).
    pub route: Route,
    /// The route's request count (from 0) this decision is for.
    pub k: u64,
    /// The fault, if any (a timeout's `after_ms` unscaled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<Fault>,
    /// Delay before handling, unscaled.
    #[serde(default)]
    pub latency_before_ms: u64,
    /// Delay after handling, unscaled.
    #[serde(default)]
    pub latency_after_ms: u64,
}

/// How many times one message is delivered on SSE.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScriptedCopies {
    /// The message's idempotency key (its bytes: a UTF-8 key is a plain
    /// JSON string, any other `{"hex": "…"}`, see [`IdempotencyKey`]).
    pub key: IdempotencyKey,
    /// Deliveries (2 or more: 1 is calm).
    pub copies: u32,
}

/// One SSE connection's fate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScriptedStream {
    /// The connection's count (from 0) since start or reset.
    pub k: u64,
    /// Cut (transport error) after this many delivered events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cut_after: Option<u64>,
    /// Ended cleanly after this many delivered events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_after: Option<u64>,
}

/// The explicit chaos decisions of a run, replayable exactly.
///
/// A run's script lists every non-calm decision: per JSON route and `k`, the
/// fault and the delays; per published message (by idempotency key: a
/// plain string, or `{"hex": "…"}` for a key that is not UTF-8, see
/// [`IdempotencyKey`]), its copy count; per SSE connection `k`, when it was cut or ended. Replaying
/// a script (`builder().script(..)` or `MOCK_CHAT_SCRIPT=file.json`) makes
/// exactly those decisions, and every decision not in it calm.
///
/// The JSON form is stable (`"version": 1`):
///
/// ```json
/// {
///   "version": 1,
///   "seed": 42,
///   "requests": [
///     {"route": "post_message", "k": 3, "fault": {"kind": "drop_after_commit"},
///      "latency_before_ms": 0, "latency_after_ms": 120}
///   ],
///   "copies": [{"key": "msg-7", "copies": 3}, {"key": {"hex": "6162e9"}, "copies": 2}],
///   "streams": [{"k": 1, "cut_after": 7}]
/// }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultScript {
    /// Format version (1).
    #[serde(default = "one")]
    pub version: u32,
    /// The seed of the run (ids, bot delays and lines still come from it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Request decisions.
    #[serde(default)]
    pub requests: Vec<ScriptedRequest>,
    /// Copy counts.
    #[serde(default)]
    pub copies: Vec<ScriptedCopies>,
    /// Stream cuts and ends.
    #[serde(default)]
    pub streams: Vec<ScriptedStream>,
}

fn one() -> u32 {
    1
}

/// Why a script could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid fault script: {0}")]
pub struct ScriptError(String);

/// One non-calm decision of a script, for shrinking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ScriptedDecision {
    Request(ScriptedRequest),
    Copies(ScriptedCopies),
    Stream(ScriptedStream),
}

impl FaultScript {
    /// An empty script: every decision calm.
    pub fn new() -> Self {
        FaultScript {
            version: 1,
            ..FaultScript::default()
        }
    }

    /// The number of non-calm decisions.
    pub fn len(&self) -> usize {
        self.requests.len() + self.copies.len() + self.streams.len()
    }

    /// Whether every decision is calm.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The stable JSON form (see [`FaultScript`]).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Reads the JSON form.
    pub fn from_json(json: &str) -> Result<Self, ScriptError> {
        let script: FaultScript =
            serde_json::from_str(json).map_err(|e| ScriptError(e.to_string()))?;
        if script.version != 1 {
            return Err(ScriptError(format!("unknown version {}", script.version)));
        }
        if let Some(r) = script.requests.iter().find(|r| !r.route.is_json()) {
            return Err(ScriptError(format!(
                "route {} has no request decisions (its are in \"streams\")",
                r.route
            )));
        }
        Ok(script)
    }

    pub(crate) fn request(&self, route: Route, k: u64) -> Option<&ScriptedRequest> {
        self.requests.iter().find(|r| r.route == route && r.k == k)
    }

    pub(crate) fn copies_of(&self, key: &[u8]) -> Option<u32> {
        self.copies
            .iter()
            .find(|c| c.key.as_bytes() == key)
            .map(|c| c.copies)
    }

    pub(crate) fn stream(&self, k: u64) -> Option<&ScriptedStream> {
        self.streams.iter().find(|s| s.k == k)
    }

    pub(crate) fn decisions(&self) -> Vec<ScriptedDecision> {
        let mut out: Vec<ScriptedDecision> = self
            .requests
            .iter()
            .cloned()
            .map(ScriptedDecision::Request)
            .collect();
        out.extend(self.copies.iter().cloned().map(ScriptedDecision::Copies));
        out.extend(self.streams.iter().cloned().map(ScriptedDecision::Stream));
        out
    }

    pub(crate) fn from_decisions(seed: Option<u64>, decisions: &[ScriptedDecision]) -> Self {
        let mut s = FaultScript {
            seed,
            ..FaultScript::new()
        };
        for d in decisions {
            match d {
                ScriptedDecision::Request(r) => s.requests.push(r.clone()),
                ScriptedDecision::Copies(c) => s.copies.push(c.clone()),
                ScriptedDecision::Stream(st) => s.streams.push(st.clone()),
            }
        }
        s
    }
}

impl fmt::Display for ScriptedRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} #{}: ", self.route.spec().words, self.k + 1)?;
        match &self.fault {
            Some(fault) => f.write_str(&fault.describe())?,
            None => f.write_str("delayed")?,
        }
        let (before, after) = (self.latency_before_ms, self.latency_after_ms);
        if before > 0 || after > 0 {
            write!(
                f,
                " (delays {before} ms before, {after} ms after; unscaled)"
            )?;
        }
        Ok(())
    }
}

impl fmt::Display for FaultScript {
    /// The decisions in words, one per line (`POST #3: dropped after commit`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("no faults (every decision calm)");
        }
        let mut lines: Vec<String> = self.requests.iter().map(|r| r.to_string()).collect();
        for c in &self.copies {
            lines.push(format!(
                "SSE: message with key {:?} delivered {} times",
                c.key, c.copies
            ));
        }
        for s in &self.streams {
            if let Some(n) = s.cut_after {
                lines.push(format!(
                    "SSE connection #{}: stream cut after event {n}",
                    s.k + 1
                ));
            }
            if let Some(n) = s.end_after {
                lines.push(format!(
                    "SSE connection #{}: stream ended after event {n}",
                    s.k + 1
                ));
            }
        }
        f.write_str(&lines.join("\n"))
    }
}

/// Milliseconds of a duration, saturating.
pub(crate) fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_json_form_round_trips_and_reads_in_words() {
        let mut s = FaultScript::new();
        s.seed = Some(42);
        s.requests.push(ScriptedRequest {
            route: Route::PostMessage,
            k: 2,
            fault: Some(Fault::DropAfterCommit),
            latency_before_ms: 0,
            latency_after_ms: 0,
        });
        s.streams.push(ScriptedStream {
            k: 0,
            cut_after: Some(7),
            end_after: None,
        });
        assert_eq!(FaultScript::from_json(&s.to_json()).unwrap(), s);
        assert_eq!(s.len(), 2);
        assert_eq!(
            s.to_string(),
            "POST #3: dropped after commit\nSSE connection #1: stream cut after event 7"
        );
        assert!(FaultScript::from_json(r#"{"version":2}"#).is_err());
        let on_the_stream = r#"{"requests":[{"route":"events","k":0}]}"#;
        assert!(FaultScript::from_json(on_the_stream).is_err());
        assert!(FaultScript::from_json("{}").unwrap().is_empty());
    }

    #[test]
    fn copies_keys_round_trip_as_bytes_and_text_stays_text() {
        let mut s = FaultScript::new();
        for (key, copies) in [
            (&b"msg-7"[..], 3),
            (b"ab\xe9\xe9cd", 2),
            (b"ab\xea\xe9cd", 3),
        ] {
            s.copies.push(ScriptedCopies {
                key: key.into(),
                copies,
            });
        }
        let json = s.to_json();
        assert!(json.contains(r#""key": "msg-7""#), "{json}");
        assert!(json.contains(r#""key": {"#) && json.contains(r#""hex": "6162e9e96364""#));
        let back = FaultScript::from_json(&json).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.copies_of(b"ab\xe9\xe9cd"), Some(2));
        assert_eq!(back.copies_of(b"ab\xea\xe9cd"), Some(3));
        assert_eq!(back.copies_of("ab\u{fffd}\u{fffd}cd".as_bytes()), None);
        // A script written before keys were bytes reads as it did.
        let old = r#"{"version":1,"copies":[{"key":"msg-7","copies":3}]}"#;
        assert_eq!(
            FaultScript::from_json(old).unwrap().copies_of(b"msg-7"),
            Some(3)
        );
        assert_eq!(
            back.to_string(),
            "SSE: message with key \"msg-7\" delivered 3 times\n\
             SSE: message with key \"ab\\xe9\\xe9cd\" delivered 2 times\n\
             SSE: message with key \"ab\\xea\\xe9cd\" delivered 3 times"
        );
    }
}
