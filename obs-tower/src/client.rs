//! [`HttpClientLayer`]: CLIENT spans, context injection and `http.client.request.duration`.

use std::sync::Arc;

use http::{HeaderMap, Method, Request, Response, StatusCode, Uri, Version};
use obs_trace::Stopwatch;
use tracing::field::Empty;

use crate::HttpLayer;
use crate::classify::{CANCELLED_ERROR_TYPE, ErrorType, is_client_error};
use crate::config::{HttpConfig, Outcome};
use crate::hooks::{CallError, CallHooks, CallSpan, Hooks};
use crate::metrics::{ClientLabels, ClientMetrics};
use crate::semconv;

/// A [`Layer`](tower_layer::Layer) for outgoing HTTP requests: hyper-util's legacy `Client`, or any tower
/// service taking an `http::Request`.
///
/// Per request it starts a CLIENT span named `{method}` (child of the current span),
/// writes that span's context into the request (`traceparent` replaced, so there is
/// exactly one, with a fresh parent id per call; `tracestate` when there is one, else
/// removed; `baggage` when there is any, else an application's own left as it is; only the formats [`obs_trace::propagators`] lists, both unless
/// `OTEL_PROPAGATORS` says otherwise, which may add B3: the others' headers are left as
/// they are), and ends
/// the span when the response body ends. 4xx and 5xx (and
/// codes above 599) mark the span as failed, as does an error of the inner service or a panic
/// (`error.type` [`panic`](crate::classify::PANIC_ERROR_TYPE)).
///
/// A caller that drops the response body before its end ends the span and
/// `http.client.request.duration` there, with the status received and not failed: a client
/// stops reading on purpose (a stream it is done with, a response whose head was all it
/// needed), and the HTTP conventions let a client span end once the head is read ("This
/// may or may not include reading the response body"). The reqwest middleware, which never
/// sees the body, ends with the head; the two agree on the outcome. A body that fails while
/// being read fails the span.
///
/// A relative URI is completed from the `Host` header (hyper's connection-level senders
/// take origin-form requests). With no host from either, or one that is no valid
/// `host[:port]` (`Host: exa mple.com`, a port past 65535), the target is unknown to the
/// layer: the span has no `url.full` (the conventions want an absolute URL; `http:///path`
/// would be an invalid one), no `server.address` and no `server.port` (the port goes only
/// with an address). Credentials in the authority show as `REDACTED:REDACTED@` in
/// `url.full`; an IPv6 literal keeps its brackets there and loses them in
/// `server.address`; `server.port` is the scheme's default port when the URI names none.
///
/// A call the caller drops before the response head arrives (it gave up, or a timeout
/// around the layer, tower's or `tokio::time::timeout`, fired) ends failed, with `error.type`
/// [`CANCELLED`](crate::classify::CANCELLED_ERROR_TYPE) and no status. A timeout inside the
/// layer (`ServiceBuilder::new().layer(HttpClientLayer::new()).timeout(..)`) fails it with
/// its own error instead (`error.type` `_OTHER`, the fallback for a boxed error).
///
/// A retry or redirect layer wrapped around this one (tower's `Retry`, tower-http's
/// `FollowRedirect`) sends each attempt through it: a span and a fresh `traceparent` per
/// attempt, as the HTTP semantic conventions want. Those layers resend their own copy of
/// the request, so no attempt can tell it is a resend: `http.request.resend_count` is not
/// recorded (the reqwest middleware records it).
///
/// Configured with the builder methods of [`HttpLayer`].
///
/// ```no_run
/// use bytes::Bytes;
/// use http_body_util::{BodyExt, Empty};
/// use hyper_util::client::legacy::Client;
/// use hyper_util::rt::TokioExecutor;
/// use obs_tower::{HttpClientLayer, Layer};
/// use tower::ServiceExt; // `oneshot`; or call through `tower_service::Service`
///
/// # async fn call() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// // Once, as the connection pool is: clones share it.
/// let client =
///     HttpClientLayer::new().layer(Client::builder(TokioExecutor::new()).build_http());
///
/// let request = http::Request::get("http://127.0.0.1:3000/users/7")
///     .body(Empty::<Bytes>::new())?;
/// let response = client.clone().oneshot(request).await?;
/// // The span and `http.client.request.duration` end with the body: read it to its end.
/// let body = response.into_body().collect().await?.to_bytes();
/// # let _ = body;
/// # Ok(())
/// # }
/// ```
pub type HttpClientLayer = HttpLayer<ClientMetrics>;

impl<B> Hooks<B> for HttpClientLayer {
    type Call = HttpClientCall;

