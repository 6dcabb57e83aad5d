//! Many concurrent requests through `HttpServerLayer` on a multi-thread runtime, each with
//! its own caller trace, whose handler logs, measures and calls out from every place a task
//! can run: the handler itself, a task spawned in its span and one spawned without, a
//! blocking task given its span, `block_in_place`, two instrumented futures polled in one
//! task (`join!`, `select!`), a future whose span handle was dropped before it ran, and
//! outgoing HTTP and gRPC calls. Every log line, exemplar, child span and outgoing
//! `traceparent` must carry its own request's trace, never another's; the task spawned
//! without a span carries none.
//!
//! One test in the binary: tokio's worker threads see only the global subscriber.

mod grpc_common;

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;
use grpc_common::{Catalog, CatalogClient, Item, ItemRequest, items};
use obs_core::log::{InMemoryLogSink, JsonLayer, LogValue, OtlpLogLayer};
use obs_core::metrics::{DynFamily, Histogram, Registry};
use obs_core::opentelemetry::trace::SpanKind;
use obs_core::tower::HttpServerLayer;
use obs_core::trace::{InMemorySpanSink, SpanData, SpanLayer, TraceId};
use obs_core::tracing_subscriber::filter::Targets;
use obs_core::tracing_subscriber::prelude::*;
use obs_tests::http::{TracedClient, get_plain, get_text, serve, traced_client};
use tonic::{Request, Response};
use tracing::{Instrument, Level};

const REQUESTS: u32 = 48;

/// Where each request's handler logs from, and how many lines each place writes.
const STEPS: [(&str, usize); 12] = [
    ("handler", 1),
    ("spawned", 1),
    ("unspawned", 1),
    ("blocking", 1),
    ("block_in_place", 1),
    ("left", 3),
    ("right", 3),
    ("select", 1),
    ("handle dropped", 1),
    ("after the call", 1),
    ("after the gRPC call", 1),
    ("after the tasks", 1),
];

/// The trace id the caller of request `i` sends.
fn trace_of(i: u32) -> String {
    format!(
        "{:032x}",
        0x1000_0000_0000_0000_0000_0000_0000_0000_u128 + u128::from(i)
    )
}

/// The JSON lines written, shared with the log layer.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<u8>>>);

impl Write for Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[derive(Clone)]
struct App {
    client: TracedClient,
    grpc: CatalogClient,
    echo: std::net::SocketAddr,
    measured: DynFamily<Histogram>,
}

async fn yield_then_log(i: u32, step: &'static str, times: usize) {
    for _ in 0..times {
        tokio::task::yield_now().await;
        tracing::info!(req = i, step, "step");
    }
}

async fn handler(Path(i): Path<u32>, State(app): State<App>) -> String {
    tracing::info!(req = i, step = "handler", "step");
    app.measured.get(&[("req", &i.to_string())]).observe(0.1);
    let spawned = tokio::spawn(yield_then_log(i, "spawned", 1).in_current_span());
    let unspawned = tokio::spawn(yield_then_log(i, "unspawned", 1));
    let span = tracing::Span::current();
    let blocking = tokio::task::spawn_blocking(move || {
        span.in_scope(|| tracing::info!(req = i, step = "blocking", "step"));
    });
    tokio::task::block_in_place(|| tracing::info!(req = i, step = "block_in_place", "step"));
    tokio::join!(
        yield_then_log(i, "left", 3).instrument(tracing::info_span!("left")),
        yield_then_log(i, "right", 3).instrument(tracing::info_span!("right")),
    );
    // Whichever branch is polled first after the yield logs and wins; the other never logs.
    tokio::select! {
        () = yield_then_log(i, "select", 1).instrument(tracing::info_span!("select a")) => {}
        () = yield_then_log(i, "select", 1).instrument(tracing::info_span!("select b")) => {}
    }
    let handle_dropped = {
        let span = tracing::info_span!("handle dropped");
        yield_then_log(i, "handle dropped", 1).instrument(span)
    };
    handle_dropped.await;
    let echoed = get_text(&app.client, &format!("http://{}/echo", app.echo)).await;
    tracing::info!(req = i, step = "after the call", "step");
    let mut grpc = app.grpc.clone();
    let item = grpc
        .get(Request::new(ItemRequest { id: i, count: 0 }))
        .await
        .expect("the gRPC call");
    tracing::info!(req = i, step = "after the gRPC call", "step");
    spawned.await.expect("spawned task");
    unspawned.await.expect("unspawned task");
    blocking.await.expect("blocking task");
    tracing::info!(req = i, step = "after the tasks", "step");
    format!("{echoed} {}", item.name)
}

