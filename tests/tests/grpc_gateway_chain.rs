//! An HTTP gateway calling gRPC service A, which calls gRPC service B, unary and
//! server-streaming, all over loopback in one process: one trace arrives at the real
//! collector (rotel, forwarding to an in-memory OTLP receiver) with every parent/child
//! link and the RPC attributes, and the RPC duration metrics arrive with exemplars.

mod grpc_common;

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use grpc_common::{Catalog, CatalogClient, Item, ItemRequest, ItemStream, items};
use obs_core::testing::proto::tonic::trace::v1::span::SpanKind;
use obs_core::testing::{MetricPoint, ReceivedMetric, ReceivedSpan, ReceiverConfig};
use obs_core::tower::HttpServerLayer;
use obs_tests::http::{get_text, serve, traced_client};
use tonic::{Request, Response};
use tracing::Instrument;

/// B answers `Get` with the item and `List` with `count` items.
fn service_b() -> Catalog {
    Catalog::new(
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
}

/// A forwards both methods to B (the stream is read to its end, then replayed).
fn service_a(b: SocketAddr) -> Catalog {
    let client = CatalogClient::new(b);
    let list_client = client.clone();
    Catalog::new(
        move |request: Request<ItemRequest>| {
            let mut client = client.clone();
            async move {
                let item = client.get(Request::new(request.into_inner())).await?;
                Ok(Response::new(item))
            }
        },
        move |request: Request<ItemRequest>| {
            let mut client = list_client.clone();
            async move {
                let mut stream = client.list(Request::new(request.into_inner())).await?;
                let mut all = Vec::new();
                while let Some(item) = stream.message().await? {
                    all.push(Ok(item));
                }
                let replay: ItemStream = Box::pin(futures_util::stream::iter(all));
                Ok(Response::new(replay))
            }
        },
    )
}

/// The gateway: `GET /items/{id}` calls A's `Get`, `GET /items` streams three from A's
/// `List`.
async fn gateway(a: SocketAddr) -> SocketAddr {
    let client = CatalogClient::new(a);
    let list_client = client.clone();
    let router = Router::new()
        .route(
            "/items/{id}",
            get(move |Path(id): Path<u32>| {
                let mut client = client.clone();
                async move {
                    let item = client
                        .get(Request::new(ItemRequest { id, count: 0 }))
                        .await
                        .unwrap();
                    item.name
                }
            }),
        )
        .route(
            "/items",
            get(move || {
                let mut client = list_client.clone();
                async move {
                    let mut stream = client
                        .list(Request::new(ItemRequest { id: 1, count: 3 }))
                        .await
                        .unwrap();
                    let mut names = Vec::new();
                    while let Some(item) = stream.message().await.unwrap() {
                        names.push(item.name);
                    }
                    names.join(",")
                }
            }),
        )
        .layer(HttpServerLayer::new());
    serve(router).await
}

/// The one child of `parent` with this kind and name.
fn child<'a>(
    spans: &'a [ReceivedSpan],
    parent: &ReceivedSpan,
    kind: SpanKind,
    name: &str,
) -> &'a ReceivedSpan {
    let found: Vec<_> = spans
        .iter()
        .filter(|s| {
            s.parent_span_id_hex().as_deref() == Some(parent.span_id_hex().as_str())
                && s.kind() == kind
                && s.name() == name
        })
        .collect();
    assert_eq!(
        found.len(),
        1,
        "one {kind:?} {name:?} under {:?}; spans: {:#?}",
        parent.name(),
        spans
            .iter()
            .map(|s| (s.name(), s.kind(), s.span_id_hex(), s.parent_span_id_hex()))
            .collect::<Vec<_>>()
    );
    found[0]
}

