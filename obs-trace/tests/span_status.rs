//! Span status from `tracing`: the `otel.status_code` field follows the OpenTelemetry Trace
//! API's Set Status rules, and an ERROR event inside a span fails it (or, inside a span that
//! is not traced, the nearest traced span around it).

use std::sync::Arc;

use obs_trace::opentelemetry::trace::Status;
use obs_trace::{InMemorySpanSink, Sampler, SpanData, SpanLayer};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::prelude::*;

/// The statuses of the spans `f` ends, traced at `info` and above (`obs_core::init`'s
/// default `OBS_TRACES_FILTER`).
fn statuses(f: impl FnOnce()) -> Vec<(String, Status)> {
    let sink = InMemorySpanSink::default();
    let subscriber = tracing_subscriber::registry().with(
        SpanLayer::new()
            .with_sampler(Sampler::AlwaysOn)
            .with_sink(Arc::new(sink.clone()))
            .with_traces_filter(Targets::new().with_default(tracing::Level::INFO)),
    );
    tracing::subscriber::with_default(subscriber, f);
    sink.take()
        .into_iter()
        .map(|s| (s.name.to_string(), s.status))
        .collect()
}

fn status_of(spans: &[(String, Status)], name: &str) -> Status {
    spans
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, s)| s.clone())
        .unwrap_or_else(|| panic!("no span {name}: {spans:?}"))
}

#[test]
fn ok_is_final_and_unset_or_unknown_values_are_ignored() {
    let spans = statuses(|| {
        let record = |name: &'static str, values: &[&str]| {
            let span = tracing::info_span!(
                "s",
                otel.name = name,
                otel.status_code = tracing::field::Empty
            );
            for v in values {
                span.record("otel.status_code", *v);
            }
        };
        record("ok_then_error", &["ok", "error"]);
        record("error_then_unset", &["error", "unset"]);
        record("error_then_unknown", &["error", "failed"]);
        record("error_then_ok", &["error", "ok"]);
    });
    assert_eq!(status_of(&spans, "ok_then_error"), Status::Ok);
    assert!(matches!(
        status_of(&spans, "error_then_unset"),
        Status::Error { .. }
    ));
    assert!(matches!(
        status_of(&spans, "error_then_unknown"),
        Status::Error { .. }
    ));
    assert_eq!(status_of(&spans, "error_then_ok"), Status::Ok);
}

/// `otel.kind`, `otel.name` and the status fields steer the span as
/// `tracing-opentelemetry`'s do, given at creation or recorded later; obs also takes
/// `otel.status_message` (the Trace API's name) for `otel.status_description`.
#[test]
fn otel_fields_given_at_creation_or_recorded_later_steer_the_span() {
    use obs_trace::opentelemetry::trace::SpanKind;
    let sink = InMemorySpanSink::default();
    let subscriber =
        tracing_subscriber::registry().with(SpanLayer::new().with_sink(Arc::new(sink.clone())));
    tracing::subscriber::with_default(subscriber, || {
        tracing::info_span!(
            "created",
            otel.name = "publish orders",
            otel.kind = "producer",
            otel.status_message = "broker down"
        )
        .in_scope(|| {});
        let later = tracing::info_span!(
            "recorded",
            otel.name = tracing::field::Empty,
            otel.kind = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
            otel.status_message = tracing::field::Empty,
        );
        later.record("otel.name", "consume orders");
        later.record("otel.kind", "consumer");
        later.record("otel.status_code", "error");
        later.record("otel.status_message", "bad message");
    });
    let spans = sink.take();
    let got: Vec<_> = spans
        .iter()
        .map(|s| (s.name.as_ref(), s.kind.clone(), s.status.clone()))
        .collect();
    assert_eq!(
        got,
        [
            (
                "publish orders",
                SpanKind::Producer,
                Status::error("broker down")
            ),
            (
                "consume orders",
                SpanKind::Consumer,
                Status::error("bad message")
            ),
        ]
    );
}

#[tracing::instrument(err)]
fn failing() -> Result<(), std::io::Error> {
    Err(std::io::Error::other("disk full"))
}

#[test]
fn an_error_event_fails_its_span_unless_it_is_ok() {
    let spans = statuses(|| {
        let _ = failing();
        tracing::info_span!("logged").in_scope(|| tracing::error!("could not render"));
        tracing::info_span!("warned").in_scope(|| tracing::warn!("slow"));
        let ok = tracing::info_span!("ok_first", otel.status_code = "ok");
        ok.in_scope(|| tracing::error!("after the fact"));
    });
    assert!(matches!(status_of(&spans, "failing"), Status::Error { .. }));
    assert!(matches!(status_of(&spans, "logged"), Status::Error { .. }));
    assert_eq!(status_of(&spans, "warned"), Status::Unset);
    assert_eq!(status_of(&spans, "ok_first"), Status::Ok);
}

#[tracing::instrument(err(level = "warn"))]
fn failing_with_a_warning() -> Result<(), std::io::Error> {
    Err(std::io::Error::other("not found"))
}

