//! The in-memory OTLP receiver, fed real OTLP requests: gRPC through the generated tonic
//! clients, HTTP through a hyper client (protobuf plain and gzip, JSON), and a real
//! collector (`rotel`) forwarding into it over both transports.

// The tests crate's check that rotel itself listens on its ports, and the bounded wait it
// uses (this crate can't depend on that one, which depends on it).
#[path = "support/listening.rs"]
pub mod listening;
#[path = "support/wait.rs"]
pub mod wait;

use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;
use http::header::{CONTENT_ENCODING, CONTENT_TYPE};
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use listening::{Listening, wait_child_listening};
use obs_core::testing::proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use obs_core::testing::proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use obs_core::testing::proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use obs_core::testing::proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use obs_core::testing::proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use obs_core::testing::proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use obs_core::testing::proto::tonic::common::v1::{
    AnyValue, InstrumentationScope, KeyValue, any_value,
};
use obs_core::testing::proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use obs_core::testing::proto::tonic::metrics::v1::{
    AggregationTemporality, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum, metric, number_data_point,
};
use obs_core::testing::proto::tonic::resource::v1::Resource;
use obs_core::testing::proto::tonic::trace::v1::span::SpanKind;
use obs_core::testing::proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use obs_core::testing::{
    MetricPoint, OtlpReceiver, ReceivedMetric, ReceiverConfig, Transport, group_by_trace,
};
use prost::Message;
use tonic::codec::CompressionEncoding;

/// Every wait in these tests gives up after this long; it only bounds a failing test.
const WAIT: Duration = Duration::from_secs(20);

const TRACE_ID: [u8; 16] = [
    0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36,
];
const ROOT_SPAN_ID: [u8; 8] = [0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7];
const CHILD_SPAN_ID: [u8; 8] = [0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88];

fn string_attribute(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_owned())),
        }),
        ..Default::default()
    }
}

fn resource(service: &str) -> Resource {
    Resource {
        attributes: vec![
            string_attribute("service.name", service),
            string_attribute("deployment.environment.name", "test"),
        ],
        ..Default::default()
    }
}

fn scope() -> InstrumentationScope {
    InstrumentationScope {
        name: "receiver-test".to_owned(),
        version: "1.0".to_owned(),
        ..Default::default()
    }
}

