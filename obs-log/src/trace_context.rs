//! The trace context an event is stamped with, shared by both layers.

use obs_trace::{SpanId, TraceFlags, TraceId};
use tracing_core::{Event, Subscriber};
use tracing_subscriber::layer::Context;

/// The ids of the span context current on this thread ([`obs_trace::with_current`]).
///
/// - An explicit root event (`parent: None`) belongs to no trace: `None`.
/// - An event with an explicit `parent:` gets the current context only if that parent is
///   the span being executed. obs-trace exposes span contexts of the current span, not of
///   any span by id, and stamping a line with an unrelated span's ids would be worse than
///   stamping none; such lines still list the parent's spans.
#[inline]
pub(crate) fn current_ids<S: Subscriber>(
    event: &Event<'_>,
    ctx: &Context<'_, S>,
) -> Option<(TraceId, SpanId, TraceFlags)> {
    if event.is_root() {
        return None;
    }
    if let Some(parent) = event.parent()
        && ctx.current_span().id() != Some(parent)
    {
        return None;
    }
    obs_trace::with_current(|active| {
        active
            .filter(|a| a.span.is_valid())
            .map(|a| (a.span.trace_id, a.span.span_id, a.span.flags))
    })
}
