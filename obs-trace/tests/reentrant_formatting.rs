//! A field value whose `Debug` logs inside its span, or updates the span through `SpanExt`,
//! while the span layer records it: the layer must not hold the span's state locked
//! around user code, or that code waits for the lock for ever on its own thread.
//!
//! Under a global subscriber, as `obs_core::init` installs one: a scoped one
//! (`with_default`) drops the events dispatched while it is dispatching, so nothing
//! re-enters it.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use obs_trace::opentelemetry::Value;
use obs_trace::opentelemetry::trace::Status;
use obs_trace::{InMemorySpanSink, SpanExt, SpanLayer};
use tracing::Level;
use tracing::field::Empty;
use tracing_subscriber::prelude::*;

/// A value whose `Debug` logs an event (at its level) and sets an attribute on the
/// current span.
struct LogsInside(Level);

impl fmt::Debug for LogsInside {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == Level::ERROR {
            tracing::error!("logged while formatting");
        } else {
            tracing::info!("logged while formatting");
        }
        tracing::Span::current().set_attribute("set.while.formatting", true);
        f.write_str("shown")
    }
}

#[test]
fn values_that_log_or_update_their_span_while_recorded_do_not_deadlock() {
    let sink = InMemorySpanSink::new();
    let layer = SpanLayer::new()
        .with_sink(Arc::new(sink.clone()))
        .with_span_events(true);
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer))
        .expect("the only subscriber of this test binary");

    // On a thread of its own, waited for with a deadline: a deadlock hangs that thread.
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let span = tracing::info_span!("work", recorded = Empty).entered();
        span.record("recorded", tracing::field::debug(LogsInside(Level::INFO)));
        tracing::info!(value = ?LogsInside(Level::INFO), "event");
        tracing::error!(error = ?LogsInside(Level::ERROR), "failed");
        drop(span);
        let _ = done.send(());
    });
    finished
        .recv_timeout(Duration::from_secs(30))
        .expect("the span layer deadlocked on a value that logs while it is recorded");

    let spans = sink.take();
    assert_eq!(spans.len(), 1, "{spans:?}");
    let span = &spans[0];
    let value = |key: &str| span.attribute(key).cloned();
    assert_eq!(value("recorded"), Some(Value::from("shown")));
    assert_eq!(value("set.while.formatting"), Some(Value::Bool(true)));
    // The ERROR logged while the outer one's `error` field was formatted came first: its
    // status (no description) stands, as a status set first does.
    assert_eq!(span.status, Status::error(""));
    // Each event logged while formatting comes before the event being formatted.
    let names: Vec<_> = span.events.iter().map(|e| e.name.as_ref()).collect();
    let inner = "logged while formatting";
    assert_eq!(names, [inner, inner, "event", inner, inner, "failed"]);
}
