//! Real tonic servers and clients over loopback, spans in memory, composed as tonic services
//! are in practice: tower's load shedding under the server layer, a channel's own timeout,
//! an interceptor rejecting calls, gzip both ways, a client stream answered early.
//!
//! The tests run on current-thread runtimes, so the servers' tasks run on the test's thread
//! and see its default subscriber.

mod grpc_common;

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use grpc_common::outcomes;
use grpc_common::spans::{
    assert_client_deadline_exceeded, attribute, capture, is_error, of_kind, take_spans,
};
use grpc_common::{BoxFuture, Catalog, CatalogClient, Item, ItemRequest, ItemStream};
use http::uri::PathAndQuery;
use obs_tests::wait::wait_until;
use obs_tonic::{GrpcClientLayer, GrpcServerLayer};
use obs_trace::opentelemetry::trace::SpanKind;
use tonic::codec::CompressionEncoding;
use tonic::server::NamedService;
use tonic::{Code, Request, Response, Status, Streaming};
use tonic_prost::ProstCodec;

/// The `id` of a `Get` that holds its handler until the gate opens.
const HOLD: u32 = 1;

/// A catalog whose `Get` of [`HOLD`] says it has begun (`entered`) and then waits for
/// `gate`; other `Get`s answer at once.
fn gated_catalog(entered: Arc<AtomicBool>, gate: Arc<tokio::sync::Notify>) -> Catalog {
    Catalog::new(
        move |request: Request<ItemRequest>| {
            let (entered, gate) = (entered.clone(), gate.clone());
            async move {
                if request.get_ref().id == HOLD {
                    entered.store(true, Ordering::Relaxed);
                    gate.notified().await;
                }
                Ok(Response::new(Item::default()))
            }
        },
        |_request: Request<ItemRequest>| async {
            let none: ItemStream = Box::pin(futures_util::stream::empty());
            Ok(Response::new(none))
        },
    )
}

/// tower's `LoadShedLayer` over a `ConcurrencyLimitLayer`, under the server layer (as
/// `Server::builder().layer(..)` stacks them), sheds a call while another holds the only
/// permit: it fails with tower's `Overloaded`, which holds no `tonic::Status` but which
/// tonic's server answers RESOURCE_EXHAUSTED (`Status::try_from_error`). The server span
/// and metrics record that status, the caller's (not a server fault): not the UNKNOWN of
/// an error tonic resets the stream for.
#[tokio::test(flavor = "current_thread")]
async fn a_call_shed_under_the_server_layer_is_resource_exhausted_on_both_sides() {
    let (sink, _guard) = capture();
    let registry = obs_metrics::Registry::new();
    let entered = Arc::new(AtomicBool::new(false));
    let gate = Arc::new(tokio::sync::Notify::new());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .layer(GrpcServerLayer::new().with_registry(&registry))
            .layer(tower::load_shed::LoadShedLayer::new())
            .layer(tower::limit::ConcurrencyLimitLayer::new(1))
            .add_service(gated_catalog(entered.clone(), gate.clone()))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    let mut client = CatalogClient::new(addr);
    let mut holder = client.clone();
    let held = tokio::spawn(async move {
        let request = ItemRequest { id: HOLD, count: 0 };
        holder.get(Request::new(request)).await
    });
    wait_until(Duration::from_secs(10), || entered.load(Ordering::Relaxed)).await;
    assert!(
        entered.load(Ordering::Relaxed),
        "the first call holds the permit"
    );

    let status = client
        .get(Request::new(ItemRequest::default()))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    let spans = take_spans(&sink, 2).await;
    let server = of_kind(&spans, SpanKind::Server);
    assert_eq!(
        attribute(server, "rpc.grpc.status_code").as_deref(),
        Some("8"),
        "{server:#?}"
    );
    assert_eq!(attribute(server, "error.type"), None);
    assert!(!is_error(server), "RESOURCE_EXHAUSTED is no server fault");
    assert_eq!(
        outcomes(&registry, "rpc_server_call_duration_seconds"),
        [("8".to_owned(), String::new(), 1)]
    );

    gate.notify_one();
    held.await.unwrap().unwrap();
}

