//! [`GrpcServerLayer`]: SERVER spans and `rpc.server.*` metrics for incoming gRPC calls.

use std::borrow::Cow;

use http::Request;
use obs_tower::{CallSpan, Hooks, Instrumented};
use obs_trace::opentelemetry::trace::SpanKind;
use obs_trace::{RpcConventions, SpanStart};
use tower_layer::Layer;
use tracing::field::Empty;

use crate::call::GrpcCall;
use crate::counting::{CountMessages, CountedBody};
use crate::grpc::{self, GrpcRequest, OTHER, RpcNames, SYSTEM};
use crate::layer::{GrpcLayer, ServerSide};
use crate::peer;

/// The service [`GrpcServerLayer`] makes of `S`.
pub type GrpcServerService<S> = CountMessages<Instrumented<S, GrpcServerLayer>>;

/// A [`Layer`] that traces and measures every incoming gRPC call, for
/// `tonic::transport::Server::builder().layer(..)` or any tower service of gRPC over HTTP/2.
///
/// Per call it extracts the caller's W3C context (`traceparent`, `tracestate`, `baggage`; only
/// the formats [`obs_trace::propagators`] lists, both unless `OTEL_PROPAGATORS` says otherwise,
/// which may add B3) from the metadata, starts a SERVER span named `{package.Service}/{Method}` (`grpc` for a
/// path that names no method) with the RPC semantic-convention attributes (`rpc.system`,
/// `rpc.service`, `rpc.method`, `rpc.grpc.status_code`, `server.address`, `server.port`,
/// `client.address`, `client.port`, `error.type`; with the stable conventions
/// `rpc.system.name`, `rpc.method` as `package.Service/Method`, `rpc.status_code` and
/// `network.peer.*` instead: see [the crate docs](crate#old-and-stable-rpc-conventions)),
/// runs the service inside it, and ends it when
/// the response stream ends: after the trailers, or when the client cancels and the body is
/// dropped (status `CANCELLED`). A call dropped before its response head once the caller's
/// `grpc-timeout` has run out (tonic's server cuts it off then) is `DEADLINE_EXCEEDED`, gRPC's
/// code for it, though tonic answers `CANCELLED`; a deadline set only with tonic's
/// `Server::timeout` is not seen by the layer, and such a call reads as `CANCELLED`. The status
/// comes from the `grpc-status` header of a trailers-only response or from the trailers (or
/// gRPC-Web's trailers frame, see [the crate docs](crate)).
/// `UNKNOWN`, `DEADLINE_EXCEEDED`, `UNIMPLEMENTED`, `INTERNAL`, `UNAVAILABLE` and `DATA_LOSS`
/// mark the span as failed; other codes are the caller's errors. A service under the layer
/// that fails with a `tonic::Status` (returned, or in a boxed error's source chain) ends the
/// call with that status, which tonic's server sends the caller; one failing with tower's
/// `Overloaded` (a `LoadShedLayer` under this one) with the RESOURCE_EXHAUSTED tonic's
/// server sends for it. A handler that panics, or
/// a service failing with an error that holds no status, ends it with `UNKNOWN`: gRPC's code
/// for a server application that ended other than with a status (tonic resets the stream;
/// the client sees an error). Either way `error.type` is the code's name when the code fails
/// the span, never a Rust type name or `panic` (RPC conventions, `error.type`: the status
/// code, when one indicates an error). Request and response messages are counted as they
/// stream.
///
/// Other `tracing` layers see the span's name, `rpc.service`, `rpc.method` and, once
/// known, `rpc.grpc.status_code` and `error.type`; `rpc.system` and the address attributes
/// are handed to `obs_trace::SpanLayer` directly, and only for spans it records.
///
/// Malformed metadata never fails a call: an invalid `traceparent` starts a new trace.
/// Calls to [`DEFAULT_EXCLUDED_SERVICES`](crate::DEFAULT_EXCLUDED_SERVICES) are passed
/// through untraced, and so are requests that are no gRPC call, whose `content-type` does
/// not begin with `application/grpc` (an HTTP route served beside the gRPC services, such
/// as `/metrics`: put [`obs_tower::HttpServerLayer`] on those routes).
///
/// `client.address` needs the `transport` feature (tonic's `TcpConnectInfo`), and a server
/// of the tonic release this crate is built with: another release's server compiles with
/// the layer (both speak `http` 1) but its `TcpConnectInfo` is another type, so the client
/// attributes are silently missing. Configured with the builder methods of [`GrpcLayer`].
pub type GrpcServerLayer = GrpcLayer<ServerSide>;