    fn on_request(&self, request: &mut Request<B>) -> (CallSpan, HttpClientCall) {
        // No resend count: see the type's docs on retry and redirect layers.
        // An `http::Uri` has no fragment to give.
        let (span, call) = self.start(
            request.method(),
            request.uri(),
            request.headers(),
            None,
            None,
        );
        inject(&span, request.headers_mut());
        (span.into(), call)
    }
}

/// Writes the context of the client `span` into `headers`. Inside the span the current
/// context is the span's own; if the span is disabled, it is the caller's, so the trace
/// still goes on.
pub(crate) fn inject(span: &tracing::Span, headers: &mut HeaderMap) {
    span.in_scope(|| obs_trace::inject_current(headers));
}

impl HttpClientLayer {
    /// Starts the CLIENT span and the call state of a request (headers not yet injected);
    /// `resend_count` is `http.request.resend_count`, for a resent request only, and
    /// `fragment` the URL's fragment, when the client knows it (`url.full`: "the fragment
    /// is not transmitted over HTTP, but if it is known, it SHOULD be included").
    pub(crate) fn start(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        resend_count: Option<u32>,
        fragment: Option<&str>,
    ) -> (tracing::Span, HttpClientCall) {
        let start = Stopwatch::start();
        let (method, method_original) = semconv::method(method, &self.config.known_methods);
        let (address, port) = semconv::server_address(uri, headers);
        // Semconv: `server.port` only with `server.address`.
        let port = address.and(port.or_else(|| semconv::default_port(uri.scheme_str())));
        let mut url = semconv::full_url(uri, headers, self.config.sensitive_query.as_slice());
        if let (Some(url), Some(fragment)) = (url.as_mut(), fragment) {
            url.push('#');
            url.push_str(fragment);
        }
        let span = tracing::info_span!(
            "HTTP request",
            otel.name = semconv::span_name_method(method),
            otel.kind = "client",
            otel.status_code = Empty,
            http.request.method = method,
            http.request.method_original = method_original,
            server.address = address,
            server.port = port,
            url.full = url,
            http.request.resend_count = resend_count,
            http.response.status_code = Empty,
            network.protocol.version = Empty,
            error.type = Empty,
        );
        if !self.config.request_headers.is_empty() {
            self.config.request_headers.record(headers, &span);
        }
        let call = HttpClientCall {
            config: self.config.clone(),
            start,
            method,
            address: address.map(str::to_owned),
            port,
            protocol: None,
            outcome: Outcome::default(),
        };
        (span, call)
    }
}

/// The state of one request in flight through [`HttpClientLayer`].
#[derive(Debug)]
pub struct HttpClientCall {
    config: Arc<HttpConfig<ClientMetrics>>,
    start: Stopwatch,
    method: &'static str,
    address: Option<String>,
    port: Option<u16>,
    /// `network.protocol.version`, once a response told it.
    protocol: Option<&'static str>,
    outcome: Outcome,
}

impl CallHooks for HttpClientCall {
    fn on_response<B: http_body::Body>(&mut self, response: &Response<B>, span: &tracing::Span) {
        self.record_response(
            response.status(),
            response.version(),
            response.headers(),
            span,
        );
    }

    fn on_error(&mut self, error: CallError<'_>, span: &tracing::Span) {
        self.outcome
            .error(ErrorType::Type(error.error_type()), span);
    }

    fn on_end(mut self, span: &tracing::Span) {
        // Neither a response nor an error: the caller dropped the call first (gave up, or a
        // timeout around the layer fired). The request ended without a response, which the
        // HTTP conventions count as an error ("fails with an error before response status
        // code was ... received"). Their exception, a cancellation "the instrumentation can
        // detect ... was cancelled intentionally by the caller", does not apply: a dropped
        // future looks the same whether a timeout or a deliberate abort dropped it.
        if self.outcome.status.is_none() && self.outcome.error.is_none() {
            self.outcome
                .error(ErrorType::Type(CANCELLED_ERROR_TYPE), span);
        }
        if let Some(metrics) = &self.config.metrics {
            let elapsed = self.start.elapsed();
            let labels = ClientLabels {
                method: self.method,
                address: self.address,
                port: self.port,
                protocol: self.protocol,
                status: self.outcome.status,
                error: self.outcome.error,
            };
            metrics.ended(&labels, elapsed);
        }
    }
}

impl HttpClientCall {
    /// Records the response head (also for clients whose responses are not
    /// `http::Response`s). `network.protocol.version` is the response's: the version the
    /// connection really spoke (a request says HTTP/1.1 by default, and ALPN may make it 2).
    pub(crate) fn record_response(
        &mut self,
        status: StatusCode,
        version: Version,
        headers: &HeaderMap,
        span: &tracing::Span,
    ) {
        self.protocol = semconv::protocol_version(version);
        if let Some(version) = self.protocol {
            span.record("network.protocol.version", version);
        }
        self.outcome
            .response(status, headers, is_client_error, &self.config, span);
    }
}
