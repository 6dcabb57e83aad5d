//! A receiver's partial success (OTLP spec, "Partial Success"): the spans it rejected are
//! counted as dropped, and its `error_message`, the why, reaches the user: in the flush's
//! error and once on stderr. A message with nothing rejected (a warning, which the spec
//! lets a receiver send) is shown once on stderr and fails nothing.
//!
//! `init` is once per process: the test runs itself again in a child process, whose stderr
//! it reads.

#[path = "support/child.rs"]
pub mod child;
#[path = "support/http1.rs"]
pub mod http1;

use std::io::Write;
use std::net::TcpListener;
use std::process::Command;
use std::time::Duration;

use obs_core::testing::proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceResponse,
};
use obs_core::{BatchSettings, ExporterKind, Protocol, Signal};
use prost::Message;

use child::{CHILD, scenario};

/// Why the receiver rejects a span.
const REJECTED: &str = "span is older than the retention window";
/// What the receiver warns about while accepting everything.
const WARNING: &str = "attribute keys with upper case letters are deprecated";

/// An OTLP/HTTP receiver answering the first request with a partial success that rejects
/// one span, and every later one with a warning only. Returns the traces endpoint.
fn partially_accepting() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for (index, stream) in listener.incoming().take(10).enumerate() {
            let Ok(mut stream) = stream else { continue };
            let Some(_body) = http1::read_request_body(&stream) else {
                continue;
            };
            let (rejected_spans, error_message) = match index {
                0 => (1, REJECTED),
                _ => (0, WARNING),
            };
            let response = ExportTraceServiceResponse {
                partial_success: Some(ExportTracePartialSuccess {
                    rejected_spans,
                    error_message: error_message.to_owned(),
                }),
            }
            .encode_to_vec();
            let mut answer = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n",
                response.len()
            )
            .into_bytes();
            answer.extend_from_slice(&response);
            let _ = stream.write_all(&answer);
        }
    });
    format!("http://{addr}/v1/traces")
}

#[test]
fn a_partial_success_says_why_and_counts_what_was_rejected() {
    const TEST: &str = "a_partial_success_says_why_and_counts_what_was_rejected";
    if scenario().is_none() {
        let out = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", TEST, "--nocapture", "--test-threads=1"])
            .env(CHILD, "partial")
            .env_remove("OTEL_LOG_LEVEL")
            .output()
            .expect("child test process");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        assert_eq!(stderr.matches(REJECTED).count(), 1, "warned once: {stderr}");
        assert_eq!(stderr.matches(WARNING).count(), 1, "warned once: {stderr}");
        return;
    }
    let telemetry = obs_core::builder()
        .protocol(Protocol::HttpProtobuf)
        .otlp_signal_endpoint(Signal::Traces, partially_accepting())
        .exporter(Signal::Logs, ExporterKind::None)
        .exporter(Signal::Metrics, ExporterKind::None)
        .json_logs(false)
        .span_batch(BatchSettings {
            schedule_delay: Duration::from_millis(20),
            ..BatchSettings::SPANS
        })
        .init()
        .expect("init");
    for i in 0..2 {
        tracing::info_span!("partly_rejected", i).in_scope(|| {});
    }
    let err = telemetry.force_flush().expect_err("one span was rejected");
    assert_eq!(err.failures.len(), 1, "{err}");
    let traces = &err.failures[0];
    assert_eq!((traces.signal, traces.unsent), (Signal::Traces, 1), "{err}");
    assert!(
        traces.error.contains(REJECTED),
        "the receiver's reason: {err}"
    );

    // Accepted whole, with a warning: delivered, nothing failed.
    tracing::info_span!("accepted").in_scope(|| {});
    telemetry.force_flush().expect("accepted with a warning");
    // Twice, for the stderr check that each message is warned once.
    tracing::info_span!("accepted_again").in_scope(|| {});
    telemetry.force_flush().expect("accepted with a warning");
    let traces = telemetry
        .counts()
        .into_iter()
        .find(|c| c.signal == Signal::Traces)
        .unwrap();
    assert_eq!((traces.exported, traces.dropped_export_failed), (3, 1));
    telemetry.shutdown_blocking().expect("shutdown");
}
