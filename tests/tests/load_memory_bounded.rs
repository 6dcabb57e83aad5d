//! Memory stays flat under ten bursts of everything an application's clients and its own
//! code can make unbounded, with a dead collector: spans and log records with values never
//! seen twice, metric labels far past the cardinality limit, 10,000 route templates and
//! ever-new `Host` headers, client server addresses and gRPC services and methods (past
//! the interner's caps and the RPC metrics' series cache), baggage
//! at its limits, and many traces open at once under tail sampling (past its buffer). The
//! resident memory after the tenth burst is within a generous bound of that after the
//! second, and the structures that count their own size are at their caps.

use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use bytes::Bytes;
use http_body_util::{Empty, Full};
use obs_core::metrics::Counter;
use obs_core::tonic::GrpcServerLayer;
use obs_core::tower::{HttpClientLayer, HttpServerLayer};
use obs_core::trace::TailSampling;
use obs_core::{BatchSettings, Protocol, Signal, TemporalityPreference};
use obs_tests::child::{in_child, scenario};
use obs_tests::collector::free_port;
use obs_tests::load::{Resources, TARGET, accounted, resident_bytes};
use tower::{ServiceBuilder, ServiceExt};

const BURSTS: u64 = 10;
/// Route templates of the application: more than the interner keeps (4,096).
const ROUTES: usize = 10_000;
/// Spans and log records with attribute values never seen before, per burst.
const UNIQUE: u64 = 5_000;
/// Local traces open at once, per burst, each with an ended child waiting for its root.
const OPEN_TRACES: usize = 5_000;
/// What tail sampling may buffer: fewer spans than the open traces hold.
const TAIL_BUFFER: usize = 1_000;
/// How much the resident memory may grow from the second burst to the tenth. One burst
/// makes 45,000 spans and 5,000 log records, 50,000 new strings for the interner and
/// 5,000 new label sets: kept, any of them would add several MiB per burst.
const GROWTH: u64 = 6 << 20;

