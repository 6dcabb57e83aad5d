//! The trace context an event is stamped with, shared by both layers.

use obs_trace::{SpanId, TraceFlags, TraceId};
use tracing_core::Event;

/// The ids of the span context current on this thread, unless the event is an explicit
/// root (`parent: None`), which belongs to no trace.
///
/// For an event with an explicit `parent:` span this is still the context of the span being
/// executed: obs-trace keeps span contexts in its own per-span state and exposes the
/// current one without a lookup, and such events are almost always emitted from inside
/// that parent anyway.
#[inline]
pub(crate) fn current_ids(event: &Event<'_>) -> Option<(TraceId, SpanId, TraceFlags)> {
    if event.is_root() {
        return None;
    }
    obs_trace::with_current(|active| {
        active
            .filter(|a| a.span.is_valid())
            .map(|a| (a.span.trace_id, a.span.span_id, a.span.flags))
    })
}
