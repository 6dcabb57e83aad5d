//! `OTEL_PROPAGATORS` chooses, process-wide, which W3C formats `init` has obs read and write;
//! `OTEL_SDK_DISABLED` leaves that alone, as the spec says. Checked in a child process whose
//! environment sets them (`init` is once per process).

use std::process::Command;

use obs_core::trace::Propagators;

#[test]
fn init_propagates_only_the_formats_otel_propagators_lists() {
    if std::env::var_os("OBS_PROPAGATORS_CHILD").is_some() {
        let telemetry = obs_core::init().expect("init");
        assert_eq!(
            obs_core::trace::propagators(),
            Propagators {
                trace_context: false,
                baggage: true,
            }
        );
        let mut headers = http::HeaderMap::new();
        headers.insert(
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
                .parse()
                .unwrap(),
        );
        headers.insert("baggage", "user=alice".parse().unwrap());
        let parent = obs_core::trace::extract(&headers);
        assert_eq!(parent.span, None, "tracecontext is not listed");
        assert_eq!(parent.baggage.get("user"), Some("alice"));
        telemetry.shutdown_blocking().expect("shutdown");
        return;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "init_propagates_only_the_formats_otel_propagators_lists",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("OBS_PROPAGATORS_CHILD", "1")
        .env("OTEL_PROPAGATORS", "baggage")
        .env("OTEL_SDK_DISABLED", "true")
        .env("OBS_LOG_FORMAT", "none")
        .output()
        .expect("child test process");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && !stderr.contains("obs:"),
        "{}\n{stderr}",
        String::from_utf8_lossy(&out.stdout)
    );
}
