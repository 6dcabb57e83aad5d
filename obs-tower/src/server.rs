//! [`HttpServerLayer`]: SERVER spans and `http.server.*` metrics for incoming requests.

use std::borrow::Cow;
use std::cell::RefCell;
use std::sync::Arc;

use bytes::Buf;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, Version};
use http_body::Body;
use obs_trace::opentelemetry::trace::SpanKind;
use obs_trace::{SpanStart, Stopwatch};
use tracing::field::Empty;

use crate::HttpLayer;
use crate::classify::{
    CANCELLED_ERROR_TYPE, CONTENT_LENGTH_MISMATCH_ERROR_TYPE, ErrorType, is_server_error,
};
use crate::config::{HttpConfig, Outcome};
use crate::forwarded::ProxyHeaders;
use crate::hooks::{CallError, CallHooks, CallSpan, Hooks};
use crate::metrics::{ServerLabels, ServerMetrics};
use crate::route::{self, Route};
use crate::semconv;
use crate::semconv::SpanName;

/// A [`Layer`](tower_layer::Layer) that traces and measures every incoming HTTP request, for axum, hyper or
/// any tower HTTP service.
///
/// Per request it extracts the caller's W3C context (`traceparent`, `tracestate`, `baggage`;
/// only the formats [`obs_trace::propagators`] lists, both unless `OTEL_PROPAGATORS` says
/// otherwise, which may add B3), starts a SERVER span named `{method} {route}` (`{method}` when no route template
/// is known) with the stable HTTP semantic-convention attributes, runs the inner service inside
/// it, and ends it when the response body has been sent. A status of 5xx (or above, see
/// [`classify`](crate::classify)), or an error of the inner service or of the response body (a
/// stream failing mid-way), marks the span as failed; 4xx does not (it is the client's error).
/// So does a panic of the inner service or of the body, with `error.type`
/// [`panic`](crate::classify::PANIC_ERROR_TYPE) on the span and the duration, even when a layer
/// further out (tower-http's `CatchPanic`) turns it into a response. The response and error
/// types are not changed.
///
/// A client that leaves (closes its connection, resets its HTTP/2 stream) ends the span
/// when the server drops the call. Before the response, with no status and no failure
/// (nothing was left undelivered). During the body, with the status sent, failed with
/// `error.type` [`CANCELLED`](crate::classify::CANCELLED_ERROR_TYPE): the response did not
/// reach the client in full. A body the server stops polling because the protocol needs
/// no more of it (a `HEAD` request, a 2xx to a `CONNECT`, `1xx`, `204`, `304`, its
/// `Content-Length` or exact size reached, or passed over HTTP/1.1: hyper sends no more
/// than announced) is delivered, not failed, though it never said it ended. A body that
/// ends short of its `Content-Length`, or passes it over HTTP/2, leaves the client a
/// malformed response, and fails with `error.type`
/// [`content_length_mismatch`](crate::classify::CONTENT_LENGTH_MISMATCH_ERROR_TYPE).
///
/// Other `tracing` layers (JSON logs, say) see the span's name, `http.request.method`,
/// `http.route` and, once known, `http.response.status_code` and `error.type`; the URL,
/// address and user-agent attributes are handed to `obs_trace::SpanLayer` directly, and
/// only for spans it records.
///
/// With the `axum` feature the route comes from [`MatchedPath`]: add the layer with
/// `Router::layer` (which runs after routing), not around the router from outside; routes
/// added to the router after that call (a health check probed every few seconds, say) are
/// neither traced nor measured. That is
/// axum 0.8's `MatchedPath`: a router of another axum release compiles with the layer (both
/// speak `http` 1) but its routes are never found, so spans are named by method alone. In a
/// router nested with `Router::nest`, `url.path` and `url.query` come from axum's
/// `OriginalUri`, the URI as received, not the one with the nest's prefix stripped.
///
/// `client.address` and `network.peer.*` come from axum's `ConnectInfo` (serve with
/// `into_make_service_with_connect_info::<SocketAddr>()`); other servers, plain hyper say,
/// put a [`PeerAddr`](crate::PeerAddr) into each request's extensions.
///
/// Add it after (around) the layers that answer on their own, tower-http's `TimeoutLayer`
/// say, so that the span and the metrics get the response the client does: a layer
/// around this one that answers in its place (a timeout's `408` or `503`) drops the call
/// inside, which then ends as if the client had left, with no status and no error. A
/// panic is the exception: it is recorded wherever it is caught. Likewise for a layer
/// around this one that replaces the response it gets (axum's `map_response` swapping the
/// body for an error page, say): the body this layer handed out is dropped unread, which
/// is what a client leaving mid-body looks like, so the call fails with `error.type`
/// [`CANCELLED`](crate::classify::CANCELLED_ERROR_TYPE), its `4xx` too. Put such layers
/// inside this one, where the response they make is the one measured.
///
/// Behind a reverse proxy, [`with_forwarded_headers`](Self::with_forwarded_headers) takes
/// the original request's address, scheme and client from the proxy's headers.
///
/// A server that terminates TLS itself says so with [`with_tls`](Self::with_tls): an
/// HTTP/1.1 request does not tell, and `url.scheme` would read `http`.
///
/// Configured with the builder methods of [`HttpLayer`].
///
/// [`MatchedPath`]: https://docs.rs/axum/0.8/axum/extract/struct.MatchedPath.html
pub type HttpServerLayer = HttpLayer<ServerMetrics>;

