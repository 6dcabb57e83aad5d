//! The server and client layers over real loopback connections: axum and plain hyper
//! servers, reqwest and hyper-util clients, and a raw TCP client for what those clients
//! never send. Each test installs its span sink on its own thread and runs a
//! current-thread runtime, so the server's connection tasks record into that sink.

// The workspace's bounded condition wait (obs-core's test support); only its async half
// serves here.
#[path = "../../obs-core/tests/support/wait.rs"]
pub mod wait;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Path;
use axum::routing::{get, post};
use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::BodyExt;
use obs_tower::{HttpClientLayer, HttpServerLayer, Layer};
use obs_trace::opentelemetry::Value;
use obs_trace::opentelemetry::trace::{SpanKind, Status};
use obs_trace::{InMemorySpanSink, SpanData, SpanLayer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceExt;
use tracing_subscriber::prelude::*;

/// How long a test waits for what happens on the other end of a connection.
const WAIT: Duration = Duration::from_secs(10);

/// Installs a subscriber with the span layer for this thread; spans land in the sink.
fn install() -> (InMemorySpanSink, tracing::subscriber::DefaultGuard) {
    let sink = InMemorySpanSink::new();
    let subscriber =
        tracing_subscriber::registry().with(SpanLayer::new().with_sink(Arc::new(sink.clone())));
    (sink, tracing::subscriber::set_default(subscriber))
}

fn attr(span: &SpanData, key: &str) -> Option<Value> {
    span.attribute(key).cloned()
}

fn str_attr(span: &SpanData, key: &str) -> Option<String> {
    attr(span, key).map(|v| v.as_str().into_owned())
}

fn spans_of(sink: &InMemorySpanSink, kind: SpanKind) -> Vec<SpanData> {
    sink.spans()
        .into_iter()
        .filter(|s| s.kind == kind)
        .collect()
}

/// Waits until `count` spans of `kind` have ended, and returns them.
async fn ended(sink: &InMemorySpanSink, kind: SpanKind, count: usize) -> Vec<SpanData> {
    let arrived = wait::wait_until(WAIT, || spans_of(sink, kind.clone()).len() >= count).await;
    let spans = spans_of(sink, kind.clone());
    assert!(arrived, "{count} {kind:?} spans expected, got {spans:#?}");
    assert_eq!(spans.len(), count, "{spans:#?}");
    spans
}

/// Every `http.server.active_requests` series of `registry`, by labels.
fn active_requests(registry: &obs_metrics::Registry) -> Vec<(Vec<(String, String)>, i64)> {
    family(registry, "http_server_active_requests")
        .points
        .into_iter()
        .map(|p| match p.value {
            obs_metrics::PointValue::I64(v) => (p.labels, v),
            other => panic!("not an up-down counter: {other:?}"),
        })
        .collect()
}

/// Waits until every active-requests series of `registry` is back at 0.
async fn no_active_requests(registry: &obs_metrics::Registry) {
    let idle = wait::wait_until(WAIT, || {
        active_requests(registry).iter().all(|(_, v)| *v == 0)
    })
    .await;
    assert!(idle, "{:?}", active_requests(registry));
}

/// The request count of every series of the duration histogram `name`, by labels.
fn durations(registry: &obs_metrics::Registry, name: &str) -> Vec<(Vec<(String, String)>, u64)> {
    let mut points: Vec<_> = family(registry, name)
        .points
        .into_iter()
        .map(|p| match p.value {
            obs_metrics::PointValue::Histogram(h) => (p.labels, h.count),
            other => panic!("not a histogram: {other:?}"),
        })
        .collect();
    points.sort();
    points
}

fn family(registry: &obs_metrics::Registry, name: &str) -> obs_metrics::MetricFamilySnapshot {
    registry
        .collect()
        .into_iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("no family {name}"))
}

fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Serves `router` with `axum::serve` (HTTP/1.1 and h2c) on a free loopback port.
async fn serve(router: Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service = router.into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, service).await });
    addr
}

/// Sends `request` as raw bytes and reads the reply until the server closes.
async fn raw(addr: SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut reply = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut reply))
        .await
        .expect("the server closes the connection")
        .unwrap();
    String::from_utf8_lossy(&reply).into_owned()
}

/// Reads a response head (up to its blank line) byte by byte, leaving what follows unread.
async fn read_head(stream: &mut TcpStream) -> Vec<u8> {
    let mut head = Vec::new();
    let read = async {
        while !head.ends_with(b"\r\n\r\n") && head.len() < 8192 {
            head.push(stream.read_u8().await.unwrap());
        }
    };
    tokio::time::timeout(WAIT, read)
        .await
        .expect("the server sends a response head");
    head
}

async fn status(Path(code): Path<u16>) -> StatusCode {
    StatusCode::from_u16(code).unwrap()
}

/// A body the test feeds frame by frame: `/stream` answers with the next one handed over.
#[derive(Clone, Default)]
struct Streams(Arc<Mutex<Vec<Body>>>);

impl Streams {
    /// The sender of the body the next `/stream` request answers with.
    fn next(&self) -> http_body_util::channel::Sender<Bytes, std::io::Error> {
        let (sender, body) = http_body_util::channel::Channel::<Bytes, std::io::Error>::new(1);
        self.0.lock().unwrap().push(Body::new(body));
        sender
    }
}

