//! One service behind the front: a pool of hyper HTTP/1 client connections (keep-alive, counted as
//! they are dialled), its timeout, one retry for idempotent requests that got no answer, and a
//! circuit breaker.
//!
//! The pool is hyper's connection API with an idle list, not hyper-util's legacy Client: that client
//! spawns a task for every answer whose body is still streaming (to return its connection when the
//! body ends), and parses an absolute URI per request; here a connection goes back to the idle list
//! when its answer's body has been read to the end (bench.gateway: CPU time per proxied request).

use crate::config::HostPort;
use crate::log::{self, INFO, WARN};
use crate::metrics::Metrics;
use crate::reply::{problem, Body, BoxError, Resp};
use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue, HOST, RETRY_AFTER};
use http::{Request, Uri};
use http_body_util::Full;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// Headers that belong to one hop, or that the front sets itself (besides those the Connection
/// header names).
/// (Parsed names: a name given as text would be parsed again at every use; a static, not a const, so
/// that a use does not build the array anew.)
static HOP_BY_HOP: [HeaderName; HOPS] = [
    http::header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    http::header::TE,
    http::header::TRAILER,
    http::header::TRANSFER_ENCODING,
    http::header::UPGRADE,
    http::header::PROXY_AUTHORIZATION,
    http::header::PROXY_AUTHENTICATE,
    X_REQUEST_ID,
    X_FORWARDED_FOR,
    http::header::EXPECT,
    HOST,
];
const HOPS: usize = 13;
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
/// Below the services' keep-alive (uvicorn: 5 s), so that a connection is never reused as it closes.
const IDLE_FOR: Duration = Duration::from_secs(4);
const MAX_IDLE: usize = 256;
/// Headers the edge rules add to a service's answer: 5 security headers, the CSP, the request id.
const ADDED_ON_ANSWERS: usize = 7;

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
            log::log(INFO, "circuit closed", &[("upstream", &self.name)]);
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
                log::log(WARN, "circuit opened", &[("upstream", &self.name), ("failures", &s.failures.to_string())]);
            }
            s.opened_at = Some(now);
            s.trial = false;
            self.metrics.circuit(&self.name, true);
        }
    }
}

type Sender = SendRequest<Full<Bytes>>;
type Driver = hyper::client::conn::http1::Connection<TokioIo<tokio::net::TcpStream>, Full<Bytes>>;

/// One keep-alive connection to a service: the handle requests are sent with, and the connection
/// itself, which is driven by the request using it (its exchange, then its answer's body) rather
/// than by a task of its own: one task per request, no wake-ups between two tasks. Boxed for its
/// life (hyper's connection state is most of a kilobyte; an answer's body holds it while it is read,
/// and would otherwise be copied with every move of the answer).
struct Link {
    tx: Sender,
    conn: Driver,
}

impl Link {
    /// Moves the connection on; Ready when it has ended (closed by either side, or failed).
    fn drive(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.conn).poll(cx).map(|_| ())
    }
}

/// One service's keep-alive connections; the idle ones wait in a list (the most recent is taken
/// first) for IDLE_FOR at most. An idle connection is not driven: one the service closed is found
/// closed when it is next taken, or by the sweep every IDLE_FOR/2, which closes those idle too long.
pub struct Pool {
    /// host:port to dial
    address: String,
    connect: Duration,
    idle: Mutex<Vec<(Instant, Box<Link>)>>,
    sweeping: std::sync::atomic::AtomicBool,
    name: Arc<str>,
    metrics: Arc<Metrics>,
}

impl Pool {
    fn new(authority: &str, connect: Duration, name: &str, metrics: Arc<Metrics>) -> Pool {
        let port_given = authority.rsplit_once(':').is_some_and(|(_, p)| !p.ends_with(']'));
        let address = if port_given { authority.to_string() } else { format!("{authority}:80") };
        let sweeping = std::sync::atomic::AtomicBool::new(false);
        Pool { address, connect, idle: Mutex::default(), sweeping, name: name.into(), metrics }
    }

