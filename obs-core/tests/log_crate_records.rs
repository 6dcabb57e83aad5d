//! Records of libraries that log through the `log` crate reach obs's logs as well, with
//! their own target, under the same RUST_LOG filter, stamped with the current span, and
//! are events of that span.

use obs_core::trace::SpanExt;
use obs_core::{ExporterKind, Signal};
use tracing_log::log;

mod common;

#[test]
fn log_crate_records_become_log_records_in_their_span() {
    let (runtime, receiver) = common::receiver();
    let telemetry = common::exporting_to(&receiver, "log-crate")
        .exporter(Signal::Metrics, ExporterKind::None)
        .log_filter("info")
        .span_events(true)
        .init()
        .expect("init");

    let span = tracing::info_span!("request");
    let before = std::time::SystemTime::now();
    let context = span.in_scope(|| {
        log::warn!(target: "legacy::db", "slow query took {} ms", 42);
        log::debug!(target: "legacy::db", "below RUST_LOG");
        span.span_context().unwrap()
    });
    let after = std::time::SystemTime::now();
    let trace_id = context.trace_id.to_string();
    drop(span);
    telemetry.shutdown_blocking().expect("shutdown");

    let logs = common::logs_arrived(&runtime, &receiver, "the log record arrived");
    assert_eq!(logs.len(), 1, "the debug record is filtered out: {logs:#?}");
    let record = &logs[0];
    assert_eq!(record.body_str(), Some("slow query took 42 ms"));
    assert_eq!(record.record.severity_text, "WARN");
    assert_eq!(
        record.scope.name, "legacy::db",
        "scoped by the record's own target"
    );
    assert_eq!(record.trace_id_hex(), trace_id);
    assert_eq!(record.span_id_hex(), context.span_id.to_string());
    // The W3C flags (sampled, random) in LogRecordFlags' low byte, as in the span.
    assert_eq!(record.record.flags, u32::from(context.flags.to_u8()));
    assert_eq!(record.record.flags, 0x03);
    assert_eq!(record.record.severity_number, 13, "WARN's SeverityNumber");
    assert_eq!(
        record.record.event_name, "",
        "a log line, not a named event"
    );
    let nanos = |t: std::time::SystemTime| {
        t.duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
    };
    let time = record.record.time_unix_nano;
    assert!((nanos(before)..=nanos(after)).contains(&time), "{time}");
    assert_eq!(record.record.observed_time_unix_nano, time);

    let spans = common::spans_arrived(&runtime, &receiver, "the span arrived");
    // The same record as an event of its span: its message the name, and, as on the log
    // record, none of the `log.*` fields that carry a `log` record's metadata through
    // `tracing`.
    let [event] = spans[0].span.events.as_slice() else {
        panic!("one span event: {spans:#?}");
    };
    assert_eq!(event.name, "slow query took 42 ms");
    assert_eq!(event.attributes, [], "{event:?}");
    assert_eq!(event.dropped_attributes_count, 0);
    assert_eq!(
        record.attribute("log.target"),
        None,
        "the record's metadata is not repeated as attributes"
    );
}
