//! A span too large for any request the receiver takes, dropped while a flush exports it,
//! was not delivered by that flush: the flush says so, with why, as it does for a failed
//! export, instead of reporting success.

use std::time::Duration;

use obs_core::{BatchSettings, ExporterKind, Signal};

mod common;

#[test]
fn a_span_too_large_to_send_fails_the_flush_that_drops_it() {
    let (runtime, receiver) = common::receiver();
    let telemetry = common::exporting_to(&receiver, "too-large-at-flush")
        .exporter(Signal::Logs, ExporterKind::None)
        .exporter(Signal::Metrics, ExporterKind::None)
        .max_request_bytes(64 * 1024)
        // Exported by the flush, not by the schedule.
        .span_batch(BatchSettings {
            schedule_delay: Duration::from_secs(3600),
            ..BatchSettings::SPANS
        })
        .init()
        .expect("init");
    let payload = "p".repeat(128 * 1024);
    tracing::info_span!("huge", payload = payload.as_str()).in_scope(|| {});
    tracing::info_span!("small").in_scope(|| {});

    let err = telemetry
        .force_flush()
        .expect_err("the huge span was not delivered");
    assert_eq!(err.failures.len(), 1, "{err}");
    let traces = &err.failures[0];
    assert_eq!((traces.signal, traces.unsent), (Signal::Traces, 1), "{err}");
    assert!(
        traces
            .error
            .contains("larger than the largest OTLP request"),
        "{err}"
    );

    // The small one arrived; a flush with nothing too large succeeds.
    let spans = common::spans_arrived(&runtime, &receiver, "the small span arrived");
    assert_eq!(spans[0].name(), "small");
    tracing::info_span!("after").in_scope(|| {});
    telemetry.force_flush().expect("nothing too large");
    telemetry.shutdown_blocking().expect("shutdown");
}
