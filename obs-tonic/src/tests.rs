//! Layer behaviour on in-process services: names, attributes, status mapping, streaming,
//! cancellation, exclusion and malformed metadata.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response};
use http_body::Frame;
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use obs_metrics::{PointValue, Registry};
use obs_trace::opentelemetry::trace::{SpanKind, Status};
use obs_trace::{InMemorySpanSink, SpanData, SpanLayer};
use tower::{ServiceBuilder, ServiceExt};
use tracing_subscriber::prelude::*;

use obs_trace::RpcConventions;

use crate::{CountedBody, GrpcClientLayer, GrpcServerLayer};

const TRACEPARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

fn capture() -> (InMemorySpanSink, tracing::subscriber::DefaultGuard) {
    let sink = InMemorySpanSink::new();
    let subscriber =
        tracing_subscriber::registry().with(SpanLayer::new().with_sink(Arc::new(sink.clone())));
    (sink, tracing::subscriber::set_default(subscriber))
}

fn attribute(span: &SpanData, key: &str) -> Option<String> {
    span.attribute(key).map(ToString::to_string)
}

/// The span's `rpc.grpc.status_code` and `error.type`.
fn outcome(span: &SpanData) -> (Option<String>, Option<String>) {
    (
        attribute(span, "rpc.grpc.status_code"),
        attribute(span, "error.type"),
    )
}

/// `outcome` as expected, in `&str`s.
fn expected(code: &str, error_type: Option<&str>) -> (Option<String>, Option<String>) {
    (Some(code.to_owned()), error_type.map(str::to_owned))
}

fn only(sink: &InMemorySpanSink) -> SpanData {
    let spans = sink.take();
    assert_eq!(spans.len(), 1, "{spans:#?}");
    spans.into_iter().next().unwrap()
}

/// `count` gRPC messages, each with its 5-byte prefix.
fn messages(count: usize, payload: &[u8]) -> Bytes {
    let mut out = Vec::new();
    for _ in 0..count {
        out.push(0);
        out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        out.extend_from_slice(payload);
    }
    Bytes::from(out)
}

fn grpc_request(path: &str, body: Bytes) -> Request<Full<Bytes>> {
    Request::post(format!("http://svc.local:50051{path}"))
        .header("content-type", "application/grpc")
        .header("traceparent", TRACEPARENT)
        .body(Full::new(body))
        .unwrap()
}

type Frames = StreamBody<futures_util::stream::Iter<std::vec::IntoIter<FrameResult>>>;
type FrameResult = Result<Frame<Bytes>, Infallible>;

/// A response streaming `chunks` then trailers with `grpc-status: code`.
fn streamed(chunks: Vec<Bytes>, code: &'static str) -> Response<Frames> {
    let mut trailers = HeaderMap::new();
    trailers.insert("grpc-status", HeaderValue::from_static(code));
    let frames: Vec<FrameResult> = chunks
        .into_iter()
        .map(Frame::data)
        .chain([Frame::trailers(trailers)])
        .map(Ok)
        .collect();
    Response::builder()
        .header("content-type", "application/grpc")
        .body(StreamBody::new(futures_util::stream::iter(frames)))
        .unwrap()
}

/// A server answering every call with `chunks` and `code` in the trailers, after reading
/// the whole request.
fn server(
    layer: GrpcServerLayer,
    chunks: Vec<Bytes>,
    code: &'static str,
) -> impl tower::Service<
    Request<Full<Bytes>>,
    Response = Response<impl http_body::Body<Data = Bytes, Error = Infallible>>,
    Error = Infallible,
> + Clone {
    ServiceBuilder::new().layer(layer).service_fn(
        move |request: Request<CountedBody<Full<Bytes>>>| {
            let chunks = chunks.clone();
            async move {
                request.into_body().collect().await.unwrap();
                Ok::<_, Infallible>(streamed(chunks, code))
            }
        },
    )
}

/// The server layer over a service answering every call with an empty body and `head`'s
/// status and headers: no handler, an auth layer, a trailers-only error.
fn answering(
    head: fn() -> http::response::Builder,
) -> impl tower::Service<
    Request<Full<Bytes>>,
    Response = Response<impl http_body::Body<Data = Bytes, Error = Infallible>>,
    Error = Infallible,
> {
    ServiceBuilder::new()
        .layer(GrpcServerLayer::new())
        .service_fn(move |_: Request<_>| async move {
            Ok::<_, Infallible>(head().body(Empty::<Bytes>::new()).unwrap())
        })
}

async fn drain<B: http_body::Body<Error = Infallible>>(response: Response<B>) -> Option<HeaderMap> {
    response
        .into_body()
        .collect()
        .await
        .unwrap()
        .trailers()
        .cloned()
}

/// One call answered with `answer()` under `client` (as the called server's answer) and one
/// behind `server`, each answer read to its end: for the tests of what the two sides read
/// from the same answer.
async fn answer_both_sides<B>(
    client: GrpcClientLayer,
    server: GrpcServerLayer,
    answer: impl Fn() -> Response<B> + Clone + Send + 'static,
) where
    B: http_body::Body<Data = Bytes, Error = Infallible> + Send + 'static,
{
    let client_answer = answer.clone();
    let client =
        ServiceBuilder::new()
            .layer(client)
            .service_fn(move |_: Request<tonic::body::Body>| {
                let answer = client_answer.clone();
                async move { Ok::<_, Infallible>(answer()) }
            });
    let request = Request::post("http://b:1/shop.v1.Cart/Get")
        .body(tonic::body::Body::empty())
        .unwrap();
    drain(client.oneshot(request).await.unwrap()).await;
    let server = ServiceBuilder::new()
        .layer(server)
        .service_fn(move |_: Request<_>| {
            let answer = answer.clone();
            async move { Ok::<_, Infallible>(answer()) }
        });
    let response = server
        .oneshot(grpc_request("/shop.v1.Cart/Get", Bytes::new()))
        .await
        .unwrap();
    drain(response).await;
}
/// Asserts each of `expected` on `span`: the attribute's value, `None` for one it lacks.
fn assert_attributes(span: &SpanData, expected: &[(&str, Option<&str>)]) {
    for (key, value) in expected {
        assert_eq!(attribute(span, key).as_deref(), *value, "{key}");
    }
}

/// Asserts that the first series of the histogram `name` has `span` as its exemplar.
fn assert_span_exemplar(registry: &Registry, name: &str, span: &SpanData) {
    let exemplar = &family(registry, name).points[0].exemplars[0];
    assert_eq!(exemplar.span_id, span.span_context.span_id, "span exemplar");
}

fn family(registry: &Registry, name: &str) -> obs_metrics::MetricFamilySnapshot {
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

fn histogram(registry: &Registry, name: &str) -> (Vec<(String, String)>, f64, u64) {
    let family = family(registry, name);
    assert_eq!(family.points.len(), 1, "{family:?}");
    let point = &family.points[0];
    let PointValue::Histogram(h) = &point.value else {
        panic!("not a histogram: {point:?}");
    };
    (point.labels.clone(), h.sum, h.count)
}

#[tokio::test(flavor = "current_thread")]
async fn unary_server_call_is_a_child_span_with_rpc_attributes_and_metrics() {
    let (sink, _guard) = capture();
    let registry = Registry::new();
    let service = server(
        GrpcServerLayer::new().with_registry(&registry),
        vec![messages(1, b"pong")],
        "0",
    );
    let response = service
        .oneshot(grpc_request("/shop.v1.Orders/Get", messages(1, b"ping")))
        .await
        .unwrap();
    let trailers = drain(response).await.unwrap();
    assert_eq!(trailers["grpc-status"], "0", "trailers pass through");

    let span = only(&sink);
    assert_eq!(span.name, "shop.v1.Orders/Get");
    assert_eq!(span.kind, SpanKind::Server);
    assert_eq!(span.status, Status::Unset);
    assert_eq!(
        span.span_context.trace_id.to_string(),
        "0af7651916cd43dd8448eb211c80319c"
    );
    assert_eq!(span.parent_span_id.to_string(), "b7ad6b7169203331");
    for (key, value) in [
        ("rpc.system", "grpc"),
        ("rpc.service", "shop.v1.Orders"),
        ("rpc.method", "Get"),
        ("rpc.grpc.status_code", "0"),
        ("server.address", "svc.local"),
        ("server.port", "50051"),
    ] {
        assert_eq!(attribute(&span, key).as_deref(), Some(value), "{key}");
    }
    assert_eq!(attribute(&span, "error.type"), None);

    let expected = labels(&[
        ("rpc_system", "grpc"),
        ("rpc_service", "shop.v1.Orders"),
        ("rpc_method", "Get"),
        ("rpc_grpc_status_code", "0"),
        ("error_type", ""),
    ]);
    let (duration_labels, _, count) = histogram(&registry, "rpc_server_call_duration_seconds");
    assert_eq!((duration_labels, count), (expected.clone(), 1));
    assert_eq!(
        histogram(&registry, "rpc_server_requests_per_rpc"),
        (expected.clone(), 1.0, 1)
    );
    assert_eq!(
        histogram(&registry, "rpc_server_responses_per_rpc"),
        (expected, 1.0, 1)
    );
    assert_span_exemplar(&registry, "rpc_server_call_duration_seconds", &span);
}

/// A global filter that disables the server span for every layer (the usual `tracing`
/// set-up, `LevelFilter` or an `EnvFilter` as a layer of its own) does not cut the handler
/// off from the caller's trace: its logs and outgoing calls still carry it.
#[tokio::test(flavor = "current_thread")]
async fn a_globally_filtered_server_span_still_passes_the_callers_trace_on() {
    let sink = InMemorySpanSink::new();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_subscriber::filter::LevelFilter::ERROR)
        .with(SpanLayer::new().with_sink(Arc::new(sink.clone())));
    let _guard = tracing::subscriber::set_default(subscriber);
    let outgoing = Arc::new(std::sync::Mutex::new(HeaderMap::new()));
    let handler_outgoing = outgoing.clone();
    let service = ServiceBuilder::new()
        .layer(GrpcServerLayer::new())
        .service_fn(move |request: Request<CountedBody<Full<Bytes>>>| {
            let outgoing = handler_outgoing.clone();
            async move {
                request.into_body().collect().await.unwrap();
                obs_trace::inject_current(&mut outgoing.lock().unwrap());
                Ok::<_, Infallible>(streamed(vec![messages(1, b"pong")], "0"))
            }
        });
    let response = service
        .oneshot(grpc_request("/shop.v1.Orders/Get", messages(1, b"ping")))
        .await
        .unwrap();
    assert_eq!(drain(response).await.unwrap()["grpc-status"], "0");
    assert_eq!(outgoing.lock().unwrap()["traceparent"], TRACEPARENT);
    assert!(sink.spans().is_empty(), "the server span is disabled");
}

