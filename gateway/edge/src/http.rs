//! HTTP/1.1 framing for both sides of the front: request and response heads, bodies by
//! Content-Length or chunked, and a read buffer over a blocking socket.
//!
//! The request parser is strict where a lenient one would let two servers read one message in two
//! ways (RFC 9112 §6.3, §11.2): Content-Length must be digits and, if repeated, the same; a
//! request with both Transfer-Encoding and Content-Length, or a Transfer-Encoding other than
//! `chunked`, is refused; header names are tokens, with no space before the colon and no folded
//! lines; no control characters in values or in the target; HTTP/1.1 needs exactly one Host.

use std::io::{self, Read};
use std::net::TcpStream;
use std::time::Duration;

/// Header fields in arrival order; names compare without case.
#[derive(Debug, Default, Clone)]
pub struct Headers(pub Vec<(String, String)>);

impl Headers {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
    pub fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(k, _)| k.eq_ignore_ascii_case(name))
    }
    pub fn remove(&mut self, name: &str) {
        self.0.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
    }
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        self.remove(name);
        self.0.push((name.to_string(), value.into()));
    }
    pub fn add(&mut self, name: &str, value: impl Into<String>) {
        self.0.push((name.to_string(), value.into()));
    }
    /// Every name listed in Connection, then the hop-by-hop names given.
    pub fn drop_hop_by_hop(&mut self, names: &[&str]) {
        let listed: Vec<String> = self
            .0
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("connection"))
            .flat_map(|(_, v)| v.split(',').map(|s| s.trim().to_string()).collect::<Vec<_>>())
            .filter(|s| !s.is_empty())
            .collect();
        self.0.retain(|(k, _)| {
            !listed.iter().any(|l| l.eq_ignore_ascii_case(k)) && !names.iter().any(|n| n.eq_ignore_ascii_case(k))
        });
    }
    pub fn write_to(&self, out: &mut Vec<u8>) {
        for (k, v) in &self.0 {
            out.extend_from_slice(k.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(v.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Framing {
    Length(u64),
    Chunked,
    /// A response without a length: its body ends when the connection closes.
    UntilClose,
}

#[derive(Debug)]
pub struct Request {
    pub method: String,
    pub target: String,
    pub http10: bool,
    pub headers: Headers,
    pub framing: Framing,
    /// The client asked to close after this request (or spoke HTTP/1.0 without keep-alive).
    pub close: bool,
}

impl Request {
    pub fn path(&self) -> &str {
        self.target.split(['?', '#']).next().unwrap_or("")
    }
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Headers,
    pub framing: Framing,
    /// The Content-Length given, which for an answer to HEAD is not the body that follows.
    pub declared_length: Option<u64>,
    pub close: bool,
}

fn is_tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

fn lines(head: &[u8]) -> Result<Vec<&str>, &'static str> {
    let text = std::str::from_utf8(head).map_err(|_| "the head is not valid text")?;
    let body = text.strip_suffix("\r\n\r\n").ok_or("the head does not end with an empty line")?;
    Ok(body.split("\r\n").collect())
}

fn header_lines(lines: &[&str]) -> Result<Headers, String> {
    let mut h = Headers(Vec::with_capacity(lines.len()));
    for line in lines {
        if line.starts_with([' ', '\t']) {
            return Err("folded header lines are not accepted".into());
        }
        let (name, value) = line.split_once(':').ok_or("a header line without a colon")?;
        if name.is_empty() || !name.bytes().all(is_tchar) {
            return Err(format!("invalid header name {:?}", name));
        }
        let value = value.trim_matches([' ', '\t']);
        if value.bytes().any(|c| (c < 0x20 && c != b'\t') || c == 0x7f) {
            return Err(format!("control characters in the {name} header"));
        }
        h.0.push((name.to_string(), value.to_string()));
    }
    Ok(h)
}

fn content_length(h: &Headers) -> Result<Option<u64>, String> {
    let mut found: Option<u64> = None;
    for (k, v) in &h.0 {
        if !k.eq_ignore_ascii_case("content-length") {
            continue;
        }
        for part in v.split(',') {
            let part = part.trim();
            if part.is_empty() || part.len() > 18 || !part.bytes().all(|c| c.is_ascii_digit()) {
                return Err(format!("invalid Content-Length {v:?}"));
            }
            let n: u64 = part.parse().map_err(|_| format!("invalid Content-Length {v:?}"))?;
            if found.is_some_and(|f| f != n) {
                return Err("more than one Content-Length, with different values".into());
            }
            found = Some(n);
        }
    }
    Ok(found)
}

fn wants_close(h: &Headers, http10: bool) -> bool {
    let mut close = http10;
    for (k, v) in &h.0 {
        if k.eq_ignore_ascii_case("connection") {
            for t in v.split(',') {
                let t = t.trim();
                if t.eq_ignore_ascii_case("close") {
                    return true;
                }
                if t.eq_ignore_ascii_case("keep-alive") {
                    close = false;
                }
            }
        }
    }
    close
}

/// A request head, up to and including its empty line.
pub fn parse_request(head: &[u8]) -> Result<Request, String> {
    let lines = lines(head)?;
    let mut parts = lines[0].split(' ');
    let (method, target, version) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(m), Some(t), Some(v), None) => (m, t, v),
        _ => return Err(format!("malformed request line {:?}", lines[0])),
    };
    if method.is_empty() || !method.bytes().all(is_tchar) {
        return Err(format!("invalid method {method:?}"));
    }
    if target.is_empty() || target.bytes().any(|c| c <= 0x20 || c >= 0x7f) {
        return Err("invalid request target".into());
    }
    let http10 = match version {
        "HTTP/1.1" => false,
        "HTTP/1.0" => true,
        _ => return Err(format!("unsupported protocol version {version:?}")),
    };
    let headers = header_lines(&lines[1..])?;
    let hosts = headers.0.iter().filter(|(k, _)| k.eq_ignore_ascii_case("host")).count();
    if hosts > 1 || (!http10 && hosts == 0) {
        return Err("HTTP/1.1 requests need exactly one Host header".into());
    }
    let length = content_length(&headers)?;
    let framing = match headers.get("transfer-encoding") {
        Some(te) => {
            if http10
                || length.is_some()
                || !te.eq_ignore_ascii_case("chunked")
                || headers.0.iter().filter(|(k, _)| k.eq_ignore_ascii_case("transfer-encoding")).count() > 1
            {
                return Err("only Transfer-Encoding: chunked, without Content-Length, is accepted".into());
            }
            Framing::Chunked
        }
        None => Framing::Length(length.unwrap_or(0)),
    };
    let close = wants_close(&headers, http10);
    Ok(Request { method: method.to_string(), target: target.to_string(), http10, headers, framing, close })
}

/// A response head from a service; `head_request`: the answer to HEAD has no body whatever it says.
pub fn parse_response(head: &[u8], head_request: bool) -> Result<Response, String> {
    let lines = lines(head)?;
    let status_line = lines[0];
    let rest = status_line.strip_prefix("HTTP/1.").ok_or("not an HTTP/1.x answer")?;
    let http10 = rest.starts_with('0');
    let code = rest.get(2..5).ok_or("no status code")?;
    let status: u16 = code.parse().map_err(|_| "invalid status code")?;
    if !(100..=599).contains(&status) || rest.as_bytes().get(1) != Some(&b' ') {
        return Err("invalid status line".into());
    }
    let headers = header_lines(&lines[1..])?;
    let length = content_length(&headers)?;
    let framing = if head_request || status < 200 || status == 204 || status == 304 {
        Framing::Length(0)
    } else if let Some(te) = headers.get("transfer-encoding") {
        if !te.trim().to_ascii_lowercase().ends_with("chunked") {
            Framing::UntilClose
        } else {
            Framing::Chunked
        }
    } else if let Some(n) = length {
        Framing::Length(n)
    } else {
        Framing::UntilClose
    };
    let close = wants_close(&headers, http10) || framing == Framing::UntilClose;
    Ok(Response { status, headers, framing, declared_length: length, close })
}

pub enum HeadError {
    /// The peer closed (or reset) before a whole head; `partial` if some of it had come.
    Closed {
        partial: bool,
    },
    TooLarge,
    TimedOut {
        partial: bool,
    },
    Io(io::Error),
}

pub fn timed_out(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut)
}

