//! `parentbased_jaeger_remote` through `init`: the strategy is polled for the resource's
//! `service.name` and applied to root spans by their name (a per-operation strategy), and
//! shutdown stops the poller with the pipeline, leaving no thread of it behind.
//!
//! Jaeger can't be installed here: `obs_core::testing::SamplingServer`, an in-process gRPC
//! `SamplingManager` on 127.0.0.1, stands in for it (the only counterpart available).

use std::time::Duration;

use obs_core::testing::SamplingServer;
use obs_core::trace::{PerOperationStrategy, Sampler, SamplingStrategy, SpanExt};
use obs_core::{ExporterKind, Signal};

#[path = "support/wait.rs"]
pub mod wait;

/// The threads of this process whose name starts with `prefix`.
fn threads_named(prefix: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|name| name.starts_with(prefix))
        .count()
}

fn sampled(span: tracing::Span) -> bool {
    span.span_context().is_some_and(|c| c.is_sampled())
}

#[test]
fn init_polls_the_strategy_of_its_service_and_shutdown_stops_the_poller() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let per_op = SamplingStrategy::PerOperation(PerOperationStrategy {
        default_probability: 0.0,
        lower_bound_per_second: 0.0,
        operations: vec![("GET /users/{id}".to_owned(), 1.0)],
    });
    let server = runtime
        .block_on(SamplingServer::start(Some(per_op.clone())))
        .expect("server");
    let arg = format!(
        "endpoint={},pollingIntervalMs=50,initialSamplingRate=0",
        server.endpoint()
    );
    let sampler = Sampler::from_spec_name("parentbased_jaeger_remote", Some(&arg)).expect("arg");
    let remote = sampler.jaeger_remote().expect("jaeger").clone();
    assert_eq!(remote.strategy(), SamplingStrategy::Probabilistic(0.0));
    assert_eq!(threads_named("obs-export"), 0);

    let telemetry = obs_core::builder()
        .service_name("jaeger-checkout")
        .sampler(sampler)
        .exporter(Signal::Traces, ExporterKind::None)
        .exporter(Signal::Logs, ExporterKind::None)
        .exporter(Signal::Metrics, ExporterKind::None)
        .json_logs(false)
        .init()
        .expect("init");
    assert!(
        wait::poll_blocking(Duration::from_secs(10), Duration::from_millis(5), || {
            (remote.strategy() == per_op).then_some(())
        })
        .is_some(),
        "{:?}",
        remote.strategy()
    );
    assert_eq!(server.requests()[0], "jaeger-checkout");
    // The operation is the span name: the `otel.name` a middleware span is created with.
    let route = "GET /users/{id}";
    assert!(sampled(tracing::info_span!("request", otel.name = route)));
    assert!(!sampled(tracing::info_span!("GET /other")));
    assert!(threads_named("obs-export") > 0, "the poller's runtime runs");

    telemetry.shutdown_blocking().expect("shutdown");
    assert!(
        wait::poll_blocking(Duration::from_secs(10), Duration::from_millis(5), || {
            (threads_named("obs-export") == 0).then_some(())
        })
        .is_some(),
        "a thread of the export runtime (and its poller) is left"
    );
}
