//! tonic gRPC middleware: W3C context (and B3 when `OTEL_PROPAGATORS` says so) in and out
//! of the metadata, RPC semantic-convention spans, and the `rpc.server.*` / `rpc.client.*`
//! metrics, with no code in the service.
//!
//! - [`GrpcServerLayer`] for `tonic::transport::Server::builder().layer(..)`: a SERVER
//!   span per call, child of the caller's `traceparent`.
//! - [`GrpcClientLayer`] around a `tonic::transport::Channel` (or any service a generated
//!   client wraps): a CLIENT span per call, its context injected into the metadata. A
//!   channel adds the server's authority only below the layer: give it with
//!   [`GrpcClientLayer::with_server_address`], or client spans have no `server.address`
//!   (warned about on stderr, once per layer).
//!
//! Both are configured through one builder, [`GrpcLayer`].
//!
//! Calls to the gRPC health checking and reflection services
//! ([`DEFAULT_EXCLUDED_SERVICES`]: `grpc.health.v1.Health`, `grpc.reflection.*`) pass
//! through both layers untraced and unmeasured, with no span, no metrics and no
//! `traceparent` sent: probes and tooling, frequent and not the application's own traffic.
//! A `tonic-health` check is therefore no way to try the layers out.
//! [`GrpcLayer::with_excluded_services`] sets the list; an empty one traces every call.
//! Requests that are no gRPC call, whose `content-type` does not begin with
//! `application/grpc` (an HTTP route or a `/metrics` served beside the gRPC services, a
//! liveness probe), pass through the server layer untraced too, whatever tonic answers them.
//!
//! Metadata is recorded only when listed, as the RPC conventions ask (it may carry
//! secrets): [`GrpcLayer::with_request_metadata`] and [`GrpcLayer::with_response_metadata`]
//! record the listed keys' values as string arrays (`rpc.request.metadata.<key>`, or
//! `rpc.grpc.request.metadata.<key>` with the old conventions; the response's from its
//! headers and trailers), the counterpart of `obs-tower`'s HTTP header capture, whose
//! allow-list they share: `authorization`, `proxy-authorization`, `cookie` and `set-cookie`
//! are never recorded, nor is binary (`-bin`) metadata.
//!
//! gRPC rides on HTTP/2, so both are [`obs_tower::Hooks`] policies over `obs-tower`'s
//! plumbing: the span is entered while the service and the response stream are polled, and
//! the call ends when the stream does (trailers sent, or the body dropped when the client
//! cancels), so a streaming call's span covers the whole stream. The status is read from
//! the `grpc-status` of a trailers-only response or from the trailers (for gRPC-Web, which
//! a server layer outside tonic-web's `GrpcWebLayer` sees, from the trailers frame ending
//! the body, read through its base64 in the text mode, `application/grpc-web-text`, the
//! grpc-web JavaScript client's default); messages are counted from their 5-byte length
//! prefixes, without decoding.
//!
//! Metrics (into [`obs_metrics::global()`] unless `with_registry` says otherwise), each
//! labelled `rpc_system`, `rpc_service`, `rpc_method`, `rpc_grpc_status_code` and
//! `error_type` (with the old conventions, the default; see below): `rpc_server_call_duration_seconds` / `rpc_client_call_duration_seconds`
//! (`rpc.server.call.duration`, `rpc.client.call.duration`), recorded with the call's span
//! entered so a sampled span is the exemplar, and the messages per call,
//! `rpc_{server,client}_requests_per_rpc` and `rpc_{server,client}_responses_per_rpc`
//! (without exemplars).
//!
//! # Old and stable RPC conventions
//!
//! The RPC semantic conventions have a stable version; as they ask of an instrumentation
//! that emitted the older ones, the layers keep emitting those by default and switch on
//! `OTEL_SEMCONV_STABILITY_OPT_IN` (read by `obs_core::init`; without it,
//! [`obs_trace::set_rpc_conventions`]): `rpc` for the stable conventions only, `rpc/dup`
//! for both ([`RpcConventions`]). Each layer takes the choice when it is built
//! ([`GrpcLayer::new`]): build layers after `init`.
//!
//! | | old (default) | stable (`rpc`) |
//! |---|---|---|
//! | system | `rpc.system` `grpc` | `rpc.system.name` `grpc` |
//! | method | `rpc.service` `shop.v1.Orders`, `rpc.method` `Get` | `rpc.method` `shop.v1.Orders/Get` |
//! | status | `rpc.grpc.status_code` `5` (int) | `rpc.status_code` `NOT_FOUND` |
//! | unknown method (server answers UNIMPLEMENTED for a method it has not served, path not `/{service}/{method}`) | metric labels `_OTHER` | `rpc.method` `_OTHER`, `rpc.method_original` the name used, span name `grpc`; metric label `_OTHER` |
//! | server peer | `client.address`, `client.port` | `network.peer.address`, `network.peer.port` |
//! | server `server.port` | from `:authority`, else the local port | from `:authority` only |
//! | duration labels | `rpc_system`, `rpc_service`, `rpc_method`, `rpc_grpc_status_code`, `error_type` | `rpc_system_name`, `rpc_method`, `rpc_status_code`, `error_type`; client also `server_address`, `server_port` |
//! | captured metadata (opt-in) | `rpc.grpc.request.metadata.<key>`, `rpc.grpc.response.metadata.<key>` | `rpc.request.metadata.<key>`, `rpc.response.metadata.<key>` |
//! | messages per call | `rpc_{server,client}_{requests,responses}_per_rpc` | none (removed by the conventions) |
//!
//! The stable status attribute is `rpc.status_code`: `rpc.response.status_code`, its name in
//! earlier drafts, is deprecated and renamed to it (the conventions' registry,
//! `model/rpc/deprecated/registry-deprecated.yaml`).
//!
//! A layer does not see which methods a server has. It learns them from the calls that
//! read their request, which tonic does before a handler runs: a method is the server's
//! once a call to it has read its request and was not answered UNIMPLEMENTED (a proxy
//! reads every request). A method it has not learnt is "unknown" (the table's row) when
//! the answer is UNIMPLEMENTED (tonic's router's for a method it does not have; a method
//! already learnt keeps its name, as when tonic refuses a request's `grpc-encoding`), and
//! is `_OTHER` in metric labels whatever the answer: a layer under the server layer may
//! answer before routing (authentication, rate limiting), for made-up methods as for real
//! ones, and a scanner making names up adds no series. So calls to a method the layer has
//! not learnt yet (all of them rejected before routing so far, or all answered
//! UNIMPLEMENTED by its handler) are counted as `_OTHER` too; spans keep the name the
//! caller used unless the method is unknown. At most 1024 methods are learnt per layer.
//! [`GrpcServerLayer::with_methods`] lists methods the server has, named from the first
//! call whatever answers it.
//!
//! Span names, `error.type` (the code's name, for the codes that are errors on each side)
//! and the duration metrics' names, unit and buckets are the same in both. With `rpc/dup`
//! a span carries both sets (`rpc.method`, in both, holds the stable value), and each call
//! is recorded twice in the duration family: one series with the old labels, one with the
//! stable ones; select one with `rpc_system="grpc"` or `rpc_system_name="grpc"`.
//!
//! Cargo feature `transport`: `client.address` and `client.port` on server spans, from
//! the connection info `tonic::transport::Server` attaches to each request.
//!
//! Built for tonic 0.14: the layers take its `tonic::body::Body`, so the application's
//! `tonic` must be a 0.14 release too. With another (0.13, say) the client layer over its
//! `Channel` fails to compile with "the trait bound `Channel: Service<..>` is not
//! satisfied" and the note "there are multiple different versions of crate `tonic`".
//!
//! ```
//! use bytes::Bytes;
//! use http::{Request, Response};
//! use http_body_util::{Empty, Full};
//! use obs_trace::{InMemorySpanSink, SpanLayer};
//! use obs_tonic::GrpcServerLayer;
//! use std::convert::Infallible;
//! use std::sync::Arc;
//! use tower::{ServiceBuilder, ServiceExt};
//! use tracing_subscriber::prelude::*;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let sink = InMemorySpanSink::new();
//! let subscriber = tracing_subscriber::registry()
//!     .with(SpanLayer::new().with_sink(Arc::new(sink.clone())));
//! let _guard = tracing::subscriber::set_default(subscriber);
//!
//! // A service answering every call with a trailers-only `NOT_FOUND`.
//! let service = ServiceBuilder::new()
//!     .layer(GrpcServerLayer::new())
//!     .service_fn(|_req: Request<_>| async {
//!         let response = Response::builder()
//!             .header("content-type", "application/grpc")
//!             .header("grpc-status", "5")
//!             .body(Empty::<Bytes>::new())
//!             .unwrap();
//!         Ok::<_, Infallible>(response)
//!     });
//! // One empty message: flag 0, length 0.
//! let request = Request::post("http://orders.internal:50051/shop.v1.Orders/Get")
//!     .header("content-type", "application/grpc")
//!     .header("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
//!     .body(Full::new(Bytes::from_static(&[0, 0, 0, 0, 0])))
//!     .unwrap();
//! // The span ends with the response stream: a trailers-only response has an empty body,
//! // so the call is over when its head comes back.
//! let _response = service.oneshot(request).await.unwrap();
//!
//! let span = &sink.spans()[0];
//! assert_eq!(span.name, "shop.v1.Orders/Get");
//! assert_eq!(span.parent_span_id.to_string(), "b7ad6b7169203331");
//! let attribute = |key: &str| span.attribute(key).map(ToString::to_string);
//! assert_eq!(attribute("rpc.service").as_deref(), Some("shop.v1.Orders"));
//! assert_eq!(attribute("rpc.method").as_deref(), Some("Get"));
//! assert_eq!(attribute("rpc.grpc.status_code").as_deref(), Some("5"));
//! // NOT_FOUND is the caller's error, not the server's: no `error.type`.
//! assert_eq!(attribute("error.type"), None);
//! # }
//! ```

// On docs.rs (`--cfg docsrs`, see Cargo.toml), each feature-gated item says which feature
// enables it.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod call;
pub mod classify;
mod client;
mod counting;
mod grpc;
mod layer;
mod metrics;
mod peer;
mod served;
mod server;

pub use call::{DEFAULT_EXCLUDED_SERVICES, GrpcCall};
pub use client::{GrpcClientLayer, GrpcClientService};
pub use counting::{CountMessages, CountedBody, MessageCounts, StatusFuture, TonicRequestBody};
pub use layer::{CallSide, ClientSide, GrpcLayer, ServerSide};
/// Which RPC conventions the layers emit: re-exported from `obs-trace`, where it is set.
pub use obs_trace::RpcConventions;
pub use server::{GrpcServerLayer, GrpcServerService};
/// tower's `Layer` trait, whose `layer(channel)` wraps a client in [`GrpcClientLayer`]:
/// re-exported so that an application needs no `tower` dependency for it.
pub use tower_layer::Layer;

/// This crate's version: the OTLP instrumentation scope `obs_tonic` (the crate of its spans'
/// `tracing` target) is exported with it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

#[cfg(test)]
mod tests;
