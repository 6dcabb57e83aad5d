//! The flattened data model: one record per span, log record and metric point, each
//! carrying the resource and scope it arrived under.

use std::sync::Arc;
use std::time::Duration;

use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, ExponentialHistogramDataPoint, HistogramDataPoint, NumberDataPoint,
    SummaryDataPoint, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;

use super::hex::to_hex;

/// The resource attribute that names the service
/// ([semantic conventions](https://opentelemetry.io/docs/specs/semconv/resource/#service)).
pub const SERVICE_NAME: &str = "service.name";

/// The OTLP transport a record arrived over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// OTLP/gRPC.
    Grpc,
    /// OTLP/HTTP with a binary protobuf body.
    HttpProtobuf,
    /// OTLP/HTTP with a JSON body.
    HttpJson,
}

/// One received span, with the resource and instrumentation scope it was sent under.
///
/// The resource and scope are shared (`Arc`) by every record of the same request.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedSpan {
    /// How the span arrived.
    pub transport: Transport,
    /// The resource of the enclosing `ResourceSpans` (empty when the sender sent none).
    pub resource: Arc<Resource>,
    /// The schema URL of the enclosing `ResourceSpans`: the semantic conventions version its
    /// resource follows (empty when the sender gave none).
    pub resource_schema_url: Arc<str>,
    /// The instrumentation scope of the enclosing `ScopeSpans` (empty when the sender sent none).
    pub scope: Arc<InstrumentationScope>,
    /// The span as the sender encoded it.
    pub span: Span,
}

impl ReceivedSpan {
    /// The resource's `service.name`, if it is a string.
    pub fn service_name(&self) -> Option<&str> {
        service_name(&self.resource)
    }

    /// The span's name.
    pub fn name(&self) -> &str {
        &self.span.name
    }

    /// The trace id as lowercase hex (empty if the sender sent none).
    pub fn trace_id_hex(&self) -> String {
        to_hex(&self.span.trace_id)
    }

    /// The span id as lowercase hex.
    pub fn span_id_hex(&self) -> String {
        to_hex(&self.span.span_id)
    }

    /// The parent span id as lowercase hex, or `None` for a root span.
    pub fn parent_span_id_hex(&self) -> Option<String> {
        (!self.is_root()).then(|| to_hex(&self.span.parent_span_id))
    }

    /// Whether the span has no parent. OTLP encodes "no parent" as an empty
    /// `parent_span_id`; an all-zero id is invalid and is treated the same way.
    pub fn is_root(&self) -> bool {
        self.span.parent_span_id.iter().all(|byte| *byte == 0)
    }

    /// The span kind; `Unspecified` for a value outside the enum.
    pub fn kind(&self) -> SpanKind {
        SpanKind::try_from(self.span.kind).unwrap_or(SpanKind::Unspecified)
    }

    /// The status code; `Unset` when the span has no status or an unknown code.
    pub fn status_code(&self) -> StatusCode {
        self.span
            .status
            .as_ref()
            .map_or(StatusCode::Unset, |status| {
                StatusCode::try_from(status.code).unwrap_or(StatusCode::Unset)
            })
    }

    /// Whether the span's status is `Error`.
    pub fn is_error(&self) -> bool {
        self.status_code() == StatusCode::Error
    }

    /// End minus start time; zero if the span ends before it starts.
    pub fn duration(&self) -> Duration {
        Duration::from_nanos(
            self.span
                .end_time_unix_nano
                .saturating_sub(self.span.start_time_unix_nano),
        )
    }

    /// A span attribute by key.
    pub fn attribute(&self, key: &str) -> Option<&AnyValue> {
        attribute(&self.span.attributes, key)
    }

    /// A span attribute by key, if it is a string.
    pub fn attribute_str(&self, key: &str) -> Option<&str> {
        attribute_str(&self.span.attributes, key)
    }

    /// A span attribute by key, if it is an integer.
    pub fn attribute_int(&self, key: &str) -> Option<i64> {
        attribute_int(&self.span.attributes, key)
    }
}

/// One received log record, with the resource and instrumentation scope it was sent under.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedLog {
    /// How the record arrived.
    pub transport: Transport,
    /// The resource of the enclosing `ResourceLogs`.
    pub resource: Arc<Resource>,
    /// The schema URL of the enclosing `ResourceLogs`: the semantic conventions version its
    /// resource follows (empty when the sender gave none).
    pub resource_schema_url: Arc<str>,
    /// The instrumentation scope of the enclosing `ScopeLogs`.
    pub scope: Arc<InstrumentationScope>,
    /// The log record as the sender encoded it.
    pub record: LogRecord,
}

impl ReceivedLog {
    /// The resource's `service.name`, if it is a string.
    pub fn service_name(&self) -> Option<&str> {
        service_name(&self.resource)
    }

    /// The body, if it is a string.
    pub fn body_str(&self) -> Option<&str> {
        self.record.body.as_ref().and_then(any_value_str)
    }

    /// The trace id the record was emitted in, as lowercase hex (empty if none).
    pub fn trace_id_hex(&self) -> String {
        to_hex(&self.record.trace_id)
    }

    /// The span id the record was emitted in, as lowercase hex (empty if none).
    pub fn span_id_hex(&self) -> String {
        to_hex(&self.record.span_id)
    }

    /// A record attribute by key.
    pub fn attribute(&self, key: &str) -> Option<&AnyValue> {
        attribute(&self.record.attributes, key)
    }