#[tokio::test(flavor = "current_thread")]
async fn streamed_messages_are_counted_across_frame_boundaries() {
    let (sink, _guard) = capture();
    let registry = Registry::new();
    // Five messages, re-cut into frames that split prefixes and payloads.
    let stream = messages(5, b"0123456789");
    let chunks = vec![
        stream.slice(0..3),
        stream.slice(3..17),
        stream.slice(17..40),
        stream.slice(40..),
    ];
    let service = server(GrpcServerLayer::new().with_registry(&registry), chunks, "0");
    let response = service
        .oneshot(grpc_request("/shop.v1.Orders/Watch", messages(3, b"")))
        .await
        .unwrap();
    drain(response).await;
    assert_eq!(only(&sink).name, "shop.v1.Orders/Watch");
    assert_eq!(histogram(&registry, "rpc_server_requests_per_rpc").1, 3.0);
    assert_eq!(histogram(&registry, "rpc_server_responses_per_rpc").1, 5.0);
}

#[tokio::test(flavor = "current_thread")]
async fn server_status_marks_only_server_faults_as_errors() {
    let (sink, _guard) = capture();
    for (code, error) in [
        ("13", Some("INTERNAL")),
        ("4", Some("DEADLINE_EXCEEDED")),
        ("5", None),
        ("3", None),
    ] {
        let service = server(GrpcServerLayer::new(), vec![], code);
        let response = service
            .oneshot(grpc_request("/shop.v1.Orders/Get", messages(1, b"")))
            .await
            .unwrap();
        drain(response).await;
        let span = only(&sink);
        assert_eq!(outcome(&span), expected(code, error), "code {code}");
        assert_eq!(
            matches!(span.status, Status::Error { .. }),
            error.is_some(),
            "code {code}"
        );
    }
}

#[tokio::test(flavor = "current_thread")]
async fn trailers_only_status_is_read_from_the_headers() {
    let (sink, _guard) = capture();
    let service = answering(|| Response::builder().header("grpc-status", "12"));
    let response = service
        .oneshot(grpc_request("/shop.v1.Nope/Missing", Bytes::new()))
        .await
        .unwrap();
    drop(response);
    let span = only(&sink);
    assert_eq!(outcome(&span), expected("12", Some("UNIMPLEMENTED")));
}

/// gRPC-Web (gRPC's doc/PROTOCOL-WEB.md), as a server layer outside tonic-web's
/// `GrpcWebLayer` sees it: the trailers travel as the body's last frame, flagged by the top
/// bit of its first byte, in HTTP/1 header form. That frame holds the call's status and is
/// no message; a whole frame, or one split across data frames, reads the same.
#[tokio::test(flavor = "current_thread")]
async fn a_grpc_web_answer_ends_with_the_status_in_its_trailers_frame() {
    let (sink, _guard) = capture();
    let trailers_frame = |block: &'static [u8]| {
        let mut frame = vec![0x80];
        frame.extend_from_slice(&(block.len() as u32).to_be_bytes());
        frame.extend_from_slice(block);
        Bytes::from(frame)
    };
    let cases: [(Vec<Bytes>, &str, Option<&str>); 4] = [
        // tonic-web's encoding: `key:value\r\n`, the status first.
        (
            vec![messages(1, b"pong"), trailers_frame(b"grpc-status:0\r\n")],
            "0",
            None,
        ),
        (
            vec![trailers_frame(
                b"grpc-message:no%20way\r\nGrpc-Status: 13\r\n",
            )],
            "13",
            Some("INTERNAL"),
        ),
        // No line end after the last header, and a status that is no code.
        (
            vec![trailers_frame(b"grpc-status:99")],
            "2",
            Some("UNKNOWN"),
        ),
        // The frame in pieces, its prefix split too.
        {
            let whole = trailers_frame(b"grpc-status:5\r\n");
            let pieces = [0, 3, 9, whole.len()]
                .windows(2)
                .map(|at| whole.slice(at[0]..at[1]))
                .collect();
            (pieces, "5", None)
        },
    ];
    for (chunks, code, error_type) in cases {
        let registry = Registry::new();
        let service = ServiceBuilder::new()
            .layer(GrpcServerLayer::new().with_registry(&registry))
            .service_fn(move |_: Request<_>| {
                let frames: Vec<FrameResult> =
                    chunks.iter().cloned().map(Frame::data).map(Ok).collect();
                async move {
                    let response = Response::builder()
                        .header("content-type", "application/grpc-web+proto")
                        .body(StreamBody::new(futures_util::stream::iter(frames)))
                        .unwrap();
                    Ok::<_, Infallible>(response)
                }
            });
        let response = service
            .oneshot(grpc_request("/shop.v1.Orders/Get", messages(1, b"ping")))
            .await
            .unwrap();
        drain(response).await;
        let span = only(&sink);
        assert_eq!(outcome(&span), expected(code, error_type), "{code}");
        let responses = if code == "0" { 1.0 } else { 0.0 };
        assert_eq!(
            histogram(&registry, "rpc_server_responses_per_rpc").1,
            responses,
            "the trailers frame is no message"
        );
    }
}

