//! `SpanData::local_root_span_id`: the spans of one request in one process share the id of
//! the span that started it there (its parent remote or absent), however they were
//! parented; another request of the same trace has its own.

use std::sync::Arc;

use obs_trace::{
    InMemorySpanSink, RemoteParent, SpanContext, SpanData, SpanId, SpanLayer, TraceFlags, TraceId,
    span_with_remote_parent,
};
use tracing_subscriber::prelude::*;

fn caller(span_id: u64) -> RemoteParent {
    RemoteParent {
        span: Some(SpanContext {
            trace_id: TraceId::from_u128(0x0af7651916cd43dd8448eb211c80319c),
            span_id: SpanId::from_u64(span_id),
            flags: TraceFlags::SAMPLED,
            is_remote: true,
            ..Default::default()
        }),
        baggage: Default::default(),
    }
}

fn named<'a>(spans: &'a [SpanData], name: &str) -> &'a SpanData {
    spans
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no span {name}"))
}

#[test]
fn spans_share_the_local_root_of_their_request() {
    let sink = InMemorySpanSink::new();
    let subscriber =
        tracing_subscriber::registry().with(SpanLayer::new().with_sink(Arc::new(sink.clone())));
    tracing::subscriber::with_default(subscriber, || {
        for (request, caller_span) in [("first", 1), ("second", 2)] {
            let server = span_with_remote_parent(caller(caller_span), || {
                tracing::info_span!("server", "otel.name" = request, "otel.kind" = "server")
            });
            server.in_scope(|| {
                let child = tracing::info_span!("child", "otel.name" = format!("{request} child"));
                child.in_scope(|| {
                    tracing::info_span!(
                        "grandchild",
                        "otel.name" = format!("{request} grandchild")
                    )
                    .in_scope(|| {});
                });
                // An explicit parent, not the current span.
                tracing::info_span!(parent: &child, "late", "otel.name" = format!("{request} late"))
                    .in_scope(|| {});
            });
        }
        let root = tracing::info_span!("background job");
        root.in_scope(|| tracing::info_span!("job step").in_scope(|| {}));
    });
    let spans = sink.spans();
    assert_eq!(spans.len(), 10);
    for request in ["first", "second"] {
        let server = named(&spans, request);
        let root = server.span_context.span_id;
        assert_eq!(
            server.local_root_span_id, root,
            "a remote parent starts one"
        );
        for part in ["child", "grandchild", "late"] {
            let span = named(&spans, &format!("{request} {part}"));
            assert_eq!(span.local_root_span_id, root, "{request} {part}");
        }
    }
    assert_ne!(
        named(&spans, "first").local_root_span_id,
        named(&spans, "second").local_root_span_id,
        "two requests of one trace are two local traces"
    );
    let job = named(&spans, "background job");
    assert_eq!(
        job.local_root_span_id, job.span_context.span_id,
        "no parent starts one"
    );
    assert_eq!(
        named(&spans, "job step").local_root_span_id,
        job.span_context.span_id
    );
}
