//! A neutral, fully public copy of a registry's state at one moment: what
//! [`Registry::collect`](crate::Registry::collect) returns, what the text encoders print,
//! and what `obs-core` maps to OTLP metrics. One source for both, so `/metrics` and OTLP
//! agree.

use std::sync::Arc;

use crate::{Exemplar, Unit};

/// The type of a metric family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MetricKind {
    /// A monotonic cumulative sum (OTLP `Sum` with `is_monotonic` and cumulative
    /// temporality); printed with a `_total` suffix.
    Counter,
    /// A value that goes up and down (OTLP `Gauge`).
    Gauge,
    /// A sum that goes up and down, OpenTelemetry's UpDownCounter (OTLP `Sum`, not
    /// monotonic, always cumulative); a gauge to Prometheus.
    UpDownCounter,
    /// Explicit-bucket histogram with cumulative temporality.
    Histogram,
}

impl MetricKind {
    /// The exposition `# TYPE` word.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricKind::Counter => "counter",
            MetricKind::Gauge | MetricKind::UpDownCounter => "gauge",
            MetricKind::Histogram => "histogram",
        }
    }
}

/// What a metric is called in OpenTelemetry where that differs from its Prometheus name:
/// the instrument name (`http.server.request.duration` for
/// `http_server_request_duration_seconds`) and the attribute of each label
/// (`http.request.method` for `http_request_method`). Prometheus names can't hold the dots
/// of the semantic conventions, and dots can't be recovered from underscores
/// (`http_response_status_code` is `http.response.status_code`), so both are given, with
/// [`MetricBuilder::otel_name`](crate::MetricBuilder::otel_name) and
/// [`MetricBuilder::otel_attributes`](crate::MetricBuilder::otel_attributes), and the unit
/// of a count, which no Prometheus suffix carries ([`MetricBuilder::otel_unit`](crate::MetricBuilder::otel_unit)),
/// and the instrumentation scope of a library's own metrics ([`MetricBuilder::otel_scope`](crate::MetricBuilder::otel_scope)).
/// OTLP exporters (`obs-core`'s push) send these; the text exposition ignores them. The
/// default keeps the Prometheus names over OTLP too.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OtelNames {
    /// The instrument name; `None`: the Prometheus name (without a counter's `_total`).
    pub name: Option<&'static str>,
    /// The attributes of the labels listed; a label not listed is a string attribute keyed
    /// by its name.
    pub attributes: &'static [OtelAttribute],
    /// The OTLP unit of a family whose Prometheus name has no [`Unit`]: a UCUM annotation
    /// such as `{count}` or `{request}`, which the semantic conventions give counts and
    /// Prometheus names leave out. `None`: the [`Unit`]'s UCUM code, if any.
    pub unit: Option<&'static str>,
    /// The instrumentation scope OTLP exporters send the family under: the library that
    /// instruments (`obs_tower` for the HTTP layers' metrics, the scope of their spans too,
    /// as a Tracer and a Meter of one library share a scope). `None`: the exporter's
    /// default scope, `obs-metrics`.
    pub scope: Option<&'static str>,
}

impl OtelNames {
    /// The attribute `label` is sent as, if listed.
    ///
    /// ```
    /// use obs_metrics::{OtelAttribute, OtelNames};
    ///
    /// static ATTRIBUTES: [OtelAttribute; 1] = [OtelAttribute::string("url_scheme", "url.scheme")];
    ///
    /// let names = OtelNames {
    ///     attributes: &ATTRIBUTES,
    ///     ..OtelNames::default()
    /// };
    /// assert_eq!(names.attribute("url_scheme").map(|a| a.key), Some("url.scheme"));
    /// assert_eq!(names.attribute("tenant"), None);
    /// ```
    pub fn attribute(&self, label: &str) -> Option<&OtelAttribute> {
        self.attributes.iter().find(|a| a.label == label)
    }
}

/// The OpenTelemetry attribute a label is sent as: its key and whether its value is an
/// integer (`http.response.status_code`, `server.port`: the semantic conventions type them
/// `int`, and an OTLP backend compares them as such). A label value that does not parse as
/// an `i64` is sent as a string all the same, never dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OtelAttribute {
    /// The Prometheus label name (`http_response_status_code`).
    pub label: &'static str,
    /// The attribute key (`http.response.status_code`).
    pub key: &'static str,
    /// Whether the value is sent as an integer.
    pub integer: bool,
}

impl OtelAttribute {
    /// A string attribute.
    pub const fn string(label: &'static str, key: &'static str) -> OtelAttribute {
        OtelAttribute {
            label,
            key,
            integer: false,
        }
    }

    /// An integer attribute.
    pub const fn int(label: &'static str, key: &'static str) -> OtelAttribute {
        OtelAttribute {
            label,
            key,
            integer: true,
        }
    }
}

