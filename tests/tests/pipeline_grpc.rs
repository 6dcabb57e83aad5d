//! Spans, logs and metrics reach a real collector over OTLP/gRPC with their ids, names, values
//! and resource.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telemetry_reaches_a_real_collector_over_grpc() {
    obs_tests::pipeline::round_trip(
        obs_core::Protocol::Grpc,
        obs_core::Compression::None,
        obs_tests::pipeline::Route::Direct,
    )
    .await;
}
