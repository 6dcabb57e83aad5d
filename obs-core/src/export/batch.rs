//! Bounded batching queues in front of the exporter.
//!
//! The application's thread only pushes into a bounded lock-free queue (one compare-and-swap):
//! when the queue is full the item is dropped and counted, never waited for. It wakes the
//! worker only when a full batch is waiting (once per `max_export_batch_size` items), so the
//! hot path makes no system call; with a zero schedule delay it wakes an idle worker at the
//! first item instead, the price of exporting at once. A worker thread per signal forms
//! batches (full batch or schedule delay, whichever comes first) and hands each to the export
//! runtime, with up to [`MAX_CONCURRENT_EXPORTS`] requests in flight, so one slow round trip
//! does not stall the queue the way a one-at-a-time exporter does under load.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TryRecvError, TrySendError, bounded};
use crossbeam_queue::ArrayQueue;
use parking_lot::Mutex;
use tokio::sync::Semaphore;

use crate::config::{BatchSettings, Signal};
use crate::export::split::{self, Dropped};
use crate::export::transport::{Accepted, OtlpClient, OtlpRequest, Retries};
use crate::export::{limit, within};

/// Export requests one signal may have in flight at once.
pub(crate) const MAX_CONCURRENT_EXPORTS: u32 = 4;

/// Counters of one signal, also exposed as metrics.
#[derive(Debug, Default)]
pub(crate) struct SignalStats {
    pub(crate) exported: AtomicU64,
    pub(crate) dropped_queue_full: AtomicU64,
    pub(crate) dropped_export_failed: AtomicU64,
    /// Items larger on their own than the largest request the receiver takes.
    pub(crate) dropped_too_large: AtomicU64,
    /// Items in exports that have not finished yet.
    pub(crate) in_flight: AtomicU64,
    warned_full: AtomicBool,
    warned_export: AtomicBool,
    warned_too_large: AtomicBool,
    warned_rejected: AtomicBool,
    warned_by_receiver: AtomicBool,
    pub(crate) last_error: Mutex<Option<String>>,
    /// The retries of the signal's exports.
    pub(crate) retries: Retries,
}

impl SignalStats {
    /// `, while retrying after: <error>` when an export waits to retry, else nothing: why an
    /// export still under way when it is timed out or cut off had not succeeded.
    pub(crate) fn retrying_note(&self) -> String {
        self.retries
            .waiting_after
            .lock()
            .as_deref()
            .map(|e| format!(", while retrying after: {e}"))
            .unwrap_or_default()
    }

    pub(crate) fn queue_full(&self, signal: Signal, n: u64) {
        if self.dropped_queue_full.fetch_add(n, Ordering::Relaxed) == 0
            && !self.warned_full.swap(true, Ordering::Relaxed)
        {
            obs_trace::diagnostics::warn(format_args!(
                "obs: the {} export queue is full; dropping and counting in obs_telemetry_dropped_total (warned once)",
                signal.as_str()
            ));
        }
    }

    /// Items taken for export and not delivered: failed or rejected, or too large to send.
    /// (Those a full queue dropped were never taken: no flush was asked to deliver them.)
    pub(crate) fn undelivered(&self) -> u64 {
        self.dropped_export_failed.load(Ordering::Relaxed)
            + self.dropped_too_large.load(Ordering::Relaxed)
    }

    /// Counts the items [`split::fit`] could not fit in a request of `max_bytes`. Why they
    /// were lost is the signal's last error, which a flush or shutdown that lost them reports.
    pub(crate) fn too_large(&self, signal: Signal, dropped: Dropped, max_bytes: usize) {
        self.dropped_too_large
            .fetch_add(dropped.items, Ordering::Relaxed);
        let error = format!(
            "{} larger than the largest OTLP request the receiver takes ({max_bytes} bytes, \
             Builder::max_request_bytes): {}, the largest {} bytes",
            signal.items(),
            dropped.items,
            dropped.largest
        );
        *self.last_error.lock() = Some(error);
        if !self.warned_too_large.swap(true, Ordering::Relaxed) {
            let (item, remedy) = match signal {
                Signal::Traces => (
                    "span",
                    "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT cuts long attribute values",
                ),
                Signal::Logs => (
                    "log record",
                    "OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT cuts long attribute values \
                     (not the body)",
                ),
                Signal::Metrics => ("metric point", "fewer exemplars or labels make it smaller"),
            };
            obs_trace::diagnostics::warn(format_args!(
                "obs: a {item} of {} bytes is larger than the largest OTLP request the receiver \
                 takes ({max_bytes} bytes, Builder::max_request_bytes); dropping and counting \
                 in obs_telemetry_dropped_total{{reason=\"too_large\"}} (warned once). \
                 {remedy}.",
                dropped.largest
            ));
        }
    }

