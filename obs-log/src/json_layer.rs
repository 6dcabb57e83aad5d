//! [`JsonLayer`]: one JSON object per line, stamped with the current trace context.

use std::cell::RefCell;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};

use obs_trace::ContextReader;
use tracing_core::span::{Attributes, Id, Record};
use tracing_core::{Dispatch, Event, Subscriber};
use tracing_log::NormalizeEvent;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use crate::escape;
use crate::event_name;
use crate::event_time;
use crate::field_names::{ECS_VERSION_KEY, FieldNames, LevelStyle, ReservedKeys};
use crate::json_fields::{
    Member, MemberWriter, MessageWriter, RecordedFields, Reserved, SpanJson, SpanJsonSet,
};
use crate::redaction::Redaction;
use crate::severity;
use crate::timestamp::TimestampWriter;
use crate::trace_context;
use crate::writer::{LogWriter, Stdout};

/// Where span fields go in the line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SpanFields {
    /// Under the `spans` key, as a list of objects from the root span to the current one,
    /// each `{"name": <span name>, <its fields>..}`. A span field called `name` is written as
    /// `fields.name`.
    #[default]
    Nested,
    /// At the top level of the line next to the event's fields. Where names clash, the
    /// innermost wins: event fields over the current span's, a child's over its parent's,
    /// so no key appears twice.
    Flatten,
}

/// Lines bigger than this give their buffer back after being written, so one huge event
/// does not pin memory on a thread for good.
const KEEP_BUFFER_BYTES: usize = 64 * 1024;

/// Per-thread scratch space, reused line after line: no allocation in steady state.
struct Scratch {
    line: Vec<u8>,
    members: Vec<Member>,
    timestamps: TimestampWriter,
}

impl Scratch {
    const fn new() -> Self {
        Scratch {
            line: Vec::new(),
            members: Vec::new(),
            timestamps: TimestampWriter::new(),
        }
    }
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = const { RefCell::new(Scratch::new()) };
}

/// Runs `f` with this thread's scratch space, or a fresh one when it is in use (a writer
/// that logs) or gone (thread teardown).
fn with_scratch(f: impl FnOnce(&mut Scratch)) {
    let mut f = Some(f);
    let _ = SCRATCH.try_with(|cell| {
        if let Ok(mut scratch) = cell.try_borrow_mut() {
            if let Some(f) = f.take() {
                f(&mut scratch);
            }
            if scratch.line.capacity() > KEEP_BUFFER_BYTES {
                scratch.line = Vec::new();
            }
        }
    });
    if let Some(f) = f {
        f(&mut Scratch::new());
    }
}

/// Gives each layer an id, so two JSON layers in one subscriber keep their own span
/// renderings.
static NEXT_LAYER_ID: AtomicU64 = AtomicU64::new(1);

/// The constant parts of a line, rendered when the layer is configured.
#[derive(Clone, Debug)]
struct Keys {
    /// `{"timestamp":`
    open: Box<[u8]>,
    /// `,"level":`
    level: Box<[u8]>,
    /// `,"severity_number":`, when written.
    severity_number: Option<Box<[u8]>>,
    /// `,"message":`
    message: Box<[u8]>,
    /// `,"target":`
    target: Box<[u8]>,
    /// `,"event_name":`, when written.
    event_name: Option<Box<[u8]>>,
    /// The members every line carries unchanged: `,"service":"<name>"` when a service name
    /// is set, then `,"ecs.version":"<version>"` when the names give one. `None` when
    /// neither: one branch a line either way.
    constant: Option<Box<[u8]>>,
    /// `,"trace_id":"`
    trace_id: Box<[u8]>,
    /// `","span_id":"`
    span_id: Box<[u8]>,
    /// `","trace_flags":"`
    trace_flags: Box<[u8]>,
    /// `,"spans":[`
    spans: Box<[u8]>,
    /// `,"file":`
    file: Box<[u8]>,
    /// `,"line":`
    line: Box<[u8]>,
    /// The keys above, which user fields must not take.
    reserved: ReservedKeys,
}

