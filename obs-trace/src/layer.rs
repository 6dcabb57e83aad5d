//! [`SpanLayer`]: records `tracing` spans as OpenTelemetry spans, lean enough for every request.
//!
//! Per span it keeps one small state struct in the registry's extensions: ids, flags, and,
//! only when the span is sampled, its name, start time and attributes. On close a sampled
//! span becomes a [`SpanData`] and goes to the [`SpanSink`]; nothing else is built, locked or
//! sent on the application's thread.

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt;
use std::sync::Arc;

use opentelemetry::trace::{SpanKind, Status};
use opentelemetry::{Key, KeyValue, StringValue, Value};
use tracing_core::field::{Field, Visit};
use tracing_core::span::{Attributes, Id, Record};
use tracing_core::subscriber::Interest;
use tracing_core::{Event, Metadata, Subscriber};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use crate::active::{self, ActiveContext, Entered};
use crate::clock::Stamp;
use crate::ext::nearest_state;
use crate::unsampled::inside_unsampled_trace;
use crate::{
    Baggage, Sampler, SpanContext, SpanData, SpanEvent, SpanId, SpanSink, TraceFlags, TraceId,
    UnsampledSpans,
};

/// A `tracing-subscriber` layer that gives every span an OpenTelemetry identity, samples it
/// and sends the sampled ones, finished, to a [`SpanSink`].
///
/// Fields with these names steer the OpenTelemetry span (the names `tracing-opentelemetry`
/// uses): `otel.name` (span name), `otel.kind` (`server`, `client`, `producer`, `consumer`,
/// `internal`), `otel.status_code` (`ok`, `error`), `otel.status_description`. Every other
/// field becomes an attribute, dotted names (`http.request.method`) kept as written. An
/// `ERROR` event inside a span (`#[instrument(err)]`'s) sets its status to Error; status
/// Ok is final, and Unset is never set back (OpenTelemetry Trace API, Set Status).
#[derive(Clone)]
pub struct SpanLayer {
    inner: Arc<Inner>,
}

struct Inner {
    sampler: Sampler,
    sink: Option<Arc<dyn SpanSink>>,
    record_events: bool,
    unsampled_spans: UnsampledSpans,
    traces_filter: Option<Targets>,
}

impl fmt::Debug for SpanLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpanLayer")
            .field("sampler", &self.inner.sampler)
            .field("sink", &self.inner.sink)
            .field("record_events", &self.inner.record_events)
            .field("unsampled_spans", &self.inner.unsampled_spans)
            .field("traces_filter", &self.inner.traces_filter)
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
            inner: Arc::new(Inner {
                sampler: Sampler::default(),
                sink: None,
                record_events: false,
                unsampled_spans: UnsampledSpans::default(),
                traces_filter: None,
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
        });
        f(&mut inner);
        SpanLayer {
            inner: Arc::new(inner),
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

    /// Records `tracing` events inside a sampled span as span events too. Defaults to `false`:
    /// events are logs, and `obs-log` exports them as OTLP log records already.
    pub fn with_span_events(self, record: bool) -> Self {
        self.map(|i| i.record_events = record)
    }

    /// Whether spans created inside unsampled traces exist for the other layers. Defaults to
    /// [`UnsampledSpans::Keep`]: other layers (a JSON log layer) see them as usual;
    /// [`UnsampledSpans::Skip`] does not create them at all, for the cost of a disabled span.
    pub fn with_unsampled_spans(self, unsampled_spans: UnsampledSpans) -> Self {
        self.map(|i| i.unsampled_spans = unsampled_spans)
    }

    /// Which spans, by target and level, become OpenTelemetry spans. Defaults to all. The
    /// others are left to the other layers as they are; a traced span inside one takes the
    /// nearest traced span around it as its parent.
    ///
    /// The layer filters for itself, rather than under a per-layer filter
    /// (`Layer::with_filter`), because a per-layer filter looks each span up in the registry
    /// again on every enter, exit and close: about 15% of a span's cost. Wrapping it in one
    /// still works, but spans inside unsampled traces are then created for the other layers
    /// ([`UnsampledSpans::Skip`] can't take effect: `tracing` caches that an enabled span
    /// callsite is always wanted, and never asks again).
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
}

