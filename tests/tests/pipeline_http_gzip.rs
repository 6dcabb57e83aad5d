//! Spans, logs and metrics reach a real collector over OTLP/HTTP (protobuf), gzip-compressed,
//! with their ids, names, values and resource.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telemetry_reaches_a_real_collector_over_http_gzip() {
    obs_tests::pipeline::round_trip(
        obs_core::Protocol::HttpProtobuf,
        obs_core::Compression::Gzip,
        obs_tests::pipeline::Route::Direct,
    )
    .await;
}
