//! The `obs-metrics` registry pushed as OTLP metrics at the export interval, over the same
//! destination (endpoint, headers, timeout, compression, retry, drop accounting) as the
//! other signals.
//!
//! Mapping (OTLP metrics data model): counters are monotonic cumulative sums, gauges are
//! gauges, histograms are cumulative explicit-bucket histograms; exemplars carry the
//! trace and span ids; the start time of each cumulative series is when it was created.

use std::sync::Arc;
use std::time::Duration;

use obs_metrics::{MetricFamilySnapshot, MetricKind, PointSnapshot, PointValue, Registry};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Exemplar, Gauge, Histogram, HistogramDataPoint, Metric,
    NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, exemplar, metric, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use tokio::sync::mpsc;

use crate::config::Signal;
use crate::export::batch::{Control, Controlled, Destination, SignalStats};
use crate::export::convert::{scope, string_value};

fn labels(p: &PointSnapshot) -> Vec<KeyValue> {
    p.labels
        .iter()
        .map(|(k, v)| KeyValue {
            key: k.clone(),
            value: Some(string_value(v.as_str())),
            ..Default::default()
        })
        .collect()
}

fn exemplars(p: &PointSnapshot) -> Vec<Exemplar> {
    p.exemplars
        .iter()
        .map(|e| Exemplar {
            filtered_attributes: Vec::new(),
            time_unix_nano: e.time_unix_nano,
            span_id: e.span_id.to_bytes().to_vec(),
            trace_id: e.trace_id.to_bytes().to_vec(),
            value: Some(exemplar::Value::AsDouble(e.value)),
        })
        .collect()
}

fn number_point(p: &PointSnapshot) -> NumberDataPoint {
    let value = match &p.value {
        PointValue::U64(v) => {
            number_data_point::Value::AsInt(i64::try_from(*v).unwrap_or(i64::MAX))
        }
        PointValue::I64(v) => number_data_point::Value::AsInt(*v),
        PointValue::F64(v) => number_data_point::Value::AsDouble(*v),
        PointValue::Histogram(h) => number_data_point::Value::AsDouble(h.sum),
    };
    NumberDataPoint {
        attributes: labels(p),
        start_time_unix_nano: p.start_time_unix_nano,
        time_unix_nano: p.time_unix_nano,
        exemplars: exemplars(p),
        flags: 0,
        value: Some(value),
    }
}

fn metric(f: &MetricFamilySnapshot) -> Metric {
    let data = match f.kind {
        MetricKind::Counter => metric::Data::Sum(Sum {
            data_points: f.points.iter().map(number_point).collect(),
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
            is_monotonic: true,
        }),
        MetricKind::Gauge => metric::Data::Gauge(Gauge {
            data_points: f.points.iter().map(number_point).collect(),
        }),
        MetricKind::Histogram => metric::Data::Histogram(Histogram {
            data_points: f
                .points
                .iter()
                .filter_map(|p| match &p.value {
                    PointValue::Histogram(h) => Some(HistogramDataPoint {
                        attributes: labels(p),
                        start_time_unix_nano: p.start_time_unix_nano,
                        time_unix_nano: p.time_unix_nano,
                        count: h.count,
                        sum: Some(h.sum),
                        bucket_counts: h.bucket_counts.clone(),
                        explicit_bounds: h.bounds.to_vec(),
                        exemplars: exemplars(p),
                        flags: 0,
                        min: None,
                        max: None,
                    }),
                    _ => None,
                })
                .collect(),
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
        }),
    };
    Metric {
        name: f.name.clone(),
        description: f.help.clone(),
        unit: f.unit.map(|u| u.ucum().to_owned()).unwrap_or_default(),
        metadata: Vec::new(),
        data: Some(data),
    }
}

/// The registry's current state as one OTLP request.
pub(crate) fn metrics_request(
    resource: &Resource,
    families: &[MetricFamilySnapshot],
) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(resource.clone()),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(scope("obs-metrics")),
                metrics: families
                    .iter()
                    .filter(|f| !f.points.is_empty())
                    .map(metric)
                    .collect(),
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

/// Pushes the registry every interval, and once more on flush and shutdown.
#[derive(Debug)]
pub(crate) struct PeriodicMetrics {
    control: mpsc::Sender<Control>,
}

impl PeriodicMetrics {
    pub(crate) fn start(
        runtime: &tokio::runtime::Handle,
        registry: Registry,
        resource: Resource,
        destination: Arc<Destination>,
        stats: Arc<SignalStats>,
        interval: Duration,
        timeout: Duration,
    ) -> PeriodicMetrics {
        let (control, mut rx) = mpsc::channel::<Control>(4);
        runtime.spawn(async move {
            let export = || async {
                let request = metrics_request(&resource, &registry.collect());
                let items = crate::export::transport::OtlpRequest::item_count(&request);
                let result = match tokio::time::timeout(timeout, destination.send(&request)).await {
                    Ok(r) => r,
                    Err(_) => Err(format!("metrics export timed out after {timeout:?}")),
                };
                stats.export_result(Signal::Metrics, items, result);
            };
            let mut ticker =
                tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = ticker.tick() => export().await,
                    msg = rx.recv() => match msg {
                        Some(Control::Flush(ack)) => {
                            export().await;
                            let _ = ack.send(());
                        }
                        Some(Control::Shutdown(ack)) => {
                            export().await;
                            let _ = ack.send(());
                            return;
                        }
                        None => return,
                    },
                }
            }
        });
        PeriodicMetrics { control }
    }
}

impl Controlled for PeriodicMetrics {
    fn send_control(&self, request: Control, _timeout: Duration) -> bool {
        self.control.try_send(request).is_ok()
    }

    fn undone(&self, timeout: Duration) -> String {
        format!("metrics were not exported within {timeout:?}")
    }
}