struct Recording {
    name: Cow<'static, str>,
    kind: SpanKind,
    status: Status,
    start_time: Stamp,
    attributes: Vec<KeyValue>,
    events: Vec<SpanEvent>,
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
        }
    }

    /// What becomes current on this thread while the span is entered.
    fn active(&self) -> Entered {
        Entered {
            active: ActiveContext {
                span: self.context.clone(),
                baggage: self.baggage.clone(),
            },
            local_root: self.local_root,
        }
    }

    /// Sets an attribute whose key is only known at run time (a captured header); a later
    /// value for the same key replaces the earlier one. Unsampled spans record nothing.
    pub(crate) fn set_attribute(&mut self, attribute: KeyValue) {
        let Some(rec) = self.recording.as_mut() else {
            return;
        };
        match rec.attributes.iter_mut().find(|kv| kv.key == attribute.key) {
            Some(kv) => kv.value = attribute.value,
            None => rec.attributes.push(attribute),
        }
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
pub fn span_with_remote_parent(
    parent: RemoteParent,
    make: impl FnOnce() -> tracing::Span,
) -> tracing::Span {
    with_pending_parent(parent, false, make)
}

fn with_pending_parent(
    parent: RemoteParent,
    described: bool,
    make: impl FnOnce() -> tracing::Span,
) -> tracing::Span {
    let _ =
        PENDING_PARENT.try_with(|p| *p.borrow_mut() = Some(PendingParent { parent, described }));
    let span = make();
    // If `make` created no span (disabled everywhere) the pending parent must not leak into
    // the next, unrelated span.
    let _ = PENDING_PARENT.try_with(|p| p.borrow_mut().take());
    span
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
        self.rec.attributes.push(KeyValue::new(
            Key::from_static_str(key),
            Value::String(value),
        ));
    }

    /// Appends the integer attribute `key` = `value`.
    #[inline(always)]
    pub fn push_i64(&mut self, key: &'static str, value: i64) {
        self.rec
            .attributes
            .push(KeyValue::new(Key::from_static_str(key), Value::I64(value)));
    }
}

impl RemoteParent {
    /// [`span_with_remote_parent`], with the OpenTelemetry side of the new span described
    /// by `describe` if it records (sampled, with a sink): a typed hand-off for middleware,
    /// cheaper than `tracing` fields (no `Visit` dispatch per field, nothing built for
    /// unsampled spans).
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
        let span = with_pending_parent(self, true, make);
        span.with_subscriber(|(id, dispatch)| {
            // An unsampled span records nothing: no need to look it up.
            if active::known_records(id.into_u64()) == Some(false) {
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
                describe(&mut SpanStart { rec });
            }
        });
        span
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

/// Records fields into a [`Recording`]. `fresh` is set for a new span's own fields, which a
/// callsite declares once each, so they are appended without looking for an earlier value.
struct FieldVisitor<'a> {
    rec: &'a mut Recording,
    fresh: bool,
}

impl<'a> FieldVisitor<'a> {
    fn new(rec: &'a mut Recording) -> Self {
        FieldVisitor { rec, fresh: false }
    }

