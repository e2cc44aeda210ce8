//! The front's configuration: the Python gateway's settings (CG_GATEWAY_*), validated and written as
//! JSON by `clustergrowth run edge` (gateway/front.py); field names are the settings' names.

use crate::json::{self, Json};
use std::collections::BTreeMap;

#[derive(Debug, Clone)]
pub struct UpstreamConfig {
    pub url: String,
    pub timeout_s: f64,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub upstreams: BTreeMap<String, UpstreamConfig>,
    pub describe_url: String,
    pub connect_timeout_s: f64,
    pub breaker_failures: u32,
    pub breaker_cooldown_s: f64,
    pub max_body_bytes: u64,
    pub cors_origins: Vec<String>,
    pub rate_limits: bool,
    pub rate_window_s: u64,
    pub rate_per_principal: u64,
    pub rate_writes_per_principal: u64,
    pub rate_per_address: u64,
    pub rate_store_url: String,
}

const FIELDS: &[&str] = &[
    "upstreams",
    "describe_url",
    "connect_timeout_s",
    "breaker_failures",
    "breaker_cooldown_s",
    "max_body_bytes",
    "cors_origins",
    "rate_limits",
    "rate_window_s",
    "rate_per_principal",
    "rate_writes_per_principal",
    "rate_per_address",
    "rate_store_url",
];

fn num(m: &BTreeMap<String, Json>, field: &str) -> Result<f64, String> {
    match m.get(field) {
        Some(Json::Num(n)) => Ok(*n),
        None => Err(format!("{field}: missing")),
        Some(_) => Err(format!("{field}: must be a number")),
    }
}

fn count(m: &BTreeMap<String, Json>, field: &str) -> Result<u64, String> {
    let n = num(m, field)?;
    if n < 0.0 || n.fract() != 0.0 || n > 1e15 {
        return Err(format!("{field}: must be a whole number"));
    }
    Ok(n as u64)
}

fn text(m: &BTreeMap<String, Json>, field: &str) -> Result<String, String> {
    match m.get(field) {
        Some(Json::Str(s)) => Ok(s.clone()),
        None | Some(Json::Null) => Ok(String::new()),
        Some(_) => Err(format!("{field}: must be a string")),
    }
}

impl Config {
    pub fn from_json(raw: &str) -> Result<Config, String> {
        let Json::Obj(m) = json::parse(raw).map_err(|e| format!("configuration: {e}"))? else {
            return Err("configuration: must be a JSON object".into());
        };
        if let Some(unknown) = m.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            return Err(format!("{unknown}: unknown field"));
        }
        let mut upstreams = BTreeMap::new();
        match m.get("upstreams") {
            Some(Json::Obj(ups)) => {
                for (name, u) in ups {
                    let Json::Obj(u) = u else {
                        return Err(format!("upstreams.{name}: must be an object"));
                    };
                    if let Some(unknown) = u.keys().find(|k| *k != "url" && *k != "timeout_s") {
                        return Err(format!("upstreams.{name}.{unknown}: unknown field"));
                    }
                    let url = text(u, "url").map_err(|e| format!("upstreams.{name}.{e}"))?;
                    let timeout_s = num(u, "timeout_s").map_err(|e| format!("upstreams.{name}.{e}"))?;
                    upstreams.insert(name.clone(), UpstreamConfig { url, timeout_s });
                }
            }
            None | Some(Json::Null) => {}
            Some(_) => return Err("upstreams: must be an object".into()),
        }
        let cors_origins = match m.get("cors_origins") {
            Some(Json::Arr(items)) => items
                .iter()
                .map(|o| match o {
                    Json::Str(s) => Ok(s.clone()),
                    _ => Err("cors_origins: must be a list of strings".to_string()),
                })
                .collect::<Result<_, _>>()?,
            None | Some(Json::Null) => Vec::new(),
            Some(_) => return Err("cors_origins: must be a list of strings".into()),
        };
        let rate_limits = match m.get("rate_limits") {
            Some(Json::Bool(b)) => *b,
            None => false,
            Some(_) => return Err("rate_limits: must be true or false".into()),
        };
        let c = Config {
            upstreams,
            describe_url: text(&m, "describe_url")?,
            connect_timeout_s: num(&m, "connect_timeout_s")?,
            breaker_failures: count(&m, "breaker_failures")?.min(u32::MAX as u64) as u32,
            breaker_cooldown_s: num(&m, "breaker_cooldown_s")?,
            max_body_bytes: count(&m, "max_body_bytes")?,
            cors_origins,
            rate_limits,
            rate_window_s: count(&m, "rate_window_s")?,
            rate_per_principal: count(&m, "rate_per_principal")?,
            rate_writes_per_principal: count(&m, "rate_writes_per_principal")?,
            rate_per_address: count(&m, "rate_per_address")?,
            rate_store_url: text(&m, "rate_store_url")?,
        };
        c.validate()?;
        Ok(c)
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.upstreams.is_empty() {
            return Err("upstreams: at least one service is needed".into());
        }
        for (name, u) in &self.upstreams {
            if HostPort::parse(&u.url).is_none() {
                return Err(format!("upstreams.{name}.url: {} is not an http://host:port URL", json::quote(&u.url)));
            }
            if u.timeout_s.is_nan() || u.timeout_s <= 0.0 {
                return Err(format!("upstreams.{name}.timeout_s: must be positive"));
            }
        }
        if !self.describe_url.is_empty() && HostPort::parse(&self.describe_url).is_none() {
            return Err(format!("describe_url: {} is not an http://host:port URL", json::quote(&self.describe_url)));
        }
        for o in &self.cors_origins {
            if !valid_origin(o) {
                return Err(format!(
                    "cors_origins: {}: list each web client's origin as https://host[:port] (or http://localhost \
                     or http://127.0.0.1 with an optional port), lower case, no path, no wildcard; '*' is never \
                     allowed",
                    json::quote(o)
                ));
            }
        }
        if self.connect_timeout_s.is_nan() || self.connect_timeout_s <= 0.0 {
            return Err("connect_timeout_s: must be positive".into());
        }
        if self.breaker_failures < 1 {
            return Err("breaker_failures: must be at least 1".into());
        }
        if self.breaker_cooldown_s.is_nan() || self.breaker_cooldown_s <= 0.0 {
            return Err("breaker_cooldown_s: must be positive".into());
        }
        if self.max_body_bytes < 1024 {
            return Err("max_body_bytes: must be at least 1024".into());
        }
        if self.rate_limits
            && (self.rate_window_s < 1
                || self.rate_per_principal < 1
                || self.rate_writes_per_principal < 1
                || self.rate_per_address < 1)
        {
            return Err("rate_*: windows and quotas must be at least 1".into());
        }
        if self.rate_limits && !self.rate_store_url.is_empty() && RedisUrl::parse(&self.rate_store_url).is_none() {
            return Err("rate_store_url: not a redis://[:password@]host[:port][/db] URL".into());
        }
        Ok(())
    }
}

