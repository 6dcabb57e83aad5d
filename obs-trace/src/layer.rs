//! [`SpanLayer`]: records `tracing` spans as OpenTelemetry spans, lean enough for every request.
//!
//! Per span it keeps one small state struct in the registry's extensions: ids, flags, and,
//! only when the span is sampled, its name, start time and attributes (within its
//! [`SpanLimits`]). On close a sampled span becomes a [`SpanData`] and goes to the
//! [`SpanSink`]; nothing else is built, locked or sent on the application's thread.

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt;
use std::sync::Arc;

use opentelemetry::trace::{SpanKind, Status};
use opentelemetry::{Array, Key, KeyValue, StringValue, Value};
use tracing_core::field::{Field, Visit};
use tracing_core::span::{Attributes, Id, Record};
use tracing_core::subscriber::Interest;
use tracing_core::{Event, Metadata, Subscriber};
use tracing_log::NormalizeEvent;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use crate::active::{self, ActiveContext, Entered, Owner};
use crate::clock::Stamp;
use crate::ext::nearest_state;
use crate::unsampled::inside_unsampled_trace;
use crate::{
    AttributeLimits, Baggage, ERROR_FIELD, EXCEPTION_MESSAGE, ErrorChain, FORMAT_PANICKED, Sampler,
    SpanContext, SpanData, SpanEvent, SpanId, SpanLimits, SpanLink, SpanSink, TraceFlags, TraceId,
    UnsampledSpans, catch_format_panic,
};

/// A `tracing-subscriber` layer that gives every span an OpenTelemetry identity, samples it
/// and sends the sampled ones, finished, to a [`SpanSink`].
///
/// Fields with these names steer the OpenTelemetry span (the names `tracing-opentelemetry`
/// uses): `otel.name` (span name), `otel.kind` (`server`, `client`, `producer`, `consumer`,
/// `internal`), `otel.status_code` (`ok`, `error`), `otel.status_description` (or
/// `otel.status_message`: an Error status with that description), whether given when the
/// span is created or recorded later. Every other field becomes an attribute, dotted names
/// (`http.request.method`) kept as written. An `ERROR` event inside a span sets its status
/// to Error (inside a span the layer does not trace, the nearest traced span's), described
/// by the event's `error` field if it has one, and so does an event with an `error` field
/// and no message that the traces filter lets through (`#[instrument(err)]`'s,
/// `err(level = "warn")`'s too: the call failed, whatever level its error is logged at;
/// not `info!(error = false)`, whose `error` is a flag or a number, no error), as
/// `tracing-opentelemetry` sets it; status Ok is final, and Unset is never set back
/// (OpenTelemetry Trace API, Set Status). With span events on, an error with no message
/// (not a flag or a number) is recorded as the semantic conventions' `exception` event, the
/// error in `exception.message`, as `tracing-opentelemetry` records it. An error value
/// (`error = &err as &dyn Error`) reads as [`ErrorChain`] shows it, with its sources, as
/// in `obs-log`'s records and lines.
///
/// A span created with no `tracing` span current (and no explicit parent) takes the
/// OpenTelemetry context attached on the thread (`Context::attach`), if any, as its parent
/// and baggage, as `tracing-opentelemetry` does.
///
/// A sampled span keeps within its [`SpanLimits`] ([`with_limits`](Self::with_limits), the
/// spec's defaults unless set) as it records, not only at export: erroneous code that adds
/// attributes or events without end, or a huge string, can't grow a long-lived span's memory
/// without bound. Attributes with new keys over the count and events over theirs are not
/// kept, only counted ([`SpanData::dropped_attributes_count`],
/// [`SpanData::dropped_events_count`], [`SpanEvent::dropped_attributes_count`]); a new value
/// for a key the span has keeps replacing the old one. Longer strings are cut to the value
/// length, by characters, before they are stored.
#[derive(Clone)]
pub struct SpanLayer {
    inner: Arc<Inner>,
    /// The subscriber this layer is part of, which tags what it makes current on a thread.
    owner: Owner,
}

struct Inner {
    sampler: Sampler,
    sink: Option<Arc<dyn SpanSink>>,
    record_events: bool,
    unsampled_spans: UnsampledSpans,
    traces_filter: Option<Targets>,
    limits: SpanLimits,
    /// `limits.attributes`, and the limits of an event's attributes, as a recording keeps
    /// them.
    span_attributes: Limits,
    event_attributes: Limits,
    /// Whether the subscriber's other layers may want an event callsite
    /// ([`SpanLayer::with_other_layers_events`]); `None`: unknown, so every one is kept.
    others_want_event: Option<EventCallsiteFilter>,
}

/// What [`SpanLayer::with_other_layers_events`] takes.
type EventCallsiteFilter = Arc<dyn Fn(&'static Metadata<'static>) -> bool + Send + Sync>;

impl Inner {
    fn set_limits(&mut self, limits: SpanLimits) {
        self.limits = limits;
        self.span_attributes = Limits::new(limits.attributes.count, limits.attributes);
        self.event_attributes = Limits::new(limits.event_attribute_count, limits.attributes);
    }
}

impl fmt::Debug for SpanLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpanLayer")
            .field("sampler", &self.inner.sampler)
            .field("sink", &self.inner.sink)
            .field("record_events", &self.inner.record_events)
            .field("unsampled_spans", &self.inner.unsampled_spans)
            .field("traces_filter", &self.inner.traces_filter)
            .field("limits", &self.inner.limits)
            .field(
                "other_layers_events",
                &self.inner.others_want_event.as_ref().map(|_| ".."),
            )
            .finish()
    }
}

impl Default for SpanLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl SpanLayer {
    /// A layer with the default sampler (`parentbased_always_on`) and no sink: ids are made
    /// and propagated, logs are stamped, nothing is exported.
    pub fn new() -> Self {
        crate::clock::calibrate();
        SpanLayer {
            owner: Owner::default(),
            inner: Arc::new(Inner {
                sampler: Sampler::default(),
                sink: None,
                record_events: false,
                unsampled_spans: UnsampledSpans::default(),
                traces_filter: None,
                limits: SpanLimits::DEFAULT,
                span_attributes: Limits::new(
                    SpanLimits::DEFAULT.attributes.count,
                    SpanLimits::DEFAULT.attributes,
                ),
                event_attributes: Limits::new(
                    SpanLimits::DEFAULT.event_attribute_count,
                    SpanLimits::DEFAULT.attributes,
                ),
                others_want_event: None,
            }),
        }
    }

    fn map(self, f: impl FnOnce(&mut Inner)) -> Self {
        let mut inner = Arc::try_unwrap(self.inner).unwrap_or_else(|shared| Inner {
            sampler: shared.sampler.clone(),
            sink: shared.sink.clone(),
            record_events: shared.record_events,
            unsampled_spans: shared.unsampled_spans,
            traces_filter: shared.traces_filter.clone(),
            limits: shared.limits,
            span_attributes: shared.span_attributes,
            event_attributes: shared.event_attributes,
            others_want_event: shared.others_want_event.clone(),
        });
        f(&mut inner);
        SpanLayer {
            inner: Arc::new(inner),
            owner: self.owner,
        }
    }

    /// Sets the head sampler. Defaults to [`Sampler::default`] (`parentbased_always_on`).
    pub fn with_sampler(self, sampler: Sampler) -> Self {
        self.map(|i| i.sampler = sampler)
    }

    /// Sends finished sampled spans to `sink`. Defaults to none.
    pub fn with_sink(self, sink: Arc<dyn SpanSink>) -> Self {
        self.map(|i| i.sink = Some(sink))
    }

    /// Records `tracing` events inside a sampled span as span events too: those the traces
    /// filter ([`with_traces_filter`](Self::with_traces_filter)) lets through, by their
    /// target and level, as it does spans (so `debug!` and `trace!` stay out under the
    /// default `info`). Defaults to `false`: events are logs, and `obs-log` exports them as
    /// OTLP log records already.
    pub fn with_span_events(self, record: bool) -> Self {
        self.map(|i| i.record_events = record)
    }

    /// Which event callsites the subscriber's other layers may want (`false`: none of them
    /// ever does), so that `tracing` can skip the events nobody wants. Without it, this
    /// layer (a layer without a filter of its own) keeps every event callsite enabled, as it
    /// can't know what its neighbours' per-layer filters want: each `debug!` and `trace!`,
    /// of the application and of its dependencies (hyper and h2 log every connection and
    /// frame), has its fields evaluated and is dispatched to every layer, only for each
    /// filter to drop it. With it, an event callsite this layer doesn't need (it needs ERROR
    /// events and the errors with no message its traces filter lets through, which fail
    /// their span, and every event with span events on) and that `others_want` rules out
    /// is disabled for good: `obs_core::init` passes its `RUST_LOG` filter here.
    ///
    /// ```
    /// use tracing_subscriber::{EnvFilter, Registry, layer::Filter, prelude::*};
    ///
    /// // The filter of the log layers (each added `.with_filter(EnvFilter::new("info"))`).
    /// let logs = EnvFilter::new("info");
    /// let spans = obs_trace::SpanLayer::new().with_other_layers_events(move |callsite| {
    ///     !<EnvFilter as Filter<Registry>>::callsite_enabled(&logs, callsite).is_never()
    /// });
    /// let subscriber = tracing_subscriber::registry().with(spans);
    /// # drop(subscriber);
    /// ```
    pub fn with_other_layers_events(
        self,
        others_want: impl Fn(&'static Metadata<'static>) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.map(|i| i.others_want_event = Some(Arc::new(others_want)))
    }

    /// The limits a sampled span keeps within as it records. Defaults to
    /// [`SpanLimits::DEFAULT`] (the spec's: 128 attributes of any length, 128 events of 128
    /// attributes).
    ///
    /// The first attributes set are kept, up to [`AttributeLimits::count`]; another key is
    /// dropped and counted in [`SpanData::dropped_attributes_count`], while a new value of a
    /// key the span has still replaces it. Events over [`SpanLimits::event_count`] are
    /// dropped and counted in [`SpanData::dropped_events_count`], attributes of an event
    /// over [`SpanLimits::event_attribute_count`] in its
    /// [`SpanEvent::dropped_attributes_count`]. String values (in string arrays too) are cut
    /// to [`AttributeLimits::value_length`] characters, on a character boundary, before they
    /// are stored.
    pub fn with_limits(self, limits: SpanLimits) -> Self {
        self.map(|i| i.set_limits(limits))
    }

    /// The limits the layer keeps spans within.
    pub(crate) fn limits(&self) -> &SpanLimits {
        &self.inner.limits
    }

    /// Whether spans created inside unsampled traces exist for the other layers. Defaults to
    /// [`UnsampledSpans::Keep`]: other layers (a JSON log layer) see them as usual;
    /// [`UnsampledSpans::Skip`] does not create them at all, for the cost of a disabled span.
    pub fn with_unsampled_spans(self, unsampled_spans: UnsampledSpans) -> Self {
        self.map(|i| i.unsampled_spans = unsampled_spans)
    }

    /// Which spans, by target and level, become OpenTelemetry spans, which errors with no
    /// message fail their span, and, with span events on, which events become span events.
    /// Defaults to all. The other spans are left to the other layers as they are; a traced
    /// span inside one takes the nearest traced span around it as its parent, and an event
    /// inside one belongs to that span (an `ERROR` fails it, whatever the filter says of
    /// the event; with span events on, an event the filter lets through is one of its
    /// events).
    ///
    /// The layer filters for itself, rather than under a per-layer filter
    /// (`Layer::with_filter`), because a per-layer filter looks each span up in the registry
    /// again on every enter, exit and close: about 15% of a span's cost. Wrapping it in one
    /// still works, but spans inside unsampled traces are then created for the other layers
    /// ([`UnsampledSpans::Skip`] can't take effect: `tracing` caches that an enabled span
    /// callsite is always wanted, and never asks again), and a span whose explicit parent
    /// the filter hides can't see that parent's ancestors: it takes the current span's
    /// context instead (right when the parent is the current `tracing` span or inside it).
    pub fn with_traces_filter(self, filter: Targets) -> Self {
        self.map(|i| i.traces_filter = Some(filter))
    }

