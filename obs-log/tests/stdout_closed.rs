//! `JsonLayer` used on its own (outside `obs_core::init`), writing to its default stdout,
//! under `app | head -1`: once `head` exits every write fails with EPIPE (Rust ignores
//! SIGPIPE), and the lost lines are counted where the user can read them.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use obs_log::JsonLayer;
use tracing_subscriber::prelude::*;

const TEST: &str = "lines_lost_to_a_closed_stdout_are_counted";
const CHILD: &str = "OBS_LOG_TEST_CHILD";

#[test]
fn lines_lost_to_a_closed_stdout_are_counted() {
    if std::env::var_os(CHILD).is_some() {
        let layer = JsonLayer::new();
        let dropped = layer.writer().drop_counter();
        let subscriber = tracing_subscriber::registry().with(layer);
        let _default = tracing::subscriber::set_default(subscriber);
        // Log until the parent has closed the pipe and a line was lost to it.
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut logged = 0u64;
        while dropped.get() == 0 && Instant::now() < deadline {
            tracing::info!(logged, "a line for a reader that may be gone");
            logged += 1;
        }
        eprintln!("child done: logged {logged}, dropped {}", dropped.get());
        return;
    }
    let mut child = Command::new(std::env::current_exe().expect("the test binary"))
        .args(["--exact", TEST, "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
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
