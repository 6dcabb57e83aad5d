//! Rendering `tracing` fields as JSON members: event fields straight into the line, span
//! fields once into a fragment kept in the span's extensions.

use std::fmt;
use std::ops::Range;

use obs_trace::ErrorChain;
use tracing_core::field::{Field, Visit};

use crate::escape;
use crate::field_names::{ReservedKeys, USER_FIELD_PREFIX};
use crate::redaction::{REDACTED, Redaction};

/// The key events use for their formatted message.
pub(crate) const MESSAGE: &str = "message";

/// Where a `"key":value` member sits in a buffer, and the field it came from.
#[derive(Clone, Debug)]
pub(crate) struct Member {
    pub(crate) name: &'static str,
    pub(crate) range: Range<usize>,
}

/// Which keys a user field must not take.
#[derive(Clone, Copy)]
pub(crate) enum Reserved<'a> {
    /// Top level of the line: every key of the layer's [`FieldNames`](crate::FieldNames).
    Line(&'a ReservedKeys),
    /// Inside a span object in `spans`: only `name`.
    SpanObject,
}

impl Reserved<'_> {
    fn must_prefix(self, key: &str) -> bool {
        match self {
            Reserved::Line(names) => names.must_prefix(key),
            Reserved::SpanObject => key == SPAN_NAME || key.starts_with(USER_FIELD_PREFIX),
        }
    }
}

/// The key of a span's name in its object under `spans`.
pub(crate) const SPAN_NAME: &str = "name";

/// Writes each field as `,"key":value`, recording where each member is.
pub(crate) struct MemberWriter<'a> {
    pub(crate) out: &'a mut Vec<u8>,
    pub(crate) members: &'a mut Vec<Member>,
    pub(crate) reserved: Reserved<'a>,
    pub(crate) redaction: &'a Redaction,
    /// Events write their first `message` field separately, as the message
    /// ([`MessageWriter`]); spans keep a `message` field like any other. Cleared once that
    /// field is skipped: a later `message` is a user field.
    pub(crate) skip_message: bool,
    /// A `log` record's `log.target`, `log.file`... fields, which are its metadata.
    pub(crate) skip_log_fields: bool,
}

impl MemberWriter<'_> {
    /// Writes the key; returns `false` if the value must not be written (skipped field, or
    /// redacted, in which case the placeholder is already there).
    #[inline]
    fn key(&mut self, field: &Field) -> bool {
        let name = field.name();
        // A field given twice (`info!(a = 1, a = 2)` compiles) is written once, with its
        // first value, as the message is: a key must appear once in a JSON object.
        if self.skip_message && name == MESSAGE {
            // `info!(message = "explicit", "formatted {}", 1)` gives two `message` fields,
            // the formatted one first (`tracing`'s macros put the format string first):
            // that one is the message, and the other is written as any field named like a
            // reserved key is (`fields.message`), not lost.
            self.skip_message = false;
            return false;
        }
        if (self.skip_log_fields && name.starts_with("log."))
            || self.members.iter().any(|m| m.name == name)
        {
            return false;
        }
        self.out.push(b',');
        let start = self.out.len();
        self.out.push(b'"');
        if self.reserved.must_prefix(name) {
            self.out.extend_from_slice(USER_FIELD_PREFIX.as_bytes());
        }
        escape::escape_into(self.out, name);
        self.out.extend_from_slice(b"\":");
        self.members.push(Member {
            name,
            range: start..start,
        });
        if self.redaction.is_redacted(name) {
            escape::write_str(self.out, REDACTED);
            self.end();
            return false;
        }
        true
    }

    #[inline]
    fn end(&mut self) {
        if let Some(m) = self.members.last_mut() {
            m.range.end = self.out.len();
        }
    }
}

impl Visit for MemberWriter<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        if self.key(field) {
            escape::write_f64(self.out, value);
            self.end();
        }
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        if self.key(field) {
            escape::write_int(self.out, value);
            self.end();
        }
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        if self.key(field) {
            escape::write_int(self.out, value);
            self.end();
        }
    }
    fn record_i128(&mut self, field: &Field, value: i128) {
        if self.key(field) {
            escape::write_int(self.out, value);
            self.end();
        }
    }
    fn record_u128(&mut self, field: &Field, value: u128) {
        if self.key(field) {
            escape::write_int(self.out, value);
            self.end();
        }
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        if self.key(field) {
            self.out
                .extend_from_slice(if value { b"true" } else { b"false" });
            self.end();
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if self.key(field) {
            escape::write_str(self.out, value);
            self.end();
        }
    }
    fn record_bytes(&mut self, field: &Field, value: &[u8]) {
        if self.key(field) {
            escape::write_lossy(self.out, value);
            self.end();
        }
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        if self.key(field) {
            escape::write_display(self.out, &ErrorChain(value));
            self.end();
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.key(field) {
            escape::write_debug(self.out, value);
            self.end();
        }
    }
}

/// Writes an event's `message` field, whatever its type, as a JSON string.
pub(crate) struct MessageWriter<'a> {
    pub(crate) out: &'a mut Vec<u8>,
    pub(crate) written: bool,
}

