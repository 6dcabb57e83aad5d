//! Support for the `deploy_*` tests, which validate `deploy/` (docker-compose, Prometheus,
//! Grafana, Kubernetes) without a container engine: the service contract the deployments
//! are written against, the external tools (`docker-compose`, `promtool`, `kubectl`),
//! the dashboard's PromQL, and the real mesh binaries run on loopback.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use obs_core::testing::{OtlpReceiver, ReceiverConfig};

use crate::collector::{START_ATTEMPTS, free_port, repo_root};
use crate::listening::{Listening, wait_child_listening};
use crate::wait::poll_blocking;

/// How a mesh service is called.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// HTTP/1.1 (axum), with `GET /healthz`.
    Http,
    /// gRPC (tonic).
    Grpc,
}

/// One service of the example mesh as the deployments see it: the `obs-examples` binary of
/// that name, listening on `ADDR` (default port [`port`](Self::port)) and serving
/// `/metrics` on `OBS_METRICS_ADDR`.
#[derive(Clone, Copy, Debug)]
pub struct MeshService {
    /// Binary, compose service, Kubernetes Deployment/Service and Prometheus job name.
    pub name: &'static str,
    /// How it is called.
    pub protocol: Protocol,
    /// The port of its default `ADDR` (`0.0.0.0:PORT`).
    pub port: u16,
    /// The services it calls: (environment variable holding the URL, callee).
    pub peers: &'static [(&'static str, &'static str)],
}

/// The mesh, callees before callers (the order to start them in).
pub const MESH: [MeshService; 5] = [
    MeshService {
        name: "inventory",
        protocol: Protocol::Grpc,
        port: 50051,
        peers: &[],
    },
    MeshService {
        name: "payments",
        protocol: Protocol::Grpc,
        port: 50052,
        peers: &[],
    },
    MeshService {
        name: "orders",
        protocol: Protocol::Http,
        port: 8081,
        peers: &[("INVENTORY_URL", "inventory"), ("PAYMENTS_URL", "payments")],
    },
    MeshService {
        name: "reports",
        protocol: Protocol::Http,
        port: 8082,
        peers: &[("ORDERS_URL", "orders"), ("INVENTORY_URL", "inventory")],
    },
    MeshService {
        name: "gateway",
        protocol: Protocol::Http,
        port: 8080,
        peers: &[("ORDERS_URL", "orders"), ("REPORTS_URL", "reports")],
    },
];

/// The service's listen address variable.
pub const ADDR_ENV: &str = "ADDR";
/// The `/metrics` listen address variable of obs.
pub const METRICS_ADDR_ENV: &str = "OBS_METRICS_ADDR";
/// The `/metrics` port every deployment uses.
pub const METRICS_PORT: u16 = 9464;
/// The OTLP/gRPC port of a collector.
pub const OTLP_GRPC_PORT: u16 = 4317;
/// How long every deployment lets a service run after `SIGTERM` (compose
/// `stop_grace_period`, Kubernetes `terminationGracePeriodSeconds`, at least) so it can
/// flush its telemetry before `SIGKILL`.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(15);

/// The mesh service called `name`. Panics for other names.
pub fn mesh_service(name: &str) -> &'static MeshService {
    MESH.iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("{name} is not a mesh service"))
}

/// `deploy/<relative>` in this repository.
pub fn deploy_path(relative: &str) -> PathBuf {
    repo_root().join("deploy").join(relative)
}

/// A command for an external tool, which must be on PATH: a missing tool fails the test
/// with what to run, never skips it.
pub fn tool(program: &str) -> Command {
    let found = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()));
    assert!(
        found,
        "`{program}` is not on PATH: run scripts/install-test-deps.sh"
    );
    Command::new(program)
}

/// Runs `command` to completion (at most `timeout`) and returns its output; panics with
/// both output streams if it fails or times out.
pub fn run(command: &mut Command, timeout: Duration) -> Output {
    let described = format!("{command:?}");
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {described}: {e}"));
    // Drain both pipes on their own threads so a chatty tool cannot block on a full pipe.
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let status = wait_bounded(&mut child, timeout);
    let output = Output {
        status: status.unwrap_or_else(|| panic!("{described} did not finish in {timeout:?}")),
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    };
    assert!(
        output.status.success(),
        "{described} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn drain(pipe: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        bytes
    })
}

