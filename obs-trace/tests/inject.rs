//! `inject` and `inject_current` on an `http::HeaderMap`.

use std::sync::Arc;

use http::{HeaderMap, HeaderValue};
use obs_trace::{
    ActiveContext, Baggage, InMemorySpanSink, SpanContext, SpanId, SpanLayer, TraceFlags, TraceId,
    TraceState, extract, inject, inject_current,
};
use tracing_subscriber::prelude::*;

fn active(trace_state: &str, baggage: &str) -> ActiveContext {
    ActiveContext {
        span: SpanContext {
            trace_id: TraceId::from_u128(0x0af7651916cd43dd8448eb211c80319c),
            span_id: SpanId::from_u64(0xb7ad6b7169203331),
            flags: TraceFlags(0x03),
            trace_state: TraceState::from_header(trace_state).expect("valid"),
            is_remote: false,
        },
        baggage: Baggage::from_header(baggage),
    }
}

fn all<'a>(headers: &'a HeaderMap, name: &str) -> Vec<&'a str> {
    headers
        .get_all(name)
        .iter()
        .map(|v| v.to_str().expect("ASCII"))
        .collect()
}

#[test]
fn inject_replaces_every_existing_value() {
    let mut headers = HeaderMap::new();
    for name in ["traceparent", "tracestate", "baggage"] {
        headers.append(name, HeaderValue::from_static("stale-1"));
        headers.append(name, HeaderValue::from_static("stale-2"));
    }
    inject(&active("congo=t61rcWkgMzE", "k = v%20a"), &mut headers);
    assert_eq!(
        all(&headers, "traceparent"),
        ["00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-03"]
    );
    assert_eq!(all(&headers, "tracestate"), ["congo=t61rcWkgMzE"]);
    assert_eq!(all(&headers, "baggage"), ["k=v%20a"]);

    // Empty tracestate: the stale value goes, nothing empty is written. Empty baggage: there
    // is nothing to inject, and the header there (an application's) is left as it is.
    inject(&active("", ""), &mut headers);
    assert_eq!(all(&headers, "traceparent").len(), 1);
    assert!(all(&headers, "tracestate").is_empty());
    assert_eq!(all(&headers, "baggage"), ["k=v%20a"]);
}

/// W3C Baggage, "Limits": a member too big for 8192 bytes is left out whole. When none is
/// left there is nothing to inject: no empty `baggage` field (a `baggage-string` has at
/// least one list-member), and an application's header stays, as with no baggage at all.
#[test]
fn baggage_too_big_to_send_writes_no_empty_header() {
    let mut context = active("", "");
    let too_big = "x".repeat(obs_trace::MAX_BAGGAGE_BYTES);
    context.baggage.insert("big", too_big).expect("a valid key");
    let mut headers = HeaderMap::new();
    inject(&context, &mut headers);
    assert_eq!(all(&headers, "baggage"), Vec::<&str>::new());
    headers.insert("baggage", HeaderValue::from_static("app=1"));
    inject(&context, &mut headers);
    assert_eq!(all(&headers, "baggage"), ["app=1"]);
}

#[test]
fn reserved_flag_bits_are_not_propagated() {
    let mut context = active("", "");
    context.span.flags = TraceFlags(0xff);
    let mut headers = HeaderMap::new();
    inject(&context, &mut headers);
    assert_eq!(
        headers["traceparent"],
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-03"
    );
}

#[test]
fn invalid_span_context_writes_only_baggage() {
    let mut context = active("a=1", "k=v");
    context.span.trace_id = TraceId::INVALID;
    let mut headers = HeaderMap::new();
    headers.insert("traceparent", HeaderValue::from_static("stale"));
    inject(&context, &mut headers);
    assert!(headers.get("traceparent").is_none() && headers.get("tracestate").is_none());
    assert_eq!(headers["baggage"], "k=v");
}

#[test]
fn inject_current_writes_the_entered_span_and_nothing_outside() {
    let mut headers = HeaderMap::new();
    inject_current(&mut headers);
    assert!(headers.is_empty());

    let subscriber = tracing_subscriber::registry()
        .with(SpanLayer::new().with_sink(Arc::new(InMemorySpanSink::new())));
    tracing::subscriber::with_default(subscriber, || {
        let mut incoming = HeaderMap::new();
        incoming.insert(
            "traceparent",
            HeaderValue::from_static("00-12345678901234567890123456789012-1234567890123456-03"),
        );
        incoming.insert("tracestate", HeaderValue::from_static("rojo=1"));
        incoming.insert("baggage", HeaderValue::from_static("user=alice"));
        let server = obs_trace::span_with_remote_parent(extract(&incoming), || {
            tracing::info_span!("server")
        });
        server.in_scope(|| inject_current(&mut headers));
    });
    let outgoing = extract(&headers);
    let span = outgoing.span.expect("a traceparent was written");
    assert_eq!(
        span.trace_id.to_string(),
        "12345678901234567890123456789012"
    );
    assert_ne!(
        span.span_id.to_string(),
        "1234567890123456",
        "our own span id"
    );
    assert!(span.flags.is_random(), "the random flag is carried through");
    assert_eq!(span.trace_state.header(), "rojo=1");
    assert_eq!(outgoing.baggage.get("user"), Some("alice"));
}
