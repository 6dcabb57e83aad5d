//! The layers under `RUST_LOG`-style per-layer filters, as `obs-core` installs them.

mod common;

use common::{captured, objects};
use obs_log::{InMemoryLogSink, JsonLayer, OtlpLogLayer};
use obs_trace::{SpanExt, SpanLayer};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::prelude::*;

#[test]
fn per_target_directives_filter_events_and_spans_for_this_layer_only() {
    let (filtered, everything) = (captured(), captured());
    let subscriber = tracing_subscriber::registry()
        .with(SpanLayer::new())
        .with(
            JsonLayer::new()
                .with_writer(filtered.clone())
                .with_filter(EnvFilter::new("info,noisy=warn")),
        )
        .with(
            JsonLayer::new()
                .with_writer(everything.clone())
                .with_filter(EnvFilter::new("trace")),
        );
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!(target: "app", "app info");
        tracing::debug!(target: "app", "app debug");
        tracing::info!(target: "noisy::pool", "noisy info");
        tracing::warn!(target: "noisy::pool", "noisy warn");
        let _outer = tracing::info_span!(target: "app", "request", id = 1).entered();
        // Disabled for the filtered layer (info < warn for `noisy`), enabled for the other.
        let _inner = tracing::info_span!(target: "noisy", "pool_checkout", conn = 9).entered();
        tracing::error!(target: "app", "in spans");
    });

    let filtered = objects(&filtered);
    let messages: Vec<&str> = filtered
        .iter()
        .map(|o| o["message"].as_str().unwrap())
        .collect();
    assert_eq!(messages, ["app info", "noisy warn", "in spans"]);
    let in_spans = &filtered[2];
    assert_eq!(
        in_spans["spans"],
        serde_json::json!([{"name": "request", "id": 1}])
    );

    let everything = objects(&everything);
    assert_eq!(everything.len(), 5);
    let in_spans_all = &everything[4];
    assert_eq!(
        in_spans_all["spans"],
        serde_json::json!([{"name": "request", "id": 1}, {"name": "pool_checkout", "conn": 9}])
    );
    // The trace context does not depend on this layer's filter: both lines carry the ids of
    // the innermost span, which the span layer saw.
    assert_eq!(in_spans["span_id"], in_spans_all["span_id"]);
    assert_eq!(in_spans["trace_id"], in_spans_all["trace_id"]);
}

/// An event whose explicit `parent:` is a span the layer's own filter disables
/// (`RUST_LOG=error` and an `info_span!`) belongs to that span's trace all the same, as an
/// event inside it does: the filter decides which lines are written, not which trace they
/// are part of.
#[test]
fn an_explicit_parent_the_layers_filter_disables_still_stamps_its_ids() {
    let out = captured();
    let sink = InMemoryLogSink::new();
    let subscriber = tracing_subscriber::registry()
        .with(SpanLayer::new())
        .with(
            JsonLayer::new()
                .with_writer(out.clone())
                .with_filter(EnvFilter::new("error")),
        )
        .with(OtlpLogLayer::new(sink.clone()).with_filter(EnvFilter::new("error")));
    let context = tracing::subscriber::with_default(subscriber, || {
        let request = tracing::info_span!("request");
        tracing::error!(parent: &request, "failed, outside its span");
        request.span_context().expect("the span layer saw it")
    });
    let lines = objects(&out);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(
        lines[0]["trace_id"],
        context.trace_id.to_string(),
        "{lines:?}"
    );
    assert_eq!(lines[0]["span_id"], context.span_id.to_string());
    assert_eq!(
        lines[0].get("spans"),
        None,
        "the span itself is filtered out"
    );
    let records = sink.records();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].trace_id, Some(context.trace_id));
    assert_eq!(records[0].span_id, Some(context.span_id));
    assert_eq!(records[0].trace_flags, Some(context.flags));
}

/// A layer cloned once registered, then put in another subscriber, reads explicit parents in
/// that subscriber, as it reads the current span there: span ids are per subscriber, and the
/// first one's span of the same id belongs to another trace.
#[test]
fn a_layer_cloned_into_another_subscriber_reads_explicit_parents_there() {
    let sink = InMemoryLogSink::new();
    let first = tracing::Dispatch::new(
        tracing_subscriber::registry()
            .with(SpanLayer::new())
            .with(OtlpLogLayer::new(sink.clone()).with_filter(EnvFilter::new("error"))),
    );
    // A clone of the layer the first subscriber registered (it shares the sink).
    let registered = first
        .downcast_ref::<OtlpLogLayer>()
        .expect("the layer")
        .clone();
    // The first subscriber's span 1, alive while the second makes its own span 1.
    let other = tracing::dispatcher::with_default(&first, || tracing::info_span!("other"));
    let second = tracing_subscriber::registry()
        .with(SpanLayer::new())
        .with(registered.with_filter(EnvFilter::new("error")));
    let context = tracing::subscriber::with_default(second, || {
        let request = tracing::info_span!("request");
        assert_eq!(request.id(), other.id(), "the same id in both subscribers");
        tracing::error!(parent: &request, "failed, outside its span");
        request.span_context().expect("the span layer saw it")
    });
    let records = sink.records();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].trace_id, Some(context.trace_id));
    assert_eq!(records[0].span_id, Some(context.span_id));
}
