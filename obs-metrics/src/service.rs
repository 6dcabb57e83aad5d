//! [`MetricsService`]: `/metrics` as a tower [`Service`], so it mounts in axum, hyper or
//! tonic's router.

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{ACCEPT, ALLOW, CONTENT_TYPE, VARY};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::Full;
use tower_service::Service;

use crate::Registry;
use crate::text::Format;

/// Answers `GET`/`HEAD` with the registry in the format the `Accept` header asks for
/// (OpenMetrics for Prometheus scrapers, Prometheus text 0.0.4 otherwise), whatever the
/// path; other methods get `405 Method Not Allowed`.
///
/// ```
/// use obs_metrics::{MetricsService, Registry};
///
/// let registry = Registry::new();
/// registry.counter("jobs", "Jobs.").unwrap().inc();
/// // Mount it as a tower service (e.g. axum's `route_service("/metrics", ..)`; in an
/// // application, of `obs_metrics::global().clone()`, the registry obs's middleware and
/// // `obs-core` use), or ask it directly:
/// let service = MetricsService::new(registry);
/// let request = http::Request::get("/metrics")
///     .header("accept", "application/openmetrics-text; version=1.0.0")
///     .body(())
///     .unwrap();
/// let response = service.respond(&request);
/// assert_eq!(
///     response.headers()["content-type"],
///     "application/openmetrics-text; version=1.0.0; charset=utf-8"
/// );
/// ```
#[derive(Clone, Debug)]
pub struct MetricsService {
    registry: Registry,
}

impl MetricsService {
    /// Serves `registry`.
    pub fn new(registry: Registry) -> Self {
        MetricsService { registry }
    }

    /// The response to `request` (no I/O; the body is the whole exposition).
    pub fn respond<B>(&self, request: &Request<B>) -> Response<Full<Bytes>> {
        if request.method() != Method::GET && request.method() != Method::HEAD {
            let mut response = Response::new(Full::new(Bytes::new()));
            *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
            response
                .headers_mut()
                .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
            return response;
        }
        let accept = request
            .headers()
            .get_all(ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join(",");
        let format = Format::from_accept(&accept);
        let mut response = Response::new(Full::new(Bytes::from(self.registry.encode(format))));
        let headers = response.headers_mut();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static(format.content_type()),
        );
        // The body depends on `Accept`: caches between the scraper and us must key on it.
        headers.insert(VARY, HeaderValue::from_static("accept"));
        response
    }
}

impl<B> Service<Request<B>> for MetricsService {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        ready(Ok(self.respond(&request)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    fn body(response: Response<Full<Bytes>>) -> String {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let collected = rt
            .block_on(response.into_body().collect())
            .unwrap_or_else(|never| match never {});
        String::from_utf8(collected.to_bytes().to_vec()).unwrap()
    }

    #[test]
    fn negotiates_format_and_content_type() {
        let registry = Registry::new();
        registry.counter("jobs", "Jobs.").unwrap().inc();
        let service = MetricsService::new(registry);
        let plain = service.respond(&Request::get("/metrics").body(()).unwrap());
        assert_eq!(plain.status(), StatusCode::OK);
        assert_eq!(
            plain.headers()[CONTENT_TYPE],
            crate::text::PROMETHEUS_CONTENT_TYPE
        );
        assert!(!body(plain).contains("# EOF"));
        let om = service.respond(
            &Request::get("/metrics")
                .header(ACCEPT, "text/plain;q=0.5")
                .header(ACCEPT, "application/openmetrics-text;version=1.0.0")
                .body(())
                .unwrap(),
        );
        assert_eq!(
            om.headers()[CONTENT_TYPE],
            crate::text::OPENMETRICS_CONTENT_TYPE
        );
        assert_eq!(om.headers()[VARY], "accept");
        assert!(body(om).ends_with("# EOF\n"));
        let post = service.respond(&Request::post("/metrics").body(()).unwrap());
        assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(post.headers()[ALLOW], "GET, HEAD");
    }
}
