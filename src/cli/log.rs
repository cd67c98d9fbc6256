//! The standalone server's log: one line per request and client
//! diagnostics as warnings, on stdout, through a [batching writer]
//! (BatchedStdout) so that a request pays for one formatted line and one
//! copy, and a slow terminal never slows the server.
//!
//! A line reads `{time} {LEVEL} {message}{ field=value…}`, the time in UTC
//! to the microsecond. Control characters in what clients sent (a decoded
//! path may hold an escape sequence) are shown escaped, never sent to the
//! terminal.

use std::cell::RefCell;
use std::fmt::{self, Write as _};
use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, SystemTime};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

use crate::http::REQUEST_LOG_TARGET;

/// Without `RUST_LOG`: request lines and warnings.
const DEFAULT_FILTER: &str = "info";

/// The most log text waiting to be written; past it, lines are dropped
/// (and counted) rather than slow the server or grow without bound.
const LOG_BUFFER: usize = 4 * 1024 * 1024;

/// How often the writer thread writes what has gathered.
const FLUSH_EVERY: Duration = Duration::from_millis(20);

/// Installs the log on stdout: `RUST_LOG` if set (and valid), else
/// [`DEFAULT_FILTER`]; `quiet` turns request lines off and nothing else.
/// The guard writes what is left when dropped.
pub(super) fn init(quiet: bool) -> LogGuard {
    let (writer, guard) = batched_stdout();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter(std::env::var("RUST_LOG").ok().as_deref(), quiet))
        .with_writer(writer)
        .event_format(LineFormat)
        .try_init();
    guard
}

fn filter(rust_log: Option<&str>, quiet: bool) -> EnvFilter {
    let base = rust_log
        .and_then(|spec| EnvFilter::try_new(spec).ok())
        .unwrap_or_else(|| EnvFilter::new(DEFAULT_FILTER));
    match format!("{REQUEST_LOG_TARGET}=off").parse() {
        Ok(off) if quiet => base.add_directive(off),
        _ => base,
    }
}

/// Formats an event as one line (see the [module docs](self)).
struct LineFormat;

impl<S, N> FormatEvent<S, N> for LineFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut w: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        write_time(&mut w, SystemTime::now())?;
        w.write_str(level_label(*event.metadata().level()))?;
        let mut fields = Fields {
            out: Escaped(&mut w),
            result: Ok(()),
        };
        event.record(&mut fields);
        fields.result?;
        w.write_char('\n')
    }
}

/// The level between spaces, right-aligned on five characters.
fn level_label(level: Level) -> &'static str {
    match level {
        Level::ERROR => " ERROR ",
        Level::WARN => "  WARN ",
        Level::INFO => "  INFO ",
        Level::DEBUG => " DEBUG ",
        Level::TRACE => " TRACE ",
    }
}

thread_local! {
    /// The second last formatted on this thread and its text: the date is
    /// formatted once a second, not once a line.
    static SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
}

/// `2026-11-25T08:21:02.747101Z`
fn write_time(w: &mut impl fmt::Write, now: SystemTime) -> fmt::Result {
    let since = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = since.as_secs();
    SECOND.with(|cell| {
        let mut cell = cell.borrow_mut();
        if cell.0 != secs {
            *cell = (secs, crate::clock::utc_second(secs, "%Y-%m-%dT%H:%M:%S"));
        }
        w.write_str(&cell.1)?;
        // `.{:06}Z` without the padding machinery.
        let mut frac = *b".000000Z";
        let mut micros = since.subsec_micros();
        for digit in frac[1..7].iter_mut().rev() {
            *digit = b'0' + (micros % 10) as u8;
            micros /= 10;
        }
        w.write_str(std::str::from_utf8(&frac).unwrap_or(".?Z"))
    })
}

/// Writes the message, then the other fields as ` name=value`.
struct Fields<W> {
    out: Escaped<W>,
    result: fmt::Result,
}

impl<W: fmt::Write> Visit for Fields<W> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.result.is_ok() {
            self.result = match field.name() {
                "message" => write!(self.out, "{value:?}"),
                name => write!(self.out, " {name}={value:?}"),
            };
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if self.result.is_ok() {
            self.result = match field.name() {
                "message" => self.out.write_str(value),
                name => write!(self.out, " {name}={value:?}"),
            };
        }
    }
}

/// Passes text through with control characters shown as `\n`, `\x1b`, …:
/// what a client sent must not move the cursor or recolour a terminal.
struct Escaped<W>(W);

impl<W: fmt::Write> fmt::Write for Escaped<W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if !s.bytes().any(|b| b.is_ascii_control()) {
            return self.0.write_str(s);
        }
        for c in s.chars() {
            match c {
                '\n' => self.0.write_str("\\n")?,
                '\r' => self.0.write_str("\\r")?,
                '\t' => self.0.write_str("\\t")?,
                c if c.is_ascii_control() => write!(self.0, "\\x{:02x}", u32::from(c))?,
                c => self.0.write_char(c)?,
            }
        }
        Ok(())
    }
}

