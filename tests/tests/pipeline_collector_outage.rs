//! A real collector that freezes (SIGSTOP, then SIGCONT), crashes (SIGKILL) and comes back
//! on the same ports, mid-run, while the application keeps making spans and log records in
//! bursts: the application's loops always finish, the losses are counted as queue
//! overflows and failed exports, export resumes by itself once the collector is back, a
//! shutdown against a frozen collector keeps its deadline and says what it could not
//! deliver, and every item is exported or counted as dropped, once. Over OTLP/gRPC and
//! OTLP/HTTP-protobuf.

use std::time::{Duration, Instant};

use obs_core::{Protocol, Signal, SignalCounts, Telemetry};
use obs_tests::load::{
    Chain, Resources, assert_accounted, builder, emit, exported, per_protocol, telemetry_counters,
};
use obs_tests::wait::poll_blocking;

/// Bursts per outage, and spans (and log records) per burst: far more than the queue holds.
const BURSTS: u64 = 10;
const BURST: u64 = 1_000;
/// How long one export may take: shorter than the shutdown, so that a frozen collector's
/// exports fail, and are counted, while the test waits.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(1);
const SHUTDOWN: Duration = Duration::from_secs(3);
/// Room for a loaded machine beyond a deadline obs keeps.
const SLACK: Duration = Duration::from_secs(3);
/// How long a test waits for what the pipeline does by itself (fail, resume).
const WAIT: Duration = Duration::from_secs(30);

#[test]
fn a_frozen_or_restarted_collector_costs_the_app_only_counted_drops() {
    per_protocol(
        "a_frozen_or_restarted_collector_costs_the_app_only_counted_drops",
        run,
    );
}

/// The application under test: its guard, and how many spans (and log records) it made.
struct App {
    telemetry: Telemetry,
    produced: u64,
}

impl App {
    /// `bursts` bursts of spans and log records, as fast as the loop goes: a loop that
    /// waited on the collector would not return (the test would time out).
    fn bursts(&mut self, bursts: u64) {
        for _ in 0..bursts {
            for _ in 0..BURST {
                emit(self.produced);
                self.produced += 1;
            }
        }
    }

    fn counts(&self, signal: Signal) -> SignalCounts {
        let counts = self.telemetry.counts();
        counts
            .into_iter()
            .find(|c| c.signal == signal)
            .expect("every signal is counted")
    }

    /// Bursts into an unreachable collector: the loop finishes, the spans and log records
    /// that found the queue full are counted as such, and the exports under way fail and
    /// are counted, for every signal.
    fn bursts_into_the_void(&mut self, what: &str) {
        let before: Vec<SignalCounts> = Signal::ALL.map(|s| self.counts(s)).into();
        self.bursts(BURSTS);
        for b in &before[..2] {
            let now = self.counts(b.signal);
            assert!(
                now.dropped_queue_full > b.dropped_queue_full,
                "{what}: the queue overflowed and counted it: {b:?} then {now:?}"
            );
        }
        let failed = poll_blocking(WAIT, Duration::from_millis(20), || {
            before
                .iter()
                .all(|b| self.counts(b.signal).dropped_export_failed > b.dropped_export_failed)
                .then_some(())
        });
        assert!(
            failed.is_some(),
            "{what}: every signal's exports fail and are counted: {before:?} then {:?}",
            self.telemetry.counts()
        );
    }

    /// Waits until every signal exports again, making a span and a log record now and then
    /// meanwhile (the metrics push on their own).
    fn exports_again(&mut self, what: &str) {
        let before = Signal::ALL.map(exported);
        let resumed = poll_blocking(WAIT, Duration::from_millis(50), || {
            emit(self.produced);
            self.produced += 1;
            Signal::ALL
                .iter()
                .zip(before)
                .all(|(&s, b)| exported(s) > b)
                .then_some(())
        });
        assert!(
            resumed.is_some(),
            "{what}: export resumes without restarting the app: {before:?} then {:?}",
            self.telemetry.counts()
        );
    }
}

fn run(protocol: Protocol) {
    let chain = Chain::start();
    let endpoint = chain.endpoint(protocol);
    let Chain {
        runtime,
        receiver,
        mut collector,
    } = chain;
    let before = Resources::now();
    let telemetry = builder(
        "collector-outage",
        protocol,
        endpoint,
        Duration::from_millis(20),
    )
    .otlp_timeout(EXPORT_TIMEOUT)
    .metric_export_interval(Duration::from_millis(100))
    .shutdown_timeout(SHUTDOWN)
    .init()
    .expect("init");
    let mut app = App {
        telemetry,
        produced: 0,
    };
    app.exports_again("a healthy collector");

    collector.pause();
    app.bursts_into_the_void("a frozen collector");
    collector.resume();
    app.exports_again("a collector running again");

    // A killed collector loses what it acknowledged and has not forwarded yet: it is
    // killed once all of that has reached the receiver behind it.
    // (An export of the freeze still failing may make the flush an error: what matters
    // is that it sent what was queued.)
    let _flushed = app.telemetry.force_flush();
    let forwarded = poll_blocking(WAIT, Duration::from_millis(20), || {
        let received = receiver.store().stats();
        (received.spans_received >= exported(Signal::Traces)
            && received.logs_received >= exported(Signal::Logs))
        .then_some(())
    });
    assert!(forwarded.is_some(), "{:?}", receiver.store().stats());
    collector.kill();
    app.bursts_into_the_void("a crashed collector");
    collector.restart();
    app.exports_again("a restarted collector");

    collector.pause();
    app.bursts(1);
    let App {
        telemetry,
        produced,
    } = app;
    let stop = Instant::now();
    let error = telemetry
        .shutdown_blocking()
        .expect_err("a frozen collector takes nothing");
    let took = stop.elapsed();
    assert!(took < SHUTDOWN + SLACK, "shutdown took {took:?}");
    for signal in [Signal::Traces, Signal::Logs] {
        let failure = error.failures.iter().find(|f| f.signal == signal);
        assert!(
            failure.is_some_and(|f| f.unsent > 0),
            "{signal:?}: shutdown says what it could not deliver: {error}"
        );
    }
    collector.resume();
    // Stopped with SIGTERM, rotel sends what it holds before it exits.
    drop(collector);

    let received = receiver.store().stats();
    eprintln!(
        "{protocol:?}: produced {produced} spans and log records; received {received:?}; \
         shutdown in {took:?}: {error}; exposition:\n{}",
        telemetry_counters()
    );
    for (signal, received) in [
        (Signal::Traces, received.spans_received),
        (Signal::Logs, received.logs_received),
    ] {
        assert_accounted(signal, produced);
        // An export that timed out against the frozen collector may still have reached it
        // (it reads its sockets once it runs again): counted as dropped, and received.
        assert!(
            (exported(signal)..=produced).contains(&received),
            "{signal:?}: {received} received, {} exported",
            exported(signal)
        );
    }
    let after = Resources::settled(&before);
    assert_eq!(after, before, "threads and open files after shutdown");
    runtime.block_on(receiver.shutdown());
}
