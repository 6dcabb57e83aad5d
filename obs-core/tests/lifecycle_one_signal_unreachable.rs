//! Shutdown with one signal's collector unreachable (it accepts connections and never
//! answers): the other signals still get their final export, and the unreachable one's
//! failure counts every item it could not deliver, also in `obs_telemetry_dropped_total`.

use std::net::TcpListener;
use std::time::Duration;

use obs_core::{BatchSettings, ExporterKind, Signal};

mod common;

const SPANS: u64 = 50;

#[test]
fn an_unreachable_signal_costs_the_others_nothing_and_counts_its_losses() {
    let (runtime, receiver) = common::receiver();
    // Accepts and holds every connection, never answering.
    let black_hole = TcpListener::bind("127.0.0.1:0").unwrap();
    let black_hole_addr = black_hole.local_addr().unwrap();
    std::thread::spawn(move || {
        let held: Vec<_> = black_hole.incoming().collect();
        drop(held);
    });

    let telemetry = common::exporting_to(&receiver, "one-unreachable")
        .otlp_signal_endpoint(
            Signal::Traces,
            format!("http://{black_hole_addr}/v1/traces"),
        )
        // Longer than the shutdown: the traces export is still waiting when time is up.
        .otlp_timeout(Duration::from_secs(30))
        .exporter(Signal::Logs, ExporterKind::None)
        // Ten batches of five: four exports hang, the worker holds the fifth batch while it
        // waits for an export slot, and five stay queued. All of them count as unsent.
        .span_batch(BatchSettings {
            schedule_delay: Duration::from_millis(10),
            max_export_batch_size: 5,
            ..BatchSettings::SPANS
        })
        .metric_export_interval(Duration::from_secs(3600))
        // Room for the metrics push on a loaded machine; the test lasts this long, since
        // the traces never answer.
        .shutdown_timeout(Duration::from_secs(5))
        .init()
        .expect("init");
    obs_core::metrics::global()
        .counter("final_push", "Counted before shutdown.")
        .unwrap()
        .inc();
    for i in 0..SPANS {
        tracing::info_span!("lost", i).in_scope(|| {});
    }

    let err = telemetry
        .shutdown_blocking()
        .expect_err("the traces could not be delivered");
    assert_eq!(err.failures.len(), 1, "only traces failed: {err}");
    let traces = &err.failures[0];
    assert_eq!(traces.signal, Signal::Traces, "{err}");
    assert_eq!(traces.unsent, SPANS, "every span is reported unsent: {err}");

    // The metrics' final push went out within the same timeout.
    let metrics = runtime
        .block_on(receiver.store().wait_for_metrics(
            |m| m.iter().any(|m| m.name == "final_push"),
            Duration::from_secs(10),
        ))
        .expect("the final metrics push arrived");
    assert!(metrics.iter().any(|m| m.name == "final_push"));

    // And every lost span is counted as dropped.
    let exposition =
        obs_core::metrics::global().encode(obs_core::metrics::text::Format::Prometheus);
    let line = format!(
        "obs_telemetry_dropped_total{{signal=\"traces\",reason=\"export_failed\"}} {SPANS}\n"
    );
    assert!(exposition.contains(&line), "{exposition}");
}