fn app(registry: &obs_metrics::Registry, streams: Streams) -> Router {
    Router::new()
        .route("/ok", get(|| async { "hello" }))
        .route("/status/{code}", get(status))
        .route("/empty", get(|| async { "" }))
        .route(
            "/stream",
            get(move || {
                let body = streams
                    .0
                    .lock()
                    .unwrap()
                    .pop()
                    .expect("a stream handed over");
                async move { Response::new(body) }
            }),
        )
        .route("/pending", get(std::future::pending::<&'static str>))
        .route("/echo", post(|body: Bytes| async move { body }))
        .route("/unread", post(|| async { "unread" }))
        .layer(HttpServerLayer::new().with_registry(registry))
}

#[tokio::test(flavor = "current_thread")]
async fn keep_alive_requests_on_one_connection_each_get_their_span() {
    let (sink, _guard) = install();
    let registry = obs_metrics::Registry::new();
    let addr = serve(app(&registry, Streams::default())).await;
    let client = reqwest::Client::new();
    for _ in 0..5 {
        let response = client
            .get(format!("http://{addr}/ok"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.text().await.unwrap(), "hello");
    }
    let spans = ended(&sink, SpanKind::Server, 5).await;
    let peer_port = attr(&spans[0], "network.peer.port").expect("a peer port");
    for span in &spans {
        assert_eq!(span.name, "GET /ok");
        assert_eq!(
            attr(span, "network.peer.port"),
            Some(peer_port.clone()),
            "one connection"
        );
        assert_eq!(
            str_attr(span, "network.protocol.version").as_deref(),
            Some("1.1")
        );
        assert_eq!(
            str_attr(span, "server.address").as_deref(),
            Some("127.0.0.1")
        );
        assert_eq!(
            attr(span, "server.port"),
            Some(Value::I64(i64::from(addr.port())))
        );
    }
    no_active_requests(&registry).await;
}

#[tokio::test(flavor = "current_thread")]
async fn h2c_with_prior_knowledge_is_protocol_version_2_on_both_sides() {
    let (sink, _guard) = install();
    let registry = obs_metrics::Registry::new();
    let addr = serve(app(&registry, Streams::default())).await;
    let client_registry = obs_metrics::Registry::new();
    let client = HttpClientLayer::new()
        .with_registry(&client_registry)
        .layer(
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .http2_only(true)
                .build_http::<http_body_util::Empty<Bytes>>(),
        );
    let request = Request::get(format!("http://{addr}/ok"))
        .body(http_body_util::Empty::new())
        .unwrap();
    let response = client.oneshot(request).await.unwrap();
    assert_eq!(response.version(), http::Version::HTTP_2);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "hello");
    let server = ended(&sink, SpanKind::Server, 1).await;
    let client = ended(&sink, SpanKind::Client, 1).await;
    for span in [&server[0], &client[0]] {
        assert_eq!(
            str_attr(span, "network.protocol.version").as_deref(),
            Some("2")
        );
        assert_eq!(
            str_attr(span, "server.address").as_deref(),
            Some("127.0.0.1")
        );
        assert_eq!(
            attr(span, "server.port"),
            Some(Value::I64(i64::from(addr.port())))
        );
    }
    assert_eq!(server[0].parent_span_id, client[0].span_context.span_id);
    no_active_requests(&registry).await;
    // Semantic conventions: `network.protocol.version` is a Recommended attribute of both
    // duration metrics.
    let port = addr.port().to_string();
    assert_eq!(
        durations(&registry, "http_server_request_duration_seconds"),
        [(
            labels(&[
                ("http_request_method", "GET"),
                ("url_scheme", "http"),
                ("http_route", "/ok"),
                ("network_protocol_version", "2"),
                ("http_response_status_code", "200"),
            ]),
            1
        )]
    );
    assert_eq!(
        durations(&client_registry, "http_client_request_duration_seconds"),
        [(
            labels(&[
                ("http_request_method", "GET"),
                ("server_address", "127.0.0.1"),
                ("server_port", &port),
                ("network_protocol_version", "2"),
                ("http_response_status_code", "200"),
            ]),
            1
        )]
    );
}

#[tokio::test(flavor = "current_thread")]
async fn plain_hyper_serves_http_1_1_and_h2c_through_the_layer() {
    let (sink, _guard) = install();
    let registry = obs_metrics::Registry::new();
    let layer = HttpServerLayer::new().with_registry(&registry);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (peers_tx, mut peers) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let (stream, peer) = listener.accept().await.unwrap();
            let _ = peers_tx.send(peer);
            // hyper records no peer address where the layer looks: the server gives it.
            let service = tower::ServiceBuilder::new()
                .map_request(move |mut request: Request<hyper::body::Incoming>| {
                    request.extensions_mut().insert(obs_tower::PeerAddr(peer));
                    request
                })
                .layer(layer.clone())
                .service_fn(|_req: Request<hyper::body::Incoming>| async {
                    Ok::<_, Infallible>(Response::new(http_body_util::Full::new(
                        Bytes::from_static(b"plain"),
                    )))
                });
            let service = hyper_util::service::TowerToHyperService::new(service);
            tokio::spawn(async move {
                let builder = hyper_util::server::conn::auto::Builder::new(
                    hyper_util::rt::TokioExecutor::new(),
                );
                let _ = builder
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    for http2 in [false, true] {
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .http2_only(http2)
                .build_http::<http_body_util::Empty<Bytes>>();
        let response = client
            .get(format!("http://{addr}/plain").parse().unwrap())
            .await
            .unwrap();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, "plain");
    }
    let spans = ended(&sink, SpanKind::Server, 2).await;
    let versions: Vec<_> = spans
        .iter()
        .map(|s| str_attr(s, "network.protocol.version").unwrap())
        .collect();
    assert_eq!(versions, ["1.1", "2"]);
    for span in &spans {
        assert_eq!(span.name, "GET");
        assert_eq!(str_attr(span, "url.path").as_deref(), Some("/plain"));
        assert_eq!(
            str_attr(span, "server.address").as_deref(),
            Some("127.0.0.1")
        );
        let peer = peers.recv().await.expect("one connection per request");
        assert_eq!(
            str_attr(span, "client.address").as_deref(),
            Some("127.0.0.1")
        );
        assert_eq!(
            attr(span, "network.peer.port"),
            Some(Value::I64(i64::from(peer.port())))
        );
    }
    no_active_requests(&registry).await;
}

#[tokio::test(flavor = "current_thread")]
async fn an_http_1_0_request_without_host_has_no_server_address() {
    let (sink, _guard) = install();
    let registry = obs_metrics::Registry::new();
    let addr = serve(app(&registry, Streams::default())).await;
    let reply = raw(addr, b"GET /ok HTTP/1.0\r\n\r\n").await;
    assert!(reply.starts_with("HTTP/1.0 200"), "{reply}");
    let span = &ended(&sink, SpanKind::Server, 1).await[0];
    assert_eq!(
        str_attr(span, "network.protocol.version").as_deref(),
        Some("1.0")
    );
    assert_eq!(attr(span, "server.address"), None);
    assert_eq!(attr(span, "server.port"), None);
    assert_eq!(
        attr(span, "http.response.status_code"),
        Some(Value::I64(200))
    );
    no_active_requests(&registry).await;
}

#[tokio::test(flavor = "current_thread")]
async fn bodiless_responses_end_their_span_and_request() {
    let (sink, _guard) = install();
    let registry = obs_metrics::Registry::new();
    let addr = serve(app(&registry, Streams::default())).await;
    let client = reqwest::Client::new();
    let head = client
        .head(format!("http://{addr}/ok"))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(head.text().await.unwrap(), "");
    for (path, code) in [("/status/204", 204), ("/status/304", 304), ("/empty", 200)] {
        let response = client
            .get(format!("http://{addr}{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), code);
        assert_eq!(response.text().await.unwrap(), "");
    }
    let spans = ended(&sink, SpanKind::Server, 4).await;
    let mut seen: Vec<_> = spans
        .iter()
        .map(|s| {
            (
                s.name.to_string(),
                attr(s, "http.response.status_code"),
                s.status.clone(),
            )
        })
        .collect();
    seen.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        seen,
        [
            (
                "GET /empty".to_owned(),
                Some(Value::I64(200)),
                Status::Unset
            ),
            (
                "GET /status/{code}".to_owned(),
                Some(Value::I64(204)),
                Status::Unset
            ),
            (
                "GET /status/{code}".to_owned(),
                Some(Value::I64(304)),
                Status::Unset
            ),
            ("HEAD /ok".to_owned(), Some(Value::I64(200)), Status::Unset),
        ]
    );
    no_active_requests(&registry).await;
    let total: u64 = durations(&registry, "http_server_request_duration_seconds")
        .iter()
        .map(|(_, count)| count)
        .sum();
    assert_eq!(total, 4);
}

#[tokio::test(flavor = "current_thread")]
async fn a_streamed_body_ends_the_span_after_its_last_frame() {
    let (sink, _guard) = install();
    let registry = obs_metrics::Registry::new();
    let streams = Streams::default();
    let mut sender = streams.next();
    let addr = serve(app(&registry, streams)).await;
    let mut response = reqwest::get(format!("http://{addr}/stream")).await.unwrap();
    for frame in ["data: 1\n\n", "data: 2\n\n", "data: 3\n\n"] {
        sender
            .send_data(Bytes::from_static(frame.as_bytes()))
            .await
            .unwrap();
        assert_eq!(response.chunk().await.unwrap().unwrap(), frame);
        assert!(
            spans_of(&sink, SpanKind::Server).is_empty(),
            "ended mid-stream"
        );
        assert_eq!(active_requests(&registry)[0].1, 1);
    }
    drop(sender);
    assert_eq!(response.chunk().await.unwrap(), None);
    let span = &ended(&sink, SpanKind::Server, 1).await[0];
    assert_eq!(span.status, Status::Unset);
    assert_eq!(attr(span, "error.type"), None);
    no_active_requests(&registry).await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_body_failing_mid_stream_fails_the_span() {
    let (sink, _guard) = install();
    let registry = obs_metrics::Registry::new();
    let streams = Streams::default();
    let mut sender = streams.next();
    let addr = serve(app(&registry, streams)).await;
    let mut response = reqwest::get(format!("http://{addr}/stream")).await.unwrap();
    sender
        .send_data(Bytes::from_static(b"data: 1\n\n"))
        .await
        .unwrap();
    assert_eq!(response.chunk().await.unwrap().unwrap(), "data: 1\n\n");
    sender.abort(std::io::Error::other("the source went away"));
    assert!(
        response.chunk().await.is_err(),
        "the client sees a cut-off body"
    );
    let span = &ended(&sink, SpanKind::Server, 1).await[0];
    assert!(matches!(span.status, Status::Error { .. }), "{span:?}");
    assert_eq!(
        attr(span, "http.response.status_code"),
        Some(Value::I64(200))
    );
    // axum boxes every body error into its own type.
    assert_eq!(
        str_attr(span, "error.type").as_deref(),
        Some("axum_core::error::Error")
    );
    no_active_requests(&registry).await;
    assert_one_failed_stream(&registry, "axum_core::error::Error");
}

/// The `/stream` request's duration was recorded once, a 200 that failed with `error_type`.
fn assert_one_failed_stream(registry: &obs_metrics::Registry, error_type: &str) {
    assert_eq!(
        durations(registry, "http_server_request_duration_seconds"),
        [(
            labels(&[
                ("http_request_method", "GET"),
                ("url_scheme", "http"),
                ("http_route", "/stream"),
                ("network_protocol_version", "1.1"),
                ("http_response_status_code", "200"),
                ("error_type", error_type),
            ]),
            1
        )]
    );
}

/// HTTP spans, `error.type`: a request that "ends with an error". A response the server
/// could not deliver in full (the client left in the middle of the body) is one: the span
/// keeps the status sent and fails, `error.type` `CANCELLED`.
#[tokio::test(flavor = "current_thread")]
async fn a_client_leaving_mid_response_fails_the_request() {
    let (sink, _guard) = install();
    let registry = obs_metrics::Registry::new();
    let streams = Streams::default();
    let mut sender = streams.next();
    let addr = serve(app(&registry, streams)).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /stream HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    sender
        .send_data(Bytes::from_static(b"data: 1\n\n"))
        .await
        .unwrap();
    assert!(read_head(&mut stream).await.starts_with(b"HTTP/1.1 200"));
    drop(stream);
    // The server finds out when writing: frames go until the body is dropped.
    let gone = tokio::time::timeout(WAIT, async {
        for _ in 0..100_000 {
            if sender
                .send_data(Bytes::from_static(b"data: n\n\n"))
                .await
                .is_err()
            {
                return;
            }
        }
        panic!("the server kept taking frames for a client that left");
    })
    .await;
    assert!(
        gone.is_ok(),
        "the server kept the body of a client that left"
    );
    let span = &ended(&sink, SpanKind::Server, 1).await[0];
    assert_eq!(
        attr(span, "http.response.status_code"),
        Some(Value::I64(200))
    );
    assert!(matches!(span.status, Status::Error { .. }), "{span:?}");
    assert_eq!(str_attr(span, "error.type").as_deref(), Some("CANCELLED"));
    no_active_requests(&registry).await;
    assert_one_failed_stream(&registry, "CANCELLED");
}

/// Bodies hyper stops polling before their end because the protocol needs no more of them
/// (a `HEAD` request, a `204` or `304`, a `Content-Length` reached by a stream that has not
/// said it ended): delivered in full, so no failure.
#[tokio::test(flavor = "current_thread")]
async fn bodies_the_protocol_cuts_short_are_not_failures() {
    let (sink, _guard) = install();
    let registry = obs_metrics::Registry::new();
    let layer = HttpServerLayer::new().with_registry(&registry);
    let service = tower::ServiceBuilder::new().layer(layer).service_fn(
        |request: Request<hyper::body::Incoming>| async move {
            let (mut sender, body) = http_body_util::channel::Channel::<Bytes, Infallible>::new(1);
            let mut response = Response::new(body);
            match request.uri().path() {
                "/no-content" => *response.status_mut() = StatusCode::NO_CONTENT,
                "/not-modified" => *response.status_mut() = StatusCode::NOT_MODIFIED,
                _ => {
                    response
                        .headers_mut()
                        .insert(header::CONTENT_LENGTH, 5.into());
                }
            }
            // Five bytes, and the stream stays open for good: the task, which never ends,
            // keeps the sender.
            tokio::spawn(async move {
                let _ = sender.send_data(Bytes::from_static(b"12345")).await;
                std::future::pending::<()>().await;
            });
            Ok::<_, Infallible>(response)
        },
    );
    let addr = serve_http1(service).await;
    let client = reqwest::Client::new();
    for (method, path, status, body) in [
        (http::Method::GET, "/sized", 200, "12345"),
        (http::Method::HEAD, "/sized", 200, ""),
        (http::Method::GET, "/no-content", 204, ""),
        (http::Method::GET, "/not-modified", 304, ""),
    ] {
        let response = client
            .request(method, format!("http://{addr}{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), status);
        assert_eq!(response.text().await.unwrap(), body);
    }
    for span in ended(&sink, SpanKind::Server, 4).await {
        assert_eq!(span.status, Status::Unset, "{span:?}");
        assert_eq!(attr(&span, "error.type"), None, "{span:?}");
    }
    no_active_requests(&registry).await;
}

/// A streamed body against its `Content-Length` (hyper frames the response by it): one
/// ending short of it leaves the client an incomplete response (over HTTP/1.1 hyper closes
/// the connection, over HTTP/2 the client resets the stream), one going past it gives an
/// HTTP/1.1 client the whole announced response (hyper cuts the rest and drops the body:
/// delivered, not a client that left) and an HTTP/2 client a malformed one (RFC 9113
/// §8.1.1: it resets the stream). The failures are the server's, `content_length_mismatch`.
#[tokio::test(flavor = "current_thread")]
async fn a_body_that_does_not_match_its_content_length_fails_where_the_client_gets_no_response() {
    let (sink, _guard) = install();
    let registry = obs_metrics::Registry::new();
    let router = Router::new()
        .route(
            "/{length}",
            get(|Path(length): Path<String>| async move {
                let (mut sender, body) =
                    http_body_util::channel::Channel::<Bytes, Infallible>::new(1);
                let mut response = Response::new(Body::new(body));
                response
                    .headers_mut()
                    .insert(header::CONTENT_LENGTH, 10.into());
                let data: &'static [u8] = match length.as_str() {
                    "short" => b"12345",
                    _ => b"123456789012345",
                };
                // One frame, then the end of the stream (the sender dropped).
                tokio::spawn(async move {
                    let _ = sender.send_data(Bytes::from_static(data)).await;
                });
                response
            }),
        )
        .layer(HttpServerLayer::new().with_registry(&registry));
    let addr = serve(router).await;
    let http1 = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Empty<Bytes>>();
    let http2 = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .http2_only(true)
        .build_http::<http_body_util::Empty<Bytes>>();
    let mut received = Vec::new();
    for (client, version) in [(&http1, "1.1"), (&http2, "2")] {
        for length in ["short", "long"] {
            let uri = format!("http://{addr}/{length}").parse().unwrap();
            let response = client.get(uri).await.unwrap();
            let body = response.into_body().collect().await;
            received.push((version, length, body.map(|b| b.to_bytes()).ok()));
        }
    }
    assert_eq!(
        received,
        [
            ("1.1", "short", None),
            ("1.1", "long", Some(Bytes::from_static(b"1234567890"))),
            ("2", "short", None),
            ("2", "long", None),
        ]
    );
    let spans = ended(&sink, SpanKind::Server, 4).await;
    let mut outcomes: Vec<_> = spans
        .iter()
        .map(|span| {
            (
                str_attr(span, "network.protocol.version").unwrap(),
                str_attr(span, "url.path").unwrap(),
                str_attr(span, "error.type"),
                matches!(span.status, Status::Error { .. }),
            )
        })
        .collect();
    outcomes.sort();
    let mismatch = Some("content_length_mismatch".to_owned());
    assert_eq!(
        outcomes,
        [
            ("1.1".to_owned(), "/long".to_owned(), None, false),
            (
                "1.1".to_owned(),
                "/short".to_owned(),
                mismatch.clone(),
                true
            ),
            ("2".to_owned(), "/long".to_owned(), mismatch.clone(), true),
            ("2".to_owned(), "/short".to_owned(), mismatch.clone(), true),
        ]
    );
    no_active_requests(&registry).await;
    let error_types: Vec<_> = durations(&registry, "http_server_request_duration_seconds")
        .into_iter()
        .map(|(labels, count)| {
            let error_type = labels.into_iter().find(|(k, _)| k == "error_type");
            (error_type.map(|(_, v)| v), count)
        })
        .collect();
    assert_eq!(error_types.iter().map(|(_, count)| count).sum::<u64>(), 4);
    assert_eq!(
        error_types
            .iter()
            .filter(|(e, _)| *e == mismatch)
            .map(|(_, c)| c)
            .sum::<u64>(),
        3
    );
}

/// Serves `service` with plain hyper, HTTP/1.1 only, on a free loopback port.
async fn serve_http1<S, B>(service: S) -> SocketAddr
where
    S: tower::Service<Request<hyper::body::Incoming>, Response = Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let service = hyper_util::service::TowerToHyperService::new(service.clone());
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service),
            );
        }
    });
    addr
}

