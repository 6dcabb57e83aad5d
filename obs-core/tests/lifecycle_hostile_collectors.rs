//! Collectors that fail in ways a real one can't be made to (one that accepts connections and
//! never answers, a host name that does not resolve, one that starts after the application),
//! telemetry made after shutdown, and the guard dropped (or shut down with `.await`) in every
//! kind of context: the application's thread never waits on the collector, shutdown keeps
//! its deadline and lets an async runtime keep serving, nothing panics, and every span and
//! log record is either exported or counted as dropped.
//!
//! `init` is once per process, so each scenario runs in a child process of this test binary
//! (the test re-runs itself with [`CHILD`] naming the scenario).

// The tests crate's bounded wait (this crate can't depend on that one, which depends on it).
#[path = "support/accounting.rs"]
pub mod accounting;
#[path = "support/child.rs"]
pub mod child;
#[path = "support/wait.rs"]
pub mod wait;

use accounting::accounted;
use std::net::{SocketAddr, TcpListener};
use std::process::Command;
use std::time::{Duration, Instant};

use obs_core::testing::{OtlpReceiver, ReceiverConfig};
use obs_core::{ExporterKind, Signal};

use child::{CHILD, in_child, scenario};

/// The target of the test's own spans and events; the filters let only these through, so
/// the counts are the test's alone.
const TARGET: &str = "hostile";

/// How long the children's shutdowns may take.
const SHUTDOWN: Duration = Duration::from_secs(2);

/// Room for a loaded machine beyond a deadline obs keeps.
const SLACK: Duration = Duration::from_secs(3);

/// A loopback port nothing listens on (yet).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits (bounded) until `n` spans and `n` log records are accounted for, then checks that
/// no more are.
fn assert_all_accounted(n: u64) {
    let settled = wait::poll_blocking(Duration::from_secs(10), Duration::from_millis(10), || {
        (accounted(Signal::Traces) >= n && accounted(Signal::Logs) >= n).then_some(())
    });
    let counts = (accounted(Signal::Traces), accounted(Signal::Logs));
    assert!(settled.is_some(), "{counts:?} of {n} accounted for");
    assert_eq!(counts, (n, n), "each item counted once");
}

/// One span with one event inside, both seen only by this test's filters.
fn emit(i: u64) {
    let _span = tracing::info_span!(target: TARGET, "work", i).entered();
    tracing::info!(target: TARGET, i, "work");
}

/// A builder that exports only the test's own spans and log records, and no process
/// metrics (whose collection is not under test).
fn builder() -> obs_core::Builder {
    obs_core::builder()
        .service_name("hostile")
        .json_logs(false)
        .traces_filter(format!("{TARGET}=info"))
        .log_filter(format!("{TARGET}=info"))
        .process_metrics(false)
        .shutdown_timeout(SHUTDOWN)
}

/// A listener that accepts connections and never answers; they stay open while the test
/// process lives.
fn black_hole() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        // Bounded: exporters open a few connections, not this many.
        let held: Vec<_> = listener.incoming().take(256).collect();
        drop(held);
    });
    addr
}

