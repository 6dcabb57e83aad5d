//! Feature `reqwest`: an application traces its reqwest calls with `obs-core` as its only
//! obs dependency, building the client from the `reqwest` and `reqwest-middleware` that
//! `obs_core::tower::reqwest` re-exports.
#![cfg(feature = "reqwest")]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use obs_core::tower::HttpClientLayer;
use obs_core::tower::reqwest::{TracingMiddleware, reqwest, reqwest_middleware};
use obs_core::trace::{InMemorySpanSink, SpanLayer};
use obs_core::tracing_subscriber::prelude::*;

/// Accepts one connection on `listener`, answers `200` and returns the request head.
fn answer_once(listener: TcpListener) -> String {
    let (mut stream, _) = listener.accept().expect("accept");
    // Bounded: a client that stalls fails the read instead of hanging the test.
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut head = Vec::new();
    let mut chunk = [0; 1024];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 64 * 1024 {
        let n = stream.read(&mut chunk).expect("read the request");
        assert!(n > 0, "the client closed before the end of the head");
        head.extend_from_slice(&chunk[..n]);
    }
    stream
        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
        .unwrap();
    String::from_utf8(head).unwrap()
}

#[tokio::test(flavor = "current_thread")]
async fn a_reqwest_call_through_obs_core_is_a_client_span_whose_context_is_sent() {
    let sink = InMemorySpanSink::new();
    let subscriber = obs_core::tracing_subscriber::registry()
        .with(SpanLayer::new().with_sink(Arc::new(sink.clone())));
    let _guard = obs_core::tracing::subscriber::set_default(subscriber);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || answer_once(listener));

    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(TracingMiddleware::new(
            HttpClientLayer::new().with_registry(&obs_core::metrics::Registry::new()),
        ))
        .build();
    let response = client
        .get(format!("http://{addr}/users/7"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let head = server.join().unwrap();
    let span = &sink.spans()[0];
    let traceparent = format!(
        "traceparent: 00-{}-{}-",
        span.span_context.trace_id, span.span_context.span_id
    );
    assert!(head.contains(&traceparent), "{traceparent} not in\n{head}");
}
