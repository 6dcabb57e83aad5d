//! The incoming trace parent is never silently lost: with `RUST_LOG=error` (every span
//! disabled for the log layers), with obs's layer placed inside and outside other tower
//! layers, and with the user's own spans in the handler, the caller's trace id reaches the
//! exported server span, the handler's child span, the log line and the outgoing call — and
//! two services over loopback make one trace with the right links at a real collector.

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use obs_core::testing::{OtlpReceiver, ReceivedSpan, ReceiverConfig};
use obs_core::tower::HttpServerLayer;
use obs_core::{BatchSettings, Protocol};
use obs_tests::collector::Collector;
use obs_tests::http::{get_as_caller, get_text, serve, traced_client};
use tower::ServiceBuilder;
use tracing::Instrument;

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

fn one<'a>(spans: &'a [ReceivedSpan], name: &str) -> &'a ReceivedSpan {
    let found: Vec<_> = spans.iter().filter(|s| s.name() == name).collect();
    assert_eq!(
        found.len(),
        1,
        "one span {name:?} in {:?}",
        spans.iter().map(|s| s.name()).collect::<Vec<_>>()
    );
    found[0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_callers_trace_survives_quiet_logs_layer_order_and_user_spans() {
    let receiver = OtlpReceiver::start(ReceiverConfig::default())
        .await
        .expect("receiver");
    let collector = Collector::start(&receiver.grpc_endpoint());
    let telemetry = obs_core::builder()
        .service_name("context-test")
        .protocol(Protocol::Grpc)
        .otlp_endpoint(collector.grpc_endpoint.clone())
        .log_filter("error")
        .json_logs(false)
        .span_batch(BatchSettings {
            schedule_delay: Duration::from_millis(50),
            ..BatchSettings::SPANS
        })
        .log_batch(BatchSettings {
            schedule_delay: Duration::from_millis(50),
            ..BatchSettings::LOGS
        })
        .init()
        .expect("init");

    // B: obs's layer innermost, under a request-mapping layer.
    let b = Router::new()
        .route("/items/{id}", get(|| async { "item" }))
        .layer(HttpServerLayer::new())
        .layer(ServiceBuilder::new().map_request(|r: http::Request<axum::body::Body>| r));
    let b = serve(b).await;

    // A: obs's layer outermost; the handler has its own span, logs, and calls B.
    let client = traced_client();
    let a = Router::new()
        .route(
            "/front",
            get(move || {
                let client = client.clone();
                async move {
                    tracing::error!(step = "lookup", "slow lookup");
                    tracing::info!("filtered out at RUST_LOG=error");
                    get_text(&client, &format!("http://{b}/items/7")).await
                }
                .instrument(tracing::info_span!("handler work"))
            }),
        )
        .layer(ServiceBuilder::new().map_response(|r: http::Response<axum::body::Body>| r))
        .layer(HttpServerLayer::new());
    let a = serve(a).await;

    let body = get_as_caller(&format!("http://{a}/front"), TRACE_ID, CALLER_SPAN).await;
    assert_eq!(body, "item");
    let spans = receiver
        .store()
        .wait_for_spans(|s| s.len() >= 4, Duration::from_secs(20))
        .await
        .unwrap_or_else(|e| collector.fail(e));
    telemetry
        .shutdown()
        .await
        .expect("shutdown flushes the logs");
    assert!(
        spans.iter().all(|s| s.trace_id_hex() == TRACE_ID),
        "one trace: {spans:#?}"
    );
    let server_a = one(&spans, "GET /front");
    let work = one(&spans, "handler work");
    let server_b = one(&spans, "GET /items/{id}");
    let client_a = spans
        .iter()
        .find(|s| s.parent_span_id_hex().as_deref() == Some(&work.span_id_hex()))
        .expect("the call to B is a child of the handler's span");
    assert_eq!(server_a.parent_span_id_hex().as_deref(), Some(CALLER_SPAN));
    assert_eq!(work.parent_span_id_hex(), Some(server_a.span_id_hex()));
    assert_eq!(server_b.parent_span_id_hex(), Some(client_a.span_id_hex()));

    let logs = receiver
        .store()
        .wait_for_logs(|l| !l.is_empty(), Duration::from_secs(20))
        .await
        .unwrap_or_else(|e| collector.fail(e));
    let line = logs
        .iter()
        .find(|l| l.body_str() == Some("slow lookup"))
        .expect("the error log");
    assert_eq!(line.trace_id_hex(), TRACE_ID);
    assert_eq!(line.span_id_hex(), work.span_id_hex());
    assert!(
        logs.iter()
            .all(|l| l.body_str() != Some("filtered out at RUST_LOG=error"))
    );
    drop(collector);
}
