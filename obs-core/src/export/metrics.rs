//! The `obs-metrics` registry pushed as OTLP metrics at the export interval, over the same
//! destination (endpoint, headers, timeout, compression, retry, drop accounting) as the
//! other signals.
//!
//! Mapping (OTLP metrics data model): counters are monotonic cumulative sums, gauges are
//! gauges, histograms are cumulative explicit-bucket histograms; exemplars carry the
//! trace and span ids; the start time of each cumulative series is when it was created.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use obs_metrics::{
    MetricFamilySnapshot, MetricKind, OVERFLOW_LABEL, PointSnapshot, PointValue, Registry,
};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Exemplar, Gauge, Histogram, HistogramDataPoint, Metric,
    NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, exemplar, metric, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use tokio::sync::mpsc;

use crate::config::Signal;
use crate::export::batch::{Control, Controlled, Destination, Pending, SignalStats};
use crate::export::convert::{scope, string_value};

fn labels(p: &PointSnapshot) -> Vec<KeyValue> {
    p.labels
        .iter()
        .map(|(k, v)| match (k.as_str(), v.as_str()) {
            // The overflow series' attribute as the OpenTelemetry metrics SDK spec names it
            // ("Cardinality limits": `otel.metric.overflow` = boolean `true`).
            (OVERFLOW_LABEL, "true") => KeyValue {
                key: "otel.metric.overflow".to_owned(),
                value: Some(AnyValue {
                    value: Some(any_value::Value::BoolValue(true)),
                }),
                ..Default::default()
            },
            _ => KeyValue {
                key: k.clone(),
                value: Some(string_value(v.as_str())),
                ..Default::default()
            },
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
        // OTLP integers are signed: a count past i64::MAX goes as a double, not clamped.
        PointValue::U64(v) => i64::try_from(*v).map_or(
            number_data_point::Value::AsDouble(*v as f64),
            number_data_point::Value::AsInt,
        ),
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
                        sum: h.counter_like_sum(),
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
    stats: Arc<SignalStats>,
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
        let pusher_stats = stats.clone();
        runtime.spawn(async move {
            let stats = pusher_stats;
            let export = || async {
                let started = std::time::Instant::now();
                let request = metrics_request(&resource, &registry.collect());
                // One after the other, within one timeout: a request is cut in parts only
                // when it is larger than the receiver takes.
                for (part, in_flight) in destination.parts(request, Signal::Metrics, &stats) {
                    in_flight.send(&destination, &part, timeout, started).await;
                }
            };
            let mut ticker = ticker(interval);
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
        PeriodicMetrics { control, stats }
    }
}

/// Ticks every `interval`, the first time one interval from now. A zero interval (which the
/// configuration rejects) ticks every millisecond rather than panic, as Tokio would.
fn ticker(interval: Duration) -> tokio::time::Interval {
    let period = interval.max(Duration::from_millis(1));
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker
}

impl Controlled for PeriodicMetrics {
    fn send_control(&self, request: Control, _timeout: Duration) -> bool {
        self.control.try_send(request).is_ok()
    }

    fn pending(&self) -> Pending {
        Pending {
            queued: 0,
            in_flight: self.stats.in_flight.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exported(registry: &Registry) -> Vec<Metric> {
        let request = metrics_request(&Resource::default(), &registry.collect());
        request.resource_metrics[0].scope_metrics[0].metrics.clone()
    }

    fn named<'m>(metrics: &'m [Metric], name: &str) -> &'m metric::Data {
        let found = metrics.iter().find(|m| m.name == name);
        found.and_then(|m| m.data.as_ref()).expect(name)
    }

    #[test]
    fn overflow_attribute_large_counts_and_negative_sums_follow_otlp() {
        let registry = Registry::new();
        let calls = registry
            .metric("calls", "c")
            .cardinality_limit(1)
            .dyn_family::<obs_metrics::Counter>(&["id"])
            .unwrap();
        calls.get(&[("id", "a")]).inc();
        calls.get(&[("id", "b")]).inc();
        registry.counter("big", "c").unwrap().inc_by(u64::MAX);
        registry
            .histogram("skew_seconds", "h")
            .unwrap()
            .observe(-2.0);
        registry
            .histogram("wait_seconds", "h")
            .unwrap()
            .observe(2.0);
        let metrics = exported(&registry);

        let metric::Data::Sum(calls) = named(&metrics, "calls") else {
            panic!("calls is a sum")
        };
        let overflow = &calls.data_points[1].attributes[0];
        assert_eq!(overflow.key, "otel.metric.overflow");
        assert_eq!(
            overflow.value.as_ref().and_then(|v| v.value.clone()),
            Some(any_value::Value::BoolValue(true))
        );
        let metric::Data::Sum(big) = named(&metrics, "big") else {
            panic!("big is a sum")
        };
        assert_eq!(
            big.data_points[0].value,
            Some(number_data_point::Value::AsDouble(u64::MAX as f64))
        );
        let sum_of = |name| match named(&metrics, name) {
            metric::Data::Histogram(h) => h.data_points[0].sum,
            _ => panic!("{name} is a histogram"),
        };
        assert_eq!(sum_of("skew_seconds"), None);
        assert_eq!(sum_of("wait_seconds"), Some(2.0));
    }

    #[tokio::test]
    async fn a_zero_interval_ticks_instead_of_panicking() {
        let mut ticker = ticker(Duration::ZERO);
        ticker.tick().await;
        assert_eq!(ticker.period(), Duration::from_millis(1));
    }
}
