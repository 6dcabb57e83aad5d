//! A service's first run, before any collector is started: an export that is still being
//! retried when shutdown gives up says why it had not succeeded (the endpoint, the refused
//! connection), not only that it was not done in time.

use std::net::TcpListener;
use std::time::Duration;

use obs_core::{ExporterKind, Protocol, Signal};

#[test]
fn shutdown_during_retries_names_the_failed_attempt() {
    // A port nothing listens on: every attempt is refused, and refused connections are
    // retried until the export timeout, which outlasts the shutdown timeout here.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let telemetry = obs_core::builder()
        .service_name("no-collector-yet")
        .protocol(Protocol::HttpProtobuf)
        .otlp_endpoint(format!("http://127.0.0.1:{port}"))
        .otlp_timeout(Duration::from_secs(60))
        .exporter(Signal::Logs, ExporterKind::None)
        .exporter(Signal::Metrics, ExporterKind::None)
        .json_logs(false)
        .shutdown_timeout(Duration::from_secs(1))
        .init()
        .expect("init");
    drop(tracing::info_span!("first request").entered());

    let err = telemetry.shutdown_blocking().expect_err("nothing listens");
    let traces = err
        .failures
        .iter()
        .find(|f| f.signal == Signal::Traces)
        .unwrap_or_else(|| panic!("traces failed: {err}"));
    assert!(
        traces.error.contains("while retrying after")
            && traces
                .error
                .contains(&format!("127.0.0.1:{port}/v1/traces")),
        "the failed attempt, with its endpoint: {err}"
    );
}
