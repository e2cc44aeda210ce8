//! The edge rules, in the Python gateway's order (gateway/limits.py, clustergrowth/web.py), each one
//! a layer around the rules after it: the request id and metrics outermost, then what hyper leaves to
//! us of HTTP/1.1's framing rules, security headers, CORS, quotas, the local answers, the body cap,
//! and the service. The chain is static (each layer generic over the next, one future for the whole
//! request, no boxed future or dynamic call per rule); the rules a configuration leaves out (CORS
//! without origins, quotas when off) pass requests straight on. A rule's future is the next rule's,
//! pinned where it lies (pin-project-lite), with what the rule does to the answer, or an answer of its
//! own: no rule holds the request while the rules after it run (an `async fn` rule would keep its
//! argument beside the next rule's future, so the request's future grew by a request a rule, and
//! was copied whole with every move). Rare paths (quotas on, a request with a body) are boxed.

use crate::config::{Config, HostPort};
use crate::metrics::{method_label, Metrics, CONTENT_TYPE as METRICS_TYPE};
use crate::proxy::{request_id, Upstream, X_REQUEST_ID};
use crate::quotas::Quotas;
use crate::reply::{closing, local, problem, BoxError, Resp};
use bytes::Bytes;
use http::header::{
    self, HeaderMap, HeaderName, HeaderValue, CONTENT_LENGTH, HOST, RETRY_AFTER, TRANSFER_ENCODING, VARY,
};
use http::{Method, Request, Version};
use http_body_util::BodyExt;
use std::collections::{BTreeMap, HashSet};
use std::future::{ready, Future, Ready};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

