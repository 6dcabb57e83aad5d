//! Real tonic servers and clients over loopback, spans in memory: answers that are not gRPC
//! (what a proxy or an authentication layer sends: an HTTP error status, an HTML page)
//! end both spans with the code of their HTTP status (gRPC's
//! doc/http-grpc-status-mapping.md), however the client reads their body; a `200` page with
//! the INTERNAL tonic's client fails on, since its bytes are no gRPC messages; trailers
//! without a `grpc-status` with the UNKNOWN tonic's client infers from them.

mod grpc_common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::task::{Context, Poll};

use grpc_common::spans::{attribute, capture, is_error, of_kind, take_spans};
use grpc_common::{BoxFuture, Item, ItemRequest};
use http::uri::PathAndQuery;
use obs_tonic::{GrpcClientLayer, GrpcServerLayer};
use obs_trace::opentelemetry::trace::SpanKind;
use tonic::server::NamedService;
use tonic::transport::Channel;
use tonic::{Code, Request};
use tonic_prost::ProstCodec;

/// A service answering every call as a proxy whose upstream is down: a `502` HTML page whose
/// first bytes come at once and whose rest never does (a large page, a slow proxy). With
/// another status, a web server answering what it took for a page request (a `200` page).
#[derive(Clone)]
struct BadGateway(u16);

impl NamedService for BadGateway {
    const NAME: &'static str = "obs.test.Gateway";
}

impl<B: Send + 'static> tower_service::Service<http::Request<B>> for BadGateway {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _request: http::Request<B>) -> Self::Future {
        let start = http_body::Frame::data(bytes::Bytes::from_static(b"<html><body>"));
        let frames = futures_util::StreamExt::chain(
            futures_util::stream::iter([Ok::<_, Infallible>(start)]),
            futures_util::stream::pending(),
        );
        let response = http::Response::builder()
            .status(self.0)
            .header("content-type", "text/html")
            .body(tonic::body::Body::new(http_body_util::StreamBody::new(
                frames,
            )))
            .expect("a valid response");
        Box::pin(async move { Ok(response) })
    }
}

/// A service answering every call with a `200` gRPC response whose trailers carry no
/// `grpc-status` (a proxy that dropped it): after a whole message, or after part of one
/// when `cut`.
#[derive(Clone)]
struct NoStatus {
    cut: bool,
}

impl NamedService for NoStatus {
    const NAME: &'static str = "obs.test.NoStatus";
}

impl<B: Send + 'static> tower_service::Service<http::Request<B>> for NoStatus {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _request: http::Request<B>) -> Self::Future {
        // An empty message; or one announcing ten bytes, of which two come.
        let data: &'static [u8] = if self.cut {
            &[0, 0, 0, 0, 10, 1, 2]
        } else {
            &[0, 0, 0, 0, 0]
        };
        let mut trailers = http::HeaderMap::new();
        trailers.insert("grpc-message", http::HeaderValue::from_static("no status"));
        let frames = [
            http_body::Frame::data(bytes::Bytes::from_static(data)),
            http_body::Frame::trailers(trailers),
        ]
        .map(Ok::<_, Infallible>);
        let response = http::Response::builder()
            .header("content-type", "application/grpc")
            .body(tonic::body::Body::new(http_body_util::StreamBody::new(
                futures_util::stream::iter(frames),
            )))
            .expect("a valid response");
        Box::pin(async move { Ok(response) })
    }
}

async fn serve(registry: &obs_metrics::Registry, status: u16) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .layer(GrpcServerLayer::new().with_registry(registry))
            .add_service(BadGateway(status))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    addr
}

/// The `rpc_grpc_status_code` and `error_type` labels of the one series of the duration
/// family `name` of `registry`.
fn outcome(registry: &obs_metrics::Registry, name: &str) -> (String, String) {
    let family = registry
        .collect()
        .into_iter()
        .find(|f| f.name == name)
        .expect("the duration family");
    assert_eq!(family.points.len(), 1, "{family:?}");
    let label = |key: &str| {
        let labels = &family.points[0].labels;
        let found = labels.iter().find(|(k, _)| k == key);
        found.map(|(_, v)| v.clone()).unwrap_or_default()
    };
    (label("rpc_grpc_status_code"), label("error_type"))
}

