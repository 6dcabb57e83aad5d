//! `reqwest` support (feature `reqwest`): [`TracingMiddleware`], a `reqwest-middleware`
//! middleware with the behaviour of [`HttpClientLayer`].
//!
//! ```no_run
//! use obs_tower::HttpClientLayer;
//! use obs_tower::reqwest::{TracingMiddleware, reqwest, reqwest_middleware};
//!
//! # async fn call() -> Result<(), reqwest_middleware::Error> {
//! let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
//!     .with(TracingMiddleware::new(HttpClientLayer::new()))
//!     .build();
//! let response = client.get("http://127.0.0.1:3000/users/7").send().await?;
//! # let _ = response;
//! # Ok(())
//! # }
//! ```
//!
//! The middleware only fits the `reqwest-middleware` release it implements `Middleware` of,
//! and that release only takes its own `reqwest`'s clients: both are re-exported here, so an
//! application builds its client with them (or depends on the versions this crate's
//! `Cargo.toml` names) instead of finding the pairing by compile errors. This crate turns
//! on none of `reqwest`'s features: an application that calls `https://` URLs (or wants
//! HTTP/2, proxies from the environment, ...) also depends on `reqwest` itself with those
//! features, which Cargo then enables on this same `reqwest`.
//!
//! One difference with the tower layer: `reqwest` hands the response body to the caller,
//! so the CLIENT span and `http.client.request.duration` end when the response head
//! arrives, not when the body has been read. Others: `reqwest` tells the address it
//! connected to, which a response's span records as `network.peer.address` and
//! `network.peer.port`, and its URLs keep their fragment, which `url.full` includes (the
//! conventions want it included when known, though it is never sent).
//!
//! Resends, as the HTTP semantic conventions count them: a retry middleware added *before*
//! this one (`reqwest-retry`'s `RetryTransientMiddleware`) sends each attempt through it,
//! so each attempt is a CLIENT span of its own with a fresh `traceparent`, and the resends
//! carry `http.request.resend_count` (1, 2, ...). Added after it, one span covers all the
//! attempts. Redirects are followed inside `reqwest::Client`, below every middleware: one
//! span covers the whole chain (the conventions' span for "the top-most operation", when a
//! library has no hook per attempt), with the first request's `url.full` and the last
//! response's status and peer, and every hop receives the same `traceparent`. For a span per hop,
//! build the client with `reqwest::redirect::Policy::none()` and follow redirects in a
//! middleware added before this one: each hop is then a resend. reqwest's own retries
//! (`ClientBuilder::retry`, and by default those of a request an HTTP/2 server refused
//! before processing it) are made below every middleware too, within the same one span
//! and without a resend count.
//!
//! `error.type` of a request that got no response: `timeout` (reqwest's timeouts, connect
//! timeouts included), `connect` (no connection: refused, unreachable, DNS), else
//! `reqwest::Error` or, for an error of another middleware further down,
//! `reqwest_middleware::Error`. With a response, it is the status code for 4xx and 5xx.

use std::future::Future;
use std::pin::Pin;

use http::{Extensions, Uri};
use reqwest_middleware::{Middleware, Next};
use tracing::Instrument;

use crate::HttpClientLayer;
use crate::hooks::{Call, CallError, CallHooks};

/// The `reqwest` whose clients [`reqwest_middleware::ClientBuilder`] takes.
pub use reqwest;
/// The `reqwest-middleware` whose `Middleware` [`TracingMiddleware`] implements.
pub use reqwest_middleware;

/// A `reqwest-middleware` middleware: a CLIENT span per request, its context injected
/// (`traceparent`, `tracestate`, `baggage`: the formats `OTEL_PROPAGATORS` chooses), and
/// `http.client.request.duration`, as [`HttpClientLayer`] configures them.
#[derive(Clone, Debug, Default)]
pub struct TracingMiddleware {
    layer: HttpClientLayer,
}

impl TracingMiddleware {
    /// A middleware that behaves as `layer` does.
    pub fn new(layer: HttpClientLayer) -> Self {
        TracingMiddleware { layer }
    }
}

impl Middleware for TracingMiddleware {
    fn handle<'life0, 'life1, 'life2, 'async_trait>(
        &'life0 self,
        mut request: reqwest::Request,
        extensions: &'life1 mut Extensions,
        next: Next<'life2>,
    ) -> Pin<
        Box<
            dyn Future<Output = reqwest_middleware::Result<reqwest::Response>>
                + Send
                + 'async_trait,
        >,
    >
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        'life2: 'async_trait,
        Self: 'async_trait,
    {
        // A `Url` is always a valid `Uri`; should that ever fail, the span lacks the URL
        // but the request goes out unchanged.
        let uri: Uri = request.url().as_str().parse().unwrap_or_default();
        let resend_count = Sends::count(extensions);
        let (span, hooks) = self.layer.start(
            request.method(),
            &uri,
            request.headers(),
            resend_count,
            request.url().fragment(),
        );
        crate::client::inject(&span, request.headers_mut());
        let mut call = Call::new(span.clone().into(), hooks);
        Box::pin(
            async move {
                let result = next.run(request, extensions).await;
                call.entered(|mut state| {
                    match &result {
                        Ok(response) => state.with(|hooks, span| {
                            hooks.record_response(
                                response.status(),
                                response.version(),
                                response.headers(),
                                span,
                            );
                            if let Some(peer) = response.remote_addr() {
                                record_peer(peer, span);
                            }
                        }),
                        Err(error) => state.with(|hooks, span| {
                            hooks.on_error(CallError::classified(error, error_type(error)), span);
                        }),
                    }
                    state.end();
                });
                result
            }
            .instrument(span),
        )
    }
}

/// `network.peer.address` and `network.peer.port` (Recommended on HTTP client spans): the
/// address reqwest connected to, which it knows (`server.address` is the name asked for).
/// Typed attributes, set only on a recording span: the `tracing` fields of
/// [`HttpClientLayer`]'s span, which the tower layer shares and cannot fill, stay as they
/// are. An IPv4-mapped IPv6 peer is its IPv4 address, as on server spans.
fn record_peer(peer: std::net::SocketAddr, span: &tracing::Span) {
    use obs_trace::SpanExt;
    span.set_attribute("network.peer.address", peer.ip().to_canonical().to_string());
    span.set_attribute("network.peer.port", i64::from(peer.port()));
}

/// How many times one `send` went through the middleware so far. `reqwest-middleware`
/// hands every pass down the chain the same extensions, so a retry middleware placed before
/// this one (`reqwest-retry`'s) resends with this count in them.
#[derive(Clone, Copy, Debug)]
struct Sends(u32);

impl Sends {
    /// Counts a pass: `http.request.resend_count` for a resend (the semantic conventions
    /// count them from 1, and leave the attribute out of the first attempt), `None` for the
    /// first.
    fn count(extensions: &mut Extensions) -> Option<u32> {
        match extensions.get_mut::<Sends>() {
            Some(sends) => {
                sends.0 += 1;
                Some(sends.0)
            }
            None => {
                extensions.insert(Sends(0));
                None
            }
        }
    }
}

/// The `error.type` of a failed `reqwest` call.
fn error_type(error: &reqwest_middleware::Error) -> &'static str {
    match error {
        reqwest_middleware::Error::Reqwest(e) if e.is_timeout() => "timeout",
        reqwest_middleware::Error::Reqwest(e) if e.is_connect() => "connect",
        reqwest_middleware::Error::Reqwest(_) => "reqwest::Error",
        reqwest_middleware::Error::Middleware(_) => "reqwest_middleware::Error",
    }
}
