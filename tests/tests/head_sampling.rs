//! Head sampling end to end, configured as an operator would (`OTEL_TRACES_SAMPLER` and
//! `OTEL_TRACES_SAMPLER_ARG`), for every value the SDK environment variable specification
//! names: an axum service behind `HttpServerLayer` that calls another service is called as a
//! root, and as the callee of remote parents with fixed trace ids, sampled or not. What a
//! real collector receives, the `traceparent` sent downstream and the JSON log lines must
//! agree with the OpenTelemetry SDK's own sampler for that value (`TraceIdRatioBased` with
//! the same ratio decides the same trace ids, so a ratio's sampled set is within a higher
//! ratio's); the Jaeger remote samplers, whose endpoint serves nothing here, sample at their
//! initial rate by trace id; `xray`, which obs does not support, falls back to the default,
//! `parentbased_always_on`, and a bad ratio argument to 1.0, as the specification says.
//! Each configuration is a child process of this test (`init` is once per process).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use axum::Router;
use axum::http::HeaderMap;
use axum::routing::get;
use obs_core::Signal;
use obs_core::opentelemetry::Context;
use obs_core::opentelemetry::trace::{
    SpanContext, SpanId, SpanKind, TraceContextExt, TraceFlags, TraceId, TraceState,
};
use obs_core::opentelemetry_sdk::trace::{Sampler, SamplingDecision, ShouldSample};
use obs_core::testing::{OtlpReceiver, ReceiverConfig};
use obs_core::tower::HttpServerLayer;
use obs_tests::child::{in_child, scenario};
use obs_tests::collector::Collector;
use obs_tests::http::{get_plain, get_text, serve, traced_client};

const TEST: &str = "every_head_sampler_decides_as_the_spec_says_at_a_real_collector";

/// Remote parents with fixed trace ids, every other one sampled.
const PARENTS: u64 = 64;