/// A channel's own timeout (`Endpoint::timeout`, which sends no `grpc-timeout`) runs out
/// before the answer: tonic's channel gives up with its `TimeoutExpired`, which it hands
/// the caller as CANCELLED, as it does at a `grpc-timeout` deadline. It is the client's
/// deadline all the same, which gRPC reports as DEADLINE_EXCEEDED (doc/statuscodes.md:
/// "Deadline expires before server returns status"): the client span and metrics say so,
/// as for a `grpc-timeout` deadline. The server saw the client reset the stream: CANCELLED.
#[tokio::test(flavor = "current_thread")]
async fn a_call_past_its_channels_timeout_is_deadline_exceeded_on_the_client() {
    let (sink, _guard) = capture();
    let entered = Arc::new(AtomicBool::new(false));
    let gate = Arc::new(tokio::sync::Notify::new());
    let addr = gated_catalog(entered, gate).serve().await;
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        // Long enough for the request to reach the server (which holds it) on a loaded
        // machine: the server's span is checked too.
        .timeout(Duration::from_secs(1))
        .connect_lazy();
    let registry = obs_metrics::Registry::new();
    let layer = GrpcClientLayer::new().with_registry(&registry);
    let mut client = CatalogClient::on_channel(channel, addr, layer);
    let request = ItemRequest { id: HOLD, count: 0 };
    let status = client.get(Request::new(request)).await.unwrap_err();
    assert_eq!(status.code(), Code::Cancelled, "{status:?}");

    let spans = take_spans(&sink, 2).await;
    let client = of_kind(&spans, SpanKind::Client);
    assert_client_deadline_exceeded(client);
    assert_eq!(
        outcomes(&registry, "rpc_client_call_duration_seconds"),
        [("4".to_owned(), "DEADLINE_EXCEEDED".to_owned(), 1)]
    );
    let server = of_kind(&spans, SpanKind::Server);
    assert_eq!(
        attribute(server, "rpc.grpc.status_code").as_deref(),
        Some("1")
    );
    assert!(
        !is_error(server),
        "the client gave up: CANCELLED, no server fault"
    );
}

/// An interceptor (`InterceptedService`, inside tonic's router) that rejects a call before
/// its handler, without reading the request: the status it answers is the server span's and
/// the server metric's (not a server fault), and the client's (failed). The method is no
/// method the server is known to have yet (no call reached a handler): `_OTHER` in the
/// metric labels, as for any call answered before the handler (see the crate docs), while
/// the span keeps its name.
#[tokio::test(flavor = "current_thread")]
async fn an_interceptor_rejecting_a_call_records_its_status_on_both_sides() {
    let (sink, _guard) = capture();
    let registry = obs_metrics::Registry::new();
    let catalog = gated_catalog(Arc::default(), Arc::default());
    let intercepted =
        tonic::service::interceptor::InterceptedService::new(catalog, |request: Request<()>| {
            match request.metadata().get("authorization") {
                Some(_) => Ok(request),
                None => Err(Status::unauthenticated("no credentials")),
            }
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .layer(GrpcServerLayer::new().with_registry(&registry))
            .add_service(intercepted)
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    let status = CatalogClient::new(addr)
        .get(Request::new(ItemRequest::default()))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");

    let spans = take_spans(&sink, 2).await;
    let server = of_kind(&spans, SpanKind::Server);
    let client = of_kind(&spans, SpanKind::Client);
    for span in [server, client] {
        assert_eq!(span.name, "obs.test.Catalog/Get");
        assert_eq!(
            attribute(span, "rpc.grpc.status_code").as_deref(),
            Some("16")
        );
    }
    assert!(!is_error(server), "UNAUTHENTICATED is the caller's error");
    assert_eq!(attribute(server, "error.type"), None);
    assert!(is_error(client));
    assert_eq!(
        attribute(client, "error.type").as_deref(),
        Some("UNAUTHENTICATED")
    );
    let family = registry
        .collect()
        .into_iter()
        .find(|f| f.name == "rpc_server_call_duration_seconds")
        .expect("the duration family");
    let [point] = family.points.as_slice() else {
        panic!("one series: {family:#?}");
    };
    for (key, value) in [
        ("rpc_method", "_OTHER"),
        ("rpc_grpc_status_code", "16"),
        ("error_type", ""),
    ] {
        assert!(
            has_label(&point.labels, key, value),
            "{key}={value}: {point:#?}"
        );
    }
}

/// Whether `labels` hold `key` with `value`.
fn has_label(labels: &[(String, String)], key: &str, value: &str) -> bool {
    labels.iter().any(|(k, v)| k == key && v == value)
}

/// A catalog whose `Get` answers with `count` bytes of name and `Collect` answers with the
/// `id` of the first request of its stream without reading the others; gzip both ways.
#[derive(Clone, Debug)]
struct GzipCatalog;

impl NamedService for GzipCatalog {
    const NAME: &'static str = grpc_common::SERVICE;
}

/// `GzipCatalog`'s `Get`.
struct Named;

impl tonic::server::UnaryService<ItemRequest> for Named {
    type Response = Item;
    type Future = BoxFuture<Result<Response<Item>, Status>>;

    fn call(&mut self, request: Request<ItemRequest>) -> Self::Future {
        let request = request.into_inner();
        let name = "x".repeat(request.count as usize);
        Box::pin(async move {
            Ok(Response::new(Item {
                id: request.id,
                name,
            }))
        })
    }
}

/// `GzipCatalog`'s `Collect`.
struct FirstOnly;

impl tower_service::Service<Request<Streaming<ItemRequest>>> for FirstOnly {
    type Response = Response<Item>;
    type Error = Status;
    type Future = BoxFuture<Result<Response<Item>, Status>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Status>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Streaming<ItemRequest>>) -> Self::Future {
        Box::pin(async move {
            let first = request.into_inner().message().await?.unwrap_or_default();
            Ok(Response::new(Item {
                id: first.id,
                name: String::new(),
            }))
        })
    }
}

impl<B> tower_service::Service<http::Request<B>> for GzipCatalog
where
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        Box::pin(async move {
            let mut grpc = tonic::server::Grpc::new(ProstCodec::<Item, ItemRequest>::default())
                .accept_compressed(CompressionEncoding::Gzip)
                .send_compressed(CompressionEncoding::Gzip);
            Ok(match request.uri().path() {
                "/obs.test.Catalog/Get" => grpc.unary(Named, request).await,
                "/obs.test.Catalog/Collect" => grpc.client_streaming(FirstOnly, request).await,
                _ => Status::unimplemented("no such method").into_http(),
            })
        })
    }
}

