//! cg-edge: the compiled front of a regional gateway in the distributed mode.
//!
//! It answers /api/v1/<service>/… itself (request id, security headers, CORS allow-list, quotas in
//! memory or shared in Redis, body cap, then a keep-alive connection pool per service with a
//! timeout, one retry for idempotent requests that got no answer, and a circuit breaker), serves
//! /healthz, /readyz and /metrics, and passes every other path (the merged API description, the
//! docs page) to the Python gateway at `describe_url`. Its configuration is the gateway's own
//! settings (CG_GATEWAY_*), validated and written as JSON by `clustergrowth run edge`
//! (gateway/front.py). The standard library only: it builds offline.

mod config;
mod edge;
mod http;
mod json;
mod metrics;
mod proxy;
mod quotas;
mod reply;
mod server;
mod util;

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;
use util::{ERROR, INFO};

const USAGE: &str = "usage: cg-edge [-listen HOST:PORT] [-config FILE]   (else the JSON in $CG_EDGE_CONFIG)";

fn main() {
    util::set_level(&std::env::var("CG_LOG_LEVEL").unwrap_or_default());
    util::seed();
    let mut listen = "127.0.0.1:8000".to_string();
    let mut config_path = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match (a.trim_start_matches('-'), args.next()) {
            ("listen", Some(v)) => listen = v,
            ("config", Some(v)) => config_path = Some(v),
            _ => {
                eprintln!("{USAGE}");
                std::process::exit(2);
            }
        }
    }
    let raw = match config_path {
        Some(p) => std::fs::read_to_string(&p).unwrap_or_else(|e| refuse(&format!("{p}: {e}"))),
        None => std::env::var("CG_EDGE_CONFIG").unwrap_or_default(),
    };
    if raw.trim().is_empty() {
        refuse("no configuration: pass -config FILE or set CG_EDGE_CONFIG (clustergrowth run edge does)");
    }
    let cfg = config::Config::from_json(&raw).unwrap_or_else(|e| refuse(&e));
    let wait_for_signal = util::signal_waiter(); // before any thread starts, so all inherit the mask
    let listener = TcpListener::bind(&listen).unwrap_or_else(|e| {
        util::log(ERROR, "cannot listen", &[("address", &listen), ("error", &e.to_string())]);
        std::process::exit(1)
    });
    let edge = Arc::new(edge::Edge::new(&cfg));
    let tracker = Arc::new(server::Tracker::default());
    let (e, t) = (edge.clone(), tracker.clone());
    std::thread::spawn(move || server::serve(listener, e, t));
    let address = listen.clone();
    util::log(INFO, "listening", &[("address", &address), ("services", &cfg.upstreams.len().to_string())]);
    let sig = wait_for_signal();
    util::log(INFO, "stopping", &[("signal", &sig.to_string())]);
    tracker.stop(Duration::from_secs(5));
    edge.close_idle();
}

fn refuse(why: &str) -> ! {
    util::log(ERROR, "refusing to start", &[("error", why)]);
    std::process::exit(2)
}
