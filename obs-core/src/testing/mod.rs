//! An in-memory OTLP receiver for tests and demos (feature `testing`).
//!
//! [`OtlpReceiver`] listens for OTLP/gRPC and OTLP/HTTP on loopback ports, keeps every
//! span, log record and metric point it receives in a bounded [`TelemetryStore`], and lets
//! a test wait for and assert on them. Point an application's exporter at
//! [`grpc_endpoint`](OtlpReceiver::grpc_endpoint) or
//! [`http_endpoint`](OtlpReceiver::http_endpoint) (for example through
//! `OTEL_EXPORTER_OTLP_ENDPOINT`), or a collector's OTLP exporter.
//!
//! - **gRPC**: the `TraceService`, `LogsService` and `MetricsService` `Export` methods, plain
//!   or gzip.
//! - **HTTP**: `POST /v1/traces`, `/v1/logs`, `/v1/metrics` with `application/x-protobuf` or
//!   `application/json` (OTLP/JSON) bodies, plain or `Content-Encoding: gzip`, over HTTP/1.1
//!   or h2c. Success is `200` with the empty `Export*ServiceResponse` in the request's
//!   encoding; errors are `400`/`404`/`405`/`413`/`415` with a `google.rpc.Status` body, as
//!   the [OTLP/HTTP spec](https://opentelemetry.io/docs/specs/otlp/#otlphttp-response) says.
//!
//! [`SamplingServer`] stands in for Jaeger's `SamplingManager` (gRPC) in tests of the
//! `jaeger_remote` samplers: it serves the strategy a test sets.
//!
//! To use it in your own tests, enable the feature for tests only:
//! `obs-core = { version = "…", features = ["testing"] }` under `[dev-dependencies]`.
//!
//! Records are flattened: each [`ReceivedSpan`], [`ReceivedLog`] and [`ReceivedMetric`]
//! (one per data point) carries its resource and scope. [`group_by_trace`] and
//! [`SpanTree`] put traces back together; [`to_hex`] prints ids the way logs do. The OTLP
//! message types are [`proto`], the `opentelemetry-proto` crate this receiver is built on.
//!
//! ```
//! use std::time::Duration;
//!
//! use obs_core::testing::{OtlpReceiver, ReceiverConfig, group_by_trace};
//! use obs_core::testing::proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
//! use obs_core::testing::proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
//! use obs_core::testing::proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
//! use obs_core::testing::proto::tonic::resource::v1::Resource;
//! use obs_core::testing::proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
//! runtime.block_on(async {
//!     let receiver = OtlpReceiver::start(ReceiverConfig::default()).await?;
//!
//!     // What an exporter of service "orders" would send: one root span.
//!     let service = KeyValue {
//!         key: "service.name".into(),
//!         value: Some(AnyValue { value: Some(any_value::Value::StringValue("orders".into())) }),
//!         ..Default::default()
//!     };
//!     let span = Span {
//!         trace_id: vec![1; 16],
//!         span_id: vec![2; 8],
//!         name: "GET /orders".into(),
//!         start_time_unix_nano: 1_000,
//!         end_time_unix_nano: 5_000,
//!         ..Default::default()
//!     };
//!     let request = ExportTraceServiceRequest {
//!         resource_spans: vec![ResourceSpans {
//!             resource: Some(Resource { attributes: vec![service], ..Default::default() }),
//!             scope_spans: vec![ScopeSpans { spans: vec![span], ..Default::default() }],
//!             ..Default::default()
//!         }],
//!     };
//!     let mut client = TraceServiceClient::connect(receiver.grpc_endpoint()).await?;
//!     client.export(request).await?;
//!
//!     let spans = receiver
//!         .wait_for_spans(|spans| !spans.is_empty(), Duration::from_secs(10))
//!         .await?;
//!     assert_eq!(spans[0].service_name(), Some("orders"));
//!     assert_eq!(spans[0].span_id_hex(), "0202020202020202");
//!     let traces = group_by_trace(spans);
//!     assert_eq!(traces[0].trace_id_hex(), "01".repeat(16));
//!     assert_eq!(traces[0].duration(), Duration::from_nanos(4_000));
//!
//!     let store = receiver.shutdown().await;
//!     assert_eq!(store.stats().spans_received, 1);
//!     Ok::<_, Box<dyn std::error::Error>>(())
//! })
//! # }
//! ```

mod analysis;
mod config;
mod grpc;
mod hex;
mod http;
mod ingest;
mod jaeger;
mod model;
mod receiver;
mod store;

/// The OTLP protobuf types (and tonic clients) the receiver speaks, re-exported so tests
/// build requests with the same version.
pub use opentelemetry_proto as proto;

pub use self::analysis::{SpanRow, SpanTree, Trace, group_by_trace};
pub use self::config::ReceiverConfig;
pub use self::hex::{from_hex, to_hex};
pub use self::jaeger::SamplingServer;
pub use self::model::{
    MetricPoint, ReceivedLog, ReceivedMetric, ReceivedSpan, SERVICE_NAME, Transport, any_value_str,
    attribute, attribute_int, attribute_str, service_name,
};
pub use self::receiver::OtlpReceiver;
pub use self::store::{ReceiverStats, TelemetryStore, WaitTimeout};

/// A loopback address where nothing listens, for tests of a collector that is gone: port 9
/// (discard), which no test serves and test machines don't run. A free port found by binding
/// and dropping a listener can be taken meanwhile by a receiver another test of the same
/// binary starts, which turns the "nothing listens" test into a flaky one (it did, once).
pub const NOTHING_LISTENS: &str = "127.0.0.1:9";
