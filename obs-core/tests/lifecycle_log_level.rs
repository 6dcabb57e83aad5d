//! `OTEL_LOG_LEVEL` (and `Builder::diagnostics`) decide which of obs's own diagnostics reach
//! stderr: `init` is once per process, so each case runs in a child process whose stderr
//! the test reads. The child provokes one error (a foreign global tracer provider, which
//! bypasses obs) and one warning (an `OTEL_PROPAGATORS` value obs does not implement).

use std::process::Command;

const CHILD: &str = "OBS_LOG_LEVEL_CHILD";
const ERROR: &str = "tracer provider was installed";
const WARNING: &str = "ignoring OTEL_PROPAGATORS";

fn child_body(builder_level: Option<obs_core::trace::diagnostics::Level>) {
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    opentelemetry::global::set_tracer_provider(provider);
    let mut builder = obs_core::builder().sdk_disabled(true).json_logs(false);
    if let Some(level) = builder_level {
        builder = builder.diagnostics(level);
    }
    let telemetry = builder.init().expect("init");
    telemetry.shutdown_blocking().expect("shutdown");
}

/// Runs this test binary's `test` in a child with `OTEL_LOG_LEVEL=log_level` (unset if
/// `None`), and returns its stderr.
fn child_stderr(test: &str, log_level: Option<&str>) -> String {
    let mut child = Command::new(std::env::current_exe().unwrap());
    child
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .env("OTEL_PROPAGATORS", "xray")
        .env_remove("OTEL_LOG_LEVEL");
    if let Some(level) = log_level {
        child.env("OTEL_LOG_LEVEL", level);
    }
    let out = child.output().expect("child test process");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    stderr
}

#[test]
fn otel_log_level_filters_obs_diagnostics() {
    if std::env::var_os(CHILD).is_some() {
        return child_body(None);
    }
    let test = "otel_log_level_filters_obs_diagnostics";
    for (level, error, warning) in [
        (None, true, true),
        (Some("info"), true, true),
        (Some("WARN"), true, true),
        (Some("error"), true, false),
        (Some("none"), false, false),
        // Not a level: warned about (so shown), and the default used.
        (Some("loud"), true, true),
    ] {
        let stderr = child_stderr(test, level);
        assert_eq!(
            (stderr.contains(ERROR), stderr.contains(WARNING)),
            (error, warning),
            "OTEL_LOG_LEVEL={level:?}:\n{stderr}"
        );
        assert_eq!(
            stderr.contains("ignoring OTEL_LOG_LEVEL=\"loud\""),
            level == Some("loud"),
            "{stderr}"
        );
    }
}

#[test]
fn the_builder_level_wins_over_otel_log_level() {
    if std::env::var_os(CHILD).is_some() {
        return child_body(Some(obs_core::trace::diagnostics::Level::Off));
    }
    let stderr = child_stderr("the_builder_level_wins_over_otel_log_level", Some("warn"));
    assert!(
        !stderr.contains(ERROR) && !stderr.contains(WARNING),
        "{stderr}"
    );
}