/// `bytes` in base64 with padding, as gRPC-Web's text mode sends each chunk; by the
/// `base64` crate, an encoder independent of the layer's decoder.
fn base64(bytes: &[u8]) -> Bytes {
    use base64::Engine as _;
    Bytes::from(base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// gRPC-Web's text mode (`application/grpc-web-text`, the default of the grpc-web
/// JavaScript client) under a server layer outside tonic-web's `GrpcWebLayer`: the request
/// and the response are base64, each chunk padded (tonic-web encodes each frame on its own),
/// the status in the trailers frame ending the response. Read as binary, the first byte
/// (`A`) is no frame flag: every call, however it went, was taken for an INTERNAL failure
/// with no messages.
#[tokio::test(flavor = "current_thread")]
async fn a_grpc_web_text_call_is_read_through_its_base64() {
    let (sink, _guard) = capture();
    let trailers_frame = |block: &'static [u8]| {
        let mut frame = vec![0x80];
        frame.extend_from_slice(&(block.len() as u32).to_be_bytes());
        frame.extend_from_slice(block);
        frame
    };
    let ok = trailers_frame(b"grpc-status:0\r\n");
    let not_found = trailers_frame(b"grpc-status:5\r\ngrpc-message:no\r\n");
    let failed = trailers_frame(b"grpc-status:13\r\n");
    // Two messages and the trailers in one base64 text split at odd places: within a
    // group of four characters, and within a frame's prefix.
    let mut whole = messages(2, b"pong").to_vec();
    whole.extend_from_slice(&ok);
    let text = base64(&whole);
    let split: Vec<Bytes> = [0, 3, 7, 13, text.len()]
        .windows(2)
        .map(|at| text.slice(at[0]..at[1]))
        .collect();
    let cases: [(Vec<Bytes>, &str, Option<&str>, f64); 4] = [
        (
            vec![base64(&messages(1, b"pong")), base64(&ok)],
            "0",
            None,
            1.0,
        ),
        (split, "0", None, 2.0),
        (vec![base64(&not_found)], "5", None, 0.0),
        (
            vec![base64(&messages(1, b"x")), base64(&failed)],
            "13",
            Some("INTERNAL"),
            1.0,
        ),
    ];
    for (chunks, code, error_type, responses) in cases {
        let registry = Registry::new();
        let service = ServiceBuilder::new()
            .layer(GrpcServerLayer::new().with_registry(&registry))
            .service_fn(move |request: Request<CountedBody<Full<Bytes>>>| {
                let frames: Vec<FrameResult> =
                    chunks.iter().cloned().map(Frame::data).map(Ok).collect();
                async move {
                    request.into_body().collect().await.unwrap();
                    let response = Response::builder()
                        .header("content-type", "application/grpc-web-text+proto")
                        .body(StreamBody::new(futures_util::stream::iter(frames)))
                        .unwrap();
                    Ok::<_, Infallible>(response)
                }
            });
        let mut request = grpc_request("/shop.v1.Orders/Get", base64(&messages(3, b"ping")));
        request.headers_mut().insert(
            "content-type",
            HeaderValue::from_static("application/grpc-web-text"),
        );
        let response = service.oneshot(request).await.unwrap();
        drain(response).await;
        let span = only(&sink);
        assert_eq!(outcome(&span), expected(code, error_type), "{code}");
        assert_eq!(
            histogram(&registry, "rpc_server_responses_per_rpc").1,
            responses,
            "{code}"
        );
        assert_eq!(
            histogram(&registry, "rpc_server_requests_per_rpc").1,
            3.0,
            "{code}"
        );
    }
}

#[tokio::test(flavor = "current_thread")]
async fn responses_without_grpc_status_get_the_status_the_client_sees_on_both_sides() {
    let (sink, _guard) = capture();
    // An auth layer under the server layer answers 401, no gRPC at all: UNAUTHENTICATED
    // (gRPC's HTTP-to-gRPC status mapping), the caller's fault, not the server's.
    let unauthorized = answering(|| Response::builder().status(401));
    let response = unauthorized
        .oneshot(grpc_request("/shop.v1.Cart/Get", Bytes::new()))
        .await
        .unwrap();
    drain(response).await;
    let span = only(&sink);
    assert_eq!(
        attribute(&span, "rpc.grpc.status_code").as_deref(),
        Some("16")
    );
    assert_eq!(span.status, Status::Unset);

    // An empty 200 without `grpc-status`: the server sends its head with the end of the
    // stream and drops the body unpolled, and the client reads UNKNOWN; not CANCELLED, as
    // an abandoned body would be.
    let bare = answering(Response::builder);
    drop(
        bare.oneshot(grpc_request("/shop.v1.Cart/Get", Bytes::new()))
            .await
            .unwrap(),
    );
    assert_eq!(outcome(&only(&sink)), expected("2", Some("UNKNOWN")));

    // A stream that ends without trailers (truncated): UNKNOWN, as the client reports it,
    // on the server and on the client; not CANCELLED, which is for abandoned streams.
    let truncated = || {
        let frames: Vec<FrameResult> = vec![Ok(Frame::data(messages(1, b"x")))];
        Response::builder()
            .header("content-type", "application/grpc")
            .body(StreamBody::new(futures_util::stream::iter(frames)))
            .unwrap()
    };
    answer_both_sides(GrpcClientLayer::new(), GrpcServerLayer::new(), truncated).await;
    let spans = sink.take();
    assert_eq!(spans.len(), 2, "{spans:#?}");
    for span in spans {
        assert_eq!(outcome(&span), expected("2", Some("UNKNOWN")), "{span:?}");
        assert!(matches!(span.status, Status::Error { .. }));
    }
}

/// A stream cut off in the middle of a message, with no trailers (a proxy's reset, which
/// hyper reads as a clean end when its reason is NO_ERROR or CANCEL): tonic's client fails
/// the call with INTERNAL ("Unexpected EOF decoding stream"), not the UNKNOWN of a stream
/// that ends between messages without a status. Both sides say so.
#[tokio::test(flavor = "current_thread")]
async fn a_stream_cut_off_mid_message_is_internal_on_both_sides() {
    let (sink, _guard) = capture();
    let cut = || {
        // A message announcing ten bytes, of which three come.
        let frames: Vec<FrameResult> = vec![Ok(Frame::data(Bytes::from_static(&[
            0, 0, 0, 0, 10, 1, 2, 3,
        ])))];
        Response::builder()
            .header("content-type", "application/grpc")
            .body(StreamBody::new(futures_util::stream::iter(frames)))
            .unwrap()
    };
    let client = ServiceBuilder::new()
        .layer(GrpcClientLayer::new().with_server_address("b", Some(1)))
        .service_fn(move |_: Request<tonic::body::Body>| async move { Ok::<_, Infallible>(cut()) });
    let mut grpc = tonic::client::Grpc::new(client);
    grpc.ready().await.unwrap();
    let returned = grpc
        .unary(
            tonic::Request::new(()),
            http::uri::PathAndQuery::from_static("/shop.v1.Cart/Get"),
            tonic_prost::ProstCodec::<(), ()>::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(returned.code(), tonic::Code::Internal, "{returned:?}");
    let server = ServiceBuilder::new()
        .layer(GrpcServerLayer::new())
        .service_fn(move |_: Request<_>| async move { Ok::<_, Infallible>(cut()) });
    let response = server
        .oneshot(grpc_request("/shop.v1.Cart/Get", Bytes::new()))
        .await
        .unwrap();
    drain(response).await;
    let spans = sink.take();
    assert_eq!(spans.len(), 2, "{spans:#?}");
    for span in spans {
        assert_eq!(outcome(&span), expected("13", Some("INTERNAL")), "{span:?}");
        assert!(matches!(span.status, Status::Error { .. }));
    }
}

/// A response with an HTTP status other than 200 that still ends with a `grpc-status`
/// trailer (a proxy passing a gRPC answer on under its own status) ends with the trailer's
/// status, as gRPC clients read it (tonic's `infer_grpc_status`): the HTTP mapping is only
/// for a response that carries no `grpc-status` at all.
#[tokio::test(flavor = "current_thread")]
async fn a_grpc_status_trailer_wins_over_a_non_200_http_status_on_both_sides() {
    let (sink, _guard) = capture();
    let registry = Registry::new();
    let behind_proxy = |code: &'static str| {
        let mut response = streamed(vec![messages(1, b"x")], code);
        *response.status_mut() = http::StatusCode::SERVICE_UNAVAILABLE;
        response
    };
    for (code, name, error_type) in [("0", "OK", None), ("5", "NOT_FOUND", Some("NOT_FOUND"))] {
        answer_both_sides(
            GrpcClientLayer::with_conventions_in(RpcConventions::Old, &registry)
                .with_server_address("b", Some(1)),
            GrpcServerLayer::new(),
            move || behind_proxy(code),
        )
        .await;
        let spans = sink.take();
        assert_eq!(spans.len(), 2, "{spans:#?}");
        for span in &spans {
            // NOT_FOUND fails only the client span: it is the caller's error.
            let client = span.kind == SpanKind::Client;
            let error_type = error_type.filter(|_| client);
            assert_eq!(
                outcome(span),
                expected(code, error_type),
                "{name}: {span:?}"
            );
            assert_eq!(
                matches!(span.status, Status::Error { .. }),
                error_type.is_some(),
                "{name}: {span:?}"
            );
        }
    }
    // The client's metric series carries the trailer's code, and no error for OK.
    let points = points_with(
        &registry,
        "rpc_client_call_duration_seconds",
        "rpc_grpc_status_code",
    );
    assert!(
        points.iter().any(|(labels, _)| labels
            .contains(&("rpc_grpc_status_code".into(), "0".into()))
            && labels.contains(&("error_type".into(), String::new()))),
        "{points:?}"
    );
}

/// A `grpc-status` in the response head makes it a Trailers-Only response
/// (PROTOCOL-HTTP2, "Responses"): a client takes the call's status from there and reads no
/// further (tonic's returns an error status at once), so a status in trailers that a
/// broken server or proxy sends after a body does not change the call's. Overwritten, it
/// left the span with the head's `error.type` beside the trailers' code, and the metric
/// series labelled `rpc_grpc_status_code="0", error_type="INTERNAL"`.
#[tokio::test(flavor = "current_thread")]
async fn a_status_in_the_head_is_the_calls_whatever_trailers_follow_on_both_sides() {
    let (sink, _guard) = capture();
    let registry = Registry::new();
    let head_and_trailers = || {
        let mut response = streamed(vec![messages(1, b"x")], "0");
        response
            .headers_mut()
            .insert("grpc-status", HeaderValue::from_static("13"));
        response
    };
    answer_both_sides(
        GrpcClientLayer::with_conventions_in(RpcConventions::Old, &registry)
            .with_server_address("b", Some(1)),
        GrpcServerLayer::with_conventions_in(RpcConventions::Old, &registry),
        head_and_trailers,
    )
    .await;
    let spans = sink.take();
    assert_eq!(spans.len(), 2, "{spans:#?}");
    for span in &spans {
        assert_eq!(outcome(span), expected("13", Some("INTERNAL")), "{span:?}");
        assert!(matches!(span.status, Status::Error { .. }), "{span:?}");
    }
    for name in [
        "rpc_client_call_duration_seconds",
        "rpc_server_call_duration_seconds",
    ] {
        let points = points_with(&registry, name, "rpc_grpc_status_code");
        assert_eq!(points.len(), 1, "{name}: {points:?}");
        let labels = &points[0].0;
        assert!(
            labels.contains(&("rpc_grpc_status_code".into(), "13".into()))
                && labels.contains(&("error_type".into(), "INTERNAL".into())),
            "{name}: {labels:?}"
        );
    }
}

/// RPC spans, Name: "If `rpc.method` is unavailable or set to `_OTHER`, the span name
/// SHOULD be `{rpc.system.name}`."
#[tokio::test(flavor = "current_thread")]
async fn a_path_naming_no_method_gives_a_span_named_after_the_system() {
    let (sink, _guard) = capture();
    let service = server(GrpcServerLayer::new(), vec![], "12");
    let response = service
        .oneshot(grpc_request("/not-a-method", messages(1, b"")))
        .await
        .unwrap();
    drain(response).await;
    let span = only(&sink);
    assert_eq!(span.name, "grpc");
    assert_eq!(attribute(&span, "rpc.method").as_deref(), Some("_OTHER"));
    assert_eq!(attribute(&span, "rpc.system").as_deref(), Some("grpc"));
}

#[cfg(feature = "transport")]
#[tokio::test(flavor = "current_thread")]
async fn an_ipv4_peer_of_a_dual_stack_socket_is_recorded_as_ipv4() {
    let (sink, _guard) = capture();
    let mut request = grpc_request("/echo.Echo/Say", messages(1, b""));
    // What a server bound to `[::]` is told of an IPv4 client.
    request
        .extensions_mut()
        .insert(tonic::transport::server::TcpConnectInfo {
            local_addr: Some("[::ffff:127.0.0.1]:50051".parse().unwrap()),
            remote_addr: Some("[::ffff:192.0.2.7]:51000".parse().unwrap()),
        });
    let response = server(GrpcServerLayer::new(), vec![], "0")
        .oneshot(request)
        .await
        .unwrap();
    drain(response).await;
    let span = only(&sink);
    assert_eq!(
        attribute(&span, "client.address").as_deref(),
        Some("192.0.2.7")
    );
    assert_eq!(attribute(&span, "client.port").as_deref(), Some("51000"));
}

#[tokio::test(flavor = "current_thread")]
async fn unimplemented_methods_are_other_in_metric_labels() {
    let (_sink, _guard) = capture();
    let registry = Registry::new();
    let service = server(
        GrpcServerLayer::new().with_registry(&registry),
        vec![],
        "12",
    );
    let response = service
        .oneshot(grpc_request("/random.Service/Guess", messages(1, b"")))
        .await
        .unwrap();
    drain(response).await;
    let (labels, _, _) = histogram(&registry, "rpc_server_call_duration_seconds");
    assert_eq!(labels[1], ("rpc_service".to_owned(), "_OTHER".to_owned()));
    assert_eq!(labels[2], ("rpc_method".to_owned(), "_OTHER".to_owned()));
}

/// RPC conventions, `rpc.method`: an instrumentation that "could end up converting valid
/// RPC methods to `_OTHER`" (here, a method whose calls are all answered before routing,
/// never read) "SHOULD provide a way to configure the list of recognized RPC methods".
#[tokio::test(flavor = "current_thread")]
async fn configured_methods_are_named_in_metric_labels_before_any_call_reaches_them() {
    let (_sink, _guard) = capture();
    let registry = Registry::new();
    let layer = GrpcServerLayer::new()
        .with_registry(&registry)
        .with_methods(["shop.v1.Cart/Get"])
        .with_methods([String::from("shop.v1.Cart/Put")]);
    // An authentication layer under the server layer: every call UNAUTHENTICATED, no
    // request read.
    let service = ServiceBuilder::new()
        .layer(layer)
        .service_fn(|_: Request<_>| async {
            let response = Response::builder()
                .header("content-type", "application/grpc")
                .header("grpc-status", "16")
                .body(Empty::<Bytes>::new())
                .unwrap();
            Ok::<_, Infallible>(response)
        });
    for path in ["/shop.v1.Cart/Get", "/shop.v1.Cart/Put", "/made.Up/Name"] {
        let response = service
            .clone()
            .oneshot(grpc_request(path, messages(1, b"")))
            .await
            .unwrap();
        drain(response).await;
    }
    let mut methods: Vec<String> = family(&registry, "rpc_server_call_duration_seconds")
        .points
        .iter()
        .map(|p| {
            let method = p.labels.iter().find(|(k, _)| k == "rpc_method");
            method.map(|(_, v)| v.clone()).unwrap_or_default()
        })
        .collect();
    methods.sort();
    assert_eq!(methods, ["Get", "Put", "_OTHER"]);
}

#[tokio::test(flavor = "current_thread")]
async fn a_cancelled_stream_ends_its_span_as_cancelled() {
    let (sink, _guard) = capture();
    let registry = Registry::new();
    let (mut sender, body) = http_body_util::channel::Channel::<Bytes, Infallible>::new(4);
    let body = std::sync::Mutex::new(Some(body));
    let service = ServiceBuilder::new()
        .layer(GrpcServerLayer::new().with_registry(&registry))
        .service_fn(move |_: Request<_>| {
            let body = body.lock().unwrap().take().expect("one call");
            async move { Ok::<_, Infallible>(Response::new(body)) }
        });
    let response = service
        .oneshot(grpc_request("/shop.v1.Orders/Watch", messages(1, b"")))
        .await
        .unwrap();
    sender.send_data(messages(2, b"tick")).await.unwrap();
    let mut body = response.into_body();
    body.frame().await.unwrap().unwrap();
    assert!(sink.spans().is_empty(), "the stream is still open");
    // The client goes away: the server drops the body mid-stream.
    drop(body);

    let span = only(&sink);
    assert_eq!(
        attribute(&span, "rpc.grpc.status_code").as_deref(),
        Some("1")
    );
    assert_eq!(
        span.status,
        Status::Unset,
        "CANCELLED is not a server fault"
    );
    assert_eq!(histogram(&registry, "rpc_server_responses_per_rpc").1, 2.0);
}

#[tokio::test(flavor = "current_thread")]
async fn a_call_cut_off_at_its_deadline_is_deadline_exceeded_and_one_dropped_before_is_cancelled() {
    let (sink, _guard) = capture();
    let registry = Registry::new();
    let service = ServiceBuilder::new()
        .layer(GrpcServerLayer::new().with_registry(&registry))
        .service_fn(|_: Request<CountedBody<Full<Bytes>>>| {
            std::future::pending::<Result<Response<Empty<Bytes>>, Infallible>>()
        });
    let with_timeout = |timeout: &'static str| {
        let mut request = grpc_request("/shop.v1.Orders/Get", messages(1, b""));
        let timeout = HeaderValue::from_static(timeout);
        request.headers_mut().insert("grpc-timeout", timeout);
        request
    };
    // Starts the call (the layer's stopwatch with it) and returns it still pending.
    async fn started<F: std::future::Future + Unpin>(mut call: F) -> F {
        let first = std::future::poll_fn(|cx| {
            std::task::Poll::Ready(std::pin::Pin::new(&mut call).poll(cx))
        })
        .await;
        assert!(first.is_pending(), "the handler never answers");
        call
    }
    // What tonic's server does with a `grpc-timeout`: the call is dropped once the
    // deadline has passed. The wait starts after the layer's stopwatch, so a loaded
    // machine can only make it longer: the deadline has always passed at the drop.
    let call = started(Box::pin(service.clone().oneshot(with_timeout("20m")))).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    drop(call);
    let span = only(&sink);
    assert_eq!(outcome(&span), expected("4", Some("DEADLINE_EXCEEDED")));
    assert!(matches!(span.status, Status::Error { .. }), "{span:?}");
    let (labels, _, _) = histogram(&registry, "rpc_server_call_duration_seconds");
    assert!(labels.contains(&("rpc_grpc_status_code".to_owned(), "4".to_owned())));

    // Dropped long before its deadline: the caller cancelled.
    drop(started(Box::pin(service.clone().oneshot(with_timeout("10S")))).await);
    let span = only(&sink);
    assert_eq!(outcome(&span), expected("1", None));
    assert_eq!(span.status, Status::Unset);

    // A stream given up on after its deadline, but after its head: tonic enforces no
    // deadline past the head, so the caller cancelled.
    let (_sender, body) = http_body_util::channel::Channel::<Bytes, Infallible>::new(1);
    let body = std::sync::Mutex::new(Some(body));
    let streaming = ServiceBuilder::new()
        .layer(GrpcServerLayer::new().with_registry(&registry))
        .service_fn(move |_: Request<_>| {
            let body = body.lock().unwrap().take().expect("one call");
            async move { Ok::<_, Infallible>(Response::new(body)) }
        });
    let response = streaming.oneshot(with_timeout("1n")).await.unwrap();
    drop(response);
    assert_eq!(outcome(&only(&sink)), expected("1", None));
}

