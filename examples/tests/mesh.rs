//! The mesh end to end: `mesh --requests 40 --html ...` as a user runs it (the services as
//! separate processes on loopback, the embedded OTLP receiver), then its text output and
//! its HTML page in headless Chromium.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

mod support;

/// The bound for a whole mesh run (build excluded).
const MESH_TIMEOUT: Duration = Duration::from_secs(120);
const CHROMIUM_TIMEOUT: Duration = Duration::from_secs(60);

struct MeshRun {
    stdout: String,
    html: PathBuf,
}

/// A directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("obs-mesh-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create a temporary directory");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `command` to its end, killing it after `timeout`.
fn run_bounded(mut command: Command, timeout: Duration) -> Output {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
    // Drain the pipes on threads so a chatty child cannot block on a full pipe.
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let out = std::thread::spawn(move || {
        let mut text = Vec::new();
        let _ = std::io::Read::read_to_end(&mut stdout, &mut text);
        text
    });
    let err = std::thread::spawn(move || {
        let mut text = Vec::new();
        let _ = std::io::Read::read_to_end(&mut stderr, &mut text);
        text
    });
    let status = support::wait_bounded(&mut child, timeout, &format!("{command:?}"));
    Output {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    }
}

/// One mesh run shared by the tests of this file.
fn mesh() -> &'static MeshRun {
    static RUN: OnceLock<MeshRun> = OnceLock::new();
    RUN.get_or_init(|| {
        // In Cargo's scratch directory for integration tests, under `target/`, and removed
        // by the test that reads it: the run is a static, never dropped, so a `TempDir` here
        // was left behind in /tmp by every run.
        let html = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("mesh-report-{}.html", std::process::id()));
        let mut command = Command::new(env!("CARGO_BIN_EXE_mesh"));
        command
            .args(["--requests", "40", "--html"])
            .arg(&html)
            // The report's render step far slower than the default 300 ms, so that its
            // trace is the slowest even when a loaded machine makes other requests slow.
            .args(["--slow-ms", "2000"])
            // The test needs the spans in the runner's own receiver.
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            // A shell whose settings would turn the services' telemetry off or send it
            // elsewhere: the runner's report must not come out empty because of them.
            .env("OTEL_SDK_DISABLED", "true")
            .env("OTEL_TRACES_EXPORTER", "none")
            // Without propagation every service would start its own traces: no waterfall
            // across services, no logs of one trace from four of them.
            .env("OTEL_PROPAGATORS", "none")
            .env(
                "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
                "http://127.0.0.1:9/v1/logs",
            )
            .env("OBS_LOG_FORMAT", "none")
            // Tracing switched off by obs's own filter: no spans, no map, no waterfall.
            .env("OBS_TRACES_FILTER", "off")
            // The stable RPC conventions beside the old ones: the report reads either.
            .env("OTEL_SEMCONV_STABILITY_OPT_IN", "rpc/dup");
        let output = run_bounded(command, MESH_TIMEOUT);
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "mesh failed: {}\nstdout:\n{stdout}\nstderr:\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        MeshRun { stdout, html }
    })
}

/// With `OTEL_EXPORTER_OTLP_ENDPOINT` set the services export there and the runner sees
/// none of it: when nothing listens there, the services say so on stderr, and the runner
/// must pass that on rather than leave only its "exported to" line.
#[test]
fn undelivered_telemetry_of_an_external_endpoint_is_reported() {
    // Port 9 (discard), where nothing listens on loopback: a port freed by dropping a
    // listener can be taken by another test's receiver meanwhile, which then accepts it all.
    let mut command = Command::new(env!("CARGO_BIN_EXE_mesh"));
    command
        .args(["--requests", "8"])
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9");
    let output = run_bounded(command, MESH_TIMEOUT);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{}\n{stderr}", output.status);
    for service in ["gateway", "orders", "reports", "inventory", "payments"] {
        let said = format!("mesh: {service}: telemetry was not fully flushed: ");
        assert!(stderr.contains(&said), "no {said:?} in:\n{stderr}");
    }
}

