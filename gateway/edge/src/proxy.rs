//! One service behind the front: a pool of keep-alive connections, its timeout, one retry for
//! idempotent requests that got no answer, and a circuit breaker.

use crate::config::HostPort;
use crate::http::{self, chunk_size, timed_out, Framing, HeadError, Headers, InBuf, Request, Response};
use crate::metrics::Metrics;
use crate::reply::Reply;
use crate::util::{self, random_hex, INFO, WARN};
use std::io;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Headers that belong to one hop, or that the front sets itself.
const HOP_BY_HOP: [&str; 14] = [
    "Connection",
    "Keep-Alive",
    "Proxy-Connection",
    "TE",
    "Trailer",
    "Transfer-Encoding",
    "Upgrade",
    "Proxy-Authorization",
    "Proxy-Authenticate",
    "X-Request-ID",
    "X-Forwarded-For",
    "Content-Length",
    "Expect",
    "Host",
];
const MAX_ANSWER_HEAD: usize = 64 << 10;
/// Below the services' keep-alive (uvicorn: 5 s), so that a connection is never reused as it closes.
const IDLE_FOR: Duration = Duration::from_secs(4);
const MAX_IDLE: usize = 256;

/// Closed → open after `threshold` failures in a row → after `cooldown` one trial (half open).
pub struct Breaker {
    name: String,
    threshold: u32,
    cooldown: Duration,
    state: Mutex<BreakerState>,
    metrics: Arc<Metrics>,
}

#[derive(Default)]
struct BreakerState {
    failures: u32,
    opened_at: Option<Instant>,
    trial: bool,
}

impl Breaker {
    pub fn new(name: &str, threshold: u32, cooldown: Duration, metrics: Arc<Metrics>) -> Breaker {
        metrics.circuit(name, false);
        Breaker { name: name.to_string(), threshold, cooldown, state: Mutex::default(), metrics }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, BreakerState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Zero if a request may go through now, else the time until the next trial.
    pub fn wait(&self) -> Duration {
        self.wait_at(Instant::now())
    }

    fn wait_at(&self, now: Instant) -> Duration {
        let mut s = self.state();
        let Some(opened) = s.opened_at else { return Duration::ZERO };
        let left = (opened + self.cooldown).saturating_duration_since(now);
        if !left.is_zero() || s.trial {
            return left.max(Duration::from_millis(500));
        }
        s.trial = true; // half open: this request is the trial
        Duration::ZERO
    }

    pub fn success(&self) {
        let mut s = self.state();
        if s.opened_at.is_some() {
            util::log(INFO, "circuit closed", &[("upstream", &self.name)]);
            self.metrics.circuit(&self.name, false);
        }
        *s = BreakerState::default();
    }

    pub fn failure(&self) {
        self.failure_at(Instant::now());
    }

    fn failure_at(&self, now: Instant) {
        let mut s = self.state();
        s.failures += 1;
        if s.trial || s.failures >= self.threshold {
            if s.opened_at.is_none() || s.trial {
                util::log(WARN, "circuit opened", &[("upstream", &self.name), ("failures", &s.failures.to_string())]);
            }
            s.opened_at = Some(now);
            s.trial = false;
            self.metrics.circuit(&self.name, true);
        }
    }
}

struct UpConn {
    s: TcpStream,
    buf: InBuf,
    since: Instant,
}

enum Failure {
    /// Could not connect: the service is down (503), never slow (504).
    Dial(io::Error),
    /// The connection failed before any byte of an answer (safe to repeat if idempotent).
    NoAnswer(io::Error),
    TimedOut,
    Invalid(String),
}

impl Failure {
    fn describe(&self) -> String {
        match self {
            Failure::Dial(e) | Failure::NoAnswer(e) => e.to_string(),
            Failure::TimedOut => "timed out".into(),
            Failure::Invalid(e) => e.clone(),
        }
    }
}

pub struct Upstream {
    pub name: String,
    /// The route template of its requests in the metrics.
    pub route: String,
    at: HostPort,
    timeout: Duration,
    connect: Duration,
    pub breaker: Breaker,
    idle: Mutex<Vec<UpConn>>,
    metrics: Arc<Metrics>,
}

fn idempotent(method: &str) -> bool {
    matches!(method, "GET" | "HEAD" | "OPTIONS" | "PUT" | "DELETE")
}

impl Upstream {
    pub fn new(
        name: &str,
        at: HostPort,
        timeout_s: f64,
        connect_s: f64,
        failures: u32,
        cooldown_s: f64,
        metrics: Arc<Metrics>,
    ) -> Upstream {
        Upstream {
            name: name.to_string(),
            route: format!("/api/v1/{name}/*"),
            at,
            timeout: Duration::from_secs_f64(timeout_s),
            connect: Duration::from_secs_f64(connect_s),
            breaker: Breaker::new(name, failures, Duration::from_secs_f64(cooldown_s), metrics.clone()),
            idle: Mutex::new(Vec::new()),
            metrics,
        }
    }