#[tokio::test(flavor = "current_thread")]
async fn a_client_leaving_before_the_response_ends_the_request() {
    let (sink, _guard) = install();
    let registry = obs_metrics::Registry::new();
    let addr = serve(app(&registry, Streams::default())).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /pending HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let started = wait::wait_until(WAIT, || {
        active_requests(&registry).first().is_some_and(|a| a.1 == 1)
    })
    .await;
    assert!(started);
    drop(stream);
    let span = &ended(&sink, SpanKind::Server, 1).await[0];
    assert_eq!(span.status, Status::Unset);
    assert_eq!(attr(span, "http.response.status_code"), None);
    no_active_requests(&registry).await;
}

/// Echoes the first 4 bytes sent over the connection `upgrade` hands over: the protocol
/// these tests upgrade to.
fn echo_four_bytes(upgrade: hyper::upgrade::OnUpgrade) {
    tokio::spawn(async move {
        let mut io = hyper_util::rt::TokioIo::new(upgrade.await.unwrap());
        let mut ping = [0; 4];
        io.read_exact(&mut ping).await.unwrap();
        io.write_all(&ping).await.unwrap();
    });
}

/// Switches the connection to the echo protocol.
async fn switch_to_echo(mut request: Request<Body>) -> Response<Body> {
    echo_four_bytes(hyper::upgrade::on(&mut request));
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONNECTION, "upgrade")
        .header(header::UPGRADE, "echo")
        .body(Body::empty())
        .unwrap()
}