/// Bytes read from a socket and not yet used.
pub struct InBuf {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl InBuf {
    pub fn new(size: usize) -> InBuf {
        InBuf { buf: vec![0; size], start: 0, end: 0 }
    }

    pub fn data(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    pub fn consume(&mut self, n: usize) {
        self.start += n;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Reads once more from `s` (making room first); Ok(0) at end of stream.
    pub fn fill(&mut self, s: &TcpStream) -> io::Result<usize> {
        let mut s = s;
        if self.end == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else {
                self.buf.resize(self.buf.len() * 2, 0);
            }
        }
        loop {
            match s.read(&mut self.buf[self.end..]) {
                Ok(n) => {
                    self.end += n;
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// The length of the head at the front of the buffer (through its empty line), reading as
    /// needed. `limits`: (time for the whole head once its first byte is in, the read timeout to
    /// restore afterwards); without it reads wait as long as the socket's own timeout says.
    pub fn read_head(
        &mut self,
        s: &TcpStream,
        max: usize,
        limits: Option<(Duration, Duration)>,
    ) -> Result<usize, HeadError> {
        let mut deadline = None;
        let found = self.scan_head(s, max, limits.map(|l| l.0), &mut deadline);
        if let (Some(_), Some((_, restore))) = (deadline, limits) {
            let _ = s.set_read_timeout(Some(restore));
        }
        found
    }

    fn scan_head(
        &mut self,
        s: &TcpStream,
        max: usize,
        after_first: Option<Duration>,
        deadline: &mut Option<std::time::Instant>,
    ) -> Result<usize, HeadError> {
        let mut scanned = 0;
        loop {
            let data = self.data();
            if let Some(i) = find_blank_line(data, scanned) {
                return if i > max { Err(HeadError::TooLarge) } else { Ok(i) };
            }
            if data.len() > max {
                return Err(HeadError::TooLarge);
            }
            scanned = data.len().saturating_sub(3);
            let partial = !data.is_empty();
            if partial {
                if let Some(limit) = after_first {
                    let d = *deadline.get_or_insert_with(|| std::time::Instant::now() + limit);
                    let left = d.saturating_duration_since(std::time::Instant::now());
                    if left.is_zero() {
                        return Err(HeadError::TimedOut { partial });
                    }
                    let _ = s.set_read_timeout(Some(left));
                }
            }
            match self.fill(s) {
                Ok(0) => return Err(HeadError::Closed { partial }),
                Ok(_) => {}
                Err(e) if timed_out(&e) => return Err(HeadError::TimedOut { partial }),
                Err(e) if matches!(e.kind(), io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted) => {
                    return Err(HeadError::Closed { partial })
                }
                Err(e) => return Err(HeadError::Io(e)),
            }
        }
    }

    /// Passes the next `n` bytes to `each` as they arrive, with whether more is to come (so that it
    /// can send what it has before the wait); `each` returns false to stop early.
    pub fn pass(&mut self, s: &TcpStream, mut n: u64, mut each: impl FnMut(&[u8], bool) -> bool) -> io::Result<()> {
        loop {
            let k = (self.data().len() as u64).min(n) as usize;
            n -= k as u64;
            let go_on = each(&self.data()[..k], n > 0);
            self.consume(k);
            if n == 0 || !go_on {
                return Ok(());
            }
            if self.fill(s)? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
    }

    /// One line (without CRLF) at the front, reading as needed; for chunk sizes and trailers.
    pub fn read_line(&mut self, s: &TcpStream, max: usize) -> io::Result<String> {
        loop {
            if let Some(i) = self.data().windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8_lossy(&self.data()[..i]).into_owned();
                self.consume(i + 2);
                return Ok(line);
            }
            if self.data().len() > max {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "line too long"));
            }
            if self.fill(s)? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
    }
}

fn find_blank_line(data: &[u8], from: usize) -> Option<usize> {
    data[from..].windows(4).position(|w| w == b"\r\n\r\n").map(|i| from + i + 4)
}

/// The size of a chunk from its size line (extensions ignored).
pub fn chunk_size(line: &str) -> io::Result<u64> {
    let hex = line.split(';').next().unwrap_or("").trim_end_matches([' ', '\t']);
    if hex.is_empty() || hex.len() > 15 || !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "invalid chunk size"));
    }
    u64::from_str_radix(hex, 16).map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "invalid chunk size"))
}

pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Content",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "",
    }
}

pub fn body_allowed(status: u16) -> bool {
    status >= 200 && status != 204 && status != 304
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// A connected pair of sockets on loopback: (the front's end, the client's end).
    pub fn loopback_pair() -> (TcpStream, TcpStream) {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (server, _) = l.accept().unwrap();
        client.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        server.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        (server, client)
    }

    fn req(text: &str) -> Result<Request, String> {
        parse_request(text.as_bytes())
    }

    #[test]
    fn reads_a_request() {
        let r = req("POST /api/v1/x?y=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nX-A:  b \r\n\r\n").unwrap();
        assert_eq!((r.method.as_str(), r.path(), r.framing), ("POST", "/api/v1/x", Framing::Length(3)));
        assert_eq!(r.headers.get("x-a"), Some("b"));
        assert!(!r.close);
        assert!(req("GET / HTTP/1.0\r\n\r\n").unwrap().close);
        assert!(!req("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").unwrap().close);
        assert_eq!(
            req("PUT / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n").unwrap().framing,
            Framing::Chunked
        );
        assert_eq!(
            req("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\n\r\n").unwrap().framing,
            Framing::Length(5)
        );
    }

    #[test]
    fn refuses_ambiguous_or_malformed_requests() {
        for bad in [
            "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: +1\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: h\r\nBad Name: a\r\n\r\n",
            "GET / HTTP/1.1\r\nHost : h\r\n\r\n",
            "GET / HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            "GET / HTTP/2.0\r\nHost: h\r\n\r\n",
            "GET  / HTTP/1.1\r\nHost: h\r\n\r\n",
            "G(T / HTTP/1.1\r\nHost: h\r\n\r\n",
            "GET /\x01 HTTP/1.1\r\nHost: h\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: h\r\nX: a\x00b\r\n\r\n",
            "this is not http\r\n\r\n",
        ] {
            assert!(req(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn reads_service_answers() {
        let r = parse_response(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n", false).unwrap();
        assert_eq!((r.status, r.framing, r.close), (200, Framing::Length(2), false));
        let r = parse_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", false).unwrap();
        assert_eq!(r.framing, Framing::Chunked);
        let r = parse_response(b"HTTP/1.1 200 OK\r\n\r\n", false).unwrap();
        assert_eq!((r.framing, r.close), (Framing::UntilClose, true));
        let r = parse_response(b"HTTP/1.1 204 No Content\r\n\r\n", false).unwrap();
        assert_eq!(r.framing, Framing::Length(0));
        let r = parse_response(b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\n", true).unwrap();
        assert_eq!(r.framing, Framing::Length(0));
        assert!(parse_response(b"HTTP/1.1 99 x\r\n\r\n", false).is_err());
        assert!(parse_response(b"SSH-2.0\r\n\r\n", false).is_err());
    }

    #[test]
    fn chunk_sizes() {
        assert_eq!(chunk_size("1a;ext=1").unwrap(), 26);
        assert!(chunk_size("").is_err());
        assert!(chunk_size("-1").is_err());
        assert!(chunk_size("fffffffffffffffff").is_err());
    }
}
