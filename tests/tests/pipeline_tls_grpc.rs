//! Spans, logs and metrics reach a real collector over OTLP/gRPC on `https://`, through a
//! proxy that terminates TLS and requires a client certificate (mutual TLS).

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telemetry_reaches_a_collector_over_grpc_with_mutual_tls() {
    obs_tests::pipeline::round_trip(
        obs_core::Protocol::Grpc,
        obs_core::Compression::None,
        obs_tests::pipeline::Route::MutualTls,
    )
    .await;
}
