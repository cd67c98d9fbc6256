//! What every integration test shares: a raw HTTP/1.1 client that shows the
//! exact wire (status line, header lines, framing), and an SSE reader.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use mock_chat_server::{Chat, Message, MockChatServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Long enough for anything a calm server does; a test that waits this
/// long has failed.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// An answer, as it came off the wire.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub status_line: String,
    /// Header lines in order, names as sent.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub chunked: bool,
    /// The body ended as HTTP says (length reached, or the last chunk).
    pub complete: bool,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Header names, lowercased and sorted, without `date`.
    pub fn header_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .headers
            .iter()
            .map(|(n, _)| n.to_ascii_lowercase())
            .filter(|n| n != "date")
            .collect();
        names.sort();
        names
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json<T: serde::de::DeserializeOwned>(&self) -> T {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text()))
    }
}

/// Parses a whole response (the connection was closed after it).
pub fn parse(raw: &[u8]) -> Option<Reply> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?.to_string();
    let status = status_line.get(9..12)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(": "))
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    let rest = &raw[end + 4..];
    let mut reply = Reply {
        status,
        status_line,
        headers,
        body: Vec::new(),
        chunked: false,
        complete: false,
    };
    if reply
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        reply.chunked = true;
        let (body, complete) = dechunk(rest);
        reply.body = body;
        reply.complete = complete;
    } else if let Some(len) = reply
        .header("content-length")
        .and_then(|v| v.parse::<usize>().ok())
    {
        reply.body = rest[..rest.len().min(len)].to_vec();
        reply.complete = rest.len() >= len;
    } else {
        reply.body = rest.to_vec();
        reply.complete = true;
    }
    Some(reply)
}

/// Decodes chunked framing; `true` if the last chunk arrived.
pub fn dechunk(mut rest: &[u8]) -> (Vec<u8>, bool) {
    let mut body = Vec::new();
    loop {
        let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") else {
            return (body, false);
        };
        let size = usize::from_str_radix(std::str::from_utf8(&rest[..eol]).unwrap_or("x"), 16);
        let Ok(size) = size else {
            return (body, false);
        };
        rest = &rest[eol + 2..];
        if size == 0 {
            return (body, true);
        }
        if rest.len() < size {
            body.extend_from_slice(rest);
            return (body, false);
        }
        body.extend_from_slice(&rest[..size]);
        rest = rest.get(size + 2..).unwrap_or(&[]);
    }
}

/// Sends raw bytes and reads until the server closes the connection.
pub async fn raw(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(request).await.expect("write");
    let mut out = Vec::new();
    let read = tokio::time::timeout(PATIENCE, s.read_to_end(&mut out)).await;
    match read {
        Ok(_) => out,
        Err(_) => panic!(
            "no end of response within {PATIENCE:?}: {:?}",
            String::from_utf8_lossy(&out)
        ),
    }
}

