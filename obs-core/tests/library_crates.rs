//! Libraries as their authors write them, with `tracing` and `obs-metrics` only (and the
//! OpenTelemetry API, for one written for `tracing-opentelemetry`), in an application that
//! calls `obs_core::init`: their metrics reach `/metrics` and the OTLP push, measurements
//! made before `init` included; their spans keep the kind, status and typed attributes their
//! `otel.*` and semantic-convention fields give; their log events carry their target and the
//! current trace, in JSON lines and OTLP log records; a trace continued by attaching an
//! extracted OpenTelemetry context stays one trace. `init` is once per process and JSON
//! lines go to stdout, so the scenario runs in a child process whose stdout the test reads.

#[path = "support/child.rs"]
pub mod child;
mod common;

use std::io::{Read, Write};
use std::time::Duration;

use obs_core::testing::MetricPoint;
use obs_core::testing::proto::tonic::metrics::v1::number_data_point;
use obs_core::testing::proto::tonic::trace::v1::span::SpanKind;
use obs_core::testing::proto::tonic::trace::v1::status::StatusCode;
use obs_core::trace::SpanExt;

/// A database client: a histogram with the conventions' OTLP name, and `#[instrument]`
/// client spans with semantic-convention fields.
mod db_client {
    use std::sync::LazyLock;

    use obs_metrics::{DynFamily, Histogram, OtelAttribute, Unit};

    static ATTRIBUTES: [OtelAttribute; 1] =
        [OtelAttribute::string("db_system_name", "db.system.name")];

    pub(crate) static DURATION: LazyLock<DynFamily<Histogram>> = LazyLock::new(|| {
        obs_metrics::global()
            .metric(
                "db_client_operation_duration_seconds",
                "Duration of database client operations.",
            )
            .unit(Unit::Seconds)
            .otel_name("db.client.operation.duration")
            .otel_attributes(&ATTRIBUTES)
            .otel_scope("db_client")
            .dyn_family(&["db_system_name"])
            .expect("registered once")
    });

    #[derive(Debug)]
    pub(crate) struct QueryError;

    impl std::fmt::Display for QueryError {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("relation does not exist")
        }
    }

    impl std::error::Error for QueryError {}

    #[tracing::instrument(
        name = "SELECT orders",
        skip_all,
        fields(
            otel.kind = "client",
            db.system.name = "postgresql",
            db.query.text = query,
            server.address = "db.internal",
            server.port = 5432,
            error.type,
        ),
        err
    )]
    pub(crate) fn query(query: &str, fail: bool) -> Result<u64, QueryError> {
        DURATION
            .get(&[("db_system_name", "postgresql")])
            .observe(0.01);
        tracing::info!(rows = 3_u64, "query done");
        if fail {
            tracing::Span::current().record("error.type", "42P01");
            return Err(QueryError);
        }
        Ok(3)
    }
}

/// A job queue written for `tracing-opentelemetry`: the producer injects the current
/// context through OpenTelemetry's global propagator, the consumer extracts it, attaches it
/// and makes its span, named and failed through `otel.*` fields recorded later.
mod job_queue {
    use std::collections::HashMap;
    use std::sync::LazyLock;

    use opentelemetry::{Context, global};

    pub(crate) static ENQUEUED: LazyLock<obs_metrics::Counter> = LazyLock::new(|| {
        obs_metrics::global()
            .counter("jobs_enqueued", "Jobs enqueued.")
            .expect("registered once")
    });

    pub(crate) fn enqueue() -> HashMap<String, String> {
        let span = tracing::info_span!("emails publish", otel.kind = "producer");
        let _entered = span.enter();
        ENQUEUED.inc();
        tracing::warn!(job.id = 7_i64, queue = "emails", "enqueued");
        let mut message = HashMap::new();
        global::get_text_map_propagator(|p| p.inject_context(&Context::current(), &mut message));
        message
    }

    pub(crate) fn consume(message: &HashMap<String, String>) {
        let parent = global::get_text_map_propagator(|p| p.extract(message));
        let _attached = parent.attach();
        let span = tracing::info_span!(
            "process",
            otel.name = tracing::field::Empty,
            otel.kind = "consumer",
            otel.status_code = tracing::field::Empty,
            otel.status_description = tracing::field::Empty,
        );
        span.record("otel.name", "emails process");
        span.in_scope(|| tracing::info!(job.id = 7_i64, "job consumed"));
        span.record("otel.status_code", "ERROR");
        span.record("otel.status_description", "mailbox full");
    }
}

