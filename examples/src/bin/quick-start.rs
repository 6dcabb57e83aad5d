//! The README's quick start, kept here so that it compiles and can't drift from the README
//! (`tests/readme_quick_start.rs` compares the two): an axum service with traces, logs and
//! metrics from one `init`, served on 127.0.0.1:3000 until Ctrl-C or SIGTERM.

use axum::{Router, routing::get};
use obs_core::{tower::HttpServerLayer, tracing}; // one dependency: obs re-exports tracing

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let telemetry = obs_core::init()?; // OTEL_SERVICE_NAME, OTEL_EXPORTER_OTLP_ENDPOINT, RUST_LOG, ...
    let app = Router::new()
        .route("/hello/{name}", get(|| async { tracing::info!("hello") }))
        .layer(HttpServerLayer::new()); // span, W3C context, http.server.* metrics
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    let stop = obs_core::shutdown_signal(); // Ctrl-C, or SIGTERM (docker stop, Kubernetes)
    axum::serve(listener, app)
        .with_graceful_shutdown(stop)
        .await?;
    // Flushes traces, logs and metrics (also on drop). An error only says what could not be
    // delivered (no collector listening, say): worth a line, not a failed exit.
    if let Err(e) = telemetry.shutdown().await {
        eprintln!("telemetry not fully delivered: {e}");
    }
    Ok(())
}
