//! The reference server's POST body decoding: Go's
//! `json.NewDecoder(body).Decode(&message)` into its `Message` struct
//! (`id`, `chat_id`: `uuid.UUID`; `author`, `text`, `idempotency_key`:
//! `string`; `sent_at`: `time.Time`), with Go 1.27's error texts.
//!
//! Two passes, as Go makes them: the first JSON value of the body is
//! scanned whole (a syntax error anywhere in it wins; what follows it is
//! never read), then decoded into the struct field by field, the first
//! error in document order ending the decoding. Keys match the fields
//! exactly or case-insensitively (Unicode simple folding), the last
//! duplicate wins, unknown keys are skipped, `null` leaves a field alone.
//! Iterative, never recursive: nesting is limited to Go's 10,000 levels.
//!
//! Go reads the body into a buffer of 64 bytes, doubled each time it needs
//! more, and two error texts show only what that buffer holds: a character
//! cut by its end is quoted as its first byte, and a bad `\u` escape cut by
//! it shows fewer bytes. [`visible`] says what the buffer holds.

use super::quote::{go_quote, quote_char};
use super::time::check_rfc3339;
use super::uuid::parse_uuid_bytes;

/// Go's nesting limit.
const MAX_DEPTH: usize = 10_000;

/// Decodes a POST body as the reference does; returns the message's `text`
/// (`""` when absent or null), or Go's error text.
pub(crate) fn decode_message(body: &[u8]) -> Result<String, String> {
    let value = scan_first_value(body)?;
    decode_struct(value)
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// Go's buffer size: 64 bytes, doubled at each refill.
const FIRST_BUFFER: usize = 64;

/// The end of what Go's buffer holds of `b` when it first needs `b[at]`:
/// the first of 64, 128, 256... bytes past `at`, or the whole body. Go
/// never reads ahead of where it scans, so it holds that when it fails.
fn visible(b: &[u8], at: usize) -> usize {
    let mut end = FIRST_BUFFER;
    while end <= at && end < b.len() {
        end = end.saturating_mul(2);
    }
    end.min(b.len())
}

/// `invalid character 'x' <context>`, the character decoded from what Go's
/// buffer holds at `at` (one cut by the buffer's end shows as its first
/// byte, `'\xc3'`).
fn invalid(b: &[u8], at: usize, context: &str) -> String {
    let rest = b.get(at..visible(b, at)).unwrap_or_default();
    format!("invalid character {} {context}", quote_char(rest))
}

const UNEXPECTED_EOF: &str = "unexpected EOF";

/// Where the scanner is inside a container.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Frame {
    /// After `{` (a key or `}`), or after `,` (a key).
    ObjectKey { first: bool },
    /// After a key: `:`.
    ObjectColon,
    /// After a member: `,` or `}`.
    ObjectNext,
    /// After `[` (a value or `]`), or after `,` (a value).
    ArrayValue { first: bool },
    /// After an element: `,` or `]`.
    ArrayNext,
}

/// What the scanner expects next.
enum Step {
    /// A value.
    Value,
    /// The next structural byte of the innermost container.
    Structure,
    /// Nothing: the first value is complete.
    Done,
}

/// A scan of the first value: the input, the position, the open containers.
struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
    stack: Vec<Frame>,
}

