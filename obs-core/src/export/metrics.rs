//! The `obs-metrics` registry pushed as OTLP metrics at the export interval, over the same
//! destination (endpoint, headers, timeout, compression, retry, drop accounting) as the
//! other signals.
//!
//! Mapping (OTLP metrics data model): counters are monotonic sums, gauges are gauges,
//! histograms are explicit-bucket histograms; exemplars carry the trace and span ids. Sums
//! and histograms are cumulative, the start time of each series being when it was created,
//! unless the [`TemporalityPreference`] makes them delta (see [`MetricsConverter`]): then a
//! series with nothing measured since the previous push is left out of the next.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use obs_metrics::{
    HistogramValue, MetricFamilySnapshot, MetricKind, OVERFLOW_LABEL, OtelNames, PointSnapshot,
    PointValue, Registry,
};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Exemplar, Gauge, Histogram, HistogramDataPoint, Metric,
    NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, exemplar, metric, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use tokio::sync::mpsc;

use crate::config::{Signal, TemporalityPreference};
use crate::export::batch::{
    Ack, BUSY, Control, Controlled, Destination, Pending, STOPPED, SignalStats,
};
use crate::export::convert::{by_scope, string_value};

/// The scope of the families that name none: the registry's library.
const DEFAULT_SCOPE: &str = obs_metrics::SCOPE;

/// The attributes of `p`, a point of a family named `otel` in OpenTelemetry.
fn labels(p: &PointSnapshot, otel: &OtelNames) -> Vec<KeyValue> {
    p.labels
        .iter()
        // Prometheus data model: "A label with an empty label value is considered equivalent
        // to a label that does not exist." In OTLP an empty string is a value ("meaningful",
        // common attribute spec), so such a label (an `error_type` on a call that did not
        // fail, a `DynFamily` label left out) becomes no attribute.
        .filter(|(_, v)| !v.is_empty())
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
            _ => {
                let attribute = otel.attribute(k);
                let int = attribute
                    .filter(|a| a.integer)
                    .and_then(|_| v.parse::<i64>().ok());
                KeyValue {
                    key: attribute.map_or_else(|| k.clone(), |a| a.key.to_owned()),
                    value: Some(match int {
                        Some(int) => AnyValue {
                            value: Some(any_value::Value::IntValue(int)),
                        },
                        None => string_value(v.as_str()),
                    }),
                    ..Default::default()
                }
            }
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

fn number_point(p: &PointSnapshot, otel: &OtelNames) -> NumberDataPoint {
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
        attributes: labels(p, otel),
        start_time_unix_nano: p.start_time_unix_nano,
        time_unix_nano: p.time_unix_nano,
        exemplars: exemplars(p),
        flags: 0,
        value: Some(value),
    }
}