async fn panicking_handler(
    _: Request<CountedBody<Full<Bytes>>>,
) -> Result<Response<Empty<Bytes>>, Infallible> {
    panic!("the handler panicked")
}

#[tokio::test(flavor = "current_thread")]
async fn a_panicking_handler_fails_its_span_with_unknown() {
    let (sink, _guard) = capture();
    let registry = Registry::new();
    let service = ServiceBuilder::new()
        .layer(GrpcServerLayer::new().with_registry(&registry))
        .service_fn(panicking_handler);
    let call = service.oneshot(grpc_request("/shop.v1.Orders/Get", messages(1, b"")));
    assert!(tokio::spawn(call).await.unwrap_err().is_panic());

    let span = only(&sink);
    assert!(matches!(span.status, Status::Error { .. }), "{span:?}");
    // The call's status is UNKNOWN, and `error.type` names it, as for any status that
    // fails the span (RPC conventions): no second value for one status.
    assert_eq!(outcome(&span), expected("2", Some("UNKNOWN")));
    let (labels, _, count) = histogram(&registry, "rpc_server_call_duration_seconds");
    assert_eq!(count, 1);
    assert!(labels.contains(&("rpc_grpc_status_code".to_owned(), "2".to_owned())));
    assert!(labels.contains(&("error_type".to_owned(), "UNKNOWN".to_owned())));
}

/// A service under the server layer that fails a call with `error`: the call's status is
/// the one tonic's server answers it with (its `RecoverError` sends a `tonic::Status`,
/// returned or boxed, as a trailers-only response), `UNKNOWN` when the error holds none
/// (gRPC's code for a server application that ended the call without a status). Both the
/// span and the duration carry that status, and `error.type` is its name when it is a
/// server fault (RPC conventions, `error.type`: "If a status code is returned and it
/// indicates an error, `error.type` SHOULD be set to that status code"), never a Rust type.
async fn failed_call<E: 'static>(
    sink: &InMemorySpanSink,
    error: fn() -> E,
) -> (SpanData, Vec<(String, String)>) {
    let registry = Registry::new();
    let service = ServiceBuilder::new()
        .layer(GrpcServerLayer::new().with_registry(&registry))
        .service_fn(move |_: Request<CountedBody<Full<Bytes>>>| async move {
            Err::<Response<Empty<Bytes>>, E>(error())
        });
    let result = service
        .oneshot(grpc_request("/shop.v1.Orders/Get", messages(1, b"")))
        .await;
    assert!(result.is_err(), "the error passes through");
    let (labels, _, count) = histogram(&registry, "rpc_server_call_duration_seconds");
    assert_eq!(count, 1);
    (only(sink), labels)
}

#[tokio::test(flavor = "current_thread")]
async fn a_failed_service_records_the_status_the_server_answers_with() {
    type BoxError = Box<dyn std::error::Error + Send + Sync>;
    #[derive(Debug)]
    struct Refused;
    let (sink, _guard) = capture();
    let label = |labels: &[(String, String)], key: &str| {
        labels
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    };
    // (outcome on the span, whether it failed, status and error labels of the duration)
    let check = |(span, labels): (SpanData, Vec<(String, String)>),
                 code: &str,
                 error_type: Option<&str>| {
        assert_eq!(outcome(&span), expected(code, error_type), "{span:?}");
        assert_eq!(
            matches!(span.status, Status::Error { .. }),
            error_type.is_some(),
            "{span:?}"
        );
        assert_eq!(
            label(&labels, "rpc_grpc_status_code").as_deref(),
            Some(code)
        );
        assert_eq!(
            label(&labels, "error_type").as_deref(),
            Some(error_type.unwrap_or(""))
        );
    };
    // A status the caller gets as it is: the caller's fault, no error on the server.
    check(
        failed_call(&sink, || tonic::Status::permission_denied("no")).await,
        "7",
        None,
    );
    // A server fault, boxed as tower layers box their errors.
    check(
        failed_call(&sink, || BoxError::from(tonic::Status::unavailable("shed"))).await,
        "14",
        Some("UNAVAILABLE"),
    );
    // Errors holding no status: the server ended the call without one.
    check(
        failed_call(&sink, || BoxError::from(std::io::Error::other("down"))).await,
        "2",
        Some("UNKNOWN"),
    );
    check(failed_call(&sink, || Refused).await, "2", Some("UNKNOWN"));
}

