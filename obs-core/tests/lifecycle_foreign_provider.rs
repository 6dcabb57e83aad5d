//! A tracer provider installed with `opentelemetry::global` before `init` is detected and
//! reported on stderr (checked in a child process, whose stderr the test reads).

use std::process::Command;

#[test]
fn init_warns_about_a_foreign_global_tracer_provider() {
    if std::env::var_os("OBS_FOREIGN_PROVIDER_CHILD").is_some() {
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
        opentelemetry::global::set_tracer_provider(provider);
        let telemetry = obs_core::builder()
            .sdk_disabled(true)
            .json_logs(false)
            .init()
            .expect("init");
        telemetry.shutdown_blocking().expect("shutdown");
        return;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "init_warns_about_a_foreign_global_tracer_provider",
            "--nocapture",
        ])
        .env("OBS_FOREIGN_PROVIDER_CHILD", "1")
        .output()
        .expect("child test process");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("tracer provider was installed"), "{stderr}");
}
