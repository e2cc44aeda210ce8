//! Prometheus metrics with the Python gateway's names, in the text exposition format.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

const BUCKETS: [f64; 12] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

#[derive(Default)]
struct Histogram {
    counts: [u64; 12],
    count: u64,
    sum: f64,
}

#[derive(Default)]
struct Red {
    requests: BTreeMap<(&'static str, String, u16), u64>,
    durations: BTreeMap<(&'static str, String), Histogram>,
}

#[derive(Default)]
pub struct Metrics {
    red: Mutex<Red>,
    dials: Mutex<BTreeMap<String, u64>>,
    circuit: Mutex<BTreeMap<String, u8>>,
}

/// The method as a label: the known ones, everything else as OTHER (a client cannot mint series).
pub fn method_label(m: &str) -> &'static str {
    match m {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        _ => "OTHER",
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Metrics {
    pub fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let method = method_label(method);
        let mut red = lock(&self.red);
        *red.requests.entry((method, route.to_string(), status)).or_default() += 1;
        let h = red.durations.entry((method, route.to_string())).or_default();
        h.count += 1;
        h.sum += seconds;
        for (i, b) in BUCKETS.iter().enumerate() {
            if seconds <= *b {
                h.counts[i] += 1;
            }
        }
    }

    pub fn dialled(&self, service: &str) {
        *lock(&self.dials).entry(service.to_string()).or_default() += 1;
    }

    pub fn circuit(&self, service: &str, open: bool) {
        lock(&self.circuit).insert(service.to_string(), u8::from(open));
    }

    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        let red = lock(&self.red);
        out.push_str("# HELP http_requests_total HTTP requests by route template and status\n");
        out.push_str("# TYPE http_requests_total counter\n");
        for ((m, r, s), n) in &red.requests {
            let _ = writeln!(out, "http_requests_total{{method=\"{m}\",route=\"{}\",status=\"{s}\"}} {n}", esc(r));
        }
        out.push_str("# HELP http_request_duration_seconds HTTP request duration by route template\n");
        out.push_str("# TYPE http_request_duration_seconds histogram\n");
        for ((m, r), h) in &red.durations {
            let labels = format!("method=\"{m}\",route=\"{}\"", esc(r));
            for (b, c) in BUCKETS.iter().zip(h.counts) {
                let _ = writeln!(out, "http_request_duration_seconds_bucket{{{labels},le=\"{b}\"}} {c}");
            }
            let _ = writeln!(out, "http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}", h.count);
            let _ = writeln!(out, "http_request_duration_seconds_sum{{{labels}}} {}", h.sum);
            let _ = writeln!(out, "http_request_duration_seconds_count{{{labels}}} {}", h.count);
        }
        drop(red);
        out.push_str(
            "# HELP gateway_upstream_connections_total Connections opened to each service (keep-alive reuses them)\n",
        );
        out.push_str("# TYPE gateway_upstream_connections_total counter\n");
        for (s, n) in lock(&self.dials).iter() {
            let _ = writeln!(out, "gateway_upstream_connections_total{{service=\"{}\"}} {n}", esc(s));
        }
        out.push_str("# HELP gateway_upstream_circuit_open 1 while a service's circuit is open (requests answered 503 at once)\n");
        out.push_str("# TYPE gateway_upstream_circuit_open gauge\n");
        for (s, n) in lock(&self.circuit).iter() {
            let _ = writeln!(out, "gateway_upstream_circuit_open{{service=\"{}\"}} {n}", esc(s));
        }
        out
    }
}

fn esc(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counts_and_buckets() {
        let m = Metrics::default();
        m.observe("GET", "/api/v1/x/*", 200, 0.002);
        m.observe("BREW", "/api/v1/x/*", 200, 0.002);
        m.dialled("x");
        m.circuit("x", true);
        let text = m.render();
        assert!(text.contains("http_requests_total{method=\"GET\",route=\"/api/v1/x/*\",status=\"200\"} 1\n"));
        assert!(text.contains("http_requests_total{method=\"OTHER\",route=\"/api/v1/x/*\",status=\"200\"} 1\n"));
        assert!(text.contains("le=\"0.001\"} 0\n") && text.contains("le=\"0.0025\"} 1\n"));
        assert!(text.contains("gateway_upstream_connections_total{service=\"x\"} 1\n"));
        assert!(text.contains("gateway_upstream_circuit_open{service=\"x\"} 1\n"));
    }
}
