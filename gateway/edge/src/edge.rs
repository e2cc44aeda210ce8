//! The edge rules, in the Python gateway's order (gateway/limits.py, clustergrowth/web.py): request
//! id, security headers and CORS outermost, then quotas, the body cap, and the service.

use crate::config::{Config, HostPort};
use crate::http::Request;
use crate::metrics::Metrics;
use crate::proxy::Upstream;
use crate::quotas::Quotas;
use crate::reply::Reply;
use crate::server::{BodyError, BodySource};
use crate::util::random_hex;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

const EXEMPT: [&str; 3] = ["/healthz", "/readyz", "/metrics"];
const CORS_METHODS: &str = "GET, POST, PUT, PATCH, DELETE";
const CORS_HEADERS: &str = "Authorization, Content-Type, If-Match, X-Request-ID, traceparent";
const CORS_EXPOSED: &str = "ETag, Link, Retry-After, RateLimit, RateLimit-Policy, X-Request-ID";

pub struct Edge {
    max_body: u64,
    upstreams: BTreeMap<String, Upstream>,
    /// Every path that is neither /api/v1/… nor answered here: the description and the docs.
    describe: Option<Upstream>,
    cors: HashSet<String>,
    quotas: Option<Quotas>,
    pub metrics: Arc<Metrics>,
}

fn valid_request_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 128 && s.bytes().all(|c| c.is_ascii_alphanumeric() || b"._-".contains(&c))
}

impl Edge {
    pub fn new(cfg: &Config) -> Edge {
        let metrics = Arc::new(Metrics::default());
        let upstream = |name: &str, url: &str, timeout_s: f64| {
            let at = HostPort::parse(url).expect("validated with the configuration");
            let m = metrics.clone();
            Upstream::new(name, at, timeout_s, cfg.connect_timeout_s, cfg.breaker_failures, cfg.breaker_cooldown_s, m)
        };
        let upstreams = cfg.upstreams.iter().map(|(n, u)| (n.clone(), upstream(n, &u.url, u.timeout_s))).collect();
        let describe = (!cfg.describe_url.is_empty()).then(|| upstream("describe", &cfg.describe_url, 10.0));
        Edge {
            max_body: cfg.max_body_bytes,
            upstreams,
            describe,
            cors: cfg.cors_origins.iter().cloned().collect(),
            quotas: cfg.rate_limits.then(|| Quotas::new(cfg)),
            metrics,
        }
    }

    pub fn close_idle(&self) {
        self.upstreams.values().chain(self.describe.iter()).for_each(Upstream::close_idle);
    }

    /// Answers one request and counts it in the RED metrics.
    pub fn handle(&self, reply: &mut Reply, req: &Request, body: &mut BodySource, client: &str) {
        let start = Instant::now();
        let rid = match req.headers.get("x-request-id") {
            Some(r) if valid_request_id(r) => r.to_string(),
            _ => random_hex(16),
        };
        reply.headers.set("X-Request-ID", rid.as_str());
        let route = self.serve(reply, req, body, client, &rid);
        let status = if reply.status == 0 { 200 } else { reply.status };
        self.metrics.observe(&req.method, route, status, start.elapsed().as_secs_f64());
    }

