//! Fixed-window quotas per bearer token (a hash of it: unverified claims are never trusted here), a
//! tighter one on writes, and one per client address. The keys are the Python gateway's
//! (gateway/limits.py), so Python and compiled replicas sharing one Redis hold one quota between them.
//! The token is read as the services' verifier reads it (clustergrowth/credentials.py), so that no
//! respelling of the header buys a fresh quota; a JWT counts as its signing input (`header.payload`),
//! so that the two valid spellings of an ECDSA signature, (r, s) and (r, n - s), name one quota.

use crate::config::{Config, RedisUrl};
use crate::http::Headers;
use crate::util::{self, WARN};
use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(Clone, Copy)]
pub struct Quota {
    pub name: &'static str,
    pub limit: u64,
    pub window: u64,
}

pub trait Counter: Send + Sync {
    /// Counts one request for each key in its window; the counts so far, in order.
    fn hit(&self, keys: &[String], ttl: u64) -> Vec<u64>;
}

/// Window id → key → count; only the windows some key used lately are kept.
#[derive(Default)]
pub struct MemoryCounter {
    windows: Mutex<HashMap<String, HashMap<String, u64>>>,
}

impl Counter for MemoryCounter {
    fn hit(&self, keys: &[String], _ttl: u64) -> Vec<u64> {
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
    url: RedisUrl,
    idle: Mutex<Vec<TcpStream>>,
    fallback: MemoryCounter,
    down_until: Mutex<Option<Instant>>,
}

const REDIS_TIMEOUT: Duration = Duration::from_millis(250);

impl RedisCounter {
    pub fn new(url: RedisUrl) -> RedisCounter {
        RedisCounter {
            url,
            idle: Mutex::new(Vec::new()),
            fallback: MemoryCounter::default(),
            down_until: Mutex::new(None),
        }
    }

    fn connect(&self) -> io::Result<TcpStream> {
        let addr = self.url.connect.to_socket_addrs()?.next().ok_or(io::ErrorKind::AddrNotAvailable)?;
        let mut s = TcpStream::connect_timeout(&addr, REDIS_TIMEOUT)?;
        s.set_read_timeout(Some(REDIS_TIMEOUT))?;
        s.set_write_timeout(Some(REDIS_TIMEOUT))?;
        s.set_nodelay(true)?;
        let mut hello = Vec::new();
        if !self.url.password.is_empty() {
            if self.url.user.is_empty() {
                command(&mut hello, &["AUTH", &self.url.password]);
            } else {
                command(&mut hello, &["AUTH", &self.url.user, &self.url.password]);
            }
        }
        if self.url.db != 0 {
            command(&mut hello, &["SELECT", &self.url.db.to_string()]);
        }
        if !hello.is_empty() {
            s.write_all(&hello)?;
            let mut r = Resp::new(&mut s);
            for _ in 0..usize::from(!self.url.password.is_empty()) + usize::from(self.url.db != 0) {
                r.expect_ok()?;
            }
        }
        Ok(s)
    }

    fn exchange(&self, keys: &[String], ttl: u64) -> io::Result<Vec<u64>> {
        let pooled = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let mut s = match pooled {
            Some(s) => s,
            None => self.connect()?,
        };
        let mut out = Vec::with_capacity(64 * keys.len());
        command(&mut out, &["MULTI"]);
        let ttl = ttl.to_string();
        for k in keys {
            let name = format!("cg:quota:{k}");
            command(&mut out, &["INCR", &name]);
            command(&mut out, &["EXPIRE", &name, &ttl]);
        }
        command(&mut out, &["EXEC"]);
        s.write_all(&out)?;
        let counts = {
            let mut r = Resp::new(&mut s);
            r.expect_ok()?;
            for _ in 0..2 * keys.len() {
                r.expect_simple("QUEUED")?;
            }
            let n = r.array_len()?;
            if n != 2 * keys.len() {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "EXEC answered a different number of replies"));
            }
            let mut counts = Vec::with_capacity(keys.len());
            for i in 0..n {
                let v = r.integer()?;
                if i % 2 == 0 {
                    counts.push(v.max(0) as u64);
                }
            }
            if !r.rest.is_empty() {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "unexpected bytes after EXEC"));
            }
            counts
        };
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < 64 {
            idle.push(s);
        }
        Ok(counts)
    }
}