#[tracing::instrument(err(level = "info"))]
fn failing_with_an_info() -> Result<(), std::io::Error> {
    Err(std::io::Error::other("gone"))
}

/// `#[instrument(err(level = ..))]` logs an `Err` at the level it is given, but the call
/// still failed: its span fails, described by the error, as `tracing-opentelemetry` fails
/// it for an event with an `error` field and no message at any level (so code migrated
/// from it keeps its failed spans, and tail sampling its failed traces), also when the
/// other layers' filter rules that level out (`RUST_LOG=error`). Not an event below the
/// traces filter (a dependency's `debug!(error = ..)`), which in the usual stack a global
/// `RUST_LOG=info` keeps from `tracing-opentelemetry`; nor an event with a message below
/// ERROR, a log line about the span.
#[test]
fn an_error_with_no_message_the_traces_filter_lets_through_fails_its_span() {
    for others_want_warnings in [true, false] {
        let sink = InMemorySpanSink::default();
        let subscriber = tracing_subscriber::registry().with(
            SpanLayer::new()
                .with_sink(Arc::new(sink.clone()))
                .with_traces_filter(Targets::new().with_default(tracing::Level::INFO))
                .with_other_layers_events(move |meta| {
                    others_want_warnings || *meta.level() == tracing::Level::ERROR
                }),
        );
        tracing::subscriber::with_default(subscriber, || {
            let _ = failing_with_a_warning();
            let _ = failing_with_an_info();
            tracing::info_span!("retried").in_scope(|| {
                tracing::warn!(error = %std::io::Error::other("reset"), "retrying");
            });
            tracing::info_span!("dependency").in_scope(|| {
                tracing::debug!(error = %std::io::Error::other("connection closed"));
            });
            // A flag or a count named `error`, no error: `tracing-opentelemetry` takes a
            // status from text, `Debug` and `Display` values only.
            tracing::info_span!("flag").in_scope(|| tracing::info!(error = false));
            tracing::info_span!("count").in_scope(|| tracing::warn!(error = 3_u64));
        });
        let spans: Vec<_> = sink
            .take()
            .into_iter()
            .map(|s| (s.name.to_string(), s.status))
            .collect();
        let context = format!("others want warnings: {others_want_warnings}");
        assert_eq!(
            status_of(&spans, "failing_with_a_warning"),
            Status::error("not found"),
            "{context}"
        );
        assert_eq!(
            status_of(&spans, "failing_with_an_info"),
            Status::error("gone"),
            "{context}"
        );
        assert_eq!(status_of(&spans, "retried"), Status::Unset, "{context}");
        assert_eq!(status_of(&spans, "dependency"), Status::Unset, "{context}");
        assert_eq!(status_of(&spans, "flag"), Status::Unset, "{context}");
        assert_eq!(status_of(&spans, "count"), Status::Unset, "{context}");
    }
}

#[tracing::instrument(level = "debug", err)]
fn failing_quietly() -> Result<(), std::io::Error> {
    Err(std::io::Error::other("disk full"))
}

#[test]
fn an_error_event_inside_an_untraced_span_fails_the_nearest_traced_one() {
    let spans = statuses(|| {
        // The debug span exists (for the log layers) but is not traced: its `err` event
        // fails the request it runs in, so tail sampling keeps that trace.
        tracing::info_span!("request").in_scope(|| {
            let _ = failing_quietly();
        });
        tracing::info_span!("quiet").in_scope(|| {
            tracing::debug_span!("step").in_scope(|| tracing::warn!("slow"));
        });
    });
    assert_eq!(spans.len(), 2, "{spans:?}");
    assert!(matches!(status_of(&spans, "request"), Status::Error { .. }));
    assert_eq!(status_of(&spans, "quiet"), Status::Unset);
}

/// The spans `f` ends, recorded with span events on.
fn with_span_events(f: impl FnOnce()) -> Vec<SpanData> {
    let sink = InMemorySpanSink::default();
    let subscriber = tracing_subscriber::registry().with(
        SpanLayer::new()
            .with_sink(Arc::new(sink.clone()))
            .with_span_events(true),
    );
    tracing::subscriber::with_default(subscriber, f);
    sink.take()
}

/// The span of `spans` named `name`.
fn named<'a>(spans: &'a [SpanData], name: &str) -> &'a SpanData {
    spans
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no span {name}: {spans:?}"))
}

/// What `#[instrument(err)]` makes of an `Err` on the span, as `tracing-opentelemetry`
/// makes it: an Error status described by the error, and, with span events on, an
/// `exception` event carrying it in `exception.message`.
#[test]
fn an_error_field_describes_the_status_and_is_an_exception_event() {
    let spans = with_span_events(|| {
        let _ = failing();
        tracing::info_span!("with_message").in_scope(|| {
            tracing::error!(error = %std::io::Error::other("timed out"), "could not save");
        });
        tracing::info_span!("described_first", otel.status_description = "quota")
            .in_scope(|| tracing::error!(error = "later"));
    });
    let span = |name: &str| named(&spans, name);
    let failing = span("failing");
    assert_eq!(failing.status, Status::error("disk full"));
    let [event] = failing.events.as_slice() else {
        panic!("one event: {:?}", failing.events);
    };
    assert_eq!(event.name, "exception");
    assert_eq!(
        event.attributes,
        [obs_trace::opentelemetry::KeyValue::new(
            "exception.message",
            "disk full"
        )]
    );
    // An error logged with a message: the status says what failed, the event is the log.
    let with_message = span("with_message");
    assert_eq!(with_message.status, Status::error("timed out"));
    assert_eq!(with_message.events[0].name, "could not save");
    assert_eq!(
        with_message.events[0].attributes,
        [obs_trace::opentelemetry::KeyValue::new(
            "error",
            "timed out"
        )]
    );
    // A description set on the span is not replaced.
    assert_eq!(span("described_first").status, Status::error("quota"));
}

