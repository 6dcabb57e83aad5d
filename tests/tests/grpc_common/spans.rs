//! Spans in memory for the gRPC tests, and what they say.

use std::sync::Arc;
use std::time::Duration;

use obs_tests::wait::wait_until;
use obs_trace::opentelemetry::trace::{SpanKind, Status as SpanStatus};
use obs_trace::{InMemorySpanSink, SpanData, SpanLayer};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::prelude::*;

/// Records this thread's spans (current-thread runtimes: the servers' too) in memory.
pub fn capture() -> (InMemorySpanSink, tracing::subscriber::DefaultGuard) {
    let sink = InMemorySpanSink::new();
    // h2, hyper and tower have debug and trace spans of their own.
    let subscriber = tracing_subscriber::registry()
        .with(SpanLayer::new().with_sink(Arc::new(sink.clone())))
        .with(LevelFilter::INFO);
    (sink, tracing::subscriber::set_default(subscriber))
}

/// Waits (at most 10 s) until `sink` holds `count` spans, and takes them.
pub async fn take_spans(sink: &InMemorySpanSink, count: usize) -> Vec<SpanData> {
    wait_until(Duration::from_secs(10), || sink.spans().len() >= count).await;
    let spans = sink.take();
    assert_eq!(spans.len(), count, "{spans:#?}");
    spans
}

/// The span of this kind among `spans`.
pub fn of_kind(spans: &[SpanData], kind: SpanKind) -> &SpanData {
    spans.iter().find(|s| s.kind == kind).expect("span of kind")
}

/// The value of the span's attribute `key`, as a string.
pub fn attribute(span: &SpanData, key: &str) -> Option<String> {
    span.attribute(key).map(ToString::to_string)
}

/// Whether the span's status is an error.
pub fn is_error(span: &SpanData) -> bool {
    matches!(span.status, SpanStatus::Error { .. })
}

/// Asserts that `client`, a client span whose channel gave up at a deadline (tonic hands
/// the caller CANCELLED), records gRPC's code for it: DEADLINE_EXCEEDED, failed.
pub fn assert_client_deadline_exceeded(client: &SpanData) {
    assert_eq!(
        attribute(client, "rpc.grpc.status_code").as_deref(),
        Some("4"),
        "{client:#?}"
    );
    assert_eq!(
        attribute(client, "error.type").as_deref(),
        Some("DEADLINE_EXCEEDED")
    );
    assert!(is_error(client));
}