#[test]
fn a_black_hole_and_an_unresolvable_collector_cost_the_app_nothing_and_every_loss_is_counted() {
    const N: u64 = 10_000;
    if scenario().is_some() {
        let started = Instant::now();
        let telemetry = builder().init().expect("init");
        let init_took = started.elapsed();
        // Name resolution and connections happen on the export runtime, never in `init`.
        assert!(init_took < SLACK, "init took {init_took:?}");
        let requests = obs_core::metrics::global()
            .counter("hostile_requests", "Counted by the burst.")
            .unwrap();
        let burst = Instant::now();
        for i in 0..N {
            emit(i);
            requests.inc();
        }
        let burst_took = burst.elapsed();
        // A generous bound: an application thread that waited for one export would take the
        // 30 s export timeout.
        assert!(
            burst_took < Duration::from_secs(10),
            "{N} spans took {burst_took:?}"
        );
        for c in telemetry.counts() {
            assert_eq!(c.exported, 0, "{c:?}");
        }
        let stop = Instant::now();
        let error = telemetry
            .shutdown_blocking()
            .expect_err("nothing delivered");
        let stop_took = stop.elapsed();
        assert!(stop_took < SHUTDOWN + SLACK, "shutdown took {stop_took:?}");
        let failed: Vec<Signal> = error.failures.iter().map(|f| f.signal).collect();
        assert_eq!(failed, Signal::ALL, "{error}");
        assert_all_accounted(N);
        return;
    }
    let hole = black_hole();
    in_child(
        "a_black_hole_and_an_unresolvable_collector_cost_the_app_nothing_and_every_loss_is_counted",
        "hostile",
        &[
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc".to_owned()),
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                format!("http://{hole}"),
            ),
            (
                "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL",
                "http/protobuf".to_owned(),
            ),
            (
                "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
                "http://nonexistent.invalid:4318/v1/logs".to_owned(),
            ),
            ("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "grpc".to_owned()),
            (
                "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
                "http://nonexistent.invalid:4317".to_owned(),
            ),
            // Longer than the shutdown: exports are still waiting when it comes.
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "30000".to_owned()),
            ("OTEL_BSP_SCHEDULE_DELAY", "10".to_owned()),
            ("OTEL_BSP_MAX_QUEUE_SIZE", "256".to_owned()),
            ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "32".to_owned()),
            ("OTEL_BLRP_SCHEDULE_DELAY", "10".to_owned()),
            ("OTEL_BLRP_MAX_QUEUE_SIZE", "256".to_owned()),
            ("OTEL_BLRP_MAX_EXPORT_BATCH_SIZE", "32".to_owned()),
            ("OTEL_METRIC_EXPORT_INTERVAL", "50".to_owned()),
        ],
    );
}

#[test]
fn a_collector_that_starts_late_receives_what_comes_after() {
    if scenario().is_some() {
        let grpc: SocketAddr = std::env::var("LATE_GRPC").unwrap().parse().unwrap();
        let http: SocketAddr = std::env::var("LATE_HTTP").unwrap().parse().unwrap();
        let telemetry = builder()
            .exporter(Signal::Metrics, ExporterKind::None)
            .init()
            .expect("init");
        // Before the collector is up: refused, and counted as dropped.
        emit(0);
        let early = wait::poll_blocking(Duration::from_secs(10), Duration::from_millis(10), || {
            (accounted(Signal::Traces) == 1 && accounted(Signal::Logs) == 1).then_some(())
        });
        assert!(early.is_some(), "{:?}", telemetry.counts());
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let receiver = runtime
            .block_on(OtlpReceiver::start(
                ReceiverConfig::default().grpc_addr(grpc).http_addr(http),
            ))
            .expect("the collector starts on the ports obs exports to");
        emit(1);
        telemetry
            .force_flush()
            .expect("delivered once the collector is up");
        // The early ones were refused, so whatever arrives came after the collector was up.
        let spans = runtime.block_on(
            receiver
                .store()
                .wait_for_spans(|s| !s.is_empty(), Duration::from_secs(10)),
        );
        assert!(spans.is_ok(), "the late span over gRPC: {spans:?}");
        let logs = runtime.block_on(
            receiver
                .store()
                .wait_for_logs(|l| !l.is_empty(), Duration::from_secs(10)),
        );
        assert!(logs.is_ok(), "the late log record over HTTP: {logs:?}");
        for c in telemetry.counts() {
            assert_eq!((c.exported, c.dropped_export_failed), (1, 1), "{c:?}");
        }
        telemetry.shutdown_blocking().expect("shutdown");
        return;
    }
    let (grpc, http) = (free_port(), free_port());
    in_child(
        "a_collector_that_starts_late_receives_what_comes_after",
        "late",
        &[
            ("LATE_GRPC", format!("127.0.0.1:{grpc}")),
            ("LATE_HTTP", format!("127.0.0.1:{http}")),
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc".to_owned()),
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                format!("http://127.0.0.1:{grpc}"),
            ),
            (
                "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL",
                "http/protobuf".to_owned(),
            ),
            (
                "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
                format!("http://127.0.0.1:{http}/v1/logs"),
            ),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "1000".to_owned()),
            ("OTEL_BSP_SCHEDULE_DELAY", "10".to_owned()),
            ("OTEL_BLRP_SCHEDULE_DELAY", "10".to_owned()),
        ],
    );
}

