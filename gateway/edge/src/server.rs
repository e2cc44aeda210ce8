//! Client connections: accepted by tokio, served by hyper (HTTP/1.1, and HTTP/2 without TLS, h2c,
//! through hyper-util's version-detecting builder), with caps on open connections per client
//! address and in all, and deadlines for connections that send nothing.
//!
//! Caps: a client address holding `per_address` connections gets 503 (problem+json, Retry-After) on
//! the next one, which then closes; the whole front holds at most `total` (10,000, or fewer when the
//! process may open fewer files: its RLIMIT_NOFILE less a reserve for service connections). At the
//! total cap the connection idle the longest is closed to make room; if none is idle, 503.
//! Deadlines, one per connection (not a timer per request): an HTTP/1 connection must send each
//! request's whole head within HEAD_TIMEOUT of opening or of its previous answer (as hyper's
//! header-read timeout did: armed whenever hyper waited for a head, it was also the keep-alive idle
//! limit); an HTTP/2 connection must open its first stream within HEAD_TIMEOUT and may then stay idle
//! IDLE_TIMEOUT between streams.

use crate::edge::Edge;
use crate::log::{self, INFO, WARN};
use crate::reply::{problem, Body, Resp};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use std::collections::HashMap;
use std::convert::Infallible;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};
// tokio's clock (the system's, except in tests that pause it): the deadlines are tested on it
use tokio::time::Instant;

pub const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(75);
pub const MAX_CONNECTIONS: usize = 10_000;
/// Descriptors kept for everything but client connections: service pools, Redis, the listener, logs.
const RESERVE: usize = 96;
const GRACE: Duration = Duration::from_secs(5);

/// One open client connection: requests in progress, when it last finished one, how to close it.
struct Conn {
    address: IpAddr,
    busy: AtomicUsize,
    /// It speaks HTTP/2 (a stream has begun on it).
    h2: AtomicBool,
    last: Mutex<Instant>,
    /// Told to close: at once to make room for another, or gracefully when the front stops.
    kill: Notify,
    stopping: AtomicBool,
}

impl Conn {
    fn begin(&self, h2: bool) {
        if h2 {
            self.h2.store(true, Ordering::Relaxed);
        }
        self.busy.fetch_add(1, Ordering::SeqCst);
    }

    fn end(&self) {
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
        self.busy.fetch_sub(1, Ordering::SeqCst);
    }

