//! One service as a child process: its environment, its captured output, readiness and
//! a graceful stop.

use std::io::stderr;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::task::JoinHandle;

use super::traffic::{PlainClient, get_status};
use crate::args::say;
use crate::service::{BoxError, STOP_WITH_STDIN};

/// How often readiness is polled.
const READY_POLL: Duration = Duration::from_millis(100);
/// Lines of stdout kept per service (the burst writes far fewer).
const MAX_LINES: usize = 200_000;

/// Which executable runs the services.
#[derive(Debug, Clone)]
pub(crate) enum Launcher {
    /// `<dir>/<name>`: the service binaries.
    Binaries(PathBuf),
    /// `<mesh> serve <name>`: the runner's own executable in service mode.
    Serve(PathBuf),
}

/// How to start one service.
#[derive(Debug, Clone)]
pub(crate) struct ServiceSpec {
    name: &'static str,
    addr: SocketAddr,
    metrics_addr: SocketAddr,
    http: bool,
    env: Vec<(&'static str, String)>,
}

impl ServiceSpec {
    /// An HTTP service: ready when `/healthz` and `/metrics` answer 200.
    pub(crate) fn http(
        name: &'static str,
        addr: SocketAddr,
        metrics_addr: SocketAddr,
        env: Vec<(&'static str, String)>,
    ) -> ServiceSpec {
        ServiceSpec {
            name,
            addr,
            metrics_addr,
            http: true,
            env,
        }
    }

    /// A gRPC service: ready when `/metrics` answers 200 and its port accepts connections.
    pub(crate) fn grpc(
        name: &'static str,
        addr: SocketAddr,
        metrics_addr: SocketAddr,
        env: Vec<(&'static str, String)>,
    ) -> ServiceSpec {
        ServiceSpec {
            http: false,
            ..ServiceSpec::http(name, addr, metrics_addr, env)
        }
    }
}

/// A running service whose stdout (JSON logs) and stderr are captured.
#[derive(Debug)]
pub(crate) struct ServiceProcess {
    spec: ServiceSpec,
    child: Child,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
    readers: Vec<JoinHandle<()>>,
    /// The service's stdin, never written: it ends when the runner drops it or exits, and
    /// the service stops then. Held apart from `child`, whose `wait` would close it.
    _stdin: Option<ChildStdin>,
}

/// What a user's environment may hold that would turn the services' telemetry off or send
/// it past the runner's receiver (a per-signal endpoint wins over the general one): the
/// report would then be empty with no hint why, so with the embedded receiver the services
/// do not inherit them. `OBS_TRACES_FILTER` (`off`, or `warn`: the middleware's spans are
/// `info`) turns the traces off.
const DIVERTING_VARIABLES: [&str; 11] = [
    "OTEL_SDK_DISABLED",
    "OBS_TRACES_FILTER",
    "OTEL_TRACES_EXPORTER",
    "OTEL_METRICS_EXPORTER",
    "OTEL_LOGS_EXPORTER",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
    "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
    "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL",
];

impl ServiceProcess {
    /// Starts the service exporting to `endpoint` (when given) with short export
    /// intervals, so the burst's telemetry is out within a second.
    pub(crate) fn spawn(
        launcher: &Launcher,
        spec: ServiceSpec,
        endpoint: Option<&str>,
    ) -> Result<ServiceProcess, BoxError> {
        let (program, args) = match launcher {
            Launcher::Binaries(dir) => (dir.join(spec.name), Vec::new()),
            Launcher::Serve(mesh) => (mesh.clone(), vec!["serve", spec.name]),
        };
        let mut command = Command::new(&program);
        command
            .args(args)
            .env("ADDR", spec.addr.to_string())
            .env("OBS_METRICS_ADDR", spec.metrics_addr.to_string())
            .env("OTEL_SERVICE_NAME", spec.name)
            .env("OTEL_TRACES_SAMPLER", "parentbased_always_on")
            // The report follows each trace across the services: `OTEL_PROPAGATORS=none` (or
            // `baggage`) in the user's shell would cut every trace at each hop.
            .env("OTEL_PROPAGATORS", "tracecontext,baggage")
            .env("OTEL_BSP_SCHEDULE_DELAY", "200")
            .env("OTEL_BLRP_SCHEDULE_DELAY", "200")
            .env("OTEL_METRIC_EXPORT_INTERVAL", "1000")
            .env("RUST_LOG", "info")
            // The logs section reads the JSON lines of stdout.
            .env("OBS_LOG_FORMAT", "json")
            .envs(spec.env.iter().map(|(key, value)| (*key, value)))
            // Never written, and closed when the runner exits, however it ends.
            .env(STOP_WITH_STDIN, "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(endpoint) = endpoint {
            for variable in DIVERTING_VARIABLES {
                command.env_remove(variable);
            }
            command
                .env("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
                .env("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf");
        }
        let mut child = command.spawn().map_err(|e| {
            format!(
                "cannot start {} for {}: {e} (build it with `cargo build -p obs-examples --bins`)",
                program.display(),
                spec.name
            )
        })?;
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let mut readers = Vec::with_capacity(2);
        if let Some(out) = child.stdout.take() {
            readers.push(tokio::spawn(collect_lines(out, Arc::clone(&stdout))));
        }
        if let Some(err) = child.stderr.take() {
            readers.push(tokio::spawn(collect_lines(err, Arc::clone(&stderr))));
        }
        let stdin = child.stdin.take();
        Ok(ServiceProcess {
            spec,
            child,
            stdout,
            stderr,
            readers,
            _stdin: stdin,
        })
    }

    /// The binary's name, which is also its `service.name`.
    pub(crate) fn name(&self) -> &'static str {
        self.spec.name
    }

    /// The main listen address.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.spec.addr
    }

    /// `http://<metrics addr>/metrics`.
    pub(crate) fn metrics_url(&self) -> String {
        format!("http://{}/metrics", self.spec.metrics_addr)
    }

    /// Polls until the service answers, it exits, or `timeout` passes.
    pub(crate) async fn wait_ready(
        &mut self,
        client: &PlainClient,
        timeout: Duration,
    ) -> Result<(), BoxError> {
        let deadline = Instant::now() + timeout;
        let health = format!("http://{}/healthz", self.spec.addr);
        loop {
            let metrics_up = get_status(client, &self.metrics_url()).await == Some(200);
            let main_up = if self.spec.http {
                get_status(client, &health).await == Some(200)
            } else {
                tokio::net::TcpStream::connect(self.spec.addr).await.is_ok()
            };
            if metrics_up && main_up {
                return Ok(());
            }
            // A port taken since the runner picked it, a bad flag: fail now, not at the
            // deadline, and say why.
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "{} exited with {status} before it was ready:\n{}",
                    self.name(),
                    self.stderr_text()
                )
                .into());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "{} did not become ready within {timeout:?} on {}",
                    self.name(),
                    self.spec.addr
                )
                .into());
            }
            tokio::time::sleep(READY_POLL).await;
        }
    }

    /// Sends `SIGTERM`: the service stops serving, flushes its telemetry and exits.
    pub(crate) fn terminate(&mut self) {
        let Some(pid) = self.child.id() else {
            return; // already exited
        };
        // `kill` the command: the crate forbids `unsafe`, so no libc call.
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        if !sent {
            let _ = self.child.start_kill();
        }
    }

    /// Waits up to `timeout` for the exit (and the end of its output), then kills it.
    pub(crate) async fn wait(&mut self, timeout: Duration) {
        match tokio::time::timeout(timeout, self.child.wait()).await {
            Ok(Ok(status)) if !status.success() => {
                say(
                    stderr(),
                    format_args!("mesh: {} exited with {status}", self.name()),
                );
            }
            Ok(_) => {}
            Err(_) => {
                say(
                    stderr(),
                    format_args!(
                        "mesh: {} did not stop within {timeout:?}; killing it",
                        self.name()
                    ),
                );
                let _ = self.child.kill().await;
            }
        }
        // The readers end at EOF, right after the exit (unless a grandchild holds the pipe).
        for reader in self.readers.drain(..) {
            let _ = tokio::time::timeout(Duration::from_secs(2), reader).await;
        }
    }

    /// `(service, line)` for every stdout line so far.
    pub(crate) fn stdout_lines(&self) -> Vec<(String, String)> {
        let lines = self.stdout.lock().unwrap_or_else(|e| e.into_inner());
        lines
            .iter()
            .map(|line| (self.name().to_owned(), line.clone()))
            .collect()
    }

    /// Everything written to stderr so far.
    pub(crate) fn stderr_text(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .join("\n")
    }
}

async fn collect_lines(output: impl AsyncRead + Unpin, into: Arc<Mutex<Vec<String>>>) {
    let mut lines = BufReader::new(output).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let mut kept = into.lock().unwrap_or_else(|e| e.into_inner());
        if kept.len() < MAX_LINES {
            kept.push(line);
        }
    }
}
