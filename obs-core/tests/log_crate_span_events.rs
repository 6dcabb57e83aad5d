//! With span events on, a `log` crate record the traces filter lets through becomes a span
//! event as a `tracing` event of the same target and level does, even below `RUST_LOG`
//! (which filters only the log lines and OTLP log records).

use obs_core::{ExporterKind, Signal};
use tracing_log::log;

mod common;

#[test]
fn log_records_the_traces_filter_lets_through_are_span_events_below_rust_log() {
    let (runtime, receiver) = common::receiver();
    let telemetry = common::exporting_to(&receiver, "log-span-events")
        .exporter(Signal::Metrics, ExporterKind::None)
        .exporter(Signal::Logs, ExporterKind::None)
        .log_filter("info")
        .traces_filter("info,legacy=debug")
        .span_events(true)
        .init()
        .expect("init");

    tracing::info_span!("request").in_scope(|| {
        tracing::debug!(target: "legacy::db", "tracing debug");
        log::debug!(target: "legacy::db", "log debug");
        // Below the traces filter: no span event.
        log::debug!(target: "other", "log debug elsewhere");
    });
    telemetry.shutdown_blocking().expect("shutdown");

    let spans = common::spans_arrived(&runtime, &receiver, "the span arrived");
    let events: Vec<&str> = spans[0]
        .span
        .events
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    assert_eq!(events, ["tracing debug", "log debug"], "{spans:#?}");
}
