//! Tail sampling of a long request, end to end through a real collector: a request whose
//! trace is decided before it ends (kept: a step failed, and its spans had to make room) is
//! exported whole, its later steps and its root included, however many quick requests
//! were decided meanwhile, and counted once.

use std::time::Duration;

use obs_core::testing::ReceiverConfig;
use obs_core::trace::TailSampling;
use obs_tests::pipeline::via_collector;

/// More quick requests than the tail sampler remembers decisions of (4,096) end while the
/// long request runs.
const QUICK: u64 = 5_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_request_kept_early_is_exported_whole_and_counted_once() {
    let (receiver, collector, builder) =
        via_collector("tail-long-request", ReceiverConfig::default()).await;
    let telemetry = builder
        .metric_export_interval(Duration::from_secs(60))
        // Never slow: only the failure keeps a trace. One buffered span: the long request
        // is decided as soon as another request's span has to wait too.
        .tail_sampling(TailSampling::new(Duration::from_secs(3600)).with_max_buffered_spans(1))
        .init()
        .expect("init");

    let long = tracing::info_span!("long request", otel.kind = "server");
    long.in_scope(|| tracing::info_span!("step", otel.status_code = "error").in_scope(|| {}));
    for _ in 0..QUICK {
        tracing::info_span!("quick request", otel.kind = "server")
            .in_scope(|| tracing::info_span!("quick step").in_scope(|| {}));
    }
    long.in_scope(|| tracing::info_span!("last step").in_scope(|| {}));
    drop(long);

    let exposition =
        obs_core::metrics::global().encode(obs_core::metrics::text::Format::Prometheus);
    telemetry.shutdown().await.expect("shutdown");
    let counted = |series: &str, value: u64| exposition.contains(&format!("{series} {value}\n"));
    assert!(
        counted("obs_tail_sampling_traces_total{decision=\"kept\"}", 1)
            && counted(
                "obs_tail_sampling_traces_total{decision=\"dropped\"}",
                QUICK
            )
            && counted("obs_tail_sampling_dropped_spans_total", 2 * QUICK),
        "{exposition}"
    );

    let spans = receiver
        .store()
        .wait_for_spans(|s| s.len() >= 3, Duration::from_secs(20))
        .await
        .unwrap_or_else(|e| collector.fail(e));
    let mut names: Vec<_> = spans.iter().map(|s| s.name()).collect();
    names.sort_unstable();
    assert_eq!(names, ["last step", "long request", "step"]);
    let root = spans.iter().find(|s| s.is_root()).expect("the root");
    assert!(
        spans
            .iter()
            .all(|s| s.trace_id_hex() == root.trace_id_hex()),
        "one trace"
    );
}