    #[inline]
    fn traces(&self, meta: &Metadata<'_>) -> bool {
        self.inner
            .traces_filter
            .as_ref()
            .is_none_or(|f| f.would_enable(meta.target(), meta.level()))
    }

    /// Whether the traces filter lets `event` into a span's events: by its own target and
    /// level, a `log` record's included (its callsite's target is `log`).
    fn traces_event(&self, event: &Event<'_>) -> bool {
        match event.normalized_metadata() {
            Some(meta) => self.traces(&meta),
            None => self.traces(event.metadata()),
        }
    }
}

/// Per-span state in the registry's extensions.
pub(crate) struct SpanState {
    pub(crate) context: SpanContext,
    pub(crate) baggage: Baggage,
    parent_span_id: SpanId,
    parent_is_remote: bool,
    /// The nearest span up from this one, itself included, whose parent is remote or
    /// absent: what tail sampling groups spans by.
    local_root: SpanId,
    // Inline, not boxed: the extension map already boxes the whole state once.
    recording: Option<Recording>,
    /// The context is not the span's own but that of the nearest traced span around it
    /// ([`SpanState::inheriting`]): its events go to that span.
    inherited: bool,
}

struct Recording {
    name: Cow<'static, str>,
    kind: SpanKind,
    status: Status,
    start_time: Stamp,
    /// Set by [`SpanState::end`]: the end of the operation the span measures, when `tracing`
    /// closes the span later (a clone held by a task it spawned), in nanoseconds after
    /// `start_time` (at least 1, for the niche: 8 bytes, not a `SystemTime`'s 16). `None`:
    /// the close.
    ended_after: Option<std::num::NonZeroU64>,
    attributes: Vec<KeyValue>,
    events: Vec<SpanEvent>,
    /// Boxed: few spans have links, and every sampled span carries the field.
    links: Option<Box<Links>>,
    /// The limits of `attributes` (a span's own, or an event's while it is recorded).
    limits: Limits,
    dropped_attributes: u32,
    dropped_events: u32,
}

#[derive(Default)]
struct Links {
    kept: Vec<SpanLink>,
    dropped: u32,
}

impl Recording {
    #[inline(always)]
    fn new(name: Cow<'static, str>, limits: Limits, capacity: usize) -> Recording {
        Recording {
            name,
            kind: SpanKind::Internal,
            status: Status::Unset,
            start_time: Stamp::now(),
            ended_after: None,
            attributes: Vec::with_capacity(capacity.min(limits.count as usize)),
            events: Vec::new(),
            links: None,
            limits,
            dropped_attributes: 0,
            dropped_events: 0,
        }
    }

    /// Appends an attribute with a key the span does not have yet, or counts it if the span
    /// has all it may keep.
    #[inline(always)]
    fn push(&mut self, attribute: KeyValue) {
        if self.attributes.len() < self.limits.count as usize {
            self.attributes.push(attribute);
        } else {
            self.dropped_attributes = self.dropped_attributes.saturating_add(1);
        }
    }

    /// Sets the status as the OpenTelemetry Trace API's Set Status says: Ok is final, and
    /// an attempt to set Unset is ignored.
    fn set_status(&mut self, status: Status) {
        if status != Status::Unset && self.status != Status::Ok {
            self.status = status;
        }
    }

    /// Brings attributes appended as they are (by [`SpanStart`]) within the limits: those
    /// over the count dropped and counted, strings cut.
    #[inline]
    fn enforce_limits(&mut self) {
        let count = self.limits.count as usize;
        if self.attributes.len() > count {
            let over = u32::try_from(self.attributes.len() - count).unwrap_or(u32::MAX);
            self.dropped_attributes = self.dropped_attributes.saturating_add(over);
            self.attributes.truncate(count);
        }
        if self.limits.value_length != Limits::ANY_LENGTH {
            let limits = self.limits;
            for kv in &mut self.attributes {
                limits.cut_value(&mut kv.value);
            }
        }
    }
}

/// [`AttributeLimits`] as a recording keeps them: two `u32`s rather than 24 bytes, which
/// every sampled span would carry. A count or a length beyond `u32` can't be reached in
/// practice: it is taken as no limit here (the exporter still applies the exact one).
#[derive(Clone, Copy, Debug)]
struct Limits {
    count: u32,
    /// `ANY_LENGTH` for none.
    value_length: u32,
}

impl Limits {
    const ANY_LENGTH: u32 = u32::MAX;

    fn new(count: usize, attributes: AttributeLimits) -> Limits {
        let clamp = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        Limits {
            count: clamp(count),
            value_length: attributes.value_length.map_or(Limits::ANY_LENGTH, clamp),
        }
    }

    #[inline(always)]
    fn value_length(self) -> Option<usize> {
        (self.value_length != Limits::ANY_LENGTH).then_some(self.value_length as usize)
    }

    /// `s` cut to the value length ([`AttributeLimits::truncate`]).
    #[inline(always)]
    fn truncate(self, s: &str) -> &str {
        AttributeLimits {
            count: self.count as usize,
            value_length: self.value_length(),
        }
        .truncate(s)
    }

    /// Cuts a string value, or each string of an array, to the value length.
    #[inline]
    fn cut_value(self, value: &mut Value) {
        if self.value_length == Limits::ANY_LENGTH {
            return;
        }
        match value {
            Value::String(s) => self.cut_string(s),
            Value::Array(Array::String(strings)) => {
                strings.iter_mut().for_each(|s| self.cut_string(s));
            }
            _ => {}
        }
    }

    fn cut_string(self, s: &mut StringValue) {
        let kept = self.truncate(s.as_str());
        if kept.len() < s.as_str().len() {
            // A copy of the part kept: the whole string is freed now, not at export.
            let kept = kept.to_owned();
            *s = StringValue::from(kept);
        }
    }
}

impl SpanState {
    /// The state of an untraced span that passes a remote parent on: the caller's context
    /// as the current one, never recorded, a local root for whatever is traced inside.
    fn carrier(remote: &RemoteParent) -> SpanState {
        let context = remote.span.clone().unwrap_or_default();
        SpanState {
            parent_span_id: context.span_id,
            context,
            baggage: remote.baggage.clone(),
            parent_is_remote: true,
            local_root: SpanId::INVALID,
            recording: None,
            inherited: false,
        }
    }

    /// The state of an untraced span given baggage of its own
    /// ([`SpanExt::set_baggage`](crate::SpanExt::set_baggage)): `around`, the context it runs
    /// in (the nearest traced span's around it), with `baggage`; never recorded.
    pub(crate) fn inheriting(around: Entered, baggage: Baggage) -> SpanState {
        let context = around.active.span;
        SpanState {
            parent_span_id: context.span_id,
            parent_is_remote: context.is_remote,
            context,
            baggage,
            local_root: around.local_root,
            recording: None,
            inherited: true,
        }
    }

    /// Whether the span records (is sampled and will be exported).
    pub(crate) fn records(&self) -> bool {
        self.recording.is_some()
    }

    /// What becomes current on this thread while the span is entered.
    pub(crate) fn active(&self) -> Entered {
        Entered {
            active: ActiveContext {
                span: self.context.clone(),
                baggage: self.baggage.clone(),
            },
            local_root: self.local_root,
        }
    }

    /// Whether the span is open to updates: not if it is not sampled or
    /// [`SpanState::end`] has ended it, since the Trace API has an implementation "ignore
    /// all subsequent calls to End and any other Span methods" (Span, End): a task spawned
    /// with `in_current_span` that logs an error after the response does not fail the
    /// request's span, nor add to it.
    fn is_open(&self) -> bool {
        self.recording
            .as_ref()
            .is_some_and(|rec| rec.ended_after.is_none())
    }

    /// The recording while it is open ([`SpanState::is_open`]), to update.
    fn open_recording(&mut self) -> Option<&mut Recording> {
        self.recording
            .as_mut()
            .filter(|rec| rec.ended_after.is_none())
    }

    /// Sets an attribute whose key is only known at run time (a captured header); a later
    /// value for the same key replaces the earlier one. Unsampled spans record nothing.
    pub(crate) fn set_attribute(&mut self, mut attribute: KeyValue) {
        let Some(rec) = self.open_recording() else {
            return;
        };
        rec.limits.cut_value(&mut attribute.value);
        match rec.attributes.iter_mut().find(|kv| kv.key == attribute.key) {
            Some(kv) => kv.value = attribute.value,
            None => rec.push(attribute),
        }
    }

    /// Ends the span now as far as its end time goes ([`SpanExt::end`](crate::SpanExt::end)):
    /// the first call wins. Unsampled spans record nothing.
    pub(crate) fn end(&mut self) {
        if let Some(rec) = self.open_recording() {
            rec.ended_after = std::num::NonZeroU64::new(rec.start_time.elapsed_nanos().max(1));
        }
    }

    /// Sets the span's status ([`Recording::set_status`]). Unsampled spans record nothing.
    pub(crate) fn set_status(&mut self, status: Status) {
        if let Some(rec) = self.open_recording() {
            rec.set_status(status);
        }
    }

    /// Links the span to `context`, within `limits`. Unsampled spans record nothing. A link
    /// to an invalid context is kept only if it carries something (attributes or a trace
    /// state), as the Trace API says ("Link").
    pub(crate) fn add_link(
        &mut self,
        context: SpanContext,
        mut attributes: Vec<KeyValue>,
        limits: &SpanLimits,
    ) {
        let Some(rec) = self.open_recording() else {
            return;
        };
        if !context.is_valid() && attributes.is_empty() && context.trace_state.is_empty() {
            return;
        }
        let links = rec.links.get_or_insert_default();
        if links.kept.len() >= limits.link_count {
            links.dropped = links.dropped.saturating_add(1);
            return;
        }
        let kept = attributes.len().min(limits.link_attribute_count);
        let dropped = u32::try_from(attributes.len() - kept).unwrap_or(u32::MAX);
        attributes.truncate(kept);
        for kv in &mut attributes {
            rec.limits.cut_value(&mut kv.value);
        }
        links.kept.push(SpanLink {
            span_context: context,
            attributes,
            dropped_attributes_count: dropped,
        });
    }
}

/// The parent a span about to be created must take, in place of the contextual one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RemoteParent {
    /// The caller's span context; `None` starts a new trace (no valid `traceparent` came in).
    pub span: Option<SpanContext>,
    /// The caller's baggage.
    pub baggage: Baggage,
}

/// The remote parent the next span created on this thread must take, and whether its
/// OpenTelemetry side will be described to [`SpanLayer`] by
/// [`RemoteParent::span_with_attributes`] (then its `tracing` fields are not visited).
struct PendingParent {
    parent: RemoteParent,
    described: bool,
}

thread_local! {
    static PENDING_PARENT: RefCell<Option<PendingParent>> = const { RefCell::new(None) };
}

/// Whether the span about to be created on this thread was given a remote parent.
fn has_pending_parent() -> bool {
    PENDING_PARENT
        .try_with(|p| p.try_borrow().is_ok_and(|p| p.is_some()))
        .unwrap_or(false)
}

/// Creates a span (with `make`, typically `tracing::info_span!(..)`) as the child of a remote
/// caller's context, or as a new root, whatever span is current on this thread.
///
/// This is how middleware starts SERVER spans: the extracted context becomes the parent
/// before the span's sampling decision is taken, so parent-based samplers honour the
/// caller's `sampled` flag.
///
/// The span must reach the [`SpanLayer`] for the caller's context to live on in it: a
/// span that a global filter disables (a `LevelFilter` added as a layer), or that a
/// per-layer filter on the span layer hides from it, takes nothing, and what runs inside
/// it starts a new trace. Leave such choices to [`SpanLayer::with_traces_filter`], under
/// which a span it filters out still passes the caller's context on to what runs inside.
pub fn span_with_remote_parent(
    parent: RemoteParent,
    make: impl FnOnce() -> tracing::Span,
) -> tracing::Span {
    with_pending_parent(parent, false, make).0
}