#[test]
fn the_text_report_names_the_slow_service_and_span_with_logs_from_four_services() {
    let out = &mesh().stdout;
    let verdict = out
        .lines()
        .find(|line| line.starts_with("slowest: "))
        .unwrap_or_else(|| panic!("no verdict line in:\n{out}"));
    assert!(
        verdict.starts_with("slowest: reports / report.render, "),
        "{verdict}"
    );
    assert!(verdict.contains("summary cache is disabled"), "{verdict}");

    // "4. Logs of trace <id> (N lines from K services: a, b, ...)"
    let logs_header = out
        .lines()
        .find(|line| line.starts_with("4. Logs of trace "))
        .unwrap_or_else(|| panic!("no logs section in:\n{out}"));
    let services: Vec<&str> = logs_header
        .split("services: ")
        .nth(1)
        .and_then(|rest| rest.strip_suffix(')'))
        .unwrap_or_else(|| panic!("unexpected header {logs_header}"))
        .split(", ")
        .collect();
    assert!(services.len() >= 4, "{logs_header}");
    for service in ["gateway", "reports", "orders", "inventory"] {
        assert!(services.contains(&service), "{logs_header}");
    }
    // Every log line printed under the header carries the slow trace's id.
    let trace_id = logs_header
        .trim_start_matches("4. Logs of trace ")
        .split(' ')
        .next()
        .expect("a trace id");
    assert_eq!(trace_id.len(), 32, "{logs_header}");
    let log_lines: Vec<&str> = out
        .lines()
        .skip_while(|line| !line.starts_with("4. Logs"))
        .skip(1)
        .take_while(|line| !line.is_empty())
        .collect();
    assert!(log_lines.len() >= 4, "{log_lines:?}");
    for line in &log_lines {
        assert!(
            line.contains(&format!("\"trace_id\":\"{trace_id}\"")),
            "{line}"
        );
    }
}

#[test]
fn the_text_report_has_red_metrics_per_route_and_the_service_map() {
    let out = &mesh().stdout;
    let route = |service: &str, route: &str| {
        out.lines()
            .find(|line| {
                let mut columns = line.split_whitespace();
                columns.next() == Some(service) && line.contains(route)
            })
            .unwrap_or_else(|| panic!("no {service} {route} row in:\n{out}"))
    };
    // 40 requests: 30 orders and 10 reports through the gateway.
    let orders_row: Vec<&str> = route("gateway", "POST /orders")
        .split_whitespace()
        .collect();
    assert_eq!(orders_row[4], "30", "{orders_row:?}");
    let reports_row: Vec<&str> = route("gateway", "GET /reports/{id}")
        .split_whitespace()
        .collect();
    assert_eq!(reports_row[4], "10", "{reports_row:?}");
    route("payments", "mesh.Payments/Charge");
    route("inventory", "mesh.Inventory/WatchStock");
    // One charge in 20 is declined: 30 charges give at least one error.
    let charge = route("payments", "mesh.Payments/Charge");
    let errors = charge
        .split_whitespace()
        .find(|column| column.ends_with('%'))
        .unwrap_or_else(|| panic!("no error rate in {charge}"));
    assert_ne!(errors, "0.0%", "{charge}");

    for edge in [
        "gateway    -> orders     http",
        "gateway    -> reports    http",
        "orders     -> inventory  grpc",
        "orders     -> payments   grpc",
        "reports    -> inventory  grpc",
        "reports    -> orders     http",
    ] {
        assert!(out.contains(edge), "no edge {edge:?} in:\n{out}");
    }
    assert!(
        out.contains("report.render") && out.contains("<-- slowest"),
        "{out}"
    );
}

fn chromium(html: &Path, profile: &Path) -> Output {
    let mut command = Command::new("chromium");
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("file://{}", html.display()));
    run_bounded(command, CHROMIUM_TIMEOUT)
}

