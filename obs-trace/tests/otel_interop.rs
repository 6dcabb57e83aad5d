//! `W3CPropagator` as an OpenTelemetry `TextMapPropagator`: extract into an OpenTelemetry
//! `Context` and inject back identically, interoperate with the SDK's own propagators, and
//! work as the global propagator.

use std::collections::HashMap;

use obs_trace::{InMemorySpanSink, SpanLayer, W3CPropagator, install_global_propagator};
use opentelemetry::Context;
use opentelemetry::baggage::{BaggageExt, KeyValueMetadata};
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};
use std::sync::Arc;
use tracing_subscriber::prelude::*;

const TRACEPARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-03";
const TRACESTATE: &str = "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7";
const BAGGAGE: &str = "userId=alice%20b,region=eu;ttl=60";

fn carrier(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|&(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn incoming() -> HashMap<String, String> {
    carrier(&[
        ("traceparent", TRACEPARENT),
        ("tracestate", TRACESTATE),
        ("baggage", BAGGAGE),
    ])
}

#[test]
fn extract_then_inject_is_identical() {
    let propagator = W3CPropagator::new();
    let cx = propagator.extract_with_context(&Context::new(), &incoming());

    let span = cx.span();
    let sc = span.span_context();
    assert!(sc.is_valid() && sc.is_remote() && sc.is_sampled());
    assert_eq!(
        sc.trace_id().to_string(),
        "0af7651916cd43dd8448eb211c80319c"
    );
    assert_eq!(sc.span_id().to_string(), "b7ad6b7169203331");
    assert_eq!(sc.trace_flags().to_u8(), 0x03, "the random flag is carried");
    assert_eq!(sc.trace_state().header(), TRACESTATE);
    let (value, metadata) = cx.baggage().get_with_metadata("region").expect("region");
    assert_eq!((value.as_str(), metadata.as_str()), ("eu", "ttl=60"));
    assert_eq!(
        cx.baggage().get("userId").map(|v| v.as_str().to_owned()),
        Some("alice b".to_owned())
    );

    let mut out = HashMap::new();
    propagator.inject_context(&cx, &mut out);
    assert_eq!(out["traceparent"], TRACEPARENT);
    assert_eq!(out["tracestate"], TRACESTATE);
    // OpenTelemetry's baggage is a hash map: compare as parsed baggage, not as a string.
    assert_eq!(
        obs_trace::Baggage::from_header(&out["baggage"]).len(),
        2,
        "{}",
        out["baggage"]
    );
    let again = propagator.extract_with_context(&Context::new(), &out);
    assert_eq!(again.span().span_context(), sc);
    assert_eq!(
        again.baggage().get_with_metadata("region"),
        cx.baggage().get_with_metadata("region")
    );

    let fields: Vec<&str> = propagator.fields().collect();
    assert_eq!(fields, ["traceparent", "tracestate", "baggage"]);
}

#[test]
fn agrees_with_the_sdk_propagators() {
    let ours = W3CPropagator::new();
    let sdk_trace = TraceContextPropagator::new();
    let sdk_baggage = BaggagePropagator::new();

    // The SDK implements Level 1 only and drops the `random` flag, so compare on a
    // traceparent with just `sampled`.
    const SAMPLED_ONLY: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let mut incoming = incoming();
    incoming.insert("traceparent".to_owned(), SAMPLED_ONLY.to_owned());

    // What the SDK extracts, we inject identically, and the other way round.
    let sdk_cx = sdk_baggage.extract_with_context(
        &sdk_trace.extract_with_context(&Context::new(), &incoming),
        &incoming,
    );
    let mut ours_out = HashMap::new();
    ours.inject_context(&sdk_cx, &mut ours_out);
    assert_eq!(ours_out["traceparent"], SAMPLED_ONLY);
    assert_eq!(ours_out["tracestate"], TRACESTATE);
    assert_eq!(
        obs_trace::Baggage::from_header(&ours_out["baggage"]).get("userId"),
        Some("alice b")
    );

    let our_cx = ours.extract_with_context(&Context::new(), &incoming);
    let mut sdk_out = HashMap::new();
    sdk_trace.inject_context(&our_cx, &mut sdk_out);
    assert_eq!(sdk_out["traceparent"], SAMPLED_ONLY);
    assert_eq!(sdk_out["tracestate"], TRACESTATE);
    assert_eq!(our_cx.span().span_context(), sdk_cx.span().span_context());
}

#[test]
fn invalid_traceparent_keeps_the_given_context_and_baggage() {
    let propagator = W3CPropagator::new();
    let cx = propagator.extract_with_context(
        &Context::new(),
        &carrier(&[
            (
                "traceparent",
                "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            ),
            ("tracestate", TRACESTATE),
            ("baggage", "a=1"),
        ]),
    );
    assert!(!cx.span().span_context().is_valid());
    assert_eq!(
        cx.baggage().get("a").map(|v| v.as_str().to_owned()),
        Some("1".to_owned())
    );
    let mut out = HashMap::new();
    propagator.inject_context(&cx, &mut out);
    assert!(!out.contains_key("traceparent") && !out.contains_key("tracestate"));
    assert_eq!(out["baggage"], "a=1");
}

/// OpenTelemetry, "Extract": a value that "can not be parsed from the carrier" MUST NOT be
/// stored in the `Context`, "to preserve any previously existing valid value": a `baggage`
/// header with no valid list-member leaves the given context's baggage in place.
#[test]
fn a_baggage_header_with_no_valid_member_keeps_the_given_baggage() {
    let given = Context::new().with_baggage([opentelemetry::KeyValue::new("a", "1")]);
    let cx =
        W3CPropagator::new().extract_with_context(&given, &carrier(&[("baggage", "bad key=2,=3")]));
    assert_eq!(
        cx.baggage().get("a").map(|v| v.as_str().to_owned()),
        Some("1".to_owned())
    );
    assert_eq!(cx.baggage().len(), 1);
}

/// OpenTelemetry's baggage metadata is "an opaque wrapper for a string" (Baggage API, Set
/// Value), and the SDK's propagator percent-decodes property values on extract: metadata
/// that is no W3C property list is left out on inject, and its entry's value still goes.
#[test]
fn metadata_that_is_no_property_list_does_not_drop_its_entry() {
    let incoming = carrier(&[("baggage", "k=v;p=a%20b")]);
    let sdk_cx = BaggagePropagator::new().extract_with_context(&Context::new(), &incoming);
    let cx = sdk_cx.with_baggage(
        sdk_cx
            .baggage()
            .iter()
            .map(|(k, (v, m))| KeyValueMetadata::new(k.clone(), v.clone(), m.clone()))
            .chain([KeyValueMetadata::new("tenant", "acme", "free text")]),
    );
    let mut out = HashMap::new();
    W3CPropagator::new().inject_context(&cx, &mut out);
    let sent = obs_trace::Baggage::from_header(&out["baggage"]);
    assert_eq!(
        (sent.get("k"), sent.get("tenant")),
        (Some("v"), Some("acme"))
    );
    assert_eq!(sent.len(), 2);
}

#[test]
fn inject_falls_back_to_the_current_obs_span() {
    let sink = InMemorySpanSink::new();
    let subscriber =
        tracing_subscriber::registry().with(SpanLayer::new().with_sink(Arc::new(sink.clone())));
    tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!("outgoing");
        let _entered = span.enter();
        let current = obs_trace::current_span_context().expect("a span is current");
        let mut out = HashMap::new();
        W3CPropagator::new().inject_context(&Context::new(), &mut out);
        let expected =
            obs_trace::format_traceparent(current.trace_id, current.span_id, current.flags);
        assert_eq!(out["traceparent"].as_bytes(), expected);
    });
    // Outside any span there is nothing to inject.
    let mut out = HashMap::new();
    W3CPropagator::new().inject_context(&Context::new(), &mut out);
    assert!(out.is_empty());
}

#[test]
fn works_as_the_global_propagator() {
    install_global_propagator();
    let cx = opentelemetry::global::get_text_map_propagator(|p| {
        p.extract_with_context(&Context::new(), &incoming())
    });
    assert_eq!(
        cx.span().span_context().trace_id().to_string(),
        "0af7651916cd43dd8448eb211c80319c"
    );
    let mut out = HashMap::new();
    opentelemetry::global::get_text_map_propagator(|p| p.inject_context(&cx, &mut out));
    assert_eq!(out["traceparent"], TRACEPARENT);
    assert_eq!(out["tracestate"], TRACESTATE);
}
