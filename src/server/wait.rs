//! The handle's waits: event-driven (each wakes on the change it waits
//! for, never on a poll), cancel-safe, and timed in *real* time by a timer
//! outside tokio's clock, so they work under a paused clock too.

use std::fmt;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use tokio::sync::{oneshot, watch};

/// A wait that ran out of time: what was awaited and what was seen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("timed out after {timeout:?} waiting {awaited}; saw {seen}")]
pub struct WaitTimeout {
    /// What the wait waited for, in words.
    pub awaited: String,
    /// What it saw last, in words.
    pub seen: String,
    /// How long it waited (real time).
    pub timeout: Duration,
}

/// Fires after `d` of real time, on a thread of its own that ends as soon
/// as this is dropped.
struct RealTimer {
    fired: oneshot::Receiver<()>,
    _cancel: mpsc::Sender<()>,
}

impl RealTimer {
    fn new(d: Duration) -> Self {
        let (cancel, cancelled) = mpsc::channel::<()>();
        let (fire, fired) = oneshot::channel();
        let spawned = std::thread::Builder::new()
            .name("mock-chat-server-wait".into())
            .spawn(move || {
                if let Err(RecvTimeoutError::Timeout) = cancelled.recv_timeout(d) {
                    let _ = fire.send(());
                }
            });
        if spawned.is_err() {
            // No thread, no timeout: the wait still ends when its condition holds.
            tracing::warn!("cannot start a timer thread; this wait has no timeout");
        }
        RealTimer {
            fired,
            _cancel: cancel,
        }
    }
}

/// `items` if there are at least `n`, else what was seen.
pub(crate) fn at_least<T>(items: Vec<T>, n: usize, what: &str) -> Result<Vec<T>, String> {
    if items.len() >= n {
        Ok(items)
    } else {
        Err(format!("{} {what}", items.len()))
    }
}

/// Done once `open` (connections, subscribers) reaches `n`, else what was
/// seen.
pub(crate) fn open_at_least(open: usize, n: usize) -> Result<(), String> {
    if open >= n {
        Ok(())
    } else {
        Err(format!("{open} open"))
    }
}

/// Waits until `check` says done (`Ok`), re-checking whenever `changes`
/// changes, for at most `timeout` of real time. `check` returns what it saw
/// when not done yet.
pub(crate) async fn until<T, W: Clone>(
    timeout: Duration,
    awaited: impl fmt::Display,
    mut changes: watch::Receiver<W>,
    mut check: impl FnMut() -> Result<T, String>,
) -> Result<T, WaitTimeout> {
    let mut timer = RealTimer::new(timeout);
    loop {
        changes.mark_unchanged();
        let seen = match check() {
            Ok(done) => return Ok(done),
            Err(seen) => seen,
        };
        tokio::select! {
            r = changes.changed() => {
                if r.is_err() {
                    return Err(WaitTimeout { awaited: awaited.to_string(), seen: format!("{seen} (the server stopped)"), timeout });
                }
            }
            _ = &mut timer.fired => {
                let seen = check().err().unwrap_or(seen);
                return Err(WaitTimeout { awaited: awaited.to_string(), seen, timeout });
            }
        }
    }
}
