//! Where a server's seed and fault script come from, with one policy for
//! the builder, the panic report, the explorer and `serve`:
//!
//! - the seed: the builder's, else `MOCK_CHAT_SEED`, else the script's,
//!   else random;
//! - the script: the builder's, else the file `MOCK_CHAT_SCRIPT` names.
//!
//! A variable that is set but unusable (a seed that is not a `u64`, a
//! script file that cannot be read or parsed) is an error, never skipped.
//! Knows nothing of the builder or the handle.

use std::fmt;

use crate::chaos::{FaultScript, SCRIPT_ENV};

/// The environment variable that supplies the seed when the builder has none.
pub const SEED_ENV: &str = "MOCK_CHAT_SEED";

/// Where the seed came from (the report says how to rerun).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SeedSource {
    Builder,
    Env,
    Script,
    Random,
}

/// A variable or file that is set but unusable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Invalid {
    /// `MOCK_CHAT_SEED`'s value, which is not a `u64`.
    Seed(String),
    /// A script file and why it cannot be used.
    Script {
        /// The file, as named.
        path: String,
        /// Why.
        reason: String,
    },
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Invalid::Seed(value) => write!(
                f,
                "{SEED_ENV}={value:?} is not a valid seed (expected an unsigned 64-bit integer)"
            ),
            Invalid::Script { path, reason } => write!(f, "{path}: {reason}"),
        }
    }
}

/// A server's seed, where it came from, and the script it replays.
#[derive(Debug, Clone)]
pub(crate) struct Resolved {
    pub(crate) seed: u64,
    pub(crate) source: SeedSource,
    pub(crate) script: Option<FaultScript>,
    /// The file `MOCK_CHAT_SCRIPT` named, when the script came from it.
    pub(crate) script_file: Option<String>,
}

/// `MOCK_CHAT_SEED`, if set (blank counts as unset).
pub(crate) fn env_seed() -> Result<Option<u64>, Invalid> {
    match std::env::var(SEED_ENV) {
        Ok(v) if !v.trim().is_empty() => v.trim().parse().map(Some).map_err(|_| Invalid::Seed(v)),
        _ => Ok(None),
    }
}

/// The file `MOCK_CHAT_SCRIPT` names and its script, if set (blank counts
/// as unset).
pub(crate) fn env_script() -> Result<Option<(String, FaultScript)>, Invalid> {
    match std::env::var(SCRIPT_ENV) {
        Ok(path) if !path.trim().is_empty() => {
            let path = path.trim().to_string();
            read_script(&path).map(|script| Some((path, script)))
        }
        _ => Ok(None),
    }
}

/// Reads a script file.
pub(crate) fn read_script(path: &str) -> Result<FaultScript, Invalid> {
    let invalid = |reason: String| Invalid::Script {
        path: path.to_string(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| invalid(e.to_string()))?;
    FaultScript::from_json(&text).map_err(|e| invalid(e.to_string()))
}

/// The seed and script of a server whose builder gave `seed` and `script`
/// (see the [module docs](self) for the order).
pub(crate) fn resolve(seed: Option<u64>, script: Option<FaultScript>) -> Result<Resolved, Invalid> {
    let (script, script_file) = match script {
        Some(s) => (Some(s), None),
        None => match env_script()? {
            Some((file, s)) => (Some(s), Some(file)),
            None => (None, None),
        },
    };
    let (seed, source) = match (seed, env_seed()?, script.as_ref().and_then(|s| s.seed)) {
        (Some(seed), _, _) => (seed, SeedSource::Builder),
        (None, Some(seed), _) => (seed, SeedSource::Env),
        (None, None, Some(seed)) => (seed, SeedSource::Script),
        (None, None, None) => (rand::random(), SeedSource::Random),
    };
    Ok(Resolved {
        seed,
        source,
        script,
        script_file,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builder_wins_and_a_missing_file_is_an_error() {
        let given = FaultScript {
            seed: Some(9),
            ..FaultScript::new()
        };
        let r = resolve(Some(3), Some(given.clone())).unwrap();
        assert_eq!((r.seed, r.source), (3, SeedSource::Builder));
        assert_eq!(r.script, Some(given));
        let e = read_script("/no/such/script.json").unwrap_err();
        assert!(e.to_string().starts_with("/no/such/script.json: "), "{e}");
        assert!(Invalid::Seed("x".into()).to_string().contains(SEED_ENV));
    }
}