/// Calls `/obs.test.Gateway/Get` through the client layer on a server answering with a
/// page of HTTP `status`; checks that tonic's caller gets INTERNAL (the page's first byte
/// read as a message's compression flag), and that both spans and both duration series end
/// with `code` (its number and name).
async fn assert_page_ends_both_sides_with(status: u16, code: Code, name: &str) {
    let (sink, _guard) = capture();
    let server_registry = obs_metrics::Registry::new();
    let client_registry = obs_metrics::Registry::new();
    let addr = serve(&server_registry, status).await;
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_lazy();
    let layer = GrpcClientLayer::new()
        .with_registry(&client_registry)
        .with_server_address(addr.ip().to_string(), Some(addr.port()));
    let mut grpc =
        tonic::client::Grpc::new(tower::ServiceBuilder::new().layer(layer).service(channel));
    grpc.ready().await.unwrap();
    let returned = grpc
        .unary(
            Request::new(ItemRequest::default()),
            PathAndQuery::from_static("/obs.test.Gateway/Get"),
            ProstCodec::<ItemRequest, Item>::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(returned.code(), Code::Internal, "{returned:?}");

    let number = (code as i32).to_string();
    let spans = take_spans(&sink, 2).await;
    for kind in [SpanKind::Client, SpanKind::Server] {
        let span = of_kind(&spans, kind.clone());
        assert_eq!(
            attribute(span, "rpc.grpc.status_code").as_deref(),
            Some(number.as_str()),
            "{kind:?}: {span:#?}"
        );
        assert_eq!(attribute(span, "error.type").as_deref(), Some(name));
        assert!(is_error(span), "{kind:?}");
    }
    let expected = (number, name.to_owned());
    assert_eq!(
        outcome(&client_registry, "rpc_client_call_duration_seconds"),
        expected
    );
    assert_eq!(
        outcome(&server_registry, "rpc_server_call_duration_seconds"),
        expected
    );
}

/// tonic's client reads the page's first byte as a message's compression flag, fails the
/// call (INTERNAL) and drops the response unfinished; the server's stream is reset. Neither
/// side cancelled: the call ended with a 502, UNAVAILABLE, on both spans and in both
/// duration metrics, as it does when the page arrives whole.
#[tokio::test(flavor = "current_thread")]
async fn a_502_page_dropped_unread_is_unavailable_on_both_sides() {
    assert_page_ends_both_sides_with(502, Code::Unavailable, "UNAVAILABLE").await;
}

/// A `200` page (a web server at the gRPC address): no HTTP status to map, and its first
/// byte is no compression flag (0 or 1), a protocol error tonic's client fails the call
/// with, INTERNAL (as gRPC's doc/compression.md has an ill-flagged message fail), before
/// dropping the response. Neither side cancelled: INTERNAL on both spans and in both
/// duration metrics, a failure on each side.
#[tokio::test(flavor = "current_thread")]
async fn a_200_page_that_is_no_grpc_stream_is_internal_on_both_sides() {
    assert_page_ends_both_sides_with(200, Code::Internal, "INTERNAL").await;
}

/// Trailers end the stream; without a `grpc-status` in them, tonic's client infers the
/// call's code from the HTTP status, UNKNOWN for a `200`, whether a whole message came
/// before or part of one. Both spans end with it: not CANCELLED on the server (whose
/// stream is over once the trailers are sent, though its body never says it has ended),
/// nor INTERNAL on the client for the message cut short (tonic reads the trailers first).
#[tokio::test(flavor = "current_thread")]
async fn trailers_without_grpc_status_are_unknown_on_both_sides() {
    for cut in [false, true] {
        let (sink, _guard) = capture();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(
            tonic::transport::Server::builder()
                .layer(GrpcServerLayer::new())
                .add_service(NoStatus { cut })
                .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
        );
        let channel = Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect_lazy();
        let layer =
            GrpcClientLayer::new().with_server_address(addr.ip().to_string(), Some(addr.port()));
        let mut grpc =
            tonic::client::Grpc::new(tower::ServiceBuilder::new().layer(layer).service(channel));
        grpc.ready().await.unwrap();
        let returned = grpc
            .unary(
                Request::new(ItemRequest::default()),
                PathAndQuery::from_static("/obs.test.NoStatus/Get"),
                ProstCodec::<ItemRequest, Item>::default(),
            )
            .await
            .unwrap_err();
        assert_eq!(returned.code(), Code::Unknown, "{returned:?}");

        let spans = take_spans(&sink, 2).await;
        for kind in [SpanKind::Client, SpanKind::Server] {
            let span = of_kind(&spans, kind.clone());
            assert_eq!(
                attribute(span, "rpc.grpc.status_code").as_deref(),
                Some("2"),
                "cut {cut}, {kind:?}: {span:#?}"
            );
            assert_eq!(attribute(span, "error.type").as_deref(), Some("UNKNOWN"));
            assert!(is_error(span), "cut {cut}, {kind:?}");
        }
    }
}
