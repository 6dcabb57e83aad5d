//! Any string in a message, a value or a key comes back intact from one valid JSON line.

mod common;

use common::{captured, lines, objects};
use obs_log::{JsonLayer, Redaction, SpanFields};
use proptest::prelude::*;
use tracing::field::{Field, FieldSet, Value};
use tracing::{Level, Metadata, callsite::Identifier};
use tracing_core::{Callsite, Event, Interest, Kind};
use tracing_subscriber::prelude::*;

/// Strings biased towards what breaks naive JSON writers.
fn hostile() -> impl Strategy<Value = String> {
    let pieces = prop_oneof![
        Just("\n".to_owned()),
        Just("\r\n".to_owned()),
        Just("\"".to_owned()),
        Just("\\".to_owned()),
        Just("\\\"".to_owned()),
        Just("\u{0}".to_owned()),
        Just("\u{1b}[31m".to_owned()),
        Just("\u{7f}".to_owned()),
        Just("\u{2028}\u{2029}".to_owned()),
        Just("\u{fffd}".to_owned()),
        Just("\"}\n{\"level\":\"ERROR\",\"message\":\"forged".to_owned()),
        Just("😀".to_owned()),
        any::<String>(),
        "[\\x00-\\x7f]{0,8}",
    ];
    prop::collection::vec(pieces, 0..6).prop_map(|v| v.concat())
}

/// A callsite whose single field has a run-time name, leaked (bounded by the case count):
/// the only way to get arbitrary field keys through `tracing`.
struct DynamicCallsite {
    meta: std::sync::OnceLock<Metadata<'static>>,
}

impl Callsite for DynamicCallsite {
    fn set_interest(&self, _: Interest) {}
    fn metadata(&self) -> &Metadata<'_> {
        self.meta.get().expect("set at creation")
    }
}

fn event_with_key(key: &str, value: &str) {
    let key: &'static str = Box::leak(key.to_owned().into_boxed_str());
    let names: &'static [&'static str] = Box::leak(vec![key].into_boxed_slice());
    let callsite: &'static DynamicCallsite = Box::leak(Box::new(DynamicCallsite {
        meta: std::sync::OnceLock::new(),
    }));
    let meta = callsite.meta.get_or_init(|| {
        Metadata::new(
            "dynamic",
            "proptest",
            Level::INFO,
            None,
            None,
            None,
            FieldSet::new(names, Identifier(callsite)),
            Kind::EVENT,
        )
    });
    let field: Field = meta.fields().field(key).expect("the one field");
    let values = [(&field, Some(&value as &dyn Value))];
    Event::dispatch(meta, &meta.fields().value_set(&values));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn messages_and_values_round_trip(
        message in hostile(),
        value in hostile(),
        shown in hostile(),
        flatten in any::<bool>(),
    ) {
        let out = captured();
        let span_fields = if flatten { SpanFields::Flatten } else { SpanFields::Nested };
        let subscriber = tracing_subscriber::registry()
            .with(JsonLayer::new().with_writer(out.clone()).with_span_fields(span_fields));
        tracing::subscriber::with_default(subscriber, || {
            let _s = tracing::info_span!("s", span_value = value.as_str()).entered();
            tracing::info!(value = value.as_str(), shown = ?shown, "{}", message);
        });
        prop_assert_eq!(lines(&out).len(), 1);
        let line = &objects(&out)[0];
        prop_assert_eq!(line["message"].as_str(), Some(message.as_str()));
        prop_assert_eq!(line["value"].as_str(), Some(value.as_str()));
        let shown_debug = format!("{shown:?}");
        prop_assert_eq!(line["shown"].as_str(), Some(shown_debug.as_str()));
        let span_value = if flatten { &line["span_value"] } else { &line["spans"][0]["span_value"] };
        prop_assert_eq!(span_value.as_str(), Some(value.as_str()));
    }

    #[test]
    fn keys_round_trip(key in hostile(), value in hostile()) {
        prop_assume!(key != "message");
        let out = captured();
        let subscriber = tracing_subscriber::registry()
            .with(JsonLayer::new().with_writer(out.clone()).with_redaction(Redaction::none()));
        tracing::subscriber::with_default(subscriber, || event_with_key(&key, &value));
        prop_assert_eq!(lines(&out).len(), 1);
        let line = &objects(&out)[0];
        // Reserved keys and the prefix itself come back under `fields.`.
        let reserved = ["timestamp", "level", "target", "service", "trace_id", "span_id",
            "trace_flags", "spans", "file", "line"];
        let expected_key = if reserved.contains(&key.as_str()) || key.starts_with("fields.") {
            format!("fields.{key}")
        } else {
            key.clone()
        };
        prop_assert_eq!(line[&expected_key].as_str(), Some(value.as_str()));
        prop_assert_eq!(line["level"].as_str(), Some("INFO"));
        prop_assert_eq!(line["target"].as_str(), Some("proptest"));
    }
}
