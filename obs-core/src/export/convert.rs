//! From the leaves' neutral data to OTLP protobuf messages.

use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry::trace::{SpanKind, Status};
use opentelemetry::{Array, Value};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue, any_value,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, span, status};

use obs_trace::SpanData;

/// Nanoseconds since the Unix epoch; 0 for times before it.
pub(crate) fn unix_nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

pub(crate) fn string_value(s: impl Into<String>) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::StringValue(s.into())),
    }
}

pub(crate) fn any_value(v: &Value) -> AnyValue {
    use any_value::Value as V;
    let value = match v {
        Value::Bool(b) => V::BoolValue(*b),
        Value::I64(i) => V::IntValue(*i),
        Value::F64(f) => V::DoubleValue(*f),
        Value::String(s) => V::StringValue(s.as_str().to_owned()),
        Value::Array(a) => {
            let values = match a {
                Array::Bool(v) => v.iter().map(|b| any_value(&Value::Bool(*b))).collect(),
                Array::I64(v) => v.iter().map(|i| any_value(&Value::I64(*i))).collect(),
                Array::F64(v) => v.iter().map(|f| any_value(&Value::F64(*f))).collect(),
                Array::String(v) => v.iter().map(|s| string_value(s.as_str())).collect(),
                _ => Vec::new(),
            };
            V::ArrayValue(ArrayValue { values })
        }
        other => V::StringValue(other.as_str().into_owned()),
    };
    AnyValue { value: Some(value) }
}

pub(crate) fn key_value(kv: &opentelemetry::KeyValue) -> KeyValue {
    KeyValue {
        key: kv.key.as_str().to_owned(),
        value: Some(any_value(&kv.value)),
        ..Default::default()
    }
}

pub(crate) fn scope(name: &str) -> InstrumentationScope {
    InstrumentationScope {
        name: name.to_owned(),
        ..Default::default()
    }
}

fn span_kind(kind: &SpanKind) -> span::SpanKind {
    match kind {
        SpanKind::Client => span::SpanKind::Client,
        SpanKind::Server => span::SpanKind::Server,
        SpanKind::Producer => span::SpanKind::Producer,
        SpanKind::Consumer => span::SpanKind::Consumer,
        SpanKind::Internal => span::SpanKind::Internal,
    }
}

// OTLP `SpanFlags`: bits 8 and 9 say whether the parent is known to be remote.
const HAS_IS_REMOTE: u32 = 0x100;
const IS_REMOTE: u32 = 0x200;

fn span(s: SpanData) -> Span {
    let parent_span_id = if s.parent_span_id.is_valid() {
        s.parent_span_id.to_bytes().to_vec()
    } else {
        Vec::new()
    };
    let status = match s.status {
        Status::Unset => None,
        Status::Ok => Some(opentelemetry_proto::tonic::trace::v1::Status {
            message: String::new(),
            code: status::StatusCode::Ok as i32,
        }),
        Status::Error { description } => Some(opentelemetry_proto::tonic::trace::v1::Status {
            message: description.into_owned(),
            code: status::StatusCode::Error as i32,
        }),
    };
    Span {
        trace_id: s.span_context.trace_id.to_bytes().to_vec(),
        span_id: s.span_context.span_id.to_bytes().to_vec(),
        trace_state: s.span_context.trace_state.header().to_owned(),
        parent_span_id,
        flags: u32::from(s.span_context.flags.to_u8())
            | HAS_IS_REMOTE
            | if s.parent_is_remote { IS_REMOTE } else { 0 },
        name: s.name.into_owned(),
        kind: span_kind(&s.kind) as i32,
        start_time_unix_nano: unix_nanos(s.start_time),
        end_time_unix_nano: unix_nanos(s.end_time),
        attributes: s.attributes.iter().map(key_value).collect(),
        dropped_attributes_count: 0,
        events: s
            .events
            .into_iter()
            .map(|e| span::Event {
                time_unix_nano: unix_nanos(e.time),
                name: e.name.into_owned(),
                attributes: e.attributes.iter().map(key_value).collect(),
                dropped_attributes_count: 0,
            })
            .collect(),
        dropped_events_count: 0,
        links: Vec::new(),
        dropped_links_count: 0,
        status,
    }
}

/// Groups items by instrumentation scope, keeping first-seen order of scopes and items.
fn by_scope<T, P>(
    items: Vec<T>,
    scope_of: impl Fn(&T) -> &str,
    convert: impl Fn(T) -> P,
) -> Vec<(InstrumentationScope, Vec<P>)> {
    let mut groups: Vec<(InstrumentationScope, Vec<P>)> = Vec::new();
    for item in items {
        let name = scope_of(&item);
        let index = match groups.iter().position(|(sc, _)| sc.name == name) {
            Some(index) => index,
            None => {
                groups.push((scope(name), Vec::new()));
                groups.len() - 1
            }
        };
        groups[index].1.push(convert(item));
    }
    groups
}

/// One request: one resource, one scope per instrumentation scope.
pub(crate) fn traces_request(
    resource: &Resource,
    spans: Vec<SpanData>,
) -> ExportTraceServiceRequest {
    let scope_spans = by_scope(spans, |s| s.scope, span)
        .into_iter()
        .map(|(scope, spans)| ScopeSpans {
            scope: Some(scope),
            spans,
            schema_url: String::new(),
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(resource.clone()),
            scope_spans,
            schema_url: String::new(),
        }],
    }
}

fn log_value(v: &obs_log::LogValue) -> AnyValue {
    use any_value::Value as V;
    AnyValue {
        value: Some(match v {
            obs_log::LogValue::String(s) => V::StringValue(s.clone()),
            obs_log::LogValue::I64(i) => V::IntValue(*i),
            obs_log::LogValue::F64(f) => V::DoubleValue(*f),
            obs_log::LogValue::Bool(b) => V::BoolValue(*b),
        }),
    }
}

fn log_record(r: obs_log::LogRecord) -> LogRecord {
    LogRecord {
        time_unix_nano: unix_nanos(r.timestamp),
        observed_time_unix_nano: unix_nanos(r.observed_timestamp),
        severity_number: r.severity_number,
        severity_text: r.severity_text.to_owned(),
        body: r.body.map(string_value),
        attributes: r
            .attributes
            .iter()
            .map(|a| KeyValue {
                key: a.key.clone().into_owned(),
                value: Some(log_value(&a.value)),
                ..Default::default()
            })
            .collect(),
        dropped_attributes_count: 0,
        flags: r.trace_flags.map_or(0, |f| u32::from(f.to_u8())),
        trace_id: r
            .trace_id
            .map(|t| t.to_bytes().to_vec())
            .unwrap_or_default(),
        span_id: r.span_id.map(|s| s.to_bytes().to_vec()).unwrap_or_default(),
        event_name: r.event_name.into_owned(),
    }
}

/// One request: one resource, one scope per event target's crate.
pub(crate) fn logs_request(
    resource: &Resource,
    records: Vec<obs_log::LogRecord>,
) -> ExportLogsServiceRequest {
    let scope_logs = by_scope(
        records,
        |r| r.target.split("::").next().unwrap_or_default(),
        log_record,
    )
    .into_iter()
    .map(|(scope, log_records)| ScopeLogs {
        scope: Some(scope),
        log_records,
        schema_url: String::new(),
    })
    .collect();
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(resource.clone()),
            scope_logs,
            schema_url: String::new(),
        }],
    }
}
