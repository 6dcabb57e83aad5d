//! `OTEL_PROPAGATORS` chooses, process-wide, which formats `init` has obs, and the global
//! OpenTelemetry propagator it installs, read and write; `OTEL_SDK_DISABLED` leaves that
//! alone, as the spec says. Checked in a child process whose environment sets them (`init`
//! is once per process).

use std::collections::HashMap;
use std::process::Command;

use obs_core::opentelemetry::trace::TraceContextExt;
use obs_core::trace::Propagators;

#[test]
fn init_propagates_only_the_formats_otel_propagators_lists() {
    if std::env::var_os("OBS_PROPAGATORS_CHILD").is_some() {
        let telemetry = obs_core::init().expect("init");
        assert_eq!(
            obs_core::trace::propagators(),
            Propagators {
                baggage: true,
                b3_multi: true,
                ..Propagators::NONE
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
        // The global OpenTelemetry propagator follows the same choice: B3 read (the
        // single header too) and written as `X-B3-*`, no `traceparent`.
        let b3 = HashMap::from([(
            "b3".to_owned(),
            "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1".to_owned(),
        )]);
        let cx = obs_core::opentelemetry::global::get_text_map_propagator(|p| p.extract(&b3));
        let span = cx.span().span_context().clone();
        assert_eq!(
            span.trace_id().to_string(),
            "80f198ee56343ba864fe8b2a57d3eff7"
        );
        assert!(span.is_sampled() && span.is_remote());
        let mut out = HashMap::new();
        obs_core::opentelemetry::global::get_text_map_propagator(|p| {
            p.inject_context(&cx, &mut out);
        });
        assert_eq!(out["x-b3-traceid"], "80f198ee56343ba864fe8b2a57d3eff7");
        assert_eq!(out["x-b3-spanid"], "e457b5a2e4d86bd1");
        assert_eq!(out["x-b3-sampled"], "1");
        assert!(
            !out.contains_key("traceparent") && !out.contains_key("b3"),
            "{out:?}"
        );
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
        .env("OTEL_PROPAGATORS", "baggage,b3multi")
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
