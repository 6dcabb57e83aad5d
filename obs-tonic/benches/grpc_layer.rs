//! Per-call overhead of the gRPC server layer, in process (no network): a unary tonic
//! handler (`tonic::server::Grpc` with the prost codec, echoing a `string` message) is
//! called with a ready-made HTTP/2 request carrying a gRPC-framed body and a sampled
//! `traceparent`; its future is polled to completion and the response body read to its
//! end (message, then trailers), against the bare handler and a peer:
//!
//! - `obs_tonic`: [`GrpcServerLayer`] with `obs_trace::SpanLayer` (every span sampled and
//!   handed to a sink that drops it) and the RPC metrics in an `obs_metrics` registry; for
//!   the breakdown, `obs_tonic/unsampled` (the caller's flags say not sampled),
//!   `obs_tonic/no_subscriber` (spans disabled: the layer's own work and the metrics),
//!   `obs_tonic/stable` and `obs_tonic/dup` (the stable RPC conventions, and both) and
//!   `obs_tonic/registry_only` (a bare `tracing_subscriber::registry()`: the span created,
//!   entered, recorded and closed by `tracing`, with no span layer);
//! - `tonic_tracing_opentelemetry`: its server `OtelGrpcLayer` 0.42, exported by
//!   `tracing-opentelemetry` 0.34 to an SDK tracer provider with a no-op exporter and the
//!   SDK's W3C propagator (spans only: it records no metrics).
//!
//! Each `…/added` bench measures the overhead itself: the variant's time minus the bare
//! handler's, the two run in alternating batches in one process (`support/interleaved.rs`
//! of obs-tower's benches), which keeps the host's noise out of the difference.
//!
//! ```text
//! CARGO_TARGET_DIR=/work/main/target/bench cargo bench -p obs-tonic --bench grpc_layer -- --warm-up-time 1 --measurement-time 3
//! ```

// `criterion_group!` generates an undocumented `pub fn`.
#![allow(missing_docs)]

#[path = "../../obs-tower/benches/support/interleaved.rs"]
mod interleaved;

use std::convert::Infallible;
use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http::{Request, Response};
use http_body::Body;
use http_body_util::Full;
use obs_tonic::GrpcServerLayer;
use obs_trace::opentelemetry::trace::TracerProvider as _;
use obs_trace::{RpcConventions, Sampler, SpanData, SpanLayer, SpanSink};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanExporter};
use tonic::server::UnaryService;
use tonic_prost::ProstCodec;
use tower::{Layer, Service};
use tracing_subscriber::prelude::*;

const SAMPLED: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
const UNSAMPLED: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00";

/// The request body: one gRPC message (`string` "hello"), 5-byte prefixed.
fn framed_hello() -> Bytes {
    let message = prost::Message::encode_to_vec(&String::from("hello"));
    let mut framed = vec![0];
    framed.extend_from_slice(&(message.len() as u32).to_be_bytes());
    framed.extend_from_slice(&message);
    Bytes::from(framed)
}

fn request(body: &Bytes, traceparent: &'static str) -> Request<Full<Bytes>> {
    Request::post("http://echo.internal:50051/bench.v1.Echo/Say")
        .version(http::Version::HTTP_2)
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("traceparent", traceparent)
        .body(Full::new(body.clone()))
        .unwrap_or_default()
}

/// The unary handler: echoes the message.
#[derive(Clone, Copy)]
struct Say;

impl UnaryService<String> for Say {
    type Response = String;
    type Future = std::future::Ready<Result<tonic::Response<String>, tonic::Status>>;

    fn call(&mut self, request: tonic::Request<String>) -> Self::Future {
        std::future::ready(Ok(tonic::Response::new(request.into_inner())))
    }
}

/// What a generated server does for one unary method.
#[derive(Clone, Copy)]
struct EchoServer;

impl<B> Service<Request<B>> for EchoServer
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send + 'static,
{
    type Response = Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        Box::pin(async move {
            let mut grpc = tonic::server::Grpc::new(ProstCodec::<String, String>::default());
            Ok(grpc.unary(Say, request).await)
        })
    }
}

/// Polls `future` to completion with a no-op waker: everything here is ready at once,
/// a few polls at most.
fn ready<F: Future>(future: F) -> F::Output {
    let mut cx = Context::from_waker(Waker::noop());
    let mut future = pin!(future);
    for _ in 0..16 {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
    }
    panic!("the bench service completes without waiting");
}