/// Waits for `child` at most `timeout`; kills it and returns `None` when time runs out.
fn wait_bounded(child: &mut Child, timeout: Duration) -> Option<std::process::ExitStatus> {
    let status = poll_blocking(timeout, Duration::from_millis(100), || {
        child.try_wait().ok().flatten()
    });
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    status
}

/// `host` and `port` of `scheme://host:port/path`, `host:port` or `host:port/path`; panics
/// when there is no numeric port, which every address in `deploy/` must spell out.
pub fn host_port(address: &str) -> (String, u16) {
    let without_scheme = address.split_once("://").map_or(address, |(_, rest)| rest);
    let authority = without_scheme.split('/').next().unwrap_or_default();
    authority
        .rsplit_once(':')
        .and_then(|(host, port)| Some((host.to_owned(), port.parse().ok()?)))
        .unwrap_or_else(|| panic!("{address:?} has no host:port"))
}

/// Where an OpenTelemetry Collector configuration sends each signal.
#[derive(Clone, Debug)]
pub struct CollectorRoutes {
    /// The OTLP receiver's gRPC listen address.
    pub otlp_grpc_listen: String,
    /// The OTLP receiver's HTTP listen address.
    pub otlp_http_listen: String,
    /// The traces pipeline's `otlp` exporter endpoint (Jaeger).
    pub traces_to: String,
    /// The metrics pipeline's `prometheus` exporter listen address.
    pub metrics_listen: String,
    /// The logs pipeline's `otlphttp` exporter endpoint (Loki's `/otlp`).
    pub logs_to: String,
}

/// Checks an OpenTelemetry Collector configuration (as JSON) the way the collector would at
/// start-up, for what the deployments rely on: every component a pipeline names is defined,
/// each signal comes in over OTLP, traces leave through one `otlp` exporter, metrics
/// through a `prometheus` exporter with OpenMetrics (exemplars) and a name prefix, logs
/// through one `otlphttp` exporter to a `/otlp` endpoint. Returns the addresses; panics
/// saying what is wrong.
pub fn collector_routes(config: &serde_json::Value) -> CollectorRoutes {
    let pipelines = &config["service"]["pipelines"];
    for (pipeline, body) in pipelines.as_object().expect("service.pipelines") {
        for kind in ["receivers", "processors", "exporters"] {
            for component in body[kind].as_array().into_iter().flatten() {
                let component = component.as_str().unwrap_or_default();
                assert!(
                    config[kind].get(component).is_some(),
                    "pipeline {pipeline} names {kind} {component:?}, which is not defined"
                );
            }
        }
    }
    let only_exporter = |pipeline: &str, kind: &str| -> &serde_json::Value {
        let body = &pipelines[pipeline];
        assert_eq!(
            body["receivers"],
            serde_json::json!(["otlp"]),
            "pipeline {pipeline} must receive OTLP"
        );
        let exporters = body["exporters"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        let [name] = exporters else {
            panic!("pipeline {pipeline} must have exactly one exporter, has {exporters:?}")
        };
        let name = name.as_str().unwrap_or_default();
        assert_eq!(
            name.split('/').next(),
            Some(kind),
            "pipeline {pipeline} must export with {kind}"
        );
        &config["exporters"][name]
    };
    let text = |value: &serde_json::Value, what: &str| -> String {
        value
            .as_str()
            .unwrap_or_else(|| panic!("{what} is missing"))
            .to_owned()
    };
    let traces = only_exporter("traces", "otlp");
    let metrics = only_exporter("metrics", "prometheus");
    let logs = only_exporter("logs", "otlphttp");
    assert_eq!(
        metrics["enable_open_metrics"], true,
        "the prometheus exporter must write OpenMetrics, or exemplars are lost"
    );
    assert!(
        metrics["namespace"].as_str().is_some_and(|n| !n.is_empty()),
        "the prometheus exporter needs a namespace: the services' own /metrics have the same names"
    );
    let logs_to = text(&logs["endpoint"], "the logs exporter endpoint");
    assert!(
        logs_to.ends_with("/otlp"),
        "Loki's OTLP endpoint is <loki>/otlp, not {logs_to}"
    );
    let otlp = &config["receivers"]["otlp"]["protocols"];
    CollectorRoutes {
        otlp_grpc_listen: text(&otlp["grpc"]["endpoint"], "the OTLP gRPC receiver endpoint"),
        otlp_http_listen: text(&otlp["http"]["endpoint"], "the OTLP HTTP receiver endpoint"),
        traces_to: text(&traces["endpoint"], "the traces exporter endpoint"),
        metrics_listen: text(&metrics["endpoint"], "the prometheus exporter endpoint"),
        logs_to,
    }
}

/// The Grafana dashboard shared by compose and Kubernetes, parsed.
pub fn dashboard() -> serde_json::Value {
    let path = deploy_path("grafana/dashboards/obs-mesh.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not valid JSON: {e}", path.display()))
}

