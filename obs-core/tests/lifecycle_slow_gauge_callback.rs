//! A `gauge_fn` callback that takes long (a query, a lock the application holds) runs on
//! the thread that collects. Neither a scrape of the `OBS_METRICS_ADDR` listener nor the
//! metrics push may hold the export runtime's worker meanwhile: spans and log records
//! would wait for it, and their queues fill and drop.

use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use obs_core::BatchSettings;

mod common;

#[test]
fn a_callback_stuck_in_a_scrape_or_the_metrics_push_delays_no_span() {
    let (runtime, receiver) = common::receiver();
    let telemetry = common::exporting_to(&receiver, "slow-gauge")
        .process_metrics(false)
        .runtime_metrics(false)
        .metrics_addr("127.0.0.1:0".parse().unwrap())
        // Pushes only when flushed.
        .metric_export_interval(Duration::from_secs(3600))
        .span_batch(BatchSettings {
            schedule_delay: Duration::from_millis(10),
            ..BatchSettings::SPANS
        })
        .init()
        .expect("init");
    let metrics_addr = telemetry.metrics_addr().expect("a listener");
    let telemetry = Arc::new(telemetry);

    let (release, released) = mpsc::channel::<()>();
    let released = Mutex::new(released);
    let (entered_tx, entered) = mpsc::channel::<()>();
    let entered_tx = Mutex::new(entered_tx);
    let stuck = Arc::new(AtomicBool::new(false));
    let still_stuck = stuck.clone();
    obs_core::metrics::global()
        .gauge_fn("stuck_reading", "Read from somewhere slow.", move || {
            if still_stuck.swap(false, Ordering::Relaxed) {
                let _ = entered_tx.lock().unwrap().send(());
                // Bounded: the test releases it as soon as it has its answer.
                let _ = released
                    .lock()
                    .unwrap()
                    .recv_timeout(Duration::from_secs(30));
            }
            1.0
        })
        .unwrap();

    // Reads the callback through `collect`, on a thread of its own; checks that a span
    // made meanwhile is exported before the callback returns.
    let while_stuck = |what: &str, collect: Box<dyn FnOnce() + Send>| {
        stuck.store(true, Ordering::Relaxed);
        let collecting = std::thread::spawn(collect);
        entered
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("{what} reads the callback"));
        let name = format!("during_{what}");
        tracing::info_span!("work", otel.name = name.as_str()).in_scope(|| {});
        let spans = runtime.block_on(receiver.store().wait_for_spans(
            |spans| spans.iter().any(|s| s.name() == name),
            Duration::from_secs(10),
        ));
        let _ = release.send(());
        collecting.join().unwrap();
        spans.unwrap_or_else(|e| panic!("no span exported while {what} read the callback: {e}"));
    };
    while_stuck(
        "scrape",
        Box::new(move || {
            let mut stream = std::net::TcpStream::connect(metrics_addr).unwrap();
            stream
                .write_all(b"GET /metrics HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
                .unwrap();
            let mut response = String::new();
            stream.read_to_string(&mut response).unwrap();
            assert!(response.contains("stuck_reading 1\n"), "{response}");
        }),
    );
    let flushing = telemetry.clone();
    while_stuck(
        "push",
        Box::new(move || flushing.force_flush().expect("flush")),
    );
    Arc::into_inner(telemetry)
        .expect("the flushing thread ended")
        .shutdown_blocking()
        .expect("shutdown");
}
