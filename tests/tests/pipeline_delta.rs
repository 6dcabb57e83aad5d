//! With the delta temporality preference, pushed counters and histograms reach a real
//! collector (rotel, which forwards them unchanged) as delta points: each the change since
//! the previous push, starting at that push, adding up to what the application counted, and
//! only for the pushes whose interval counted something.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use obs_core::testing::proto::tonic::metrics::v1::AggregationTemporality;
use obs_core::testing::{MetricPoint, OtlpReceiver, ReceivedMetric, ReceiverConfig};
use obs_core::{ExporterKind, Protocol, Signal, TemporalityPreference};
use obs_tests::collector::Collector;

/// One received point of a sum or histogram: (start, time, temporality, value or count).
type Point = (u64, u64, AggregationTemporality, f64);

/// The points of `name`, in time order.
fn series(metrics: &[ReceivedMetric], name: &str) -> Vec<Point> {
    let mut points: Vec<Point> = metrics
        .iter()
        .filter(|m| m.name == name)
        .map(|m| match &m.point {
            MetricPoint::Sum {
                point,
                temporality,
                is_monotonic,
            } => {
                assert!(is_monotonic, "{name} is a counter");
                let value = m.number_value().expect("a value");
                (
                    point.start_time_unix_nano,
                    point.time_unix_nano,
                    *temporality,
                    value,
                )
            }
            MetricPoint::Histogram { point, temporality } => {
                assert_eq!(point.count, point.bucket_counts.iter().sum::<u64>());
                let count = point.count as f64;
                (
                    point.start_time_unix_nano,
                    point.time_unix_nano,
                    *temporality,
                    count,
                )
            }
            other => panic!("{name} is not a sum or histogram: {other:?}"),
        })
        .collect();
    points.sort_by_key(|p| p.1);
    points
}

/// Whether no point starts before the one before ended (pushes in between may have had
/// nothing to say).
fn disjoint(points: &[Point]) -> bool {
    points.windows(2).all(|w| w[1].0 >= w[0].1)
}

/// Whether the points of `name` add up to `total`: every push that counted has arrived.
fn adds_up(metrics: &[ReceivedMetric], name: &str, total: f64) -> bool {
    series(metrics, name).iter().map(|p| p.3).sum::<f64>() == total
}

/// The times of the pushes received so far, in order: those of obs's pipeline counters,
/// which every push carries.
fn push_times(metrics: &[ReceivedMetric]) -> Vec<u64> {
    let times: std::collections::BTreeSet<u64> = series(metrics, "obs.telemetry.exported")
        .iter()
        .map(|p| p.1)
        .collect();
    times.into_iter().collect()
}

