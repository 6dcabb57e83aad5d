//! Spans, logs and metrics reach a real collector over OTLP/HTTP on `https://`, through a
//! proxy that terminates TLS and requires a client certificate (mutual TLS).

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telemetry_reaches_a_collector_over_http_with_mutual_tls() {
    obs_tests::pipeline::round_trip(
        obs_core::Protocol::HttpProtobuf,
        obs_core::Compression::Gzip,
        obs_tests::pipeline::Route::MutualTls,
    )
    .await;
}