impl Counter for RedisCounter {
    fn hit(&self, keys: &[String], ttl: u64) -> Vec<u64> {
        let degraded = self.down_until.lock().unwrap_or_else(|p| p.into_inner()).is_some_and(|t| Instant::now() < t);
        if degraded {
            return self.fallback.hit(keys, ttl);
        }
        match self.exchange(keys, ttl) {
            Ok(counts) => counts,
            Err(e) => {
                util::log(
                    WARN,
                    "quota store unavailable; counting in this replica for 5s",
                    &[("error", &e.to_string())],
                );
                *self.down_until.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some(Instant::now() + Duration::from_secs(5));
                self.idle.lock().unwrap_or_else(|p| p.into_inner()).clear();
                self.fallback.hit(keys, ttl)
            }
        }
    }
}

fn command(out: &mut Vec<u8>, args: &[&str]) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        out.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
    }
}

/// Just enough of a RESP reader for the replies above.
struct Resp<'a> {
    s: &'a mut TcpStream,
    rest: Vec<u8>,
}

impl<'a> Resp<'a> {
    fn new(s: &'a mut TcpStream) -> Resp<'a> {
        Resp { s, rest: Vec::new() }
    }

    fn line(&mut self) -> io::Result<String> {
        loop {
            if let Some(i) = self.rest.windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8_lossy(&self.rest[..i]).into_owned();
                self.rest.drain(..i + 2);
                return Ok(line);
            }
            if self.rest.len() > 4096 {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "reply line too long"));
            }
            let mut buf = [0u8; 4096];
            let n = self.s.read(&mut buf)?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            self.rest.extend_from_slice(&buf[..n]);
        }
    }

    fn fail<T>(line: &str) -> io::Result<T> {
        Err(io::Error::new(io::ErrorKind::InvalidData, format!("unexpected reply {line:?}")))
    }

    fn expect_simple(&mut self, word: &str) -> io::Result<()> {
        let line = self.line()?;
        if line.strip_prefix('+') == Some(word) {
            Ok(())
        } else {
            Self::fail(&line)
        }
    }

    fn expect_ok(&mut self) -> io::Result<()> {
        self.expect_simple("OK")
    }

    fn array_len(&mut self) -> io::Result<usize> {
        let line = self.line()?;
        match line.strip_prefix('*').and_then(|n| n.parse().ok()) {
            Some(n) => Ok(n),
            None => Self::fail(&line),
        }
    }

    fn integer(&mut self) -> io::Result<i64> {
        let line = self.line()?;
        match line.strip_prefix(':').and_then(|n| n.parse().ok()) {
            Some(n) => Ok(n),
            None => Self::fail(&line),
        }
    }
}

pub struct Quotas {
    counter: Box<dyn Counter>,
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
    pub fn new(cfg: &Config) -> Quotas {
        let w = cfg.rate_window_s;
        let counter: Box<dyn Counter> = match RedisUrl::parse(&cfg.rate_store_url) {
            Some(url) if !cfg.rate_store_url.is_empty() => Box::new(RedisCounter::new(url)),
            _ => Box::<MemoryCounter>::default(),
        };
        Quotas {
            counter,
            per_principal: Quota { name: "principal", limit: cfg.rate_per_principal, window: w },
            writes: Quota { name: "principal-writes", limit: cfg.rate_writes_per_principal, window: w },
            per_address: Quota { name: "address", limit: cfg.rate_per_address, window: w },
        }
    }

    /// Counts the request against every quota that applies.
    pub fn check(&self, method: &str, headers: &Headers, address: &str) -> Verdict {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs_f64();
        self.check_at(method, headers, address, now)
    }

