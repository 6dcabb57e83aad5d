//! The hot path of propagation allocates nothing: `traceparent` parse and format, `extract`
//! of a request that carries only a `traceparent` or only B3 headers (B3 chosen), and
//! cloning the context the span layer clones on every span enter.
//!
//! One test in this binary, so no other test thread allocates while it counts.

use std::alloc::System;
use std::hint::black_box;

use http::{HeaderMap, HeaderValue};
use obs_trace::{
    Baggage, Propagators, SpanContext, TraceState, extract, format_traceparent, parse_traceparent,
    set_propagators,
};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const TP: &[u8] = b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-03";

/// Runs `f` 100 times in each of five rounds and returns the fewest allocations a round made.
/// The counter is process-wide and the test harness's own thread may allocate during a round
/// (seen once in CI), never during all five; `f` allocating would show in every round.
fn allocations(mut f: impl FnMut()) -> usize {
    (0..5)
        .map(|_| {
            let region = Region::new(GLOBAL);
            for _ in 0..100 {
                f();
            }
            let change = region.change();
            change.allocations + change.reallocations
        })
        .min()
        .unwrap_or(0)
}

#[test]
fn propagation_hot_path_does_not_allocate() {
    let parsed = parse_traceparent(TP).expect("valid");
    let mut headers = HeaderMap::new();
    headers.insert(
        "traceparent",
        HeaderValue::from_static(" 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01 "),
    );
    let state = TraceState::from_header("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE").expect("valid");
    let span = SpanContext {
        trace_id: parsed.trace_id,
        span_id: parsed.parent_id,
        flags: parsed.flags,
        trace_state: state.clone(),
        is_remote: true,
    };
    let baggage = Baggage::from_header("userId=alice");
    // B3 read beside Trace Context: the `traceparent` request walks the B3 path too.
    set_propagators(Propagators {
        b3: true,
        b3_multi: true,
        ..Propagators::W3C
    });
    let mut b3_single = HeaderMap::new();
    b3_single.insert(
        "b3",
        HeaderValue::from_static(
            "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-d-05e3ac9a4f6e3b90",
        ),
    );
    let mut b3_multi = HeaderMap::new();
    for (name, value) in [
        ("x-b3-traceid", "a3ce929d0e0e4736"),
        ("x-b3-spanid", "e457b5a2e4d86bd1"),
        ("x-b3-parentspanid", "05e3ac9a4f6e3b90"),
        ("x-b3-sampled", "true"),
        ("x-b3-flags", "1"),
    ] {
        b3_multi.insert(name, HeaderValue::from_static(value));
    }

    let checks: [(&str, &mut dyn FnMut()); 9] = [
        ("parse_traceparent", &mut || {
            black_box(parse_traceparent(black_box(TP)).ok());
        }),
        ("format_traceparent", &mut || {
            black_box(format_traceparent(
                black_box(parsed.trace_id),
                black_box(parsed.parent_id),
                black_box(parsed.flags),
            ));
        }),
        ("extract with only a traceparent", &mut || {
            black_box(extract(black_box(&headers)));
        }),
        ("extract with only a b3 header", &mut || {
            assert!(black_box(extract(black_box(&b3_single))).span.is_some());
        }),
        ("extract with only X-B3 headers", &mut || {
            assert!(black_box(extract(black_box(&b3_multi))).span.is_some());
        }),
        ("clone an empty TraceState and Baggage", &mut || {
            black_box((TraceState::default().clone(), Baggage::default().clone()));
        }),
        ("clone a SpanContext with tracestate", &mut || {
            black_box(black_box(&span).clone());
        }),
        ("clone non-empty baggage", &mut || {
            black_box(black_box(&baggage).clone());
        }),
        ("read tracestate and baggage", &mut || {
            black_box((state.header(), state.get("congo"), baggage.get("userId")));
        }),
    ];
    let mut failures = Vec::new();
    for (name, f) in checks {
        let n = allocations(f);
        if n != 0 {
            failures.push(format!("{name}: {n} allocations in 100 calls"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    // The counter does count: a parse of tracestate allocates.
    assert!(
        allocations(|| {
            black_box(TraceState::from_header(black_box("a=1")).ok());
        }) > 0
    );
}