impl Keys {
    fn new(names: &FieldNames, service: Option<&str>) -> Self {
        let key = |before: &[u8], name: &str, after: &[u8]| -> Box<[u8]> {
            let mut out = before.to_vec();
            escape::escape_into(&mut out, name);
            out.extend_from_slice(after);
            out.into_boxed_slice()
        };
        Keys {
            open: key(b"{\"", &names.timestamp, b"\":"),
            level: key(b",\"", &names.level, b"\":"),
            severity_number: names
                .severity_number
                .as_deref()
                .map(|n| key(b",\"", n, b"\":")),
            message: key(b",\"", &names.message, b"\":"),
            target: key(b",\"", &names.target, b"\":"),
            event_name: names.event_name.as_deref().map(|n| key(b",\"", n, b"\":")),
            constant: {
                let mut out = Vec::new();
                if let Some(service) = service {
                    out.extend_from_slice(&key(b",\"", &names.service, b"\":"));
                    escape::write_str(&mut out, service);
                }
                if let Some(version) = &names.ecs_version {
                    out.extend_from_slice(&key(b",\"", ECS_VERSION_KEY, b"\":"));
                    escape::write_str(&mut out, version);
                }
                (!out.is_empty()).then(|| out.into_boxed_slice())
            },
            trace_id: key(b",\"", &names.trace_id, b"\":\""),
            span_id: key(b"\",\"", &names.span_id, b"\":\""),
            trace_flags: key(b"\",\"", &names.trace_flags, b"\":\""),
            spans: key(b",\"", &names.spans, b"\":["),
            file: key(b",\"", &names.file, b"\":"),
            line: key(b",\"", &names.line, b"\":"),
            reserved: ReservedKeys::new(names),
        }
    }
}

/// A `tracing-subscriber` layer that writes each event as one JSON object on one line.
///
/// See the [crate docs](crate) for the schema and an example line. Configure it with the
/// consuming `with_*` methods; every line is rendered into a reusable per-thread buffer and
/// handed to the [`LogWriter`] in one call.
///
/// The layer honours per-layer filters (`.with_filter(EnvFilter::new(..))`): spans this
/// layer's filter disables appear neither under `spans` nor flattened, while `trace_id` and
/// `span_id` always come from the span current in the layer's subscriber
/// ([`obs_trace::ContextReader`]), whatever the filters.
pub struct JsonLayer<W = Stdout> {
    writer: W,
    names: FieldNames,
    service: Option<String>,
    keys: Keys,
    span_fields: SpanFields,
    file_line: bool,
    redaction: Redaction,
    id: u64,
    /// Where `trace_id` and `span_id` come from: this layer's subscriber's current span.
    context: ContextReader,
}

impl<W> fmt::Debug for JsonLayer<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsonLayer")
            .field("writer", &std::any::type_name::<W>())
            .field("names", &self.names)
            .field("service", &self.service)
            .field("span_fields", &self.span_fields)
            .field("file_line", &self.file_line)
            .field("redaction", &self.redaction)
            .finish()
    }
}

impl Default for JsonLayer<Stdout> {
    fn default() -> Self {
        Self::new()
    }
}

impl JsonLayer<Stdout> {
    /// A layer writing to [`Stdout`] (which counts the lines stdout refuses: read
    /// [`writer`](Self::writer)`().drop_counter()`) with the default [`FieldNames`], span fields
    /// [nested](SpanFields::Nested), no file and line, no service name and the default
    /// [`Redaction`].
    pub fn new() -> Self {
        let names = FieldNames::default();
        JsonLayer {
            writer: Stdout::new(),
            keys: Keys::new(&names, None),
            names,
            service: None,
            span_fields: SpanFields::default(),
            file_line: false,
            redaction: Redaction::default(),
            id: NEXT_LAYER_ID.fetch_add(1, Ordering::Relaxed),
            context: ContextReader::new(),
        }
    }
}

