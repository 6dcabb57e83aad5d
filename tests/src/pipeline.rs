//! The end-to-end check shared by the gRPC and HTTP pipeline tests: an app initialised with
//! `obs_core` exports to a real collector, which forwards to an in-memory receiver.

use std::time::Duration;

use obs_core::testing::{OtlpReceiver, ReceiverConfig};
use obs_core::{BatchSettings, Compression, Protocol};

use crate::collector::Collector;
use crate::tls::{Pki, TlsProxy};

/// How [`round_trip`] reaches the collector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// Plaintext, straight to the collector.
    Direct,
    /// `https://`, through a [`TlsProxy`] that requires a client certificate: the app trusts
    /// the test CA (`Builder::otlp_certificate`) and presents its client certificate
    /// (`Builder::otlp_client_identity`).
    MutualTls,
}

/// `builder` with spans and log records exported 100 ms after they end, rather than the
/// spec's 5 s and 1 s, so that a test sees them soon.
pub fn quick_batches(builder: obs_core::Builder) -> obs_core::Builder {
    builder
        .span_batch(BatchSettings {
            schedule_delay: Duration::from_millis(100),
            ..BatchSettings::SPANS
        })
        .log_batch(BatchSettings {
            schedule_delay: Duration::from_millis(100),
            ..BatchSettings::LOGS
        })
}

/// An in-memory receiver (with `config`) behind a real collector, and a builder for service
/// `service` that exports all three signals to that collector over OTLP/gRPC with
/// [`quick_batches`] and no JSON lines on stdout: the set-up of the tests that check what
/// arrives at a collector, which add their own settings before `init`.
pub async fn via_collector(
    service: &str,
    config: ReceiverConfig,
) -> (OtlpReceiver, Collector, obs_core::Builder) {
    let receiver = OtlpReceiver::start(config).await.expect("receiver");
    let collector = Collector::start(&receiver.grpc_endpoint());
    let builder = quick_batches(obs_core::builder())
        .service_name(service)
        .protocol(Protocol::Grpc)
        .otlp_endpoint(collector.grpc_endpoint.clone())
        .json_logs(false);
    (receiver, collector, builder)
}