    /// Reports a partial success that rejected `rejected` of `items`: the receiver's
    /// message is why they were lost, so it is the signal's last error (a flush or shutdown
    /// reports it with the loss) and is warned about once.
    fn rejected(&self, signal: Signal, items: u64, rejected: u64, message: &str) {
        let why = if message.is_empty() {
            "no reason given"
        } else {
            message
        };
        let error = format!(
            "the {} receiver rejected {rejected} of {items} {}: {why}",
            signal.as_str(),
            signal.items()
        );
        if !self.warned_rejected.swap(true, Ordering::Relaxed) {
            obs_trace::diagnostics::error(format_args!(
                "obs: {error}; dropping and counting in obs_telemetry_dropped_total (warned once)"
            ));
        }
        *self.last_error.lock() = Some(error);
    }

    pub(crate) fn export_result(
        &self,
        signal: Signal,
        items: u64,
        result: Result<Accepted, String>,
    ) {
        match result {
            Ok(accepted) => {
                let rejected = accepted.rejected.min(items);
                self.exported.fetch_add(items - rejected, Ordering::Relaxed);
                if rejected > 0 {
                    self.dropped_export_failed
                        .fetch_add(rejected, Ordering::Relaxed);
                    self.rejected(signal, items, rejected, &accepted.message);
                } else if !accepted.message.is_empty()
                    && !self.warned_by_receiver.swap(true, Ordering::Relaxed)
                {
                    // A warning the receiver sent with a full success (OTLP spec, "Partial
                    // Success"): nothing was lost, but it is meant for the user.
                    obs_trace::diagnostics::warn(format_args!(
                        "obs: the {} receiver accepted all {} and warns: {} (warned once)",
                        signal.as_str(),
                        signal.items(),
                        accepted.message
                    ));
                }
            }
            Err(e) => {
                self.dropped_export_failed
                    .fetch_add(items, Ordering::Relaxed);
                if !self.warned_export.swap(true, Ordering::Relaxed) {
                    obs_trace::diagnostics::error(format_args!(
                        "obs: {} export failed, dropping and counting (warned once): {e}",
                        signal.as_str()
                    ));
                }
                *self.last_error.lock() = Some(e);
            }
        }
    }
}

/// The items of one export until it finishes: counted in flight meanwhile, and counted as
/// failed if the export is dropped unfinished (the export runtime stopped under it at
/// shutdown), so that no item leaves the pipeline uncounted.
pub(crate) struct InFlight {
    stats: Arc<SignalStats>,
    signal: Signal,
    items: u64,
    settled: bool,
}

impl InFlight {
    pub(crate) fn new(stats: Arc<SignalStats>, signal: Signal, items: u64) -> InFlight {
        stats.in_flight.fetch_add(items, Ordering::Relaxed);
        InFlight {
            stats,
            signal,
            items,
            settled: false,
        }
    }

    /// Stops counting the items, without an outcome: they are counted again elsewhere (a
    /// batch taken off the queue, now in the exports of its parts).
    pub(crate) fn hand_on(mut self) {
        self.settled = true;
    }

    /// Counts the export's outcome.
    pub(crate) fn settle(mut self, result: Result<Accepted, String>) {
        self.stats.export_result(self.signal, self.items, result);
        self.settled = true;
    }

    /// Sends `request`, the export's items, to `destination` until `timeout` (zero: no
    /// limit) has passed since `started`, and counts the outcome.
    pub(crate) async fn send<R: OtlpRequest>(
        self,
        destination: &Destination,
        request: &R,
        timeout: Duration,
        started: Instant,
    ) {
        let remaining = limit(timeout).map(|t| t.saturating_sub(started.elapsed()));
        let sent = destination.send(request, &self.stats.retries);
        let result = match within(remaining, sent).await {
            Some(r) => r,
            None => Err(format!(
                "{} export timed out after {timeout:?}{}",
                self.signal.as_str(),
                self.stats.retrying_note()
            )),
        };
        self.settle(result);
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.stats
            .in_flight
            .fetch_sub(self.items, Ordering::Relaxed);
        if !self.settled {
            self.stats.export_result(
                self.signal,
                self.items,
                Err(format!(
                    "{} export cut off when the exporter stopped{}",
                    self.signal.as_str(),
                    self.stats.retrying_note()
                )),
            );
        }
    }
}

/// What a background exporter has not delivered yet.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Pending {
    /// Items waiting in the queue.
    pub(crate) queued: u64,
    /// Items taken off the queue and not delivered yet: waiting for an export slot, being
    /// converted, or in exports that have not finished.
    pub(crate) in_flight: u64,
}