/// One metric family: a name and its series.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricFamilySnapshot {
    /// The Prometheus name without the counter `_total` suffix, unit suffix included
    /// (`http_server_request_duration_seconds`, `http_requests`).
    pub name: String,
    /// The help text (OTLP `description`).
    pub help: String,
    /// The unit, when the name ends with one.
    pub unit: Option<Unit>,
    /// Counter, gauge or histogram.
    pub kind: MetricKind,
    /// The OpenTelemetry instrument name and attribute keys, where they differ from the
    /// Prometheus ones: what an OTLP exporter sends instead.
    pub otel: OtelNames,
    /// Whether the values are observed at collection rather than recorded by the
    /// application: an OpenTelemetry *asynchronous* instrument (an observable counter or
    /// gauge). True for [`Registry::gauge_fn`](crate::Registry::gauge_fn), the cardinality
    /// overflow counter, and every family a [`Collector`](crate::Collector) produces
    /// (process, runtime and pipeline metrics): [`Registry::collect`](crate::Registry::collect)
    /// sets it for those whatever the collector says. An OTLP exporter needs it to choose
    /// a temporality: the `lowmemory` preference of the OTLP exporter spec keeps
    /// asynchronous counters cumulative and makes synchronous ones delta.
    pub asynchronous: bool,
    /// One point per series, in creation order.
    pub points: Vec<PointSnapshot>,
}

/// The value of one series.
#[derive(Clone, Debug, PartialEq)]
pub struct PointSnapshot {
    /// Label pairs in their declared order.
    pub labels: Vec<(String, String)>,
    /// The value.
    pub value: PointValue,
    /// When this series started counting (OTLP `start_time_unix_nano` of cumulative
    /// points), in nanoseconds since the Unix epoch.
    pub start_time_unix_nano: u64,
    /// When this snapshot was taken, in nanoseconds since the Unix epoch; the series'
    /// start if that is later (a series made while the snapshot was taken, or a wall clock
    /// stepped back since it was made), so a point never ends before it starts.
    pub time_unix_nano: u64,
    /// The latest exemplars: at most one for a counter, one per bucket for a histogram.
    pub exemplars: Vec<Exemplar>,
}

/// A counter or gauge number, or a histogram.
#[derive(Clone, Debug, PartialEq)]
pub enum PointValue {
    /// An integer counter (`u64`).
    U64(u64),
    /// An integer gauge (`i64`).
    I64(i64),
    /// A floating-point counter or gauge.
    F64(f64),
    /// A histogram.
    Histogram(HistogramValue),
}

impl PointValue {
    /// The value as `f64` (a histogram gives its sum).
    pub fn as_f64(&self) -> f64 {
        match self {
            PointValue::U64(v) => *v as f64,
            PointValue::I64(v) => *v as f64,
            PointValue::F64(v) => *v,
            PointValue::Histogram(h) => h.sum,
        }
    }
}

/// A histogram's state, laid out as OTLP `HistogramDataPoint` wants it.
#[derive(Clone, Debug, PartialEq)]
pub struct HistogramValue {
    /// Finite upper bounds, strictly increasing, without `+Inf` (OTLP `explicit_bounds`).
    pub bounds: Arc<[f64]>,
    /// Non-cumulative counts, one per bound plus a last one for values above the last
    /// bound: `bucket_counts.len() == bounds.len() + 1`. Bucket `i` holds values `v` with
    /// `bounds[i-1] < v <= bounds[i]`.
    pub bucket_counts: Vec<u64>,
    /// Sum of all observations.
    pub sum: f64,
    /// Number of observations (the sum of `bucket_counts`).
    pub count: u64,
    /// How many of them were below zero: with any, the sum is no counter, whatever its
    /// sign now (see [`counter_like_sum`](Self::counter_like_sum)).
    pub negative_count: u64,
}

impl HistogramValue {
    /// The bucket index a value falls in, by the `le` (less or equal) rule.
    #[inline]
    pub fn bucket_index(bounds: &[f64], value: f64) -> usize {
        // Typical bucket lists are short and most values land in the first buckets, where
        // a forward scan stops after a few well-predicted compares; long lists bisect.
        if bounds.len() <= 16 {
            bounds
                .iter()
                .position(|b| value <= *b)
                .unwrap_or(bounds.len())
        } else {
            bounds.partition_point(|b| *b < value)
        }
    }

    /// The sum, if it can be shown as the counter-like value both OpenMetrics and OTLP take
    /// it for: `None` when a threshold is negative (OpenMetrics 1.0: such a histogram "MUST
    /// NOT contain a sum value"), when a negative value was recorded (OTLP
    /// `HistogramDataPoint.sum`: "Negative events *can* be recorded, but sum should not be
    /// filled out when doing so"; a sum that went down once would read as a counter reset,
    /// even when it is back above zero), or when the sum is NaN.
    pub fn counter_like_sum(&self) -> Option<f64> {
        let lowest_ok = self.bounds.first().is_none_or(|&lowest| lowest >= 0.0);
        (lowest_ok && self.negative_count == 0 && self.sum >= 0.0).then_some(self.sum)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_index_scans_and_bisects_alike() {
        let short: Vec<f64> = (1..=10).map(f64::from).collect();
        let long: Vec<f64> = (1..=40).map(f64::from).collect();
        for v in [
            -1.0,
            0.5,
            1.0,
            1.5,
            10.0,
            10.5,
            39.0,
            40.0,
            41.0,
            f64::INFINITY,
        ] {
            let expected = |bounds: &[f64]| bounds.iter().filter(|b| **b < v).count();
            assert_eq!(
                HistogramValue::bucket_index(&short, v),
                expected(&short),
                "{v}"
            );
            assert_eq!(
                HistogramValue::bucket_index(&long, v),
                expected(&long),
                "{v}"
            );
        }
    }
}
