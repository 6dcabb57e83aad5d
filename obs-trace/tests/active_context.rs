//! The thread's active context while code runs inside `with_current`'s closure: spans made,
//! entered and closed there neither panic nor disturb what is current afterwards.

use std::sync::Arc;

use obs_trace::{InMemorySpanSink, SpanExt, SpanLayer};
use tracing_subscriber::prelude::*;

#[test]
fn spans_inside_with_current_neither_panic_nor_unsettle_the_context() {
    let sink = InMemorySpanSink::new();
    let subscriber =
        tracing_subscriber::registry().with(SpanLayer::new().with_sink(Arc::new(sink.clone())));
    tracing::subscriber::with_default(subscriber, || {
        let outer = tracing::info_span!("outer");
        let outer_context = outer.span_context().expect("sampled");
        let _outer = outer.enter();
        let seen = obs_trace::with_current(|current| {
            let seen = current.map(|c| c.span.span_id);
            // Created, entered, exited and closed while the context is lent out.
            let inner = tracing::info_span!("inner");
            inner.in_scope(|| tracing::info!("inside"));
            drop(inner);
            seen
        });
        assert_eq!(seen, Some(outer_context.span_id));
        // What is current is the outer span again, and spans entered now are tracked.
        assert_eq!(
            obs_trace::current_span_context().map(|c| c.span_id),
            Some(outer_context.span_id)
        );
        let after = tracing::info_span!("after");
        let after_id = after.span_context().expect("sampled").span_id;
        after.in_scope(|| {
            assert_eq!(
                obs_trace::current_span_context().map(|c| c.span_id),
                Some(after_id)
            );
        });
    });
    let spans = sink.spans();
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_ref()).collect();
    assert_eq!(names, ["inner", "after", "outer"]);
    // The inner span still has its parent: the context lent out was the outer span's.
    assert_eq!(spans[0].parent_span_id, spans[2].span_context.span_id);
}

/// A context entered with no span (what middleware does when no span layer saw its span)
/// is current until its guard drops, is seen through every subscriber, and is the parent
/// of spans created inside; the span context that was current before comes back after.
#[test]
fn a_context_entered_without_a_span_is_current_until_its_guard_drops() {
    let parent =
        obs_trace::parse_traceparent(b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
            .expect("valid");
    let caller = obs_trace::ActiveContext {
        span: obs_trace::SpanContext {
            trace_id: parent.trace_id,
            span_id: parent.parent_id,
            flags: parent.flags,
            trace_state: obs_trace::TraceState::default(),
            is_remote: true,
        },
        baggage: obs_trace::Baggage::default(),
    };
    let sink = InMemorySpanSink::new();
    let subscriber =
        tracing_subscriber::registry().with(SpanLayer::new().with_sink(Arc::new(sink.clone())));
    tracing::subscriber::with_default(subscriber, || {
        let outer = tracing::info_span!("outer");
        let outer_id = outer.span_context().expect("sampled").span_id;
        let _outer = outer.enter();
        {
            let _entered = obs_trace::enter_context(&caller);
            assert_eq!(obs_trace::current(), Some(caller.clone()));
            tracing::info_span!("inside").in_scope(|| ());
        }
        assert_eq!(
            obs_trace::current_span_context().map(|c| c.span_id),
            Some(outer_id)
        );
    });
    let inside = sink
        .spans()
        .into_iter()
        .find(|s| s.name == "inside")
        .expect("exported");
    assert_eq!(inside.span_context.trace_id, caller.span.trace_id);
    assert_eq!(inside.parent_span_id, caller.span.span_id);
    assert_eq!(obs_trace::current(), None);
}

/// A context entered again right after its exit (middleware enters the caller's context for
/// each poll of a request) is current again, and gone after the last exit; another context
/// entered after an exit is that one, not the one exited.
#[test]
fn a_context_entered_again_is_current_and_another_one_replaces_it() {
    let context = |span_id: u64| obs_trace::ActiveContext {
        span: obs_trace::SpanContext {
            trace_id: obs_trace::TraceId(*b"0123456789abcdef"),
            span_id: obs_trace::SpanId(span_id.to_be_bytes()),
            flags: obs_trace::TraceFlags::SAMPLED,
            trace_state: obs_trace::TraceState::default(),
            is_remote: true,
        },
        baggage: obs_trace::Baggage::default(),
    };
    let (first, second) = (context(1), context(2));
    for _ in 0..3 {
        let _entered = obs_trace::enter_context(&first);
        assert_eq!(obs_trace::current(), Some(first.clone()));
    }
    assert_eq!(obs_trace::current(), None);
    {
        let _entered = obs_trace::enter_context(&second);
        assert_eq!(obs_trace::current(), Some(second.clone()));
        // Entered again inside itself: two entries, each left by its own guard.
        {
            let _again = obs_trace::enter_context(&second);
            assert_eq!(obs_trace::current(), Some(second.clone()));
        }
        assert_eq!(obs_trace::current(), Some(second.clone()));
        let _inner = obs_trace::enter_context(&first);
        assert_eq!(obs_trace::current(), Some(first.clone()));
    }
    assert_eq!(obs_trace::current(), None);
    let _entered = obs_trace::enter_context(&first);
    assert_eq!(obs_trace::current(), Some(first));
}
