//! What a log record carries reaches a real collector (rotel, forwarding to an in-memory
//! receiver) as the layer made it: with `RUST_LOG=error`, an error whose explicit `parent:`
//! is an `info_span!` (disabled for the log layers) keeps that span's trace and span ids,
//! a `&[u8]` field arrives as OTLP bytes, byte for byte, and the `error` field as the
//! semantic conventions' `exception.message`.

use std::time::Duration;

use obs_core::testing::ReceiverConfig;
use obs_core::testing::proto::tonic::common::v1::any_value;
use obs_core::trace::SpanExt;
use obs_core::{ExporterKind, Signal};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_of_a_filtered_explicit_parent_bytes_values_and_errors_reach_the_collector() {
    let (receiver, collector, builder) =
        obs_tests::pipeline::via_collector("log-wire", ReceiverConfig::default()).await;
    let telemetry = builder
        .exporter(Signal::Metrics, ExporterKind::None)
        .log_filter("error")
        .init()
        .expect("init");

    let digest: &[u8] = &[0xde, 0xad, 0xbe, 0xef, 0xff, 0x00];
    let request = tracing::info_span!("request");
    let context = request.span_context().expect("traced");
    let error = std::io::Error::other("connection refused");
    tracing::error!(
        parent: &request,
        digest,
        error = &error as &dyn std::error::Error,
        "failed, outside its span"
    );
    drop(request);

    let logs = receiver
        .store()
        .wait_for_logs(|l| !l.is_empty(), Duration::from_secs(20))
        .await
        .unwrap_or_else(|e| panic!("{e}; collector output:\n{}", collector.output()));
    assert_eq!(logs.len(), 1, "{logs:#?}");
    let record = &logs[0];
    assert_eq!(record.body_str(), Some("failed, outside its span"));
    assert_eq!(record.trace_id_hex(), context.trace_id.to_string());
    assert_eq!(record.span_id_hex(), context.span_id.to_string());
    assert_eq!(record.record.flags, u32::from(context.flags.to_u8()));
    assert_eq!(
        record.attribute("digest").and_then(|v| v.value.clone()),
        Some(any_value::Value::BytesValue(digest.to_vec())),
        "{record:#?}"
    );
    assert_eq!(
        record
            .attribute("exception.message")
            .and_then(|v| v.value.clone()),
        Some(any_value::Value::StringValue("connection refused".into())),
        "{record:#?}"
    );
    assert!(record.attribute("error").is_none(), "{record:#?}");

    telemetry.shutdown().await.expect("shutdown");
    receiver.shutdown().await;
}
