//! B3 (`OTEL_PROPAGATORS=b3` / `b3multi`) through [`extract`], [`inject`] and
//! [`W3CPropagator`], as the OpenTelemetry "B3 Requirements" and "Composite Propagator" say.
//! One test in a binary of its own, since the choice of propagators is global to the process.

use std::collections::HashMap;
use std::sync::Arc;

use http::HeaderMap;
use obs_trace::opentelemetry::propagation::TextMapPropagator;
use obs_trace::opentelemetry::trace::TraceContextExt;
use obs_trace::{
    ActiveContext, InMemorySpanSink, Propagators, SpanContext, SpanId, SpanLayer, TraceFlags,
    TraceId, W3CPropagator, extract, inject, inject_current, set_propagators,
};
use tracing_subscriber::prelude::*;

const TRACE: &str = "80f198ee56343ba864fe8b2a57d3eff7";
const SPAN: &str = "e457b5a2e4d86bd1";
const B3: &str = "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1";
const TRACEPARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for &(name, value) in pairs {
        headers.append(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    headers
}

/// The trace id, span id and flags `extract` finds, if any.
fn extracted(pairs: &[(&str, &str)]) -> Option<(String, String, u8)> {
    extract(&headers(pairs))
        .span
        .map(|s| (s.trace_id.to_string(), s.span_id.to_string(), s.flags.0))
}

fn b3_context(flags: u8) -> Option<(String, String, u8)> {
    Some((TRACE.to_owned(), SPAN.to_owned(), flags))
}

fn w3c_context() -> Option<(String, String, u8)> {
    Some((
        "0af7651916cd43dd8448eb211c80319c".to_owned(),
        "b7ad6b7169203331".to_owned(),
        1,
    ))
}

fn active(flags: u8) -> ActiveContext {
    ActiveContext {
        span: SpanContext {
            trace_id: TraceId::from_u128(0xa3ce929d0e0e4736),
            span_id: SpanId::from_u64(2),
            flags: TraceFlags(flags),
            ..SpanContext::default()
        },
        baggage: Default::default(),
    }
}

fn names(headers: &HeaderMap) -> Vec<&str> {
    let mut names: Vec<&str> = headers.keys().map(|n| n.as_str()).collect();
    names.sort_unstable();
    names
}

#[test]
fn b3_is_read_in_both_encodings_and_written_in_the_chosen_one() {
    let multi = [
        ("X-B3-TraceId", TRACE),
        ("X-B3-SpanId", SPAN),
        ("X-B3-ParentSpanId", "05e3ac9a4f6e3b90"),
        ("X-B3-Sampled", "1"),
    ];
    // Not chosen (the default): B3 headers are not read, nor written.
    assert_eq!(extracted(&[("b3", B3)]), None);
    assert_eq!(extracted(&multi), None);
    let mut out = headers(&[("b3", "stale")]);
    inject(&active(1), &mut out);
    assert_eq!(out["b3"], "stale", "not ours to touch");

    for single in [true, false] {
        set_propagators(Propagators {
            b3: single,
            b3_multi: !single,
            ..Propagators::NONE
        });
        // Either value reads both encodings; the single header takes precedence.
        assert_eq!(extracted(&[("b3", B3)]), b3_context(1));
        assert_eq!(extracted(&multi), b3_context(1));
        let other_single = "0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0";
        let both = [multi.as_slice(), &[("b3", other_single)]].concat();
        assert_eq!(
            extracted(&both),
            Some((
                "0af7651916cd43dd8448eb211c80319c".to_owned(),
                "b7ad6b7169203331".to_owned(),
                0
            ))
        );
        // An invalid single header falls back to the multiple headers.
        let both = [multi.as_slice(), &[("b3", "not-b3")]].concat();
        assert_eq!(extracted(&both), b3_context(1));
        // The first value of each X-B3 header wins.
        let repeated = [multi.as_slice(), &[("X-B3-Sampled", "0")]].concat();
        assert_eq!(extracted(&repeated), b3_context(1));
        // A deny alone carries no ids: a new trace.
        assert_eq!(extracted(&[("b3", "0")]), None);
        assert_eq!(extracted(&[("X-B3-Sampled", "0")]), None);
        // Trace Context is not chosen: a traceparent is not read.
        assert_eq!(extracted(&[("traceparent", TRACEPARENT)]), None);
    }

    // `b3`: the single header, the 64-bit id padded, no X-B3 headers written or removed.
    set_propagators(Propagators {
        b3: true,
        ..Propagators::NONE
    });
    let mut out = headers(&[("b3", "stale"), ("x-b3-sampled", "0")]);
    inject(&active(1), &mut out);
    assert_eq!(
        out["b3"],
        "0000000000000000a3ce929d0e0e4736-0000000000000002-1"
    );
    assert_eq!(out["x-b3-sampled"], "0", "not ours to touch");
    assert_eq!(names(&out), ["b3", "x-b3-sampled"]);
    inject(&active(0), &mut out);
    assert_eq!(
        out["b3"],
        "0000000000000000a3ce929d0e0e4736-0000000000000002-0"
    );
    inject(&ActiveContext::default(), &mut out);
    assert!(
        out.get("b3").is_none(),
        "an invalid context writes no stale one"
    );

    // `b3multi`: X-B3 headers, no parent span id, and flags instead of sampled for debug.
    set_propagators(Propagators {
        b3_multi: true,
        ..Propagators::NONE
    });
    let mut out = headers(&[
        ("x-b3-parentspanid", "05e3ac9a4f6e3b90"),
        ("x-b3-flags", "1"),
        ("x-b3-sampled", "0"),
    ]);
    inject(&active(1), &mut out);
    assert_eq!(names(&out), ["x-b3-sampled", "x-b3-spanid", "x-b3-traceid"]);
    assert_eq!(out["x-b3-traceid"], "0000000000000000a3ce929d0e0e4736");
    assert_eq!(out["x-b3-spanid"], "0000000000000002");
    assert_eq!(out["x-b3-sampled"], "1");
    let debug = extract(&headers(&[(
        "b3",
        "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-d",
    )]));
    let debug = ActiveContext {
        span: debug.span.expect("debug is a context"),
        baggage: debug.baggage,
    };
    inject(&debug, &mut out);
    assert_eq!(names(&out), ["x-b3-flags", "x-b3-spanid", "x-b3-traceid"]);
    assert_eq!(
        out["x-b3-flags"], "1",
        "debug implies accept: no X-B3-Sampled"
    );
    inject(&ActiveContext::default(), &mut out);
    assert!(out.is_empty(), "{out:?}");

    // Both with Trace Context: each format chosen is written...
    let w3c_then_b3 = Propagators {
        b3: true,
        ..Propagators::W3C
    };
    set_propagators(w3c_then_b3);
    let mut out = HeaderMap::new();
    inject(&active(1), &mut out);
    assert_eq!(names(&out), ["b3", "traceparent"]);
    // ... and, when both come, the one listed last gives the context, as a composite
    // propagator extracting in the order listed does.
    let both = [("traceparent", TRACEPARENT), ("b3", B3)];
    assert_eq!(extracted(&both), b3_context(1));
    assert_eq!(
        extracted(&[("traceparent", TRACEPARENT), ("b3", "0")]),
        w3c_context()
    );
    set_propagators(Propagators {
        trace_context_last: true,
        ..w3c_then_b3
    });
    assert_eq!(extracted(&both), w3c_context());
    assert_eq!(
        extracted(&[("traceparent", "00-bad"), ("b3", B3)]),
        b3_context(1)
    );

    // Debug reaches the next call through the spans in between, and stays out of
    // `traceparent` and of the exported flags. The server span has an id of its own.
    set_propagators(w3c_then_b3);
    let sink = InMemorySpanSink::new();
    let subscriber =
        tracing_subscriber::registry().with(SpanLayer::new().with_sink(Arc::new(sink.clone())));
    let mut outgoing = HeaderMap::new();
    tracing::subscriber::with_default(subscriber, || {
        let incoming = headers(&[("b3", "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-d")]);
        let server = obs_trace::span_with_remote_parent(extract(&incoming), || {
            tracing::info_span!("server")
        });
        server.in_scope(|| {
            tracing::info_span!("client").in_scope(|| inject_current(&mut outgoing));
        });
    });
    let b3 = outgoing["b3"].to_str().unwrap();
    assert!(b3.starts_with(TRACE) && b3.ends_with("-d"), "{b3}");
    assert!(
        !b3.contains(SPAN),
        "the caller's span id is not reused: {b3}"
    );
    let traceparent = outgoing["traceparent"].to_str().unwrap();
    assert!(traceparent.ends_with("-01"), "{traceparent}");
    let spans = sink.spans();
    assert_eq!(spans.len(), 2);
    for span in &spans {
        assert_eq!(span.span_context.flags.to_u8(), 1, "{}", span.name);
    }
    let server = spans.iter().find(|s| s.name == "server").unwrap();
    assert_eq!(server.parent_span_id.to_string(), SPAN);

    // The OpenTelemetry propagator follows the same choice.
    set_propagators(Propagators {
        b3: true,
        b3_multi: true,
        ..Propagators::W3C
    });
    let propagator = W3CPropagator::new();
    let fields: Vec<&str> = propagator.fields().collect();
    assert_eq!(
        fields,
        [
            "traceparent",
            "tracestate",
            "baggage",
            "b3",
            "x-b3-traceid",
            "x-b3-spanid",
            "x-b3-sampled",
            "x-b3-flags"
        ]
    );
    let carrier = HashMap::from([
        ("x-b3-traceid".to_owned(), "a3ce929d0e0e4736".to_owned()),
        ("x-b3-spanid".to_owned(), SPAN.to_owned()),
        ("x-b3-sampled".to_owned(), "1".to_owned()),
    ]);
    let cx = propagator.extract(&carrier);
    let span = cx.span().span_context().clone();
    assert_eq!(
        span.trace_id().to_string(),
        "0000000000000000a3ce929d0e0e4736"
    );
    assert!(span.is_sampled() && span.is_remote());
    let mut out = HashMap::new();
    propagator.inject_context(&cx, &mut out);
    assert_eq!(
        out["b3"],
        format!("0000000000000000a3ce929d0e0e4736-{SPAN}-1")
    );
    assert_eq!(out["x-b3-traceid"], "0000000000000000a3ce929d0e0e4736");
    assert_eq!(out["x-b3-sampled"], "1");
    assert!(out.contains_key("traceparent") && !out.contains_key("x-b3-parentspanid"));
    set_propagators(Propagators {
        b3_multi: true,
        ..Propagators::NONE
    });
    assert_eq!(propagator.fields().count(), 4);
    set_propagators(Propagators::W3C);
    assert_eq!(propagator.fields().count(), 3);
}
