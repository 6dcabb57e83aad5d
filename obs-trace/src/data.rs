//! A finished span, handed to a [`SpanSink`] (the `obs-core` pipeline, or a test's memory).

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use opentelemetry::trace::{SpanKind, Status};
use opentelemetry::{KeyValue, Value};
use parking_lot::Mutex;

use crate::{SpanContext, SpanId};

/// An event recorded on a span (only when the layer is asked to record events).
#[derive(Clone, Debug, PartialEq)]
pub struct SpanEvent {
    /// The event's name (its message).
    pub name: Cow<'static, str>,
    /// When it happened.
    pub time: SystemTime,
    /// Its fields: the first ones, up to the layer's
    /// [`SpanLimits::event_attribute_count`](crate::SpanLimits::event_attribute_count).
    pub attributes: Vec<KeyValue>,
    /// How many of its fields were over the limit, and dropped (counted, not kept).
    pub dropped_attributes_count: u32,
}

/// A link from a span to another span, of this trace or another (OpenTelemetry Trace API,
/// "Link"): from `tracing`'s `Span::follows_from`, or [`SpanExt::add_link`](crate::SpanExt::add_link)
/// for a context from elsewhere (a message's `traceparent`, say).
#[derive(Clone, Debug, PartialEq)]
pub struct SpanLink {
    /// The linked span.
    pub span_context: SpanContext,
    /// The link's attributes: the first ones, up to the layer's
    /// [`SpanLimits::link_attribute_count`](crate::SpanLimits::link_attribute_count).
    pub attributes: Vec<KeyValue>,
    /// How many of its attributes were over the limit, and dropped.
    pub dropped_attributes_count: u32,
}

/// A finished, sampled span: everything OTLP needs.
#[derive(Clone, Debug, PartialEq)]
pub struct SpanData {
    /// The span name (`otel.name` if recorded, else the `tracing` span name).
    pub name: Cow<'static, str>,
    /// Ids, flags and trace state.
    pub span_context: SpanContext,
    /// The parent's span id; invalid for a root.
    pub parent_span_id: SpanId,
    /// Whether the parent was in another process.
    pub parent_is_remote: bool,
    /// The span id of this span's local root: the nearest span up from it, itself
    /// included, whose parent is in another process or that has none. The spans of one
    /// request in one service share it (tail sampling groups them by it).
    pub local_root_span_id: SpanId,
    /// `SERVER`, `CLIENT`, ... (`otel.kind`); `INTERNAL` by default.
    pub kind: SpanKind,
    /// When the span was created.
    pub start_time: SystemTime,
    /// When the span was closed.
    pub end_time: SystemTime,
    /// The span's fields, with dotted OpenTelemetry names kept as they are, within the
    /// layer's [`SpanLimits`](crate::SpanLimits).
    pub attributes: Vec<KeyValue>,
    /// How many attributes were over the limit, and dropped, as the span recorded.
    pub dropped_attributes_count: u32,
    /// Recorded events: the first ones, up to the layer's
    /// [`SpanLimits::event_count`](crate::SpanLimits::event_count).
    pub events: Vec<SpanEvent>,
    /// How many events were over the limit, and dropped, as the span recorded.
    pub dropped_events_count: u32,
    /// Links to other spans: the first ones, up to the layer's
    /// [`SpanLimits::link_count`](crate::SpanLimits::link_count).
    pub links: Vec<SpanLink>,
    /// How many links were over the limit, and dropped.
    pub dropped_links_count: u32,
    /// `Unset`, `Ok` or `Error` (`otel.status_code` / `otel.status_description`).
    pub status: Status,
    /// The instrumentation scope: the `tracing` target's crate.
    pub scope: &'static str,
}

impl SpanData {
    /// The value of the attribute `key`, if present.
    pub fn attribute(&self, key: &str) -> Option<&Value> {
        self.attributes
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| &kv.value)
    }
}

/// Where finished spans go. Implementations must not block: the call is made on the
/// application's thread as the span closes.
pub trait SpanSink: Send + Sync + fmt::Debug + 'static {
    /// Takes a finished sampled span.
    fn on_end(&self, span: SpanData);
}

/// A sink that keeps every span in memory, for tests and examples.
#[derive(Clone, Debug, Default)]
pub struct InMemorySpanSink {
    spans: Arc<Mutex<Vec<SpanData>>>,
}

impl InMemorySpanSink {
    /// An empty sink.
    pub fn new() -> Self {
        Self::default()
    }

    /// A copy of every span received so far.
    pub fn spans(&self) -> Vec<SpanData> {
        self.spans.lock().clone()
    }

    /// Takes the spans received so far, leaving the sink empty.
    pub fn take(&self) -> Vec<SpanData> {
        std::mem::take(&mut *self.spans.lock())
    }
}

impl SpanSink for InMemorySpanSink {
    fn on_end(&self, span: SpanData) {
        self.spans.lock().push(span);
    }
}
