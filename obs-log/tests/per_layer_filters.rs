//! The layers under `RUST_LOG`-style per-layer filters, as `obs-core` installs them.

mod common;

use common::{captured, objects};
use obs_log::JsonLayer;
use obs_trace::SpanLayer;
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