/// Creates the span with `make` as the child of `parent`; also gives `parent` back if no
/// span layer took it: the span is disabled for every layer (a global filter), or the
/// subscriber has no [`SpanLayer`].
fn with_pending_parent(
    parent: RemoteParent,
    described: bool,
    make: impl FnOnce() -> tracing::Span,
) -> (tracing::Span, Option<RemoteParent>) {
    let _ =
        PENDING_PARENT.try_with(|p| *p.borrow_mut() = Some(PendingParent { parent, described }));
    let span = make();
    // A span layer took it, as a rule. If not, it must not leak into the next, unrelated
    // span.
    let left = if has_pending_parent() {
        take_pending_parent()
    } else {
        None
    };
    (span, left)
}

#[cold]
fn take_pending_parent() -> Option<RemoteParent> {
    PENDING_PARENT
        .try_with(|p| p.borrow_mut().take())
        .ok()
        .flatten()
        .map(|pending| pending.parent)
}

/// The OpenTelemetry side of a recording span that middleware is starting with
/// [`RemoteParent::span_with_attributes`]: its name, kind and attributes.
pub struct SpanStart<'a> {
    rec: &'a mut Recording,
}

impl fmt::Debug for SpanStart<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpanStart")
            .field("name", &self.rec.name)
            .field("kind", &self.rec.kind)
            .field("attributes", &self.rec.attributes)
            .finish()
    }
}

impl SpanStart<'_> {
    /// Sets the span name (the `tracing` span's name until then).
    pub fn set_name(&mut self, name: impl Into<Cow<'static, str>>) {
        self.rec.name = name.into();
    }

    /// Sets the span kind (`INTERNAL` until then).
    pub fn set_kind(&mut self, kind: SpanKind) {
        self.rec.kind = kind;
    }

    /// The span's attributes (empty until then), to push the known ones onto: appended as
    /// they are, without looking for an earlier value of the same key.
    ///
    /// The layer's [`SpanLimits`] are applied once the description is done (as they are to
    /// [`push_str`](Self::push_str) and [`push_i64`](Self::push_i64)): the first
    /// [`AttributeLimits::count`] attributes are kept, the others dropped and counted, and
    /// strings cut to [`AttributeLimits::value_length`].
    pub fn attributes(&mut self) -> &mut Vec<KeyValue> {
        &mut self.rec.attributes
    }

    /// Appends the string attribute `key` = `value`, like
    /// [`attributes`](Self::attributes)`.push`.
    #[inline(always)]
    pub fn push_str(&mut self, key: &'static str, value: impl Into<Cow<'static, str>>) {
        // Built here rather than by `Value::from`, which is not inlined across crates: its
        // result would come back through memory, eight bytes at a time, and be read back
        // sixteen at a time, which stalls on store forwarding (~5 ns per attribute).
        let value = match value.into() {
            Cow::Borrowed(s) => StringValue::from(s),
            Cow::Owned(s) => StringValue::from(s),
        };
        self.push_string(key, value);
    }

    /// Appends the string attribute `key` = `value`, shared rather than copied: for a value
    /// that span after span carries alike (a client's user agent), which the caller keeps.
    #[inline(always)]
    pub fn push_shared_str(&mut self, key: &'static str, value: Arc<str>) {
        self.push_string(key, StringValue::from(value));
    }

    /// Appends the string attribute `key` = `value`, built in place.
    #[inline(always)]
    fn push_string(&mut self, key: &'static str, value: StringValue) {
        push_in_place(&mut self.rec.attributes, || {
            KeyValue::new(Key::from_static_str(key), Value::String(value))
        });
    }

    /// Appends the integer attribute `key` = `value`.
    #[inline(always)]
    pub fn push_i64(&mut self, key: &'static str, value: i64) {
        push_in_place(&mut self.rec.attributes, || {
            KeyValue::new(Key::from_static_str(key), Value::I64(value))
        });
    }
}

/// Appends `attribute()` to `attributes`, building it straight into the vector's spare room
/// when it has some (the common case: a recording is made with room for each of its span's
/// fields). `Vec::push` alone builds the value on the stack first, since the vector may
/// have to grow before it is stored, and then copies it sixteen bytes at a time from the
/// eight-byte stores that built it: each copy stalls on store forwarding (`perf`'s samples
/// in the HTTP server's request attributes fell by ~40%, ~20 ns a request, without them).
#[inline(always)]
fn push_in_place(attributes: &mut Vec<KeyValue>, attribute: impl FnOnce() -> KeyValue) {
    if attributes.len() < attributes.capacity() {
        attributes.push(attribute());
    } else {
        push_growing(attributes, attribute());
    }
}

/// The rare path of [`push_in_place`], out of line: no call may come between building an
/// attribute and storing it.
#[cold]
#[inline(never)]
fn push_growing(attributes: &mut Vec<KeyValue>, attribute: KeyValue) {
    attributes.push(attribute);
}

impl RemoteParent {
    /// [`span_with_remote_parent`], with the OpenTelemetry side of the new span described
    /// by `describe` if it records (sampled, with a sink): a typed hand-off for middleware,
    /// cheaper than `tracing` fields (no `Visit` dispatch per field, nothing built for
    /// unsampled spans). The layer's [`SpanLimits`] are applied to what `describe` gives
    /// once it returns.
    ///
    /// [`SpanLayer`] takes the name, kind and attributes `describe` gives *instead of*
    /// visiting the span's `tracing` fields, which only the other layers (JSON logs, say)
    /// see: `describe` must give everything the span carries at the start. Fields recorded
    /// later with `Span::record` are added as usual (declare them `Empty` in `make`).
    pub fn span_with_attributes(
        self,
        make: impl FnOnce() -> tracing::Span,
        describe: impl FnOnce(&mut SpanStart<'_>),
    ) -> tracing::Span {
        self.span_or_parent(make, describe).0
    }

    /// [`span_with_attributes`](Self::span_with_attributes), and the caller's context when
    /// no span layer saw the new span: a global filter (`LevelFilter`, or an `EnvFilter`
    /// added as a layer of its own rather than with `.with_filter`) disabled it for every
    /// layer, or the subscriber has no [`SpanLayer`]. Middleware keeps that context current
    /// with [`enter_context`](crate::enter_context) while the request runs, so that the
    /// caller's trace still reaches the handler's logs and outgoing calls, as W3C Trace
    /// Context asks of a participant that records nothing (it passes the trace on). `None`
    /// when a span layer took the span, or when there is neither a caller's trace nor
    /// baggage to carry.
    pub fn span_or_parent(
        self,
        make: impl FnOnce() -> tracing::Span,
        describe: impl FnOnce(&mut SpanStart<'_>),
    ) -> (tracing::Span, Option<Box<ActiveContext>>) {
        let (span, untaken) = with_pending_parent(self, true, make);
        // Baggage is carried without a trace too (the two specs are independent), as a
        // span layer's carrier state carries it.
        let untraced_parent = untaken.and_then(|parent| {
            let span = parent.span.filter(SpanContext::is_valid);
            (span.is_some() || !parent.baggage.is_empty()).then(|| {
                Box::new(ActiveContext {
                    span: span.unwrap_or_default(),
                    baggage: parent.baggage,
                })
            })
        });
        if untraced_parent.is_some() {
            return (span, untraced_parent);
        }
        span.with_subscriber(|(id, dispatch)| {
            // An unsampled span records nothing: no need to look it up.
            if active::created_records(id.into_u64()) == Some(false) {
                return;
            }
            let Some(registry) = dispatch.downcast_ref::<tracing_subscriber::Registry>() else {
                return;
            };
            let Some(data) = registry.span_data(id) else {
                return;
            };
            let mut ext = tracing_subscriber::registry::SpanData::extensions_mut(&data);
            if let Some(rec) = ext
                .get_mut::<SpanState>()
                .and_then(|s| s.recording.as_mut())
            {
                describe(&mut SpanStart { rec: &mut *rec });
                // Once for all the attributes given, rather than in each push: a description
                // gives a dozen at most, and the pushes stay as cheap as `Vec::push`.
                rec.enforce_limits();
            }
        });
        (span, None)
    }
}

fn kind_from_str(s: &str) -> Option<SpanKind> {
    [
        ("server", SpanKind::Server),
        ("client", SpanKind::Client),
        ("producer", SpanKind::Producer),
        ("consumer", SpanKind::Consumer),
        ("internal", SpanKind::Internal),
    ]
    .into_iter()
    .find_map(|(name, kind)| s.eq_ignore_ascii_case(name).then_some(kind))
}

/// Records fields into a [`Recording`], within its limits. `fresh` is set for a new span's
/// own fields (and an event's), which a callsite declares once each, so they are appended
/// without looking for an earlier value; `event` for an event's, whose `message` is its name.
struct FieldVisitor<'a> {
    rec: &'a mut Recording,
    fresh: bool,
    event: bool,
}

impl<'a> FieldVisitor<'a> {
    fn new(rec: &'a mut Recording) -> Self {
        FieldVisitor {
            rec,
            fresh: false,
            event: false,
        }
    }

    fn fresh(rec: &'a mut Recording) -> Self {
        FieldVisitor {
            rec,
            fresh: true,
            event: false,
        }
    }

    fn event(rec: &'a mut Recording) -> Self {
        FieldVisitor {
            rec,
            fresh: true,
            event: true,
        }
    }

    /// Handles the `otel.*` fields that steer the span; `false` for any other field.
    fn steer(&mut self, name: &str, value: &str) -> bool {
        match name {
            "otel.name" => {
                // A span name names a class of spans, not an instance (OpenTelemetry's
                // tracing API): few enough to intern.
                self.rec.name = match known_value(value) {
                    Some(known) => Cow::Borrowed(known),
                    None => crate::intern(value),
                }
            }
            "otel.kind" => {
                if let Some(k) = kind_from_str(value) {
                    self.rec.kind = k;
                }
            }
            // A value that is no status is ignored; a description goes with Error only, and
            // an Error without one keeps the description it has.
            "otel.status_code" => {
                if value.eq_ignore_ascii_case("ok") {
                    self.rec.set_status(Status::Ok);
                } else if value.eq_ignore_ascii_case("error")
                    && !matches!(self.rec.status, Status::Error { .. })
                {
                    self.rec.set_status(Status::error(""));
                }
            }
            "otel.status_description" | "otel.status_message" => {
                self.rec.set_status(Status::error(value.to_owned()));
            }
            _ => return false,
        }
        true
    }

    /// Records a string field: `otel.*` steering, an event's message, or an attribute
    /// whose value (cut to the value length first) is borrowed from the known set when it
    /// is one, interned when its attribute's values are few, and otherwise copied once.
    fn set_str(&mut self, field: &Field, value: &str) {
        if field.name().starts_with("otel.") && self.steer(field.name(), value) {
            return;
        }
        if self.event && field.name() == "message" {
            self.rec.name = Cow::Owned(value.to_owned());
            return;
        }
        let value = self.rec.limits.truncate(value);
        let value = match known_value(value) {
            Some(known) => StringValue::from(known),
            None if has_few_values(field.name()) => StringValue::from(crate::intern(value)),
            None => StringValue::from(value.to_owned()),
        };
        self.insert(field.name(), Value::String(value));
    }

    fn set(&mut self, field: &Field, mut value: Value) {
        let name = field.name();
        if name.starts_with("otel.") && self.steer(name, &value.as_str()) {
            return;
        }
        if self.event && name == "message" {
            // An event's name, not an attribute: neither counted nor cut.
            self.rec.name = Cow::Owned(match value {
                Value::String(s) => s.into(),
                other => other.as_str().into_owned(),
            });
            return;
        }
        self.rec.limits.cut_value(&mut value);
        self.insert(name, value);
    }

