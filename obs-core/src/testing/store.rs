//! The bounded in-memory store the receiver writes into and tests read from.

use std::collections::VecDeque;
use std::fmt;
use std::pin::pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::ingest;
use super::model::{ReceivedLog, ReceivedMetric, ReceivedSpan, Transport};

/// How often a waiter re-checks its predicate even without a wake-up. Every ingest wakes
/// waiters through a [`Notify`]; this backstop only bounds the cost of a missed wake-up.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// What the receiver has stored: a cheap, cloneable handle to memory shared with it.
///
/// Each signal keeps at most
/// [`ReceiverConfig::max_items_per_signal`](super::ReceiverConfig::max_items_per_signal)
/// records; beyond that the oldest are evicted and counted in [`ReceiverStats`].
/// The handle stays usable after the receiver shut down.
#[derive(Debug, Clone)]
pub struct TelemetryStore {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    capacity: usize,
    state: Mutex<State>,
    changed: Notify,
}

#[derive(Debug, Default)]
struct State {
    spans: Signal<ReceivedSpan>,
    logs: Signal<ReceivedLog>,
    metrics: Signal<ReceivedMetric>,
    rejected_requests: u64,
}

#[derive(Debug)]
struct Signal<T> {
    items: VecDeque<T>,
    received: u64,
    evicted: u64,
}

impl<T> Default for Signal<T> {
    fn default() -> Self {
        Self {
            items: VecDeque::new(),
            received: 0,
            evicted: 0,
        }
    }
}

impl<T> Signal<T> {
    fn extend(&mut self, records: Vec<T>, capacity: usize) {
        self.received += records.len() as u64;
        for record in records {
            if self.items.len() >= capacity {
                self.items.pop_front();
                self.evicted += 1;
            }
            self.items.push_back(record);
        }
    }
}

/// Counters since the receiver started; [`TelemetryStore::clear`] does not reset them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReceiverStats {
    /// Spans received.
    pub spans_received: u64,
    /// Log records received.
    pub logs_received: u64,
    /// Metric data points received.
    pub metric_points_received: u64,
    /// Spans evicted because the store was full.
    pub spans_evicted: u64,
    /// Log records evicted because the store was full.
    pub logs_evicted: u64,
    /// Metric data points evicted because the store was full.
    pub metric_points_evicted: u64,
    /// OTLP/HTTP requests answered with an error status (bad path, method, media type,
    /// encoding, size or body). gRPC requests tonic rejects before decoding are not counted.
    pub rejected_requests: u64,
}

/// A `wait_for_*` deadline passed before the predicate held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitTimeout {
    /// What was waited for: `"spans"`, `"logs"` or `"metric points"`.
    pub signal: &'static str,
    /// How long the wait lasted.
    pub timeout: Duration,
    /// How many records of that signal were stored when it gave up.
    pub stored: usize,
}

impl fmt::Display for WaitTimeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "no match among {} stored {} within {:?}",
            self.stored, self.signal, self.timeout
        )
    }
}

impl std::error::Error for WaitTimeout {}

