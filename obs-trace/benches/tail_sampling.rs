//! What tail sampling adds per finished span: a local trace of a SERVER root with two
//! children, handed to a sink that drops it, directly and through `TailSamplingSink`
//! (dropped: quick and fine; kept: failed).
//!
//! ```text
//! CARGO_TARGET_DIR=/work/main/target/bench cargo bench -p obs-trace --bench tail_sampling -- --warm-up-time 1 --measurement-time 3
//! ```
//!
//! Each iteration ends one local trace (three spans) with a fresh trace id; divide by three
//! for the cost per span.

// `criterion_group!` generates an undocumented `pub fn`.
#![allow(missing_docs)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use criterion::{Criterion, criterion_group, criterion_main};
use obs_trace::opentelemetry::trace::{SpanKind, Status};
use obs_trace::{
    SpanContext, SpanData, SpanId, SpanSink, TailSampling, TailSamplingSink, TraceFlags, TraceId,
};

/// The exporter stand-in: drops what it gets.
#[derive(Debug)]
struct Discard;

impl SpanSink for Discard {
    fn on_end(&self, span: SpanData) {
        black_box(span);
    }
}

fn span(trace_id: TraceId, id: SpanId, parent: SpanId, root: SpanId, status: Status) -> SpanData {
    let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
    SpanData {
        name: "span".into(),
        span_context: SpanContext {
            trace_id,
            span_id: id,
            flags: TraceFlags::SAMPLED,
            ..Default::default()
        },
        parent_span_id: parent,
        parent_is_remote: false,
        local_root_span_id: root,
        kind: SpanKind::Internal,
        start_time: start,
        end_time: start + Duration::from_millis(3),
        attributes: Vec::new(),
        dropped_attributes_count: 0,
        events: Vec::new(),
        dropped_events_count: 0,
        links: Vec::new(),
        dropped_links_count: 0,
        status,
        scope: "bench",
    }
}

/// Ends one local trace in `sink`: two children, then the root (failed if `fail`). Ids
/// are fresh, as the span layer makes them.
fn local_trace(sink: &dyn SpanSink, fail: bool) {
    let trace_id = TraceId::random();
    let root = SpanId::random();
    sink.on_end(span(trace_id, SpanId::random(), root, root, Status::Unset));
    sink.on_end(span(trace_id, SpanId::random(), root, root, Status::Unset));
    let status = if fail {
        Status::error("boom")
    } else {
        Status::Unset
    };
    sink.on_end(span(trace_id, root, SpanId::INVALID, root, status));
}

fn tail_sampling(c: &mut Criterion) {
    let mut group = c.benchmark_group("tail_sampling");
    group.bench_function("direct", |b| b.iter(|| local_trace(&Discard, false)));
    let tail = TailSamplingSink::new(
        TailSampling::new(Duration::from_millis(500)),
        Arc::new(Discard),
    );
    group.bench_function("tail/dropped", |b| b.iter(|| local_trace(&tail, false)));
    group.bench_function("tail/kept", |b| b.iter(|| local_trace(&tail, true)));
    group.finish();
}

criterion_group!(benches, tail_sampling);
criterion_main!(benches);
