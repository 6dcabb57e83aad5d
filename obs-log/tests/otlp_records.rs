//! Events as OTLP-ready log records: timestamps, severities, names, typed attributes, ids.

use std::time::SystemTime;

mod common;

use common::{FailsHalfway, PanicsWhenFormatted, RequestFailed};
use obs_log::{FORMAT_PANICKED, InMemoryLogSink, LogValue, OtlpLogLayer, Redaction};
use obs_trace::{SpanExt, SpanLayer, TraceFlags};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::prelude::*;

fn subscriber(layer: OtlpLogLayer) -> impl tracing::Subscriber {
    tracing_subscriber::registry()
        .with(SpanLayer::new())
        .with(layer)
}

#[test]
fn a_record_carries_time_severity_body_attributes_and_the_span_ids() {
    let sink = InMemoryLogSink::new();
    let before = SystemTime::now();
    let mut ctx = None;
    tracing::subscriber::with_default(subscriber(OtlpLogLayer::new(sink.clone())), || {
        let span = tracing::info_span!("checkout").entered();
        ctx = span.span_context();
        tracing::info!(
            target: "shop::cart",
            items = 3,
            total = 12.5,
            gift = false,
            coupon = "SPRING",
            big = u64::MAX,
            shape = ?(1, 2),
            "cart has {} items",
            3
        );
    });
    let after = SystemTime::now();
    let ctx = ctx.unwrap();
    let records = sink.take();
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert!(before <= r.timestamp && r.timestamp <= after);
    assert_eq!(r.observed_timestamp, r.timestamp);
    assert_eq!((r.severity_number, r.severity_text), (9, "INFO"));
    assert_eq!(r.body.as_deref(), Some("cart has 3 items"));
    assert_eq!(r.target, "shop::cart");
    let attributes: Vec<(&str, &LogValue)> =
        r.attributes.iter().map(|a| (&*a.key, &a.value)).collect();
    assert_eq!(
        attributes,
        [
            ("items", &LogValue::I64(3)),
            ("total", &LogValue::F64(12.5)),
            ("gift", &LogValue::Bool(false)),
            ("coupon", &LogValue::String("SPRING".into())),
            ("big", &LogValue::String(u64::MAX.to_string())),
            ("shape", &LogValue::String("(1, 2)".into())),
        ]
    );
    assert_eq!(r.trace_id, Some(ctx.trace_id));
    assert_eq!(r.span_id, Some(ctx.span_id));
    assert_eq!(r.trace_flags, Some(TraceFlags(0x03)));
    assert!(sink.take().is_empty());
}

#[test]
fn severities_follow_the_log_data_model() {
    let sink = InMemoryLogSink::new();
    tracing::subscriber::with_default(subscriber(OtlpLogLayer::new(sink.clone())), || {
        tracing::trace!("t");
        tracing::debug!("d");
        tracing::info!("i");
        tracing::warn!("w");
        tracing::error!("e");
    });
    let got: Vec<(i32, &str)> = sink
        .records()
        .iter()
        .map(|r| (r.severity_number, r.severity_text))
        .collect();
    assert_eq!(
        got,
        [
            (1, "TRACE"),
            (5, "DEBUG"),
            (9, "INFO"),
            (13, "WARN"),
            (17, "ERROR")
        ]
    );
}

#[test]
/// OpenTelemetry log data model, `EventName`: a record that has one is an Event, named for
/// its structure (semconv "Events": the name "uniquely identifies the event structure").
/// Only a `name:` given at the call site is one; a plain log line, whatever its target, is
/// no Event.
fn only_events_given_a_name_carry_an_event_name() {
    let sink = InMemoryLogSink::new();
    tracing::subscriber::with_default(subscriber(OtlpLogLayer::new(sink.clone())), || {
        tracing::info!(name: "payment.declined", "declined");
        tracing::info!(target: "shop::payments", "no name");
        tracing::info!("no name, default target");
    });
    let names: Vec<(String, String)> = sink
        .records()
        .iter()
        .map(|r| (r.event_name.to_string(), r.target.to_string()))
        .collect();
    assert_eq!(
        names,
        [
            ("payment.declined".to_owned(), module_path!().to_owned()),
            (String::new(), "shop::payments".to_owned()),
            (String::new(), module_path!().to_owned()),
        ]
    );
}

