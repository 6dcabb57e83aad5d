//! Steady state, a JSON line costs no heap allocation: buffers are per thread and reused,
//! span fields were rendered when the span was created.

use std::alloc::System;
use std::io;
use std::time::Duration;

use obs_log::{JsonLayer, LogWriter, NonBlocking, SpanFields};
use obs_trace::SpanLayer;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use tracing_subscriber::prelude::*;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const LINES: usize = 1_000;

/// Allocations made while logging `LINES` events (five fields, two spans) after a warm-up.
///
/// The allocator counts every thread, and the test harness's own threads allocate now and
/// then; the logging path is deterministic, so the fewest allocations over a few rounds is
/// what it costs.
fn allocations_for(writer: impl LogWriter + Clone, span_fields: SpanFields) -> usize {
    let subscriber = tracing_subscriber::registry().with(SpanLayer::new()).with(
        JsonLayer::new()
            .with_writer(writer.clone())
            .with_service_name("shop")
            .with_span_fields(span_fields)
            .with_file_line(true),
    );
    tracing::subscriber::with_default(subscriber, || {
        let _outer = tracing::info_span!("request", method = "GET", path = "/cart").entered();
        let _inner = tracing::info_span!("db", table = "carts").entered();
        let log = |i: usize| {
            tracing::info!(user = "ann", attempt = i, ok = true, ratio = 0.5, item = ?("sku", 7), "checked out {}", i);
        };
        // Warm up with the longest lines, so the buffer has reached its final size, and let
        // a background writer finish starting up.
        for i in LINES - 100..LINES {
            log(i);
        }
        writer.flush();
        (0..3)
            .map(|_| {
                let region = Region::new(GLOBAL);
                for i in 0..LINES {
                    log(i);
                }
                let change = region.change();
                change.allocations + change.reallocations
            })
            .min()
            .unwrap_or_default()
    })
}

#[derive(Clone)]
struct Sink;

impl LogWriter for Sink {
    fn write_line(&self, line: &[u8]) {
        std::hint::black_box(line);
    }
}

#[test]
fn steady_state_lines_do_not_allocate() {
    assert_eq!(allocations_for(Sink, SpanFields::Nested), 0);
    assert_eq!(allocations_for(Sink, SpanFields::Flatten), 0);
    let (writer, guard) = NonBlocking::new(io::sink()).unwrap();
    assert_eq!(allocations_for(writer, SpanFields::Nested), 0);
    assert!(guard.flush(Duration::from_secs(10)));
}