/// Where batches go.
#[derive(Debug)]
pub(crate) enum Destination {
    /// An OTLP receiver.
    Otlp(Box<OtlpClient>),
    /// OTLP/JSON lines on stdout.
    Console,
}

impl Destination {
    /// `request` cut into parts the destination takes ([`split::fit`]), each counted in
    /// flight from now; the items too large to send are counted as dropped.
    pub(crate) fn parts<R: OtlpRequest>(
        &self,
        request: R,
        signal: Signal,
        stats: &Arc<SignalStats>,
    ) -> Vec<(R, InFlight)> {
        let parts = match self {
            Destination::Otlp(client) => {
                let max_bytes = client.max_request_bytes();
                let (parts, dropped) = split::fit(request, max_bytes);
                if dropped.items > 0 {
                    stats.too_large(signal, dropped, max_bytes);
                }
                parts
            }
            // One line on stdout has no size limit.
            Destination::Console => vec![request],
        };
        parts
            .into_iter()
            .map(|part| {
                let in_flight = InFlight::new(stats.clone(), signal, part.item_count());
                (part, in_flight)
            })
            .collect()
    }

    /// Sends `request`, an OTLP export retrying as `retries` allows (see
    /// [`OtlpClient::export`]).
    pub(crate) async fn send<R: OtlpRequest>(
        &self,
        request: &R,
        retries: &Retries,
    ) -> Result<Accepted, String> {
        match self {
            Destination::Otlp(client) => {
                client.export(request, retries).await.map_err(|e| e.message)
            }
            Destination::Console => {
                use std::io::Write;
                let line = super::json::to_line(request).map_err(|e| e.to_string())?;
                // Not `println!`: a closed stdout must cost a dropped batch, not a panic.
                writeln!(std::io::stdout().lock(), "{line}").map_err(|e| format!("stdout: {e}"))?;
                Ok(Accepted::ALL)
            }
        }
    }
}

/// Why a [`Control`] request could not be sent: the exporter is gone.
pub(crate) const STOPPED: &str = "the exporter has already stopped";

/// Why a [`Control`] request could not be sent: earlier ones wait for a slow export.
pub(crate) const BUSY: &str = "the exporter is still busy with earlier flushes";

/// Answered when a [`Control`] request is done.
pub(crate) type Ack = std::sync::mpsc::Sender<()>;

/// A flush or a shutdown asked of a background exporter.
pub(crate) enum Control {
    /// Export what is pending, then answer.
    Flush(Ack),
    /// Export what is pending, answer, and stop.
    Shutdown(Ack),
}

/// A background exporter that takes [`Control`] requests: the span and log batch workers
/// and the metrics pusher.
pub(crate) trait Controlled {
    /// Hands `request` to the exporter, without waiting for room: a flush and a shutdown
    /// ask every signal at once, so one whose collector hangs must not use up the others'
    /// deadline. Why not, if not: it is gone, or still busy with the earlier requests (a
    /// slow collector's flushes).
    fn send_control(&self, request: Control) -> Result<(), String>;

    /// What it has not delivered yet.
    fn pending(&self) -> Pending;

    /// Sends the request `make` builds (a flush or a shutdown) without waiting for it: the
    /// answer comes on the returned channel. An error if it could not be sent.
    fn ask(&self, make: fn(Ack) -> Control) -> Result<std::sync::mpsc::Receiver<()>, String> {
        let (ack, done) = std::sync::mpsc::channel();
        self.send_control(make(ack)).map(|()| done)
    }
}

/// The producer side of one signal's queue.
pub(crate) struct BatchQueue<T> {
    shared: Arc<Shared<T>>,
    control: Sender<Control>,
    worker: std::thread::Thread,
    /// Disconnected once the worker's thread has ended (it holds the only sender).
    ended: Receiver<()>,
    signal: Signal,
    stats: Arc<SignalStats>,
}

/// The bytes one signal's queue may hold, beside its count of items.
///
/// The queue is bounded by count as the OpenTelemetry SDK's batch processors are
/// (`OTEL_BSP_MAX_QUEUE_SIZE`, `OTEL_BLRP_MAX_QUEUE_SIZE`), which bounds its memory only if
/// each item is small. Attribute limits keep attributes small, but a log record's body is
/// no attribute and is never cut (Logs SDK spec, "LogRecord Limits"), and the span attribute
/// value length is unlimited by default: an app logging 10 MB messages would hold
/// `max_queue_size` of them. So the queue also keeps to a byte budget: an item that would
/// take it past the budget is dropped and counted like one that finds the queue full.
///
/// Only items larger than [`SMALL_ITEM_BYTES`] are charged to it: the others are bounded
/// by the count, and a push of one (nearly every span and record) touches no counter that
/// every thread shares. The queue's memory is thus at most `max_queue_size` small items
/// plus the budget.
pub(crate) struct Budget<T> {
    /// The most bytes queued at once.
    pub(crate) max_bytes: usize,
    /// The bytes one item holds (`export::weight`).
    pub(crate) weigh: fn(&T) -> usize,
}

