//! A real OpenTelemetry collector (`rotel`) on free loopback ports, forwarding everything it
//! receives to a receiver of the test's own (an [`obs_core::testing::OtlpReceiver`]), so tests
//! assert on structured data that really went through a collector.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
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
    forward_to: String,
    log: PathBuf,
}

impl Collector {
    /// Starts rotel receiving OTLP on two free ports and forwarding over OTLP/gRPC to
    /// `forward_to` (`http://127.0.0.1:R`), and waits until rotel itself listens on both
    /// (on other ports if it exits first: one was taken since it was chosen). Panics, with
    /// what to do, if rotel is missing or does not come up: these tests never silently skip
    /// the real collector.
    pub fn start(forward_to: &str) -> Collector {
        for attempt in 1..=START_ATTEMPTS {
            let (grpc, http) = (free_port(), free_port());
            match spawn(forward_to, grpc, http) {
                Ok(collector) => return collector,
                // A port taken before rotel could bind it: again, on other ports.
                Err(output) if attempt < START_ATTEMPTS => {
                    eprintln!("trying other ports; {output}");
                }
                Err(output) => panic!("{output}"),
            }
        }
        unreachable!("the last attempt returns or panics")
    }

    /// Stops rotel at once (SIGKILL: nothing flushed, connections reset), as a crashed
    /// collector would, and waits until it is gone.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts rotel again on the same ports, after [`Collector::kill`]: a collector that
    /// restarts. Panics if it does not come up (its ports are this test's own meanwhile, so
    /// no retry on others).
    pub fn restart(&mut self) {
        self.kill();
        let port = |endpoint: &str| -> u16 {
            let port = endpoint.rsplit(':').next().and_then(|p| p.parse().ok());
            port.expect("the endpoint ends with its port")
        };
        let (grpc, http) = (port(&self.grpc_endpoint), port(&self.http_endpoint));
        let restarted =
            spawn(&self.forward_to, grpc, http).unwrap_or_else(|output| panic!("{output}"));
        // The killed one's drop only removes its log.
        drop(std::mem::replace(self, restarted));
    }

    /// Freezes rotel (SIGSTOP): its sockets stay open and the kernel keeps accepting
    /// connections and data for it, but nothing answers, as a collector stuck in a long
    /// pause would.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Lets a [`Collector::pause`]d rotel run again (SIGCONT).
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let sent = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status();
        assert!(
            sent.is_ok_and(|s| s.success()),
            "kill {signal} {}",
            self.child.id()
        );
    }

    /// What rotel printed so far, for failure messages.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Fails the test with `error` (a wait for telemetry that did not arrive) and what rotel
    /// printed, which usually says why: `wait.unwrap_or_else(|e| collector.fail(e))`.
    pub fn fail(&self, error: impl std::fmt::Display) -> ! {
        panic!("{error}; collector output:\n{}", self.output())
    }
}

/// Starts rotel on `grpc` and `http`, forwarding to `forward_to`, and waits until it listens
/// on both; what went wrong, with its output, if it did not.
fn spawn(forward_to: &str, grpc: u16, http: u16) -> Result<Collector, String> {
    let bin = std::env::var_os("OBS_ROTEL")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".tools/bin/rotel-agent"));
    assert!(
        bin.exists(),
        "the rotel collector is not installed at {}: run scripts/install-test-deps.sh",
        bin.display()
    );
    // Named apart from a restarted rotel's on the same ports, whose log this one's drop removes.
    static STARTED: AtomicU32 = AtomicU32::new(0);
    let n = STARTED.fetch_add(1, Ordering::Relaxed);
    let log = std::env::temp_dir().join(format!("obs-rotel-{grpc}-{}-{n}.log", std::process::id()));
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
        Listening::Ready => Ok(Collector {
            child,
            grpc_endpoint: format!("http://127.0.0.1:{grpc}"),
            http_endpoint: format!("http://127.0.0.1:{http}"),
            forward_to: forward_to.to_owned(),
            log,
        }),
        Listening::Exited(status) => {
            let output = output();
            let _ = std::fs::remove_file(&log);
            Err(format!(
                "rotel exited ({status}) before listening on {grpc} and {http}; its output:\n{output}"
            ))
        }
        Listening::TimedOut => {
            let _ = child.kill();
            let _ = child.wait();
            Err(format!(
                "rotel did not listen on 127.0.0.1:{grpc} and :{http} within 20 s; its \
                 output:\n{}",
                output()
            ))
        }
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        // Killed already (its id may be another process's by now): nothing to stop.
        if let Ok(Some(_)) = self.child.try_wait() {
            let _ = std::fs::remove_file(&self.log);
            return;
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        // A paused rotel takes the SIGTERM only once it runs again.
        let _ = Command::new("kill")
            .args(["-CONT", &self.child.id().to_string()])
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
