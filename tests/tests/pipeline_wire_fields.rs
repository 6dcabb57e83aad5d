//! What obs puts on the OTLP wire, field by field, after a real collector (rotel) has
//! passed it on, over several metric exports: the resource and scopes of all three
//! signals, span ids, parents, flags, trace state, kinds, statuses, events and links, log
//! timestamps, severities, typed attributes and trace context, and cumulative metric points
//! whose start stays put while their time advances.
//!
//! The proto comments of opentelemetry-proto (trace.proto, logs.proto, metrics.proto) and
//! the OpenTelemetry data models are the reference for each assertion.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use obs_core::metrics::{Counter, Unit};
use obs_core::testing::proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use obs_core::testing::proto::tonic::metrics::v1::AggregationTemporality;
use obs_core::testing::proto::tonic::trace::v1::span::SpanKind;
use obs_core::testing::proto::tonic::trace::v1::status::StatusCode;
use obs_core::testing::{
    MetricPoint, OtlpReceiver, ReceivedMetric, ReceivedSpan, ReceiverConfig, to_hex,
};
use obs_core::trace::{SpanContext, SpanExt, SpanId, TraceFlags, TraceId, TraceState};
use obs_tests::collector::Collector;

// trace.proto, SpanFlags.
const SAMPLED: u32 = 0x01;
const RANDOM: u32 = 0x02;
const HAS_IS_REMOTE: u32 = 0x100;
const IS_REMOTE: u32 = 0x200;

const REMOTE_TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
const REMOTE_PARENT: &str = "b7ad6b7169203331";
const TRACESTATE: &str = "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7";

/// How many metric exports the test waits for.
const EXPORTS: usize = 4;

fn nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64
}

fn value(v: &AnyValue) -> &any_value::Value {
    v.value.as_ref().expect("a value")
}

fn attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a any_value::Value> {
    obs_core::testing::attribute(attributes, key).map(value)
}

fn string(s: &str) -> any_value::Value {
    any_value::Value::StringValue(s.to_owned())
}

/// The ids the test knows from the application side.
struct Known {
    server: SpanContext,
    payment: SpanContext,
    batch: SpanContext,
    /// Wall clock around the events logged in the server span.
    logged: (u64, u64),
    /// Wall clock around the measurements made in the server span.
    measured: (u64, u64),
}

/// Everything the application does: spans, events, metrics over several exports.
async fn run_application(receiver: &OtlpReceiver, collector: &Collector) -> Known {
    let registry = obs_core::metrics::global();
    let jobs = registry
        .metric("wire_jobs", "Jobs taken, by queue.")
        .dyn_family::<Counter>(&["queue"])
        .expect("counter family");
    let waits = registry
        .metric("wire_wait_seconds", "Time a job waited.")
        .unit(Unit::Seconds)
        .buckets([0.1, 0.5, 1.0])
        .histogram()
        .expect("histogram");
    let depth = registry
        .gauge("wire_queue_depth", "Jobs waiting.")
        .expect("gauge");

    let mut headers = http::HeaderMap::new();
    let traceparent = format!("00-{REMOTE_TRACE}-{REMOTE_PARENT}-01");
    headers.insert("traceparent", traceparent.parse().unwrap());
    headers.insert("tracestate", TRACESTATE.parse().unwrap());
    let server =
        obs_core::trace::span_with_remote_parent(obs_core::trace::extract(&headers), || {
            tracing::info_span!("POST /jobs", "otel.kind" = "server")
        });
    let before = nanos(SystemTime::now());
    let (payment, logged, measured) = server.in_scope(|| {
        tracing::trace!(target: "wire::jobs", step = 1_i64, "trace level");
        tracing::debug!(target: "wire::jobs", small = 7_u64, huge = u64::MAX, "debug level");
        tracing::info!(target: "wire::jobs", ratio = 0.25_f64, urgent = true, queue = "a", "info level");
        tracing::warn!(name: "job.late", target: "wire::jobs", "warn level");
        tracing::error!(target: "wire::jobs", "error level");
        let logged = (before, nanos(SystemTime::now()));
        let measuring = nanos(SystemTime::now());
        jobs.get(&[("queue", "a")]).inc();
        waits.observe(0.3);
        let measured = (measuring, nanos(SystemTime::now()));
        depth.set(4);
        let payment = tracing::info_span!(
            "charge",
            "otel.kind" = "client",
            "otel.status_code" = "ok",
            "otel.status_description" = "only an error has a description"
        );
        let context = payment.span_context().expect("sampled");
        drop(payment);
        tracing::info_span!(
            "reserve",
            "otel.status_code" = "error",
            "otel.status_description" = "out of stock"
        )
        .in_scope(|| {});
        (context, logged, measured)
    });
    let server_context = server.span_context().expect("sampled");
    drop(server);

    // A trace of its own, linked to another service's span.
    let batch = tracing::info_span!(parent: None, "batch", "otel.kind" = "consumer");
    batch.add_link(
        SpanContext {
            trace_id: TraceId::from_u128(0x42),
            span_id: SpanId::from_u64(0x43),
            flags: TraceFlags::SAMPLED,
            trace_state: TraceState::from_header("vendor=linked").unwrap(),
            is_remote: true,
        },
        Vec::new(),
    );
    let batch_context = batch.span_context().expect("sampled");
    drop(batch);
    tracing::info!(target: "wire::jobs", outside = 1_i64, "outside any span");

    // Queue `b` keeps counting while `a` stays as it was: several exports of both.
    let mut exports = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while exports < EXPORTS && tokio::time::Instant::now() < deadline {
        jobs.get(&[("queue", "b")]).inc();
        let metrics = receiver
            .store()
            .wait_for_metrics(
                |m| export_times(m, "wire_jobs").len() > exports,
                Duration::from_secs(20),
            )
            .await
            .unwrap_or_else(|e| collector.fail(e));
        exports = export_times(&metrics, "wire_jobs").len();
    }
    Known {
        server: server_context,
        payment,
        batch: batch_context,
        logged,
        measured,
    }
}

