//! Stderr that goes away (`app 2>&1 | head -1`: once `head` exits, every write fails with
//! EPIPE, since Rust ignores SIGPIPE): obs's warnings, at `init` and from the request path
//! (a full export queue) and from the middleware (its metrics disabled by a clashing family),
//! must not panic the thread that logs them (`eprintln!` does).

use std::io::Read;
use std::process::{Command, Stdio};

use obs_core::{BatchSettings, ExporterKind, Protocol, Signal};

#[path = "support/child.rs"]
pub mod child;

const TEST: &str = "warnings_to_a_closed_stderr_are_not_fatal";

#[test]
fn warnings_to_a_closed_stderr_are_not_fatal() {
    if child::scenario().is_some() {
        // Nothing listens there: every export fails and the queue fills.
        let telemetry = obs_core::builder()
            .service_name("closed-stderr")
            .protocol(Protocol::HttpProtobuf)
            .otlp_endpoint(format!("http://{}", obs_core::testing::NOTHING_LISTENS))
            .exporter(Signal::Metrics, ExporterKind::None)
            .exporter(Signal::Logs, ExporterKind::None)
            .json_logs(false)
            .shutdown_timeout(std::time::Duration::from_millis(200))
            .span_batch(BatchSettings {
                max_queue_size: 4,
                max_export_batch_size: 2,
                ..BatchSettings::SPANS
            })
            .init()
            .expect("init, which warns about OBS_LOG_FORMAT");
        for i in 0..100 {
            let _span = tracing::info_span!("request", i).entered();
        }
        #[cfg(feature = "tower")]
        {
            // A family of the HTTP layer's name and another type: the layer's metrics are
            // disabled, and it says so on stderr.
            let registry = obs_core::metrics::Registry::new();
            let _ = registry.gauge("http_server_request_duration_seconds", "taken");
            let _layer = obs_core::tower::HttpServerLayer::new().with_registry(&registry);
        }
        let dropped: u64 = telemetry
            .counts()
            .iter()
            .map(|c| c.dropped_queue_full)
            .sum();
        drop(telemetry);
        println!("child done: dropped {dropped}");
        return;
    }
    let mut child = Command::new(std::env::current_exe().expect("the test binary"))
        .args(["--exact", TEST, "--nocapture", "--test-threads=1"])
        .env(child::CHILD, "closed-stderr")
        .env("OBS_LOG_FORMAT", "yaml")
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
    assert!(status.success(), "{stdout}");
    let dropped = stdout
        .lines()
        .find_map(|l| l.split_once("child done: dropped ").map(|(_, n)| n))
        .unwrap_or_else(|| panic!("the child ran to its end:\n{stdout}"));
    assert_ne!(dropped, "0", "the queue-full warning was due");
}
