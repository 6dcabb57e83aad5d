//! A span given a remote parent passes it on even when the span itself isn't traced: inside
//! an unsampled trace (both `UnsampledSpans` modes), and when the traces filter leaves the
//! span out. Its traced descendants continue the caller's trace.

use std::sync::Arc;

use http::{HeaderMap, HeaderValue};
use obs_trace::{
    InMemorySpanSink, Sampler, SpanData, SpanLayer, UnsampledSpans, extract,
    span_with_remote_parent,
};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::prelude::*;

const CALLER_TRACE: &str = "12345678901234567890123456789012";
const CALLER_SPAN: &str = "1234567890123456";

fn caller(flags: &str) -> obs_trace::RemoteParent {
    let mut headers = HeaderMap::new();
    let value = format!("00-{CALLER_TRACE}-{CALLER_SPAN}-{flags}");
    headers.insert("traceparent", HeaderValue::from_str(&value).unwrap());
    extract(&headers)
}

fn traced(layer: SpanLayer, f: impl FnOnce()) -> Vec<SpanData> {
    let sink = InMemorySpanSink::new();
    let subscriber = tracing_subscriber::registry().with(layer.with_sink(Arc::new(sink.clone())));
    tracing::subscriber::with_default(subscriber, f);
    sink.take()
}

/// A message handled inside an unsampled loop span: the message's own (sampled) trace.
fn handle_message_inside_an_unsampled_trace() {
    let outer = span_with_remote_parent(caller("00"), || tracing::info_span!("poll loop"));
    outer.in_scope(|| {
        let handler = span_with_remote_parent(caller("01"), || tracing::info_span!("handle"));
        handler.in_scope(|| tracing::info_span!("step").in_scope(|| {}));
    });
}

#[test]
fn a_remote_parent_inside_an_unsampled_trace_is_kept_in_both_modes() {
    for mode in [UnsampledSpans::Keep, UnsampledSpans::Skip] {
        let spans = traced(
            SpanLayer::new().with_unsampled_spans(mode),
            handle_message_inside_an_unsampled_trace,
        );
        let mut names: Vec<_> = spans.iter().map(|s| s.name.to_string()).collect();
        names.sort_unstable();
        assert_eq!(names, ["handle", "step"], "{mode:?}");
        let handle = spans.iter().find(|s| s.name == "handle").unwrap();
        assert_eq!(handle.span_context.trace_id.to_string(), CALLER_TRACE);
        assert_eq!(handle.parent_span_id.to_string(), CALLER_SPAN);
        assert!(handle.parent_is_remote);
    }
}

#[test]
fn a_filtered_out_span_passes_its_remote_parent_to_what_is_traced_inside() {
    let layer = SpanLayer::new()
        .with_sampler(Sampler::default())
        .with_traces_filter(Targets::new().with_default(tracing::Level::INFO));
    let spans = traced(layer, || {
        let server = span_with_remote_parent(caller("01"), || tracing::debug_span!("server"));
        server.in_scope(|| {
            assert_eq!(
                obs_trace::current_span_context().map(|c| c.trace_id.to_string()),
                Some(CALLER_TRACE.to_owned()),
                "logs inside the untraced span carry the caller's trace"
            );
            tracing::info_span!("work").in_scope(|| {});
        });
    });
    assert_eq!(spans.len(), 1, "{spans:#?}");
    let work = &spans[0];
    assert_eq!(work.name, "work");
    assert_eq!(work.span_context.trace_id.to_string(), CALLER_TRACE);
    assert_eq!(work.parent_span_id.to_string(), CALLER_SPAN);
    assert!(work.parent_is_remote);
}

/// Spans that name their parent, created while this thread is inside an unsampled trace:
/// a child of a sampled span of another trace, and a new root.
fn explicit_parents_inside_an_unsampled_trace() {
    let handler = span_with_remote_parent(caller("01"), || tracing::info_span!("handle"));
    let outer = span_with_remote_parent(caller("00"), || tracing::info_span!("poll loop"));
    outer.in_scope(|| {
        tracing::info_span!(parent: &handler, "callback").in_scope(|| {
            tracing::info_span!("callback step").in_scope(|| {});
        });
        tracing::info_span!(parent: None, "background job").in_scope(|| {
            tracing::info_span!("job step").in_scope(|| {});
        });
    });
}

#[test]
fn an_explicit_parent_decides_even_inside_an_unsampled_trace() {
    let spans = traced(
        SpanLayer::new().with_unsampled_spans(UnsampledSpans::Keep),
        explicit_parents_inside_an_unsampled_trace,
    );
    let span = |name: &str| {
        spans
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no {name} in {spans:?}"))
    };
    let (handle, callback) = (span("handle"), span("callback"));
    assert_eq!(callback.span_context.trace_id, handle.span_context.trace_id);
    assert_eq!(callback.parent_span_id, handle.span_context.span_id);
    assert_eq!(
        span("callback step").parent_span_id,
        callback.span_context.span_id
    );
    let job = span("background job");
    assert_ne!(
        job.span_context.trace_id.to_string(),
        CALLER_TRACE,
        "a new trace"
    );
    assert!(!job.parent_span_id.is_valid());
    assert_eq!(span("job step").parent_span_id, job.span_context.span_id);
    assert_eq!(spans.len(), 5, "nothing of the poll loop's trace");
}

#[test]
fn a_filtered_out_span_without_a_caller_lets_what_is_traced_inside_start_a_trace() {
    for mode in [UnsampledSpans::Keep, UnsampledSpans::Skip] {
        let layer = SpanLayer::new()
            .with_unsampled_spans(mode)
            .with_traces_filter(Targets::new().with_default(tracing::Level::INFO));
        let spans = traced(layer, || {
            // No `traceparent` came in: the untraced server span carries no trace.
            let server = span_with_remote_parent(obs_trace::RemoteParent::default(), || {
                tracing::debug_span!("server")
            });
            server.in_scope(|| tracing::info_span!("work").in_scope(|| {}));
        });
        let [work] = spans.as_slice() else {
            panic!("{mode:?}: the work span is traced: {spans:#?}");
        };
        assert_eq!(work.name, "work");
        assert!(work.span_context.is_valid() && work.span_context.is_sampled());
        assert!(!work.parent_span_id.is_valid(), "a root: {work:#?}");
    }
}
