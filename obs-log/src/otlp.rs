//! [`OtlpLogLayer`]: events as neutral OpenTelemetry log records, for `obs-core` to export.

use std::borrow::Cow;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use obs_trace::{
    AttributeLimits, ContextReader, ERROR_FIELD, EXCEPTION_MESSAGE, ErrorChain, SpanId, TraceFlags,
    TraceId,
};
use tracing_core::field::{Field, Visit};
use tracing_core::{Dispatch, Event, Subscriber};
use tracing_log::NormalizeEvent;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use crate::event_name;
use crate::event_time;
use crate::json_fields::MESSAGE;
use crate::redaction::{REDACTED, Redaction};
use crate::severity;
use crate::trace_context;
use obs_trace::{FORMAT_PANICKED, catch_format_panic};

/// An attribute value, typed as OTLP's `AnyValue` scalars.
#[derive(Clone, Debug, PartialEq)]
pub enum LogValue {
    /// A string (also `Debug`/`Display` values, errors, and integers beyond the `i64`
    /// range, written in decimal).
    String(String),
    /// A byte string (a `&[u8]` field value), as is: OTLP's `bytes_value`, which keeps
    /// binary data (a digest, a raw id) that text would turn into replacement characters.
    Bytes(Vec<u8>),
    /// A signed integer.
    I64(i64),
    /// A float.
    F64(f64),
    /// A boolean.
    Bool(bool),
}

impl From<&str> for LogValue {
    fn from(v: &str) -> Self {
        LogValue::String(v.to_owned())
    }
}

impl From<String> for LogValue {
    fn from(v: String) -> Self {
        LogValue::String(v)
    }
}

impl From<Vec<u8>> for LogValue {
    fn from(v: Vec<u8>) -> Self {
        LogValue::Bytes(v)
    }
}

impl From<i64> for LogValue {
    fn from(v: i64) -> Self {
        LogValue::I64(v)
    }
}

impl From<f64> for LogValue {
    fn from(v: f64) -> Self {
        LogValue::F64(v)
    }
}

impl From<bool> for LogValue {
    fn from(v: bool) -> Self {
        LogValue::Bool(v)
    }
}

/// One attribute of a [`LogRecord`].
#[derive(Clone, Debug, PartialEq)]
pub struct LogAttribute {
    /// The field name, as written at the call site (dotted names kept).
    pub key: Cow<'static, str>,
    /// The value.
    pub value: LogValue,
}

/// An event as an OpenTelemetry log record (log data model), without the resource, which
/// the exporting pipeline adds.
#[derive(Clone, Debug, PartialEq)]
pub struct LogRecord {
    /// When the event happened. Always set (the stock `opentelemetry-appender-tracing`
    /// leaves it at 0), and the instant a [`JsonLayer`](crate::JsonLayer) in the same
    /// subscriber writes in the event's line.
    pub timestamp: SystemTime,
    /// When the event was observed: the same instant, as the event is observed where it
    /// happens.
    pub observed_timestamp: SystemTime,
    /// TRACE=1, DEBUG=5, INFO=9, WARN=13, ERROR=17 (the first number of each range of the
    /// log data model's `SeverityNumber`).
    pub severity_number: i32,
    /// `TRACE`, `DEBUG`, `INFO`, `WARN` or `ERROR`.
    pub severity_text: &'static str,
    /// The message (the first `message` field: the formatted message when a format
    /// string is given), if the event has one.
    pub body: Option<String>,
    /// The `name:` given at the call site, else empty (no event name). In the OpenTelemetry
    /// log data model a record with an `EventName` is an Event, whose name identifies the
    /// structure of its attributes and body; a plain log line is no such thing, and its
    /// target is already the record's instrumentation scope. `tracing`'s default name,
    /// `event src/main.rs:87`, is not a name given to the event and is never used.
    pub event_name: Cow<'static, str>,
    /// The event's target (its module path unless set; a `log` record's own target): the
    /// instrumentation scope.
    pub target: Cow<'static, str>,
    /// The event's fields except the message (a `message` field given next to a format
    /// string is one of them: `message`), redacted, in call-site order, the `error` field
    /// as `exception.message` when its value is text (see [`OtlpLogLayer`]); plus
    /// `code.file.path` and `code.line.number` if [enabled](OtlpLogLayer::with_code_attributes)
    /// and no field has that name. Keys are unique: a field given twice keeps its first value.
    /// Within the layer's [limits](OtlpLogLayer::with_limits).
    pub attributes: Vec<LogAttribute>,
    /// Attributes left out because the record had as many as its
    /// [limits](OtlpLogLayer::with_limits) allow (OTLP's `dropped_attributes_count`).
    pub dropped_attributes_count: u32,
    /// The trace the event belongs to, if a span context is current.
    pub trace_id: Option<TraceId>,
    /// The span the event belongs to, if a span context is current.
    pub span_id: Option<SpanId>,
    /// The current span's trace flags, if a span context is current.
    pub trace_flags: Option<TraceFlags>,
}