/// An `http://host[:port][/prefix]` URL: what to connect to, the Host header, the path prefix.
#[derive(Debug, Clone, PartialEq)]
pub struct HostPort {
    pub connect: String,
    pub host: String,
    pub prefix: String,
}

impl HostPort {
    pub fn parse(url: &str) -> Option<HostPort> {
        let rest = url.strip_prefix("http://")?.trim_end_matches('/');
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if authority.is_empty() || authority.contains('@') || path.contains(['?', '#', ' ']) {
            return None;
        }
        let has_port = match authority.rfind(':') {
            Some(i) if !authority.ends_with(']') => {
                let port = &authority[i + 1..];
                if port.is_empty() || port.parse::<u16>().is_err() {
                    return None;
                }
                true
            }
            _ => false,
        };
        let connect = if has_port { authority.to_string() } else { format!("{authority}:80") };
        Some(HostPort { connect, host: authority.to_string(), prefix: path.to_string() })
    }
}

/// `redis://[[user]:password@]host[:port][/db]`.
#[derive(Debug, Clone, PartialEq)]
pub struct RedisUrl {
    pub connect: String,
    pub user: String,
    pub password: String,
    pub db: u32,
}

impl RedisUrl {
    pub fn parse(url: &str) -> Option<RedisUrl> {
        let rest = url.strip_prefix("redis://")?;
        let (authority, db) = match rest.split_once('/') {
            Some((a, "")) => (a, 0),
            Some((a, d)) => (a, d.parse().ok()?),
            None => (rest, 0),
        };
        let (creds, hostport) = match authority.rsplit_once('@') {
            Some((c, h)) => (c, h),
            None => ("", authority),
        };
        let (user, password) = creds.split_once(':').unwrap_or(("", creds));
        if hostport.is_empty() {
            return None;
        }
        let connect = match hostport.rsplit_once(':') {
            Some((_, p)) if !hostport.ends_with(']') => {
                p.parse::<u16>().ok()?;
                hostport.to_string()
            }
            _ => format!("{hostport}:6379"),
        };
        Some(RedisUrl { connect, user: user.to_string(), password: password.to_string(), db })
    }
}

/// A web origin as a browser sends it, exactly: `https://` and a host name (DNS labels, lower case), or
/// `http://localhost` / `http://127.0.0.1` for development; an optional port 1-65535; nothing else (no
/// path, no wildcard, no `http://localhost.evil.example`). The Python gateway applies the same rule
/// (gateway/app.py `valid_origin`).
pub fn valid_origin(origin: &str) -> bool {
    if origin.len() > 262 {
        return false;
    }
    let (https, rest) = if let Some(r) = origin.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = origin.strip_prefix("http://") {
        (false, r)
    } else {
        return false;
    };
    let (host, port) = match rest.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (rest, None),
    };
    if let Some(p) = port {
        if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
        match p.parse::<u32>() {
            Ok(n) if (1..=65535).contains(&n) => {}
            _ => return false,
        }
    }
    if !https {
        return host == "localhost" || host == "127.0.0.1";
    }
    !host.is_empty()
        && host.split('.').all(|label| {
            let b = label.as_bytes();
            !b.is_empty()
                && b.len() <= 63
                && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
                && b[0] != b'-'
                && b[b.len() - 1] != b'-'
        })
}