    fn take(&self) -> Option<UpConn> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        while let Some(c) = idle.pop() {
            if c.since.elapsed() < IDLE_FOR {
                return Some(c);
            }
        }
        None
    }

    fn put(&self, mut c: UpConn) {
        c.since = Instant::now();
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < MAX_IDLE {
            idle.push(c);
        }
    }

    pub fn close_idle(&self) {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    fn dial(&self) -> Result<UpConn, Failure> {
        self.metrics.dialled(&self.name);
        let addrs: Vec<SocketAddr> = self.at.connect.to_socket_addrs().map_err(Failure::Dial)?.collect();
        let mut last = io::Error::new(io::ErrorKind::AddrNotAvailable, "no address");
        for a in addrs {
            match TcpStream::connect_timeout(&a, self.connect) {
                Ok(s) => {
                    let _ = s.set_nodelay(true);
                    let _ = s.set_read_timeout(Some(self.timeout));
                    let _ = s.set_write_timeout(Some(self.timeout));
                    return Ok(UpConn { s, buf: InBuf::new(16 << 10), since: Instant::now() });
                }
                Err(e) => last = e,
            }
        }
        Err(Failure::Dial(last))
    }

    /// The client's request line and headers with the hop's own headers replaced, and the body.
    fn message(&self, req: &Request, body: &[u8], rid: &str, client: &str) -> Vec<u8> {
        let mut m = Vec::with_capacity(1024 + body.len());
        for part in [
            req.method.as_str(),
            " ",
            self.at.prefix.as_str(),
            req.target.as_str(),
            " HTTP/1.1\r\nHost: ",
            self.at.host.as_str(),
            "\r\n",
        ] {
            m.extend_from_slice(part.as_bytes());
        }
        let mut h = req.headers.clone();
        h.drop_hop_by_hop(&HOP_BY_HOP);
        h.add("X-Request-ID", rid);
        h.add("X-Forwarded-For", client);
        if !h.has("traceparent") {
            // start a trace here, so that the service and its events continue it
            h.add("traceparent", format!("00-{}-{}-01", random_hex(16), random_hex(8)));
        }
        h.add("Content-Length", body.len().to_string());
        h.write_to(&mut m);
        m.extend_from_slice(b"\r\n");
        m.extend_from_slice(body);
        m
    }

    /// Writes the request on a pooled (or new) connection and reads the answer's head.
    fn exchange(&self, message: &[u8], head_request: bool) -> Result<(UpConn, Response), Failure> {
        let (mut c, reused) = match self.take() {
            Some(c) => (c, true),
            None => (self.dial()?, false),
        };
        if let Err(e) = io::Write::write_all(&mut &c.s, message) {
            return Err(if timed_out(&e) { Failure::TimedOut } else { Failure::NoAnswer(e) });
        }
        loop {
            let n = match c.buf.read_head(&c.s, MAX_ANSWER_HEAD, None) {
                Ok(n) => n,
                Err(HeadError::Closed { .. }) => return Err(Failure::NoAnswer(io::ErrorKind::UnexpectedEof.into())),
                Err(HeadError::TimedOut { .. }) => return Err(Failure::TimedOut),
                Err(HeadError::Io(e)) if reused => return Err(Failure::NoAnswer(e)),
                Err(HeadError::Io(e)) => return Err(Failure::Invalid(e.to_string())),
                Err(HeadError::TooLarge) => return Err(Failure::Invalid("the answer's head is too large".into())),
            };
            let resp = http::parse_response(&c.buf.data()[..n], head_request).map_err(Failure::Invalid)?;
            c.buf.consume(n);
            if (100..200).contains(&resp.status) && resp.status != 101 {
                continue; // an interim answer: the real one follows
            }
            if resp.status == 101 {
                return Err(Failure::Invalid("protocol upgrades are not passed on".into()));
            }
            return Ok((c, resp));
        }
    }

    /// Sends the request on (twice at most, and twice only when idempotent and unanswered) and
    /// streams the answer back; a service that cannot answer gets 503 or 504 problem+json.
    pub fn forward(&self, reply: &mut Reply, req: &Request, body: &[u8], rid: &str, client: &str) {
        let wait = self.breaker.wait();
        if !wait.is_zero() {
            reply.headers.set("Retry-After", (wait.as_secs_f64().ceil() as u64).max(1).to_string());
            let detail =
                format!("the {} service is failing; the gateway stops sending it requests for a moment", self.name);
            reply.problem(503, "unavailable", "Service unavailable", &detail, &[]);
            return;
        }
        let message = self.message(req, body, rid, client);
        let head_request = req.method == "HEAD";
        let attempts = if idempotent(&req.method) { 2 } else { 1 };
        let mut outcome = self.exchange(&message, head_request);
        for _ in 1..attempts {
            match outcome {
                Err(Failure::NoAnswer(_)) | Err(Failure::Dial(_)) => outcome = self.exchange(&message, head_request),
                _ => break,
            }
        }
        let (mut c, mut resp) = match outcome {
            Ok(ok) => ok,
            Err(f) => {
                self.breaker.failure();
                util::log(
                    WARN,
                    "upstream failed",
                    &[("upstream", &self.name), ("request_id", rid), ("error", &f.describe())],
                );
                match f {
                    Failure::TimedOut => {
                        let detail = format!("the {} service did not answer in time", self.name);
                        reply.problem(504, "upstream-timeout", "Gateway timeout", &detail, &[]);
                    }
                    Failure::Dial(_) => {
                        let detail = format!(
                            "the {} service is not answering: connection refused or not accepted in time",
                            self.name
                        );
                        reply.problem(503, "unavailable", "Service unavailable", &detail, &[]);
                    }
                    Failure::NoAnswer(_) | Failure::Invalid(_) => {
                        let detail = format!(
                            "the {} service is not answering: the connection closed before an answer",
                            self.name
                        );
                        reply.problem(503, "unavailable", "Service unavailable", &detail, &[]);
                    }
                }
                return;
            }
        };
        if resp.status >= 500 {
            self.breaker.failure();
        } else {
            self.breaker.success();
        }
        merge(&mut reply.headers, std::mem::take(&mut resp.headers), rid);
        match relay(&mut c, &resp, reply) {
            Ok(true) if !resp.close && !reply.aborted => self.put(c),
            Ok(_) => {}
            Err(e) => {
                self.breaker.failure();
                reply.aborted = true;
                util::log(
                    WARN,
                    "upstream broke off its answer",
                    &[("upstream", &self.name), ("request_id", rid), ("error", &e.to_string())],
                );
            }
        }
    }
}

/// The service's headers over the front's own (the front's Vary: Origin is kept), without the
/// service's hop-by-hop ones; the request id is the front's.
fn merge(into: &mut Headers, mut from: Headers, rid: &str) {
    from.drop_hop_by_hop(&HOP_BY_HOP);
    for (k, _) in &from.0 {
        if !k.eq_ignore_ascii_case("vary") {
            into.remove(k);
        }
    }
    into.0.extend(from.0);
    into.set("X-Request-ID", rid);
}

/// Copies the answer's body to the client as it arrives; true when it was read to its end and
/// the connection can carry the next request. An error is the service's (a client that leaves is not).
fn relay(c: &mut UpConn, resp: &Response, reply: &mut Reply) -> io::Result<bool> {
    match resp.framing {
        Framing::Length(n) => {
            reply.start(resp.status, if reply.head_request { resp.declared_length } else { Some(n) });
            copy(c, reply, n)?;
            Ok(!reply.aborted)
        }
        Framing::Chunked => {
            reply.start(resp.status, None);
            loop {
                let size = chunk_size(&line(c, reply)?)?;
                if size == 0 {
                    while !line(c, reply)?.is_empty() {} // trailers are not passed on
                    reply.end();
                    return Ok(!reply.aborted);
                }
                copy(c, reply, size)?;
                if !line(c, reply)?.is_empty() {
                    return Err(io::Error::new(io::ErrorKind::InvalidData, "a chunk without its CRLF"));
                }
                if reply.aborted {
                    return Ok(false);
                }
            }
        }
        Framing::UntilClose => {
            reply.start(resp.status, None);
            loop {
                let n = c.buf.data().len();
                reply.data(c.buf.data());
                c.buf.consume(n);
                reply.flush();
                if reply.aborted || c.buf.fill(&c.s)? == 0 {
                    reply.end();
                    return Ok(false);
                }
            }
        }
    }
}

/// `n` bytes of body from the service to the client, sending what is at hand before each wait.
fn copy(c: &mut UpConn, reply: &mut Reply, n: u64) -> io::Result<()> {
    c.buf.pass(&c.s, n, |chunk, more| {
        reply.data(chunk);
        if more {
            reply.flush();
        }
        !reply.aborted
    })
}

fn line(c: &mut UpConn, reply: &mut Reply) -> io::Result<String> {
    if !c.buf.data().windows(2).any(|w| w == b"\r\n") {
        reply.flush(); // the client gets what has come before the front waits for more
    }
    c.buf.read_line(&c.s, 4096)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breaker_opens_after_failures_and_closes_after_one_good_trial() {
        let b = Breaker::new("x", 2, Duration::from_millis(50), Arc::default());
        b.failure();
        assert!(b.wait().is_zero(), "open after one failure of two");
        b.failure();
        assert!(!b.wait().is_zero(), "still closed after two failures");
        std::thread::sleep(Duration::from_millis(60));
        assert!(b.wait().is_zero(), "no trial after the cool-down");
        assert!(!b.wait().is_zero(), "a second request went through while the trial is out");
        b.success();
        assert!(b.wait().is_zero(), "a good trial did not close the circuit");
    }

    #[test]
    fn merge_keeps_vary_and_the_request_id() {
        let mut into = Headers::default();
        into.add("Vary", "Origin");
        into.add("RateLimit", "x");
        let mut from = Headers::default();
        for (k, v) in [
            ("vary", "Accept"),
            ("Connection", "close, X-Secret"),
            ("X-Secret", "1"),
            ("Link", "a"),
            ("Link", "b"),
            ("x-request-id", "theirs"),
        ] {
            from.add(k, v);
        }
        merge(&mut into, from, "ours");
        let names: Vec<String> = into.0.iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(names, ["Vary=Origin", "RateLimit=x", "vary=Accept", "Link=a", "Link=b", "X-Request-ID=ours"]);
    }

    // The breaker on an injected clock: `t(s)` is `s` seconds after an arbitrary start.
    fn clock() -> impl Fn(f64) -> Instant {
        let t0 = Instant::now();
        move |s| t0 + Duration::from_secs_f64(s)
    }

    #[test]
    fn breaker_opens_at_exactly_the_threshold_of_failures_in_a_row() {
        let t = clock();
        let b = Breaker::new("x", 3, Duration::from_secs(30), Arc::default());
        b.failure_at(t(0.0));
        b.failure_at(t(1.0));
        assert_eq!(b.wait_at(t(1.0)), Duration::ZERO, "open after 2 failures of 3");
        b.success();
        b.failure_at(t(2.0));
        b.failure_at(t(3.0));
        assert_eq!(b.wait_at(t(3.0)), Duration::ZERO, "a success did not reset the count: 2 in a row only");
        b.failure_at(t(4.0)); // the 3rd in a row
        assert_eq!(b.wait_at(t(4.0)), Duration::from_secs(30), "not open after the 3rd failure in a row");
    }

    #[test]
    fn breaker_allows_one_trial_exactly_when_the_cooldown_is_over() {
        let t = clock();
        let b = Breaker::new("x", 1, Duration::from_secs(30), Arc::default());
        b.failure_at(t(10.0)); // opens at 10 s: the trial is due at 40 s
        assert_eq!(b.wait_at(t(10.0)), Duration::from_secs(30));
        assert_eq!(b.wait_at(t(38.0)), Duration::from_secs(2));
        assert_eq!(b.wait_at(t(39.9)), Duration::from_millis(500), "less than half a second left: wait 0.5 s");
        assert_eq!(b.wait_at(t(40.0)), Duration::ZERO, "no trial when the cooldown is over");
        assert_eq!(b.wait_at(t(40.0)), Duration::from_millis(500), "a 2nd request went through during the trial");
        b.failure_at(t(41.0)); // the trial failed: open for a whole cooldown from now
        assert_eq!(b.wait_at(t(41.0)), Duration::from_secs(30));
        assert_eq!(b.wait_at(t(71.0)), Duration::ZERO, "no new trial a cooldown after the failed one");
        b.success(); // the trial went well: closed, and counting from zero again
        assert_eq!(b.wait_at(t(71.0)), Duration::ZERO);
        assert_eq!(b.wait_at(t(71.0)), Duration::ZERO, "still half open after a good trial");
    }

    #[test]
    fn an_open_circuit_answers_503_with_retry_after_the_cooldown_left_and_sends_nothing() {
        let metrics = Arc::new(Metrics::default());
        let at = HostPort::parse("http://127.0.0.1:9").unwrap();
        let up = Upstream::new("facilities", at, 1.0, 0.1, 1, 30.0, metrics.clone());
        up.breaker.failure(); // on the real clock: open for 30 s from now
        let (server, _client) = crate::http::tests::loopback_pair();
        let mut reply = Reply::new(&server, "/api/v1/facilities/sites", false, false);
        let req = http::parse_request(b"GET /api/v1/facilities/sites HTTP/1.1\r\nHost: h\r\n\r\n").unwrap();
        up.forward(&mut reply, &req, b"", "rid", "127.0.0.1");
        assert_eq!(reply.status, 503);
        assert_eq!(reply.headers.get("retry-after"), Some("30"), "30 s less a few microseconds, rounded up");
        let text = metrics.render();
        assert!(!text.contains("gateway_upstream_connections_total{service=\"facilities\"}"), "dialled: {text}");
        assert!(text.contains("gateway_upstream_circuit_open{service=\"facilities\"} 1\n"), "{text}");
    }
}
