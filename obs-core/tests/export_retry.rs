//! The OTLP retry rules (OTLP spec, "Failures"): a retryable answer (HTTP 503 with
//! `Retry-After`) is retried with the same request until it is accepted; the resent bytes
//! are the same.

#[path = "support/http1.rs"]
pub mod http1;

use std::io::Write;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use obs_core::{BatchSettings, ExporterKind, Protocol, Signal};

/// Answers the first request with 503 and every later one with 200; records the bodies.
fn flaky_receiver() -> (String, Arc<Mutex<Vec<Vec<u8>>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let seen = bodies.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(10) {
            let Ok(mut stream) = stream else { continue };
            let body = http1::read_request_body(&stream).expect("a whole request");
            let first = {
                let mut b = seen.lock().unwrap();
                b.push(body);
                b.len() == 1
            };
            let answer = if first {
                "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 0\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            } else {
                "HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            };
            let _ = stream.write_all(answer.as_bytes());
        }
    });
    (format!("http://{addr}/v1/traces"), bodies)
}

#[test]
fn a_503_is_retried_with_the_same_request_until_accepted() {
    let (endpoint, bodies) = flaky_receiver();
    let telemetry = obs_core::builder()
        .protocol(Protocol::HttpProtobuf)
        .otlp_signal_endpoint(Signal::Traces, endpoint)
        .exporter(Signal::Logs, ExporterKind::None)
        .exporter(Signal::Metrics, ExporterKind::None)
        .json_logs(false)
        .span_batch(BatchSettings {
            schedule_delay: Duration::from_millis(20),
            ..BatchSettings::SPANS
        })
        .init()
        .expect("init");
    tracing::info_span!("retried").in_scope(|| {});
    telemetry.force_flush().expect("delivered after one retry");
    let traces = telemetry
        .counts()
        .into_iter()
        .find(|c| c.signal == Signal::Traces)
        .unwrap();
    assert_eq!(traces.exported, 1);
    assert_eq!(traces.dropped_export_failed, 0);
    let bodies = bodies.lock().unwrap();
    assert_eq!(bodies.len(), 2, "one 503, one retry");
    assert_eq!(bodies[0], bodies[1], "the retry resends the same bytes");
    drop(bodies);
    telemetry.shutdown_blocking().expect("shutdown");
}