impl TelemetryStore {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            shared: Arc::new(Shared {
                capacity: capacity.max(1),
                state: Mutex::new(State::default()),
                changed: Notify::new(),
            }),
        }
    }

    /// A panic in a user predicate must not make the store unusable for everyone else.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn ingest_spans(&self, request: ExportTraceServiceRequest, transport: Transport) {
        let records = ingest::spans(request, transport);
        self.lock().spans.extend(records, self.shared.capacity);
        self.shared.changed.notify_waiters();
    }

    pub(crate) fn ingest_logs(&self, request: ExportLogsServiceRequest, transport: Transport) {
        let records = ingest::logs(request, transport);
        self.lock().logs.extend(records, self.shared.capacity);
        self.shared.changed.notify_waiters();
    }

    pub(crate) fn ingest_metrics(
        &self,
        request: ExportMetricsServiceRequest,
        transport: Transport,
    ) {
        let records = ingest::metric_points(request, transport);
        self.lock().metrics.extend(records, self.shared.capacity);
        self.shared.changed.notify_waiters();
    }

    pub(crate) fn count_rejected_request(&self) {
        self.lock().rejected_requests += 1;
    }

    /// Every stored span, oldest first.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.lock().spans.items.iter().cloned().collect()
    }

    /// Every stored log record, oldest first.
    pub fn logs(&self) -> Vec<ReceivedLog> {
        self.lock().logs.items.iter().cloned().collect()
    }

    /// Every stored metric data point, oldest first.
    pub fn metrics(&self) -> Vec<ReceivedMetric> {
        self.lock().metrics.items.iter().cloned().collect()
    }

    /// The counters of received, evicted and rejected data.
    pub fn stats(&self) -> ReceiverStats {
        let state = self.lock();
        ReceiverStats {
            spans_received: state.spans.received,
            logs_received: state.logs.received,
            metric_points_received: state.metrics.received,
            spans_evicted: state.spans.evicted,
            logs_evicted: state.logs.evicted,
            metric_points_evicted: state.metrics.evicted,
            rejected_requests: state.rejected_requests,
        }
    }

    /// Forgets every stored record (the counters keep counting).
    pub fn clear(&self) {
        let mut state = self.lock();
        state.spans.items.clear();
        state.logs.items.clear();
        state.metrics.items.clear();
    }

    /// Waits until `predicate` holds for the stored spans (oldest first), then returns
    /// them; gives up after `timeout`.
    ///
    /// The predicate runs with the store locked, on every arrival of data: keep it quick
    /// and don't call back into the store from it.
    pub async fn wait_for_spans(
        &self,
        predicate: impl FnMut(&[ReceivedSpan]) -> bool,
        timeout: Duration,
    ) -> Result<Vec<ReceivedSpan>, WaitTimeout> {
        self.wait_for("spans", |state| &mut state.spans, predicate, timeout)
            .await
    }

    /// Waits until `predicate` holds for the stored log records, then returns them; gives
    /// up after `timeout`. See [`wait_for_spans`](Self::wait_for_spans).
    pub async fn wait_for_logs(
        &self,
        predicate: impl FnMut(&[ReceivedLog]) -> bool,
        timeout: Duration,
    ) -> Result<Vec<ReceivedLog>, WaitTimeout> {
        self.wait_for("logs", |state| &mut state.logs, predicate, timeout)
            .await
    }

    /// Waits until `predicate` holds for the stored metric points, then returns them;
    /// gives up after `timeout`. See [`wait_for_spans`](Self::wait_for_spans).
    pub async fn wait_for_metrics(
        &self,
        predicate: impl FnMut(&[ReceivedMetric]) -> bool,
        timeout: Duration,
    ) -> Result<Vec<ReceivedMetric>, WaitTimeout> {
        self.wait_for(
            "metric points",
            |state| &mut state.metrics,
            predicate,
            timeout,
        )
        .await
    }

    async fn wait_for<T: Clone>(
        &self,
        signal: &'static str,
        select: fn(&mut State) -> &mut Signal<T>,
        mut predicate: impl FnMut(&[T]) -> bool,
        timeout: Duration,
    ) -> Result<Vec<T>, WaitTimeout> {
        let deadline = Instant::now() + timeout;
        loop {
            // Register for the wake-up before checking, so an ingest between the check and
            // the await is not missed.
            let mut changed = pin!(self.shared.changed.notified());
            changed.as_mut().enable();
            {
                let mut state = self.lock();
                let items = select(&mut state).items.make_contiguous();
                if predicate(items) {
                    return Ok(items.to_vec());
                }
                if Instant::now() >= deadline {
                    return Err(WaitTimeout {
                        signal,
                        timeout,
                        stored: items.len(),
                    });
                }
            }
            let wake_at = deadline.min(Instant::now() + POLL_INTERVAL);
            // Either outcome (woken or timed out) leads to the next check.
            let _ = tokio::time::timeout_at(wake_at, changed).await;
        }
    }
}
