//! A subscriber set with `with_default` inside another's span: its log lines and records
//! carry its own spans' ids, never the outer subscriber's, with or without a span layer
//! of its own, under a per-layer filter as `obs-core` installs them.

mod common;

use common::{captured, objects};
use obs_log::{InMemoryLogSink, JsonLayer, OtlpLogLayer};
use obs_trace::{SpanExt, SpanLayer};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::prelude::*;

#[test]
fn a_nested_subscribers_logs_carry_only_its_own_spans() {
    let (outer_lines, inner_lines, bare_lines) = (captured(), captured(), captured());
    let (inner_records, bare_records) = (InMemoryLogSink::new(), InMemoryLogSink::new());
    let outer = tracing_subscriber::registry()
        .with(SpanLayer::new())
        .with(JsonLayer::new().with_writer(outer_lines.clone()));
    let inner = tracing::Dispatch::new(
        tracing_subscriber::registry()
            .with(SpanLayer::new())
            .with(
                JsonLayer::new()
                    .with_writer(inner_lines.clone())
                    .with_filter(EnvFilter::new("info")),
            )
            .with(OtlpLogLayer::new(inner_records.clone()).with_filter(EnvFilter::new("info"))),
    );
    // Log layers and no span layer: no span context, ever.
    let bare = tracing::Dispatch::new(
        tracing_subscriber::registry()
            .with(JsonLayer::new().with_writer(bare_lines.clone()))
            .with(OtlpLogLayer::new(bare_records.clone())),
    );
    let (outer_span, inner_span) = tracing::subscriber::with_default(outer, || {
        let request = tracing::info_span!("request");
        let _request = request.enter();
        tracing::info!("outer");
        let inner_span = tracing::dispatcher::with_default(&inner, || {
            tracing::info!("inner, outside its spans");
            let job = tracing::info_span!("job");
            job.in_scope(|| {
                tracing::info!("inner, in its span");
                tracing::dispatcher::with_default(&bare, || tracing::info!("bare"));
            });
            job.span_context().expect("traced")
        });
        (request.span_context().expect("traced"), inner_span)
    });

    let ids = |line: &serde_json::Map<String, serde_json::Value>| {
        (
            line.get("trace_id")
                .and_then(|t| t.as_str())
                .map(str::to_owned),
            line.get("span_id")
                .and_then(|s| s.as_str())
                .map(str::to_owned),
        )
    };
    let of =
        |c: &obs_trace::SpanContext| (Some(c.trace_id.to_string()), Some(c.span_id.to_string()));
    let outer_lines = objects(&outer_lines);
    assert_eq!(outer_lines.len(), 1);
    assert_eq!(ids(&outer_lines[0]), of(&outer_span));
    let inner_lines = objects(&inner_lines);
    assert_eq!(inner_lines.len(), 2);
    assert_eq!(ids(&inner_lines[0]), (None, None), "{:?}", inner_lines[0]);
    assert_eq!(ids(&inner_lines[1]), of(&inner_span));
    let bare_lines = objects(&bare_lines);
    assert_eq!(bare_lines.len(), 1);
    assert_eq!(ids(&bare_lines[0]), (None, None), "{:?}", bare_lines[0]);

    let inner_records = inner_records.take();
    let record_ids: Vec<_> = inner_records
        .iter()
        .map(|r| (r.trace_id, r.span_id))
        .collect();
    assert_eq!(
        record_ids,
        [
            (None, None),
            (Some(inner_span.trace_id), Some(inner_span.span_id))
        ]
    );
    let bare_records = bare_records.take();
    assert_eq!(bare_records.len(), 1);
    assert_eq!(
        (bare_records[0].trace_id, bare_records[0].span_id),
        (None, None)
    );
}
