//! Spans inside unsampled traces: [`UnsampledSpans`] says whether they exist at all.

use tracing_core::Metadata;

use crate::active;

/// What becomes of a span created while the current trace on this thread is not sampled.
///
/// `obs_core::init` skips them unless JSON log lines are written, which show the fields of
/// every span around an event, or the log layers need them (a layer of the application's,
/// `RUST_LOG` span directives); [`SpanLayer`](crate::SpanLayer) on its own keeps them.
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
    /// As with any disabled span, a span that names it as its explicit parent
    /// (`info_span!(parent: &skipped, ..)`) starts a new trace; `Span::current()` is the
    /// nearest created span, so `parent: Span::current()` stays in the trace. A span that
    /// names its own parent (`parent: &span`, `parent: None`) is skipped the same way while
    /// this thread is inside an unsampled trace, even if that parent is sampled or it would
    /// start a trace: `tracing` asks whether a span is wanted before it says its parent.
    /// [`Keep`](Self::Keep) traces those as their parent says.
    Skip,
    /// The span is created for the other layers (JSON log lines keep its fields), but
    /// [`SpanLayer`](crate::SpanLayer) does nothing for it: no ids of its own, nothing
    /// recorded. Log lines inside it carry the nearest traced span's ids. A span that names
    /// its own parent is traced as that parent says (a sampled span's child is recorded,
    /// `parent: None` starts a trace).
    #[default]
    Keep,
}

/// Whether `meta`, about to be created on this thread by `owner`'s subscriber, is a span
/// inside an unsampled trace that can go without an OpenTelemetry identity: any span but
/// those that declare `otel.kind`.
#[inline]
pub(crate) fn inside_unsampled_trace(owner: usize, meta: &Metadata<'_>) -> bool {
    meta.is_span()
        // The thread-local first: it is what is false on the sampled path. An invalid
        // context is no trace at all (an untraced span given no remote parent carries one):
        // what is created inside it starts a trace of its own.
        && active::with_current_entered(owner, |e| {
            e.is_some_and(|e| !e.active.span.is_sampled() && e.active.span.is_valid())
        })
        && meta.fields().field("otel.kind").is_none()
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_core::span;
    use tracing_subscriber::Registry;
    use tracing_subscriber::filter::Targets;
    use tracing_subscriber::layer::Context;
    use tracing_subscriber::prelude::*;

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
                .with_traces_filter(Targets::new().with_default(tracing::Level::INFO)),
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
                    assert!(!inner.is_disabled(), "created for the other layers");
                    assert_eq!(
                        inner.span_context(),
                        Some(root_context.clone()),
                        "no identity of its own: the context of the trace it runs in"
                    );
                }
            }
            let client_context = client.span_context().expect("client spans always exist");
            assert_eq!(client_context.trace_id, root_context.trace_id);
            assert!(!client_context.is_sampled());
            if mode == UnsampledSpans::Keep {
                // A child naming the untraced span as its explicit parent stays in the trace.
                let explicit =
                    tracing::info_span!(parent: &inner, "explicit", otel.kind = "client");
                assert_eq!(
                    explicit.span_context().map(|c| c.trace_id),
                    Some(root_context.trace_id)
                );
            }
            let _i = inner.enter();
            assert_eq!(
                crate::current_span_context(),
                Some(root_context.clone()),
                "the root's context stays current for logs and outgoing calls"
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
        assert_eq!(
            *others.0.lock().unwrap(),
            ["root", "inner", "client", "explicit"]
        );
    }

    #[test]
    fn spans_of_sampled_traces_are_all_created_and_exported() {
        let sink = InMemorySpanSink::new();
        let subscriber = Registry::default().with(
            SpanLayer::new()
                .with_sink(Arc::new(sink.clone()))
                .with_traces_filter(Targets::new().with_default(tracing::Level::INFO)),
        );
        tracing::subscriber::with_default(subscriber, || {
            let _root = tracing::info_span!("root").entered();
            assert!(tracing::info_span!("inner").span_context().is_some());
        });
        assert_eq!(sink.spans().len(), 2);
    }

    #[test]
    fn a_callsite_first_seen_in_an_unsampled_trace_is_still_asked_about_later() {
        let others = SeenByOthers::default();
        let subscriber = Registry::default().with(others.clone()).with(
            SpanLayer::new()
                .with_sampler(Sampler::AlwaysOff)
                .with_unsampled_spans(UnsampledSpans::Skip),
        );
        let inner = || tracing::info_span!("inner");
        tracing::subscriber::with_default(subscriber, || {
            {
                let _root = tracing::info_span!("root").entered();
                assert!(inner().is_disabled());
            }
            // Its interest must not have been cached as "never" for the traces after.
            assert!(!inner().is_disabled(), "a new root is created");
        });
        assert_eq!(*others.0.lock().unwrap(), ["root", "inner"]);
    }

    #[test]
    fn spans_the_traces_filter_leaves_out_stay_for_the_other_layers() {
        let sink = InMemorySpanSink::new();
        let others = SeenByOthers::default();
        let subscriber = Registry::default().with(others.clone()).with(
            SpanLayer::new()
                .with_sink(Arc::new(sink.clone()))
                .with_traces_filter("info,noisy=off".parse::<Targets>().unwrap()),
        );
        tracing::subscriber::with_default(subscriber, || {
            let root = tracing::info_span!("root").entered();
            let root_context = root.span_context().unwrap();
            let debug = tracing::debug_span!("debug").entered();
            assert_eq!(
                debug.span_context(),
                Some(root_context.clone()),
                "not traced, but created, in the root's trace"
            );
            let noisy = tracing::info_span!(target: "noisy", "noisy").entered();
            assert_eq!(noisy.span_context(), Some(root_context.clone()));
            let child = tracing::info_span!("child");
            assert_eq!(
                child.span_context().map(|c| c.trace_id),
                Some(root_context.trace_id)
            );
            let explicit = tracing::info_span!(parent: &debug, "explicit");
            assert_eq!(
                explicit.span_context().map(|c| c.trace_id),
                Some(root_context.trace_id)
            );
        });
        assert_eq!(
            *others.0.lock().unwrap(),
            ["root", "debug", "noisy", "child", "explicit"]
        );
        let spans = sink.spans();
        assert_eq!(spans.len(), 3);
        let root = spans.iter().find(|s| s.name == "root").unwrap();
        for name in ["child", "explicit"] {
            let span = spans.iter().find(|s| s.name == name).unwrap();
            assert_eq!(span.parent_span_id, root.span_context.span_id, "{name}");
        }
    }
}
