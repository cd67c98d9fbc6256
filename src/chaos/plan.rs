//! Fault plans: per-route probabilities and delays, the stream's copies and
//! cuts, the presets, validation and the JSON form.

use serde::{Deserialize, Serialize};

use super::fault::{self, MAX_COPIES, REFERENCE_TIMEOUT};
use super::Delay;
use super::Route;

/// What can go wrong on one JSON route, and how often (probabilities in 0..=1).
///
/// The five faults exclude each other for a request; their probabilities
/// must add up to at most 1. Delays apply on top: `latency_before` before
/// the handler (or the fault), `latency_after` after the handler, whatever
/// it answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RouteFaults {
    /// Delay before the request is handled.
    pub latency_before: Delay,
    /// Delay after it is handled, before the answer completes (a client
    /// timing out here has a stored POST it never heard about).
    pub latency_after: Delay,
    /// Probability of 503 `unavailable`.
    pub unavailable: f64,
    /// Probability of silence then 504 `timeout`.
    pub timeout: f64,
    /// How long a timeout stays silent, in ms (default 5000).
    pub timeout_after_ms: u64,
    /// Probability of closing the connection before handling.
    pub drop_before_commit: f64,
    /// Probability of closing the connection after handling.
    pub drop_after_commit: f64,
    /// Probability of a 200 with half its body.
    pub truncated_body: f64,
}

impl Default for RouteFaults {
    fn default() -> Self {
        RouteFaults {
            latency_before: Delay::None,
            latency_after: Delay::None,
            unavailable: 0.0,
            timeout: 0.0,
            timeout_after_ms: REFERENCE_TIMEOUT.as_millis() as u64,
            drop_before_commit: 0.0,
            drop_after_commit: 0.0,
            truncated_body: 0.0,
        }
    }
}

impl RouteFaults {
    /// The exclusive faults' probabilities with their field names, in the
    /// order a draw tests them (the [fault table](super::fault)'s).
    pub(crate) fn probabilities(&self) -> impl Iterator<Item = (f64, &'static str)> + '_ {
        fault::drawn().map(|(name, drawn)| ((drawn.probability)(self), name))
    }

    /// True when this route can never be delayed or faulted.
    pub fn is_calm(&self) -> bool {
        self.latency_before.is_zero()
            && self.latency_after.is_zero()
            && self.probabilities().all(|(p, _)| p == 0.0)
    }
}

/// What can go wrong on the SSE stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StreamFaults {
    /// How many times each published message is delivered: `copies[i]` is
    /// the probability of `i + 1` deliveries (must add up to 1). Default
    /// `[1.0]`: once. The reference's is `[1/3, 4/9, 2/9]`.
    pub copies: Vec<f64>,
    /// Probability, per delivered event, that the connection is cut after it.
    pub stream_disconnect: f64,
    /// Probability, per delivered event, that the response ends cleanly
    /// after it (as at the 30 s lifetime).
    pub stream_end: f64,
}

impl Default for StreamFaults {
    fn default() -> Self {
        StreamFaults {
            copies: vec![1.0],
            stream_disconnect: 0.0,
            stream_end: 0.0,
        }
    }
}

/// Why a [`FaultPlan`] was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// A field holds an unusable value.
    #[error("{field}: {reason}")]
    Invalid {
        /// The field, as `route.field` (`post_message.latency_before`).
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Not valid JSON for a plan.
    #[error("not a valid fault plan: {0}")]
    Json(String),
    /// An unknown preset name.
    #[error("unknown preset {0:?}: expected none, reference or hostile")]
    UnknownPreset(String),
}

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> PlanError {
    PlanError::Invalid {
        field: field.into(),
        reason: reason.into(),
    }
}

