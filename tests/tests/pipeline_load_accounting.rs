//! Bursts of spans and log records well above the queue's capacity, and many metric series,
//! through a real collector: every item is either received behind the collector or counted
//! as dropped, exactly once, for each signal, over OTLP/gRPC and over OTLP/HTTP-protobuf.
//! The pipeline's threads and open files are back to what they were once shutdown returns.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use obs_core::{Protocol, Signal};
use obs_tests::load::{
    Chain, Resources, assert_accounted, builder, emit, exported, per_protocol, telemetry_counters,
};
use obs_tests::wait::poll_blocking;

/// Bursts, each followed by a flush (which also pushes the metrics).
const BURSTS: u64 = 5;
/// Spans, and log records, per burst: far more than the queue holds.
const BURST: u64 = 4_000;
/// Series of the test's counter, each a metric point per push.
const SERIES: usize = 300;

#[test]
fn every_item_of_a_burst_is_received_or_counted_as_dropped() {
    per_protocol(
        "every_item_of_a_burst_is_received_or_counted_as_dropped",
        run,
    );
}

fn run(protocol: Protocol) {
    let chain = Chain::start();
    let endpoint = chain.endpoint(protocol);
    let Chain {
        runtime,
        receiver,
        collector,
    } = chain;
    let before = Resources::now();
    let telemetry = builder(
        "load-accounting",
        protocol,
        endpoint,
        Duration::from_millis(20),
    )
    // Pushed by the flushes and the shutdown only, so the test knows how many pushes.
    .metric_export_interval(Duration::from_secs(3600))
    .shutdown_timeout(Duration::from_secs(10))
    .init()
    .expect("init");
    let requests = obs_core::metrics::global()
        .dyn_family::<obs_core::metrics::Counter>(
            "load_requests",
            "Requests per client.",
            &["client"],
        )
        .expect("family");
    let mut pushes = 0;
    for burst in 0..BURSTS {
        for i in 0..BURST {
            emit(burst * BURST + i);
            requests
                .get(&[("client", &(i as usize % SERIES).to_string())])
                .inc();
        }
        telemetry
            .force_flush()
            .unwrap_or_else(|e| panic!("burst {burst}: {e}; {:?}", telemetry.counts()));
        pushes += 1;
    }
    // Every push sends every series of the registry: the test's, and obs's own counters.
    let points: usize = obs_core::metrics::global()
        .collect()
        .iter()
        .map(|f| f.points.len())
        .sum();
    let counts = telemetry.counts();
    for signal in [Signal::Traces, Signal::Logs] {
        let c = counts.iter().find(|c| c.signal == signal).expect("counted");
        assert!(
            c.dropped_queue_full > 0,
            "a burst overflows the queue: {c:?}"
        );
        assert!(c.exported > 0, "{c:?}");
    }
    telemetry.shutdown_blocking().expect("delivered");
    pushes += 1;
    // Stopped with SIGTERM, rotel sends what it holds before it exits.
    drop(collector);

    let produced = BURSTS * BURST;
    let metric_points = pushes * points as u64;
    let received = receiver.store().stats();
    eprintln!(
        "{protocol:?}: produced {produced} spans and log records, {metric_points} metric points; \
         received {received:?}; exposition:\n{}",
        telemetry_counters()
    );
    for (signal, n, received) in [
        (Signal::Traces, produced, received.spans_received),
        (Signal::Logs, produced, received.logs_received),
        (
            Signal::Metrics,
            metric_points,
            received.metric_points_received,
        ),
    ] {
        assert_accounted(signal, n);
        assert_eq!(
            received,
            exported(signal),
            "{signal:?}: what obs counts as exported arrived behind the collector"
        );
    }
    let after = Resources::settled(&before);
    assert_eq!(after, before, "threads and open files after shutdown");
    runtime.block_on(receiver.shutdown());
}

/// Threads that make spans and log records.
const PRODUCERS: u64 = 4;
/// Spans (and log records) each producer makes at most: it stops earlier, when told.
const PER_PRODUCER: u64 = 2_000_000;
/// Spans (and log records) made before the shutdown, and after it, at least.
const AROUND: u64 = 20_000;

#[test]
fn threads_still_producing_across_shutdown_lose_nothing_uncounted() {
    per_protocol(
        "threads_still_producing_across_shutdown_lose_nothing_uncounted",
        produce_across_shutdown,
    );
}

/// Producers on their own threads go on through a shutdown on the main thread (requests
/// still running during a graceful stop): what they made before is exported or dropped,
/// what they made after is dropped, all of it counted once.
fn produce_across_shutdown(protocol: Protocol) {
    let chain = Chain::start();
    let endpoint = chain.endpoint(protocol);
    let Chain {
        runtime,
        receiver,
        collector,
    } = chain;
    let telemetry = builder("load-across-shutdown", protocol, endpoint, Duration::ZERO)
        .exporter(Signal::Metrics, obs_core::ExporterKind::None)
        .shutdown_timeout(Duration::from_secs(10))
        .init()
        .expect("init");
    let made = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let (made, stop) = (made.clone(), stop.clone());
            std::thread::spawn(move || {
                for i in 0..PER_PRODUCER {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    emit(p * PER_PRODUCER + i);
                    made.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let made_at_least = |n: u64| {
        let made = poll_blocking(Duration::from_secs(60), Duration::from_millis(1), || {
            (made.load(Ordering::Relaxed) >= n).then_some(())
        });
        assert!(made.is_some(), "the producers made {n} spans");
    };
    made_at_least(AROUND);
    // Served at once, though the queues never empty; only what the producers made during
    // the final export is not delivered, and said so.
    if let Err(error) = telemetry.shutdown_blocking() {
        assert!(
            error.failures.iter().all(|f| f
                .error
                .contains("made during or after shutdown are not exported")),
            "{error}"
        );
    }
    let at_shutdown = made.load(Ordering::Relaxed);
    made_at_least(at_shutdown + AROUND);
    stop.store(true, Ordering::Relaxed);
    for producer in producers {
        producer.join().expect("the producer finished");
    }
    drop(collector);

    let produced = made.load(Ordering::Relaxed);
    let received = receiver.store().stats();
    for (signal, received) in [
        (Signal::Traces, received.spans_received),
        (Signal::Logs, received.logs_received),
    ] {
        assert_accounted(signal, produced);
        assert_eq!(received, exported(signal), "{signal:?}");
    }
    runtime.block_on(receiver.shutdown());
}
