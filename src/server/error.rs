//! Why a server could not start.

use std::net::SocketAddr;

use super::resolve::{Invalid, SEED_ENV};
use crate::chaos::{PlanError, SCRIPT_ENV};

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The address could not be bound.
    #[error("cannot bind {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// `MOCK_CHAT_SEED` is set but is not a `u64`.
    #[error("{SEED_ENV}={0:?} is not a valid seed (expected an unsigned 64-bit integer)")]
    InvalidSeed(String),
    /// The fault plan is invalid.
    #[error(transparent)]
    InvalidPlan(#[from] PlanError),
    /// `time_scale` is negative, zero, NaN or infinite.
    #[error("time_scale must be a finite number above 0, got {0}")]
    InvalidTimeScale(f64),
    /// `start()` was called outside a tokio runtime.
    #[error(
        "start() must be called inside a tokio runtime (use #[tokio::test], or start_blocking())"
    )]
    NoRuntime,
    /// The admin API would be reachable beyond this machine without a
    /// token (see [`MockChatServerBuilder::admin_insecure`](crate::MockChatServerBuilder::admin_insecure)).
    #[error(
        "the admin API would be open to the network at {addr} without a token: \
         set an admin token (--admin-token), or accept the risk with --admin-insecure"
    )]
    AdminUnprotected {
        /// The address asked for.
        addr: SocketAddr,
    },
    /// The script of `MOCK_CHAT_SCRIPT` cannot be read.
    #[error("{SCRIPT_ENV}: {0}")]
    InvalidScript(String),
    /// The background runtime of `start_blocking()` could not be created.
    #[error("cannot create the background runtime: {0}")]
    Runtime(std::io::Error),
}

impl From<Invalid> for StartError {
    fn from(invalid: Invalid) -> Self {
        match invalid {
            Invalid::Seed(value) => StartError::InvalidSeed(value),
            script @ Invalid::Script { .. } => StartError::InvalidScript(script.to_string()),
        }
    }
}