/// A request with `Host` and `Connection: close`, and these extra headers.
pub fn request_bytes(method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    for (n, v) in headers {
        out.push_str(&format!("{n}: {v}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        out.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

pub async fn request(
    server: &MockChatServer,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Reply {
    let raw = raw(
        server.address(),
        &request_bytes(method, path, headers, body),
    )
    .await;
    parse(&raw).unwrap_or_else(|| panic!("no HTTP answer: {:?}", String::from_utf8_lossy(&raw)))
}

pub async fn get(server: &MockChatServer, path: &str) -> Reply {
    request(server, "GET", path, &[], b"").await
}

/// `POST /chats/{chat}/messages` with an optional key and a raw body.
pub async fn post(server: &MockChatServer, chat: &str, key: Option<&str>, body: &str) -> Reply {
    let path = format!("/chats/{chat}/messages");
    match key {
        Some(k) => {
            request(
                server,
                "POST",
                &path,
                &[("Idempotency-Key", k)],
                body.as_bytes(),
            )
            .await
        }
        None => request(server, "POST", &path, &[], body.as_bytes()).await,
    }
}

/// Posts `text` with `key` and returns the stored message.
pub async fn send(server: &MockChatServer, chat: &Chat, key: &str, text: &str) -> Message {
    let body = serde_json::json!({ "text": text }).to_string();
    let reply = post(server, &chat.id.to_string(), Some(key), &body).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()
}

/// The chat named `name`.
pub fn chat(server: &MockChatServer, name: &str) -> Chat {
    server
        .chats()
        .into_iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no chat named {name}"))
}

/// One SSE frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The frame's lines, as sent.
    pub raw: String,
    pub id: Option<String>,
    pub data: Option<String>,
}

impl Frame {
    pub fn message(&self) -> Message {
        serde_json::from_str(self.data.as_deref().expect("a data line")).expect("message JSON")
    }

    pub fn id(&self) -> u64 {
        self.id
            .as_deref()
            .expect("an id line")
            .parse()
            .expect("numeric id")
    }
}

/// How an SSE response ended, if it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The terminating chunk arrived: a clean end.
    Clean,
    /// The connection closed without it: a cut.
    Cut,
}

/// An open SSE connection.
pub struct Sse {
    pub head: Reply,
    stream: TcpStream,
    /// Dechunked bytes not yet parsed into frames.
    pending: Vec<u8>,
    /// Raw bytes not yet dechunked.
    raw: Vec<u8>,
    pub ended: Option<End>,
}

impl Sse {
    /// Opens `/events?stream=messages` with these extra headers.
    pub async fn open(server: &MockChatServer, headers: &[(&str, &str)]) -> Sse {
        Self::open_path(server, "/events?stream=messages", headers).await
    }

    pub async fn open_path(server: &MockChatServer, path: &str, headers: &[(&str, &str)]) -> Sse {
        let mut stream = TcpStream::connect(server.address()).await.expect("connect");
        let mut req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n");
        for (n, v) in headers {
            req.push_str(&format!("{n}: {v}\r\n"));
        }
        req.push_str("\r\n");
        stream.write_all(req.as_bytes()).await.expect("write");
        let mut buf = Vec::new();
        let end = loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break end;
            }
            let mut chunk = [0u8; 4096];
            let n = tokio::time::timeout(PATIENCE, stream.read(&mut chunk))
                .await
                .expect("SSE head in time")
                .expect("read");
            assert!(
                n > 0,
                "closed before the head: {:?}",
                String::from_utf8_lossy(&buf)
            );
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = parse(&buf[..end + 4]).expect("an HTTP head");
        let raw = buf[end + 4..].to_vec();
        Sse {
            head,
            stream,
            pending: Vec::new(),
            raw,
            ended: None,
        }
    }

    fn take_chunks(&mut self) {
        loop {
            let Some(eol) = self.raw.windows(2).position(|w| w == b"\r\n") else {
                return;
            };
            let size = std::str::from_utf8(&self.raw[..eol])
                .ok()
                .and_then(|s| usize::from_str_radix(s, 16).ok())
                .expect("a chunk size");
            if size == 0 {
                self.ended = Some(End::Clean);
                self.raw.clear();
                return;
            }
            if self.raw.len() < eol + 2 + size + 2 {
                return;
            }
            self.pending
                .extend_from_slice(&self.raw[eol + 2..eol + 2 + size]);
            self.raw.drain(..eol + 2 + size + 2);
        }
    }

    fn take_frame(&mut self) -> Option<Frame> {
        let end = self.pending.windows(2).position(|w| w == b"\n\n")?;
        let raw = String::from_utf8_lossy(&self.pending[..end + 2]).into_owned();
        self.pending.drain(..end + 2);
        let field = |name: &str| {
            raw.lines()
                .find_map(|l| l.strip_prefix(name))
                .map(str::to_string)
        };
        Some(Frame {
            id: field("id: "),
            data: field("data: "),
            raw,
        })
    }

    /// The next frame, or `None` once the response ended (see `ended`).
    /// Panics if nothing comes within `PATIENCE`.
    pub async fn next(&mut self) -> Option<Frame> {
        self.next_within(PATIENCE)
            .await
            .expect("an SSE frame or end in time")
    }

    /// `Err(())` if nothing happened within `wait`.
    pub async fn next_within(&mut self, wait: Duration) -> Result<Option<Frame>, ()> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            self.take_chunks();
            if let Some(f) = self.take_frame() {
                return Ok(Some(f));
            }
            if self.ended.is_some() {
                return Ok(None);
            }
            let mut chunk = [0u8; 8192];
            match tokio::time::timeout_at(deadline, self.stream.read(&mut chunk)).await {
                Err(_) => return Err(()),
                Ok(Ok(0)) | Ok(Err(_)) => {
                    self.take_chunks();
                    if self.ended.is_none() {
                        self.ended = Some(End::Cut);
                    }
                }
                Ok(Ok(n)) => self.raw.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// The next `n` frames (panics if the stream ends first).
    pub async fn take(&mut self, n: usize) -> Vec<Frame> {
        let mut out = Vec::new();
        while out.len() < n {
            match self.next().await {
                Some(f) => out.push(f),
                None => panic!(
                    "stream ended ({:?}) after {} of {n} frames",
                    self.ended,
                    out.len()
                ),
            }
        }
        out
    }

    /// Reads to the end; returns the frames on the way.
    pub async fn drain(&mut self) -> Vec<Frame> {
        let mut out = Vec::new();
        while let Some(f) = self.next().await {
            out.push(f);
        }
        out
    }
}

/// A lowercase hyphenated UUID.
pub fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.chars().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_digit() || ('a'..='f').contains(&c),
        })
}
