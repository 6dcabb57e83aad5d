//! `RUST_LOG` span and field directives (`[span{field=value}]=level`) and per-target
//! directives apply to the OTLP log records `init` makes, for `tracing` events and for
//! `log` crate records alike: a record is let through by the span it is logged in.

use obs_core::{ExporterKind, Signal};
use tracing_log::log;

mod common;

#[test]
fn span_field_and_target_directives_select_events_and_log_records() {
    let (runtime, receiver) = common::receiver();
    let telemetry = common::exporting_to(&receiver, "log-directives")
        .exporter(Signal::Metrics, ExporterKind::None)
        .log_filter("warn,legacy=debug,[request{user=ann}]=debug")
        .init()
        .expect("init");

    // By target.
    log::debug!(target: "legacy::db", "log record, target directive");
    tracing::debug!(target: "legacy::cache", "event, target directive");
    log::info!(target: "other", "log record below warn");
    // By the span they are logged in and its field's value.
    tracing::info_span!("request", user = "ann").in_scope(|| {
        tracing::debug!("event in ann's request");
        log::debug!(target: "other", "log record in ann's request");
        tracing::trace!("event below the span directive");
    });
    tracing::info_span!("request", user = "bob").in_scope(|| {
        tracing::debug!("event in bob's request");
        log::debug!(target: "other", "log record in bob's request");
    });
    telemetry.shutdown_blocking().expect("shutdown");

    // Everything was exported by the end of the shutdown.
    let logs = common::logs_arrived(&runtime, &receiver, "log records arrived");
    let mut got: Vec<(&str, &str)> = logs
        .iter()
        .map(|l| (l.scope.name.as_str(), l.body_str().unwrap_or_default()))
        .collect();
    got.sort_unstable();
    assert_eq!(
        got,
        [
            ("legacy::cache", "event, target directive"),
            ("legacy::db", "log record, target directive"),
            ("log_filter_span_directives", "event in ann's request"),
            ("other", "log record in ann's request"),
        ]
    );
}