    fn fresh(rec: &'a mut Recording) -> Self {
        FieldVisitor { rec, fresh: true }
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
            // OpenTelemetry Trace API, Set Status: Ok is final, and an attempt to set Unset
            // (or, here, a value that is no status) is ignored; a description goes with
            // Error only.
            "otel.status_code" if self.rec.status == Status::Ok => {}
            "otel.status_code" => {
                if value.eq_ignore_ascii_case("ok") {
                    self.rec.status = Status::Ok;
                } else if value.eq_ignore_ascii_case("error")
                    && !matches!(self.rec.status, Status::Error { .. })
                {
                    self.rec.status = Status::error("");
                }
            }
            "otel.status_description" | "otel.status_message" => {
                if self.rec.status != Status::Ok {
                    self.rec.status = Status::error(value.to_owned());
                }
            }
            _ => return false,
        }
        true
    }

    /// Records a string field: `otel.*` steering, or an attribute whose value is borrowed
    /// from the known set when it is one, interned when its attribute's values are few,
    /// and otherwise copied once.
    fn set_str(&mut self, field: &Field, value: &str) {
        if field.name().starts_with("otel.") && self.steer(field.name(), value) {
            return;
        }
        let value = match known_value(value) {
            Some(known) => StringValue::from(known),
            None if has_few_values(field.name()) => StringValue::from(crate::intern(value)),
            None => StringValue::from(value.to_owned()),
        };
        self.insert(field.name(), Value::String(value));
    }

    fn set(&mut self, field: &Field, value: Value) {
        let name = field.name();
        if name.starts_with("otel.") && self.steer(name, &value.as_str()) {
            return;
        }
        self.insert(name, value);
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
            .attributes
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
        match i64::try_from(value) {
            Ok(v) => self.set(field, Value::I64(v)),
            Err(_) => self.set(field, Value::String(value.to_string().into())),
        }
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
        let mut buf = StackBuf::new();
        if fmt::write(&mut buf, format_args!("{value:?}")).is_ok() {
            self.set_str(field, buf.as_str());
        } else {
            self.set(field, Value::String(format!("{value:?}").into()));
        }
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
    fn register_callsite(&self, meta: &'static Metadata<'static>) -> Interest {
        if meta.is_span() && self.inner.unsampled_spans == UnsampledSpans::Skip && self.traces(meta)
        {
            Interest::sometimes()
        } else {
            Interest::always()
        }
    }

    // `false` here disables the span for every layer, as `UnsampledSpans::Skip` says; never
    // a span given a remote parent, which starts (or continues) a trace of its own.
    fn enabled(&self, meta: &Metadata<'_>, _ctx: Context<'_, S>) -> bool {
        !(self.inner.unsampled_spans == UnsampledSpans::Skip
            && inside_unsampled_trace(meta)
            && self.traces(meta)
            && !has_pending_parent())
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let pending = PENDING_PARENT
            .try_with(|p| p.borrow_mut().take())
            .ok()
            .flatten();
        let traced = self.traces(attrs.metadata());
        if pending.is_none()
            && (!traced
                // Kept for the other layers only (with `Skip` these never get here).
                || (self.inner.unsampled_spans == UnsampledSpans::Keep
                    && inside_unsampled_trace(attrs.metadata())))
        {
            return;
        }
        let Some(span) = ctx.span(id) else { return };
        if let Some(pending) = pending.as_ref().filter(|_| !traced) {
            // A span given a remote parent but not traced itself (its level or target is
            // filtered out) still carries the caller's context, untouched: its traced
            // descendants and its log lines continue the caller's trace instead of losing it.
            let state = SpanState::carrier(&pending.parent);
            active::remember(id.into_u64(), state.active(), false);
            span.extensions_mut().insert(state);
            return;
        }
        let described = pending.as_ref().is_some_and(|p| p.described);
        // The parent, the baggage, and the parent's local root when the parent is local.
        let (parent, baggage, local_root) = match pending {
            Some(PendingParent { parent, .. }) => (parent.span, parent.baggage, SpanId::INVALID),
            None => {
                if let Some(parent_id) = attrs.parent() {
                    // The nearest traced span from the parent up: the parent itself may be
                    // one this layer leaves alone (filtered out, or kept for the log layers
                    // inside an unsampled trace).
                    ctx.span(parent_id)
                        .and_then(|p| {
                            nearest_state(p, |s| {
                                (Some(s.context.clone()), s.baggage.clone(), s.local_root)
                            })
                        })
                        .unwrap_or_default()
                } else if attrs.is_contextual() {
                    active::with_current_entered(|e| {
                        e.map(|e| {
                            (
                                Some(e.active.span.clone()),
                                e.active.baggage.clone(),
                                e.local_root,
                            )
                        })
                    })
                    .unwrap_or_default()
                } else {
                    (None, Baggage::default(), SpanId::INVALID)
                }
            }
        };
        let parent = parent.filter(SpanContext::is_valid);
        let state = self.new_state(parent, baggage, local_root, attrs, !described);
        active::remember(id.into_u64(), state.active(), state.recording.is_some());
        span.extensions_mut().insert(state);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        // An unsampled span records nothing: no need to look it up.
        if active::known_records(id.into_u64()) == Some(false) {
            return;
        }
        let Some(span) = ctx.span(id) else { return };
        let mut ext = span.extensions_mut();
        if let Some(rec) = ext
            .get_mut::<SpanState>()
            .and_then(|s| s.recording.as_mut())
        {
            values.record(&mut FieldVisitor::new(rec));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let is_error = *event.metadata().level() == tracing::Level::ERROR;
        if !self.inner.record_events && !is_error {
            return;
        }
        let Some(span) = ctx.event_span(event) else {
            return;
        };
        let mut ext = span.extensions_mut();
        let Some(rec) = ext
            .get_mut::<SpanState>()
            .and_then(|s| s.recording.as_mut())
        else {
            return;
        };
        // An ERROR event inside a span (what `#[instrument(err)]` emits for an `Err`) fails
        // it, as `tracing-opentelemetry` does by default: tail sampling then keeps the trace.
        // An Ok status stays final (OpenTelemetry Trace API, Set Status).
        if is_error && rec.status == Status::Unset {
            rec.status = Status::error("");
        }
        if !self.inner.record_events {
            return;
        }
        let mut tmp = Recording {
            name: Cow::Borrowed(event.metadata().name()),
            kind: SpanKind::Internal,
            status: Status::Unset,
            start_time: Stamp::now(),
            attributes: Vec::new(),
            events: Vec::new(),
        };
        event.record(&mut FieldVisitor::fresh(&mut tmp));
        let mut name = tmp.name;
        if let Some(pos) = tmp
            .attributes
            .iter()
            .position(|kv| kv.key.as_str() == "message")
        {
            name = Cow::Owned(tmp.attributes.remove(pos).value.as_str().into_owned());
        }
        rec.events.push(SpanEvent {
            name,
            time: tmp.start_time.wall(),
            attributes: tmp.attributes,
            dropped_attributes_count: 0,
        });
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        if active::enter_remembered(id.into_u64()) {
            return;
        }
        let Some(span) = ctx.span(id) else { return };
        let ext = span.extensions();
        if let Some(state) = ext.get::<SpanState>() {
            active::push(id.into_u64(), state.active(), state.recording.is_some());
        }
    }

    fn on_exit(&self, id: &Id, _ctx: Context<'_, S>) {
        active::pop(id.into_u64());
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let records = active::known_records(id.into_u64());
        // Its id may be handed out again from now on.
        active::forget_remembered(id.into_u64());
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
        sink.on_end(SpanData {
            name: rec.name,
            span_context: state.context,
            parent_span_id: state.parent_span_id,
            parent_is_remote: state.parent_is_remote,
            local_root_span_id: state.local_root,
            kind: rec.kind,
            start_time: rec.start_time.wall(),
            end_time: rec.start_time.elapsed_wall(),
            attributes: rec.attributes,
            dropped_attributes_count: 0,
            events: rec.events,
            dropped_events_count: 0,
            status: rec.status,
            scope: scope_of(span.metadata().target()),
        });
    }
}

impl SpanLayer {
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
                let sampled = self.inner.sampler.should_sample(Some(&p), p.trace_id);
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
                let sampled = self.inner.sampler.should_sample(None, trace_id);
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
            let mut rec = Recording {
                name: Cow::Borrowed(attrs.metadata().name()),
                kind: SpanKind::Internal,
                status: Status::Unset,
                start_time: Stamp::now(),
                // Room for every field, whether visited now or recorded later.
                attributes: Vec::with_capacity(attrs.fields().len()),
                events: Vec::new(),
            };
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
        }
    }
}