#[test]
fn telemetry_after_shutdown_is_counted_as_dropped() {
    const N: u64 = 10;
    if scenario().is_some() {
        let telemetry = builder()
            .otlp_endpoint(format!("http://127.0.0.1:{}", free_port()))
            .exporter(Signal::Metrics, ExporterKind::None)
            .init()
            .expect("init");
        telemetry.shutdown_blocking().expect("nothing to send");
        // Code still running after shutdown (a request finishing during a graceful stop)
        // keeps making spans and log records: nothing exports them any more.
        for i in 0..N {
            emit(i);
        }
        assert_all_accounted(N);
        return;
    }
    in_child(
        "telemetry_after_shutdown_is_counted_as_dropped",
        "after-shutdown",
        &[],
    );
}

#[test]
fn the_guard_can_be_dropped_in_any_context() {
    if let Some(context) = scenario() {
        let telemetry = || {
            builder()
                .otlp_endpoint(format!("http://{}", black_hole()))
                .init()
                .expect("init")
        };
        let started = Instant::now();
        match context.as_str() {
            "no runtime" => {
                let guard = telemetry();
                emit(0);
                drop(guard);
            }
            "current-thread runtime" => {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                runtime.block_on(async {
                    // Initialized inside the application's runtime, dropped in a task of it.
                    let guard = telemetry();
                    emit(0);
                    drop(guard);
                });
                drop(runtime);
            }
            "multi-thread runtime" => {
                let runtime = tokio::runtime::Runtime::new().unwrap();
                let guard = runtime.block_on(async { telemetry() });
                let dropped = runtime.spawn(async move {
                    emit(0);
                    drop(guard);
                });
                runtime.block_on(dropped).expect("the task finished");
                drop(runtime);
            }
            "async shutdown in a current-thread runtime" => {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                let result = runtime.block_on(async {
                    let guard = telemetry();
                    emit(0);
                    guard.shutdown().await
                });
                assert!(result.is_err(), "the black hole took nothing");
                drop(runtime);
            }
            other => panic!("unknown context {other}"),
        }
        let took = started.elapsed();
        assert!(took < SHUTDOWN + SLACK, "{context}: {took:?}");
        // The application's runtime is gone: reading the metrics must not need it.
        let text = obs_core::metrics::global().encode(obs_core::metrics::text::Format::Prometheus);
        assert!(text.contains("obs_telemetry_dropped_total"), "{text}");
        assert_all_accounted(1);
        return;
    }
    for context in [
        "no runtime",
        "current-thread runtime",
        "multi-thread runtime",
        "async shutdown in a current-thread runtime",
    ] {
        in_child("the_guard_can_be_dropped_in_any_context", context, &[]);
    }
}

#[test]
fn async_shutdown_lets_its_runtime_serve_meanwhile() {
    if scenario().is_some() {
        // A current-thread runtime, as `#[tokio::test]` makes, serving the collector too: a
        // shutdown that blocked the thread would keep the collector from taking the last
        // export (and the application's other tasks, requests still finishing, from running).
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let receiver = OtlpReceiver::start(ReceiverConfig::default())
                .await
                .unwrap();
            let telemetry = builder()
                .protocol(obs_core::Protocol::HttpProtobuf)
                .otlp_endpoint(receiver.http_endpoint())
                .exporter(Signal::Metrics, ExporterKind::None)
                .init()
                .expect("init");
            emit(0);
            telemetry.shutdown().await.expect("delivered");
            assert_eq!(receiver.store().spans().len(), 1);
            assert_eq!(receiver.store().logs().len(), 1);
        });
        return;
    }
    in_child(
        "async_shutdown_lets_its_runtime_serve_meanwhile",
        "shutdown in the collector's runtime",
        &[],
    );
}