impl HttpServerLayer {
    /// Takes `server.address` and `server.port`, `url.scheme` (on spans and metrics) and
    /// `client.address` of the original request from the headers of a reverse proxy, as
    /// the HTTP semantic conventions recommend: from `Forwarded` (RFC 7239: `host=`,
    /// `proto=`, `for=`), else `X-Forwarded-Host`, `X-Forwarded-Proto` and
    /// `X-Forwarded-For`; from the request itself when they are absent or do not parse.
    /// Only the first element of each header is read, the one about the client's request;
    /// `url.scheme` is taken only if it is `http` or `https`. The immediate
    /// peer (axum's `ConnectInfo`, or a [`PeerAddr`](crate::PeerAddr)), the proxy, stays `network.peer.address` and
    /// `network.peer.port`.
    ///
    /// Enable this only behind a proxy you trust to *overwrite* these headers (nginx's
    /// `proxy_set_header X-Forwarded-For $remote_addr`, not `$proxy_add_x_forwarded_for`,
    /// which appends): a client can send them too, and a proxy that appends keeps the
    /// client's forged values first. The values are only recorded, never acted on.
    /// Defaults to off (the headers are not even read).
    ///
    /// ```
    /// let layer = obs_tower::HttpServerLayer::new().with_forwarded_headers(true);
    /// ```
    pub fn with_forwarded_headers(self, enabled: bool) -> Self {
        self.map(|c| c.forwarded_headers = enabled)
    }

    /// Tells the layer that the server terminates TLS itself (a listener that completes
    /// the handshake, as `axum-server`'s `bind_rustls` or hyper behind `tokio-rustls` do):
    /// `url.scheme` (on spans and metrics) is then `https` for requests whose target names
    /// no scheme, which every HTTP/1.1 request's origin-form target is (`GET /path`), so
    /// that nothing else can tell the layer. HTTP/2's `:scheme` is taken as sent, and a
    /// trusted proxy's header ([`with_forwarded_headers`](Self::with_forwarded_headers))
    /// still comes first. For a server with a plaintext listener besides, give each its
    /// own layer (the router cloned). Defaults to off (`http`).
    ///
    /// ```
    /// let layer = obs_tower::HttpServerLayer::new().with_tls(true);
    /// ```
    pub fn with_tls(self, enabled: bool) -> Self {
        self.map(|c| c.unnamed_scheme = if enabled { "https" } else { "http" })
    }
}

impl<B> Hooks<B> for HttpServerLayer {
    type Call = HttpServerCall;