const TEST: &str = "libraries_emit_through_init";

#[test]
fn libraries_emit_through_init() {
    if child::scenario().is_some() {
        run_libraries();
        return;
    }
    let stdout = child::in_child(TEST, "libraries", &[("RUST_LOG", "info".to_owned())]);
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .filter_map(|l| l.find("{\"").map(|at| &l[at..]))
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let line = |message: &str| {
        lines
            .iter()
            .find(|l| l["message"] == message)
            .unwrap_or_else(|| panic!("no {message:?} line in {stdout}"))
    };
    let query = line("query done");
    assert_eq!(query["target"], "library_crates::db_client", "{query}");
    assert_eq!(query["rows"], 3, "{query}");
    let trace_id = query["trace_id"].as_str().expect("a trace id");
    assert_eq!(trace_id.len(), 32, "{query}");
    let enqueued = line("enqueued");
    assert_eq!(
        enqueued["target"], "library_crates::job_queue",
        "{enqueued}"
    );
    assert_eq!(enqueued["job.id"], 7, "{enqueued}");
    assert_eq!(enqueued["trace_id"], trace_id, "{enqueued}");
    // On another thread, in the trace the consumer continued from the message.
    let consumed = line("job consumed");
    assert_eq!(consumed["trace_id"], trace_id, "{consumed}");
}

fn scrape(addr: std::net::SocketAddr) -> String {
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    out
}