/// The distinct times at which `name` was exported.
fn export_times(metrics: &[ReceivedMetric], name: &str) -> Vec<u64> {
    let times: std::collections::BTreeSet<u64> = metrics
        .iter()
        .filter(|m| m.name == name)
        .map(point_times)
        .map(|(_, time)| time)
        .collect();
    times.into_iter().collect()
}

/// (start, time) of a point.
fn point_times(m: &ReceivedMetric) -> (u64, u64) {
    match &m.point {
        MetricPoint::Gauge(p) | MetricPoint::Sum { point: p, .. } => {
            (p.start_time_unix_nano, p.time_unix_nano)
        }
        MetricPoint::Histogram { point, .. } => (point.start_time_unix_nano, point.time_unix_nano),
        other => panic!("obs sends no {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_field_on_the_wire_follows_the_otlp_data_model_across_exports() {
    let (receiver, collector, builder) =
        obs_tests::pipeline::via_collector("wire-test", ReceiverConfig::default()).await;
    let telemetry = builder
        .span_events(true)
        // The traces filter says which events become span events, as it says which spans
        // are traced: all of `wire`'s, to see each level's on the wire.
        .traces_filter("info,wire=trace")
        .log_filter("warn,wire=trace")
        .metric_export_interval(Duration::from_millis(200))
        .init()
        .expect("init");
    let known = run_application(&receiver, &collector).await;
    telemetry.shutdown().await.expect("shutdown");

    let store = receiver.store();
    let spans = store
        .wait_for_spans(
            |s| {
                ["POST /jobs", "charge", "reserve", "batch"]
                    .iter()
                    .all(|n| s.iter().any(|s| s.name() == *n))
            },
            Duration::from_secs(20),
        )
        .await
        .unwrap_or_else(|e| collector.fail(e));
    let logs = store
        .wait_for_logs(
            |l| l.iter().filter(|l| l.scope.name == "wire::jobs").count() >= 6,
            Duration::from_secs(20),
        )
        .await
        .unwrap_or_else(|e| collector.fail(e));
    let metrics = store.metrics();

    // --- Resource: one, the same on every signal and every export.
    let resource = &spans[0].resource;
    assert!(spans.iter().all(|s| s.resource == *resource));
    assert!(logs.iter().all(|l| l.resource == *resource));
    assert!(metrics.iter().all(|m| m.resource == *resource));
    let attrs = &resource.attributes;
    assert_eq!(attribute(attrs, "service.name"), Some(&string("wire-test")));
    assert_eq!(attribute(attrs, "telemetry.sdk.name"), Some(&string("obs")));
    assert_eq!(
        attribute(attrs, "telemetry.sdk.language"),
        Some(&string("rust"))
    );
    assert_eq!(
        attribute(attrs, "telemetry.sdk.version"),
        Some(&string(env!("CARGO_PKG_VERSION")))
    );
    assert_eq!(
        attribute(attrs, "process.pid"),
        Some(&any_value::Value::IntValue(i64::from(std::process::id()))),
        "an int, as the semantic conventions type it"
    );
    // Resource SDK spec: "Resource detectors that populate resource attributes according
    // to OpenTelemetry semantic conventions MUST ensure that the resource has a Schema URL
    // set to a value that matches the semantic conventions" (`OTEL_RESOURCE_ATTRIBUTES`,
    // whose schema is unknown, has none, and Merge keeps the non-empty one).
    let schema = "https://opentelemetry.io/schemas/1.44.0";
    assert!(spans.iter().all(|s| &*s.resource_schema_url == schema));
    assert!(logs.iter().all(|l| &*l.resource_schema_url == schema));
    assert!(metrics.iter().all(|m| &*m.resource_schema_url == schema));
    let keys: HashSet<&str> = attrs.iter().map(|kv| kv.key.as_str()).collect();
    assert_eq!(keys.len(), attrs.len(), "keys are unique: {attrs:?}");
    assert_eq!(resource.dropped_attributes_count, 0);

    check_spans(&spans, &known);
    check_logs(&logs, &known);
    check_metrics(&metrics, &known);

    drop(collector);
    receiver.shutdown().await;
}

fn check_spans(spans: &[ReceivedSpan], known: &Known) {
    let find = |name: &str| {
        let mut found = spans.iter().filter(|s| s.name() == name);
        let span = found.next().unwrap_or_else(|| panic!("no span {name}"));
        assert!(found.next().is_none(), "one {name}");
        &span.span
    };
    // Every span: valid ids (16 and 8 non-zero bytes), unique span ids, start <= end, a
    // span kind set, the scope its crate (the instrumentation library).
    let mut ids = HashSet::new();
    for s in spans {
        let span = &s.span;
        assert_eq!(span.trace_id.len(), 16, "{span:?}");
        assert!(span.trace_id.iter().any(|b| *b != 0), "{span:?}");
        assert_eq!(span.span_id.len(), 8, "{span:?}");
        assert!(span.span_id.iter().any(|b| *b != 0), "{span:?}");
        assert!(ids.insert(span.span_id.clone()), "span ids are unique");
        assert!(span.start_time_unix_nano > 0, "{span:?}");
        assert!(
            span.start_time_unix_nano <= span.end_time_unix_nano,
            "{span:?}"
        );
        assert_ne!(span.kind, SpanKind::Unspecified as i32, "{span:?}");
        assert!(
            span.flags & HAS_IS_REMOTE != 0,
            "the parent's remoteness is known"
        );
        assert_eq!(span.flags & !0x3ff, 0, "bits 10-31 are reserved: {span:?}");
        if let Some(status) = &span.status
            && status.code != StatusCode::Error as i32
        {
            assert_eq!(
                status.message, "",
                "a description only with Error: {span:?}"
            );
        }
    }
    assert!(
        spans
            .iter()
            .all(|s| s.scope.name == "pipeline_wire_fields" && s.scope.version.is_empty())
    );

    // The server span continues the caller's trace: its ids, its trace state, flags that
    // say sampled and a remote parent.
    let server = find("POST /jobs");
    assert_eq!(to_hex(&server.trace_id), REMOTE_TRACE);
    assert_eq!(to_hex(&server.span_id), known.server.span_id.to_string());
    assert_eq!(to_hex(&server.parent_span_id), REMOTE_PARENT);
    assert_eq!(server.trace_state, TRACESTATE);
    assert_eq!(server.flags, SAMPLED | HAS_IS_REMOTE | IS_REMOTE);
    assert_eq!(server.kind, SpanKind::Server as i32);
    // The ERROR event failed it; no description was given.
    let status = server.status.as_ref().expect("a status");
    assert_eq!(
        (status.code, status.message.as_str()),
        (StatusCode::Error as i32, "")
    );
    // Its events: one per event, named by the message, typed attributes, in time order
    // within the span.
    let names: Vec<&str> = server.events.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "trace level",
            "debug level",
            "info level",
            "warn level",
            "error level"
        ]
    );
    let mut last = server.start_time_unix_nano;
    for event in &server.events {
        assert!(event.time_unix_nano >= last, "{event:?}");
        assert!(
            event.time_unix_nano <= server.end_time_unix_nano,
            "{event:?}"
        );
        last = event.time_unix_nano;
    }
    assert_eq!(
        attribute(&server.events[1].attributes, "small"),
        Some(&any_value::Value::IntValue(7))
    );
    assert_eq!(
        attribute(&server.events[2].attributes, "ratio"),
        Some(&any_value::Value::DoubleValue(0.25))
    );
    assert_eq!(
        attribute(&server.events[2].attributes, "urgent"),
        Some(&any_value::Value::BoolValue(true))
    );
    assert_eq!(
        (
            server.dropped_attributes_count,
            server.dropped_events_count,
            server.dropped_links_count
        ),
        (0, 0, 0)
    );

    // A local child: same trace and trace state, the server as parent, known to be local.
    let charge = find("charge");
    assert_eq!(to_hex(&charge.trace_id), REMOTE_TRACE);
    assert_eq!(to_hex(&charge.span_id), known.payment.span_id.to_string());
    assert_eq!(charge.parent_span_id, server.span_id);
    assert_eq!(charge.trace_state, TRACESTATE);
    assert_eq!(charge.flags, SAMPLED | HAS_IS_REMOTE);
    assert_eq!(charge.kind, SpanKind::Client as i32);
    assert!(server.start_time_unix_nano <= charge.start_time_unix_nano);
    assert!(charge.end_time_unix_nano <= server.end_time_unix_nano);
    // Trace API, Set Status: "Description MUST be IGNORED for StatusCode Ok & Unset".
    let status = charge.status.as_ref().expect("a status");
    assert_eq!(
        (status.code, status.message.as_str()),
        (StatusCode::Ok as i32, "")
    );

    let reserve = find("reserve");
    let status = reserve.status.as_ref().expect("a status");
    assert_eq!(
        (status.code, status.message.as_str()),
        (StatusCode::Error as i32, "out of stock")
    );
    assert_eq!(reserve.kind, SpanKind::Internal as i32);

    // A root of this process: no parent, no trace state, sampled and random (W3C level 2:
    // obs draws the whole trace id), its link with the linked context's state and flags.
    let batch = find("batch");
    assert_eq!(to_hex(&batch.trace_id), known.batch.trace_id.to_string());
    assert!(
        batch.parent_span_id.is_empty(),
        "no parent: an empty parent_span_id"
    );
    assert_eq!(batch.trace_state, "");
    assert_eq!(batch.flags, SAMPLED | RANDOM | HAS_IS_REMOTE);
    assert_eq!(batch.kind, SpanKind::Consumer as i32);
    assert!(batch.status.is_none(), "Unset");
    let [link] = batch.links.as_slice() else {
        panic!("one link: {batch:?}");
    };
    assert_eq!(to_hex(&link.trace_id), format!("{:032x}", 0x42));
    assert_eq!(to_hex(&link.span_id), format!("{:016x}", 0x43));
    assert_eq!(link.trace_state, "vendor=linked");
    assert_eq!(link.flags, SAMPLED | HAS_IS_REMOTE | IS_REMOTE);
}