    fn on_request(&self, request: &mut Request<B>) -> (CallSpan, HttpServerCall) {
        let start = Stopwatch::start();
        let (method, method_original) =
            semconv::method(request.method(), &self.config.known_methods);
        let route = Route::of(request.extensions());
        // Opt-in: by default no proxy header is even looked up.
        let proxy = self
            .config
            .forwarded_headers
            .then(|| ProxyHeaders::new(request.headers()));
        let scheme = proxy
            .as_ref()
            .and_then(ProxyHeaders::scheme)
            .unwrap_or_else(|| {
                semconv::server_scheme(request.uri().scheme_str(), self.config.unnamed_scheme)
            });
        let name = SpanName::new(
            semconv::span_name_method(method),
            route.as_ref().map(Route::as_str),
        );
        if let Some(metrics) = &self.config.metrics {
            metrics.started(method, scheme);
        }
        // The span's identifying fields are `tracing` fields for the other layers (logs
        // included); the span layer is handed them and the rest of the request attributes
        // typed, worked out only when the span records.
        let (span, untraced_parent) = obs_trace::extract(request.headers()).span_or_parent(
            || {
                tracing::info_span!(
                    "HTTP request",
                    // Fields recorded later come first: `Span::record` finds a field by
                    // comparing names from the front.
                    http.response.status_code = Empty,
                    error.type = Empty,
                    otel.status_code = Empty,
                    otel.name = name.as_str(),
                    otel.kind = "server",
                    http.request.method = method,
                    http.route = route.as_ref().map(Route::as_str),
                    http.request.method_original = Empty,
                    url.path = Empty,
                    url.query = Empty,
                    url.scheme = Empty,
                    server.address = Empty,
                    server.port = Empty,
                    client.address = Empty,
                    network.protocol.version = Empty,
                    user_agent.original = Empty,
                )
            },
            |start| {
                let span_name = name.to_cow();
                // The route is the end of the interned name: no second lookup.
                let route = route.as_ref().map(|route| {
                    let route = route.as_str();
                    match &span_name {
                        Cow::Borrowed(name) if name.ends_with(route) => {
                            Cow::Borrowed(&name[name.len() - route.len()..])
                        }
                        _ => obs_trace::intern(route),
                    }
                });
                start.set_name(span_name);
                start.set_kind(SpanKind::Server);
                start.push_str("http.request.method", method);
                if let Some(route) = route {
                    start.push_str("http.route", route);
                }
                let proxy = proxy.as_ref();
                request_attributes(request, method_original, scheme, proxy, &self.config, start);
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
            protocol: semconv::protocol_version(request.version()),
            outcome: Outcome::default(),
            delivery: Delivery::new(request.method(), request.version()),
        };
        (
            CallSpan {
                span,
                untraced_parent,
            },
            call,
        )
    }
}

/// The request attributes of a recording server span, besides the method and route.
fn request_attributes<B, M>(
    request: &Request<B>,
    method_original: Option<&str>,
    scheme: &'static str,
    proxy: Option<&ProxyHeaders<'_>>,
    config: &HttpConfig<M>,
    start: &mut SpanStart<'_>,
) {
    let uri = request.uri();
    let headers = request.headers();
    if let Some(original) = method_original {
        start.push_str("http.request.method_original", original.to_owned());
    }
    // A nested router's request has lost the nest's prefix: the path is the one received.
    // An authority-form target (`CONNECT host:port`) and an asterisk-form one (`OPTIONS *`)
    // have an empty path, recorded as such: `url.path` is Required and is the URI's path
    // component, and the target URI rebuilt from such a request has an empty path and query
    // (RFC 9112 §3.3), which "" says (the conventions tell an empty value from an unknown
    // one). `http` gives the asterisk as the path, so it is mapped here (one comparison).
    let target = route::original_uri(request.extensions()).unwrap_or(uri);
    let path = match target.path() {
        "*" => "",
        path => path,
    };
    start.push_str("url.path", path.to_owned());
    if let Some(query) = target.query() {
        let query = semconv::redact_query(query, config.sensitive_query.as_slice());
        start.push_str("url.query", query.into_owned());
    }
    start.push_str("url.scheme", scheme);
    let (server_address, server_port) = match proxy.and_then(ProxyHeaders::server_address) {
        // The client's to choose: copied, as interning made-up hosts would fill the
        // interner for good.
        Some((address, port)) => (Some(Cow::Owned(address)), port),
        None => semconv::interned_server_address(uri, headers),
    };
    if let Some(address) = server_address {
        start.push_str("server.address", address);
    }
    if let Some(port) = server_port {
        start.push_i64("server.port", i64::from(port));
    }
    let peer = route::peer_address(request.extensions());
    // A socket bound to `[::]` sees IPv4 clients as IPv4-mapped IPv6 (`::ffff:192.0.2.7`):
    // the client's address is the IPv4 one it connected from (and the one a proxy's
    // `X-Forwarded-For` names).
    let peer_ip = peer.map(|peer| peer.ip().to_canonical().to_string());
    // `client.address` is the original client: a proxy's header when trusted, else the
    // peer itself.
    match proxy.and_then(ProxyHeaders::client_address) {
        Some(client) => start.push_str("client.address", client),
        None => {
            if let Some(ip) = &peer_ip {
                start.push_str("client.address", ip.clone());
            }
        }
    }
    // `network.peer.*` (Recommended on HTTP server spans) is the immediate peer: the
    // proxy, when there is one.
    if let (Some(peer), Some(ip)) = (peer, peer_ip) {
        start.push_str("network.peer.address", ip);
        start.push_i64("network.peer.port", i64::from(peer.port()));
    }
    if let Some(version) = semconv::protocol_version(request.version()) {
        start.push_str("network.protocol.version", version);
    }
    if let Some(user_agent) = headers.get(http::header::USER_AGENT) {
        start.push_shared_str("user_agent.original", user_agent_original(user_agent));
    }
}

/// `user_agent.original`: the header's value as sent. `to_str` (the cheap check) takes
/// visible ASCII only: a UTF-8 user agent (device names in them are common) is taken as
/// UTF-8, and bytes that are not UTF-8 become U+FFFD rather than losing the attribute.
///
/// A client sends the same user agent request after request: each thread keeps the last
/// one it saw (if no longer than [`SHARED_USER_AGENT_MAX`]), and a request that repeats it
/// shares it, where its own copy would cost a check of every byte, an allocation and, once
/// the span is exported, a free. Only a value whose text is the header's bytes is kept, so
/// a repeat is the same text whichever way it was read.
fn user_agent_original(value: &HeaderValue) -> Arc<str> {
    thread_local! {
        static LAST: RefCell<Option<Arc<str>>> = const { RefCell::new(None) };
    }
    let bytes = value.as_bytes();
    let last = LAST.try_with(|last| {
        let last = last.try_borrow().ok()?;
        last.as_ref()
            .filter(|last| last.as_bytes() == bytes)
            .cloned()
    });
    if let Ok(Some(shared)) = last {
        return shared;
    }
    let text: Arc<str> = match value.to_str() {
        Ok(ascii) => Arc::from(ascii),
        Err(_) => Arc::from(String::from_utf8_lossy(bytes)),
    };
    if text.len() <= SHARED_USER_AGENT_MAX && text.as_bytes() == bytes {
        let _ = LAST.try_with(|last| {
            if let Ok(mut last) = last.try_borrow_mut() {
                *last = Some(Arc::clone(&text));
            }
        });
    }
    text
}

/// The longest user agent a thread keeps for the next request (browsers' are 100 to 200
/// bytes).
const SHARED_USER_AGENT_MAX: usize = 512;

/// How much of a response body went through the layer, to tell a body dropped before its
/// end because the client left from one the protocol needed no more of, and a body that
/// did not match the length its head announced.
#[derive(Debug)]
struct Delivery {
    /// The request is a `HEAD`, whose response has no body.
    head: bool,
    /// The request is a `CONNECT`, whose 2xx response has no body.
    connect: bool,
    /// The connection is HTTP/1, where the server sends no more than the announced length
    /// (hyper cuts the rest off): a body past it still gives a complete response.
    cuts_excess: bool,
    /// The body reached its end (or its trailers, the last frame there is).
    finished: bool,
    /// The body's length as the response announces it (`Content-Length`, or the body's
    /// exact size), if known.
    length: Option<u64>,
    /// Data bytes the body has given so far.
    passed: u64,
}

impl Delivery {
    /// Nothing delivered yet of the response to a `method` request over `version`.
    #[inline]
    fn new(method: &Method, version: Version) -> Self {
        // One match on the method's tag for both.
        let (head, connect) = match *method {
            Method::HEAD => (true, false),
            Method::CONNECT => (false, true),
            _ => (false, false),
        };
        Delivery {
            head,
            connect,
            cuts_excess: version <= Version::HTTP_11,
            finished: false,
            length: None,
            passed: 0,
        }
    }

