//! A real OpenTelemetry collector (`rotel`) on free loopback ports, forwarding everything it
//! receives to a receiver of the test's own (an [`obs_core::testing::OtlpReceiver`]), so tests
//! assert on structured data that really went through a collector.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::listening::{Listening, wait_child_listening};
use crate::wait::poll_blocking;

/// The repository root (the parent of this crate).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A free TCP port on 127.0.0.1 (bound, read, released).
///
/// Released, it is anyone's until the process it was chosen for binds it: start that
/// process with [`wait_child_listening`] and try again with new ports when it exits.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free loopback port")
}

/// How many times a child is started on new free ports before a test gives up.
pub const START_ATTEMPTS: usize = 5;

/// Waits until something accepts TCP connections on `addr`, up to `timeout`.
pub fn wait_listening(addr: SocketAddr, timeout: Duration) -> bool {
    poll_blocking(timeout, Duration::from_millis(50), || {
        TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok()
    })
    .is_some()
}

/// A running `rotel-agent`; stopped with SIGTERM (it flushes) when dropped.
#[derive(Debug)]
pub struct Collector {
    child: Child,
    /// OTLP/gRPC endpoint, `http://127.0.0.1:P`.
    pub grpc_endpoint: String,
    /// OTLP/HTTP base endpoint, `http://127.0.0.1:Q`.
    pub http_endpoint: String,
    log: PathBuf,
}

impl Collector {
    /// Starts rotel receiving OTLP on two free ports and forwarding over OTLP/gRPC to
    /// `forward_to` (`http://127.0.0.1:R`), and waits until rotel itself listens on both
    /// (on other ports if it exits first: one was taken since it was chosen). Panics, with
    /// what to do, if rotel is missing or does not come up: these tests never silently skip
    /// the real collector.
    pub fn start(forward_to: &str) -> Collector {
        let bin = std::env::var_os("OBS_ROTEL")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo_root().join(".tools/bin/rotel-agent"));
        assert!(
            bin.exists(),
            "the rotel collector is not installed at {}: run scripts/install-test-deps.sh",
            bin.display()
        );
        for attempt in 1..=START_ATTEMPTS {
            let grpc = free_port();
            let http = free_port();
            let log = std::env::temp_dir().join(format!("obs-rotel-{grpc}.log"));
            let out = std::fs::File::create(&log).expect("rotel log file");
            let mut child = Command::new(&bin)
                .args([
                    "start",
                    "--otlp-grpc-endpoint",
                    &format!("127.0.0.1:{grpc}"),
                ])
                .args(["--otlp-http-endpoint", &format!("127.0.0.1:{http}")])
                .args(["--exporter", "otlp", "--otlp-exporter-endpoint", forward_to])
                .args([
                    "--otlp-exporter-protocol",
                    "grpc",
                    "--batch-timeout",
                    "100ms",
                ])
                .stdin(Stdio::null())
                .stdout(out.try_clone().expect("log handle"))
                .stderr(out)
                .spawn()
                .unwrap_or_else(|e| panic!("could not start {}: {e}", bin.display()));
            let output = || std::fs::read_to_string(&log).unwrap_or_default();
            match wait_child_listening(&mut child, &[grpc, http], Duration::from_secs(20)) {
                Listening::Ready => {
                    return Collector {
                        child,
                        grpc_endpoint: format!("http://127.0.0.1:{grpc}"),
                        http_endpoint: format!("http://127.0.0.1:{http}"),
                        log,
                    };
                }
                // A port taken before rotel could bind it: again, on other ports.
                Listening::Exited(status) if attempt < START_ATTEMPTS => {
                    eprintln!(
                        "rotel exited ({status}) before listening on {grpc} and {http}; \
                         trying other ports. Its output:\n{}",
                        output()
                    );
                    let _ = std::fs::remove_file(&log);
                }
                outcome => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "rotel did not listen on 127.0.0.1:{grpc} and :{http} within 20 s \
                         ({outcome:?}); its output:\n{}",
                        output()
                    );
                }
            }
        }
        unreachable!("the last attempt returns or panics")
    }

    /// What rotel printed so far, for failure messages.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let exited = poll_blocking(Duration::from_secs(5), Duration::from_millis(50), || {
            self.child.try_wait().ok().flatten()
        });
        if exited.is_some() {
            let _ = std::fs::remove_file(&self.log);
            return;
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
