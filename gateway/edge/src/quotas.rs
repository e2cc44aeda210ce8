//! Fixed-window quotas per bearer token (a hash of it: unverified claims are never trusted here), a
//! tighter one on writes, and one per client address. The keys are the Python gateway's
//! (gateway/limits.py), so Python and compiled replicas sharing one Redis hold one quota between them.
//! The token is read as the services' verifier reads it (clustergrowth/credentials.py), so that no
//! respelling of the header buys a fresh quota; a JWT counts as its signing input (`header.payload`),
//! so that the two valid spellings of an ECDSA signature, (r, s) and (r, n - s), name one quota.
//! Shared counters live in Redis (redis:// or rediss://, through the `redis` crate).

use crate::config::Config;
use crate::log::{self, WARN};
use http::HeaderMap;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(Clone, Copy)]
pub struct Quota {
    pub name: &'static str,
    pub limit: u64,
    pub window: u64,
}

/// Window id → key → count; only the windows some key used lately are kept.
#[derive(Default)]
pub struct MemoryCounter {
    windows: Mutex<HashMap<String, HashMap<String, u64>>>,
}

impl MemoryCounter {
    fn hit(&self, keys: &[String]) -> Vec<u64> {
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = Vec::with_capacity(keys.len());
        for k in keys {
            let window = k.rsplit(':').next().unwrap_or("");
            let counts = windows.entry(window.to_string()).or_default();
            let n = counts.entry(k.clone()).or_default();
            *n += 1;
            out.push(*n);
        }
        if windows.len() > 8 {
            // windows of every quota length are live at once; drop the ones no key uses now
            windows.retain(|w, _| keys.iter().any(|k| k.rsplit(':').next() == Some(w.as_str())));
        }
        out
    }
}

/// INCR and EXPIRE for every quota of a request in one round trip (MULTI/EXEC). While Redis does
/// not answer, this replica counts in its own memory and tries Redis again 5 s later.
pub struct RedisCounter {
    client: redis::Client,
    conn: tokio::sync::Mutex<Option<redis::aio::MultiplexedConnection>>,
    fallback: MemoryCounter,
    down_until: Mutex<Option<Instant>>,
}

const REDIS_TIMEOUT: Duration = Duration::from_millis(250);

impl RedisCounter {
    /// A counter on the store at `url`, with the configuration's credentials and CA (read now: a file
    /// that cannot be read or a bundle that is not PEM refuses the start).
    pub fn new(cfg: &Config) -> Result<RedisCounter, String> {
        use redis::IntoConnectionInfo;
        let url = cfg.rate_store_url();
        let mut info = url.into_connection_info().map_err(|e| format!("rate_store_url: {e}"))?;
        if let Some(password) = &cfg.rate_store_password {
            let mut redis = info.redis_settings().clone().set_password(password);
            if let Some(user) = &cfg.rate_store_username {
                redis = redis.set_username(user);
            }
            info = info.set_redis_settings(redis);
        }
        let client = match &cfg.rate_store_ca_file {
            Some(path) => {
                let pem = std::fs::read(path).map_err(|e| format!("rate_store_ca_file: {path}: {e}"))?;
                let certs = redis::TlsCertificates { client_tls: None, root_cert: Some(pem) };
                redis::Client::build_with_tls(info, certs).map_err(|e| format!("rate_store_ca_file: {path}: {e}"))?
            }
            None => redis::Client::open(info).map_err(|e| format!("rate_store_url: {e}"))?,
        };
        Ok(RedisCounter {
            client,
            conn: tokio::sync::Mutex::new(None),
            fallback: MemoryCounter::default(),
            down_until: Mutex::new(None),
        })
    }

