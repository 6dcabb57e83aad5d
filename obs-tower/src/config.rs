//! What the HTTP server and client layers share: their configuration and how a call's
//! outcome is recorded on its span.

use std::sync::Arc;

use bytes::Buf;
use http::{HeaderMap, HeaderName, Method, Response, StatusCode};
use http_body::Body;

use crate::classify::{CANCELLED_ERROR_TYPE, ErrorType};
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
        self.request_headers = CapturedHeaders::new("http.request.header.", names);
    }

    pub(crate) fn set_response_headers(&mut self, names: impl IntoIterator<Item = HeaderName>) {
        self.response_headers = CapturedHeaders::new("http.response.header.", names);
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

    /// Ends the call's outcome: a response whose body was dropped before its end with more
    /// to deliver (`delivery`) fails with `error.type`
    /// [`CANCELLED`](crate::classify::CANCELLED_ERROR_TYPE). HTTP spans, `error.type`: set
    /// when the request "ends with an error", and a response that did not go through in
    /// full is one, whichever side dropped it (the server's client left, the client's
    /// caller stopped reading). Asked only of a body that did not finish: a completed
    /// response pays one test here.
    pub(crate) fn end(&mut self, delivery: &Delivery, span: &tracing::Span) {
        if !delivery.finished
            && self.error.is_none()
            && let Some(status) = self.status
            && delivery.undelivered(status)
        {
            self.error(ErrorType::Type(CANCELLED_ERROR_TYPE), span);
        }
    }
}

/// How much of a response body went through the layer, to tell a body dropped before its
/// end (the server's client left, the client's caller stopped reading) from one the
/// protocol needed no more of.
#[derive(Debug)]
pub(crate) struct Delivery {
    /// The request is a `HEAD`, whose response has no body.
    head: bool,
    /// The request is a `CONNECT`, whose 2xx response has no body.
    connect: bool,
    /// The body reached its end (or its trailers, the last frame there is).
    finished: bool,
    /// The body's length as the response announces it (`Content-Length`, or the body's
    /// exact size), if known.
    length: Option<u64>,
    /// Data bytes the body has given so far.
    passed: u64,
}

impl Delivery {
    /// Nothing delivered yet of the response to a `method` request.
    #[inline]
    pub(crate) fn new(method: &Method) -> Self {
        // One match on the method's tag for both.
        let (head, connect) = match *method {
            Method::HEAD => (true, false),
            Method::CONNECT => (false, true),
            _ => (false, false),
        };
        Delivery {
            head,
            connect,
            finished: false,
            length: None,
            passed: 0,
        }
    }

    /// The response head: the body's announced length, its exact size, else (a stream) the
    /// header an application sets for it. One size hint a response; the header is looked
    /// up for streams only.
    pub(crate) fn response<B: Body>(&mut self, response: &Response<B>) {
        self.length = response
            .body()
            .size_hint()
            .exact()
            .or_else(|| content_length(response.headers()));
    }

    /// A data frame of the body went by.
    #[inline]
    pub(crate) fn data<D: Buf>(&mut self, data: &D) {
        self.passed += data.remaining() as u64;
    }

    /// The body reached its end, or its trailers.
    #[inline]
    pub(crate) fn finish(&mut self) {
        self.finished = true;
    }

    /// Whether a response body dropped before its end (with no error) had more to deliver.
    /// Servers and clients stop polling a body the protocol needs no more of: the response
    /// to a `HEAD`, a 2xx to a `CONNECT`, a `1xx`, `204` or `304` (RFC 9110 §6.4.1), one
    /// whose announced length went through (hyper drops it then); only a peer that left, or
    /// a caller that stopped reading, stops them earlier.
    #[cold]
    fn undelivered(&self, status: StatusCode) -> bool {
        let bodiless = self.head
            || (self.connect && status.is_success())
            || status.is_informational()
            || status == StatusCode::NO_CONTENT
            || status == StatusCode::NOT_MODIFIED;
        !bodiless && self.length != Some(self.passed)
    }
}

/// The `Content-Length` of a response, if it has a valid one.
fn content_length(headers: &HeaderMap) -> Option<u64> {
    let value = headers.get(http::header::CONTENT_LENGTH)?;
    value.to_str().ok()?.parse().ok()
}