    /// An idle connection that is still open and younger than IDLE_FOR, else a new one.
    async fn checkout(self: &Arc<Self>) -> Result<Box<Link>, Failure> {
        if !self.sweeping.swap(true, std::sync::atomic::Ordering::Relaxed) {
            tokio::spawn(sweep(Arc::downgrade(self)));
        }
        loop {
            let popped = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
            // (a dial is rare: its future is boxed, so that every request's future does not carry its room)
            let Some((since, mut link)) = popped else { return Box::pin(self.dial()).await };
            if since.elapsed() >= IDLE_FOR {
                continue; // dropped: closed
            }
            // driven once: it reads the service's close, or finishes the last answer's end
            let ready = std::future::poll_fn(|cx| match link.drive(cx) {
                Poll::Ready(()) => Poll::Ready(false),
                Poll::Pending => link.tx.poll_ready(cx).map(|r| r.is_ok()),
            });
            if ready.await {
                return Ok(link);
            }
        }
    }

    async fn dial(&self) -> Result<Box<Link>, Failure> {
        self.metrics.dialled(&self.name);
        let stream = match tokio::time::timeout(self.connect, tokio::net::TcpStream::connect(&self.address)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(Failure::Dial(format!("connect {}: {e}", self.address))),
            Err(_) => return Err(Failure::Dial(format!("connect {}: timed out", self.address))),
        };
        let _ = stream.set_nodelay(true);
        // one flat buffer a request (head and body copied together: one plain write, no vector of parts)
        let (tx, conn) = hyper::client::conn::http1::Builder::new()
            .writev(false)
            .handshake(TokioIo::new(stream))
            .await
            .map_err(|e| Failure::Dial(describe(&e)))?;
        Ok(Box::new(Link { tx, conn }))
    }

    fn checkin(&self, link: Box<Link>) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < MAX_IDLE && !link.tx.is_closed() {
            idle.push((Instant::now(), link));
        }
    }
}

/// Every IDLE_FOR/2, closes the pool's connections idle for IDLE_FOR (the oldest are first in the
/// list), until the pool is gone.
async fn sweep(pool: std::sync::Weak<Pool>) {
    let mut every = tokio::time::interval(IDLE_FOR / 2);
    loop {
        every.tick().await;
        let Some(pool) = pool.upgrade() else { return };
        let mut idle = pool.idle.lock().unwrap_or_else(|p| p.into_inner());
        let stale = idle.iter().take_while(|(since, _)| since.elapsed() >= IDLE_FOR).count();
        idle.drain(..stale);
    }
}

/// An answer's body from a service, which drives its connection as it is read; the connection goes
/// back to the pool once the body has been read to the end (a body dropped before its end closes
/// its connection).
struct Returning {
    inner: hyper::body::Incoming,
    link: Option<Box<Link>>,
    pool: Arc<Pool>,
}

impl Returning {
    fn new(inner: hyper::body::Incoming, link: Box<Link>, pool: Arc<Pool>) -> Returning {
        let mut r = Returning { inner, link: Some(link), pool };
        r.done_if_ended();
        r
    }

    /// The body of an answer whose connection ended with it (already read, or to fail).
    fn ended(inner: hyper::body::Incoming, pool: Arc<Pool>) -> Returning {
        Returning { inner, link: None, pool }
    }

    fn done_if_ended(&mut self) {
        if http_body::Body::is_end_stream(&self.inner) {
            if let Some(link) = self.link.take() {
                self.pool.checkin(link);
            }
        }
    }
}

impl http_body::Body for Returning {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, hyper::Error>>> {
        // the connection first: it reads what the body gets (ended: the body ends or fails below)
        if let Some(link) = self.link.as_mut() {
            if link.drive(cx).is_ready() {
                self.link = None;
            }
        }
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(None) => {
                if let Some(link) = self.link.take() {
                    self.pool.checkin(link);
                }
            }
            Poll::Ready(Some(Ok(_))) => self.done_if_ended(),
            Poll::Ready(Some(Err(_))) => self.link = None,
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        http_body::Body::is_end_stream(&self.inner)
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::Body::size_hint(&self.inner)
    }
}

enum Failure {
    /// Could not connect: the service is down (503), never slow (504).
    Dial(String),
    /// The connection failed before an answer (safe to repeat if idempotent).
    NoAnswer(String),
    TimedOut,
    Invalid(String),
}

