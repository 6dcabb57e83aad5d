//! Tower middleware that traces and measures HTTP: W3C context (and B3 when
//! `OTEL_PROPAGATORS` says so) in and out, stable semantic-convention spans, and the
//! standard `http.server.*` / `http.client.*` metrics.
//!
//! - [`HttpServerLayer`] for incoming requests (axum, hyper, any tower HTTP service).
//! - [`HttpClientLayer`] for outgoing requests (hyper-util's client or any tower HTTP
//!   client service); for `reqwest`, the `reqwest` feature adds a `reqwest-middleware`
//!   middleware, `obs_tower::reqwest::TracingMiddleware`.
//!
//! Behind a reverse proxy, [`HttpServerLayer::with_forwarded_headers`] takes the original
//! request's `server.address`, `url.scheme` and `client.address` from `Forwarded` or
//! `X-Forwarded-*`; it is off by default, as clients can forge these headers. A server
//! that terminates TLS itself says so with [`HttpServerLayer::with_tls`] (an HTTP/1.1
//! request does not name its scheme, so `url.scheme` would read `http`).
//!
//! A caller's trace is never dropped: when no span layer sees the server span (a global
//! filter such as a `LevelFilter` layer disabled it, or the subscriber has no
//! [`SpanLayer`](obs_trace::SpanLayer)), the caller's context stays current while the
//! request runs, so the handler's logs and outgoing calls still continue the trace.
//!
//! Both are thin policies ([`Hooks`]) over one piece of plumbing ([`Instrumented`]), which
//! the gRPC middleware of `obs-tonic` reuses, and share one builder, [`HttpLayer`].
//!
//! Built for `http` 1, tower 0.5 and, with the `axum` feature, axum 0.8: an application on
//! an older axum or hyper (`http` 0.2) gets "multiple different versions of crate" errors.
//!
//! ```
//! use http::{Request, Response};
//! use obs_trace::{InMemorySpanSink, SpanLayer};
//! use obs_tower::HttpServerLayer;
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
//! let service = ServiceBuilder::new()
//!     .layer(HttpServerLayer::new())
//!     .service_fn(|_req: Request<String>| async {
//!         Ok::<_, Infallible>(Response::new(String::from("hello")))
//!     });
//! let request = Request::get("/hello")
//!     .header("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
//!     .body(String::new())
//!     .unwrap();
//! let response = service.oneshot(request).await.unwrap();
//! // The span ends with the body: here, when the body is dropped.
//! drop(response);
//!
//! let span = &sink.spans()[0];
//! assert_eq!(span.name, "GET");
//! assert_eq!(span.span_context.trace_id.to_string(), "0af7651916cd43dd8448eb211c80319c");
//! assert_eq!(span.parent_span_id.to_string(), "b7ad6b7169203331");
//! # }
//! ```

// On docs.rs (`--cfg docsrs`, see Cargo.toml), each feature-gated item says which feature
// enables it.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod body;
pub mod classify;
mod client;
mod config;
mod forwarded;
mod future;
mod headers;
mod hooks;
mod layer;
mod metrics;
#[cfg(feature = "reqwest")]
pub mod reqwest;
mod route;
mod semconv;
mod server;
mod service;

pub use body::ResponseBody;
pub use client::{HttpClientCall, HttpClientLayer};
pub use future::ResponseFuture;
pub use headers::{CREDENTIAL_HEADERS, CapturedHeaders, CapturedValues};
pub use hooks::{CallError, CallHooks, CallSpan, Hooks};
pub use layer::{HttpInstruments, HttpLayer};
pub use metrics::{ClientMetrics, ServerMetrics};
pub use route::PeerAddr;
pub use semconv::{interned_server_address, server_address};
pub use server::{HttpServerCall, HttpServerLayer};
pub use service::Instrumented;
/// tower's `Layer` trait, whose `layer(client)` wraps a client in [`HttpClientLayer`]:
/// re-exported so that an application needs no `tower` dependency for it.
pub use tower_layer::Layer;

/// This crate's version: the OTLP instrumentation scope `obs_tower` (the crate of its spans'
/// `tracing` target) is exported with it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

#[cfg(test)]
mod tests;