/// The size up to which an item is bounded by the queue's count alone ([`Budget`]).
pub(crate) const SMALL_ITEM_BYTES: usize = 4096;

impl<T> Budget<T> {
    /// The bytes `item` is charged: none if it is small.
    #[inline]
    fn charge(&self, item: &T) -> usize {
        let weight = (self.weigh)(item);
        if weight > SMALL_ITEM_BYTES { weight } else { 0 }
    }
}

/// What the application's threads and the worker share.
struct Shared<T> {
    queue: ArrayQueue<T>,
    budget: Budget<T>,
    /// The bytes the queued items are charged ([`Budget`]): reserved before an item is
    /// queued, given back when it is taken off.
    bytes: AtomicUsize,
    /// The queue length at which a producer wakes the worker: a full batch, or with a zero
    /// schedule delay any item, since the worker then has no schedule to wake it.
    wake_at: usize,
    /// Set when a producer has woken the worker; cleared by the worker.
    woken: AtomicBool,
    /// Set when the worker has stopped (shutdown): nothing takes items off the queue any
    /// more, so a producer counts what it queued as dropped ([`Shared::discard`]).
    stopped: AtomicBool,
    /// A shutdown asked when the control channel had no room (flushes waiting behind a hung
    /// export fill it), or by dropping the queue: taken by the worker before the channel's
    /// requests, so that it stops even then, once the export runtime's stop has ended that
    /// export.
    shutdown: Mutex<Option<Ack>>,
    /// Turns of the worker's loop, so tests can tell sleeping from spinning.
    #[cfg(test)]
    turns: AtomicU64,
    /// Times the worker went to sleep with no deadline (an empty queue, no schedule).
    #[cfg(test)]
    idle_parks: AtomicU64,
}

impl<T> fmt::Debug for BatchQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BatchQueue")
            .field("signal", &self.signal)
            .field("queued", &self.shared.queue.len())
            .finish()
    }
}

impl<T: Send + 'static> BatchQueue<T> {
    /// Starts the worker thread for `signal`.
    pub(crate) fn start<R, F>(
        signal: Signal,
        settings: BatchSettings,
        runtime: tokio::runtime::Handle,
        destination: Arc<Destination>,
        stats: Arc<SignalStats>,
        budget: Budget<T>,
        to_request: F,
    ) -> std::io::Result<BatchQueue<T>>
    where
        R: OtlpRequest,
        F: Fn(Vec<T>) -> R + Send + Sync + 'static,
    {
        let shared = Arc::new(Shared {
            queue: ArrayQueue::new(settings.max_queue_size),
            budget,
            bytes: AtomicUsize::new(0),
            wake_at: if settings.schedule_delay.is_zero() {
                1
            } else {
                settings.max_export_batch_size
            },
            woken: AtomicBool::new(false),
            stopped: AtomicBool::new(false),
            shutdown: Mutex::new(None),
            #[cfg(test)]
            turns: AtomicU64::new(0),
            #[cfg(test)]
            idle_parks: AtomicU64::new(0),
        });
        let (control, control_rx) = bounded(16);
        let worker = Worker {
            signal,
            settings,
            runtime,
            destination,
            stats: stats.clone(),
            to_request: Box::new(to_request),
            permits: Arc::new(Semaphore::new(MAX_CONCURRENT_EXPORTS as usize)),
        };
        let queue = shared.clone();
        let (ending, ended) = bounded::<()>(0);
        let handle = std::thread::Builder::new()
            .name(format!("obs-{}-batch", signal.as_str()))
            .spawn(move || {
                let _ending = ending;
                crate::export::mark_export_thread();
                worker.run(&queue, control_rx)
            })?;
        Ok(BatchQueue {
            shared,
            control,
            worker: handle.thread().clone(),
            ended,
            signal,
            stats,
        })
    }

    /// Queues `item`, or drops and counts it when the queue is full. Never blocks.
    #[inline]
    pub(crate) fn push(&self, item: T) {
        let charge = self.shared.budget.charge(&item);
        if charge > 0
            && self.shared.bytes.fetch_add(charge, Ordering::Relaxed) + charge
                > self.shared.budget.max_bytes
        {
            self.shared.bytes.fetch_sub(charge, Ordering::Relaxed);
            self.stats.queue_full(self.signal, 1);
            return;
        }
        if self.shared.queue.push(item).is_err() {
            if charge > 0 {
                self.shared.bytes.fetch_sub(charge, Ordering::Relaxed);
            }
            self.stats.queue_full(self.signal, 1);
            return;
        }
        // Telemetry made after shutdown (code still running during a graceful stop) would
        // otherwise sit in the queue uncounted. SeqCst, as are the queue's push and the
        // worker's store: either this load sees the worker stopped, or the worker's last
        // `discard` comes after this push and takes the item. A plain load on x86.
        if self.shared.stopped.load(Ordering::SeqCst) {
            self.shared.discard(self.signal, &self.stats);
            return;
        }
        if self.shared.queue.len() >= self.shared.wake_at
            && !self.shared.woken.swap(true, Ordering::AcqRel)
        {
            self.worker.unpark();
        }
    }
}

