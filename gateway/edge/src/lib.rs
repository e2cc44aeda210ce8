//! cg-edge: the compiled front of a regional gateway in the distributed mode.
//!
//! It answers /api/v1/<service>/… itself (request id, security headers, CORS allow-list, quotas in
//! memory or shared in Redis, body cap, then a keep-alive connection pool per service with a
//! timeout, one retry for idempotent requests that got no answer, and a circuit breaker), serves
//! /healthz, /readyz and /metrics, and passes every other path (the merged API description, the
//! docs page) to the Python gateway at `describe_url`. Its configuration is the gateway's own
//! settings (CG_GATEWAY_*), validated and written as JSON by `clustergrowth run edge`
//! (gateway/front.py). HTTP is hyper's, on tokio; this crate holds the edge's policy.
//!
//! The binary (src/main.rs) calls [`main`]; [`harness`] serves bytes through the front for the
//! libFuzzer target (gateway/edge/fuzz) and the property tests.

#![forbid(unsafe_code)]

mod config;
mod edge;
#[cfg(test)]
mod fuzz;
pub mod harness;
mod log;
mod metrics;
mod proxy;
mod quotas;
mod reply;
mod server;

use log::{ERROR, INFO};
use std::sync::Arc;

const USAGE: &str = "usage: cg-edge [-listen HOST:PORT] [-config FILE]   (else the JSON in $CG_EDGE_CONFIG)";

/// The process: arguments, configuration, the runtime, and the front until SIGTERM or SIGINT.
pub fn main() {
    log::set_level(&std::env::var("CG_LOG_LEVEL").unwrap_or_default());
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
    // rustls (a rediss:// quota store) needs its process-wide crypto provider chosen: ring
    let _ = rustls::crypto::ring::default_provider().install_default();
    // One thread by default, as one nginx worker: a request's client and service connections are
    // served by the same thread, with no cross-thread wake-ups (CPU per request measured by
    // bench.gateway); CG_EDGE_WORKERS=n runs n threads.
    let workers: usize = std::env::var("CG_EDGE_WORKERS").ok().and_then(|v| v.parse().ok()).unwrap_or(1);
    let mut builder = if workers <= 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(workers);
        b
    };
    let runtime = builder.enable_all().build().unwrap_or_else(|e| refuse(&format!("cannot start the runtime: {e}")));
    runtime.block_on(run(cfg, listen));
}

async fn run(cfg: config::Config, listen: String) {
    use tokio::signal::unix::{signal, SignalKind};
    let (mut term, mut int) = match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
        (Ok(t), Ok(i)) => (t, i),
        _ => refuse("cannot install the signal handlers"),
    };
    let listener = tokio::net::TcpListener::bind(&listen).await.unwrap_or_else(|e| {
        log::log(ERROR, "cannot listen", &[("address", &listen), ("error", &e.to_string())]);
        std::process::exit(1)
    });
    let edge = Arc::new(edge::Edge::new(&cfg).unwrap_or_else(|e| refuse(&e)));
    let conns = Arc::new(server::Conns::new(server::total_cap(), cfg.max_connections_per_address));
    server::log_listening(&listen, cfg.upstreams.len(), &conns);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let serving = tokio::spawn(server::serve(listener, edge, conns, stopped));
    let sig = tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    };
    log::log(INFO, "stopping", &[("signal", sig)]);
    let _ = stop.send(true);
    let _ = serving.await;
}

fn refuse(why: &str) -> ! {
    log::log(ERROR, "refusing to start", &[("error", why)]);
    std::process::exit(2)
}