#[tokio::test(flavor = "current_thread")]
async fn an_upgraded_connection_ends_the_request_at_101() {
    let (sink, _guard) = install();
    let registry = obs_metrics::Registry::new();
    let router = Router::new()
        .route("/ws", get(switch_to_echo))
        .layer(HttpServerLayer::new().with_registry(&registry));
    let addr = serve(router).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(
            b"GET /ws HTTP/1.1\r\nHost: localhost\r\nConnection: upgrade\r\nUpgrade: echo\r\n\r\n",
        )
        .await
        .unwrap();
    let head = read_head(&mut stream).await;
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    // The request is over once the protocol switched, while the connection lives on.
    let span = &ended(&sink, SpanKind::Server, 1).await[0];
    assert_eq!(
        attr(span, "http.response.status_code"),
        Some(Value::I64(101))
    );
    assert_eq!(span.status, Status::Unset);
    no_active_requests(&registry).await;
    stream.write_all(b"ping").await.unwrap();
    let mut pong = [0; 4];
    tokio::time::timeout(WAIT, stream.read_exact(&mut pong))
        .await
        .expect("the upgraded connection answers")
        .unwrap();
    assert_eq!(&pong, b"ping");
}

#[tokio::test(flavor = "current_thread")]
async fn a_connect_tunnel_ends_the_request_at_its_2xx_and_carries_on() {
    let (sink, _guard) = install();
    let registry = obs_metrics::Registry::new();
    let layer = HttpServerLayer::new().with_registry(&registry);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // A forward proxy's CONNECT: a 2xx turns the connection into a tunnel (RFC 9110
    // §9.3.6), which hyper hands over as an upgrade; here the tunnel echoes.
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let service = tower::ServiceBuilder::new().layer(layer).service_fn(
            |mut request: Request<hyper::body::Incoming>| async move {
                echo_four_bytes(hyper::upgrade::on(&mut request));
                Ok::<_, Infallible>(Response::new(http_body_util::Empty::<Bytes>::new()))
            },
        );
        let builder =
            hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
        let _ = builder
            .serve_connection_with_upgrades(
                hyper_util::rt::TokioIo::new(stream),
                hyper_util::service::TowerToHyperService::new(service),
            )
            .await;
    });
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"CONNECT db.internal:5432 HTTP/1.1\r\nHost: db.internal:5432\r\n\r\n")
        .await
        .unwrap();
    let head = read_head(&mut stream).await;
    assert!(
        head.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    let span = &ended(&sink, SpanKind::Server, 1).await[0];
    assert_eq!(span.name, "CONNECT");
    assert_eq!(
        attr(span, "http.response.status_code"),
        Some(Value::I64(200))
    );
    // The authority-form target is the tunnel's end, and the Host.
    assert_eq!(
        str_attr(span, "server.address").as_deref(),
        Some("db.internal")
    );
    assert_eq!(attr(span, "server.port"), Some(Value::I64(5432)));
    // `url.path` is Required on a server span; an authority-form target's rebuilt URI has
    // an empty path and no query (RFC 9112 §3.3): the path is "", and there is no
    // `url.query`.
    assert_eq!(str_attr(span, "url.path").as_deref(), Some(""));
    assert_eq!(attr(span, "url.query"), None);
    no_active_requests(&registry).await;
    stream.write_all(b"ping").await.unwrap();
    let mut pong = [0; 4];
    tokio::time::timeout(WAIT, stream.read_exact(&mut pong))
        .await
        .expect("the tunnel answers")
        .unwrap();
    assert_eq!(&pong, b"ping");
}