#[tokio::test(flavor = "current_thread")]
async fn health_and_reflection_are_excluded_unless_configured() {
    let (sink, _guard) = capture();
    for path in [
        "/grpc.health.v1.Health/Check",
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    ] {
        let response = server(GrpcServerLayer::new(), vec![], "0")
            .oneshot(grpc_request(path, messages(1, b"")))
            .await
            .unwrap();
        drain(response).await;
    }
    assert!(sink.take().is_empty());

    let everything = GrpcServerLayer::new().with_excluded_services(Vec::<String>::new());
    let response = server(everything, vec![], "0")
        .oneshot(grpc_request(
            "/grpc.health.v1.Health/Check",
            messages(1, b""),
        ))
        .await
        .unwrap();
    drain(response).await;
    assert_eq!(only(&sink).name, "grpc.health.v1.Health/Check");
}

/// A server layer over a router that also serves plain HTTP (a `/metrics` scrape beside
/// the gRPC services): only requests whose `content-type` begins with `application/grpc`,
/// in any case and with any suffix, are gRPC calls; the rest pass through untouched, not
/// recorded as failed calls.
#[tokio::test(flavor = "current_thread")]
async fn requests_that_are_no_grpc_call_pass_through_untraced() {
    let (sink, _guard) = capture();
    let registry = Registry::new();
    let layer = GrpcServerLayer::new().with_registry(&registry);
    let page = || Request::get("http://svc.local:50051/metrics").header("traceparent", TRACEPARENT);
    let not_grpc = [
        page().body(Full::new(Bytes::new())).unwrap(),
        page()
            .header("content-type", "text/plain")
            .body(Full::new(Bytes::new()))
            .unwrap(),
        page()
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from_static(b"{}")))
            .unwrap(),
        page()
            .header("content-type", "application/grp")
            .body(Full::new(Bytes::new()))
            .unwrap(),
    ];
    for request in not_grpc {
        let service = ServiceBuilder::new().layer(layer.clone()).service_fn(
            |_: Request<CountedBody<Full<Bytes>>>| async {
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"up 1\n"))))
            },
        );
        let response = service.oneshot(request).await.unwrap();
        assert_eq!(response.status(), http::StatusCode::OK);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, Bytes::from_static(b"up 1\n"));
    }
    assert!(sink.take().is_empty());
    assert!(
        family(&registry, "rpc_server_call_duration_seconds")
            .points
            .is_empty()
    );

    for content_type in [
        "application/grpc+proto",
        "Application/GRPC",
        "application/grpc-web+proto",
    ] {
        let mut request = grpc_request("/shop.Orders/Get", messages(1, b"x"));
        request
            .headers_mut()
            .insert("content-type", HeaderValue::from_static(content_type));
        let response = server(layer.clone(), vec![messages(1, b"y")], "0")
            .oneshot(request)
            .await
            .unwrap();
        drain(response).await;
        assert_eq!(only(&sink).name, "shop.Orders/Get", "{content_type}");
    }
    assert_eq!(
        histogram(&registry, "rpc_server_call_duration_seconds").2,
        3
    );
}

/// The client side of the same default, which its docs say: a health check sends no
/// `traceparent` and records nothing, unless the list is emptied.
#[tokio::test(flavor = "current_thread")]
async fn client_health_checks_are_excluded_unless_configured() {
    let (sink, _guard) = capture();
    let check = |layer: GrpcClientLayer, registry: &Registry| {
        let seen = Arc::new(std::sync::Mutex::new(None::<HeaderMap>));
        let captured = seen.clone();
        let client = ServiceBuilder::new()
            .layer(layer.with_registry(registry))
            .service_fn(move |request: Request<tonic::body::Body>| {
                *captured.lock().unwrap() = Some(request.headers().clone());
                async { Ok::<_, Infallible>(streamed(vec![], "0")) }
            });
        let request = Request::post("/grpc.health.v1.Health/Check")
            .body(tonic::body::Body::new(Full::new(messages(1, b""))))
            .unwrap();
        async move {
            drain(client.oneshot(request).await.unwrap()).await;
            let headers = seen.lock().unwrap().take().unwrap();
            headers.contains_key("traceparent")
        }
    };
    let registry = Registry::new();
    let layer = GrpcClientLayer::new().with_server_address("orders", Some(50051));
    assert!(!check(layer.clone(), &registry).await);
    assert!(sink.take().is_empty());
    assert!(
        family(&registry, "rpc_client_call_duration_seconds")
            .points
            .is_empty()
    );

    let everything = layer.with_excluded_services(Vec::<String>::new());
    assert!(check(everything, &registry).await);
    assert_eq!(only(&sink).name, "grpc.health.v1.Health/Check");
    assert_eq!(
        family(&registry, "rpc_client_call_duration_seconds")
            .points
            .len(),
        1
    );
}

#[tokio::test(flavor = "current_thread")]
async fn malformed_metadata_starts_a_new_trace_and_the_call_succeeds() {
    let (sink, _guard) = capture();
    let huge = "k=".to_owned() + &"v".repeat(64 * 1024);
    let cases: [&[(&str, &[u8])]; 4] = [
        &[("traceparent", b"00-not-a-trace-01")],
        &[(
            "traceparent",
            b"00-00000000000000000000000000000000-b7ad6b7169203331-01",
        )],
        &[
            ("traceparent", b"\xff\xfe binary"),
            ("grpc-trace-bin", b"AAEC"),
            ("custom-bin", b"AAEC==="),
        ],
        &[
            ("traceparent", TRACEPARENT.as_bytes()),
            ("traceparent", TRACEPARENT.as_bytes()),
        ],
    ];
    for headers in cases {
        let mut request = grpc_request("/shop.v1.Orders/Get", messages(1, b""));
        request.headers_mut().remove("traceparent");
        for (name, value) in headers {
            request
                .headers_mut()
                .append(*name, HeaderValue::from_bytes(value).unwrap());
        }
        request
            .headers_mut()
            .insert("baggage", HeaderValue::from_str(&huge).unwrap());
        let response = server(GrpcServerLayer::new(), vec![messages(1, b"ok")], "0")
            .oneshot(request)
            .await
            .unwrap();
        let trailers = drain(response).await.unwrap();
        assert_eq!(trailers["grpc-status"], "0", "{headers:?}");
        let span = only(&sink);
        assert!(!span.parent_span_id.is_valid(), "new root for {headers:?}");
        assert_eq!(span.status, Status::Unset);
    }
}

#[tokio::test(flavor = "current_thread")]
async fn client_injects_its_span_and_fails_on_any_non_ok_status() {
    let (sink, _guard) = capture();
    let registry = Registry::new();
    let seen = Arc::new(std::sync::Mutex::new(None::<HeaderMap>));
    let captured = seen.clone();
    let client = ServiceBuilder::new()
        .layer(
            GrpcClientLayer::new()
                .with_registry(&registry)
                .with_server_address("orders", Some(50051)),
        )
        .service_fn(move |request: Request<tonic::body::Body>| {
            *captured.lock().unwrap() = Some(request.headers().clone());
            async move {
                request.into_body().collect().await.unwrap();
                // Three response messages, the last split across two frames.
                let body = messages(3, b"ab");
                let chunks = vec![body.slice(..10), body.slice(10..)];
                Ok::<_, Infallible>(streamed(chunks, "5"))
            }
        });
    let request = Request::post("/shop.v1.Orders/Get")
        .body(tonic::body::Body::new(Full::new(messages(1, b"x"))))
        .unwrap();
    drain(client.oneshot(request).await.unwrap()).await;

    let span = only(&sink);
    assert_eq!(span.name, "shop.v1.Orders/Get");
    assert_eq!(span.kind, SpanKind::Client);
    assert!(matches!(span.status, Status::Error { .. }));
    assert_eq!(attribute(&span, "error.type").as_deref(), Some("NOT_FOUND"));
    assert_eq!(
        attribute(&span, "server.address").as_deref(),
        Some("orders")
    );
    assert_eq!(attribute(&span, "server.port").as_deref(), Some("50051"));
    let headers = seen.lock().unwrap().take().unwrap();
    let traceparent = headers["traceparent"].to_str().unwrap();
    let expected = format!(
        "00-{}-{}-",
        span.span_context.trace_id, span.span_context.span_id
    );
    assert!(traceparent.starts_with(&expected), "{traceparent}");
    let (labels, _, _) = histogram(&registry, "rpc_client_call_duration_seconds");
    assert_eq!(
        labels[3],
        ("rpc_grpc_status_code".to_owned(), "5".to_owned())
    );
    assert_eq!(labels[4], ("error_type".to_owned(), "NOT_FOUND".to_owned()));
    assert_eq!(histogram(&registry, "rpc_client_requests_per_rpc").1, 1.0);
    assert_eq!(histogram(&registry, "rpc_client_responses_per_rpc").1, 3.0);
}

