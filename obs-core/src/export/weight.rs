//! What a queued span or log record holds in memory, roughly: the queue's byte budget
//! (`Builder::max_queue_bytes`) is spent on it.
//!
//! Counted: the record itself and its heap data that can be large (names, string values,
//! the attribute, event and link lists); a log record's own strings by their capacity (a
//! formatted message may hold up to twice its length). Not counted: allocator overhead, and
//! the spare capacity of a span's strings (not readable through `opentelemetry`'s types),
//! which are small beside what a budget is for (a 10 MB log message).

use std::mem::size_of;

use opentelemetry::{Array, KeyValue, Value};

/// The bytes a string value holds.
fn value_bytes(value: &Value) -> usize {
    match value {
        Value::String(s) => s.as_str().len(),
        Value::Array(Array::String(items)) => items.iter().map(|s| s.as_str().len()).sum(),
        Value::Array(Array::Bool(items)) => items.len(),
        Value::Array(Array::I64(items)) => items.len() * size_of::<i64>(),
        Value::Array(Array::F64(items)) => items.len() * size_of::<f64>(),
        _ => 0,
    }
}

fn attributes_bytes(attributes: &[KeyValue]) -> usize {
    attributes
        .iter()
        .map(|kv| size_of::<KeyValue>() + kv.key.as_str().len() + value_bytes(&kv.value))
        .sum()
}

/// The bytes `span` holds.
pub(crate) fn span_bytes(span: &obs_trace::SpanData) -> usize {
    let events: usize = span
        .events
        .iter()
        .map(|e| size_of::<obs_trace::SpanEvent>() + e.name.len() + attributes_bytes(&e.attributes))
        .sum();
    let links: usize = span
        .links
        .iter()
        .map(|l| size_of::<obs_trace::SpanLink>() + attributes_bytes(&l.attributes))
        .sum();
    size_of::<obs_trace::SpanData>()
        + span.name.len()
        + attributes_bytes(&span.attributes)
        + events
        + links
}

/// The bytes `record` holds.
pub(crate) fn log_record_bytes(record: &obs_log::LogRecord) -> usize {
    let attributes: usize = record
        .attributes
        .iter()
        .map(|a| {
            let value = match &a.value {
                obs_log::LogValue::String(s) => s.capacity(),
                obs_log::LogValue::Bytes(b) => b.capacity(),
                _ => 0,
            };
            size_of::<obs_log::LogAttribute>() + a.key.len() + value
        })
        .sum();
    size_of::<obs_log::LogRecord>()
        + record.body.as_ref().map_or(0, String::capacity)
        + record.event_name.len()
        + record.target.len()
        + attributes
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;
    use std::time::SystemTime;

    use super::*;

    #[test]
    fn a_log_record_weighs_the_memory_its_strings_hold() {
        // A message formatted into a buffer that grew past it holds the whole buffer.
        let mut body = String::with_capacity(1 << 20);
        body.push_str("short");
        let record = obs_log::LogRecord {
            timestamp: SystemTime::UNIX_EPOCH,
            observed_timestamp: SystemTime::UNIX_EPOCH,
            severity_number: 9,
            severity_text: "INFO",
            body: Some(body),
            event_name: Cow::Borrowed(""),
            target: Cow::Borrowed("app"),
            attributes: vec![obs_log::LogAttribute {
                key: Cow::Borrowed("user"),
                value: obs_log::LogValue::String("ann".repeat(1000)),
            }],
            dropped_attributes_count: 0,
            trace_id: None,
            span_id: None,
            trace_flags: None,
        };
        let weight = log_record_bytes(&record);
        assert!(weight >= (1 << 20) + 3000, "{weight}");
        assert!(weight < (1 << 20) + 3000 + 1024, "{weight}");
    }
}
