//! What the load and outage tests share: the spans and log records they make, how they read
//! obs's own counts of them, and the process's threads and open files.

use std::time::Duration;

use obs_core::Signal;

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
