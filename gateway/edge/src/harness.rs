//! Bytes served through the front on an in-memory connection, by the same server code as a client's
//! (hyper's parser, the edge's rules, a service that is down): what the libFuzzer target
//! (gateway/edge/fuzz, `make fuzz-edge`) and the property tests (src/fuzz.rs) drive.

use crate::config::{Config, SAMPLE};
use crate::edge::Edge;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A front of its own for each exchange (fresh quotas and breaker): its one service is down
/// (127.0.0.1:9), its body cap 2 KiB, one CORS origin allowed, quotas on.
fn front() -> Arc<Edge> {
    let raw = SAMPLE
        .replace("http://127.0.0.1:8101", "http://127.0.0.1:9")
        .replace("\"max_body_bytes\": 1048576", "\"max_body_bytes\": 2048")
        .replace("\"cors_origins\": []", "\"cors_origins\": [\"https://a.eu\"]");
    Arc::new(Edge::new(&Config::from_json(&raw).expect("a valid configuration")).expect("an edge"))
}

/// What the front sends back for `input` on one connection (the client half-closes after sending), or
/// None when it neither answered nor closed within 12 s (an incomplete head has 10 s to end).
pub fn exchange(input: &[u8]) -> Option<Vec<u8>> {
    let edge = front();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    rt.block_on(async {
        let (mut client, server) = tokio::io::duplex(1 << 16);
        let serving = tokio::spawn(crate::server::serve_one(server, edge));
        let mut out = Vec::new();
        let talk = async {
            client.write_all(input).await.ok();
            client.shutdown().await.ok();
            client.read_to_end(&mut out).await.ok();
        };
        let done = tokio::time::timeout(Duration::from_secs(12), talk).await;
        serving.abort();
        done.ok().map(|()| out)
    })
}

/// The client preface of HTTP/2 over cleartext (RFC 9113 §3.4): the front serves h2c to whoever sends it.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Whether `out` is what the front may send back for `input`: nothing (it closed), an HTTP/1 status
/// line first, or, to a client that opened with HTTP/2's preface, HTTP/2 frames beginning with the
/// server's SETTINGS frame (its 9-byte header: type 0x4, stream 0).
pub fn well_formed(input: &[u8], out: &[u8]) -> bool {
    if input.starts_with(H2_PREFACE) {
        return out.is_empty() || (out.len() >= 9 && out[3] == 0x4 && out[5..9] == [0, 0, 0, 0]);
    }
    out.is_empty() || out.starts_with(b"HTTP/1.1 ") || out.starts_with(b"HTTP/1.0 ")
}
