//! Go's `time.Time` JSON form: RFC 3339 with nanoseconds, trailing zeros
//! trimmed.

use chrono::{DateTime, Datelike, FixedOffset, Timelike};

/// `t` as Go's `time.Time.MarshalJSON` writes it (without the quotes):
/// `2026-11-25T04:49:27.276719669Z`, `…:27.2Z`, `…:27Z`, `…:27+01:00`.
/// Years outside 0..=9999 (which Go refuses to marshal) are written with
/// chrono's sign and width.
pub(crate) fn format_rfc3339_nano(t: &DateTime<FixedOffset>) -> String {
    let mut out = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    // A leap second shows as nanoseconds over 1e9 in chrono; Go has none.
    let nanos = t.nanosecond() % 1_000_000_000;
    if nanos > 0 {
        let digits = format!("{nanos:09}");
        out.push('.');
        out.push_str(digits.trim_end_matches('0'));
    }
    let offset = t.offset().local_minus_utc();
    if offset == 0 {
        out.push('Z');
    } else {
        let sign = if offset < 0 { '-' } else { '+' };
        let m = offset.unsigned_abs() / 60;
        out.push_str(&format!("{sign}{:02}:{:02}", m / 60, m % 60));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(unix_nanos: i64, offset: i32) -> String {
        let t = DateTime::from_timestamp_nanos(unix_nanos)
            .with_timezone(&FixedOffset::east_opt(offset).unwrap());
        format_rfc3339_nano(&t)
    }

    #[test]
    fn times_are_written_as_go_writes_them() {
        // Each checked against Go 1.27's json.Marshal(time.Time).
        assert_eq!(
            at(1_795_582_167_276_719_669, 0),
            "2026-11-25T04:49:27.276719669Z"
        );
        assert_eq!(at(1_795_582_167_200_000_000, 0), "2026-11-25T04:49:27.2Z");
        assert_eq!(at(1_795_582_167_000_000_000, 0), "2026-11-25T04:49:27Z");
        assert_eq!(
            at(1_795_582_167_000_000_100, 3600),
            "2026-11-25T05:49:27.0000001+01:00"
        );
        assert_eq!(at(0, -5 * 3600 - 1800), "1969-12-31T18:30:00-05:30");
    }

    /// Zone offsets after `2006-01-02T15:04:05`, and the tail of what
    /// go1.27.3's `time.Parse(time.RFC3339, …)` says of them, recorded from
    /// Go (`None`: parses; [`CANNOT`]: "… as … cannot parse" the zone).
    const CANNOT: &str = "cannot parse";
    const ZONES: &[(&str, Option<&str>)] = &[
        ("+25:0-0", Some(": time zone offset hour out of range")),
        ("+99:99", Some(": time zone offset minute out of range")),
        ("+60:61", Some(": time zone offset minute out of range")),
        ("-25:61", Some(": time zone offset minute out of range")),
        ("+25:00", Some(": time zone offset hour out of range")),
        ("+24:60", None),
        ("-24:00", None),
        ("+00:00", None),
        ("+24:61", Some(": time zone offset minute out of range")),
        ("x25:00", Some(": time zone offset hour out of range")),
        ("*01:61", Some(": time zone offset minute out of range")),
        ("+25:9x", Some(": time zone offset hour out of range")),
        ("+01:61", Some(": time zone offset minute out of range")),
        ("Z25:00", Some(r#": extra text: "25:00""#)),
        ("+01:00x", Some(r#": extra text: "x""#)),
        ("+2x:99", Some(CANNOT)),
        ("+1:00", Some(CANNOT)),
    ];

    #[test]
    fn zone_offsets_are_checked_as_go_checks_them() {
        for &(zone, want) in ZONES {
            let s = format!("2006-01-02T15:04:05{zone}");
            let want = want.map(|tail| match tail {
                CANNOT => format!(
                    r#"parsing time "{s}" as "2006-01-02T15:04:05Z07:00": cannot parse "{zone}" as "Z07:00""#
                ),
                tail => format!(r#"parsing time "{s}"{tail}"#),
            });
            assert_eq!(check_rfc3339(&s).err(), want, "{s}");
        }
    }
}

/// The layout elements of RFC 3339 as Go's `time.Parse` walks them.
#[derive(Clone, Copy)]
enum Elem {
    Literal(&'static str),
    Year,
    Month,
    Day,
    Hour,
    Minute,
    Second,
    Zone,
}

const RFC3339: [Elem; 12] = [
    Elem::Year,
    Elem::Literal("-"),
    Elem::Month,
    Elem::Literal("-"),
    Elem::Day,
    Elem::Literal("T"),
    Elem::Hour,
    Elem::Literal(":"),
    Elem::Minute,
    Elem::Literal(":"),
    Elem::Second,
    Elem::Zone,
];

fn layout_text(e: Elem) -> &'static str {
    match e {
        Elem::Literal(s) => s,
        Elem::Year => "2006",
        Elem::Month => "01",
        Elem::Day => "02",
        Elem::Hour => "15",
        Elem::Minute => "04",
        Elem::Second => "05",
        Elem::Zone => "Z07:00",
    }
}

/// Go's `getnum`: one or two digits (two if `fixed`).
fn getnum(s: &str, fixed: bool) -> Option<(u32, &str)> {
    let b = s.as_bytes();
    let d = |i: usize| {
        b.get(i)
            .filter(|c| c.is_ascii_digit())
            .map(|c| u32::from(c - b'0'))
    };
    let first = d(0)?;
    match d(1) {
        Some(second) => Some((first * 10 + second, &s[2..])),
        None if fixed => None,
        None => Some((first, &s[1..])),
    }
}

/// Checks `s` as the reference's `time.Time.UnmarshalJSON` does (Go's
/// `time.Parse` with the RFC 3339 layout), with Go's error texts.
pub(crate) fn check_rfc3339(s: &str) -> Result<(), String> {
    const LAYOUT: &str = "2006-01-02T15:04:05Z07:00";
    let cannot = |value: &str, elem: &str| {
        format!(
            "parsing time {} as {}: cannot parse {} as {}",
            super::quote::time_quote(s),
            super::quote::time_quote(LAYOUT),
            super::quote::time_quote(value),
            super::quote::time_quote(elem)
        )
    };
    let out_of_range = |what: &str| {
        format!(
            "parsing time {}: {what} out of range",
            super::quote::time_quote(s)
        )
    };
    let mut value = s;
    let mut date = Date::default();
    for elem in RFC3339 {
        let hold = value;
        let mut range = None;
        let parsed = parse_elem(elem, value, &mut date, &mut range);
        if let Some(what) = range {
            return Err(out_of_range(what));
        }
        match parsed {
            Some(rest) => value = rest,
            None => return Err(cannot(hold, layout_text(elem))),
        }
    }
    if !value.is_empty() {
        return Err(format!(
            "parsing time {}: extra text: {}",
            super::quote::time_quote(s),
            super::quote::time_quote(value)
        ));
    }
    if date.day < 1 || date.day > days_in(date.month, date.year) {
        return Err(out_of_range("day"));
    }
    Ok(())
}

/// The date fields read so far (checked together at the end).
#[derive(Default)]
struct Date {
    year: i64,
    month: u32,
    day: u32,
}

/// One layout element of Go's `time.Parse`: the rest of the value, or
/// `None` when it cannot parse; `range` names a field out of range.
fn parse_elem<'a>(
    elem: Elem,
    value: &'a str,
    date: &mut Date,
    range: &mut Option<&'static str>,
) -> Option<&'a str> {
    let mut check = |ok: bool, what: &'static str| {
        if !ok && range.is_none() {
            *range = Some(what);
        }
    };
    match elem {
        Elem::Literal(lit) => value.strip_prefix(lit),
        Elem::Year => value.get(..4).and_then(|p| {
            p.bytes().all(|b| b.is_ascii_digit()).then(|| {
                date.year = p.parse().unwrap_or(0);
                &value[4..]
            })
        }),
        Elem::Month => getnum(value, true).map(|(m, rest)| {
            date.month = m;
            check((1..=12).contains(&m), "month");
            rest
        }),
        Elem::Day => getnum(value, true).map(|(d, rest)| {
            date.day = d;
            rest
        }),
        Elem::Hour => getnum(value, false).map(|(h, rest)| {
            check(h < 24, "hour");
            rest
        }),
        Elem::Minute => getnum(value, true).map(|(m, rest)| {
            check(m < 60, "minute");
            rest
        }),
        Elem::Second => getnum(value, true).map(|(sec, rest)| {
            if sec >= 60 {
                check(false, "second");
                return rest;
            }
            // A fraction: a period or comma and digits.
            let b = rest.as_bytes();
            if b.len() >= 2 && matches!(b[0], b'.' | b',') && b[1].is_ascii_digit() {
                let n = 1 + b[1..].iter().take_while(|c| c.is_ascii_digit()).count();
                &rest[n..]
            } else {
                rest
            }
        }),
        Elem::Zone => zone(value, range),
    }
}

/// `Z`, or `±hh:mm`. Go reads both numbers before it looks at the sign,
/// allows offsets up to 24 hours and 60 minutes, and reports a number out
/// of range (the minute's over the hour's) ahead of a bad sign or a bad
/// other number. A bad number reads as 0; a bad hour leaves the minute
/// unread.
fn zone<'a>(value: &'a str, range: &mut Option<&'static str>) -> Option<&'a str> {
    if let Some(rest) = value.strip_prefix('Z') {
        return Some(rest);
    }
    let b = value.as_bytes();
    if b.len() < 6 || b[3] != b':' {
        return None;
    }
    let two = |i: usize| {
        let (h, l) = (b[i], b[i + 1]);
        (h.is_ascii_digit() && l.is_ascii_digit())
            .then(|| u32::from(h - b'0') * 10 + u32::from(l - b'0'))
    };
    let hr = two(1);
    let mm = hr.and(two(4));
    if mm.is_some_and(|m| m > 60) {
        *range = Some("time zone offset minute");
    } else if hr.is_some_and(|h| h > 24) {
        *range = Some("time zone offset hour");
    }
    // `b[5]` is a digit when `mm` is read, so 6 is a character boundary.
    (hr.is_some() && mm.is_some() && matches!(b[0], b'+' | b'-')).then(|| &value[6..])
}

fn days_in(month: u32, year: i64) -> u32 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}