    async fn connection(&self) -> Result<redis::aio::MultiplexedConnection, String> {
        let mut slot = self.conn.lock().await;
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        let cfg = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(REDIS_TIMEOUT))
            .set_response_timeout(Some(REDIS_TIMEOUT));
        let c = self.client.get_multiplexed_async_connection_with_config(&cfg).await.map_err(|e| e.to_string())?;
        *slot = Some(c.clone());
        Ok(c)
    }

    async fn exchange(&self, keys: &[String], ttl: u64) -> Result<Vec<u64>, String> {
        let mut c = self.connection().await?;
        let mut pipe = redis::pipe();
        pipe.atomic();
        for k in keys {
            let name = format!("cg:quota:{k}");
            pipe.incr(&name, 1u64).expire(&name, ttl as i64).ignore();
        }
        let counts: Vec<i64> = tokio::time::timeout(REDIS_TIMEOUT, pipe.query_async(&mut c))
            .await
            .map_err(|_| "timed out".to_string())?
            .map_err(|e| e.to_string())?;
        if counts.len() != keys.len() {
            return Err("EXEC answered a different number of replies".into());
        }
        Ok(counts.into_iter().map(|n| n.max(0) as u64).collect())
    }

    async fn hit(&self, keys: &[String], ttl: u64) -> Vec<u64> {
        let degraded = self.down_until.lock().unwrap_or_else(|p| p.into_inner()).is_some_and(|t| Instant::now() < t);
        if degraded {
            return self.fallback.hit(keys);
        }
        match self.exchange(keys, ttl).await {
            Ok(counts) => counts,
            Err(e) => {
                log::log(WARN, "quota store unavailable; counting in this replica for 5s", &[("error", &e)]);
                *self.down_until.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some(Instant::now() + Duration::from_secs(5));
                *self.conn.lock().await = None;
                self.fallback.hit(keys)
            }
        }
    }
}

pub enum Counter {
    Memory(MemoryCounter),
    Redis(Box<RedisCounter>),
}

impl Counter {
    /// Counts one request for each key in its window; the counts so far, in order.
    async fn hit(&self, keys: &[String], ttl: u64) -> Vec<u64> {
        match self {
            Counter::Memory(m) => m.hit(keys),
            Counter::Redis(r) => r.hit(keys, ttl).await,
        }
    }
}

pub struct Quotas {
    counter: Counter,
    per_principal: Quota,
    writes: Quota,
    per_address: Quota,
}

/// What the quotas decided: the RateLimit headers, and the quota exceeded if any.
pub struct Verdict {
    pub headers: Vec<(&'static str, String)>,
    pub exceeded: Option<(Quota, u64)>,
}

impl Quotas {
    /// The quotas of the configuration: counted in Redis when it names a store (an error if the store's
    /// CA cannot be read), else in this replica's memory.
    pub fn new(cfg: &Config) -> Result<Quotas, String> {
        let w = cfg.rate_window_s;
        let counter = match cfg.rate_store_url() {
            "" => Counter::Memory(MemoryCounter::default()),
            _ => Counter::Redis(Box::new(RedisCounter::new(cfg)?)),
        };
        Ok(Quotas {
            counter,
            per_principal: Quota { name: "principal", limit: cfg.rate_per_principal, window: w },
            writes: Quota { name: "principal-writes", limit: cfg.rate_writes_per_principal, window: w },
            per_address: Quota { name: "address", limit: cfg.rate_per_address, window: w },
        })
    }

    /// Counts the request against every quota that applies.
    pub async fn check(&self, method: &str, headers: &HeaderMap, address: &str) -> Verdict {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs_f64();
        self.check_at(method, headers, address, now).await
    }