impl GrpcServerLayer {
    /// Methods (`package.Service/Method`) the server has, named in metric labels from the
    /// first call. The layer otherwise learns a method from a call that reached its handler
    /// (see [the crate docs](crate)) and labels the calls before that `_OTHER`: a method
    /// whose calls are all answered before routing (by an authentication layer under this
    /// one, say) would stay `_OTHER`. The RPC conventions ask for this list of an
    /// instrumentation that "could end up converting valid RPC methods to `_OTHER`"
    /// (`rpc.method`). A method listed also keeps its name on spans when answered
    /// UNIMPLEMENTED. Defaults to none; adds to any given before.
    pub fn with_methods<I, N>(self, methods: I) -> Self
    where
        I: IntoIterator<Item = N>,
        N: Into<String>,
    {
        let methods = methods.into_iter().map(|m| m.into().into_boxed_str());
        self.map(|c| c.served.add_configured(methods))
    }
}

impl<S> Layer<S> for GrpcServerLayer {
    type Service = GrpcServerService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CountMessages::new(Instrumented::new(inner, self.clone()))
    }
}

/// The OpenTelemetry side of a recording server span (see
/// [`obs_trace::RemoteParent::span_or_parent`]): name, kind, the RPC's attributes and
/// the connection's, in the versions of the conventions `conventions` says. An attribute
/// both versions name holds the stable value.
fn describe<B>(
    request: &mut Request<B>,
    names: Option<&RpcNames>,
    conventions: RpcConventions,
    start: &mut SpanStart<'_>,
) {
    start.set_kind(SpanKind::Server);
    // The same name in both versions: `{rpc.method}` (stable: `package.Service/Method`),
    // or `{rpc.system.name}` when it is `_OTHER` (rpc-spans.md, "Name").
    start.set_name(names.map_or(Cow::Borrowed(SYSTEM), RpcNames::full_value));
    if conventions.emits_old() {
        start.push_str("rpc.system", SYSTEM);
        if let Some(names) = names {
            start.push_str("rpc.service", names.service_value());
        }
    }
    if conventions.emits_stable() {
        // gRPC, "Server": "`rpc.system.name` MUST be set to `"grpc"`"; `rpc.method` is
        // "the fully-qualified logical name of the method", `_OTHER` with the name used
        // in `rpc.method_original` when it is not recognised: here, a path that is not
        // `/{service}/{method}` (an UNIMPLEMENTED answer renames it when the call ends).
        start.push_str("rpc.system.name", SYSTEM);
        match names {
            Some(names) => start.push_str("rpc.method", names.full_value()),
            None => {
                start.push_str("rpc.method", OTHER);
                let path = request.uri().path();
                let original = path.strip_prefix('/').unwrap_or(path);
                if !original.is_empty() {
                    start.push_str("rpc.method_original", original.to_owned());
                }
            }
        }
    } else {
        start.push_str(
            "rpc.method",
            names.map_or(Cow::Borrowed(OTHER), RpcNames::method_value),
        );
    }
    let peer = peer::Peer::of(request.extensions_mut());
    let (address, port) = obs_tower::interned_server_address(request.uri(), request.headers());
    if let Some(address) = address {
        start.push_str("server.address", address);
    }
    // The old conventions fell back on the connection's local port; the stable ones take
    // `server.port` only "from the port component of the HTTP/2 `:authority`" and "SHOULD
    // NOT use actual network-level connection information" (gRPC, "Server", [5]).
    let port = if conventions.emits_stable() {
        port
    } else {
        port.or(peer.local_port)
    };
    if let Some(port) = port {
        start.push_i64("server.port", i64::from(port));
    }
    if let Some(remote) = peer.remote {
        // The old conventions' `client.*` are gone from the stable server span, which has
        // the connection's peer as `network.peer.*` (rpc-migration.md; gRPC, "Server").
        if conventions.emits_old() {
            start.push_str("client.address", remote.ip().to_string());
            start.push_i64("client.port", i64::from(remote.port()));
        }
        if conventions.emits_stable() {
            start.push_str("network.peer.address", remote.ip().to_string());
            start.push_i64("network.peer.port", i64::from(remote.port()));
        }
    }
}

