//! [`HttpLayer`]: the builder the server and client layers share; only their instruments
//! and their [`Hooks`](crate::Hooks) differ.

use std::sync::Arc;

use http::{HeaderName, Method};
use tower_layer::Layer;

use crate::Instrumented;
use crate::config::HttpConfig;
use crate::semconv::KnownMethods;

/// An HTTP layer: [`HttpServerLayer`](crate::HttpServerLayer) (`M` =
/// [`ServerMetrics`](crate::ServerMetrics)) or [`HttpClientLayer`](crate::HttpClientLayer)
/// (`M` = [`ClientMetrics`](crate::ClientMetrics)). Use those names; this type carries the
/// configuration both share.
#[derive(Clone, Debug)]
pub struct HttpLayer<M> {
    pub(crate) config: Arc<HttpConfig<M>>,
}

/// The instruments an [`HttpLayer`] records into, registered once per layer. Implemented
/// by [`ServerMetrics`](crate::ServerMetrics) and [`ClientMetrics`](crate::ClientMetrics)
/// only.
pub trait HttpInstruments: Clone + std::fmt::Debug + sealed::Sealed {
    /// Registers the instruments in `registry`, or says on stderr why it could not (a name
    /// taken with another shape): telemetry never stops the service from starting.
    fn register(registry: &obs_metrics::Registry) -> Option<Self>;
}

pub(crate) mod sealed {
    /// Keeps [`HttpInstruments`](super::HttpInstruments) to this crate's two sides.
    pub trait Sealed {}
}

impl<M: HttpInstruments> Default for HttpLayer<M> {
    fn default() -> Self {
        Self::new()
    }
}

impl<M: HttpInstruments> HttpLayer<M> {
    /// A layer recording into [`obs_metrics::global()`], capturing no headers and
    /// redacting the default sensitive query parameters.
    pub fn new() -> Self {
        HttpLayer {
            config: HttpConfig::new(M::register(obs_metrics::global())),
        }
    }

    pub(crate) fn map(self, f: impl FnOnce(&mut HttpConfig<M>)) -> Self {
        HttpLayer {
            config: HttpConfig::update(self.config, f),
        }
    }

    /// Records these request headers as `http.request.header.<name>` (all values, as a
    /// string array). `Authorization`, `Proxy-Authorization`, `Cookie` and `Set-Cookie` are
    /// never recorded, even if listed, and a value marked
    /// [sensitive](http::HeaderValue::is_sensitive) (tower-http's `SetSensitiveHeadersLayer`
    /// marks them) is recorded as `REDACTED`. Defaults to none.
    pub fn with_request_headers(self, names: impl IntoIterator<Item = HeaderName>) -> Self {
        self.map(|c| c.set_request_headers(names))
    }

    /// Records these response headers as `http.response.header.<name>`, with the same
    /// rules as [`with_request_headers`](Self::with_request_headers). Defaults to none.
    pub fn with_response_headers(self, names: impl IntoIterator<Item = HeaderName>) -> Self {
        self.map(|c| c.set_response_headers(names))
    }

    /// Records the layer's metrics in `registry`: `http.server.request.duration` and
    /// `http.server.active_requests` for a server, `http.client.request.duration` for a
    /// client. Defaults to [`obs_metrics::global()`].
    pub fn with_registry(self, registry: &obs_metrics::Registry) -> Self {
        let metrics = M::register(registry);
        self.map(|c| c.metrics = metrics)
    }

    /// Also redacts the values of these query parameters (in `url.query` on a server, in
    /// `url.full` on a client), on top of the semantic conventions' list, which always
    /// is: `X-Amz-Signature`, `X-Amz-Credential`, `X-Amz-Security-Token`,
    /// `AWSAccessKeyId`, `Signature`, `sig` and `X-Goog-Signature`. Names match a
    /// parameter's key exactly, once percent-decoded (`%73ig` is `sig`).
    pub fn with_sensitive_query_params<I, P>(self, names: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: Into<String>,
    {
        self.map(|c| c.sensitive_query.extend(names))
    }

    /// Replaces the HTTP methods the layer knows: a method outside this list is recorded
    /// as `http.request.method` `_OTHER` (the span named `HTTP`, or `HTTP {route}`), with
    /// `http.request.method_original` on the span. Methods compare case-sensitively, and
    /// the list replaces the default rather than adding to it, as the HTTP semantic
    /// conventions require of this override. Defaults to the methods of RFC 9110, `PATCH`
    /// and `QUERY`; list extension methods your service serves (WebDAV's `PROPFIND`) so
    /// they keep their name. Each method becomes a metric label value: list only
    /// methods you expect.
    ///
    /// ```
    /// use http::Method;
    /// let propfind = Method::from_bytes(b"PROPFIND").unwrap();
    /// let layer = obs_tower::HttpServerLayer::new()
    ///     .with_known_methods([Method::GET, Method::PUT, Method::OPTIONS, propfind]);
    /// ```
    pub fn with_known_methods(self, methods: impl IntoIterator<Item = Method>) -> Self {
        let known = KnownMethods::new(methods);
        self.map(|c| c.known_methods = known)
    }
}

impl<S, M: Clone> Layer<S> for HttpLayer<M> {
    type Service = Instrumented<S, HttpLayer<M>>;

    fn layer(&self, inner: S) -> Self::Service {
        Instrumented::new(inner, self.clone())
    }
}