#[tokio::test(flavor = "current_thread")]
async fn asterisk_form_and_expect_continue_requests_end_their_spans() {
    let (sink, _guard) = install();
    let registry = obs_metrics::Registry::new();
    let addr = serve(app(&registry, Streams::default())).await;
    let reply = raw(
        addr,
        b"OPTIONS * HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(reply.starts_with("HTTP/1.1 404"), "{reply}");
    // hyper sends `100 Continue` when the handler first reads the body, and never when it
    // answers without reading it.
    let reply = raw(
        addr,
        b"POST /echo HTTP/1.1\r\nHost: b\r\nExpect: 100-continue\r\n\
          Content-Length: 5\r\nConnection: close\r\n\r\nhello",
    )
    .await;
    assert!(
        reply.starts_with("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200"),
        "{reply}"
    );
    assert!(reply.ends_with("hello"), "{reply}");
    let reply = raw(
        addr,
        b"POST /unread HTTP/1.1\r\nHost: c\r\nExpect: 100-continue\r\n\
          Content-Length: 5\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    let spans = ended(&sink, SpanKind::Server, 3).await;
    let seen: Vec<_> = spans
        .iter()
        .map(|s| {
            (
                s.name.to_string(),
                str_attr(s, "url.path").unwrap(),
                attr(s, "http.response.status_code"),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            // RFC 9112 §3.3: an asterisk-form target's URI has an empty path and query, so
            // `url.path` (the URI's path component) is "", as for an authority-form CONNECT;
            // not the "*" `http` gives as the path.
            ("OPTIONS".to_owned(), String::new(), Some(Value::I64(404))),
            (
                "POST /echo".to_owned(),
                "/echo".to_owned(),
                Some(Value::I64(200))
            ),
            (
                "POST /unread".to_owned(),
                "/unread".to_owned(),
                Some(Value::I64(200))
            ),
        ]
    );
    no_active_requests(&registry).await;
}

#[tokio::test(flavor = "current_thread")]
async fn an_http2_request_without_authority_has_no_server_address() {
    let (sink, _guard) = install();
    let registry = obs_metrics::Registry::new();
    let addr = serve(app(&registry, Streams::default())).await;
    let io = hyper_util::rt::TokioIo::new(TcpStream::connect(addr).await.unwrap());
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), io)
            .await
            .unwrap();
    tokio::spawn(connection);
    // An origin-form URI: no `:authority` pseudo-header, and no Host either.
    let request = Request::get("/ok")
        .body(http_body_util::Empty::<Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "hello");
    let span = &ended(&sink, SpanKind::Server, 1).await[0];
    assert_eq!(span.name, "GET /ok");
    assert_eq!(
        str_attr(span, "network.protocol.version").as_deref(),
        Some("2")
    );
    assert_eq!(attr(span, "server.address"), None);
    assert_eq!(attr(span, "server.port"), None);
    no_active_requests(&registry).await;
}

/// tower-http's `CatchPanic` around the server layer: the panic went through the layer,
/// which ends the request failed with `error.type` `panic` (and no status: the 500 is made
/// outside). Inside it: the layer sees the 500 the client gets, a server error like any.
/// Either way the request is counted once and is no longer active.
#[tokio::test(flavor = "current_thread")]
async fn a_panic_caught_by_catch_panic_is_a_failed_request_and_a_500() {
    let (sink, _guard) = install();
    let boom = || {
        Router::new().route(
            "/boom",
            get(|| async {
                if true {
                    panic!("the handler panicked");
                }
                ""
            }),
        )
    };
    let catch_panic = tower_http::catch_panic::CatchPanicLayer::new;
    let expected = [
        (None, "panic", "around"),
        (Some(Value::I64(500)), "500", "inside"),
    ];
    for (status, error_type, placement) in expected {
        let registry = obs_metrics::Registry::new();
        let layer = HttpServerLayer::new().with_registry(&registry);
        let router = match placement {
            "around" => boom().layer(layer).layer(catch_panic()),
            _ => boom().layer(catch_panic()).layer(layer),
        };
        let addr = serve(router).await;
        let response = reqwest::get(format!("http://{addr}/boom")).await.unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let span = &ended(&sink, SpanKind::Server, 1).await[0];
        assert!(matches!(span.status, Status::Error { .. }), "{placement}");
        assert_eq!(str_attr(span, "error.type").as_deref(), Some(error_type));
        assert_eq!(attr(span, "http.response.status_code"), status);
        no_active_requests(&registry).await;
        let counted: Vec<_> = durations(&registry, "http_server_request_duration_seconds")
            .into_iter()
            .map(|(labels, count)| (labels.last().cloned().unwrap(), count))
            .collect();
        let error_label = ("error_type".to_owned(), error_type.to_owned());
        assert_eq!(counted, [(error_label, 1)], "{placement}");
        sink.take();
    }
}

/// The server span of one raw `request` to the app.
async fn raw_span(request: &[u8]) -> SpanData {
    let (sink, _guard) = install();
    let registry = obs_metrics::Registry::new();
    let addr = serve(app(&registry, Streams::default())).await;
    let reply = raw(addr, request).await;
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    no_active_requests(&registry).await;
    ended(&sink, SpanKind::Server, 1).await.remove(0)
}

#[tokio::test(flavor = "current_thread")]
async fn server_address_on_the_wire() {
    let span = raw_span(b"GET /ok HTTP/1.1\r\nHost: [::1]:8443\r\nConnection: close\r\n\r\n").await;
    assert_eq!(str_attr(&span, "server.address").as_deref(), Some("::1"));
    assert_eq!(attr(&span, "server.port"), Some(Value::I64(8443)));

    // RFC 9112 §3.2.2: a request target in absolute form overrides Host.
    let span = raw_span(
        b"GET http://api.example:9000/ok?x=1 HTTP/1.1\r\nHost: other:1\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(
        str_attr(&span, "server.address").as_deref(),
        Some("api.example")
    );
    assert_eq!(attr(&span, "server.port"), Some(Value::I64(9000)));
    assert_eq!(str_attr(&span, "url.path").as_deref(), Some("/ok"));
    assert_eq!(str_attr(&span, "url.query").as_deref(), Some("x=1"));
    assert_eq!(span.name, "GET /ok");

    let span =
        raw_span(b"GET /ok HTTP/1.1\r\nHost: API.Example\r\nConnection: close\r\n\r\n").await;
    assert_eq!(
        str_attr(&span, "server.address").as_deref(),
        Some("API.Example")
    );
    assert_eq!(attr(&span, "server.port"), None);

    // Hosts hyper lets through that name no server (RFC 9110 §7.2): neither address nor port.
    for host in [
        "[::1",
        ":80",
        "",
        "a b:c",
        "exa mple.com:99999",
        "::1",
        "2001:db8::1:80",
    ] {
        let request = format!("GET /ok HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        let span = raw_span(request.as_bytes()).await;
        assert_eq!(attr(&span, "server.address"), None, "{host:?}: {span:?}");
        assert_eq!(attr(&span, "server.port"), None, "{host:?}: {span:?}");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn user_agents_beyond_ascii_are_recorded() {
    let mut request =
        b"GET /ok HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nUser-Agent: ".to_vec();
    request.extend_from_slice("Dalvik/2.1.0 (Linux; Android 13; 小米 13)".as_bytes());
    request.extend_from_slice(b"\r\n\r\n");
    let span = raw_span(&request).await;
    assert_eq!(
        str_attr(&span, "user_agent.original").as_deref(),
        Some("Dalvik/2.1.0 (Linux; Android 13; 小米 13)")
    );

    let span = raw_span(
        b"GET /ok HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nUser-Agent: caf\xe9\r\n\r\n",
    )
    .await;
    assert_eq!(
        str_attr(&span, "user_agent.original").as_deref(),
        Some("caf\u{fffd}")
    );

    let long = "x".repeat(16 * 1024);
    let request = format!(
        "GET /ok HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nUser-Agent: {long}\r\n\r\n"
    );
    let span = raw_span(request.as_bytes()).await;
    assert_eq!(
        str_attr(&span, "user_agent.original").map(|ua| ua.len()),
        Some(long.len())
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_60_kb_query_is_recorded_and_redacted() {
    // Under hyper's URI limit (64 KiB), beyond which it answers 414 itself.
    let filler = "a=b&".repeat(15 * 1024);
    let request = format!(
        "GET /ok?{filler}sig=secret HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    );
    let span = raw_span(request.as_bytes()).await;
    assert_eq!(
        str_attr(&span, "url.query"),
        Some(format!("{filler}sig=REDACTED"))
    );
}

#[tokio::test(flavor = "current_thread")]
async fn many_traceparent_headers_start_a_new_trace() {
    let mut request = b"GET /ok HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n".to_vec();
    for i in 0..50 {
        request.extend_from_slice(
            format!(
                "traceparent: 00-0af7651916cd43dd8448eb211c8031{i:02x}-b7ad6b7169203331-01\r\n"
            )
            .as_bytes(),
        );
    }
    request.extend_from_slice(b"\r\n");
    let span = raw_span(&request).await;
    assert!(
        !span
            .span_context
            .trace_id
            .to_string()
            .starts_with("0af7651916cd43dd8448eb211c8031")
    );
    assert_eq!(span.parent_span_id.to_string(), "0000000000000000");
}

/// A reqwest client with the middleware, recording into `registry`.
fn reqwest_client(
    registry: &obs_metrics::Registry,
    client: reqwest::Client,
) -> reqwest_middleware::ClientWithMiddleware {
    reqwest_middleware::ClientBuilder::new(client)
        .with(obs_tower::reqwest::TracingMiddleware::new(
            HttpClientLayer::new().with_registry(registry),
        ))
        .build()
}

/// A loopback port nothing listens on (any more).
async fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

#[tokio::test(flavor = "current_thread")]
async fn reqwest_follows_redirects_under_one_client_span() {
    let (sink, _guard) = install();
    let registry = obs_metrics::Registry::new();
    let router = Router::new()
        .route("/ok", get(|| async { "hello" }))
        .route(
            "/moved",
            get(|| async { (StatusCode::FOUND, [(header::LOCATION, "/ok")]) }),
        )
        .layer(HttpServerLayer::new().with_registry(&registry));
    let addr = serve(router).await;
    let client = reqwest_client(&obs_metrics::Registry::new(), reqwest::Client::new());
    let response = client
        .get(format!("http://{addr}/moved"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.text().await.unwrap(), "hello");
    // reqwest resends inside the client, below any middleware: the span is the semantic
    // conventions' "top-most operation", and both hops are its children.
    let client = &ended(&sink, SpanKind::Client, 1).await[0];
    assert_eq!(
        str_attr(client, "url.full"),
        Some(format!("http://{addr}/moved"))
    );
    assert_eq!(
        attr(client, "http.response.status_code"),
        Some(Value::I64(200))
    );
    assert_eq!(attr(client, "http.request.resend_count"), None);
    let servers = ended(&sink, SpanKind::Server, 2).await;
    for server in &servers {
        assert_eq!(server.parent_span_id, client.span_context.span_id);
    }
}

/// HTTP client spans, `network.peer.address` and `network.peer.port`: Recommended, and
/// reqwest knows the address it connected to (`Response::remote_addr`).
#[tokio::test(flavor = "current_thread")]
async fn reqwest_spans_name_the_peer_they_connected_to() {
    let (sink, _guard) = install();
    let addr = serve(app(&obs_metrics::Registry::new(), Streams::default())).await;
    let client = reqwest_client(&obs_metrics::Registry::new(), reqwest::Client::new());
    let response = client
        .get(format!("http://localhost:{}/ok", addr.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let span = &ended(&sink, SpanKind::Client, 1).await[0];
    assert_eq!(
        str_attr(span, "server.address").as_deref(),
        Some("localhost")
    );
    assert_eq!(
        str_attr(span, "network.peer.address").as_deref(),
        Some("127.0.0.1")
    );
    assert_eq!(
        attr(span, "network.peer.port"),
        Some(Value::I64(i64::from(addr.port())))
    );
}

/// HTTP client spans, `url.full`: "the fragment is not transmitted over HTTP, but if it is
/// known, it SHOULD be included nevertheless". A reqwest URL keeps it.
#[tokio::test(flavor = "current_thread")]
async fn reqwest_url_full_keeps_the_fragment() {
    let (sink, _guard) = install();
    let addr = serve(app(&obs_metrics::Registry::new(), Streams::default())).await;
    let client = reqwest_client(&obs_metrics::Registry::new(), reqwest::Client::new());
    for url in [
        format!("http://{addr}/ok?sig=s&a=1#part-2"),
        format!("http://{addr}/ok#"),
        format!("http://{addr}/ok"),
    ] {
        let response = client.get(&url).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    let spans = ended(&sink, SpanKind::Client, 3).await;
    let urls: Vec<_> = spans.iter().map(|s| str_attr(s, "url.full")).collect();
    assert_eq!(
        urls,
        [
            Some(format!("http://{addr}/ok?sig=REDACTED&a=1#part-2")),
            Some(format!("http://{addr}/ok#")),
            Some(format!("http://{addr}/ok")),
        ]
    );
}

#[tokio::test(flavor = "current_thread")]
async fn reqwest_connection_refused_is_a_connect_error() {
    let (sink, _guard) = install();
    let registry = obs_metrics::Registry::new();
    let addr = closed_port().await;
    let client = reqwest_client(&registry, reqwest::Client::new());
    let error = client
        .get(format!("http://{addr}/x"))
        .send()
        .await
        .unwrap_err();
    let reqwest_middleware::Error::Reqwest(error) = error else {
        panic!("not reqwest's own error: {error:?}");
    };
    assert!(error.is_connect(), "{error:?}");
    let span = &ended(&sink, SpanKind::Client, 1).await[0];
    assert!(matches!(span.status, Status::Error { .. }));
    assert_eq!(str_attr(span, "error.type").as_deref(), Some("connect"));
    assert_eq!(attr(span, "http.response.status_code"), None);
    let port = addr.port().to_string();
    assert_eq!(
        durations(&registry, "http_client_request_duration_seconds"),
        [(
            labels(&[
                ("http_request_method", "GET"),
                ("server_address", "127.0.0.1"),
                ("server_port", &port),
                ("error_type", "connect"),
            ]),
            1
        )]
    );
}

#[tokio::test(flavor = "current_thread")]
async fn reqwest_timeouts_are_timeout_errors() {
    let (sink, _guard) = install();
    let addr = serve(app(&obs_metrics::Registry::new(), Streams::default())).await;
    let client = reqwest_client(
        &obs_metrics::Registry::new(),
        reqwest::Client::builder()
            .timeout(Duration::from_millis(100))
            .build()
            .unwrap(),
    );
    let error = client
        .get(format!("http://{addr}/pending"))
        .send()
        .await
        .unwrap_err();
    assert!(error.is_timeout(), "{error:?}");
    let span = &ended(&sink, SpanKind::Client, 1).await[0];
    assert_eq!(str_attr(span, "error.type").as_deref(), Some("timeout"));

    // A timeout of the caller's, around the client, drops the call: cancelled.
    let client = reqwest_client(&obs_metrics::Registry::new(), reqwest::Client::new());
    let call = client.get(format!("http://{addr}/pending")).send();
    assert!(
        tokio::time::timeout(Duration::from_millis(100), call)
            .await
            .is_err()
    );
    let span = &ended(&sink, SpanKind::Client, 2).await[1];
    assert_eq!(str_attr(span, "error.type").as_deref(), Some("CANCELLED"));
    assert_eq!(attr(span, "http.response.status_code"), None);
}

type LegacyClient = hyper_util::client::legacy::Client<
    hyper_util::client::legacy::connect::HttpConnector,
    http_body_util::Empty<Bytes>,
>;

fn legacy_client() -> LegacyClient {
    hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http()
}

#[tokio::test(flavor = "current_thread")]
async fn the_hyper_client_returns_its_own_connect_error() {
    let (sink, _guard) = install();
    let addr = closed_port().await;
    let client = HttpClientLayer::new()
        .with_registry(&obs_metrics::Registry::new())
        .layer(legacy_client());
    let request = Request::get(format!("http://{addr}/x"))
        .body(http_body_util::Empty::new())
        .unwrap();
    let error = client.oneshot(request).await.unwrap_err();
    assert!(error.is_connect(), "{error:?}");
    let span = &ended(&sink, SpanKind::Client, 1).await[0];
    assert!(matches!(span.status, Status::Error { .. }));
    assert_eq!(
        str_attr(span, "error.type").as_deref(),
        Some("hyper_util::client::legacy::client::Error")
    );
}

#[tokio::test(flavor = "current_thread")]
async fn an_upgrade_through_the_client_layer_ends_its_span_at_101() {
    let (sink, _guard) = install();
    let addr = serve(Router::new().route("/ws", get(switch_to_echo))).await;
    let registry = obs_metrics::Registry::new();
    let client = HttpClientLayer::new()
        .with_registry(&registry)
        .layer(legacy_client());
    let request = Request::get(format!("http://{addr}/ws"))
        .header(header::CONNECTION, "upgrade")
        .header(header::UPGRADE, "echo")
        .body(http_body_util::Empty::new())
        .unwrap();
    let mut response = client.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
    // The request is over with the 101 (its body is empty), while the caller still holds
    // the response to take the connection from.
    let span = &ended(&sink, SpanKind::Client, 1).await[0];
    assert_eq!(
        attr(span, "http.response.status_code"),
        Some(Value::I64(101))
    );
    assert_eq!(span.status, Status::Unset);
    let total: u64 = durations(&registry, "http_client_request_duration_seconds")
        .iter()
        .map(|(_, count)| count)
        .sum();
    assert_eq!(total, 1);
    let upgraded = hyper::upgrade::on(&mut response).await.unwrap();
    let mut io = hyper_util::rt::TokioIo::new(upgraded);
    io.write_all(b"ping").await.unwrap();
    let mut pong = [0; 4];
    tokio::time::timeout(WAIT, io.read_exact(&mut pong))
        .await
        .expect("the upgraded connection answers")
        .unwrap();
    assert_eq!(&pong, b"ping");
}

/// A raw HTTP/1.1 server on a free loopback port that reads one request and writes
/// `response` as it is; then it closes the connection, or with `keep_open` waits for the
/// client to close it.
async fn answer_once(response: &'static [u8], keep_open: bool) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut request = [0; 1024];
        let _ = stream.read(&mut request).await.unwrap();
        stream.write_all(response).await.unwrap();
        if keep_open {
            let _ = stream.read(&mut request).await;
        }
    });
    addr
}

#[tokio::test(flavor = "current_thread")]
async fn a_response_body_cut_off_fails_the_client_span() {
    let (sink, _guard) = install();
    // Ten bytes of a hundred, then the connection closes.
    let addr = answer_once(
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b",
        false,
    )
    .await;
    let client = HttpClientLayer::new()
        .with_registry(&obs_metrics::Registry::new())
        .layer(legacy_client());
    let request = Request::get(format!("http://{addr}/x"))
        .body(http_body_util::Empty::new())
        .unwrap();
    let response = client.oneshot(request).await.unwrap();
    assert!(response.into_body().collect().await.is_err());
    let span = &ended(&sink, SpanKind::Client, 1).await[0];
    assert_eq!(
        attr(span, "http.response.status_code"),
        Some(Value::I64(200))
    );
    assert!(matches!(span.status, Status::Error { .. }));
    assert_eq!(
        str_attr(span, "error.type").as_deref(),
        Some("hyper::error::Error")
    );
}

/// A caller of hyper's client that reads the first chunk of a streamed response and drops
/// the rest: the CLIENT span and the duration end there, with the status received, not
/// failed (a client stops reading on purpose; the HTTP conventions let its span end once
/// the head is read).
#[tokio::test(flavor = "current_thread")]
async fn a_response_body_the_caller_drops_mid_stream_ends_the_client_span_unfailed() {
    let (sink, _guard) = install();
    // The rest never comes; the connection stays open until the client closes it.
    let addr = answer_once(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n",
        true,
    )
    .await;
    let registry = obs_metrics::Registry::new();
    let client = HttpClientLayer::new()
        .with_registry(&registry)
        .layer(legacy_client());
    let request = Request::get(format!("http://{addr}/feed"))
        .body(http_body_util::Empty::new())
        .unwrap();
    let mut body = client.oneshot(request).await.unwrap().into_body();
    let frame = body.frame().await.unwrap().unwrap();
    assert_eq!(frame.into_data().unwrap(), "first");
    drop(body);
    let span = &ended(&sink, SpanKind::Client, 1).await[0];
    assert_eq!(
        attr(span, "http.response.status_code"),
        Some(Value::I64(200))
    );
    assert!(matches!(span.status, Status::Unset), "{span:?}");
    assert_eq!(str_attr(span, "error.type"), None);
    let error_types: Vec<_> = durations(&registry, "http_client_request_duration_seconds")
        .into_iter()
        .map(|(labels, count)| {
            let error_type = labels.into_iter().find(|(k, _)| k == "error_type");
            (error_type.map(|(_, v)| v), count)
        })
        .collect();
    assert_eq!(error_types, [(None, 1)]);
}

#[tokio::test(flavor = "current_thread")]
async fn each_call_through_the_hyper_client_injects_a_fresh_parent() {
    let (sink, _guard) = install();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let recorder = seen.clone();
    let router = Router::new().route(
        "/seen",
        get(move |headers: http::HeaderMap| {
            let traceparent = headers
                .get_all("traceparent")
                .iter()
                .map(|v| v.to_str().unwrap().to_owned())
                .collect::<Vec<_>>();
            recorder.lock().unwrap().push(traceparent);
            async { "" }
        }),
    );
    let addr = serve(router).await;
    let client = HttpClientLayer::new()
        .with_registry(&obs_metrics::Registry::new())
        .layer(legacy_client());
    let parent = tracing::info_span!("caller");
    let stale = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    for _ in 0..2 {
        let request = Request::get(format!("http://{addr}/seen"))
            .header("traceparent", stale)
            .header("traceparent", stale)
            .body(http_body_util::Empty::new())
            .unwrap();
        let response =
            tracing::Instrument::instrument(client.clone().oneshot(request), parent.clone())
                .await
                .unwrap();
        response.into_body().collect().await.unwrap();
    }
    drop(parent);
    let clients = ended(&sink, SpanKind::Client, 2).await;
    let seen = seen.lock().unwrap().clone();
    for (sent, span) in seen.iter().zip(&clients) {
        // One `traceparent`, the caller's stale ones replaced by the call's own span.
        assert_eq!(sent.len(), 1, "{sent:?}");
        let ids = format!(
            "00-{}-{}-",
            span.span_context.trace_id, span.span_context.span_id
        );
        assert!(sent[0].starts_with(&ids), "{sent:?} {ids}");
    }
    assert_ne!(seen[0], seen[1]);
}

/// HTTP spans, "HTTP request retries and redirects": tower-http's `FollowRedirect` around
/// the client layer sends each hop through it, so each physical request has its own span
/// and `traceparent` (no `http.request.resend_count`: the layer cannot tell a hop from a
/// first send). Inside it, the layer sees one logical request: one span, `url.full` the URL
/// first asked for, its final status, and both hops its children.
#[tokio::test(flavor = "current_thread")]
async fn follow_redirect_around_the_client_layer_gives_each_hop_its_own_span() {
    use tower_http::follow_redirect::FollowRedirectLayer;
    let (sink, _guard) = install();
    let router = Router::new()
        .route("/ok", get(|| async { "hello" }))
        .route(
            "/moved",
            get(|| async { (StatusCode::FOUND, [(header::LOCATION, "/ok")], "moved") }),
        )
        .layer(HttpServerLayer::new().with_registry(&obs_metrics::Registry::new()));
    let addr = serve(router).await;
    let layer = || HttpClientLayer::new().with_registry(&obs_metrics::Registry::new());
    let around = tower::ServiceBuilder::new()
        .layer(FollowRedirectLayer::new())
        .layer(layer())
        .service(legacy_client());
    let inside = tower::ServiceBuilder::new()
        .layer(layer())
        .layer(FollowRedirectLayer::new())
        .service(legacy_client());
    let moved = format!("http://{addr}/moved");
    let request = || {
        Request::get(&moved)
            .body(http_body_util::Empty::new())
            .unwrap()
    };
    let caller = tracing::info_span!("caller");
    let response = tracing::Instrument::instrument(around.oneshot(request()), caller.clone())
        .await
        .unwrap();
    assert_eq!(
        response.into_body().collect().await.unwrap().to_bytes(),
        "hello"
    );
    let hops = ended(&sink, SpanKind::Client, 2).await;
    let seen: Vec<_> = hops
        .iter()
        .map(|s| {
            (
                str_attr(s, "url.full").unwrap(),
                attr(s, "http.response.status_code"),
                s.status.clone(),
                attr(s, "http.request.resend_count"),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (moved.clone(), Some(Value::I64(302)), Status::Unset, None),
            (
                format!("http://{addr}/ok"),
                Some(Value::I64(200)),
                Status::Unset,
                None
            ),
        ]
    );
    let caller_id = obs_trace::SpanExt::span_context(&caller).unwrap().span_id;
    let servers = ended(&sink, SpanKind::Server, 2).await;
    for (server, hop) in servers.iter().zip(&hops) {
        assert_eq!(hop.parent_span_id, caller_id);
        assert_eq!(server.parent_span_id, hop.span_context.span_id);
    }
    sink.take();

    let response = inside.oneshot(request()).await.unwrap();
    assert_eq!(
        response.into_body().collect().await.unwrap().to_bytes(),
        "hello"
    );
    let client = &ended(&sink, SpanKind::Client, 1).await[0];
    assert_eq!(str_attr(client, "url.full"), Some(moved));
    assert_eq!(
        attr(client, "http.response.status_code"),
        Some(Value::I64(200))
    );
    for server in ended(&sink, SpanKind::Server, 2).await {
        assert_eq!(server.parent_span_id, client.span_context.span_id);
    }
}

/// Resends a request once when the answer is 503, as reqwest-retry does: each attempt goes
/// down the rest of the chain with the same extensions.
struct RetryOnce;

impl reqwest_middleware::Middleware for RetryOnce {
    fn handle<'a, 'b, 'c, 'd>(
        &'a self,
        request: reqwest::Request,
        extensions: &'b mut http::Extensions,
        next: reqwest_middleware::Next<'c>,
    ) -> std::pin::Pin<
        Box<dyn Future<Output = reqwest_middleware::Result<reqwest::Response>> + Send + 'd>,
    >
    where
        'a: 'd,
        'b: 'd,
        'c: 'd,
        Self: 'd,
    {
        Box::pin(async move {
            let resend = request.try_clone().expect("a body that clones");
            let first = next.clone().run(request, extensions).await?;
            if first.status() != StatusCode::SERVICE_UNAVAILABLE {
                return Ok(first);
            }
            next.run(resend, extensions).await
        })
    }
}

#[tokio::test(flavor = "current_thread")]
async fn reqwest_resends_are_spans_of_their_own_with_their_resend_count() {
    let (sink, _guard) = install();
    let calls = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let router = Router::new()
        .route(
            "/flaky",
            get(move || {
                let call = calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                async move {
                    if call == 0 {
                        StatusCode::SERVICE_UNAVAILABLE
                    } else {
                        StatusCode::OK
                    }
                }
            }),
        )
        .layer(HttpServerLayer::new().with_registry(&obs_metrics::Registry::new()));
    let addr = serve(router).await;
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(RetryOnce)
        .with(obs_tower::reqwest::TracingMiddleware::new(
            HttpClientLayer::new().with_registry(&obs_metrics::Registry::new()),
        ))
        .build();
    for _ in 0..2 {
        let response = client
            .get(format!("http://{addr}/flaky"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    // Semantic conventions: a span per attempt, `http.request.resend_count` on resends only;
    // each `send` counts its own attempts.
    let clients = ended(&sink, SpanKind::Client, 3).await;
    let seen: Vec<_> = clients
        .iter()
        .map(|s| {
            (
                attr(s, "http.response.status_code"),
                attr(s, "http.request.resend_count"),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (Some(Value::I64(503)), None),
            (Some(Value::I64(200)), Some(Value::I64(1))),
            (Some(Value::I64(200)), None),
        ]
    );
    let servers = ended(&sink, SpanKind::Server, 3).await;
    for (server, client) in servers.iter().zip(&clients) {
        assert_eq!(server.parent_span_id, client.span_context.span_id);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_and_abandoned_requests_leave_no_active_request_behind() {
    // No span sink: the server's tasks run on worker threads, and metrics need none.
    let registry = obs_metrics::Registry::new();
    let addr = serve(app(&registry, Streams::default())).await;
    let http1 = reqwest::Client::new();
    let http2 = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .http2_only(true)
        .build_http::<http_body_util::Empty<Bytes>>();
    let in_flight = |registry: &obs_metrics::Registry| -> i64 {
        active_requests(registry).iter().map(|(_, v)| v).sum()
    };
    // Requests the server never answers, each on an HTTP/1.1 connection or HTTP/2 stream
    // of its own.
    let mut pending = tokio::task::JoinSet::new();
    for i in 0..20 {
        let (http1, http2) = (http1.clone(), http2.clone());
        pending.spawn(async move {
            if i % 2 == 0 {
                let _ = http1.get(format!("http://{addr}/pending")).send().await;
            } else {
                let _ = http2
                    .get(format!("http://{addr}/pending").parse().unwrap())
                    .await;
            }
        });
    }
    assert!(wait::wait_until(WAIT, || in_flight(&registry) == 20).await);
    let mut answered = tokio::task::JoinSet::new();
    for i in 0..40 {
        let (http1, http2) = (http1.clone(), http2.clone());
        answered.spawn(async move {
            if i % 2 == 0 {
                let response = http1.get(format!("http://{addr}/ok")).send().await.unwrap();
                assert_eq!(response.text().await.unwrap(), "hello");
            } else {
                let uri = format!("http://{addr}/status/204").parse().unwrap();
                let response = http2.get(uri).await.unwrap();
                assert_eq!(response.status(), StatusCode::NO_CONTENT);
            }
        });
    }
    while let Some(joined) = answered.join_next().await {
        joined.unwrap();
    }
    assert!(wait::wait_until(WAIT, || in_flight(&registry) == 20).await);
    // The clients give up: HTTP/1.1 connections close, HTTP/2 streams are reset.
    pending.abort_all();
    while pending.join_next().await.is_some() {}
    no_active_requests(&registry).await;
    let series = active_requests(&registry);
    assert_eq!(
        series
            .iter()
            .map(|(labels, _)| labels.clone())
            .collect::<Vec<_>>(),
        [labels(&[
            ("http_request_method", "GET"),
            ("url_scheme", "http")
        ])]
    );
    let counts = durations(&registry, "http_server_request_duration_seconds");
    let count_of = |route: &str, status: Option<&str>| -> u64 {
        counts
            .iter()
            .filter(|(labels, _)| {
                labels.contains(&("http_route".to_owned(), route.to_owned()))
                    && labels
                        .iter()
                        .find(|(k, _)| k == "http_response_status_code")
                        .map(|(_, v)| v.as_str())
                        == status
            })
            .map(|(_, count)| count)
            .sum()
    };
    assert_eq!(count_of("/ok", Some("200")), 20);
    assert_eq!(count_of("/status/{code}", Some("204")), 20);
    assert_eq!(count_of("/pending", None), 20, "{counts:?}");
}

#[tokio::test(flavor = "current_thread")]
async fn a_timeout_layer_answers_inside_the_server_layer_only() {
    let (sink, _guard) = install();
    let timeout = || {
        tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_millis(50),
        )
    };
    let pending = get(std::future::pending::<&'static str>);
    // The documented order: the server layer added last, around the timeout.
    let outermost = Router::new()
        .route("/slow", pending.clone())
        .layer(timeout())
        .layer(HttpServerLayer::new().with_registry(&obs_metrics::Registry::new()));
    // The other order: the timeout answers around the server layer, which sees the call
    // dropped, as if the client had left.
    let inside = Router::new()
        .route("/slow", pending)
        .layer(HttpServerLayer::new().with_registry(&obs_metrics::Registry::new()))
        .layer(timeout());
    for router in [outermost, inside] {
        let addr = serve(router).await;
        let response = reqwest::get(format!("http://{addr}/slow")).await.unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    }
    let spans = ended(&sink, SpanKind::Server, 2).await;
    let seen: Vec<_> = spans
        .iter()
        .map(|s| {
            (
                attr(s, "http.response.status_code"),
                str_attr(s, "error.type"),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (Some(Value::I64(503)), Some("503".to_owned())),
            (None, None)
        ]
    );
}

#[tokio::test(flavor = "current_thread")]
async fn pipelined_requests_keep_their_own_context() {
    let (sink, _guard) = install();
    let registry = obs_metrics::Registry::new();
    let addr = serve(app(&registry, Streams::default())).await;
    // Three requests in one write on one connection, the first with a caller's context.
    let reply = raw(
        addr,
        b"GET /ok HTTP/1.1\r\nHost: a\r\n\
          traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n\r\n\
          GET /status/204 HTTP/1.1\r\nHost: b\r\n\r\n\
          HEAD /ok HTTP/1.1\r\nHost: c\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(reply.matches("HTTP/1.1 ").count(), 3, "{reply}");
    let spans = ended(&sink, SpanKind::Server, 3).await;
    let seen: Vec<_> = spans
        .iter()
        .map(|s| (s.name.to_string(), str_attr(s, "server.address").unwrap()))
        .collect();
    assert_eq!(
        seen,
        [
            ("GET /ok".to_owned(), "a".to_owned()),
            ("GET /status/{code}".to_owned(), "b".to_owned()),
            ("HEAD /ok".to_owned(), "c".to_owned()),
        ]
    );
    assert_eq!(
        spans[0].span_context.trace_id.to_string(),
        "0af7651916cd43dd8448eb211c80319c"
    );
    // The caller's context stays with its request: the next ones start their own traces.
    for span in &spans[1..] {
        assert_ne!(span.span_context.trace_id, spans[0].span_context.trace_id);
        assert_eq!(span.parent_span_id.to_string(), "0000000000000000");
    }
    no_active_requests(&registry).await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_timeout_fails_the_client_span_inside_or_around_the_layer() {
    let (sink, _guard) = install();
    let addr = serve(app(&obs_metrics::Registry::new(), Streams::default())).await;
    let request = || {
        Request::get(format!("http://{addr}/pending"))
            .body(http_body_util::Empty::<Bytes>::new())
            .unwrap()
    };
    let layer = || HttpClientLayer::new().with_registry(&obs_metrics::Registry::new());
    // Inside the layer: the timeout is the client's error, its type boxed.
    let inside = tower::ServiceBuilder::new()
        .layer(layer())
        .timeout(Duration::from_millis(50))
        .service(legacy_client());
    assert!(inside.oneshot(request()).await.is_err());
    // Around it: the call is dropped before a response, as a caller giving up would.
    let registry = obs_metrics::Registry::new();
    let around = tower::ServiceBuilder::new()
        .timeout(Duration::from_millis(50))
        .layer(HttpClientLayer::new().with_registry(&registry))
        .service(legacy_client());
    assert!(around.oneshot(request()).await.is_err());
    let spans = ended(&sink, SpanKind::Client, 2).await;
    let seen: Vec<_> = spans
        .iter()
        .map(|s| (str_attr(s, "error.type"), s.status.clone()))
        .collect();
    assert_eq!(
        seen,
        [
            (
                Some("_OTHER".to_owned()),
                Status::Error {
                    description: "".into()
                }
            ),
            (
                Some("CANCELLED".to_owned()),
                Status::Error {
                    description: "".into()
                }
            ),
        ]
    );
    let error_types: Vec<_> = durations(&registry, "http_client_request_duration_seconds")
        .into_iter()
        .map(|(labels, count)| {
            let error_type = labels.into_iter().find(|(k, _)| k == "error_type");
            (error_type.map(|(_, v)| v), count)
        })
        .collect();
    assert_eq!(error_types, [(Some("CANCELLED".to_owned()), 1)]);
}

#[tokio::test(flavor = "current_thread")]
async fn an_http2_stream_reset_mid_response_fails_the_request() {
    let (sink, _guard) = install();
    let registry = obs_metrics::Registry::new();
    let streams = Streams::default();
    let mut sender = streams.next();
    let addr = serve(app(&registry, streams)).await;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .http2_only(true)
        .build_http::<http_body_util::Empty<Bytes>>();
    let response = client
        .get(format!("http://{addr}/stream").parse().unwrap())
        .await
        .unwrap();
    let mut body = response.into_body();
    sender
        .send_data(Bytes::from_static(b"data: 1\n\n"))
        .await
        .unwrap();
    let frame = body.frame().await.unwrap().unwrap();
    assert_eq!(frame.into_data().unwrap(), "data: 1\n\n");
    // Dropping the body resets the stream; the connection stays up.
    drop(body);
    let span = &ended(&sink, SpanKind::Server, 1).await[0];
    assert_eq!(
        str_attr(span, "network.protocol.version").as_deref(),
        Some("2")
    );
    assert_eq!(
        attr(span, "http.response.status_code"),
        Some(Value::I64(200))
    );
    // As over HTTP/1.1: the response did not reach the client in full.
    assert!(matches!(span.status, Status::Error { .. }), "{span:?}");
    assert_eq!(str_attr(span, "error.type").as_deref(), Some("CANCELLED"));
    no_active_requests(&registry).await;
    assert!(
        sender
            .send_data(Bytes::from_static(b"data: 2\n\n"))
            .await
            .is_err()
    );
}
