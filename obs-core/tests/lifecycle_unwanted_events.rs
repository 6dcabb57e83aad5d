//! An event that RUST_LOG rules out and the span layer doesn't need is never built: its
//! fields are not evaluated (hyper's and h2's per-frame `debug!`s cost nothing at `info`),
//! while the events RUST_LOG lets through (also `log` records), and ERROR events, which fail
//! their span, are.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use obs_core::{ExporterKind, Signal};

mod common;

/// Which of the events' fields were evaluated.
static BUILT: AtomicUsize = AtomicUsize::new(0);

fn built(event: usize) -> usize {
    BUILT.fetch_or(1 << event, Ordering::Relaxed);
    event
}

#[test]
fn events_no_layer_wants_are_never_built() {
    let (runtime, receiver) = common::receiver();
    let telemetry = common::exporting_to(&receiver, "unwanted-events")
        .exporter(Signal::Metrics, ExporterKind::None)
        .log_filter("info,chatty=debug")
        .init()
        .expect("init");

    tracing::info_span!("request").in_scope(|| {
        tracing::debug!(event = built(0), "below RUST_LOG");
        tracing::trace!(target: "chatty", event = built(1), "below chatty's level");
        tracing::debug!(target: "chatty", event = built(2), "chatty at debug");
        tracing::error!(event = built(3), "failed");
        // `log` records take their own way in (one callsite per level for all targets):
        // this one is let through by its target although its level's callsite is off.
        tracing_log::log::debug!(target: "chatty", "a log record at debug");
    });
    telemetry.shutdown_blocking().expect("shutdown");

    assert_eq!(
        BUILT.load(Ordering::Relaxed),
        0b1100,
        "only the events RUST_LOG lets through were built"
    );
    let store = receiver.store();
    let logs = runtime
        .block_on(store.wait_for_logs(|l| l.len() >= 3, Duration::from_secs(10)))
        .expect("the three log records arrived");
    let mut bodies: Vec<_> = logs.iter().filter_map(|l| l.body_str()).collect();
    bodies.sort_unstable();
    assert_eq!(
        bodies,
        ["a log record at debug", "chatty at debug", "failed"]
    );
    let spans = common::spans_arrived(&runtime, &receiver, "the span arrived");
    assert_eq!(
        spans[0].span.status.as_ref().map(|s| s.code),
        Some(2),
        "the ERROR event failed its span (STATUS_CODE_ERROR)"
    );
}
