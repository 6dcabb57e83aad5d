//! Many threads logging through one layer and one writer never interleave lines.

mod common;

use std::time::Duration;

use common::{Captured, VecWriter, captured, objects};
use obs_log::{JsonLayer, LogWriter, NonBlocking};
use obs_trace::SpanLayer;
use tracing_subscriber::prelude::*;

const THREADS: usize = 8;
const LINES_PER_THREAD: usize = 300;

/// Logs from `THREADS` threads at once, each line long enough that a torn write would show.
fn log_from_many_threads(writer: impl LogWriter) {
    let subscriber = tracing_subscriber::registry()
        .with(SpanLayer::new())
        .with(JsonLayer::new().with_writer(writer));
    let dispatch = tracing::Dispatch::new(subscriber);
    let padding = "x".repeat(3000);
    std::thread::scope(|scope| {
        for thread in 0..THREADS {
            let dispatch = dispatch.clone();
            let padding = padding.as_str();
            scope.spawn(move || {
                tracing::dispatcher::with_default(&dispatch, || {
                    let _s = tracing::info_span!("worker", thread).entered();
                    for seq in 0..LINES_PER_THREAD {
                        tracing::info!(thread, seq, padding, "line\nwith a newline");
                    }
                });
            });
        }
    });
}

fn assert_whole_lines(out: &Captured) {
    let objects = objects(out);
    assert_eq!(objects.len(), THREADS * LINES_PER_THREAD);
    // Per thread, every sequence number once and in order.
    let mut next = [0u64; THREADS];
    for o in &objects {
        let thread = o["thread"].as_u64().unwrap() as usize;
        assert_eq!(o["seq"].as_u64().unwrap(), next[thread]);
        assert_eq!(o["spans"][0]["thread"].as_u64().unwrap() as usize, thread);
        assert_eq!(o["padding"].as_str().unwrap().len(), 3000);
        next[thread] += 1;
    }
}

#[test]
fn locked_writer_lines_never_interleave() {
    let out = captured();
    log_from_many_threads(out.clone());
    assert_whole_lines(&out);
}

#[test]
fn non_blocking_writer_lines_never_interleave() {
    let out = captured();
    let (writer, guard) = NonBlocking::builder()
        .buffer_bytes(64 << 20)
        .spawn(VecWriter(out.clone()))
        .unwrap();
    let dropped = writer.drop_counter();
    log_from_many_threads(writer);
    assert!(guard.flush(Duration::from_secs(30)));
    assert_eq!(dropped.get(), 0);
    assert_whole_lines(&out);
}
