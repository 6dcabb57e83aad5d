//! What the load and outage tests share: where they export, how obs is configured for them,
//! the spans and log records they make, how they read obs's own counts of them, and the
//! process's threads and open files.

use std::time::Duration;

use obs_core::testing::{OtlpReceiver, ReceiverConfig};
use obs_core::{BatchSettings, Protocol, Signal};

use crate::collector::Collector;
use crate::wait::poll_blocking;

/// The target of the tests' spans and events; their filters let only these through, so the
/// counts are the test's alone.
pub const TARGET: &str = "load";

/// One span with one log record inside, both seen only by filters for [`TARGET`].
pub fn emit(i: u64) {
    let _span = tracing::info_span!(target: TARGET, "work", i).entered();
    tracing::info!(target: TARGET, i, "work");
}

/// `signal`'s items exported or dropped, whatever the reason, as
/// `obs_telemetry_exported_total` and `obs_telemetry_dropped_total` count them (readable
/// after shutdown too).
pub fn accounted(signal: Signal) -> u64 {
    counted(signal, "obs_telemetry_dropped_total{") + exported(signal)
}

/// `signal`'s items the receiver accepted, as `obs_telemetry_exported_total` counts them.
pub fn exported(signal: Signal) -> u64 {
    counted(signal, "obs_telemetry_exported_total{")
}

/// Asserts that every one of the `produced` items of `signal` was exported or dropped, and
/// counted once.
pub fn assert_accounted(signal: Signal, produced: u64) {
    assert_eq!(
        accounted(signal),
        produced,
        "{signal:?}: exported + dropped = produced, each counted once"
    );
}

/// obs's own counters (`obs_telemetry_*`) as the exposition shows them: what a failed
/// accounting test prints.
pub fn telemetry_counters() -> String {
    obs_core::metrics::global()
        .encode(obs_core::metrics::text::Format::Prometheus)
        .lines()
        .filter(|l| l.starts_with("obs_telemetry"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn counted(signal: Signal, series: &str) -> u64 {
    let text = obs_core::metrics::global().encode(obs_core::metrics::text::Format::Prometheus);
    let label = format!("signal=\"{}\"", signal.as_str());
    text.lines()
        .filter(|l| l.starts_with(series) && l.contains(&label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// The process's threads and open file descriptors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resources {
    /// Threads (`Threads:` in `/proc/self/status`).
    pub threads: usize,
    /// Open file descriptors (entries of `/proc/self/fd`).
    pub fds: usize,
}

impl Resources {
    /// Now.
    pub fn now() -> Resources {
        let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
        let threads = status
            .lines()
            .find_map(|l| l.strip_prefix("Threads:"))
            .and_then(|n| n.trim().parse().ok())
            .expect("a thread count");
        // The directory's own descriptor is open while it is read, every time alike.
        let fds = std::fs::read_dir("/proc/self/fd")
            .expect("/proc/self/fd")
            .count();
        Resources { threads, fds }
    }

    /// Once back to `before` (threads end, and sockets close, a moment after the shutdown
    /// that stops them), or what they are after 10 s.
    pub fn settled(before: &Resources) -> Resources {
        poll_blocking(Duration::from_secs(10), Duration::from_millis(20), || {
            let now = Resources::now();
            (now == *before).then_some(now)
        })
        .unwrap_or_else(Resources::now)
    }
}

/// The resident memory of the process, in bytes (`VmRSS` in `/proc/self/status`).
pub fn resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .and_then(|v| v.trim().parse().ok())
        .expect("VmRSS");
    kib * 1024
}

/// Runs `run` once per OTLP protocol, each in a child process that runs only the test
/// `test` (obs's `init` is once per process).
pub fn per_protocol(test: &str, run: fn(Protocol)) {
    match crate::child::scenario().as_deref() {
        Some("grpc") => run(Protocol::Grpc),
        Some("http/protobuf") => run(Protocol::HttpProtobuf),
        Some(other) => panic!("unknown scenario {other}"),
        None => {
            for protocol in ["grpc", "http/protobuf"] {
                crate::child::in_child(test, protocol, &[]);
            }
        }
    }
}

/// Where the load tests export: a real rotel collector, which forwards to an in-process
/// receiver that counts what arrived.
#[derive(Debug)]
pub struct Chain {
    /// Runs the receiver.
    pub runtime: tokio::runtime::Runtime,
    /// Behind the collector.
    pub receiver: OtlpReceiver,
    /// What obs exports to.
    pub collector: Collector,
}

impl Chain {
    /// Starts the receiver, then the collector in front of it.
    pub fn start() -> Chain {
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        let receiver = runtime
            .block_on(OtlpReceiver::start(
                ReceiverConfig::default().max_items_per_signal(16),
            ))
            .expect("receiver");
        let collector = Collector::start(&receiver.grpc_endpoint());
        Chain {
            runtime,
            receiver,
            collector,
        }
    }

    /// The collector's endpoint for `protocol`.
    pub fn endpoint(&self, protocol: Protocol) -> String {
        match protocol {
            Protocol::Grpc => self.collector.grpc_endpoint.clone(),
            Protocol::HttpProtobuf => self.collector.http_endpoint.clone(),
        }
    }
}

/// The span and log queues' capacity in the load tests: far less than a burst.
pub const QUEUE: usize = 256;

/// obs configured as the load tests run it, exporting to `endpoint` over `protocol`: only
/// the spans and log records of [`TARGET`], no JSON lines, no process metrics, span and log
/// queues of [`QUEUE`] items exported 64 at a time every `schedule_delay`.
pub fn builder(
    service: &str,
    protocol: Protocol,
    endpoint: String,
    schedule_delay: Duration,
) -> obs_core::Builder {
    let batch = BatchSettings {
        schedule_delay,
        max_queue_size: QUEUE,
        max_export_batch_size: 64,
        ..BatchSettings::SPANS
    };
    obs_core::builder()
        .service_name(service)
        .protocol(protocol)
        .otlp_endpoint(endpoint)
        .json_logs(false)
        .traces_filter(format!("{TARGET}=info"))
        .log_filter(format!("{TARGET}=info"))
        .process_metrics(false)
        .span_batch(batch)
        .log_batch(batch)
}