/// Runs the round trip over `protocol` with `compression` by `route` and asserts on what
/// arrives. Each test binary calls this once: `init` is once per process.
pub async fn round_trip(protocol: Protocol, compression: Compression, route: Route) {
    let receiver = OtlpReceiver::start(ReceiverConfig::default())
        .await
        .expect("receiver");
    let collector = Collector::start(&receiver.grpc_endpoint());
    let endpoint = match protocol {
        Protocol::Grpc => collector.grpc_endpoint.clone(),
        Protocol::HttpProtobuf => collector.http_endpoint.clone(),
    };
    let mut builder = quick_batches(obs_core::builder());
    let mut proxy = None;
    let endpoint = match route {
        Route::Direct => endpoint,
        Route::MutualTls => {
            let pki = Pki::generate(&format!("{protocol:?}"));
            builder = builder
                .otlp_certificate(&pki.ca)
                .otlp_client_identity(&pki.client_certificate, &pki.client_key);
            let started = TlsProxy::start(&pki, &endpoint).await;
            let endpoint = started.endpoint.clone();
            proxy = Some((started, pki));
            endpoint
        }
    };
    let telemetry = builder
        .service_name("pipeline-test")
        .service_version("1.2.3")
        .protocol(protocol)
        .compression(compression)
        .otlp_endpoint(endpoint)
        .json_logs(false)
        .metric_export_interval(Duration::from_millis(200))
        .init()
        .expect("init");

    let registry = obs_core::metrics::global();
    let orders = registry
        .counter("pipeline_orders", "Orders placed.")
        .expect("counter");
    let latency = registry
        .metric("pipeline_charge_duration_seconds", "Card charge duration.")
        .unit(obs_core::metrics::Unit::Seconds)
        .histogram()
        .expect("histogram");
    let in_flight = registry
        .up_down_counter("pipeline_charges_in_flight", "Card charges under way.")
        .expect("up-down counter");
    // Past its limit of one series: the second tenant folds into the overflow series.
    let tenants = registry
        .metric("pipeline_tenant_requests", "Requests by tenant.")
        .cardinality_limit(1)
        .dyn_family::<obs_core::metrics::Counter>(&["tenant"])
        .expect("family");
    tenants.get(&[("tenant", "a")]).inc();
    tenants.get(&[("tenant", "b")]).inc_by(2);

    let (trace_id, parent_id, child_id) = {
        use obs_core::trace::SpanExt;
        let parent = tracing::info_span!("checkout", "otel.kind" = "server", order.id = 7_i64);
        let _g = parent.enter();
        let child = tracing::info_span!("charge card", amount = 12.5_f64);
        let ids = {
            let _c = child.enter();
            tracing::info!(attempt = 1_i64, "charging");
            orders.inc_by(3);
            latency.observe(0.2);
            in_flight.add(3);
            in_flight.dec();
            (
                parent.span_context().expect("parent").trace_id,
                parent.span_context().expect("parent").span_id,
                child.span_context().expect("child").span_id,
            )
        };
        drop(child);
        // A new trace that follows from the checkout: a span link, not a parent.
        let receipt = tracing::info_span!(parent: None, "send receipt");
        receipt.follows_from(&parent);
        drop(receipt);
        ids
    };
    // What `/metrics` shows at the moment of the final push.
    let exposition = registry.encode(obs_core::metrics::text::Format::Prometheus);
    telemetry
        .shutdown()
        .await
        .expect("shutdown flushes without error");

    let spans = receiver
        .store()
        .wait_for_spans(|s| s.len() >= 3, Duration::from_secs(20))
        .await
        .unwrap_or_else(|e| collector.fail(e));
    let find = |name: &str| {
        spans
            .iter()
            .find(|s| s.name() == name)
            .unwrap_or_else(|| panic!("no span {name}"))
    };
    let parent = find("checkout");
    let child = find("charge card");
    assert_eq!(parent.trace_id_hex(), trace_id.to_string());
    assert_eq!(child.trace_id_hex(), trace_id.to_string());
    assert_eq!(parent.span_id_hex(), parent_id.to_string());
    assert_eq!(child.span_id_hex(), child_id.to_string());
    assert_eq!(child.parent_span_id_hex(), Some(parent_id.to_string()));
    assert!(parent.is_root());
    assert_eq!(parent.service_name(), Some("pipeline-test"));
    assert_eq!(parent.span.kind, 2, "SERVER");
    assert_eq!(
        obs_core::testing::attribute_str(&parent.resource.attributes, "service.version"),
        Some("1.2.3")
    );
    assert_eq!(
        obs_core::testing::attribute_str(&parent.resource.attributes, "telemetry.sdk.language"),
        Some("rust")
    );
    assert!(parent.attribute("order.id").is_some());
    let receipt = find("send receipt");
    assert_ne!(
        receipt.trace_id_hex(),
        trace_id.to_string(),
        "a trace of its own"
    );
    let [link] = receipt.span.links.as_slice() else {
        panic!("one link: {:?}", receipt.span.links);
    };
    assert_eq!(
        obs_core::testing::to_hex(&link.trace_id),
        trace_id.to_string()
    );
    assert_eq!(
        obs_core::testing::to_hex(&link.span_id),
        parent_id.to_string()
    );
    assert_eq!(
        link.flags, 0x103,
        "sampled and random (W3C level 2), known to be local"
    );

    let logs = receiver
        .store()
        .wait_for_logs(
            |l| l.iter().any(|r| r.body_str() == Some("charging")),
            Duration::from_secs(20),
        )
        .await
        .unwrap_or_else(|e| collector.fail(e));
    let log = logs
        .iter()
        .find(|r| r.body_str() == Some("charging"))
        .expect("the log record");
    assert_eq!(
        log.trace_id_hex(),
        trace_id.to_string(),
        "stamped with the span's trace"
    );
    assert_eq!(
        log.span_id_hex(),
        child_id.to_string(),
        "and the span it was emitted in"
    );
    assert_eq!(log.service_name(), Some("pipeline-test"));
    assert_eq!(log.record.severity_number, 9, "INFO");
    assert_eq!(log.record.severity_text, "INFO");
    assert!(log.record.time_unix_nano > 0, "the event timestamp is set");
    assert!(log.attribute("attempt").is_some());

    let points = receiver
        .store()
        .wait_for_metrics(
            |m| {
                m.iter()
                    .any(|p| p.name == "pipeline_charge_duration_seconds")
            },
            Duration::from_secs(20),
        )
        .await
        .unwrap_or_else(|e| collector.fail(e));
    let last = |name: &str| {
        points
            .iter()
            .rev()
            .find(|p| p.name == name)
            .unwrap_or_else(|| panic!("no metric {name}"))
            .clone()
    };
    let orders_point = last("pipeline_orders");
    assert!(
        exposition.contains("pipeline_orders_total 3\n"),
        "{exposition}"
    );
    assert_eq!(
        orders_point.number_value(),
        Some(3.0),
        "same value as /metrics"
    );
    assert_eq!(orders_point.service_name(), Some("pipeline-test"));
    match &orders_point.point {
        obs_core::testing::MetricPoint::Sum { is_monotonic, .. } => assert!(is_monotonic),
        other => panic!("a counter must be a monotonic sum: {other:?}"),
    }
    // The overflow series: `otel_metric_overflow="true"` on /metrics, and over OTLP the
    // attribute of the OpenTelemetry SDK spec's cardinality limits, a boolean.
    assert!(
        exposition.contains("pipeline_tenant_requests_total{otel_metric_overflow=\"true\"} 2\n"),
        "{exposition}"
    );
    let tenant_points: Vec<_> = points
        .iter()
        .filter(|p| p.name == "pipeline_tenant_requests")
        .collect();
    let overflow = tenant_points
        .iter()
        .rev()
        .find(|p| p.attribute_str("tenant").is_none())
        .expect("the overflow point");
    assert_eq!(
        overflow.attributes(),
        [obs_core::testing::proto::tonic::common::v1::KeyValue {
            key: "otel.metric.overflow".to_owned(),
            value: Some(obs_core::testing::proto::tonic::common::v1::AnyValue {
                value: Some(
                    obs_core::testing::proto::tonic::common::v1::any_value::Value::BoolValue(true)
                ),
            }),
            ..Default::default()
        }]
    );
    assert_eq!(overflow.number_value(), Some(2.0), "same as /metrics");
    let tenant_a = tenant_points
        .iter()
        .rev()
        .find(|p| p.attribute_str("tenant") == Some("a"))
        .expect("the series within the limit");
    assert_eq!(tenant_a.number_value(), Some(1.0));
    let in_flight_point = last("pipeline_charges_in_flight");
    assert!(
        exposition
            .contains("# TYPE pipeline_charges_in_flight gauge\npipeline_charges_in_flight 2\n"),
        "{exposition}"
    );
    assert_eq!(
        in_flight_point.number_value(),
        Some(2.0),
        "same as /metrics"
    );
    match &in_flight_point.point {
        obs_core::testing::MetricPoint::Sum {
            is_monotonic,
            temporality,
            ..
        } => {
            assert!(!is_monotonic, "an up-down counter goes down too");
            assert_eq!(
                *temporality,
                obs_core::testing::proto::tonic::metrics::v1::AggregationTemporality::Cumulative
            );
        }
        other => panic!("an up-down counter must be a non-monotonic sum: {other:?}"),
    }
    match &last("pipeline_charge_duration_seconds").point {
        obs_core::testing::MetricPoint::Histogram { point, .. } => {
            assert_eq!(point.count, 1);
            assert_eq!(point.sum, Some(0.2));
            assert!(
                exposition.contains("pipeline_charge_duration_seconds_count 1\n"),
                "{exposition}"
            );
            assert_eq!(
                point.explicit_bounds,
                obs_core::metrics::DEFAULT_BUCKETS.to_vec()
            );
            assert_eq!(point.bucket_counts.iter().sum::<u64>(), 1);
            let ex = point
                .exemplars
                .first()
                .expect("an exemplar from the sampled span");
            assert_eq!(
                obs_core::testing::to_hex(&ex.trace_id),
                trace_id.to_string()
            );
            assert_eq!(obs_core::testing::to_hex(&ex.span_id), child_id.to_string());
        }
        other => panic!("not a histogram: {other:?}"),
    }
    if let Some((proxy, _pki)) = proxy {
        // Everything above arrived through the proxy, so over TLS with the client certificate.
        assert!(proxy.accepted() >= 1, "{proxy:?}");
        assert_eq!(proxy.refused(), 0, "no handshake failed");
    }
    drop(collector);
    receiver.shutdown().await;
}