/// The metadata key naming a message's compression (PROTOCOL-HTTP2, "Message-Encoding").
const GRPC_ENCODING: http::HeaderName = http::HeaderName::from_static("grpc-encoding");

/// `(rpc_method, count, sum)` of each series of the histogram family `name` in `registry`.
fn per_method(registry: &obs_metrics::Registry, name: &str) -> Vec<(String, u64, f64)> {
    let family = registry.collect().into_iter().find(|f| f.name == name);
    let mut points: Vec<_> = family
        .expect("the family")
        .points
        .into_iter()
        .map(|p| {
            let method = p.labels.iter().find(|(k, _)| k == "rpc_method");
            let method = method.map(|(_, v)| v.clone()).unwrap_or_default();
            match p.value {
                obs_metrics::PointValue::Histogram(h) => (method, h.count, h.sum),
                other => panic!("not a histogram: {other:?}"),
            }
        })
        .collect();
    points.sort_by(|a, b| a.0.cmp(&b.0));
    points
}

/// Messages compressed both ways (`send_compressed` / `accept_compressed`, gzip) are counted
/// from their length prefixes as any others (PROTOCOL-HTTP2: the prefix's flag says
/// compressed, its length is the compressed length); and a client stream the server answers
/// after its first message, the client still streaming, ends both spans OK with the answer.
#[tokio::test(flavor = "current_thread")]
async fn gzip_both_ways_and_a_client_stream_answered_early_are_counted_and_ok() {
    let (sink, _guard) = capture();
    let (server_registry, client_registry) =
        (obs_metrics::Registry::new(), obs_metrics::Registry::new());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .layer(
                GrpcServerLayer::new()
                    .with_registry(&server_registry)
                    .with_request_metadata([GRPC_ENCODING]),
            )
            .add_service(GzipCatalog)
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_lazy();
    let layer = GrpcClientLayer::new()
        .with_registry(&client_registry)
        .with_response_metadata([GRPC_ENCODING])
        .with_server_address(addr.ip().to_string(), Some(addr.port()));
    let traced = tower::ServiceBuilder::new().layer(layer).service(channel);
    let mut grpc = tonic::client::Grpc::new(traced)
        .send_compressed(CompressionEncoding::Gzip)
        .accept_compressed(CompressionEncoding::Gzip);

    grpc.ready().await.unwrap();
    let request = Request::new(ItemRequest { id: 3, count: 4096 });
    let path = PathAndQuery::from_static("/obs.test.Catalog/Get");
    let item = grpc
        .unary(request, path, ProstCodec::<ItemRequest, Item>::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!((item.id, item.name.len()), (3, 4096));

    grpc.ready().await.unwrap();
    // The client never ends its stream: the answer ends the call.
    let requests = futures_util::StreamExt::chain(
        futures_util::stream::iter([ItemRequest { id: 5, count: 0 }]),
        futures_util::stream::pending(),
    );
    let path = PathAndQuery::from_static("/obs.test.Catalog/Collect");
    let item = grpc
        .client_streaming(
            Request::new(requests),
            path,
            ProstCodec::<ItemRequest, Item>::default(),
        )
        .await
        .unwrap()
        .into_inner();
    assert_eq!(item.id, 5);

    let spans = take_spans(&sink, 4).await;
    for span in &spans {
        // Compressed both ways: each side says so in the metadata it captured.
        let encoding = match span.kind {
            SpanKind::Server => "rpc.grpc.request.metadata.grpc-encoding",
            _ => "rpc.grpc.response.metadata.grpc-encoding",
        };
        assert_eq!(
            attribute(span, encoding).as_deref(),
            Some("[\"gzip\"]"),
            "{span:#?}"
        );
        assert_eq!(
            attribute(span, "rpc.grpc.status_code").as_deref(),
            Some("0"),
            "{span:#?}"
        );
        assert!(!is_error(span), "{span:#?}");
    }
    for (side, registry) in [("server", &server_registry), ("client", &client_registry)] {
        assert_eq!(
            per_method(registry, &format!("rpc_{side}_requests_per_rpc")),
            [("Collect".to_owned(), 1, 1.0), ("Get".to_owned(), 1, 1.0)],
            "{side}"
        );
        assert_eq!(
            per_method(registry, &format!("rpc_{side}_responses_per_rpc")),
            [("Collect".to_owned(), 1, 1.0), ("Get".to_owned(), 1, 1.0)],
            "{side}"
        );
    }
}