impl Scanner<'_> {
    fn ws(&mut self) {
        while self.i < self.b.len() && is_ws(self.b[self.i]) {
            self.i += 1;
        }
    }

    fn invalid(&self, context: &str) -> String {
        invalid(self.b, self.i, context)
    }

    /// A value starts at the cursor.
    fn value(&mut self) -> Result<Step, String> {
        let (b, i) = (self.b, self.i);
        self.i = match b[i] {
            b'{' | b'[' => {
                if self.stack.len() >= MAX_DEPTH {
                    return Err("exceeded max depth".into());
                }
                self.stack.push(if b[i] == b'{' {
                    Frame::ObjectKey { first: true }
                } else {
                    Frame::ArrayValue { first: true }
                });
                self.i = i + 1;
                return Ok(Step::Structure);
            }
            b'"' => scan_string(b, i)?,
            b't' => scan_literal(b, i, b"true")?,
            b'f' => scan_literal(b, i, b"false")?,
            b'n' => scan_literal(b, i, b"null")?,
            b'-' | b'0'..=b'9' => scan_number(b, i, self.stack.is_empty())?,
            _ => return Err(self.invalid("looking for beginning of value")),
        };
        // A scalar ended: the enclosing frame already waits for what follows.
        Ok(if self.stack.is_empty() {
            Step::Done
        } else {
            Step::Structure
        })
    }

    /// Closes the innermost container at the cursor.
    fn close(&mut self) -> Step {
        self.i += 1;
        self.stack.pop();
        match self.stack.last_mut() {
            None => Step::Done,
            Some(f) => {
                *f = match f {
                    Frame::ArrayValue { .. } | Frame::ArrayNext => Frame::ArrayNext,
                    _ => Frame::ObjectNext,
                };
                Step::Structure
            }
        }
    }

    /// The next structural byte of the innermost container.
    fn structure(&mut self) -> Result<Step, String> {
        let Some(frame) = self.stack.last().copied() else {
            return Ok(Step::Done);
        };
        let c = self.b[self.i];
        let (next_frame, step) = match (frame, c) {
            (Frame::ObjectKey { first: true }, b'}')
            | (Frame::ArrayValue { first: true }, b']') => return Ok(self.close()),
            (Frame::ObjectNext, b'}') | (Frame::ArrayNext, b']') => return Ok(self.close()),
            (Frame::ObjectKey { .. }, b'"') => {
                self.i = scan_string(self.b, self.i)?;
                (Frame::ObjectColon, Step::Structure)
            }
            (Frame::ObjectKey { .. }, _) => {
                return Err(self.invalid("looking for beginning of object key string"))
            }
            (Frame::ObjectColon, b':') => {
                self.i += 1;
                (Frame::ObjectNext, Step::Value)
            }
            (Frame::ObjectColon, _) => return Err(self.invalid("after object key")),
            (Frame::ObjectNext, b',') => {
                self.i += 1;
                (Frame::ObjectKey { first: false }, Step::Structure)
            }
            (Frame::ObjectNext, _) => return Err(self.invalid("after object key:value pair")),
            (Frame::ArrayValue { .. }, _) => (Frame::ArrayNext, Step::Value),
            (Frame::ArrayNext, b',') => {
                self.i += 1;
                (Frame::ArrayValue { first: false }, Step::Structure)
            }
            (Frame::ArrayNext, _) => return Err(self.invalid("after array element")),
        };
        set_top(&mut self.stack, next_frame);
        Ok(step)
    }
}

/// The bytes of the first JSON value of `body`, or Go's error: `EOF` for
/// nothing but white space, `unexpected EOF` for a value cut short, or a
/// syntax error.
fn scan_first_value(body: &[u8]) -> Result<&[u8], String> {
    let mut s = Scanner {
        b: body,
        i: 0,
        stack: Vec::new(),
    };
    s.ws();
    if s.i == body.len() {
        return Err("EOF".into());
    }
    let start = s.i;
    let mut step = Step::Value;
    loop {
        s.ws();
        if s.i == body.len() {
            return Err(UNEXPECTED_EOF.into());
        }
        step = match step {
            Step::Value => s.value()?,
            Step::Structure => s.structure()?,
            Step::Done => Step::Done,
        };
        if let Step::Done = step {
            return Ok(&body[start..s.i]);
        }
    }
}

/// Replaces the innermost frame.
fn set_top(stack: &mut [Frame], frame: Frame) {
    if let Some(top) = stack.last_mut() {
        *top = frame;
    }
}

/// Scans a string starting at its `"`; returns the index after its closing
/// quote.
fn scan_string(b: &[u8], mut i: usize) -> Result<usize, String> {
    i += 1;
    loop {
        let Some(&c) = b.get(i) else {
            return Err(UNEXPECTED_EOF.into());
        };
        match c {
            b'"' => return Ok(i + 1),
            b'\\' => {
                let Some(&e) = b.get(i + 1) else {
                    return Err(UNEXPECTED_EOF.into());
                };
                match e {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => i += 2,
                    b'u' => i = scan_unicode_escape(b, i)?,
                    _ => return Err(bad_escape(&b[i..i + 2])),
                }
            }
            c if c < 0x20 => return Err(invalid(b, i, "in string")),
            _ => i += 1,
        }
    }
}

/// Scans a `\u` escape at `i` (its `\`); returns the index after it. Go
/// checks the six bytes, or what its buffer holds of them, reading more
/// while that is `\u` and hex digits: an error shows only the bytes it
/// holds (`\u12"}` at the end of the body, `\u00x` for `\u00x9` cut).
fn scan_unicode_escape(b: &[u8], i: usize) -> Result<usize, String> {
    let mut end = visible(b, i + 1);
    loop {
        let seen = b.get(i..end.min(i + 6)).unwrap_or_default();
        let digits = seen.get(2..).unwrap_or_default();
        let hex = digits.iter().all(u8::is_ascii_hexdigit);
        match (seen.len() == 6, hex) {
            (true, true) => return Ok(i + 6),
            (_, false) => return Err(bad_escape(seen)),
            (false, true) if end >= b.len() => return Err(UNEXPECTED_EOF.into()),
            (false, true) => end = visible(b, end),
        }
    }
}