/// The `i`th fixed trace id, spread over the whole range (SplitMix64 of `i`, twice).
fn trace_id(i: u64) -> String {
    let mix = |mut z: u64| {
        z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    format!("{:016x}{:016x}", mix(2 * i + 1), mix(2 * i + 2))
}

/// The `i`th remote parent's span id.
fn caller_span(i: u64) -> String {
    format!("{:016x}", 0x1000 + i)
}

fn parent_sampled(i: u64) -> bool {
    i.is_multiple_of(2)
}

/// One configuration: the service it runs as, its `OTEL_TRACES_SAMPLER` and `_ARG`, and the
/// SDK sampler it must decide as.
struct Case {
    service: &'static str,
    sampler: &'static str,
    arg: Option<&'static str>,
    expected: Sampler,
}

fn cases() -> Vec<Case> {
    let case = |service, sampler, arg, expected| Case {
        service,
        sampler,
        arg,
        expected,
    };
    let parent_based = |root| Sampler::ParentBased(Box::new(root));
    vec![
        case("always-on", "always_on", None, Sampler::AlwaysOn),
        case("always-off", "always_off", None, Sampler::AlwaysOff),
        case(
            "ratio-half-a",
            "traceidratio",
            Some("0.5"),
            Sampler::TraceIdRatioBased(0.5),
        ),
        case(
            "ratio-half-b",
            "traceidratio",
            Some("0.5"),
            Sampler::TraceIdRatioBased(0.5),
        ),
        case(
            "ratio-quarter",
            "traceidratio",
            Some(" 0.25 "),
            Sampler::TraceIdRatioBased(0.25),
        ),
        // Missing or invalid: as if unset, the ratio's default, 1.0.
        case(
            "ratio-no-arg",
            "traceidratio",
            None,
            Sampler::TraceIdRatioBased(1.0),
        ),
        case(
            "ratio-bad-arg",
            "traceidratio",
            Some("lots"),
            Sampler::TraceIdRatioBased(1.0),
        ),
        case(
            "ratio-too-big",
            "traceidratio",
            Some("1.5"),
            Sampler::TraceIdRatioBased(1.0),
        ),
        case(
            "parentbased-on",
            "parentbased_always_on",
            None,
            parent_based(Sampler::AlwaysOn),
        ),
        case(
            "parentbased-off",
            "parentbased_always_off",
            None,
            parent_based(Sampler::AlwaysOff),
        ),
        case(
            "parentbased-ratio",
            "parentbased_traceidratio",
            Some("0.25"),
            parent_based(Sampler::TraceIdRatioBased(0.25)),
        ),
        case(
            "parentbased-ratio-bad-arg",
            "parentbased_traceidratio",
            Some("-1"),
            parent_based(Sampler::TraceIdRatioBased(1.0)),
        ),
        // Jaeger remote sampling with no `SamplingManager` at its endpoint: the initial rate,
        // by trace id (`TraceIdRatioBased`'s algorithm), until a fetch succeeds; alone it
        // decides whatever the parent says.
        case(
            "jaeger",
            "jaeger_remote",
            Some("endpoint=http://127.0.0.1:1,initialSamplingRate=0.5"),
            Sampler::TraceIdRatioBased(0.5),
        ),
        case(
            "parentbased-jaeger",
            "parentbased_jaeger_remote",
            Some("endpoint=http://127.0.0.1:1"),
            parent_based(Sampler::TraceIdRatioBased(0.001)),
        ),
        // Unsupported (AWS X-Ray's, a third-party protocol) or unknown: the default.
        case("xray", "xray", None, parent_based(Sampler::AlwaysOn)),
        case("bogus", "sometimes", None, parent_based(Sampler::AlwaysOn)),
    ]
}

/// What the SDK's `sampler` decides for a span of `trace` whose parent is the remote
/// `parent` (sampled or not), or for a root.
fn sdk_decides(sampler: &Sampler, trace: &str, parent: Option<(u64, bool)>) -> bool {
    let trace_id = TraceId::from_hex(trace).expect("trace id");
    let cx = parent.map(|(i, sampled)| {
        let flags = if sampled {
            TraceFlags::SAMPLED
        } else {
            TraceFlags::default()
        };
        Context::new().with_remote_span_context(SpanContext::new(
            trace_id,
            SpanId::from_hex(&caller_span(i)).expect("span id"),
            flags,
            true,
            TraceState::default(),
        ))
    });
    let result = sampler.should_sample(
        cx.as_ref(),
        trace_id,
        "GET /front",
        &SpanKind::Server,
        &[],
        &[],
    );
    result.decision == SamplingDecision::RecordAndSample
}

/// One call the child made: which, the `traceparent` its callee got, and the JSON log line
/// the handler wrote (`trace_id`, `trace_flags`).
#[derive(Debug)]
struct Call {
    downstream: String,
    logged: (String, String),
}

/// The child: the service, configured by the environment alone, called once as a root and
/// once by each remote parent. It prints `CALL <label> <downstream traceparent>` per call
/// and `EXPORTED <spans>` once shut down; the handler's JSON log lines go to stdout too.
async fn child() {
    // Ends libtest's `test <name> ... `, so that each line of ours starts a line.
    println!();
    let telemetry = obs_tests::pipeline::quick_batches(obs_core::builder())
        .metric_export_interval(Duration::from_secs(600))
        .init()
        .expect("init");
    // The callee echoes the `traceparent` it got.
    let back = serve(Router::new().route(
        "/back",
        get(|headers: HeaderMap| async move {
            headers
                .get("traceparent")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("none")
                .to_owned()
        }),
    ))
    .await;
    let front = serve(
        Router::new()
            .route(
                "/front/{label}",
                get(
                    move |axum::extract::Path(label): axum::extract::Path<String>| async move {
                        tracing::info!(label = %label, "front");
                        get_text(&traced_client(), &format!("http://{back}/back")).await
                    },
                ),
            )
            .layer(HttpServerLayer::new()),
    )
    .await;
    let root = get_plain(&format!("http://{front}/front/root"), &[]).await;
    println!("CALL root {root}");
    for i in 0..PARENTS {
        let flags = if parent_sampled(i) { "01" } else { "00" };
        let traceparent = format!("00-{}-{}-{flags}", trace_id(i), caller_span(i));
        let got = get_plain(
            &format!("http://{front}/front/{i}"),
            &[("traceparent", &traceparent)],
        )
        .await;
        println!("CALL {i} {got}");
    }
    telemetry.shutdown().await.expect("shutdown");
    println!("EXPORTED {}", obs_tests::load::exported(Signal::Traces));
}

/// The calls and the exported span count in a child's stdout.
fn parse(stdout: &str) -> (BTreeMap<String, Call>, u64) {
    let mut logged = BTreeMap::new();
    let mut downstream = BTreeMap::new();
    let mut exported = None;
    for line in stdout.lines() {
        if let Some(rest) = line.strip_prefix("CALL ") {
            let (label, tp) = rest.split_once(' ').expect("CALL label traceparent");
            downstream.insert(label.to_owned(), tp.to_owned());
        } else if let Some(n) = line.strip_prefix("EXPORTED ") {
            exported = n.trim().parse().ok();
        } else if let Ok(json) = serde_json::from_str::<serde_json::Value>(line)
            && json["message"] == "front"
        {
            let field = |k: &str| json[k].as_str().unwrap_or("missing").to_owned();
            logged.insert(field("label"), (field("trace_id"), field("trace_flags")));
        }
    }
    let calls = downstream
        .into_iter()
        .map(|(label, downstream)| {
            let logged = logged.remove(&label).unwrap_or_default();
            (label, Call { downstream, logged })
        })
        .collect();
    (calls, exported.expect("EXPORTED line"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_head_sampler_decides_as_the_spec_says_at_a_real_collector() {
    if scenario().is_some() {
        child().await;
        return;
    }
    let receiver = OtlpReceiver::start(ReceiverConfig::default())
        .await
        .expect("receiver");
    let collector = Collector::start(&receiver.grpc_endpoint());
    // Per service, the traces it sampled.
    let mut sampled_sets: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    let mut total = 0;
    for case in cases() {
        let mut env = vec![
            ("OTEL_SERVICE_NAME", case.service.to_owned()),
            ("OTEL_TRACES_SAMPLER", case.sampler.to_owned()),
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                collector.grpc_endpoint.clone(),
            ),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc".to_owned()),
        ];
        if let Some(arg) = case.arg {
            env.push(("OTEL_TRACES_SAMPLER_ARG", arg.to_owned()));
        }
        let service = case.service;
        let stdout = tokio::task::spawn_blocking(move || in_child(TEST, service, &env))
            .await
            .expect("child");
        let (calls, exported) = parse(&stdout);
        assert_eq!(calls.len() as u64, PARENTS + 1, "{service}: {stdout}");
        let mut sampled = BTreeSet::new();
        for (label, call) in &calls {
            let parts: Vec<_> = call.downstream.split('-').collect();
            assert_eq!(parts.len(), 4, "{service} {label}: {call:?}\n{stdout}");
            let (trace, parent) = match label.parse::<u64>() {
                Ok(i) => (trace_id(i), Some((i, parent_sampled(i)))),
                // A root: the trace id is the service's own.
                Err(_) => (parts[1].to_owned(), None),
            };
            let decided = sdk_decides(&case.expected, &trace, parent);
            // Sampled or not, the trace goes on downstream with a fresh parent id, and the
            // log line carries it; only the sampled flag differs (a root's trace id is
            // random, which W3C Level 2's random flag, 0x02, says).
            let flags = u8::from_str_radix(parts[3], 16).expect("flags");
            assert_eq!(
                (parts[1], flags & 1 == 1),
                (trace.as_str(), decided),
                "{service} {label}: {call:?}"
            );
            if let Some((i, _)) = parent {
                assert_ne!(
                    parts[2],
                    caller_span(i),
                    "{service} {label}: a fresh parent id"
                );
            }
            assert_eq!(
                call.logged,
                (trace.clone(), parts[3].to_owned()),
                "{service} {label}: the log line's context\n{stdout}"
            );
            if decided {
                sampled.insert(trace);
            }
        }
        // The SERVER span and the CLIENT span of each sampled call, and nothing else.
        assert_eq!(exported, 2 * sampled.len() as u64, "{service}");
        total += exported;
        sampled_sets.insert(service, sampled);
    }
    // Same ratio, same decisions; a lower ratio's sampled set within a higher one's (the
    // root's random trace id aside).
    let fixed = |service: &str| -> BTreeSet<String> {
        let ids: BTreeSet<String> = (0..PARENTS).map(trace_id).collect();
        sampled_sets[service].intersection(&ids).cloned().collect()
    };
    assert_eq!(fixed("ratio-half-a"), fixed("ratio-half-b"));
    assert_eq!(
        fixed("jaeger"),
        fixed("ratio-half-a"),
        "a remote rate decides alike"
    );
    assert!(fixed("ratio-quarter").is_subset(&fixed("ratio-half-a")));
    assert!(!fixed("ratio-quarter").is_empty() && fixed("ratio-quarter") != fixed("ratio-half-a"));

    // What the collector received: per service, the spans of exactly the sampled traces.
    let spans = receiver
        .store()
        .wait_for_spans(|s| s.len() as u64 >= total, Duration::from_secs(30))
        .await
        .unwrap_or_else(|e| collector.fail(e));
    assert_eq!(spans.len() as u64, total);
    let mut received: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for span in &spans {
        let service = span.service_name().expect("service.name");
        let service = sampled_sets
            .keys()
            .find(|s| **s == service)
            .unwrap_or_else(|| panic!("a span of an unknown service {service}"));
        received
            .entry(service)
            .or_default()
            .insert(span.trace_id_hex());
    }
    for (service, sampled) in &sampled_sets {
        assert_eq!(
            received.get(service).cloned().unwrap_or_default(),
            *sampled,
            "{service}: the traces at the collector"
        );
    }
}
