//! The floor of a front on hyper: what the least a hyper 1.x proxy can do costs a request, measured
//! by `bench.edge_instructions --floor` beside the front and nginx. Not a front: no rule at all (no
//! request id, no headers of its own, no body cap, no deadline, no metrics, no pool), one service
//! connection per client connection, the request and the answer passed through as hyper reads them,
//! on the front's runtime (tokio, one thread) and crates.
//!
//! Run: `cargo run --release --example floor -- LISTEN_ADDRESS SERVICE_ADDRESS`

use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::cell::RefCell;
use std::rc::Rc;
use tokio::net::{TcpListener, TcpStream};

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(listen), Some(service)) = (args.next(), args.next()) else {
        eprintln!("usage: floor LISTEN_ADDRESS SERVICE_ADDRESS");
        std::process::exit(2)
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, async move {
        let listener = TcpListener::bind(&listen).await.expect("the listening address");
        loop {
            let Ok((client, _)) = listener.accept().await else { continue };
            tokio::task::spawn_local(connection(client, service.clone()));
        }
    });
}

async fn connection(client: TcpStream, service: String) {
    let Ok(upstream) = TcpStream::connect(&service).await else { return };
    let _ = (client.set_nodelay(true), upstream.set_nodelay(true));
    let Ok((tx, conn)) = hyper::client::conn::http1::handshake(TokioIo::new(upstream)).await else { return };
    tokio::task::spawn_local(conn);
    // one request at a time on an HTTP/1.1 connection: the sender is never borrowed twice at once
    let tx = Rc::new(RefCell::new(tx));
    let forward = service_fn(move |req: Request<Incoming>| {
        let tx = tx.clone();
        async move {
            std::future::poll_fn(|cx| tx.borrow_mut().poll_ready(cx)).await?;
            let answer = tx.borrow_mut().send_request(req);
            let answer: Response<Incoming> = answer.await?;
            Ok::<_, hyper::Error>(answer)
        }
    });
    let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(client), forward).await;
}
