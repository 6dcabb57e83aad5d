//! A failed `init` leaves nothing behind: the retry's `/metrics` has each family once, and
//! the pipeline counters shown are the live pipeline's.

use std::time::{Duration, Instant};

use obs_core::{BatchSettings, ExporterKind, Signal};

fn builder() -> obs_core::Builder {
    // Traces to a port nothing listens on, through a one-span queue: a burst of spans
    // overflows it, so the live pipeline's counters move.
    obs_core::builder()
        .json_logs(false)
        .otlp_endpoint(format!("http://{}", obs_core::testing::NOTHING_LISTENS))
        .exporter(Signal::Logs, ExporterKind::None)
        .exporter(Signal::Metrics, ExporterKind::None)
        .span_batch(BatchSettings {
            schedule_delay: Duration::from_secs(60),
            export_timeout: Duration::from_millis(200),
            max_queue_size: 1,
            max_export_batch_size: 1,
        })
        .shutdown_timeout(Duration::from_millis(500))
}

#[test]
fn a_failed_init_can_be_retried_without_duplicate_or_stale_families() {
    // A port someone else holds makes `init` fail after the pipeline has started.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let failed = builder().metrics_addr(taken.local_addr().unwrap()).init();
    assert!(
        matches!(failed, Err(obs_core::InitError::Start(_))),
        "{:?}",
        failed.err()
    );

    let telemetry = builder().init().expect("the retry starts");
    // Each of the four exports the pipeline runs at once holds its one span for the 200 ms
    // export timeout, and the worker holds one more while it waits for them: a burst
    // quicker than that overflows the one-span queue, one whose thread is kept off the
    // CPU that long may not. So the burst goes on (bounded) until the live pipeline has
    // counted a drop.
    let queue_full = || {
        telemetry
            .counts()
            .into_iter()
            .find(|c| c.signal == Signal::Traces)
            .map_or(0, |c| c.dropped_queue_full)
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut i = 0_u64;
    while queue_full() == 0 && Instant::now() < deadline {
        tracing::info_span!("burst", i).in_scope(|| {});
        i += 1;
    }
    let text = obs_core::metrics::global().encode(obs_core::metrics::text::Format::OpenMetrics);
    let mut types: Vec<&str> = text.lines().filter(|l| l.starts_with("# TYPE ")).collect();
    let all = types.len();
    types.sort_unstable();
    types.dedup();
    assert_eq!(types.len(), all, "a family appears twice:\n{text}");
    let queue_full = text
        .lines()
        .find(|l| {
            l.starts_with("obs_telemetry_dropped_total{")
                && l.contains("signal=\"traces\"")
                && l.contains("reason=\"queue_full\"")
        })
        .and_then(|l| l.rsplit(' ').next()?.parse::<u64>().ok());
    assert!(queue_full.is_some_and(|n| n > 0), "{text}");
    let _ = telemetry.shutdown_blocking();
}
