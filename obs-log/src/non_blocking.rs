//! [`NonBlocking`]: a bounded in-memory buffer drained by a background thread, so that
//! writing a log line never waits on I/O.

use std::fmt;
use std::io::{self, Write};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::writer::LogWriter;

/// The default buffer size: 8 MiB, some 25 000 typical lines.
pub const DEFAULT_BUFFER_BYTES: usize = 8 * 1024 * 1024;

/// How long [`FlushGuard`] waits, on drop, for buffered lines to be written.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(3);

/// A [`LogWriter`] that copies each line into a bounded buffer and returns; a background
/// thread writes the buffer to the real writer in batches.
///
/// When the buffer is full the line is dropped and counted ([`dropped_lines`]), never
/// waited for: a slow disk or a blocked pipe must not slow requests. Lines the underlying
/// writer fails to take (a write or flush error: a closed pipe, a full disk) are counted
/// there too, a failed batch as a whole; so are those of a batch during which the writer
/// panicked (the thread catches the panic and goes on with the next batch). The lock taken
/// per line
/// only guards a `memcpy`; the background thread holds it just long enough to swap buffers.
/// Lines are only ever appended whole, so they never interleave.
///
/// Cloning gives another handle to the same buffer and thread.
///
/// ```
/// use obs_log::{JsonLayer, NonBlocking};
/// use std::time::Duration;
/// use tracing_subscriber::prelude::*;
///
/// let path = std::env::temp_dir().join(format!("obs-log-doc-{}.log", std::process::id()));
/// let file = std::fs::File::create(&path)?;
/// let (writer, guard) = NonBlocking::builder().buffer_bytes(1 << 20).spawn(file)?;
/// let dropped = writer.drop_counter();
/// let subscriber = tracing_subscriber::registry().with(JsonLayer::new().with_writer(writer));
/// tracing::subscriber::with_default(subscriber, || tracing::info!("hello"));
/// drop(guard); // writes what is buffered (waiting at most a timeout) and stops the thread
///
/// assert_eq!(std::fs::read_to_string(&path)?.lines().count(), 1);
/// assert_eq!(dropped.get(), 0);
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// [`dropped_lines`]: NonBlocking::dropped_lines
#[derive(Clone)]
pub struct NonBlocking {
    shared: Arc<Shared>,
}

/// Counts the lines a [`NonBlocking`] or [`Stdout`](crate::Stdout) writer dropped: the
/// buffer was full, or writing them failed (a closed pipe, a full disk).
///
/// A cheap, cloneable handle; `obs-core` reads it to export `obs_log_dropped_total`.
#[derive(Clone, Debug, Default)]
pub struct DropCounter(Arc<AtomicU64>);

impl DropCounter {
    /// The number of lines dropped so far.
    #[inline]
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    /// Counts `lines` more.
    #[inline]
    pub(crate) fn add(&self, lines: u64) {
        self.0.fetch_add(lines, Ordering::Relaxed);
    }
}

/// Builds a [`NonBlocking`] writer.
#[derive(Clone, Debug)]
pub struct NonBlockingBuilder {
    buffer_bytes: usize,
    thread_name: String,
}

impl Default for NonBlockingBuilder {
    fn default() -> Self {
        NonBlockingBuilder {
            buffer_bytes: DEFAULT_BUFFER_BYTES,
            thread_name: "obs-log-writer".into(),
        }
    }
}

impl NonBlockingBuilder {
    /// How many bytes of lines may wait to be written; a line that does not fit is dropped
    /// (so is a line longer than this).
    /// Defaults to [`DEFAULT_BUFFER_BYTES`]. Two buffers of this size are reserved (one
    /// filling, one being written); their memory is only touched as lines wait.
    pub fn buffer_bytes(mut self, bytes: usize) -> Self {
        self.buffer_bytes = bytes;
        self
    }

    /// The background thread's name. Defaults to `obs-log-writer`.
    pub fn thread_name(mut self, name: impl Into<String>) -> Self {
        self.thread_name = name.into();
        self
    }

