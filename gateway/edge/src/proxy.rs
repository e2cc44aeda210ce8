//! One service behind the front: a pooled hyper client (keep-alive connections, counted as they are
//! dialled), its timeout, one retry for idempotent requests that got no answer, and a circuit breaker.

use crate::config::HostPort;
use crate::log::{self, INFO, WARN};
use crate::metrics::Metrics;
use crate::reply::{problem, Body, BoxError, Resp};
use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue, HOST, RETRY_AFTER};
use http::{Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// Headers that belong to one hop, or that the front sets itself (besides those the Connection
/// header names).
const HOP_BY_HOP: [&str; 13] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "proxy-authorization",
    "proxy-authenticate",
    "x-request-id",
    "x-forwarded-for",
    "expect",
    "host",
];
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

/// The connector of one service's pool: hyper-util's, counting each connection it opens.
#[derive(Clone)]
pub struct Counted {
    inner: HttpConnector,
    name: Arc<str>,
    metrics: Arc<Metrics>,
}

impl tower::Service<Uri> for Counted {
    type Response = <HttpConnector as tower::Service<Uri>>::Response;
    type Error = <HttpConnector as tower::Service<Uri>>::Error;
    type Future = <HttpConnector as tower::Service<Uri>>::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        self.metrics.dialled(&self.name);
        self.inner.call(dst)
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
    pub name: String,
    /// The route template of its requests in the metrics.
    pub route: String,
    at: HostPort,
    host: HeaderValue,
    timeout: Duration,
    pub breaker: Arc<Breaker>,
    client: Client<Counted, Full<Bytes>>,
}

fn idempotent(method: &http::Method) -> bool {
    matches!(method.as_str(), "GET" | "HEAD" | "OPTIONS" | "PUT" | "DELETE")
}

