//! [`GrpcClientLayer`]: CLIENT spans, context injection and `rpc.client.*` metrics.

use std::sync::atomic::Ordering;

use http::Request;
use obs_tower::{CallSpan, Hooks, Instrumented};
use obs_trace::RpcConventions;
use tower_layer::Layer;
use tracing::field::Empty;

use crate::call::{Config, GrpcCall};
use crate::counting::{CountMessages, CountedBody, TonicRequestBody};
use crate::grpc::{OTHER, RpcNames, SYSTEM};
use crate::layer::{ClientSide, GrpcLayer};

/// The service [`GrpcClientLayer`] makes of `S` (a `tonic::transport::Channel`, or any
/// service taking `http::Request<tonic::body::Body>`).
pub type GrpcClientService<S> = CountMessages<Instrumented<TonicRequestBody<S>, GrpcClientLayer>>;

/// A [`Layer`] for outgoing gRPC calls: wrap a `tonic::transport::Channel` (or any tower
/// service a generated client wraps) and hand the result to the generated client.
///
/// ```
/// use obs_tonic::{GrpcClientLayer, GrpcClientService, Layer};
///
/// // `channel`: a `tonic::transport::Channel` to `http://orders.internal:50051`; hand the
/// // result to `MyClient::new(..)`. A channel adds the authority below this layer, so name
/// // the server here: the conventions require `server.address` on client spans.
/// fn traced<Channel>(channel: Channel) -> GrpcClientService<Channel> {
///     GrpcClientLayer::new()
///         .with_server_address("orders.internal", Some(50051))
///         .layer(channel)
/// }
/// ```
///
/// The span's attributes and the metrics' labels follow the RPC conventions the layer was
/// built with ([`RpcConventions`], see [the crate
/// docs](crate#old-and-stable-rpc-conventions)).
///
/// Per call (but those to the
/// [`DEFAULT_EXCLUDED_SERVICES`](crate::DEFAULT_EXCLUDED_SERVICES), health checks and
/// reflection, which it passes through untraced unless
/// [`with_excluded_services`](GrpcLayer::with_excluded_services) says otherwise) it starts a
/// CLIENT span named `{package.Service}/{Method}` (`grpc` for a path that names no method;
/// child of the current span), writes that span's context into the metadata
/// (`traceparent`, and `tracestate` and `baggage` when there are any: an application's own
/// `baggage` is left as it is when the context has none; only the formats
/// [`obs_trace::propagators`] lists, both unless `OTEL_PROPAGATORS` says otherwise, which may
/// add B3), and ends
/// the span when the response stream ends, or when the caller drops it (status `CANCELLED`). A
/// call the channel gives up on at the request's deadline (`Request::set_timeout`, sent as
/// `grpc-timeout`) or at its own (`Endpoint::timeout`, sent to no one, known from tonic's
/// `TimeoutExpired` error) is `DEADLINE_EXCEEDED`, gRPC's code for it, though tonic hands the
/// caller `CANCELLED`. A call that fails without a status from the server
/// (a refused connection, a stream broken mid-way) ends with the status tonic hands the
/// caller (`UNAVAILABLE`, `INTERNAL`, ...): the service's errors are `tonic::Status`es, made
/// as tonic's client makes them, which it passes on unchanged. Every status but `OK` marks
/// the span as failed, as does a panic (`error.type`
/// [`panic`](obs_tower::classify::PANIC_ERROR_TYPE), no status code: none came back); a
/// response without `grpc-status` takes its code from the HTTP status, as gRPC clients do,
/// and a `200` whose body is no gRPC stream (a web page) or stops inside a message is
/// INTERNAL, as tonic fails it.
///
/// `server.address` and `server.port` come from the request URI. A `Channel` adds the
/// authority only below this layer, and generated clients built with `new(channel)` send
/// just the path, so give them with
/// [`with_server_address`](Self::with_server_address): the conventions require
/// `server.address` on client spans (a layer whose requests have none says so on stderr,
/// once). Configured with the builder methods of [`GrpcLayer`]
/// and [`with_server_address`](Self::with_server_address).
pub type GrpcClientLayer = GrpcLayer<ClientSide>;

impl GrpcClientLayer {
    /// `server.address` and `server.port` for requests whose URI has no authority, which
    /// is what generated clients built with `new(channel)` send. Defaults to none.
    pub fn with_server_address(self, host: impl Into<String>, port: Option<u16>) -> Self {
        let address = (host.into(), port);
        self.map(|c| c.server_address = Some(address))
    }
}

impl<S> Layer<S> for GrpcClientLayer {
    type Service = GrpcClientService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CountMessages::new(Instrumented::new(
            TonicRequestBody::new(inner),
            self.clone(),
        ))
    }
}

