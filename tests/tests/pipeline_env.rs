//! An application configured by `OTEL_*` variables alone reaches a real collector: the base
//! endpoint's `/v1/{signal}` paths, a per-signal protocol and endpoint, gzip, headers and the
//! resource variables, as rotel takes them. The application is a child process of this test
//! binary (`init` reads the process environment, once per process).

use std::process::Command;
use std::time::Duration;

use obs_core::testing::{OtlpReceiver, ReceiverConfig};
use obs_tests::collector::Collector;

/// Set in the child process: it is the application.
const CHILD: &str = "OBS_PIPELINE_ENV_CHILD";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telemetry_configured_by_the_environment_reaches_a_real_collector() {
    if std::env::var_os(CHILD).is_some() {
        let telemetry = obs_core::builder().json_logs(false).init().expect("init");
        {
            let _span = tracing::info_span!("env-span").entered();
            tracing::info!("env-log");
            obs_core::metrics::global()
                .counter("env_orders", "Orders.")
                .expect("counter")
                .inc();
        }
        telemetry.shutdown().await.expect("every export succeeds");
        return;
    }
    let receiver = OtlpReceiver::start(ReceiverConfig::default())
        .await
        .expect("receiver");
    let collector = Collector::start(&receiver.grpc_endpoint());
    let env = [
        ("OTEL_SERVICE_NAME", "env-service".to_owned()),
        (
            "OTEL_RESOURCE_ATTRIBUTES",
            "service.name=ignored,deployment.environment%2Ename=prod%2C%20eu".to_owned(),
        ),
        // Logs and metrics: OTLP/HTTP to the base URL (with a trailing slash), gzip for logs.
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            format!("{}/", collector.http_endpoint),
        ),
        ("OTEL_EXPORTER_OTLP_LOGS_COMPRESSION", "gzip".to_owned()),
        ("OTEL_EXPORTER_OTLP_HEADERS", "x-tenant=a%20b".to_owned()),
        // Traces: OTLP/gRPC to the collector's gRPC port, gzip.
        ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc".to_owned()),
        (
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            collector.grpc_endpoint.clone(),
        ),
        ("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "gzip".to_owned()),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "5000".to_owned()),
    ];
    let out = tokio::task::spawn_blocking(move || {
        Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "telemetry_configured_by_the_environment_reaches_a_real_collector",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD, "1")
            .envs(env)
            .output()
            .expect("child test process")
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && !stderr.contains("obs:"),
        "the application failed or warned:\n{}\n{stderr}\ncollector output:\n{}",
        String::from_utf8_lossy(&out.stdout),
        collector.output()
    );

    let wait = Duration::from_secs(20);
    let spans = receiver
        .store()
        .wait_for_spans(|s| s.iter().any(|s| s.name() == "env-span"), wait)
        .await
        .unwrap_or_else(|e| collector.fail(e));
    let span = spans.iter().find(|s| s.name() == "env-span").unwrap();
    assert_eq!(span.service_name(), Some("env-service"));
    assert_eq!(
        obs_core::testing::attribute_str(&span.resource.attributes, "deployment.environment.name"),
        Some("prod, eu")
    );
    receiver
        .store()
        .wait_for_logs(|l| l.iter().any(|r| r.body_str() == Some("env-log")), wait)
        .await
        .unwrap_or_else(|e| collector.fail(e));
    let points = receiver
        .store()
        .wait_for_metrics(|m| m.iter().any(|p| p.name == "env_orders"), wait)
        .await
        .unwrap_or_else(|e| collector.fail(e));
    let orders = points
        .iter()
        .rev()
        .find(|p| p.name == "env_orders")
        .unwrap();
    assert_eq!(orders.number_value(), Some(1.0));
    assert_eq!(orders.service_name(), Some("env-service"));
    drop(collector);
    receiver.shutdown().await;
}
