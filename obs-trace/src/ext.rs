//! [`SpanExt`]: the OpenTelemetry identity of a `tracing::Span`, from user code.

use opentelemetry::trace::Status;
use opentelemetry::{Key, KeyValue, Value};
use tracing_core::Subscriber;
use tracing_subscriber::Registry;
use tracing_subscriber::registry::LookupSpan;

use crate::active;
use crate::layer::SpanState;
use crate::{Baggage, SpanContext, SpanLayer};

/// Reads the OpenTelemetry context [`SpanLayer`] gave a `tracing::Span`
/// (the counterpart of `tracing-opentelemetry`'s `OpenTelemetrySpanExt::context`).
///
/// To give a span a remote parent, create it inside
/// [`span_with_remote_parent`](crate::span_with_remote_parent): the parent must be known
/// before the sampling decision, which is taken when the span is created.
pub trait SpanExt {
    /// The span's context, if the span exists and a [`SpanLayer`] saw it.
    /// For a span the layer gave no identity of its own (left out by its traces filter, or
    /// kept only for the log layers inside an unsampled trace), the context of the nearest
    /// traced span around it: the trace it runs in.
    fn span_context(&self) -> Option<SpanContext>;
    /// The baggage in effect in the span (found the same way as its context); for a span
    /// that does not exist (disabled), that of `Span::current()`, as
    /// [`set_baggage`](Self::set_baggage) says.
    fn baggage(&self) -> Baggage;
    /// Sets the baggage of the span: the span and what runs in it from now on carry
    /// `baggage` (W3C Baggage), so the outgoing calls made there (obs's HTTP and gRPC client
    /// layers, [`inject_current`](crate::inject_current)) send it downstream, and the spans
    /// created in it inherit it. This is obs's `Context::current_with_baggage(..).attach()`:
    /// to add to what came in, take [`baggage`](Self::baggage), insert, and set it on the
    /// span the code runs in, `tracing::Span::current()` (in a handler behind obs's server
    /// middleware, the SERVER span or one inside it). obs keeps its context in `tracing`'s
    /// spans, not in OpenTelemetry's `Context`, which its middleware does not read:
    /// baggage attached with `Context::current_with_baggage(..).attach()` inside a span is
    /// not sent by them (only by [`W3CPropagator`](crate::W3CPropagator), to which that
    /// `Context` is given); the attached context is read only as the parent of a span
    /// created with no span current (see [`SpanLayer`]).
    ///
    /// ```
    /// use obs_trace::{SpanExt, SpanLayer};
    /// use tracing_subscriber::prelude::*;
    ///
    /// let subscriber = tracing_subscriber::registry().with(SpanLayer::new());
    /// tracing::subscriber::with_default(subscriber, || {
    ///     let request = tracing::info_span!("request");
    ///     let _entered = request.enter();
    ///     // In the handler:
    ///     let span = tracing::Span::current();
    ///     let mut baggage = span.baggage();
    ///     baggage.insert("tenant.id", "42")?;
    ///     span.set_baggage(baggage);
    ///     // An outgoing call, as obs's client layers make it.
    ///     let mut headers = obs_trace::http::HeaderMap::new();
    ///     tracing::info_span!("call").in_scope(|| obs_trace::inject_current(&mut headers));
    ///     assert_eq!(headers["baggage"], "tenant.id=42");
    ///     Ok::<(), obs_trace::BaggageError>(())
    /// })?;
    /// # Ok::<(), obs_trace::BaggageError>(())
    /// ```
    ///
    /// Set on the span, not made current with a guard, because a span is what follows the
    /// code in `tracing`: into `.instrument(span)`ed futures, across the threads they are
    /// polled on, into spans created inside. It works the same for a span the layer gives no
    /// identity of its own (inside an unsampled trace under [`UnsampledSpans::Keep`], or
    /// left out by the traces filter): such a span is given a state that carries the
    /// context of the nearest traced span around it with this baggage. Spans already
    /// created inside keep the baggage they had. A span that does not exist (disabled for
    /// every layer: by a global filter, or under [`UnsampledSpans::Skip`] in an unsampled
    /// trace) can carry nothing: the baggage goes on `Span::current()` instead, the span
    /// that code "in" a disabled span runs in, so it reaches the calls made there, and
    /// those made in the current span after it. With no span at all (a global filter
    /// disabled obs's server span too) and without a [`SpanLayer`] it is a no-op. On another
    /// thread where the span is entered at that moment, the baggage takes effect at its
    /// next enter. Under a per-layer filter (`SpanLayer::new().with_filter(..)`), a span the
    /// filter hides is never entered for the span layer: baggage set on it, or set while it
    /// is the innermost span, is carried by the spans created in it and takes effect once
    /// the code is back in a span the filter lets through.
    ///
    /// Cost: a registry lookup and the baggage's clones, on the call. Spans that never set
    /// baggage pay nothing more to be created or closed, and no allocation; an exit reads
    /// a flag of the entry it pops and the top of a thread-local stack of marks (the
    /// untraced spans entered inside their parent, for which it saves a registry lookup);
    /// entering a span created or exited last on its thread (the enter that needs no lookup)
    /// reads one process-wide counter and branches on it. Only this call changes the
    /// counter: a thread that sees it changed enters its remembered span once by lookup,
    /// so that a span remembered before its baggage was set on another thread is not
    /// entered with the old baggage; a server that sets baggage on every request makes
    /// each thread's next such enter a lookup, as every enter was before spans were
    /// remembered.
    ///
    /// [`UnsampledSpans::Keep`]: crate::UnsampledSpans::Keep
    /// [`UnsampledSpans::Skip`]: crate::UnsampledSpans::Skip
    fn set_baggage(&self, baggage: Baggage);
    /// Sets an attribute whose key is only known at run time (`tracing` fields are fixed
    /// at the callsite), e.g. `http.request.header.<name>`; a no-op if the span is not
    /// sampled or no [`SpanLayer`] saw it.
    fn set_attribute(&self, key: impl Into<Key>, value: impl Into<Value>);
    /// Sets the span's status, as the OpenTelemetry Trace API's Set Status says: `Ok` is
    /// final, and `Unset` is ignored (the counterpart of `tracing-opentelemetry`'s
    /// `OpenTelemetrySpanExt::set_status`, for a span that declares no `otel.status_code`
    /// field). A no-op if the span is not sampled or no [`SpanLayer`] saw
    /// it.
    ///
    /// ```
    /// use obs_trace::opentelemetry::trace::Status;
    /// use obs_trace::{InMemorySpanSink, SpanExt, SpanLayer};
    /// use tracing_subscriber::prelude::*;
    ///
    /// let sink = InMemorySpanSink::new();
    /// let layer = SpanLayer::new().with_sink(std::sync::Arc::new(sink.clone()));
    /// tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
    ///     tracing::info_span!("charge").set_status(Status::error("card declined"));
    /// });
    /// assert_eq!(sink.take()[0].status, Status::error("card declined"));
    /// ```
    fn set_status(&self, status: Status);
    /// Links the span to `context` with `attributes` (OpenTelemetry Trace API, "Link"):
    /// to a context from elsewhere, such as the `traceparent` of each message a consumer
    /// handles in one batch. For another `tracing` span, `span.follows_from(&other)` does the
    /// same. Kept within the layer's [`SpanLimits`](crate::SpanLimits); a no-op if the span
    /// is not sampled or no [`SpanLayer`] saw it.
    ///
    /// ```
    /// use obs_trace::{InMemorySpanSink, SpanExt, SpanLayer, extract, opentelemetry};
    /// use tracing_subscriber::prelude::*;
    ///
    /// let sink = InMemorySpanSink::new();
    /// let layer = SpanLayer::new().with_sink(std::sync::Arc::new(sink.clone()));
    /// let subscriber = tracing_subscriber::registry().with(layer);
    /// tracing::subscriber::with_default(subscriber, || {
    ///     let mut message = http::HeaderMap::new();
    ///     message.insert(
    ///         "traceparent",
    ///         "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".parse().unwrap(),
    ///     );
    ///     let producer = extract(&message).span.expect("a valid traceparent");
    ///     let batch = tracing::info_span!("process batch");
    ///     let index = opentelemetry::KeyValue::new("messaging.batch.index", 0);
    ///     batch.add_link(producer.clone(), vec![index]);
    ///     drop(batch);
    ///     let links = &sink.take()[0].links;
    ///     assert_eq!(links[0].span_context.trace_id, producer.trace_id);
    /// });
    /// ```
    fn add_link(&self, context: SpanContext, attributes: Vec<KeyValue>);
    /// Ends the span now as far as its end time goes, as the OpenTelemetry Trace API's End
    /// does, for a span whose `tracing` handles outlive the operation it measures: one
    /// entered by a task spawned with `in_current_span` that runs on after the request. A
    /// `tracing` span ends when its last handle is dropped; it is still exported then, but
    /// with this end time. The first call wins, and what comes after it (a status,
    /// attributes, events, links) is ignored, as the Trace API has it ("ignore all
    /// subsequent calls to End and any other Span methods"); child spans and log lines still
    /// carry its context. obs's HTTP and gRPC middleware call it when a call ends. A no-op
    /// if the span is not sampled or no [`SpanLayer`] saw it.
    ///
    /// ```
    /// use obs_trace::{InMemorySpanSink, SpanExt, SpanLayer};
    /// use tracing_subscriber::prelude::*;
    ///
    /// let sink = InMemorySpanSink::new();
    /// let layer = SpanLayer::new().with_sink(std::sync::Arc::new(sink.clone()));
    /// tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
    ///     let request = tracing::info_span!("request");
    ///     let background = request.clone(); // a task's, say
    ///     request.end();
    ///     drop(request);
    ///     tracing::info_span!("later").in_scope(|| {});
    ///     drop(background); // the span closes: exported
    /// });
    /// let spans = sink.take();
    /// let (later, request) = (&spans[0], &spans[1]);
    /// assert!(request.end_time <= later.start_time);
    /// ```
    fn end(&self);
}