/// The whole chaos configuration: per-route faults and the stream's.
///
/// Build one from a preset and adjust it, or load it from JSON:
///
/// ```
/// use mock_chat_server::chaos::Delay;
/// use mock_chat_server::{FaultPlan, Route};
///
/// let mut plan = FaultPlan::none();
/// plan.route_mut(Route::PostMessage).unavailable = 0.25;
/// plan.route_mut(Route::GetChats).latency_before = Delay::Uniform(0, 100);
/// assert!(plan.validate().is_ok());
///
/// let json = plan.to_json();
/// assert_eq!(FaultPlan::from_json(&json).unwrap(), plan);
/// assert_eq!(FaultPlan::from_json(r#"{"preset":"reference"}"#).unwrap(), FaultPlan::reference());
///
/// let err = FaultPlan::from_json(r#"{"get_chats":{"latency_before":{"uniform_ms":[500,1]}}}"#).unwrap_err();
/// assert!(err.to_string().starts_with("get_chats.latency_before:"));
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultPlan {
    /// Faults on `GET /chats`.
    pub get_chats: RouteFaults,
    /// Faults on `GET /chats/{chat_id}/messages`.
    pub get_messages: RouteFaults,
    /// Faults on `POST /chats/{chat_id}/messages`.
    pub post_message: RouteFaults,
    /// Faults on the SSE stream.
    pub events: StreamFaults,
}

impl FaultPlan {
    /// No faults at all: the default when embedded. The wire is still the
    /// reference's (UUIDs, whole-log replay, 30 s stream lifetime).
    pub fn none() -> Self {
        FaultPlan::default()
    }

    /// Exactly the reference server's chaos (the default of `serve`): on
    /// each JSON route a uniform 0–1499 ms delay; then 5% 503; else 5% 5 s
    /// of silence then 504 (4.75% overall); else the handler, then another
    /// 0–1499 ms delay. Every message is delivered 1, 2 or 3 times with
    /// probability 1/3, 4/9, 2/9.
    pub fn reference() -> Self {
        let route = RouteFaults {
            latency_before: Delay::Uniform(0, 1499),
            latency_after: Delay::Uniform(0, 1499),
            unavailable: 0.05,
            timeout: 0.95 * 0.05,
            ..RouteFaults::default()
        };
        let events = StreamFaults {
            copies: vec![1.0 / 3.0, 4.0 / 9.0, 2.0 / 9.0],
            ..StreamFaults::default()
        };
        FaultPlan {
            events,
            ..FaultPlan::none()
        }
        .with_all_routes(route)
    }

    /// Everything [`reference`](Self::reference) does at higher rates, plus
    /// every other fault of the catalogue: dropped connections before and
    /// after commit, truncated bodies, up to 4 copies, cut and ended streams.
    pub fn hostile() -> Self {
        let route = RouteFaults {
            latency_before: Delay::Uniform(0, 2000),
            latency_after: Delay::Uniform(0, 2000),
            unavailable: 0.10,
            timeout: 0.10,
            drop_before_commit: 0.05,
            drop_after_commit: 0.10,
            truncated_body: 0.05,
            ..RouteFaults::default()
        };
        let events = StreamFaults {
            copies: vec![0.25, 0.35, 0.25, 0.15],
            stream_disconnect: 0.05,
            stream_end: 0.05,
        };
        FaultPlan {
            events,
            ..FaultPlan::none()
        }
        .with_all_routes(route)
    }

    /// A preset by name: `none`, `reference` or `hostile`.
    pub fn preset(name: &str) -> Result<Self, PlanError> {
        match name {
            "none" => Ok(Self::none()),
            "reference" => Ok(Self::reference()),
            "hostile" => Ok(Self::hostile()),
            other => Err(PlanError::UnknownPreset(other.to_string())),
        }
    }

    /// The faults of a JSON route.
    ///
    /// # Panics
    ///
    /// On [`Route::Events`], which has no request faults (the stream's are
    /// [`events`](Self::events)).
    pub fn route(&self, route: Route) -> &RouteFaults {
        (Self::field(route).get)(self)
    }

