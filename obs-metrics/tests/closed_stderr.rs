//! Stderr that goes away (`app 2>&1 | head -1`: once `head` exits, every write fails with
//! EPIPE, since Rust ignores SIGPIPE): the cardinality-limit warning, written on the
//! request path when a family overflows, must not panic the thread that records
//! (`eprintln!` does).

use std::io::Read;
use std::process::{Command, Stdio};

use obs_metrics::{Counter, Registry};

const TEST: &str = "an_overflow_warning_to_a_closed_stderr_is_not_fatal";
const CHILD: &str = "OBS_METRICS_TEST_CHILD";

#[test]
fn an_overflow_warning_to_a_closed_stderr_is_not_fatal() {
    if std::env::var_os(CHILD).is_some() {
        let registry = Registry::new();
        let requests = registry
            .metric("requests", "Requests by route.")
            .cardinality_limit(1)
            .dyn_family::<Counter>(&["route"])
            .unwrap();
        for route in ["/a", "/b", "/c"] {
            requests.get(&[("route", route)]).inc();
        }
        println!("child done");
        return;
    }
    let mut child = Command::new(std::env::current_exe().expect("the test binary"))
        .args(["--exact", TEST, "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("child test process");
    // Gone before the child writes a word to it.
    drop(child.stderr.take());
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .expect("piped stdout")
        .read_to_string(&mut stdout)
        .expect("child stdout");
    let status = child.wait().expect("child exits");
    assert!(
        status.success() && stdout.contains("child done"),
        "{stdout}"
    );
}
