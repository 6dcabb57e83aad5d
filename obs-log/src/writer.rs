//! [`LogWriter`]: where finished lines go.

use std::io::{self, Write};
use std::sync::{Arc, Mutex, PoisonError};

/// A destination for whole log lines.
///
/// [`JsonLayer`](crate::JsonLayer) renders each line (newline included) into a buffer and
/// hands it over in one call, so an implementation that writes it with one `write_all`
/// under its lock never interleaves lines from different threads. Errors are swallowed:
/// logging must never fail the code that logs.
///
/// Implemented for [`io::Stdout`] and [`io::Stderr`] (locked per line), [`io::Sink`],
/// `Mutex<W>` for any `W: io::Write + Send` (a [`File`](std::fs::File), a `Vec<u8>`, a
/// socket), [`NonBlocking`](crate::NonBlocking), and `Arc`/`Box` of any of them.
pub trait LogWriter: Send + Sync + 'static {
    /// Writes one complete line.
    fn write_line(&self, line: &[u8]);

    /// Flushes what was written so far, best effort. Defaults to nothing.
    fn flush(&self) {}
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