    /// Records an integer as an OpenTelemetry integer (`i64`) if it fits, else as its
    /// decimal string, which keeps every digit.
    fn set_int<T: Copy + TryInto<i64> + fmt::Display>(&mut self, field: &Field, value: T) {
        match value.try_into() {
            Ok(v) => self.set(field, Value::I64(v)),
            Err(_) => self.set(field, Value::String(value.to_string().into())),
        }
    }

    // Inlined into its two callers: one call and one copy of the value fewer per field.
    #[inline(always)]
    fn insert(&mut self, name: &'static str, value: Value) {
        // Later records of a field replace earlier ones (e.g. the status code).
        if !self.fresh
            && let Some(kv) = self
                .rec
                .attributes
                .iter_mut()
                .find(|kv| kv.key.as_str() == name)
        {
            kv.value = value;
            return;
        }
        self.rec
            .push(KeyValue::new(Key::from_static_str(name), value));
    }
}

impl Visit for FieldVisitor<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.set(field, Value::F64(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.set(field, Value::I64(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.set_int(field, value);
    }
    // Not left to `record_debug` (which `Visit` defaults them to): a 128-bit value that fits
    // is an integer like any other, not a string of digits.
    fn record_i128(&mut self, field: &Field, value: i128) {
        self.set_int(field, value);
    }
    fn record_u128(&mut self, field: &Field, value: u128) {
        self.set_int(field, value);
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.set(field, Value::Bool(value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.set_str(field, value);
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // Formatted on the stack first, so the value is allocated once, at its exact size
        // (or not at all when it is a known value, e.g. a span name `GET`).
        // A `Debug` or `Display` that panics (user code) is recorded as the placeholder, as
        // the log layers write it: the panic must not unwind into the code that records.
        let mut buf = StackBuf::new();
        match catch_format_panic(|| fmt::write(&mut buf, format_args!("{value:?}"))) {
            Some(Ok(())) => self.set_str(field, buf.as_str()),
            None => self.set_str(field, FORMAT_PANICKED),
            Some(Err(_)) => {
                // An event's message, its name, is whole.
                let limit = if self.event && field.name() == "message" {
                    None
                } else {
                    self.rec.limits.value_length()
                };
                self.set(field, Value::String(format_capped(value, limit).into()));
            }
        }
    }
    // With its sources, as the log records and JSON lines show it (`Visit`'s default would
    // give its `Display` alone, which for most errors leaves the cause out).
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.record_debug(field, &ErrorChain(value));
    }
}

/// `value`'s `Debug` output on the heap, only as far as `limit` (characters): a huge value
/// is never copied whole. [`FORMAT_PANICKED`] if it panics.
fn format_capped(value: &dyn fmt::Debug, limit: Option<usize>) -> String {
    let mut out = CappedString::new(limit);
    // An error is the limit reached (or the value's own, after what it wrote).
    catch_format_panic(|| {
        let _ = fmt::write(&mut out, format_args!("{value:?}"));
    })
    .map_or_else(|| FORMAT_PANICKED.to_owned(), |()| out.text)
}

/// The `Debug` and `Display` values of a record, formatted before the span's state is
/// locked: they are user code, which may log inside the span or call [`SpanExt`] on it,
/// and either waits for that lock (the span layer's, or a log layer's reading the span's
/// fields) for ever on this thread. [`Replay`] then records them under the lock. Visits
/// the same values as [`FieldVisitor`] formats (what it does not override goes to
/// `record_debug` for both).
///
/// [`SpanExt`]: crate::SpanExt
struct Preformat {
    limit: Option<usize>,
    texts: Vec<String>,
}

impl Visit for Preformat {
    fn record_f64(&mut self, _: &Field, _: f64) {}
    fn record_i64(&mut self, _: &Field, _: i64) {}
    fn record_u64(&mut self, _: &Field, _: u64) {}
    fn record_i128(&mut self, _: &Field, _: i128) {}
    fn record_u128(&mut self, _: &Field, _: u128) {}
    fn record_bool(&mut self, _: &Field, _: bool) {}
    fn record_str(&mut self, _: &Field, _: &str) {}
    fn record_debug(&mut self, _: &Field, value: &dyn fmt::Debug) {
        self.texts.push(format_capped(value, self.limit));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.record_debug(field, &ErrorChain(value));
    }
}

/// Records a record's values with a [`FieldVisitor`], taking the `Debug` and `Display`
/// ones from their [`Preformat`]ted texts, in the order they were visited.
struct Replay<'a> {
    visitor: FieldVisitor<'a>,
    texts: std::vec::IntoIter<String>,
}

impl Visit for Replay<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.visitor.record_f64(field, value);
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.visitor.record_i64(field, value);
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.visitor.record_u64(field, value);
    }
    fn record_i128(&mut self, field: &Field, value: i128) {
        self.visitor.record_i128(field, value);
    }
    fn record_u128(&mut self, field: &Field, value: u128) {
        self.visitor.record_u128(field, value);
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.visitor.record_bool(field, value);
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.visitor.record_str(field, value);
    }
    fn record_debug(&mut self, field: &Field, _: &dyn fmt::Debug) {
        let text = self.texts.next().unwrap_or_default();
        // A known value or one of few is borrowed or interned (`set_str`); any other
        // keeps the text formatted for it, with no copy.
        if known_value(&text).is_some() || has_few_values(field.name()) {
            self.visitor.set_str(field, &text);
        } else {
            self.visitor.set(field, Value::String(text.into()));
        }
    }
    fn record_error(&mut self, field: &Field, _: &(dyn std::error::Error + 'static)) {
        self.record_debug(field, &());
    }
}

/// A formatting buffer on the heap that takes at most `left` more characters; writing past
/// them fails.
struct CappedString {
    text: String,
    /// `None` for no limit.
    left: Option<usize>,
}

impl CappedString {
    fn new(limit: Option<usize>) -> Self {
        CappedString {
            text: String::new(),
            left: limit,
        }
    }
}

impl fmt::Write for CappedString {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let Some(left) = self.left else {
            self.text.push_str(s);
            return Ok(());
        };
        let kept = AttributeLimits {
            value_length: Some(left),
            ..AttributeLimits::DEFAULT
        }
        .truncate(s);
        self.text.push_str(kept);
        if kept.len() < s.len() {
            self.left = Some(0);
            return Err(fmt::Error);
        }
        self.left = Some(left.saturating_sub(kept.chars().count()));
        Ok(())
    }
}

/// Attributes whose values the semantic conventions keep to a small set (a route template,
/// an RPC service and method, the host a client calls or a server is reached as): interned
/// rather than copied for every span.
fn has_few_values(name: &str) -> bool {
    matches!(
        name,
        "http.route" | "rpc.service" | "rpc.method" | "server.address"
    )
}

/// Values so common in semantic-convention attributes (HTTP methods, URL schemes, protocol
/// versions, `rpc.system`) that they are recorded as `&'static str`, with no allocation.
fn known_value(value: &str) -> Option<&'static str> {
    Some(match value {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "CONNECT" => "CONNECT",
        "OPTIONS" => "OPTIONS",
        "TRACE" => "TRACE",
        "PATCH" => "PATCH",
        "HTTP" => "HTTP",
        "_OTHER" => "_OTHER",
        "http" => "http",
        "https" => "https",
        "0.9" => "0.9",
        "1.0" => "1.0",
        "1.1" => "1.1",
        "2" => "2",
        "3" => "3",
        "grpc" => "grpc",
        _ => return None,
    })
}

/// A formatting buffer on the stack; writing more than it holds fails.
struct StackBuf {
    bytes: [u8; 128],
    len: usize,
}

impl StackBuf {
    fn new() -> Self {
        StackBuf {
            bytes: [0; 128],
            len: 0,
        }
    }

    fn as_str(&self) -> &str {
        // Only whole `&str`s are ever written, so the prefix is valid UTF-8.
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or_default()
    }
}

impl fmt::Write for StackBuf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        let dest = self.bytes.get_mut(self.len..end).ok_or(fmt::Error)?;
        dest.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Calls `decide` with the span's name as it is when the span is created: its `otel.name`
/// (middleware sets the route's, `GET /users/{id}`), else its `tracing` name. Asked for by
/// the samplers that decide by name only (a Jaeger per-operation strategy, whose operation
/// is the span name), when a trace's first span in this process is decided.
#[cold]
#[inline(never)]
fn with_span_name(attrs: &Attributes<'_>, decide: &mut dyn FnMut(&str) -> bool) -> bool {
    struct Name<'d> {
        decide: &'d mut dyn FnMut(&str) -> bool,
        answer: Option<bool>,
    }
    impl Visit for Name<'_> {
        fn record_str(&mut self, field: &Field, value: &str) {
            if field.name() == "otel.name" {
                self.answer = Some((self.decide)(value));
            }
        }
        fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
            if field.name() != "otel.name" {
                return;
            }
            let mut buf = StackBuf::new();
            match catch_format_panic(|| fmt::write(&mut buf, format_args!("{value:?}"))) {
                Some(Ok(())) => self.answer = Some((self.decide)(buf.as_str())),
                // Longer than the stack buffer: rare enough to allocate.
                Some(Err(_)) => {
                    if let Some(name) = catch_format_panic(|| format!("{value:?}")) {
                        self.answer = Some((self.decide)(&name));
                    }
                }
                // A `Debug` that panics leaves the `tracing` name, as recording does.
                None => {}
            }
        }
    }
    let meta = attrs.metadata();
    if meta.fields().field("otel.name").is_none() {
        return decide(meta.name());
    }
    let mut name = Name {
        decide,
        answer: None,
    };
    attrs.record(&mut name);
    match name.answer {
        Some(answer) => answer,
        // Declared `Empty`, to be recorded later: the `tracing` name is all there is now.
        None => (name.decide)(meta.name()),
    }
}

