//! TEMPORARY
use chrono::{DateTime, FixedOffset, SecondsFormat};
pub(crate) fn format_rfc3339_nano(t: &DateTime<FixedOffset>) -> String {
    let s = t.to_rfc3339_opts(SecondsFormat::Nanos, true);
    // trim trailing zeros of the fraction
    let (main, off) = match s.rfind(['Z', '+', '-']) {
        Some(i) if i > 19 => s.split_at(i),
        _ => (s.as_str(), ""),
    };
    let main = if main.contains('.') {
        main.trim_end_matches('0').trim_end_matches('.')
    } else {
        main
    };
    format!("{main}{off}")
}