    fn idle_since(&self) -> Option<Instant> {
        (self.busy.load(Ordering::SeqCst) == 0).then(|| *self.last.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// When an idle connection is closed: HEAD_TIMEOUT after opening or after the last answer, or
    /// IDLE_TIMEOUT after the last answer on HTTP/2. None while a request is in progress.
    fn deadline(&self) -> Option<Instant> {
        let since = self.idle_since()?;
        Some(since + if self.h2.load(Ordering::Relaxed) { IDLE_TIMEOUT } else { HEAD_TIMEOUT })
    }
}

/// The open connections by id, and how many each address holds.
type Table = (HashMap<u64, Arc<Conn>>, HashMap<IpAddr, usize>);

pub struct Conns {
    open: Mutex<Table>,
    next: AtomicU64,
    pub total: usize,
    pub per_address: usize,
}

enum Admit {
    Yes(u64, Arc<Conn>),
    No(&'static str),
}

impl Conns {
    pub fn new(total: usize, per_address: usize) -> Conns {
        Conns { open: Mutex::default(), next: AtomicU64::new(0), total, per_address }
    }

    fn admit(&self, address: IpAddr) -> Admit {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if open.1.get(&address).copied().unwrap_or(0) >= self.per_address {
            return Admit::No("this address has as many connections open as one client may");
        }
        if open.0.len() >= self.total {
            // make room: close the connection idle the longest (its deadline is the earliest)
            let oldest = open.0.values().filter_map(|c| c.idle_since().map(|t| (t, c.clone()))).min_by_key(|p| p.0);
            match oldest {
                Some((_, c)) => c.kill.notify_one(),
                None => return Admit::No("this gateway is at its connection limit"),
            }
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let conn = Arc::new(Conn {
            address,
            busy: AtomicUsize::new(0),
            h2: AtomicBool::new(false),
            last: Mutex::new(Instant::now()),
            kill: Notify::new(),
            stopping: AtomicBool::new(false),
        });
        open.0.insert(id, conn.clone());
        *open.1.entry(address).or_default() += 1;
        Admit::Yes(id, conn)
    }

    fn leave(&self, id: u64) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = open.0.remove(&id) {
            if let Some(n) = open.1.get_mut(&c.address) {
                *n -= 1;
                if *n == 0 {
                    open.1.remove(&c.address);
                }
            }
        }
    }

    /// Tells every open connection to finish what it is doing and close.
    fn stop_all(&self) {
        for c in self.open.lock().unwrap_or_else(|p| p.into_inner()).0.values() {
            c.stopping.store(true, Ordering::SeqCst);
            c.kill.notify_one();
        }
    }

    pub fn count(&self) -> usize {
        self.open.lock().unwrap_or_else(|p| p.into_inner()).0.len()
    }
}

/// A connection's place in `Conns`, given back when its task ends, also by a panic: tokio catches a
/// task's panic and the front goes on, so the address's count must not keep a dead connection.
struct Place(Arc<Conns>, u64);

impl Drop for Place {
    fn drop(&mut self) {
        self.0.leave(self.1);
    }
}

/// The total cap: 10,000, or what RLIMIT_NOFILE leaves after the reserve (at least 16).
pub fn total_cap() -> usize {
    let soft = rlimit::Resource::NOFILE.get_soft().unwrap_or(u64::MAX);
    let room = usize::try_from(soft).unwrap_or(usize::MAX).saturating_sub(RESERVE).max(16);
    room.min(MAX_CONNECTIONS)
}

pub fn builder() -> auto::Builder<TokioExecutor> {
    let mut b = auto::Builder::new(TokioExecutor::new());
    // no header-read timer (hyper's arms one per request): `connection` holds one deadline a connection
    // one flat buffer an answer (head and body copied together: one plain write, no vector of parts)
    b.http1().header_read_timeout(None).writev(false).max_buf_size(crate::edge::MAX_HEAD + 1024).keep_alive(true);
    b.http2().timer(TokioTimer::new()).max_concurrent_streams(100);
    b
}

/// Accepts until `stop` changes, then lets busy connections finish (GRACE at most).
pub async fn serve(listener: TcpListener, edge: Arc<Edge>, conns: Arc<Conns>, mut stop: watch::Receiver<bool>) {
    let builder = Arc::new(builder());
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    log::log(WARN, "accept failed", &[("error", &e.to_string())]);
                    tokio::time::sleep(Duration::from_millis(10)).await; // out of descriptors: let some close
                    continue;
                }
            },
            _ = stop.changed() => break,
        };
        let _ = stream.set_nodelay(true);
        let address = peer.ip().to_canonical();
        match conns.admit(address) {
            Admit::Yes(id, conn) => {
                let (edge, conns, builder) = (edge.clone(), conns.clone(), builder.clone());
                tokio::spawn(async move {
                    let _place = Place(conns, id); // given back however the task ends
                    connection(stream, address, &edge, &conn, &builder).await;
                });
            }
            Admit::No(why) => {
                edge.metrics.refused();
                tokio::spawn(refuse(stream, why, builder.clone()));
            }
        }
    }
    conns.stop_all();
    let until = Instant::now() + GRACE;
    while conns.count() > 0 && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Answers one request on a connection over a cap with 503 and closes it (2 s at most).
async fn refuse(stream: TcpStream, why: &'static str, builder: Arc<auto::Builder<TokioExecutor>>) {
    let svc = hyper::service::service_fn(move |_req: http::Request<Incoming>| async move {
        let mut r: Resp = problem(503, "unavailable", "Service unavailable", why, &[]);
        r.headers_mut().insert(http::header::CONNECTION, http::HeaderValue::from_static("close"));
        Ok::<_, Infallible>(r)
    });
    let conn = builder.serve_connection(TokioIo::new(stream), svc);
    let _ = tokio::time::timeout(Duration::from_secs(2), conn).await;
}

