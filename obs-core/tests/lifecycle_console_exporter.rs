//! `OTEL_TRACES_EXPORTER=console` (and the other signals): OTLP/JSON lines on stdout, checked
//! in a child process whose stdout the test reads.

use std::process::Command;

#[test]
fn console_exporters_print_otlp_json_lines() {
    if std::env::var_os("OBS_CONSOLE_CHILD").is_some() {
        // The parent below set the OTEL_* variables for this child process.
        let telemetry = obs_core::builder().json_logs(false).init().expect("init");
        {
            let _s = tracing::info_span!("console-span").entered();
            tracing::info!("console-log");
        }
        telemetry.shutdown_blocking().expect("shutdown");
        return;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "console_exporters_print_otlp_json_lines",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("OBS_CONSOLE_CHILD", "1")
        .env("OTEL_TRACES_EXPORTER", "console")
        .env("OTEL_LOGS_EXPORTER", "console")
        .env("OTEL_METRICS_EXPORTER", "none")
        .env("OTEL_SERVICE_NAME", "console-test")
        .output()
        .expect("child test process");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The test harness may print its own words before a line: parse from the first brace.
    let json: Vec<serde_json::Value> = stdout
        .lines()
        .filter_map(|l| l.find('{').map(|i| &l[i..]))
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let spans = json
        .iter()
        .find(|v| v.get("resourceSpans").is_some())
        .unwrap_or_else(|| panic!("no span request line in:\n{stdout}"));
    assert!(spans.to_string().contains("console-span"), "{spans}");
    assert!(spans.to_string().contains("console-test"), "{spans}");
    let logs = json
        .iter()
        .find(|v| v.get("resourceLogs").is_some())
        .expect("a log request line");
    assert!(logs.to_string().contains("console-log"), "{logs}");
}
