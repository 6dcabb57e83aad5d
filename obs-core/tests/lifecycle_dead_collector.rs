//! A dead collector costs the application nothing but dropped telemetry, every drop is
//! counted, and shutdown reports each signal that could not be delivered, without panicking
//! and without a Tokio runtime on the calling thread.

use std::time::Duration;

use obs_core::{BatchSettings, Protocol, Signal};

#[test]
fn a_dead_collector_only_drops_and_counts() {
    // Port 9 (discard), which nothing listens on here, as in the other tests of a dead
    // collector.
    let port = 9;
    let telemetry = obs_core::builder()
        .service_name("dead-collector")
        .protocol(Protocol::Grpc)
        .otlp_endpoint(format!("http://127.0.0.1:{port}"))
        .otlp_timeout(Duration::from_millis(300))
        .json_logs(false)
        .span_batch(BatchSettings {
            schedule_delay: Duration::from_millis(20),
            max_queue_size: 64,
            max_export_batch_size: 16,
            ..BatchSettings::SPANS
        })
        .metric_export_interval(Duration::from_millis(50))
        .shutdown_timeout(Duration::from_secs(3))
        .init()
        .expect("init outside any Tokio runtime");

    const SPANS: u64 = 5_000;
    for i in 0..SPANS {
        let _s = tracing::info_span!("work", i).entered();
    }
    let counts = telemetry.counts();
    let traces = counts.iter().find(|c| c.signal == Signal::Traces).unwrap();
    assert_eq!(traces.exported, 0);
    assert!(
        traces.dropped_queue_full > 0,
        "a 64-span queue overflows: {traces:?}"
    );

    let exposition =
        obs_core::metrics::global().encode(obs_core::metrics::text::Format::Prometheus);
    assert!(
        exposition.contains(r#"obs_telemetry_dropped_total{signal="traces",reason="queue_full"}"#),
        "{exposition}"
    );

    let err = telemetry
        .shutdown_blocking()
        .expect_err("nothing could be delivered");
    // The final metrics push is always made, and fails. Traces are in the report when some
    // were still queued or in export at shutdown, which depends on timing: an exporter
    // whose exports fail fast may have emptied its queue before. Either way no span is
    // lost uncounted: all of them are dropped and counted by the end.
    let signals: Vec<Signal> = err.failures.iter().map(|f| f.signal).collect();
    assert!(
        signals.contains(&Signal::Metrics),
        "every signal is tried: {err}"
    );
    assert!(
        err.to_string().contains(&port.to_string()),
        "the error names the endpoint: {err}"
    );
    let exposition =
        obs_core::metrics::global().encode(obs_core::metrics::text::Format::Prometheus);
    let dropped_spans: f64 = exposition
        .lines()
        .filter(|line| line.starts_with(r#"obs_telemetry_dropped_total{signal="traces","#))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(dropped_spans, SPANS as f64, "{err}\n{exposition}");
}