/// A non-blocking writer that batches: a line is appended to a buffer and
/// a thread writes the buffer to stdout every [`FLUSH_EVERY`], so a
/// request costs a copy, not a write or a thread wake-up.
struct BatchedStdout {
    shared: Arc<BatchShared>,
}

struct BatchShared {
    buffer: Mutex<Vec<u8>>,
    dropped: AtomicU64,
}

/// Stops the writer thread and writes what is left when dropped.
pub(super) struct LogGuard {
    shared: Arc<BatchShared>,
    stop: Option<mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl BatchShared {
    /// Writes what has gathered. `spare` is swapped in as the next buffer,
    /// so buffers keep their capacity rather than grow again each time.
    fn flush(&self, spare: &mut Vec<u8>) {
        spare.clear();
        std::mem::swap(&mut *crate::sync::lock(&self.buffer), spare);
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(spare);
        let dropped = self.dropped.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            let _ = writeln!(
                out,
                "({dropped} log lines dropped: the terminal is too slow)"
            );
        }
        let _ = out.flush();
    }
}

/// One event's writer: borrows the batch (no reference count touched per
/// line).
struct BatchWriter<'a>(&'a BatchShared);

impl std::io::Write for BatchWriter<'_> {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        let mut buffer = crate::sync::lock(&self.0.buffer);
        if buffer.len() + line.len() > LOG_BUFFER {
            self.0.dropped.fetch_add(1, Ordering::Relaxed);
        } else {
            buffer.extend_from_slice(line);
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for BatchedStdout {
    type Writer = BatchWriter<'a>;
    fn make_writer(&'a self) -> BatchWriter<'a> {
        BatchWriter(&self.shared)
    }
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.shared.flush(&mut Vec::new());
    }
}

fn batched_stdout() -> (BatchedStdout, LogGuard) {
    let shared = Arc::new(BatchShared {
        buffer: Mutex::new(Vec::new()),
        dropped: AtomicU64::new(0),
    });
    let (stop, stopped) = mpsc::channel::<()>();
    let flusher = Arc::clone(&shared);
    // Without the thread, lines are still written, when the guard drops.
    let thread = std::thread::Builder::new()
        .name("mock-chat-server-log".into())
        .spawn(move || {
            let mut spare = Vec::new();
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(FLUSH_EVERY) {
                flusher.flush(&mut spare);
            }
        })
        .ok();
    let writer = BatchedStdout {
        shared: Arc::clone(&shared),
    };
    let guard = LogGuard {
        shared,
        stop: Some(stop),
        thread,
    };
    (writer, guard)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_turns_off_request_lines_and_nothing_else() {
        let loud = filter(None, false).to_string();
        let quiet = filter(None, true).to_string();
        assert!(!loud.contains(REQUEST_LOG_TARGET), "{loud}");
        assert!(
            quiet.contains(&format!("{REQUEST_LOG_TARGET}=off")),
            "{quiet}"
        );
        assert!(!quiet.contains("diagnostics"), "{quiet}");
        let custom = filter(Some("warn,mock_chat_server=debug"), true).to_string();
        assert!(custom.contains("mock_chat_server=debug"), "{custom}");
        assert!(custom.contains(&format!("{REQUEST_LOG_TARGET}=off")));
    }

    #[test]
    fn times_are_utc_to_the_microsecond_with_the_date_cached() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_micros(1_764_058_862_000_101);
        let mut out = String::new();
        write_time(&mut out, t).unwrap();
        out.push(' ');
        write_time(&mut out, t + Duration::from_micros(999_000)).unwrap();
        out.push(' ');
        write_time(&mut out, t + Duration::from_micros(1_000_000)).unwrap();
        assert_eq!(
            out,
            "2025-11-25T08:21:02.000101Z 2025-11-25T08:21:02.999101Z 2025-11-25T08:21:03.000101Z"
        );
    }

    #[test]
    fn control_characters_from_clients_are_shown_escaped() {
        let mut out = String::new();
        write!(Escaped(&mut out), "\"GET /a\u{1b}[2Jb\nc\t\" 404 é").unwrap();
        assert_eq!(out, "\"GET /a\\x1b[2Jb\\nc\\t\" 404 é");
    }

    #[test]
    fn a_full_buffer_drops_lines_and_counts_them() {
        let shared = Arc::new(BatchShared {
            buffer: Mutex::new(vec![b'x'; LOG_BUFFER - 4]),
            dropped: AtomicU64::new(0),
        });
        let mut writer = BatchWriter(&shared);
        assert_eq!(writer.write(b"abc\n").unwrap(), 4);
        assert_eq!(writer.write(b"d\n").unwrap(), 2);
        assert_eq!(shared.dropped.load(Ordering::Relaxed), 1);
        assert_eq!(crate::sync::lock(&shared.buffer).len(), LOG_BUFFER);
    }
}