    /// Starts the background thread writing to `writer`.
    ///
    /// Keep the returned [`FlushGuard`] alive as long as logs are written (the `obs-core`
    /// `init` guard holds it): dropping it writes what is buffered, waiting up to
    /// [`DEFAULT_SHUTDOWN_TIMEOUT`], and stops the thread.
    ///
    /// # Errors
    ///
    /// The error of [`thread::Builder::spawn`] if the thread cannot be started.
    pub fn spawn<W: Write + Send + 'static>(
        self,
        writer: W,
    ) -> io::Result<(NonBlocking, FlushGuard)> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                buffer: Vec::with_capacity(self.buffer_bytes),
                appended: 0,
                written: 0,
                taken: 0,
                shutdown: false,
            }),
            wake_worker: Condvar::new(),
            written: Condvar::new(),
            capacity: self.buffer_bytes,
            dropped: DropCounter::default(),
        });
        let worker = {
            let shared = shared.clone();
            thread::Builder::new()
                .name(self.thread_name)
                .spawn(move || {
                    let batch = Vec::with_capacity(shared.capacity);
                    shared.run(writer, batch)
                })?
        };
        Ok((
            NonBlocking {
                shared: shared.clone(),
            },
            FlushGuard {
                shared,
                worker: Some(worker),
                timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            },
        ))
    }
}

struct Shared {
    state: Mutex<State>,
    /// Signalled when there is work: lines, a flush request or shutdown.
    wake_worker: Condvar,
    /// Signalled when the worker has written (and flushed) a batch.
    written: Condvar,
    capacity: usize,
    dropped: DropCounter,
}

struct State {
    buffer: Vec<u8>,
    /// Lines ever appended, and how many of them the worker has written and flushed; a flush
    /// waits for `written` to reach the `appended` it saw.
    appended: u64,
    written: u64,
    /// Lines the worker has taken out of `buffer` (the `appended` of its last swap): those
    /// after it are still in `buffer`.
    taken: u64,
    shutdown: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn run<W: Write>(&self, mut writer: W, mut batch: Vec<u8>) {
        // Double buffering: the worker swaps its empty buffer for the full one, then writes
        // without the lock. Both were allocated at full size up front (pages are only
        // touched under backlog), so no line ever allocates.
        let mut written = 0;
        loop {
            let (lines, shutdown) = {
                let mut state = self.lock();
                while state.buffer.is_empty() && !state.shutdown {
                    state = self
                        .wake_worker
                        .wait(state)
                        .unwrap_or_else(PoisonError::into_inner);
                }
                std::mem::swap(&mut state.buffer, &mut batch);
                state.taken = state.appended;
                (state.appended, state.shutdown)
            };
            // A write error (stdout piped into `head`, which has exited: EPIPE, since Rust
            // ignores SIGPIPE) cannot be reported to anyone who could act on it: the batch's
            // lines are lost, and counted as on a full buffer. So is a panic in the writer
            // (a bug in a user's `io::Write`), after which the thread carries on: dead, it
            // would leave every later line uncounted in the buffer and every flush waiting
            // out its timeout.
            let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
                writer.write_all(&batch).and_then(|()| writer.flush())
            }));
            if !matches!(outcome, Ok(Ok(()))) {
                self.dropped.add(lines - written);
            }
            written = lines;
            batch.clear();
            {
                let mut state = self.lock();
                state.written = lines;
                if shutdown && state.buffer.is_empty() {
                    self.written.notify_all();
                    return;
                }
            }
            self.written.notify_all();
        }
    }

    /// Waits until every line appended before the call is written, or `timeout` passes.
    fn flush(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut state = self.lock();
        // The worker writes and flushes whatever is buffered without being asked.
        let target = state.appended;
        while state.written < target {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            state = self
                .written
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        true
    }
}

impl NonBlocking {
    /// A writer to `writer` with the default settings (see [`NonBlockingBuilder`]).
    ///
    /// # Errors
    ///
    /// The error of [`thread::Builder::spawn`] if the thread cannot be started.
    pub fn new<W: Write + Send + 'static>(writer: W) -> io::Result<(NonBlocking, FlushGuard)> {
        Self::builder().spawn(writer)
    }

    /// A builder, to set the buffer size or thread name.
    pub fn builder() -> NonBlockingBuilder {
        NonBlockingBuilder::default()
    }

    /// The number of lines dropped so far: the buffer was full, or writing them failed.
    #[inline]
    pub fn dropped_lines(&self) -> u64 {
        self.shared.dropped.get()
    }

    /// A handle to the drop count that outlives this writer (for a metrics collector).
    pub fn drop_counter(&self) -> DropCounter {
        self.shared.dropped.clone()
    }

    /// Waits up to `timeout` until every line written before this call has reached the
    /// underlying writer and it has been flushed. Returns whether that happened in time.
    pub fn flush_timeout(&self, timeout: Duration) -> bool {
        self.shared.flush(timeout)
    }
}

