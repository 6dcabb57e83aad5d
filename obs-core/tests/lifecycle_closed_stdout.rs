//! Stdout that goes away (`app | head -1`: once `head` exits, every write fails with EPIPE,
//! since Rust ignores SIGPIPE): the app keeps running, obs neither panics nor blocks, and
//! the JSON lines it could not write are counted in `obs_log_dropped_total`.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use obs_core::{ExporterKind, Signal};

#[path = "support/child.rs"]
pub mod child;

const TEST: &str = "json_lines_to_a_closed_stdout_are_counted_not_fatal";

/// The value of `obs_log_dropped_total` in the global registry's exposition.
fn log_lines_dropped() -> u64 {
    obs_core::metrics::global()
        .encode(obs_core::metrics::text::Format::Prometheus)
        .lines()
        .find_map(|l| l.strip_prefix("obs_log_dropped_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn json_lines_to_a_closed_stdout_are_counted_not_fatal() {
    if child::scenario().is_some() {
        let telemetry = obs_core::builder()
            .service_name("closed-stdout")
            .exporter(Signal::Traces, ExporterKind::None)
            .exporter(Signal::Logs, ExporterKind::None)
            .exporter(Signal::Metrics, ExporterKind::None)
            .json_logs(true)
            .init()
            .expect("init");
        // Log until the parent has closed the pipe and a line was lost to it.
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut logged = 0u64;
        while log_lines_dropped() == 0 && Instant::now() < deadline {
            tracing::info!(logged, "a line for a reader that may be gone");
            logged += 1;
            // Flush errors reach nobody: the lines are counted instead.
            let _ = telemetry.force_flush();
        }
        let dropped = log_lines_dropped();
        telemetry.shutdown_blocking().expect("shutdown");
        eprintln!("child done: logged {logged}, dropped {dropped}");
        return;
    }
    let mut child = Command::new(std::env::current_exe().expect("the test binary"))
        .args(["--exact", TEST, "--nocapture", "--test-threads=1"])
        .env(child::CHILD, "closed-stdout")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("child test process");
    // Read until the first JSON line, then go away like `head -1`.
    let stdout = child.stdout.take().expect("piped stdout");
    let first = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .find(|l| l.contains("{\"timestamp\""));
    assert!(first.is_some(), "the child wrote JSON lines");
    let out = child.wait_with_output().expect("child exits");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    let done = stderr
        .lines()
        .find_map(|l| l.split_once("child done: ").map(|(_, rest)| rest))
        .unwrap_or_else(|| panic!("the child ran to its end:\n{stderr}"));
    let dropped: u64 = done
        .rsplit(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("a count");
    assert!(dropped > 0, "lost lines are counted: {done}");
}
