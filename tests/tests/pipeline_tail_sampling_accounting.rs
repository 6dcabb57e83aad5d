//! Tail sampling and log records carrying megabytes, against a real collector that freezes
//! mid-run: every span is exported, dropped by tail sampling, or dropped by the pipeline,
//! and counted once, including spans that end after shutdown under a root that never ends
//! and spans still waiting for a decision at shutdown; log records too large for the queue's
//! byte budget are counted as a full queue. Over OTLP/gRPC and OTLP/HTTP-protobuf.

use std::time::Duration;

use obs_core::trace::TailSampling;
use obs_core::{Protocol, Signal};
use obs_tests::load::{
    Chain, TARGET, assert_accounted, builder, exported, per_protocol, telemetry_counters,
};
use obs_tests::wait::poll_blocking;

/// Traces per phase, each a root and two children; every seventh fails.
const TRACES: u64 = 1_000;
/// Log records per phase, each with a 256 KiB message: four times the byte budget.
const RECORDS: u64 = 64;
const MESSAGE: usize = 256 * 1024;
const BUDGET: usize = 4 * 1024 * 1024;

#[test]
fn every_span_and_large_record_is_exported_or_counted_under_tail_sampling() {
    per_protocol(
        "every_span_and_large_record_is_exported_or_counted_under_tail_sampling",
        run,
    );
}

/// The value of the unlabelled counter `name` in the global registry's exposition.
fn counter(name: &str) -> u64 {
    obs_core::metrics::global()
        .encode(obs_core::metrics::text::Format::Prometheus)
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or(0)
}

/// Makes `TRACES` traces and `RECORDS` large log records, and a child of `stream` now and
/// then; returns how many spans ended.
fn phase(stream: &tracing::Span, message: &str) -> u64 {
    let mut spans = 0;
    for i in 0..TRACES {
        let status = if i % 7 == 0 { "error" } else { "ok" };
        tracing::info_span!(target: TARGET, "request", i).in_scope(|| {
            tracing::info_span!(target: TARGET, "step", otel.status_code = status).in_scope(|| {});
            tracing::info_span!(target: TARGET, "step").in_scope(|| {});
        });
        spans += 3;
        if i % 10 == 0 {
            stream.in_scope(|| tracing::info_span!(target: TARGET, "message").in_scope(|| {}));
            spans += 1;
        }
    }
    for i in 0..RECORDS {
        tracing::info!(target: TARGET, i, "{message}");
    }
    spans
}

fn run(protocol: Protocol) {
    let chain = Chain::start();
    let endpoint = chain.endpoint(protocol);
    let telemetry = builder(
        "tail-accounting",
        protocol,
        endpoint,
        Duration::from_millis(20),
    )
    .otlp_timeout(Duration::from_secs(1))
    .shutdown_timeout(Duration::from_secs(2))
    .max_queue_bytes(BUDGET)
    .tail_sampling(
        TailSampling::new(Duration::from_secs(3600))
            .with_keep_ratio(0.5)
            .with_max_buffered_spans(64),
    )
    .init()
    .expect("init");
    let message = "m".repeat(MESSAGE);
    // Long-lived streams whose roots never end; the quiet one ends its first child only
    // after shutdown.
    let stream = tracing::info_span!(target: TARGET, "stream");
    let quiet = tracing::info_span!(target: TARGET, "quiet stream");
    let mut spans = phase(&stream, &message);
    // The healthy collector takes spans and large records alike.
    let exporting = poll_blocking(Duration::from_secs(30), Duration::from_millis(20), || {
        (exported(Signal::Traces) > 0 && exported(Signal::Logs) > 0).then_some(())
    });
    assert!(exporting.is_some(), "{}", telemetry_counters());
    chain.collector.pause();
    spans += phase(&stream, &message);
    // Some spans still wait for their trace's decision at shutdown.
    tracing::info_span!(target: TARGET, "batch job").in_scope(|| {
        tracing::info_span!(target: TARGET, "step").in_scope(|| {});
        spans += 1;
        let _ = telemetry.shutdown_blocking();
    });
    spans += 1;
    // And some end after it.
    for _ in 0..10 {
        for root in [&stream, &quiet] {
            root.in_scope(|| tracing::info_span!(target: TARGET, "message").in_scope(|| {}));
            spans += 1;
        }
    }
    chain.collector.resume();
    eprintln!(
        "{protocol:?}: {spans} spans; exposition:\n{}",
        telemetry_counters()
    );
    let tail_dropped = counter("obs_tail_sampling_dropped_spans_total");
    assert!(tail_dropped > 0, "tail sampling dropped some");
    assert_accounted(Signal::Traces, spans - tail_dropped);
    assert_accounted(Signal::Logs, 2 * RECORDS);
    let queue_full = telemetry_counters()
        .lines()
        .filter(|l| l.contains("signal=\"logs\"") && l.contains("reason=\"queue_full\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum::<u64>();
    assert!(queue_full > 0, "the byte budget turned records away");
    drop((stream, quiet));
}
