//! A span open for the life of a connection while requests come and go under it: its
//! children with values never seen twice, events inside and beside them, span events,
//! and a field of the long-lived span recorded again and again. With the span layer and
//! both log layers, the live heap stays flat: nothing accumulates in the long-lived span
//! (its recording, its JSON rendering) or in the layers.
//!
//! One test in this binary, so no other test allocates while it measures.

use std::alloc::System;
use std::sync::Arc;

use obs_log::{JsonLayer, LogRecord, LogSink, OtlpLogLayer};
use obs_trace::{SpanData, SpanLayer, SpanSink};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use tracing_subscriber::prelude::*;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Lets spans go, as an exporter does once it has sent them.
#[derive(Debug)]
struct Spans;

impl SpanSink for Spans {
    fn on_end(&self, _span: SpanData) {}
}

/// Lets records go.
#[derive(Debug)]
struct Records;

impl LogSink for Records {
    fn emit(&self, _record: LogRecord) {}
}

#[test]
fn a_span_open_while_many_children_come_and_go_holds_nothing_more() {
    let dispatch = tracing::Dispatch::new(
        tracing_subscriber::registry()
            .with(
                SpanLayer::new()
                    .with_sink(Arc::new(Spans))
                    .with_span_events(true),
            )
            .with(JsonLayer::new().with_writer(std::io::sink()))
            .with(OtlpLogLayer::new(Records)),
    );
    tracing::dispatcher::with_default(&dispatch, || {
        let connection = tracing::info_span!("connection", requests = tracing::field::Empty);
        let _connection = connection.enter();
        let requests = |round: u64| {
            for i in 0..10_000 {
                let n = round * 10_000 + i;
                connection.record("requests", n);
                tracing::info_span!("request", path = %format!("/items/{n}")).in_scope(|| {
                    tracing::info!(user_agent = %format!("agent/{n}"), "handled");
                });
                tracing::info!(n, "between requests");
            }
        };
        // The long-lived span's events reach their limit, buffers their sizes.
        requests(0);
        let least = (1..4)
            .map(|round| {
                let region = Region::new(GLOBAL);
                requests(round);
                let c = region.change();
                c.bytes_allocated as i64 - c.bytes_deallocated as i64
            })
            .min()
            .unwrap_or(0);
        // 10,000 requests a round: a byte kept per request would show.
        assert!(least < 1024, "live heap grew by {least} bytes in a round");
    });
}