impl MessageWriter<'_> {
    #[inline]
    fn is_message(&mut self, field: &Field) -> bool {
        // Only the first `message` field: a second one (`message = ..` next to a format
        // string) is a user field, written by `MemberWriter`.
        field.name() == MESSAGE && !std::mem::replace(&mut self.written, true)
    }
}

impl Visit for MessageWriter<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if self.is_message(field) {
            escape::write_str(self.out, value);
        }
    }
    fn record_bytes(&mut self, field: &Field, value: &[u8]) {
        if self.is_message(field) {
            escape::write_lossy(self.out, value);
        }
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        if self.is_message(field) {
            escape::write_display(self.out, &ErrorChain(value));
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // `format_args!` messages arrive here; their `Debug` is their `Display`.
        if self.is_message(field) {
            escape::write_debug(self.out, value);
        }
    }
}

/// A span's fields, rendered once when the span is created (and again when it records).
///
/// `object` is the span as it appears under `spans`: `{"name":"..","k":v,..}`; `members`
/// locates each `"k":v` in it so flattened output can copy them one by one.
#[derive(Debug)]
pub(crate) struct SpanJson {
    /// The [`JsonLayer`](crate::JsonLayer) that rendered it (layers may differ in schema).
    pub(crate) layer: u64,
    pub(crate) object: Vec<u8>,
    pub(crate) members: Vec<Member>,
}

impl SpanJson {
    /// Renders a new span's name and fields.
    pub(crate) fn render(
        layer: u64,
        name: &str,
        reserved: Reserved<'_>,
        redaction: &Redaction,
        record: impl FnOnce(&mut dyn Visit),
    ) -> Self {
        let mut object = Vec::with_capacity(64);
        let mut members = Vec::new();
        Self::write_head(&mut object, name);
        record(&mut MemberWriter {
            out: &mut object,
            members: &mut members,
            reserved,
            redaction,
            skip_message: false,
            skip_log_fields: false,
        });
        object.push(b'}');
        SpanJson {
            layer,
            object,
            members,
        }
    }

    fn write_head(out: &mut Vec<u8>, name: &str) {
        out.extend_from_slice(b"{\"");
        out.extend_from_slice(SPAN_NAME.as_bytes());
        out.extend_from_slice(b"\":");
        escape::write_str(out, name);
    }

    /// Applies `Span::record` values, rendered beforehand by [`RecordedFields::render`]: a
    /// recorded field replaces its earlier value, so no key appears twice; new fields go at
    /// the end.
    pub(crate) fn update(&mut self, name: &str, recorded: &RecordedFields) {
        let RecordedFields {
            object: fresh,
            members: fresh_members,
        } = recorded;
        if fresh_members.is_empty() {
            return;
        }
        let mut object = Vec::with_capacity(self.object.len() + fresh.len());
        let mut members = Vec::with_capacity(self.members.len() + fresh_members.len());
        Self::write_head(&mut object, name);
        let kept = self
            .members
            .iter()
            .filter(|m| !fresh_members.iter().any(|f| f.name == m.name))
            .map(|m| (m.name, &self.object[m.range.clone()]));
        let added = fresh_members
            .iter()
            .map(|m| (m.name, &fresh[m.range.clone()]));
        for (name, bytes) in kept.chain(added) {
            object.push(b',');
            let start = object.len();
            object.extend_from_slice(bytes);
            members.push(Member {
                name,
                range: start..object.len(),
            });
        }
        object.push(b'}');
        self.object = object;
        self.members = members;
    }
}

/// The values of one `Span::record` call as `,"key":value` members, rendered before the span's
/// extensions are locked to [`update`](SpanJson::update) its rendering: a value's `Debug`
/// that logs inside the span would otherwise wait for that lock on its own thread, for ever.
pub(crate) struct RecordedFields {
    object: Vec<u8>,
    members: Vec<Member>,
}

impl RecordedFields {
    pub(crate) fn render(
        reserved: Reserved<'_>,
        redaction: &Redaction,
        record: impl FnOnce(&mut dyn Visit),
    ) -> Self {
        let mut fields = RecordedFields {
            object: Vec::new(),
            members: Vec::new(),
        };
        record(&mut MemberWriter {
            out: &mut fields.object,
            members: &mut fields.members,
            reserved,
            redaction,
            skip_message: false,
            skip_log_fields: false,
        });
        fields
    }
}

/// The renderings of one span, one per [`JsonLayer`](crate::JsonLayer) in the subscriber
/// (almost always exactly one, kept inline).
#[derive(Debug)]
pub(crate) struct SpanJsonSet {
    first: SpanJson,
    more: Vec<SpanJson>,
}

impl SpanJsonSet {
    pub(crate) fn new(first: SpanJson) -> Self {
        SpanJsonSet {
            first,
            more: Vec::new(),
        }
    }

    pub(crate) fn add(&mut self, json: SpanJson) {
        self.more.push(json);
    }

    #[inline]
    pub(crate) fn get(&self, layer: u64) -> Option<&SpanJson> {
        if self.first.layer == layer {
            Some(&self.first)
        } else {
            self.more.iter().find(|s| s.layer == layer)
        }
    }

    pub(crate) fn get_mut(&mut self, layer: u64) -> Option<&mut SpanJson> {
        if self.first.layer == layer {
            Some(&mut self.first)
        } else {
            self.more.iter_mut().find(|s| s.layer == layer)
        }
    }
}