pub struct Upstream {
    pub name: Arc<str>,
    /// The route template of its requests in the metrics (made once per service for the process's
    /// life, so that a metric's labels are static).
    pub route: &'static str,
    at: HostPort,
    host: HeaderValue,
    timeout: Duration,
    pub breaker: Arc<Breaker>,
    pool: Arc<Pool>,
}

fn idempotent(method: &http::Method) -> bool {
    matches!(method.as_str(), "GET" | "HEAD" | "OPTIONS" | "PUT" | "DELETE")
}

/// Where a name stands in HOP_BY_HOP, if it is one of them: one switch on the name's length and at most
/// two comparisons of its text, rather than thirteen comparisons of parsed names (this runs for every
/// header of every request and answer).
fn hop_index(name: &HeaderName) -> Option<usize> {
    let s = name.as_str();
    let (i, text) = match s.len() {
        2 => (3, "te"),
        4 => (12, "host"),
        6 => (11, "expect"),
        7 if s.as_bytes()[0] == b't' => (4, "trailer"),
        7 => (6, "upgrade"),
        10 if s.as_bytes()[0] == b'c' => (0, "connection"),
        10 => (1, "keep-alive"),
        12 => (9, "x-request-id"),
        15 => (10, "x-forwarded-for"),
        16 => (2, "proxy-connection"),
        17 => (5, "transfer-encoding"),
        18 => (8, "proxy-authenticate"),
        19 => (7, "proxy-authorization"),
        _ => return None,
    };
    (s == text).then_some(i)
}

/// Every header named by a Connection header, and the hop-by-hop names above but X-Request-ID (an
/// answer's: every answer gets the front's own, whose insert in Edge::handle drops the service's, so
/// that a removal here would only cost a lookup). The names present are
/// looked at once each rather than looking each hop-by-hop name up in the map (13 hashes and probes a
/// message, twice a proxied request), and only those present are removed.
pub fn drop_hop_by_hop(h: &mut HeaderMap) {
    let mut present = [false; HOPS];
    for name in h.keys() {
        if let Some(i) = hop_index(name) {
            present[i] = true;
        }
    }
    present[9] = false; // HOP_BY_HOP[9] is X-Request-ID (replaced, not removed)
    if present[0] {
        drop_listed(h); // HOP_BY_HOP[0] is Connection
    }
    for (n, _) in HOP_BY_HOP.iter().zip(present).filter(|(_, p)| *p) {
        h.remove(n);
    }
}

fn drop_listed(h: &mut HeaderMap) {
    for n in listed_by_connection(h) {
        h.remove(n);
    }
}