    /// Mutable access to a JSON route's faults.
    ///
    /// # Panics
    ///
    /// On [`Route::Events`], as [`route`](Self::route).
    pub fn route_mut(&mut self, route: Route) -> &mut RouteFaults {
        (Self::field(route).get_mut)(self)
    }

    fn field(route: Route) -> super::route::PlanField {
        match route.plan_field() {
            Some(field) => field,
            None => panic!("{route} has no request faults: see FaultPlan::events"),
        }
    }

    /// The same faults on all three JSON routes.
    pub fn with_all_routes(mut self, faults: RouteFaults) -> Self {
        for route in Route::json_routes() {
            *self.route_mut(route) = faults.clone();
        }
        self
    }

    /// Checks every field: probabilities in 0..=1 (a route's exclusive
    /// faults adding up to at most 1), delay ranges ordered and non-empty,
    /// every delay at most 1 hour, copies adding up to 1.
    pub fn validate(&self) -> Result<(), PlanError> {
        for route in Route::json_routes() {
            let faults = self.route(route);
            let mut sum = 0.0;
            for (p, field) in faults.probabilities() {
                check_probability(&format!("{route}.{field}"), p)?;
                sum += p;
            }
            if sum > 1.0 + 1e-9 {
                return Err(invalid(
                    route.as_str(),
                    format!("the fault probabilities add up to {sum}, more than 1"),
                ));
            }
            for (delay, field) in [
                (&faults.latency_before, "latency_before"),
                (&faults.latency_after, "latency_after"),
                (&Delay::Fixed(faults.timeout_after_ms), "timeout_after_ms"),
            ] {
                if let Some(reason) = delay.why_invalid() {
                    return Err(invalid(format!("{route}.{field}"), reason));
                }
            }
        }
        let e = &self.events;
        check_probability("events.stream_disconnect", e.stream_disconnect)?;
        check_probability("events.stream_end", e.stream_end)?;
        if e.copies.is_empty() || e.copies.len() > MAX_COPIES as usize {
            return Err(invalid(
                "events.copies",
                format!("must list between 1 and {MAX_COPIES} probabilities"),
            ));
        }
        for p in &e.copies {
            check_probability("events.copies", *p)?;
        }
        let sum: f64 = e.copies.iter().sum();
        if (sum - 1.0).abs() > 1e-6 {
            return Err(invalid(
                "events.copies",
                format!("the probabilities add up to {sum}, not 1"),
            ));
        }
        Ok(())
    }

    /// Parses and validates a plan from JSON: either a whole plan (missing
    /// fields are calm) or `{"preset": "none" | "reference" | "hostile"}`.
    pub fn from_json(json: &str) -> Result<Self, PlanError> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Preset {
            preset: String,
        }
        let value: serde_json::Value =
            serde_json::from_str(json).map_err(|e| PlanError::Json(e.to_string()))?;
        if !value.is_object() {
            return Err(PlanError::Json(
                "a fault plan must be a JSON object, like {\"preset\": \"none\"}".to_string(),
            ));
        }
        if value.get("preset").is_some() {
            let p: Preset =
                serde_json::from_value(value).map_err(|e| PlanError::Json(e.to_string()))?;
            return Self::preset(&p.preset);
        }
        let plan: FaultPlan =
            serde_json::from_value(value).map_err(|e| PlanError::Json(e.to_string()))?;
        plan.validate()?;
        Ok(plan)
    }

    /// The plan as pretty JSON (the format [`from_json`](Self::from_json) reads).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// A one-line summary in words, e.g. for `serve`'s banner.
    pub fn summary(&self) -> String {
        if *self == Self::none() {
            return "none (calm)".to_string();
        }
        let name = if *self == Self::reference() {
            "reference: "
        } else if *self == Self::hostile() {
            "hostile: "
        } else {
            "custom: "
        };
        let mut parts = Vec::new();
        for route in Route::json_routes() {
            let f = self.route(route);
            if f.is_calm() {
                continue;
            }
            let mut items = Vec::new();
            if !f.latency_before.is_zero() {
                items.push(format!("before {}", f.latency_before));
            }
            if !f.latency_after.is_zero() {
                items.push(format!("after {}", f.latency_after));
            }
            for (p, field) in f.probabilities() {
                if p > 0.0 {
                    items.push(format!("{field} {:.2}%", p * 100.0));
                }
            }
            parts.push(format!("{route}[{}]", items.join(", ")));
        }
        let e = &self.events;
        let copies: Vec<String> = e.copies.iter().map(|p| format!("{p:.2}")).collect();
        parts.push(format!(
            "events[copies {}, disconnect {:.0}%, end {:.0}%]",
            copies.join("/"),
            e.stream_disconnect * 100.0,
            e.stream_end * 100.0,
        ));
        format!("{name}{}", parts.join("; "))
    }
}

