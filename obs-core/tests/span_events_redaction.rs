//! With span events on, an event's secret fields read `[REDACTED]` in its span event as in
//! its JSON line and OTLP log record: turning span events on must not send what the log
//! redaction keeps in the process.

use std::time::Duration;

use obs_core::testing::attribute_str;
use obs_core::{ExporterKind, Signal};

mod common;

#[test]
fn span_events_redact_the_fields_the_logs_redact() {
    let (runtime, receiver) = common::receiver();
    let telemetry = common::exporting_to(&receiver, "span-events-redaction")
        .exporter(Signal::Metrics, ExporterKind::None)
        .exporter(Signal::Logs, ExporterKind::None)
        .span_events(true)
        .init()
        .expect("init");

    tracing::info_span!("login").in_scope(|| {
        // `password` is on the default list.
        tracing::info!(user = "ann", password = "hunter2", "logged in");
    });
    telemetry.shutdown_blocking().expect("shutdown");

    let spans = runtime
        .block_on(
            receiver
                .store()
                .wait_for_spans(|s| !s.is_empty(), Duration::from_secs(10)),
        )
        .expect("the span arrived");
    let [event] = spans[0].span.events.as_slice() else {
        panic!("one span event: {spans:#?}");
    };
    let value = |key: &str| attribute_str(&event.attributes, key);
    assert_eq!(value("password"), Some("[REDACTED]"), "{event:#?}");
    assert_eq!(value("user"), Some("ann"), "{event:#?}");
}