impl<W: LogWriter> JsonLayer<W> {
    /// Writes lines to `writer`: a [`NonBlocking`](crate::NonBlocking), `Mutex<File>`,
    /// `io::stderr()`, anything that implements [`LogWriter`]. Defaults to [`Stdout`].
    pub fn with_writer<W2: LogWriter>(self, writer: W2) -> JsonLayer<W2> {
        JsonLayer {
            writer,
            names: self.names,
            service: self.service,
            keys: self.keys,
            span_fields: self.span_fields,
            file_line: self.file_line,
            redaction: self.redaction,
            id: self.id,
            context: self.context,
        }
    }

    /// Writes `service` under the service key of every line (the `service.name` of the
    /// resource). Defaults to none: the key is left out.
    pub fn with_service_name(mut self, service: impl Into<String>) -> Self {
        self.service = Some(service.into());
        self.keys = Keys::new(&self.names, self.service.as_deref());
        self
    }

    /// Uses these key names. Defaults to [`FieldNames::default`].
    pub fn with_field_names(mut self, names: FieldNames) -> Self {
        self.keys = Keys::new(&names, self.service.as_deref());
        self.names = names;
        self
    }

    /// Puts span fields under `spans` or at the top level. Defaults to [`SpanFields::Nested`].
    pub fn with_span_fields(mut self, span_fields: SpanFields) -> Self {
        self.span_fields = span_fields;
        self
    }

    /// Writes the source `file` and `line` of each event. Defaults to `false`.
    pub fn with_file_line(mut self, file_line: bool) -> Self {
        self.file_line = file_line;
        self
    }

    /// Redacts the values of these fields. Defaults to [`Redaction::default`].
    pub fn with_redaction(mut self, redaction: Redaction) -> Self {
        self.redaction = redaction;
        self
    }

    /// The writer lines go to (to flush it, or read a [`NonBlocking`](crate::NonBlocking)'s
    /// drop count).
    pub fn writer(&self) -> &W {
        &self.writer
    }

