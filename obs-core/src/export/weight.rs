//! What a queued span or log record holds in memory, roughly: the queue's byte budget
//! (`Builder::max_queue_bytes`) is spent on it.
//!
//! Counted: the record itself and its heap data that can be large (names, string values,
//! the attribute, event and link lists). Not counted: allocator overhead and capacity left
//! over, which are small beside what a budget is for (a 10 MB log message).

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
                obs_log::LogValue::String(s) => s.len(),
                _ => 0,
            };
            size_of::<obs_log::LogAttribute>() + a.key.len() + value
        })
        .sum();
    size_of::<obs_log::LogRecord>()
        + record.body.as_ref().map_or(0, String::len)
        + record.event_name.len()
        + record.target.len()
        + attributes
}