    /// As `check`, at `now` (Unix seconds): the windows are whole multiples of their length since the epoch.
    async fn check_at(&self, method: &str, headers: &HeaderMap, address: &str, now: f64) -> Verdict {
        let mut checks = vec![(self.per_address, format!("addr:{address}"))];
        // the first Authorization line, as the verifier reads it; no bearer token: no token quota (401)
        if let Some(token) = headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(bearer_token) {
            let who = format!("tok:{}", quota_key(token));
            checks.push((self.per_principal, who.clone()));
            if matches!(method, "POST" | "PUT" | "PATCH" | "DELETE") {
                checks.push((self.writes, who));
            }
        }
        let keys: Vec<String> =
            checks.iter().map(|(q, subject)| format!("{}:{}:{}", q.name, subject, now as u64 / q.window)).collect();
        let used = self.counter.hit(&keys, 2 * self.per_address.window).await;
        let mut tightest: Option<(Quota, u64, f64)> = None;
        for ((q, _), n) in checks.iter().zip(used) {
            let window = now as u64 / q.window;
            let reset = ((window + 1) * q.window) as f64 - now;
            if n > q.limit {
                let secs = ceil_seconds(reset);
                return Verdict { headers: rate_headers(q, 0, secs), exceeded: Some((*q, secs)) };
            }
            let remaining = q.limit - n;
            if tightest.is_none_or(|(_, r, _)| remaining < r) {
                tightest = Some((*q, remaining, reset));
            }
        }
        let (q, remaining, reset) = tightest.expect("the address quota always applies");
        Verdict { headers: rate_headers(&q, remaining, ceil_seconds(reset)), exceeded: None }
    }
}

/// The token of an `Authorization: Bearer <token>` value, or None when it is anything else: the scheme
/// without case (RFC 9110 §11.4), one or more SP, RFC 6750's b68token (`[A-Za-z0-9-._~+/]+=*`),
/// trailing SP / HTAB. As `bearer_token` in clustergrowth/credentials.py, with the same test vectors.
pub fn bearer_token(header: &str) -> Option<&str> {
    let b = header.as_bytes();
    if b.len() < 7 || !b[..6].eq_ignore_ascii_case(b"bearer") || b[6] != b' ' {
        return None;
    }
    let token = header[7..].trim_start_matches(' ').trim_end_matches([' ', '\t']);
    let chars = token.trim_end_matches('=');
    let b68 = |c: u8| c.is_ascii_alphanumeric() || b"-._~+/".contains(&c);
    (!chars.is_empty() && chars.bytes().all(b68)).then_some(token)
}

/// What a token quota counts: a JWT's signing input (`header.payload`, before the last `.`) when the token
/// has JWS shape (three base64url segments, RFC 7515 §7.1), else the whole token. As `quota_subject` in
/// clustergrowth/credentials.py, with the same test vectors.
pub fn quota_subject(token: &str) -> &str {
    let b64url = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_');
    let mut parts = token.split('.');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(h), Some(p), Some(sig), None) if b64url(h) && b64url(p) && b64url(sig) => &token[..h.len() + 1 + p.len()],
        _ => token,
    }
}

/// The token quota's key, as gateway/limits.py names it: a hash of `Bearer <quota_subject(token)>`.
pub fn quota_key(token: &str) -> String {
    hex::encode(Sha256::digest(format!("Bearer {}", quota_subject(token)).as_bytes()))[..24].to_string()
}

fn rate_headers(q: &Quota, remaining: u64, reset: u64) -> Vec<(&'static str, String)> {
    vec![
        ("RateLimit-Policy", format!("\"{}\";q={};w={}", q.name, q.limit, q.window)),
        ("RateLimit", format!("\"{}\";r={remaining};t={reset}", q.name)),
    ]
}