/// W3C Baggage: the client layer writes `baggage` only when the context has some (then
/// replacing the application's, as the OpenTelemetry propagators API's inject *sets* it),
/// and leaves the application's alone otherwise; `traceparent` and `tracestate` are always
/// the layer's.
#[tokio::test(flavor = "current_thread")]
async fn client_keeps_an_application_baggage_header_unless_the_context_has_baggage() {
    let (sink, _guard) = capture();
    let seen = Arc::new(std::sync::Mutex::new(Vec::<HeaderMap>::new()));
    let captured = seen.clone();
    let client = ServiceBuilder::new()
        .layer(GrpcClientLayer::new().with_server_address("orders", Some(50051)))
        .service_fn(move |request: Request<tonic::body::Body>| {
            captured.lock().unwrap().push(request.headers().clone());
            async { Ok::<_, Infallible>(streamed(vec![], "0")) }
        });
    let call = || {
        let request = Request::post("/shop.v1.Orders/Get")
            .header(
                "traceparent",
                "00-ffffffffffffffffffffffffffffffff-ffffffffffffffff-01",
            )
            .header("tracestate", "app=stale")
            .header("baggage", "app=1")
            .body(tonic::body::Body::empty())
            .unwrap();
        client.clone().oneshot(request)
    };
    // No context: the call's span is a root, with no baggage and no tracestate.
    drain(call().await.unwrap()).await;
    // A context with both.
    let context = obs_trace::ActiveContext {
        span: obs_trace::SpanContext {
            trace_id: obs_trace::TraceId::from_u128(0x0af7651916cd43dd8448eb211c80319c),
            span_id: obs_trace::SpanId::from_u64(0xb7ad6b7169203331),
            flags: obs_trace::TraceFlags::SAMPLED,
            trace_state: obs_trace::TraceState::from_header("vendor=v1").unwrap(),
            is_remote: true,
        },
        baggage: obs_trace::Baggage::from_header("tenant=acme"),
    };
    {
        let _entered = obs_trace::enter_context(&context);
        drain(call().await.unwrap()).await;
    }

    let spans = sink.take();
    let headers = seen.lock().unwrap().clone();
    assert_eq!((spans.len(), headers.len()), (2, 2));
    let expected = [
        (None, Some("app=1")),
        (Some("vendor=v1"), Some("tenant=acme")),
    ];
    for ((span, headers), (tracestate, baggage)) in spans.iter().zip(&headers).zip(expected) {
        let values = |name: &str| -> Vec<&str> {
            let values = headers.get_all(name).iter();
            values.map(|v| v.to_str().unwrap()).collect()
        };
        // The call's own span (flags aside: a root also has the `random` flag).
        let own = format!(
            "00-{}-{}-",
            span.span_context.trace_id, span.span_context.span_id
        );
        let traceparents = values("traceparent");
        assert!(
            traceparents.len() == 1 && traceparents[0].starts_with(&own),
            "{traceparents:?}"
        );
        assert_eq!(values("tracestate"), Vec::from_iter(tracestate));
        assert_eq!(values("baggage"), Vec::from_iter(baggage));
    }
}

#[tokio::test(flavor = "current_thread")]
async fn client_transport_errors_and_http_statuses_fail_the_span() {
    let (sink, _guard) = capture();
    #[derive(Debug)]
    struct Refused;
    impl std::fmt::Display for Refused {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("refused")
        }
    }
    impl std::error::Error for Refused {}
    let failing = ServiceBuilder::new()
        .layer(GrpcClientLayer::new())
        .service_fn(|_: Request<tonic::body::Body>| async {
            Err::<Response<Empty<Bytes>>, _>(Refused)
        });
    let request = Request::post("http://b:1/pkg.Svc/M")
        .body(tonic::body::Body::empty())
        .unwrap();
    // An error tonic knows nothing of: tonic's client would hand its caller UNKNOWN, and so
    // does the layer, which the span then says.
    let status = failing.oneshot(request).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unknown);
    assert!(std::error::Error::source(&status).is_some_and(|e| e.is::<Refused>()));
    let span = only(&sink);
    assert_eq!(outcome(&span), expected("2", Some("UNKNOWN")));

    // A proxy's 503 without `grpc-status` reads as UNAVAILABLE.
    let proxy = ServiceBuilder::new()
        .layer(GrpcClientLayer::new())
        .service_fn(|_: Request<tonic::body::Body>| async {
            let response = Response::builder()
                .status(503)
                .body(Empty::<Bytes>::new())
                .unwrap();
            Ok::<_, Infallible>(response)
        });
    let request = Request::post("http://b:1/pkg.Svc/M")
        .body(tonic::body::Body::empty())
        .unwrap();
    drop(proxy.oneshot(request).await.unwrap());
    let span = only(&sink);
    assert_eq!(outcome(&span), expected("14", Some("UNAVAILABLE")));
}

#[tokio::test(flavor = "current_thread")]
async fn repeated_calls_add_to_their_own_series() {
    let registry = Registry::new();
    let layer = GrpcServerLayer::new().with_registry(&registry);
    // Three calls of one label set (the later ones find its series cached), then one with
    // another status and one to another method: each lands in its own series.
    for (path, code, payloads) in [
        ("/shop.v1.Orders/Get", "0", 1),
        ("/shop.v1.Orders/Get", "0", 2),
        ("/shop.v1.Orders/Get", "0", 3),
        ("/shop.v1.Orders/Get", "13", 1),
        ("/shop.v1.Orders/List", "0", 1),
    ] {
        let service = server(layer.clone(), vec![messages(payloads, b"x")], code);
        let response = service
            .oneshot(grpc_request(path, messages(1, b"")))
            .await
            .unwrap();
        drain(response).await;
    }
    let series = |name: &str, method: &str, code: &str| {
        let family = family(&registry, name);
        let point = family
            .points
            .iter()
            .find(|p| {
                p.labels
                    .contains(&("rpc_method".to_owned(), method.to_owned()))
                    && p.labels
                        .contains(&("rpc_grpc_status_code".to_owned(), code.to_owned()))
            })
            .unwrap_or_else(|| panic!("no {name} series for {method} {code}: {family:?}"));
        let PointValue::Histogram(h) = &point.value else {
            panic!("not a histogram: {point:?}");
        };
        (h.count, h.sum)
    };
    assert_eq!(
        family(&registry, "rpc_server_call_duration_seconds")
            .points
            .len(),
        3
    );
    assert_eq!(series("rpc_server_call_duration_seconds", "Get", "0").0, 3);
    assert_eq!(series("rpc_server_responses_per_rpc", "Get", "0"), (3, 6.0));
    assert_eq!(series("rpc_server_requests_per_rpc", "Get", "0"), (3, 3.0));
    assert_eq!(series("rpc_server_call_duration_seconds", "Get", "13").0, 1);
    assert_eq!(
        series("rpc_server_responses_per_rpc", "List", "0"),
        (1, 1.0)
    );
}

// === The stable RPC conventions (`OTEL_SEMCONV_STABILITY_OPT_IN=rpc` / `rpc/dup`) ===

/// Whether `registry` has a family named `name`.
fn has_family(registry: &Registry, name: &str) -> bool {
    registry.collect().iter().any(|f| f.name == name)
}

/// The labels of every point of `name` that has a non-empty label `label`, and its count.
fn points_with(registry: &Registry, name: &str, label: &str) -> Vec<(Vec<(String, String)>, u64)> {
    family(registry, name)
        .points
        .iter()
        .filter(|p| p.labels.iter().any(|(k, v)| k == label && !v.is_empty()))
        .map(|p| {
            let PointValue::Histogram(h) = &p.value else {
                panic!("not a histogram: {p:?}");
            };
            (p.labels.clone(), h.count)
        })
        .collect()
}

#[tokio::test(flavor = "current_thread")]
async fn stable_server_call_has_the_stable_attributes_and_metric_labels_only() {
    let (sink, _guard) = capture();
    let registry = Registry::new();
    let layer = GrpcServerLayer::with_conventions_in(RpcConventions::Stable, &registry);
    let service = server(layer, vec![messages(1, b"pong")], "0");
    let response = service
        .oneshot(grpc_request("/shop.v1.Orders/Get", messages(1, b"ping")))
        .await
        .unwrap();
    drain(response).await;

    let span = only(&sink);
    assert_eq!(span.name, "shop.v1.Orders/Get");
    assert_eq!(span.kind, SpanKind::Server);
    assert_eq!(span.status, Status::Unset);
    assert_attributes(
        &span,
        &[
            ("rpc.system.name", Some("grpc")),
            ("rpc.method", Some("shop.v1.Orders/Get")),
            ("rpc.status_code", Some("OK")),
            ("server.address", Some("svc.local")),
            ("server.port", Some("50051")),
            ("rpc.system", None),
            ("rpc.service", None),
            ("rpc.grpc.status_code", None),
            ("rpc.method_original", None),
            ("error.type", None),
        ],
    );

    let (duration_labels, _, count) = histogram(&registry, "rpc_server_call_duration_seconds");
    let expected = labels(&[
        ("rpc_system_name", "grpc"),
        ("rpc_method", "shop.v1.Orders/Get"),
        ("rpc_status_code", "OK"),
        ("error_type", ""),
    ]);
    assert_eq!((duration_labels, count), (expected, 1));
    assert_span_exemplar(&registry, "rpc_server_call_duration_seconds", &span);
    // Removed with no replacement by the stable conventions.
    assert!(!has_family(&registry, "rpc_server_requests_per_rpc"));
    assert!(!has_family(&registry, "rpc_server_responses_per_rpc"));
}

#[tokio::test(flavor = "current_thread")]
async fn stable_server_status_is_the_code_name_and_fails_only_on_server_faults() {
    let (sink, _guard) = capture();
    let registry = Registry::new();
    let layer = GrpcServerLayer::with_conventions_in(RpcConventions::Stable, &registry);
    for (code, name, error) in [
        ("13", "INTERNAL", Some("INTERNAL")),
        ("4", "DEADLINE_EXCEEDED", Some("DEADLINE_EXCEEDED")),
        ("5", "NOT_FOUND", None),
        ("1", "CANCELLED", None),
    ] {
        let service = server(layer.clone(), vec![], code);
        let response = service
            .oneshot(grpc_request("/shop.v1.Orders/Get", messages(1, b"")))
            .await
            .unwrap();
        drain(response).await;
        let span = only(&sink);
        assert_eq!(attribute(&span, "rpc.status_code").as_deref(), Some(name));
        assert_eq!(attribute(&span, "error.type").as_deref(), error, "{name}");
        assert_eq!(matches!(span.status, Status::Error { .. }), error.is_some());
        let series = points_with(
            &registry,
            "rpc_server_call_duration_seconds",
            "rpc_status_code",
        )
        .into_iter()
        .find(|(l, _)| l[2].1 == name)
        .unwrap_or_else(|| panic!("no series for {name}"));
        assert_eq!(
            series.0[3],
            (
                "error_type".to_owned(),
                error.unwrap_or_default().to_owned()
            )
        );
    }
}

