//! Spans, logs and metrics reach a real collector over OTLP/grpc with their ids, names and resource.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telemetry_reaches_a_real_collector_over_grpc() {
    obs_tests::pipeline::round_trip(obs_core::Protocol::Grpc).await;
}
