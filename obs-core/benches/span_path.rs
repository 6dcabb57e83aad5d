//! The span path, our headline cost: `tracing::info_span!` entered and closed, per span, on
//! the application's thread.
//!
//! - `obs/sampled`: `obs_trace::SpanLayer` with the traces filter `info`, as `init`
//!   installs it, with the application-thread half of the pipeline: a push into a
//!   bounded (2048) lock-free `ArrayQueue`, which is what `BatchQueue::push` does, drained by
//!   a thread that discards (the no-op exporter).
//! - `obs/unsampled`: the same with the `always_off` sampler (a root span, then the
//!   measured span inside it, which is not created at all: `UnsampledSpans::Skip`, what
//!   `init` installs when no JSON log lines are written).
//! - `obs/unsampled-keep`: the same with `UnsampledSpans::Keep` (what `init` installs with
//!   JSON log lines, which show every span's fields): the span is created, nothing is
//!   recorded.
//! - `obs/sampled-otlp`: the subscriber `obs_core::init` really installs, exporting over
//!   OTLP/gRPC to an in-process receiver; its background threads share the 2 cores with the
//!   measurement, so this is the conservative number.
//! - `obs/debug-event-below-rust-log`: under that subscriber, a `debug!` event that RUST_LOG
//!   (`info`) rules out, inside a span: what each of a dependency's debug logs costs.
//! - `registry-only`: `tracing-subscriber`'s registry with a no-op layer, the floor under
//!   every layer here.
//! - `tracing-opentelemetry/sampled`: `tracing` + `tracing-opentelemetry` 0.34 + the SDK batch
//!   processor (default settings) with a no-op exporter, as usually set up.
//! - `tracing-opentelemetry/unsampled`: the same with the SDK's `AlwaysOff` sampler (also
//!   inside an unsampled root).
//!
//! Run: `CARGO_TARGET_DIR=target/bench cargo bench -p obs-core --bench span_path`

// criterion's macros generate undocumented public items.
#![allow(missing_docs)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use crossbeam_queue::ArrayQueue;
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

/// The application-thread half of `obs-core`'s span queue, with a no-op exporter behind it.
#[derive(Debug)]
struct QueueSink(Arc<ArrayQueue<obs_core::trace::SpanData>>);

impl obs_core::trace::SpanSink for QueueSink {
    fn on_end(&self, span: obs_core::trace::SpanData) {
        let _ = self.0.push(span);
    }
}

fn obs_layers(
    sampler: obs_core::trace::Sampler,
    unsampled_spans: obs_core::trace::UnsampledSpans,
) -> impl tracing::Subscriber + Send + Sync {
    let queue = Arc::new(ArrayQueue::new(2048));
    let drained = queue.clone();
    std::thread::spawn(move || {
        loop {
            while drained.pop().is_some() {}
            std::thread::sleep(Duration::from_millis(1));
        }
    });
    tracing_subscriber::registry().with(
        obs_core::trace::SpanLayer::new()
            .with_sampler(sampler)
            .with_unsampled_spans(unsampled_spans)
            .with_sink(Arc::new(QueueSink(queue)))
            .with_traces_filter(
                tracing_subscriber::filter::Targets::new().with_default(tracing::Level::INFO),
            ),
    )
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
    let mut g = c.benchmark_group("span_path");
    // The floor every tracing layer pays: the registry alone.
    let floor = tracing_subscriber::registry().with(tracing_subscriber::layer::Identity::new());
    tracing::subscriber::with_default(floor, || {
        g.bench_function("registry-only", |b| b.iter(span));
    });
    use obs_core::trace::{Sampler, UnsampledSpans};
    let sampled = obs_layers(Sampler::AlwaysOn, UnsampledSpans::Skip);
    tracing::subscriber::with_default(sampled, || {
        g.bench_function("obs/sampled", |b| b.iter(span));
    });
    for (name, unsampled_spans) in [
        ("obs/unsampled", UnsampledSpans::Skip),
        ("obs/unsampled-keep", UnsampledSpans::Keep),
    ] {
        tracing::subscriber::with_default(obs_layers(Sampler::AlwaysOff, unsampled_spans), || {
            let _root = tracing::info_span!("root").entered();
            g.bench_function(name, |b| b.iter(span));
        });
    }

    let (sub, provider) = peer(opentelemetry_sdk::trace::Sampler::AlwaysOn);
    tracing::subscriber::with_default(sub, || {
        g.bench_function("tracing-opentelemetry/sampled", |b| b.iter(span));
    });
    let _ = provider.shutdown();
    let (sub, provider) = peer(opentelemetry_sdk::trace::Sampler::AlwaysOff);
    tracing::subscriber::with_default(sub, || {
        let _root = tracing::info_span!("root").entered();
        g.bench_function("tracing-opentelemetry/unsampled", |b| b.iter(span));
    });
    let _ = provider.shutdown();

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
    g.bench_function("obs/sampled-otlp", |b| b.iter(span));
    // A `debug!` below RUST_LOG (`info`, the default) inside a span, as hyper and h2 make
    // per connection and frame: its callsite is disabled, its fields never evaluated.
    let _request = tracing::info_span!("request").entered();
    g.bench_function("obs/debug-event-below-rust-log", |b| {
        b.iter(|| tracing::debug!(rows = black_box(3_i64), "below RUST_LOG"))
    });
    g.finish();
    eprintln!(
        "obs pipeline counts during sampled-otlp: {:?}",
        telemetry.counts()
    );
    drop(telemetry);
    drop(receiver);
    rt.shutdown_timeout(Duration::from_secs(1));
}

criterion_group!(benches, bench);
criterion_main!(benches);