async fn connection<I>(
    stream: I,
    address: IpAddr,
    edge: &Arc<Edge>,
    conn: &Arc<Conn>,
    builder: &auto::Builder<TokioExecutor>,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let client = http::HeaderValue::from_str(&address.to_string()).expect("an IP address is a header value");
    let (e, c) = (edge.clone(), conn.clone());
    let svc = hyper::service::service_fn(move |req: http::Request<Incoming>| {
        let (edge, conn, client) = (e.clone(), c.clone(), client.clone());
        async move {
            conn.begin(req.version() == http::Version::HTTP_2);
            let resp = edge.handle(req, client).await;
            // the request is over when its answer has been sent (or dropped)
            let done = Finished(conn);
            Ok::<_, Infallible>(resp.map(move |inner| Tracked { inner, _done: done }))
        }
    });
    let served = builder.serve_connection(TokioIo::new(stream), svc);
    tokio::pin!(served);
    loop {
        let deadline = conn.deadline();
        let wait = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => tokio::time::sleep(Duration::from_secs(1)).await,
            }
        };
        // polled in this order at every wake-up (the connection's work first; one signal to close, for
        // both reasons, rather than two)
        tokio::select! {
            biased;
            _ = served.as_mut() => return,
            _ = conn.kill.notified() => {
                if conn.stopping.load(Ordering::SeqCst) {
                    served.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(GRACE, served.as_mut()).await;
                }
                return; // else closed to make room for another
            }
            _ = wait => {
                if conn.deadline().is_some_and(|d| d <= Instant::now()) {
                    log::log(crate::log::DEBUG, "idle connection closed", &[("client", &address.to_string())]);
                    return;
                }
            }
        }
    }
}

/// An answer's body that ends its request when dropped (its size is the inner body's: a known
/// length is sent as Content-Length).
struct Tracked {
    inner: Body,
    _done: Finished,
}

impl hyper::body::Body for Tracked {
    type Data = bytes::Bytes;
    type Error = crate::reply::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// Ends a request when dropped (with its answer's body).
struct Finished(Arc<Conn>);

impl Drop for Finished {
    fn drop(&mut self) {
        self.0.end();
    }
}

pub fn log_listening(address: &str, services: usize, conns: &Conns) {
    log::log(
        INFO,
        "listening",
        &[
            ("address", address),
            ("services", &services.to_string()),
            ("max_connections", &conns.total.to_string()),
            ("max_connections_per_address", &conns.per_address.to_string()),
        ],
    );
}

/// Serves one connection over any byte stream, as `serve` does a client's (for `harness`).
pub async fn serve_one<I>(io: I, edge: Arc<Edge>)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let conns = Conns::new(16, 16);
    let address: IpAddr = "127.0.0.9".parse().expect("an address");
    let Admit::Yes(_, conn) = conns.admit(address) else { unreachable!("an empty table admits") };
    connection(io, address, &edge, &conn, &builder()).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[tokio::test]
    async fn a_connection_task_that_panics_gives_its_place_back() {
        let conns = Arc::new(Conns::new(100, 1));
        let Admit::Yes(id, _) = conns.admit(ip("10.0.0.1")) else { panic!("an empty table refused") };
        let held = conns.clone();
        let task = tokio::spawn(async move {
            let _place = Place(held, id);
            panic!("a bug in a connection");
        });
        assert!(task.await.unwrap_err().is_panic());
        assert_eq!(conns.count(), 0);
        assert!(matches!(conns.admit(ip("10.0.0.1")), Admit::Yes(..)), "the address's one place is still taken");
    }

    #[test]
    fn an_address_at_its_cap_is_refused_and_others_are_not() {
        let conns = Conns::new(100, 2);
        assert!(matches!(conns.admit(ip("10.0.0.1")), Admit::Yes(..)));
        let Admit::Yes(second, _) = conns.admit(ip("10.0.0.1")) else { panic!("the 2nd of 2 refused") };
        assert!(matches!(conns.admit(ip("10.0.0.1")), Admit::No(_)), "the 3rd of 2 admitted");
        assert!(matches!(conns.admit(ip("10.0.0.2")), Admit::Yes(..)), "another address refused");
        conns.leave(second);
        assert!(matches!(conns.admit(ip("10.0.0.1")), Admit::Yes(..)), "a closed one did not free its place");
    }

