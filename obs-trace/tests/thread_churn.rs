//! A service running for weeks starts and ends threads all the time (Tokio's blocking
//! pool, per-connection threads): the span layer's per-thread state must go with its
//! thread, and nothing global may grow per thread. Measured as live heap bytes (allocated
//! minus freed) over thousands of short-lived threads, after a warm-up that fills what is
//! bounded by design (the interner, the registry's slab pages and thread-id tables).
//!
//! One test in this binary, so no other test allocates while it measures.

use std::alloc::System;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use obs_trace::{SpanData, SpanLayer, SpanSink};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use tracing::Instrument;
use tracing_subscriber::prelude::*;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Counts spans and lets them go, as an exporter does once it has sent them.
#[derive(Debug, Default)]
struct Counting(AtomicU64);

impl SpanSink for Counting {
    fn on_end(&self, _span: SpanData) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// Threads alive at once per wave.
const WAVE: usize = 16;

/// One wave of short-lived threads, each making spans the ways services do: nested spans
/// with events, a name given through `otel.name` (interned), and a span created there and
/// closed by the main thread after the thread has ended. (A child closed that way with its
/// parent makes `tracing-subscriber`'s registry take new slab pages, run after run, with no
/// span layer at all: that growth is upstream's and is left out here.)
fn wave(dispatch: &tracing::Dispatch, first: usize) {
    let moved: Vec<tracing::Span> = (0..WAVE)
        .map(|t| {
            let dispatch = dispatch.clone();
            std::thread::spawn(move || {
                tracing::dispatcher::with_default(&dispatch, || {
                    let n = first + t;
                    let root =
                        tracing::info_span!("request", otel.name = %format!("GET /items/{n}"));
                    root.in_scope(|| {
                        for _ in 0..4 {
                            tracing::info_span!("child").in_scope(|| tracing::info!("event"));
                        }
                    });
                    let moved = tracing::info_span!("moved");
                    moved.in_scope(|| tracing::info!("entered before the thread ends"));
                    moved
                })
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().expect("thread"))
        .collect();
    drop(moved);
}

/// The least the live heap grew over one of four runs of `phase`: the registry's slab
/// takes pages for the thread indices each run happens to use until it has seen them all,
/// a warm-up of no fixed length, while state kept per thread or per span would show in
/// every run.
fn least_growth(mut phase: impl FnMut(usize)) -> i64 {
    (0..4)
        .map(|run| {
            let region = Region::new(GLOBAL);
            phase(run);
            let c = region.change();
            c.bytes_allocated as i64 - c.bytes_deallocated as i64
        })
        .min()
        .unwrap_or(0)
}

#[test]
fn short_lived_threads_leave_nothing_behind() {
    let sink = Arc::new(Counting::default());
    let dispatch = tracing::Dispatch::new(
        tracing_subscriber::registry().with(SpanLayer::new().with_sink(sink.clone())),
    );
    // Warm-up: past the interner's 4,096 strings, so what it keeps is at its cap.
    for w in 0..300 {
        wave(&dispatch, w * WAVE);
    }
    let grown = least_growth(|run| {
        for w in 0..100 {
            wave(&dispatch, (300 + run * 100 + w) * WAVE);
        }
    });
    eprintln!("threads: live heap grew by {grown} bytes");
    // 1,600 threads and 9,600 spans a run: a byte kept per span would show.
    assert!(grown < 1024, "live heap grew by {grown} bytes");
    assert_eq!(sink.0.load(Ordering::Relaxed), 700 * WAVE as u64 * 6);

    // Tokio: futures moved between workers under `.instrument()`, and `spawn_blocking`
    // threads that end after a millisecond idle, in waves.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(8)
        .thread_keep_alive(Duration::from_millis(1))
        .enable_time()
        .build()
        .expect("runtime");
    let round = |r: u64| {
        let dispatch = dispatch.clone();
        runtime.block_on(async move {
            let _default = tracing::dispatcher::set_default(&dispatch);
            let tasks: Vec<_> = (0..32u64)
                .map(|i| {
                    let dispatch = dispatch.clone();
                    tokio::spawn(
                        async move {
                            for _ in 0..3 {
                                tokio::task::yield_now().await;
                                tracing::info!("polled");
                            }
                            let span = tracing::Span::current();
                            tokio::task::spawn_blocking(move || {
                                tracing::dispatcher::with_default(&dispatch, || {
                                    span.in_scope(|| {
                                        tracing::info_span!("blocking")
                                            .in_scope(|| tracing::info!("on a blocking thread"))
                                    })
                                })
                            })
                            .await
                            .expect("blocking task");
                        }
                        .instrument(tracing::info_span!("task", r, i)),
                    )
                })
                .collect();
            for t in tasks {
                t.await.expect("task");
            }
        });
    };
    for r in 0..50 {
        round(r);
    }
    let grown = least_growth(|run| {
        for r in 0..25 {
            round((50 + run * 25 + r) as u64);
        }
    });
    eprintln!("tokio: live heap grew by {grown} bytes");
    assert!(grown < 1024, "live heap grew by {grown} bytes");
}
