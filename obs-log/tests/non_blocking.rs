//! The non-blocking writer: drops and counts on overflow, flushes on demand and on drop;
//! and writers that fail or panic.

mod common;

use std::io::{self, Write};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Captured, VecWriter, captured, lines};
use obs_log::{JsonLayer, LogWriter, NonBlocking};
use tracing_subscriber::prelude::*;

/// A writer that blocks until the test lets it go, like a full pipe.
struct Stuck {
    release: Mutex<mpsc::Receiver<()>>,
    entered: mpsc::SyncSender<()>,
    inner: VecWriter,
}

impl Write for Stuck {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let _ = self.entered.try_send(());
        let _ = self
            .release
            .lock()
            .unwrap()
            .recv_timeout(Duration::from_secs(30));
        self.inner.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_full_buffer_drops_and_counts_lines_without_blocking() {
    let out = captured();
    let (release_tx, release_rx) = mpsc::channel();
    let (entered_tx, entered_rx) = mpsc::sync_channel(1);
    let stuck = Stuck {
        release: Mutex::new(release_rx),
        entered: entered_tx,
        inner: VecWriter(out.clone()),
    };
    let (writer, guard) = NonBlocking::builder()
        .buffer_bytes(100)
        .spawn(stuck)
        .unwrap();
    let counter = writer.drop_counter();

    // The first line is taken by the worker, which then blocks in `write`.
    writer.write_line(b"first\n");
    entered_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    // 100 bytes of room: nine 11-byte lines fit, the rest is dropped at once.
    for i in 0..20 {
        writer.write_line(format!("line {i:05}\n").as_bytes());
    }
    assert_eq!(writer.dropped_lines(), 11);
    assert_eq!(counter.get(), 11);

    // Once the writer moves again everything kept is written, in order.
    for _ in 0..3 {
        release_tx.send(()).unwrap();
    }
    drop(release_tx);
    assert!(guard.flush(Duration::from_secs(10)));
    let lines = lines(&out);
    assert_eq!(lines.len(), 10);
    assert_eq!(lines[0], "first");
    assert_eq!(lines[9], "line 00008");
}

#[test]
fn lines_a_stuck_writer_never_takes_are_counted_when_the_guard_gives_up() {
    let out = captured();
    let (release_tx, release_rx) = mpsc::channel();
    let (entered_tx, entered_rx) = mpsc::sync_channel(1);
    let stuck = Stuck {
        release: Mutex::new(release_rx),
        entered: entered_tx,
        inner: VecWriter(out.clone()),
    };
    let (writer, guard) = NonBlocking::new(stuck).unwrap();
    // The first line is taken by the worker, which then blocks in `write` (a stdout nobody
    // reads); five more wait behind it.
    writer.write_line(b"first\n");
    entered_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    for i in 0..5 {
        writer.write_line(format!("line {i}\n").as_bytes());
    }
    assert_eq!(guard.unwritten_lines(), 6);
    // Shutdown gives up on the writer: the five will never be written, and say so; the
    // line the writer holds is not written yet either.
    assert_eq!(guard.stop(Duration::from_millis(10)), 1);
    assert_eq!(writer.dropped_lines(), 5);
    // The line the writer held is written once it moves again, and nothing more.
    release_tx.send(()).unwrap();
    drop(release_tx);
    // A bounded condition wait (this published crate can't include the workspace's).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while lines(&out).is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(lines(&out), ["first"]);
}

#[test]
fn dropping_the_guard_writes_what_is_buffered() {
    let out = captured();
    let (writer, guard) = NonBlocking::new(VecWriter(out.clone())).unwrap();
    let subscriber =
        tracing_subscriber::registry().with(JsonLayer::new().with_writer(writer.clone()));
    tracing::subscriber::with_default(subscriber, || {
        for i in 0..1000 {
            tracing::info!(i, "before shutdown");
        }
    });
    drop(guard);
    assert_eq!(lines(&out).len(), 1000);
    // After shutdown lines are dropped (and counted), not written.
    writer.write_line(b"late\n");
    assert_eq!(writer.dropped_lines(), 1);
    assert_eq!(lines(&out).len(), 1000);
}

#[test]
fn flush_reaches_the_underlying_writer() {
    #[derive(Clone, Default)]
    struct CountingFlush(Arc<Mutex<(Vec<u8>, usize)>>);
    impl Write for CountingFlush {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().0.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            self.0.lock().unwrap().1 += 1;
            Ok(())
        }
    }
    let target = CountingFlush::default();
    let (writer, _guard) = NonBlocking::new(target.clone()).unwrap();
    writer.write_line(b"a\n");
    assert!(writer.flush_timeout(Duration::from_secs(10)));
    let state = target.0.lock().unwrap();
    assert_eq!(state.0, b"a\n");
    assert!(state.1 >= 1);
}

#[test]
fn lines_the_writer_fails_to_write_are_counted() {
    /// Stdout piped into `head -1` once `head` has exited: Rust ignores SIGPIPE, so every
    /// write fails with EPIPE.
    struct ClosedPipe;
    impl Write for ClosedPipe {
        fn write(&mut self, _buf: &[u8]) -> io::Result<usize> {
            Err(io::Error::from(io::ErrorKind::BrokenPipe))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let (writer, guard) = NonBlocking::new(ClosedPipe).unwrap();
    for i in 0..50 {
        writer.write_line(format!("line {i}\n").as_bytes());
        // Some lines alone, some in batches: each is counted once.
        if i % 10 == 0 {
            assert!(writer.flush_timeout(Duration::from_secs(10)));
        }
    }
    assert!(guard.flush(Duration::from_secs(10)));
    assert_eq!(writer.dropped_lines(), 50);
}

/// A writer with a bug: its first write panics, later ones work.
struct PanicsOnce {
    panicked: bool,
    inner: VecWriter,
}

impl PanicsOnce {
    fn new(out: &Captured) -> Self {
        PanicsOnce {
            panicked: false,
            inner: VecWriter(out.clone()),
        }
    }
}

impl Write for PanicsOnce {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if !std::mem::replace(&mut self.panicked, true) {
            panic!("a buggy writer");
        }
        self.inner.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn lines_a_panicking_writer_loses_are_counted_and_the_writer_keeps_going() {
    let out = captured();
    let (writer, guard) = NonBlocking::new(PanicsOnce::new(&out)).unwrap();
    writer.write_line(b"lost\n");
    // The lost line is reported written (and counted), not waited for until the timeout.
    assert!(writer.flush_timeout(Duration::from_secs(10)));
    assert_eq!(writer.dropped_lines(), 1);
    writer.write_line(b"kept\n");
    assert!(guard.flush(Duration::from_secs(10)));
    assert_eq!(lines(&out), ["kept"]);
    assert_eq!(writer.dropped_lines(), 1);
}

#[test]
fn a_writer_that_panics_on_the_logging_thread_does_not_panic_the_caller() {
    let out = captured();
    let subscriber = tracing_subscriber::registry()
        .with(JsonLayer::new().with_writer(Mutex::new(PanicsOnce::new(&out))));
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!("lost");
        tracing::info!("kept");
    });
    let lines = lines(&out);
    assert_eq!(lines.len(), 1);
    assert!(lines[0].contains("\"kept\""), "{lines:?}");
}
