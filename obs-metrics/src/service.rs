//! [`MetricsService`]: `/metrics` as a tower [`Service`], so it mounts in axum, hyper or
//! tonic's router.

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{ACCEPT, ACCEPT_ENCODING, ALLOW, CONTENT_ENCODING, CONTENT_TYPE, VARY};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::Full;
use tower_service::Service;

use crate::Registry;
use crate::text::Format;

/// Answers `GET`/`HEAD` with the registry in the format the `Accept` header asks for
/// (OpenMetrics for Prometheus scrapers, labelled with the version they ask for; Prometheus
/// text 0.0.4 otherwise: see [`Format::negotiate`]), gzipped when
/// `Accept-Encoding` allows it (as Prometheus's does), whatever the path; other methods get
/// `405 Method Not Allowed`. The body is [`Registry::encode`]'s: the registry's
/// `target_info` ([`Registry::set_target_info`], which `obs_core::init` sets on the global
/// registry) and its families.
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
            let mut response = empty_response(StatusCode::METHOD_NOT_ALLOWED);
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
        let (format, content_type) = Format::negotiate(&accept);
        let text = self.registry.encode(format);
        let gzipped = accepts_gzip(request.headers());
        let mut response = Response::new(Full::new(if gzipped {
            Bytes::from(gzip(text.as_bytes()))
        } else {
            Bytes::from(text)
        }));
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        if gzipped {
            headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        // The body depends on both: caches between the scraper and us must key on them.
        headers.insert(VARY, HeaderValue::from_static("accept, accept-encoding"));
        response
    }
}

/// An empty response with `status`.
pub(crate) fn empty_response(status: StatusCode) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = status;
    response
}

/// Whether `Accept-Encoding` takes gzip (RFC 9110 §12.5.3): `gzip` (or `x-gzip`) listed
/// with a q-value above zero, or `*` above zero with gzip not refused by name.
fn accepts_gzip(headers: &http::HeaderMap) -> bool {
    let mut named = None;
    let mut any = None;
    for value in headers.get_all(ACCEPT_ENCODING) {
        let Ok(value) = value.to_str() else { continue };
        for coding in value.split(',') {
            let mut params = coding.split(';');
            let name = params.next().unwrap_or_default().trim();
            let q = params
                .filter_map(|p| {
                    let (key, value) = p.split_once('=')?;
                    key.trim().eq_ignore_ascii_case("q").then_some(value)
                })
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            if name.eq_ignore_ascii_case("gzip") || name.eq_ignore_ascii_case("x-gzip") {
                named = Some(q);
            } else if name == "*" {
                any = Some(q);
            }
        }
    }
    named.or(any).is_some_and(|q| q > 0.0)
}