/// Go shows the offending sequence in backquotes when it is plain text,
/// else as a quoted Go string: when it holds a backquote, invalid UTF-8
/// or U+FFFD, a space (`unicode.IsSpace`) or an unprintable character.
fn bad_escape(raw: &[u8]) -> String {
    let plain = std::str::from_utf8(raw).ok().filter(|s| {
        s.chars()
            .all(|c| c != '`' && c != '\u{fffd}' && !c.is_whitespace() && printable(c))
    });
    let shown = match plain {
        Some(s) => format!("`{s}`"),
        None => go_quote(raw),
    };
    format!("invalid escape sequence {shown} in string")
}

/// Go's `unicode.IsPrint`, as the crate's `strconv.Quote` knows it: the
/// character is printable if quoting leaves it as it is.
fn printable(c: char) -> bool {
    let mut buf = [0; 4];
    let s = c.encode_utf8(&mut buf);
    matches!(c, '"' | '\\') || go_quote(s.as_bytes()) == format!("\"{s}\"")
}

/// Scans `true`, `false` or `null`.
fn scan_literal(b: &[u8], i: usize, word: &[u8]) -> Result<usize, String> {
    for (n, &want) in word.iter().enumerate() {
        match b.get(i + n) {
            None => return Err(UNEXPECTED_EOF.into()),
            Some(&c) if c == want => {}
            Some(_) => {
                let name = String::from_utf8_lossy(word);
                return Err(invalid(
                    b,
                    i + n,
                    &format!("in literal {name} (expecting {})", quote_char(&[want])),
                ));
            }
        }
    }
    Ok(i + word.len())
}

/// Scans a number; at the top level a number may end at the end of input.
fn scan_number(b: &[u8], mut i: usize, top: bool) -> Result<usize, String> {
    let digit = |i: usize| b.get(i).is_some_and(u8::is_ascii_digit);
    // What must follow: a digit, or the end of the number is fine.
    let need_digit = |i: usize| -> Result<(), String> {
        match b.get(i) {
            None => Err(UNEXPECTED_EOF.into()),
            Some(c) if c.is_ascii_digit() => Ok(()),
            Some(_) => Err(invalid(b, i, "in numeric literal")),
        }
    };
    if b[i] == b'-' {
        i += 1;
        need_digit(i)?;
    }
    if b[i] == b'0' {
        i += 1;
    } else {
        while digit(i) {
            i += 1;
        }
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        need_digit(i)?;
        while digit(i) {
            i += 1;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        need_digit(i)?;
        while digit(i) {
            i += 1;
        }
    }
    // Inside a container the next byte must come; at the top, the end of
    // the input ends the number.
    if i == b.len() && !top {
        return Err(UNEXPECTED_EOF.into());
    }
    Ok(i)
}

/// The JSON kind of the value starting with `c`, as Go names it.
fn kind(c: u8) -> &'static str {
    match c {
        b'{' => "object",
        b'[' => "array",
        b'"' => "string",
        b't' | b'f' => "bool",
        b'n' => "null",
        _ => "number",
    }
}

/// The `Message` fields and their Go types.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Field {
    Uuid,
    Text,
    Other,
    Time,
}

const FIELDS: [(&str, Field); 6] = [
    ("id", Field::Uuid),
    ("chat_id", Field::Uuid),
    ("author", Field::Other),
    ("text", Field::Text),
    ("sent_at", Field::Time),
    ("idempotency_key", Field::Other),
];

/// Unicode simple case folding, as far as it reaches the ASCII field names:
/// ASCII case, `ſ` (U+017F) for `s`, the Kelvin sign for `k`.
fn fold(c: char) -> char {
    match c {
        '\u{17f}' => 's',
        '\u{212a}' => 'k',
        c => c.to_ascii_lowercase(),
    }
}

fn field_of(key: &str) -> Option<Field> {
    if let Some((_, f)) = FIELDS.iter().find(|(name, _)| *name == key) {
        return Some(*f);
    }
    FIELDS
        .iter()
        .find(|(name, _)| {
            key.chars().count() == name.len() && key.chars().map(fold).eq(name.chars())
        })
        .map(|(_, f)| *f)
}

/// A cursor over a value already known to be valid JSON.
struct Reader<'a> {
    b: &'a [u8],
    i: usize,
}

