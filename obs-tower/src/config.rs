//! What the HTTP server and client layers share: their configuration and how a call's
//! outcome is recorded on its span.

use std::sync::Arc;

use http::{HeaderMap, HeaderName, StatusCode};

use crate::classify::ErrorType;
use crate::headers::CapturedHeaders;
use crate::semconv::{KnownMethods, SensitiveQueryParams};

/// The configuration of an HTTP layer; `M` is its metrics (server or client instruments).
/// Shared by every service clone and every call through an `Arc`.
#[derive(Clone, Debug)]
pub(crate) struct HttpConfig<M> {
    pub(crate) request_headers: CapturedHeaders,
    pub(crate) response_headers: CapturedHeaders,
    pub(crate) sensitive_query: SensitiveQueryParams,
    pub(crate) known_methods: KnownMethods,
    /// Whether a server reads proxy headers (set only through
    /// [`HttpServerLayer::with_forwarded_headers`](crate::HttpServerLayer::with_forwarded_headers)).
    pub(crate) forwarded_headers: bool,
    /// `url.scheme` of a request whose target names no scheme: `https` on a server that
    /// terminates TLS itself (set only through
    /// [`HttpServerLayer::with_tls`](crate::HttpServerLayer::with_tls)), else `http`.
    pub(crate) unnamed_scheme: &'static str,
    pub(crate) metrics: Option<M>,
}

impl<M: Clone> HttpConfig<M> {
    /// No captured headers, the default sensitive query parameters and known methods, no
    /// proxy headers, and `metrics`.
    pub(crate) fn new(metrics: Option<M>) -> Arc<Self> {
        Arc::new(HttpConfig {
            request_headers: CapturedHeaders::default(),
            response_headers: CapturedHeaders::default(),
            sensitive_query: SensitiveQueryParams::default(),
            known_methods: KnownMethods::default(),
            forwarded_headers: false,
            unnamed_scheme: "http",
            metrics,
        })
    }

    /// A copy of `config` changed by `f` (builders run before any call, so the copy is
    /// usually the only owner and nothing is cloned).
    pub(crate) fn update(config: Arc<Self>, f: impl FnOnce(&mut Self)) -> Arc<Self> {
        let mut config = Arc::unwrap_or_clone(config);
        f(&mut config);
        Arc::new(config)
    }

    pub(crate) fn set_request_headers(&mut self, names: impl IntoIterator<Item = HeaderName>) {
        self.request_headers = CapturedHeaders::new(&["http.request.header."], names);
    }

    pub(crate) fn set_response_headers(&mut self, names: impl IntoIterator<Item = HeaderName>) {
        self.response_headers = CapturedHeaders::new(&["http.response.header."], names);
    }
}

/// The outcome of a call so far: what the metrics are labelled with at the end.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    pub(crate) status: Option<StatusCode>,
    pub(crate) error: Option<ErrorType>,
}

impl Outcome {
    /// Records the response status (an error when `is_error` says so, per the span kind)
    /// and the captured response headers.
    pub(crate) fn response<M>(
        &mut self,
        status: StatusCode,
        headers: &HeaderMap,
        is_error: fn(StatusCode) -> bool,
        config: &HttpConfig<M>,
        span: &tracing::Span,
    ) {
        self.status = Some(status);
        span.record("http.response.status_code", status.as_u16());
        if is_error(status) {
            self.error(ErrorType::Status(status), span);
        }
        if !config.response_headers.is_empty() {
            config.response_headers.record(headers, span);
        }
    }

    /// Records a failure: `error.type` and the span status.
    pub(crate) fn error(&mut self, error: ErrorType, span: &tracing::Span) {
        span.record("error.type", error.as_str());
        span.record("otel.status_code", "error");
        self.error = Some(error);
    }
}