/// `text` gzipped at the fastest level: a scrape costs the application little CPU, and text
/// of repeated names and labels compresses well at any level.
fn gzip(text: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(text.len() / 8),
        flate2::Compression::fast(),
    );
    // Writing into a `Vec` cannot fail.
    let _ = encoder.write_all(text);
    encoder.finish().unwrap_or_default()
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
    fn gzips_when_the_scraper_accepts_it() {
        let registry = Registry::new();
        registry.counter("jobs", "Jobs.").unwrap().inc();
        let service = MetricsService::new(registry);
        let respond = |accept_encoding: Option<&str>| {
            let mut request = Request::get("/metrics");
            if let Some(value) = accept_encoding {
                request = request.header(ACCEPT_ENCODING, value);
            }
            service.respond(&request.body(()).unwrap())
        };
        let plain = body(respond(None));
        assert!(plain.contains("jobs_total 1\n"), "{plain}");
        // Prometheus's own header, and other ways of taking gzip.
        for accepted in [
            "gzip",
            "gzip, deflate",
            "identity;q=0.5, gzip;q=0.8",
            "x-gzip",
            "*",
        ] {
            let response = respond(Some(accepted));
            assert_eq!(response.headers()[CONTENT_ENCODING], "gzip", "{accepted}");
            assert_eq!(response.headers()[VARY], "accept, accept-encoding");
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            let compressed = rt
                .block_on(response.into_body().collect())
                .unwrap_or_else(|never| match never {})
                .to_bytes();
            let mut text = String::new();
            std::io::Read::read_to_string(
                &mut flate2::read::GzDecoder::new(&compressed[..]),
                &mut text,
            )
            .unwrap();
            assert_eq!(text, plain, "{accepted}");
        }
        for refused in [
            "identity",
            "deflate, br",
            "gzip;q=0",
            "*;q=0",
            "*, gzip;q=0",
            // RFC 9110's `weight` is `OWS ";" OWS "q=" qvalue`, and ABNF strings ignore case.
            "gzip;Q=0",
            "gzip ; q=0",
        ] {
            let response = respond(Some(refused));
            assert!(
                !response.headers().contains_key(CONTENT_ENCODING),
                "{refused}"
            );
            assert_eq!(body(response), plain, "{refused}");
        }
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
        assert_eq!(om.headers()[VARY], "accept, accept-encoding");
        assert!(body(om).ends_with("# EOF\n"));
        let post = service.respond(&Request::post("/metrics").body(()).unwrap());
        assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(post.headers()[ALLOW], "GET, HEAD");
    }

    /// Prometheus' scrape negotiation: the answer's `Content-Type` "SHOULD" match "one of
    /// the accepted formats" (<https://prometheus.io/docs/instrumenting/content_negotiation/>).
    /// A scraper configured for `OpenMetricsText0.0.1` only gets OpenMetrics labelled
    /// 0.0.1 (the same text), not 1.0.0 that only its `*/*` reaches.
    #[test]
    fn answers_openmetrics_with_the_version_the_scraper_asked_for() {
        let registry = Registry::new();
        registry.counter("jobs", "Jobs.").unwrap().inc();
        let service = MetricsService::new(registry);
        let scrape = |accept: &str| {
            let response = service.respond(
                &Request::get("/metrics")
                    .header(ACCEPT, accept)
                    .body(())
                    .unwrap(),
            );
            let content_type = response.headers()[CONTENT_TYPE]
                .to_str()
                .unwrap()
                .to_owned();
            (content_type, body(response))
        };
        let (v1_type, v1_text) = scrape("application/openmetrics-text;version=1.0.0");
        assert_eq!(v1_type, crate::text::OPENMETRICS_CONTENT_TYPE);
        for (accept, expected) in [
            // Prometheus 3 with `scrape_protocols: [OpenMetricsText0.0.1]`.
            (
                "application/openmetrics-text;version=0.0.1;q=0.2,*/*;q=0.1",
                crate::text::OPENMETRICS_0_0_1_CONTENT_TYPE,
            ),
            (
                "application/openmetrics-text;version=0.0.1",
                crate::text::OPENMETRICS_0_0_1_CONTENT_TYPE,
            ),
            (
                "application/openmetrics-text;version=1.0.0;q=0.3,application/openmetrics-text;version=0.0.1;q=0.4",
                crate::text::OPENMETRICS_0_0_1_CONTENT_TYPE,
            ),
            // A range without a version reaches both: 1.0.0 unless 0.0.1 is preferred.
            (
                "application/openmetrics-text;q=0.5,application/openmetrics-text;version=0.0.1",
                crate::text::OPENMETRICS_0_0_1_CONTENT_TYPE,
            ),
            (
                "application/openmetrics-text",
                crate::text::OPENMETRICS_CONTENT_TYPE,
            ),
            // Prometheus' default: 1.0.0 first.
            (
                "application/openmetrics-text;version=1.0.0;escaping=allow-utf8;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1",
                crate::text::OPENMETRICS_CONTENT_TYPE,
            ),
            (
                "application/openmetrics-text;version=0.0.1;q=0.5,application/openmetrics-text;version=1.0.0;q=0.5",
                crate::text::OPENMETRICS_CONTENT_TYPE,
            ),
        ] {
            let (content_type, text) = scrape(accept);
            assert_eq!(content_type, expected, "{accept}");
            assert_eq!(text, v1_text, "the same text: {accept}");
        }
    }
}
