//! The process-wide propagator choice (`OTEL_PROPAGATORS`): [`extract`], [`inject`] and
//! [`W3CPropagator`] read and write only the W3C formats it names. One test in a binary of
//! its own, since the choice is global to the process.

use std::collections::HashMap;

use http::HeaderMap;
use obs_trace::opentelemetry::baggage::BaggageExt;
use obs_trace::opentelemetry::propagation::TextMapPropagator;
use obs_trace::opentelemetry::trace::TraceContextExt;
use obs_trace::{
    ActiveContext, Baggage, Propagators, SpanContext, SpanId, TraceFlags, TraceId, TraceState,
    W3CPropagator, extract, inject, propagators, set_propagators,
};

const TRACEPARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

fn incoming() -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("traceparent", TRACEPARENT.parse().unwrap());
    headers.insert("tracestate", "k=v".parse().unwrap());
    headers.insert("baggage", "user=alice".parse().unwrap());
    headers
}

fn active() -> ActiveContext {
    ActiveContext {
        span: SpanContext {
            trace_id: TraceId::from_u128(1),
            span_id: SpanId::from_u64(2),
            flags: TraceFlags::SAMPLED,
            trace_state: TraceState::from_header("k=v").unwrap(),
            is_remote: false,
        },
        baggage: Baggage::from_header("user=alice"),
    }
}

/// What `inject` writes into headers that held a stale context of every format.
fn injected() -> HeaderMap {
    let mut headers = incoming();
    inject(&active(), &mut headers);
    headers
}

#[test]
fn only_the_chosen_formats_are_read_and_written() {
    assert_eq!(propagators(), Propagators::W3C, "both by default");

    set_propagators(Propagators::NONE);
    let parent = extract(&incoming());
    assert_eq!(parent.span, None);
    assert!(parent.baggage.is_empty());
    // Nothing written, and nothing of the caller's touched either.
    assert_eq!(injected(), incoming());
    let cx = W3CPropagator::new().extract(&carrier_of(&incoming()));
    assert!(!cx.span().span_context().is_valid());
    assert_eq!(cx.baggage().len(), 0);
    let mut carrier = HashMap::new();
    W3CPropagator::new().inject_context(&cx_of(&active()), &mut carrier);
    assert!(carrier.is_empty(), "{carrier:?}");
    assert_eq!(W3CPropagator::new().fields().count(), 0);

    set_propagators(Propagators {
        trace_context: true,
        ..Propagators::NONE
    });
    let parent = extract(&incoming());
    assert!(parent.span.is_some());
    assert!(parent.baggage.is_empty());
    let headers = injected();
    assert_eq!(
        headers["traceparent"],
        "00-00000000000000000000000000000001-0000000000000002-01"
    );
    assert_eq!(headers["baggage"], "user=alice", "the caller's, untouched");
    let mut carrier = HashMap::new();
    W3CPropagator::new().inject_context(&cx_of(&active()), &mut carrier);
    assert!(carrier.contains_key("traceparent") && !carrier.contains_key("baggage"));

    set_propagators(Propagators {
        baggage: true,
        ..Propagators::NONE
    });
    let parent = extract(&incoming());
    assert_eq!(parent.span, None);
    assert_eq!(parent.baggage.get("user"), Some("alice"));
    let headers = injected();
    assert_eq!(headers["traceparent"], TRACEPARENT, "untouched");
    let cx = W3CPropagator::new().extract(&carrier_of(&incoming()));
    assert!(!cx.span().span_context().is_valid());
    assert_eq!(cx.baggage().len(), 1);

    set_propagators(Propagators::W3C);
    let parent = extract(&incoming());
    assert!(parent.span.is_some() && !parent.baggage.is_empty());
    assert_eq!(W3CPropagator::new().fields().count(), 3);
}

/// An OpenTelemetry context holding `active`'s span and baggage.
fn cx_of(active: &ActiveContext) -> obs_trace::opentelemetry::Context {
    let mut headers = HeaderMap::new();
    let saved = propagators();
    set_propagators(Propagators::W3C);
    inject(active, &mut headers);
    let cx = W3CPropagator::new().extract(&carrier_of(&headers));
    set_propagators(saved);
    cx
}

/// `headers` as an OpenTelemetry carrier.
fn carrier_of(headers: &HeaderMap) -> HashMap<String, String> {
    headers
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap().to_owned()))
        .collect()
}
