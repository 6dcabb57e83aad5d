//! The OTLP side of the pipeline: conversion to protobuf, transport, batching.

pub(crate) mod batch;
pub(crate) mod convert;
pub(crate) mod json;
pub(crate) mod metrics;
pub(crate) mod split;
#[cfg(feature = "tls")]
pub(crate) mod tls;
pub(crate) mod transport;
pub(crate) mod weight;

pub use transport::ExportError;

use std::cell::Cell;
use std::time::Duration;

thread_local! {
    /// Set on obs's own export threads.
    static EXPORT_THREAD: Cell<bool> = const { Cell::new(false) };
}

/// Marks the calling thread as one of obs's export threads: the spans and log records made
/// on it are not exported. The export's own logging (h2 logs each frame at debug, hyper and
/// tonic their connections) would otherwise become telemetry that the next export sends and
/// logs again, for ever, with `RUST_LOG=debug`.
pub(crate) fn mark_export_thread() {
    EXPORT_THREAD.set(true);
}

/// Runs `f` on an export thread as on an application thread: for work done there on the
/// application's behalf (the tail sampler's overdue decisions pass the application's spans
/// on), which makes no telemetry of its own.
pub(crate) fn as_application<T>(f: impl FnOnce() -> T) -> T {
    let marked = EXPORT_THREAD.replace(false);
    let result = f();
    EXPORT_THREAD.set(marked);
    result
}

/// Whether the calling thread is one of obs's export threads ([`mark_export_thread`]).
#[inline]
pub(crate) fn on_export_thread() -> bool {
    EXPORT_THREAD.get()
}

/// `timeout` as a limit: `None` (no limit) when zero, as the spec's Timeout type says.
pub(crate) fn limit(timeout: Duration) -> Option<Duration> {
    (!timeout.is_zero()).then_some(timeout)
}

/// Runs `future` for at most `limit`, or to the end without one; `None` if the limit ran out.
pub(crate) async fn within<F: Future>(limit: Option<Duration>, future: F) -> Option<F::Output> {
    match limit {
        Some(limit) => tokio::time::timeout(limit, future).await.ok(),
        None => Some(future.await),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Paused time: the sleep and the timeout advance a virtual clock, not the wall clock.
    #[tokio::test(start_paused = true)]
    async fn a_zero_timeout_is_no_limit() {
        let slow = async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            7
        };
        assert_eq!(within(limit(Duration::ZERO), slow).await, Some(7));
        let never = std::future::pending::<()>();
        assert_eq!(within(limit(Duration::from_millis(1)), never).await, None);
    }
}