fn scope_of(target: &'static str) -> &'static str {
    // A crate name has no ':', so the first one starts the first `::` (a one-byte search,
    // much cheaper than a substring search or `split`).
    match target.bytes().position(|b| b == b':') {
        Some(end) => target.get(..end).unwrap_or(target),
        None => target,
    }
}

impl<S> tracing_subscriber::Layer<S> for SpanLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    // `always` is "no objection": the other layers decide. The spans this layer traces are
    // asked about one by one, to skip those inside unsampled traces.
    // `never` (an event that neither this layer nor any other wants) disables the callsite
    // for every layer: only when `with_other_layers_events` rules the others out.
    fn register_callsite(&self, meta: &'static Metadata<'static>) -> Interest {
        if meta.is_span() && self.inner.unsampled_spans == UnsampledSpans::Skip && self.traces(meta)
        {
            Interest::sometimes()
        } else if meta.is_event()
            && !self.inner.record_events
            && !self.fails_span(meta)
            && self
                .inner
                .others_want_event
                .as_ref()
                .is_some_and(|others_want| !others_want(meta))
        {
            Interest::never()
        } else {
            Interest::always()
        }
    }

    // `false` here disables the span for every layer, as `UnsampledSpans::Skip` says; never
    // a span given a remote parent, which starts (or continues) a trace of its own.
    fn enabled(&self, meta: &Metadata<'_>, _ctx: Context<'_, S>) -> bool {
        !(self.inner.unsampled_spans == UnsampledSpans::Skip
            && inside_unsampled_trace(self.owner.get(), meta)
            && self.traces(meta)
            && !has_pending_parent())
    }

    #[inline]
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let pending = PENDING_PARENT
            .try_with(|p| p.borrow_mut().take())
            .ok()
            .flatten();
        let traced = self.traces(attrs.metadata());
        let owner = self.owner.get();
        if pending.is_none()
            && (!traced
                // Kept for the other layers only (with `Skip` these never get here). Only a
                // span whose parent is the current span: one that names its parent (another
                // trace's, or none) is in that parent's trace, or starts one.
                || (self.inner.unsampled_spans == UnsampledSpans::Keep
                    && attrs.is_contextual()
                    && inside_unsampled_trace(owner, attrs.metadata())))
        {
            // The registry hands a slot out again only on the thread that owns it, here, and
            // its generation wraps after 8192 reuses: a span remembered on this thread and
            // closed on another may share this id. Entering this span must not bring that
            // span's context back (the traced paths below remember this span instead).
            active::forget_remembered(owner, id.into_u64());
            return;
        }
        let Some(span) = ctx.span(id) else { return };
        if let Some(pending) = pending.as_ref().filter(|_| !traced) {
            // A span given a remote parent but not traced itself (its level or target is
            // filtered out) still carries the caller's context, untouched: its traced
            // descendants and its log lines continue the caller's trace instead of losing it.
            let state = SpanState::carrier(&pending.parent);
            active::remember(owner, id.into_u64(), state.active(), false);
            span.extensions_mut().insert(state);
            return;
        }
        let described = pending.as_ref().is_some_and(|p| p.described);
        // The parent, the baggage, and the parent's local root when the parent is local.
        let (parent, baggage, local_root) = match pending {
            Some(PendingParent { parent, .. }) => (parent.span, parent.baggage, SpanId::INVALID),
            None => {
                if let Some(parent) = attrs.parent().and_then(|id| ctx.span(id)) {
                    // The nearest traced span from the parent up: the parent itself may be
                    // one this layer leaves alone (filtered out, or kept for the log layers
                    // inside an unsampled trace).
                    nearest_state(parent, |s| {
                        (Some(s.context.clone()), s.baggage.clone(), s.local_root)
                    })
                    .unwrap_or_default()
                } else if attrs.is_contextual()
                    // An explicit parent that exists but that this layer can't see: a
                    // per-layer filter (`Layer::with_filter`) hides it, and its ancestors with
                    // it. The current span stands in for it: it is the nearest traced span
                    // around the parent when the parent is the current `tracing` span
                    // (`parent: Span::current()`, or `&span` where `span` is entered), while
                    // a new trace (what `tracing-opentelemetry` makes of such a span) would
                    // break the caller's.
                    || attrs.parent().is_some_and(|id| ctx.exists(id))
                {
                    active::with_current_entered(owner, |e| {
                        e.map(|e| {
                            (
                                Some(e.active.span.clone()),
                                e.active.baggage.clone(),
                                e.local_root,
                            )
                        })
                    })
                    // No span current: the OpenTelemetry context attached on the thread, as
                    // `tracing-opentelemetry` takes it (read only for a trace's first span).
                    .or_else(|| {
                        attrs.is_contextual().then(|| {
                            crate::propagation::attached_context()
                                .map(|(span, baggage)| (Some(span), baggage, SpanId::INVALID))
                        })?
                    })
                    .unwrap_or_default()
                } else {
                    (None, Baggage::default(), SpanId::INVALID)
                }
            }
        };
        let parent = parent.filter(SpanContext::is_valid);
        let state = self.new_state(parent, baggage, local_root, attrs, !described);
        active::remember(
            owner,
            id.into_u64(),
            state.active(),
            state.recording.is_some(),
        );
        span.extensions_mut().insert(state);
    }

    #[inline]
    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        // An unsampled span records nothing: no need to look it up.
        if active::known_records(self.owner.get(), id.into_u64()) == Some(false) {
            return;
        }
        let Some(span) = ctx.span(id) else { return };
        if !span
            .extensions()
            .get::<SpanState>()
            .is_some_and(SpanState::is_open)
        {
            return;
        }
        // User code (`Debug`, `Display`) runs before the lock is taken: see `Preformat`.
        let mut formatted = Preformat {
            limit: self.inner.span_attributes.value_length(),
            texts: Vec::new(),
        };
        values.record(&mut formatted);
        let mut ext = span.extensions_mut();
        if let Some(rec) = ext
            .get_mut::<SpanState>()
            .and_then(SpanState::open_recording)
        {
            values.record(&mut Replay {
                visitor: FieldVisitor::new(rec),
                texts: formatted.texts.into_iter(),
            });
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let failing = self.fails_span(event.metadata());
        let span_event = self.inner.record_events && self.traces_event(event);
        if !span_event && !failing {
            return;
        }
        let Some(span) = ctx.event_span(event) else {
            return;
        };
        // The event belongs to the nearest traced span around it, as a traced child span
        // would: the span it is in may be one this layer leaves alone (its traces filter,
        // e.g. a `#[instrument(level = "debug", err)]` under the default `info`), whose
        // error must still fail the trace, or tail sampling would drop a failed trace. The
        // walk stops at the first span with a state of its own (an unsampled one records
        // nothing; one given baggage by `SpanExt::set_baggage` carries its ancestor's), and
        // looks a parent up only when the event's own span has none (`iter::successors`
        // would look it up before the span is even tried). Bounded: it climbs the span's
        // ancestors, towards a root.
        // The fields (user code: `Debug`, `Display`) are formatted between a look at the
        // span and the update, with its state unlocked: a value that logs inside the span
        // or calls `SpanExt` on it would wait for that lock for ever.
        let mut span = span;
        let (fails, kept) = loop {
            let ext = span.extensions();
            if let Some(state) = ext.get::<SpanState>().filter(|s| !s.inherited) {
                let Some(rec) = state.recording.as_ref().filter(|_| state.is_open()) else {
                    return;
                };
                break (
                    failing && rec.status == Status::Unset,
                    span_event && rec.events.len() < self.inner.limits.event_count,
                );
            }
            drop(ext);
            let Some(parent) = span.parent() else { return };
            span = parent;
        };
        let status = fails.then(|| error_status(event)).flatten();
        if status.is_none() && !span_event {
            return;
        }
        let recorded = kept.then(|| self.span_event(event));
        if let Some(rec) = span
            .extensions_mut()
            .get_mut::<SpanState>()
            .and_then(SpanState::open_recording)
        {
            if let Some(status) = status
                && rec.status == Status::Unset
            {
                rec.status = status;
            }
            if span_event {
                match recorded.filter(|_| rec.events.len() < self.inner.limits.event_count) {
                    Some(recorded) => rec.events.push(recorded),
                    None => rec.dropped_events = rec.dropped_events.saturating_add(1),
                }
            }
        }
    }

    // `span.follows_from(other)`: a link to `other`'s context (as `tracing-opentelemetry`
    // makes one), or to the nearest traced span around it.
    fn on_follows_from(&self, id: &Id, follows: &Id, ctx: Context<'_, S>) {
        if active::known_records(self.owner.get(), id.into_u64()) == Some(false) {
            return;
        }
        let Some(context) = ctx
            .span(follows)
            .and_then(|f| nearest_state(f, |s| s.context.clone()))
        else {
            return;
        };
        let Some(span) = ctx.span(id) else { return };
        if let Some(state) = span.extensions_mut().get_mut::<SpanState>() {
            state.add_link(context, Vec::new(), &self.inner.limits);
        }
    }

    fn on_register_dispatch(&self, subscriber: &tracing_core::Dispatch) {
        self.owner.register(subscriber);
    }

    #[inline]
    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        let owner = self.owner.get();
        if active::enter_remembered(owner, id.into_u64()) {
            return;
        }
        let Some(span) = ctx.span(id) else { return };
        let ext = span.extensions();
        if let Some(state) = ext.get::<SpanState>() {
            active::push(
                owner,
                id.into_u64(),
                state.active(),
                state.recording.is_some(),
            );
        } else {
            drop(ext);
            enter_untraced(owner, id, &span);
        }
    }

    #[inline]
    fn on_exit(&self, id: &Id, ctx: Context<'_, S>) {
        let owner = self.owner.get();
        match active::pop(owner, id.into_u64()) {
            active::Popped::Found => {}
            active::Popped::Nothing => exited_elsewhere(owner, id, &ctx),
            active::Popped::Pending(owner, pending) => enter_pending(owner, pending, &ctx),
        }
    }

    #[inline]
    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let owner = self.owner.get();
        active::closing(owner, id.into_u64());
        let records = active::known_records(owner, id.into_u64());
        // Its id may be handed out again from now on.
        active::forget_remembered(owner, id.into_u64());
        // Nothing to export; the registry drops the span's state with its slot.
        if records == Some(false) {
            return;
        }
        let Some(sink) = &self.inner.sink else { return };
        let Some(span) = ctx.span(&id) else { return };
        let Some(state) = span.extensions_mut().remove::<SpanState>() else {
            return;
        };
        let Some(rec) = state.recording else { return };
        let links = rec.links.map(|l| *l).unwrap_or_default();
        sink.on_end(SpanData {
            name: rec.name,
            span_context: state.context,
            parent_span_id: state.parent_span_id,
            parent_is_remote: state.parent_is_remote,
            local_root_span_id: state.local_root,
            kind: rec.kind,
            start_time: rec.start_time.wall(),
            end_time: match rec.ended_after {
                Some(nanos) => rec.start_time.wall() + std::time::Duration::from_nanos(nanos.get()),
                None => rec.start_time.elapsed_wall(),
            },
            attributes: rec.attributes,
            dropped_attributes_count: rec.dropped_attributes,
            events: rec.events,
            dropped_events_count: rec.dropped_events,
            links: links.kept,
            dropped_links_count: links.dropped,
            status: rec.status,
            scope: scope_of(span.metadata().target()),
        });
    }
}

/// Whether an event is an error with no message: what `#[instrument(err)]` emits for an
/// `Err`, which the semantic conventions' `exception` event records. A look at the
/// callsite's field names (a few, most of another length than `error`), no formatting.
#[inline]
fn is_exception(meta: &Metadata<'_>) -> bool {
    let fields = meta.fields();
    fields.field(ERROR_FIELD).is_some() && fields.field("message").is_none()
}

/// The status an event that fails its span ([`SpanLayer::fails_span`]) gives it (what
/// `#[instrument(err)]` emits for an `Err`), as `tracing-opentelemetry` does by default:
/// tail sampling then keeps the trace. Its `error` field, if it has one, is the
/// description (the error's text, which trace views show beside the status). The caller
/// leaves an Ok status as it is (OpenTelemetry Trace API, Set Status: Ok is final).
///
/// `None` for an event below `ERROR` whose `error` is a flag or a number
/// (`info!(error = false)`), no error: `tracing-opentelemetry` takes a status from an
/// `error` given as text, `Debug` or `Display` only. Known only from the value, so here,
/// off the hot path, rather than in [`SpanLayer::fails_span`].
fn error_status(event: &Event<'_>) -> Option<Status> {
    if event.metadata().fields().field(ERROR_FIELD).is_some() {
        let (text, an_error) = error_text(event);
        (an_error || *event.metadata().level() == tracing_core::Level::ERROR)
            .then(|| Status::error(text))
    } else {
        Some(Status::error(""))
    }
}

/// The text of `event`'s [`ERROR_FIELD`], for its span's status description, and whether
/// it is an error's (text, `Debug`, `Display`, `&dyn Error`) rather than a flag's or a
/// number's, which has none: an `error!(error = false)` fails its span undescribed, as
/// `tracing-opentelemetry`'s ERROR events do.
#[cold]
fn error_text(event: &Event<'_>) -> (String, bool) {
    #[derive(Default)]
    struct Text {
        text: String,
        an_error: bool,
    }
    impl Visit for Text {
        fn record_str(&mut self, field: &Field, value: &str) {
            if field.name() == ERROR_FIELD {
                value.clone_into(&mut self.text);
                self.an_error = true;
            }
        }
        fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
            if field.name() == ERROR_FIELD {
                self.text = catch_format_panic(|| format!("{value:?}"))
                    .unwrap_or_else(|| FORMAT_PANICKED.to_owned());
                self.an_error = true;
            }
        }
        fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
            self.record_debug(field, &ErrorChain(value));
        }
        // A flag or a number is no error's text; `Visit`'s default would record it
        // through `record_debug`, as one.
        fn record_bool(&mut self, _: &Field, _: bool) {}
        fn record_i64(&mut self, _: &Field, _: i64) {}
        fn record_u64(&mut self, _: &Field, _: u64) {}
        fn record_i128(&mut self, _: &Field, _: i128) {}
        fn record_u128(&mut self, _: &Field, _: u128) {}
        fn record_f64(&mut self, _: &Field, _: f64) {}
    }
    let mut text = Text::default();
    event.record(&mut text);
    (text.text, text.an_error)
}