/// Calls `f` with the state of the nearest traced span from the `tracing::Span` up.
fn with_nearest_state<R>(span: &tracing::Span, f: impl FnOnce(&SpanState) -> R) -> Option<R> {
    span.with_subscriber(|(id, dispatch)| {
        let registry = dispatch.downcast_ref::<Registry>()?;
        nearest_state(registry.span(id)?, f)
    })
    .flatten()
}

/// Calls `f` with the state of the nearest traced span from `span` up: the span itself, or,
/// if [`SpanLayer`] gave it no identity, the closest ancestor it did.
pub(crate) fn nearest_state<'a, R: LookupSpan<'a>, T>(
    span: tracing_subscriber::registry::SpanRef<'a, R>,
    f: impl FnOnce(&SpanState) -> T,
) -> Option<T> {
    let mut f = Some(f);
    span.scope().find_map(|s| {
        let ext = s.extensions();
        let state = ext.get::<SpanState>()?;
        f.take().map(|f| f(state))
    })
}

fn with_state_mut(span: &tracing::Span, f: impl FnOnce(&mut SpanState)) {
    span.with_subscriber(|(id, dispatch)| {
        let Some(registry) = dispatch.downcast_ref::<Registry>() else {
            return;
        };
        // Every change is a no-op on a span that does not record, which this thread often
        // knows without a lookup: middleware ends its span right after its last exit.
        if active::known_records(active::owner_of(registry), id.into_u64()) == Some(false) {
            return;
        }
        if let Some(data) = registry.span(id)
            && let Some(state) = data.extensions_mut().get_mut::<SpanState>()
        {
            f(state);
        }
    });
}