/// An `error` field that is a flag or a number is no error: with span events on, its event
/// is no `exception` event (whose `exception.message` is the error's text), as
/// `tracing-opentelemetry` records a bool or a number as a plain attribute; at ERROR the
/// event still fails its span.
#[test]
fn an_error_flag_or_number_is_no_exception_event() {
    use obs_trace::opentelemetry::KeyValue;
    let spans = with_span_events(|| {
        tracing::info_span!("flag").in_scope(|| tracing::info!(error = false));
        tracing::info_span!("count").in_scope(|| tracing::error!(error = 3_i64));
    });
    let span = |name: &str| named(&spans, name);
    let flag = span("flag");
    assert_eq!(flag.status, Status::Unset);
    let [event] = flag.events.as_slice() else {
        panic!("one event: {:?}", flag.events);
    };
    assert_ne!(event.name, "exception");
    assert_eq!(event.attributes, [KeyValue::new("error", false)]);
    let count = span("count");
    // At ERROR the span fails, undescribed: a number is no error's text.
    assert_eq!(count.status, Status::error(""), "{count:?}");
    let [event] = count.events.as_slice() else {
        panic!("one event: {:?}", count.events);
    };
    assert_ne!(event.name, "exception");
    assert_eq!(event.attributes, [KeyValue::new("error", 3_i64)]);
}

/// An error with a source, logged as an error value.
#[derive(Debug)]
struct RequestFailed(std::io::Error);

impl std::fmt::Display for RequestFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("request failed")
    }
}

impl std::error::Error for RequestFailed {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

/// An error value (`error = &err as &dyn Error`) reads the same on the span as in the
/// logs (`obs_trace::ErrorChain`): with its sources, in the status description, the
/// `exception` event's `exception.message` and any other event's or span's attribute;
/// `Display` alone would lose the cause.
#[test]
fn an_error_value_keeps_its_sources_on_the_span() {
    use obs_trace::opentelemetry::KeyValue;
    let err = RequestFailed(std::io::Error::other("connection refused"));
    let chain = "request failed: connection refused";
    let spans = with_span_events(|| {
        tracing::info_span!("exception").in_scope(|| {
            tracing::error!(error = &err as &(dyn std::error::Error + 'static));
        });
        let span = tracing::info_span!("logged", cause = tracing::field::Empty);
        span.record("cause", &err as &(dyn std::error::Error + 'static));
        span.in_scope(|| {
            tracing::warn!(
                error = &err as &(dyn std::error::Error + 'static),
                "retrying"
            );
        });
    });
    let exception = spans.iter().find(|s| s.name == "exception").unwrap();
    assert_eq!(exception.status, Status::error(chain));
    assert_eq!(exception.events[0].name, "exception");
    assert_eq!(
        exception.events[0].attributes,
        [KeyValue::new("exception.message", chain)]
    );
    let logged = spans.iter().find(|s| s.name == "logged").unwrap();
    assert_eq!(logged.attributes, [KeyValue::new("cause", chain)]);
    assert_eq!(logged.events[0].attributes, [KeyValue::new("error", chain)]);
}

/// `SpanExt::set_status`, for a span that declares no status field (what a user coming
/// from `tracing-opentelemetry` calls `OpenTelemetrySpanExt::set_status` for): the Set
/// Status rules hold, as for the fields.
#[test]
fn set_status_follows_the_set_status_rules() {
    use obs_trace::SpanExt;
    let spans = statuses(|| {
        let failed = tracing::info_span!("failed");
        failed.set_status(Status::Unset);
        failed.set_status(Status::error("card declined"));
        failed.set_status(Status::Unset);
        let ok = tracing::info_span!("ok");
        ok.set_status(Status::Ok);
        ok.set_status(Status::error("too late"));
        ok.in_scope(|| tracing::error!(error = "after the fact"));
        let unset = tracing::info_span!("unset");
        unset.set_status(Status::Unset);
        let by_field = tracing::info_span!("by_field", otel.status_code = "ok");
        by_field.set_status(Status::error("ignored"));
    });
    assert_eq!(status_of(&spans, "failed"), Status::error("card declined"));
    assert_eq!(status_of(&spans, "ok"), Status::Ok);
    assert_eq!(status_of(&spans, "unset"), Status::Unset);
    assert_eq!(status_of(&spans, "by_field"), Status::Ok);
}
