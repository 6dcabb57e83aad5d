//! Logging while a thread ends: from a thread-local's destructor that runs before obs's
//! own thread-locals are set up on the thread (so after they are torn down), and from one
//! that runs after, and from a `Drop` of a value the thread's closure owned. Every event
//! still becomes a line and a record, without a panic, under the global subscriber (the
//! thread's default dispatcher may be gone by then). Inside the span entered there, a
//! line carries its trace. The destructor that runs last makes no span: `sharded-slab`
//! (under `tracing-subscriber`'s registry) panics on a span made once its own
//! thread-local is gone, which aborts the process, with no obs code involved.
//!
//! One test in this binary: it installs the global subscriber.

mod common;

use std::cell::RefCell;

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
    /// Touched last: its destructor runs before those of obs's thread-locals.
    static LAST: RefCell<Option<LogsOnDrop>> = const { RefCell::new(None) };
}

const THREADS: usize = 200;

#[test]
fn events_logged_as_a_thread_ends_are_written_without_a_panic() {
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
                // obs's thread-locals come to life here.
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
    for who in ["first", "owned", "last"] {
        assert_eq!(count(who), THREADS, "lines logged by {who:?}");
    }
    assert_eq!(records.records().len(), 4 * THREADS);
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
    assert_eq!(with_trace("last"), THREADS);
    assert_eq!(with_trace("first"), 0, "no span entered");
}