#[test]
fn the_html_report_is_self_contained_and_renders_in_chromium_without_script_errors() {
    let run = mesh();
    let page = std::fs::read_to_string(&run.html).expect("the HTML report was written");
    for external in ["<link", " src=", "@import", "url(http"] {
        assert!(
            !page.contains(external),
            "the page loads an asset: {external}"
        );
    }

    let profile = TempDir::new("chromium");
    let output = chromium(&run.html, &profile.0);
    // This test is the page's only reader.
    let _ = std::fs::remove_file(&run.html);
    let dom = String::from_utf8_lossy(&output.stdout);
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "chromium failed: {}\n{log}",
        output.status
    );
    // Chromium logs page console messages (uncaught exceptions included) as CONSOLE lines.
    let console: Vec<&str> = log
        .lines()
        .filter(|line| line.contains(":CONSOLE"))
        .collect();
    assert!(console.is_empty(), "console output: {console:#?}");
    assert!(!log.contains("Uncaught"), "{log}");
    // The script ran to its end and found the slow span in the data.
    assert!(
        dom.contains("data-rendered=\"ok\""),
        "script did not finish:\n{dom}"
    );
    assert!(
        dom.contains("slowest span: reports / report.render"),
        "status line missing:\n{dom}"
    );
    // The waterfall draws the slow span in its own colour, and the service map is drawn.
    assert!(dom.contains("class=\"bar slow\""), "{dom}");
    assert!(dom.contains("id=\"service-map\""), "{dom}");
    assert!(dom.contains("report.render"), "{dom}");
}

/// A pipe whose reader is already gone: every write to it fails with EPIPE (Rust ignores
/// SIGPIPE), as after `mesh | head -1` once `head` has exited.
fn closed_pipe() -> std::io::PipeWriter {
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    writer
}

/// `mesh 2>&1 | head -1`, `mesh --html report.html | true`: a reader that stops reading
/// must not turn the run into a panic (`print!` and `eprintln!` panic on a closed pipe),
/// nor cost the HTML page asked for.
#[test]
fn a_reader_that_has_gone_fails_neither_the_run_nor_the_html_page() {
    let help = Command::new(env!("CARGO_BIN_EXE_mesh"))
        .arg("--help")
        .stdout(closed_pipe())
        .stderr(closed_pipe())
        .status()
        .expect("mesh --help runs");
    assert!(help.success(), "mesh --help to a closed pipe: {help}");

    let html = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("mesh-closed-pipe-{}.html", std::process::id()));
    let mut child = Command::new(env!("CARGO_BIN_EXE_mesh"))
        .args(["--requests", "4", "--html"])
        .arg(&html)
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .stdin(Stdio::null())
        .stdout(closed_pipe())
        .stderr(closed_pipe())
        .spawn()
        .expect("mesh starts");
    let status = support::wait_bounded(&mut child, MESH_TIMEOUT, "mesh with closed output");
    let page = std::fs::read_to_string(&html);
    let _ = std::fs::remove_file(&html);
    assert!(status.success(), "mesh to closed pipes: {status}");
    let page = page.expect("the HTML page was written");
    assert!(page.contains("report.render"), "{page}");
}

/// An `--html` path that can't be written fails the run at once, naming the path, before
/// any service starts or any traffic is sent.
#[test]
fn an_unwritable_html_path_fails_before_the_run() {
    let dir = TempDir::new("unwritable-html");
    let path = dir.0.join("no-such-directory").join("report.html");
    let mut command = Command::new(env!("CARGO_BIN_EXE_mesh"));
    command
        .args(["--requests", "4", "--html"])
        .arg(&path)
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT");
    let output = run_bounded(command, MESH_TIMEOUT);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("cannot write {}", path.display())),
        "{stderr}"
    );
    assert!(
        !stderr.contains("mesh: sending"),
        "traffic was sent:\n{stderr}"
    );
}

