//! With tail sampling, `force_flush` leaves a trace whose root is still running undecided:
//! an error recorded after the flush still keeps the whole trace.

use std::time::Duration;

use obs_core::trace::TailSampling;
use obs_core::{ExporterKind, Signal};

mod common;

#[test]
fn a_flush_does_not_decide_a_trace_that_is_still_running() {
    let (runtime, receiver) = common::receiver();
    let telemetry = common::exporting_to(&receiver, "tail-flush")
        .exporter(Signal::Logs, ExporterKind::None)
        .exporter(Signal::Metrics, ExporterKind::None)
        // Only failed traces (or ones slower than an hour) are kept.
        .tail_sampling(TailSampling::new(Duration::from_secs(3600)))
        .init()
        .expect("init");

    let root = tracing::info_span!("job", otel.status_code = tracing::field::Empty);
    root.in_scope(|| tracing::info_span!("step").in_scope(|| {}));
    telemetry.force_flush().expect("flush");
    root.record("otel.status_code", "error");
    drop(root);
    telemetry.shutdown_blocking().expect("shutdown");

    let spans = runtime
        .block_on(
            receiver
                .store()
                .wait_for_spans(|s| s.len() >= 2, Duration::from_secs(10)),
        )
        .expect("the failed trace is exported whole");
    let mut names: Vec<&str> = spans.iter().map(|s| s.name()).collect();
    names.sort_unstable();
    assert_eq!(names, ["job", "step"]);
}
