//! From the leaves' neutral data to OTLP protobuf messages.

use std::sync::atomic::{AtomicBool, Ordering};
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

use obs_trace::{AttributeLimits, SpanData, SpanLimits};

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

/// An attribute value, its strings (those in arrays too) cut to the value length limit.
fn any_value(v: &Value, limits: &AttributeLimits) -> AnyValue {
    use any_value::Value as V;
    let string = |s: &str| V::StringValue(limits.truncate(s).to_owned());
    let value = match v {
        Value::Bool(b) => V::BoolValue(*b),
        Value::I64(i) => V::IntValue(*i),
        Value::F64(f) => V::DoubleValue(*f),
        Value::String(s) => string(s.as_str()),
        Value::Array(a) => {
            let wrap = |value| AnyValue { value: Some(value) };
            let values = match a {
                Array::Bool(v) => v.iter().map(|b| wrap(V::BoolValue(*b))).collect(),
                Array::I64(v) => v.iter().map(|i| wrap(V::IntValue(*i))).collect(),
                Array::F64(v) => v.iter().map(|f| wrap(V::DoubleValue(*f))).collect(),
                Array::String(v) => v.iter().map(|s| wrap(string(s.as_str()))).collect(),
                _ => Vec::new(),
            };
            V::ArrayValue(ArrayValue { values })
        }
        other => string(&other.as_str()),
    };
    AnyValue { value: Some(value) }
}

/// The first `count` of `items` (a record's attributes, or a span's events), converted by
/// `convert`, and how many were dropped: those over `count` here, and the `earlier` ones the
/// span layer dropped as the span recorded. A drop is said once per `warned` flag, as the
/// spec asks ("at most once per" limit, not per attribute).
fn limited<A, O>(
    items: &[A],
    count: usize,
    earlier: u32,
    convert: impl Fn(&A) -> O,
    warned: &AtomicBool,
    what: &str,
) -> (Vec<O>, u32) {
    let kept = items.len().min(count);
    let dropped = u32::try_from(items.len() - kept)
        .unwrap_or(u32::MAX)
        .saturating_add(earlier);
    if dropped > 0 && !warned.swap(true, Ordering::Relaxed) {
        obs_trace::diagnostics::warn(format_args!(
            "obs: {what} over the limit of {count} dropped, and counted in the record's \
             dropped_attributes_count, dropped_events_count or dropped_links_count (warned once)"
        ));
    }
    let converted = items[..kept].iter().map(convert).collect();
    (converted, dropped)
}

/// Leaves one attribute per key in `items`, the first given: the common spec's "Attribute
/// Collections" has exported collections "contain only unique keys". A `tracing` field
/// given twice (`info_span!("load", shard = 1, shard = 2)` compiles) reaches a span, an
/// event or a record once per value; the first is kept, as in the log records and JSON
/// lines (`obs_log`), while `Span::record` still replaces a value (the span layer's
/// update). Done here, on the export thread, rather than as the span layer records, where
/// a new span's fields skip the search for an earlier key to keep span creation cheap.
/// Not counted as dropped: no limit left the value out.
fn first_of_each_key<T>(items: &mut Vec<T>, key: impl Fn(&T) -> &str) {
    // Pairwise for the usual handful of keys, with nothing allocated unless a key repeats;
    // a set past that, where pairs grow as the square (the default limit of 128 attributes
    // would make 8,128 comparisons).
    const PAIRWISE_UP_TO: usize = 16;
    let keep: Vec<bool> = if items.len() <= PAIRWISE_UP_TO {
        let is_first = |i: usize| !items[..i].iter().any(|e| key(e) == key(&items[i]));
        if (0..items.len()).all(is_first) {
            return;
        }
        (0..items.len()).map(is_first).collect()
    } else {
        let mut seen = std::collections::HashSet::with_capacity(items.len());
        items.iter().map(|item| seen.insert(key(item))).collect()
    };
    let mut kept = keep.into_iter();
    items.retain(|_| kept.next().unwrap_or(true));
}

