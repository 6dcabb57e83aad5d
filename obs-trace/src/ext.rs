//! [`SpanExt`]: the OpenTelemetry identity of a `tracing::Span`, from user code.

use tracing_subscriber::Registry;
use tracing_subscriber::registry::LookupSpan;

use crate::layer::SpanState;
use crate::{Baggage, SpanContext};

/// Reads the OpenTelemetry context [`SpanLayer`](crate::SpanLayer) gave a `tracing::Span`
/// (the counterpart of `tracing-opentelemetry`'s `OpenTelemetrySpanExt::context`).
///
/// To give a span a remote parent, create it inside
/// [`span_with_remote_parent`](crate::span_with_remote_parent): the parent must be known
/// before the sampling decision, which is taken when the span is created.
pub trait SpanExt {
    /// The span's context, if the span exists and a [`SpanLayer`](crate::SpanLayer) saw it.
    fn span_context(&self) -> Option<SpanContext>;
    /// The baggage in effect in the span.
    fn baggage(&self) -> Baggage;
}

fn with_state<R>(span: &tracing::Span, f: impl FnOnce(&SpanState) -> R) -> Option<R> {
    span.with_subscriber(|(id, dispatch)| {
        let registry = dispatch.downcast_ref::<Registry>()?;
        let data = registry.span(id)?;
        let ext = data.extensions();
        ext.get::<SpanState>().map(f)
    })
    .flatten()
}

impl SpanExt for tracing::Span {
    fn span_context(&self) -> Option<SpanContext> {
        with_state(self, |s| s.context.clone())
    }

    fn baggage(&self) -> Baggage {
        with_state(self, |s| s.baggage.clone()).unwrap_or_default()
    }
}
