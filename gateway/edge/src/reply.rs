//! The answer to one client request: buffered (local answers, with a Content-Length) or streamed
//! (a service's answer: the head at once, the body as it arrives).

use crate::http::{body_allowed, reason, Headers};
use crate::json::quote;
use std::io::Write;
use std::net::TcpStream;

const SECURITY_HEADERS: [(&str, &str); 5] = [
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
    ("Strict-Transport-Security", "max-age=31536000; includeSubDomains"),
    ("Cross-Origin-Resource-Policy", "same-site"),
];
const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'";
const PROBLEM_PREFIX: &str = "https://smeclustergrowth.eu/problems/";

pub struct Reply<'a> {
    client: &'a TcpStream,
    /// Bytes written but not yet sent: one write per answer when the whole answer is at hand.
    out: Vec<u8>,
    pub headers: Headers,
    pub status: u16,
    body: Vec<u8>,
    streamed: bool,
    chunked: bool,
    /// Close the client connection after this answer.
    pub close: bool,
    /// The client connection broke (or an answer was cut off): it must be closed.
    pub aborted: bool,
    csp: bool,
    pub head_request: bool,
    http10: bool,
}

impl<'a> Reply<'a> {
    pub fn new(client: &'a TcpStream, path: &str, head_request: bool, http10: bool) -> Reply<'a> {
        Reply {
            client,
            out: Vec::with_capacity(4096),
            headers: Headers(Vec::with_capacity(24)),
            status: 0,
            body: Vec::new(),
            streamed: false,
            chunked: false,
            close: false,
            aborted: false,
            csp: !path.starts_with("/docs"),
            head_request,
            http10,
        }
    }

    /// A whole local answer.
    pub fn local(&mut self, status: u16, content_type: &str, body: impl Into<Vec<u8>>) {
        self.status = status;
        self.headers.set("Content-Type", content_type);
        self.body = body.into();
    }

    /// An RFC 9457 problem; `extra` members are added to the body.
    pub fn problem(&mut self, status: u16, suffix: &str, title: &str, detail: &str, extra: &[(&str, &str)]) {
        let mut body = format!(
            "{{\"type\":{},\"title\":{},\"status\":{status},\"detail\":{}",
            quote(&format!("{PROBLEM_PREFIX}{suffix}")),
            quote(title),
            quote(detail)
        );
        for (k, v) in extra {
            body.push_str(&format!(",{}:{}", quote(k), quote(v)));
        }
        body.push('}');
        if status == 503 && !self.headers.has("Retry-After") {
            self.headers.set("Retry-After", "1");
        }
        self.local(status, "application/problem+json", body);
    }

    /// Writes the head: `length` known, else chunked (or close-delimited for an HTTP/1.0 client).
    pub fn start(&mut self, status: u16, length: Option<u64>) {
        self.status = status;
        self.streamed = true;
        let h = &mut self.headers;
        for (k, v) in SECURITY_HEADERS {
            if !h.has(k) {
                h.add(k, v);
            }
        }
        if self.csp && !h.has("Content-Security-Policy") {
            h.add("Content-Security-Policy", API_CSP);
        }
        h.remove("Content-Length");
        h.remove("Transfer-Encoding");
        h.remove("Connection");
        let has_body = body_allowed(status);
        match length {
            Some(n) if has_body => h.add("Content-Length", n.to_string()),
            Some(_) => {}
            None if self.head_request || !has_body => {}
            None if self.http10 => self.close = true,
            None => {
                self.chunked = true;
                h.add("Transfer-Encoding", "chunked");
            }
        }
        if self.close {
            h.add("Connection", "close");
        } else if self.http10 {
            h.add("Connection", "keep-alive");
        }
        let out = &mut self.out;
        out.extend_from_slice(format!("HTTP/1.1 {status} {}\r\n", reason(status)).as_bytes());
        h.write_to(out);
        out.extend_from_slice(b"\r\n");
    }

    /// Body bytes of a streamed answer (framed as a chunk when the answer is chunked).
    pub fn data(&mut self, data: &[u8]) {
        if data.is_empty() || self.head_request {
            return;
        }
        if self.chunked {
            self.out.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
            self.out.extend_from_slice(data);
            self.out.extend_from_slice(b"\r\n");
        } else {
            self.out.extend_from_slice(data);
        }
    }

    /// The end of a streamed answer.
    pub fn end(&mut self) {
        if self.chunked && !self.head_request {
            self.out.extend_from_slice(b"0\r\n\r\n");
        }
    }

    /// Sends what is written so far; a client that has gone marks the reply aborted.
    pub fn flush(&mut self) {
        if self.out.is_empty() || self.aborted {
            self.out.clear();
            return;
        }
        let mut c = self.client;
        if c.write_all(&self.out).is_err() {
            self.aborted = true;
        }
        self.out.clear();
    }

    /// Writes a buffered answer (nothing to do after `start`) and sends everything.
    pub fn finish(&mut self) {
        if !self.streamed {
            if self.status == 0 {
                self.status = 200;
            }
            let body = std::mem::take(&mut self.body);
            self.headers.set("Date", crate::util::http_date(crate::util::unix_now()));
            self.start(self.status, Some(body.len() as u64));
            if body_allowed(self.status) && !self.head_request {
                self.out.extend_from_slice(&body);
            }
        }
        self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::tests::loopback_pair;
    use std::io::Read;
    use std::net::Shutdown;

    /// What the client receives for one answer to `path`, prepared by `prepare`.
    fn received(path: &str, prepare: impl FnOnce(&mut Reply)) -> String {
        let (server, mut client) = loopback_pair();
        let mut reply = Reply::new(&server, path, false, false);
        prepare(&mut reply);
        reply.finish();
        server.shutdown(Shutdown::Write).unwrap();
        let mut out = String::new();
        client.read_to_string(&mut out).unwrap();
        out
    }

    /// Every value of a header in the answer's head, without case in the name.
    fn values(answer: &str, name: &str) -> Vec<String> {
        let head = answer.split("\r\n\r\n").next().unwrap();
        head.split("\r\n")
            .skip(1)
            .filter_map(|l| l.split_once(": "))
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.to_string())
            .collect()
    }

    const EXPECTED: [(&str, &str); 5] = [
        ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", "DENY"),
        ("Referrer-Policy", "no-referrer"),
        ("Strict-Transport-Security", "max-age=31536000; includeSubDomains"),
        ("Cross-Origin-Resource-Policy", "same-site"),
    ];

    #[test]
    fn every_answer_carries_the_security_headers_once() {
        let local = received("/api/v1/facilities/sites", |r| r.problem(404, "not-found", "Not found", "x", &[]));
        let refused = received("/", |r| r.problem(503, "unavailable", "Service unavailable", "x", &[]));
        let streamed = received("/api/v1/facilities/sites", |r| {
            r.headers.add("Content-Type", "application/json"); // a service's answer, relayed
            r.start(200, Some(2));
            r.data(b"{}");
            r.end();
        });
        for answer in [&local, &refused, &streamed] {
            for (name, value) in EXPECTED {
                assert_eq!(values(answer, name), [value], "{name} in {answer}");
            }
            assert_eq!(values(answer, "Content-Security-Policy"), ["default-src 'none'; frame-ancestors 'none'"]);
        }
        assert!(local.starts_with("HTTP/1.1 404 Not Found\r\n"), "{local}");
    }

    #[test]
    fn the_docs_page_has_no_api_csp_and_a_services_own_header_is_not_doubled() {
        let docs = received("/docs", |r| r.local(200, "text/html", &b"<html></html>"[..]));
        for (name, value) in EXPECTED {
            assert_eq!(values(&docs, name), [value], "{name}");
        }
        assert!(values(&docs, "Content-Security-Policy").is_empty(), "{docs}");
        let own = received("/api/v1/facilities/sites", |r| {
            r.headers.add("x-frame-options", "SAMEORIGIN");
            r.headers.add("content-security-policy", "default-src 'self'");
            r.start(204, None);
        });
        assert_eq!(values(&own, "X-Frame-Options").len(), 1, "{own}");
        assert_eq!(values(&own, "Content-Security-Policy").len(), 1, "{own}");
        assert_eq!(values(&own, "Referrer-Policy"), ["no-referrer"]);
    }
}