/// One PromQL query of the dashboard.
#[derive(Clone, Debug)]
pub struct DashboardQuery {
    /// The panel title, or `variable <name>` for a template variable.
    pub source: String,
    /// The PromQL, Grafana variables still in it.
    pub expr: String,
}

/// Every PromQL query of `dashboard`: each target of each panel (rows' nested panels
/// included) and each query variable (`label_values(metric, label)` becomes `metric`).
pub fn dashboard_queries(dashboard: &serde_json::Value) -> Vec<DashboardQuery> {
    fn panels(list: &serde_json::Value, out: &mut Vec<DashboardQuery>) {
        for panel in list.as_array().into_iter().flatten() {
            let title = panel["title"].as_str().unwrap_or_default();
            for target in panel["targets"].as_array().into_iter().flatten() {
                if let Some(expr) = target["expr"].as_str() {
                    out.push(DashboardQuery {
                        source: title.to_owned(),
                        expr: expr.to_owned(),
                    });
                }
            }
            panels(&panel["panels"], out);
        }
    }
    let mut queries = Vec::new();
    panels(&dashboard["panels"], &mut queries);
    for variable in dashboard["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if variable["type"] != "query" {
            continue;
        }
        let query = variable["query"]["query"]
            .as_str()
            .or_else(|| variable["query"].as_str())
            .unwrap_or_default();
        queries.push(DashboardQuery {
            source: format!("variable {}", variable["name"].as_str().unwrap_or_default()),
            expr: label_values_selector(query).to_owned(),
        });
    }
    queries
}

/// The series selector of Grafana's `label_values(selector, label)`; other queries as given.
fn label_values_selector(query: &str) -> &str {
    query
        .trim()
        .strip_prefix("label_values(")
        .and_then(|rest| rest.strip_suffix(')'))
        .and_then(|args| args.rsplit_once(','))
        .map_or(query, |(selector, _label)| selector.trim())
}

/// The metric names a PromQL expression selects: identifiers that are not functions,
/// aggregations, keywords, label names (inside `{}` and `by (...)`-style lists), durations,
/// strings or Grafana variables (`$name`, `${name}`).
pub fn promql_metric_names(expr: &str) -> BTreeSet<String> {
    /// Keywords followed by a parenthesised list of label names.
    const LABEL_LISTS: [&str; 6] = [
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
    ];
    const OTHER_KEYWORDS: [&str; 8] = [
        "bool", "offset", "and", "or", "unless", "atan2", "inf", "nan",
    ];
    let bytes = expr.as_bytes();
    let mut names = BTreeSet::new();
    let mut label_list_next = false;
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b'"' | b'\'' | b'`' => i = skip_string(bytes, i),
            b'{' => i = skip_to_close(bytes, i, b'}'),
            b'[' => i = skip_to_close(bytes, i, b']'),
            b'(' if label_list_next => {
                i = skip_to_close(bytes, i, b')');
                label_list_next = false;
            }
            b'$' => {
                i += 1;
                if bytes.get(i) == Some(&b'{') {
                    i = skip_to_close(bytes, i, b'}');
                } else {
                    i = skip_while(bytes, i, is_identifier_byte);
                }
            }
            b'0'..=b'9' | b'.' => {
                i = skip_while(bytes, i, |b| {
                    b.is_ascii_alphanumeric() || b == b'.' || b == b'_'
                })
            }
            b'a'..=b'z' | b'A'..=b'Z' | b'_' | b':' => {
                let end = skip_while(bytes, i, is_identifier_byte);
                let word = &expr[i..end];
                let rest = expr[end..].trim_start();
                // A call, or an aggregation with its grouping first: `sum by (job) (...)`.
                let called = rest.starts_with('(')
                    || ["by", "without"].iter().any(|clause| {
                        rest.strip_prefix(clause).is_some_and(|after| {
                            !after.starts_with(|c: char| is_identifier_byte(c as u8))
                        })
                    });
                if LABEL_LISTS.contains(&word) {
                    label_list_next = rest.starts_with('(');
                } else if !OTHER_KEYWORDS.contains(&word) && !called {
                    names.insert(word.to_owned());
                }
                i = end;
            }
            _ => i += 1,
        }
    }
    names
}