const EXEMPT: [&str; 3] = ["/healthz", "/readyz", "/metrics"];
const CORS_METHODS: &str = "GET, POST, PUT, PATCH, DELETE";
const CORS_HEADERS: &str = "Authorization, Content-Type, If-Match, X-Request-ID, traceparent";
const CORS_EXPOSED: &str = "ETag, Link, Retry-After, RateLimit, RateLimit-Policy, X-Request-ID";
/// (Parsed names and values: as text they would be parsed again for every answer.)
const SECURITY_HEADERS: [(HeaderName, HeaderValue); 5] = [
    (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
    (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
    (header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
    (header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=31536000; includeSubDomains")),
    (HeaderName::from_static("cross-origin-resource-policy"), HeaderValue::from_static("same-site")),
];
const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'";
const API_CSP_VALUE: HeaderValue = HeaderValue::from_static(API_CSP);
const BODY_TIMEOUT: Duration = Duration::from_secs(30);
pub const MAX_HEAD: usize = 64 << 10;
/// After a 413, at most this much more of the body is read (and dropped), for at most LINGER.
const DISCARD_LIMIT: u64 = 1 << 20;
const LINGER: Duration = Duration::from_millis(500);

/// A request's body as the rules get it: hyper's (a client's), or any other (tests).
pub trait ReqBody: http_body::Body<Data = Bytes, Error: Into<BoxError>> + Send + Unpin + 'static {}
impl<B: http_body::Body<Data = Bytes, Error: Into<BoxError>> + Send + Unpin + 'static> ReqBody for B {}

/// What every rule knows of the request besides the request itself.
/// Both are header values already (made once per connection and per request), as the service gets them.
pub struct Ctx {
    pub client: HeaderValue,
    pub rid: HeaderValue,
}

impl Ctx {
    /// The client's address as text (made from an IP address: always visible ASCII).
    pub fn client(&self) -> &str {
        self.client.to_str().unwrap_or("-")
    }
}

/// The route template an answer is counted under, when the rule that made it knows better.
#[derive(Clone)]
struct Route(&'static str);

/// One edge rule and the rules after it: it answers itself, or passes the request on to the next
/// layer and may change the answer.
pub trait Layer: Send + Sync {
    fn call<'a, B: ReqBody>(&'a self, req: Request<B>, cx: &'a Ctx) -> impl Future<Output = Resp> + Send + 'a;
}

pin_project_lite::pin_project! {
    /// One of two answering futures, pinned where it lies.
    #[project = EitherProj]
    enum Either<L, R> {
        Left { #[pin] f: L },
        Right { #[pin] f: R },
    }
}

impl<L: Future<Output = Resp>, R: Future<Output = Resp>> Future for Either<L, R> {
    type Output = Resp;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Resp> {
        match self.project() {
            EitherProj::Left { f } => f.poll(cx),
            EitherProj::Right { f } => f.poll(cx),
        }
    }
}

/// An answer made here, as an answering future.
fn answered<R>(r: Resp) -> Either<Ready<Resp>, R> {
    Either::Left { f: ready(r) }
}

/// A boxed answering future (for the rare paths).
type Boxed<'a> = Pin<Box<dyn Future<Output = Resp> + Send + 'a>>;

pin_project_lite::pin_project! {
    /// The next rules' future, and what this rule does to their answer when it is ready.
    struct Then<F, M> {
        #[pin]
        inner: F,
        after: Option<M>,
    }
}

fn then<F, M: FnOnce(&mut Resp)>(inner: F, after: M) -> Then<F, M> {
    Then { inner, after: Some(after) }
}

impl<F: Future<Output = Resp>, M: FnOnce(&mut Resp)> Future for Then<F, M> {
    type Output = Resp;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Resp> {
        let this = self.project();
        let mut resp = std::task::ready!(this.inner.poll(cx));
        if let Some(after) = this.after.take() {
            after(&mut resp);
        }
        Poll::Ready(resp)
    }
}

/// The rules in their order; the body cap hands the whole body to the router.
type Chain = Framing<SecurityHeaders<Cors<Limits<Local<BodyCap>>>>>;

pub struct Edge {
    chain: Chain,
    router: Arc<Router>,
    pub metrics: Arc<Metrics>,
}

fn valid_request_id(s: &[u8]) -> bool {
    !s.is_empty() && s.len() <= 128 && s.iter().all(|c| c.is_ascii_alphanumeric() || b"._-".contains(c))
}

impl Edge {
    pub fn new(cfg: &Config) -> Result<Edge, String> {
        let metrics = Arc::new(Metrics::default());
        let upstream = |name: &str, url: &str, timeout_s: f64| {
            let at = HostPort::parse(url).expect("validated with the configuration");
            let m = metrics.clone();
            Upstream::new(name, at, timeout_s, cfg.connect_timeout_s, cfg.breaker_failures, cfg.breaker_cooldown_s, m)
        };
        let upstreams = cfg.upstreams.iter().map(|(n, u)| (n.clone(), upstream(n, &u.url, u.timeout_s))).collect();
        let describe = (!cfg.describe_url().is_empty()).then(|| upstream("describe", cfg.describe_url(), 10.0));
        let router = Arc::new(Router { upstreams, describe });
        let allowed = (!cfg.cors_origins.is_empty()).then(|| cfg.cors_origins.iter().cloned().collect());
        let quotas = if cfg.rate_limits { Some(Quotas::new(cfg)?) } else { None };
        let body_cap = BodyCap { max: cfg.max_body_bytes, router: router.clone() };
        let local = Local { metrics: metrics.clone(), next: body_cap };
        let chain = Framing(SecurityHeaders(Cors { allowed, next: Limits { quotas, next: local } }));
        Ok(Edge { chain, router, metrics })
    }

    /// Answers one request and counts it in the RED metrics.
    pub async fn handle<B: ReqBody>(&self, req: Request<B>, client: HeaderValue) -> Resp {
        let start = Instant::now();
        let rid = match req.headers().get(X_REQUEST_ID) {
            Some(r) if valid_request_id(r.as_bytes()) => r.clone(),
            _ => request_id(),
        };
        let method = method_label(req.method().as_str());
        let route = self.router.route_of(req.uri().path());
        let cx = Ctx { client, rid };
        let mut resp = self.chain.call(req, &cx).await;
        let route = resp.extensions_mut().remove::<Route>().map_or(route, |Route(r)| r);
        resp.headers_mut().insert(X_REQUEST_ID, cx.rid);
        self.metrics.observe(method, route, resp.status().as_u16(), start.elapsed().as_secs_f64());
        resp
    }
}

fn with_route(mut r: Resp, route: &'static str) -> Resp {
    r.extensions_mut().insert(Route(route));
    r
}

/// What RFC 9112 asks of a request that hyper's parser leaves to the application: HTTP/1.1 needs
/// exactly one Host (§3.2), and the only transfer coding taken is `chunked`, alone, on one line
/// (hyper takes `gzip, chunked` as chunked; the service would get the gzip bytes as they are). And
/// the head's size cap: hyper checks its buffer only between reads, so a head that came in one read
/// is measured here (431).
struct Framing<N>(N);

/// What the framing rules look at in a request's head, found in one pass over its fields (rather than
/// a header-map lookup for Host and one for Transfer-Encoding besides the pass that measures it).
struct Head {
    /// Its size as it was sent (request line, fields with ": " and CRLF), near enough.
    size: usize,
    hosts: usize,
    codings: usize,
    /// The last Transfer-Encoding field is `chunked`.
    chunked: bool,
}

fn head<B>(req: &Request<B>) -> Head {
    // the target's length as sent, without formatting it (as Uri's Display would write it)
    let uri = req.uri();
    let scheme = uri.scheme_str().map_or(0, |s| s.len() + 3);
    let authority = uri.authority().map_or(0, |a| a.as_str().len());
    let target = uri.path().len() + uri.query().map_or(0, |q| q.len() + 1);
    let line = req.method().as_str().len() + scheme + authority + target + 12;
    let mut h = Head { size: line + 2, hosts: 0, codings: 0, chunked: false };
    for (k, v) in req.headers() {
        h.size += k.as_str().len() + v.len() + 4;
        if *k == HOST {
            h.hosts += 1;
        } else if *k == TRANSFER_ENCODING {
            h.codings += 1;
            h.chunked = v.as_bytes().eq_ignore_ascii_case(b"chunked");
        }
    }
    h
}

/// Why a request's framing is refused (status and detail), if it is.
fn bad_framing<B>(req: &Request<B>) -> Option<(u16, String)> {
    let h = head(req);
    if h.size > MAX_HEAD {
        return Some((431, format!("the request head is larger than {MAX_HEAD} bytes")));
    }
    if req.version() == Version::HTTP_11 && h.hosts != 1 {
        return Some((400, "HTTP/1.1 requests need exactly one Host header".into()));
    }
    if h.codings > 1 || (h.codings == 1 && !h.chunked) {
        return Some((400, "only Transfer-Encoding: chunked, without Content-Length, is accepted".into()));
    }
    None
}

impl<N: Layer> Layer for Framing<N> {
    fn call<'a, B: ReqBody>(&'a self, req: Request<B>, cx: &'a Ctx) -> impl Future<Output = Resp> + Send + 'a {
        match bad_framing(&req) {
            Some((431, detail)) => answered(closing(431, "bad-request", "Request header fields too large", &detail)),
            Some((status, detail)) => answered(closing(status, "bad-request", "Bad request", &detail)),
            None => Either::Right { f: self.0.call(req, cx) },
        }
    }
}

/// Every answer carries the security headers once (a service's own value wins), and the API's
/// content security policy except on the docs page, which sends its own.
struct SecurityHeaders<N>(N);

impl<N: Layer> Layer for SecurityHeaders<N> {
    fn call<'a, B: ReqBody>(&'a self, req: Request<B>, cx: &'a Ctx) -> impl Future<Output = Resp> + Send + 'a {
        let docs = req.uri().path().starts_with("/docs");
        then(self.0.call(req, cx), move |resp: &mut Resp| {
            let h = resp.headers_mut();
            for (k, v) in SECURITY_HEADERS {
                if let header::Entry::Vacant(e) = h.entry(k) {
                    e.insert(v);
                }
            }
            if !docs {
                if let header::Entry::Vacant(e) = h.entry(header::CONTENT_SECURITY_POLICY) {
                    e.insert(API_CSP_VALUE);
                }
            }
        })
    }
}

/// The allow-list of web origins: their requests get the CORS headers, their preflights are answered
/// here (never forwarded), anyone else's preflight is refused. Without an allow-list, nothing.
struct Cors<N> {
    allowed: Option<HashSet<String>>,
    next: N,
}

impl<N> Cors<N> {
    /// The allow-list's headers for an answer to `origin`, or the preflight answer.
    fn decide(&self, method: &Method, headers: &HeaderMap) -> Decision {
        let Some(allowed) = &self.allowed else { return Decision::Nothing };
        let Some(origin) = headers.get("origin").and_then(|o| o.to_str().ok()) else { return Decision::Nothing };
        let allowed = allowed.contains(origin);
        if method == Method::OPTIONS && headers.contains_key("access-control-request-method") {
            if !allowed {
                let detail = format!("origin {origin:?} is not one of this region's web clients");
                let mut r = problem(400, "bad-request", "Bad request", &detail, &[]);
                r.headers_mut().append(VARY, HeaderValue::from_static("Origin"));
                return Decision::Answer(r);
            }
            let mut r = local(200, "text/plain; charset=utf-8", &b"OK"[..]);
            let h = r.headers_mut();
            h.append(VARY, HeaderValue::from_static("Origin"));
            h.insert("access-control-allow-origin", HeaderValue::from_str(origin).expect("a header value"));
            h.insert("access-control-allow-credentials", HeaderValue::from_static("true"));
            h.insert("access-control-allow-methods", HeaderValue::from_static(CORS_METHODS));
            h.insert("access-control-allow-headers", HeaderValue::from_static(CORS_HEADERS));
            h.insert("access-control-max-age", HeaderValue::from_static("600"));
            return Decision::Answer(r);
        }
        Decision::Add(allowed.then(|| HeaderValue::from_str(origin).expect("a header value")))
    }
}

enum Decision {
    /// No allow-list, or no Origin: nothing to add.
    Nothing,
    /// Vary: Origin, and the allow headers for a listed origin.
    Add(Option<HeaderValue>),
    Answer(Resp),
}

impl<N: Layer> Layer for Cors<N> {
    fn call<'a, B: ReqBody>(&'a self, req: Request<B>, cx: &'a Ctx) -> impl Future<Output = Resp> + Send + 'a {
        // what to add to the answer: nothing (None), or Vary and the allow headers for a listed origin
        let add = match self.decide(req.method(), req.headers()) {
            Decision::Nothing => None,
            Decision::Answer(r) => return answered(with_route(r, "preflight")),
            Decision::Add(origin) => Some(origin),
        };
        let f = then(self.next.call(req, cx), move |resp: &mut Resp| {
            let Some(origin) = add else { return };
            let h = resp.headers_mut();
            h.append(VARY, HeaderValue::from_static("Origin"));
            if let Some(origin) = origin {
                if !h.contains_key("access-control-allow-origin") {
                    h.insert("access-control-allow-origin", origin);
                    h.insert("access-control-allow-credentials", HeaderValue::from_static("true"));
                    h.insert("access-control-expose-headers", HeaderValue::from_static(CORS_EXPOSED));
                }
            }
        });
        Either::Right { f }
    }
}

/// The quotas, when on (/healthz, /readyz and /metrics are exempt).
struct Limits<N> {
    quotas: Option<Quotas>,
    next: N,
}

impl<N: Layer> Layer for Limits<N> {
    fn call<'a, B: ReqBody>(&'a self, req: Request<B>, cx: &'a Ctx) -> impl Future<Output = Resp> + Send + 'a {
        match &self.quotas {
            Some(q) if !EXEMPT.iter().any(|p| req.uri().path().starts_with(p)) => {
                let f: Boxed<'a> = Box::pin(self.counted(q, req, cx));
                Either::Right { f }
            }
            _ => Either::Left { f: self.next.call(req, cx) },
        }
    }
}

impl<N: Layer> Limits<N> {
    /// A request under the quotas (boxed: its future holds the quota store's).
    async fn counted<'a, B: ReqBody>(&'a self, quotas: &'a Quotas, req: Request<B>, cx: &'a Ctx) -> Resp {
        let verdict = quotas.check(req.method().as_str(), req.headers(), cx.client()).await;
        let mut resp = match verdict.exceeded {
            Some((quota, retry)) => {
                let detail =
                    format!("more than {} requests in {} s ({}); slow down", quota.limit, quota.window, quota.name);
                let mut r = problem(429, "rate-limited", "Too many requests", &detail, &[("quota", quota.name)]);
                r.headers_mut().insert(RETRY_AFTER, HeaderValue::from(retry));
                r
            }
            None => self.next.call(req, cx).await,
        };
        let h = resp.headers_mut();
        for (k, v) in verdict.headers {
            if !h.contains_key(k) {
                h.insert(k, HeaderValue::from_str(&v).expect("a header value"));
            }
        }
        resp
    }
}

/// /healthz, /readyz and /metrics are answered here.
struct Local<N> {
    metrics: Arc<Metrics>,
    next: N,
}

impl<N: Layer> Layer for Local<N> {
    fn call<'a, B: ReqBody>(&'a self, req: Request<B>, cx: &'a Ctx) -> impl Future<Output = Resp> + Send + 'a {
        let ok = || local(200, "application/json", &b"{\"status\":\"ok\"}"[..]);
        match req.uri().path() {
            "/healthz" => answered(with_route(ok(), "/healthz")),
            "/readyz" => answered(with_route(ok(), "/readyz")),
            "/metrics" => answered(with_route(local(200, METRICS_TYPE, self.metrics.render()), "/metrics")),
            _ => Either::Right { f: self.next.call(req, cx) },
        }
    }
}

/// The request body is read here (at most `max` bytes, refused at once by its Content-Length) and
/// passed on whole to the router; GET, HEAD and OPTIONS pass on no body.
struct BodyCap {
    max: u64,
    router: Arc<Router>,
}

impl Layer for BodyCap {
    fn call<'a, B: ReqBody>(&'a self, req: Request<B>, cx: &'a Ctx) -> impl Future<Output = Resp> + Send + 'a {
        let (parts, body) = req.into_parts();
        if matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS) {
            return Either::Left { f: self.router.route(parts, Bytes::new(), cx) };
        }
        let f: Boxed<'a> = Box::pin(self.read_then_route(parts, body, cx));
        Either::Right { f }
    }
}

impl BodyCap {
    /// A request with a body (boxed: its future holds the body's reading).
    async fn read_then_route<'a, B: ReqBody>(&'a self, parts: http::request::Parts, body: B, cx: &'a Ctx) -> Resp {
        let too_large = |body: B| async move {
            // read on a little (bounded) so the client, still sending, is not reset before it reads
            // the answer (what the old front's lingering close did)
            let _ = tokio::time::timeout(LINGER, read_at_most(body, DISCARD_LIMIT)).await;
            let detail = format!("the request body is larger than {} bytes", self.max);
            closing(413, "too-large", "Content too large", &detail)
        };
        let declared = parts.headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        if declared.is_some_and(|n| n > self.max) {
            return too_large(body).await; // refused by its length, before reading
        }
        let mut body = body;
        let content = match tokio::time::timeout(BODY_TIMEOUT, read_at_most(&mut body, self.max)).await {
            Ok(Ok(Some(c))) => c,
            Ok(Ok(None)) => return too_large(body).await,
            Ok(Err(e)) => {
                let detail = format!("the request body could not be read: {e}");
                return closing(400, "bad-request", "Bad request", &detail);
            }
            Err(_) => {
                let detail = "the request body could not be read: timed out";
                return closing(400, "bad-request", "Bad request", detail);
            }
        };
        self.router.route(parts, content, cx).await
    }
}

/// The whole body, or None as soon as it is longer than `max` bytes (the rest is not read).
async fn read_at_most<B>(mut body: B, max: u64) -> Result<Option<Bytes>, BoxError>
where
    B: http_body::Body<Data = Bytes, Error: Into<BoxError>> + Unpin,
{
    let mut out = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.map_err(Into::into)?.into_data() {
            if out.len() as u64 + data.len() as u64 > max {
                return Ok(None);
            }
            out.extend_from_slice(&data);
        }
    }
    Ok(Some(out.freeze()))
}

/// `/api/v1/<service>/…` to the service; every other path to the Python gateway at `describe_url`
/// (the merged API description, the docs page), else 404.
pub struct Router {
    upstreams: BTreeMap<String, Upstream>,
    describe: Option<Upstream>,
}

impl Router {
    fn route<'a>(
        &'a self,
        parts: http::request::Parts,
        body: Bytes,
        cx: &'a Ctx,
    ) -> impl Future<Output = Resp> + Send + 'a {
        // the service, and the route its answer is counted under when the request's path does not say
        let (up, route) = match parts.uri.path().strip_prefix("/api/v1/") {
            Some(rest) => {
                let name = rest.split('/').next().unwrap_or("");
                match self.upstreams.get(name) {
                    Some(up) => (up, None),
                    None => {
                        let detail = format!("no service {name:?} behind this gateway");
                        return answered(with_route(problem(404, "not-found", "Not found", &detail, &[]), "unmatched"));
                    }
                }
            }
            None => match &self.describe {
                Some(up) => {
                    let route = match parts.uri.path() {
                        "/openapi.json" => "/openapi.json",
                        "/docs" => "/docs",
                        _ => "described",
                    };
                    (up, Some(route))
                }
                None => {
                    let r = problem(404, "not-found", "Not found", "nothing here", &[]);
                    return answered(with_route(r, "unmatched"));
                }
            },
        };
        let f = then(up.forward(parts, body, &cx.rid, &cx.client), move |resp: &mut Resp| {
            if let Some(route) = route {
                resp.extensions_mut().insert(Route(route));
            }
        });
        Either::Right { f }
    }

    /// `/api/v1/<service>/*` for a service behind this front, else `unmatched`.
    fn route_of(&self, path: &str) -> &'static str {
        if let Some(rest) = path.strip_prefix("/api/v1/") {
            if let Some(up) = self.upstreams.get(rest.split('/').next().unwrap_or("")) {
                return up.route;
            }
        }
        "unmatched"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LISTED: &str = r#"["https://app.example.eu", "http://localhost:3000"]"#;

    fn edge(changes: &[(&str, &str)]) -> Edge {
        let mut raw = crate::config::tests::valid().replace("\"rate_limits\": true", "\"rate_limits\": false");
        for (from, to) in changes {
            assert!(raw.contains(from), "{from}");
            raw = raw.replace(from, to);
        }
        Edge::new(&Config::from_json(&raw).unwrap()).unwrap()
    }

    fn cors_edge(origins: &str) -> Edge {
        edge(&[("\"cors_origins\": []", &format!("\"cors_origins\": {origins}"))])
    }

    /// The answer to `method` on a path no service serves (404 from the router when it gets there).
    async fn answer(e: &Edge, method: &str, path: &str, headers: &[(&str, &str)], body: &'static [u8]) -> Resp {
        let mut b = Request::builder().method(method).uri(path).header("host", "h");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        e.handle(b.body(crate::reply::full(body)).unwrap(), HeaderValue::from_static("127.0.0.1")).await
    }

    fn cors_headers(r: &Resp) -> Vec<(String, String)> {
        r.headers()
            .iter()
            .filter(|(k, _)| k.as_str().starts_with("access-control-") || *k == "vary")
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_string()))
            .collect()
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[tokio::test]
    async fn a_listed_origin_is_allowed_exactly_as_listed() {
        let e = cors_edge(LISTED);
        for origin in ["https://app.example.eu", "http://localhost:3000"] {
            let r = answer(&e, "GET", "/api/v1/nosuch/x", &[("origin", origin)], b"").await;
            let expose = "ETag, Link, Retry-After, RateLimit, RateLimit-Policy, X-Request-ID";
            assert_eq!(
                cors_headers(&r),
                pairs(&[
                    ("vary", "Origin"),
                    ("access-control-allow-origin", origin),
                    ("access-control-allow-credentials", "true"),
                    ("access-control-expose-headers", expose),
                ])
            );
        }
    }

    #[tokio::test]
    async fn any_other_spelling_of_an_origin_is_not_allowed() {
        let e = cors_edge(LISTED);
        for origin in [
            "https://APP.example.eu", // origins are compared as strings, as the Python gateway's CORS layer does
            "HTTPS://app.example.eu",
            "https://app.example.eu/", // a trailing slash is not the origin
            "null",                    // sandboxed frames and file: pages
            "https://app.example.eu:443",
            "http://app.example.eu",
            "https://app.example.eu.evil.example",
            "https://evil.example",
            "http://localhost:3001",
            "http://localhost",
        ] {
            let r = answer(&e, "GET", "/api/v1/nosuch/x", &[("origin", origin)], b"").await;
            assert_eq!(r.status(), 404, "{origin}");
            assert_eq!(cors_headers(&r), pairs(&[("vary", "Origin")]), "{origin}");
        }
        let r = answer(&e, "GET", "/api/v1/nosuch/x", &[], b"").await;
        assert!(cors_headers(&r).is_empty(), "no Origin, no CORS headers");
        let r = answer(&cors_edge("[]"), "GET", "/api/v1/nosuch/x", &[("origin", "https://app.example.eu")], b"").await;
        assert!(cors_headers(&r).is_empty(), "no allow-list, no CORS headers");
    }

    #[tokio::test]
    async fn a_preflight_is_answered_here_for_a_listed_origin_and_refused_for_any_other() {
        let e = cors_edge(LISTED);
        let ask = ("access-control-request-method", "POST");
        let r = answer(&e, "OPTIONS", "/api/v1/nosuch/x", &[("origin", "https://app.example.eu"), ask], b"").await;
        assert_eq!(r.status(), 200);
        let allow = "Authorization, Content-Type, If-Match, X-Request-ID, traceparent";
        assert_eq!(
            cors_headers(&r),
            pairs(&[
                ("vary", "Origin"),
                ("access-control-allow-origin", "https://app.example.eu"),
                ("access-control-allow-credentials", "true"),
                ("access-control-allow-methods", "GET, POST, PUT, PATCH, DELETE"),
                ("access-control-allow-headers", allow),
                ("access-control-max-age", "600"),
            ])
        );
        for origin in ["null", "https://app.example.eu/", "https://App.example.eu"] {
            let r = answer(&e, "OPTIONS", "/api/v1/nosuch/x", &[("origin", origin), ask], b"").await;
            assert_eq!(r.status(), 400, "{origin}");
            assert_eq!(cors_headers(&r), pairs(&[("vary", "Origin")]), "{origin}");
        }
        // an OPTIONS that is not a preflight goes on like any request (to the router: no such service)
        let r = answer(&e, "OPTIONS", "/api/v1/nosuch/x", &[("origin", "https://app.example.eu")], b"").await;
        assert_eq!(r.status(), 404);
    }

    #[tokio::test]
    async fn every_answer_carries_the_security_headers_once_and_the_docs_page_no_api_csp() {
        let e = edge(&[]);
        for (path, csp) in [("/api/v1/nosuch/x", Some(API_CSP)), ("/healthz", Some(API_CSP)), ("/docs", None)] {
            let r = answer(&e, "GET", path, &[], b"").await;
            for (k, v) in SECURITY_HEADERS {
                let values: Vec<_> = r.headers().get_all(&k).iter().collect();
                assert_eq!(values, [&v], "{path}: {k}");
            }
            assert_eq!(r.headers().get("content-security-policy").map(|v| v.to_str().unwrap()), csp, "{path}");
        }
    }

    #[tokio::test]
    async fn a_body_of_exactly_the_cap_is_read_and_one_byte_more_is_refused_with_413() {
        let e = edge(&[("\"max_body_bytes\": 1048576", "\"max_body_bytes\": 1024")]);
        const AT: [u8; 1024] = [b'x'; 1024];
        const OVER: [u8; 1025] = [b'x'; 1025];
        // at the cap the body is read and the request goes on (to a service that is not here: 404)
        let r = answer(&e, "POST", "/api/v1/nosuch", &[], &AT).await;
        assert_eq!(r.status(), 404);
        // one byte more, without a Content-Length (as a chunked body): read up to the cap, then 413
        let r = answer(&e, "POST", "/api/v1/nosuch", &[], &OVER).await;
        assert_eq!((r.status().as_u16(), r.headers()["connection"].to_str().unwrap()), (413, "close"));
        // by its Content-Length: refused before reading
        let r = answer(&e, "POST", "/api/v1/nosuch", &[("content-length", "1025")], b"").await;
        assert_eq!(r.status(), 413);
        let r = answer(&e, "POST", "/api/v1/nosuch", &[("content-length", "1024")], &AT).await;
        assert_eq!(r.status(), 404);
    }

    #[tokio::test]
    async fn a_request_id_is_kept_when_well_formed_and_made_here_otherwise() {
        let e = edge(&[]);
        let r = answer(&e, "GET", "/healthz", &[("x-request-id", "trace-me.1_A")], b"").await;
        assert_eq!(r.headers()["x-request-id"], "trace-me.1_A");
        for bad in ["bad id", "a/b", &"x".repeat(129)] {
            let r = answer(&e, "GET", "/healthz", &[("x-request-id", bad)], b"").await;
            let made = r.headers()["x-request-id"].to_str().unwrap();
            assert!(made.len() == 32 && made.bytes().all(|c| c.is_ascii_hexdigit()), "{bad}: {made}");
        }
    }

    #[tokio::test]
    async fn a_services_own_request_id_is_replaced_by_the_requests() {
        // a service answering every request with a request id of its own, twice
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let svc = hyper::service::service_fn(|_req: Request<hyper::body::Incoming>| async {
                    let r = http::Response::builder().header("x-request-id", "theirs").header("x-request-id", "again");
                    Ok::<_, std::convert::Infallible>(r.body(http_body_util::Full::new(Bytes::new())).unwrap())
                });
                let io = hyper_util::rt::TokioIo::new(stream);
                tokio::spawn(hyper::server::conn::http1::Builder::new().serve_connection(io, svc));
            }
        });
        let e = edge(&[("http://127.0.0.1:8101", &url)]);
        let r = answer(&e, "GET", "/api/v1/facilities/x", &[("x-request-id", "mine")], b"").await;
        assert_eq!(r.status(), 200);
        let ids: Vec<_> = r.headers().get_all("x-request-id").iter().collect();
        assert_eq!(ids, ["mine"]);
    }

    #[test]
    fn a_head_is_measured_as_sent_in_origin_and_absolute_form() {
        let sized = |target: &str| {
            let req = Request::get(target).header("host", "h").body(crate::reply::empty()).unwrap();
            head(&req).size
        };
        // "GET /a?b=1 HTTP/1.1\r\n" (21), "host: h\r\n" (9), "\r\n" (2)
        assert_eq!(sized("/a?b=1"), 32);
        // "GET http://h:1/a?b=1 HTTP/1.1\r\n" (31), then as above
        assert_eq!(sized("http://h:1/a?b=1"), 42);
        assert_eq!(sized("*"), 3 + 1 + 12 + 9 + 2);
    }

    #[tokio::test]
    async fn framing_hyper_leaves_to_the_edge_is_refused() {
        let e = edge(&[]);
        let no_host = Request::get("/healthz").body(crate::reply::empty()).unwrap();
        let r = e.handle(no_host, HeaderValue::from_static("127.0.0.1")).await;
        assert_eq!(r.status(), 400);
        for te in ["gzip, chunked", "identity"] {
            let r = answer(&e, "POST", "/healthz", &[("transfer-encoding", te)], b"").await;
            assert_eq!(r.status(), 400, "{te}");
        }
        let r = answer(&e, "POST", "/healthz", &[("transfer-encoding", "Chunked")], b"").await;
        assert_eq!(r.status(), 200);
        // the head cap: "GET /healthz HTTP/1.1\r\n" (23), "host: h\r\n" (9), "x-big: …\r\n" (9 + n), "\r\n" (2)
        let at = "x".repeat(MAX_HEAD - 23 - 9 - 9 - 2);
        assert_eq!(answer(&e, "GET", "/healthz", &[("x-big", &at)], b"").await.status(), 200);
        let over = format!("{at}x");
        assert_eq!(answer(&e, "GET", "/healthz", &[("x-big", &over)], b"").await.status(), 431);
    }
}
