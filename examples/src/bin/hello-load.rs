//! An axum hello-world (`GET /` → `hello`) served by a Tokio runtime with ONE worker thread,
//! for measuring how many spans reach the collector per request served under load
//! (`scripts/load-spans.sh`, `docs/BENCHMARKS.md`).
//!
//! `hello-load --mode obs|peer|none --addr 127.0.0.1:P`
//!
//! - `obs`: `obs_core::builder()` at its default batch settings, OTLP/gRPC to
//!   `OTEL_EXPORTER_OTLP_ENDPOINT`, JSON logs off, `/metrics` on `OBS_METRICS_ADDR` if set,
//!   and `HttpServerLayer` on the route.
//! - `peer`: the usual setup without obs: `tower-http`'s `TraceLayer` (INFO spans),
//!   `tracing-opentelemetry`, and an SDK `SdkTracerProvider` with the default batch span
//!   processor in front of `opentelemetry-otlp`'s tonic exporter.
//! - `none`: no instrumentation, the baseline rate.
//!
//! Stdout says `listening on <addr>` (the port resolved when `:0` is asked for) and, for
//! `obs` with `OBS_METRICS_ADDR`, `obs metrics on <url>`. On `SIGTERM` or Ctrl-C it stops serving, flushes, and prints what the pipeline knows
//! about delivery: for `obs`, one `obs <signal>: ...` line per signal with the counters of
//! `Telemetry::counts()`.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;

use axum::Router;
use axum::routing::get;
use obs_core::opentelemetry::trace::TracerProvider;
use obs_core::opentelemetry_sdk::Resource;
use obs_core::opentelemetry_sdk::trace::SdkTracerProvider;
use obs_core::tower::HttpServerLayer;
use obs_examples::args::Args;
use obs_examples::service::{BoxError, shutdown_signal};
use tokio::net::TcpListener;
use tower_http::trace::{DefaultMakeSpan, TraceLayer};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::prelude::*;

const SERVICE_NAME: &str = "hello-load";

/// How the server is instrumented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Obs,
    Peer,
    None,
}

impl FromStr for Mode {
    type Err = String;

    fn from_str(s: &str) -> Result<Mode, String> {
        match s {
            "obs" => Ok(Mode::Obs),
            "peer" => Ok(Mode::Peer),
            "none" => Ok(Mode::None),
            other => Err(format!("unknown mode {other:?}: use obs, peer or none")),
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Obs => "obs",
            Mode::Peer => "peer",
            Mode::None => "none",
        })
    }
}

fn main() -> std::process::ExitCode {
    obs_examples::args::exit("hello-load", start())
}

fn start() -> Result<(), BoxError> {
    let args = Args::from_env()?;
    args.reject_unknown(&[("mode", "HELLO_LOAD_MODE"), ("addr", "HELLO_LOAD_ADDR")])?;
    let mode: Mode = args.value("mode", "HELLO_LOAD_MODE", Mode::Obs)?;
    let addr: SocketAddr = args.value(
        "addr",
        "HELLO_LOAD_ADDR",
        SocketAddr::from(([127, 0, 0, 1], 8080)),
    )?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    // Spawned, so serving runs on the one worker rather than on the thread in `block_on`.
    runtime.block_on(async move { tokio::spawn(run(mode, addr)).await? })
}

async fn run(mode: Mode, addr: SocketAddr) -> Result<(), BoxError> {
    let hello = Router::new().route("/", get(|| async { "hello" }));
    match mode {
        Mode::None => serve(addr, hello).await,
        Mode::Obs => {
            let telemetry = obs_core::builder()
                .service_name(SERVICE_NAME)
                .protocol(obs_core::Protocol::Grpc)
                .json_logs(false)
                .init()?;
            if let Some(metrics) = telemetry.metrics_addr() {
                println!("obs metrics on http://{metrics}/metrics");
            }
            serve(addr, hello.layer(HttpServerLayer::new())).await?;
            // Flush first so the counters printed are final with a collector that answers;
            // exports still retrying at the flush's deadline (no collector) are counted by
            // shutdown, whose error says how many went undelivered.
            let flushed = telemetry.force_flush();
            for c in telemetry.counts() {
                println!(
                    "obs {}: exported={} dropped_queue_full={} dropped_export_failed={}",
                    c.signal.as_str(),
                    c.exported,
                    c.dropped_queue_full,
                    c.dropped_export_failed
                );
            }
            telemetry.shutdown().await?;
            flushed?;
            Ok(())
        }
        Mode::Peer => {
            // Built inside the runtime: the tonic channel spawns its worker on it.
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .build()?;
            let provider = SdkTracerProvider::builder()
                .with_batch_exporter(exporter)
                .with_resource(Resource::builder().with_service_name(SERVICE_NAME).build())
                .build();
            tracing_subscriber::registry()
                .with(
                    tracing_opentelemetry::layer()
                        .with_tracer(provider.tracer(SERVICE_NAME))
                        .with_filter(LevelFilter::INFO),
                )
                .try_init()?;
            // INFO spans, like obs's; the layer's per-request DEBUG events stay filtered out.
            let traced = hello.layer(
                TraceLayer::new_for_http()
                    .make_span_with(DefaultMakeSpan::new().level(tracing::Level::INFO)),
            );
            serve(addr, traced).await?;
            // The batch processor's thread exports through the tonic channel, whose worker
            // runs on this runtime: shutting down off the runtime's only worker keeps it free.
            tokio::task::spawn_blocking(move || provider.shutdown()).await??;
            println!("peer: provider shut down (the SDK reports no drop counts)");
            Ok(())
        }
    }
}

/// Serves `router` on `addr` until `SIGTERM` or Ctrl-C.
async fn serve(addr: SocketAddr, router: Router) -> Result<(), BoxError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let stop = shutdown_signal();
    println!("listening on {}", listener.local_addr()?);
    axum::serve(listener, router)
        .with_graceful_shutdown(stop)
        .await?;
    Ok(())
}