    #[test]
    fn at_the_total_cap_the_longest_idle_connection_makes_room_and_busy_ones_never_do() {
        let conns = Conns::new(2, 10);
        let Admit::Yes(_, a) = conns.admit(ip("10.0.0.1")) else { panic!() };
        let Admit::Yes(_, b) = conns.admit(ip("10.0.0.2")) else { panic!() };
        a.begin(false);
        b.begin(false);
        assert!(matches!(conns.admit(ip("10.0.0.3")), Admit::No(_)), "admitted with every connection busy");
        b.end(); // b is idle now: it makes room
        let kill = b.kill.notified();
        assert!(matches!(conns.admit(ip("10.0.0.3")), Admit::Yes(..)));
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        rt.block_on(async { tokio::time::timeout(Duration::from_secs(1), kill).await })
            .expect("b was not told to close");
    }

    /// Reads from `client` until the answer to GET /healthz has come whole.
    async fn healthz_answer(client: &mut tokio::io::DuplexStream) {
        use tokio::io::AsyncReadExt;
        let mut got = Vec::new();
        while !got.ends_with(b"{\"status\":\"ok\"}") {
            let mut buf = [0u8; 1024];
            let n = client.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed before the answer: {:?}", String::from_utf8_lossy(&got));
            got.extend_from_slice(&buf[..n]);
        }
        assert!(got.starts_with(b"HTTP/1.1 200 OK\r\n"), "{:?}", String::from_utf8_lossy(&got));
    }

    const HEALTHZ: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n";
    const JUST: Duration = Duration::from_millis(100);

    #[tokio::test(start_paused = true)]
    async fn an_http1_connection_sends_each_head_within_the_head_timeout_of_its_last_answer() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let edge =
            Arc::new(Edge::new(&crate::config::Config::from_json(&crate::config::tests::valid()).unwrap()).unwrap());
        // a whole head just inside the deadline after an answer is served, and restarts it
        let (mut client, server) = tokio::io::duplex(1 << 16);
        tokio::spawn(serve_one(server, edge.clone()));
        for _ in 0..3 {
            client.write_all(HEALTHZ).await.unwrap();
            healthz_answer(&mut client).await;
            tokio::time::sleep(HEAD_TIMEOUT - JUST).await;
        }
        // a head begun after an answer and not finished: open just inside the deadline, closed (with
        // no answer) just outside it
        let (mut client, server) = tokio::io::duplex(1 << 16);
        tokio::spawn(serve_one(server, edge));
        client.write_all(HEALTHZ).await.unwrap();
        healthz_answer(&mut client).await;
        client.write_all(b"GET /healthz HTTP/1.1\r\nHost: a\r\n").await.unwrap();
        let mut buf = [0u8; 64];
        let inside = tokio::time::timeout(HEAD_TIMEOUT - JUST, client.read(&mut buf)).await;
        assert!(inside.is_err(), "closed or answered before HEAD_TIMEOUT: {inside:?}");
        let outside = tokio::time::timeout(2 * JUST, client.read(&mut buf)).await;
        assert_eq!(outside.expect("still open just after HEAD_TIMEOUT").unwrap(), 0, "not closed");
    }

    #[test]
    fn an_idle_connection_has_a_deadline_and_a_busy_one_none() {
        let conns = Conns::new(10, 10);
        for h2 in [false, true] {
            let Admit::Yes(_, c) = conns.admit(ip("10.0.0.1")) else { panic!() };
            let opened = c.idle_since().unwrap();
            assert_eq!(c.deadline(), Some(opened + HEAD_TIMEOUT), "a new connection must begin within HEAD_TIMEOUT");
            c.begin(h2);
            assert_eq!(c.deadline(), None);
            c.end();
            let last = c.idle_since().unwrap();
            // HTTP/1: the next head within 10 s of the last answer; HTTP/2: idle 75 s between streams
            let after = Duration::from_secs(if h2 { 75 } else { 10 });
            assert_eq!(c.deadline(), Some(last + after), "h2: {h2}");
        }
    }
}
