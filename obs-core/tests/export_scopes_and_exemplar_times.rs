//! What `init`'s OTLP export says about where and when telemetry was made: obs's own
//! instrumentation scope carries its crate's version while an application's carries none
//! (`InstrumentationScope.version`), and an exemplar carries the time of its measurement,
//! "the exact time when this exemplar was recorded" (metrics.proto `Exemplar`), not that of
//! the export that collected it.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use obs_core::testing::MetricPoint;

mod common;

fn now() -> u64 {
    u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
    )
    .unwrap()
}

#[test]
fn scopes_carry_obs_versions_and_exemplars_their_measurement_time() {
    // Exemplar times come from the span layer's counter-based clock, which follows the
    // system clock to within microseconds; the clock moves on far more before the export.
    const SLACK: u64 = 2_000_000;
    const SEPARATION: u64 = 50_000_000;
    let (runtime, receiver) = common::receiver();
    let telemetry = common::exporting_to(&receiver, "scopes-and-exemplars")
        .process_metrics(false)
        .runtime_metrics(false)
        // Only shutdown's final push: no export can collect between recording and the spin.
        .metric_export_interval(Duration::from_secs(3600))
        .init()
        .expect("init");
    let waits = obs_core::metrics::global()
        .metric("wait_seconds", "Wait.")
        .histogram()
        .unwrap();
    let (before, after) = tracing::info_span!("work").in_scope(|| {
        let before = now();
        waits.observe(0.2);
        (before, now())
    });
    // Until the wall clock has moved on (bounded, should it stand still).
    let deadline = Instant::now() + Duration::from_secs(5);
    while now() < after + SEPARATION && Instant::now() < deadline {
        std::hint::spin_loop();
    }
    let exporting = now();
    assert!(exporting >= after + SEPARATION, "the clock stood still");
    telemetry.shutdown_blocking().expect("shutdown");

    let store = receiver.store();
    let metrics = runtime
        .block_on(store.wait_for_metrics(
            |m| m.iter().any(|m| m.name == "wait_seconds"),
            Duration::from_secs(10),
        ))
        .expect("the histogram arrived");
    let waited = metrics.iter().find(|m| m.name == "wait_seconds").unwrap();
    let MetricPoint::Histogram { point, .. } = &waited.point else {
        panic!("a histogram: {waited:?}");
    };
    assert!(point.time_unix_nano >= exporting, "{point:?}");
    let [exemplar] = point.exemplars.as_slice() else {
        panic!("one exemplar: {point:?}");
    };
    assert!(
        exemplar.time_unix_nano + SLACK >= before && exemplar.time_unix_nano <= after + SLACK,
        "{exemplar:?}: recorded within [{before}, {after}], exported from {exporting}"
    );

    assert_eq!(
        (waited.scope.name.as_str(), waited.scope.version.as_str()),
        ("obs-metrics", env!("CARGO_PKG_VERSION")),
        "obs's scope, with its version (every obs crate has the workspace's)"
    );
    let spans = common::spans_arrived(&runtime, &receiver, "the span arrived");
    let work = spans.iter().find(|s| s.name() == "work").expect("work");
    assert_eq!(
        (work.scope.name.as_str(), work.scope.version.as_str()),
        (module_path!(), ""),
        "the application's crate, with no version invented"
    );
}