fn run_libraries() {
    // A library's static first used before `init`: the measurement is kept.
    job_queue::ENQUEUED.inc();
    let (runtime, receiver) = common::receiver();
    let telemetry = common::exporting_to(&receiver, "libraries")
        .json_logs(true)
        .process_metrics(false)
        .runtime_metrics(false)
        .metrics_addr("127.0.0.1:0".parse().unwrap())
        // Only shutdown's final push.
        .metric_export_interval(Duration::from_secs(3600))
        .init()
        .expect("init");

    let request = tracing::info_span!("request", otel.kind = "server");
    let message = request.in_scope(|| {
        db_client::query("SELECT * FROM orders", false).expect("rows");
        db_client::query("SELECT * FROM nope", true).expect_err("fails");
        job_queue::enqueue()
    });
    let request_ids = request.span_context().expect("traced");
    drop(request);
    // A worker thread, with no span of its own.
    std::thread::spawn(move || job_queue::consume(&message))
        .join()
        .expect("consumer");

    // The same registration gets the same metric; any other is an error, not a panic.
    let registry = obs_metrics::global();
    registry
        .counter("jobs_enqueued", "Jobs enqueued.")
        .expect("the same metric")
        .inc();
    for other in [
        registry
            .counter("jobs_enqueued", "Jobs put in the queue.")
            .err(),
        registry.gauge("jobs_enqueued", "Jobs enqueued.").err(),
    ] {
        assert!(
            matches!(other, Some(obs_metrics::MetricsError::Conflict { .. })),
            "{other:?}"
        );
    }
    let reserved = registry.gauge("target_info", "Not the resource.").err();
    assert!(
        matches!(
            reserved,
            Some(obs_metrics::MetricsError::InvalidName { .. })
        ),
        "{reserved:?}"
    );

    let text = scrape(telemetry.metrics_addr().expect("listening"));
    assert!(text.contains("\njobs_enqueued_total 3\n"), "{text}");
    assert!(
        text.contains(
            "\ndb_client_operation_duration_seconds_count{db_system_name=\"postgresql\"} 2\n"
        ),
        "{text}"
    );
    telemetry.shutdown_blocking().expect("shutdown");

    let store = receiver.store();
    let metrics = runtime
        .block_on(store.wait_for_metrics(
            |m| m.iter().any(|m| m.name == "db.client.operation.duration"),
            Duration::from_secs(10),
        ))
        .expect("the library's metrics arrived");
    let jobs = metrics
        .iter()
        .find(|m| m.name == "jobs_enqueued")
        .expect("jobs_enqueued");
    let MetricPoint::Sum { point, .. } = &jobs.point else {
        panic!("a sum: {jobs:?}");
    };
    assert_eq!(
        point.value,
        Some(number_data_point::Value::AsInt(3)),
        "{jobs:?}"
    );
    let duration = metrics
        .iter()
        .find(|m| m.name == "db.client.operation.duration")
        .unwrap();
    assert_eq!(
        (duration.scope.name.as_str(), duration.unit.as_str()),
        ("db_client", "s")
    );
    assert_eq!(
        duration.attribute_str("db.system.name"),
        Some("postgresql"),
        "{duration:?}"
    );
    let MetricPoint::Histogram { point, .. } = &duration.point else {
        panic!("a histogram: {duration:?}");
    };
    assert_eq!(point.count, 2, "{point:?}");
    assert!(
        point
            .exemplars
            .iter()
            .all(|e| e.trace_id == request_ids.trace_id.to_bytes()),
        "the library's spans are the exemplars: {point:?}"
    );
    assert!(!point.exemplars.is_empty(), "{point:?}");

    let spans = runtime
        .block_on(store.wait_for_spans(|s| s.len() >= 5, Duration::from_secs(10)))
        .expect("spans");
    let trace = request_ids.trace_id.to_string();
    let request = request_ids.span_id.to_string();
    assert!(
        spans.iter().all(|s| s.trace_id_hex() == trace),
        "one trace: {spans:#?}"
    );
    let queries: Vec<_> = spans
        .iter()
        .filter(|s| s.name() == "SELECT orders")
        .collect();
    assert_eq!(queries.len(), 2, "{spans:#?}");
    for query in &queries {
        assert_eq!(query.kind(), SpanKind::Client, "{query:#?}");
        assert_eq!(
            query.parent_span_id_hex().as_deref(),
            Some(request.as_str())
        );
        assert_eq!(query.scope.name, "library_crates", "{query:#?}");
        assert_eq!(query.attribute_str("db.system.name"), Some("postgresql"));
        assert_eq!(query.attribute_str("server.address"), Some("db.internal"));
        assert_eq!(query.attribute_int("server.port"), Some(5432), "{query:#?}");
    }
    let failed = queries
        .iter()
        .find(|s| s.attribute_str("db.query.text") == Some("SELECT * FROM nope"))
        .unwrap();
    assert_eq!(
        failed.attribute_str("error.type"),
        Some("42P01"),
        "{failed:#?}"
    );
    assert_eq!(failed.status_code(), StatusCode::Error, "{failed:#?}");
    assert_eq!(
        failed.span.status.as_ref().unwrap().message,
        "relation does not exist"
    );
    let publish = spans
        .iter()
        .find(|s| s.name() == "emails publish")
        .expect("publish");
    assert_eq!(publish.kind(), SpanKind::Producer);
    let process = spans
        .iter()
        .find(|s| s.name() == "emails process")
        .expect("process");
    assert_eq!(process.kind(), SpanKind::Consumer, "{process:#?}");
    assert_eq!(
        process.parent_span_id_hex(),
        Some(publish.span_id_hex()),
        "{process:#?}"
    );
    assert_eq!(process.status_code(), StatusCode::Error, "{process:#?}");
    assert_eq!(
        process.span.status.as_ref().unwrap().message,
        "mailbox full"
    );
    assert!(
        process
            .span
            .attributes
            .iter()
            .all(|kv| !kv.key.starts_with("otel.")),
        "otel.* fields steer the span, they are no attributes: {process:#?}"
    );

    let logs = runtime
        .block_on(store.wait_for_logs(
            |l| l.iter().any(|l| l.body_str() == Some("job consumed")),
            Duration::from_secs(10),
        ))
        .expect("logs");
    let done = logs
        .iter()
        .find(|l| l.body_str() == Some("query done"))
        .expect("query done");
    assert_eq!(done.scope.name, "library_crates::db_client", "{done:#?}");
    assert_eq!(done.trace_id_hex(), trace);
    assert!(
        queries
            .iter()
            .any(|q| q.span_id_hex() == done.span_id_hex()),
        "{done:#?}"
    );
    let consumed = logs
        .iter()
        .find(|l| l.body_str() == Some("job consumed"))
        .unwrap();
    assert_eq!(
        consumed.span_id_hex(),
        process.span_id_hex(),
        "{consumed:#?}"
    );
}