/// The names a Connection header lists.
fn listed_by_connection(h: &HeaderMap) -> Vec<HeaderName> {
    h.get_all(http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect()
}

/// The client's headers that go on to the service: all but the hop-by-hop ones and those the
/// Connection header names, copied into a map with room for `more` (one allocation each for its
/// table and entries: a copy then cut, or a map that grows, would cost more).
fn end_to_end(from: &HeaderMap, more: usize) -> HeaderMap {
    let listed = if from.contains_key(http::header::CONNECTION) { listed_by_connection(from) } else { Vec::new() };
    let mut out = HeaderMap::with_capacity(from.len() + more);
    for (name, value) in from {
        if hop_index(name).is_none() && !listed.contains(name) {
            out.append(name.clone(), value.clone());
        }
    }
    out
}

/// `N` random bytes as 2N lowercase hex digits into `out` (2N bytes long).
fn random_hex<const N: usize>(out: &mut [u8]) {
    let mut raw = [0u8; N];
    fastrand::fill(&mut raw);
    hex::encode_to_slice(raw, out).expect("2N bytes");
}

/// 32 random hex digits (one allocation: this runs for every request without an id).
pub fn request_id() -> HeaderValue {
    let mut id = [0u8; 32];
    random_hex::<16>(&mut id);
    HeaderValue::from_bytes(&id).expect("hex digits")
}

/// A W3C traceparent starting a trace here: `00-<trace id>-<span id>-01`.
fn traceparent() -> HeaderValue {
    let mut t = *b"00-00000000000000000000000000000000-0000000000000000-01";
    random_hex::<16>(&mut t[3..35]);
    random_hex::<8>(&mut t[36..52]);
    HeaderValue::from_bytes(&t).expect("hex digits")
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
        let pool = Arc::new(Pool::new(&at.authority, Duration::from_secs_f64(connect_s), name, metrics.clone()));
        Upstream {
            name: name.into(),
            route: Box::leak(format!("/api/v1/{name}/*").into_boxed_str()),
            host: HeaderValue::from_str(&at.authority).expect("validated with the configuration"),
            at,
            timeout: Duration::from_secs_f64(timeout_s),
            breaker: Arc::new(Breaker::new(name, failures, Duration::from_secs_f64(cooldown_s), metrics)),
            pool,
        }
    }

    /// The client's request with the hop's own headers replaced, in origin form for the service.
    fn message(
        &self,
        parts: &http::request::Parts,
        body: &Bytes,
        rid: &HeaderValue,
        client: &HeaderValue,
    ) -> Request<Full<Bytes>> {
        let target = parts.uri.path_and_query();
        let uri = match (self.at.prefix.is_empty(), target) {
            (true, Some(t)) => Uri::from(t.clone()), // the client's target as it is, in origin form
            (_, t) => format!("{}{}", self.at.prefix, t.map_or("/", |t| t.as_str()))
                .parse()
                .unwrap_or_else(|_| Uri::from_static("/")),
        };
        let mut headers = end_to_end(&parts.headers, 4); // with room for the four below
        headers.insert(HOST, self.host.clone());
        headers.insert(X_REQUEST_ID, rid.clone());
        headers.insert(X_FORWARDED_FOR, client.clone());
        if let http::header::Entry::Vacant(e) = headers.entry(TRACEPARENT) {
            // start a trace here, so that the service and its events continue it
            e.insert(traceparent());
        }
        let mut req = Request::new(Full::new(body.clone()));
        *req.method_mut() = parts.method.clone();
        *req.uri_mut() = uri;
        *req.headers_mut() = headers;
        req
    }

    /// The exchange under the service's timeout (Err when it ran out). Not an `async fn`: one would hold
    /// the request beside the exchange's own future, which holds it too.
    fn exchange(
        &self,
        req: Request<Full<Bytes>>,
    ) -> tokio::time::Timeout<impl Future<Output = Result<http::Response<Returning>, Failure>> + Send + '_> {
        let sent = async move {
            let mut link = self.pool.checkout().await?;
            let mut answer = std::pin::pin!(link.tx.send_request(req));
            // the connection is driven here until the answer's head has come
            let mut ended = false;
            let answered = std::future::poll_fn(|cx| {
                if !ended && link.drive(cx).is_ready() {
                    ended = true; // the answer (if any) is ready below, or failed
                }
                answer.as_mut().poll(cx)
            })
            .await;
            match answered {
                Err(e) if e.is_parse() || e.is_parse_status() || e.is_parse_too_large() => {
                    Err(Failure::Invalid(describe(&e)))
                }
                Err(e) => Err(Failure::NoAnswer(describe(&e))),
                Ok(r) if r.status() == http::StatusCode::SWITCHING_PROTOCOLS => {
                    Err(Failure::Invalid("protocol upgrades are not passed on".into()))
                }
                Ok(r) if ended => Ok(r.map(|body| Returning::ended(body, self.pool.clone()))),
                Ok(r) => Ok(r.map(|body| Returning::new(body, link, self.pool.clone()))),
            }
        };
        tokio::time::timeout(self.timeout, sent)
    }

    /// Sends the request on (twice at most, and twice only when idempotent and unanswered) and
    /// streams the answer back; a service that cannot answer gets 503 or 504 problem+json.
    pub async fn forward(
        &self,
        parts: http::request::Parts,
        body: Bytes,
        rid: &HeaderValue,
        client: &HeaderValue,
    ) -> Resp {
        let wait = self.breaker.wait();
        if !wait.is_zero() {
            let detail =
                format!("the {} service is failing; the gateway stops sending it requests for a moment", self.name);
            let mut r = problem(503, "unavailable", "Service unavailable", &detail, &[]);
            let secs = (wait.as_secs_f64().ceil() as u64).max(1);
            r.headers_mut().insert(RETRY_AFTER, HeaderValue::from(secs));
            return r;
        }
        // sent twice at most, and twice only when idempotent and unanswered
        let timed_out = |_| Err(Failure::TimedOut);
        let mut outcome = self.exchange(self.message(&parts, &body, rid, client)).await.unwrap_or_else(timed_out);
        if idempotent(&parts.method) && matches!(outcome, Err(Failure::NoAnswer(_)) | Err(Failure::Dial(_))) {
            outcome = self.exchange(self.message(&parts, &body, rid, client)).await.unwrap_or_else(timed_out);
        }
        let resp = match outcome {
            Ok(r) => r,
            Err(f) => {
                self.breaker.failure();
                let why = match &f {
                    Failure::Dial(e) | Failure::NoAnswer(e) | Failure::Invalid(e) => e.clone(),
                    Failure::TimedOut => "timed out".into(),
                };
                let rid = rid.to_str().unwrap_or("-");
                log::log(WARN, "upstream failed", &[("upstream", &self.name), ("request_id", rid), ("error", &why)]);
                let detail = match f {
                    Failure::TimedOut => {
                        let detail = format!("the {} service did not answer in time", self.name);
                        return problem(504, "upstream-timeout", "Gateway timeout", &detail, &[]);
                    }
                    Failure::Dial(_) => {
                        format!(
                            "the {} service is not answering: connection refused or not accepted in time",
                            self.name
                        )
                    }
                    Failure::NoAnswer(_) | Failure::Invalid(_) => {
                        format!("the {} service is not answering: the connection closed before an answer", self.name)
                    }
                };
                return problem(503, "unavailable", "Service unavailable", &detail, &[]);
            }
        };
        if resp.status().is_server_error() {
            self.breaker.failure();
        } else {
            self.breaker.success();
        }
        let (mut parts, inner) = resp.into_parts();
        drop_hop_by_hop(&mut parts.headers);
        // room for what the rules add on the way out (security headers, CSP, request id) at once
        parts.headers.reserve(ADDED_ON_ANSWERS);
        let body = FromService { inner, breaker: self.breaker.clone(), name: self.name.clone(), rid: rid.clone() };
        http::Response::from_parts(parts, Body::Service(body))
    }
}