/// The span `id` was exited on this thread, which has no entry for it: an untraced span
/// entered inside its parent (nothing was pushed for it), or a traced one left entered on
/// another thread (see `active`).
#[cold]
#[inline(never)]
fn exited_elsewhere<S>(owner: usize, id: &Id, ctx: &Context<'_, S>)
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    if let Some(span) = ctx.span(id)
        && let Some(state) = span.extensions().get::<SpanState>()
    {
        active::left_elsewhere(owner, id.into_u64(), state.context.span_id);
    }
}

/// The exit just made leaves the untraced span `pending`, whose baggage was set while a
/// span was entered inside it, innermost on this thread's stack: its entry, with the
/// baggage, is pushed if `tracing` agrees that it is the current span here (its exit will
/// be seen here), and forgotten if not (it was exited on another thread).
#[cold]
#[inline(never)]
fn enter_pending<S>(owner: usize, pending: u64, ctx: &Context<'_, S>)
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    if ctx.lookup_current().map(|s| s.id().into_u64()) == Some(pending) {
        active::enter_pending(owner, pending);
    } else {
        active::drop_pending(owner, pending);
    }
}

/// Enters the untraced span `id` (filtered out, or kept for the log layers inside an
/// unsampled trace): it makes the nearest traced span up from it current (none for a
/// root), as `tracing` sees it. Entered inside its parent (the usual case: the parent is
/// the innermost span entered here) it changes what is current in nothing: it is only
/// marked, so that baggage set on it later (`SpanExt::set_baggage`) can be made current
/// until it exits. Entered anywhere else, that
/// context must come with it: a task spawned with `.instrument(step)` or a blocking task
/// given the span runs where its request's span is not entered, and a span that names
/// another parent (`debug_span!(parent: &other_request, ..)`, `parent: None`) may be
/// entered inside another request's; logs, exemplars, outgoing calls and child spans there
/// would lose their trace or take another's.
// Out of line, as `exited_elsewhere`: inlined, either made the hook too large for LLVM to
// inline it into `tracing-subscriber`'s dispatch (+280 instructions a request, measured).
#[inline(never)]
fn enter_untraced<'a, R: LookupSpan<'a>>(
    owner: usize,
    id: &Id,
    span: &tracing_subscriber::registry::SpanRef<'a, R>,
) {
    let parent = span.parent();
    if active::enter_shared(
        owner,
        id.into_u64(),
        parent.as_ref().map(|p| p.id().into_u64()),
    ) {
        return;
    }
    let entered = parent
        .and_then(|parent| nearest_state(parent, SpanState::active))
        .unwrap_or_default();
    active::push(owner, id.into_u64(), entered, false);
}

impl SpanLayer {
    /// Whether an event fails the span it is in: an `ERROR` event, or an [exception
    /// event](is_exception) of a level the traces filter lets through
    /// (`#[instrument(err(level = "warn"))]`'s: the call failed, whatever level its error is
    /// logged at), as `tracing-opentelemetry` fails the events that reach it. Those the
    /// filter leaves out (a dependency's `debug!(error = ..)`) do not: in the usual stack,
    /// a global `RUST_LOG` filter keeps them from `tracing-opentelemetry`. Below `ERROR`,
    /// an `error` that is a flag or a number fails nothing after all ([`error_status`]).
    #[inline(always)]
    fn fails_span(&self, meta: &Metadata<'_>) -> bool {
        *meta.level() == tracing_core::Level::ERROR || (is_exception(meta) && self.traces(meta))
    }

    /// `event` as a span event, with the event's attribute limits; its `message` is its
    /// name.
    fn span_event(&self, event: &Event<'_>) -> SpanEvent {
        let mut tmp = Recording::new(
            Cow::Borrowed(event.metadata().name()),
            self.inner.event_attributes,
            0,
        );
        event.record(&mut FieldVisitor::event(&mut tmp));
        if event.is_log() {
            // A `log` record comes through `tracing` as its message and its metadata
            // (`log.target`, `log.module_path`, `log.file`, `log.line`), which are no
            // attributes of it: the log record leaves them out too.
            tmp.attributes.clear();
            tmp.dropped_attributes = 0;
        } else if is_exception(event.metadata())
            // An error with no message (`#[instrument(err)]`'s event) is an exception event:
            // named `exception`, its text in `exception.message` (semantic conventions,
            // "Exceptions on spans"), as `tracing-opentelemetry` makes it of an `error`
            // given as text, `Debug` or `Display`. A flag or a number
            // (`info!(error = false)`) is no error's text: a plain attribute there too.
            && let Some(kv) = tmp
                .attributes
                .iter_mut()
                .find(|kv| kv.key.as_str() == ERROR_FIELD)
            && matches!(kv.value, Value::String(_))
        {
            tmp.name = Cow::Borrowed("exception");
            kv.key = Key::from_static_str(EXCEPTION_MESSAGE);
        }
        SpanEvent {
            name: tmp.name,
            time: tmp.start_time.wall(),
            attributes: tmp.attributes,
            dropped_attributes_count: tmp.dropped_attributes,
        }
    }

    fn new_state(
        &self,
        parent: Option<SpanContext>,
        baggage: Baggage,
        parent_local_root: SpanId,
        attrs: &Attributes<'_>,
        visit_fields: bool,
    ) -> SpanState {
        let (trace_id, flags, trace_state, parent_span_id, parent_is_remote) = match parent {
            // A local parent's decision holds for the whole local subtree.
            Some(p) if !p.is_remote => (p.trace_id, p.flags, p.trace_state, p.span_id, false),
            Some(p) => {
                let sampled =
                    self.inner
                        .sampler
                        .should_sample_span(Some(&p), p.trace_id, |decide| {
                            with_span_name(attrs, decide)
                        });
                (
                    p.trace_id,
                    p.flags.with_sampled(sampled),
                    p.trace_state,
                    p.span_id,
                    true,
                )
            }
            None => {
                let trace_id = TraceId::random();
                let sampled = self
                    .inner
                    .sampler
                    .should_sample_span(None, trace_id, |decide| with_span_name(attrs, decide));
                // Our trace ids are fully random, so W3C Level 2 lets us say so.
                (
                    trace_id,
                    TraceFlags::RANDOM.with_sampled(sampled),
                    Default::default(),
                    SpanId::INVALID,
                    false,
                )
            }
        };
        let span_id = SpanId::random();
        // A span with a local parent belongs to that parent's local trace (the caller passes
        // the parent's root only then); any other span starts one.
        let local_root = if parent_local_root.is_valid() {
            parent_local_root
        } else {
            span_id
        };
        let context = SpanContext {
            trace_id,
            span_id,
            flags,
            trace_state,
            is_remote: false,
        };
        let recording = (flags.is_sampled() && self.inner.sink.is_some()).then(|| {
            let mut rec = Recording::new(
                Cow::Borrowed(attrs.metadata().name()),
                self.inner.span_attributes,
                // Room for every field (as many as may be kept), whether visited now or
                // recorded later.
                attrs.fields().len(),
            );
            if visit_fields {
                attrs.record(&mut FieldVisitor::fresh(&mut rec));
            }
            rec
        });
        SpanState {
            context,
            baggage,
            parent_span_id,
            parent_is_remote,
            local_root,
            recording,
            inherited: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use opentelemetry::{Array, KeyValue, StringValue, Value};
    use tracing::Level;
    use tracing::field::Empty;
    use tracing_subscriber::prelude::*;

    use super::*;
    use crate::{InMemorySpanSink, SpanExt};

    /// Runs `f` under a layer with `limits` (span events on) and returns the spans it ended.
    fn record(limits: SpanLimits, f: impl FnOnce()) -> Vec<SpanData> {
        record_with(SpanLayer::new().with_limits(limits), f)
    }

    /// Runs `f` under `layer` (span events on) and returns the spans it ended.
    fn record_with(layer: SpanLayer, f: impl FnOnce()) -> Vec<SpanData> {
        let sink = InMemorySpanSink::new();
        let layer = layer
            .with_sink(Arc::new(sink.clone()))
            .with_span_events(true);
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), f);
        sink.take()
    }

    /// A Jaeger per-operation strategy decides a root by its span name as created: the
    /// `otel.name` middleware gives (`%` or plain), else the `tracing` name; a remote
    /// parent's flag is followed under `ParentBased`.
    #[test]
    fn a_per_operation_strategy_decides_by_the_span_name() {
        use crate::{JaegerRemoteConfig, JaegerRemoteSampler, PerOperationStrategy};
        let remote = JaegerRemoteSampler::new(JaegerRemoteConfig::default());
        remote.set_strategy(crate::SamplingStrategy::PerOperation(
            PerOperationStrategy {
                default_probability: 0.0,
                lower_bound_per_second: 0.0,
                operations: vec![
                    ("GET /users/{id}".to_owned(), 1.0),
                    ("checkout".to_owned(), 1.0),
                ],
            },
        ));
        let layer = SpanLayer::new().with_sampler(Sampler::ParentBased(Box::new(
            Sampler::JaegerRemote(remote),
        )));
        let route = "GET /users/{id}".to_owned();
        let long = format!("{:0>200}", "x");
        let sampled = |span: tracing::Span| span.span_context().is_some_and(|c| c.is_sampled());
        let mut seen = Vec::new();
        record_with(layer, || {
            seen.push(sampled(tracing::info_span!(
                "request",
                otel.name = route.as_str()
            )));
            seen.push(sampled(tracing::info_span!("request", otel.name = %route)));
            seen.push(sampled(tracing::info_span!("checkout")));
            seen.push(sampled(tracing::info_span!("request")));
            seen.push(sampled(tracing::info_span!("checkout", otel.name = %long)));
            seen.push(sampled(tracing::info_span!(
                "checkout",
                otel.name = tracing::field::Empty
            )));
            let parent = RemoteParent {
                span: Some(SpanContext {
                    trace_id: TraceId::from_u128(7),
                    span_id: SpanId::from_u64(7),
                    flags: TraceFlags::SAMPLED,
                    is_remote: true,
                    ..Default::default()
                }),
                baggage: Default::default(),
            };
            seen.push(sampled(span_with_remote_parent(parent, || {
                tracing::info_span!("request")
            })));
        });
        assert_eq!(seen, [true, true, true, false, false, true, true]);
    }