#[test]
fn outside_spans_and_for_root_events_there_are_no_ids() {
    let sink = InMemoryLogSink::new();
    tracing::subscriber::with_default(subscriber(OtlpLogLayer::new(sink.clone())), || {
        tracing::info!("outside");
        let _s = tracing::info_span!("s").entered();
        tracing::info!(parent: None, "explicit root");
    });
    for r in sink.records() {
        assert_eq!((r.trace_id, r.span_id, r.trace_flags), (None, None, None));
    }
}

#[test]
fn redaction_and_code_attributes() {
    let sink = InMemoryLogSink::new();
    let layer = OtlpLogLayer::new(sink.clone())
        .with_redaction(Redaction::default().with_name("email"))
        .with_code_attributes(true);
    let line = tracing::subscriber::with_default(subscriber(layer), || {
        let line = line!() + 1;
        tracing::info!(
            password = "hunter2",
            user.email = "a@b.c",
            user.id = 7,
            "login"
        );
        line
    });
    let r = &sink.records()[0];
    let redacted = LogValue::String("[REDACTED]".into());
    assert_eq!(r.attribute("password"), Some(&redacted));
    assert_eq!(r.attribute("user.email"), Some(&redacted));
    assert_eq!(r.attribute("user.id"), Some(&LogValue::I64(7)));
    assert_eq!(
        r.attribute("code.file.path"),
        Some(&LogValue::String(file!().into()))
    );
    assert_eq!(
        r.attribute("code.line.number"),
        Some(&LogValue::I64(i64::from(line)))
    );
}

#[test]
fn per_target_directives_apply_to_the_otlp_layer() {
    let sink = InMemoryLogSink::new();
    let subscriber = tracing_subscriber::registry()
        .with(SpanLayer::new())
        .with(OtlpLogLayer::new(sink.clone()).with_filter(EnvFilter::new("info,noisy=warn")));
    tracing::subscriber::with_default(subscriber, || {
        tracing::debug!(target: "app", "dropped: debug");
        tracing::info!(target: "app", "kept");
        tracing::info!(target: "noisy", "dropped: noisy info");
        tracing::warn!(target: "noisy", "kept too");
    });
    let bodies: Vec<String> = sink.records().into_iter().filter_map(|r| r.body).collect();
    assert_eq!(bodies, ["kept", "kept too"]);
}

#[test]
fn events_are_not_duplicated_as_span_events_unless_asked() {
    for record_span_events in [false, true] {
        let (logs, spans) = (InMemoryLogSink::new(), obs_trace::InMemorySpanSink::new());
        let subscriber = tracing_subscriber::registry()
            .with(
                SpanLayer::new()
                    .with_sink(std::sync::Arc::new(spans.clone()))
                    .with_span_events(record_span_events),
            )
            .with(OtlpLogLayer::new(logs.clone()));
        tracing::subscriber::with_default(subscriber, || {
            tracing::info_span!("s").in_scope(|| tracing::info!("once"));
        });
        assert_eq!(logs.records().len(), 1);
        assert_eq!(
            spans.spans()[0].events.len(),
            usize::from(record_span_events)
        );
    }
}