impl LogRecord {
    /// The value of the attribute `key`, if present.
    pub fn attribute(&self, key: &str) -> Option<&LogValue> {
        self.attributes
            .iter()
            .find(|a| a.key == key)
            .map(|a| &a.value)
    }
}

/// Where [`OtlpLogLayer`] sends records: the `obs-core` pipeline's batch queue, or
/// [`InMemoryLogSink`] in tests.
///
/// `emit` runs on the thread that logs, inside the request: it must not block (a bounded
/// queue that drops and counts when full is the intended implementation). An `emit` that
/// panics loses its record: [`OtlpLogLayer`] catches the panic, so that the code that logs
/// goes on.
pub trait LogSink: Send + Sync + fmt::Debug + 'static {
    /// Takes one record.
    fn emit(&self, record: LogRecord);
}

impl<T: LogSink + ?Sized> LogSink for Arc<T> {
    fn emit(&self, record: LogRecord) {
        (**self).emit(record);
    }
}

impl<T: LogSink + ?Sized> LogSink for Box<T> {
    fn emit(&self, record: LogRecord) {
        (**self).emit(record);
    }
}

/// A [`LogSink`] that keeps every record in memory, for tests. Clones share the records.
#[derive(Clone, Debug, Default)]
pub struct InMemoryLogSink {
    records: Arc<Mutex<Vec<LogRecord>>>,
}

impl InMemoryLogSink {
    /// An empty sink.
    pub fn new() -> Self {
        Self::default()
    }