#[tokio::test(flavor = "current_thread")]
async fn stable_server_names_an_unimplemented_or_unparsable_method_other() {
    let (sink, _guard) = capture();
    let registry = Registry::new();
    let layer = GrpcServerLayer::with_conventions_in(RpcConventions::Stable, &registry);
    // tonic's router answers a method it does not have with a trailers-only UNIMPLEMENTED.
    let service = ServiceBuilder::new()
        .layer(layer.clone())
        .service_fn(|_: Request<_>| async {
            let head = Response::builder()
                .header("content-type", "application/grpc")
                .header("grpc-status", "12");
            Ok::<_, Infallible>(head.body(Empty::<Bytes>::new()).unwrap())
        });
    let response = service
        .clone()
        .oneshot(grpc_request("/shop.v1.Orders/Nope", Bytes::new()))
        .await
        .unwrap();
    drop(response);
    let span = only(&sink);
    assert_eq!(span.name, "grpc");
    assert_eq!(attribute(&span, "rpc.method").as_deref(), Some("_OTHER"));
    assert_eq!(
        attribute(&span, "rpc.method_original").as_deref(),
        Some("shop.v1.Orders/Nope")
    );
    assert_eq!(
        attribute(&span, "rpc.status_code").as_deref(),
        Some("UNIMPLEMENTED")
    );
    assert_eq!(
        attribute(&span, "error.type").as_deref(),
        Some("UNIMPLEMENTED")
    );
    let (duration_labels, _, _) = histogram(&registry, "rpc_server_call_duration_seconds");
    assert_eq!(
        duration_labels,
        labels(&[
            ("rpc_system_name", "grpc"),
            ("rpc_method", "_OTHER"),
            ("rpc_status_code", "UNIMPLEMENTED"),
            ("error_type", "UNIMPLEMENTED"),
        ])
    );

    // A path that is not `/{service}/{method}`: `_OTHER` from the start.
    let response = service
        .oneshot(grpc_request("/healthz", Bytes::new()))
        .await
        .unwrap();
    drop(response);
    let span = only(&sink);
    assert_eq!(span.name, "grpc");
    assert_eq!(attribute(&span, "rpc.method").as_deref(), Some("_OTHER"));
    assert_eq!(
        attribute(&span, "rpc.method_original").as_deref(),
        Some("healthz")
    );
}

#[tokio::test(flavor = "current_thread")]
async fn stable_server_keeps_the_name_of_a_method_it_has_served_when_it_is_unimplemented() {
    let (sink, _guard) = capture();
    let layer = GrpcServerLayer::with_conventions_in(RpcConventions::Stable, &Registry::new());
    // A call that reads its request: tonic routed it to a handler.
    let served = server(layer.clone(), vec![messages(1, b"")], "0");
    drain(
        served
            .oneshot(grpc_request("/shop.v1.Orders/Get", messages(1, b"x")))
            .await
            .unwrap(),
    )
    .await;
    sink.take();
    // tonic's UNIMPLEMENTED for a request in a `grpc-encoding` it does not take, without
    // reading it: the method is still the server's.
    let refused = ServiceBuilder::new()
        .layer(layer)
        .service_fn(|_: Request<_>| async {
            let head = Response::builder()
                .header("content-type", "application/grpc")
                .header("grpc-status", "12");
            Ok::<_, Infallible>(head.body(Empty::<Bytes>::new()).unwrap())
        });
    let mut request = grpc_request("/shop.v1.Orders/Get", messages(1, b"x"));
    request
        .headers_mut()
        .insert("grpc-encoding", HeaderValue::from_static("br"));
    drop(refused.oneshot(request).await.unwrap());
    let span = only(&sink);
    assert_eq!(span.name, "shop.v1.Orders/Get");
    assert_attributes(
        &span,
        &[
            ("rpc.method", Some("shop.v1.Orders/Get")),
            ("rpc.method_original", None),
            ("rpc.status_code", Some("UNIMPLEMENTED")),
        ],
    );
}

#[tokio::test(flavor = "current_thread")]
async fn stable_client_call_fails_on_any_non_ok_status_and_labels_its_server() {
    let (sink, _guard) = capture();
    let registry = Registry::new();
    let layer = GrpcClientLayer::with_conventions_in(RpcConventions::Stable, &registry)
        .with_server_address("orders", Some(50051));
    let client = ServiceBuilder::new().layer(layer).service_fn(
        |request: Request<tonic::body::Body>| async move {
            request.into_body().collect().await.unwrap();
            Ok::<_, Infallible>(streamed(vec![messages(1, b"ab")], "5"))
        },
    );
    let request = Request::post("/shop.v1.Orders/Get")
        .body(tonic::body::Body::new(Full::new(messages(1, b"x"))))
        .unwrap();
    drain(client.oneshot(request).await.unwrap()).await;

    let span = only(&sink);
    assert_eq!(span.name, "shop.v1.Orders/Get");
    assert_eq!(span.kind, SpanKind::Client);
    assert!(matches!(span.status, Status::Error { .. }));
    assert_attributes(
        &span,
        &[
            ("rpc.system.name", Some("grpc")),
            ("rpc.method", Some("shop.v1.Orders/Get")),
            ("rpc.status_code", Some("NOT_FOUND")),
            ("error.type", Some("NOT_FOUND")),
            ("server.address", Some("orders")),
            ("server.port", Some("50051")),
            ("rpc.system", None),
            ("rpc.service", None),
            ("rpc.grpc.status_code", None),
        ],
    );
    let (duration_labels, _, count) = histogram(&registry, "rpc_client_call_duration_seconds");
    let expected = labels(&[
        ("rpc_system_name", "grpc"),
        ("rpc_method", "shop.v1.Orders/Get"),
        ("rpc_status_code", "NOT_FOUND"),
        ("error_type", "NOT_FOUND"),
        ("server_address", "orders"),
        ("server_port", "50051"),
    ]);
    assert_eq!((duration_labels, count), (expected, 1));
    assert_span_exemplar(&registry, "rpc_client_call_duration_seconds", &span);
    assert!(!has_family(&registry, "rpc_client_requests_per_rpc"));
}

#[tokio::test(flavor = "current_thread")]
async fn both_conventions_put_both_attribute_sets_on_spans_and_one_series_each_in_metrics() {
    let (sink, _guard) = capture();
    let registry = Registry::new();
    let layer = GrpcServerLayer::with_conventions_in(RpcConventions::Both, &registry);
    let service = server(layer, vec![messages(2, b"pong")], "5");
    let response = service
        .oneshot(grpc_request("/shop.v1.Orders/Get", messages(1, b"ping")))
        .await
        .unwrap();
    drain(response).await;

    let span = only(&sink);
    assert_eq!(span.name, "shop.v1.Orders/Get");
    assert_attributes(
        &span,
        &[
            ("rpc.system", Some("grpc")),
            ("rpc.system.name", Some("grpc")),
            ("rpc.service", Some("shop.v1.Orders")),
            // One key, one value: the stable one.
            ("rpc.method", Some("shop.v1.Orders/Get")),
            ("rpc.grpc.status_code", Some("5")),
            ("rpc.status_code", Some("NOT_FOUND")),
            ("server.address", Some("svc.local")),
            ("server.port", Some("50051")),
            ("error.type", None),
        ],
    );

    // One family, each call in it twice: the old labels' series and the stable labels'.
    let name = "rpc_server_call_duration_seconds";
    let old = points_with(&registry, name, "rpc_system");
    let stable = points_with(&registry, name, "rpc_system_name");
    assert_eq!(family(&registry, name).points.len(), 2);
    assert_eq!(
        old,
        [(
            labels(&[
                ("rpc_system", "grpc"),
                ("rpc_service", "shop.v1.Orders"),
                ("rpc_method", "Get"),
                ("rpc_grpc_status_code", "5"),
                ("error_type", ""),
                ("rpc_system_name", ""),
                ("rpc_status_code", ""),
            ]),
            1
        )]
    );
    assert_eq!(
        stable,
        [(
            labels(&[
                ("rpc_system", ""),
                ("rpc_service", ""),
                ("rpc_method", "shop.v1.Orders/Get"),
                ("rpc_grpc_status_code", ""),
                ("error_type", ""),
                ("rpc_system_name", "grpc"),
                ("rpc_status_code", "NOT_FOUND"),
            ]),
            1
        )]
    );
    for point in &family(&registry, name).points {
        assert_eq!(point.exemplars[0].span_id, span.span_context.span_id);
    }
    assert_eq!(histogram(&registry, "rpc_server_responses_per_rpc").1, 2.0);
}

#[test]
fn layers_of_other_conventions_cannot_share_a_registry_and_leave_it_alone() {
    let registry = Registry::new();
    let old = GrpcServerLayer::with_conventions_in(RpcConventions::Old, &registry);
    let stable = GrpcServerLayer::with_conventions_in(RpcConventions::Stable, &registry);
    assert!(old.config.metrics.is_some());
    // The stable layer's metrics are disabled (said on stderr); the old ones stay.
    assert!(stable.config.metrics.is_none());
    assert!(has_family(&registry, "rpc_server_requests_per_rpc"));
}