    /// The response head: the body's announced length, its exact size (which hyper frames
    /// the response by, whatever the header says), else (a stream) the header an
    /// application sets for it. One size hint a response; the header is looked up for
    /// streams only.
    fn response<B: Body>(&mut self, response: &Response<B>) {
        self.length = response
            .body()
            .size_hint()
            .exact()
            .or_else(|| content_length(response.headers()));
    }

    /// A data frame of the body went by.
    #[inline]
    fn data<D: Buf>(&mut self, data: &D) {
        self.passed += data.remaining() as u64;
    }

    /// The body reached its end, or its trailers.
    #[inline]
    fn finish(&mut self) {
        self.finished = true;
    }

    /// Ends the call's outcome: a response whose body was dropped before its end with more
    /// to deliver fails with `error.type`
    /// [`CANCELLED`](crate::classify::CANCELLED_ERROR_TYPE), one whose body did not match
    /// its announced length with
    /// [`content_length_mismatch`](crate::classify::CONTENT_LENGTH_MISMATCH_ERROR_TYPE).
    /// HTTP spans, `error.type`: set when the request "ends with an error", and a response
    /// that did not reach the client in full is one. A completed response pays one match
    /// and a comparison or two here.
    fn end(&self, outcome: &mut Outcome, span: &tracing::Span) {
        // Framed by its length, the response is short of it (the client awaits the rest)
        // or, where nothing cuts it, past it; with no length, it never reached its end.
        let incomplete = match self.length {
            Some(length) => self.passed < length || (self.passed > length && !self.cuts_excess),
            None => !self.finished,
        };
        if incomplete
            && outcome.error.is_none()
            && let Some(status) = outcome.status
            && !self.bodiless(status)
        {
            outcome.error(ErrorType::Type(self.failure()), span);
        }
    }