impl fmt::Debug for NonBlocking {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NonBlocking")
            .field("capacity", &self.shared.capacity)
            .field("dropped", &self.dropped_lines())
            .finish()
    }
}

impl LogWriter for NonBlocking {
    fn write_line(&self, line: &[u8]) {
        let mut state = self.shared.lock();
        if state.shutdown || state.buffer.len() + line.len() > self.shared.capacity {
            drop(state);
            self.shared.dropped.add(1);
            return;
        }
        let was_empty = state.buffer.is_empty();
        state.buffer.extend_from_slice(line);
        state.appended += 1;
        drop(state);
        // The worker only sleeps on an empty buffer, so only the first line needs to wake it.
        if was_empty {
            self.shared.wake_worker.notify_one();
        }
    }

    /// Waits up to [`DEFAULT_SHUTDOWN_TIMEOUT`] for buffered lines to be written.
    fn flush(&self) {
        self.shared.flush(DEFAULT_SHUTDOWN_TIMEOUT);
    }
}

/// Stops a [`NonBlocking`] writer's thread when dropped, after writing what is buffered
/// (waiting at most its timeout, [`DEFAULT_SHUTDOWN_TIMEOUT`] unless
/// [changed](FlushGuard::with_timeout)). If the timeout passes first, the lines the thread
/// has not taken yet are dropped and counted, and the thread is left to finish the write it
/// is stuck in. Lines written after that are dropped and counted.
#[must_use = "dropping the guard stops the writer thread"]
pub struct FlushGuard {
    shared: Arc<Shared>,
    worker: Option<JoinHandle<()>>,
    timeout: Duration,
}

impl FlushGuard {
    /// Waits this long on drop. Defaults to [`DEFAULT_SHUTDOWN_TIMEOUT`].
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Waits up to `timeout` until every line written before this call is written and
    /// flushed. Returns whether that happened in time.
    pub fn flush(&self, timeout: Duration) -> bool {
        self.shared.flush(timeout)
    }

    /// The lines written to the writer that its thread has not written out yet: waiting in
    /// the buffer, or in the batch it is writing.
    pub fn unwritten_lines(&self) -> u64 {
        let state = self.shared.lock();
        state.appended - state.written
    }

    /// Stops the writer as dropping the guard does, waiting at most `timeout` (instead of
    /// the guard's own) for buffered lines to be written. Returns how many lines its thread
    /// was still writing when it was left behind: 0 if it finished. Those are not counted as
    /// dropped (they are written if the writer gets going again before the process ends,
    /// and counted if that write fails); the lines it had not taken yet are.
    pub fn stop(mut self, timeout: Duration) -> u64 {
        self.timeout = timeout;
        self.shut_down()
    }

    /// What dropping the guard does (see [`FlushGuard`]); nothing the second time.
    fn shut_down(&mut self) -> u64 {
        let Some(worker) = self.worker.take() else {
            return 0;
        };
        let flushed = self.shared.flush(self.timeout);
        let writing = {
            let mut state = self.shared.lock();
            state.shutdown = true;
            if !flushed {
                // The worker is stuck (a stdout nobody reads) or slow: it is left behind, and
                // the lines it has not taken yet would be written only if it got going again
                // before the process ends, lost without a count otherwise. They are dropped
                // and counted now; the batch it holds is written or, if that fails, counted
                // by the worker.
                let untaken = state.appended - state.taken;
                state.buffer.clear();
                state.appended = state.taken;
                self.shared.dropped.add(untaken);
            }
            state.taken - state.written
        };
        self.shared.wake_worker.notify_one();
        // A writer stuck in I/O past the timeout is left behind rather than hang shutdown.
        if flushed {
            let _ = worker.join();
            return 0;
        }
        writing
    }
}

impl fmt::Debug for FlushGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FlushGuard")
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Drop for FlushGuard {
    fn drop(&mut self) {
        self.shut_down();
    }
}