/// A gRPC catalog whose `Get` answers with the `traceparent` it was called with.
fn grpc_echo() -> Catalog {
    Catalog::new(
        |request: Request<ItemRequest>| async move {
            let traceparent = request
                .metadata()
                .get("traceparent")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("none")
                .to_owned();
            Ok(Response::new(Item {
                id: request.into_inner().id,
                name: traceparent,
            }))
        },
        |request: Request<ItemRequest>| async move {
            let request = request.into_inner();
            Ok(Response::new(items(request.id, request.count)))
        },
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_never_carry_each_others_trace() {
    let lines = Lines::default();
    let records = InMemoryLogSink::new();
    let sink = InMemorySpanSink::new();
    let subscriber = obs_core::tracing_subscriber::registry()
        // Not h2's own trace-level spans (a connection's, in traces of their own).
        .with(
            SpanLayer::new()
                .with_sink(Arc::new(sink.clone()))
                .with_traces_filter(Targets::new().with_default(Level::INFO)),
        )
        .with(JsonLayer::new().with_writer(Mutex::new(lines.clone())))
        .with(OtlpLogLayer::new(records.clone()));
    tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");

    // Answers with the `traceparent` it was called with.
    let echo = serve(Router::new().route(
        "/echo",
        get(|headers: http::HeaderMap| async move {
            headers
                .get("traceparent")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("none")
                .to_owned()
        }),
    ))
    .await;
    let registry = Registry::new();
    let grpc_echo = grpc_echo().serve().await;
    let app = App {
        client: traced_client(),
        grpc: CatalogClient::new(grpc_echo),
        echo,
        measured: registry
            .dyn_family("work_seconds", "Work per request.", &["req"])
            .expect("family"),
    };
    let server = serve(
        Router::new()
            .route("/work/{i}", get(handler))
            .with_state(app)
            .layer(HttpServerLayer::new()),
    )
    .await;

    let mut requests = tokio::task::JoinSet::new();
    for i in 0..REQUESTS {
        requests.spawn(async move {
            let traceparent = format!("00-{}-{:016x}-01", trace_of(i), u64::from(i) + 1);
            let url = format!("http://{server}/work/{i}");
            (i, get_plain(&url, &[("traceparent", &traceparent)]).await)
        });
    }
    let mut outgoing = HashMap::new();
    while let Some(done) = requests.join_next().await {
        let (i, echoed) = done.expect("request task");
        outgoing.insert(i, echoed);
    }

    // Outgoing calls, HTTP and gRPC: each continues its own request's trace.
    for (i, echoed) in &outgoing {
        let traces: Vec<Option<&str>> = echoed.split(' ').map(|t| t.split('-').nth(1)).collect();
        let expected = trace_of(*i);
        assert_eq!(
            traces,
            [Some(expected.as_str()); 2],
            "request {i}: {echoed}"
        );
    }

    // Log lines and records: every one of each request's, each with its request's trace,
    // but the task spawned without a span's, which is in no trace.
    let text = String::from_utf8(lines.0.lock().unwrap().clone()).expect("UTF-8");
    let json_lines = text.lines().filter_map(|line| {
        let json: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
        let i = u32::try_from(json["req"].as_u64()?).expect("a request number");
        let step = json["step"].as_str()?.to_owned();
        let trace = json
            .get("trace_id")
            .map(|t| t.as_str().expect("hex").to_owned());
        Some((i, step, trace))
    });
    assert_each_request_logged_in_its_trace("JSON", json_lines);
    let records = records.take();
    let otlp_records = records.iter().filter_map(|record| {
        let (Some(LogValue::I64(i)), Some(LogValue::String(step))) =
            (record.attribute("req"), record.attribute("step"))
        else {
            return None;
        };
        let i = u32::try_from(*i).expect("a request number");
        Some((i, step.clone(), record.trace_id.map(|t| t.to_string())))
    });
    assert_each_request_logged_in_its_trace("OTLP", otlp_records);

    // Spans: each request's server span, its children and its client span in its trace.
    let spans = sink.spans();
    let server_spans: HashMap<TraceId, &SpanData> = spans
        .iter()
        .filter(|s| s.name == "GET /work/{i}")
        .map(|s| (s.span_context.trace_id, s))
        .collect();
    assert_eq!(server_spans.len(), REQUESTS as usize);
    let mut children: HashMap<TraceId, Vec<&str>> = HashMap::new();
    let mut grpc_servers = 0;
    for span in spans.iter().filter(|s| s.name != "GET /work/{i}") {
        let trace = span.span_context.trace_id;
        let server = server_spans
            .get(&trace)
            .unwrap_or_else(|| panic!("a span in no request's trace: {span:#?}"));
        if span.kind == SpanKind::Server {
            // The gRPC call's server side, in this process: its parent is the client span.
            let caller = spans
                .iter()
                .find(|s| s.span_context.span_id == span.parent_span_id)
                .unwrap_or_else(|| panic!("the caller of {span:#?}"));
            assert_eq!(caller.kind, SpanKind::Client, "{span:#?}");
            assert_eq!(caller.span_context.trace_id, trace, "{span:#?}");
            grpc_servers += 1;
            continue;
        }
        assert_eq!(
            span.parent_span_id, server.span_context.span_id,
            "a child of its request's server span: {span:#?}"
        );
        children.entry(trace).or_default().push(&span.name);
    }
    assert_eq!(grpc_servers, REQUESTS);
    for (trace, mut names) in children {
        names.sort_unstable();
        // Both `select!` branches' spans exist, whichever ran: the futures were built.
        let expected = [
            "GET",
            "handle dropped",
            "left",
            "obs.test.Catalog/Get",
            "right",
            "select a",
            "select b",
        ];
        assert_eq!(names, expected, "{trace}");
    }

    // Exemplars: each request's measurement carries its own server span.
    let families = registry.collect();
    let family = families
        .iter()
        .find(|f| f.name == "work_seconds")
        .expect("the family");
    assert_eq!(family.points.len(), REQUESTS as usize);
    for point in &family.points {
        let i: u32 = point.labels[0].1.parse().expect("a request number");
        let exemplar = point
            .exemplars
            .first()
            .unwrap_or_else(|| panic!("request {i} has an exemplar"));
        let server = server_spans[&exemplar.trace_id];
        assert_eq!(exemplar.trace_id.to_string(), trace_of(i));
        assert_eq!(exemplar.span_id, server.span_context.span_id);
    }
}

/// Asserts that `logged` (request, step, trace id) holds each request's lines of every step,
/// each in its request's trace (none for the task spawned without a span).
fn assert_each_request_logged_in_its_trace(
    format: &str,
    logged: impl Iterator<Item = (u32, String, Option<String>)>,
) {
    let mut counts: HashMap<(u32, String), usize> = HashMap::new();
    for (i, step, trace) in logged {
        let expected = (step != "unspawned").then(|| trace_of(i));
        assert_eq!(trace, expected, "{format}: request {i}, {step}");
        *counts.entry((i, step)).or_default() += 1;
    }
    for i in 0..REQUESTS {
        for (step, lines) in STEPS {
            let logged = counts.get(&(i, step.to_owned()));
            assert_eq!(logged, Some(&lines), "{format}: request {i}, {step}");
        }
    }
}