fn key_value(kv: &opentelemetry::KeyValue, limits: &AttributeLimits) -> KeyValue {
    KeyValue {
        key: kv.key.as_str().to_owned(),
        value: Some(any_value(&kv.value, limits)),
        ..Default::default()
    }
}

/// The instrumentation scope `name`: with its crate's version when it is one of obs's own
/// (the OTLP `InstrumentationScope.version`, "the version of the instrumentation scope";
/// the Tracer, Meter and Logger of the OpenTelemetry API take one), and none for an
/// application's crate or target, whose version obs can't know. `obs_tower` and
/// `obs_tonic` are known with this crate's `tower` and `tonic` features (without them,
/// such spans come from a direct dependency on those crates and go without a version).
pub(crate) fn scope(name: &str) -> InstrumentationScope {
    let version = match name {
        "obs-metrics" => obs_metrics::VERSION,
        #[cfg(feature = "tower")]
        "obs_tower" => obs_tower::VERSION,
        #[cfg(feature = "tonic")]
        "obs_tonic" => obs_tonic::VERSION,
        _ => "",
    };
    InstrumentationScope {
        name: name.to_owned(),
        version: version.to_owned(),
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

static SPAN_ATTRIBUTES_WARNED: AtomicBool = AtomicBool::new(false);
static SPAN_EVENTS_WARNED: AtomicBool = AtomicBool::new(false);
static EVENT_ATTRIBUTES_WARNED: AtomicBool = AtomicBool::new(false);
static SPAN_LINKS_WARNED: AtomicBool = AtomicBool::new(false);
static LINK_ATTRIBUTES_WARNED: AtomicBool = AtomicBool::new(false);
static LOG_ATTRIBUTES_WARNED: AtomicBool = AtomicBool::new(false);

/// `s` as OTLP: within `limits`, with one value per attribute key (the first), and with the
/// values of the attributes `redaction` names (the span's, its events' and its links') as
/// [`obs_log::REDACTED`]. Redacted here, where spans leave the process, rather than as they
/// record: the request path pays nothing for it, and the JSON lines and log records of the
/// same fields hide the same values.
fn span(mut s: SpanData, limits: &SpanLimits, redaction: &obs_log::Redaction) -> Span {
    fn key(kv: &opentelemetry::KeyValue) -> &str {
        kv.key.as_str()
    }
    first_of_each_key(&mut s.attributes, key);
    for event in &mut s.events {
        first_of_each_key(&mut event.attributes, key);
    }
    for link in &mut s.links {
        first_of_each_key(&mut link.attributes, key);
    }
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
    // Applied again (the span may come from a layer with other limits, or none): a span
    // already within them passes unchanged, and its own drop counts are added.
    // The span's, an event's or a link's attributes, each kind with its own count limit.
    let attributes_within =
        |list: &[opentelemetry::KeyValue], count, earlier, warned: &AtomicBool, what: &str| {
            limited(
                list,
                count,
                earlier,
                |kv| {
                    if redaction.is_redacted(kv.key.as_str()) {
                        KeyValue {
                            key: kv.key.as_str().to_owned(),
                            value: Some(string_value(obs_log::REDACTED)),
                            ..Default::default()
                        }
                    } else {
                        key_value(kv, &limits.attributes)
                    }
                },
                warned,
                what,
            )
        };
    let (attributes, dropped_attributes_count) = attributes_within(
        &s.attributes,
        limits.attributes.count,
        s.dropped_attributes_count,
        &SPAN_ATTRIBUTES_WARNED,
        "span attributes",
    );
    let event = |e: &obs_trace::SpanEvent| {
        let (attributes, dropped_attributes_count) = attributes_within(
            &e.attributes,
            limits.event_attribute_count,
            e.dropped_attributes_count,
            &EVENT_ATTRIBUTES_WARNED,
            "span event attributes",
        );
        span::Event {
            time_unix_nano: unix_nanos(e.time),
            name: e.name.to_string(),
            attributes,
            dropped_attributes_count,
        }
    };
    let (events, dropped_events_count) = limited(
        &s.events,
        limits.event_count,
        s.dropped_events_count,
        event,
        &SPAN_EVENTS_WARNED,
        "span events",
    );
    let link = |l: &obs_trace::SpanLink| {
        let (attributes, dropped_attributes_count) = attributes_within(
            &l.attributes,
            limits.link_attribute_count,
            l.dropped_attributes_count,
            &LINK_ATTRIBUTES_WARNED,
            "span link attributes",
        );
        let context = &l.span_context;
        span::Link {
            trace_id: context.trace_id.to_bytes().to_vec(),
            span_id: context.span_id.to_bytes().to_vec(),
            trace_state: context.trace_state.header().to_owned(),
            attributes,
            dropped_attributes_count,
            flags: u32::from(context.flags.to_u8())
                | HAS_IS_REMOTE
                | if context.is_remote { IS_REMOTE } else { 0 },
        }
    };
    let (links, dropped_links_count) = limited(
        &s.links,
        limits.link_count,
        s.dropped_links_count,
        link,
        &SPAN_LINKS_WARNED,
        "span links",
    );
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
        attributes,
        dropped_attributes_count,
        events,
        dropped_events_count,
        links,
        dropped_links_count,
        status,
    }
}

/// Groups items by instrumentation scope, keeping first-seen order of scopes and items.
pub(crate) fn by_scope<T, P>(
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
    limits: &SpanLimits,
    redaction: &obs_log::Redaction,
    spans: Vec<SpanData>,
) -> ExportTraceServiceRequest {
    let scope_spans = by_scope(spans, |s| s.scope, |s| span(s, limits, redaction))
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
            schema_url: crate::resource::SCHEMA_URL.to_owned(),
        }],
    }
}