#[test]
fn memory_stays_flat_under_bursts_of_unbounded_values() {
    if scenario().is_none() {
        in_child(
            "memory_stays_flat_under_bursts_of_unbounded_values",
            "bursts",
            &[],
        );
        return;
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // After the first runtime: Tokio's signal handling opens a socket pair for the life of
    // the process.
    let before = Resources::now();
    let telemetry = obs_core::builder()
        .service_name("memory-bounded")
        .protocol(Protocol::Grpc)
        // Nothing listens there: every export fails at once.
        .otlp_endpoint(format!("http://127.0.0.1:{}", free_port()))
        // Each export retries with backoff until this timeout and then gives up, after which
        // the exporters run at their steady state (new batches taken as old ones fail). With
        // the default 10 s, the first give-up comes ~6.4 s in, which on a fast machine is
        // after the second burst, the baseline, and its one-time growth (~20 MiB) read as a
        // leak; with 1 s every burst runs at the steady state.
        .otlp_timeout(Duration::from_secs(1))
        .json_logs(false)
        .log_filter(format!("{TARGET}=info"))
        .process_metrics(false)
        .span_batch(BatchSettings {
            schedule_delay: Duration::from_millis(20),
            ..BatchSettings::SPANS
        })
        .metric_export_interval(Duration::from_millis(50))
        .metrics_temporality(TemporalityPreference::Delta)
        .tail_sampling(
            TailSampling::new(Duration::from_secs(60))
                .with_max_buffered_spans(TAIL_BUFFER)
                // Some traces kept, for the queue and the exporter to have spans too.
                .with_keep_ratio(0.25),
        )
        .shutdown_timeout(Duration::from_secs(5))
        .init()
        .expect("init");

    let mut router = Router::new();
    for r in 0..ROUTES {
        router = router.route(&format!("/route{r}/{{id}}"), get(|| async { "ok" }));
    }
    let server = router.layer(HttpServerLayer::new());
    let client = ServiceBuilder::new()
        .layer(HttpClientLayer::new())
        .service_fn(|_: http::Request<Empty<Bytes>>| async {
            Ok::<_, Infallible>(http::Response::new(Empty::<Bytes>::new()))
        });
    // Answers every call, whatever its path, with a trailers-only UNIMPLEMENTED.
    let grpc = ServiceBuilder::new()
        .layer(GrpcServerLayer::new())
        .service_fn(|_: http::Request<_>| async {
            let response = http::Response::builder()
                .header("content-type", "application/grpc")
                .header("grpc-status", "12")
                .body(Empty::<Bytes>::new())
                .expect("response");
            Ok::<_, Infallible>(response)
        });
    let users = obs_core::metrics::global()
        .dyn_family::<Counter>("memory_requests", "Requests per user.", &["user"])
        .expect("family");
    let baggage = baggage_at_the_limits();

    let mut resident = Vec::new();
    for burst in 0..BURSTS {
        runtime.block_on(async {
            for r in 0..ROUTES {
                let request = http::Request::get(format!("/route{r}/{burst}"))
                    .header("host", format!("h{burst}x{r}.example:8080"))
                    .header("baggage", &baggage)
                    .body(axum::body::Body::empty())
                    .expect("request");
                let response = server.clone().oneshot(request).await.expect("infallible");
                assert_eq!(response.status(), 200);
                let call = http::Request::get(format!("http://c{burst}x{r}.example/"))
                    .body(Empty::new())
                    .expect("request");
                client.clone().oneshot(call).await.expect("infallible");
                // gRPC paths are the caller's to choose: services and methods never seen.
                let call = http::Request::post(format!("http://g.example/s{burst}.S{r}/M{r}"))
                    .header("content-type", "application/grpc")
                    .body(Full::new(Bytes::from_static(&[0, 0, 0, 0, 0])))
                    .expect("request");
                grpc.clone().oneshot(call).await.expect("infallible");
            }
        });
        for i in 0..UNIQUE {
            let unique = format!("{burst}-{i}-{}", "v".repeat(64));
            let _span = tracing::info_span!(target: TARGET, "unique", unique).entered();
            tracing::info!(target: TARGET, unique, "unique");
            users.get(&[("user", &unique)]).inc();
        }
        let roots: Vec<_> = (0..OPEN_TRACES)
            .map(|_| {
                let root = tracing::info_span!(target: TARGET, "open", "otel.kind" = "server");
                root.in_scope(|| drop(tracing::info_span!(target: TARGET, "child")));
                root
            })
            .collect();
        drop(roots);
        resident.push(resident_bytes());
    }
    eprintln!(
        "resident memory after each burst (MiB): {:?}; {:?}",
        resident.iter().map(|r| r >> 20).collect::<Vec<_>>(),
        telemetry.counts()
    );
    let growth = resident[9].saturating_sub(resident[1]);
    assert!(
        growth < GROWTH,
        "resident memory grew by {} KiB from the second burst to the tenth: {resident:?}",
        growth >> 10
    );
    assert_eq!(users.len(), obs_core::metrics::DEFAULT_CARDINALITY_LIMIT);
    assert!(
        users.overflowed() > 0,
        "past the cardinality limit, folded into the overflow series"
    );

    let error = telemetry
        .shutdown_blocking()
        .expect_err("nothing delivered");
    assert!(!error.failures.is_empty(), "{error}");
    let logs = BURSTS * UNIQUE;
    assert_eq!(accounted(Signal::Logs), logs, "every log record counted");
    // HTTP server and client spans, gRPC server spans, the unique ones, and the open traces' roots and children.
    let spans = BURSTS * (3 * ROUTES as u64 + UNIQUE + 2 * OPEN_TRACES as u64);
    assert_eq!(
        accounted(Signal::Traces) + counter("obs_tail_sampling_dropped_spans_total"),
        spans,
        "every span exported, dropped by tail sampling, or counted as dropped"
    );
    let after = Resources::settled(&before);
    assert_eq!(after, before, "threads and open files after shutdown");
}

/// The value of the unlabelled counter `name` in the global registry.
fn counter(name: &str) -> u64 {
    let text = obs_core::metrics::global().encode(obs_core::metrics::text::Format::Prometheus);
    let value = text
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok());
    value.unwrap_or_else(|| panic!("no {name} in\n{text}"))
}

/// A `baggage` header at the W3C limits obs keeps: 64 members, 8,192 bytes.
fn baggage_at_the_limits() -> String {
    let members = obs_core::trace::MAX_BAGGAGE_MEMBERS;
    let value_len = obs_core::trace::MAX_BAGGAGE_BYTES / members - "k00=,".len();
    let header = (0..members)
        .map(|i| format!("k{i:02}={}", "b".repeat(value_len)))
        .collect::<Vec<_>>()
        .join(",");
    assert!(header.len() <= obs_core::trace::MAX_BAGGAGE_BYTES);
    header
}
