//! Which seeds to explore: lists and ranges, seeds drawn from a base seed,
//! and shards of them for CI matrices.

use std::fmt;
use std::str::FromStr;

/// The environment variable that selects a shard (`K/N`) of the seeds.
pub const SHARD_ENV: &str = "MOCK_CHAT_SHARD";

/// The most seeds one list may name.
#[cfg(feature = "cli")]
const MOST_SEEDS: u64 = 10_000_000;

/// Parses `3,17,40..60`: seeds and half-open ranges (`0..100` is 100
/// seeds), in the order given, each seed once.
#[cfg(feature = "cli")]
pub(crate) fn parse_seeds(text: &str) -> Result<Vec<u64>, String> {
    let mut seeds = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for part in text.split(',').map(str::trim) {
        let (from, to) = match part.split_once("..") {
            Some((a, b)) => (number(a)?, number(b)?),
            None => {
                let n = number(part)?;
                (n, n.checked_add(1).ok_or("a seed is too large")?)
            }
        };
        if from >= to {
            return Err(format!("{part:?} is an empty range (the end is excluded)"));
        }
        if (to - from).saturating_add(seeds.len() as u64) > MOST_SEEDS {
            return Err(format!("more than {MOST_SEEDS} seeds"));
        }
        seeds.extend((from..to).filter(|s| seen.insert(*s)));
    }
    Ok(seeds)
}

#[cfg(feature = "cli")]
fn number(text: &str) -> Result<u64, String> {
    text.trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a seed (expected seeds and ranges: 3,17,40..60)"))
}

/// `n` seeds drawn from `base` (the same base, the same seeds).
#[cfg(feature = "cli")]
pub(crate) fn random_seeds(base: u64, n: usize) -> Vec<u64> {
    use rand::{Rng, SeedableRng};

    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(base);
    (0..n).map(|_| rng.gen()).collect()
}

/// Shard `K` of `N`: the seeds whose index modulo `N` is `K - 1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Shard {
    k: usize,
    n: usize,
}

impl Shard {
    /// Shard `k` of `n` (from 1 to `n`).
    pub(crate) fn new(k: usize, n: usize) -> Result<Self, String> {
        if n == 0 || k == 0 || k > n {
            return Err(format!(
                "shard {k}/{n}: expected K/N with 1 <= K <= N (1/2 and 2/2 split the seeds in two)"
            ));
        }
        Ok(Shard { k, n })
    }

    /// This shard's seeds, in order.
    pub(crate) fn select(&self, seeds: &[u64]) -> Vec<u64> {
        seeds
            .iter()
            .enumerate()
            .filter(|(i, _)| i % self.n == self.k - 1)
            .map(|(_, s)| *s)
            .collect()
    }

    /// `MOCK_CHAT_SHARD`, if set (blank counts as unset).
    pub(crate) fn from_env() -> Result<Option<Shard>, String> {
        match std::env::var(SHARD_ENV) {
            Ok(v) if !v.trim().is_empty() => v
                .parse()
                .map(Some)
                .map_err(|e| format!("{SHARD_ENV}={v:?}: {e}")),
            _ => Ok(None),
        }
    }
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (k, n) = text
            .trim()
            .split_once('/')
            .ok_or_else(|| format!("{text:?} is not a shard (expected K/N, e.g. 1/4)"))?;
        let part = |p: &str| {
            p.trim()
                .parse::<usize>()
                .map_err(|_| format!("{text:?} is not a shard (expected K/N, e.g. 1/4)"))
        };
        Shard::new(part(k)?, part(n)?)
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.k, self.n)
    }
}

#[cfg(all(test, feature = "cli"))]
mod tests {
    use super::*;

    #[test]
    fn lists_and_half_open_ranges() {
        assert_eq!(parse_seeds("3,17,40..43").unwrap(), vec![3, 17, 40, 41, 42]);
        assert_eq!(parse_seeds("0..100").unwrap().len(), 100);
        assert_eq!(parse_seeds(" 5 , 5, 4..7 ").unwrap(), vec![5, 4, 6]);
        for bad in ["", "x", "3..3", "9..2", "1,,2", "0..99999999999"] {
            assert!(parse_seeds(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn shards_cover_every_seed_once() {
        let seeds = parse_seeds("0..11").unwrap();
        let one: Shard = "1/2".parse().unwrap();
        let two: Shard = "2/2".parse().unwrap();
        let (a, b) = (one.select(&seeds), two.select(&seeds));
        assert_eq!(a, vec![0, 2, 4, 6, 8, 10]);
        assert_eq!(b, vec![1, 3, 5, 7, 9]);
        let mut all = [a, b].concat();
        all.sort();
        assert_eq!(all, seeds);
        for bad in ["0/2", "3/2", "1/0", "1", "a/b"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad:?}");
        }
        assert_eq!(one.to_string(), "1/2");
    }

    #[test]
    fn random_seeds_repeat_from_their_base() {
        assert_eq!(random_seeds(7, 5), random_seeds(7, 5));
        assert_ne!(random_seeds(7, 5), random_seeds(8, 5));
    }
}
