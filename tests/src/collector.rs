//! A real OpenTelemetry collector (`rotel`) on free loopback ports, forwarding everything it
//! receives to a receiver of the test's own (an [`obs_core::testing::OtlpReceiver`]), so tests
//! assert on structured data that really went through a collector.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::wait::poll_blocking;

/// The repository root (the parent of this crate).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A free TCP port on 127.0.0.1 (bound, read, released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free loopback port")
}

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
    /// `forward_to` (`http://127.0.0.1:R`). Panics, with what to do, if rotel is missing or
    /// does not come up: these tests never silently skip the real collector.
    pub fn start(forward_to: &str) -> Collector {
        let bin = std::env::var_os("OBS_ROTEL")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo_root().join(".tools/bin/rotel-agent"));
        assert!(
            bin.exists(),
            "the rotel collector is not installed at {}: run scripts/install-test-deps.sh",
            bin.display()
        );
        let grpc = free_port();
        let http = free_port();
        let log = std::env::temp_dir().join(format!("obs-rotel-{grpc}.log"));
        let out = std::fs::File::create(&log).expect("rotel log file");
        let child = Command::new(&bin)
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
        let mut c = Collector {
            child,
            grpc_endpoint: format!("http://127.0.0.1:{grpc}"),
            http_endpoint: format!("http://127.0.0.1:{http}"),
            log,
        };
        for port in [grpc, http] {
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            if !wait_listening(addr, Duration::from_secs(20)) {
                let _ = c.child.kill();
                panic!(
                    "rotel did not listen on {addr} within 20 s; its output:\n{}",
                    c.output()
                );
            }
        }
        c
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
