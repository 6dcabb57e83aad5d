//! What the tests exporting to the in-process OTLP receiver share.

use std::time::Duration;

use obs_core::Protocol;
use obs_core::testing::{OtlpReceiver, ReceivedLog, ReceivedSpan, ReceiverConfig};

/// An in-process OTLP receiver on loopback, and the runtime serving it (keep both alive).
pub(crate) fn receiver() -> (tokio::runtime::Runtime, OtlpReceiver) {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let receiver = runtime
        .block_on(OtlpReceiver::start(ReceiverConfig::default()))
        .expect("receiver");
    (runtime, receiver)
}

/// A builder for `service` exporting over HTTP/protobuf to `receiver`, with no JSON lines
/// on stdout.
pub(crate) fn exporting_to(receiver: &OtlpReceiver, service: &str) -> obs_core::Builder {
    obs_core::builder()
        .service_name(service)
        .protocol(Protocol::HttpProtobuf)
        .otlp_endpoint(receiver.http_endpoint())
        .json_logs(false)
}

/// The spans `receiver` has, once it has any (waited for up to 10 s); panics with `what`
/// if none come.
#[allow(dead_code)] // Each test binary uses what it needs of this module.
pub(crate) fn spans_arrived(
    runtime: &tokio::runtime::Runtime,
    receiver: &OtlpReceiver,
    what: &str,
) -> Vec<ReceivedSpan> {
    runtime
        .block_on(
            receiver
                .store()
                .wait_for_spans(|s| !s.is_empty(), Duration::from_secs(10)),
        )
        .expect(what)
}

/// The log records `receiver` has, once it has any (waited for up to 10 s); panics with
/// `what` if none come.
#[allow(dead_code)] // Each test binary uses what it needs of this module.
pub(crate) fn logs_arrived(
    runtime: &tokio::runtime::Runtime,
    receiver: &OtlpReceiver,
    what: &str,
) -> Vec<ReceivedLog> {
    runtime
        .block_on(
            receiver
                .store()
                .wait_for_logs(|l| !l.is_empty(), Duration::from_secs(10)),
        )
        .expect(what)
}
