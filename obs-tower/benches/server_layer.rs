//! Per-request overhead of the server layer, in process (no network): a ready service is
//! called with a request carrying a sampled `traceparent`, its future is polled to
//! completion and its body read to the end, against the bare service and the peers:
//!
//! - `obs_tower`: [`HttpServerLayer`] with `obs_trace::SpanLayer` (every span sampled and
//!   handed to a sink that drops it) and the HTTP metrics in an `obs_metrics` registry;
//!   for the breakdown, `obs_tower/unsampled` (the caller's flags say not sampled: ids are
//!   made and propagated, no attributes recorded), `obs_tower/no_subscriber` (spans
//!   disabled: the layer's own work and the metrics) and `obs_tower/registry_only` (a bare
//!   `tracing_subscriber::registry()`: the span created, entered, recorded and closed by
//!   `tracing`, with no span layer);
//! - `tower_http_trace+tracing_opentelemetry`: `tower_http::trace::TraceLayer` making a
//!   span whose parent is extracted with the SDK's `TraceContextPropagator`, exported by
//!   `tracing-opentelemetry` 0.34 to an SDK tracer provider with a no-op exporter (no
//!   metrics: TraceLayer records none);
//! - `opentelemetry_instrumentation_tower`: its layer, with the same SDK tracer provider
//!   and an SDK meter provider with a manual reader (metrics kept in memory).
//!
//! Each `…/added` bench measures the overhead itself: the variant's time minus the bare
//! service's, the two run in alternating batches in one process (`support/interleaved.rs`),
//! which keeps the host's noise out of the difference.
//!
//! ```text
//! CARGO_TARGET_DIR=target/bench cargo bench -p obs-tower --bench server_layer -- --warm-up-time 1 --measurement-time 3
//! ```

// `criterion_group!` generates an undocumented `pub fn`.
#![allow(missing_docs)]

#[path = "support/interleaved.rs"]
mod interleaved;

use std::convert::Infallible;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http::{HeaderMap, Request, Response};
use http_body::Body;
use http_body_util::Full;
use obs_tower::HttpServerLayer;
use obs_trace::opentelemetry::propagation::{Extractor, TextMapPropagator};
use obs_trace::opentelemetry::trace::TracerProvider as _;
use obs_trace::{Sampler, SpanData, SpanLayer, SpanSink};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::{ManualReader, SdkMeterProvider};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanExporter};
use tower::{Layer, Service, ServiceBuilder};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::prelude::*;

const SAMPLED: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
const UNSAMPLED: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00";

fn request(traceparent: &'static str) -> Request<Full<Bytes>> {
    Request::get("/users/42?page=2")
        .header("host", "api.example.com:8080")
        .header("user-agent", "bench/1")
        .header("traceparent", traceparent)
        .body(Full::new(Bytes::new()))
        .unwrap_or_default()
}

async fn handler(_req: Request<Full<Bytes>>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(b"hello"))))
}

