//! A registry filled by a careless user, shared by the tests that hand its exposition to
//! the strict external checkers (`exposition_parsers.rs`: promtool and the OpenMetrics
//! parser) and to a real Prometheus (obs-tests' `metrics_prometheus_misuse.rs`).

use obs_metrics::{
    Collector, Counter, EncodeLabelSet, Family, Gauge, Histogram, MetricFamilySnapshot, MetricKind,
    PointSnapshot, PointValue, Registry,
};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Method {
    method: &'static str,
}

/// Label names that repeat once flattened or renamed.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RepeatedNames {
    #[prometheus(flatten)]
    request: Method,
    method: &'static str,
    le: &'static str,
    label_le: &'static str,
}

/// `le` on a counter: promtool wants it on histograms only.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Level {
    le: &'static str,
}

/// `None` and `Some("")` print the same labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OptionalRoute {
    http_route: Option<&'static str>,
}

/// A collector whose families no exposition can show (all left out: an invalid name, a
/// histogram with an `le` label, a repeated label, a negative counter) beside a valid one.
#[derive(Debug)]
struct CarelessCollector;

impl Collector for CarelessCollector {
    fn collect(&self, now: u64, out: &mut Vec<MetricFamilySnapshot>) {
        let family = |name: &str, kind, labels: &[(&str, &str)], value| MetricFamilySnapshot {
            name: name.to_owned(),
            help: "Collected.".to_owned(),
            unit: None,
            kind,
            otel: Default::default(),
            asynchronous: true,
            points: vec![PointSnapshot {
                labels: labels
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
                value,
                start_time_unix_nano: now,
                time_unix_nano: now,
                exemplars: Vec::new(),
            }],
        };
        let histogram = PointValue::Histogram(obs_metrics::HistogramValue {
            bounds: [1.0].into(),
            bucket_counts: vec![1, 0],
            sum: 0.5,
            count: 1,
            negative_count: 0,
        });
        out.extend([
            family("queue-depth", MetricKind::Gauge, &[], PointValue::I64(1)),
            family(
                "collected_wait_seconds",
                MetricKind::Histogram,
                &[("le", "x")],
                histogram,
            ),
            family(
                "backlog",
                MetricKind::Gauge,
                &[("queue", "a"), ("queue", "b")],
                PointValue::I64(1),
            ),
            family("debt", MetricKind::Counter, &[], PointValue::I64(-5)),
            family("queue_depth", MetricKind::Gauge, &[], PointValue::I64(3)),
        ]);
    }
}

/// What a careless user can do to a registry: label names that repeat, label sets that
/// print alike, control and non-ASCII characters in help and label values, NaN and
/// infinities, a histogram with only the `+Inf` bucket, a collector's invalid families.
/// Each used to break an exposition (promtool, the OpenMetrics parser or a real Prometheus
/// rejecting it) or lose a sample; the exposition must now stay valid and whole.
pub(crate) fn add_misuse(registry: &Registry) {
    let repeated: Family<RepeatedNames, Histogram> = registry
        .family("misuse_wait_seconds", "Label names that repeat.")
        .unwrap();
    repeated
        .get(&RepeatedNames {
            request: Method { method: "GET" },
            method: "POST",
            le: "a",
            label_le: "b",
        })
        .observe(0.5);
    let levels: Family<Level, Counter> = registry
        .family("misuse_levels", "A label named le.")
        .unwrap();
    levels.get(&Level { le: "debug" }).inc();
    let routes: Family<OptionalRoute, Counter> = registry
        .family("misuse_requests", "Label sets that print alike.")
        .unwrap();
    routes.get(&OptionalRoute { http_route: None }).inc();
    routes
        .get(&OptionalRoute {
            http_route: Some(""),
        })
        .inc_by(3);
    // One series to Prometheus: pairs in another order, an extra label with an empty value.
    let jobs: Family<Vec<(&str, &str)>, Counter> = registry
        .family("misuse_jobs", "Label pairs that are one series.")
        .unwrap();
    jobs.get(&vec![("queue", "a"), ("outcome", "ok")]).inc();
    jobs.get(&vec![("outcome", "ok"), ("queue", "a")]).inc();
    jobs.get(&vec![("queue", "a"), ("shard", ""), ("outcome", "ok")])
        .inc();
    let values = registry
        .metric(
            "misuse_values",
            "Ünïcödé \\ \"help\"\twith a tab,\r\nCRLF lines.",
        )
        .dyn_family::<Gauge<f64>>(&["case", "text"])
        .unwrap();
    values
        .get(&[
            ("case", "nan"),
            ("text", "nul\0 snow☃ line\u{2028}sep\r\ncr"),
        ])
        .set(f64::NAN);
    values
        .get(&[("case", "inf"), ("text", "")])
        .set(f64::INFINITY);
    values.get(&[("case", "-inf")]).set(f64::NEG_INFINITY);
    let huge = registry
        .metric("misuse_huge", "A float counter past f64::MAX.")
        .counter_f64()
        .unwrap();
    huge.inc_by(f64::MAX);
    huge.inc_by(f64::MAX);
    let unbounded = registry
        .metric("misuse_unbounded_seconds", "No bucket but +Inf.")
        .buckets([])
        .histogram()
        .unwrap();
    unbounded.observe(f64::INFINITY);
    unbounded.observe(1.0);
    registry.register_collector(CarelessCollector);
}
