//! With tail sampling, a span that ends after shutdown, under a local root that never ends,
//! is counted: nothing decides its trace any more, so it is decided at once.

use std::time::Duration;

use obs_core::trace::TailSampling;
use obs_core::{ExporterKind, Signal};

mod common;

/// The sum of the series of the global registry's exposition that start with `series`.
fn counted(series: &str) -> u64 {
    let text = obs_core::metrics::global().encode(obs_core::metrics::text::Format::Prometheus);
    text.lines()
        .filter(|l| l.starts_with(series))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

#[test]
fn spans_ending_after_shutdown_under_a_root_that_never_ends_are_counted() {
    let (_runtime, receiver) = common::receiver();
    let telemetry = common::exporting_to(&receiver, "tail-after-shutdown")
        .exporter(Signal::Logs, ExporterKind::None)
        .exporter(Signal::Metrics, ExporterKind::None)
        // Only failed traces (or ones slower than an hour) are kept.
        .tail_sampling(TailSampling::new(Duration::from_secs(3600)))
        .init()
        .expect("init");

    // Two long-running jobs (a stream, a background loop) whose roots never end.
    let quiet = tracing::info_span!("quiet job");
    let failing = tracing::info_span!("failing job");
    telemetry.shutdown_blocking().expect("shutdown");
    quiet.in_scope(|| tracing::info_span!("step").in_scope(|| {}));
    failing.in_scope(|| {
        tracing::info_span!("step", otel.status_code = "error").in_scope(|| {});
    });

    // The quiet step is dropped by tail sampling; the failed one is kept, and dropped by
    // the stopped exporter. Both counted, neither exported.
    assert_eq!(counted("obs_tail_sampling_dropped_spans_total"), 1);
    assert_eq!(counted("obs_telemetry_dropped_total{signal=\"traces\""), 1);
    assert_eq!(counted("obs_telemetry_exported_total{signal=\"traces\""), 0);
    drop((quiet, failing));
}
