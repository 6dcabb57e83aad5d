//! [`SkipUnsampled`]: don't create spans nobody will export.

use tracing_core::subscriber::Interest;
use tracing_core::{Metadata, span};
use tracing_subscriber::layer::{Context, Filter};

use crate::active;

/// A per-layer filter for [`SpanLayer`](crate::SpanLayer) that also disables spans created
/// while the current trace on this thread is not sampled, so the span layer does no work
/// at all for the inner spans of an unsampled trace (`fastrace` hands out no-op spans the
/// same way). The registry may still create them for other layers (the JSON log layer wants
/// their fields).
///
/// Logs inside such a span still carry the trace id and the nearest recorded span id.
/// Spans that declare an `otel.kind` field (the SERVER and CLIENT spans of obs's middleware)
/// are always created: they cross process boundaries, so every outgoing call still gets a
/// fresh parent id. Everything else is decided by the inner filter.
///
/// ```
/// use obs_trace::{SkipUnsampled, SpanLayer};
/// use tracing_subscriber::{EnvFilter, prelude::*};
///
/// let subscriber = tracing_subscriber::registry()
///     .with(SpanLayer::new().with_filter(SkipUnsampled::new(EnvFilter::new("info"))));
/// # drop(subscriber);
/// ```
#[derive(Debug)]
pub struct SkipUnsampled<F> {
    inner: F,
}

impl<F> SkipUnsampled<F> {
    /// Wraps `inner`, which decides for everything but spans inside unsampled traces.
    pub fn new(inner: F) -> Self {
        SkipUnsampled { inner }
    }
}

#[inline]
fn inside_unsampled_trace(meta: &Metadata<'_>) -> bool {
    meta.is_span()
        && meta.fields().field("otel.kind").is_none()
        && active::with_current(|a| a.is_some_and(|a| !a.span.is_sampled()))
}

impl<S, F: Filter<S>> Filter<S> for SkipUnsampled<F> {
    fn enabled(&self, meta: &Metadata<'_>, cx: &Context<'_, S>) -> bool {
        !inside_unsampled_trace(meta) && self.inner.enabled(meta, cx)
    }

    fn callsite_enabled(&self, meta: &'static Metadata<'static>) -> Interest {
        let interest = self.inner.callsite_enabled(meta);
        // Whether a span is inside an unsampled trace is only known when it is created.
        if meta.is_span() && interest.is_always() {
            Interest::sometimes()
        } else {
            interest
        }
    }

    fn max_level_hint(&self) -> Option<tracing_core::LevelFilter> {
        self.inner.max_level_hint()
    }

    fn event_enabled(&self, event: &tracing_core::Event<'_>, cx: &Context<'_, S>) -> bool {
        self.inner.event_enabled(event, cx)
    }

    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        self.inner.on_new_span(attrs, id, ctx);
    }

    fn on_record(&self, id: &span::Id, values: &span::Record<'_>, ctx: Context<'_, S>) {
        self.inner.on_record(id, values, ctx);
    }

    fn on_enter(&self, id: &span::Id, ctx: Context<'_, S>) {
        self.inner.on_enter(id, ctx);
    }

    fn on_exit(&self, id: &span::Id, ctx: Context<'_, S>) {
        self.inner.on_exit(id, ctx);
    }

    fn on_close(&self, id: span::Id, ctx: Context<'_, S>) {
        self.inner.on_close(id, ctx);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tracing_subscriber::prelude::*;
    use tracing_subscriber::{EnvFilter, Registry};

    use super::*;
    use crate::{
        InMemorySpanSink, RemoteParent, Sampler, SpanExt, SpanLayer, span_with_remote_parent,
    };

    #[test]
    fn spans_inside_an_unsampled_trace_are_not_created_but_the_trace_id_stays_current() {
        let sink = InMemorySpanSink::new();
        let subscriber = Registry::default().with(
            SpanLayer::new()
                .with_sampler(Sampler::AlwaysOff)
                .with_sink(Arc::new(sink.clone()))
                .with_filter(SkipUnsampled::new(EnvFilter::new("info"))),
        );
        tracing::subscriber::with_default(subscriber, || {
            let root =
                span_with_remote_parent(RemoteParent::default(), || tracing::info_span!("root"));
            let _g = root.enter();
            let trace_id = root.span_context().expect("the root is created").trace_id;
            let inner = tracing::info_span!("inner");
            assert_eq!(
                inner.span_context(),
                None,
                "the span layer skipped it entirely"
            );
            let _i = inner.enter();
            assert_eq!(
                crate::current_span_context().map(|c| c.trace_id),
                Some(trace_id)
            );
        });
        assert!(sink.spans().is_empty());

        let sampled = Registry::default().with(
            SpanLayer::new()
                .with_sink(Arc::new(sink.clone()))
                .with_filter(SkipUnsampled::new(EnvFilter::new("info"))),
        );
        tracing::subscriber::with_default(sampled, || {
            let _root = tracing::info_span!("root").entered();
            assert!(tracing::info_span!("inner").span_context().is_some());
        });
        assert_eq!(sink.spans().len(), 2);
    }
}