/// `f` with `points` (its own, or their deltas) at `temporality`, which gauges ignore.
fn metric(
    f: &MetricFamilySnapshot,
    points: &[PointSnapshot],
    temporality: AggregationTemporality,
) -> Metric {
    let data = match f.kind {
        MetricKind::Counter => metric::Data::Sum(Sum {
            data_points: points.iter().map(|p| number_point(p, &f.otel)).collect(),
            aggregation_temporality: temporality as i32,
            is_monotonic: true,
        }),
        MetricKind::Gauge => metric::Data::Gauge(Gauge {
            data_points: points.iter().map(|p| number_point(p, &f.otel)).collect(),
        }),
        MetricKind::UpDownCounter => metric::Data::Sum(Sum {
            data_points: points.iter().map(|p| number_point(p, &f.otel)).collect(),
            aggregation_temporality: temporality as i32,
            is_monotonic: false,
        }),
        MetricKind::Histogram => metric::Data::Histogram(Histogram {
            data_points: points
                .iter()
                .filter_map(|p| match &p.value {
                    PointValue::Histogram(h) => Some(HistogramDataPoint {
                        attributes: labels(p, &f.otel),
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
            aggregation_temporality: temporality as i32,
        }),
    };
    Metric {
        // The OpenTelemetry name where the family has one (the semantic conventions'
        // `http.server.request.duration`, whose unit travels in `unit`): what an OTLP
        // backend looks for, and what a collector's Prometheus exporter turns back into the
        // `/metrics` name (dots to underscores, the unit as a suffix).
        name: f.otel.name.map_or_else(|| f.name.clone(), str::to_owned),
        description: f.help.clone(),
        // A count's annotation (`{count}`) where the family has one, which no Prometheus
        // name carries, else the UCUM code of the name's unit suffix.
        unit: f
            .otel
            .unit
            .or(f.unit.map(|u| u.ucum()))
            .unwrap_or_default()
            .to_owned(),
        metadata: Vec::new(),
        data: Some(data),
    }
}

/// Whether `family` is pushed as delta: the OTLP exporter spec's table for `preference`,
/// where obs's counters are Counters, or Asynchronous Counters when a collector observes
/// them, and its histograms are Histograms. Gauges have no temporality, and UpDownCounters
/// are cumulative under every preference.
fn is_delta(preference: TemporalityPreference, family: &MetricFamilySnapshot) -> bool {
    match (preference, family.kind) {
        (TemporalityPreference::Cumulative, _)
        | (_, MetricKind::Gauge | MetricKind::UpDownCounter) => false,
        (TemporalityPreference::Delta, _) => true,
        (TemporalityPreference::LowMemory, MetricKind::Counter) => !family.asynchronous,
        (TemporalityPreference::LowMemory, MetricKind::Histogram) => true,
    }
}

/// A series: its family's name and its label pairs.
type SeriesKey = (String, Vec<(String, String)>);

/// The most baselines kept for series missing from the latest snapshot.
const MAX_ABSENT_BASELINES: usize = 4096;

/// A delta series as of its previous export, what its next delta is taken from.
#[derive(Debug)]
struct Baseline {
    /// The cumulative value then.
    value: PointValue,
    /// The series' start time then: a later one means the series was made anew.
    start_time_unix_nano: u64,
    /// When that snapshot was taken: where the next delta point starts.
    time_unix_nano: u64,
    /// The conversion that last saw the series.
    seen: u64,
}

/// `current − previous` for a cumulative value, or `None` if the series went down (a
/// reset: a counter or histogram never does otherwise) or changed shape.
fn difference(current: &PointValue, previous: &PointValue) -> Option<PointValue> {
    match (current, previous) {
        (PointValue::U64(c), PointValue::U64(p)) => c.checked_sub(*p).map(PointValue::U64),
        // A collector's count in `i64`: never negative (`Registry::collect` checks), so a
        // change below zero is a reset.
        (PointValue::I64(c), PointValue::I64(p)) => {
            c.checked_sub(*p).filter(|d| *d >= 0).map(PointValue::I64)
        }
        // NaN compares false: reported whole, as a reset, rather than as a NaN delta.
        (PointValue::F64(c), PointValue::F64(p)) => (c >= p).then(|| PointValue::F64(c - p)),
        (PointValue::Histogram(c), PointValue::Histogram(p)) if c.bounds == p.bounds => {
            let bucket_counts = c
                .bucket_counts
                .iter()
                .zip(&p.bucket_counts)
                .map(|(c, p)| c.checked_sub(*p))
                .collect::<Option<Vec<u64>>>()?;
            Some(PointValue::Histogram(HistogramValue {
                bounds: c.bounds.clone(),
                bucket_counts,
                sum: c.sum - p.sum,
                count: c.count.checked_sub(p.count)?,
                // Those of this interval: only a delta point that had some loses its sum.
                negative_count: c.negative_count.checked_sub(p.negative_count)?,
            }))
        }
        _ => None,
    }
}

/// Whether a delta `value` saw a measurement: a count or sum that moved. (An increment by
/// zero can't be told from none; it changes nothing either.)
fn was_measured(value: &PointValue) -> bool {
    match value {
        PointValue::U64(v) => *v != 0,
        PointValue::I64(v) => *v != 0,
        // NaN included: something was recorded.
        PointValue::F64(v) => *v != 0.0,
        PointValue::Histogram(h) => h.count != 0,
    }
}

/// The delta point of `p` since `previous`, the collection before this one that saw the
/// series (`None`: the first, which carries the whole value since the series' start).
///
/// The point starts at that collection, so consecutive points never overlap, and a point
/// after collections that sent none of the series (nothing measured) covers only the
/// latest interval, where its change happened; a series made anew since (a later start
/// time) starts at its own start. A
/// series that went down is a reset: its whole new value is the delta, never a negative
/// one. Only the exemplars recorded after the previous export's time are new (an
/// exemplar's time is its measurement's; one recorded while the previous export was
/// collected may rarely be sent twice).
fn delta_point(p: &PointSnapshot, previous: Option<&Baseline>) -> PointSnapshot {
    let Some(previous) = previous else {
        return p.clone();
    };
    let same_series = p.start_time_unix_nano == previous.start_time_unix_nano;
    let change = same_series
        .then(|| difference(&p.value, &previous.value))
        .flatten();
    PointSnapshot {
        labels: p.labels.clone(),
        value: change.unwrap_or_else(|| p.value.clone()),
        start_time_unix_nano: p.start_time_unix_nano.max(previous.time_unix_nano),
        time_unix_nano: p.time_unix_nano,
        exemplars: p
            .exemplars
            .iter()
            .filter(|e| e.time_unix_nano > previous.time_unix_nano)
            .copied()
            .collect(),
    }
}

/// Turns registry snapshots into OTLP requests at the [`TemporalityPreference`].
///
/// Delta is computed from the registry's cumulative values: each export reports the change
/// since the previous collection of the series that changed (and of every series an
/// asynchronous collector observed, unchanged ones too), as the Metrics SDK spec's
/// MetricReader does for delta. For that it keeps the previous cumulative value of each
/// delta series. A series missing from a snapshot (a collector that could not read
/// `/proc` once) keeps its baseline, so when it is back it reports the change since its
/// last export, not its whole value again over an interval already reported; up to
/// [`MAX_ABSENT_BASELINES`] such baselines are kept, the most recently seen.
#[derive(Debug)]
pub(crate) struct MetricsConverter {
    resource: Resource,
    preference: TemporalityPreference,
    baselines: HashMap<SeriesKey, Baseline>,
    /// Counts conversions, to tell the series of the latest snapshot from the missing ones.
    conversions: u64,
}

impl MetricsConverter {
    pub(crate) fn new(resource: Resource, preference: TemporalityPreference) -> MetricsConverter {
        MetricsConverter {
            resource,
            preference,
            baselines: HashMap::new(),
            conversions: 0,
        }
    }

    /// `families`, a snapshot, as one OTLP request. Delta series take this snapshot as
    /// their next baseline: convert only a snapshot that is then sent.
    pub(crate) fn request(
        &mut self,
        families: &[MetricFamilySnapshot],
    ) -> ExportMetricsServiceRequest {
        self.conversions += 1;
        let now = self.conversions;
        let metrics = families
            .iter()
            .filter_map(|f| {
                if !is_delta(self.preference, f) {
                    return (!f.points.is_empty())
                        .then(|| (f, metric(f, &f.points, AggregationTemporality::Cumulative)));
                }
                let points: Vec<PointSnapshot> = f
                    .points
                    .iter()
                    .filter_map(|p| {
                        let key = (f.name.clone(), p.labels.clone());
                        let delta = delta_point(p, self.baselines.get(&key));
                        self.baselines.insert(
                            key,
                            Baseline {
                                value: p.value.clone(),
                                start_time_unix_nano: p.start_time_unix_nano,
                                time_unix_nano: p.time_unix_nano,
                                seen: now,
                            },
                        );
                        // Metrics SDK, MetricReader: a synchronous instrument's delta
                        // points are only those "with measurements recorded since the
                        // previous collection"; an asynchronous one observes at every
                        // collection, so its series are all measured.
                        (f.asynchronous || was_measured(&delta.value)).then_some(delta)
                    })
                    .collect();
                (!points.is_empty()).then(|| (f, metric(f, &points, AggregationTemporality::Delta)))
            })
            .collect::<Vec<_>>();
        // One scope per instrumenting library (`OtelNames::scope`), the rest under ours.
        let scope_metrics = by_scope(
            metrics,
            |(f, _)| f.otel.scope.unwrap_or(DEFAULT_SCOPE),
            |(_, m)| m,
        )
        .into_iter()
        .map(|(scope, metrics)| ScopeMetrics {
            scope: Some(scope),
            metrics,
            schema_url: String::new(),
        })
        .collect();
        self.evict_absent(now);
        ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                resource: Some(self.resource.clone()),
                scope_metrics,
                schema_url: crate::resource::SCHEMA_URL.to_owned(),
            }],
        }
    }
}

/// Pushes the registry every interval, and once more on flush and shutdown.
#[derive(Debug)]
pub(crate) struct PeriodicMetrics {
    /// Flushes, answered in turn once their push is done.
    flushes: mpsc::Sender<Ack>,
    /// The shutdown, outside the flushes' channel: see [`Shutdown`].
    shutdown: Arc<Shutdown>,
    stats: Arc<SignalStats>,
}

/// A shutdown asked of the pushing task. It does not queue behind the flushes: with a push
/// hung on a frozen collector and flushes waiting behind it, the final push would never be
/// made (the export runtime stops at the deadline first), and the points it would have
/// carried would be lost without being counted. The task takes it as soon as it is asked,
/// even in the middle of a push, and makes the final push at once.
#[derive(Debug, Default)]
struct Shutdown {
    ack: parking_lot::Mutex<Option<Ack>>,
    asked: tokio::sync::Notify,
}

impl Shutdown {
    fn ask(&self, ack: Ack) {
        *self.ack.lock() = Some(ack);
        // Stores a permit if the task is busy elsewhere: the next `notified` takes it.
        self.asked.notify_one();
    }

    fn answer(&self) {
        if let Some(ack) = self.ack.lock().take() {
            let _ = ack.send(());
        }
    }
}

impl MetricsConverter {
    /// Keeps the baselines of at most [`MAX_ABSENT_BASELINES`] series missing from
    /// conversion `now`, those seen most recently, so that series that are gone for good
    /// (a collector's labels that changed) don't pile up.
    fn evict_absent(&mut self, now: u64) {
        let mut absent: Vec<(u64, SeriesKey)> = self
            .baselines
            .iter()
            .filter(|(_, b)| b.seen != now)
            .map(|(key, b)| (b.seen, key.clone()))
            .collect();
        let Some(excess) = absent.len().checked_sub(MAX_ABSENT_BASELINES) else {
            return;
        };
        absent.sort_unstable_by_key(|(seen, _)| *seen);
        for (_, key) in absent.into_iter().take(excess) {
            self.baselines.remove(&key);
        }
    }
}

/// What one push needs, owned by the pushing task.
struct Pusher {
    registry: Registry,
    converter: MetricsConverter,
    destination: Arc<Destination>,
    stats: Arc<SignalStats>,
    timeout: Duration,
}

impl Pusher {
    /// A snapshot of the registry and when it was asked for, taken on a blocking thread:
    /// collecting runs application code (`gauge_fn` callbacks, collectors) that may take
    /// long or wait on a lock, and the span and log exports share the export runtime's
    /// one worker. `None` if the collection did not end (the runtime stopped under it).
    async fn snapshot(&self) -> Option<(std::time::Instant, Vec<MetricFamilySnapshot>)> {
        let started = std::time::Instant::now();
        let registry = self.registry.clone();
        let families = tokio::task::spawn_blocking(move || registry.collect())
            .await
            .ok()?;
        Some((started, families))
    }

    /// Converts `snapshot` and returns the send of it. A delta baseline moves even when
    /// the send fails, as an OpenTelemetry SDK's delta aggregation resets at every
    /// collection: the failed points are counted as dropped
    /// (`obs_telemetry_dropped_total{reason="export_failed"}`) and their change is lost,
    /// rather than sent twice by a retry or folded into a later point. The points are
    /// counted in flight from now until the send ends; a send dropped unfinished (the
    /// export runtime stopped at shutdown) counts them as dropped.
    fn send(
        &mut self,
        snapshot: Option<(std::time::Instant, Vec<MetricFamilySnapshot>)>,
    ) -> impl Future<Output = ()> + Send + 'static {
        let parts = snapshot.map(|(started, families)| {
            let request = self.converter.request(&families);
            let parts = self
                .destination
                .parts(request, Signal::Metrics, &self.stats);
            (started, parts)
        });
        let (destination, timeout) = (self.destination.clone(), self.timeout);
        async move {
            let Some((started, parts)) = parts else {
                return;
            };
            // One after the other, within one timeout: a request is cut in parts only when
            // it is larger than the receiver takes.
            for (part, in_flight) in parts {
                in_flight.send(&destination, &part, timeout, started).await;
            }
        }
    }

    /// Collects a snapshot now and sends it.
    async fn push(&mut self) {
        let snapshot = self.snapshot().await;
        self.send(snapshot).await;
    }
}

