//! A `log` crate ERROR record inside a span fails it, as a `tracing::error!` does (so tail
//! sampling keeps the trace), also when `RUST_LOG=off` keeps every record out of the logs.

use std::time::Duration;

use obs_core::testing::proto::tonic::trace::v1::status::StatusCode;
use obs_core::{ExporterKind, Signal};
use tracing_log::log;

mod common;

#[test]
fn a_log_error_record_fails_its_span_whatever_rust_log_says() {
    let (runtime, receiver) = common::receiver();
    let telemetry = common::exporting_to(&receiver, "log-errors")
        .exporter(Signal::Metrics, ExporterKind::None)
        .log_filter("off")
        .init()
        .expect("init");

    tracing::info_span!("tracing-error").in_scope(|| tracing::error!("failed"));
    tracing::info_span!("log-error").in_scope(|| log::error!(target: "legacy::db", "failed"));
    telemetry.shutdown_blocking().expect("shutdown");

    let spans = runtime
        .block_on(
            receiver
                .store()
                .wait_for_spans(|s| s.len() >= 2, Duration::from_secs(10)),
        )
        .expect("the spans arrived");
    let mut statuses: Vec<(&str, StatusCode)> = spans
        .iter()
        .map(|s| (s.span.name.as_str(), s.status_code()))
        .collect();
    statuses.sort_unstable_by_key(|(name, _)| *name);
    assert_eq!(
        statuses,
        [
            ("log-error", StatusCode::Error),
            ("tracing-error", StatusCode::Error),
        ]
    );
}