fn is_identifier_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b':'
}

fn skip_while(bytes: &[u8], mut i: usize, keep: impl Fn(u8) -> bool) -> usize {
    while i < bytes.len() && keep(bytes[i]) {
        i += 1;
    }
    i
}

/// Past the string literal opening at `start` (backslash escapes honoured).
fn skip_string(bytes: &[u8], start: usize) -> usize {
    let quote = bytes[start];
    let mut i = start + 1;
    while i < bytes.len() && bytes[i] != quote {
        i += if bytes[i] == b'\\' { 2 } else { 1 };
    }
    i + 1
}

/// Past the `close` matching the bracket at `start`, skipping string literals inside.
fn skip_to_close(bytes: &[u8], start: usize, close: u8) -> usize {
    let open = bytes[start];
    let mut depth = 0usize;
    let mut i = start;
    while i < bytes.len() {
        match bytes[i] {
            b'"' | b'\'' | b'`' => {
                i = skip_string(bytes, i);
                continue;
            }
            b if b == open => depth += 1,
            b if b == close => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    i
}

/// The sample names in a Prometheus or OpenMetrics exposition (`name` of `name{...} v`).
pub fn exposition_sample_names(exposition: &str) -> BTreeSet<String> {
    exposition
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| line.split(['{', ' ']).next())
        .map(str::to_owned)
        .collect()
}

/// A plain HTTP/1.0 request (so the answer is never chunked) with 5 s timeouts: the status
/// and body, or `None` if the exchange failed.
pub fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    stream
        .set_write_timeout(Some(Duration::from_secs(5)))
        .ok()?;
    let mut request = format!("{method} {path} HTTP/1.0\r\nHost: {addr}\r\n");
    if let Some(body) = body {
        request.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    request.push_str("\r\n");
    request.push_str(body.unwrap_or_default());
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).ok()?;
    let response = String::from_utf8_lossy(&response);
    let status = response.split(' ').nth(1)?.parse().ok()?;
    let body = response.split_once("\r\n\r\n")?.1.to_owned();
    Some((status, body))
}

/// The body of one `POST /orders`, as the compose load generator sends it.
pub fn order_body(i: usize) -> String {
    format!(r#"{{"sku":"sku-{}","qty":{}}}"#, i % 5, i % 3 + 1)
}

/// The directory holding the `obs-examples` binaries, built (debug) on first use by this
/// test process so they are never stale; at most 20 minutes on a cold cache.
pub fn example_binaries() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        run(
            Command::new(cargo)
                .args(["build", "-p", "obs-examples", "--bins"])
                .current_dir(repo_root()),
            Duration::from_secs(20 * 60),
        );
        std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo_root().join("target"))
            .join("debug")
    })
}

/// A two-worker Tokio runtime and an in-memory OTLP receiver running on it, for the tests
/// that start the mesh binaries.
pub fn runtime_and_receiver() -> (tokio::runtime::Runtime, OtlpReceiver) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let receiver = runtime
        .block_on(OtlpReceiver::start(ReceiverConfig::default()))
        .expect("OTLP receiver");
    (runtime, receiver)
}

