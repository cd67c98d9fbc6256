//! The delays a plan draws before and after a handler.

use std::fmt;
use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Serialize};

/// A random (or fixed) duration, in milliseconds in JSON.
///
/// `{"fixed_ms": 200}`, `{"uniform_ms": [0, 1499]}` (both bounds included),
/// `{"one_of_ms": [3000, 4000, 5000]}`, or `"none"`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Delay {
    /// No delay.
    #[default]
    None,
    /// Always this many milliseconds.
    #[serde(rename = "fixed_ms")]
    Fixed(u64),
    /// Uniform between the two bounds, inclusive, in milliseconds.
    #[serde(rename = "uniform_ms")]
    Uniform(u64, u64),
    /// One of these values, each equally likely, in milliseconds.
    #[serde(rename = "one_of_ms")]
    OneOf(Vec<u64>),
}

/// The longest delay a plan may hold.
pub(crate) const MAX_DELAY_MS: u64 = 60 * 60 * 1000;

impl Delay {
    /// Draws a delay (unscaled).
    pub(crate) fn draw(&self, rng: &mut impl Rng) -> Duration {
        let ms = match self {
            Delay::None => 0,
            Delay::Fixed(ms) => *ms,
            Delay::Uniform(a, b) => rng.gen_range(*a.min(b)..=*a.max(b)),
            Delay::OneOf(v) if v.is_empty() => 0,
            Delay::OneOf(v) => v[rng.gen_range(0..v.len())],
        };
        Duration::from_millis(ms)
    }

    pub(crate) fn is_zero(&self) -> bool {
        match self {
            Delay::None => true,
            Delay::Fixed(ms) => *ms == 0,
            Delay::Uniform(a, b) => *a == 0 && *b == 0,
            Delay::OneOf(v) => v.iter().all(|ms| *ms == 0),
        }
    }

    /// Why this delay is unusable, if it is.
    pub(crate) fn why_invalid(&self) -> Option<String> {
        let too_long = |ms: u64| ms > MAX_DELAY_MS;
        let over = |ms: &u64| format!("{ms} ms is over {} hour", MAX_DELAY_MS / 3_600_000);
        match self {
            Delay::None => None,
            Delay::Fixed(ms) if too_long(*ms) => Some(over(ms)),
            Delay::Uniform(a, b) if a > b => {
                Some(format!("uniform_ms [{a}, {b}] is not ordered (low, high)"))
            }
            Delay::Uniform(_, b) if too_long(*b) => Some(over(b)),
            Delay::OneOf(v) if v.is_empty() => Some("one_of_ms must not be empty".into()),
            Delay::OneOf(v) => v.iter().find(|ms| too_long(**ms)).map(over),
            _ => None,
        }
    }
}

impl fmt::Display for Delay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Delay::None => f.write_str("0 ms"),
            Delay::Fixed(ms) => write!(f, "{ms} ms"),
            Delay::Uniform(a, b) => write!(f, "{a}–{b} ms"),
            Delay::OneOf(v) => {
                let parts: Vec<String> = v.iter().map(u64::to_string).collect();
                write!(f, "one of {} ms", parts.join("/"))
            }
        }
    }
}
