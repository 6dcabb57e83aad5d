//! What the tests exporting to the in-process OTLP receiver share.

use obs_core::Protocol;
use obs_core::testing::{OtlpReceiver, ReceiverConfig};

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
