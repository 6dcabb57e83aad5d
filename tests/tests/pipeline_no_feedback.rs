//! obs does not export what its own exports log. With `RUST_LOG=debug` the gRPC export to a
//! real collector logs each HTTP/2 frame it sends and receives (h2 does, at debug): were
//! those events exported, every export would make log records for the next one, for ever,
//! also in an idle application.

use obs_core::{ExporterKind, Protocol, Signal};
use obs_tests::collector::{Collector, free_port};

#[test]
fn the_exports_own_logging_is_not_exported() {
    // The collector's own forwarding goes nowhere: only what it receives matters here.
    let collector = Collector::start(&format!("http://127.0.0.1:{}", free_port()));
    let telemetry = obs_tests::pipeline::quick_batches(obs_core::builder())
        .service_name("no-feedback")
        .protocol(Protocol::Grpc)
        .otlp_endpoint(collector.grpc_endpoint.clone())
        .json_logs(false)
        // What RUST_LOG=debug does.
        .log_filter("debug")
        .exporter(Signal::Traces, ExporterKind::None)
        .exporter(Signal::Metrics, ExporterKind::None)
        .init()
        .expect("init");
    tracing::info!("the application's only log record");
    telemetry.force_flush().expect("delivered");
    // Whatever the first export logged was queued during it; this flush would export it.
    telemetry.force_flush().expect("delivered");
    let logs = telemetry
        .counts()
        .into_iter()
        .find(|c| c.signal == Signal::Logs)
        .expect("logs are exported");
    assert_eq!(
        (
            logs.exported,
            logs.dropped_queue_full,
            logs.dropped_export_failed
        ),
        (1, 0, 0),
        "only the application's record: {logs:?}\ncollector:\n{}",
        collector.output()
    );
    telemetry.shutdown_blocking().expect("shutdown");
}
