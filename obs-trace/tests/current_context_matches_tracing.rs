//! The context obs reads on a thread (`obs_trace::with_current`: what logs are stamped with,
//! exemplars taken from and outgoing calls carry) is that of the span `tracing` says an
//! event is in, however spans are parented, entered and exited: explicit parents, spans the
//! layer does not trace, guards dropped out of order, one span entered on several threads.
//!
//! An oracle layer compares, at each event, the two views: the registry's (the event's span,
//! then the nearest traced span up from it, as `SpanExt::span_context` finds it) and the
//! thread-local one.

use std::sync::{Arc, Mutex};

use obs_trace::{SpanContext, SpanExt, SpanLayer};
use tracing::Level;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::Context;
use tracing_subscriber::prelude::*;
use tracing_subscriber::registry::LookupSpan;

/// One event as both views saw it.
#[derive(Debug)]
struct Seen {
    message: String,
    in_tracing: Option<SpanContext>,
    in_obs: Option<SpanContext>,
}

/// Records, for each event, the context of its span in `tracing`'s view and the thread's.
#[derive(Clone, Default)]
struct Oracle(Arc<Mutex<Vec<Seen>>>);

impl<S: tracing::Subscriber + for<'a> LookupSpan<'a>> tracing_subscriber::Layer<S> for Oracle {
    fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
        let in_tracing = ctx
            .event_span(event)
            .and_then(|span| obs_trace::span_context_of(&ctx, &span.id()))
            .filter(SpanContext::is_valid);
        let in_obs = obs_trace::current_span_context().filter(SpanContext::is_valid);
        let mut message = String::new();
        event.record(
            &mut |_: &tracing::field::Field, value: &dyn std::fmt::Debug| {
                message = format!("{value:?}");
            },
        );
        self.0.lock().unwrap().push(Seen {
            message,
            in_tracing,
            in_obs,
        });
    }
}

impl Oracle {
    /// Asserts that the events seen were `messages` and that both views agreed at each.
    fn assert_agreed(&self, messages: &[&str]) {
        let seen = self.0.lock().unwrap();
        let seen_messages: Vec<&str> = seen.iter().map(|s| s.message.as_str()).collect();
        assert_eq!(seen_messages, messages);
        let disagreed: Vec<&Seen> = seen.iter().filter(|s| s.in_tracing != s.in_obs).collect();
        assert!(disagreed.is_empty(), "{disagreed:#?}");
    }
}

#[test]
fn an_untraced_span_makes_its_own_parents_context_current() {
    let oracle = Oracle::default();
    let traced = Targets::new().with_default(Level::INFO);
    let subscriber = tracing_subscriber::registry()
        .with(SpanLayer::new().with_traces_filter(traced))
        .with(oracle.clone());
    tracing::subscriber::with_default(subscriber, || {
        let first = tracing::info_span!("first request");
        let second = tracing::info_span!("second request");
        let _second = second.enter();
        // A filtered-out span of the first request's, run while the second one's is entered
        // (a worker handing a job back to the request that queued it).
        let step = tracing::debug_span!(parent: &first, "step");
        step.in_scope(|| {
            tracing::info!("in the first request's step");
            let child = tracing::info_span!("child");
            assert_eq!(
                child.span_context().map(|c| c.trace_id),
                first.span_context().map(|c| c.trace_id),
                "in the trace of the step's parent"
            );
            child.in_scope(|| tracing::info!("in the step's child"));
        });
        // A filtered-out root: inside it no trace is current.
        tracing::debug_span!(parent: None, "housekeeping")
            .in_scope(|| tracing::info!("in no request"));
        tracing::info!("back in the second request");
    });
    oracle.assert_agreed(&[
        "in the first request's step",
        "in the step's child",
        "in no request",
        "back in the second request",
    ]);
}