#[test]
fn a_stuck_stdout_keeps_shutdown_within_its_deadline() {
    const REPORT: &str = "shutdown took ms=";
    if scenario().is_some() {
        let telemetry = builder()
            .json_logs(true)
            .exporter(Signal::Traces, ExporterKind::None)
            .exporter(Signal::Logs, ExporterKind::None)
            .exporter(Signal::Metrics, ExporterKind::None)
            .init()
            .expect("init");
        // More than the pipe holds: the JSON writer is stuck writing, and lines wait.
        let filler = "x".repeat(1024);
        for i in 0..1_000 {
            tracing::info!(target: TARGET, i, filler, "line");
        }
        let stop = Instant::now();
        let flushed = telemetry.shutdown_blocking();
        // On stderr: stdout is the stuck pipe (the parent reads it once this is printed).
        eprintln!("{REPORT}{}", stop.elapsed().as_millis());
        // The lines stdout did not take are reported: those dropped, all of them counted,
        // and those still being written.
        let error = flushed.expect_err("the JSON lines were not all written");
        assert!(error.failures.is_empty(), "{error}");
        let json = error.json_lines.as_ref().expect("the JSON lines' failure");
        let counted = obs_core::metrics::global()
            .encode(obs_core::metrics::text::Format::Prometheus)
            .lines()
            .find_map(|l| l.strip_prefix("obs_log_dropped_total "))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .expect("obs_log_dropped_total");
        assert!(json.unsent > 0 && json.unsent <= 1_000, "{error}");
        assert!(json.unsent >= counted, "{error}; {counted} counted");
        return;
    }
    use std::io::{BufRead, BufReader, Read};
    use std::process::Stdio;
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_stuck_stdout_keeps_shutdown_within_its_deadline",
            "--nocapture",
        ])
        .env(CHILD, "stuck stdout")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("child test process");
    // Stdout is read only after the child reports its shutdown: until then it stays full.
    let mut stdout = child.stdout.take().unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = Vec::new();
    let mut took = None;
    // Bounded by the child: its stderr ends when it exits, and it reports before that.
    for line in stderr.lines().map_while(Result::ok) {
        if let Some(ms) = line.strip_prefix(REPORT) {
            took = ms.parse::<u64>().ok().map(Duration::from_millis);
            break;
        }
        seen.push(line);
    }
    let _ = stdout.read_to_end(&mut Vec::new());
    let status = child.wait().expect("the child exits");
    let took = took.unwrap_or_else(|| panic!("no report:\n{}", seen.join("\n")));
    // Less than the writer's own 3 s wait on top of the deadline.
    assert!(
        took < SHUTDOWN + Duration::from_secs(2),
        "shutdown took {took:?}, its deadline is {SHUTDOWN:?}"
    );
    assert!(status.success(), "{}", seen.join("\n"));
}

#[test]
fn flushes_waiting_behind_a_hung_export_say_so() {
    if scenario().is_some() {
        let telemetry = builder()
            .otlp_endpoint(format!("http://{}", black_hole()))
            .otlp_timeout(Duration::from_secs(60))
            .shutdown_timeout(Duration::from_millis(100))
            .exporter(Signal::Traces, ExporterKind::None)
            .exporter(Signal::Logs, ExporterKind::None)
            .init()
            .expect("init");
        // The first flush's export hangs; later ones wait behind it until there is no more
        // room for them (the metrics exporter takes four), and then can't be sent at all.
        let errors: Vec<String> = (0..8)
            .map(|_| telemetry.force_flush().expect_err("hung").to_string())
            .collect();
        let last = errors.last().unwrap();
        assert!(
            last.contains("still busy with earlier flushes"),
            "{errors:#?}"
        );
        // A flush's error is not a shutdown's.
        assert!(
            errors.iter().all(|e| !e.contains("shutdown")),
            "{errors:#?}"
        );
        let error = telemetry.shutdown_blocking().expect_err("hung").to_string();
        assert!(!error.contains("stopped"), "the exporter runs: {error}");
        return;
    }
    in_child(
        "flushes_waiting_behind_a_hung_export_say_so",
        "flushes behind a hung export",
        &[],
    );
}

