//! `RemoteParent::span_with_attributes`: the span layer takes a middleware span's name, kind
//! and attributes from its description, not from its `tracing` fields (which the other
//! layers still see), asks for the description only when the span records, and still
//! records fields given later with `Span::record`.

use std::cell::Cell;
use std::sync::{Arc, Mutex};

use obs_trace::opentelemetry::trace::SpanKind;
use obs_trace::opentelemetry::{KeyValue, Value};
use obs_trace::{
    InMemorySpanSink, RemoteParent, SpanContext, SpanId, SpanLayer, TraceFlags, TraceId,
};
use tracing::field::Empty;
use tracing_core::span::{Attributes, Id};
use tracing_subscriber::layer::Context;
use tracing_subscriber::prelude::*;

fn caller(flags: TraceFlags) -> RemoteParent {
    RemoteParent {
        span: Some(SpanContext {
            trace_id: TraceId::from_u128(0x0af7651916cd43dd8448eb211c80319c),
            span_id: SpanId::from_u64(0xb7ad6b7169203331),
            flags,
            is_remote: true,
            ..Default::default()
        }),
        baggage: Default::default(),
    }
}

/// The names of the fields another layer saw on each new span.
#[derive(Clone, Default)]
struct FieldsSeenByOthers(Arc<Mutex<Vec<String>>>);

impl<S: tracing_core::Subscriber> tracing_subscriber::Layer<S> for FieldsSeenByOthers {
    fn on_new_span(&self, attrs: &Attributes<'_>, _id: &Id, _ctx: Context<'_, S>) {
        struct Names<'a>(&'a mut Vec<String>);
        impl tracing_core::field::Visit for Names<'_> {
            fn record_debug(&mut self, field: &tracing_core::Field, _: &dyn std::fmt::Debug) {
                self.0.push(field.name().to_owned());
            }
        }
        attrs.record(&mut Names(&mut self.0.lock().unwrap()));
    }
}

/// A span as middleware makes one: identifying `tracing` fields, a field recorded later.
fn request_span(parent: RemoteParent, described: &Cell<u32>) -> tracing::Span {
    parent.span_with_attributes(
        || {
            tracing::info_span!(
                "request",
                http.response.status_code = Empty,
                otel.name = "GET /users/{id}",
                otel.kind = "server",
                http.route = "/users/{id}",
            )
        },
        |start| {
            described.set(described.get() + 1);
            start.set_name("GET /users/{id}");
            start.set_kind(SpanKind::Server);
            start
                .attributes()
                .push(KeyValue::new("http.route", "/users/{id}"));
            start.push_str("url.path", String::from("/users/7"));
            start.push_str("url.scheme", "https");
            start.push_i64("server.port", 8443);
        },
    )
}

#[test]
fn a_recording_span_takes_its_description_and_later_records() {
    let sink = InMemorySpanSink::new();
    let others = FieldsSeenByOthers::default();
    let subscriber = tracing_subscriber::registry()
        .with(SpanLayer::new().with_sink(Arc::new(sink.clone())))
        .with(others.clone());
    let described = Cell::new(0);
    tracing::subscriber::with_default(subscriber, || {
        let span = request_span(caller(TraceFlags::SAMPLED), &described);
        span.record("http.response.status_code", 200);
    });
    assert_eq!(described.get(), 1);
    let spans = sink.spans();
    assert_eq!(spans.len(), 1);
    let span = &spans[0];
    assert_eq!(span.name, "GET /users/{id}");
    assert_eq!(span.kind, SpanKind::Server);
    assert_eq!(span.parent_span_id, SpanId::from_u64(0xb7ad6b7169203331));
    // Each attribute once: the description's, not the visited `http.route` beside it.
    assert_eq!(
        span.attributes,
        vec![
            KeyValue::new("http.route", "/users/{id}"),
            KeyValue::new("url.path", "/users/7"),
            KeyValue::new("url.scheme", "https"),
            KeyValue::new("server.port", Value::I64(8443)),
            KeyValue::new("http.response.status_code", Value::I64(200)),
        ]
    );
    // The other layers see the `tracing` fields as declared.
    assert_eq!(
        *others.0.lock().unwrap(),
        ["otel.name", "otel.kind", "http.route"]
    );
}

#[test]
fn an_unsampled_span_is_not_described_but_keeps_its_trace() {
    let sink = InMemorySpanSink::new();
    let subscriber =
        tracing_subscriber::registry().with(SpanLayer::new().with_sink(Arc::new(sink.clone())));
    let described = Cell::new(0);
    tracing::subscriber::with_default(subscriber, || {
        let span = request_span(caller(TraceFlags::default()), &described);
        let _entered = span.enter();
        let current = obs_trace::current_span_context().expect("a current context");
        assert_eq!(
            current.trace_id,
            TraceId::from_u128(0x0af7651916cd43dd8448eb211c80319c)
        );
        assert!(!current.is_sampled());
    });
    assert_eq!(described.get(), 0);
    assert!(sink.spans().is_empty());
}

/// A root (no caller context) under a ratio sampler: every span that records was described,
/// and no other span was.
#[test]
fn roots_are_described_exactly_when_the_ratio_sampler_keeps_them() {
    let sink = InMemorySpanSink::new();
    let subscriber = tracing_subscriber::registry().with(
        SpanLayer::new()
            .with_sampler(obs_trace::Sampler::TraceIdRatio(0.5))
            .with_sink(Arc::new(sink.clone())),
    );
    let described = Cell::new(0);
    tracing::subscriber::with_default(subscriber, || {
        for _ in 0..200 {
            let root = RemoteParent {
                span: None,
                baggage: Default::default(),
            };
            drop(request_span(root, &described));
        }
    });
    let spans = sink.spans();
    assert!(
        !spans.is_empty() && spans.len() < 200,
        "{} kept",
        spans.len()
    );
    assert_eq!(described.get() as usize, spans.len());
    assert!(
        spans
            .iter()
            .all(|s| s.name == "GET /users/{id}" && s.attributes.len() == 4)
    );
}

/// A description with more attributes than the span has fields (the room a recording is
/// made with) keeps every one, in order.
#[test]
fn a_description_longer_than_the_spans_fields_is_kept_whole() {
    let sink = InMemorySpanSink::new();
    let subscriber =
        tracing_subscriber::registry().with(SpanLayer::new().with_sink(Arc::new(sink.clone())));
    tracing::subscriber::with_default(subscriber, || {
        caller(TraceFlags::SAMPLED).span_with_attributes(
            || tracing::info_span!("request", otel.kind = "server"),
            |start| {
                start.push_str("url.path", String::from("/users/7"));
                start.push_str("user_agent.original", "curl/8");
                start.push_i64("server.port", 8443);
                start.push_str("url.scheme", "https");
                start.push_str("client.address", String::from("192.0.2.7"));
            },
        );
    });
    let spans = sink.spans();
    assert_eq!(spans.len(), 1);
    assert_eq!(
        spans[0].attributes,
        vec![
            KeyValue::new("url.path", "/users/7"),
            KeyValue::new("user_agent.original", "curl/8"),
            KeyValue::new("server.port", Value::I64(8443)),
            KeyValue::new("url.scheme", "https"),
            KeyValue::new("client.address", "192.0.2.7"),
        ]
    );
}