    fn span_reserved(&self) -> Reserved<'_> {
        match self.span_fields {
            SpanFields::Nested => Reserved::SpanObject,
            SpanFields::Flatten => Reserved::Line(&self.keys.reserved),
        }
    }

    fn render_line<S>(&self, event: &Event<'_>, ctx: &Context<'_, S>, s: &mut Scratch)
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let now = event_time::of(event);
        // A `log` record comes as an event of a fixed `log` callsite, its target, file and
        // line in fields: read them back as its metadata.
        let from_log = event.normalized_metadata();
        let meta = from_log.as_ref().unwrap_or_else(|| event.metadata());
        let keys = &self.keys;
        let out = &mut s.line;
        out.clear();
        s.members.clear();

        out.extend_from_slice(&keys.open);
        s.timestamps.write(out, now);

        out.extend_from_slice(&keys.level);
        out.push(b'"');
        out.extend_from_slice(match self.names.level_style {
            LevelStyle::Upper => severity::upper(meta.level()).as_bytes(),
            LevelStyle::Lower => severity::lower(meta.level()).as_bytes(),
        });
        out.push(b'"');
        if let Some(key) = &keys.severity_number {
            out.extend_from_slice(key);
            escape::write_int(out, severity::severity_number(meta.level()));
        }

        out.extend_from_slice(&keys.message);
        let mut message = MessageWriter {
            out,
            written: false,
        };
        event.record(&mut message);
        if !message.written {
            out.extend_from_slice(b"\"\"");
        }

        out.extend_from_slice(&keys.target);
        escape::write_str(out, meta.target());
        if let Some(key) = &keys.event_name
            && let Some(name) = event_name::given(event.metadata())
        {
            out.extend_from_slice(key);
            escape::write_str(out, name);
        }
        if let Some(constant) = &keys.constant {
            out.extend_from_slice(constant);
        }

        if let Some((trace_id, span_id, flags)) =
            trace_context::current_ids(event, ctx, &self.context)
        {
            out.extend_from_slice(&keys.trace_id);
            out.extend_from_slice(&trace_id.to_hex());
            out.extend_from_slice(&keys.span_id);
            out.extend_from_slice(&span_id.to_hex());
            out.extend_from_slice(&keys.trace_flags);
            let mut flags_hex = [0u8; 2];
            escape::write_hex_byte(&mut flags_hex, flags.to_u8());
            out.extend_from_slice(&flags_hex);
            out.push(b'"');
        }

        event.record(&mut MemberWriter {
            out,
            members: &mut s.members,
            reserved: Reserved::Line(&self.keys.reserved),
            redaction: &self.redaction,
            skip_message: true,
            skip_log_fields: from_log.is_some(),
        });

        if let Some(scope) = ctx.event_scope(event) {
            match self.span_fields {
                SpanFields::Nested => {
                    out.extend_from_slice(&keys.spans);
                    let mut first = true;
                    for span in scope.from_root() {
                        let ext = span.extensions();
                        let Some(json) = ext.get::<SpanJsonSet>().and_then(|j| j.get(self.id))
                        else {
                            continue;
                        };
                        if !std::mem::take(&mut first) {
                            out.push(b',');
                        }
                        out.extend_from_slice(&json.object);
                    }
                    out.push(b']');
                }
                SpanFields::Flatten => {
                    for span in scope {
                        let ext = span.extensions();
                        let Some(json) = ext.get::<SpanJsonSet>().and_then(|j| j.get(self.id))
                        else {
                            continue;
                        };
                        for member in &json.members {
                            if s.members.iter().any(|m| m.name == member.name) {
                                continue;
                            }
                            out.push(b',');
                            out.extend_from_slice(&json.object[member.range.clone()]);
                            // Only the name matters from here on.
                            s.members.push(Member {
                                name: member.name,
                                range: 0..0,
                            });
                        }
                    }
                }
            }
        }

        if self.file_line {
            if let Some(file) = meta.file() {
                out.extend_from_slice(&keys.file);
                escape::write_str(out, file);
            }
            if let Some(line) = meta.line() {
                out.extend_from_slice(&keys.line);
                escape::write_int(out, line);
            }
        }
        out.extend_from_slice(b"}\n");
    }
}

impl<S, W> tracing_subscriber::Layer<S> for JsonLayer<W>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: LogWriter,
{
    fn on_register_dispatch(&self, subscriber: &Dispatch) {
        self.context.register(subscriber);
    }

    fn event_enabled(&self, _event: &Event<'_>, _ctx: Context<'_, S>) -> bool {
        event_time::new_event();
        true
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let json = SpanJson::render(
            self.id,
            attrs.metadata().name(),
            self.span_reserved(),
            &self.redaction,
            |v| attrs.record(v),
        );
        let mut ext = span.extensions_mut();
        match ext.get_mut::<SpanJsonSet>() {
            Some(set) => set.add(json),
            None => ext.insert(SpanJsonSet::new(json)),
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        // Formatted before the extensions are locked, as in `on_new_span`: a `Debug` that
        // logs inside this span reads them.
        let recorded =
            RecordedFields::render(self.span_reserved(), &self.redaction, |v| values.record(v));
        let name = span.metadata().name();
        let mut ext = span.extensions_mut();
        if let Some(json) = ext
            .get_mut::<SpanJsonSet>()
            .and_then(|j| j.get_mut(self.id))
        {
            json.update(name, &recorded);
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        with_scratch(|s| {
            self.render_line(event, &ctx, s);
            // A writer that panics (a bug in a user's `io::Write`) loses its line, not the
            // request that logged it.
            let _ = panic::catch_unwind(AssertUnwindSafe(|| self.writer.write_line(&s.line)));
        });
    }
}