/// A run that fails (here: no service binaries where `--bin-dir` says) leaves the report
/// an earlier run wrote as it was, not emptied.
#[test]
fn a_failed_run_keeps_the_previous_html_report() {
    let dir = TempDir::new("failed-run-html");
    let path = dir.0.join("report.html");
    std::fs::write(&path, "<p>the previous report</p>").expect("write the earlier report");
    let mut command = Command::new(env!("CARGO_BIN_EXE_mesh"));
    command
        .args(["--requests", "4", "--html"])
        .arg(&path)
        .arg("--bin-dir")
        .arg(dir.0.join("no-binaries-here"))
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT");
    let output = run_bounded(command, MESH_TIMEOUT);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(&path).expect("the report is still there"),
        "<p>the previous report</p>",
        "{stderr}"
    );
}

/// The parent of process `pid` if it is alive (not a zombie, dead but not yet reaped), from
/// Linux's `/proc/<pid>/stat`: `pid (comm) state ppid ...`, where comm may hold spaces and
/// parentheses.
fn live_parent(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace();
    let state = fields.next()?;
    (state != "Z").then(|| fields.next()?.parse().ok())?
}

/// The live processes whose parent is `parent`.
fn live_children(parent: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| live_parent(pid) == Some(parent))
        .collect()
}

/// SIGKILL (a CI job's hard timeout, the OOM killer, `kill -9`) gives the runner no chance
/// to stop its services: they must notice on their own, or they keep running, holding
/// their ports, with no parent.
#[test]
fn the_services_stop_when_the_runner_is_killed() {
    let mut runner = Command::new(env!("CARGO_BIN_EXE_mesh"))
        .args(["--requests", "1000000", "--max-seconds", "100"])
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mesh starts");
    let pid = runner.id();
    // Wait until it sends traffic: all five services are up.
    let stderr = runner.stderr.take().expect("stderr is piped");
    let (lines, received) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(stderr)) {
            let Ok(line) = line else { break };
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let sending = support::wait::poll_blocking(MESH_TIMEOUT, Duration::from_millis(50), || {
        received
            .try_iter()
            .any(|line| line.starts_with("mesh: sending"))
            .then_some(())
    });
    let services = live_children(pid);
    runner.kill().expect("SIGKILL the runner");
    let _ = runner.wait();
    assert!(sending.is_some(), "mesh did not start sending traffic");
    assert_eq!(services.len(), 5, "the runner's children: {services:?}");

    let left =
        support::wait::poll_blocking(Duration::from_secs(30), Duration::from_millis(50), || {
            services
                .iter()
                .all(|&service| live_parent(service).is_none())
                .then_some(())
        });
    let running: Vec<u32> = services
        .into_iter()
        .filter(|&service| live_parent(service).is_some())
        .collect();
    // Not left behind by this test either.
    for service in &running {
        let _ = Command::new("kill")
            .args(["-KILL", &service.to_string()])
            .status();
    }
    assert!(
        left.is_some(),
        "services still running after their runner was killed: {running:?}"
    );
}

/// A shell with `OTEL_EXPORTER_OTLP_ENDPOINT` and `OTEL_SDK_DISABLED=true` (or
/// `OTEL_TRACES_EXPORTER=none`): the services inherit both and export nothing, so the
/// report must not say the spans went to that endpoint, where a user would look for them.
#[test]
fn the_report_does_not_claim_an_export_the_environment_turned_off() {
    for off in [
        ("OTEL_SDK_DISABLED", "true"),
        ("OTEL_TRACES_EXPORTER", "none"),
    ] {
        let mut command = Command::new(env!("CARGO_BIN_EXE_mesh"));
        command
            .args(["--requests", "4"])
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
            .env_remove("OTEL_SDK_DISABLED")
            .env_remove("OTEL_TRACES_EXPORTER")
            .env(off.0, off.1);
        let output = run_bounded(command, MESH_TIMEOUT);
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{}\n{stdout}", output.status);
        let headline = stdout.lines().next().unwrap_or_default();
        assert!(
            !headline.contains("telemetry: exported to"),
            "{off:?}: {headline}"
        );
        assert!(headline.contains(off.0), "{off:?}: {headline}");
    }
}
