//! Prometheus metrics with the Python gateway's names (prometheus-client, OpenMetrics text).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

const BUCKETS: [f64; 12] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Red {
    method: &'static str,
    route: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Timed {
    method: &'static str,
    route: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Service {
    service: String,
}

type Histograms = Family<Timed, Histogram, fn() -> Histogram>;

/// A label set answers were counted under lately, with its series' handles (they share the families'
/// values): counting an answer under it takes neither family's lock nor hashes its labels.
struct Seen {
    method: &'static str,
    route: &'static str,
    status: u16,
    count: Counter,
    duration: Histogram,
}

/// How many label sets are kept at hand; others are counted through the families.
const AT_HAND: usize = 64;

pub struct Metrics {
    registry: Registry,
    requests: Family<Red, Counter>,
    durations: Histograms,
    dials: Family<Service, Counter>,
    circuit: Family<Service, Gauge>,
    refused: Counter,
    seen: std::sync::Mutex<Vec<Seen>>,
}

impl Default for Metrics {
    fn default() -> Metrics {
        let mut registry = Registry::default();
        let requests = Family::<Red, Counter>::default();
        let durations: Histograms = Family::new_with_constructor(|| Histogram::new(BUCKETS));
        let dials = Family::<Service, Counter>::default();
        let circuit = Family::<Service, Gauge>::default();
        let refused = Counter::default();
        registry.register("http_requests", "HTTP requests by route template and status", requests.clone());
        registry.register(
            "http_request_duration_seconds",
            "HTTP request duration by route template",
            durations.clone(),
        );
        registry.register(
            "gateway_upstream_connections",
            "Connections opened to each service (keep-alive reuses them)",
            dials.clone(),
        );
        registry.register(
            "gateway_upstream_circuit_open",
            "1 while a service's circuit is open (requests answered 503 at once)",
            circuit.clone(),
        );
        registry.register(
            "gateway_connections_refused",
            "Client connections answered 503 at a connection cap (per address or in all)",
            refused.clone(),
        );
        Metrics { registry, requests, durations, dials, circuit, refused, seen: Default::default() }
    }
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

impl Metrics {
    /// One answer, counted under labels that are all static (no allocation per request).
    pub fn observe(&self, method: &'static str, route: &'static str, status: u16, seconds: f64) {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = seen.iter().find(|s| s.status == status && s.route == route && s.method == method) {
            s.duration.observe(seconds);
            s.count.inc();
            return;
        }
        let duration = self.durations.get_or_create(&Timed { method, route }).clone();
        let count = self.requests.get_or_create(&Red { method, route, status }).clone();
        duration.observe(seconds);
        count.inc();
        if seen.len() < AT_HAND {
            seen.push(Seen { method, route, status, count, duration });
        }
    }

    pub fn dialled(&self, service: &str) {
        self.dials.get_or_create(&Service { service: service.to_string() }).inc();
    }

    pub fn circuit(&self, service: &str, open: bool) {
        self.circuit.get_or_create(&Service { service: service.to_string() }).set(i64::from(open));
    }

    pub fn refused(&self) {
        self.refused.inc();
    }

    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counts_and_buckets() {
        let m = Metrics::default();
        m.observe(method_label("GET"), "/api/v1/x/*", 200, 0.002);
        m.observe(method_label("BREW"), "/api/v1/x/*", 200, 0.002);
        m.dialled("x");
        m.circuit("x", true);
        let text = m.render();
        assert!(
            text.contains("http_requests_total{method=\"GET\",route=\"/api/v1/x/*\",status=\"200\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("http_requests_total{method=\"OTHER\",route=\"/api/v1/x/*\",status=\"200\"} 1\n"));
        // 0.002 s is above the first bucket (1 ms) and inside the second (2.5 ms)
        let bucket = |le: &str| format!("_bucket{{le=\"{le}\",method=\"GET\",route=\"/api/v1/x/*\"}}");
        assert!(text.contains(&format!("{} 0\n", bucket("0.001"))), "{text}");
        assert!(text.contains(&format!("{} 1\n", bucket("0.0025"))), "{text}");
        assert!(text.contains("gateway_upstream_connections_total{service=\"x\"} 1\n"));
        assert!(text.contains("gateway_upstream_circuit_open{service=\"x\"} 1\n"));
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn label_sets_beyond_those_at_hand_are_counted_too() {
        let m = Metrics::default();
        // AT_HAND + 1 statuses, each answered twice (the second time from the handles at hand, but for
        // the last one), and one more GET under the first status
        let statuses: Vec<u16> = (0..=AT_HAND as u16).map(|i| 200 + i).collect();
        for _ in 0..2 {
            for s in &statuses {
                m.observe("GET", "/api/v1/x/*", *s, 0.002);
            }
        }
        m.observe("GET", "/api/v1/x/*", 200, 0.002);
        let text = m.render();
        let count =
            |status: u16| format!("http_requests_total{{method=\"GET\",route=\"/api/v1/x/*\",status=\"{status}\"}} ");
        assert!(text.contains(&format!("{}3\n", count(200))), "{text}");
        assert!(text.contains(&format!("{}2\n", count(201))), "{text}");
        assert!(text.contains(&format!("{}2\n", count(263))), "{text}");
        assert!(text.contains(&format!("{}2\n", count(264))), "the one beyond those at hand: {text}");
        // 2 x 65 + 1 = 131 durations, all in the 2.5 ms bucket
        assert!(
            text.contains("http_request_duration_seconds_count{method=\"GET\",route=\"/api/v1/x/*\"} 131\n"),
            "{text}"
        );
    }
}