fn log_value(v: &obs_log::LogValue, limits: &AttributeLimits) -> AnyValue {
    use any_value::Value as V;
    AnyValue {
        value: Some(match v {
            obs_log::LogValue::String(s) => V::StringValue(limits.truncate(s).to_owned()),
            obs_log::LogValue::Bytes(b) => V::BytesValue(limits.truncate_bytes(b).to_vec()),
            obs_log::LogValue::I64(i) => V::IntValue(*i),
            obs_log::LogValue::F64(f) => V::DoubleValue(*f),
            obs_log::LogValue::Bool(b) => V::BoolValue(*b),
        }),
    }
}

fn log_record(mut r: obs_log::LogRecord, limits: &AttributeLimits) -> LogRecord {
    // The layer applied the limits and kept one value per key as it made the record; again
    // here for records from any other sink's producer, adding what the layer left out.
    first_of_each_key(&mut r.attributes, |a| &a.key);
    let (attributes, dropped_attributes_count) = limited(
        &r.attributes,
        limits.count,
        r.dropped_attributes_count,
        |a| KeyValue {
            key: a.key.clone().into_owned(),
            value: Some(log_value(&a.value, limits)),
            ..Default::default()
        },
        &LOG_ATTRIBUTES_WARNED,
        "log record attributes",
    );
    LogRecord {
        time_unix_nano: unix_nanos(r.timestamp),
        observed_time_unix_nano: unix_nanos(r.observed_timestamp),
        severity_number: r.severity_number,
        severity_text: r.severity_text.to_owned(),
        // The body is no attribute: the limits leave it whole.
        body: r.body.map(string_value),
        attributes,
        dropped_attributes_count,
        flags: r.trace_flags.map_or(0, |f| u32::from(f.to_u8())),
        trace_id: r
            .trace_id
            .map(|t| t.to_bytes().to_vec())
            .unwrap_or_default(),
        span_id: r.span_id.map(|s| s.to_bytes().to_vec()).unwrap_or_default(),
        event_name: r.event_name.into_owned(),
    }
}

