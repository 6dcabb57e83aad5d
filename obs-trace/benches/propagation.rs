//! `traceparent` parse and format, and baggage parse: `obs-trace` against
//! `opentelemetry_sdk`'s `TraceContextPropagator` / `BaggagePropagator` on the same header.
//!
//! ```text
//! CARGO_TARGET_DIR=/work/main/target/bench cargo bench -p obs-trace --bench propagation -- --warm-up-time 1 --measurement-time 3
//! ```
//!
//! OpenTelemetry reads from a `HashMap<String, String>` carrier (its cheapest built-in one);
//! `obs-trace` is measured both on raw bytes and through `extract`/`inject` on an
//! `http::HeaderMap`.

// `criterion_group!` generates an undocumented `pub fn`.
#![allow(missing_docs)]

use std::collections::HashMap;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use http::{HeaderMap, HeaderValue};
use obs_trace::{
    ActiveContext, Baggage, SpanContext, SpanId, TraceFlags, TraceId, extract, format_traceparent,
    inject, parse_traceparent,
};
use opentelemetry::Context;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{self as otel, TraceContextExt};
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};

const TRACEPARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
const BAGGAGE: &str = "userId=alice,serverNode=DF%2028,isProduction=false;ttl=60";

fn traceparent_parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("traceparent_parse");
    group.bench_function("obs_trace::parse_traceparent", |b| {
        b.iter(|| parse_traceparent(black_box(TRACEPARENT.as_bytes())))
    });
    let mut headers = HeaderMap::new();
    headers.insert("traceparent", HeaderValue::from_static(TRACEPARENT));
    group.bench_function("obs_trace::extract (HeaderMap)", |b| {
        b.iter(|| extract(black_box(&headers)))
    });
    // A browser-sized request: the trace headers among a dozen others.
    let mut busy = HeaderMap::new();
    for (name, value) in [
        ("host", "shop.example.com"),
        (
            "user-agent",
            "Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/133.0",
        ),
        ("accept", "text/html,application/xhtml+xml"),
        ("accept-language", "en-GB,en;q=0.5"),
        ("accept-encoding", "gzip, deflate, br"),
        ("referer", "https://shop.example.com/cart"),
        ("cookie", "session=abc123"),
        ("x-request-id", "5f0c6b2e"),
        ("x-forwarded-for", "203.0.113.7"),
        ("content-type", "application/json"),
        ("content-length", "42"),
        ("traceparent", TRACEPARENT),
    ] {
        busy.insert(name, HeaderValue::from_static(value));
    }
    group.bench_function("obs_trace::extract (HeaderMap, 12 headers)", |b| {
        b.iter(|| extract(black_box(&busy)))
    });
    let carrier = HashMap::from([("traceparent".to_owned(), TRACEPARENT.to_owned())]);
    let propagator = TraceContextPropagator::new();
    let cx = Context::new();
    group.bench_function("opentelemetry_sdk TraceContextPropagator::extract", |b| {
        b.iter(|| propagator.extract_with_context(black_box(&cx), black_box(&carrier)))
    });
    group.finish();
}

fn traceparent_format(c: &mut Criterion) {
    let trace_id = TraceId::from_u128(0x0af7651916cd43dd8448eb211c80319c);
    let span_id = SpanId::from_u64(0xb7ad6b7169203331);
    let mut group = c.benchmark_group("traceparent_format");
    group.bench_function("obs_trace::format_traceparent", |b| {
        b.iter(|| format_traceparent(black_box(trace_id), black_box(span_id), TraceFlags::SAMPLED))
    });
    let active = ActiveContext {
        span: SpanContext {
            trace_id,
            span_id,
            flags: TraceFlags::SAMPLED,
            ..Default::default()
        },
        baggage: Baggage::default(),
    };
    let mut headers = HeaderMap::new();
    group.bench_function("obs_trace::inject (HeaderMap)", |b| {
        b.iter(|| inject(black_box(&active), black_box(&mut headers)))
    });
    let propagator = TraceContextPropagator::new();
    let cx = Context::new().with_remote_span_context(otel::SpanContext::new(
        otel::TraceId::from_bytes(trace_id.to_bytes()),
        otel::SpanId::from_bytes(span_id.to_bytes()),
        otel::TraceFlags::SAMPLED,
        true,
        otel::TraceState::NONE,
    ));
    let mut carrier: HashMap<String, String> = HashMap::new();
    group.bench_function("opentelemetry_sdk TraceContextPropagator::inject", |b| {
        b.iter(|| propagator.inject_context(black_box(&cx), black_box(&mut carrier)))
    });
    group.finish();
}

fn baggage_parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("baggage_parse");
    group.bench_function("obs_trace::Baggage::from_header", |b| {
        b.iter(|| Baggage::from_header(black_box(BAGGAGE)))
    });
    let carrier = HashMap::from([("baggage".to_owned(), BAGGAGE.to_owned())]);
    let propagator = BaggagePropagator::new();
    let cx = Context::new();
    group.bench_function("opentelemetry_sdk BaggagePropagator::extract", |b| {
        b.iter(|| propagator.extract_with_context(black_box(&cx), black_box(&carrier)))
    });
    group.finish();
}

criterion_group!(
    benches,
    traceparent_parse,
    traceparent_format,
    baggage_parse
);
criterion_main!(benches);
