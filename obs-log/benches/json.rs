//! One event with five fields inside two nested spans, written to a sink, by:
//! - `json/obs_log`: [`JsonLayer`] into `io::sink()`;
//! - `json/tracing_subscriber`: `tracing_subscriber::fmt::layer().json()` into `io::sink`;
//! - `otlp/obs_log`: [`OtlpLogLayer`] into a sink that drops the record;
//! - `otlp/opentelemetry_appender_tracing`: `OpenTelemetryTracingBridge` over an SDK
//!   `SdkLoggerProvider` with a simple processor and an exporter that does nothing.
//!
//! All four run under the same registry with `obs_trace::SpanLayer`, spans entered once
//! outside the measured loop. Before measuring, each setup's heap allocations per line are
//! counted and printed (the counting allocator costs every setup the same few atomics).
//!
//! ```text
//! CARGO_TARGET_DIR=/work/main/target/bench cargo bench -p obs-log --bench json -- --warm-up-time 1 --measurement-time 3
//! ```

// `criterion_group!` generates an undocumented `pub fn`.
#![allow(missing_docs)]

use std::alloc::System;
use std::hint::black_box;
use std::io;

use criterion::{Criterion, criterion_group, criterion_main};
use obs_log::{JsonLayer, LogRecord, LogSink, OtlpLogLayer};
use obs_trace::SpanLayer;
use opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::logs::{LogBatch, LogExporter, SdkLoggerProvider};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use tracing::Dispatch;
use tracing_subscriber::prelude::*;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

#[derive(Debug)]
struct NoopExporter;

impl LogExporter for NoopExporter {
    async fn export(&self, batch: LogBatch<'_>) -> OTelSdkResult {
        black_box(batch);
        Ok(())
    }
}

#[derive(Debug)]
struct DropSink;

impl LogSink for DropSink {
    fn emit(&self, record: LogRecord) {
        black_box(record);
    }
}

fn log_one() {
    tracing::info!(
        user = "ann",
        attempt = 3,
        ok = true,
        ratio = 0.5,
        item = ?("sku", 7),
        "checked out"
    );
}

/// Runs `f` inside two nested spans under `dispatch`.
fn in_spans(dispatch: &Dispatch, f: impl FnOnce()) {
    tracing::dispatcher::with_default(dispatch, || {
        let _outer = tracing::info_span!("request", method = "GET", path = "/cart").entered();
        let _inner = tracing::info_span!("db", table = "carts", rows = 2).entered();
        f();
    });
}

fn allocations_per_line(dispatch: &Dispatch) -> f64 {
    const LINES: usize = 1_000;
    let mut per_line = 0.0;
    in_spans(dispatch, || {
        for _ in 0..100 {
            log_one();
        }
        let region = Region::new(GLOBAL);
        for _ in 0..LINES {
            log_one();
        }
        let change = region.change();
        per_line = (change.allocations + change.reallocations) as f64 / LINES as f64;
    });
    per_line
}

fn setups() -> Vec<(&'static str, &'static str, Dispatch)> {
    let provider = SdkLoggerProvider::builder()
        .with_simple_exporter(NoopExporter)
        .build();
    vec![
        (
            "json",
            "obs_log",
            Dispatch::new(
                tracing_subscriber::registry().with(SpanLayer::new()).with(
                    JsonLayer::new()
                        .with_writer(io::sink())
                        .with_service_name("shop"),
                ),
            ),
        ),
        (
            "json",
            "tracing_subscriber",
            Dispatch::new(
                tracing_subscriber::registry().with(SpanLayer::new()).with(
                    tracing_subscriber::fmt::layer()
                        .json()
                        .with_writer(io::sink),
                ),
            ),
        ),
        (
            "otlp",
            "obs_log",
            Dispatch::new(
                tracing_subscriber::registry()
                    .with(SpanLayer::new())
                    .with(OtlpLogLayer::new(DropSink)),
            ),
        ),
        (
            "otlp",
            "opentelemetry_appender_tracing",
            Dispatch::new(
                tracing_subscriber::registry()
                    .with(SpanLayer::new())
                    .with(OpenTelemetryTracingBridge::new(&provider)),
            ),
        ),
    ]
}

fn bench(c: &mut Criterion) {
    let setups = setups();
    for (group, name, dispatch) in &setups {
        eprintln!(
            "allocations per line, {group}/{name}: {:.2}",
            allocations_per_line(dispatch)
        );
    }
    for group_name in ["json", "otlp"] {
        let mut group = c.benchmark_group(group_name);
        for (_, name, dispatch) in setups.iter().filter(|s| s.0 == group_name) {
            group.bench_function(*name, |b| in_spans(dispatch, || b.iter(log_one)));
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
