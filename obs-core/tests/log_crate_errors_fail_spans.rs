//! A `log` crate ERROR record inside a span fails it, as a `tracing::error!` does (so tail
//! sampling keeps the trace), also when `RUST_LOG=off` keeps every record out of the logs;
//! so does the `Err` of an `#[instrument(err(level = "warn"))]`, as `tracing-opentelemetry`
//! fails it (`init`'s span layer keeps that callsite enabled, and no level hint of the log
//! layers' filter caps it). An error with no message below the traces filter (`info` by
//! default), a dependency's `debug!(error = ..)`, fails nothing, and neither does one whose
//! `error` is a flag rather than an error.

use std::time::Duration;

use obs_core::testing::proto::tonic::trace::v1::status::StatusCode;
use obs_core::{ExporterKind, Signal};
use tracing_log::log;

mod common;

#[tracing::instrument(err(level = "warn"))]
fn lookup() -> Result<(), std::io::Error> {
    Err(std::io::Error::other("not found"))
}

#[test]
fn errors_fail_their_spans_whatever_rust_log_says() {
    let (runtime, receiver) = common::receiver();
    let telemetry = common::exporting_to(&receiver, "log-errors")
        .exporter(Signal::Metrics, ExporterKind::None)
        .log_filter("off")
        .init()
        .expect("init");

    tracing::info_span!("tracing-error").in_scope(|| tracing::error!("failed"));
    tracing::info_span!("log-error").in_scope(|| log::error!(target: "legacy::db", "failed"));
    let _ = lookup();
    tracing::info_span!("dependency")
        .in_scope(|| tracing::debug!(error = %std::io::Error::other("connection closed")));
    tracing::info_span!("flag").in_scope(|| tracing::info!(error = false));
    telemetry.shutdown_blocking().expect("shutdown");

    let spans = runtime
        .block_on(
            receiver
                .store()
                .wait_for_spans(|s| s.len() >= 5, Duration::from_secs(10)),
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
            ("dependency", StatusCode::Unset),
            ("flag", StatusCode::Unset),
            ("log-error", StatusCode::Error),
            ("lookup", StatusCode::Error),
            ("tracing-error", StatusCode::Error),
        ]
    );
}
