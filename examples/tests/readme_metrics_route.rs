//! The README's second way to Prometheus, as a user adds it to the quick start: the global
//! registry served on a route of the app with
//! `.route_service("/metrics", obs_core::metrics::MetricsService::new(obs_core::metrics::global().clone()))`
//! after `.layer(..)`, "so that scrapes are neither traced nor counted as requests", and
//! "either way the scrape carries the resource as one `target_info`".

use std::time::Duration;

use axum::{Router, routing::get};
use obs_core::metrics::text::Format;
use obs_core::{tower::HttpServerLayer, tracing};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

// The workspace's bounded condition wait (obs-core's test support), as `support` takes it.
#[path = "../../obs-core/tests/support/wait.rs"]
#[allow(dead_code, unreachable_pub)]
mod wait;

const TIMEOUT: Duration = Duration::from_secs(10);

/// `GET path` over a fresh connection; the whole response, head and body.
async fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .await
        .expect("read the response");
    response
}

#[tokio::test]
async fn the_readme_metrics_route_serves_target_info_and_counts_no_scrape() {
    let telemetry = obs_core::builder()
        .sdk_disabled(true)
        .json_logs(false)
        .service_name("readme-route")
        .init()
        .expect("init");
    let app = Router::new()
        .route("/hello/{name}", get(|| async { tracing::info!("hello") }))
        .layer(HttpServerLayer::new())
        .route_service(
            "/metrics",
            obs_core::metrics::MetricsService::new(obs_core::metrics::global().clone()),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    assert!(
        http_get(addr, "/hello/ann")
            .await
            .starts_with("HTTP/1.1 200")
    );
    // The request is recorded when its body ends, a moment after the client has it all.
    let recorded = r#"http_route="/hello/{name}",network_protocol_version="1.1",http_response_status_code="200"} 1"#;
    let counted = wait::wait_until(TIMEOUT, || {
        obs_core::metrics::global()
            .encode(Format::Prometheus)
            .contains(recorded)
    })
    .await;
    assert!(counted, "the request was never counted");

    let first = http_get(addr, "/metrics").await;
    let scrape = http_get(addr, "/metrics").await;
    for response in [&first, &scrape] {
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    }
    let target_info: Vec<&str> = scrape
        .lines()
        .filter(|line| line.starts_with("target_info{"))
        .collect();
    assert_eq!(target_info.len(), 1, "{scrape}");
    assert!(
        target_info[0].contains(r#"service_name="readme-route""#),
        "{scrape}"
    );
    // The second scrape shows the first one neither counted nor measured: one request, on
    // the one route behind the layer.
    assert!(scrape.contains(recorded), "{scrape}");
    assert!(!scrape.contains(r#"http_route="/metrics""#), "{scrape}");
    let counts: Vec<&str> = scrape
        .lines()
        .filter(|line| line.starts_with("http_server_request_duration_seconds_count{"))
        .collect();
    assert_eq!(counts.len(), 1, "{scrape}");

    server.abort();
    drop(telemetry);
}
