//! `OTEL_SEMCONV_STABILITY_OPT_IN=rpc` (here `Builder::rpc_conventions`, which it sets):
//! real tonic servers and clients over loopback, built after `init`, emit the stable RPC
//! conventions, and their spans and duration metrics arrive so at the real collector (rotel,
//! forwarding to an in-memory OTLP receiver): `rpc.system.name`, `rpc.method`
//! `package.Service/Method`, `rpc.status_code` by name, `_OTHER` for a method the server
//! does not have, and no old attribute or message-count metric.

mod grpc_common;

use std::time::Duration;

use grpc_common::{Catalog, CatalogClient, Item, ItemRequest, items};
use obs_core::testing::proto::tonic::trace::v1::span::SpanKind;
use obs_core::testing::{ReceivedMetric, ReceivedSpan, ReceiverConfig};
use obs_core::trace::RpcConventions;
use tonic::{Code, Request, Response};
use tracing::Instrument;

/// The one span of this kind and name.
fn span<'a>(spans: &'a [ReceivedSpan], kind: SpanKind, name: &str) -> &'a ReceivedSpan {
    let found: Vec<_> = spans
        .iter()
        .filter(|s| s.kind() == kind && s.name() == name)
        .collect();
    assert_eq!(found.len(), 1, "one {kind:?} {name:?} in {spans:#?}");
    found[0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stable_rpc_conventions_reach_the_collector_on_spans_and_metrics() {
    let (receiver, collector, builder) =
        obs_tests::pipeline::via_collector("grpc-stable", ReceiverConfig::default()).await;
    let telemetry = builder
        .rpc_conventions(RpcConventions::Stable)
        .metric_export_interval(Duration::from_millis(200))
        .init()
        .expect("init");
    assert_eq!(obs_core::trace::rpc_conventions(), RpcConventions::Stable);

    let addr = Catalog::new(
        |request: Request<ItemRequest>| async move {
            let id = request.into_inner().id;
            Ok(Response::new(Item {
                id,
                name: format!("item {id}"),
            }))
        },
        |request: Request<ItemRequest>| async move {
            let request = request.into_inner();
            Ok(Response::new(items(request.id, request.count)))
        },
    )
    .serve()
    .await;
    let mut client = CatalogClient::new(addr);
    let (item, missing) = async {
        let item = client
            .get(Request::new(ItemRequest { id: 7, count: 0 }))
            .await;
        (item, client.missing().await)
    }
    .instrument(tracing::info_span!("caller"))
    .await;
    assert_eq!(item.expect("get").name, "item 7");
    assert_eq!(missing.expect_err("missing").code(), Code::Unimplemented);

    // caller, and a CLIENT and a SERVER span per call.
    let spans = receiver
        .store()
        .wait_for_spans(|s| s.len() >= 5, Duration::from_secs(20))
        .await
        .unwrap_or_else(|e| collector.fail(e));

    let get = "obs.test.Catalog/Get";
    for kind in [SpanKind::Client, SpanKind::Server] {
        let span = span(&spans, kind, get);
        assert_eq!(span.attribute_str("rpc.system.name"), Some("grpc"));
        assert_eq!(span.attribute_str("rpc.method"), Some(get));
        assert_eq!(span.attribute_str("rpc.status_code"), Some("OK"));
        assert_eq!(span.attribute_str("server.address"), Some("127.0.0.1"));
        assert_eq!(
            span.attribute_int("server.port"),
            Some(i64::from(addr.port()))
        );
        for old in [
            "rpc.system",
            "rpc.service",
            "rpc.grpc.status_code",
            "client.address",
            "error.type",
        ] {
            assert_eq!(span.attribute(old), None, "{kind:?} {old}");
        }
        assert!(!span.is_error());
    }
    let server = span(&spans, SpanKind::Server, get);
    assert_eq!(
        server.attribute_str("network.peer.address"),
        Some("127.0.0.1")
    );

    // The server does not have `Missing`: `_OTHER`, named `{rpc.system.name}`; the client
    // called a method its stub names, and fails on the status.
    let unknown = span(&spans, SpanKind::Server, "grpc");
    assert_eq!(unknown.attribute_str("rpc.method"), Some("_OTHER"));
    assert_eq!(
        unknown.attribute_str("rpc.method_original"),
        Some("obs.test.Catalog/Missing")
    );
    assert_eq!(
        unknown.attribute_str("rpc.status_code"),
        Some("UNIMPLEMENTED")
    );
    assert_eq!(unknown.attribute_str("error.type"), Some("UNIMPLEMENTED"));
    assert!(unknown.is_error());
    let caller = span(&spans, SpanKind::Client, "obs.test.Catalog/Missing");
    assert_eq!(
        caller.attribute_str("rpc.method"),
        Some("obs.test.Catalog/Missing")
    );
    assert_eq!(caller.attribute_str("error.type"), Some("UNIMPLEMENTED"));

    let server_duration = |p: &ReceivedMetric| {
        p.name == "rpc.server.call.duration" && p.attribute_str("rpc.method") == Some(get)
    };
    let client_duration = |p: &ReceivedMetric| {
        p.name == "rpc.client.call.duration" && p.attribute_str("rpc.method") == Some(get)
    };
    let points = receiver
        .store()
        .wait_for_metrics(
            |m| m.iter().any(server_duration) && m.iter().any(client_duration),
            Duration::from_secs(20),
        )
        .await
        .unwrap_or_else(|e| collector.fail(e));
    telemetry.shutdown().await.expect("shutdown");
    let server_point = points.iter().rev().find(|p| server_duration(p)).unwrap();
    assert_eq!(server_point.unit, "s");
    assert_eq!(server_point.attribute_str("rpc.system.name"), Some("grpc"));
    assert_eq!(server_point.attribute_str("rpc.status_code"), Some("OK"));
    // Opt-In on server metrics: left out.
    assert_eq!(server_point.attribute("server.address"), None);
    for old in ["rpc.system", "rpc.service", "rpc.grpc.status_code"] {
        assert_eq!(server_point.attribute(old), None, "{old}");
    }
    assert!(server_point.histogram().is_some(), "a histogram");
    // The instrumentation scope is the library that instruments, obs-tonic, on spans and
    // metrics alike (a Tracer and a Meter of one scope).
    for (what, scope) in [
        ("server span", &server.scope),
        ("client span", &span(&spans, SpanKind::Client, get).scope),
        ("server metric", &server_point.scope),
    ] {
        assert_eq!(
            (scope.name.as_str(), scope.version.as_str()),
            ("obs_tonic", env!("CARGO_PKG_VERSION")),
            "{what}"
        );
    }
    assert_eq!(
        server_point.exemplar_trace_ids().first(),
        Some(&server.trace_id_hex()),
        "a span exemplar"
    );
    let client_point = points.iter().rev().find(|p| client_duration(p)).unwrap();
    assert_eq!(client_point.scope, server_point.scope);
    assert_eq!(
        client_point.attribute_str("server.address"),
        Some("127.0.0.1")
    );
    assert_eq!(
        client_point.attribute_int("server.port"),
        Some(i64::from(addr.port()))
    );
    let other = points.iter().find(|p| {
        p.name == "rpc.server.call.duration" && p.attribute_str("rpc.method") == Some("_OTHER")
    });
    assert_eq!(
        other.and_then(|p| p.attribute_str("rpc.status_code")),
        Some("UNIMPLEMENTED")
    );
    assert!(
        !points.iter().any(|p| p.name.ends_with("_per_rpc")),
        "no message counts in the stable conventions"
    );
    drop(collector);
    receiver.shutdown().await;
}
