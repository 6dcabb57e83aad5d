//! `Builder::json_writer` stuck in a write at shutdown: the shutdown error names the writer
//! the lines were waiting for, the application's, not stdout, which has nothing to do with
//! them.

use std::io::{self, Write};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::Duration;

/// A writer whose first write waits until it is released (a disk that hangs), then fails.
struct Hanging {
    started: Sender<()>,
    release: Receiver<()>,
}

impl Write for Hanging {
    fn write(&mut self, _: &[u8]) -> io::Result<usize> {
        let _ = self.started.send(());
        // Bounded: a test that fails early must not leave the thread waiting for ever.
        let _ = self.release.recv_timeout(Duration::from_secs(30));
        Err(io::Error::other("the disk hung"))
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_stuck_json_writer_is_named_in_the_shutdown_error() {
    let (started_tx, started) = channel();
    let (release, release_rx) = channel();
    let telemetry = obs_core::builder()
        .service_name("json-writer-stuck")
        .sdk_disabled(true)
        .log_filter("info")
        .shutdown_timeout(Duration::from_millis(200))
        .json_writer(Hanging {
            started: started_tx,
            release: release_rx,
        })
        .init()
        .expect("init");
    tracing::info!("taken by the writer thread, which hangs writing it");
    started
        .recv_timeout(Duration::from_secs(10))
        .expect("the writer thread took the first line");
    tracing::info!("waits in the buffer");
    let error = telemetry
        .shutdown_blocking()
        .expect_err("the JSON lines were not written");
    drop(release);
    let json = error.json_lines.as_ref().expect("the JSON lines' failure");
    assert_eq!(json.unsent, 2, "{error}");
    assert!(json.error.contains("json_writer"), "{error}");
    assert!(!json.error.contains("stdout"), "{error}");
}
