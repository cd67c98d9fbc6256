//! The explorer's progress on stderr: a bar redrawn in place on a
//! terminal, plain lines (at most one every few seconds, and one per
//! failing seed) otherwise.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::explore::engine::Progress;

/// How often a bar is redrawn, and a plain line written.
const REDRAW: Duration = Duration::from_millis(100);
const PLAIN_EVERY: Duration = Duration::from_secs(5);
/// The bar's width in characters.
const WIDTH: usize = 30;

/// Where progress goes.
#[derive(Debug)]
pub(super) struct Bar {
    terminal: bool,
    /// When the last line was drawn, and the failures counted then.
    last: Mutex<(Option<Instant>, usize)>,
}

impl Bar {
    pub(super) fn new() -> Self {
        Bar {
            terminal: std::io::stderr().is_terminal(),
            last: Mutex::new((None, 0)),
        }
    }

    /// After each seed.
    pub(super) fn tick(&self, p: Progress) {
        let Ok(mut last) = self.last.lock() else {
            return;
        };
        let now = Instant::now();
        let finished = p.done == p.total;
        let new_failure = p.failed > last.1;
        let every = if self.terminal { REDRAW } else { PLAIN_EVERY };
        let due = last.0.map_or(true, |t| now.duration_since(t) >= every);
        if !(due || finished || new_failure) {
            return;
        }
        *last = (Some(now), p.failed);
        let line = line(p, now, self.terminal);
        let mut err = std::io::stderr().lock();
        if self.terminal {
            let _ = write!(err, "\r\x1b[2K{line}");
            if finished {
                let _ = writeln!(err);
            }
        } else {
            let _ = writeln!(err, "{line}");
        }
    }

    /// Before a group is shrunk.
    pub(super) fn shrinking(&self, n: usize, of: usize) {
        eprintln!("shrinking failure {n} of {of} (rerunning the command with fewer faults)…");
    }
}

/// `[=======>        ] 120/1000 seeds, 3 failed, ETA 12s` on a terminal;
/// in a log, the words alone: `explore: 120/1000 seeds, 3 failed, ETA 12s`.
fn line(p: Progress, now: Instant, terminal: bool) -> String {
    let filled = (p.done * WIDTH).checked_div(p.total).unwrap_or(WIDTH);
    let bar: String = (0..WIDTH)
        .map(|i| match i.cmp(&filled) {
            std::cmp::Ordering::Less => '=',
            std::cmp::Ordering::Equal => '>',
            std::cmp::Ordering::Greater => ' ',
        })
        .collect();
    let spent = now.duration_since(p.started).as_secs_f64();
    let eta = if p.done == 0 {
        "?".to_string()
    } else {
        let left = spent / p.done as f64 * (p.total - p.done) as f64;
        format!("{left:.0}s")
    };
    let words = format!(
        "{}/{} seeds, {} failed, ETA {eta}",
        p.done, p.total, p.failed
    );
    if terminal {
        format!("[{bar}] {words}")
    } else {
        format!("explore: {words}")
    }
}
