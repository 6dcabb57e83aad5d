//! A stand-in collector for load tests: an OTLP receiver that counts what it gets and keeps
//! only the last few records, so its memory stays flat however long the load runs.
//!
//! `otlp-sink --grpc-addr 127.0.0.1:P`
//!
//! The first line on stdout is `otlp-sink listening on grpc <addr>` (the port resolved when
//! `:0` is asked for); then `spans_received=N logs_received=N metric_points_received=N`
//! once per second, and once more, prefixed `final`, after `SIGTERM` or Ctrl-C.

use std::net::SocketAddr;
use std::time::Duration;

use obs_core::testing::{OtlpReceiver, ReceiverConfig, ReceiverStats};
use obs_examples::args::Args;
use obs_examples::service::{BoxError, shutdown_signal};

/// Records kept per signal: enough to look at, small enough that memory stays flat.
const KEPT_PER_SIGNAL: usize = 1024;

fn main() -> std::process::ExitCode {
    obs_examples::args::exit("otlp-sink", start())
}

fn start() -> Result<(), BoxError> {
    let args = Args::from_env()?;
    args.reject_unknown(&[("grpc-addr", "OTLP_SINK_GRPC_ADDR")])?;
    let grpc_addr: SocketAddr = args.value(
        "grpc-addr",
        "OTLP_SINK_GRPC_ADDR",
        SocketAddr::from(([127, 0, 0, 1], 4317)),
    )?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    runtime.block_on(run(grpc_addr))
}

async fn run(grpc_addr: SocketAddr) -> Result<(), BoxError> {
    let config = ReceiverConfig::default()
        .grpc_addr(grpc_addr)
        .max_items_per_signal(KEPT_PER_SIGNAL);
    let receiver = OtlpReceiver::start(config)
        .await
        .map_err(|e| format!("cannot listen on {grpc_addr}: {e}"))?;
    let mut stop = std::pin::pin!(shutdown_signal());
    println!("otlp-sink listening on grpc {}", receiver.grpc_addr());
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = tick.tick() => println!("{}", counts(receiver.stats())),
            _ = &mut stop => break,
        }
    }
    let store = receiver.shutdown().await;
    println!("final {}", counts(store.stats()));
    Ok(())
}

fn counts(stats: ReceiverStats) -> String {
    format!(
        "spans_received={} logs_received={} metric_points_received={}",
        stats.spans_received, stats.logs_received, stats.metric_points_received
    )
}
