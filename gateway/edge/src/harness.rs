//! Bytes served through the front on an in-memory connection, by the same server code as a client's
//! (hyper's parser, the edge's rules, a service that is down): what the libFuzzer target
//! (gateway/edge/fuzz, `make fuzz-edge`) and the property tests (src/fuzz.rs) drive.

use crate::config::{Config, SAMPLE};
use crate::edge::Edge;
use std::cell::Cell;
use std::sync::{Arc, Once};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A front of its own for each exchange (fresh quotas and breaker): its one service is down
/// (127.0.0.1:9), its body cap 2 KiB, one CORS origin allowed, quotas on.
fn front() -> Arc<Edge> {
    let raw = SAMPLE
        .replace("http://127.0.0.1:8101", "http://127.0.0.1:9")
        .replace("\"max_body_bytes\": 1048576", "\"max_body_bytes\": 2048")
        .replace("\"cors_origins\": []", "\"cors_origins\": [\"https://a.eu\"]");
    let cfg = Config::from_json(&raw).expect("a valid configuration");
    assert!(cfg.max_body_bytes == 2048 && cfg.cors_origins == ["https://a.eu"], "SAMPLE changed: {raw}");
    assert!(raw.contains("http://127.0.0.1:9\""), "SAMPLE changed: {raw}");
    Arc::new(Edge::new(&cfg).expect("an edge"))
}

thread_local! {
    /// Whether code on this thread panicked since `watched` began (the runtime has one thread: every
    /// task of an exchange, hyper's HTTP/2 streams included, runs on the caller's).
    static PANICKED: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` and panics if anything panicked on this thread meanwhile, even inside a task whose panic
/// tokio caught and nobody awaited. The hook is chained to the one before it (libFuzzer's aborts).
pub(crate) fn watched<T>(f: impl FnOnce() -> T) -> T {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let before = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICKED.with(|p| p.set(true));
            before(info);
        }));
    });
    PANICKED.with(|p| p.set(false));
    let out = f();
    assert!(!PANICKED.with(|p| p.replace(false)), "the front panicked while serving the input");
    out
}

/// What the front sends back for `input` on one connection (the client half-closes after sending; over
/// HTTP/2 it says GOAWAY first). Panics when the front neither answered nor closed within 12 s (an
/// incomplete head has 10 s to end), and when any of its tasks panicked.
pub fn exchange(input: &[u8]) -> Vec<u8> {
    exchange_waiting(input, H2_QUIET)
}

/// `exchange`, an HTTP/2 client waiting up to `quiet` for the front to close after its GOAWAY.
pub(crate) fn exchange_waiting(input: &[u8], quiet: Duration) -> Vec<u8> {
    QUIET.call_once(|| crate::log::set_level("ERROR")); // "upstream failed" for every input otherwise
    let edge = front();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    watched(|| {
        rt.block_on(async {
            let (client, server) = tokio::io::duplex(1 << 16);
            let serving = tokio::spawn(crate::server::serve_one(server, edge));
            let (mut from, mut to) = tokio::io::split(client);
            let mut out = Vec::new();
            let (closed, on_close) = tokio::sync::oneshot::channel::<()>();
            let send = async {
                to.write_all(input).await.ok();
                if input.starts_with(H2_PREFACE) {
                    // HTTP/2 ends a connection at the end of its input, answered or not: the client says
                    // GOAWAY instead, lets the front answer what it started, then half-closes
                    to.write_all(&GOAWAY).await.ok();
                    tokio::time::timeout(quiet, on_close).await.ok();
                }
                to.shutdown().await.ok();
            };
            let receive = async {
                from.read_to_end(&mut out).await.ok();
                closed.send(()).ok();
            };
            // written and read together: a long pipelined input cannot fill both directions and stall
            let done = tokio::time::timeout(Duration::from_secs(12), async { tokio::join!(send, receive) }).await;
            serving.abort();
            assert!(done.is_ok(), "no answer and no close for {:?}", String::from_utf8_lossy(input));
            out
        })
    })
}

static QUIET: Once = Once::new();

/// The client preface of HTTP/2 over cleartext (RFC 9113 §3.4): the front serves h2c to whoever sends it.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// A client's GOAWAY (RFC 9113 §6.8): last stream 0, NO_ERROR.
const GOAWAY: [u8; 17] = [0, 0, 8, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];

/// How long an HTTP/2 client waits for the front to close after its GOAWAY before it half-closes
/// (an input that ends inside a frame leaves the front waiting for the rest).
const H2_QUIET: Duration = Duration::from_millis(100);

/// `data` as the fuzz target sends it: an HTTP/1 input is ended ("\r\n\r\n"), so that a head that never
/// ends does not wait for the head deadline; an HTTP/2 one is sent as it is (`exchange` ends it).
pub fn ended(data: &[u8]) -> Vec<u8> {
    let mut input = data.to_vec();
    if !data.starts_with(H2_PREFACE) {
        input.extend_from_slice(b"\r\n\r\n");
    }
    input
}

/// Whether `out` is what the front may send back for `input`: nothing (it closed) or an HTTP/1 status
/// line (`HTTP/1.x`, three digits, a space) first; to a client that opened with HTTP/2's preface,
/// HTTP/2 frames beginning with the server's SETTINGS (RFC 9113 §3.4, §6.5: a 9-byte header, its
/// length a multiple of 6, type 0x4, no flag, stream 0), which h2 sends before reading anything.
pub fn well_formed(input: &[u8], out: &[u8]) -> bool {
    if input.starts_with(H2_PREFACE) {
        let length = out.get(..3).map(|l| u32::from_be_bytes([0, l[0], l[1], l[2]]));
        return out.len() >= 9 && length.is_some_and(|n| n % 6 == 0) && out[3..9] == [0x4, 0, 0, 0, 0, 0];
    }
    let status = |line: &[u8]| line.len() >= 13 && line[9..12].iter().all(u8::is_ascii_digit) && line[12] == b' ';
    out.is_empty() || ((out.starts_with(b"HTTP/1.1 ") || out.starts_with(b"HTTP/1.0 ")) && status(out))
}
