//! Flattening of OTLP export requests into one record per span, log record and metric point.

use std::sync::Arc;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::metrics::v1::{AggregationTemporality, Metric, metric};
use opentelemetry_proto::tonic::resource::v1::Resource;

use super::model::{MetricPoint, ReceivedLog, ReceivedMetric, ReceivedSpan, Transport};

/// Where a record came from: shared by every record of one resource and scope.
#[derive(Clone)]
struct Origin {
    transport: Transport,
    resource: Arc<Resource>,
    resource_schema_url: Arc<str>,
    scope: Arc<InstrumentationScope>,
}

/// A resource group taken apart: its resource, schema URL and scope groups.
type ResourceParts<S> = (Option<Resource>, String, Vec<S>);

/// Walks the resource → scope → item nesting that all three OTLP signals share.
fn flatten<R, S, I, T, Expanded>(
    transport: Transport,
    resources: Vec<R>,
    split_resource: fn(R) -> ResourceParts<S>,
    split_scope: fn(S) -> (Option<InstrumentationScope>, Vec<I>),
    mut expand: impl FnMut(&Origin, I) -> Expanded,
) -> Vec<T>
where
    Expanded: IntoIterator<Item = T>,
{
    let mut records = Vec::new();
    for resource_items in resources {
        let (resource, schema_url, scopes) = split_resource(resource_items);
        let resource = Arc::new(resource.unwrap_or_default());
        let resource_schema_url: Arc<str> = schema_url.into();
        for scope_items in scopes {
            let (scope, items) = split_scope(scope_items);
            let origin = Origin {
                transport,
                resource: Arc::clone(&resource),
                resource_schema_url: Arc::clone(&resource_schema_url),
                scope: Arc::new(scope.unwrap_or_default()),
            };
            for item in items {
                records.extend(expand(&origin, item));
            }
        }
    }
    records
}

pub(crate) fn spans(request: ExportTraceServiceRequest, transport: Transport) -> Vec<ReceivedSpan> {
    flatten(
        transport,
        request.resource_spans,
        |resource| (resource.resource, resource.schema_url, resource.scope_spans),
        |scope| (scope.scope, scope.spans),
        |origin, span| {
            Some(ReceivedSpan {
                transport: origin.transport,
                resource: Arc::clone(&origin.resource),
                resource_schema_url: Arc::clone(&origin.resource_schema_url),
                scope: Arc::clone(&origin.scope),
                span,
            })
        },
    )
}

pub(crate) fn logs(request: ExportLogsServiceRequest, transport: Transport) -> Vec<ReceivedLog> {
    flatten(
        transport,
        request.resource_logs,
        |resource| (resource.resource, resource.schema_url, resource.scope_logs),
        |scope| (scope.scope, scope.log_records),
        |origin, record| {
            Some(ReceivedLog {
                transport: origin.transport,
                resource: Arc::clone(&origin.resource),
                resource_schema_url: Arc::clone(&origin.resource_schema_url),
                scope: Arc::clone(&origin.scope),
                record,
            })
        },
    )
}

pub(crate) fn metric_points(
    request: ExportMetricsServiceRequest,
    transport: Transport,
) -> Vec<ReceivedMetric> {
    flatten(
        transport,
        request.resource_metrics,
        |resource| {
            (
                resource.resource,
                resource.schema_url,
                resource.scope_metrics,
            )
        },
        |scope| (scope.scope, scope.metrics),
        |origin, metric| {
            let Metric {
                name,
                description,
                unit,
                data,
                ..
            } = metric;
            let origin = origin.clone();
            points(data).into_iter().map(move |point| ReceivedMetric {
                transport: origin.transport,
                resource: Arc::clone(&origin.resource),
                resource_schema_url: Arc::clone(&origin.resource_schema_url),
                scope: Arc::clone(&origin.scope),
                name: name.clone(),
                description: description.clone(),
                unit: unit.clone(),
                point,
            })
        },
    )
}

fn points(data: Option<metric::Data>) -> Vec<MetricPoint> {
    match data {
        Some(metric::Data::Gauge(gauge)) => gauge
            .data_points
            .into_iter()
            .map(MetricPoint::Gauge)
            .collect(),
        Some(metric::Data::Sum(sum)) => {
            let temporality = temporality(sum.aggregation_temporality);
            sum.data_points
                .into_iter()
                .map(|point| MetricPoint::Sum {
                    point,
                    temporality,
                    is_monotonic: sum.is_monotonic,
                })
                .collect()
        }
        Some(metric::Data::Histogram(histogram)) => {
            let temporality = temporality(histogram.aggregation_temporality);
            histogram
                .data_points
                .into_iter()
                .map(|point| MetricPoint::Histogram { point, temporality })
                .collect()
        }
        Some(metric::Data::ExponentialHistogram(histogram)) => {
            let temporality = temporality(histogram.aggregation_temporality);
            histogram
                .data_points
                .into_iter()
                .map(|point| MetricPoint::ExponentialHistogram { point, temporality })
                .collect()
        }
        Some(metric::Data::Summary(summary)) => summary
            .data_points
            .into_iter()
            .map(MetricPoint::Summary)
            .collect(),
        // A metric without data carries no point to store.
        None => Vec::new(),
    }
}

/// Unknown enum values decode as `Unspecified`, as proto3 open enums allow.
fn temporality(value: i32) -> AggregationTemporality {
    AggregationTemporality::try_from(value).unwrap_or(AggregationTemporality::Unspecified)
}
