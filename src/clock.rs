//! Time: where `sent_at` comes from, and `time_scale`.
//!
//! By default timestamps follow tokio's clock (the wall time at start plus
//! tokio's elapsed time), so under `#[tokio::test(start_paused = true)]`
//! they move with `tokio::time::advance` like every delay does.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, FixedOffset, Local, Utc};

/// Where `sent_at` timestamps come from.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use mock_chat_server::config::Clock;
/// use std::time::Duration;
///
/// // Every stored message is 1 s after the previous one, from a fixed start.
/// let clock = Clock::fixed(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(), Duration::from_secs(1));
/// # let _ = clock;
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Clock {
    /// The wall time at start plus tokio's elapsed time (the default):
    /// follows a paused tokio clock.
    #[default]
    Tokio,
    /// The system clock, whatever tokio's clock does.
    System,
    /// Reproducible timestamps: the n-th reading (from 0) is `start + n × step`.
    Fixed {
        /// The first reading.
        start: DateTime<Utc>,
        /// The advance per reading.
        step: Duration,
    },
}

impl Clock {
    /// A fixed clock starting at `start` and advancing `step` per reading.
    pub fn fixed(start: DateTime<Utc>, step: Duration) -> Self {
        Clock::Fixed { start, step }
    }
}

/// The local offset, read once per process (reading the zone is the
/// dearest part of starting a server). Go's `time.Now()` is in the local
/// zone: so is every `sent_at`.
fn local_offset() -> FixedOffset {
    static OFFSET: std::sync::OnceLock<FixedOffset> = std::sync::OnceLock::new();
    *OFFSET.get_or_init(|| *Local::now().offset())
}

/// A [`Clock`] in use: its origin, its local offset and its reading counter.
#[derive(Debug)]
pub(crate) struct Ticker {
    clock: Clock,
    wall_start: DateTime<Utc>,
    tokio_start: tokio::time::Instant,
    offset: FixedOffset,
    readings: AtomicU64,
    time_scale: f64,
}

impl Ticker {
    pub(crate) fn new(clock: Clock, time_scale: f64) -> Self {
        Ticker {
            clock,
            wall_start: Utc::now(),
            tokio_start: tokio::time::Instant::now(),
            offset: local_offset(),
            readings: AtomicU64::new(0),
            time_scale,
        }
    }

    /// The current time, in the server's local offset.
    pub(crate) fn now(&self) -> DateTime<FixedOffset> {
        self.now_since(None)
    }

    /// The current time and the time since start (on tokio's clock), read
    /// once where the clock allows (a request's record wants both).
    pub(crate) fn reading(&self) -> (DateTime<FixedOffset>, Duration) {
        let elapsed = self.tokio_start.elapsed();
        (self.now_since(Some(elapsed)), elapsed)
    }

    /// [`now`](Self::now), given tokio's elapsed time if already read.
    fn now_since(&self, elapsed: Option<Duration>) -> DateTime<FixedOffset> {
        let utc = match &self.clock {
            Clock::System => Utc::now(),
            Clock::Tokio => {
                let elapsed = elapsed.unwrap_or_else(|| self.tokio_start.elapsed());
                chrono::Duration::from_std(elapsed)
                    .ok()
                    .and_then(|d| self.wall_start.checked_add_signed(d))
                    .unwrap_or(self.wall_start)
            }
            Clock::Fixed { start, step } => {
                let n = self.readings.fetch_add(1, Ordering::Relaxed);
                let offset = step.saturating_mul(u32::try_from(n).unwrap_or(u32::MAX));
                chrono::Duration::from_std(offset)
                    .ok()
                    .and_then(|d| start.checked_add_signed(d))
                    .unwrap_or(*start)
            }
        };
        utc.with_timezone(&self.offset)
    }

    pub(crate) fn time_scale(&self) -> f64 {
        self.time_scale
    }

    /// Restarts a fixed clock's readings (on reset).
    pub(crate) fn reset(&self) {
        self.readings.store(0, Ordering::Relaxed);
    }

    /// Multiplies a delay by `time_scale`.
    pub(crate) fn scale(&self, d: Duration) -> Duration {
        scale(d, self.time_scale)
    }
}

/// The second `secs` after the Unix epoch, in UTC, as `pattern` (chrono's
/// `strftime` syntax) writes it; empty past chrono's range.
pub(crate) fn utc_second(secs: u64, pattern: &str) -> String {
    i64::try_from(secs)
        .ok()
        .and_then(|s| DateTime::from_timestamp(s, 0))
        .map(|t| t.format(pattern).to_string())
        .unwrap_or_default()
}

/// `d × factor`, saturating: a huge plan value means "forever", never a
/// panic.
pub(crate) fn scale(d: Duration, factor: f64) -> Duration {
    if factor == 1.0 {
        d
    } else {
        Duration::try_from_secs_f64(d.as_secs_f64() * factor).unwrap_or(Duration::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[tokio::test(start_paused = true)]
    async fn the_default_clock_follows_tokio() {
        let t = Ticker::new(Clock::Tokio, 1.0);
        let a = t.now();
        tokio::time::advance(Duration::from_secs(5)).await;
        let b = t.now();
        assert_eq!((b - a).num_seconds(), 5);
    }

    #[test]
    fn a_fixed_clock_steps_and_restarts() {
        let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let _g = rt.enter();
        let t = Ticker::new(Clock::fixed(start, Duration::from_secs(2)), 0.5);
        assert_eq!(t.now(), start);
        assert_eq!(t.now(), start + chrono::Duration::seconds(2));
        t.reset();
        assert_eq!(t.now(), start);
        assert_eq!(t.scale(Duration::from_secs(4)), Duration::from_secs(2));
    }

    #[test]
    fn seconds_are_written_in_utc_in_any_pattern() {
        // Go's `Date` header and the log's time.
        let secs = 1_764_058_862;
        assert_eq!(
            utc_second(secs, "%a, %d %b %Y %H:%M:%S GMT"),
            "Tue, 25 Nov 2025 08:21:02 GMT"
        );
        assert_eq!(utc_second(secs, "%Y-%m-%dT%H:%M:%S"), "2025-11-25T08:21:02");
        assert_eq!(utc_second(u64::MAX, "%Y"), "");
    }
}
