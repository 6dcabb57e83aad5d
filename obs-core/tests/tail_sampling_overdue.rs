//! With tail sampling, a trace whose local root never ends is decided once it has waited
//! `max_wait`, even when no other span comes to trigger the decision.

use std::time::Duration;

use obs_core::trace::TailSampling;
use obs_core::{ExporterKind, Signal};

mod common;

#[test]
fn an_overdue_trace_is_exported_in_a_quiet_service() {
    let (runtime, receiver) = common::receiver();
    let telemetry = common::exporting_to(&receiver, "tail-overdue")
        .exporter(Signal::Logs, ExporterKind::None)
        .exporter(Signal::Metrics, ExporterKind::None)
        // Every trace counts as slow; one still waiting for its root is decided at 200 ms.
        .tail_sampling(TailSampling::new(Duration::ZERO).with_max_wait(Duration::from_millis(200)))
        .init()
        .expect("init");

    // The root stays open for the whole test: only the overdue decision can pass its
    // ended child on, and no span ends after it.
    let root = tracing::info_span!("stream");
    root.in_scope(|| tracing::info_span!("chunk").in_scope(|| {}));
    let spans = runtime
        .block_on(
            receiver
                .store()
                .wait_for_spans(|s| !s.is_empty(), Duration::from_secs(20)),
        )
        .expect("the ended child is exported before shutdown");
    assert_eq!(spans[0].name(), "chunk");
    drop(root);
    telemetry.shutdown_blocking().expect("shutdown");
}