impl<T> BatchQueue<T> {
    /// The bytes the queued items hold, as the budget accounts them.
    #[cfg(test)]
    pub(crate) fn queued_bytes(&self) -> usize {
        self.shared.bytes.load(Ordering::Relaxed)
    }

    /// Waits, at most `timeout`, until the worker has ended, after a shutdown: when the
    /// export runtime stops under it, it still counts what it held and what is queued as
    /// dropped, and the counters read once shutdown returns must include them.
    pub(crate) fn wait_ended(&self, timeout: Duration) {
        // Nothing is ever sent: this returns when the worker's end drops the sender.
        let _ = self.ended.recv_timeout(timeout);
    }
}

impl<T> Drop for BatchQueue<T> {
    /// Shuts the worker down: it sleeps until told something (with no schedule delay, for
    /// good), and nothing else would tell it when the queue goes unused (an `init` that
    /// failed after starting it). What is queued is exported or counted as dropped.
    fn drop(&mut self) {
        let (ack, _) = std::sync::mpsc::channel();
        self.shared.shutdown.lock().get_or_insert(ack);
        self.worker.unpark();
    }
}

impl<T> Shared<T> {
    /// Takes the oldest item off the queue, giving back the bytes it held.
    fn pop(&self) -> Option<T> {
        let item = self.queue.pop()?;
        let charge = self.budget.charge(&item);
        if charge > 0 {
            self.bytes.fetch_sub(charge, Ordering::Relaxed);
        }
        Some(item)
    }

    /// Empties the queue of a stopped worker, counting its items as dropped (a failed
    /// export: nothing exports them any more). Takes at most a queue's worth: a producer
    /// that queues more after that sees `stopped` and discards its own.
    fn discard(&self, signal: Signal, stats: &SignalStats) {
        let mut discarded = 0;
        for _ in 0..self.queue.capacity() {
            if self.pop().is_none() {
                break;
            }
            discarded += 1;
        }
        if discarded > 0 {
            stats.export_result(
                signal,
                discarded,
                Err(format!(
                    "{} made during or after shutdown are not exported",
                    signal.as_str()
                )),
            );
        }
    }
}

impl<T> Controlled for BatchQueue<T> {
    fn send_control(&self, request: Control) -> Result<(), String> {
        let sent = match self.control.try_send(request) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(Control::Flush(_))) => Err(BUSY.to_owned()),
            // A shutdown that could not be sent would leave the worker running (and its
            // thread) for the life of the process.
            Err(TrySendError::Full(Control::Shutdown(ack))) => {
                *self.shared.shutdown.lock() = Some(ack);
                Ok(())
            }
            Err(TrySendError::Disconnected(_)) => Err(STOPPED.to_owned()),
        };
        self.worker.unpark();
        sent
    }

    fn pending(&self) -> Pending {
        Pending {
            queued: self.shared.queue.len() as u64,
            in_flight: self.stats.in_flight.load(Ordering::Relaxed),
        }
    }
}

struct Worker<T, R> {
    signal: Signal,
    settings: BatchSettings,
    runtime: tokio::runtime::Handle,
    destination: Arc<Destination>,
    stats: Arc<SignalStats>,
    to_request: Box<dyn Fn(Vec<T>) -> R + Send>,
    permits: Arc<Semaphore>,
}