/// `span`, or, if it does not exist (disabled), the current span, kept in `current`: what
/// runs "in" a disabled span runs in the current one, and carries its baggage.
fn existing_or_current<'a>(
    span: &'a tracing::Span,
    current: &'a mut Option<tracing::Span>,
) -> &'a tracing::Span {
    if span.is_disabled() {
        current.insert(tracing::Span::current())
    } else {
        span
    }
}

impl SpanExt for tracing::Span {
    fn span_context(&self) -> Option<SpanContext> {
        with_nearest_state(self, |s| s.context.clone())
    }

    fn baggage(&self) -> Baggage {
        let mut current = None;
        let span = existing_or_current(self, &mut current);
        with_nearest_state(span, |s| s.baggage.clone()).unwrap_or_default()
    }

    fn set_baggage(&self, baggage: Baggage) {
        let mut current = None;
        let span = existing_or_current(self, &mut current);
        span.with_subscriber(|(id, dispatch)| {
            // Only a span layer pops what is entered below.
            if dispatch.downcast_ref::<SpanLayer>().is_none() {
                return;
            }
            let Some(registry) = dispatch.downcast_ref::<Registry>() else {
                return;
            };
            let Some(span) = registry.span(id) else {
                return;
            };
            let owner = active::owner_of(registry);
            let mut ext = span.extensions_mut();
            let (entered, records) = if let Some(state) = ext.get_mut::<SpanState>() {
                state.baggage = baggage;
                (state.active(), state.records())
            } else {
                drop(ext);
                // No identity of its own: it carries the context it runs in, that of the
                // nearest traced span around it, or else (a root) what is current here.
                let around = span
                    .parent()
                    .and_then(|parent| nearest_state(parent, SpanState::active))
                    .or_else(|| active::with_current_entered(owner, |e| e.cloned()))
                    .unwrap_or_default();
                let state = SpanState::inheriting(around, baggage);
                let entered = state.active();
                span.extensions_mut().insert(state);
                (entered, false)
            };
            let innermost = registry.current_span().id() == Some(id);
            active::set_baggage(owner, id.into_u64(), &entered, records, innermost);
        });
    }

    fn set_attribute(&self, key: impl Into<Key>, value: impl Into<Value>) {
        with_state_mut(self, |s| s.set_attribute(KeyValue::new(key, value)));
    }

    fn set_status(&self, status: Status) {
        with_state_mut(self, |s| s.set_status(status));
    }

    fn add_link(&self, context: SpanContext, attributes: Vec<KeyValue>) {
        // The layer's limits: found through the dispatcher, as `tracing` layers are.
        let limits = self
            .with_subscriber(|(_, dispatch)| {
                dispatch.downcast_ref::<SpanLayer>().map(|l| *l.limits())
            })
            .flatten()
            .unwrap_or_default();
        with_state_mut(self, |s| s.add_link(context, attributes, &limits));
    }

    fn end(&self) {
        with_state_mut(self, SpanState::end);
    }
}

/// The context [`SpanLayer`] gave the span `id` (or the nearest traced
/// span around it, as [`SpanExt::span_context`] says), looked up from another layer's
/// callback: for an event whose explicit `parent:` is not the current span. `None` if the
/// span is not visible to that layer or the span layer saw none of its scope.
pub fn span_context_of<S>(
    ctx: &tracing_subscriber::layer::Context<'_, S>,
    id: &tracing_core::span::Id,
) -> Option<SpanContext>
where
    S: tracing_core::Subscriber + for<'a> LookupSpan<'a>,
{
    nearest_state(ctx.span(id)?, |s| s.context.clone())
}
