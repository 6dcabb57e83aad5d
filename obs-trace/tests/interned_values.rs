//! Span names and the attributes whose values the semantic conventions keep few are
//! interned: every span of a kind shares one copy instead of allocating its own.

use std::borrow::Cow;
use std::sync::Arc;

use obs_trace::opentelemetry::Value;
use obs_trace::{InMemorySpanSink, SpanData, SpanLayer};
use tracing_subscriber::prelude::*;

fn string_attribute<'a>(span: &'a SpanData, key: &str) -> &'a str {
    match span.attribute(key) {
        Some(Value::String(s)) => s.as_str(),
        Some(other) => panic!("{key} is not a string: {other:?}"),
        None => panic!("{key} missing"),
    }
}

#[test]
fn names_and_few_valued_attributes_are_shared_and_other_values_copied() {
    let sink = InMemorySpanSink::new();
    let subscriber =
        tracing_subscriber::registry().with(SpanLayer::new().with_sink(Arc::new(sink.clone())));
    tracing::subscriber::with_default(subscriber, || {
        for user in ["u-1", "u-2"] {
            tracing::info_span!(
                "call",
                otel.name = "pkg.Orders/Get",
                rpc.service = "pkg.Orders",
                rpc.method = "Get",
                user.id = user,
            )
            .in_scope(|| {});
        }
    });
    let spans = sink.spans();
    let [first, second] = spans.as_slice() else {
        panic!("two spans, got {}", spans.len());
    };
    let (Cow::Borrowed(a), Cow::Borrowed(b)) = (&first.name, &second.name) else {
        panic!("names interned: {:?} {:?}", first.name, second.name);
    };
    assert_eq!(*a, "pkg.Orders/Get");
    assert!(std::ptr::eq(*a, *b));
    for key in ["rpc.service", "rpc.method"] {
        let (a, b) = (string_attribute(first, key), string_attribute(second, key));
        assert_eq!(a, b);
        assert!(std::ptr::eq(a, b), "{key} shared");
    }
    assert_eq!(string_attribute(first, "user.id"), "u-1");
    assert_eq!(string_attribute(second, "user.id"), "u-2");
}