fn check_logs(logs: &[obs_core::testing::ReceivedLog], known: &Known) {
    let ours: Vec<_> = logs
        .iter()
        .filter(|l| l.scope.name == "wire::jobs")
        .collect();
    let record = |body: &str| {
        let found = ours.iter().find(|l| l.body_str() == Some(body));
        &found
            .unwrap_or_else(|| panic!("no record {body}: {ours:#?}"))
            .record
    };
    // Log data model, SeverityNumber: each level the first number of its range, and the
    // level's name as SeverityText.
    for (body, number, text) in [
        ("trace level", 1, "TRACE"),
        ("debug level", 5, "DEBUG"),
        ("info level", 9, "INFO"),
        ("warn level", 13, "WARN"),
        ("error level", 17, "ERROR"),
    ] {
        let r = record(body);
        assert_eq!(
            (r.severity_number, r.severity_text.as_str()),
            (number, text),
            "{r:?}"
        );
        // Timestamp: when the event happened; ObservedTimestamp: when it was observed,
        // the same instant for an event that originates in the process.
        assert!(
            (known.logged.0..=known.logged.1).contains(&r.time_unix_nano),
            "{r:?} within {:?}",
            known.logged
        );
        assert_eq!(r.observed_time_unix_nano, r.time_unix_nano);
        // Inside the server span: its trace, its span, its flags (LogRecordFlags bits
        // 0-7 are the W3C trace flags).
        assert_eq!(to_hex(&r.trace_id), REMOTE_TRACE);
        assert_eq!(to_hex(&r.span_id), known.server.span_id.to_string());
        assert_eq!(r.flags, SAMPLED);
        assert_eq!(r.dropped_attributes_count, 0);
        let body = r.body.as_ref().map(value);
        assert_eq!(body, Some(&string(body_text(r))), "a string body");
    }
    assert_eq!(
        attribute(&record("trace level").attributes, "step"),
        Some(&any_value::Value::IntValue(1))
    );
    let debug = &record("debug level").attributes;
    assert_eq!(
        attribute(debug, "small"),
        Some(&any_value::Value::IntValue(7))
    );
    assert_eq!(
        attribute(debug, "huge"),
        Some(&string(&u64::MAX.to_string())),
        "beyond OTLP's i64: its decimal digits, not a wrapped negative"
    );
    let info = &record("info level").attributes;
    assert_eq!(
        attribute(info, "ratio"),
        Some(&any_value::Value::DoubleValue(0.25))
    );
    assert_eq!(
        attribute(info, "urgent"),
        Some(&any_value::Value::BoolValue(true))
    );
    assert_eq!(attribute(info, "queue"), Some(&string("a")));
    assert_eq!(record("warn level").event_name, "job.late");
    assert_eq!(
        record("info level").event_name,
        "",
        "no name given: no event"
    );

    let outside = record("outside any span");
    assert!(
        outside.trace_id.is_empty() && outside.span_id.is_empty(),
        "{outside:?}"
    );
    assert_eq!(outside.flags, 0);
    assert!(outside.time_unix_nano > 0);
}