    /// As `check`, at `now` (Unix seconds): the windows are whole multiples of their length since the epoch.
    fn check_at(&self, method: &str, headers: &Headers, address: &str, now: f64) -> Verdict {
        let mut checks = vec![(self.per_address, format!("addr:{address}"))];
        // the first Authorization line, as the verifier reads it; no bearer token: no token quota (401)
        if let Some(token) = headers.get("authorization").and_then(bearer_token) {
            let who = format!("tok:{}", quota_key(token));
            checks.push((self.per_principal, who.clone()));
            if matches!(method, "POST" | "PUT" | "PATCH" | "DELETE") {
                checks.push((self.writes, who));
            }
        }
        let keys: Vec<String> =
            checks.iter().map(|(q, subject)| format!("{}:{}:{}", q.name, subject, now as u64 / q.window)).collect();
        let used = self.counter.hit(&keys, 2 * self.per_address.window);
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
    util::hex(&util::sha256(format!("Bearer {}", quota_subject(token)).as_bytes()))[..24].to_string()
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

    #[test]
    fn memory_counter_counts_per_key_and_window() {
        let m = MemoryCounter::default();
        for i in 1..=3 {
            assert_eq!(m.hit(&["address:a:7".into(), "principal:t:7".into()], 60), vec![i, i]);
        }
        assert_eq!(m.hit(&["address:a:8".into()], 60), vec![1]);
    }

    #[test]
    fn keys_and_headers_are_the_python_gateways() {
        let cfg = Config::from_json(
            &crate::config::tests::valid().replace("\"rate_per_address\": 1200", "\"rate_per_address\": 2"),
        )
        .unwrap();
        let q = Quotas::new(&cfg);
        let mut h = Headers::default();
        h.add("Authorization", "Bearer x");
        let v = q.check("POST", &h, "10.0.0.1");
        assert!(v.exceeded.is_none());
        assert!(v.headers[1].1.starts_with("\"address\";r=1;"), "{:?}", v.headers);
        q.check("GET", &h, "10.0.0.1");
        let v = q.check("GET", &h, "10.0.0.1");
        assert_eq!(v.exceeded.map(|(q, _)| q.name), Some("address"));
        // the token's hash, as gateway/limits.py names it
        assert_eq!(&util::hex(&util::sha256(b"Bearer x"))[..24], "b937a6fd6074f3650930dd9a");
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

    #[test]
    fn an_ecdsa_twin_names_the_quota_of_its_token() {
        for sig in [SIGNATURE, TWIN] {
            let token = format!("{SIGNED}.{sig}");
            assert_eq!(quota_subject(&token), SIGNED);
            assert_eq!(quota_key(&token), "baa37b311e5ca03665cb8597");
        }
        let cfg = Config::from_json(
            &crate::config::tests::valid().replace("\"rate_per_principal\": 600", "\"rate_per_principal\": 2"),
        )
        .unwrap();
        let q = Quotas::new(&cfg);
        let bearer = |sig: &str| {
            let mut h = Headers::default();
            h.add("Authorization", format!("Bearer {SIGNED}.{sig}"));
            h
        };
        assert!(q.check("GET", &bearer(SIGNATURE), "10.0.0.4").exceeded.is_none());
        assert!(q.check("GET", &bearer(TWIN), "10.0.0.4").exceeded.is_none());
        assert_eq!(q.check("GET", &bearer(TWIN), "10.0.0.4").exceeded.map(|(q, _)| q.name), Some("principal"));
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
            assert_eq!(quota_key(token), util::hex(&util::sha256(format!("Bearer {token}").as_bytes()))[..24]);
        }
        assert_eq!(quota_key("x"), "b937a6fd6074f3650930dd9a");
        assert_eq!(quota_subject("a.b.c"), "a.b");
        assert_eq!(quota_key("a.b.c"), quota_key("a.b.d"));
    }

    #[test]
    fn respelt_headers_count_against_one_token_quota_and_junk_against_none() {
        let cfg = Config::from_json(
            &crate::config::tests::valid().replace("\"rate_per_principal\": 600", "\"rate_per_principal\": 3"),
        )
        .unwrap();
        let q = Quotas::new(&cfg);
        let one = |value: &str| {
            let mut h = Headers::default();
            h.add("Authorization", value);
            h
        };
        for (i, value) in ["Bearer x", "bearer x", "BEARER  x"].into_iter().enumerate() {
            let v = q.check("GET", &one(value), "10.0.0.2");
            assert!(v.headers[1].1.starts_with(&format!("\"principal\";r={};", 2 - i)), "{value}: {:?}", v.headers);
        }
        let mut twice = one("Bearer x\t");
        twice.add("Authorization", "Bearer y"); // the verifier reads the first line
        assert_eq!(q.check("GET", &twice, "10.0.0.2").exceeded.map(|(q, _)| q.name), Some("principal"));
        let v = q.check("GET", &one("Basic eDp5"), "10.0.0.3");
        assert!(v.exceeded.is_none() && v.headers[1].1.starts_with("\"address\";"), "{:?}", v.headers);
    }

    fn quotas(changes: &[(&str, &str)]) -> Quotas {
        let mut raw = crate::config::tests::valid();
        for (from, to) in changes {
            assert!(raw.contains(from), "{from}");
            raw = raw.replace(from, to);
        }
        Quotas::new(&Config::from_json(&raw).unwrap())
    }

    // The clock is injected (Unix seconds); windows of 60 s start at whole minutes since the epoch:
    // 120.0 opens window 2 and 180.0 window 3. Every expected value is worked out by hand.
    #[test]
    fn a_window_counts_up_to_its_limit_and_retry_after_is_the_whole_seconds_left() {
        let q = quotas(&[("\"rate_per_address\": 1200", "\"rate_per_address\": 2")]);
        let anonymous = Headers::default();
        let v = q.check_at("GET", &anonymous, "10.0.0.9", 120.0);
        assert_eq!(v.headers[0].1, "\"address\";q=2;w=60");
        assert_eq!(v.headers[1].1, "\"address\";r=1;t=60");
        let v = q.check_at("GET", &anonymous, "10.0.0.9", 150.2); // the 2nd of 2: at the limit, allowed
        assert!(v.exceeded.is_none());
        assert_eq!(v.headers[1].1, "\"address\";r=0;t=30"); // 29.8 s left, rounded up
        let v = q.check_at("GET", &anonymous, "10.0.0.9", 150.2); // one over
        assert_eq!(v.exceeded.map(|(q, retry)| (q.name, retry)), Some(("address", 30)));
        assert_eq!(v.headers[1].1, "\"address\";r=0;t=30");
        let v = q.check_at("GET", &anonymous, "10.0.0.9", 179.5);
        assert_eq!(v.exceeded.map(|(_, retry)| retry), Some(1)); // 0.5 s left: never 0
        let v = q.check_at("GET", &anonymous, "10.0.0.9", 179.999);
        assert_eq!(v.exceeded.map(|(_, retry)| retry), Some(1));
        let v = q.check_at("GET", &anonymous, "10.0.0.9", 180.0); // window 3: counting starts again
        assert!(v.exceeded.is_none());
        assert_eq!(v.headers[1].1, "\"address\";r=1;t=60");
        let v = q.check_at("GET", &anonymous, "10.0.0.8", 179.0); // another address has its own count
        assert_eq!(v.headers[1].1, "\"address\";r=1;t=1");
    }

    #[test]
    fn retry_after_rounds_up_to_the_next_window() {
        let q = quotas(&[("\"rate_per_address\": 1200", "\"rate_per_address\": 1")]);
        let anonymous = Headers::default();
        assert!(q.check_at("GET", &anonymous, "a", 121.0).exceeded.is_none());
        let v = q.check_at("GET", &anonymous, "a", 121.5); // 58.5 s left
        assert_eq!(v.exceeded.map(|(_, retry)| retry), Some(59));
        let v = q.check_at("GET", &anonymous, "a", 120.0); // at the window's first instant: all 60 s
        assert_eq!(v.exceeded.map(|(_, retry)| retry), Some(60));
    }

    #[test]
    fn writes_have_their_own_tighter_quota_and_reads_do_not_use_it() {
        let q = quotas(&[
            ("\"rate_per_principal\": 600", "\"rate_per_principal\": 3"),
            ("\"rate_writes_per_principal\": 120", "\"rate_writes_per_principal\": 1"),
        ]);
        let mut h = Headers::default();
        h.add("Authorization", "Bearer t");
        let v = q.check_at("POST", &h, "a", 60.0);
        assert!(v.exceeded.is_none());
        assert_eq!(v.headers[1].1, "\"principal-writes\";r=0;t=60"); // the tightest quota is the one shown
        let v = q.check_at("GET", &h, "a", 61.0); // principal 2 of 3; writes untouched
        assert!(v.exceeded.is_none());
        assert_eq!(v.headers[1].1, "\"principal\";r=1;t=59");
        let v = q.check_at("PUT", &h, "a", 62.0); // principal 3 of 3 is fine, writes 2 of 1 is not
        assert_eq!(v.exceeded.map(|(q, retry)| (q.name, retry)), Some(("principal-writes", 58)));
    }
}
