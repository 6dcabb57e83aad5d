//! A global filter that disables every span (a `LevelFilter` added as a layer of its own,
//! the usual `tracing` set-up, here through `Builder::init_with`) does not lose the
//! incoming trace: no span is exported, yet the handlers' log lines of two services over
//! loopback reach a real collector with the caller's trace id, passed from one service to
//! the next by the outgoing call.

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use obs_core::testing::{OtlpReceiver, ReceiverConfig};
use obs_core::tower::HttpServerLayer;
use obs_core::tracing_subscriber::filter::LevelFilter;
use obs_core::{BatchSettings, Protocol};
use obs_tests::collector::Collector;
use obs_tests::http::{get_as_caller, get_text, serve, traced_client};

const TRACE_ID: &str = "5bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "10f067aa0ba902b7";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_global_filter_disabling_every_span_keeps_the_callers_trace_in_the_logs() {
    let receiver = OtlpReceiver::start(ReceiverConfig::default())
        .await
        .expect("receiver");
    let collector = Collector::start(&receiver.grpc_endpoint());
    let telemetry = obs_core::builder()
        .service_name("global-filter-test")
        .protocol(Protocol::Grpc)
        .otlp_endpoint(collector.grpc_endpoint.clone())
        .json_logs(false)
        .log_batch(BatchSettings {
            schedule_delay: Duration::from_millis(50),
            ..BatchSettings::LOGS
        })
        .init_with(LevelFilter::ERROR)
        .expect("init");

    let b = Router::new()
        .route(
            "/items/{id}",
            get(|| async {
                tracing::error!("item looked up");
                "item"
            }),
        )
        .layer(HttpServerLayer::new());
    let b = serve(b).await;
    let client = traced_client();
    let a = Router::new()
        .route(
            "/front",
            get(move || {
                let client = client.clone();
                async move {
                    tracing::error!("front called");
                    get_text(&client, &format!("http://{b}/items/7")).await
                }
            }),
        )
        .layer(HttpServerLayer::new());
    let a = serve(a).await;

    let body = get_as_caller(&format!("http://{a}/front"), TRACE_ID, CALLER_SPAN).await;
    assert_eq!(body, "item");
    let logs = receiver
        .store()
        .wait_for_logs(|l| l.len() >= 2, Duration::from_secs(20))
        .await
        .unwrap_or_else(|e| collector.fail(e));
    telemetry.shutdown().await.expect("shutdown");
    for message in ["front called", "item looked up"] {
        let line = logs
            .iter()
            .find(|l| l.body_str() == Some(message))
            .unwrap_or_else(|| panic!("no log {message:?} in {logs:#?}"));
        assert_eq!(line.trace_id_hex(), TRACE_ID, "{message}");
        // No span of the service's own: the caller's span is the context passed on.
        assert_eq!(line.span_id_hex(), CALLER_SPAN, "{message}");
    }
    assert!(
        receiver.store().spans().is_empty(),
        "every span is disabled: {:#?}",
        receiver.store().spans()
    );
    drop(collector);
}