/// `signal`'s items dropped, as `obs_telemetry_dropped_total` counts them.
fn dropped(signal: Signal) -> u64 {
    let text = obs_core::metrics::global().encode(obs_core::metrics::text::Format::Prometheus);
    let label = format!("signal=\"{}\"", signal.as_str());
    text.lines()
        .filter(|l| l.starts_with("obs_telemetry_dropped_total{") && l.contains(&label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

#[test]
fn the_final_metrics_push_behind_hung_flushes_is_made_and_its_loss_counted() {
    const DEADLINE: Duration = Duration::from_millis(500);
    if scenario().is_some() {
        let telemetry = builder()
            .otlp_endpoint(format!("http://{}", black_hole()))
            .otlp_timeout(Duration::from_secs(60))
            .shutdown_timeout(DEADLINE)
            .exporter(Signal::Traces, ExporterKind::None)
            .exporter(Signal::Logs, ExporterKind::None)
            .init()
            .expect("init");
        // The first flush's push hangs with its points in flight; four more wait behind it,
        // and the rest find no room.
        let unsent = |e: &obs_core::ShutdownError| e.failures.iter().map(|f| f.unsent).sum();
        let first: u64 = unsent(&telemetry.force_flush().expect_err("hung"));
        assert!(first > 0, "the hung push's points are in flight");
        for _ in 0..7 {
            telemetry.force_flush().expect_err("hung");
        }
        let started = Instant::now();
        let error = telemetry.shutdown_blocking().expect_err("hung");
        let took = started.elapsed();
        assert!(took < DEADLINE + SLACK, "shutdown took {took:?}");
        assert!(!error.to_string().contains("still busy"), "{error}");
        // The final push was made beside the hung one: both are reported, and counted.
        assert_eq!(unsent(&error), 2 * first, "{error}");
        assert_eq!(dropped(Signal::Metrics), 2 * first, "{error}");
        return;
    }
    in_child(
        "the_final_metrics_push_behind_hung_flushes_is_made_and_its_loss_counted",
        "final metrics push behind hung flushes",
        &[],
    );
}

/// The names of this process's threads that `init` started for spans and log records.
fn batch_threads() -> Vec<String> {
    let tasks = std::fs::read_dir("/proc/self/task").expect("/proc/self/task");
    tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("comm")).ok())
        .map(|name| name.trim().to_owned())
        // `obs-{signal}-batch`, cut to the kernel's 15 bytes.
        .filter(|name| name.starts_with("obs-") && name.contains("-bat"))
        .collect()
}

#[test]
fn a_shutdown_behind_hung_flushes_still_stops_the_exporters() {
    const N: u64 = 10;
    if scenario().is_some() {
        let telemetry = builder()
            .otlp_endpoint(format!("http://{}", black_hole()))
            .otlp_timeout(Duration::from_secs(60))
            .shutdown_timeout(Duration::from_millis(100))
            .exporter(Signal::Metrics, ExporterKind::None)
            .init()
            .expect("init");
        // Each names itself once it runs.
        let started =
            wait::poll_blocking(Duration::from_secs(10), Duration::from_millis(10), || {
                (batch_threads().len() == 2).then_some(())
            });
        assert!(started.is_some(), "{:?}", batch_threads());
        emit(0);
        // Each flush waits behind the first, hung export, until the span and log exporters
        // have no room for more requests.
        let errors: Vec<String> = (0..24)
            .map(|_| telemetry.force_flush().expect_err("hung").to_string())
            .collect();
        assert!(
            errors
                .last()
                .unwrap()
                .contains("still busy with earlier flushes"),
            "{errors:#?}"
        );
        telemetry.shutdown_blocking().expect_err("hung");
        // The exporters stop all the same: no thread left behind, and what is made from now
        // on is dropped as made after shutdown.
        let stopped =
            wait::poll_blocking(Duration::from_secs(10), Duration::from_millis(10), || {
                batch_threads().is_empty().then_some(())
            });
        assert!(stopped.is_some(), "still running: {:?}", batch_threads());
        for i in 1..N {
            emit(i);
        }
        assert_all_accounted(N);
        return;
    }
    in_child(
        "a_shutdown_behind_hung_flushes_still_stops_the_exporters",
        "shutdown behind hung flushes",
        &[],
    );
}

#[test]
fn flushes_piling_up_behind_one_hung_signal_cost_the_others_nothing() {
    if scenario().is_some() {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let receiver = runtime
            .block_on(OtlpReceiver::start(ReceiverConfig::default()))
            .unwrap();
        let telemetry = builder()
            .protocol(obs_core::Protocol::HttpProtobuf)
            .otlp_signal_endpoint(Signal::Traces, format!("http://{}/v1/traces", black_hole()))
            .otlp_signal_endpoint(
                Signal::Logs,
                format!("{}/v1/logs", receiver.http_endpoint()),
            )
            .otlp_timeout(Duration::from_secs(60))
            .shutdown_timeout(Duration::from_millis(300))
            .exporter(Signal::Metrics, ExporterKind::None)
            .init()
            .expect("init");
        // The span flushes wait behind the first, hung export until there is no room for
        // more; the log records are delivered by every flush all the same. Enough of them
        // that their export takes a while: not done in the millisecond a flush that waited
        // for the spans' room would leave them.
        const FLUSHES: u64 = 24;
        const RECORDS: u64 = 500;
        emit(0);
        for flush in 0..FLUSHES {
            for i in 0..RECORDS {
                tracing::info!(target: TARGET, i, "work");
            }
            let error = telemetry.force_flush().expect_err("the spans hang");
            let failed: Vec<Signal> = error.failures.iter().map(|f| f.signal).collect();
            assert_eq!(failed, [Signal::Traces], "flush {flush}: {error}");
        }
        let error = telemetry.shutdown_blocking().expect_err("the spans hang");
        let failed: Vec<Signal> = error.failures.iter().map(|f| f.signal).collect();
        assert_eq!(failed, [Signal::Traces], "{error}");
        assert_eq!(
            receiver.store().stats().logs_received,
            FLUSHES * RECORDS + 1
        );
        return;
    }
    in_child(
        "flushes_piling_up_behind_one_hung_signal_cost_the_others_nothing",
        "flushes behind one hung signal",
        &[],
    );
}

#[test]
fn a_failed_init_leaves_no_thread_behind() {
    if scenario().is_some() {
        // A port someone else holds makes `init` fail once its exporters have started; with
        // no schedule delay, they sleep until told something.
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let batch = obs_core::BatchSettings {
            schedule_delay: Duration::ZERO,
            ..obs_core::BatchSettings::SPANS
        };
        let threads = || std::fs::read_dir("/proc/self/task").unwrap().count();
        let before = threads();
        let failed = builder()
            .otlp_endpoint(format!("http://127.0.0.1:{}", free_port()))
            .json_logs(true)
            .span_batch(batch)
            .log_batch(batch)
            .metrics_addr(taken.local_addr().unwrap())
            .init();
        assert!(failed.is_err(), "{failed:?}");
        let stopped =
            wait::poll_blocking(Duration::from_secs(10), Duration::from_millis(10), || {
                (threads() == before).then_some(())
            });
        assert!(
            stopped.is_some(),
            "{} threads, {before} before; exporters still running: {:?}",
            threads(),
            batch_threads()
        );
        return;
    }
    in_child("a_failed_init_leaves_no_thread_behind", "failed init", &[]);
}

#[test]
fn every_loss_is_counted_when_shutdown_returns() {
    const BATCH: usize = 512;
    const SPANS: u64 = 6 * BATCH as u64;
    if scenario().is_some() {
        let telemetry = builder()
            .otlp_endpoint(format!("http://{}", black_hole()))
            .otlp_timeout(Duration::from_secs(60))
            .shutdown_timeout(Duration::from_millis(300))
            .exporter(Signal::Logs, ExporterKind::None)
            .exporter(Signal::Metrics, ExporterKind::None)
            .span_batch(obs_core::BatchSettings {
                schedule_delay: Duration::from_millis(10),
                max_queue_size: 2 * BATCH,
                max_export_batch_size: BATCH,
                ..obs_core::BatchSettings::SPANS
            })
            .init()
            .expect("init");
        // Large spans, long to convert: the exporter still holds a batch, waiting for one
        // of the hung exports' slots, when shutdown's deadline passes.
        let filler = "x".repeat(256);
        for i in 0..SPANS {
            let _span = tracing::info_span!(
                target: TARGET, "work", i, a = %filler, b = %filler, c = %filler, d = %filler
            )
            .entered();
        }
        let error = telemetry.shutdown_blocking().expect_err("hung");
        // No wait: what shutdown says was not delivered is counted by the time it returns.
        let dropped = accounted(Signal::Traces);
        assert_eq!(dropped, SPANS, "{error}");
        return;
    }
    in_child(
        "every_loss_is_counted_when_shutdown_returns",
        "counted when shutdown returns",
        &[],
    );
}