    /// A copy of the records emitted so far.
    pub fn records(&self) -> Vec<LogRecord> {
        self.records
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Removes and returns the records emitted so far.
    pub fn take(&self) -> Vec<LogRecord> {
        std::mem::take(&mut *self.records.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl LogSink for InMemoryLogSink {
    fn emit(&self, record: LogRecord) {
        self.records
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(record);
    }
}

/// A `tracing-subscriber` layer that turns each event into a [`LogRecord`] for a
/// [`LogSink`].
///
/// Fields become typed attributes (redacted as [`Redaction`] says), the `message` field the
/// body, and the current span context (of the layer's subscriber, from
/// [`obs_trace::ContextReader`], whatever the filters) the record's trace id, span id and flags. Span fields are not copied: they
/// belong to the spans, which carry the same ids.
///
/// The event's `error` field, when its value is text (an error value, with its sources as
/// [`obs_trace::ErrorChain`] shows them; `#[instrument(err)]`'s `error = %err` or `?err`; a
/// string), is the attribute `exception.message`, as the semantic conventions record an
/// exception on a log record ("Exceptions on logs"), so that backends see it as one.
/// There is no `exception.type`: a `dyn Error` does not know its type's name, and the
/// conventions require the message or the type. Other fields, error values included, keep
/// their names; the JSON line keeps `error`.
///
/// ```
/// use obs_log::{InMemoryLogSink, LogValue, OtlpLogLayer};
/// use obs_trace::SpanExt;
/// use tracing_subscriber::prelude::*;
///
/// let sink = InMemoryLogSink::new();
/// let subscriber = tracing_subscriber::registry()
///     .with(obs_trace::SpanLayer::new())
///     .with(OtlpLogLayer::new(sink.clone()));
/// let mut span_id = None;
/// tracing::subscriber::with_default(subscriber, || {
///     let span = tracing::info_span!("checkout").entered();
///     span_id = span.span_context().map(|c| c.span_id);
///     tracing::warn!(name: "cart.abandoned", items = 3, token = "t0p", "cart left behind");
/// });
///
/// let record = &sink.records()[0];
/// assert_eq!(record.event_name, "cart.abandoned");
/// assert_eq!((record.severity_number, record.severity_text), (13, "WARN"));
/// assert_eq!(record.body.as_deref(), Some("cart left behind"));
/// assert_eq!(record.attribute("items"), Some(&LogValue::I64(3)));
/// assert_eq!(record.attribute("token"), Some(&LogValue::String("[REDACTED]".into())));
/// assert_eq!(record.span_id, span_id);
/// ```
#[derive(Clone)]
pub struct OtlpLogLayer {
    sink: Arc<dyn LogSink>,
    redaction: Redaction,
    code_attributes: bool,
    limits: AttributeLimits,
    /// Where the trace context comes from: this layer's subscriber's current span.
    context: ContextReader,
}

impl fmt::Debug for OtlpLogLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtlpLogLayer")
            .field("sink", &self.sink)
            .field("redaction", &self.redaction)
            .field("code_attributes", &self.code_attributes)
            .field("limits", &self.limits)
            .finish()
    }
}

impl OtlpLogLayer {
    /// A layer sending records to `sink` (an `Arc<dyn LogSink>` works too), with the default
    /// [`Redaction`] and no code attributes.
    pub fn new(sink: impl LogSink) -> Self {
        OtlpLogLayer {
            sink: Arc::new(sink),
            redaction: Redaction::default(),
            code_attributes: false,
            limits: AttributeLimits::DEFAULT,
            context: ContextReader::new(),
        }
    }

    /// Applies these attribute limits as each record is made (`OTEL_LOGRECORD_ATTRIBUTE_*`,
    /// the OpenTelemetry SDK's "LogRecord Limits"): the attributes past
    /// [`count`](AttributeLimits::count) are left out and counted in the record's
    /// [`dropped_attributes_count`](LogRecord::dropped_attributes_count), and string values
    /// are cut to [`value_length`](AttributeLimits::value_length) before they are copied.
    /// Defaults to [`AttributeLimits::DEFAULT`] (128 attributes, values of any length).
    ///
    /// Here, and not only when records are exported, because that is where an OpenTelemetry
    /// SDK applies them (on the record, as its attributes are set), and because a record
    /// waits in a queue with what it carries: a 10 MB value cut only at export would be
    /// held at full size meanwhile, by every record in the queue. The body (the message) is
    /// no attribute, and the limits leave it whole, as the spec says; `obs-core` bounds the
    /// bytes its queue holds for that.
    pub fn with_limits(mut self, limits: AttributeLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Redacts the values of these fields. Defaults to [`Redaction::default`].
    pub fn with_redaction(mut self, redaction: Redaction) -> Self {
        self.redaction = redaction;
        self
    }

    /// Adds the semantic-convention attributes `code.file.path` and `code.line.number` (the
    /// event's source location). Defaults to `false`.
    pub fn with_code_attributes(mut self, enabled: bool) -> Self {
        self.code_attributes = enabled;
        self
    }
}

/// Collects an event's fields as the body and typed attributes.
struct RecordVisitor<'a> {
    redaction: &'a Redaction,
    limits: &'a AttributeLimits,
    body: Option<String>,
    attributes: Vec<LogAttribute>,
    dropped_attributes: u32,
    /// A `log` record's `log.target`, `log.file`... fields, which are its metadata.
    skip_log_fields: bool,
}

/// No limits: for the body, which is no attribute.
const UNLIMITED: AttributeLimits = AttributeLimits {
    count: usize::MAX,
    value_length: None,
};

impl RecordVisitor<'_> {
    /// Takes a field; `value` makes its value within the limits it is given (the attribute
    /// limits, or none for the body), only if it is kept. `text`: the value is text (a
    /// string, a `Debug` or `Display` value, an error).
    fn push(
        &mut self,
        field: &Field,
        text: bool,
        value: impl FnOnce(&AttributeLimits) -> LogValue,
    ) {
        let name = field.name();
        if self.skip_log_fields && name.starts_with("log.") {
            return;
        }
        // The first `message` is the body. With `message = ..` next to a format string,
        // `tracing`'s macros give the formatted message first and the field after it: that
        // one is kept as the attribute `message`, as the JSON line keeps it.
        if name == MESSAGE && self.body.is_none() {
            self.body = Some(match value(&UNLIMITED) {
                LogValue::String(s) => s,
                // The body is text here: a byte message is read as UTF-8.
                LogValue::Bytes(b) => String::from_utf8_lossy(&b).into_owned(),
                LogValue::I64(v) => v.to_string(),
                LogValue::F64(v) => v.to_string(),
                LogValue::Bool(v) => v.to_string(),
            });
            return;
        }
        // The event's error is `exception.message` (see `OtlpLogLayer`); a flag or a code
        // (`error = true`) is no message and keeps its name.
        let key = if text && name == ERROR_FIELD {
            EXCEPTION_MESSAGE
        } else {
            name
        };
        if self.redaction.is_redacted(name) {
            self.attribute(key, || LogValue::String(REDACTED.to_owned()));
        } else {
            let limits = self.limits;
            self.attribute(key, || value(limits));
        }
    }

    /// Adds an attribute within the count limit: past it, it is left out and counted,
    /// without making its value.
    ///
    /// Attribute keys are unique within a record (OTel common spec, "Attribute
    /// collections"): a key already there keeps its first value, as the body does. That
    /// covers a field given twice, and the code attributes after an event field of the same
    /// name (a bridge forwarding a location from elsewhere).
    fn attribute(&mut self, key: &'static str, value: impl FnOnce() -> LogValue) {
        if self.attributes.iter().any(|a| a.key == key) {
            return;
        }
        if self.attributes.len() >= self.limits.count {
            self.dropped_attributes = self.dropped_attributes.saturating_add(1);
            return;
        }
        self.attributes.push(LogAttribute {
            key: Cow::Borrowed(key),
            value: value(),
        });
    }
}

/// `s` cut to the value length limit, the memory past the cut given back: the record may
/// wait in a queue.
fn cut(mut s: String, limits: &AttributeLimits) -> LogValue {
    let kept = limits.truncate(&s).len();
    if kept < s.len() {
        s.truncate(kept);
        s.shrink_to_fit();
    }
    LogValue::String(s)
}

/// `args` formatted, or [`FORMAT_PANICKED`] if a value's `Debug` or `Display` panics. A
/// value whose formatting returns an error keeps what it wrote, as in the JSON line:
/// `fmt::format` would panic on that error, here, in obs. The same allocations as
/// `fmt::format`, which reserves nothing ahead for a format string that starts with a value.
fn format_guarded(args: fmt::Arguments<'_>) -> String {
    catch_format_panic(|| {
        let mut out = String::new();
        let _ = fmt::write(&mut out, args);
        out
    })
    .unwrap_or_else(|| FORMAT_PANICKED.to_owned())
}

fn wide_int<T: TryInto<i64> + ToString + Copy>(v: T) -> LogValue {
    v.try_into()
        .map_or_else(|_| LogValue::String(v.to_string()), LogValue::I64)
}

impl Visit for RecordVisitor<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.push(field, false, |_| LogValue::F64(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.push(field, false, |_| LogValue::I64(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.push(field, false, |_| wide_int(value));
    }
    fn record_i128(&mut self, field: &Field, value: i128) {
        self.push(field, false, |_| wide_int(value));
    }
    fn record_u128(&mut self, field: &Field, value: u128) {
        self.push(field, false, |_| wide_int(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.push(field, false, |_| LogValue::Bool(value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        // Cut before it is copied: a long value is never copied whole.
        self.push(field, true, |l| {
            LogValue::String(l.truncate(value).to_owned())
        });
    }
    fn record_bytes(&mut self, field: &Field, value: &[u8]) {
        self.push(field, false, |l| {
            LogValue::Bytes(l.truncate_bytes(value).to_vec())
        });
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.push(field, true, |l| {
            cut(format_guarded(format_args!("{}", ErrorChain(value))), l)
        });
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.push(field, true, |l| {
            cut(format_guarded(format_args!("{value:?}")), l)
        });
    }
}

impl<S> tracing_subscriber::Layer<S> for OtlpLogLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_register_dispatch(&self, subscriber: &Dispatch) {
        self.context.register(subscriber);
    }

    fn event_enabled(&self, _event: &Event<'_>, _ctx: Context<'_, S>) -> bool {
        event_time::new_event();
        true
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        // The instant the event's JSON line carries too.
        let now = event_time::of(event);
        // A `log` record comes as an event of a fixed `log` callsite, its target, file and
        // line in fields: read them back as its metadata.
        let from_log = event.normalized_metadata();
        let meta = from_log.as_ref().unwrap_or_else(|| event.metadata());
        let mut visitor = RecordVisitor {
            redaction: &self.redaction,
            limits: &self.limits,
            body: None,
            attributes: Vec::with_capacity(meta.fields().len().min(self.limits.count) + 2),
            dropped_attributes: 0,
            skip_log_fields: from_log.is_some(),
        };
        event.record(&mut visitor);
        if self.code_attributes {
            if let Some(file) = meta.file() {
                let limits = self.limits;
                visitor.attribute("code.file.path", || {
                    LogValue::String(limits.truncate(file).to_owned())
                });
            }
            if let Some(line) = meta.line() {
                visitor.attribute("code.line.number", || LogValue::I64(i64::from(line)));
            }
        }
        let ids = trace_context::current_ids(event, &ctx, &self.context);
        let static_meta = event.metadata();
        let target = match &from_log {
            Some(log) => Cow::Owned(log.target().to_owned()),
            None => Cow::Borrowed(static_meta.target()),
        };
        let event_name = Cow::Borrowed(event_name::given(static_meta).unwrap_or_default());
        let record = LogRecord {
            timestamp: now,
            observed_timestamp: now,
            severity_number: severity::severity_number(meta.level()),
            severity_text: severity::upper(meta.level()),
            body: visitor.body,
            event_name,
            target,
            attributes: visitor.attributes,
            dropped_attributes_count: visitor.dropped_attributes,
            trace_id: ids.map(|i| i.0),
            span_id: ids.map(|i| i.1),
            trace_flags: ids.map(|i| i.2),
        };
        // A sink that panics (a bug in a user's `LogSink`) loses its record, not the
        // request that logged it.
        let _ = panic::catch_unwind(AssertUnwindSafe(|| self.sink.emit(record)));
    }
}
