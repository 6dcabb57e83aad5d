//! A standalone `/metrics` listener (feature `server`), for applications that do not mount
//! [`MetricsService`] in their own router; `obs-core` starts it when `OBS_METRICS_ADDR`
//! is set.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::{MetricsService, Registry};

/// The path the standalone listener serves; other paths get `404 Not Found`.
pub const METRICS_PATH: &str = "/metrics";

/// Binds `addr` and serves `registry` on [`METRICS_PATH`] until the future is dropped.
/// Fails only if `addr` cannot be bound.
pub async fn serve_addr(addr: SocketAddr, registry: Registry) -> io::Result<()> {
    serve(TcpListener::bind(addr).await?, registry).await
}

/// Serves `registry` on [`METRICS_PATH`] over HTTP/1.1 on every connection `listener`
/// accepts, until the future is dropped. Connection errors end that connection only.
pub async fn serve(listener: TcpListener, registry: Registry) -> io::Result<()> {
    let service = MetricsService::new(registry);
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            // Out of file descriptors and similar: keep serving the connections we have
            // and try again shortly rather than ending the listener.
            Err(_) => {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let service = service.clone();
        tokio::spawn(async move {
            let handler = hyper::service::service_fn(move |request: Request<Incoming>| {
                let response = if request.uri().path() == METRICS_PATH {
                    service.respond(&request)
                } else {
                    let mut not_found = Response::new(Full::new(Bytes::new()));
                    *not_found.status_mut() = StatusCode::NOT_FOUND;
                    not_found
                };
                std::future::ready(Ok::<_, Infallible>(response))
            });
            // A client that goes away mid-request is not our error to report.
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), handler)
                .await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn get(addr: SocketAddr, path: &str, accept: &str) -> String {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let request = format!(
            "GET {path} HTTP/1.1\r\nhost: x\r\naccept: {accept}\r\nconnection: close\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        response
    }

    #[tokio::test]
    async fn serves_metrics_on_its_path_only() {
        let registry = Registry::new();
        registry.counter("jobs", "Jobs.").unwrap().inc_by(3);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(serve(listener, registry));
        let deadline = std::time::Duration::from_secs(10);
        let om = tokio::time::timeout(
            deadline,
            get(
                addr,
                "/metrics",
                "application/openmetrics-text;version=1.0.0",
            ),
        )
        .await
        .unwrap();
        assert!(om.starts_with("HTTP/1.1 200 OK"), "{om}");
        assert!(
            om.contains("content-type: application/openmetrics-text; version=1.0.0; charset=utf-8")
        );
        assert!(om.contains("jobs_total 3\n# EOF\n"), "{om}");
        let plain = tokio::time::timeout(deadline, get(addr, "/metrics", "*/*"))
            .await
            .unwrap();
        assert!(
            plain.contains("# TYPE jobs_total counter\njobs_total 3\n"),
            "{plain}"
        );
        let missing = tokio::time::timeout(deadline, get(addr, "/", "*/*"))
            .await
            .unwrap();
        assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
        server.abort();
    }
}
