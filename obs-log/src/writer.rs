//! [`LogWriter`]: where finished lines go.

use std::io::{self, Write};
use std::sync::{Arc, Mutex, PoisonError};

use crate::non_blocking::DropCounter;

/// A destination for whole log lines.
///
/// [`JsonLayer`](crate::JsonLayer) renders each line (newline included) into a buffer and
/// hands it over in one call, so an implementation that writes it with one `write_all`
/// under its lock never interleaves lines from different threads. Errors are not returned:
/// logging must never fail the code that logs. [`Stdout`] (the default) and
/// [`NonBlocking`](crate::NonBlocking) count the lines they lose in a [`DropCounter`]; the
/// other implementations swallow the error. A `write_line` that panics loses its line:
/// [`JsonLayer`](crate::JsonLayer) catches the panic, so that the code that logs goes on.
///
/// Implemented for [`Stdout`], [`io::Stdout`] and [`io::Stderr`] (locked per line),
/// [`io::Sink`], `Mutex<W>` for any `W: io::Write + Send` (a [`File`](std::fs::File), a
/// `Vec<u8>`, a socket), [`NonBlocking`](crate::NonBlocking), and `Arc`/`Box` of any of them.
pub trait LogWriter: Send + Sync + 'static {
    /// Writes one complete line.
    fn write_line(&self, line: &[u8]);

    /// Flushes what was written so far, best effort. Defaults to nothing.
    fn flush(&self) {}
}

/// Standard output, counting the lines it fails to write: [`JsonLayer`](crate::JsonLayer)'s
/// default writer.
///
/// A write to stdout can fail: piped into `head`, which has exited (`EPIPE`: Rust ignores
/// `SIGPIPE`), or redirected to a full disk. The line is lost and counted in
/// [`drop_counter`](Self::drop_counter), the same counter a
/// [`NonBlocking`](crate::NonBlocking) writer keeps (`obs-core`'s `init` exports that one as
/// `obs_log_dropped_total`), so that a layer used outside `init` loses no line unseen.
/// Clones share the counter.
///
/// ```
/// use obs_log::JsonLayer;
/// use tracing_subscriber::prelude::*;
///
/// let layer = JsonLayer::new();
/// // Read it later, or export it: every line stdout refused.
/// let dropped = layer.writer().drop_counter();
/// let subscriber = tracing_subscriber::registry().with(layer);
/// tracing::subscriber::with_default(subscriber, || tracing::info!("hello"));
/// assert_eq!(dropped.get(), 0);
/// ```
#[derive(Clone, Debug, Default)]
pub struct Stdout {
    dropped: DropCounter,
}

impl Stdout {
    /// Standard output, with a counter of its own.
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of lines lost so far: stdout refused them.
    pub fn dropped_lines(&self) -> u64 {
        self.dropped.get()
    }

    /// A handle to the drop count that outlives this writer (for a metrics collector).
    pub fn drop_counter(&self) -> DropCounter {
        self.dropped.clone()
    }
}

impl LogWriter for Stdout {
    #[inline]
    fn write_line(&self, line: &[u8]) {
        if io::stdout().lock().write_all(line).is_err() {
            self.dropped.add(1);
        }
    }
    fn flush(&self) {
        // A line stdout holds back (line-buffered: only a partial one) was written whole or
        // not at all by the time its write returned: a failed flush loses no line the
        // failed writes have not counted.
        let _ = io::stdout().lock().flush();
    }
}

impl LogWriter for io::Stdout {
    #[inline]
    fn write_line(&self, line: &[u8]) {
        let _ = self.lock().write_all(line);
    }
    fn flush(&self) {
        let _ = self.lock().flush();
    }
}

impl LogWriter for io::Stderr {
    #[inline]
    fn write_line(&self, line: &[u8]) {
        let _ = self.lock().write_all(line);
    }
    fn flush(&self) {
        let _ = self.lock().flush();
    }
}

impl LogWriter for io::Sink {
    #[inline]
    fn write_line(&self, _line: &[u8]) {}
}

impl<W: Write + Send + 'static> LogWriter for Mutex<W> {
    #[inline]
    fn write_line(&self, line: &[u8]) {
        // A panic elsewhere while holding the lock leaves a writer that still works.
        let _ = self
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .write_all(line);
    }
    fn flush(&self) {
        let _ = self.lock().unwrap_or_else(PoisonError::into_inner).flush();
    }
}

impl<W: LogWriter + ?Sized> LogWriter for Arc<W> {
    #[inline]
    fn write_line(&self, line: &[u8]) {
        (**self).write_line(line);
    }
    fn flush(&self) {
        (**self).flush();
    }
}

impl<W: LogWriter + ?Sized> LogWriter for Box<W> {
    #[inline]
    fn write_line(&self, line: &[u8]) {
        (**self).write_line(line);
    }
    fn flush(&self) {
        (**self).flush();
    }
}
