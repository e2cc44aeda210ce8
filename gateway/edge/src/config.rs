//! The front's configuration: the Python gateway's settings (CG_GATEWAY_*), validated and written as
//! JSON by `clustergrowth run edge` (gateway/front.py); field names are the settings' names. Read with
//! serde (unknown fields refused), then checked here with the same rules as the Python settings.

use http::Uri;
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    pub url: String,
    pub timeout_s: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub upstreams: BTreeMap<String, UpstreamConfig>,
    #[serde(default)]
    pub describe_url: Option<String>,
    pub connect_timeout_s: f64,
    pub breaker_failures: u32,
    pub breaker_cooldown_s: f64,
    pub max_body_bytes: u64,
    #[serde(default)]
    pub cors_origins: Vec<String>,
    #[serde(default)]
    pub rate_limits: bool,
    pub rate_window_s: u64,
    pub rate_per_principal: u64,
    pub rate_writes_per_principal: u64,
    pub rate_per_address: u64,
    #[serde(default)]
    pub rate_store_url: Option<String>,
    /// The quota store's ACL user and password (CG_REDIS_USERNAME, CG_REDIS_PASSWORD: never in the URL),
    /// and the CA bundle (PEM) that signed a rediss:// store's certificate when it is not a public CA.
    #[serde(default)]
    pub rate_store_username: Option<String>,
    #[serde(default)]
    pub rate_store_password: Option<String>,
    #[serde(default)]
    pub rate_store_ca_file: Option<String>,
    /// Open connections one client address may hold; more are answered 503 and closed.
    #[serde(default = "default_per_address")]
    pub max_connections_per_address: usize,
}

fn default_per_address() -> usize {
    256
}

impl Config {
    pub fn from_json(raw: &str) -> Result<Config, String> {
        // serde's messages name the field: "unknown field `x`", "missing field `y`", "invalid type ..."
        let c: Config = serde_json::from_str(raw).map_err(|e| describe(&e.to_string()))?;
        c.validate()?;
        Ok(c)
    }

    pub fn describe_url(&self) -> &str {
        self.describe_url.as_deref().unwrap_or("")
    }