/// A service's answer body as the client gets it: a service that breaks it off counts as a failure
/// of the service, and is logged.
pub struct FromService {
    inner: Returning,
    breaker: Arc<Breaker>,
    name: Arc<str>,
    rid: HeaderValue,
}

impl http_body::Body for FromService {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, BoxError>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match polled {
            Poll::Ready(Some(Err(e))) => {
                self.breaker.failure();
                let why = e.to_string();
                let rid = self.rid.to_str().unwrap_or("-");
                log::log(
                    WARN,
                    "upstream broke off its answer",
                    &[("upstream", &self.name), ("request_id", rid), ("error", &why)],
                );
                Poll::Ready(Some(Err(Box::new(e))))
            }
            Poll::Ready(Some(Ok(frame))) => Poll::Ready(Some(Ok(frame))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        http_body::Body::is_end_stream(&self.inner)
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::Body::size_hint(&self.inner)
    }
}

fn describe(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    const RID: HeaderValue = HeaderValue::from_static("rid");
    const CLIENT: HeaderValue = HeaderValue::from_static("127.0.0.1");

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

    #[tokio::test]
    async fn an_open_circuit_answers_503_with_retry_after_the_cooldown_left_and_sends_nothing() {
        let metrics = Arc::new(Metrics::default());
        let at = HostPort::parse("http://127.0.0.1:9").unwrap();
        let up = Upstream::new("facilities", at, 1.0, 0.1, 1, 30.0, metrics.clone());
        up.breaker.failure(); // on the real clock: open for 30 s from now
        let (parts, _) = Request::get("/api/v1/facilities/sites").body(()).unwrap().into_parts();
        let r = up.forward(parts, Bytes::new(), &RID, &CLIENT).await;
        assert_eq!(r.status(), 503);
        assert_eq!(r.headers()["retry-after"], "30", "30 s less a few microseconds, rounded up");
        let text = metrics.render();
        assert!(!text.contains("gateway_upstream_connections_total{service=\"facilities\"}"), "dialled: {text}");
        assert!(text.contains("gateway_upstream_circuit_open{service=\"facilities\"} 1\n"), "{text}");
    }

    /// A service on a free port answering every request with `size` bytes; its address.
    async fn service(size: usize) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let at = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let svc = hyper::service::service_fn(move |_req: Request<hyper::body::Incoming>| async move {
                    Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(Bytes::from(vec![b'x'; size]))))
                });
                tokio::spawn(hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), svc));
            }
        });
        at
    }

    fn dials(metrics: &Metrics) -> String {
        let text = metrics.render();
        let line = text.lines().find(|l| l.starts_with("gateway_upstream_connections_total{service=\"s\"}"));
        line.map_or("none".into(), |l| l.rsplit(' ').next().unwrap().to_string())
    }

    #[tokio::test]
    async fn a_connection_is_reused_once_its_answer_was_read_to_the_end_and_never_before() {
        let metrics = Arc::new(Metrics::default());
        let at = HostPort::parse(&service(1 << 20).await).unwrap();
        let up = Upstream::new("s", at, 5.0, 1.0, 5, 30.0, metrics.clone());
        let get = || Request::get("/api/v1/s/x").body(()).unwrap().into_parts().0;
        for _ in 0..3 {
            let r = up.forward(get(), Bytes::new(), &RID, &CLIENT).await;
            assert_eq!(r.into_body().collect().await.unwrap().to_bytes().len(), 1 << 20);
        }
        assert_eq!(dials(&metrics), "1", "three answers read to the end: one connection");
        // an answer dropped after its first piece of 1 MiB: its connection is not reused
        let mut r = up.forward(get(), Bytes::new(), &RID, &CLIENT).await.into_body();
        assert!(r.frame().await.unwrap().unwrap().is_data());
        drop(r);
        let r = up.forward(get(), Bytes::new(), &RID, &CLIENT).await;
        assert_eq!(r.into_body().collect().await.unwrap().to_bytes().len(), 1 << 20);
        assert_eq!(dials(&metrics), "2", "the connection of an answer dropped half-read was used again");
    }

    #[test]
    fn each_hop_by_hop_name_is_found_at_its_place_and_no_other_name_is() {
        for (i, name) in HOP_BY_HOP.iter().enumerate() {
            assert_eq!(hop_index(name), Some(i), "{name}");
        }
        // names of the same lengths and first letters, and everyday names
        let others = "tk date hosts server expert trailers tracing upgrades connectio keep-alive2 content-type \
            x-request-ix x-forwarded-fox proxy-connectionx transfer-encodinx proxy-authenticatf proxy-authorizatioo \
            content-length etag authorization vary";
        for text in others.split_whitespace() {
            assert_eq!(hop_index(&HeaderName::from_static(text)), None, "{text}");
        }
    }

    #[test]
    fn hop_by_hop_headers_and_those_connection_names_are_dropped() {
        let mut h = HeaderMap::new();
        for (k, v) in [
            ("vary", "Accept"),
            ("connection", "close, X-Secret"),
            ("x-secret", "1"),
            ("link", "a"),
            ("link", "b"),
            ("x-request-id", "theirs"),
            ("transfer-encoding", "chunked"),
            ("content-length", "2"),
        ] {
            h.append(k, HeaderValue::from_static(v));
        }
        let copied = end_to_end(&h, 4);
        drop_hop_by_hop(&mut h);
        let mut kept: Vec<String> = h.iter().map(|(k, v)| format!("{k}={}", v.to_str().unwrap())).collect();
        kept.sort();
        // an answer's X-Request-ID stays, for Edge::handle to replace (edge::tests: a service's own id)
        assert_eq!(kept, ["content-length=2", "link=a", "link=b", "vary=Accept", "x-request-id=theirs"]);
        // the service's copy of a client's headers: the same ones, in the same order
        let copied: Vec<String> = copied.iter().map(|(k, v)| format!("{k}={}", v.to_str().unwrap())).collect();
        assert_eq!(copied, ["vary=Accept", "link=a", "link=b", "content-length=2"]);
    }
}
