//! The logging pillar of `obs`: `tracing` events as JSON lines stamped with the trace and
//! span they belong to, and as OpenTelemetry log records.
//!
//! - [`JsonLayer`] writes one JSON object per line to a [`LogWriter`] ([`Stdout`] by
//!   default, which counts the lines stdout refuses; a file, any `io::Write`, or a
//!   [`NonBlocking`] writer that drops and counts rather than block).
//! - [`OtlpLogLayer`] turns the same events into neutral [`LogRecord`]s for a [`LogSink`];
//!   `obs-core` batches and exports them over OTLP.
//! - [`Redaction`] hides the values of secret fields in both.
//!
//! Both are plain `tracing-subscriber` layers: level filtering is the subscriber's business
//! (`obs-core` gives each layer an `EnvFilter` from `RUST_LOG`), and the trace context comes
//! from [`obs_trace::ContextReader`] (the span current in the layer's own subscriber), which
//! `obs_trace::SpanLayer` maintains.
//!
//! # The line
//!
//! With the default [`FieldNames`], an event inside two spans
//! (`info!(user = "ann", attempt = 2, "logged in")`) is written as (wrapped here; one line in
//! the output):
//!
//! ```text
//! {"timestamp":"2026-11-25T13:25:35.123456789Z","level":"INFO","message":"logged in",
//!  "target":"shop::auth","service":"shop","trace_id":"0af7651916cd43dd8448eb211c80319c",
//!  "span_id":"b7ad6b7169203331","trace_flags":"01","user":"ann","attempt":2,
//!  "spans":[{"name":"request","method":"GET"},{"name":"login","provider":"sso"}]}
//! ```
//!
//! | key | when | value |
//! |-----|------|-------|
//! | `timestamp` | always | event time, RFC 3339 in UTC with nanoseconds (the OTLP record's instant) |
//! | `level` | always | `TRACE`, `DEBUG`, `INFO`, `WARN` or `ERROR` |
//! | `message` | always | the formatted message, `""` if the event has none |
//! | `target` | always | the event's target (module path unless set) |
//! | `event_name` | the event was given a `name:` (not with [`FieldNames::ecs`]) | that name (the log data model's `EventName`) |
//! | `service` | if [set](JsonLayer::with_service_name) | the service name |
//! | `ecs.version` | with [`FieldNames::ecs`] only | [`FieldNames::ECS_VERSION`], which ECS requires on every event |
//! | `trace_id`, `span_id`, `trace_flags` | a span context is current (for an explicit `parent:`, that parent's) | lowercase hex as in `traceparent` |
//! | event fields | always | strings, numbers and booleans keep their JSON types; `Debug` values are strings |
//! | `spans` | inside spans, [`SpanFields::Nested`] | span objects, root first: `{"name":..,<fields>}` |
//! | span fields | inside spans, [`SpanFields::Flatten`] | at the top level; the innermost wins on a clash |
//! | `file`, `line` | if [enabled](JsonLayer::with_file_line) | the event's source location |
//!
//! Guarantees: every string (message, value, key) is escaped, so a line is always one
//! valid JSON object and nothing can forge another (control characters, U+2028/U+2029 and
//! DEL are escaped; invalid UTF-8 in byte values becomes U+FFFD). A field named like a key
//! the layer writes (`message`, `level`, `trace_id`, ..), above or below one once dots are
//! read as nesting (`service` and `service.name`), or whose name starts with `fields.`, is
//! written as `fields.<name>` and never overwrites it; a field given twice
//! (`info!(a = 1, a = 2)`) is written once, with its first value; but a `message` field
//! next to a format string (`info!(message = "x", "formatted {n}")`) is no message given
//! twice: the formatted text is the message, and the field is written as `fields.message`
//! (the OTLP record's attribute `message`). An error value
//! (`error = &e as &dyn Error`) is written with its sources: `"request failed: connection
//! refused"` (in the OTLP record, the `error` field is `exception.message`). A float always
//! has a fraction or an exponent (`2.0`, `1e300`), so no reader takes it for an integer;
//! non-finite floats are written as the strings `"NaN"`, `"Infinity"`, `"-Infinity"`. A
//! value (or message argument) whose `Debug` or `Display` panics is written as
//! [`FORMAT_PANICKED`], in the line and the OTLP record alike: the panic goes to the panic
//! hook, not to the code that logs. Other schemas: [`FieldNames::ecs`], [`FieldNames::otel`],
//! [`FieldNames::loki`].
//!
//! # Example
//!
//! ```
//! use obs_log::{JsonLayer, SpanFields};
//! use std::sync::{Arc, Mutex};
//! use tracing_subscriber::prelude::*;
//!
//! let out = Arc::new(Mutex::new(Vec::new()));
//! let subscriber = tracing_subscriber::registry()
//!     .with(obs_trace::SpanLayer::new())
//!     .with(JsonLayer::new()
//!         .with_writer(out.clone())
//!         .with_service_name("shop")
//!         .with_span_fields(SpanFields::Nested));
//! tracing::subscriber::with_default(subscriber, || {
//!     let _request = tracing::info_span!("request", method = "GET").entered();
//!     tracing::info!(user = "ann", attempt = 2, password = "hunter2", "logged in");
//! });
//!
//! let text = String::from_utf8(out.lock().unwrap().clone()).unwrap();
//! let line: serde_json::Value = serde_json::from_str(text.trim_end()).unwrap();
//! assert_eq!(line["message"], "logged in");
//! assert_eq!(line["level"], "INFO");
//! assert_eq!(line["service"], "shop");
//! assert_eq!(line["attempt"], 2);
//! assert_eq!(line["password"], "[REDACTED]");
//! assert_eq!(line["trace_id"].as_str().unwrap().len(), 32);
//! assert_eq!(line["trace_flags"], "03");
//! assert_eq!(line["spans"][0], serde_json::json!({"name": "request", "method": "GET"}));
//! ```

mod escape;
mod event_name;
mod event_time;
mod field_names;
mod json_fields;
mod json_layer;
mod non_blocking;
mod otlp;
mod redaction;
mod severity;
mod timestamp;
mod trace_context;
mod writer;

pub use field_names::{FieldNames, LevelStyle};
pub use json_layer::{JsonLayer, SpanFields};
pub use non_blocking::{
    DEFAULT_BUFFER_BYTES, DEFAULT_SHUTDOWN_TIMEOUT, DropCounter, FlushGuard, NonBlocking,
    NonBlockingBuilder,
};
pub use obs_trace::FORMAT_PANICKED;
pub use otlp::{InMemoryLogSink, LogAttribute, LogRecord, LogSink, LogValue, OtlpLogLayer};
pub use redaction::{REDACTED, Redaction};
pub use writer::{LogWriter, Stdout};