    pub fn rate_store_url(&self) -> &str {
        self.rate_store_url.as_deref().unwrap_or("")
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.upstreams.is_empty() {
            return Err("upstreams: at least one service is needed".into());
        }
        for (name, u) in &self.upstreams {
            if HostPort::parse(&u.url).is_none() {
                return Err(format!("upstreams.{name}.url: {:?} is not an http://host:port URL", u.url));
            }
            if u.timeout_s.is_nan() || u.timeout_s <= 0.0 {
                return Err(format!("upstreams.{name}.timeout_s: must be positive"));
            }
        }
        if !self.describe_url().is_empty() && HostPort::parse(self.describe_url()).is_none() {
            return Err(format!("describe_url: {:?} is not an http://host:port URL", self.describe_url()));
        }
        for o in &self.cors_origins {
            if !valid_origin(o) {
                return Err(format!(
                    "cors_origins: {o:?}: list each web client's origin as https://host[:port] (or http://localhost \
                     or http://127.0.0.1 with an optional port), lower case, no path, no wildcard; '*' is never \
                     allowed"
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
        if self.max_connections_per_address < 1 {
            return Err("max_connections_per_address: must be at least 1".into());
        }
        if self.rate_limits
            && (self.rate_window_s < 1
                || self.rate_per_principal < 1
                || self.rate_writes_per_principal < 1
                || self.rate_per_address < 1)
        {
            return Err("rate_*: windows and quotas must be at least 1".into());
        }
        let store = self.rate_store_url();
        if self.rate_limits && !store.is_empty() && !valid_redis_url(store) {
            return Err("rate_store_url: not a redis:// or rediss://[[user]:password@]host[:port][/db] URL".into());
        }
        if self.rate_store_username.is_some() && self.rate_store_password.is_none() {
            return Err("rate_store_username: needs rate_store_password".into());
        }
        if let Some(ca) = &self.rate_store_ca_file {
            if !store.starts_with("rediss://") {
                return Err("rate_store_ca_file: only for a rediss:// store".into());
            }
            std::fs::metadata(ca).map_err(|e| format!("rate_store_ca_file: {ca}: {e}"))?;
        }
        Ok(())
    }
}

/// serde's error as `field: reason`, so that the message starts with the setting it is about.
fn describe(e: &str) -> String {
    for marker in ["unknown field `", "missing field `"] {
        if let Some(rest) = e.split(marker).nth(1) {
            let field = rest.split('`').next().unwrap_or("");
            return format!("{field}: {e}");
        }
    }
    format!("configuration: {e}")
}

/// A redis:// or rediss:// URL the Redis client accepts (host, port, credentials, database).
pub fn valid_redis_url(url: &str) -> bool {
    (url.starts_with("redis://") || url.starts_with("rediss://")) && redis::Client::open(url).is_ok()
}

/// An `http://host[:port][/prefix]` URL: the authority to connect to (and send as Host), the prefix.
#[derive(Debug, Clone, PartialEq)]
pub struct HostPort {
    pub authority: String,
    pub prefix: String,
}

impl HostPort {
    pub fn parse(url: &str) -> Option<HostPort> {
        let uri: Uri = url.parse().ok()?;
        if uri.scheme_str() != Some("http") || uri.query().is_some() || url.contains('#') {
            return None;
        }
        let authority = uri.authority()?;
        let port_given = authority.as_str().rsplit_once(':').is_some_and(|(_, p)| !p.ends_with(']'));
        if authority.as_str().contains('@')
            || authority.host().is_empty()
            || (port_given && authority.port_u16().is_none())
        {
            return None;
        }
        let prefix = uri.path().trim_end_matches('/').to_string();
        Some(HostPort { authority: authority.as_str().to_string(), prefix })
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

/// A valid configuration: one service (facilities at 127.0.0.1:8101), quotas on, no CORS origin (the
/// tests' and the fuzzing harness's starting point).
pub(crate) const SAMPLE: &str = r#"{"upstreams": {"facilities": {"url": "http://127.0.0.1:8101", "timeout_s": 10}},
    "describe_url": "", "connect_timeout_s": 0.5, "breaker_failures": 3, "breaker_cooldown_s": 5,
    "max_body_bytes": 1048576, "cors_origins": [], "rate_limits": true, "rate_window_s": 60,
    "rate_per_principal": 600, "rate_writes_per_principal": 120, "rate_per_address": 1200,
    "rate_store_url": ""}"#;

#[cfg(test)]
pub mod tests {
    use super::*;

    pub fn valid() -> String {
        SAMPLE.to_string()
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
            "https://*.example.eu",
            "https://A.eu",
            "https://a.eu/",
            "https://a.eu:0",
            "https://a.eu:65536",
            "https://a.eu:",
            "https://-a.eu",
            "https://a-.eu",
            "https://a..eu",
            "http://a.eu",
            "http://localhost.evil.example",
            "https://a.eu:443x",
            "null",
            "",
        ] {
            assert!(!valid_origin(bad), "{bad} accepted");
        }
    }

    #[test]
    fn each_bad_setting_is_refused_naming_it() {
        let cases = [
            ("cors_origins", r#""cors_origins": []"#, r#""cors_origins": ["*"]"#),
            ("connect_timeout_s", r#""connect_timeout_s": 0.5"#, r#""connect_timeout_s": 0"#),
            ("breaker_failures", r#""breaker_failures": 3"#, r#""breaker_failures": 0"#),
            ("max_body_bytes", r#""max_body_bytes": 1048576"#, r#""max_body_bytes": 1023"#),
            ("rate_*", r#""rate_per_address": 1200"#, r#""rate_per_address": 0"#),
            (
                "upstreams",
                r#""upstreams": {"facilities": {"url": "http://127.0.0.1:8101", "timeout_s": 10}}"#,
                r#""upstreams": {}"#,
            ),
            ("upstreams.facilities.url", r#""url": "http://127.0.0.1:8101""#, r#""url": "https://127.0.0.1:8101""#),
            ("upstreams.facilities.timeout_s", r#""timeout_s": 10"#, r#""timeout_s": 0"#),
            ("describe_url", r#""describe_url": """#, r#""describe_url": "https://docs""#),
            ("rate_store_url", r#""rate_store_url": """#, r#""rate_store_url": "http://r""#),
            ("rate_store_url", r#""rate_store_url": """#, r#""rate_store_url": "redis://h:x""#),
            ("surprise", r#""rate_store_url": """#, r#""rate_store_url": "", "surprise": 1"#),
            ("configuration", r#""rate_window_s": 60"#, r#""rate_window_s": "60""#),
            ("breaker_cooldown_s", r#""breaker_cooldown_s": 5,"#, ""),
        ];
        for (field, from, to) in cases {
            let raw = valid().replace(from, to);
            assert_ne!(raw, valid(), "{field}: the case changes nothing");
            match Config::from_json(&raw) {
                Err(e) => assert!(e.starts_with(field), "{field}: got {e}"),
                Ok(_) => panic!("{field}: accepted"),
            }
        }
        let c = Config::from_json(&valid()).expect("a valid configuration was refused");
        assert_eq!(c.max_connections_per_address, 256);
    }

    #[test]
    fn urls() {
        let h = HostPort::parse("http://facilities:8000/").unwrap();
        assert_eq!((h.authority.as_str(), h.prefix.as_str()), ("facilities:8000", ""));
        let h = HostPort::parse("http://svc/base").unwrap();
        assert_eq!((h.authority.as_str(), h.prefix.as_str()), ("svc", "/base"));
        for bad in ["http://", "https://svc", "http://u:p@svc:1", "http://svc:1/x?y=1", "svc:1", "http://svc:x"] {
            assert!(HostPort::parse(bad).is_none(), "{bad}");
        }
        for ok in ["redis://:secret@127.0.0.1:7000/2", "redis://cache", "rediss://u:p@cache:6380/1"] {
            assert!(valid_redis_url(ok), "{ok}");
        }
        for bad in ["redis://h:x", "http://cache", "redis://cache/notadb"] {
            assert!(!valid_redis_url(bad), "{bad}");
        }
    }
}
