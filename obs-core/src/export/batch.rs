//! Bounded batching queues in front of the exporter.
//!
//! The application's thread only does a `try_send` into a bounded channel: when the queue is
//! full the item is dropped and counted, never waited for. A worker thread per signal forms
//! batches (full batch or schedule delay, whichever comes first) and hands each to the export
//! runtime, with up to [`MAX_CONCURRENT_EXPORTS`] requests in flight, so one slow round trip
//! does not stall the queue the way a one-at-a-time exporter does under load.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError, bounded, select};
use parking_lot::Mutex;
use tokio::sync::Semaphore;

use crate::config::{BatchSettings, Signal};
use crate::export::transport::{OtlpClient, OtlpRequest};

/// Export requests one signal may have in flight at once.
pub(crate) const MAX_CONCURRENT_EXPORTS: u32 = 4;

/// Counters of one signal, also exposed as metrics.
#[derive(Debug, Default)]
pub(crate) struct SignalStats {
    pub(crate) exported: AtomicU64,
    pub(crate) dropped_queue_full: AtomicU64,
    pub(crate) dropped_export_failed: AtomicU64,
    warned_full: AtomicBool,
    warned_export: AtomicBool,
    pub(crate) last_error: Mutex<Option<String>>,
}

impl SignalStats {
    pub(crate) fn queue_full(&self, signal: Signal, n: u64) {
        if self.dropped_queue_full.fetch_add(n, Ordering::Relaxed) == 0
            && !self.warned_full.swap(true, Ordering::Relaxed)
        {
            eprintln!(
                "obs: the {} export queue is full; dropping and counting in obs_telemetry_dropped_total (warned once)",
                signal.as_str()
            );
        }
    }

    pub(crate) fn export_result(&self, signal: Signal, items: u64, result: Result<u64, String>) {
        match result {
            Ok(rejected) => {
                self.exported
                    .fetch_add(items - rejected.min(items), Ordering::Relaxed);
                if rejected > 0 {
                    self.dropped_export_failed
                        .fetch_add(rejected, Ordering::Relaxed);
                }
            }
            Err(e) => {
                self.dropped_export_failed
                    .fetch_add(items, Ordering::Relaxed);
                if !self.warned_export.swap(true, Ordering::Relaxed) {
                    eprintln!(
                        "obs: {} export failed, dropping and counting (warned once): {e}",
                        signal.as_str()
                    );
                }
                *self.last_error.lock() = Some(e);
            }
        }
    }
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
    pub(crate) async fn send<R: OtlpRequest>(&self, request: &R) -> Result<u64, String> {
        match self {
            Destination::Otlp(client) => client.export(request).await.map_err(|e| e.message),
            Destination::Console => {
                use std::io::Write;
                let line = serde_json::to_string(request).map_err(|e| e.to_string())?;
                // Not `println!`: a closed stdout must cost a dropped batch, not a panic.
                writeln!(std::io::stdout().lock(), "{line}").map_err(|e| format!("stdout: {e}"))?;
                Ok(0)
            }
        }
    }
}

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
    /// Hands `request` to the exporter; `false` if it is gone.
    fn send_control(&self, request: Control, timeout: Duration) -> bool;

    /// What was left undone when a request was not answered within `timeout`.
    fn undone(&self, timeout: Duration) -> String;

    /// Sends the request `make` builds and waits up to `timeout` for its answer.
    fn request(&self, make: fn(Ack) -> Control, timeout: Duration) -> Result<(), String> {
        let (ack, done) = std::sync::mpsc::channel();
        if !self.send_control(make(ack), timeout) {
            return Err("the exporter has already stopped".to_owned());
        }
        done.recv_timeout(timeout).map_err(|_| self.undone(timeout))
    }

    /// Exports everything pending and waits for it, up to `timeout`.
    fn flush(&self, timeout: Duration) -> Result<(), String> {
        self.request(Control::Flush, timeout)
    }

    /// Exports everything pending, then stops; up to `timeout`.
    fn shutdown(&self, timeout: Duration) -> Result<(), String> {
        self.request(Control::Shutdown, timeout)
    }
}

/// The producer side of one signal's queue.
pub(crate) struct BatchQueue<T> {
    tx: Sender<T>,
    control: Sender<Control>,
    signal: Signal,
    stats: Arc<SignalStats>,
}