/// Every header named by a Connection header, and the hop-by-hop names above.
pub fn drop_hop_by_hop(h: &mut HeaderMap) {
    let listed: Vec<HeaderName> = h
        .get_all(http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for n in listed {
        h.remove(n);
    }
    for n in HOP_BY_HOP {
        h.remove(n);
    }
}

fn random_hex(bytes: usize) -> String {
    (0..bytes).map(|_| format!("{:02x}", fastrand::u8(..))).collect()
}

pub fn request_id() -> String {
    random_hex(16)
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
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        http.set_connect_timeout(Some(Duration::from_secs_f64(connect_s)));
        let connector = Counted { inner: http, name: name.into(), metrics: metrics.clone() };
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(IDLE_FOR)
            .pool_max_idle_per_host(MAX_IDLE)
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .build(connector);
        Upstream {
            name: name.to_string(),
            route: format!("/api/v1/{name}/*"),
            host: HeaderValue::from_str(&at.authority).expect("validated with the configuration"),
            at,
            timeout: Duration::from_secs_f64(timeout_s),
            breaker: Arc::new(Breaker::new(name, failures, Duration::from_secs_f64(cooldown_s), metrics)),
            client,
        }
    }

    /// The client's request with the hop's own headers replaced, to the service's address.
    fn message(&self, parts: &http::request::Parts, body: &Bytes, rid: &str, client: &str) -> Request<Full<Bytes>> {
        let target = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        let uri = format!("http://{}{}{}", self.at.authority, self.at.prefix, target);
        let mut headers = parts.headers.clone();
        drop_hop_by_hop(&mut headers);
        headers.insert(HOST, self.host.clone());
        let value = |s: &str| HeaderValue::from_str(s).unwrap_or(HeaderValue::from_static("-"));
        headers.insert("x-request-id", value(rid));
        headers.insert("x-forwarded-for", value(client));
        if !headers.contains_key("traceparent") {
            // start a trace here, so that the service and its events continue it
            headers.insert("traceparent", value(&format!("00-{}-{}-01", random_hex(16), random_hex(8))));
        }
        let mut req = Request::new(Full::new(body.clone()));
        *req.method_mut() = parts.method.clone();
        *req.uri_mut() = uri.parse().unwrap_or_else(|_| Uri::from_static("/"));
        *req.headers_mut() = headers;
        req
    }

    async fn exchange(&self, req: Request<Full<Bytes>>) -> Result<http::Response<hyper::body::Incoming>, Failure> {
        match tokio::time::timeout(self.timeout, self.client.request(req)).await {
            Err(_) => Err(Failure::TimedOut),
            Ok(Err(e)) if e.is_connect() => Err(Failure::Dial(describe(&e))),
            Ok(Err(e)) => {
                let parse = std::error::Error::source(&e)
                    .and_then(|s| s.downcast_ref::<hyper::Error>())
                    .is_some_and(|h| h.is_parse() || h.is_parse_status() || h.is_parse_too_large());
                Err(if parse { Failure::Invalid(describe(&e)) } else { Failure::NoAnswer(describe(&e)) })
            }
            Ok(Ok(r)) if r.status() == http::StatusCode::SWITCHING_PROTOCOLS => {
                Err(Failure::Invalid("protocol upgrades are not passed on".into()))
            }
            Ok(Ok(r)) => Ok(r),
        }
    }

    /// Sends the request on (twice at most, and twice only when idempotent and unanswered) and
    /// streams the answer back; a service that cannot answer gets 503 or 504 problem+json.
    pub async fn forward(&self, parts: http::request::Parts, body: Bytes, rid: &str, client: &str) -> Resp {
        let wait = self.breaker.wait();
        if !wait.is_zero() {
            let detail =
                format!("the {} service is failing; the gateway stops sending it requests for a moment", self.name);
            let mut r = problem(503, "unavailable", "Service unavailable", &detail, &[]);
            let secs = (wait.as_secs_f64().ceil() as u64).max(1);
            r.headers_mut().insert(RETRY_AFTER, HeaderValue::from(secs));
            return r;
        }
        let attempts = if idempotent(&parts.method) { 2 } else { 1 };
        let mut outcome = self.exchange(self.message(&parts, &body, rid, client)).await;
        for _ in 1..attempts {
            match outcome {
                Err(Failure::NoAnswer(_)) | Err(Failure::Dial(_)) => {
                    outcome = self.exchange(self.message(&parts, &body, rid, client)).await
                }
                _ => break,
            }
        }
        let resp = match outcome {
            Ok(r) => r,
            Err(f) => {
                self.breaker.failure();
                let why = match &f {
                    Failure::Dial(e) | Failure::NoAnswer(e) | Failure::Invalid(e) => e.clone(),
                    Failure::TimedOut => "timed out".into(),
                };
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
        let (mut parts, incoming) = resp.into_parts();
        drop_hop_by_hop(&mut parts.headers);
        let (breaker, name, rid) = (self.breaker.clone(), self.name.clone(), rid.to_string());
        let body: Body = incoming
            .map_err(move |e| -> BoxError {
                breaker.failure();
                let why = e.to_string();
                log::log(
                    WARN,
                    "upstream broke off its answer",
                    &[("upstream", &name), ("request_id", &rid), ("error", &why)],
                );
                Box::new(e)
            })
            .boxed();
        http::Response::from_parts(parts, body)
    }
}

fn describe(e: &hyper_util::client::legacy::Error) -> String {
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
        let r = up.forward(parts, Bytes::new(), "rid", "127.0.0.1").await;
        assert_eq!(r.status(), 503);
        assert_eq!(r.headers()["retry-after"], "30", "30 s less a few microseconds, rounded up");
        let text = metrics.render();
        assert!(!text.contains("gateway_upstream_connections_total{service=\"facilities\"}"), "dialled: {text}");
        assert!(text.contains("gateway_upstream_circuit_open{service=\"facilities\"} 1\n"), "{text}");
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
        drop_hop_by_hop(&mut h);
        let kept: Vec<String> = h.iter().map(|(k, v)| format!("{k}={}", v.to_str().unwrap())).collect();
        assert_eq!(kept, ["vary=Accept", "link=a", "link=b", "content-length=2"]);
    }
}