#[tokio::test(flavor = "current_thread")]
async fn both_conventions_expose_one_family_whose_two_series_leave_the_other_labels_empty() {
    let registry = Registry::new();
    let layer = GrpcClientLayer::with_conventions_in(RpcConventions::Both, &registry)
        .with_server_address("orders", Some(50051));
    let client = ServiceBuilder::new().layer(layer).service_fn(
        |request: Request<tonic::body::Body>| async move {
            request.into_body().collect().await.unwrap();
            Ok::<_, Infallible>(streamed(vec![messages(1, b"ab")], "0"))
        },
    );
    let request = Request::post("/shop.v1.Orders/Get")
        .body(tonic::body::Body::new(Full::new(messages(1, b"x"))))
        .unwrap();
    drain(client.oneshot(request).await.unwrap()).await;

    let text = registry.encode(obs_metrics::text::Format::Prometheus);
    let counts: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("rpc_client_call_duration_seconds_count"))
        .collect();
    // Each series leaves the other version's labels empty, which the Prometheus data model
    // reads as absent: a query for one version's labels matches only its series.
    assert_eq!(
        counts,
        [
            concat!(
                r#"rpc_client_call_duration_seconds_count{rpc_system="grpc","#,
                r#"rpc_service="shop.v1.Orders",rpc_method="Get",rpc_grpc_status_code="0","#,
                r#"error_type="",rpc_system_name="",rpc_status_code="",server_address="","#,
                r#"server_port=""} 1"#
            ),
            concat!(
                r#"rpc_client_call_duration_seconds_count{rpc_system="",rpc_service="","#,
                r#"rpc_method="shop.v1.Orders/Get",rpc_grpc_status_code="",error_type="","#,
                r#"rpc_system_name="grpc",rpc_status_code="OK",server_address="orders","#,
                r#"server_port="50051"} 1"#
            ),
        ],
        "{text}"
    );
    assert_eq!(
        text.matches("# TYPE rpc_client_call_duration_seconds histogram")
            .count(),
        1
    );
}

/// The string array `values`, as a captured header's attribute.
fn strings(values: &[&'static str]) -> Option<obs_trace::opentelemetry::Value> {
    use obs_trace::opentelemetry::{Array, StringValue, Value};
    Some(Value::Array(Array::String(
        values.iter().map(|&v| StringValue::from(v)).collect(),
    )))
}

/// The value of the span's attribute `key`.
fn value(span: &SpanData, key: &str) -> Option<obs_trace::opentelemetry::Value> {
    span.attribute(key).cloned()
}

/// The metadata keys the capture tests list: two that are sent, two credentials that are
/// sent, one binary key that is sent, one that is never sent.
fn listed_metadata() -> Vec<http::HeaderName> {
    [
        "x-tenant",
        "x-shard",
        "authorization",
        "cookie",
        "set-cookie",
        "x-blob-bin",
        "x-absent",
    ]
    .into_iter()
    .map(http::HeaderName::from_static)
    .collect()
}

/// A request carrying listed metadata (`x-tenant` twice, credentials, binary), and some
/// that is not listed.
fn request_with_metadata() -> Request<Full<Bytes>> {
    let mut request = grpc_request("/shop.v1.Orders/Get", messages(1, b"ping"));
    let headers = request.headers_mut();
    for (key, value) in [
        ("x-tenant", "acme"),
        ("x-tenant", "beta"),
        ("authorization", "Bearer secret"),
        ("cookie", "session=secret"),
        ("x-blob-bin", "AAEC"),
        ("x-unlisted", "nope"),
    ] {
        headers.append(key, HeaderValue::from_static(value));
    }
    request
}

/// A response whose head has `x-shard: a` (and credentials, and unlisted metadata) and
/// whose trailers have `x-shard: b` and `grpc-status: code`.
fn response_with_metadata(code: &'static str) -> Response<Frames> {
    let mut response = streamed(vec![messages(1, b"pong")], code);
    let head = response.headers_mut();
    head.insert("x-shard", HeaderValue::from_static("a"));
    head.insert("set-cookie", HeaderValue::from_static("session=secret"));
    head.insert("x-unlisted", HeaderValue::from_static("nope"));
    let mut trailers = HeaderMap::new();
    trailers.insert("grpc-status", HeaderValue::from_static(code));
    trailers.insert("x-shard", HeaderValue::from_static("b"));
    trailers.insert("x-blob-bin", HeaderValue::from_static("AAEC"));
    let frames: Vec<FrameResult> = vec![
        Ok(Frame::data(messages(1, b"pong"))),
        Ok(Frame::trailers(trailers)),
    ];
    response.map(|_| StreamBody::new(futures_util::stream::iter(frames)))
}

/// Asserts that the captured metadata of `span` under `prefix` (`rpc.request.metadata.`'s
/// and `rpc.response.metadata.`'s common start, `rpc.` or `rpc.grpc.`) is the listed keys
/// that came, with all their values (the response's from its head, then its trailers), and
/// nothing else: no credential, no binary key, no unlisted key.
fn assert_captured(span: &SpanData, prefix: &str, response: Option<&'static [&'static str]>) {
    let request = format!("{prefix}request.metadata.");
    let response_prefix = format!("{prefix}response.metadata.");
    assert_eq!(
        value(span, &format!("{request}x-tenant")),
        strings(&["acme", "beta"])
    );
    assert_eq!(
        value(span, &format!("{response_prefix}x-shard")),
        response.and_then(strings)
    );
    let captured: Vec<&str> = span
        .attributes
        .iter()
        .map(|kv| kv.key.as_str())
        .filter(|key| key.starts_with(&request) || key.starts_with(&response_prefix))
        .collect();
    let expected = if response.is_some() { 2 } else { 1 };
    assert_eq!(captured.len(), expected, "{captured:?}");
}

#[tokio::test(flavor = "current_thread")]
async fn server_records_listed_metadata_of_requests_headers_and_trailers_and_never_credentials() {
    for (conventions, prefixes, absent) in [
        (RpcConventions::Old, &["rpc.grpc."][..], "rpc."),
        (RpcConventions::Stable, &["rpc."][..], "rpc.grpc."),
        (RpcConventions::Both, &["rpc.grpc.", "rpc."][..], ""),
    ] {
        let (sink, _guard) = capture();
        let layer = GrpcServerLayer::with_conventions_in(conventions, &Registry::new())
            .with_request_metadata(listed_metadata())
            .with_response_metadata(listed_metadata());
        let service = ServiceBuilder::new().layer(layer).service_fn(
            |request: Request<CountedBody<Full<Bytes>>>| async move {
                request.into_body().collect().await.unwrap();
                Ok::<_, Infallible>(response_with_metadata("0"))
            },
        );
        let response = service.oneshot(request_with_metadata()).await.unwrap();
        drain(response).await;

        let span = only(&sink);
        for prefix in prefixes {
            assert_captured(&span, prefix, Some(&["a", "b"]));
        }
        if !absent.is_empty() {
            // The other version's names are not recorded.
            assert_eq!(
                value(&span, &format!("{absent}request.metadata.x-tenant")),
                None,
                "{conventions:?}"
            );
        }
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_trailers_only_response_has_its_metadata_in_its_head() {
    let (sink, _guard) = capture();
    let layer = GrpcServerLayer::with_conventions_in(RpcConventions::Stable, &Registry::new())
        .with_response_metadata(listed_metadata());
    let service = ServiceBuilder::new()
        .layer(layer)
        .service_fn(|_: Request<_>| async {
            let response = Response::builder()
                .header("content-type", "application/grpc")
                .header("grpc-status", "5")
                .header("x-shard", "a")
                .header("x-shard", "c")
                .header("set-cookie", "session=secret")
                .body(Empty::<Bytes>::new())
                .unwrap();
            Ok::<_, Infallible>(response)
        });
    drain(service.oneshot(request_with_metadata()).await.unwrap()).await;

    let span = only(&sink);
    assert_eq!(
        value(&span, "rpc.response.metadata.x-shard"),
        strings(&["a", "c"])
    );
    assert_eq!(value(&span, "rpc.response.metadata.set-cookie"), None);
    // Request metadata was not asked for.
    assert_eq!(value(&span, "rpc.request.metadata.x-tenant"), None);
}

#[tokio::test(flavor = "current_thread")]
async fn client_records_listed_metadata_as_sent_and_as_answered_and_never_credentials() {
    let (sink, _guard) = capture();
    let client = ServiceBuilder::new()
        .layer(
            GrpcClientLayer::with_conventions_in(RpcConventions::Stable, &Registry::new())
                .with_server_address("orders", Some(50051))
                .with_request_metadata(listed_metadata())
                .with_response_metadata(listed_metadata()),
        )
        .service_fn(|request: Request<tonic::body::Body>| async move {
            request.into_body().collect().await.unwrap();
            Ok::<_, Infallible>(response_with_metadata("5"))
        });
    let (parts, body) = request_with_metadata().into_parts();
    let request = Request::from_parts(parts, tonic::body::Body::new(body));
    drain(client.oneshot(request).await.unwrap()).await;

    let span = only(&sink);
    assert_eq!(span.kind, SpanKind::Client);
    assert_captured(&span, "rpc.", Some(&["a", "b"]));
}

#[tokio::test(flavor = "current_thread")]
async fn nothing_is_captured_unless_configured() {
    let (sink, _guard) = capture();
    let layer = GrpcServerLayer::with_conventions_in(RpcConventions::Both, &Registry::new());
    let service = ServiceBuilder::new().layer(layer).service_fn(
        |request: Request<CountedBody<Full<Bytes>>>| async move {
            request.into_body().collect().await.unwrap();
            Ok::<_, Infallible>(response_with_metadata("0"))
        },
    );
    drain(service.oneshot(request_with_metadata()).await.unwrap()).await;

    let span = only(&sink);
    let captured: Vec<&str> = span
        .attributes
        .iter()
        .map(|kv| kv.key.as_str())
        .filter(|key| key.contains(".metadata."))
        .collect();
    assert!(captured.is_empty(), "{captured:?}");
}
