//! A span's secret fields read `[REDACTED]` in the exported span as in the JSON lines that
//! show them, and with span events on, an event's in its span event as in its JSON line and
//! OTLP log record: a secret the log redaction keeps in the process must not leave in a
//! span.

use obs_core::testing::attribute_str;
use obs_core::{ExporterKind, Signal};

mod common;

#[test]
fn spans_and_span_events_redact_the_fields_the_logs_redact() {
    let (runtime, receiver) = common::receiver();
    let telemetry = common::exporting_to(&receiver, "span-events-redaction")
        .exporter(Signal::Metrics, ExporterKind::None)
        .exporter(Signal::Logs, ExporterKind::None)
        .span_events(true)
        .init()
        .expect("init");

    // `password`, `token` and `secret` end names on the default list; `token_count` doesn't.
    let span = tracing::info_span!(
        "login",
        db_password = "s3cret",
        token_count = 3,
        client_secret = tracing::field::Empty
    );
    span.record("client_secret", "recorded-later");
    span.in_scope(|| {
        tracing::info!(user = "ann", password = "hunter2", "logged in");
    });
    drop(span);
    telemetry.shutdown_blocking().expect("shutdown");

    let spans = common::spans_arrived(&runtime, &receiver, "the span arrived");
    let span = &spans[0].span;
    let field = |key: &str| attribute_str(&span.attributes, key);
    assert_eq!(field("db_password"), Some("[REDACTED]"), "{span:#?}");
    assert_eq!(field("client_secret"), Some("[REDACTED]"), "{span:#?}");
    assert!(
        span.attributes
            .iter()
            .any(|kv| kv.key == "token_count" && format!("{:?}", kv.value).contains("IntValue(3)")),
        "{span:#?}"
    );
    let [event] = span.events.as_slice() else {
        panic!("one span event: {spans:#?}");
    };
    let value = |key: &str| attribute_str(&event.attributes, key);
    assert_eq!(value("password"), Some("[REDACTED]"), "{event:#?}");
    assert_eq!(value("user"), Some("ann"), "{event:#?}");
}