impl PeriodicMetrics {
    pub(crate) fn start(
        runtime: &tokio::runtime::Handle,
        registry: Registry,
        converter: MetricsConverter,
        destination: Arc<Destination>,
        stats: Arc<SignalStats>,
        interval: Duration,
        timeout: Duration,
    ) -> PeriodicMetrics {
        let (flushes, mut rx) = mpsc::channel::<Ack>(4);
        let shutdown = Arc::new(Shutdown::default());
        let mut pusher = Pusher {
            registry,
            converter,
            destination,
            stats: stats.clone(),
            timeout,
        };
        let asked = shutdown.clone();
        runtime.spawn(async move {
            let mut ticker = ticker(interval);
            loop {
                let flush = tokio::select! {
                    biased;
                    () = asked.asked.notified() => {
                        pusher.push().await;
                        asked.answer();
                        return;
                    }
                    _ = ticker.tick() => None,
                    flush = rx.recv() => match flush {
                        Some(ack) => Some(ack),
                        None => return,
                    },
                };
                let snapshot = pusher.snapshot().await;
                let mut push = std::pin::pin!(pusher.send(snapshot));
                tokio::select! {
                    biased;
                    () = &mut push => {}
                    () = asked.asked.notified() => {
                        // A shutdown during this push (hung on a frozen collector, maybe):
                        // the final push goes now, beside it, rather than after it and the
                        // flushes queued behind it. Both are delivered or, if the deadline
                        // stops the runtime first, counted as dropped.
                        let last = pusher.push();
                        tokio::join!(push, last);
                        if let Some(ack) = flush {
                            let _ = ack.send(());
                        }
                        asked.answer();
                        return;
                    }
                }
                if let Some(ack) = flush {
                    let _ = ack.send(());
                }
            }
        });
        PeriodicMetrics {
            flushes,
            shutdown,
            stats,
        }
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
    fn send_control(&self, request: Control) -> Result<(), String> {
        match request {
            Control::Flush(ack) => self.flushes.try_send(ack).map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => BUSY.to_owned(),
                mpsc::error::TrySendError::Closed(_) => STOPPED.to_owned(),
            }),
            // The task holds the flushes' receiver until it ends.
            Control::Shutdown(_) if self.flushes.is_closed() => Err(STOPPED.to_owned()),
            Control::Shutdown(ack) => {
                self.shutdown.ask(ack);
                Ok(())
            }
        }
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
        let mut converter =
            MetricsConverter::new(Resource::default(), TemporalityPreference::Cumulative);
        converted(&mut converter, &registry.collect())
    }

    fn converted(
        converter: &mut MetricsConverter,
        families: &[MetricFamilySnapshot],
    ) -> Vec<Metric> {
        let request = converter.request(families);
        let [resource] = request.resource_metrics.as_slice() else {
            panic!("one resource: {request:?}");
        };
        resource
            .scope_metrics
            .iter()
            .flat_map(|s| s.metrics.iter().cloned())
            .collect()
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
        let rebound = registry.histogram("rebound_seconds", "h").unwrap();
        rebound.observe(-1.0);
        rebound.observe(5.0);
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
        assert_eq!(
            sum_of("rebound_seconds"),
            None,
            "back above zero, still no counter"
        );
        assert_eq!(sum_of("wait_seconds"), Some(2.0));
    }

    #[test]
    fn labels_with_empty_values_are_no_attributes() {
        let registry = Registry::new();
        let calls = registry
            .dyn_family::<obs_metrics::Counter>("calls", "c", &["route", "error_type"])
            .unwrap();
        calls.get(&[("route", "/a")]).inc();
        calls
            .get(&[("route", "/a"), ("error_type", "timeout")])
            .inc();
        let metrics = exported(&registry);
        let metric::Data::Sum(calls) = named(&metrics, "calls") else {
            panic!("calls is a sum")
        };
        let keys: Vec<Vec<&str>> = calls
            .data_points
            .iter()
            .map(|p| p.attributes.iter().map(|a| a.key.as_str()).collect())
            .collect();
        assert_eq!(keys, [vec!["route"], vec!["route", "error_type"]]);
    }

    #[test]
    fn otel_names_name_the_metric_and_its_attributes_and_type_them() {
        const KEYS: [obs_metrics::OtelAttribute; 2] = [
            obs_metrics::OtelAttribute::int(
                "http_response_status_code",
                "http.response.status_code",
            ),
            obs_metrics::OtelAttribute::string("url_scheme", "url.scheme"),
        ];
        let registry = Registry::new();
        let requests = registry
            .metric("requests_duration_seconds", "d")
            .otel_name("requests.duration")
            .otel_attributes(&KEYS)
            .dyn_family::<obs_metrics::Histogram>(&[
                "url_scheme",
                "http_response_status_code",
                "tenant",
            ])
            .unwrap();
        requests
            .get(&[
                ("url_scheme", "https"),
                ("http_response_status_code", "200"),
                ("tenant", "a"),
            ])
            .observe(0.5);
        // Not an integer: sent as the string it is, not dropped.
        requests
            .get(&[("url_scheme", "http"), ("http_response_status_code", "2xx")])
            .observe(0.5);
        let metrics = exported(&registry);
        assert_eq!(metrics[0].name, "requests.duration");
        assert_eq!(metrics[0].unit, "s");
        let metric::Data::Histogram(h) = named(&metrics, "requests.duration") else {
            panic!("a histogram")
        };
        let attributes = |i: usize| -> Vec<(&str, Option<any_value::Value>)> {
            h.data_points[i]
                .attributes
                .iter()
                .map(|a| (a.key.as_str(), a.value.clone().and_then(|v| v.value)))
                .collect()
        };
        let text = |v: &str| Some(any_value::Value::StringValue(v.to_owned()));
        assert_eq!(
            attributes(0),
            [
                ("url.scheme", text("https")),
                (
                    "http.response.status_code",
                    Some(any_value::Value::IntValue(200))
                ),
                ("tenant", text("a")),
            ]
        );
        assert_eq!(
            attributes(1),
            [
                ("url.scheme", text("http")),
                ("http.response.status_code", text("2xx")),
            ]
        );
    }

    #[test]
    fn a_count_goes_with_its_otel_unit_and_a_unit_suffix_with_its_ucum_code() {
        let registry = Registry::new();
        registry
            .metric("messages_per_call", "m")
            .otel_name("messages.per_call")
            .otel_unit("{count}")
            .histogram()
            .unwrap()
            .observe(3.0);
        registry
            .metric("queue_bytes", "q")
            .otel_name("queue.size")
            .gauge()
            .unwrap()
            .set(1);
        registry.counter("jobs", "j").unwrap().inc();
        let metrics = exported(&registry);
        let unit = |name: &str| metrics.iter().find(|m| m.name == name).map(|m| &*m.unit);
        assert_eq!(unit("messages.per_call"), Some("{count}"));
        assert_eq!(unit("queue.size"), Some("By"));
        assert_eq!(unit("jobs"), Some(""));
    }

    #[tokio::test]
    async fn a_zero_interval_ticks_instead_of_panicking() {
        let mut ticker = ticker(Duration::ZERO);
        ticker.tick().await;
        assert_eq!(ticker.period(), Duration::from_millis(1));
    }

    fn family(
        name: &str,
        kind: MetricKind,
        asynchronous: bool,
        points: Vec<PointSnapshot>,
    ) -> MetricFamilySnapshot {
        MetricFamilySnapshot {
            name: name.to_owned(),
            help: "h".to_owned(),
            unit: None,
            kind,
            otel: Default::default(),
            asynchronous,
            points,
        }
    }

    /// A point of series `id`, counting since `start`, read at `time`.
    fn point(id: &str, value: PointValue, start: u64, time: u64) -> PointSnapshot {
        PointSnapshot {
            labels: vec![("id".to_owned(), id.to_owned())],
            value,
            start_time_unix_nano: start,
            time_unix_nano: time,
            exemplars: Vec::new(),
        }
    }

    fn histogram(bucket_counts: Vec<u64>, sum: f64) -> PointValue {
        PointValue::Histogram(HistogramValue {
            bounds: Arc::from([1.0]),
            count: bucket_counts.iter().sum(),
            bucket_counts,
            sum,
            negative_count: 0,
        })
    }

    fn delta() -> MetricsConverter {
        MetricsConverter::new(Resource::default(), TemporalityPreference::Delta)
    }

    /// The sum `name`'s temporality and points as (series id, value, start, time).
    fn sum_points(metrics: &[Metric], name: &str) -> (i32, Vec<(String, f64, u64, u64)>) {
        let metric::Data::Sum(sum) = named(metrics, name) else {
            panic!("{name} is a sum")
        };
        assert!(sum.is_monotonic);
        let points = sum
            .data_points
            .iter()
            .map(|p| {
                let id = match p.attributes[0]
                    .value
                    .as_ref()
                    .and_then(|v| v.value.as_ref())
                {
                    Some(any_value::Value::StringValue(id)) => id.clone(),
                    other => panic!("id attribute: {other:?}"),
                };
                let value = match p.value {
                    Some(number_data_point::Value::AsInt(v)) => v as f64,
                    Some(number_data_point::Value::AsDouble(v)) => v,
                    None => panic!("no value"),
                };
                (id, value, p.start_time_unix_nano, p.time_unix_nano)
            })
            .collect();
        (sum.aggregation_temporality, points)
    }

    /// The unlabelled sum `name`'s temporality and integer value.
    fn unlabelled_sum(metrics: &[Metric], name: &str) -> (i32, u64) {
        match named(metrics, name) {
            metric::Data::Sum(s) => match s.data_points[0].value {
                Some(number_data_point::Value::AsInt(v)) => {
                    (s.aggregation_temporality, u64::try_from(v).unwrap())
                }
                ref other => panic!("{other:?}"),
            },
            _ => panic!("{name} is a sum"),
        }
    }

    const DELTA: i32 = AggregationTemporality::Delta as i32;
    const CUMULATIVE: i32 = AggregationTemporality::Cumulative as i32;

    #[test]
    fn delta_reports_the_whole_value_first_then_the_change_since_the_previous_export() {
        let mut converter = delta();
        let snapshot = |time, jobs, seconds: f64, buckets, sum, load| {
            vec![
                family(
                    "jobs",
                    MetricKind::Counter,
                    false,
                    vec![
                        point("u", PointValue::U64(jobs), 10, time),
                        point("f", PointValue::F64(seconds), 10, time),
                    ],
                ),
                family(
                    "wait_seconds",
                    MetricKind::Histogram,
                    false,
                    vec![point("h", histogram(buckets, sum), 10, time)],
                ),
                family(
                    "load",
                    MetricKind::Gauge,
                    false,
                    vec![point("g", PointValue::I64(load), 10, time)],
                ),
            ]
        };
        let first = converted(&mut converter, &snapshot(100, 5, 1.5, vec![1, 2], 3.5, 7));
        assert_eq!(
            sum_points(&first, "jobs"),
            (
                DELTA,
                vec![
                    ("u".to_owned(), 5.0, 10, 100),
                    ("f".to_owned(), 1.5, 10, 100)
                ]
            ),
            "the first export carries the whole value since the series' start"
        );
        let second = converted(&mut converter, &snapshot(200, 8, 4.0, vec![1, 5], 7.0, -3));
        assert_eq!(
            sum_points(&second, "jobs"),
            (
                DELTA,
                vec![
                    ("u".to_owned(), 3.0, 100, 200),
                    ("f".to_owned(), 2.5, 100, 200)
                ]
            ),
            "the change, starting at the previous export's time"
        );
        let metric::Data::Histogram(h) = named(&second, "wait_seconds") else {
            panic!("a histogram")
        };
        assert_eq!(h.aggregation_temporality, DELTA);
        let p = &h.data_points[0];
        assert_eq!(
            (&p.bucket_counts, p.count, p.sum, p.start_time_unix_nano),
            (&vec![0, 3], 3, Some(3.5), 100)
        );
        assert_eq!((p.min, p.max), (None, None), "min and max are never sent");
        let metric::Data::Gauge(g) = named(&second, "load") else {
            panic!("a gauge")
        };
        assert_eq!(
            (
                g.data_points[0].value,
                g.data_points[0].start_time_unix_nano
            ),
            (Some(number_data_point::Value::AsInt(-3)), 10),
            "a gauge is its current value, whatever the preference"
        );
    }

    /// A collector may count in `i64` (`PointValue::I64`; `Registry::collect` refuses
    /// only negative counts): its delta is the change like any count's, not the whole
    /// total again at every push, which would add up to far more than was counted.
    #[test]
    fn an_integer_counter_of_a_collector_is_pushed_as_its_change() {
        let mut converter = delta();
        let snapshot = |time, total| {
            vec![family(
                "rows_read",
                MetricKind::Counter,
                true,
                vec![point("db", PointValue::I64(total), 10, time)],
            )]
        };
        let mut pushed = Vec::new();
        for (time, total) in [(100, 5), (200, 8), (300, 8), (400, 2)] {
            let metrics = converted(&mut converter, &snapshot(time, total));
            pushed.extend(sum_points(&metrics, "rows_read").1);
        }
        assert_eq!(
            pushed,
            [
                ("db".to_owned(), 5.0, 10, 100),
                ("db".to_owned(), 3.0, 100, 200),
                // Observed, so sent, with nothing counted.
                ("db".to_owned(), 0.0, 200, 300),
                // Down: a reset, its whole new value the change.
                ("db".to_owned(), 2.0, 300, 400),
            ]
        );
    }

    /// Metrics SDK, MetricReader: "For synchronous instruments with Delta aggregation
    /// temporality, MetricReader.Collect MUST only receive data points with measurements
    /// recorded since the previous collection", and "For asynchronous instruments [...]
    /// MUST only receive data points with measurements recorded since the previous
    /// collection": an observation at every collection is a measurement, so those stay.
    /// Intervals follow the collections ("(T0, T1], (T1, T2], (T2, T3]"): a series left
    /// out of one starts its next point at that collection, not at its own last point.
    #[test]
    fn a_delta_series_with_no_measurement_since_the_previous_collection_is_left_out() {
        let mut converter = delta();
        let snapshot = |time, a, b, buckets, cpu| {
            vec![
                family(
                    "jobs",
                    MetricKind::Counter,
                    false,
                    vec![
                        point("a", PointValue::U64(a), 10, time),
                        point("b", PointValue::F64(b), 10, time),
                    ],
                ),
                family(
                    "wait_seconds",
                    MetricKind::Histogram,
                    false,
                    vec![point("h", histogram(buckets, 1.0), 10, time)],
                ),
                family(
                    "cpu_seconds",
                    MetricKind::Counter,
                    true,
                    vec![point("c", PointValue::F64(cpu), 10, time)],
                ),
            ]
        };
        converted(&mut converter, &snapshot(100, 5, 1.5, vec![1, 0], 0.5));
        // `a` and the histogram had no measurement since 100, `b` had one.
        let second = converted(&mut converter, &snapshot(200, 5, 2.5, vec![1, 0], 0.5));
        assert_eq!(
            sum_points(&second, "jobs").1,
            [("b".to_owned(), 1.0, 100, 200)]
        );
        assert!(
            second.iter().all(|m| m.name != "wait_seconds"),
            "a metric with no point is left out whole: {second:?}"
        );
        assert_eq!(
            sum_points(&second, "cpu_seconds").1,
            [("c".to_owned(), 0.0, 100, 200)],
            "observed, so reported, unchanged as it is"
        );
        // Nothing at all: only the observed series.
        let third = converted(&mut converter, &snapshot(300, 5, 2.5, vec![1, 0], 0.5));
        let names: Vec<&str> = third.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["cpu_seconds"]);
        // Counted again: the change since the latest collection, which is where it starts.
        let fourth = converted(&mut converter, &snapshot(400, 7, 2.5, vec![1, 2], 0.5));
        assert_eq!(
            sum_points(&fourth, "jobs").1,
            [("a".to_owned(), 2.0, 300, 400)]
        );
        let metric::Data::Histogram(h) = named(&fourth, "wait_seconds") else {
            panic!("a histogram")
        };
        let p = &h.data_points[0];
        assert_eq!(
            (&p.bucket_counts, p.count, p.start_time_unix_nano),
            (&vec![0, 2], 2, 300)
        );
        // A series made but never counted has no measurement either.
        let unused = converted(
            &mut converter,
            &[family(
                "retries",
                MetricKind::Counter,
                false,
                vec![point("r", PointValue::U64(0), 450, 500)],
            )],
        );
        assert!(unused.is_empty(), "{unused:?}");
    }

    #[test]
    fn a_series_that_goes_down_or_starts_anew_is_a_reset_not_a_negative_delta() {
        let mut converter = delta();
        let jobs = |value, start, time| {
            vec![family(
                "jobs",
                MetricKind::Counter,
                false,
                vec![point("a", PointValue::U64(value), start, time)],
            )]
        };
        converted(&mut converter, &jobs(10, 0, 100));
        let down = converted(&mut converter, &jobs(4, 0, 200));
        assert_eq!(
            sum_points(&down, "jobs").1,
            [("a".to_owned(), 4.0, 100, 200)],
            "the whole new value, since the previous export (the reset happened after it)"
        );
        // Made anew at 250 (a later start time), with a value above the previous one.
        let anew = converted(&mut converter, &jobs(6, 250, 300));
        assert_eq!(
            sum_points(&anew, "jobs").1,
            [("a".to_owned(), 6.0, 250, 300)],
            "the whole value, from the new series' start"
        );
        let after = converted(&mut converter, &jobs(9, 250, 400));
        assert_eq!(
            sum_points(&after, "jobs").1,
            [("a".to_owned(), 3.0, 300, 400)]
        );

        let waits = |buckets, time| {
            vec![family(
                "wait_seconds",
                MetricKind::Histogram,
                false,
                vec![point("h", histogram(buckets, 1.0), 0, time)],
            )]
        };
        converted(&mut converter, &waits(vec![2, 2], 100));
        let metrics = converted(&mut converter, &waits(vec![3, 0], 200));
        let metric::Data::Histogram(h) = named(&metrics, "wait_seconds") else {
            panic!("a histogram")
        };
        assert_eq!(
            (&h.data_points[0].bucket_counts, h.data_points[0].count),
            (&vec![3, 0], 3),
            "a bucket that went down resets the whole histogram"
        );
    }

    #[test]
    fn a_delta_histogram_point_has_no_sum_only_if_its_interval_recorded_a_negative_value() {
        let mut converter = delta();
        let skews = |buckets, negative_count, sum, time| {
            let PointValue::Histogram(mut value) = histogram(buckets, sum) else {
                unreachable!("a histogram")
            };
            value.negative_count = negative_count;
            let p = point("h", PointValue::Histogram(value), 0, time);
            vec![family(
                "skew_seconds",
                MetricKind::Histogram,
                false,
                vec![p],
            )]
        };
        let mut sum = |buckets, negative_count, sum, time| match named(
            &converted(&mut converter, &skews(buckets, negative_count, sum, time)),
            "skew_seconds",
        ) {
            metric::Data::Histogram(h) => h.data_points[0].sum,
            _ => panic!("a histogram"),
        };
        assert_eq!(sum(vec![2, 0], 1, 1.0, 100), None, "-1 and 2");
        assert_eq!(sum(vec![3, 0], 1, 1.5, 200), Some(0.5), "0.5 alone");
        assert_eq!(sum(vec![4, 0], 2, 1.0, 300), None, "-0.5 alone");
    }

    #[test]
    fn a_series_missing_from_a_snapshot_reports_only_its_change_when_back() {
        let mut converter = delta();
        let jobs = |ids: &[(&str, u64)], time| {
            let points = ids
                .iter()
                .map(|(id, v)| point(id, PointValue::U64(*v), 0, time))
                .collect();
            vec![family("jobs", MetricKind::Counter, false, points)]
        };
        converted(&mut converter, &jobs(&[("a", 1), ("b", 5)], 100));
        // `b` is missing once (a collector that failed to read its source).
        converted(&mut converter, &jobs(&[("a", 2)], 200));
        let back = converted(&mut converter, &jobs(&[("a", 3), ("b", 7)], 300));
        assert_eq!(
            sum_points(&back, "jobs").1,
            [
                ("a".to_owned(), 1.0, 200, 300),
                ("b".to_owned(), 2.0, 100, 300)
            ],
            "b's 5 up to 100 was reported already: only its change since, from 100"
        );
    }

    #[test]
    fn only_the_most_recently_seen_missing_baselines_are_kept() {
        let mut converter = delta();
        let many: Vec<PointSnapshot> = (0..MAX_ABSENT_BASELINES + 10)
            .map(|i| point(&i.to_string(), PointValue::U64(1), 0, 100))
            .collect();
        converted(
            &mut converter,
            &[family("jobs", MetricKind::Counter, false, many)],
        );
        let one = vec![point("0", PointValue::U64(2), 0, 200)];
        converted(
            &mut converter,
            &[family("jobs", MetricKind::Counter, false, one)],
        );
        assert_eq!(converter.baselines.len(), MAX_ABSENT_BASELINES + 1);
        // A family gone entirely keeps its baselines too, within the bound.
        converted(&mut converter, &[]);
        assert_eq!(converter.baselines.len(), MAX_ABSENT_BASELINES);
        assert!(
            converter
                .baselines
                .contains_key(&("jobs".to_owned(), vec![("id".to_owned(), "0".to_owned())])),
            "the series seen last is kept"
        );
    }

    #[test]
    fn delta_keeps_only_the_exemplars_recorded_since_the_previous_export() {
        let exemplar = |time| obs_metrics::Exemplar {
            trace_id: obs_trace::TraceId::from_u128(1),
            span_id: obs_trace::SpanId::from_u64(time),
            value: 1.0,
            time_unix_nano: time,
        };
        let jobs = |value, time, exemplars: &[u64]| {
            let mut p = point("a", PointValue::U64(value), 0, time);
            p.exemplars = exemplars.iter().map(|t| exemplar(*t)).collect();
            vec![family("jobs", MetricKind::Counter, false, vec![p])]
        };
        let times = |metrics: &[Metric]| match named(metrics, "jobs") {
            metric::Data::Sum(s) => s.data_points[0]
                .exemplars
                .iter()
                .map(|e| e.time_unix_nano)
                .collect::<Vec<_>>(),
            _ => panic!("a sum"),
        };
        let mut converter = delta();
        let first = converted(&mut converter, &jobs(1, 100, &[50, 100]));
        assert_eq!(times(&first), [50, 100], "the first export has them all");
        // 100 was recorded by the previous export's time, 150 and 200 since.
        let second = converted(&mut converter, &jobs(2, 200, &[100, 150, 200]));
        assert_eq!(times(&second), [150, 200]);
    }

    #[test]
    fn families_go_under_their_own_scope_else_obs_metrics_in_either_temporality() {
        let registry = Registry::new();
        let counter = |name, scope: Option<&'static str>| {
            let builder = registry.metric(name, "C.");
            let builder = match scope {
                Some(scope) => builder.otel_scope(scope),
                None => builder,
            };
            builder.counter().unwrap().inc();
        };
        counter("served", Some("a_library"));
        counter("jobs", None);
        counter("called", Some("a_library"));
        for preference in [
            TemporalityPreference::Cumulative,
            TemporalityPreference::Delta,
        ] {
            let mut converter = MetricsConverter::new(Resource::default(), preference);
            let request = converter.request(&registry.collect());
            let scopes: Vec<(&str, &str, Vec<&str>)> = request.resource_metrics[0]
                .scope_metrics
                .iter()
                .map(|s| {
                    let scope = s.scope.as_ref().expect("a scope");
                    let names = s.metrics.iter().map(|m| m.name.as_str()).collect();
                    (scope.name.as_str(), scope.version.as_str(), names)
                })
                .collect();
            assert_eq!(
                scopes,
                [
                    ("a_library", "", vec!["served", "called"]),
                    ("obs-metrics", obs_metrics::VERSION, vec!["jobs"]),
                ],
                "{preference:?}"
            );
        }
    }

    #[test]
    fn cumulative_is_the_snapshot_as_is_and_keeps_no_state() {
        let registry = Registry::new();
        let jobs = registry.counter("jobs", "Jobs.").unwrap();
        let waits = registry.histogram("wait_seconds", "Wait.").unwrap();
        let mut converter =
            MetricsConverter::new(Resource::default(), TemporalityPreference::Cumulative);
        for _ in 0..2 {
            jobs.inc_by(2);
            waits.observe(0.5);
            let metrics = converted(&mut converter, &registry.collect());
            let (temporality, total) = unlabelled_sum(&metrics, "jobs");
            assert_eq!(temporality, CUMULATIVE);
            let metric::Data::Histogram(h) = named(&metrics, "wait_seconds") else {
                panic!("a histogram")
            };
            assert_eq!(h.aggregation_temporality, CUMULATIVE);
            assert_eq!(
                (total, h.data_points[0].count),
                (jobs.get(), waits.get().count)
            );
        }
        assert!(converter.baselines.is_empty());
    }

    /// The spec's table: `delta` makes an asynchronous counter (the process CPU time a
    /// collector reads) delta, `lowmemory` keeps it cumulative; both make a counter the
    /// application increments delta.
    #[cfg(target_os = "linux")]
    #[test]
    fn lowmemory_keeps_asynchronous_counters_cumulative_and_delta_does_not() {
        let registry = Registry::new();
        registry.register_process_metrics();
        registry.counter("jobs", "Jobs.").unwrap().inc();
        registry.gauge_fn("answer", "The answer.", || 42.0).unwrap();
        let temporality = |preference, name| {
            let mut converter = MetricsConverter::new(Resource::default(), preference);
            match named(&converted(&mut converter, &registry.collect()), name) {
                metric::Data::Sum(s) => Some(s.aggregation_temporality),
                metric::Data::Gauge(_) => None,
                _ => panic!("{name}"),
            }
        };
        use TemporalityPreference::{Cumulative, Delta, LowMemory};
        assert_eq!(temporality(LowMemory, "process.cpu.time"), Some(CUMULATIVE));
        assert_eq!(temporality(LowMemory, "jobs"), Some(DELTA));
        assert_eq!(temporality(Delta, "process.cpu.time"), Some(DELTA));
        assert_eq!(temporality(Delta, "jobs"), Some(DELTA));
        assert_eq!(
            temporality(Cumulative, "process.cpu.time"),
            Some(CUMULATIVE)
        );
        assert_eq!(temporality(Cumulative, "jobs"), Some(CUMULATIVE));
        for preference in [Cumulative, Delta, LowMemory] {
            assert_eq!(
                temporality(preference, "answer"),
                None,
                "a gauge stays a gauge"
            );
            assert_eq!(temporality(preference, "process_max_fds"), None);
            // The conventions' UpDownCounter.
            assert_eq!(
                temporality(preference, "process.unix.file_descriptor.count"),
                Some(CUMULATIVE)
            );
        }
    }

    /// The spec's table makes an UpDownCounter cumulative under every preference; OTLP
    /// carries it as a non-monotonic `Sum` with a fixed start.
    #[test]
    fn an_up_down_counter_is_a_cumulative_non_monotonic_sum_under_every_preference() {
        let registry = Registry::new();
        let active = registry
            .up_down_counter("active_requests", "In flight.")
            .unwrap();
        active.add(3);
        active.dec();
        for preference in [
            TemporalityPreference::Cumulative,
            TemporalityPreference::Delta,
            TemporalityPreference::LowMemory,
        ] {
            let mut converter = MetricsConverter::new(Resource::default(), preference);
            let mut pushes = (0..2).map(|_| converted(&mut converter, &registry.collect()));
            let (first, second) = (pushes.next().unwrap(), pushes.next().unwrap());
            let sum = |metrics: &[Metric]| match named(metrics, "active_requests") {
                metric::Data::Sum(sum) => sum.clone(),
                other => panic!("{preference:?}: a sum, not {other:?}"),
            };
            let (first, second) = (sum(&first), sum(&second));
            assert!(!second.is_monotonic, "{preference:?}");
            assert_eq!(second.aggregation_temporality, CUMULATIVE, "{preference:?}");
            let point = &second.data_points[0];
            assert_eq!(point.value, Some(number_data_point::Value::AsInt(2)));
            assert_eq!(
                point.start_time_unix_nano, first.data_points[0].start_time_unix_nano,
                "{preference:?}: the same start at every push"
            );
        }
    }
}