pub fn ceil_seconds(s: f64) -> u64 {
    s.ceil().max(1.0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn hv(s: &str) -> HeaderValue {
        HeaderValue::from_str(s).unwrap()
    }

    #[test]
    fn memory_counter_counts_per_key_and_window() {
        let m = MemoryCounter::default();
        for i in 1..=3 {
            assert_eq!(m.hit(&["address:a:7".into(), "principal:t:7".into()]), vec![i, i]);
        }
        assert_eq!(m.hit(&["address:a:8".into()]), vec![1]);
    }

    #[tokio::test]
    async fn keys_and_headers_are_the_python_gateways() {
        let cfg = Config::from_json(
            &crate::config::tests::valid().replace("\"rate_per_address\": 1200", "\"rate_per_address\": 2"),
        )
        .unwrap();
        let q = Quotas::new(&cfg).unwrap();
        let mut h = HeaderMap::new();
        h.append("authorization", hv("Bearer x"));
        let v = q.check("POST", &h, "10.0.0.1").await;
        assert!(v.exceeded.is_none());
        assert!(v.headers[1].1.starts_with("\"address\";r=1;"), "{:?}", v.headers);
        q.check("GET", &h, "10.0.0.1").await;
        let v = q.check("GET", &h, "10.0.0.1").await;
        assert_eq!(v.exceeded.map(|(q, _)| q.name), Some("address"));
        // the token's hash, as gateway/limits.py names it
        assert_eq!(&hex::encode(Sha256::digest(b"Bearer x"))[..24], "b937a6fd6074f3650930dd9a");
    }

    // The vectors of tests/unit/test_credentials.py.
    const TOKEN: &str = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln-_~+/9==";

    #[test]
    fn spellings_of_one_credential_name_one_token() {
        for prefix in ["Bearer ", "bearer ", "BEARER ", "BeArEr ", "Bearer   ", "BEARER  "] {
            for suffix in ["", " ", "\t", " \t \t"] {
                let header = format!("{prefix}{TOKEN}{suffix}");
                assert_eq!(bearer_token(&header), Some(TOKEN), "{header:?}");
            }
        }
    }

    #[test]
    fn anything_else_is_no_bearer_token() {
        let t = TOKEN;
        let refused = [
            String::new(),
            "Bearer".into(),
            "Bearer ".into(),
            "Bearer   ".into(),
            format!("Bearer{t}"),
            format!("Bearer\t{t}"),
            format!(" Bearer {t}"),
            format!("Basic {t}"),
            format!("Bearerx {t}"),
            format!("Bear {t}"),
            "Bearer a b".into(),
            "Bearer a,b".into(),
            "Bearer a=b".into(),
            "Bearer =abc".into(),
            "Bearer \"abc\"".into(),
            "Bearer abc\r".into(),
            "Bearer abc\n".into(),
            "Bearer abc\x0b".into(),
            "Bearer abc\0".into(),
            "Bearer ab\u{e7}".into(),
            "Bearer abc\u{a0}".into(),
            "Bearer abc\u{3000}".into(),
            "Bearer\u{a0}abc".into(),
            "B\u{435}arer abc".into(),
            "Beare\u{e9} abc".into(),
            "Bearer abc, Bearer def".into(),
        ];
        for header in &refused {
            assert_eq!(bearer_token(header), None, "{header:?}");
        }
        let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/";
        assert_eq!(bearer_token(&format!("Bearer {alphabet}=")), Some(&*format!("{alphabet}=")));
        for c in (0x21u8..0x7f).map(char::from).filter(|c| !alphabet.contains(*c)) {
            assert_eq!(bearer_token(&format!("Bearer a{c}b")), None, "{c:?}");
        }
    }

    // An ES256 token of a fixed key and its twin, (r, s) respelt (r, n - s): both verify (the vectors of
    // tests/unit/test_credentials.py, which checks that with the key's JWK).
    const SIGNED: &str = "eyJhbGciOiJFUzI1NiIsImtpZCI6InYiLCJ0eXAiOiJKV1QifQ.eyJzdWIiOiJhIn0";
    const SIGNATURE: &str = "-LjcdENCmedA4SE-7seBOKulAl_BJ1JlXl7Pi7Hl5oNn2xf-AoLIEH05iSkBbCpJ362yWFiVwVFR5O2Knrznjg";
    const TWIN: &str = "-LjcdENCmedA4SE-7seBOKulAl_BJ1JlXl7Pi7Hl5oOYJOgA_X038ILGdtb-k9W13TlIVU6B3TOh1N04XaY9ww";

    #[tokio::test]
    async fn an_ecdsa_twin_names_the_quota_of_its_token() {
        for sig in [SIGNATURE, TWIN] {
            let token = format!("{SIGNED}.{sig}");
            assert_eq!(quota_subject(&token), SIGNED);
            assert_eq!(quota_key(&token), "baa37b311e5ca03665cb8597");
        }
        let cfg = Config::from_json(
            &crate::config::tests::valid().replace("\"rate_per_principal\": 600", "\"rate_per_principal\": 2"),
        )
        .unwrap();
        let q = Quotas::new(&cfg).unwrap();
        let bearer = |sig: &str| {
            let mut h = HeaderMap::new();
            h.append("authorization", hv(&format!("Bearer {SIGNED}.{sig}")));
            h
        };
        assert!(q.check("GET", &bearer(SIGNATURE), "10.0.0.4").await.exceeded.is_none());
        assert!(q.check("GET", &bearer(TWIN), "10.0.0.4").await.exceeded.is_none());
        assert_eq!(q.check("GET", &bearer(TWIN), "10.0.0.4").await.exceeded.map(|(q, _)| q.name), Some("principal"));
    }

    #[test]
    fn a_token_not_shaped_as_a_jws_is_keyed_whole() {
        // the verifier refuses padding, and its base64url decoding is strict
        let signed = [".", ".c2ln==", ".c2l+", ".c2l/", ".c2l~"].map(|tail| format!("{SIGNED}{tail}"));
        let tokens = ["x", "abc.def", "a.b.c.d", ".b.c", "a..c", "a.b.", TOKEN]
            .into_iter()
            .chain(signed.iter().map(|t| t.as_str()));
        for token in tokens {
            assert_eq!(quota_subject(token), token, "{token:?}");
            assert_eq!(quota_key(token), hex::encode(Sha256::digest(format!("Bearer {token}").as_bytes()))[..24]);
        }
        assert_eq!(quota_key("x"), "b937a6fd6074f3650930dd9a");
        assert_eq!(quota_subject("a.b.c"), "a.b");
        assert_eq!(quota_key("a.b.c"), quota_key("a.b.d"));
    }

    #[tokio::test]
    async fn respelt_headers_count_against_one_token_quota_and_junk_against_none() {
        let cfg = Config::from_json(
            &crate::config::tests::valid().replace("\"rate_per_principal\": 600", "\"rate_per_principal\": 3"),
        )
        .unwrap();
        let q = Quotas::new(&cfg).unwrap();
        let one = |value: &str| {
            let mut h = HeaderMap::new();
            h.append("authorization", hv(value));
            h
        };
        for (i, value) in ["Bearer x", "bearer x", "BEARER  x"].into_iter().enumerate() {
            let v = q.check("GET", &one(value), "10.0.0.2").await;
            assert!(v.headers[1].1.starts_with(&format!("\"principal\";r={};", 2 - i)), "{value}: {:?}", v.headers);
        }
        let mut twice = one("Bearer x\t");
        twice.append("authorization", hv("Bearer y")); // the verifier reads the first line
        assert_eq!(q.check("GET", &twice, "10.0.0.2").await.exceeded.map(|(q, _)| q.name), Some("principal"));
        let v = q.check("GET", &one("Basic eDp5"), "10.0.0.3").await;
        assert!(v.exceeded.is_none() && v.headers[1].1.starts_with("\"address\";"), "{:?}", v.headers);
    }

    fn quotas(changes: &[(&str, &str)]) -> Quotas {
        let mut raw = crate::config::tests::valid();
        for (from, to) in changes {
            assert!(raw.contains(from), "{from}");
            raw = raw.replace(from, to);
        }
        Quotas::new(&Config::from_json(&raw).unwrap()).unwrap()
    }

    // The clock is injected (Unix seconds); windows of 60 s start at whole minutes since the epoch:
    // 120.0 opens window 2 and 180.0 window 3. Every expected value is worked out by hand.
    #[tokio::test]
    async fn a_window_counts_up_to_its_limit_and_retry_after_is_the_whole_seconds_left() {
        let q = quotas(&[("\"rate_per_address\": 1200", "\"rate_per_address\": 2")]);
        let anonymous = HeaderMap::new();
        let v = q.check_at("GET", &anonymous, "10.0.0.9", 120.0).await;
        assert_eq!(v.headers[0].1, "\"address\";q=2;w=60");
        assert_eq!(v.headers[1].1, "\"address\";r=1;t=60");
        let v = q.check_at("GET", &anonymous, "10.0.0.9", 150.2).await; // the 2nd of 2: at the limit, allowed
        assert!(v.exceeded.is_none());
        assert_eq!(v.headers[1].1, "\"address\";r=0;t=30"); // 29.8 s left, rounded up
        let v = q.check_at("GET", &anonymous, "10.0.0.9", 150.2).await; // one over
        assert_eq!(v.exceeded.map(|(q, retry)| (q.name, retry)), Some(("address", 30)));
        assert_eq!(v.headers[1].1, "\"address\";r=0;t=30");
        let v = q.check_at("GET", &anonymous, "10.0.0.9", 179.5).await;
        assert_eq!(v.exceeded.map(|(_, retry)| retry), Some(1)); // 0.5 s left: never 0
        let v = q.check_at("GET", &anonymous, "10.0.0.9", 179.999).await;
        assert_eq!(v.exceeded.map(|(_, retry)| retry), Some(1));
        let v = q.check_at("GET", &anonymous, "10.0.0.9", 180.0).await; // window 3: counting starts again
        assert!(v.exceeded.is_none());
        assert_eq!(v.headers[1].1, "\"address\";r=1;t=60");
        let v = q.check_at("GET", &anonymous, "10.0.0.8", 179.0).await; // another address has its own count
        assert_eq!(v.headers[1].1, "\"address\";r=1;t=1");
    }

    #[tokio::test]
    async fn retry_after_rounds_up_to_the_next_window() {
        let q = quotas(&[("\"rate_per_address\": 1200", "\"rate_per_address\": 1")]);
        let anonymous = HeaderMap::new();
        assert!(q.check_at("GET", &anonymous, "a", 121.0).await.exceeded.is_none());
        let v = q.check_at("GET", &anonymous, "a", 121.5).await; // 58.5 s left
        assert_eq!(v.exceeded.map(|(_, retry)| retry), Some(59));
        let v = q.check_at("GET", &anonymous, "a", 120.0).await; // at the window's first instant: all 60 s
        assert_eq!(v.exceeded.map(|(_, retry)| retry), Some(60));
    }

    #[tokio::test]
    async fn writes_have_their_own_tighter_quota_and_reads_do_not_use_it() {
        let q = quotas(&[
            ("\"rate_per_principal\": 600", "\"rate_per_principal\": 3"),
            ("\"rate_writes_per_principal\": 120", "\"rate_writes_per_principal\": 1"),
        ]);
        let mut h = HeaderMap::new();
        h.append("authorization", hv("Bearer t"));
        let v = q.check_at("POST", &h, "a", 60.0).await;
        assert!(v.exceeded.is_none());
        assert_eq!(v.headers[1].1, "\"principal-writes\";r=0;t=60"); // the tightest quota is the one shown
        let v = q.check_at("GET", &h, "a", 61.0).await; // principal 2 of 3; writes untouched
        assert!(v.exceeded.is_none());
        assert_eq!(v.headers[1].1, "\"principal\";r=1;t=59");
        let v = q.check_at("PUT", &h, "a", 62.0).await; // principal 3 of 3 is fine, writes 2 of 1 is not
        assert_eq!(v.exceeded.map(|(q, retry)| (q.name, retry)), Some(("principal-writes", 58)));
    }
}