impl<T: Send + 'static, R: OtlpRequest> Worker<T, R> {
    fn run(self, shared: &Shared<T>, control: Receiver<Control>) {
        let delay = self.settings.schedule_delay;
        let mut deadline = Instant::now() + delay;
        loop {
            #[cfg(test)]
            shared.turns.fetch_add(1, Ordering::Relaxed);
            let request = match shared.shutdown.lock().take() {
                Some(ack) => Ok(Control::Shutdown(ack)),
                None => control.try_recv(),
            };
            match request {
                Ok(request) => {
                    let (ack, stop) = match request {
                        Control::Flush(ack) => (ack, false),
                        Control::Shutdown(ack) => (ack, true),
                    };
                    self.export_queued(shared, true);
                    self.wait_idle();
                    if stop {
                        // What was queued during the final export is not exported: counted
                        // as dropped, before the answer, so that shutdown reports it.
                        shared.stopped.store(true, Ordering::SeqCst);
                        shared.discard(self.signal, &self.stats);
                    }
                    let _ = ack.send(());
                    if stop {
                        return;
                    }
                    continue;
                }
                Err(TryRecvError::Disconnected) => return,
                Err(TryRecvError::Empty) => {}
            }
            if delay.is_zero() {
                // No schedule: whatever is queued is due at once, and an empty queue sleeps
                // until a push (`wake_at` is 1) or a control request; a deadline of "now"
                // would spin.
                if !shared.queue.is_empty() {
                    self.export_queued(shared, true);
                    continue;
                }
                #[cfg(test)]
                shared.idle_parks.fetch_add(1, Ordering::Relaxed);
                std::thread::park();
            } else {
                let now = Instant::now();
                if now >= deadline {
                    self.export_queued(shared, true);
                    deadline = now + delay;
                    continue;
                }
                if shared.queue.len() >= self.settings.max_export_batch_size {
                    self.export_queued(shared, false);
                    continue;
                }
                // Woken early by a producer (full batch) or a control request.
                std::thread::park_timeout(deadline - now);
            }
            // A swap, not a store: ordered with the producers' swaps, so a push that saw
            // `woken` still set is visible to the queue checks of the next turn (otherwise an
            // item could wait for the next wake-up, forever with a zero delay).
            shared.woken.swap(false, Ordering::AcqRel);
        }
    }

    /// Exports the items queued now in full batches, and the partial rest too when `all`.
    /// Not those queued meanwhile: under a load that refills the queue as fast as it is
    /// emptied, the worker would stay here, and a flush or the shutdown would wait
    /// unanswered (past its deadline) for as long as the load lasts.
    fn export_queued(&self, shared: &Shared<T>, all: bool) {
        let max = self.settings.max_export_batch_size;
        let mut left = shared.queue.len();
        while left >= max || (all && left > 0) {
            let size = max.min(left);
            let mut batch = Vec::with_capacity(size);
            while batch.len() < size {
                match shared.pop() {
                    Some(item) => batch.push(item),
                    None => break,
                }
            }
            if batch.is_empty() {
                break;
            }
            left -= batch.len();
            self.dispatch(batch);
        }
    }

    fn wait_idle(&self) {
        let all = self
            .runtime
            .block_on(self.permits.acquire_many(MAX_CONCURRENT_EXPORTS));
        drop(all);
    }

    fn dispatch(&self, batch: Vec<T>) {
        // In flight from the moment it left the queue, so that a shutdown that times out while
        // this batch waits for a slot reports it as not delivered.
        let held = InFlight::new(self.stats.clone(), self.signal, batch.len() as u64);
        // Waits while MAX_CONCURRENT_EXPORTS are in flight; meanwhile the bounded queue absorbs
        // the load, and overflows are dropped and counted by `push`.
        let acquire = || {
            self.runtime
                .block_on(self.permits.clone().acquire_owned())
                .ok()
        };
        let mut permit = acquire();
        // Converted here, on this signal's own thread, so the export runtime's one worker
        // only does I/O and the signals convert in parallel.
        let request = (self.to_request)(batch);
        let parts = self.destination.parts(request, self.signal, &self.stats);
        held.hand_on();
        for (part, in_flight) in parts {
            // A request cut in parts takes a permit per part. (The semaphore is never
            // closed; if it were, the parts' `InFlight`s would count them as failed.)
            let Some(part_permit) = permit.take().or_else(acquire) else {
                return;
            };
            let destination = self.destination.clone();
            let timeout = self.settings.export_timeout;
            self.runtime.spawn(async move {
                in_flight
                    .send(&destination, &part, timeout, Instant::now())
                    .await;
                drop(part_permit);
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use std::sync::OnceLock;

    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

    use super::*;

    const BATCH: usize = 4;

    #[test]
    #[cfg(target_pointer_width = "64")]
    fn a_queue_slot_takes_what_max_queue_size_says() {
        // `BatchSettings::MAX_QUEUE_SIZE` bounds a full-size queue's memory by at most 256
        // bytes per slot (a slot of crossbeam's `ArrayQueue` is its item and a `usize`
        // stamp): a `SpanData` or `LogRecord` grown past that needs the doc changed.
        let slot = |item: usize| item + size_of::<usize>();
        assert!(slot(size_of::<obs_trace::SpanData>()) <= 256);
        assert!(slot(size_of::<obs_log::LogRecord>()) <= 256);
    }

    /// Asks `queue` for a flush or a shutdown and waits (bounded) for its answer.
    fn answered(queue: &impl Controlled, make: fn(Ack) -> Control) {
        let timeout = Duration::from_secs(10);
        let answer = queue.ask(make).expect("the worker runs");
        answer.recv_timeout(timeout).expect("answered in time");
    }

    /// A schedule delay that never passes in a test, so only a full batch or a flush exports.
    const NEVER: Duration = Duration::from_secs(3600);

    /// A queue of numbers exported as that many empty spans to the console.
    fn queue(
        runtime: &tokio::runtime::Runtime,
        schedule_delay: Duration,
    ) -> (BatchQueue<u64>, Arc<SignalStats>) {
        let stats = Arc::new(SignalStats::default());
        let to_request = |items: Vec<u64>| spans(items.len());
        let queue = BatchQueue::start(
            Signal::Traces,
            settings(schedule_delay),
            runtime.handle().clone(),
            Arc::new(Destination::Console),
            stats.clone(),
            unlimited(),
            to_request,
        )
        .unwrap();
        (queue, stats)
    }

    /// No byte budget to speak of: an item weighs its own size.
    fn unlimited() -> Budget<u64> {
        Budget {
            max_bytes: usize::MAX / 2,
            weigh: |_| size_of::<u64>(),
        }
    }

    /// A queue of four batches.
    fn settings(schedule_delay: Duration) -> BatchSettings {
        BatchSettings {
            schedule_delay,
            export_timeout: Duration::from_secs(10),
            max_queue_size: 4 * BATCH,
            max_export_batch_size: BATCH,
        }
    }

    /// A request of `n` empty spans.
    fn spans(n: usize) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: vec![Span::default(); n],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap()
    }

    /// Waits until `done` holds, for at most 10 s; whether it does.
    fn wait_until(done: impl Fn() -> bool) -> bool {
        let every = Duration::from_millis(1);
        crate::wait::poll_blocking(Duration::from_secs(10), every, || done().then_some(()))
            .is_some()
    }

    /// Waits (bounded) until `stats` counts `n` exported items; returns the count.
    fn wait_for_exported(stats: &SignalStats, n: u64) -> u64 {
        wait_until(|| stats.exported.load(Ordering::Relaxed) >= n);
        stats.exported.load(Ordering::Relaxed)
    }

    #[test]
    fn a_full_batch_wakes_the_worker_before_the_schedule_delay() {
        let runtime = runtime();
        let (queue, stats) = queue(&runtime, NEVER);
        for i in 0..BATCH as u64 * 2 {
            queue.push(i);
        }
        assert_eq!(
            wait_for_exported(&stats, 2 * BATCH as u64),
            2 * BATCH as u64
        );
        assert_eq!(stats.dropped_queue_full.load(Ordering::Relaxed), 0);
        answered(&queue, Control::Shutdown);
    }

    #[test]
    fn flush_exports_the_partial_rest() {
        let runtime = runtime();
        let (queue, stats) = queue(&runtime, NEVER);
        // One full batch, exported on its wake-up, and a remainder left queued; then one
        // more item: flush must export the remainder and the newcomer.
        for i in 0..BATCH as u64 + 2 {
            queue.push(i);
        }
        assert_eq!(wait_for_exported(&stats, BATCH as u64), BATCH as u64);
        queue.push(100);
        answered(&queue, Control::Flush);
        assert_eq!(stats.exported.load(Ordering::Relaxed), BATCH as u64 + 3);
        answered(&queue, Control::Shutdown);
    }

    #[test]
    fn a_flush_is_answered_though_the_queue_refills_as_fast_as_it_empties() {
        // More than the test waits to see: the refills go on until the flush is answered.
        const REFILLS: u64 = 100_000;
        let runtime = runtime();
        let producers = Arc::new(OnceLock::new());
        let flush = Arc::new(Mutex::new(None));
        let (refills, stop) = (
            Arc::new(AtomicU64::new(0)),
            Arc::new(AtomicBool::new(false)),
        );
        // As a load that keeps the queue full would: every batch taken off the queue is
        // replaced at once, and the flush is asked while the worker exports.
        let to_request = {
            let (producers, flush) = (producers.clone(), flush.clone());
            let (refills, stop) = (refills.clone(), stop.clone());
            move |items: Vec<u64>| {
                let queue: Option<Arc<BatchQueue<u64>>> =
                    producers.get().and_then(std::sync::Weak::upgrade);
                if let Some(queue) = queue
                    && !stop.load(Ordering::Relaxed)
                {
                    let refilled = refills.fetch_add(1, Ordering::Relaxed);
                    if refilled >= REFILLS {
                        return spans(items.len());
                    }
                    if refilled == 0 {
                        *flush.lock() = Some(queue.ask(Control::Flush).unwrap());
                    }
                    for &item in &items {
                        queue.push(item);
                    }
                }
                spans(items.len())
            }
        };
        let stats = Arc::new(SignalStats::default());
        let queue = Arc::new(
            BatchQueue::start(
                Signal::Traces,
                settings(NEVER),
                runtime.handle().clone(),
                Arc::new(Destination::Console),
                stats,
                unlimited(),
                to_request,
            )
            .unwrap(),
        );
        producers.set(Arc::downgrade(&queue)).unwrap();
        for i in 0..BATCH as u64 {
            queue.push(i);
        }
        assert!(wait_until(|| flush.lock().is_some()), "the flush was asked");
        let answer = flush.lock().take().unwrap();
        let flushed = answer.recv_timeout(Duration::from_secs(10));
        stop.store(true, Ordering::Relaxed);
        let refilled = refills.load(Ordering::Relaxed);
        assert!(flushed.is_ok());
        assert!(
            refilled < REFILLS,
            "the flush was answered only once the refills ended"
        );
        answered(&*queue, Control::Shutdown);
    }

    #[test]
    fn the_queue_keeps_to_its_byte_budget_and_counts_what_it_drops() {
        const BUDGET: usize = 10 * 1024 * 1024;
        let runtime = runtime();
        let stats = Arc::new(SignalStats::default());
        // Each item weighs what it says: a 1 MiB log message is 1 << 20.
        let queue = BatchQueue::start(
            Signal::Logs,
            BatchSettings {
                max_queue_size: 64,
                max_export_batch_size: 64,
                ..settings(NEVER)
            },
            runtime.handle().clone(),
            Arc::new(Destination::Console),
            stats.clone(),
            Budget {
                max_bytes: BUDGET,
                weigh: |&bytes: &u64| bytes as usize,
            },
            |items: Vec<u64>| spans(items.len()),
        )
        .unwrap();
        // Room for 64 items by count, for 10 of these by bytes.
        for _ in 0..40 {
            queue.push(1 << 20);
        }
        let held = queue.queued_bytes();
        assert!(held <= BUDGET, "{held} bytes queued");
        assert_eq!(queue.shared.queue.len(), 10);
        assert_eq!(stats.dropped_queue_full.load(Ordering::Relaxed), 30);
        // A large item past the budget is dropped; a small one, bounded by the count, is
        // not charged and still fits.
        queue.push(SMALL_ITEM_BYTES as u64 + 1);
        assert_eq!(stats.dropped_queue_full.load(Ordering::Relaxed), 31, "full");
        queue.push(SMALL_ITEM_BYTES as u64);
        assert_eq!(queue.shared.queue.len(), 11);
        assert_eq!(queue.queued_bytes(), held, "small items are not charged");
        // Taking items off gives their bytes back.
        answered(&queue, Control::Flush);
        assert_eq!(queue.queued_bytes(), 0);
        queue.push(1 << 20);
        answered(&queue, Control::Shutdown);
        assert_eq!(stats.exported.load(Ordering::Relaxed), 12);
        assert_eq!(queue.queued_bytes(), 0);
    }

    #[test]
    fn a_zero_schedule_delay_exports_at_once_and_sleeps_when_idle() {
        let runtime = runtime();
        let (queue, stats) = queue(&runtime, Duration::ZERO);
        let turns = || queue.shared.turns.load(Ordering::Relaxed);
        let idle_parks = || queue.shared.idle_parks.load(Ordering::Relaxed);
        // Idle, the worker goes to sleep with no deadline, after a few turns. A spinning
        // worker (a deadline of "now") would never get there, and the wait would fail.
        assert!(
            wait_until(|| idle_parks() >= 1),
            "the idle worker never slept"
        );
        let idle = turns();
        assert!(idle < 10, "{idle} turns before sleeping");
        // Less than a batch, exported without waiting for more, then asleep again.
        queue.push(1);
        assert_eq!(wait_for_exported(&stats, 1), 1);
        assert!(
            wait_until(|| idle_parks() >= 2),
            "the worker never slept again"
        );
        let after = turns() - idle;
        assert!(after < 10, "{after} turns for one item");
        answered(&queue, Control::Shutdown);
    }
}
