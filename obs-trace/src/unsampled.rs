//! Spans inside unsampled traces: [`UnsampledSpans`] says whether they exist at all, and
//! [`SpanFilter`] lets [`SpanLayer`](crate::SpanLayer) decide it per span.

use tracing_core::subscriber::Interest;
use tracing_core::{Metadata, span};
use tracing_subscriber::layer::{Context, Filter};

use crate::active;

/// What becomes of a span created while the current trace on this thread is not sampled.
///
/// Either way the trace id stays current (logs carry it, outgoing calls propagate it with the
/// `sampled` flag off) and spans that declare an `otel.kind` field (the SERVER and CLIENT spans
/// of obs's middleware) are always created: they cross process boundaries, so every outgoing
/// call gets a fresh parent id.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum UnsampledSpans {
    /// The span is not created at all, for any layer: it costs what a disabled span costs
    /// (`fastrace` hands out no-op spans the same way, and OpenTelemetry SDKs make them
    /// non-recording). Log lines inside it carry the nearest created span's id and fields.
    #[default]
    Skip,
    /// The span is created, with its own span id, so other layers see it (JSON log lines keep
    /// its fields); nothing of it is recorded or exported.
    Keep,
}

impl UnsampledSpans {
    /// Whether `meta`, about to be created on this thread, is to be skipped.
    #[inline]
    pub(crate) fn skips(self, meta: &Metadata<'_>) -> bool {
        self == UnsampledSpans::Skip
            && meta.is_span()
            // The thread-local first: it is what is false on the sampled path.
            && active::with_current(|a| a.is_some_and(|a| !a.span.is_sampled()))
            && meta.fields().field("otel.kind").is_none()
    }
}

/// The per-layer filter for [`SpanLayer`](crate::SpanLayer): `inner` decides which spans are
/// traced (an `EnvFilter`, say), and span callsites are asked about on every span rather
/// than once, so the layer can skip the spans of unsampled traces ([`UnsampledSpans`]).
///
/// A plain filter works too; it only loses that saving, because `tracing` then caches
/// "always" for an enabled span callsite and never asks again.
///
/// ```
/// use obs_trace::{SpanFilter, SpanLayer};
/// use tracing_subscriber::{EnvFilter, prelude::*};
///
/// let subscriber = tracing_subscriber::registry()
///     .with(SpanLayer::new().with_filter(SpanFilter::new(EnvFilter::new("info"))));
/// # drop(subscriber);
/// ```
#[derive(Debug)]
pub struct SpanFilter<F> {
    inner: F,
}

impl<F> SpanFilter<F> {
    /// Wraps `inner`, which decides which spans are traced.
    pub fn new(inner: F) -> Self {
        SpanFilter { inner }
    }
}

impl<S, F: Filter<S>> Filter<S> for SpanFilter<F> {
    fn enabled(&self, meta: &Metadata<'_>, cx: &Context<'_, S>) -> bool {
        self.inner.enabled(meta, cx)
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
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::prelude::*;
    use tracing_subscriber::{EnvFilter, Registry};

    use super::*;
    use crate::{
        InMemorySpanSink, RemoteParent, Sampler, SpanExt, SpanLayer, span_with_remote_parent,
    };

    /// Names of the spans the registry created, as another layer (JSON logs) sees them.
    #[derive(Clone, Default)]
    struct SeenByOthers(Arc<Mutex<Vec<&'static str>>>);

    impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for SeenByOthers {
        fn on_new_span(&self, attrs: &span::Attributes<'_>, _: &span::Id, _: Context<'_, S>) {
            self.0.lock().unwrap().push(attrs.metadata().name());
        }
    }

    fn unsampled_root_then_inner(mode: UnsampledSpans, others: SeenByOthers) {
        let sink = InMemorySpanSink::new();
        let subscriber = Registry::default().with(others).with(
            SpanLayer::new()
                .with_sampler(Sampler::AlwaysOff)
                .with_unsampled_spans(mode)
                .with_sink(Arc::new(sink.clone()))
                .with_filter(SpanFilter::new(EnvFilter::new("info"))),
        );
        tracing::subscriber::with_default(subscriber, || {
            let root =
                span_with_remote_parent(RemoteParent::default(), || tracing::info_span!("root"));
            let _g = root.enter();
            let root_context = root.span_context().expect("the root is created");
            let inner = tracing::info_span!("inner");
            let client = tracing::info_span!("client", otel.kind = "client");
            match mode {
                UnsampledSpans::Skip => assert!(inner.is_disabled(), "not created at all"),
                UnsampledSpans::Keep => {
                    let own = inner.span_context().expect("created, with its own ids");
                    assert_eq!(own.trace_id, root_context.trace_id);
                    assert_ne!(own.span_id, root_context.span_id);
                    assert!(!own.is_sampled());
                }
            }
            let client_context = client.span_context().expect("client spans always exist");
            assert_eq!(client_context.trace_id, root_context.trace_id);
            assert!(!client_context.is_sampled());
            let _i = inner.enter();
            assert_eq!(
                crate::current_span_context().map(|c| c.trace_id),
                Some(root_context.trace_id),
                "the trace id stays current for logs and outgoing calls"
            );
        });
        assert!(
            sink.spans().is_empty(),
            "nothing of an unsampled trace is exported"
        );
    }

    #[test]
    fn skipped_spans_inside_an_unsampled_trace_are_created_for_no_layer() {
        let others = SeenByOthers::default();
        unsampled_root_then_inner(UnsampledSpans::Skip, others.clone());
        assert_eq!(*others.0.lock().unwrap(), ["root", "client"]);
    }

    #[test]
    fn kept_spans_inside_an_unsampled_trace_reach_the_other_layers() {
        let others = SeenByOthers::default();
        unsampled_root_then_inner(UnsampledSpans::Keep, others.clone());
        assert_eq!(*others.0.lock().unwrap(), ["root", "inner", "client"]);
    }

    #[test]
    fn spans_of_sampled_traces_are_all_created_and_exported() {
        let sink = InMemorySpanSink::new();
        let subscriber = Registry::default().with(
            SpanLayer::new()
                .with_sink(Arc::new(sink.clone()))
                .with_filter(SpanFilter::new(EnvFilter::new("info"))),
        );
        tracing::subscriber::with_default(subscriber, || {
            let _root = tracing::info_span!("root").entered();
            assert!(tracing::info_span!("inner").span_context().is_some());
        });
        assert_eq!(sink.spans().len(), 2);
    }

    #[test]
    fn an_unfiltered_span_layer_skips_them_too() {
        let others = SeenByOthers::default();
        let subscriber = Registry::default()
            .with(others.clone())
            .with(SpanLayer::new().with_sampler(Sampler::AlwaysOff));
        let inner = || tracing::info_span!("inner");
        tracing::subscriber::with_default(subscriber, || {
            {
                let _root = tracing::info_span!("root").entered();
                assert!(inner().is_disabled());
            }
            // The callsite was registered inside an unsampled trace: its interest must not
            // have been cached as "never" for the traces that come later.
            assert!(!inner().is_disabled(), "a new root is created");
        });
        assert_eq!(*others.0.lock().unwrap(), ["root", "inner"]);
    }
}
