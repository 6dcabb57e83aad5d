//! Two axum services over loopback, A calling B through the client layer, produce one trace
//! with the right parent/child links: caller CLIENT -> A SERVER -> A CLIENT -> B SERVER.
//!
//! [`TwoServices`] only starts the services; whoever installs the subscriber decides where
//! spans go (here an in-memory sink; the same helper serves a real-collector test).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use obs_core::opentelemetry::trace::SpanKind;
use obs_core::tower::HttpServerLayer;
use obs_core::trace::{InMemorySpanSink, SpanData, SpanLayer};
use obs_core::tracing_subscriber::prelude::*;
use obs_tests::http::{get_text, serve, traced_client};
use obs_tests::wait::wait_until;

/// Service B (`GET /items/{id}`) and service A (`GET /front`, which calls B), each behind
/// [`HttpServerLayer`], on free loopback ports.
struct TwoServices {
    a: SocketAddr,
}

impl TwoServices {
    async fn start() -> TwoServices {
        let b = Router::new()
            .route(
                "/items/{id}",
                get(|Path(id): Path<u32>| async move { format!("item {id}") }),
            )
            .layer(HttpServerLayer::new());
        let b = serve(b).await;
        let client = traced_client();
        let a = Router::new()
            .route(
                "/front",
                get(move || {
                    let client = client.clone();
                    async move { get_text(&client, &format!("http://{b}/items/7")).await }
                }),
            )
            .layer(HttpServerLayer::new());
        TwoServices { a: serve(a).await }
    }
}

/// Waits (at most 10 s) until `sink` holds `count` spans: server spans end when their
/// response body has been written, a moment after the caller has read it.
async fn wait_for_spans(sink: &InMemorySpanSink, count: usize) -> Vec<SpanData> {
    wait_until(Duration::from_secs(10), || sink.spans().len() >= count).await;
    sink.spans()
}

fn one<'a>(spans: &'a [SpanData], kind: SpanKind, name: &str) -> &'a SpanData {
    let found: Vec<_> = spans
        .iter()
        .filter(|s| s.kind == kind && s.name == name)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "one {kind:?} span {name:?} expected in {spans:#?}"
    );
    found[0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_through_two_services_is_one_trace_with_the_right_links() {
    let sink = InMemorySpanSink::new();
    obs_core::tracing_subscriber::registry()
        .with(SpanLayer::new().with_sink(Arc::new(sink.clone())))
        .init();
    let services = TwoServices::start().await;

    let body = get_text(&traced_client(), &format!("http://{}/front", services.a)).await;
    assert_eq!(body, "item 7");

    let spans = wait_for_spans(&sink, 4).await;
    assert_eq!(spans.len(), 4, "{spans:#?}");
    let caller = &spans
        .iter()
        .filter(|s| s.kind == SpanKind::Client)
        .find(|s| !s.parent_span_id.is_valid())
        .expect("the test's own call is a root CLIENT span");
    let server_a = one(&spans, SpanKind::Server, "GET /front");
    let server_b = one(&spans, SpanKind::Server, "GET /items/{id}");
    let client_a = spans
        .iter()
        .find(|s| s.kind == SpanKind::Client && s.parent_span_id.is_valid())
        .expect("A's call to B");

    for span in [server_a, client_a, server_b] {
        assert_eq!(span.span_context.trace_id, caller.span_context.trace_id);
    }
    assert_eq!(server_a.parent_span_id, caller.span_context.span_id);
    assert!(server_a.parent_is_remote);
    assert_eq!(client_a.parent_span_id, server_a.span_context.span_id);
    assert!(!client_a.parent_is_remote);
    assert_eq!(server_b.parent_span_id, client_a.span_context.span_id);
    assert!(server_b.parent_is_remote);
}
