//! A batch larger than the collector takes in one gRPC message (4 MiB) still arrives: it is
//! cut into requests that fit. Only the one span too large on its own is dropped, and counted.

use std::time::Duration;

use obs_core::testing::ReceiverConfig;

const MIB: usize = 1024 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_over_the_collectors_limit_arrives_in_parts() {
    let (receiver, collector, builder) = obs_tests::pipeline::via_collector(
        "oversized-test",
        ReceiverConfig::default().max_message_bytes(64 * MIB),
    )
    .await;
    let telemetry = builder.init().expect("init");

    // 6 MiB in six spans, 20 small ones, and one span of 5 MiB, which no request can carry.
    let megabyte = "m".repeat(MIB);
    for i in 0..6 {
        tracing::info_span!("large", index = i, payload = megabyte.as_str()).in_scope(|| {});
    }
    for i in 0..20 {
        tracing::info_span!("small", index = i).in_scope(|| {});
    }
    let five = "f".repeat(5 * MIB);
    tracing::info_span!("huge", payload = five.as_str()).in_scope(|| {});

    let spans = receiver
        .store()
        .wait_for_spans(|s| s.len() >= 26, Duration::from_secs(30))
        .await
        .unwrap_or_else(|e| collector.fail(e));
    // The receiver can hold the last part before the exporter has read the collector's
    // answer and counted it; a flush waits for every export in flight.
    tokio::task::block_in_place(|| telemetry.force_flush()).expect("flush");
    let counts = telemetry
        .counts()
        .into_iter()
        .find(|c| c.signal == obs_core::Signal::Traces)
        .expect("trace counts");
    telemetry.shutdown().await.expect("shutdown");

    let named = |name: &str| spans.iter().filter(|s| s.name() == name).count();
    assert_eq!((named("large"), named("small"), named("huge")), (6, 20, 0));
    for span in spans.iter().filter(|s| s.name() == "large") {
        assert_eq!(
            span.attribute_str("payload").map(str::len),
            Some(MIB),
            "each large span arrives whole"
        );
    }
    assert_eq!(counts.dropped_too_large, 1, "{counts:?}");
    assert_eq!(counts.dropped_export_failed, 0, "{counts:?}");
    assert_eq!(counts.exported, 26, "{counts:?}");
}