/// Calls the ready service once and reads the body (message and trailers) to its end.
fn drive<S, B>(service: &mut S, body: &Bytes, traceparent: &'static str)
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>>,
    S::Error: std::fmt::Debug,
    B: Body,
{
    let Ok(response) = ready(service.call(request(body, traceparent))) else {
        panic!("the bench service does not fail");
    };
    let mut body = pin!(response.into_body());
    ready(std::future::poll_fn(|cx| {
        while let Poll::Ready(Some(_)) = body.as_mut().poll_frame(cx) {}
        Poll::Ready(())
    }));
    assert!(body.is_end_stream(), "the response is read to its end");
}

fn bench_service<S, B>(c: &mut Criterion, name: &str, traceparent: &'static str, mut service: S)
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>>,
    S::Error: std::fmt::Debug,
    B: Body,
{
    let body = framed_hello();
    c.bench_function(name, |b| b.iter(|| drive(&mut service, &body, traceparent)));
}

/// The overhead of `service` over the bare handler, measured interleaved (`{name}/added`).
fn bench_added<S, B>(c: &mut Criterion, name: &str, traceparent: &'static str, mut service: S)
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>>,
    S::Error: std::fmt::Debug,
    B: Body,
{
    let body = framed_hello();
    let mut bare = EchoServer;
    c.bench_function(&format!("{name}/added"), |b| {
        b.iter_custom(|iters| {
            interleaved::added(
                iters,
                || drive(&mut bare, &body, traceparent),
                || drive(&mut service, &body, traceparent),
            )
        })
    });
}

fn obs_tonic_service()
-> impl Service<Request<Full<Bytes>>, Response = Response<impl Body>, Error = Infallible> {
    GrpcServerLayer::new()
        .with_registry(&obs_metrics::Registry::new())
        .layer(EchoServer)
}

/// [`obs_tonic_service`] emitting `conventions` (a layer takes them when it is built).
fn obs_tonic_service_emitting(
    conventions: RpcConventions,
) -> impl Service<Request<Full<Bytes>>, Response = Response<impl Body>, Error = Infallible> {
    obs_trace::set_rpc_conventions(conventions);
    let service = obs_tonic_service();
    obs_trace::set_rpc_conventions(RpcConventions::Old);
    service
}

/// Drops every span, like a no-op exporter.
#[derive(Debug)]
struct DropSpans;

impl SpanSink for DropSpans {
    fn on_end(&self, span: SpanData) {
        drop(std::hint::black_box(span));
    }
}

#[derive(Debug)]
struct NoopExporter;

impl SpanExporter for NoopExporter {
    async fn export(&self, batch: Vec<opentelemetry_sdk::trace::SpanData>) -> OTelSdkResult {
        drop(std::hint::black_box(batch));
        Ok(())
    }
}

fn grpc_layer(c: &mut Criterion) {
    bench_service(c, "grpc_layer/bare", SAMPLED, EchoServer);
    bench_service(
        c,
        "grpc_layer/obs_tonic/no_subscriber",
        SAMPLED,
        obs_tonic_service(),
    );

    // What `tracing`'s registry alone costs the layer's span (created, entered, recorded,
    // closed), with no span layer: the floor under any `tracing`-based span.
    tracing::subscriber::with_default(tracing_subscriber::registry(), || {
        bench_service(
            c,
            "grpc_layer/obs_tonic/registry_only",
            SAMPLED,
            obs_tonic_service(),
        );
    });

    let subscriber = tracing_subscriber::registry().with(
        SpanLayer::new()
            .with_sampler(Sampler::default())
            .with_sink(Arc::new(DropSpans)),
    );
    tracing::subscriber::with_default(subscriber, || {
        bench_service(c, "grpc_layer/obs_tonic", SAMPLED, obs_tonic_service());
        // `OTEL_SEMCONV_STABILITY_OPT_IN=rpc` and `rpc/dup`.
        bench_service(
            c,
            "grpc_layer/obs_tonic/stable",
            SAMPLED,
            obs_tonic_service_emitting(RpcConventions::Stable),
        );
        bench_service(
            c,
            "grpc_layer/obs_tonic/dup",
            SAMPLED,
            obs_tonic_service_emitting(RpcConventions::Both),
        );
        bench_service(
            c,
            "grpc_layer/obs_tonic/unsampled",
            UNSAMPLED,
            obs_tonic_service(),
        );
        bench_added(c, "grpc_layer/obs_tonic", SAMPLED, obs_tonic_service());
        bench_added(
            c,
            "grpc_layer/obs_tonic/unsampled",
            UNSAMPLED,
            obs_tonic_service(),
        );
    });

    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(NoopExporter)
        .build();
    obs_trace::opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("bench")));
    tracing::subscriber::with_default(subscriber, || {
        let service = tonic_tracing_opentelemetry::middleware::server::OtelGrpcLayer::default()
            .layer(EchoServer);
        bench_service(
            c,
            "grpc_layer/tonic_tracing_opentelemetry",
            SAMPLED,
            service.clone(),
        );
        bench_added(
            c,
            "grpc_layer/tonic_tracing_opentelemetry",
            SAMPLED,
            service,
        );
    });
    let _ = provider.shutdown();
}

criterion_group!(benches, grpc_layer);
criterion_main!(benches);