impl Reader<'_> {
    fn ws(&mut self) {
        while self.i < self.b.len() && is_ws(self.b[self.i]) {
            self.i += 1;
        }
    }

    fn peek(&mut self) -> u8 {
        self.ws();
        self.b.get(self.i).copied().unwrap_or(b' ')
    }

    /// Skips one (valid) value, iteratively.
    fn skip(&mut self) {
        let mut depth = 0usize;
        loop {
            match self.peek() {
                b'{' | b'[' => {
                    depth += 1;
                    self.i += 1;
                    continue;
                }
                b'}' | b']' => {
                    depth = depth.saturating_sub(1);
                    self.i += 1;
                }
                b'"' => {
                    self.string();
                }
                b',' | b':' => {
                    self.i += 1;
                    continue;
                }
                _ => {
                    while self.i < self.b.len() && !b",:]} \t\r\n".contains(&self.b[self.i]) {
                        self.i += 1;
                    }
                }
            }
            if depth == 0 {
                return;
            }
        }
    }

    /// Reads a (valid) string at the cursor, unescaped as Go unescapes it:
    /// bad UTF-8 and lone surrogates become U+FFFD, one per byte.
    fn string(&mut self) -> String {
        let b = self.b;
        let mut i = self.i + 1;
        let mut raw: Vec<u8> = Vec::new();
        let mut out = String::new();
        let flush = |raw: &mut Vec<u8>, out: &mut String| {
            for chunk in raw.utf8_chunks() {
                out.push_str(chunk.valid());
                for _ in chunk.invalid() {
                    out.push('\u{fffd}');
                }
            }
            raw.clear();
        };
        while i < b.len() && b[i] != b'"' {
            if b[i] != b'\\' {
                raw.push(b[i]);
                i += 1;
                continue;
            }
            flush(&mut raw, &mut out);
            let e = b[i + 1];
            i += 2;
            let c = match e {
                b'b' => '\u{8}',
                b'f' => '\u{c}',
                b'n' => '\n',
                b'r' => '\r',
                b't' => '\t',
                b'u' => {
                    let unit = hex4(&b[i..i + 4]);
                    i += 4;
                    if (0xd800..0xdc00).contains(&unit)
                        && b.get(i) == Some(&b'\\')
                        && b.get(i + 1) == Some(&b'u')
                    {
                        let low = hex4(&b[i + 2..i + 6]);
                        if (0xdc00..0xe000).contains(&low) {
                            i += 6;
                            let c = 0x10000 + ((unit - 0xd800) << 10) + (low - 0xdc00);
                            out.push(char::from_u32(c).unwrap_or('\u{fffd}'));
                            continue;
                        }
                    }
                    char::from_u32(unit).unwrap_or('\u{fffd}')
                }
                other => other as char,
            };
            out.push(c);
        }
        flush(&mut raw, &mut out);
        self.i = i + 1;
        out
    }
}

fn hex4(digits: &[u8]) -> u32 {
    digits.iter().fold(0, |acc, d| {
        acc * 16 + (*d as char).to_digit(16).unwrap_or(0)
    })
}

/// The key as Go names the field in a type error: as written (unescaped),
/// with `~` and `/` escaped as in a JSON Pointer (`~0`, `~1`), since Go
/// takes it from the error's JSON Pointer.
fn pointer_name(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// Decodes a valid value into the `Message` struct; returns `text`.
fn decode_struct(value: &[u8]) -> Result<String, String> {
    let mut r = Reader { b: value, i: 0 };
    match r.peek() {
        b'{' => {}
        b'n' => return Ok(String::new()),
        c => {
            return Err(format!(
                "json: cannot unmarshal {} into Go value of type main.Message",
                kind(c)
            ))
        }
    }
    r.i += 1;
    let mut text = String::new();
    loop {
        match r.peek() {
            b'}' => return Ok(text),
            b',' => {
                r.i += 1;
                continue;
            }
            _ => {}
        }
        let key = r.string();
        r.peek();
        r.i += 1; // ':'
        let c = r.peek();
        let Some(field) = field_of(&key) else {
            r.skip();
            continue;
        };
        if c == b'n' {
            r.skip();
            continue;
        }
        let type_error = |go_type: &str, suffix: &str| {
            format!(
                "json: cannot unmarshal {} into Go struct field Message.{} of type {go_type}{suffix}",
                kind(c),
                pointer_name(&key)
            )
        };
        match (field, c) {
            (Field::Text, b'"') => text = r.string(),
            (Field::Other, b'"') => {
                r.string();
            }
            (Field::Text | Field::Other, _) => return Err(type_error("string", "")),
            (Field::Uuid, b'"') => {
                parse_uuid_bytes(r.string().as_bytes())?;
            }
            (Field::Uuid, _) => {
                return Err(type_error("uuid.UUID", ": JSON value must be string type"))
            }
            (Field::Time, b'"') => check_rfc3339(&r.string())?,
            (Field::Time, _) => return Err(type_error("time.Time", "")),
        }
    }
}

#[cfg(test)]
mod tests;