    /// A record attribute by key, if it is a string.
    pub fn attribute_str(&self, key: &str) -> Option<&str> {
        attribute_str(&self.record.attributes, key)
    }
}

/// One received metric data point, with its metric's identity, resource and scope.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedMetric {
    /// How the point arrived.
    pub transport: Transport,
    /// The resource of the enclosing `ResourceMetrics`.
    pub resource: Arc<Resource>,
    /// The schema URL of the enclosing `ResourceMetrics`: the semantic conventions version its
    /// resource follows (empty when the sender gave none).
    pub resource_schema_url: Arc<str>,
    /// The instrumentation scope of the enclosing `ScopeMetrics`.
    pub scope: Arc<InstrumentationScope>,
    /// The metric's name.
    pub name: String,
    /// The metric's description.
    pub description: String,
    /// The metric's unit.
    pub unit: String,
    /// The data point.
    pub point: MetricPoint,
}

impl ReceivedMetric {
    /// The resource's `service.name`, if it is a string.
    pub fn service_name(&self) -> Option<&str> {
        service_name(&self.resource)
    }

    /// The point's attributes.
    pub fn attributes(&self) -> &[KeyValue] {
        match &self.point {
            MetricPoint::Gauge(point) | MetricPoint::Sum { point, .. } => &point.attributes,
            MetricPoint::Histogram { point, .. } => &point.attributes,
            MetricPoint::ExponentialHistogram { point, .. } => &point.attributes,
            MetricPoint::Summary(point) => &point.attributes,
        }
    }

    /// A point attribute by key.
    pub fn attribute(&self, key: &str) -> Option<&AnyValue> {
        attribute(self.attributes(), key)
    }

    /// A point attribute by key, if it is a string.
    pub fn attribute_str(&self, key: &str) -> Option<&str> {
        attribute_str(self.attributes(), key)
    }

    /// A point attribute by key, if it is an integer.
    pub fn attribute_int(&self, key: &str) -> Option<i64> {
        attribute_int(self.attributes(), key)
    }

    /// The point, if it is an explicit-bucket histogram's.
    pub fn histogram(&self) -> Option<&HistogramDataPoint> {
        match &self.point {
            MetricPoint::Histogram { point, .. } => Some(point),
            _ => None,
        }
    }

    /// The trace ids of the point's exemplars, as hex, in order (none for a summary, which
    /// has no exemplars).
    pub fn exemplar_trace_ids(&self) -> Vec<String> {
        let exemplars = match &self.point {
            MetricPoint::Gauge(point) | MetricPoint::Sum { point, .. } => &point.exemplars,
            MetricPoint::Histogram { point, .. } => &point.exemplars,
            MetricPoint::ExponentialHistogram { point, .. } => &point.exemplars,
            MetricPoint::Summary(_) => return Vec::new(),
        };
        exemplars.iter().map(|e| to_hex(&e.trace_id)).collect()
    }

    /// The value of a gauge or sum point as `f64` (integers converted); `None` for
    /// histograms and summaries, and for a number point without a value.
    pub fn number_value(&self) -> Option<f64> {
        match &self.point {
            MetricPoint::Gauge(point) | MetricPoint::Sum { point, .. } => match point.value? {
                number_data_point::Value::AsDouble(value) => Some(value),
                // Precision loss above 2^53 is acceptable for assertions and reports.
                number_data_point::Value::AsInt(value) => Some(value as f64),
            },
            _ => None,
        }
    }
}

/// A metric data point, by the kind of metric it belongs to.
#[derive(Debug, Clone, PartialEq)]
pub enum MetricPoint {
    /// A point of a gauge.
    Gauge(NumberDataPoint),
    /// A point of a sum (counter or up-down counter).
    Sum {
        /// The point.
        point: NumberDataPoint,
        /// Whether the sum is cumulative or delta.
        temporality: AggregationTemporality,
        /// Whether the sum only goes up.
        is_monotonic: bool,
    },
    /// A point of an explicit-bucket histogram.
    Histogram {
        /// The point.
        point: HistogramDataPoint,
        /// Whether the histogram is cumulative or delta.
        temporality: AggregationTemporality,
    },
    /// A point of an exponential histogram.
    ExponentialHistogram {
        /// The point.
        point: ExponentialHistogramDataPoint,
        /// Whether the histogram is cumulative or delta.
        temporality: AggregationTemporality,
    },
    /// A point of a summary.
    Summary(SummaryDataPoint),
}

/// The `service.name` attribute of a resource, if it is a string.
pub fn service_name(resource: &Resource) -> Option<&str> {
    attribute_str(&resource.attributes, SERVICE_NAME)
}

/// The value of the first attribute named `key` (OTLP forbids duplicate keys).
pub fn attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a AnyValue> {
    attributes
        .iter()
        .find(|attribute| attribute.key == key)
        .and_then(|attribute| attribute.value.as_ref())
}

/// The value of the attribute named `key`, if it is a string.
pub fn attribute_str<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a str> {
    attribute(attributes, key).and_then(any_value_str)
}

/// The value of the attribute named `key`, if it is an integer.
pub fn attribute_int(attributes: &[KeyValue], key: &str) -> Option<i64> {
    match attribute(attributes, key)?.value.as_ref()? {
        any_value::Value::IntValue(value) => Some(*value),
        _ => None,
    }
}

/// The string inside an [`AnyValue`], if it holds one.
pub fn any_value_str(value: &AnyValue) -> Option<&str> {
    match &value.value {
        Some(any_value::Value::StringValue(text)) => Some(text),
        _ => None,
    }
}