    /// Whether the response has no body to deliver, whatever its head announces: servers
    /// stop polling the body of the response to a `HEAD`, of a 2xx to a `CONNECT`, a
    /// `1xx`, `204` or `304` (RFC 9110 §6.4.1). Asked only of an incomplete body.
    #[cold]
    fn bodiless(&self, status: StatusCode) -> bool {
        self.head
            || (self.connect && status.is_success())
            || status.is_informational()
            || status == StatusCode::NO_CONTENT
            || status == StatusCode::NOT_MODIFIED
    }

    /// The `error.type` of an incomplete body: a body that ended, or went past its length,
    /// did not match it (the server's doing); one dropped short of it lost its client.
    #[cold]
    fn failure(&self) -> &'static str {
        if self.finished || self.length.is_some_and(|length| self.passed > length) {
            CONTENT_LENGTH_MISMATCH_ERROR_TYPE
        } else {
            CANCELLED_ERROR_TYPE
        }
    }
}

/// The `Content-Length` of a response, if it has a valid one.
fn content_length(headers: &HeaderMap) -> Option<u64> {
    let value = headers.get(http::header::CONTENT_LENGTH)?;
    value.to_str().ok()?.parse().ok()
}

/// The state of one request in flight through [`HttpServerLayer`].
#[derive(Debug)]
pub struct HttpServerCall {
    config: Arc<HttpConfig<ServerMetrics>>,
    start: Stopwatch,
    method: &'static str,
    route: Option<Route>,
    scheme: &'static str,
    protocol: Option<&'static str>,
    outcome: Outcome,
    delivery: Delivery,
}

impl CallHooks for HttpServerCall {
    fn on_response<B: Body>(&mut self, response: &Response<B>, span: &tracing::Span) {
        let (status, headers) = (response.status(), response.headers());
        self.outcome
            .response(status, headers, is_server_error, &self.config, span);
        self.delivery.response(response);
    }

    #[inline]
    fn on_data<D: Buf>(&mut self, data: &D) {
        self.delivery.data(data);
    }

    fn on_trailers(&mut self, _trailers: &HeaderMap, _span: &tracing::Span) {
        self.delivery.finish();
    }

    #[inline]
    fn on_finished(&mut self, _span: &tracing::Span) {
        self.delivery.finish();
    }

    fn on_error(&mut self, error: CallError<'_>, span: &tracing::Span) {
        self.outcome
            .error(ErrorType::Type(error.error_type()), span);
    }

    fn on_end(mut self, span: &tracing::Span) {
        // A client that left mid-body: the response did not reach it in full.
        self.delivery.end(&mut self.outcome, span);
        if let Some(metrics) = &self.config.metrics {
            let elapsed = self.start.elapsed();
            let labels = ServerLabels {
                method: self.method,
                scheme: self.scheme,
                route: self.route,
                protocol: self.protocol,
                status: self.outcome.status,
                error: self.outcome.error,
            };
            metrics.ended(&labels, elapsed);
        }
    }
}
