//! The tail sampler in a service that runs for weeks: a local trace whose root never ends
//! and keeps making spans (a stream, a connection's span), and many traces whose roots
//! never end. What it holds stays within its bounds (live heap flat once they are
//! reached) and every span it is given is either passed on or counted as dropped.
//!
//! One test in this binary, so no other test allocates while it measures.

use std::alloc::System;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use obs_trace::opentelemetry::trace::{SpanKind, Status};
use obs_trace::{
    SpanContext, SpanData, SpanId, SpanSink, TailSampling, TailSamplingSink, TraceFlags, TraceId,
};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Counts the spans passed on and lets them go, as an exporter does.
#[derive(Debug, Default)]
struct Counting(AtomicU64);

impl SpanSink for Counting {
    fn on_end(&self, _span: SpanData) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// An ended child span `id` of the local trace under `root`.
fn child(trace: u128, root: u64, id: u64) -> SpanData {
    let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
    SpanData {
        name: "child".into(),
        span_context: SpanContext {
            trace_id: TraceId::from_u128(trace),
            span_id: SpanId::from_u64(id),
            flags: TraceFlags::SAMPLED,
            ..Default::default()
        },
        parent_span_id: SpanId::from_u64(root),
        parent_is_remote: false,
        local_root_span_id: SpanId::from_u64(root),
        kind: SpanKind::Internal,
        start_time: start,
        end_time: start + Duration::from_millis(1),
        attributes: Vec::new(),
        dropped_attributes_count: 0,
        events: Vec::new(),
        dropped_events_count: 0,
        links: Vec::new(),
        dropped_links_count: 0,
        status: Status::Unset,
        scope: "test",
    }
}

fn live_growth(f: impl FnOnce()) -> i64 {
    let region = Region::new(GLOBAL);
    f();
    let c = region.change();
    c.bytes_allocated as i64 - c.bytes_deallocated as i64
}

#[test]
fn roots_that_never_end_stay_within_the_bounds_and_every_span_is_accounted_for() {
    const BUFFER: usize = 1_000;
    let exported = Arc::new(Counting::default());
    let sink = TailSamplingSink::new(
        TailSampling::new(Duration::from_secs(3_600)).with_max_buffered_spans(BUFFER),
        exported.clone(),
    );
    let mut given = 0u64;
    let mut next_id = 1_000_000u64;
    let mut round = |sink: &TailSamplingSink, given: &mut u64| {
        // One endless local trace with 20,000 more spans, beside 5,000 new traces whose
        // roots never end, one span each.
        for _ in 0..20_000 {
            next_id += 1;
            sink.on_end(child(1, 1, next_id));
        }
        for _ in 0..5_000 {
            next_id += 2;
            sink.on_end(child(u128::from(next_id), next_id, next_id + 1));
        }
        *given += 25_000;
    };
    // Up to the bounds: the buffer, and the 4,096 early decisions remembered.
    for _ in 0..3 {
        round(&sink, &mut given);
    }
    for _ in 0..3 {
        let grown = live_growth(|| round(&sink, &mut given));
        assert!(grown < 4096, "live heap grew by {grown} bytes in a round");
    }
    sink.shutdown();
    let counts = sink.counts();
    assert_eq!(
        exported.0.load(Ordering::Relaxed) + counts.dropped_spans,
        given,
        "{counts:?}"
    );
}
