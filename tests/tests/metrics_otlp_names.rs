//! The HTTP metrics reach a real collector (rotel, forwarding to an in-memory receiver)
//! under the names, attribute keys and attribute types of the stable HTTP metric
//! conventions (`http.server.request.duration`, unit `s`, `http.request.method`,
//! `http.response.status_code` an integer), and the process metrics under the OS process
//! conventions' names (`process.cpu.time`) and obs's own counters in its namespace
//! (`obs.telemetry.exported`, `obs.metrics.cardinality_overflow`), while `/metrics` keeps their Prometheus names
//! (`http_server_request_duration_seconds`, `http_request_method`, `process_cpu_seconds`,
//! `obs_telemetry_exported`).

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use obs_core::metrics::text::Format;
use obs_core::testing::{MetricPoint, ReceivedMetric, ReceiverConfig};
use obs_core::tower::HttpServerLayer;
use obs_tests::http::{get_text, serve, traced_client};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_metrics_go_over_otlp_under_their_conventions_names() {
    let (receiver, collector, builder) =
        obs_tests::pipeline::via_collector("otlp-names", ReceiverConfig::default()).await;
    let telemetry = builder
        .metric_export_interval(Duration::from_millis(200))
        .init()
        .expect("init");
    // A family past its cardinality limit: the overflow counter goes out in obs's
    // namespace too.
    let by_user = obs_core::metrics::global()
        .metric("otlp_names_requests_by_user", "Requests per user.")
        .cardinality_limit(1)
        .dyn_family::<obs_core::metrics::Counter>(&["user"])
        .expect("family");
    for user in ["a", "b", "c"] {
        by_user.get(&[("user", user)]).inc();
    }

    let server = Router::new()
        .route("/items/{id}", get(|| async { "item" }))
        .layer(HttpServerLayer::new());
    let addr = serve(server).await;
    let body = get_text(&traced_client(), &format!("http://{addr}/items/7")).await;
    assert_eq!(body, "item");

    let server_duration = |m: &ReceivedMetric| {
        m.name == "http.server.request.duration"
            && m.attribute_str("http.route") == Some("/items/{id}")
    };
    let client_duration = |m: &ReceivedMetric| {
        m.name == "http.client.request.duration" && m.attribute_int("server.port").is_some()
    };
    let metrics = receiver
        .store()
        .wait_for_metrics(
            |m| m.iter().any(server_duration) && m.iter().any(client_duration),
            Duration::from_secs(20),
        )
        .await
        .unwrap_or_else(|e| collector.fail(e));
    let spans = receiver
        .store()
        .wait_for_spans(|s| s.len() >= 2, Duration::from_secs(20))
        .await
        .unwrap_or_else(|e| collector.fail(e));
    let server_span = spans
        .iter()
        .find(|s| s.name() == "GET /items/{id}")
        .expect("the server span");

    let server = metrics.iter().rev().find(|m| server_duration(m)).unwrap();
    assert_eq!(server.unit, "s");
    assert_eq!(server.attribute_str("http.request.method"), Some("GET"));
    assert_eq!(server.attribute_str("url.scheme"), Some("http"));
    assert_eq!(
        server.attribute_str("network.protocol.version"),
        Some("1.1")
    );
    assert_eq!(server.attribute_int("http.response.status_code"), Some(200));
    assert_eq!(server.attributes().len(), 5, "{:?}", server.attributes());
    let point = server.histogram().expect("a histogram");
    assert_eq!(point.count, 1);
    assert_eq!(
        server.exemplar_trace_ids().first(),
        Some(&server_span.trace_id_hex()),
        "the span's exemplar"
    );

    // The instrumentation scope is the library that instruments, obs-tower, on spans and
    // metrics alike (a Tracer and a Meter of one scope); the process metrics and obs's
    // own counters stay under obs-metrics.
    let client = metrics.iter().rev().find(|m| client_duration(m)).unwrap();
    let client_span = spans
        .iter()
        .find(|s| s.name() == "GET")
        .expect("client span");
    for (what, scope) in [
        ("server span", &server_span.scope),
        ("client span", &client_span.scope),
        ("server metric", &server.scope),
        ("client metric", &client.scope),
    ] {
        assert_eq!(
            (scope.name.as_str(), scope.version.as_str()),
            ("obs_tower", env!("CARGO_PKG_VERSION")),
            "{what}"
        );
    }
    assert_eq!(client.unit, "s");
    assert_eq!(client.attribute_str("http.request.method"), Some("GET"));
    assert_eq!(client.attribute_str("server.address"), Some("127.0.0.1"));
    assert_eq!(
        client.attribute_int("server.port"),
        Some(i64::from(addr.port()))
    );
    assert_eq!(client.attribute_int("http.response.status_code"), Some(200));

    let active = metrics
        .iter()
        .rev()
        .find(|m| m.name == "http.server.active_requests")
        .expect("http.server.active_requests");
    assert!(
        matches!(
            active.point,
            MetricPoint::Sum {
                is_monotonic: false,
                ..
            }
        ),
        "an UpDownCounter: {active:?}"
    );
    assert_eq!(active.unit, "{request}");
    assert_eq!(active.scope, server.scope);
    assert_eq!(active.attribute_str("http.request.method"), Some("GET"));
    assert_eq!(active.attribute_str("url.scheme"), Some("http"));

    // Nothing of the HTTP layers arrives under a Prometheus name.
    assert!(
        !metrics.iter().any(|m| m.name.starts_with("http_")
            || m.attributes().iter().any(|a| a.key.starts_with("http_"))),
        "{:?}",
        metrics.iter().map(|m| &m.name).collect::<Vec<_>>()
    );
    // The process metrics: the OS process conventions' names, units and instrument types.
    let process = |name: &str| {
        metrics
            .iter()
            .rev()
            .find(|m| m.name == name)
            .unwrap_or_else(|| panic!("{name}"))
    };
    for (name, unit, monotonic) in [
        ("process.cpu.time", "s", true),
        ("process.memory.usage", "By", false),
        ("process.memory.virtual", "By", false),
        (
            "process.unix.file_descriptor.count",
            "{file_descriptor}",
            false,
        ),
        ("process.thread.count", "{thread}", false),
    ] {
        let metric = process(name);
        assert_eq!(metric.unit, unit, "{name}");
        assert!(
            matches!(metric.point, MetricPoint::Sum { is_monotonic, .. } if is_monotonic == monotonic),
            "{name}: {metric:?}"
        );
        assert!(metric.attributes().is_empty(), "{name}: {metric:?}");
        assert_eq!(metric.scope.name, "obs-metrics", "{name}");
    }
    // No convention: the Prometheus names.
    assert_eq!(process("process_max_fds").unit, "");
    assert_eq!(process("process_start_time_seconds").unit, "s");
    for renamed in [
        "process_cpu_seconds",
        "process_resident_memory_bytes",
        "process_virtual_memory_bytes",
        "process_open_fds",
        "process_threads",
    ] {
        assert!(!metrics.iter().any(|m| m.name == renamed), "{renamed}");
    }
    // obs's own counters, in its namespace, the reason of a drop as `error.type`.
    let pipeline = |name: &str, attribute: &str, value: &str| {
        metrics
            .iter()
            .rev()
            .find(|m| m.name == name && m.attribute_str(attribute) == Some(value))
            .unwrap_or_else(|| panic!("{name} {attribute}={value}"))
    };
    let exported = pipeline("obs.telemetry.exported", "obs.signal", "traces");
    assert_eq!(exported.unit, "{item}");
    assert_eq!(exported.attributes().len(), 1, "{exported:?}");
    assert_eq!(exported.scope.name, "obs-metrics");
    let dropped = pipeline("obs.telemetry.dropped", "error.type", "queue_full");
    assert_eq!(dropped.unit, "{item}");
    assert!(dropped.attribute_str("obs.signal").is_some(), "{dropped:?}");
    let overflow = pipeline(
        "obs.metrics.cardinality_overflow",
        "obs.metric.name",
        "otlp_names_requests_by_user",
    );
    assert_eq!(overflow.unit, "{measurement}");
    assert_eq!(overflow.scope.name, "obs-metrics");
    assert_eq!(overflow.attributes().len(), 1, "{overflow:?}");
    // Three label sets, one series: two lookups overflowed (cumulative by default).
    assert_eq!(overflow.number_value(), Some(2.0));
    assert!(
        !metrics.iter().any(|m| m.name.starts_with("obs_")),
        "{:?}",
        metrics.iter().map(|m| &m.name).collect::<Vec<_>>()
    );
    // `/metrics` keeps the Prometheus names.
    let exposition = obs_core::metrics::global().encode(Format::OpenMetrics);
    for line in [
        "# TYPE process_cpu_seconds counter",
        "# TYPE process_resident_memory_bytes gauge",
        "# TYPE process_open_fds gauge",
        "# TYPE process_threads gauge",
        "# TYPE obs_telemetry_exported counter",
    ] {
        assert!(exposition.contains(line), "{line}: {exposition}");
    }
    assert!(
        exposition.contains(r#"http_server_request_duration_seconds_count{http_request_method="GET",url_scheme="http",http_route="/items/{id}",network_protocol_version="1.1",http_response_status_code="200"} 1"#),
        "{exposition}"
    );
    telemetry.shutdown().await.expect("shutdown");
    drop(collector);
    receiver.shutdown().await;
}