/// A root span and its child, in service `service`.
fn trace_request(service: &str) -> ExportTraceServiceRequest {
    let root = Span {
        trace_id: TRACE_ID.to_vec(),
        span_id: ROOT_SPAN_ID.to_vec(),
        name: "GET /reports/{id}".to_owned(),
        kind: 2, // SERVER
        start_time_unix_nano: 1_700_000_000_000_000_000,
        end_time_unix_nano: 1_700_000_000_250_000_000,
        attributes: vec![string_attribute("http.route", "/reports/{id}")],
        ..Default::default()
    };
    let child = Span {
        trace_id: TRACE_ID.to_vec(),
        span_id: CHILD_SPAN_ID.to_vec(),
        parent_span_id: ROOT_SPAN_ID.to_vec(),
        name: "render".to_owned(),
        kind: 1, // INTERNAL
        start_time_unix_nano: 1_700_000_000_010_000_000,
        end_time_unix_nano: 1_700_000_000_240_000_000,
        status: Some(Status {
            code: 2, // ERROR
            message: "template missing".to_owned(),
        }),
        ..Default::default()
    };
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(resource(service)),
            scope_spans: vec![ScopeSpans {
                scope: Some(scope()),
                spans: vec![root, child],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// One log record emitted inside the child span.
fn logs_request(service: &str) -> ExportLogsServiceRequest {
    let record = LogRecord {
        time_unix_nano: 1_700_000_000_020_000_000,
        observed_time_unix_nano: 1_700_000_000_020_000_000,
        severity_number: 13, // WARN
        severity_text: "WARN".to_owned(),
        body: Some(AnyValue {
            value: Some(any_value::Value::StringValue("render is slow".to_owned())),
        }),
        attributes: vec![string_attribute("reason", "cold cache")],
        dropped_attributes_count: 0,
        trace_id: TRACE_ID.to_vec(),
        span_id: CHILD_SPAN_ID.to_vec(),
        ..Default::default()
    };
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(resource(service)),
            scope_logs: vec![ScopeLogs {
                scope: Some(scope()),
                log_records: vec![record],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// A counter with two points, a gauge and a histogram: four points in all.
fn metrics_request(service: &str) -> ExportMetricsServiceRequest {
    let number = |route: &str, value: number_data_point::Value| NumberDataPoint {
        attributes: vec![string_attribute("http.route", route)],
        start_time_unix_nano: 1_700_000_000_000_000_000,
        time_unix_nano: 1_700_000_010_000_000_000,
        value: Some(value),
        ..Default::default()
    };
    let requests = Metric {
        name: "http.server.requests".to_owned(),
        description: "Requests served".to_owned(),
        unit: "{request}".to_owned(),
        data: Some(metric::Data::Sum(Sum {
            data_points: vec![
                number("/orders", number_data_point::Value::AsInt(7)),
                number("/reports/{id}", number_data_point::Value::AsInt(3)),
            ],
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
            is_monotonic: true,
        })),
        ..Default::default()
    };
    let queue = Metric {
        name: "queue.depth".to_owned(),
        data: Some(metric::Data::Gauge(Gauge {
            data_points: vec![number("/orders", number_data_point::Value::AsDouble(2.5))],
        })),
        ..Default::default()
    };
    let latency = Metric {
        name: "http.server.request.duration".to_owned(),
        unit: "s".to_owned(),
        data: Some(metric::Data::Histogram(Histogram {
            data_points: vec![HistogramDataPoint {
                attributes: vec![string_attribute("http.route", "/orders")],
                start_time_unix_nano: 1_700_000_000_000_000_000,
                time_unix_nano: 1_700_000_010_000_000_000,
                count: 4,
                sum: Some(1.5),
                bucket_counts: vec![1, 2, 1],
                explicit_bounds: vec![0.1, 1.0],
                ..Default::default()
            }],
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
        })),
        ..Default::default()
    };
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(resource(service)),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(scope()),
                metrics: vec![requests, queue, latency],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

async fn start_receiver() -> OtlpReceiver {
    OtlpReceiver::start(ReceiverConfig::default())
        .await
        .expect("the receiver binds two loopback ports")
}

/// Checks the spans of [`trace_request`] arrived intact over `transport`.
async fn assert_trace_stored(receiver: &OtlpReceiver, service: &str, transport: Transport) {
    let spans = receiver
        .wait_for_spans(|spans| spans.len() >= 2, WAIT)
        .await
        .expect("both spans arrive");
    assert_eq!(spans.len(), 2);
    for span in &spans {
        assert_eq!(span.transport, transport);
        assert_eq!(span.service_name(), Some(service));
        assert_eq!(span.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
    }
    let traces = group_by_trace(spans);
    assert_eq!(traces.len(), 1);
    let tree = traces[0].tree();
    let rows = tree.depth_first();
    let names: Vec<(usize, &str)> = rows
        .iter()
        .map(|row| (row.depth, row.span.name()))
        .collect();
    assert_eq!(names, [(0, "GET /reports/{id}"), (1, "render")]);
    let root = rows[0].span;
    assert_eq!(root.span_id_hex(), "00f067aa0ba902b7");
    assert_eq!(root.parent_span_id_hex(), None);
    assert_eq!(root.attribute_str("http.route"), Some("/reports/{id}"));
    assert_eq!(root.duration(), Duration::from_millis(250));
    assert_eq!(root.scope.name, "receiver-test");
    assert_eq!(root.kind(), SpanKind::Server);
    assert!(!root.is_error());
    assert!(rows[1].span.is_error());
    assert_eq!(
        rows[1].span.parent_span_id_hex().as_deref(),
        Some("00f067aa0ba902b7")
    );
}

async fn assert_log_stored(receiver: &OtlpReceiver, service: &str, transport: Transport) {
    let logs = receiver
        .wait_for_logs(|logs| !logs.is_empty(), WAIT)
        .await
        .expect("the log record arrives");
    assert_eq!(logs.len(), 1);
    let log = &logs[0];
    assert_eq!(log.transport, transport);
    assert_eq!(log.service_name(), Some(service));
    assert_eq!(log.body_str(), Some("render is slow"));
    assert_eq!(log.attribute_str("reason"), Some("cold cache"));
    assert_eq!(log.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(log.span_id_hex(), "1122334455667788");
    assert_eq!(log.record.severity_text, "WARN");
}

fn metric_named<'a>(metrics: &'a [ReceivedMetric], name: &str, route: &str) -> &'a ReceivedMetric {
    metrics
        .iter()
        .find(|metric| metric.name == name && metric.attribute_str("http.route") == Some(route))
        .unwrap_or_else(|| panic!("no point of {name} for route {route} in {metrics:#?}"))
}

async fn assert_metrics_stored(receiver: &OtlpReceiver, service: &str, transport: Transport) {
    let metrics = receiver
        .wait_for_metrics(|metrics| metrics.len() >= 4, WAIT)
        .await
        .expect("all four metric points arrive");
    assert_eq!(metrics.len(), 4);
    assert!(
        metrics
            .iter()
            .all(|metric| metric.transport == transport && metric.service_name() == Some(service))
    );

    let orders = metric_named(&metrics, "http.server.requests", "/orders");
    assert_eq!(orders.number_value(), Some(7.0));
    assert_eq!(orders.unit, "{request}");
    assert!(matches!(
        orders.point,
        MetricPoint::Sum {
            temporality: AggregationTemporality::Cumulative,
            is_monotonic: true,
            ..
        }
    ));
    let reports = metric_named(&metrics, "http.server.requests", "/reports/{id}");
    assert_eq!(reports.number_value(), Some(3.0));
    let queue = metric_named(&metrics, "queue.depth", "/orders");
    assert_eq!(queue.number_value(), Some(2.5));
    assert!(matches!(queue.point, MetricPoint::Gauge(_)));
    let latency = metric_named(&metrics, "http.server.request.duration", "/orders");
    assert_eq!(latency.number_value(), None);
    let MetricPoint::Histogram { point, .. } = &latency.point else {
        panic!("expected a histogram point, got {:?}", latency.point);
    };
    assert_eq!(
        (point.count, point.sum, &point.bucket_counts[..]),
        (4, Some(1.5), &[1, 2, 1][..])
    );
}

// === gRPC ===

#[tokio::test]
async fn grpc_export_of_every_signal_is_stored_and_queryable() {
    let receiver = start_receiver().await;
    let endpoint = receiver.grpc_endpoint();
    assert!(endpoint.starts_with("http://127.0.0.1:"), "{endpoint}");

    let mut traces = TraceServiceClient::connect(endpoint.clone())
        .await
        .expect("connect");
    let response = traces
        .export(trace_request("reports"))
        .await
        .expect("export spans");
    assert_eq!(response.into_inner(), ExportTraceServiceResponse::default());
    assert_trace_stored(&receiver, "reports", Transport::Grpc).await;

    // Exporters gzip by default; the receiver must accept it.
    let mut logs = LogsServiceClient::connect(endpoint.clone())
        .await
        .expect("connect")
        .send_compressed(CompressionEncoding::Gzip);
    logs.export(logs_request("reports"))
        .await
        .expect("export logs");
    assert_log_stored(&receiver, "reports", Transport::Grpc).await;

    let mut metrics = MetricsServiceClient::connect(endpoint)
        .await
        .expect("connect");
    metrics
        .export(metrics_request("reports"))
        .await
        .expect("export metrics");
    assert_metrics_stored(&receiver, "reports", Transport::Grpc).await;

    let stats = receiver.stats();
    assert_eq!(
        (
            stats.spans_received,
            stats.logs_received,
            stats.metric_points_received
        ),
        (2, 1, 4)
    );
    receiver.shutdown().await;
}

// === HTTP ===

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

fn http_client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

struct HttpReply {
    status: StatusCode,
    content_type: Option<String>,
    body: Bytes,
}

async fn post(
    client: &HttpClient,
    url: String,
    content_type: &str,
    content_encoding: Option<&str>,
    body: Vec<u8>,
) -> HttpReply {
    let mut request = Request::builder()
        .method(Method::POST)
        .uri(url)
        .header(CONTENT_TYPE, content_type);
    if let Some(encoding) = content_encoding {
        request = request.header(CONTENT_ENCODING, encoding);
    }
    let request = request
        .body(Full::new(Bytes::from(body)))
        .expect("valid request");
    send(client, request).await
}

async fn send(client: &HttpClient, request: Request<Full<Bytes>>) -> HttpReply {
    let response = client.request(request).await.expect("the receiver answers");
    let status = response.status();
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .map(|value| value.to_str().expect("ASCII content type").to_owned());
    let body = response
        .into_body()
        .collect()
        .await
        .expect("the body arrives")
        .to_bytes();
    HttpReply {
        status,
        content_type,
        body,
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes).expect("writing to memory");
    encoder.finish().expect("writing to memory")
}

#[tokio::test]
async fn http_protobuf_export_plain_and_gzip_is_stored_and_queryable() {
    let receiver = start_receiver().await;
    let base = receiver.http_endpoint();
    let client = http_client();

    let reply = post(
        &client,
        format!("{base}/v1/traces"),
        "application/x-protobuf",
        None,
        trace_request("gateway").encode_to_vec(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.content_type.as_deref(),
        Some("application/x-protobuf")
    );
    assert_eq!(
        ExportTraceServiceResponse::decode(reply.body).expect("a protobuf response"),
        ExportTraceServiceResponse::default()
    );
    assert_trace_stored(&receiver, "gateway", Transport::HttpProtobuf).await;

    let reply = post(
        &client,
        format!("{base}/v1/logs"),
        "application/x-protobuf",
        Some("gzip"),
        gzip(&logs_request("gateway").encode_to_vec()),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        ExportLogsServiceResponse::decode(reply.body).expect("a protobuf response"),
        ExportLogsServiceResponse::default()
    );
    assert_log_stored(&receiver, "gateway", Transport::HttpProtobuf).await;

    let reply = post(
        &client,
        format!("{base}/v1/metrics"),
        "application/x-protobuf",
        Some("gzip"),
        gzip(&metrics_request("gateway").encode_to_vec()),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_metrics_stored(&receiver, "gateway", Transport::HttpProtobuf).await;
    assert_eq!(receiver.stats().rejected_requests, 0);
    receiver.shutdown().await;
}

#[tokio::test]
async fn http_protobuf_export_over_h2c_is_stored() {
    let receiver = start_receiver().await;
    // HTTP/2 with prior knowledge, as gRPC-style HTTP clients speak it without TLS.
    let client: HttpClient = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http();
    let reply = post(
        &client,
        format!("{}/v1/traces", receiver.http_endpoint()),
        "application/x-protobuf",
        Some("gzip"),
        gzip(&trace_request("inventory").encode_to_vec()),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_trace_stored(&receiver, "inventory", Transport::HttpProtobuf).await;
    receiver.shutdown().await;
}

#[tokio::test]
async fn http_json_export_follows_the_otlp_json_encoding() {
    let receiver = start_receiver().await;
    // As the OTLP spec's JSON example writes it: hex ids, integer enums, camelCase fields.
    let body = r#"{
      "resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "payments"}}]},
        "scopeSpans": [{
          "scope": {"name": "json-test"},
          "spans": [{
            "traceId": "5b8efff798038103d269b633813fc60c",
            "spanId": "eee19b7ec3c1b174",
            "parentSpanId": "eee19b7ec3c1b173",
            "name": "charge",
            "kind": 3,
            "startTimeUnixNano": "1544712660000000000",
            "endTimeUnixNano": "1544712661000000000",
            "attributes": [{"key": "retries", "value": {"intValue": "2"}}]
          }]
        }]
      }]
    }"#;
    let reply = post(
        &http_client(),
        format!("{}/v1/traces", receiver.http_endpoint()),
        "application/json",
        None,
        body.as_bytes().to_vec(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(reply.content_type.as_deref(), Some("application/json"));
    // The empty ExportTraceServiceResponse, in OTLP/JSON.
    assert_eq!(&reply.body[..], b"{}");

    let spans = receiver
        .wait_for_spans(|spans| !spans.is_empty(), WAIT)
        .await
        .expect("the span arrives");
    let span = &spans[0];
    assert_eq!(span.transport, Transport::HttpJson);
    assert_eq!(span.service_name(), Some("payments"));
    assert_eq!(span.trace_id_hex(), "5b8efff798038103d269b633813fc60c");
    assert_eq!(
        span.parent_span_id_hex().as_deref(),
        Some("eee19b7ec3c1b173")
    );
    assert_eq!(span.span.kind, 3);
    assert_eq!(span.duration(), Duration::from_secs(1));
    assert_eq!(
        span.attribute("retries")
            .and_then(|value| value.value.clone()),
        Some(any_value::Value::IntValue(2))
    );
    receiver.shutdown().await;
}

/// `google.rpc.Status`, the body of OTLP/HTTP error responses.
#[derive(Clone, PartialEq, Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

/// A request the receiver must refuse, and the status it must answer with.
struct BadRequest {
    path: &'static str,
    content_type: &'static str,
    encoding: Option<&'static str>,
    body: Vec<u8>,
    expected: StatusCode,
}

#[tokio::test]
async fn http_rejects_what_otlp_does_not_allow_with_a_status_body() {
    let receiver = OtlpReceiver::start(ReceiverConfig::default().max_message_bytes(1024))
        .await
        .expect("the receiver binds two loopback ports");
    let base = receiver.http_endpoint();
    let client = http_client();
    let spans = trace_request("gateway").encode_to_vec();

    let protobuf = |path, encoding, body, expected| BadRequest {
        path,
        content_type: "application/x-protobuf",
        encoding,
        body,
        expected,
    };
    let cases = [
        BadRequest {
            content_type: "text/plain",
            ..protobuf(
                "/v1/traces",
                None,
                spans.clone(),
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
            )
        },
        protobuf(
            "/v1/traces",
            Some("br"),
            spans.clone(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        protobuf("/v1/profiles", None, spans, StatusCode::NOT_FOUND),
        protobuf("/v1/traces", None, vec![0xff; 16], StatusCode::BAD_REQUEST),
        protobuf(
            "/v1/traces",
            Some("gzip"),
            b"not gzip".to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        protobuf(
            "/v1/traces",
            None,
            vec![0; 4096],
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
    ];
    for case in cases {
        let BadRequest {
            path,
            content_type,
            encoding,
            body,
            expected,
        } = case;
        let reply = post(
            &client,
            format!("{base}{path}"),
            content_type,
            encoding,
            body,
        )
        .await;
        assert_eq!(reply.status, expected, "{path} {content_type} {encoding:?}");
        let status = RpcStatus::decode(reply.body).expect("a google.rpc.Status body");
        assert!(!status.message.is_empty(), "{path}: {status:?}");
    }

    // A gzip bomb is cut off at the size limit, not inflated into memory.
    let bomb = gzip(&vec![0; 1024 * 1024]);
    let reply = post(
        &client,
        format!("{base}/v1/traces"),
        "application/x-protobuf",
        Some("gzip"),
        bomb,
    )
    .await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);

    let get = Request::builder()
        .uri(format!("{base}/v1/traces"))
        .body(Full::new(Bytes::new()))
        .expect("valid request");
    let reply = send(&client, get).await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);

    let reply = post(
        &client,
        format!("{base}/v1/logs"),
        "application/json",
        None,
        b"{not json".to_vec(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.content_type.as_deref(), Some("application/json"));
    let status: serde_json::Value = serde_json::from_slice(&reply.body).expect("a JSON status");
    assert_eq!(status["code"], 3, "{status}");

    assert_eq!(receiver.stats().rejected_requests, 9);
    assert!(receiver.spans().is_empty());
    assert!(receiver.logs().is_empty());
    receiver.shutdown().await;
}

// === Store ===

#[tokio::test]
async fn a_full_store_evicts_the_oldest_and_counts_them() {
    let receiver = OtlpReceiver::start(ReceiverConfig::default().max_items_per_signal(3))
        .await
        .expect("the receiver binds two loopback ports");
    let mut client = TraceServiceClient::connect(receiver.grpc_endpoint())
        .await
        .expect("connect");
    for service in ["first", "second", "third"] {
        client
            .export(trace_request(service))
            .await
            .expect("export spans");
    }
    let spans = receiver.spans();
    let services: Vec<_> = spans
        .iter()
        .map(|span| span.service_name().unwrap_or("?"))
        .collect();
    assert_eq!(services, ["second", "third", "third"]);
    let stats = receiver.stats();
    assert_eq!((stats.spans_received, stats.spans_evicted), (6, 3));

    receiver.clear();
    assert!(receiver.spans().is_empty());
    assert_eq!(
        receiver.stats().spans_received,
        6,
        "clear keeps the counters"
    );
    receiver.shutdown().await;
}

#[tokio::test]
async fn a_wait_whose_predicate_never_holds_reports_what_it_saw() {
    let receiver = start_receiver().await;
    let mut client = LogsServiceClient::connect(receiver.grpc_endpoint())
        .await
        .expect("connect");
    client
        .export(logs_request("orders"))
        .await
        .expect("export logs");
    let timeout = receiver
        .wait_for_logs(|logs| logs.len() >= 2, Duration::from_millis(200))
        .await
        .expect_err("only one log record was sent");
    assert_eq!((timeout.signal, timeout.stored), ("logs", 1));
    assert!(timeout.to_string().contains("1 stored logs"), "{timeout}");
    receiver.shutdown().await;
}

#[tokio::test]
async fn shutdown_closes_both_ports_and_keeps_the_data() {
    let receiver = start_receiver().await;
    let (grpc, http) = (receiver.grpc_addr(), receiver.http_addr());
    let mut client = TraceServiceClient::connect(receiver.grpc_endpoint())
        .await
        .expect("connect");
    client
        .export(trace_request("orders"))
        .await
        .expect("export spans");
    drop(client);

    let store = receiver.shutdown().await;
    assert_eq!(store.spans().len(), 2);
    for addr in [grpc, http] {
        assert!(
            tokio::net::TcpStream::connect(addr).await.is_err(),
            "{addr} still accepts connections"
        );
    }
}

// === A real collector forwarding into the receiver ===

/// A running `rotel-agent`, stopped with SIGTERM (so it flushes) when dropped.
struct Rotel {
    child: Child,
    otlp_grpc: SocketAddr,
    work_dir: PathBuf,
}

impl Drop for Rotel {
    fn drop(&mut self) {
        let terminated = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .is_ok_and(|status| status.success());
        if terminated {
            wait::poll_blocking(Duration::from_secs(10), Duration::from_millis(50), || {
                self.child.try_wait().ok().flatten()
            });
        }
        // Still running (or SIGTERM could not be sent): don't leak the process.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.work_dir);
    }
}

fn free_loopback_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free loopback port");
    listener.local_addr().expect("a bound address")
}

/// Starts rotel forwarding everything to `endpoint` over `protocol` (`grpc` or `http`), and
/// waits until it listens on both its ports itself; on new ports if it exits first (one was
/// taken since it was chosen).
fn start_rotel(endpoint: &str, protocol: &str) -> Rotel {
    let agent = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.tools/bin/rotel-agent");
    assert!(
        agent.exists(),
        "the rotel collector is missing at {}: run scripts/install-test-deps.sh",
        agent.display()
    );
    for attempt in 1..=5 {
        let otlp_grpc = free_loopback_port();
        let otlp_http = free_loopback_port();
        // Its own pid and log files, so parallel tests and other rotels don't collide.
        let work_dir = std::env::temp_dir().join(format!(
            "obs-receiver-rotel-{}-{}",
            std::process::id(),
            otlp_grpc.port()
        ));
        std::fs::create_dir_all(&work_dir).expect("a temporary directory");
        let mut child = Command::new(&agent)
            .arg("start")
            .args(["--otlp-grpc-endpoint", &otlp_grpc.to_string()])
            .args(["--otlp-http-endpoint", &otlp_http.to_string()])
            .args(["--exporter", "otlp"])
            .args(["--otlp-exporter-endpoint", endpoint])
            .args(["--otlp-exporter-protocol", protocol])
            .arg("--pid-file")
            .arg(work_dir.join("rotel.pid"))
            .arg("--log-file")
            .arg(work_dir.join("rotel.log"))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|error| {
                panic!(
                    "cannot start {} ({error}): run scripts/install-test-deps.sh",
                    agent.display()
                )
            });
        let exited =
            match wait_child_listening(&mut child, &[otlp_grpc.port(), otlp_http.port()], WAIT) {
                Listening::Ready => {
                    return Rotel {
                        child,
                        otlp_grpc,
                        work_dir,
                    };
                }
                Listening::Exited(status) => status,
                Listening::TimedOut => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("rotel did not listen on {otlp_grpc} and {otlp_http} within {WAIT:?}");
                }
            };
        // Not a `Rotel`, whose drop signals its pid: this one was reaped, the pid is free.
        let _ = std::fs::remove_dir_all(&work_dir);
        assert!(attempt < 5, "rotel exited early with {exited}");
        eprintln!("rotel exited with {exited} before it listened; trying other ports");
    }
    unreachable!("the last attempt returns or panics")
}

/// Exports all three signals to rotel, retrying while it is still starting up.
async fn send_through(rotel: &mut Rotel) {
    let endpoint = format!("http://{}", rotel.otlp_grpc);
    let deadline = Instant::now() + WAIT;
    let (mut traces, mut logs, mut metrics) = loop {
        if let Ok(Some(status)) = rotel.child.try_wait() {
            panic!("rotel exited early with {status}");
        }
        if let Ok(channel) = tonic::transport::Endpoint::from_shared(endpoint.clone())
            .expect("a valid endpoint")
            .connect()
            .await
        {
            break (
                TraceServiceClient::new(channel.clone()),
                LogsServiceClient::new(channel.clone()),
                MetricsServiceClient::new(channel),
            );
        }
        assert!(
            Instant::now() < deadline,
            "rotel did not listen on {endpoint} within {WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    traces
        .export(trace_request("reports"))
        .await
        .expect("rotel accepts spans");
    logs.export(logs_request("reports"))
        .await
        .expect("rotel accepts logs");
    metrics
        .export(metrics_request("reports"))
        .await
        .expect("rotel accepts metrics");
}

#[tokio::test]
async fn rotel_forwards_every_signal_over_grpc() {
    let receiver = start_receiver().await;
    let mut rotel = start_rotel(&receiver.grpc_endpoint(), "grpc");
    send_through(&mut rotel).await;
    assert_trace_stored(&receiver, "reports", Transport::Grpc).await;
    assert_log_stored(&receiver, "reports", Transport::Grpc).await;
    assert_metrics_stored(&receiver, "reports", Transport::Grpc).await;
    drop(rotel);
    receiver.shutdown().await;
}

#[tokio::test]
async fn rotel_forwards_every_signal_over_http_protobuf() {
    let receiver = start_receiver().await;
    let mut rotel = start_rotel(&receiver.http_endpoint(), "http");
    send_through(&mut rotel).await;
    assert_trace_stored(&receiver, "reports", Transport::HttpProtobuf).await;
    assert_log_stored(&receiver, "reports", Transport::HttpProtobuf).await;
    assert_metrics_stored(&receiver, "reports", Transport::HttpProtobuf).await;
    drop(rotel);
    assert_eq!(receiver.stats().rejected_requests, 0);
    receiver.shutdown().await;
}