fn body_text(r: &obs_core::testing::proto::tonic::logs::v1::LogRecord) -> &str {
    match r.body.as_ref().map(value) {
        Some(any_value::Value::StringValue(s)) => s,
        other => panic!("not a string body: {other:?}"),
    }
}

fn check_metrics(metrics: &[ReceivedMetric], known: &Known) {
    // Every point: a time, a start at or before it (gauges too), the obs-metrics scope
    // with its version (common.proto `InstrumentationScope`; every obs crate has the
    // workspace's version).
    for m in metrics {
        let (start, time) = point_times(m);
        assert!(time > 0 && start > 0 && start <= time, "{m:?}");
        assert_eq!(
            (m.scope.name.as_str(), m.scope.version.as_str()),
            ("obs-metrics", env!("CARGO_PKG_VERSION"))
        );
    }
    // Every cumulative series, obs's own and the process collector's included, keeps one
    // start across exports (metrics.proto: a cumulative stream's start_time_unix_nano
    // stays put until a reset).
    let mut cumulative_starts: BTreeMap<String, std::collections::BTreeSet<u64>> = BTreeMap::new();
    for m in metrics {
        let cumulative = match &m.point {
            MetricPoint::Sum { temporality, .. } | MetricPoint::Histogram { temporality, .. } => {
                *temporality == AggregationTemporality::Cumulative
            }
            _ => false,
        };
        if cumulative {
            cumulative_starts
                .entry(format!("{} {:?}", m.name, m.attributes()))
                .or_default()
                .insert(point_times(m).0);
        }
    }
    assert!(cumulative_starts.len() > 3, "{cumulative_starts:?}");
    for (series, starts) in &cumulative_starts {
        assert_eq!(starts.len(), 1, "{series}: one start: {starts:?}");
    }
    let ours = |name: &str| -> Vec<&ReceivedMetric> {
        metrics.iter().filter(|m| m.name == name).collect()
    };

    // Cumulative sums: every export has both series, `a` too though it stopped changing;
    // each keeps its start while its time advances, and never goes down.
    let mut series: BTreeMap<String, Vec<(u64, u64, f64)>> = BTreeMap::new();
    for m in ours("wire_jobs") {
        let MetricPoint::Sum {
            point,
            temporality,
            is_monotonic,
        } = &m.point
        else {
            panic!("a counter is a sum: {m:?}");
        };
        assert_eq!(*temporality, AggregationTemporality::Cumulative);
        assert!(is_monotonic);
        assert_eq!(
            (m.unit.as_str(), m.description.as_str()),
            ("", "Jobs taken, by queue.")
        );
        let queue = m.attribute_str("queue").expect("a queue").to_owned();
        assert_eq!(m.attributes().len(), 1);
        series.entry(queue).or_default().push((
            point.start_time_unix_nano,
            point.time_unix_nano,
            m.number_value().expect("a value"),
        ));
    }
    let times = export_times(metrics, "wire_jobs");
    assert!(times.len() >= EXPORTS, "{times:?}");
    for (queue, points) in &mut series {
        points.sort_by_key(|p| p.1);
        let exported: Vec<u64> = points.iter().map(|p| p.1).collect();
        assert_eq!(exported, times, "{queue} is in every export");
        assert!(
            points.iter().all(|p| p.0 == points[0].0),
            "{queue}: one start: {points:?}"
        );
        assert!(
            points.windows(2).all(|w| w[0].2 <= w[1].2),
            "{queue}: {points:?}"
        );
    }
    assert!(series["a"].iter().all(|p| p.2 == 1.0), "{:?}", series["a"]);
    let b = &series["b"];
    assert!(b.last().unwrap().2 >= EXPORTS as f64, "{b:?}");

    // The histogram: the configured bounds, one more count than bounds, count = the sum
    // of the counts, the sum, one start; the exemplar of the bucket names the server span.
    let mut starts = HashSet::new();
    for m in ours("wire_wait_seconds") {
        let MetricPoint::Histogram { point, temporality } = &m.point else {
            panic!("a histogram: {m:?}");
        };
        assert_eq!(*temporality, AggregationTemporality::Cumulative);
        assert_eq!(
            (m.unit.as_str(), m.description.as_str()),
            ("s", "Time a job waited.")
        );
        assert_eq!(point.explicit_bounds, [0.1, 0.5, 1.0]);
        assert_eq!(point.bucket_counts, [0, 1, 0, 0]);
        assert_eq!(point.count, point.bucket_counts.iter().sum::<u64>());
        assert_eq!(point.sum, Some(0.3));
        assert_eq!(point.flags, 0);
        starts.insert(point.start_time_unix_nano);
        let [exemplar] = point.exemplars.as_slice() else {
            panic!("one exemplar: {point:?}");
        };
        assert_eq!(to_hex(&exemplar.trace_id), REMOTE_TRACE);
        assert_eq!(to_hex(&exemplar.span_id), known.server.span_id.to_string());
        assert!(
            exemplar.filtered_attributes.is_empty(),
            "the point has all the labels"
        );
        // metrics.proto `Exemplar.time_unix_nano`: "the exact time when this exemplar
        // was recorded", not when an export collected it (give or take the microseconds
        // by which the span layer's counter-based clock may lead the system clock).
        let (measuring, measured) = known.measured;
        assert!(
            exemplar.time_unix_nano + 2_000_000 >= measuring
                && exemplar.time_unix_nano <= measured + 2_000_000
                && exemplar.time_unix_nano <= point.time_unix_nano,
            "{exemplar:?} recorded within {:?}",
            known.measured
        );
    }
    assert_eq!(starts.len(), 1, "one start across exports: {starts:?}");
    assert!(export_times(metrics, "wire_wait_seconds").len() >= EXPORTS);

    for m in ours("wire_queue_depth") {
        let MetricPoint::Gauge(point) = &m.point else {
            panic!("a gauge: {m:?}");
        };
        assert_eq!(
            point.value,
            Some(obs_core::testing::proto::tonic::metrics::v1::number_data_point::Value::AsInt(4))
        );
        assert!(point.exemplars.is_empty());
    }
    assert!(export_times(metrics, "wire_queue_depth").len() >= EXPORTS);
}