/// One request: one resource, one scope per event target.
///
/// A span's scope is its crate (the instrumentation library), a log record's its whole
/// target: that is the logger name, which the Logs Bridge API says "SHOULD be recorded as
/// the Instrumentation Scope name".
pub(crate) fn logs_request(
    resource: &Resource,
    limits: &AttributeLimits,
    records: Vec<obs_log::LogRecord>,
) -> ExportLogsServiceRequest {
    let scope_logs = by_scope(records, |r| &r.target, |r| log_record(r, limits))
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
            schema_url: crate::resource::SCHEMA_URL.to_owned(),
        }],
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use obs_log::Redaction;
    use opentelemetry::{KeyValue as OtelKeyValue, StringValue};

    use super::*;

    fn text(v: &AnyValue) -> &str {
        match &v.value {
            Some(any_value::Value::StringValue(s)) => s,
            other => panic!("not a string: {other:?}"),
        }
    }

    fn span_data(attributes: usize, events: usize) -> SpanData {
        let attribute = |i: usize| OtelKeyValue::new(format!("a{i}"), format!("välue-{i}"));
        SpanData {
            name: Cow::Borrowed("limited"),
            span_context: obs_trace::SpanContext::default(),
            parent_span_id: obs_trace::SpanId::INVALID,
            parent_is_remote: false,
            local_root_span_id: obs_trace::SpanId::INVALID,
            kind: SpanKind::Internal,
            start_time: SystemTime::now(),
            end_time: SystemTime::now(),
            attributes: (0..attributes).map(attribute).collect(),
            dropped_attributes_count: 0,
            events: (0..events)
                .map(|i| obs_trace::SpanEvent {
                    name: Cow::Owned(format!("event {i}")),
                    time: SystemTime::now(),
                    attributes: (0..attributes).map(attribute).collect(),
                    dropped_attributes_count: 0,
                })
                .collect(),
            dropped_events_count: 0,
            links: Vec::new(),
            dropped_links_count: 0,
            status: Status::Unset,
            scope: "test",
        }
    }

    /// OTLP `InstrumentationScope.version`: obs's own scopes carry their crate's version;
    /// an application's crate or target gets none invented.
    #[test]
    fn obs_own_scopes_carry_their_crate_version_and_others_none() {
        let version = |name: &str| scope(name).version;
        assert!(!obs_metrics::VERSION.is_empty());
        assert_eq!(version("obs-metrics"), obs_metrics::VERSION);
        // Every obs crate has the workspace's version.
        let with = |enabled: bool| {
            if enabled {
                env!("CARGO_PKG_VERSION")
            } else {
                ""
            }
        };
        assert_eq!(version("obs_tower"), with(cfg!(feature = "tower")));
        assert_eq!(version("obs_tonic"), with(cfg!(feature = "tonic")));
        for other in ["checkout", "legacy::db", "obs", "obs_metrics", ""] {
            assert_eq!(version(other), "", "{other}");
        }
    }

    #[test]
    fn span_attributes_events_and_links_beyond_the_limits_are_dropped_and_counted() {
        let limits = SpanLimits {
            attributes: AttributeLimits {
                count: 3,
                value_length: Some(4),
            },
            event_count: 2,
            event_attribute_count: 1,
            link_count: 1,
            link_attribute_count: 2,
        };
        let mut data = span_data(5, 4);
        let link = |n: u64| obs_trace::SpanLink {
            span_context: obs_trace::SpanContext {
                trace_id: obs_trace::TraceId::from_u128(7),
                span_id: obs_trace::SpanId::from_u64(n),
                ..Default::default()
            },
            attributes: data.attributes.clone(),
            dropped_attributes_count: 1,
        };
        data.links = vec![link(1), link(2), link(3)];
        data.attributes.push(OtelKeyValue::new("n", 123_456_i64));
        data.attributes.insert(
            0,
            OtelKeyValue::new(
                "tags",
                Value::Array(Array::String(vec![
                    StringValue::from("alpha"),
                    StringValue::from("β"),
                ])),
            ),
        );
        let s = span(data, &limits, &Redaction::none());
        // The first three set are kept, in order; the other four are counted.
        let keys: Vec<&str> = s.attributes.iter().map(|kv| kv.key.as_str()).collect();
        assert_eq!(keys, ["tags", "a0", "a1"]);
        assert_eq!(s.dropped_attributes_count, 4);
        let Some(any_value::Value::ArrayValue(tags)) =
            &s.attributes[0].value.as_ref().unwrap().value
        else {
            panic!("an array");
        };
        let tags: Vec<&str> = tags.values.iter().map(text).collect();
        assert_eq!(tags, ["alph", "β"], "each string of an array is cut");
        assert_eq!(text(s.attributes[1].value.as_ref().unwrap()), "välu");
        assert_eq!(s.events.len(), 2);
        assert_eq!(s.dropped_events_count, 2);
        for event in &s.events {
            assert_eq!(event.attributes.len(), 1);
            assert_eq!(event.dropped_attributes_count, 4);
            assert_eq!(text(event.attributes[0].value.as_ref().unwrap()), "välu");
        }
        let [link] = s.links.as_slice() else {
            panic!("one link: {:?}", s.links);
        };
        assert_eq!(s.dropped_links_count, 2);
        assert_eq!(link.span_id, 1_u64.to_be_bytes());
        assert_eq!(link.attributes.len(), 2);
        assert_eq!(link.dropped_attributes_count, 1 + 3, "its own and these");
        assert_eq!(text(link.attributes[0].value.as_ref().unwrap()), "välu");
        assert_eq!(link.flags, 0x100, "not sampled, known to be local");
    }

    /// The fields a log line hides are hidden where spans leave the process: the span's
    /// attributes (its fields), its events' and its links', by the same name rules; other
    /// attributes and their order are kept, and a redacted value counts as a string.
    #[test]
    fn redacted_attributes_of_spans_events_and_links_leave_as_redacted() {
        let secrets = || {
            vec![
                OtelKeyValue::new("user.id", 7_i64),
                OtelKeyValue::new("db_password", "hunter2"),
                OtelKeyValue::new("accessToken", 42_i64),
                OtelKeyValue::new("token_count", 3_i64),
            ]
        };
        let mut data = span_data(0, 1);
        data.attributes = secrets();
        data.events[0].attributes = secrets();
        data.links.push(obs_trace::SpanLink {
            span_context: obs_trace::SpanContext::default(),
            attributes: secrets(),
            dropped_attributes_count: 0,
        });
        let s = span(data, &SpanLimits::DEFAULT, &Redaction::default());
        for (what, attributes) in [
            ("span", &s.attributes),
            ("event", &s.events[0].attributes),
            ("link", &s.links[0].attributes),
        ] {
            let shown: Vec<(&str, String)> = attributes
                .iter()
                .map(|kv| {
                    (
                        kv.key.as_str(),
                        format!("{:?}", kv.value.as_ref().unwrap().value),
                    )
                })
                .collect();
            assert_eq!(
                shown,
                [
                    ("user.id", "Some(IntValue(7))".to_owned()),
                    (
                        "db_password",
                        "Some(StringValue(\"[REDACTED]\"))".to_owned()
                    ),
                    (
                        "accessToken",
                        "Some(StringValue(\"[REDACTED]\"))".to_owned()
                    ),
                    ("token_count", "Some(IntValue(3))".to_owned()),
                ],
                "{what}"
            );
        }
        let mut clear = span_data(0, 0);
        clear.attributes = secrets();
        let clear = span(clear, &SpanLimits::DEFAULT, &Redaction::none());
        assert_eq!(text(clear.attributes[1].value.as_ref().unwrap()), "hunter2");
    }

    /// Common spec, "Attribute Collections": exported attribute collections "contain only
    /// unique keys". `tracing` takes a field name twice (`info_span!("x", a = 1, a = 2)`),
    /// and the span layer records each value: the first is kept, as in log records.
    #[test]
    fn a_key_given_twice_is_exported_once_with_its_first_value() {
        let kv = |key: &'static str, value: i64| OtelKeyValue::new(key, value);
        let int = |kv: &KeyValue| match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
            Some(any_value::Value::IntValue(i)) => (kv.key.clone(), *i),
            other => panic!("not an int: {other:?}"),
        };
        let pairs = |list: &[KeyValue]| list.iter().map(int).collect::<Vec<_>>();
        let owned = |list: &[(&str, i64)]| {
            list.iter()
                .map(|(k, v)| ((*k).to_owned(), *v))
                .collect::<Vec<_>>()
        };
        let mut data = span_data(0, 1);
        data.attributes = vec![kv("a", 1), kv("b", 2), kv("a", 3), kv("b", 4), kv("c", 5)];
        data.events[0].attributes = vec![kv("e", 1), kv("e", 2)];
        data.links = vec![obs_trace::SpanLink {
            span_context: obs_trace::SpanContext {
                trace_id: obs_trace::TraceId::from_u128(7),
                span_id: obs_trace::SpanId::from_u64(8),
                ..Default::default()
            },
            attributes: vec![kv("l", 1), kv("m", 2), kv("l", 3)],
            dropped_attributes_count: 0,
        }];
        let s = span(data, &SpanLimits::DEFAULT, &Redaction::none());
        assert_eq!(pairs(&s.attributes), owned(&[("a", 1), ("b", 2), ("c", 5)]));
        assert_eq!(pairs(&s.events[0].attributes), owned(&[("e", 1)]));
        assert_eq!(pairs(&s.links[0].attributes), owned(&[("l", 1), ("m", 2)]));
        // Merged, not dropped by a limit.
        assert_eq!(s.dropped_attributes_count, 0);
        assert_eq!(s.events[0].dropped_attributes_count, 0);
        assert_eq!(s.links[0].dropped_attributes_count, 0);

        // As `tracing` hands them over: both values of the span's and the event's field.
        use tracing_subscriber::layer::SubscriberExt;
        let sink = obs_trace::InMemorySpanSink::new();
        let layer = obs_trace::SpanLayer::new()
            .with_sink(std::sync::Arc::new(sink.clone()))
            .with_span_events(true);
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            tracing::info_span!("load", shard = 1_i64, shard = 2_i64)
                .in_scope(|| tracing::info!(row = 3_i64, row = 4_i64, "loaded"));
        });
        let [recorded] = sink.take().try_into().expect("one span");
        assert_eq!(recorded.attributes.len(), 2, "the span layer keeps both");
        let s = span(recorded, &SpanLimits::DEFAULT, &Redaction::none());
        assert_eq!(pairs(&s.attributes), owned(&[("shard", 1)]));
        assert_eq!(pairs(&s.events[0].attributes), owned(&[("row", 3)]));

        // Past the pairwise search too.
        let mut wide = span_data(40, 0);
        wide.attributes.push(OtelKeyValue::new("a7", "again"));
        wide.attributes.insert(0, OtelKeyValue::new("a39", "first"));
        let s = span(wide, &SpanLimits::DEFAULT, &Redaction::none());
        assert_eq!(s.attributes.len(), 40);
        assert_eq!(s.attributes[0].key, "a39");
        assert_eq!(text(s.attributes[0].value.as_ref().unwrap()), "first");
        let a7: Vec<&str> = s
            .attributes
            .iter()
            .filter(|kv| kv.key == "a7")
            .map(|kv| text(kv.value.as_ref().unwrap()))
            .collect();
        assert_eq!(a7, ["välue-7"]);
    }

    #[test]
    fn the_default_limits_keep_128_attributes_of_any_length() {
        let mut data = span_data(130, 0);
        data.attributes[0].value = Value::from("x".repeat(100_000));
        let s = span(data, &SpanLimits::DEFAULT, &Redaction::none());
        assert_eq!(s.attributes.len(), 128);
        assert_eq!(s.dropped_attributes_count, 2);
        assert_eq!(text(s.attributes[0].value.as_ref().unwrap()).len(), 100_000);
    }

    #[test]
    fn the_counts_the_span_layer_dropped_are_added_to_those_dropped_here() {
        let limits = SpanLimits {
            attributes: AttributeLimits {
                count: 3,
                value_length: None,
            },
            event_count: 2,
            event_attribute_count: 4,
            ..SpanLimits::DEFAULT
        };
        // As a layer with the same limits hands it over: within them, with what it dropped.
        let mut within = span_data(3, 2);
        within.dropped_attributes_count = 5;
        within.dropped_events_count = 7;
        within.events[0].dropped_attributes_count = 1;
        let s = span(within, &limits, &Redaction::none());
        assert_eq!(s.attributes.len(), 3);
        assert_eq!(s.dropped_attributes_count, 5);
        assert_eq!(s.events.len(), 2);
        assert_eq!(s.dropped_events_count, 7);
        assert_eq!(s.events[0].dropped_attributes_count, 1);
        assert_eq!(s.events[1].dropped_attributes_count, 0);
        // From a layer with looser limits: both counts add up.
        let mut looser = span_data(6, 3);
        looser.dropped_attributes_count = 5;
        looser.dropped_events_count = 7;
        looser.events[0].dropped_attributes_count = 1;
        let s = span(looser, &limits, &Redaction::none());
        assert_eq!(s.attributes.len(), 3);
        assert_eq!(s.dropped_attributes_count, 5 + 3);
        assert_eq!(s.events.len(), 2);
        assert_eq!(s.dropped_events_count, 7 + 1);
        assert_eq!(s.events[0].dropped_attributes_count, 1 + 2);
        assert_eq!(s.events[1].dropped_attributes_count, 2);
        // No overflow, however many were dropped.
        let mut many = span_data(4, 0);
        many.dropped_attributes_count = u32::MAX;
        assert_eq!(
            span(many, &limits, &Redaction::none()).dropped_attributes_count,
            u32::MAX
        );
    }

    /// Logs Bridge API, Get a Logger: "For log sources which define a logger name (e.g.
    /// Java Logger Name) the Logger Name SHOULD be recorded as the Instrumentation Scope
    /// name". A `tracing` or `log` target is that name, whole: as the JSON lines'
    /// `scope.name` (`FieldNames::otel`) and `opentelemetry-otlp` have it.
    #[test]
    fn a_log_records_scope_is_its_whole_target() {
        let record = |target: &'static str, body: &str| obs_log::LogRecord {
            timestamp: SystemTime::now(),
            observed_timestamp: SystemTime::now(),
            severity_number: 9,
            severity_text: "INFO",
            body: Some(body.to_owned()),
            event_name: Cow::Borrowed(""),
            target: Cow::Borrowed(target),
            attributes: Vec::new(),
            dropped_attributes_count: 0,
            trace_id: None,
            span_id: None,
            trace_flags: None,
        };
        let request = logs_request(
            &Resource::default(),
            &AttributeLimits::DEFAULT,
            vec![
                record("shop::db", "a"),
                record("shop::http", "b"),
                record("shop::db", "c"),
                record("shop", "d"),
            ],
        );
        let scopes: Vec<(&str, Vec<&str>)> = request.resource_logs[0]
            .scope_logs
            .iter()
            .map(|s| {
                let bodies = s.log_records.iter().map(|r| text(r.body.as_ref().unwrap()));
                (s.scope.as_ref().unwrap().name.as_str(), bodies.collect())
            })
            .collect();
        assert_eq!(
            scopes,
            [
                ("shop::db", vec!["a", "c"]),
                ("shop::http", vec!["b"]),
                ("shop", vec!["d"])
            ]
        );
    }

    /// Byte strings stay bytes on the wire, cut to the value length limit (which counts
    /// each byte of a byte array as one), as strings are cut to it.
    #[test]
    fn log_bytes_values_are_bytes_cut_to_the_value_length() {
        let limits = AttributeLimits {
            count: 128,
            value_length: Some(4),
        };
        let bytes = obs_log::LogValue::Bytes(vec![0xde, 0xad, 0xbe, 0xef, 0xff, 0x00]);
        assert_eq!(
            log_value(&bytes, &limits).value,
            Some(any_value::Value::BytesValue(vec![0xde, 0xad, 0xbe, 0xef]))
        );
    }

    /// A record from another producer than `obs_log`'s layer (which keeps one value per
    /// key itself) is exported with unique keys too, the first value kept.
    #[test]
    fn a_log_record_key_given_twice_is_exported_once() {
        let attribute = |key: &'static str, value: &str| obs_log::LogAttribute {
            key: Cow::Borrowed(key),
            value: value.to_owned().into(),
        };
        let record = obs_log::LogRecord {
            timestamp: SystemTime::now(),
            observed_timestamp: SystemTime::now(),
            severity_number: 9,
            severity_text: "INFO",
            body: None,
            event_name: Cow::Borrowed(""),
            target: Cow::Borrowed("app"),
            attributes: vec![
                attribute("user", "alexandra"),
                attribute("tenant", "t1"),
                attribute("user", "bob"),
            ],
            dropped_attributes_count: 0,
            trace_id: None,
            span_id: None,
            trace_flags: None,
        };
        let r = log_record(record, &AttributeLimits::DEFAULT);
        let pairs: Vec<(&str, &str)> = r
            .attributes
            .iter()
            .map(|kv| (kv.key.as_str(), text(kv.value.as_ref().unwrap())))
            .collect();
        assert_eq!(pairs, [("user", "alexandra"), ("tenant", "t1")]);
        assert_eq!(r.dropped_attributes_count, 0);
    }

    #[test]
    fn log_record_attributes_are_limited_and_the_body_is_not() {
        let record = obs_log::LogRecord {
            timestamp: SystemTime::now(),
            observed_timestamp: SystemTime::now(),
            severity_number: 9,
            severity_text: "INFO",
            body: Some("a body longer than the limit".to_owned()),
            event_name: Cow::Borrowed(""),
            target: Cow::Borrowed("app"),
            attributes: vec![
                obs_log::LogAttribute {
                    key: Cow::Borrowed("user"),
                    value: "alexandra".to_owned().into(),
                },
                obs_log::LogAttribute {
                    key: Cow::Borrowed("attempt"),
                    value: 3_i64.into(),
                },
                obs_log::LogAttribute {
                    key: Cow::Borrowed("retry"),
                    value: true.into(),
                },
            ],
            // Left out by the layer, under its own limits.
            dropped_attributes_count: 5,
            trace_id: None,
            span_id: None,
            trace_flags: None,
        };
        let limits = AttributeLimits {
            count: 2,
            value_length: Some(4),
        };
        let r = log_record(record, &limits);
        assert_eq!(
            r.body.as_ref().map(text),
            Some("a body longer than the limit")
        );
        assert_eq!(r.attributes.len(), 2);
        assert_eq!(r.dropped_attributes_count, 5 + 1);
        assert_eq!(text(r.attributes[0].value.as_ref().unwrap()), "alex");
        assert_eq!(
            r.attributes[1].value.as_ref().unwrap().value,
            Some(any_value::Value::IntValue(3)),
            "numbers are never cut"
        );
    }
}