fn check_probability(field: &str, p: f64) -> Result<(), PlanError> {
    if (0.0..=1.0).contains(&p) {
        Ok(())
    } else {
        Err(invalid(
            field,
            format!("must be a probability between 0 and 1, got {p}"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_validate_and_round_trip() {
        for name in ["none", "reference", "hostile"] {
            let plan = FaultPlan::preset(name).unwrap();
            plan.validate().unwrap();
            assert_eq!(FaultPlan::from_json(&plan.to_json()).unwrap(), plan);
        }
        assert!(FaultPlan::preset("chaos").is_err());
    }

    #[test]
    fn the_reference_preset_is_the_reference_servers_chaos() {
        let r = FaultPlan::reference();
        for route in Route::json_routes() {
            let f = r.route(route);
            assert_eq!(f.latency_before, Delay::Uniform(0, 1499));
            assert_eq!(f.latency_after, Delay::Uniform(0, 1499));
            assert_eq!(f.unavailable, 0.05);
            assert!((f.timeout - 0.0475).abs() < 1e-12);
            assert_eq!(f.timeout_after_ms, 5000);
        }
        assert_eq!(r.events.copies.len(), 3);
        assert!((r.events.copies[1] - 4.0 / 9.0).abs() < 1e-12);
    }

    #[test]
    fn bad_plans_name_the_field() {
        let cases = [
            (
                r#"{"get_chats":{"unavailable":1.5}}"#,
                "get_chats.unavailable",
            ),
            (
                r#"{"post_message":{"latency_after":{"uniform_ms":[500,1]}}}"#,
                "post_message.latency_after",
            ),
            (
                r#"{"get_messages":{"latency_before":{"one_of_ms":[]}}}"#,
                "get_messages.latency_before",
            ),
            (
                r#"{"get_chats":{"latency_before":{"fixed_ms":18446744073709551615}}}"#,
                "get_chats.latency_before",
            ),
            (
                r#"{"get_chats":{"timeout_after_ms":3600001}}"#,
                "get_chats.timeout_after_ms",
            ),
            (r#"{"events":{"copies":[0.5]}}"#, "events.copies"),
            (r#"{"events":{"copies":[]}}"#, "events.copies"),
            (r#"{"events":{"stream_end":-0.1}}"#, "events.stream_end"),
            (
                r#"{"get_chats":{"unavailable":0.6,"timeout":0.6}}"#,
                "get_chats",
            ),
        ];
        for (json, field) in cases {
            match FaultPlan::from_json(json) {
                Err(PlanError::Invalid { field: f, .. }) => assert_eq!(f, field, "{json}"),
                other => panic!("{json}: {other:?}"),
            }
        }
        assert!(matches!(
            FaultPlan::from_json("[]"),
            Err(PlanError::Json(_))
        ));
        assert!(matches!(
            FaultPlan::from_json(r#"{"nope":1}"#),
            Err(PlanError::Json(_))
        ));
    }
}
