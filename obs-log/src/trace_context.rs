//! The trace context an event is stamped with, shared by both layers.

use obs_trace::{ContextReader, SpanId, TraceFlags, TraceId};
use tracing_core::{Event, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

/// The ids of the span context current on this thread in the layer's subscriber
/// (`context`, registered in `on_register_dispatch`: from a layer's callback
/// [`obs_trace::with_current`] can't tell which subscriber is dispatching, and a thread may
/// have another subscriber's span entered).
///
/// - An explicit root event (`parent: None`) belongs to no trace: `None`.
/// - An event with an explicit `parent:` other than the span being executed gets that
///   parent's context ([`obs_trace::span_context_of`]), also when the layer's filter
///   disables that span (`RUST_LOG=error`): read from the subscriber itself then
///   ([`ContextReader::span_context`]), since the layer's `Context` hides it, and an event
///   inside it carries its ids whatever the filter.
#[inline]
pub(crate) fn current_ids<S>(
    event: &Event<'_>,
    ctx: &Context<'_, S>,
    context: &ContextReader,
) -> Option<(TraceId, SpanId, TraceFlags)>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    if event.is_root() {
        return None;
    }
    if let Some(parent) = event.parent()
        && ctx.current_span().id() != Some(parent)
    {
        return obs_trace::span_context_of(ctx, parent)
            .or_else(|| context.span_context(parent))
            .filter(obs_trace::SpanContext::is_valid)
            .map(|c| (c.trace_id, c.span_id, c.flags));
    }
    context.with_current(|active| {
        active
            .filter(|a| a.span.is_valid())
            .map(|a| (a.span.trace_id, a.span.span_id, a.span.flags))
    })
}