impl<B> Hooks<CountedBody<B>> for GrpcServerLayer {
    type Call = GrpcCall;

    fn on_request(&self, request: &mut Request<CountedBody<B>>) -> (CallSpan, GrpcCall) {
        // A request that is no gRPC call (an HTTP route served beside the gRPC services)
        // is passed through untraced, as a call to an excluded service is: recorded as a
        // call, it would be a failed one, and its route's own HTTP layer traces it.
        let kind = grpc::grpc_request(request.headers());
        let Some(mut call) = kind.and_then(|_| self.begin(request, || None)) else {
            return (tracing::Span::none().into(), GrpcCall::excluded());
        };
        if let Some(GrpcRequest::Web { base64 }) = kind {
            // gRPC-Web seen from outside tonic-web's `GrpcWebLayer`: in its text mode,
            // the request's messages and the answer's (status included) are base64.
            if base64 {
                request.body_mut().decode_base64();
            }
            call.mark_web();
        }
        let names = call.names();
        let conventions = self.config.conventions;
        // The identifying fields are `tracing` fields for the other layers (logs
        // included); the span layer is handed them and the connection's attributes typed,
        // worked out only when the span records.
        let (span, untraced_parent) = obs_trace::extract(request.headers()).span_or_parent(
            || server_span(conventions, names),
            |start| describe(request, names, conventions, start),
        );
        if !self.config.request_metadata.is_empty() {
            self.config
                .request_metadata
                .record(request.headers(), &span);
        }
        (
            CallSpan {
                span,
                untraced_parent,
            },
            call,
        )
    }
}

/// A server span's `tracing` side, with the fields of the conventions' version: one
/// callsite per version, since a callsite's fields are fixed. Fields recorded later come
/// first: `Span::record` finds a field by comparing names from the front.
fn server_span(conventions: RpcConventions, names: Option<&RpcNames>) -> tracing::Span {
    match conventions {
        RpcConventions::Old => tracing::info_span!(
            "gRPC request",
            rpc.grpc.status_code = Empty,
            error.type = Empty,
            otel.status_code = Empty,
            otel.name = names.map_or(SYSTEM, RpcNames::full),
            otel.kind = "server",
            rpc.service = names.map(RpcNames::service),
            rpc.method = names.map_or(OTHER, RpcNames::method),
            rpc.system = Empty,
            server.address = Empty,
            server.port = Empty,
            client.address = Empty,
            client.port = Empty,
        ),
        RpcConventions::Stable => tracing::info_span!(
            "gRPC request",
            rpc.status_code = Empty,
            error.type = Empty,
            otel.status_code = Empty,
            otel.name = names.map_or(SYSTEM, RpcNames::full),
            rpc.method = names.map_or(OTHER, RpcNames::full),
            rpc.method_original = Empty,
            otel.kind = "server",
            rpc.system.name = Empty,
            server.address = Empty,
            server.port = Empty,
            network.peer.address = Empty,
            network.peer.port = Empty,
        ),
        RpcConventions::Both => tracing::info_span!(
            "gRPC request",
            rpc.grpc.status_code = Empty,
            rpc.status_code = Empty,
            error.type = Empty,
            otel.status_code = Empty,
            otel.name = names.map_or(SYSTEM, RpcNames::full),
            rpc.method = names.map_or(OTHER, RpcNames::full),
            rpc.method_original = Empty,
            otel.kind = "server",
            rpc.service = names.map(RpcNames::service),
            rpc.system = Empty,
            rpc.system.name = Empty,
            server.address = Empty,
            server.port = Empty,
            client.address = Empty,
            client.port = Empty,
            network.peer.address = Empty,
            network.peer.port = Empty,
        ),
    }
}