    /// Answers one request; its route template for the metrics.
    fn serve<'r>(
        &'r self,
        reply: &mut Reply,
        req: &Request,
        body: &mut BodySource,
        client: &str,
        rid: &str,
    ) -> &'r str {
        let path = req.path();
        if self.cors(reply, req) {
            return "preflight";
        }
        if let Some(q) = self.quotas.as_ref().filter(|_| !EXEMPT.iter().any(|p| path.starts_with(p))) {
            let verdict = q.check(&req.method, &req.headers, client);
            for (k, v) in verdict.headers {
                reply.headers.set(k, v);
            }
            if let Some((quota, retry)) = verdict.exceeded {
                reply.headers.set("Retry-After", retry.to_string());
                let detail =
                    format!("more than {} requests in {} s ({}); slow down", quota.limit, quota.window, quota.name);
                reply.problem(429, "rate-limited", "Too many requests", &detail, &[("quota", quota.name)]);
                return self.route_of(path);
            }
        }
        match path {
            "/healthz" | "/readyz" => {
                reply.local(200, "application/json", &b"{\"status\":\"ok\"}"[..]);
                return if path == "/healthz" { "/healthz" } else { "/readyz" };
            }
            "/metrics" => {
                reply.local(200, "text/plain; version=0.0.4; charset=utf-8", self.metrics.render());
                return "/metrics";
            }
            _ => {}
        }
        let content = if matches!(req.method.as_str(), "GET" | "HEAD" | "OPTIONS") {
            Vec::new()
        } else {
            match body.read_all(self.max_body) {
                Ok(b) => b,
                Err(BodyError::TooLarge) => {
                    reply.close = true; // the rest of the body is not read
                    let detail = format!("the request body is larger than {} bytes", self.max_body);
                    reply.problem(413, "too-large", "Content too large", &detail, &[]);
                    return self.route_of(path);
                }
                Err(BodyError::Unreadable(why)) => {
                    reply.close = true;
                    let detail = format!("the request body could not be read: {why}");
                    reply.problem(400, "bad-request", "Bad request", &detail, &[]);
                    return self.route_of(path);
                }
            }
        };
        if let Some(rest) = path.strip_prefix("/api/v1/") {
            let name = rest.split('/').next().unwrap_or("");
            return match self.upstreams.get_key_value(name) {
                Some((_, up)) => {
                    up.forward(reply, req, &content, rid, client);
                    self.route_of(path)
                }
                None => {
                    let detail = format!("no service {} behind this gateway", crate::json::quote(name));
                    reply.problem(404, "not-found", "Not found", &detail, &[]);
                    "unmatched"
                }
            };
        }
        match &self.describe {
            Some(up) => {
                up.forward(reply, req, &content, rid, client);
                match path {
                    "/openapi.json" => "/openapi.json",
                    "/docs" => "/docs",
                    _ => "described",
                }
            }
            None => {
                reply.problem(404, "not-found", "Not found", "nothing here", &[]);
                "unmatched"
            }
        }
    }

    /// `/api/v1/<service>/*` for a service behind this front, else `unmatched`.
    fn route_of<'r>(&'r self, path: &str) -> &'r str {
        if let Some(rest) = path.strip_prefix("/api/v1/") {
            if let Some(up) = self.upstreams.get(rest.split('/').next().unwrap_or("")) {
                return up.route.as_str();
            }
        }
        "unmatched"
    }

    /// Adds the allow-list headers; a preflight is answered here (true), never forwarded.
    fn cors(&self, reply: &mut Reply, req: &Request) -> bool {
        let Some(origin) = req.headers.get("origin") else { return false };
        if self.cors.is_empty() {
            return false;
        }
        let h = &mut reply.headers;
        h.add("Vary", "Origin");
        let allowed = self.cors.contains(origin);
        if req.method == "OPTIONS" && req.headers.has("access-control-request-method") {
            if !allowed {
                let detail = format!("origin {} is not one of this region's web clients", crate::json::quote(origin));
                reply.problem(400, "bad-request", "Bad request", &detail, &[]);
                return true;
            }
            h.set("Access-Control-Allow-Origin", origin);
            h.set("Access-Control-Allow-Credentials", "true");
            h.set("Access-Control-Allow-Methods", CORS_METHODS);
            h.set("Access-Control-Allow-Headers", CORS_HEADERS);
            h.set("Access-Control-Max-Age", "600");
            reply.local(200, "text/plain; charset=utf-8", &b"OK"[..]);
            return true;
        }
        if allowed {
            h.set("Access-Control-Allow-Origin", origin);
            h.set("Access-Control-Allow-Credentials", "true");
            h.set("Access-Control-Expose-Headers", CORS_EXPOSED);
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::parse_request;
    use crate::http::tests::loopback_pair;

    const LISTED: &str = r#"["https://app.example.eu", "http://localhost:3000"]"#;

    fn edge(origins: &str) -> Edge {
        let raw =
            crate::config::tests::valid().replace("\"cors_origins\": []", &format!("\"cors_origins\": {origins}"));
        Edge::new(&Config::from_json(&raw).unwrap())
    }

    fn request(method: &str, headers: &str) -> Request {
        let head = format!("{method} /api/v1/facilities/sites HTTP/1.1\r\nHost: h\r\n{headers}\r\n");
        parse_request(head.as_bytes()).unwrap()
    }

    /// The CORS headers the edge adds to a plain GET from `origin`, and whether it answered it itself.
    fn cors_of(e: &Edge, method: &str, headers: &str) -> (bool, u16, Vec<(String, String)>) {
        let (server, _client) = loopback_pair();
        let mut reply = Reply::new(&server, "/api/v1/facilities/sites", false, false);
        let answered = e.cors(&mut reply, &request(method, headers));
        (answered, reply.status, reply.headers.0.clone())
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn a_listed_origin_is_allowed_exactly_as_listed() {
        let e = edge(LISTED);
        for origin in ["https://app.example.eu", "http://localhost:3000"] {
            let (answered, _, headers) = cors_of(&e, "GET", &format!("Origin: {origin}\r\n"));
            assert!(!answered);
            let expose = "ETag, Link, Retry-After, RateLimit, RateLimit-Policy, X-Request-ID";
            assert_eq!(
                headers,
                pairs(&[
                    ("Vary", "Origin"),
                    ("Access-Control-Allow-Origin", origin),
                    ("Access-Control-Allow-Credentials", "true"),
                    ("Access-Control-Expose-Headers", expose),
                ])
            );
        }
    }

    #[test]
    fn any_other_spelling_of_an_origin_is_not_allowed() {
        let e = edge(LISTED);
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
            let (answered, _, headers) = cors_of(&e, "GET", &format!("Origin: {origin}\r\n"));
            assert!(!answered, "{origin}");
            assert_eq!(headers, pairs(&[("Vary", "Origin")]), "{origin}");
        }
        let (_, _, headers) = cors_of(&e, "GET", "");
        assert!(headers.is_empty(), "no Origin, no CORS headers: {headers:?}");
        let (_, _, headers) = cors_of(&edge("[]"), "GET", "Origin: https://app.example.eu\r\n");
        assert!(headers.is_empty(), "no allow-list, no CORS headers: {headers:?}");
    }

    #[test]
    fn a_preflight_is_answered_here_for_a_listed_origin_and_refused_for_any_other() {
        let e = edge(LISTED);
        let ask = "Access-Control-Request-Method: POST\r\n";
        let (answered, status, headers) = cors_of(&e, "OPTIONS", &format!("Origin: https://app.example.eu\r\n{ask}"));
        assert_eq!((answered, status), (true, 200));
        let allow = "Authorization, Content-Type, If-Match, X-Request-ID, traceparent";
        assert_eq!(
            headers,
            pairs(&[
                ("Vary", "Origin"),
                ("Access-Control-Allow-Origin", "https://app.example.eu"),
                ("Access-Control-Allow-Credentials", "true"),
                ("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE"),
                ("Access-Control-Allow-Headers", allow),
                ("Access-Control-Max-Age", "600"),
                ("Content-Type", "text/plain; charset=utf-8"),
            ])
        );
        for origin in ["null", "https://app.example.eu/", "https://App.example.eu"] {
            let (answered, status, headers) = cors_of(&e, "OPTIONS", &format!("Origin: {origin}\r\n{ask}"));
            assert_eq!((answered, status), (true, 400), "{origin}");
            assert!(!headers.iter().any(|(k, _)| k.starts_with("Access-Control-")), "{origin}: {headers:?}");
        }
        // an OPTIONS that is not a preflight goes on like any request
        let (answered, _, _) = cors_of(&e, "OPTIONS", "Origin: https://app.example.eu\r\n");
        assert!(!answered);
    }
}
