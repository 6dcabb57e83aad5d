//! obs-metrics against raw prometheus-client, the `metrics` crate with
//! `metrics-exporter-prometheus`, and `opentelemetry_sdk` instruments: counter increment,
//! histogram observation and labelled lookup + update (a counter and a histogram with the
//! four HTTP server labels), on 1 and 2 threads; plus exemplar capture with and without a
//! current span.
//!
//! `CARGO_TARGET_DIR=/work/main/target/bench cargo bench -p obs-metrics --bench metrics -- --warm-up-time 1 --measurement-time 3`
//!
//! The 2-thread numbers are the wall time per operation with both threads updating the
//! same series at once (the contended case a busy server hits).

// `criterion_group!` generates an undocumented `pub fn`.
#![allow(missing_docs)]

use std::hint::black_box;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use criterion::{
    BenchmarkGroup, Criterion, criterion_group, criterion_main, measurement::WallTime,
};
use obs_metrics::{Counter, EncodeLabelSet, Family, Histogram, Registry};
use opentelemetry::KeyValue;
use opentelemetry::metrics::MeterProvider as _;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    http_request_method: &'static str,
    http_route: &'static str,
    http_response_status_code: u16,
    url_scheme: &'static str,
}

const LABELS: HttpLabels = HttpLabels {
    http_request_method: "GET",
    http_route: "/users/{id}",
    http_response_status_code: 200,
    url_scheme: "http",
};

/// Runs `op` on `threads` threads at once, `iters` times each; the slowest thread's time.
fn on_threads(threads: usize, iters: u64, op: &(dyn Fn() + Sync)) -> Duration {
    if threads == 1 {
        let start = Instant::now();
        for _ in 0..iters {
            op();
        }
        return start.elapsed();
    }
    let barrier = Barrier::new(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    let start = Instant::now();
                    for _ in 0..iters {
                        op();
                    }
                    start.elapsed()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .max()
            .unwrap_or_default()
    })
}

fn bench(group: &mut BenchmarkGroup<'_, WallTime>, name: &str, op: &(dyn Fn() + Sync)) {
    for threads in [1, 2] {
        group.bench_function(format!("{name}/{threads}t"), |b| {
            b.iter_custom(|iters| on_threads(threads, iters, op))
        });
    }
}

struct Otel {
    _provider: opentelemetry_sdk::metrics::SdkMeterProvider,
    counter: opentelemetry::metrics::Counter<u64>,
    histogram: opentelemetry::metrics::Histogram<f64>,
}

fn otel() -> Otel {
    let provider = opentelemetry_sdk::metrics::SdkMeterProvider::builder()
        .with_reader(opentelemetry_sdk::metrics::ManualReader::builder().build())
        .build();
    let meter = provider.meter("bench");
    Otel {
        counter: meter.u64_counter("http.server.requests").build(),
        histogram: meter
            .f64_histogram("http.server.request.duration")
            .with_unit("s")
            .build(),
        _provider: provider,
    }
}

fn otel_attributes() -> [KeyValue; 4] {
    [
        KeyValue::new("http.request.method", "GET"),
        KeyValue::new("http.route", "/users/{id}"),
        KeyValue::new("http.response.status_code", 200),
        KeyValue::new("url.scheme", "http"),
    ]
}

fn install_metrics_recorder() {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    metrics::set_global_recorder(recorder).expect("first recorder");
}

fn counter_increment(c: &mut Criterion) {
    let mut group = c.benchmark_group("counter_inc");
    let ours = Registry::new().counter("requests", "Requests.").unwrap();
    bench(&mut group, "obs_metrics", &|| ours.inc());
    let raw: prometheus_client::metrics::counter::Counter = Default::default();
    bench(&mut group, "prometheus_client", &|| {
        raw.inc();
    });
    let handle = metrics::counter!("requests_total");
    bench(&mut group, "metrics_crate", &|| handle.increment(1));
    let otel = otel();
    bench(&mut group, "opentelemetry_sdk", &|| {
        otel.counter.add(1, &[])
    });
    group.finish();
}

fn histogram_observe(c: &mut Criterion) {
    let mut group = c.benchmark_group("histogram_observe");
    let ours = Registry::new()
        .histogram("duration_seconds", "Duration.")
        .unwrap();
    bench(&mut group, "obs_metrics", &|| {
        ours.observe(black_box(0.042))
    });
    let raw = prometheus_client::metrics::histogram::Histogram::new(
        obs_metrics::DEFAULT_BUCKETS.iter().copied(),
    );
    bench(&mut group, "prometheus_client", &|| {
        raw.observe(black_box(0.042))
    });
    let handle = metrics::histogram!("duration_seconds");
    bench(&mut group, "metrics_crate", &|| {
        handle.record(black_box(0.042))
    });
    let otel = otel();
    bench(&mut group, "opentelemetry_sdk", &|| {
        otel.histogram.record(black_box(0.042), &[])
    });
    group.finish();
}

