//! A minimal HTTP/1.1 keep-alive client over one TCP connection, for the
//! benches: it writes a request, reads the head, then the body
//! (`Content-Length` or chunked). No redirects, no TLS: just enough to drive
//! a server on loopback without the client's own overhead dominating the
//! measurement.
//!
//! Used by `benches/*.rs` (this crate is their dev-dependency) and by this
//! crate's own tools.

#![allow(dead_code)]

use std::io;
use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One keep-alive connection.
pub struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    /// Bytes of `buf` that belong to the next response (already read).
    filled: usize,
    req: Vec<u8>,
}

/// A response: status and body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
    /// A 200 with no body (the reference's answer to a known key).
    pub empty: bool,
}

impl Conn {
    pub async fn connect(addr: SocketAddr) -> io::Result<Conn> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream,
            buf: vec![0; 64 * 1024],
            filled: 0,
            req: Vec::with_capacity(512),
        })
    }

    /// `GET path`.
    pub async fn get(&mut self, path: &str) -> io::Result<Answer> {
        self.req.clear();
        self.req.extend_from_slice(b"GET ");
        self.req.extend_from_slice(path.as_bytes());
        self.req
            .extend_from_slice(b" HTTP/1.1\r\nhost: localhost\r\n\r\n");
        self.round_trip().await
    }

    /// `POST path` with a JSON body and an idempotency key.
    pub async fn post(&mut self, path: &str, key: &str, json: &str) -> io::Result<Answer> {
        self.req.clear();
        self.req.extend_from_slice(b"POST ");
        self.req.extend_from_slice(path.as_bytes());
        self.req.extend_from_slice(
            b" HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\nidempotency-key: ",
        );
        self.req.extend_from_slice(key.as_bytes());
        self.req.extend_from_slice(b"\r\ncontent-length: ");
        self.req
            .extend_from_slice(json.len().to_string().as_bytes());
        self.req.extend_from_slice(b"\r\n\r\n");
        self.req.extend_from_slice(json.as_bytes());
        self.round_trip().await
    }

    async fn round_trip(&mut self) -> io::Result<Answer> {
        self.stream.write_all(&self.req).await?;
        // Read until the end of the head.
        let head_end = loop {
            if let Some(i) = find(&self.buf[..self.filled], b"\r\n\r\n") {
                break i + 4;
            }
            self.fill().await?;
        };
        let head = &self.buf[..head_end];
        let status = std::str::from_utf8(head.get(9..12).unwrap_or_default())
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "bad status line"))?;
        let mut len = 0usize;
        let mut chunked = false;
        for line in head.split(|b| *b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if let Some(v) = header_value(line, b"content-length") {
                len = std::str::from_utf8(v)
                    .ok()
                    .and_then(|s| s.trim().parse().ok())
                    .unwrap_or(0);
            } else if header_value(line, b"transfer-encoding").is_some() {
                chunked = true;
            }
        }
        if chunked {
            return self.read_chunked(status, head_end).await;
        }
        let total = head_end + len;
        while self.filled < total {
            if total > self.buf.len() {
                self.buf.resize(total.next_power_of_two(), 0);
            }
            let n = self.stream.read(&mut self.buf[self.filled..]).await?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            self.filled += n;
        }
        let body = self.buf[head_end..total].to_vec();
        self.buf.copy_within(total..self.filled, 0);
        self.filled -= total;
        Ok(Answer {
            status,
            empty: body.is_empty(),
            body,
        })
    }

    /// Reads more bytes into the buffer.
    async fn fill(&mut self) -> io::Result<()> {
        if self.filled == self.buf.len() {
            self.buf.resize(self.buf.len() * 2, 0);
        }
        let n = self.stream.read(&mut self.buf[self.filled..]).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        self.filled += n;
        Ok(())
    }

    /// A chunked body (answers over Go's 2 KiB buffer are chunked).
    async fn read_chunked(&mut self, status: u16, head_end: usize) -> io::Result<Answer> {
        let mut body = Vec::new();
        let mut at = head_end;
        loop {
            let eol = loop {
                if let Some(i) = find(&self.buf[at..self.filled], b"\r\n") {
                    break at + i;
                }
                self.fill().await?;
            };
            let size = std::str::from_utf8(&self.buf[at..eol])
                .ok()
                .and_then(|s| usize::from_str_radix(s.trim(), 16).ok())
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "bad chunk size"))?;
            let end = eol + 2 + size + 2;
            while self.filled < end {
                self.fill().await?;
            }
            body.extend_from_slice(&self.buf[eol + 2..eol + 2 + size]);
            at = end;
            if size == 0 {
                break;
            }
        }
        self.buf.copy_within(at..self.filled, 0);
        self.filled -= at;
        Ok(Answer {
            status,
            empty: body.is_empty(),
            body,
        })
    }
}

fn header_value<'a>(line: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    let colon = line.iter().position(|b| *b == b':')?;
    line[..colon]
        .eq_ignore_ascii_case(name)
        .then(|| &line[colon + 1..])
}

/// A number from the environment, else `default`.
/// Whether a bench binary runs as a bench (`cargo bench` passes `--bench`)
/// rather than as a quick check (`cargo test --benches`).
pub fn bench_mode() -> bool {
    std::env::args().any(|a| a == "--bench")
}

/// The runtime a hand-written bench measures on: two worker threads, as
/// many as the machine has cores.
pub fn bench_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
}

pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Position of `needle` in `hay`.
pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Resident set size of a process, in KiB (from `/proc/<pid>/status`).
pub fn rss_kib(pid: u32) -> Option<u64> {
    proc_status_field(pid, "VmRSS:")
}

/// Number of threads of a process.
pub fn threads(pid: u32) -> Option<u64> {
    proc_status_field(pid, "Threads:")
}

/// Number of open file descriptors of a process.
pub fn fds(pid: u32) -> Option<usize> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .ok()
        .map(|d| d.count())
}

fn proc_status_field(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}
