//! `OTEL_METRICS_EXPORTER=prometheus` on a port someone else holds: `init` fails naming the
//! address and `/metrics`, not `OBS_METRICS_ADDR`, which the user never set. Checked in a
//! child process, since the standard variables are read from the environment.

use std::process::Command;

#[test]
fn a_taken_prometheus_port_is_reported_as_such() {
    if std::env::var_os("OBS_PROMETHEUS_CHILD").is_some() {
        // The parent below set the OTEL_* variables for this child process.
        match obs_core::builder().json_logs(false).init() {
            Ok(_) => println!("INIT-OK"),
            Err(e) => println!("INIT-ERROR {e}"),
        }
        return;
    }
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("local address").port();
    let out = Command::new(std::env::current_exe().expect("the test binary"))
        .args([
            "--exact",
            "a_taken_prometheus_port_is_reported_as_such",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("OBS_PROMETHEUS_CHILD", "1")
        .env_remove("OBS_METRICS_ADDR")
        .env("OTEL_METRICS_EXPORTER", "prometheus")
        .env("OTEL_EXPORTER_PROMETHEUS_HOST", "127.0.0.1")
        .env("OTEL_EXPORTER_PROMETHEUS_PORT", port.to_string())
        .env("OTEL_TRACES_EXPORTER", "none")
        .env("OTEL_LOGS_EXPORTER", "none")
        .output()
        .expect("child test process");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let error = stdout
        .lines()
        .find_map(|l| l.split_once("INIT-ERROR ").map(|(_, e)| e))
        .unwrap_or_else(|| panic!("init did not fail:\n{stdout}"));
    assert!(
        error.contains(&format!("/metrics on 127.0.0.1:{port}")),
        "{error}"
    );
    assert!(!error.contains("OBS_METRICS_ADDR"), "{error}");
}