/// The metrics received once `predicate` holds, or a failure with rotel's output.
async fn wait_until(
    receiver: &OtlpReceiver,
    collector: &Collector,
    predicate: impl FnMut(&[ReceivedMetric]) -> bool,
) -> Vec<ReceivedMetric> {
    receiver
        .store()
        .wait_for_metrics(predicate, Duration::from_secs(20))
        .await
        .unwrap_or_else(|e| collector.fail(e))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delta_points_add_up_to_the_counts_through_a_real_collector() {
    let receiver = OtlpReceiver::start(ReceiverConfig::default())
        .await
        .expect("receiver");
    let collector = Collector::start(&receiver.grpc_endpoint());
    let telemetry = obs_core::builder()
        .service_name("delta-test")
        .protocol(Protocol::Grpc)
        .otlp_endpoint(collector.grpc_endpoint.clone())
        .exporter(Signal::Traces, ExporterKind::None)
        .exporter(Signal::Logs, ExporterKind::None)
        .json_logs(false)
        .metric_export_interval(Duration::from_millis(200))
        .metrics_temporality(TemporalityPreference::Delta)
        .init()
        .expect("init");

    let registry = obs_core::metrics::global();
    let created = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let orders = registry
        .counter("delta_orders", "Orders placed.")
        .expect("counter");
    let waits = registry
        .histogram("delta_wait_seconds", "Time waited.")
        .expect("histogram");

    orders.inc_by(3);
    waits.observe(0.25);
    let metrics = wait_until(&receiver, &collector, |m| {
        adds_up(m, "delta_orders", 3.0) && adds_up(m, "delta_wait_seconds", 1.0)
    })
    .await;
    // And a push after that one, with nothing new to say of them.
    let first_push = series(&metrics, "delta_orders")[0].1;
    wait_until(&receiver, &collector, |m| {
        push_times(m).last().is_some_and(|t| *t > first_push)
    })
    .await;
    // Counted after the pushes that carried the first ones: a later push carries these.
    orders.inc_by(4);
    waits.observe(0.5);
    waits.observe(7.0);
    let metrics = wait_until(&receiver, &collector, |m| {
        adds_up(m, "delta_orders", 7.0) && adds_up(m, "delta_wait_seconds", 3.0)
    })
    .await;

    let orders_points = series(&metrics, "delta_orders");
    assert!(
        orders_points
            .iter()
            .all(|p| p.2 == AggregationTemporality::Delta),
        "{orders_points:?}"
    );
    // Metrics SDK, MetricReader: a synchronous instrument's delta points are only those
    // "with measurements recorded since the previous collection": the pushes in between,
    // with nothing counted, sent no point.
    let changes: Vec<f64> = orders_points.iter().map(|p| p.3).collect();
    assert_eq!(changes, [3.0, 4.0], "each push carries only its change");
    assert!(disjoint(&orders_points), "{orders_points:?}");
    assert!(disjoint(&series(&metrics, "delta_wait_seconds")));
    let first = orders_points[0];
    assert!(
        first.0 >= created.as_nanos() as u64 && first.0 < first.1,
        "the first point starts when the series was created: {first:?}"
    );

    let wait_points = series(&metrics, "delta_wait_seconds");
    assert!(
        wait_points
            .iter()
            .all(|p| p.2 == AggregationTemporality::Delta),
        "{wait_points:?}"
    );
    // The buckets and sums of the delta points add up to the three observations.
    let bounds = obs_core::metrics::DEFAULT_BUCKETS;
    let mut expected = vec![0; bounds.len() + 1];
    for v in [0.25, 0.5, 7.0] {
        expected[obs_core::metrics::HistogramValue::bucket_index(&bounds, v)] += 1;
    }
    let mut buckets = vec![0; bounds.len() + 1];
    let mut sum = 0.0;
    for m in metrics.iter().filter(|m| m.name == "delta_wait_seconds") {
        let MetricPoint::Histogram { point, .. } = &m.point else {
            panic!("a histogram: {m:?}")
        };
        for (total, n) in buckets.iter_mut().zip(&point.bucket_counts) {
            *total += n;
        }
        sum += point.sum.expect("a sum");
    }
    assert_eq!(buckets, expected);
    assert_eq!(sum, 7.75, "the sums are deltas too");

    // obs's own pipeline counters are asynchronous counters: delta under `delta` too.
    let exported = series(&metrics, "obs.telemetry.exported");
    assert!(!exported.is_empty());
    assert!(
        exported
            .iter()
            .all(|p| p.2 == AggregationTemporality::Delta),
        "{exported:?}"
    );

    // Observed at every push, so in every push (zero changes too): their times are the
    // pushes'. Once a push after the second order point is in, those before it are too.
    let second = orders_points[1];
    let metrics = wait_until(&receiver, &collector, |m| {
        push_times(m).last().is_some_and(|t| *t > second.1)
    })
    .await;
    let pushes = push_times(&metrics);
    let never_dropped: Vec<u64> = metrics
        .iter()
        .filter(|m| {
            m.name == "obs.telemetry.dropped" && m.attribute_str("error.type") == Some("too_large")
        })
        .map(|m| match &m.point {
            MetricPoint::Sum { point, .. } => point.time_unix_nano,
            other => panic!("a sum: {other:?}"),
        })
        .collect();
    assert_eq!(
        never_dropped, pushes,
        "an asynchronous series unchanged at 0 is still in every push"
    );
    // Metrics SDK, MetricReader: delta points "advance the starting timestamp (e.g. (T0, T1],
    // (T1, T2], (T2, T3])": the second point starts at the push just before it, which had
    // nothing of the series to send.
    let before_second = pushes.iter().rev().find(|t| **t < second.1);
    assert_eq!(
        Some(&second.0),
        before_second,
        "{pushes:?} {orders_points:?}"
    );
    assert!(
        second.0 > orders_points[0].1,
        "pushes with nothing in between"
    );

    // `/metrics` stays cumulative.
    let exposition = registry.encode(obs_core::metrics::text::Format::Prometheus);
    assert!(
        exposition.contains("delta_orders_total 7\n"),
        "{exposition}"
    );
    telemetry.shutdown().await.expect("shutdown");
    drop(collector);
    receiver.shutdown().await;
}
