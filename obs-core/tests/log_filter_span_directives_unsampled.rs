//! A `RUST_LOG` span directive (`[span]=level`) selects the OTLP log records logged in that
//! span whether or not its trace is sampled, with no JSON lines written: a span directive
//! needs the span to exist, so `init` creates the spans of unsampled traces for the log
//! layers then, as it does for the JSON lines (`OBS_UNSAMPLED_SPANS` unset). Sampling is a
//! decision about traces, not about which logs a filter lets through.

use obs_core::trace::Sampler;
use obs_core::{ExporterKind, Signal};

mod common;

#[test]
fn a_span_directive_selects_log_records_in_unsampled_traces() {
    let (runtime, receiver) = common::receiver();
    let telemetry = common::exporting_to(&receiver, "log-directives-unsampled")
        .exporter(Signal::Metrics, ExporterKind::None)
        .sampler(Sampler::AlwaysOff)
        .log_filter("warn,[query]=debug")
        .init()
        .expect("init");

    tracing::info_span!("request").in_scope(|| {
        tracing::debug!("in the request, below warn");
        // A span inside the unsampled trace: the directive names it.
        tracing::info_span!("query").in_scope(|| tracing::debug!("in the query"));
    });
    telemetry.shutdown_blocking().expect("shutdown");

    let logs = common::logs_arrived(&runtime, &receiver, "log records arrived");
    let bodies: Vec<_> = logs.iter().map(|l| l.body_str()).collect();
    assert_eq!(bodies, [Some("in the query")]);
    assert!(
        receiver.store().spans().is_empty(),
        "nothing is sampled: {:?}",
        receiver.store().spans()
    );
}