#[test]
fn attribute_keys_are_unique_and_errors_keep_their_sources() {
    let sink = InMemoryLogSink::new();
    let err = RequestFailed(std::io::Error::other("connection refused"));
    tracing::subscriber::with_default(subscriber(OtlpLogLayer::new(sink.clone())), || {
        tracing::error!(
            user = "ann",
            user = "bob",
            error = &err as &(dyn std::error::Error + 'static),
            "upstream"
        );
    });
    let records = sink.take();
    let attributes: Vec<(&str, &LogValue)> = records[0]
        .attributes
        .iter()
        .map(|a| (&*a.key, &a.value))
        .collect();
    // OTLP attribute keys are unique within a record; the first value stays.
    assert_eq!(
        attributes,
        [
            ("user", &LogValue::String("ann".into())),
            (
                "exception.message",
                &LogValue::String("request failed: connection refused".into())
            ),
        ]
    );
}

/// The event's `error` field is the semantic conventions' `exception.message` ("Exceptions
/// on logs"), whether it is an error value (with its sources), or `#[instrument(err)]`'s
/// `%err` / `?err`; a flag named `error` is no message and keeps its name; other fields,
/// errors included, keep theirs. The JSON line keeps the key `error`, with the sources.
#[test]
fn the_error_field_is_the_exception_message() {
    let sink = InMemoryLogSink::new();
    let out = common::captured();
    let subscriber = tracing_subscriber::registry()
        .with(SpanLayer::new())
        .with(OtlpLogLayer::new(sink.clone()))
        .with(obs_log::JsonLayer::new().with_writer(out.clone()));
    let err = RequestFailed(std::io::Error::other("connection refused"));
    let io = std::io::Error::other("disk full");
    tracing::subscriber::with_default(subscriber, || {
        tracing::error!(
            attempt = 2,
            error = &err as &(dyn std::error::Error + 'static),
            "upstream"
        );
        tracing::error!(error = %io);
        tracing::warn!(error = ?io, "debug form");
        tracing::info!(
            error = true,
            cause = &err as &dyn std::error::Error,
            "a flag"
        );
    });
    let records = sink.take();
    let attributes = |i: usize| -> Vec<(String, LogValue)> {
        records[i]
            .attributes
            .iter()
            .map(|a| (a.key.to_string(), a.value.clone()))
            .collect()
    };
    let text = |v: &str| LogValue::String(v.into());
    assert_eq!(
        attributes(0),
        [
            ("attempt".into(), LogValue::I64(2)),
            (
                "exception.message".into(),
                text("request failed: connection refused")
            ),
        ]
    );
    assert_eq!(records[0].body.as_deref(), Some("upstream"));
    assert_eq!(
        attributes(1),
        [("exception.message".into(), text("disk full"))]
    );
    assert_eq!(
        attributes(2),
        [("exception.message".into(), text(&format!("{io:?}")))]
    );
    assert_eq!(
        attributes(3),
        [
            ("error".into(), LogValue::Bool(true)),
            ("cause".into(), text("request failed: connection refused")),
        ]
    );
    // The line: unchanged, the error under its own name, with its sources.
    let lines = common::objects(&out);
    assert_eq!(lines[0]["error"], "request failed: connection refused");
    assert!(
        lines[0].get("exception.message").is_none(),
        "{:?}",
        lines[0]
    );
}

#[test]
fn attribute_limits_apply_as_the_record_is_made_and_leave_the_body_whole() {
    let sink = InMemoryLogSink::new();
    let limits = obs_trace::AttributeLimits {
        count: 3,
        value_length: Some(4),
    };
    let layer = OtlpLogLayer::new(sink.clone())
        .with_limits(limits)
        .with_code_attributes(true);
    let long = "ü".repeat(1 << 20);
    let err = RequestFailed(std::io::Error::other("connection refused"));
    tracing::subscriber::with_default(subscriber(layer), || {
        tracing::info!(
            text = long.as_str(),
            debug = ?long,
            error = &err as &dyn std::error::Error,
            dropped = "past the count",
            "{long}"
        );
    });
    let r = &sink.records()[0];
    // The body is no attribute: whole.
    assert_eq!(r.body.as_deref(), Some(long.as_str()));
    let text = |v: &str| Some(LogValue::String(v.into()));
    assert_eq!(r.attribute("text").cloned(), text("üüüü"));
    assert_eq!(r.attribute("debug").cloned(), text("\"üüü"));
    assert_eq!(r.attribute("exception.message").cloned(), text("requ"));
    // The fourth field and both code attributes are past the count.
    assert_eq!(r.attributes.len(), 3);
    assert_eq!(r.dropped_attributes_count, 3);
    // What is kept holds no more than it shows: a cut value gives the rest back.
    for a in &r.attributes {
        if let LogValue::String(s) = &a.value {
            assert!(s.capacity() <= 64, "{}: {} bytes held", a.key, s.capacity());
        }
    }
}

/// A `&[u8]` field value is binary data (a digest, a raw id): it becomes OTLP's bytes
/// value, byte for byte, as `opentelemetry-appender-tracing` makes it, not text in which
/// every invalid UTF-8 sequence is a replacement character. The value length limit counts
/// its bytes, as the spec says of byte arrays.
#[test]
fn a_byte_string_is_a_bytes_attribute_kept_byte_for_byte() {
    let sink = InMemoryLogSink::new();
    let cut = InMemoryLogSink::new();
    let digest: &[u8] = &[0xde, 0xad, 0xbe, 0xef, 0xff, 0x00];
    let emit = || tracing::info!(digest, "stored");
    tracing::subscriber::with_default(subscriber(OtlpLogLayer::new(sink.clone())), emit);
    let limits = obs_trace::AttributeLimits {
        value_length: Some(4),
        ..obs_trace::AttributeLimits::DEFAULT
    };
    let layer = OtlpLogLayer::new(cut.clone()).with_limits(limits);
    tracing::subscriber::with_default(subscriber(layer), emit);
    assert_eq!(
        sink.records()[0].attribute("digest"),
        Some(&LogValue::Bytes(digest.to_vec()))
    );
    assert_eq!(
        cut.records()[0].attribute("digest"),
        Some(&LogValue::Bytes(digest[..4].to_vec()))
    );
}

#[test]
fn code_attributes_never_duplicate_fields_of_the_same_name() {
    let sink = InMemoryLogSink::new();
    let layer = OtlpLogLayer::new(sink.clone()).with_code_attributes(true);
    tracing::subscriber::with_default(subscriber(layer), || {
        // A bridge forwarding a location from elsewhere names it itself.
        tracing::info!(
            code.file.path = "Main.java",
            code.line.number = 3,
            "bridged"
        );
    });
    let r = &sink.records()[0];
    let keys: Vec<&str> = r.attributes.iter().map(|a| &*a.key).collect();
    // OTLP attribute keys are unique within a record; the event's own fields come first.
    assert_eq!(keys, ["code.file.path", "code.line.number"]);
    assert_eq!(
        r.attribute("code.file.path"),
        Some(&LogValue::String("Main.java".into()))
    );
    assert_eq!(r.attribute("code.line.number"), Some(&LogValue::I64(3)));
}

#[test]
fn a_value_whose_formatting_panics_neither_panics_the_caller_nor_loses_the_record() {
    let sink = InMemoryLogSink::new();
    tracing::subscriber::with_default(subscriber(OtlpLogLayer::new(sink.clone())), || {
        tracing::info!(shown = %PanicsWhenFormatted, after = "kept", "value");
        tracing::info!("message {}", PanicsWhenFormatted);
    });
    let records = sink.take();
    assert_eq!(records.len(), 2);
    let placeholder = LogValue::String(FORMAT_PANICKED.into());
    assert_eq!(records[0].attribute("shown"), Some(&placeholder));
    assert_eq!(
        records[0].attribute("after"),
        Some(&LogValue::String("kept".into()))
    );
    assert_eq!(records[1].body.as_deref(), Some(FORMAT_PANICKED));
}

/// `"YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ"`'s time of day and nanoseconds, as those of a
/// `SystemTime` since the epoch: `(seconds % 86400, subsec nanos)`.
/// A value whose formatting returns an error (no panic of its own) keeps what it wrote, in
/// the record as in the JSON line: `std::fmt::format` would panic on that error, inside obs
/// (a panic message on stderr; with `panic = "abort"`, the process gone).
#[test]
fn a_value_whose_formatting_fails_keeps_what_it_wrote_as_the_json_line_does() {
    let sink = InMemoryLogSink::new();
    let out = common::captured();
    let subscriber = tracing_subscriber::registry()
        .with(SpanLayer::new())
        .with(obs_log::JsonLayer::new().with_writer(out.clone()))
        .with(OtlpLogLayer::new(sink.clone()));
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!(shown = %FailsHalfway, debug = ?FailsHalfway, "message {}", FailsHalfway);
    });
    let record = &sink.records()[0];
    let line = &common::objects(&out)[0];
    let written = LogValue::String("half written".into());
    assert_eq!(record.attribute("shown"), Some(&written));
    assert_eq!(record.attribute("debug"), Some(&written));
    assert_eq!(record.body.as_deref(), Some("message half written"));
    assert_eq!(
        (&line["shown"], &line["debug"], &line["message"]),
        (
            &serde_json::json!("half written"),
            &serde_json::json!("half written"),
            &serde_json::json!("message half written")
        )
    );
}

