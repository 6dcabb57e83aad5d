//! The span path, our headline cost: `tracing::info_span!` entered and closed, per span, on
//! the application's thread.
//!
//! - `obs/sampled`: the subscriber `obs_core::init` installs, exporting for real over
//!   OTLP/gRPC to an in-process receiver (conservative: the peer below exports to a no-op).
//! - `obs/unsampled`: the same layers with the `always_off` sampler.
//! - `tracing-opentelemetry/sampled`: `tracing` + `tracing-opentelemetry` 0.34 + the SDK batch
//!   processor (default settings) with a no-op exporter, as usually set up.
//! - `tracing-opentelemetry/unsampled`: the same with the SDK's `AlwaysOff` sampler.
//!
//! Run: `CARGO_TARGET_DIR=target/bench cargo bench -p obs-core --bench span_path`

// criterion's macros generate undocumented public items.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter};
use tracing_subscriber::prelude::*;

#[derive(Debug)]
struct NoopExporter;

impl SpanExporter for NoopExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        black_box(batch);
        Ok(())
    }
}

fn span() {
    let span = tracing::info_span!("handle", order.id = 7_i64, user = "ann");
    let _entered = span.enter();
}

fn peer(
    sampler: opentelemetry_sdk::trace::Sampler,
) -> (impl tracing::Subscriber + Send + Sync, SdkTracerProvider) {
    let provider = SdkTracerProvider::builder()
        .with_sampler(sampler)
        .with_batch_exporter(NoopExporter)
        .build();
    let tracer = provider.tracer("bench");
    let subscriber = tracing_subscriber::registry().with(
        tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_filter(tracing_subscriber::EnvFilter::new("info")),
    );
    (subscriber, provider)
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let receiver = rt
        .block_on(obs_core::testing::OtlpReceiver::start(
            obs_core::testing::ReceiverConfig::default().max_items_per_signal(1),
        ))
        .expect("receiver");
    let telemetry = obs_core::builder()
        .service_name("bench")
        .protocol(obs_core::Protocol::Grpc)
        .otlp_endpoint(receiver.grpc_endpoint())
        .json_logs(false)
        .init()
        .expect("init");

    let mut g = c.benchmark_group("span_path");
    g.bench_function("obs/sampled", |b| b.iter(span));
    let unsampled = tracing_subscriber::registry().with(
        obs_core::trace::SpanLayer::new()
            .with_sampler(obs_core::trace::Sampler::AlwaysOff)
            .with_filter(tracing_subscriber::EnvFilter::new("info")),
    );
    tracing::subscriber::with_default(unsampled, || {
        g.bench_function("obs/unsampled", |b| b.iter(span))
    });

    let (sub, provider) = peer(opentelemetry_sdk::trace::Sampler::AlwaysOn);
    tracing::subscriber::with_default(sub, || {
        g.bench_function("tracing-opentelemetry/sampled", |b| b.iter(span))
    });
    let _ = provider.shutdown();
    let (sub, provider) = peer(opentelemetry_sdk::trace::Sampler::AlwaysOff);
    tracing::subscriber::with_default(sub, || {
        g.bench_function("tracing-opentelemetry/unsampled", |b| b.iter(span))
    });
    let _ = provider.shutdown();
    g.finish();

    let counts = telemetry.counts();
    eprintln!("obs pipeline counts during the bench: {counts:?}");
    drop(telemetry);
    drop(receiver);
    rt.shutdown_timeout(Duration::from_secs(1));
}

criterion_group!(benches, bench);
criterion_main!(benches);