/// Calls the ready service once and reads the body to its end; every future here is ready
/// on its first poll.
fn drive<S, B>(service: &mut S, traceparent: &'static str)
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>>,
    B: Body,
{
    let mut cx = Context::from_waker(Waker::noop());
    let future = pin!(service.call(request(traceparent)));
    let Poll::Ready(Ok(response)) = future.poll(&mut cx) else {
        panic!("the bench service completes on its first poll");
    };
    let mut body = pin!(response.into_body());
    while let Poll::Ready(Some(_)) = body.as_mut().poll_frame(&mut cx) {}
}

fn bench_service<S, B>(c: &mut Criterion, name: &str, traceparent: &'static str, mut service: S)
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>>,
    B: Body,
{
    c.bench_function(name, |b| b.iter(|| drive(&mut service, traceparent)));
}

/// The overhead of `service` over the bare service, measured interleaved (`{name}/added`).
fn bench_added<S, B>(c: &mut Criterion, name: &str, traceparent: &'static str, mut service: S)
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>>,
    B: Body,
{
    let mut bare = tower::service_fn(handler);
    c.bench_function(&format!("{name}/added"), |b| {
        b.iter_custom(|iters| {
            interleaved::added(
                iters,
                || drive(&mut bare, traceparent),
                || drive(&mut service, traceparent),
            )
        })
    });
}

fn obs_tower_service() -> impl Service<Request<Full<Bytes>>, Response = Response<impl Body>> {
    HttpServerLayer::new()
        .with_registry(&obs_metrics::Registry::new())
        .layer(tower::service_fn(handler))
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

struct HeaderExtractor<'a>(&'a HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

fn sdk_tracer_provider() -> SdkTracerProvider {
    SdkTracerProvider::builder()
        .with_simple_exporter(NoopExporter)
        .build()
}

fn server_layer(c: &mut Criterion) {
    bench_service(c, "server_layer/bare", SAMPLED, tower::service_fn(handler));
    bench_service(
        c,
        "server_layer/obs_tower/no_subscriber",
        SAMPLED,
        obs_tower_service(),
    );

    // What `tracing`'s registry alone costs the layer's span (created, entered, recorded,
    // closed), with no span layer: the floor under any `tracing`-based span.
    tracing::subscriber::with_default(tracing_subscriber::registry(), || {
        bench_service(
            c,
            "server_layer/obs_tower/registry_only",
            SAMPLED,
            obs_tower_service(),
        );
    });

    let subscriber = tracing_subscriber::registry().with(
        SpanLayer::new()
            .with_sampler(Sampler::default())
            .with_sink(Arc::new(DropSpans)),
    );
    tracing::subscriber::with_default(subscriber, || {
        bench_service(c, "server_layer/obs_tower", SAMPLED, obs_tower_service());
        bench_service(
            c,
            "server_layer/obs_tower/unsampled",
            UNSAMPLED,
            obs_tower_service(),
        );
        bench_added(c, "server_layer/obs_tower", SAMPLED, obs_tower_service());
        bench_added(
            c,
            "server_layer/obs_tower/unsampled",
            UNSAMPLED,
            obs_tower_service(),
        );
    });

    let provider = sdk_tracer_provider();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("bench")));
    tracing::subscriber::with_default(subscriber, || {
        let propagator = TraceContextPropagator::new();
        let service = ServiceBuilder::new()
            .layer(
                tower_http::trace::TraceLayer::new_for_http().make_span_with(
                    move |req: &Request<Full<Bytes>>| {
                        let parent = propagator.extract(&HeaderExtractor(req.headers()));
                        let span = tracing::info_span!(
                            "request",
                            method = %req.method(),
                            uri = %req.uri(),
                            version = ?req.version(),
                        );
                        let _ = span.set_parent(parent);
                        span
                    },
                ),
            )
            .service_fn(handler);
        bench_service(
            c,
            "server_layer/tower_http_trace+tracing_opentelemetry",
            SAMPLED,
            service.clone(),
        );
        bench_added(
            c,
            "server_layer/tower_http_trace+tracing_opentelemetry",
            SAMPLED,
            service,
        );
    });

    obs_trace::opentelemetry::global::set_tracer_provider(sdk_tracer_provider());
    obs_trace::opentelemetry::global::set_meter_provider(
        SdkMeterProvider::builder()
            .with_reader(ManualReader::builder().build())
            .build(),
    );
    obs_trace::opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let service = opentelemetry_instrumentation_tower::http::server::Layer::new()
        .layer(tower::service_fn(handler));
    bench_service(
        c,
        "server_layer/opentelemetry_instrumentation_tower",
        SAMPLED,
        service.clone(),
    );
    bench_added(
        c,
        "server_layer/opentelemetry_instrumentation_tower",
        SAMPLED,
        service,
    );
    let _ = provider.shutdown();
}

criterion_group!(benches, server_layer);
criterion_main!(benches);
