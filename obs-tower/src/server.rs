//! [`HttpServerLayer`]: SERVER spans and `http.server.*` metrics for incoming requests.

use std::sync::Arc;
use std::time::Instant;

use http::{HeaderName, Request, Response};
use tower_layer::Layer;
use tracing::field::Empty;

use crate::Instrumented;
use crate::classify::{ErrorType, is_server_error};
use crate::config::{HttpConfig, Outcome};
use crate::hooks::{CallHooks, Hooks};
use crate::metrics::{ServerLabels, ServerMetrics};
use crate::route::{self, Route};
use crate::semconv;
use crate::semconv::SpanName;

/// A [`Layer`] that traces and measures every incoming HTTP request, for axum, hyper or
/// any tower HTTP service.
///
/// Per request it extracts the caller's W3C context (`traceparent`, `tracestate`,
/// `baggage`), starts a SERVER span named `{method} {route}` (`{method}` when no route
/// template is known) with the stable HTTP semantic-convention attributes, runs the inner
/// service inside it, and ends it when the response body has been sent. A status of 5xx,
/// or an error of the inner service, marks the span as failed; 4xx does not (it is the
/// client's error). The response and error types are not changed.
///
/// With the `axum` feature the route comes from [`MatchedPath`]: add the layer with
/// `Router::layer` (which runs after routing), not around the router from outside.
///
/// [`MatchedPath`]: https://docs.rs/axum/0.8/axum/extract/struct.MatchedPath.html
#[derive(Clone, Debug)]
pub struct HttpServerLayer {
    config: Arc<HttpConfig<ServerMetrics>>,
}

impl Default for HttpServerLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl HttpServerLayer {
    /// A layer recording into [`obs_metrics::global()`], capturing no headers and
    /// redacting the default sensitive query parameters.
    pub fn new() -> Self {
        HttpServerLayer {
            config: HttpConfig::new(ServerMetrics::register(obs_metrics::global())),
        }
    }

    fn map(self, f: impl FnOnce(&mut HttpConfig<ServerMetrics>)) -> Self {
        HttpServerLayer {
            config: HttpConfig::update(self.config, f),
        }
    }

    /// Records these request headers as `http.request.header.<name>` (all values, as a
    /// string array). `Authorization`, `Proxy-Authorization`, `Cookie` and `Set-Cookie` are
    /// never recorded, even if listed. Defaults to none.
    pub fn with_request_headers(self, names: impl IntoIterator<Item = HeaderName>) -> Self {
        self.map(|c| c.set_request_headers(names))
    }

    /// Records these response headers as `http.response.header.<name>`, with the same
    /// rules as [`with_request_headers`](Self::with_request_headers). Defaults to none.
    pub fn with_response_headers(self, names: impl IntoIterator<Item = HeaderName>) -> Self {
        self.map(|c| c.set_response_headers(names))
    }

    /// Records `http.server.request.duration` and `http.server.active_requests` in
    /// `registry`. Defaults to [`obs_metrics::global()`].
    pub fn with_registry(self, registry: &obs_metrics::Registry) -> Self {
        let metrics = ServerMetrics::register(registry);
        self.map(|c| c.metrics = metrics)
    }

    /// Also redacts the values of these query parameters in `url.query`, on top of
    /// `AWSAccessKeyId`, `Signature`, `sig` and `X-Goog-Signature`, which always are.
    pub fn with_sensitive_query_params<I, P>(self, names: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: Into<String>,
    {
        self.map(|c| c.sensitive_query.extend(names))
    }
}

impl<S> Layer<S> for HttpServerLayer {
    type Service = Instrumented<S, HttpServerLayer>;

    fn layer(&self, inner: S) -> Self::Service {
        Instrumented::new(inner, self.clone())
    }
}

impl<B> Hooks<B> for HttpServerLayer {
    type Call = HttpServerCall;

    fn on_request(&self, request: &mut Request<B>) -> (tracing::Span, HttpServerCall) {
        let start = Instant::now();
        let (method, method_original) = semconv::method(request.method());
        let route = Route::of(request.extensions());
        let uri = request.uri();
        let scheme = semconv::server_scheme(uri.scheme_str());
        let query = uri
            .query()
            .map(|q| semconv::redact_query(q, self.config.sensitive_query.as_slice()));
        let (server_address, server_port) = semconv::server_address(uri, request.headers());
        let user_agent = request
            .headers()
            .get(http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok());
        let name_method = semconv::span_name_method(method);
        if let Some(metrics) = &self.config.metrics {
            metrics.started(method, scheme);
        }
        let span = obs_trace::span_with_remote_parent(
            obs_trace::extract(request.headers()),
            || {
                tracing::info_span!(
                    "HTTP request",
                    otel.name = %SpanName(name_method, route.as_ref().map(Route::as_str)),
                    otel.kind = "server",
                    otel.status_code = Empty,
                    http.request.method = method,
                    http.request.method_original = method_original,
                    http.route = route.as_ref().map(Route::as_str),
                    url.path = uri.path(),
                    url.query = query.as_deref(),
                    url.scheme = scheme,
                    server.address = server_address,
                    server.port = server_port,
                    client.address = route::client_address(request.extensions()).map(tracing::field::display),
                    network.protocol.version = semconv::protocol_version(request.version()),
                    user_agent.original = user_agent,
                    http.response.status_code = Empty,
                    error.type = Empty,
                )
            },
        );
        if !self.config.request_headers.is_empty() {
            self.config.request_headers.record(request.headers(), &span);
        }
        let call = HttpServerCall {
            config: self.config.clone(),
            start,
            method,
            route,
            scheme,
            outcome: Outcome::default(),
        };
        (span, call)
    }
}

/// The state of one request in flight through [`HttpServerLayer`].
#[derive(Debug)]
pub struct HttpServerCall {
    config: Arc<HttpConfig<ServerMetrics>>,
    start: Instant,
    method: &'static str,
    route: Option<Route>,
    scheme: &'static str,
    outcome: Outcome,
}

impl CallHooks for HttpServerCall {
    fn on_response<B>(&mut self, response: &Response<B>, span: &tracing::Span) {
        let (status, headers) = (response.status(), response.headers());
        self.outcome
            .response(status, headers, is_server_error, &self.config, span);
    }

    fn on_error(&mut self, error_type: &'static str, span: &tracing::Span) {
        self.outcome.error(ErrorType::Type(error_type), span);
    }

    fn on_end(self, _span: &tracing::Span) {
        if let Some(metrics) = &self.config.metrics {
            let elapsed = self.start.elapsed();
            let labels = ServerLabels {
                method: self.method,
                scheme: self.scheme,
                route: self.route,
                status: self.outcome.status,
                error: self.outcome.error,
            };
            metrics.ended(&labels, elapsed);
        }
    }
}
