//! Logging while a thread ends: from a thread-local's destructor that runs before obs's
//! own thread-locals are set up on the thread (so after they are torn down), and from one
//! that runs after, and from a `Drop` of a value the thread's closure owned. Every event
//! still becomes a line and a record, without a panic, under the global subscriber (the
//! thread's default dispatcher may be gone by then). Inside the span entered there, a
//! line carries its trace. The destructor that runs last makes no span: `sharded-slab`
//! (under `tracing-subscriber`'s registry) panics on a span made once its own
//! thread-local is gone, which aborts the process, with no obs code involved. One set up
//! after the registry's but before the thread's first root span makes a root span once
//! OpenTelemetry's current-context thread-local (which the span layer reads for a
//! thread's root spans) is gone: no panic either, not even one caught.
//!
//! One test in this binary: it installs the global subscriber.

mod common;

use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{captured, objects};
use obs_log::{InMemoryLogSink, JsonLayer, OtlpLogLayer};
use obs_trace::SpanLayer;
use tracing_subscriber::prelude::*;

/// Logs when dropped, inside a span of its own if `.1`.
struct LogsOnDrop(&'static str, bool);

impl Drop for LogsOnDrop {
    fn drop(&mut self) {
        let span = if self.1 {
            tracing::info_span!("teardown", who = self.0)
        } else {
            tracing::Span::none()
        };
        let _entered = span.enter();
        tracing::info!(who = self.0, "dropped");
    }
}

thread_local! {
    /// Touched first on each thread: its destructor runs after those of every
    /// thread-local set up later, obs's among them.
    static FIRST: RefCell<Option<LogsOnDrop>> = const { RefCell::new(None) };
    /// Touched after the registry's, before OpenTelemetry's: its destructor runs after
    /// OpenTelemetry's context is gone, while a span can still be made.
    static MIDDLE: RefCell<Option<LogsOnDrop>> = const { RefCell::new(None) };
    /// Touched last: its destructor runs before those of obs's thread-locals.
    static LAST: RefCell<Option<LogsOnDrop>> = const { RefCell::new(None) };
}

/// Panics on any thread, caught or not: a caught one still prints (and a `panic = "abort"`
/// build ends the process).
static PANICS: AtomicUsize = AtomicUsize::new(0);

const THREADS: usize = 200;

#[test]
fn events_logged_as_a_thread_ends_are_written_without_a_panic() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        PANICS.fetch_add(1, Ordering::Relaxed);
        report(info);
    }));
    let lines = captured();
    let records = InMemoryLogSink::new();
    tracing_subscriber::registry()
        .with(SpanLayer::new())
        .with(JsonLayer::new().with_writer(lines.clone()))
        .with(OtlpLogLayer::new(records.clone()))
        .init();

    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            std::thread::spawn(|| {
                FIRST.with_borrow_mut(|f| *f = Some(LogsOnDrop("first", false)));
                let owned = LogsOnDrop("owned", true);
                // The registry's thread-locals come to life here (an explicit root reads
                // no current context)...
                tracing::info_span!(parent: None, "setup").in_scope(|| {});
                MIDDLE.with_borrow_mut(|m| *m = Some(LogsOnDrop("middle", true)));
                // ...and the rest here.
                tracing::info_span!("work").in_scope(|| tracing::info!("working"));
                LAST.with_borrow_mut(|l| *l = Some(LogsOnDrop("last", true)));
                drop(owned);
            })
        })
        .collect();
    for t in threads {
        t.join().expect("no panic on the thread");
    }

    let objects = objects(&lines);
    let count = |who: &str| {
        objects
            .iter()
            .filter(|o| o.get("who").and_then(|w| w.as_str()) == Some(who))
            .count()
    };
    assert_eq!(PANICS.load(Ordering::Relaxed), 0, "panics");
    for who in ["first", "owned", "middle", "last"] {
        assert_eq!(count(who), THREADS, "lines logged by {who:?}");
    }
    assert_eq!(records.records().len(), 5 * THREADS);
    // The span entered is the line's.
    let with_trace = |who: &str| {
        objects
            .iter()
            .filter(|o| {
                o.get("who").and_then(|w| w.as_str()) == Some(who) && o.contains_key("trace_id")
            })
            .count()
    };
    assert_eq!(with_trace("owned"), THREADS);
    assert_eq!(with_trace("middle"), THREADS);
    assert_eq!(with_trace("last"), THREADS);
    assert_eq!(with_trace("first"), 0, "no span entered");
}
