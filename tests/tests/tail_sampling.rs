//! Tail sampling end to end: an axum service behind `HttpServerLayer`, initialised with a
//! latency threshold, exports through a real collector only the traces that failed (5xx)
//! or were slow, each whole (the SERVER span and the handler's own span), and counts the
//! ones it dropped in `/metrics`.

use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use obs_core::testing::{OtlpReceiver, ReceiverConfig};
use obs_core::tower::HttpServerLayer;
use obs_core::trace::TailSampling;
use obs_tests::collector::Collector;
use obs_tests::http::{get_plain, serve};
use obs_tests::wait::wait_until;

/// The latency threshold: far above what a quick request takes even on a loaded machine,
/// so that only `/slow` crosses it.
const THRESHOLD: Duration = Duration::from_secs(1);
const SLOW: Duration = Duration::from_millis(1_200);

/// The handler's own span, so that each kept trace has a child to keep with it.
async fn work(pause: Duration) {
    let span = tracing::info_span!("work");
    let _entered = span.enter();
    if !pause.is_zero() {
        std::thread::sleep(pause);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_failed_and_slow_traces_are_exported_whole() {
    let receiver = OtlpReceiver::start(ReceiverConfig::default())
        .await
        .expect("receiver");
    let collector = Collector::start(&receiver.grpc_endpoint());
    let telemetry = obs_tests::pipeline::quick_batches(obs_core::builder())
        .service_name("tail-sampling-test")
        .otlp_endpoint(collector.http_endpoint.clone())
        .json_logs(false)
        .tail_sampling(TailSampling::new(THRESHOLD))
        .metric_export_interval(Duration::from_secs(60))
        .init()
        .expect("init");

    let app = Router::new()
        .route("/ok", get(|| async { work(Duration::ZERO).await }))
        .route(
            "/fail",
            get(|| async {
                work(Duration::ZERO).await;
                StatusCode::INTERNAL_SERVER_ERROR
            }),
        )
        .route("/slow", get(|| async { work(SLOW).await }))
        .route(
            "/not-found-is-fine",
            get(|| async {
                work(Duration::ZERO).await;
                StatusCode::NOT_FOUND
            }),
        )
        .layer(HttpServerLayer::new());
    let addr = serve(app).await;
    for path in ["/ok", "/fail", "/ok", "/slow", "/not-found-is-fine", "/ok"] {
        get_plain(&format!("http://{addr}{path}"), &[]).await;
    }
    // Server spans end just after the response is written; wait (bounded) for all six
    // decisions before shutting down, so none is made by the final flush instead. A
    // decision adds to the trace counter and then to the span counter, so the dropped
    // spans are waited for too, not read a moment after the last trace was counted.
    let metrics = obs_core::metrics::global();
    let decided = |text: &str| {
        text.contains("obs_tail_sampling_traces_total{decision=\"kept\"} 2")
            && text.contains("obs_tail_sampling_traces_total{decision=\"dropped\"} 4")
            // Two spans (server and `work`) for each of the four dropped traces.
            && text.contains("obs_tail_sampling_dropped_spans_total 8")
    };
    let mut exposition = String::new();
    wait_until(Duration::from_secs(10), || {
        exposition = metrics.encode(obs_core::metrics::text::Format::Prometheus);
        decided(&exposition)
    })
    .await;
    assert!(decided(&exposition), "{exposition}");
    telemetry.shutdown().await.expect("shutdown");

    let spans = receiver
        .store()
        .wait_for_spans(|s| s.len() >= 4, Duration::from_secs(20))
        .await
        .unwrap_or_else(|e| collector.fail(e));
    let mut servers: Vec<_> = spans
        .iter()
        .filter(|s| s.span.kind == 2)
        .map(|s| s.name().to_owned())
        .collect();
    servers.sort();
    assert_eq!(servers, ["GET /fail", "GET /slow"]);
    for server in spans.iter().filter(|s| s.span.kind == 2) {
        let children: Vec<_> = spans
            .iter()
            .filter(|s| s.parent_span_id_hex() == Some(server.span_id_hex()))
            .map(|s| s.name())
            .collect();
        assert_eq!(children, ["work"], "{} kept whole", server.name());
    }
    assert_eq!(spans.len(), 4, "nothing else exported");
}
