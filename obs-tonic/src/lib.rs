//! tonic gRPC middleware: W3C context in and out of the metadata, RPC semantic-convention
//! spans, and the `rpc.server.*` / `rpc.client.*` metrics, with no code in the service.
//!
//! - [`GrpcServerLayer`] for `tonic::transport::Server::builder().layer(..)`: a SERVER
//!   span per call, child of the caller's `traceparent`.
//! - [`GrpcClientLayer`] around a `tonic::transport::Channel` (or any service a generated
//!   client wraps): a CLIENT span per call, its context injected into the metadata.
//!
//! Both are configured through one builder, [`GrpcLayer`].
//!
//! gRPC rides on HTTP/2, so both are [`obs_tower::Hooks`] policies over `obs-tower`'s
//! plumbing: the span is entered while the service and the response stream are polled, and
//! the call ends when the stream does (trailers sent, or the body dropped when the client
//! cancels), so a streaming call's span covers the whole stream. The status is read from
//! the `grpc-status` of a trailers-only response or from the trailers; messages are
//! counted from their 5-byte length prefixes, without decoding.
//!
//! Metrics (into [`obs_metrics::global()`] unless `with_registry` says otherwise), each
//! labelled `rpc_system`, `rpc_service`, `rpc_method`, `rpc_grpc_status_code` and
//! `error_type`: `rpc_server_call_duration_seconds` / `rpc_client_call_duration_seconds`
//! (`rpc.server.call.duration`, `rpc.client.call.duration`), recorded with the call's span
//! entered so a sampled span is the exemplar, and the messages per call,
//! `rpc_{server,client}_requests_per_rpc` and `rpc_{server,client}_responses_per_rpc`
//! (without exemplars).
//!
//! Cargo feature `transport`: `client.address` and `client.port` on server spans, from
//! the connection info `tonic::transport::Server` attaches to each request.
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
//! let response = service.oneshot(request).await.unwrap();
//! // The span ends with the response stream: here, when the body is dropped.
//! drop(response);
//!
//! let span = &sink.spans()[0];
//! assert_eq!(span.name, "shop.v1.Orders/Get");
//! assert_eq!(span.parent_span_id.to_string(), "b7ad6b7169203331");
//! let attribute = |key: &str| {
//!     span.attributes.iter().find(|kv| kv.key.as_str() == key).map(|kv| kv.value.to_string())
//! };
//! assert_eq!(attribute("rpc.service").as_deref(), Some("shop.v1.Orders"));
//! assert_eq!(attribute("rpc.method").as_deref(), Some("Get"));
//! assert_eq!(attribute("rpc.grpc.status_code").as_deref(), Some("5"));
//! // NOT_FOUND is the caller's error, not the server's: no `error.type`.
//! assert_eq!(attribute("error.type"), None);
//! # }
//! ```

mod call;
pub mod classify;
mod client;
mod counting;
mod grpc;
mod layer;
mod metrics;
mod peer;
mod server;

pub use call::{DEFAULT_EXCLUDED_SERVICES, GrpcCall};
pub use client::{GrpcClientLayer, GrpcClientService};
pub use counting::{CountMessages, CountedBody, MessageCounts, TonicRequestBody};
pub use layer::{CallSide, ClientSide, GrpcLayer, ServerSide};
pub use server::{GrpcServerLayer, GrpcServerService};
/// tower's `Layer` trait, whose `layer(channel)` wraps a client in [`GrpcClientLayer`]:
/// re-exported so that an application needs no `tower` dependency for it.
pub use tower_layer::Layer;

#[cfg(test)]
mod tests;
