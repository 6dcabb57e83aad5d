//! [`GrpcLayer`]: the builder the server and client layers share; only their side and
//! their [`Hooks`](obs_tower::Hooks) differ.

use std::marker::PhantomData;
use std::sync::Arc;

use http::{HeaderName, Request};
use obs_trace::{RpcConventions, Stopwatch};

use crate::call::{Config, GrpcCall, Metadata};
use crate::counting::CountedBody;
use crate::grpc::{self, RpcNames};
use crate::metrics::{RpcMetrics, ServerLabel, Side};

/// A gRPC layer: [`GrpcServerLayer`](crate::GrpcServerLayer) (`K` = [`ServerSide`]) or
/// [`GrpcClientLayer`](crate::GrpcClientLayer) (`K` = [`ClientSide`]). Use those names;
/// this type carries the configuration both share.
#[derive(Debug)]
pub struct GrpcLayer<K> {
    pub(crate) config: Arc<Config>,
    side: PhantomData<fn() -> K>,
}

// By hand: a derive would ask `K: Clone` of the marker.
impl<K> Clone for GrpcLayer<K> {
    fn clone(&self) -> Self {
        GrpcLayer {
            config: self.config.clone(),
            side: PhantomData,
        }
    }
}

/// The end of a call a [`GrpcLayer`] instruments; [`ServerSide`] and [`ClientSide`] only.
pub trait CallSide: sealed::Sealed {}

/// The server end: incoming calls, `rpc.server.*` metrics.
#[derive(Clone, Copy, Debug)]
pub struct ServerSide;

/// The client end: outgoing calls, `rpc.client.*` metrics.
#[derive(Clone, Copy, Debug)]
pub struct ClientSide;

mod sealed {
    /// Keeps [`CallSide`](super::CallSide) to this crate's two sides, and says which.
    pub trait Sealed {
        /// Which side this is.
        const SIDE: crate::metrics::Side;
    }
}

impl sealed::Sealed for ServerSide {
    const SIDE: Side = Side::Server;
}
impl CallSide for ServerSide {}
impl sealed::Sealed for ClientSide {
    const SIDE: Side = Side::Client;
}
impl CallSide for ClientSide {}

impl<K: CallSide> Default for GrpcLayer<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: CallSide> GrpcLayer<K> {
    /// A layer recording into [`obs_metrics::global()`] and excluding the health and
    /// reflection services, emitting the RPC conventions [`obs_trace::rpc_conventions`]
    /// says now (what `OTEL_SEMCONV_STABILITY_OPT_IN` chose, once `obs_core::init` has
    /// run): build layers after `init`.
    pub fn new() -> Self {
        Self::with_conventions_in(obs_trace::rpc_conventions(), obs_metrics::global())
    }

    /// A layer emitting `conventions`, its metrics registered in `registry`.
    pub(crate) fn with_conventions_in(
        conventions: RpcConventions,
        registry: &obs_metrics::Registry,
    ) -> Self {
        GrpcLayer {
            config: Arc::new(Config::new(K::SIDE, conventions, registry)),
            side: PhantomData,
        }
    }

    /// Records the side's `rpc.{server,client}.call.duration` (and with the old RPC
    /// conventions, `rpc.{server,client}.requests_per_rpc` and
    /// `rpc.{server,client}.responses_per_rpc`) in `registry`. Defaults to
    /// [`obs_metrics::global()`]. Layers emitting other [`RpcConventions`] can't share a
    /// registry: their duration families have the same names and other labels.
    pub fn with_registry(self, registry: &obs_metrics::Registry) -> Self {
        self.map(|c| c.metrics = RpcMetrics::register(registry, K::SIDE, c.conventions))
    }

    /// Leaves calls to these services (`package.Service`, or a package prefix ending in
    /// `.`) untraced and unmeasured, instead of the defaults,
    /// [`DEFAULT_EXCLUDED_SERVICES`](crate::DEFAULT_EXCLUDED_SERVICES). An empty list
    /// traces everything.
    pub fn with_excluded_services<I, N>(self, services: I) -> Self
    where
        I: IntoIterator<Item = N>,
        N: Into<String>,
    {
        let excluded = services.into_iter().map(Into::into).collect();
        self.map(|c| c.excluded = excluded)
    }

    /// Records these request metadata keys on each call's span, all their values in order
    /// as a string array: `rpc.grpc.request.metadata.<key>` with the old RPC conventions,
    /// `rpc.request.metadata.<key>` with the stable ones, both with both
    /// ([`RpcConventions`]). Keys are lower case (a [`HeaderName`] is). `authorization`,
    /// `proxy-authorization`, `cookie` and `set-cookie` are never recorded, even if listed
    /// ([`obs_tower::CREDENTIAL_HEADERS`]), and neither is binary metadata (keys ending in
    /// `-bin`: their values are bytes, not text, and left out with a warning on stderr); a
    /// value marked [sensitive](http::HeaderValue::is_sensitive) is recorded as `REDACTED`.
    /// Defaults to none, as the conventions ask: metadata may carry secrets.
    ///
    /// ```
    /// use http::HeaderName;
    /// let layer = obs_tonic::GrpcServerLayer::new()
    ///     .with_request_metadata([HeaderName::from_static("x-tenant-id")])
    ///     .with_response_metadata([HeaderName::from_static("x-shard")]);
    /// ```
    pub fn with_request_metadata(self, keys: impl IntoIterator<Item = HeaderName>) -> Self {
        self.map(|c| c.set_metadata(Metadata::Request, keys))
    }

    /// Records these response metadata keys, from the response's headers and its
    /// trailers (a key in both: the headers' values, then the trailers'), as
    /// `rpc.grpc.response.metadata.<key>` (old conventions) or
    /// `rpc.response.metadata.<key>` (stable), with the same rules as
    /// [`with_request_metadata`](Self::with_request_metadata). Not from a gRPC-Web
    /// answer's trailers frame, which is body. Defaults to none.
    pub fn with_response_metadata(self, keys: impl IntoIterator<Item = HeaderName>) -> Self {
        self.map(|c| c.set_metadata(Metadata::Response, keys))
    }

    /// The start of a call through either side, or `None` for an excluded service, which
    /// is passed through untraced. The call's names are `None` when the request path is
    /// not `/{service}/{method}`; `server` is the call's `server.address` and `server.port`
    /// metric labels, asked for only when the metrics have them.
    pub(crate) fn begin<B>(
        &self,
        request: &Request<CountedBody<B>>,
        server: impl FnOnce() -> Option<ServerLabel>,
    ) -> Option<GrpcCall> {
        let start = Stopwatch::start();
        let names = RpcNames::of_path(request.uri().path());
        if names
            .as_ref()
            .is_some_and(|n| self.config.is_excluded(n.service()))
        {
            return None;
        }
        let server = self
            .config
            .metrics
            .as_ref()
            .filter(|metrics| metrics.has_server_labels())
            .and_then(|_| server());
        Some(GrpcCall::new(
            self.config.clone(),
            start,
            names,
            server,
            request.body().counts().clone(),
            grpc::timeout(request.headers()),
        ))
    }

    pub(crate) fn map(self, f: impl FnOnce(&mut Config)) -> Self {
        GrpcLayer {
            config: Arc::new(self.config.with(f)),
            side: PhantomData,
        }
    }
}