#[cfg(test)]
pub mod tests {
    use super::*;

    pub fn valid() -> String {
        r#"{"upstreams": {"facilities": {"url": "http://127.0.0.1:8101", "timeout_s": 10}},
            "describe_url": "", "connect_timeout_s": 0.5, "breaker_failures": 3, "breaker_cooldown_s": 5,
            "max_body_bytes": 1048576, "cors_origins": [], "rate_limits": true, "rate_window_s": 60,
            "rate_per_principal": 600, "rate_writes_per_principal": 120, "rate_per_address": 1200,
            "rate_store_url": ""}"#
            .to_string()
    }

    #[test]
    fn origins_are_exact_web_origins() {
        // the same table as tests/unit/test_cors.py (the Python gateway's rule)
        for ok in [
            "https://a.eu",
            "https://client.region.example.eu:8443",
            "http://localhost",
            "http://localhost:5173",
            "http://127.0.0.1:1",
            "https://x:65535",
        ] {
            assert!(valid_origin(ok), "{ok} refused");
        }
        for bad in [
            "*",
            "https://",
            "http://localhost.evil.example",
            "http://127.0.0.1.nip.io",
            "https://*.example.eu",
            "https://A.eu",
            "https://a.eu/",
            "https://a.eu:0",
            "https://a.eu:65536",
            "http://a.eu",
            "https://a.eu\n",
            "https://-a.eu",
            "https://a..eu",
            "https://a.eu:",
            "http://localhost:8080/x",
        ] {
            assert!(!valid_origin(bad), "{bad:?} accepted");
        }
    }

    #[test]
    fn bad_configuration_is_refused_naming_the_field() {
        let cases = [
            ("cors_origins", r#""cors_origins": []"#, r#""cors_origins": ["*"]"#),
            ("upstreams.facilities.url", "http://127.0.0.1:8101", "ftp://h"),
            ("upstreams.facilities.url", "http://127.0.0.1:8101", "http://h:99999"),
            ("upstreams.facilities.timeout_s", r#""timeout_s": 10"#, r#""timeout_s": 0"#),
            ("max_body_bytes", "1048576", "10"),
            ("breaker_failures", r#""breaker_failures": 3"#, r#""breaker_failures": 0"#),
            ("connect_timeout_s", r#""connect_timeout_s": 0.5"#, r#""connect_timeout_s": 0"#),
            ("rate_", r#""rate_per_address": 1200"#, r#""rate_per_address": 0"#),
            (
                "upstreams",
                r#""upstreams": {"facilities": {"url": "http://127.0.0.1:8101", "timeout_s": 10}}"#,
                r#""upstreams": {}"#,
            ),
            ("describe_url", r#""describe_url": """#, r#""describe_url": "https://docs""#),
            ("rate_store_url", r#""rate_store_url": """#, r#""rate_store_url": "http://r""#),
            ("surprise", r#""rate_store_url": """#, r#""rate_store_url": "", "surprise": 1"#),
            ("rate_window_s", r#""rate_window_s": 60"#, r#""rate_window_s": "60""#),
        ];
        for (field, from, to) in cases {
            let raw = valid().replace(from, to);
            assert_ne!(raw, valid(), "{field}: the case changes nothing");
            match Config::from_json(&raw) {
                Err(e) => assert!(e.starts_with(field), "{field}: got {e}"),
                Ok(_) => panic!("{field}: accepted"),
            }
        }
        Config::from_json(&valid()).expect("a valid configuration was refused");
    }

    #[test]
    fn urls() {
        let h = HostPort::parse("http://facilities:8000/").unwrap();
        assert_eq!(
            (h.connect.as_str(), h.host.as_str(), h.prefix.as_str()),
            ("facilities:8000", "facilities:8000", "")
        );
        let h = HostPort::parse("http://svc/base").unwrap();
        assert_eq!((h.connect.as_str(), h.prefix.as_str()), ("svc:80", "/base"));
        assert!(HostPort::parse("http://").is_none());
        let r = RedisUrl::parse("redis://:secret@127.0.0.1:7000/2").unwrap();
        assert_eq!((r.connect.as_str(), r.password.as_str(), r.db), ("127.0.0.1:7000", "secret", 2));
        assert_eq!(RedisUrl::parse("redis://cache").unwrap().connect, "cache:6379");
        assert!(RedisUrl::parse("redis://h:x").is_none());
    }
}