    /// A value whose `Debug` and `Display` panic: a bug in a user type.
    struct Panics;
    impl fmt::Debug for Panics {
        fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
            panic!("Debug of a user type panics")
        }
    }
    impl fmt::Display for Panics {
        fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
            panic!("Display of a user type panics")
        }
    }

    #[test]
    fn values_whose_formatting_panics_are_recorded_as_the_placeholder() {
        let spans = record(SpanLimits::default(), || {
            let span = tracing::info_span!("p", debug = ?Panics, shown = %Panics, later = Empty);
            span.record("later", tracing::field::debug(Panics));
            span.in_scope(|| {
                tracing::info!(value = ?Panics, "event");
                // An ERROR's `error` field is its span's status description, read while the
                // span's state is locked: a panic there poisoned the lock and aborted.
                tracing::error!(error = ?Panics);
            });
        });
        let span = only(spans);
        let value = |key: &str| span.attribute(key).map(|v| v.as_str().into_owned());
        for key in ["debug", "shown", "later"] {
            assert_eq!(value(key).as_deref(), Some(FORMAT_PANICKED), "{key}");
        }
        assert_eq!(span.status, Status::error(FORMAT_PANICKED));
        let event = &span.events[0];
        assert_eq!(event.attributes[0].value.as_str(), FORMAT_PANICKED);
    }

    #[test]
    fn only_events_no_layer_wants_are_disabled() {
        use tracing_core::callsite::Callsite;
        use tracing_core::metadata::Kind;
        use tracing_subscriber::{Layer, Registry};

        struct Site(&'static Metadata<'static>);
        impl Callsite for Site {
            fn set_interest(&self, _: Interest) {}
            fn metadata(&self) -> &Metadata<'_> {
                self.0
            }
        }
        macro_rules! site {
            ($level:expr, $kind:expr) => {
                site!($level, $kind, &[])
            };
            ($level:expr, $kind:expr, $fields:expr) => {{
                static SITE: Site = Site(&META);
                static META: Metadata<'static> = tracing_core::metadata! {
                    name: "site",
                    target: "app",
                    level: $level,
                    fields: $fields,
                    callsite: &SITE,
                    kind: $kind,
                };
                &META
            }};
        }
        let debug = site!(Level::DEBUG, Kind::EVENT);
        let error = site!(Level::ERROR, Kind::EVENT);
        let span = site!(Level::DEBUG, Kind::SPAN);
        let interest = |layer: &SpanLayer, meta| Layer::<Registry>::register_callsite(layer, meta);

        let nobody = SpanLayer::new().with_other_layers_events(|_| false);
        assert!(interest(&nobody, debug).is_never());
        assert!(
            interest(&nobody, error).is_always(),
            "an ERROR fails its span"
        );
        assert!(
            interest(&nobody, span).is_always(),
            "spans carry the context"
        );
        // An error with no message fails its span if the traces filter lets it through:
        // decided here once for the callsite, as `on_event` decides it for each event.
        let warn_error = site!(Level::WARN, Kind::EVENT, &[ERROR_FIELD]);
        let debug_error = site!(Level::DEBUG, Kind::EVENT, &[ERROR_FIELD]);
        let warn_logged = site!(Level::WARN, Kind::EVENT, &["message", ERROR_FIELD]);
        let traced = nobody
            .clone()
            .with_traces_filter(Targets::new().with_default(Level::INFO));
        assert!(
            interest(&traced, warn_error).is_always(),
            "it fails its span"
        );
        assert!(
            interest(&traced, debug_error).is_never(),
            "below the filter"
        );
        assert!(interest(&traced, warn_logged).is_never(), "a log line");
        let recording = nobody.with_span_events(true);
        assert!(interest(&recording, debug).is_always(), "a span event");
        let wanted = SpanLayer::new().with_other_layers_events(|meta| meta.target() == "app");
        assert!(interest(&wanted, debug).is_always());
        assert!(
            interest(&SpanLayer::new(), debug).is_always(),
            "unknown: kept"
        );
    }

    #[test]
    fn an_event_inside_an_untraced_span_is_one_of_the_nearest_traced_span() {
        let traced = Targets::new().with_default(Level::INFO);
        let span = only(record_with(
            SpanLayer::new().with_traces_filter(traced),
            || {
                tracing::info_span!("request").in_scope(|| {
                    tracing::debug_span!("step").in_scope(|| tracing::info!(rows = 3, "loaded"));
                });
            },
        ));
        assert_eq!(span.name, "request");
        let [event] = span.events.as_slice() else {
            panic!("one event: {:?}", span.events);
        };
        assert_eq!(event.name, "loaded");
        assert_eq!(event.attributes, [KeyValue::new("rows", 3)]);
    }

    #[test]
    fn span_events_are_the_events_the_traces_filter_lets_through() {
        let traced = Targets::new()
            .with_default(Level::INFO)
            .with_target("verbose", Level::DEBUG)
            .with_target("noisy", tracing_subscriber::filter::LevelFilter::OFF);
        let span = only(record_with(
            SpanLayer::new().with_traces_filter(traced),
            || {
                tracing::info_span!("request").in_scope(|| {
                    tracing::trace!("polled");
                    tracing::debug!("parsed");
                    tracing::info!("loaded");
                    tracing::debug!(target: "verbose", "cache hit");
                    tracing::info!(target: "noisy", "frame");
                    tracing::error!(target: "noisy", "reset");
                });
            },
        ));
        let names: Vec<&str> = span.events.iter().map(|e| e.name.as_ref()).collect();
        assert_eq!(names, ["loaded", "cache hit"]);
        assert_eq!(span.dropped_events_count, 0, "filtered out, not dropped");
        // An ERROR fails its span whatever the filter says, as before.
        assert!(matches!(span.status, Status::Error { .. }));
    }

    fn linked(trace: u128, span: u64) -> SpanContext {
        SpanContext {
            trace_id: TraceId::from_u128(trace),
            span_id: SpanId::from_u64(span),
            flags: TraceFlags::SAMPLED,
            is_remote: true,
            ..Default::default()
        }
    }

    /// Library code written for `tracing-opentelemetry` that continues a trace by attaching
    /// an extracted OpenTelemetry context (`let _guard = cx.attach();`) and then making its
    /// span: with no `tracing` span current, that layer takes `Context::current()` as the
    /// parent, and so does this one (the baggage too). A current span and an explicit root
    /// (`parent: None`) are not affected.
    #[test]
    fn an_attached_opentelemetry_context_parents_a_span_with_no_current_span() {
        use opentelemetry::baggage::BaggageExt;
        use opentelemetry::trace::TraceContextExt;

        let remote = linked(0xabc, 0x123);
        let attached = opentelemetry::Context::new()
            .with_remote_span_context(opentelemetry::trace::SpanContext::new(
                opentelemetry::trace::TraceId::from_bytes(remote.trace_id.to_bytes()),
                opentelemetry::trace::SpanId::from_bytes(remote.span_id.to_bytes()),
                opentelemetry::trace::TraceFlags::SAMPLED,
                true,
                Default::default(),
            ))
            .with_baggage([opentelemetry::KeyValue::new("tenant", "acme")]);
        let mut baggage = None;
        let spans = record(SpanLimits::DEFAULT, || {
            let _guard = attached.attach();
            tracing::info_span!("consume").in_scope(|| {
                baggage = crate::active::with_current(|c| c.map(|c| c.baggage.clone()));
                tracing::info_span!("child").in_scope(|| {});
            });
            tracing::info_span!(parent: None, "explicit root").in_scope(|| {});
        });
        let span = |name: &str| spans.iter().find(|s| s.name == name).expect(name);
        let consume = span("consume");
        assert_eq!(consume.span_context.trace_id, remote.trace_id);
        assert_eq!(consume.parent_span_id, remote.span_id);
        assert!(consume.parent_is_remote);
        let child = span("child");
        assert_eq!(child.parent_span_id, consume.span_context.span_id);
        let root = span("explicit root");
        assert_ne!(root.span_context.trace_id, remote.trace_id);
        assert_eq!(root.parent_span_id, SpanId::INVALID);
        let baggage = baggage.expect("a current context");
        assert_eq!(baggage.get("tenant"), Some("acme"), "{baggage:?}");
    }

    #[test]
    fn follows_from_links_to_the_other_spans_context() {
        let spans = record(SpanLimits::DEFAULT, || {
            let first = tracing::info_span!("first");
            let second = tracing::info_span!(parent: None, "second");
            second.follows_from(&first);
            let closed = tracing::info_span!("closed");
            let closed_id = closed.id();
            drop(closed);
            // A span that has closed is no longer there to link to.
            second.follows_from(closed_id);
        });
        let second = spans.iter().find(|s| s.name == "second").expect("second");
        let first = spans.iter().find(|s| s.name == "first").expect("first");
        let [link] = second.links.as_slice() else {
            panic!("one link: {:?}", second.links);
        };
        assert_eq!(link.span_context, first.span_context);
        assert!(!link.span_context.is_remote);
        assert_ne!(second.span_context.trace_id, first.span_context.trace_id);
        assert!(first.links.is_empty());
    }

    #[test]
    fn links_over_the_limits_are_counted_not_kept() {
        let limits = SpanLimits {
            link_count: 2,
            link_attribute_count: 1,
            ..attributes(128, Some(3))
        };
        let span = only(record(limits, || {
            let span = tracing::info_span!("consumer");
            // An invalid context with nothing else is no link at all (Trace API, "Link").
            span.add_link(SpanContext::default(), Vec::new());
            span.add_link(
                SpanContext::default(),
                vec![KeyValue::new("reason", "no traceparent")],
            );
            for n in 1..=3 {
                span.add_link(
                    linked(n, n as u64),
                    vec![
                        KeyValue::new("queue", "invoices"),
                        KeyValue::new("n", n as i64),
                    ],
                );
            }
        }));
        assert_eq!(span.links.len(), 2);
        assert_eq!(span.dropped_links_count, 2);
        assert!(!span.links[0].span_context.is_valid());
        assert_eq!(span.links[1].span_context, linked(1, 1));
        assert_eq!(span.links[1].attributes, [KeyValue::new("queue", "inv")]);
        assert_eq!(span.links[1].dropped_attributes_count, 1);
    }

    #[test]
    fn a_span_closed_elsewhere_is_not_current_again_when_its_id_comes_back() {
        let layer = SpanLayer::new().with_traces_filter(Targets::new().with_default(Level::INFO));
        let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
        tracing::dispatcher::with_default(&dispatch, || {
            // Remembered on this thread once exited, then closed on another.
            let request = tracing::info_span!("request");
            let id = request.id().expect("created");
            request.in_scope(|| {});
            let elsewhere = dispatch.clone();
            std::thread::spawn(move || {
                tracing::dispatcher::with_default(&elsewhere, || drop(request))
            })
            .join()
            .expect("closed");
            // Untraced spans reuse this thread's slots until the generation wraps: more
            // spans at once than a page holds, so the slot freed elsewhere is reused too.
            let reused = (0..1 << 14)
                .find_map(|_| {
                    let mut batch: Vec<_> = (0..40).map(|_| tracing::debug_span!("step")).collect();
                    let at = batch.iter().position(|s| s.id().as_ref() == Some(&id))?;
                    Some(batch.swap_remove(at))
                })
                .expect("the registry hands the id out again");
            let _step = reused.enter();
            assert_eq!(
                crate::current_span_context(),
                None,
                "nothing traced is entered"
            );
        });
    }

    /// A layer that wants every span and event: the log layer beside a filtered span layer.
    struct Everything;

    impl<S: Subscriber> tracing_subscriber::Layer<S> for Everything {}

    #[test]
    fn an_explicit_parent_a_per_layer_filter_hides_does_not_start_a_trace() {
        let sink = InMemorySpanSink::new();
        let layer = SpanLayer::new()
            .with_sink(Arc::new(sink.clone()))
            .with_filter(tracing_subscriber::filter::LevelFilter::INFO);
        let subscriber = tracing_subscriber::registry().with(layer).with(Everything);
        tracing::subscriber::with_default(subscriber, || {
            let _request = tracing::info_span!("request").entered();
            let step = tracing::debug_span!("step").entered();
            tracing::info_span!(parent: &step, "child").in_scope(|| {});
            tracing::info_span!(parent: tracing::Span::current(), "current").in_scope(|| {});
        });
        let spans = sink.take();
        let request = spans.iter().find(|s| s.name == "request").expect("request");
        for name in ["child", "current"] {
            let span = spans.iter().find(|s| s.name == name).expect(name);
            assert_eq!(
                span.span_context.trace_id, request.span_context.trace_id,
                "{name}"
            );
            assert_eq!(span.parent_span_id, request.span_context.span_id, "{name}");
            assert_eq!(
                span.local_root_span_id, request.span_context.span_id,
                "{name}"
            );
        }
    }

    #[test]
    fn add_link_finds_the_layers_limits_under_a_per_layer_filter() {
        let sink = InMemorySpanSink::new();
        let layer = SpanLayer::new()
            .with_sink(Arc::new(sink.clone()))
            .with_limits(SpanLimits {
                link_count: 1,
                ..SpanLimits::DEFAULT
            })
            .with_filter(tracing_subscriber::filter::LevelFilter::INFO);
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
            let span = tracing::info_span!("consumer");
            span.add_link(linked(1, 1), Vec::new());
            span.add_link(linked(2, 2), Vec::new());
        });
        let span = only(sink.take());
        assert_eq!((span.links.len(), span.dropped_links_count), (1, 1));
    }

    fn only(spans: Vec<SpanData>) -> SpanData {
        assert_eq!(spans.len(), 1, "{spans:?}");
        spans.into_iter().next().unwrap_or_else(|| unreachable!())
    }

    fn attributes(count: usize, value_length: Option<usize>) -> SpanLimits {
        SpanLimits {
            attributes: AttributeLimits {
                count,
                value_length,
            },
            ..SpanLimits::DEFAULT
        }
    }

    fn keys(attributes: &[KeyValue]) -> Vec<&str> {
        attributes.iter().map(|kv| kv.key.as_str()).collect()
    }

    fn value<'a>(attributes: &'a [KeyValue], key: &str) -> &'a Value {
        &attributes
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .unwrap_or_else(|| panic!("no {key} in {attributes:?}"))
            .value
    }

    #[test]
    fn events_over_the_count_are_counted_not_kept() {
        let limits = SpanLimits {
            event_count: 3,
            ..SpanLimits::DEFAULT
        };
        let span = only(record(limits, || {
            tracing::info_span!("long-lived").in_scope(|| {
                for i in 0..10 {
                    tracing::info!(i, "event {i}");
                }
            });
        }));
        let names: Vec<&str> = span.events.iter().map(|e| e.name.as_ref()).collect();
        assert_eq!(
            names,
            ["event 0", "event 1", "event 2"],
            "the first ones kept"
        );
        assert_eq!(span.dropped_events_count, 7);
        assert_eq!(span.dropped_attributes_count, 0);
    }

    #[test]
    fn an_error_event_over_the_count_still_fails_the_span() {
        let limits = SpanLimits {
            event_count: 0,
            ..SpanLimits::DEFAULT
        };
        let span = only(record(limits, || {
            tracing::info_span!("failing").in_scope(|| tracing::error!("boom"));
        }));
        assert!(span.events.is_empty());
        assert_eq!(span.dropped_events_count, 1);
        assert!(matches!(span.status, Status::Error { .. }));
    }

    #[test]
    fn an_ended_span_ignores_what_comes_after_its_end() {
        let spans = record(SpanLimits::DEFAULT, || {
            let request = tracing::info_span!("request", late = Empty);
            request.in_scope(|| tracing::info!("before"));
            let background = request.clone();
            request.end();
            drop(request);
            // What a task spawned with `in_current_span` does after the response.
            background.in_scope(|| tracing::error!("after"));
            background.record("late", 1);
            background.set_attribute("late.attribute", 1);
            background.set_status(Status::error("late"));
            let other = tracing::info_span!("other");
            background.follows_from(&other);
            drop(other);
            drop(background);
        });
        let span = spans.iter().find(|s| s.name == "request").expect("request");
        let names: Vec<&str> = span.events.iter().map(|e| e.name.as_ref()).collect();
        assert_eq!(names, ["before"]);
        assert_eq!(span.status, Status::Unset);
        assert!(
            span.attributes
                .iter()
                .all(|kv| !kv.key.as_str().starts_with("late"))
        );
        assert!(span.links.is_empty());
    }

    #[test]
    fn event_attributes_are_limited_per_event_and_the_message_is_not_one() {
        let limits = SpanLimits {
            attributes: AttributeLimits {
                count: 128,
                value_length: Some(3),
            },
            event_attribute_count: 2,
            ..SpanLimits::DEFAULT
        };
        let span = only(record(limits, || {
            tracing::info_span!("s").in_scope(|| {
                tracing::info!(
                    a = "abcdef",
                    b = 2,
                    c = 3,
                    d = 4,
                    "a message longer than three"
                );
                tracing::info!(x = 1, "second");
                // Formatted on the heap (longer than the stack buffer), and still whole.
                tracing::info!("{}", "long ".repeat(100));
            });
        }));
        assert_eq!(span.events.len(), 3);
        assert_eq!(span.events[2].name, "long ".repeat(100));
        let first = &span.events[0];
        // The message is the name, whole: not an attribute, neither counted nor cut.
        assert_eq!(first.name, "a message longer than three");
        assert_eq!(keys(&first.attributes), ["a", "b"]);
        assert_eq!(*value(&first.attributes, "a"), Value::from("abc"));
        assert_eq!(first.dropped_attributes_count, 2);
        let second = &span.events[1];
        assert_eq!(second.name, "second");
        assert_eq!(keys(&second.attributes), ["x"]);
        assert_eq!(second.dropped_attributes_count, 0);
    }

    #[test]
    fn attributes_over_the_count_are_counted_and_known_keys_still_replaced() {
        let span = only(record(attributes(2, None), || {
            let span = tracing::info_span!("s", a = 1, b = 2, c = 3, d = 4, late = Empty);
            // A key the span has: replaced, as ever.
            span.record("a", 10);
            // A new key beyond the limit: counted.
            span.record("late", 5);
            span.set_attribute("dynamic", "x");
            // Again a key it has, set by name at run time.
            span.set_attribute("b", "twenty");
        }));
        assert_eq!(keys(&span.attributes), ["a", "b"]);
        assert_eq!(*value(&span.attributes, "a"), Value::I64(10));
        assert_eq!(*value(&span.attributes, "b"), Value::from("twenty"));
        assert_eq!(span.dropped_attributes_count, 4, "c, d, late, dynamic");
    }

    #[test]
    fn integers_are_integers_when_they_fit_in_an_i64() {
        let span = only(record(SpanLimits::DEFAULT, || {
            let _span = tracing::info_span!(
                "s",
                small_u64 = 7_u64,
                big_u64 = u64::MAX,
                small_i128 = -7_i128,
                small_u128 = 7_u128,
                big_u128 = u128::MAX,
            );
        }));
        let attributes = &span.attributes;
        assert_eq!(*value(attributes, "small_u64"), Value::I64(7));
        assert_eq!(
            *value(attributes, "big_u64"),
            Value::from(u64::MAX.to_string())
        );
        assert_eq!(*value(attributes, "small_i128"), Value::I64(-7));
        assert_eq!(*value(attributes, "small_u128"), Value::I64(7));
        assert_eq!(
            *value(attributes, "big_u128"),
            Value::from(u128::MAX.to_string())
        );
    }

    #[test]
    fn a_huge_string_is_stored_cut_to_the_value_length() {
        let huge = "x".repeat(1 << 20);
        let span = only(record(attributes(128, Some(10)), || {
            let span = tracing::info_span!(
                "s",
                as_str = huge.as_str(),
                // Longer than the stack buffer: formatted on the heap, then cut.
                as_debug = ?huge,
                as_display = %huge,
                short = "short",
                number = 123_456_789_012_i64,
                late = Empty,
            );
            span.record("late", huge.as_str());
            span.set_attribute("dynamic", huge.clone());
            span.set_attribute(
                "array",
                Value::Array(Array::String(vec![
                    StringValue::from(huge.clone()),
                    StringValue::from("ok"),
                ])),
            );
        }));
        let ten = Value::from("x".repeat(10));
        assert_eq!(*value(&span.attributes, "as_str"), ten);
        assert_eq!(
            *value(&span.attributes, "as_debug"),
            Value::from(format!("\"{}", "x".repeat(9)))
        );
        assert_eq!(*value(&span.attributes, "as_display"), ten);
        assert_eq!(*value(&span.attributes, "late"), ten);
        assert_eq!(*value(&span.attributes, "dynamic"), ten);
        assert_eq!(
            *value(&span.attributes, "array"),
            Value::Array(Array::String(vec![
                StringValue::from("x".repeat(10)),
                StringValue::from("ok"),
            ]))
        );
        assert_eq!(*value(&span.attributes, "short"), Value::from("short"));
        assert_eq!(
            *value(&span.attributes, "number"),
            Value::I64(123_456_789_012),
            "numbers are never cut"
        );
        assert_eq!(span.dropped_attributes_count, 0);
    }

    /// A value that would write a megabyte in 1 KiB pieces, counting those taken.
    struct Megabyte(std::cell::Cell<usize>);

    impl std::fmt::Debug for Megabyte {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            let piece = "y".repeat(1024);
            for _ in 0..1024 {
                f.write_str(&piece)?;
                self.0.set(self.0.get() + 1);
            }
            Ok(())
        }
    }

    #[test]
    fn a_huge_formatted_value_is_not_formatted_past_the_value_length() {
        let megabyte = Megabyte(std::cell::Cell::new(0));
        let span = only(record(attributes(128, Some(3000)), || {
            let _span = tracing::info_span!("s", big = ?megabyte);
        }));
        assert_eq!(
            *value(&span.attributes, "big"),
            Value::from("y".repeat(3000))
        );
        assert_eq!(megabyte.0.get(), 2, "formatting stopped at the third piece");
    }

    #[test]
    fn multibyte_strings_are_cut_on_character_boundaries() {
        let span = only(record(attributes(128, Some(4)), || {
            tracing::info_span!(
                "s",
                latin = "héllo wörld",
                cjk = "日本語テキスト",
                crab = "🦀🦀🦀🦀🦀",
                fits = "日本語!",
            )
            .in_scope(|| tracing::info!(e = "ünïcödé", "event"));
        }));
        assert_eq!(*value(&span.attributes, "latin"), Value::from("héll"));
        assert_eq!(*value(&span.attributes, "cjk"), Value::from("日本語テ"));
        assert_eq!(*value(&span.attributes, "crab"), Value::from("🦀🦀🦀🦀"));
        assert_eq!(*value(&span.attributes, "fits"), Value::from("日本語!"));
        assert_eq!(*value(&span.events[0].attributes, "e"), Value::from("ünïc"));
    }

    #[test]
    fn a_described_span_keeps_within_the_limits() {
        let caller = RemoteParent {
            span: Some(SpanContext {
                trace_id: TraceId::from_u128(0x0af7651916cd43dd8448eb211c80319c),
                span_id: SpanId::from_u64(0xb7ad6b7169203331),
                flags: TraceFlags::SAMPLED,
                is_remote: true,
                ..Default::default()
            }),
            baggage: Baggage::default(),
        };
        let span = only(record(attributes(3, Some(5)), || {
            let span = caller.span_with_attributes(
                || tracing::info_span!("request", status = Empty, url.path = Empty),
                |start| {
                    start.push_str("url.scheme", "https-and-more");
                    start.push_str("url.path", String::from("/users/7"));
                    start.push_i64("server.port", 8443);
                    start.push_str("user_agent.original", "bench/1");
                    start
                        .attributes()
                        .push(KeyValue::new("client.address", "10.0.0.1"));
                },
            );
            span.record("status", 200);
            span.record("url.path", "/a");
        }));
        assert_eq!(
            keys(&span.attributes),
            ["url.scheme", "url.path", "server.port"]
        );
        assert_eq!(*value(&span.attributes, "url.scheme"), Value::from("https"));
        // A later record of a key the description gave still replaces it.
        assert_eq!(*value(&span.attributes, "url.path"), Value::from("/a"));
        assert_eq!(
            span.dropped_attributes_count, 3,
            "two described, one recorded"
        );
    }

    #[test]
    #[cfg(target_pointer_width = "64")]
    fn a_recording_stays_small() {
        // 136 bytes without limits; the limits a recording carries are two `u32`s, its drop
        // counts two more, its links a pointer, its explicit end (`SpanExt::end`) a `u64`.
        assert_eq!(std::mem::size_of::<Recording>(), 136 + 16 + 8 + 8);
    }
}
