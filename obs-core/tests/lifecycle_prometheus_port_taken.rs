//! `OTEL_METRICS_EXPORTER=prometheus` on a port someone else holds: `init` fails naming the
//! address and `/metrics`, not `OBS_METRICS_ADDR`, which the user never set. Checked in a
//! child process, since the standard variables are read from the environment.

#[path = "support/child.rs"]
pub mod child;

#[test]
fn a_taken_prometheus_port_is_reported_as_such() {
    if child::scenario().is_some() {
        // The parent below set the OTEL_* variables for this child process.
        match obs_core::builder().json_logs(false).init() {
            Ok(_) => println!("INIT-OK"),
            Err(e) => println!("INIT-ERROR {e}"),
        }
        return;
    }
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("local address").port();
    let stdout = child::in_child(
        "a_taken_prometheus_port_is_reported_as_such",
        "prometheus port taken",
        &[
            // Empty reads as unset (the SDK environment spec), whatever the shell holds.
            ("OBS_METRICS_ADDR", String::new()),
            ("OTEL_METRICS_EXPORTER", "prometheus".to_owned()),
            ("OTEL_EXPORTER_PROMETHEUS_HOST", "127.0.0.1".to_owned()),
            ("OTEL_EXPORTER_PROMETHEUS_PORT", port.to_string()),
            ("OTEL_TRACES_EXPORTER", "none".to_owned()),
            ("OTEL_LOGS_EXPORTER", "none".to_owned()),
        ],
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
