//! A service's first run, before any collector is started (or stopped after its sidecar
//! collector): shutdown does not wait out its deadline retrying connections nothing
//! accepts. Each signal's final export is tried once more at once and then given up; the
//! loss is counted and reported with why (the endpoint, the refused connection). Over
//! OTLP/HTTP and OTLP/gRPC. A collector that answers, if only with 503s, is still retried
//! until the deadline, and shutdown says what the export was waiting to retry. Each in a
//! child process of this test binary (`init` is once per process).

#[path = "support/accounting.rs"]
pub mod accounting;
#[path = "support/child.rs"]
pub mod child;
#[path = "support/http1.rs"]
pub mod http1;

use std::io::Write;
use std::net::TcpListener;
use std::time::Duration;

use obs_core::{Protocol, Signal};

use accounting::accounted;
use child::{in_child, scenario};

/// Longer than the test waits for shutdown: an export that kept retrying refused
/// connections until either ran out would hold shutdown that long.
const LONG: Duration = Duration::from_secs(120);

/// How long shutdown may take here: a refused connection is answered at once.
const SHUTDOWN_BOUND: Duration = Duration::from_secs(20);

#[test]
fn shutdown_gives_up_on_a_collector_that_refuses_connections() {
    if let Some(protocol) = scenario() {
        let protocol = match protocol.as_str() {
            "grpc" => Protocol::Grpc,
            _ => Protocol::HttpProtobuf,
        };
        no_collector(protocol);
        return;
    }
    for protocol in ["http", "grpc"] {
        in_child(
            "shutdown_gives_up_on_a_collector_that_refuses_connections",
            protocol,
            &[],
        );
    }
}

fn no_collector(protocol: Protocol) {
    // Port 9 (discard), which nothing listens on here: every attempt is refused. A port
    // freed by dropping a listener could be taken meanwhile by the other test's collector.
    let port = 9;
    let telemetry = obs_core::builder()
        .service_name("no-collector-yet")
        .protocol(protocol)
        .otlp_endpoint(format!("http://127.0.0.1:{port}"))
        .otlp_timeout(LONG)
        .metric_export_interval(LONG)
        .json_logs(false)
        .shutdown_timeout(LONG)
        .init()
        .expect("init");
    {
        let _request = tracing::info_span!("first request").entered();
        tracing::info!("handled");
    }

    let (done, result) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(telemetry.shutdown_blocking());
    });
    let err = result
        .recv_timeout(SHUTDOWN_BOUND)
        .unwrap_or_else(|_| {
            panic!("{protocol:?}: shutdown still retrying after {SHUTDOWN_BOUND:?}")
        })
        .expect_err("nothing listens");
    for signal in [Signal::Traces, Signal::Logs, Signal::Metrics] {
        let failure = err
            .failures
            .iter()
            .find(|f| f.signal == signal)
            .unwrap_or_else(|| panic!("{protocol:?}: {signal:?} failed: {err}"));
        assert!(
            failure.unsent > 0 && failure.error.contains(&format!("127.0.0.1:{port}")),
            "{protocol:?}: {signal:?}: the loss, with the endpoint: {err}"
        );
        assert!(
            failure.error.to_lowercase().contains("refused"),
            "{protocol:?}: {signal:?}: why: {err}"
        );
    }
    for signal in [Signal::Traces, Signal::Logs] {
        assert_eq!(
            accounted(signal),
            1,
            "{protocol:?}: {signal:?} counted: {err}"
        );
    }
}

#[test]
fn shutdown_retries_a_collector_that_answers_until_its_deadline() {
    if scenario().is_some() {
        unavailable_collector();
        return;
    }
    in_child(
        "shutdown_retries_a_collector_that_answers_until_its_deadline",
        "unavailable",
        &[],
    );
}

fn unavailable_collector() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                while http1::read_request_body(&stream).is_some() {
                    let answer = "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n";
                    if stream.write_all(answer.as_bytes()).is_err() {
                        break;
                    }
                }
            });
        }
    });
    let telemetry = obs_core::builder()
        .service_name("collector-overloaded")
        .protocol(Protocol::HttpProtobuf)
        .otlp_endpoint(format!("http://127.0.0.1:{port}"))
        .otlp_timeout(LONG)
        .exporter(Signal::Logs, obs_core::ExporterKind::None)
        .exporter(Signal::Metrics, obs_core::ExporterKind::None)
        .json_logs(false)
        .shutdown_timeout(Duration::from_secs(1))
        .init()
        .expect("init");
    drop(tracing::info_span!("first request").entered());

    let err = telemetry
        .shutdown_blocking()
        .expect_err("every answer is a 503");
    let traces = err
        .failures
        .iter()
        .find(|f| f.signal == Signal::Traces)
        .unwrap_or_else(|| panic!("traces failed: {err}"));
    assert!(
        traces.error.contains("not done within")
            && traces.error.contains("while retrying after")
            && traces.error.contains("503")
            && traces
                .error
                .contains(&format!("127.0.0.1:{port}/v1/traces")),
        "still retried at the deadline, the failed attempt named with its endpoint: {err}"
    );
    assert_eq!(accounted(Signal::Traces), 1, "{err}");
}