/// The five mesh services as real processes on free loopback ports, exporting OTLP to a
/// receiver of the test's own; killed when dropped.
#[derive(Debug)]
pub struct Mesh {
    processes: Vec<(&'static str, Child)>,
    addrs: Vec<(&'static str, SocketAddr, SocketAddr)>,
    logs: PathBuf,
}

impl Mesh {
    /// Starts every service, callees first, each with `ADDR` and `OBS_METRICS_ADDR` on free
    /// loopback ports, peers' URLs pointing at each other, and OTLP/gRPC export to
    /// `otlp_grpc_endpoint`. Waits (30 s each) until each serves; panics with the logs if
    /// one does not.
    pub fn start(otlp_grpc_endpoint: &str) -> Mesh {
        Mesh::start_with_env(otlp_grpc_endpoint, &[])
    }

    /// Like [`Mesh::start`], with `extra_env` added to every service's environment.
    pub fn start_with_env(otlp_grpc_endpoint: &str, extra_env: &[(&str, &str)]) -> Mesh {
        let bin_dir = example_binaries();
        let logs = std::env::temp_dir().join(format!("obs-deploy-mesh-{}", free_port()));
        std::fs::create_dir_all(&logs).expect("mesh log directory");
        let mut mesh = Mesh {
            processes: Vec::new(),
            addrs: Vec::new(),
            logs,
        };
        for service in MESH {
            let (child, addr, metrics_addr) =
                mesh.spawn(bin_dir, service, otlp_grpc_endpoint, extra_env);
            mesh.processes.push((service.name, child));
            mesh.addrs.push((service.name, addr, metrics_addr));
            let ready = service.protocol == Protocol::Grpc || mesh.healthy(addr);
            assert!(
                ready,
                "{} did not come up on {addr} (metrics {metrics_addr}):\n{}",
                service.name,
                mesh.logs()
            );
        }
        mesh
    }

    /// Starts `service` with `ADDR` and `OBS_METRICS_ADDR` on free loopback ports and waits
    /// (30 s) until it listens on both itself; on new ports if it exits first (a port taken
    /// since it was chosen). Panics with the logs if it does not come up.
    fn spawn(
        &self,
        bin_dir: &Path,
        service: MeshService,
        otlp_grpc_endpoint: &str,
        extra_env: &[(&str, &str)],
    ) -> (Child, SocketAddr, SocketAddr) {
        for attempt in 1..=START_ATTEMPTS {
            let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
            let metrics_addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
            let log = std::fs::File::create(self.logs.join(format!("{}.log", service.name)))
                .expect("service log file");
            let mut command = Command::new(bin_dir.join(service.name));
            command
                .env_clear()
                .env(ADDR_ENV, addr.to_string())
                .env(METRICS_ADDR_ENV, metrics_addr.to_string())
                .env("OTEL_SERVICE_NAME", service.name)
                .env("OTEL_EXPORTER_OTLP_ENDPOINT", otlp_grpc_endpoint)
                .env("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
                .env("OTEL_METRIC_EXPORT_INTERVAL", "1000")
                // The slow report step, short: these tests are about the deployment.
                .env("SLOW_MS", "20");
            for (variable, callee) in service.peers {
                command.env(variable, format!("http://{}", self.addr(callee)));
            }
            command.envs(extra_env.iter().copied());
            let mut child = command
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("log handle"))
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| {
                    panic!("cannot start {}: {e}", bin_dir.join(service.name).display())
                });
            let own_log = || {
                std::fs::read_to_string(self.logs.join(format!("{}.log", service.name)))
                    .unwrap_or_default()
            };
            let ports = [addr.port(), metrics_addr.port()];
            match wait_child_listening(&mut child, &ports, Duration::from_secs(30)) {
                Listening::Ready => return (child, addr, metrics_addr),
                Listening::Exited(status) if attempt < START_ATTEMPTS => eprintln!(
                    "{} exited ({status}) before listening on {addr} and {metrics_addr}; \
                     trying other ports. Its output:\n{}",
                    service.name,
                    own_log()
                ),
                outcome => {
                    let _ = child.kill();
                    let _ = child.wait();
                    let name = service.name;
                    panic!(
                        "{name} did not listen on {addr} (metrics {metrics_addr}): {outcome:?}\n\
                         --- {name}\n{}{}",
                        own_log(),
                        self.logs()
                    );
                }
            }
        }
        unreachable!("the last attempt returns or panics")
    }

    /// `GET /healthz` answers 200 within 10 s.
    fn healthy(&self, addr: SocketAddr) -> bool {
        poll_blocking(Duration::from_secs(10), Duration::from_millis(100), || {
            http_request(addr, "GET", "/healthz", None)
                .is_some_and(|(s, _)| s == 200)
                .then_some(())
        })
        .is_some()
    }

    /// Where `service` listens.
    pub fn addr(&self, service: &str) -> SocketAddr {
        self.entry(service).1
    }

    /// Where `service` serves `/metrics`.
    pub fn metrics_addr(&self, service: &str) -> SocketAddr {
        self.entry(service).2
    }

    fn entry(&self, service: &str) -> (&'static str, SocketAddr, SocketAddr) {
        *self
            .addrs
            .iter()
            .find(|(name, ..)| *name == service)
            .unwrap_or_else(|| panic!("{service} is not running"))
    }

    /// Sends `rounds` × (`POST /orders`, `GET /reports/{i}`) through the gateway and returns
    /// the statuses (0 where the exchange failed).
    pub fn send_traffic(&self, rounds: usize) -> Vec<u16> {
        let gateway = self.addr("gateway");
        (0..rounds)
            .flat_map(|i| {
                [
                    http_request(gateway, "POST", "/orders", Some(&order_body(i))),
                    http_request(gateway, "GET", &format!("/reports/{i}"), None),
                ]
            })
            .map(|response| response.map_or(0, |(status, _)| status))
            .collect()
    }

    /// `GET /metrics` of `service`; panics if it does not answer 200.
    pub fn scrape(&self, service: &str) -> String {
        match http_request(self.metrics_addr(service), "GET", "/metrics", None) {
            Some((200, body)) => body,
            other => panic!("{service} /metrics answered {other:?}"),
        }
    }

    /// Sends `SIGTERM` to `service` (as `docker stop` and the kubelet do) and waits for it
    /// to exit, at most `timeout`: its exit status, or `None` if it was still running (it
    /// is then killed).
    pub fn terminate(
        &mut self,
        service: &str,
        timeout: Duration,
    ) -> Option<std::process::ExitStatus> {
        let child = self
            .processes
            .iter_mut()
            .find(|(name, _)| *name == service)
            .map(|(_, child)| child)
            .unwrap_or_else(|| panic!("{service} is not running"));
        run(
            Command::new("kill").args(["-TERM", &child.id().to_string()]),
            Duration::from_secs(10),
        );
        wait_bounded(child, timeout)
    }

    /// Every service's output so far.
    pub fn logs(&self) -> String {
        self.processes
            .iter()
            .map(|(name, _)| {
                let log = std::fs::read_to_string(self.logs.join(format!("{name}.log")))
                    .unwrap_or_default();
                format!("--- {name}\n{log}")
            })
            .collect()
    }
}

impl Drop for Mesh {
    fn drop(&mut self) {
        for (_, child) in &mut self.processes {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.logs);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(expr: &str) -> Vec<String> {
        promql_metric_names(expr).into_iter().collect()
    }

    #[test]
    fn metric_names_skip_functions_labels_durations_and_variables() {
        assert_eq!(
            names(
                r#"histogram_quantile(0.99, sum by (le, job) (rate(a_bucket{job=~"$service", x="}"}[$__rate_interval])))"#
            ),
            ["a_bucket"]
        );
        assert_eq!(
            names("sum(rate(a_total[5m] offset 1h)) by (job) / on (job) group_left b"),
            ["a_total", "b"]
        );
        assert_eq!(names("up == bool 1 and ${var} or c:d"), ["c:d", "up"]);
        assert_eq!(names(r#"{__name__="x"}"#), Vec::<String>::new());
    }

    #[test]
    fn label_values_queries_become_their_selector() {
        assert_eq!(
            label_values_selector("label_values(up{a=\"b\"}, job)"),
            "up{a=\"b\"}"
        );
        assert_eq!(label_values_selector("sum(up)"), "sum(up)");
    }

    #[test]
    fn sample_names_come_from_sample_lines_only() {
        let text = "# TYPE a counter\na_total{x=\"1\"} 3 # {trace_id=\"ab\"} 1\nb 2\n\n";
        assert_eq!(
            exposition_sample_names(text)
                .into_iter()
                .collect::<Vec<_>>(),
            ["a_total", "b"]
        );
    }
}