fn labelled_lookup_and_update(c: &mut Criterion) {
    let mut group = c.benchmark_group("labelled_counter_and_histogram");
    let registry = Registry::new();
    let requests: Family<HttpLabels, Counter> = registry
        .family("http_server_requests", "Requests.")
        .unwrap();
    let duration: Family<HttpLabels, Histogram> = registry
        .family("http_server_request_duration_seconds", "Duration.")
        .unwrap();
    bench(&mut group, "obs_metrics_typed", &|| {
        let labels = black_box(&LABELS);
        requests.get(labels).inc();
        duration.get(labels).observe(0.042);
    });
    let names = [
        "http_request_method",
        "http_route",
        "http_response_status_code",
        "url_scheme",
    ];
    let dyn_requests = registry
        .dyn_family::<Counter>("http_server_requests_dyn", "Requests.", &names)
        .unwrap();
    let dyn_duration = registry
        .dyn_family::<Histogram>(
            "http_server_request_duration_dyn_seconds",
            "Duration.",
            &names,
        )
        .unwrap();
    bench(&mut group, "obs_metrics_dyn", &|| {
        let labels = black_box([
            ("http_request_method", "GET"),
            ("http_route", "/users/{id}"),
            ("http_response_status_code", "200"),
            ("url_scheme", "http"),
        ]);
        dyn_requests.get(&labels).inc();
        dyn_duration.get(&labels).observe(0.042);
    });
    bench(&mut group, "obs_metrics_dyn_values", &|| {
        let values = black_box(["GET", "/users/{id}", "200", "http"]);
        dyn_requests.get_values(&values).inc();
        dyn_duration.get_values(&values).observe(0.042);
    });

    let raw_requests = prometheus_client::metrics::family::Family::<
        HttpLabels,
        prometheus_client::metrics::counter::Counter,
    >::default();
    let raw_duration = prometheus_client::metrics::family::Family::<
        HttpLabels,
        prometheus_client::metrics::histogram::Histogram,
    >::new_with_constructor(|| {
        prometheus_client::metrics::histogram::Histogram::new(
            obs_metrics::DEFAULT_BUCKETS.iter().copied(),
        )
    });
    bench(&mut group, "prometheus_client", &|| {
        let labels = black_box(&LABELS);
        raw_requests.get_or_create(labels).inc();
        raw_duration.get_or_create(labels).observe(0.042);
    });

    bench(&mut group, "metrics_crate", &|| {
        let status = black_box("200");
        metrics::counter!("http_server_requests_total", "http_request_method" => "GET", "http_route" => "/users/{id}", "http_response_status_code" => status, "url_scheme" => "http").increment(1);
        metrics::histogram!("http_server_request_duration_seconds", "http_request_method" => "GET", "http_route" => "/users/{id}", "http_response_status_code" => status, "url_scheme" => "http").record(0.042);
    });

    let otel = otel();
    bench(&mut group, "opentelemetry_sdk", &|| {
        let attributes = black_box(otel_attributes());
        otel.counter.add(1, &attributes);
        otel.histogram.record(0.042, &attributes);
    });
    group.finish();
}

fn exemplar_capture(c: &mut Criterion) {
    use obs_trace::{Sampler, SpanLayer};
    use tracing_subscriber::prelude::*;

    let mut group = c.benchmark_group("exemplar_capture");
    let registry = Registry::new();
    let counter = registry.counter("requests", "Requests.").unwrap();
    let histogram = registry.histogram("duration_seconds", "Duration.").unwrap();
    group.bench_function("counter_inc/no_span", |b| b.iter(|| counter.inc()));
    group.bench_function("histogram_observe/no_span", |b| {
        b.iter(|| histogram.observe(black_box(0.042)))
    });
    let subscriber =
        tracing_subscriber::registry().with(SpanLayer::new().with_sampler(Sampler::AlwaysOn));
    let _default = tracing::subscriber::set_default(subscriber);
    {
        // One span entered throughout: after the first capture the cell already holds this
        // span, so this is the check-and-skip path (a loop inside one span).
        let span = tracing::info_span!("request");
        let _entered = span.enter();
        group.bench_function("counter_inc/same_span", |b| b.iter(|| counter.inc()));
        group.bench_function("histogram_observe/same_span", |b| {
            b.iter(|| histogram.observe(black_box(0.042)))
        });
    }
    // Two spans entered in turn: every capture stores a new exemplar. The store cost is
    // (switch_with_inc - switch_only) / 2 minus a plain increment.
    let a = tracing::info_span!("a");
    let b = tracing::info_span!("b");
    group.bench_function("span_switch_only", |bench| {
        bench.iter(|| {
            a.in_scope(|| black_box(()));
            b.in_scope(|| black_box(()));
        })
    });
    group.bench_function("span_switch_with_counter_inc", |bench| {
        bench.iter(|| {
            a.in_scope(|| counter.inc());
            b.in_scope(|| counter.inc());
        })
    });
    group.bench_function("span_switch_with_histogram_observe", |bench| {
        bench.iter(|| {
            a.in_scope(|| histogram.observe(black_box(0.042)));
            b.in_scope(|| histogram.observe(black_box(0.042)));
        })
    });
    group.bench_function("system_time_now", |b| b.iter(std::time::SystemTime::now));
    group.finish();
}

fn all(c: &mut Criterion) {
    install_metrics_recorder();
    counter_increment(c);
    histogram_observe(c);
    labelled_lookup_and_update(c);
    exemplar_capture(c);
}

criterion_group!(benches, all);
criterion_main!(benches);
