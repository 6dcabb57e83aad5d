//! A `message` field given together with a format string: `tracing` delivers both, and
//! neither value is lost.

mod common;

use std::fmt;
use std::sync::{Arc, Mutex};

use common::{captured, lines, objects};
use obs_log::{FieldNames, InMemoryLogSink, JsonLayer, LogValue, OtlpLogLayer};
use tracing::field::{Field, Visit};
use tracing_subscriber::prelude::*;

/// An event's fields, names and `Debug` values, in the order a layer is given them.
type EventFields = Vec<(&'static str, String)>;

/// The fields of every event.
#[derive(Clone, Default)]
struct Fields(Arc<Mutex<Vec<EventFields>>>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Fields {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        struct V(EventFields);
        impl Visit for V {
            fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
                self.0.push((field.name(), format!("{value:?}")));
            }
        }
        let mut v = V(Vec::new());
        event.record(&mut v);
        self.0.lock().unwrap().push(v.0);
    }
}

/// The forms the `tracing` macros accept with a `message` field and a format string.
fn log_the_forms() {
    tracing::info!(message = "explicit", "formatted {}", 1);
    tracing::event!(
        tracing::Level::WARN,
        message = "explicit",
        "formatted {}",
        2
    );
    tracing::info!(n = 3, message = "explicit", "formatted");
    tracing::info!(message = 4, "formatted");
}

#[test]
fn tracing_delivers_the_formatted_message_first_and_the_field_after_it() {
    let fields = Fields::default();
    tracing::subscriber::with_default(
        tracing_subscriber::registry().with(fields.clone()),
        log_the_forms,
    );
    let got = fields.0.lock().unwrap().clone();
    let s = |v: &[(&'static str, &str)]| {
        v.iter()
            .map(|(k, v)| (*k, v.to_string()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        got,
        [
            s(&[("message", "formatted 1"), ("message", "\"explicit\"")]),
            s(&[("message", "formatted 2"), ("message", "\"explicit\"")]),
            s(&[
                ("message", "formatted"),
                ("n", "3"),
                ("message", "\"explicit\"")
            ]),
            s(&[("message", "formatted"), ("message", "4")]),
        ]
    );
}

#[test]
fn json_lines_keep_the_message_field_under_a_non_clashing_key() {
    let out = captured();
    let subscriber = tracing_subscriber::registry().with(JsonLayer::new().with_writer(out.clone()));
    tracing::subscriber::with_default(subscriber, log_the_forms);
    let default = objects(&out);
    assert_eq!(default[0]["message"], "formatted 1");
    assert_eq!(default[0]["fields.message"], "explicit");
    assert_eq!(default[1]["message"], "formatted 2");
    assert_eq!(default[1]["fields.message"], "explicit");
    assert_eq!(default[2]["message"], "formatted");
    assert_eq!(default[2]["fields.message"], "explicit");
    assert_eq!(default[2]["n"], 3);
    assert_eq!(default[3]["fields.message"], 4);
    for raw in lines(&out) {
        assert_eq!(raw.matches("\"message\":").count(), 1, "{raw}");
    }

    // Where `message` is no key of the line, the field keeps its name.
    let out = captured();
    let subscriber = tracing_subscriber::registry().with(
        JsonLayer::new()
            .with_writer(out.clone())
            .with_field_names(FieldNames::otel()),
    );
    tracing::subscriber::with_default(subscriber, log_the_forms);
    let otel = objects(&out);
    assert_eq!(otel[0]["body"], "formatted 1");
    assert_eq!(otel[0]["message"], "explicit");
}

#[test]
fn otlp_records_keep_the_message_field_as_an_attribute() {
    let sink = InMemoryLogSink::new();
    let subscriber = tracing_subscriber::registry().with(OtlpLogLayer::new(sink.clone()));
    tracing::subscriber::with_default(subscriber, log_the_forms);
    let records = sink.take();
    assert_eq!(records[0].body.as_deref(), Some("formatted 1"));
    assert_eq!(
        records[0].attribute("message"),
        Some(&LogValue::from("explicit"))
    );
    assert_eq!(records[2].body.as_deref(), Some("formatted"));
    assert_eq!(
        records[2].attribute("message"),
        Some(&LogValue::from("explicit"))
    );
    assert_eq!(records[3].attribute("message"), Some(&LogValue::I64(4)));
}