fn time_of_day(rfc3339: &str) -> (u64, u32) {
    let field = |range: std::ops::Range<usize>| rfc3339[range].parse::<u64>().unwrap();
    let seconds = field(11..13) * 3600 + field(14..16) * 60 + field(17..19);
    (seconds, field(20..29) as u32)
}

fn time_of_day_of(time: SystemTime) -> (u64, u32) {
    let since = time.duration_since(SystemTime::UNIX_EPOCH).unwrap();
    (since.as_secs() % 86_400, since.subsec_nanos())
}

#[test]
fn the_json_line_and_the_record_of_one_event_carry_the_same_instant() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use tracing_subscriber::filter::dynamic_filter_fn;

    let (sink, out) = (InMemoryLogSink::new(), common::captured());
    // Which layer takes the next event: both, or one of them only.
    let (json_on, otlp_on) = (
        Arc::new(AtomicBool::new(true)),
        Arc::new(AtomicBool::new(true)),
    );
    let (json_flag, otlp_flag) = (json_on.clone(), otlp_on.clone());
    let subscriber = tracing_subscriber::registry()
        .with(SpanLayer::new())
        .with(
            obs_log::JsonLayer::new()
                .with_writer(out.clone())
                .with_filter(dynamic_filter_fn(move |_, _| {
                    json_flag.load(Ordering::Relaxed)
                })),
        )
        .with(
            OtlpLogLayer::new(sink.clone()).with_filter(dynamic_filter_fn(move |_, _| {
                otlp_flag.load(Ordering::Relaxed)
            })),
        );
    let log = || tracing::info!("one event");
    tracing::subscriber::with_default(subscriber, || {
        log();
        // Then the same call site for one layer, then for the other: each event gets a
        // time of its own, never the time of the one before.
        otlp_on.store(false, Ordering::Relaxed);
        log();
        let json_time = SystemTime::now();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while SystemTime::now() <= json_time && std::time::Instant::now() < deadline {
            std::hint::spin_loop();
        }
        json_on.store(false, Ordering::Relaxed);
        otlp_on.store(true, Ordering::Relaxed);
        log();
    });
    let (lines, records) = (common::objects(&out), sink.take());
    assert_eq!((lines.len(), records.len()), (2, 2));
    let json_times: Vec<(u64, u32)> = lines
        .iter()
        .map(|l| time_of_day(l["timestamp"].as_str().unwrap()))
        .collect();
    assert_eq!(json_times[0], time_of_day_of(records[0].timestamp));
    assert_eq!(records[0].timestamp, records[0].observed_timestamp);
    assert!(records[1].timestamp > records[0].timestamp);
    assert_ne!(time_of_day_of(records[1].timestamp), json_times[1]);
}

#[test]
fn a_sink_that_panics_does_not_panic_the_caller() {
    /// A sink with a bug: its first record panics, later ones are kept.
    #[derive(Debug, Default)]
    struct PanicsOnce(std::sync::Mutex<bool>, InMemoryLogSink);
    impl obs_log::LogSink for PanicsOnce {
        fn emit(&self, record: obs_log::LogRecord) {
            if !std::mem::replace(&mut *self.0.lock().unwrap(), true) {
                panic!("a buggy sink");
            }
            self.1.emit(record);
        }
    }
    let sink = std::sync::Arc::new(PanicsOnce::default());
    tracing::subscriber::with_default(subscriber(OtlpLogLayer::new(sink.clone())), || {
        tracing::info!("lost");
        tracing::info!("kept");
    });
    let bodies: Vec<String> = sink
        .1
        .records()
        .into_iter()
        .filter_map(|r| r.body)
        .collect();
    assert_eq!(bodies, ["kept"]);
}