/// Checks the chain below a gateway SERVER span for `method` and returns A's and B's
/// SERVER spans.
fn grpc_chain<'a>(
    spans: &'a [ReceivedSpan],
    gateway: &ReceivedSpan,
    method: &str,
    a: SocketAddr,
    b: SocketAddr,
) -> (&'a ReceivedSpan, &'a ReceivedSpan) {
    let name = format!("obs.test.Catalog/{method}");
    let gateway_client = child(spans, gateway, SpanKind::Client, &name);
    let server_a = child(spans, gateway_client, SpanKind::Server, &name);
    let client_a = child(spans, server_a, SpanKind::Client, &name);
    let server_b = child(spans, client_a, SpanKind::Server, &name);
    for (span, port) in [
        (gateway_client, a.port()),
        (server_a, a.port()),
        (client_a, b.port()),
        (server_b, b.port()),
    ] {
        assert_eq!(span.attribute_str("rpc.system"), Some("grpc"));
        assert_eq!(span.attribute_str("rpc.service"), Some("obs.test.Catalog"));
        assert_eq!(span.attribute_str("rpc.method"), Some(method));
        assert_eq!(span.attribute_int("rpc.grpc.status_code"), Some(0));
        assert_eq!(span.attribute_str("server.address"), Some("127.0.0.1"));
        assert_eq!(span.attribute_int("server.port"), Some(i64::from(port)));
        assert_eq!(span.attribute("error.type"), None);
        assert!(!span.is_error(), "{span:?}");
    }
    for server in [server_a, server_b] {
        assert_eq!(server.attribute_str("client.address"), Some("127.0.0.1"));
    }
    (server_a, server_b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_and_two_grpc_services_make_one_trace_at_the_collector() {
    let (receiver, collector, builder) =
        obs_tests::pipeline::via_collector("grpc-chain", ReceiverConfig::default()).await;
    let telemetry = builder
        .metric_export_interval(Duration::from_millis(200))
        .init()
        .expect("init");

    let b = service_b().serve().await;
    let a = service_a(b).serve().await;
    let gateway = gateway(a).await;

    let journey = tracing::info_span!("user journey");
    let (one, three) = async {
        (
            get_text(&traced_client(), &format!("http://{gateway}/items/7")).await,
            get_text(&traced_client(), &format!("http://{gateway}/items")).await,
        )
    }
    .instrument(journey)
    .await;
    assert_eq!(one, "item 7");
    assert_eq!(three, "item 1,item 2,item 3");

    // Server spans end a moment after their callers have read the response: shutting
    // down flushes whatever has ended, so wait for all 13 first.
    let spans = receiver
        .store()
        .wait_for_spans(|s| s.len() >= 13, Duration::from_secs(20))
        .await;
    telemetry.shutdown().await.expect("shutdown");
    let spans = spans.unwrap_or_else(|e| collector.fail(e));
    assert_eq!(spans.len(), 13);

    let root = spans
        .iter()
        .find(|s| s.name() == "user journey")
        .expect("root");
    assert!(root.is_root());
    for span in &spans {
        assert_eq!(span.trace_id_hex(), root.trace_id_hex(), "one trace");
        assert_eq!(span.service_name(), Some("grpc-chain"));
    }
    let [unary_call, stream_call] = ["GET /items/{id}", "GET /items"].map(|route| {
        spans
            .iter()
            .filter(|s| s.kind() == SpanKind::Client && s.name() == "GET")
            .inspect(|http_client| {
                assert_eq!(
                    http_client.parent_span_id_hex().as_deref(),
                    Some(root.span_id_hex().as_str())
                );
            })
            .find_map(|http_client| {
                spans.iter().find(|s| {
                    s.kind() == SpanKind::Server
                        && s.name() == route
                        && s.parent_span_id_hex().as_deref()
                            == Some(http_client.span_id_hex().as_str())
                })
            })
            .unwrap_or_else(|| panic!("gateway span {route}"))
    });
    let (unary_a, _) = grpc_chain(&spans, unary_call, "Get", a, b);
    let (_, stream_b) = grpc_chain(&spans, stream_call, "List", a, b);
    // The streaming server span covers the whole stream, which took longer than B's
    // handler: it ends only after the last message and the trailers.
    assert!(stream_b.duration() > Duration::ZERO);
    assert!(unary_a.duration() > Duration::ZERO);

    // A's List and B's List each streamed three messages. Over OTLP the metrics have the
    // conventions' names and attribute keys and types, not their Prometheus names.
    let list_responses = |p: &ReceivedMetric| {
        p.name == "rpc.server.responses_per_rpc"
            && p.attribute_str("rpc.method") == Some("List")
            && matches!(&p.point, MetricPoint::Histogram { point, .. }
                if (point.count, point.sum) == (2, Some(6.0)))
    };
    let points = receiver
        .store()
        .wait_for_metrics(|m| m.iter().any(list_responses), Duration::from_secs(20))
        .await
        .unwrap_or_else(|e| collector.fail(e));
    let duration = points
        .iter()
        .rev()
        .find(|p| {
            p.name == "rpc.server.call.duration" && p.attribute_str("rpc.method") == Some("Get")
        })
        .expect("server duration of Get");
    assert_eq!(duration.unit, "s");
    // Message counts have no Prometheus unit suffix; their conventions' unit is `{count}`.
    let responses = points.iter().rev().find(|p| list_responses(p)).unwrap();
    assert_eq!(responses.unit, "{count}");
    assert_eq!(duration.attribute_int("rpc.grpc.status_code"), Some(0));
    assert_eq!(duration.attribute_str("rpc.system"), Some("grpc"));
    assert!(
        !points.iter().any(|p| p.name.starts_with("rpc_")
            || p.attributes().iter().any(|a| a.key.starts_with("rpc_"))),
        "no Prometheus name over OTLP"
    );
    assert!(duration.histogram().is_some(), "a histogram");
    assert_eq!(
        duration.exemplar_trace_ids().first(),
        Some(&root.trace_id_hex()),
        "a span exemplar"
    );
    drop(collector);
    receiver.shutdown().await;
}