impl<T> fmt::Debug for BatchQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BatchQueue")
            .field("signal", &self.signal)
            .field("queued", &self.tx.len())
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
        to_request: F,
    ) -> std::io::Result<BatchQueue<T>>
    where
        R: OtlpRequest,
        F: Fn(Vec<T>) -> R + Send + Sync + 'static,
    {
        let (tx, rx) = bounded(settings.max_queue_size);
        let (control, control_rx) = bounded(16);
        let worker = Worker {
            signal,
            settings,
            runtime,
            destination,
            stats: stats.clone(),
            to_request: Arc::new(to_request),
            permits: Arc::new(Semaphore::new(MAX_CONCURRENT_EXPORTS as usize)),
        };
        std::thread::Builder::new()
            .name(format!("obs-{}-batch", signal.as_str()))
            .spawn(move || worker.run(rx, control_rx))?;
        Ok(BatchQueue {
            tx,
            control,
            signal,
            stats,
        })
    }

    /// Queues `item`, or drops and counts it when the queue is full. Never blocks.
    #[inline]
    pub(crate) fn push(&self, item: T) {
        match self.tx.try_send(item) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.stats.queue_full(self.signal, 1)
            }
        }
    }
}

impl<T> Controlled for BatchQueue<T> {
    fn send_control(&self, request: Control, timeout: Duration) -> bool {
        self.control.send_timeout(request, timeout).is_ok()
    }

    fn undone(&self, timeout: Duration) -> String {
        format!(
            "{} still queued after {timeout:?}: {} items not sent",
            self.signal.as_str(),
            self.tx.len()
        )
    }
}

struct Worker<T, R> {
    signal: Signal,
    settings: BatchSettings,
    runtime: tokio::runtime::Handle,
    destination: Arc<Destination>,
    stats: Arc<SignalStats>,
    to_request: Arc<dyn Fn(Vec<T>) -> R + Send + Sync>,
    permits: Arc<Semaphore>,
}

impl<T: Send + 'static, R: OtlpRequest> Worker<T, R> {
    fn run(self, rx: Receiver<T>, control: Receiver<Control>) {
        let max = self.settings.max_export_batch_size;
        let mut batch = Vec::with_capacity(max);
        let mut deadline = Instant::now() + self.settings.schedule_delay;
        loop {
            let wait = deadline.saturating_duration_since(Instant::now());
            select! {
                recv(rx) -> item => match item {
                    Ok(item) => {
                        batch.push(item);
                        if batch.len() >= max {
                            self.dispatch(std::mem::replace(&mut batch, Vec::with_capacity(max)));
                        }
                    }
                    Err(_) => return,
                },
                recv(control) -> msg => {
                    let (ack, stop) = match msg {
                        Ok(Control::Flush(ack)) => (ack, false),
                        Ok(Control::Shutdown(ack)) => (ack, true),
                        Err(_) => return,
                    };
                    self.drain(&rx, &mut batch);
                    self.wait_idle();
                    let _ = ack.send(());
                    if stop {
                        return;
                    }
                },
                default(wait) => {
                    if !batch.is_empty() {
                        self.dispatch(std::mem::replace(&mut batch, Vec::with_capacity(max)));
                    }
                    deadline = Instant::now() + self.settings.schedule_delay;
                }
            }
        }
    }

    fn drain(&self, rx: &Receiver<T>, batch: &mut Vec<T>) {
        let max = self.settings.max_export_batch_size;
        while let Ok(item) = rx.try_recv() {
            batch.push(item);
            if batch.len() >= max {
                self.dispatch(std::mem::replace(batch, Vec::with_capacity(max)));
            }
        }
        if !batch.is_empty() {
            self.dispatch(std::mem::take(batch));
        }
    }

    fn wait_idle(&self) {
        let all = self
            .runtime
            .block_on(self.permits.acquire_many(MAX_CONCURRENT_EXPORTS));
        drop(all);
    }

    fn dispatch(&self, batch: Vec<T>) {
        // Waits while MAX_CONCURRENT_EXPORTS are in flight; meanwhile the bounded queue absorbs
        // the load, and overflows are dropped and counted by `push`.
        let Ok(permit) = self.runtime.block_on(self.permits.clone().acquire_owned()) else {
            return;
        };
        let to_request = self.to_request.clone();
        let destination = self.destination.clone();
        let stats = self.stats.clone();
        let signal = self.signal;
        let timeout = self.settings.export_timeout;
        self.runtime.spawn(async move {
            let request = to_request(batch);
            let items = request.item_count();
            let result = match tokio::time::timeout(timeout, destination.send(&request)).await {
                Ok(r) => r,
                Err(_) => Err(format!(
                    "{} export timed out after {timeout:?}",
                    signal.as_str()
                )),
            };
            stats.export_result(signal, items, result);
            drop(permit);
        });
    }
}