impl<B> Hooks<CountedBody<B>> for GrpcClientLayer {
    type Call = GrpcCall;

    fn on_request(&self, request: &mut Request<CountedBody<B>>) -> (CallSpan, GrpcCall) {
        // The stable client metrics' `server.address` and `server.port` ("Conditionally
        // Required: If available", rpc-metrics.md): few values, interned.
        let server_label = || match server_address(request, &self.config) {
            (Some(address), port) => Some((obs_trace::intern(address), port)),
            (None, _) => None,
        };
        let Some(call) = self.begin(request, server_label) else {
            return (tracing::Span::none().into(), GrpcCall::excluded());
        };
        let names = call.names();
        let (address, port) = server_address(request, &self.config);
        let span = match self.config.conventions {
            RpcConventions::Old => tracing::info_span!(
                "gRPC request",
                otel.name = names.map_or(SYSTEM, RpcNames::full),
                otel.kind = "client",
                otel.status_code = Empty,
                rpc.system = SYSTEM,
                rpc.service = names.map(RpcNames::service),
                rpc.method = names.map_or(OTHER, RpcNames::method),
                rpc.grpc.status_code = Empty,
                server.address = address,
                server.port = port,
                error.type = Empty,
            ),
            // gRPC, "Client": `rpc.system.name` "grpc", `rpc.method` the fully qualified
            // name (the client's stub knows its methods), `rpc.status_code` the code's name.
            RpcConventions::Stable => tracing::info_span!(
                "gRPC request",
                otel.name = names.map_or(SYSTEM, RpcNames::full),
                otel.kind = "client",
                otel.status_code = Empty,
                rpc.system.name = SYSTEM,
                rpc.method = names.map_or(OTHER, RpcNames::full),
                rpc.method_original = method_original(request, names),
                rpc.status_code = Empty,
                server.address = address,
                server.port = port,
                error.type = Empty,
            ),
            RpcConventions::Both => tracing::info_span!(
                "gRPC request",
                otel.name = names.map_or(SYSTEM, RpcNames::full),
                otel.kind = "client",
                otel.status_code = Empty,
                rpc.system = SYSTEM,
                rpc.system.name = SYSTEM,
                rpc.service = names.map(RpcNames::service),
                rpc.method = names.map_or(OTHER, RpcNames::full),
                rpc.method_original = method_original(request, names),
                rpc.grpc.status_code = Empty,
                rpc.status_code = Empty,
                server.address = address,
                server.port = port,
                error.type = Empty,
            ),
        };
        // Before the context is injected: the application's metadata, as it sent it.
        if !self.config.request_metadata.is_empty() {
            self.config
                .request_metadata
                .record(request.headers(), &span);
        }
        // Inside the client span, the current context is the client span's; if the span is
        // disabled, it is the caller's, so the trace still goes on.
        span.in_scope(|| obs_trace::inject_current(request.headers_mut()));
        (span.into(), call)
    }
}

/// `server.address` and `server.port` from the request URI, else as configured
/// ([`GrpcClientLayer::with_server_address`]). Neither: warned about once per layer, since
/// the RPC conventions require `server.address` on client spans, and a generated client
/// built with `new(channel)` sends only the path.
fn server_address<'a, B>(
    request: &'a Request<B>,
    config: &'a Config,
) -> (Option<&'a str>, Option<u16>) {
    match obs_tower::server_address(request.uri(), request.headers()) {
        found @ (Some(_), _) => found,
        (None, _) => match &config.server_address {
            Some((host, port)) => (Some(host.as_str()), *port),
            None => {
                warn_no_server_address(request, config);
                (None, None)
            }
        },
    }
}

#[cold]
fn warn_no_server_address<B>(request: &Request<B>, config: &Config) {
    if !config
        .warned_no_server_address
        .swap(true, Ordering::Relaxed)
    {
        obs_trace::diagnostics::warn(format_args!(
            "obs: a GrpcClientLayer call to {} has no server address: the request URI has \
             no authority (a client built with `new(channel)`) and the layer was given none, \
             so its spans and metrics lack server.address, which the RPC conventions require; \
             call GrpcClientLayer::with_server_address (warned once per layer)",
            request.uri().path()
        ));
    }
}

/// `rpc.method_original` of a call whose path names no method (`rpc.method` is `_OTHER`):
/// the path without its leading `/`.
fn method_original<'a, B>(request: &'a Request<B>, names: Option<&RpcNames>) -> Option<&'a str> {
    if names.is_some() {
        return None;
    }
    let path = request.uri().path();
    Some(path.strip_prefix('/').unwrap_or(path)).filter(|original| !original.is_empty())
}
