//! Real tonic servers and clients over loopback, spans in memory: gRPC statuses map to the
//! span status and `error.type` on each side, a cancelled stream ends both spans, and
//! malformed metadata starts a new trace without failing the call.
//!
//! Each test runs on a current-thread runtime, so the servers' tasks run on the test's
//! thread and see its default subscriber.

mod grpc_common;

use std::net::SocketAddr;
use std::time::Duration;

use grpc_common::outcomes;
use grpc_common::spans::{
    assert_client_deadline_exceeded, attribute, capture, is_error, of_kind, take_spans,
};
use grpc_common::{Catalog, CatalogClient, Item, ItemRequest, ItemStream};
use obs_tonic::GrpcClientLayer;
use obs_trace::SpanData;
use obs_trace::opentelemetry::trace::SpanKind;
use tonic::metadata::{BinaryMetadataValue, MetadataValue};
use tonic::{Code, Request, Response, Status};

/// Adds a test case's metadata to a request.
type AddMetadata = dyn Fn(&mut tonic::metadata::MetadataMap);

/// The `id` for which `failing_catalog`'s `Get` never answers.
const NEVER_ANSWER: u32 = u32::MAX;

/// The `id` for which `failing_catalog`'s `Get` panics.
const PANIC: u32 = u32::MAX - 1;

/// A catalog whose `Get` fails with the code in the request's `id` (or never answers, for
/// [`NEVER_ANSWER`], or panics, for [`PANIC`]), and whose `List` sends one item and then waits forever.
fn failing_catalog() -> Catalog {
    Catalog::new(
        |request: Request<ItemRequest>| async move {
            let id = request.into_inner().id;
            if id == NEVER_ANSWER {
                std::future::pending::<()>().await;
            }
            assert_ne!(id, PANIC, "the handler panicked");
            match Code::from_i32(id as i32) {
                Code::Ok => Ok(Response::new(Item::default())),
                code => Err(Status::new(code, "as asked")),
            }
        },
        |_request: Request<ItemRequest>| async move {
            let first = futures_util::stream::iter([Ok(Item::default())]);
            let stream: ItemStream = Box::pin(futures_util::StreamExt::chain(
                first,
                futures_util::stream::pending(),
            ));
            Ok(Response::new(stream))
        },
    )
}

#[tokio::test(flavor = "current_thread")]
async fn statuses_map_to_span_status_and_error_type_on_each_side() {
    let (sink, _guard) = capture();
    let addr = failing_catalog().serve().await;
    let mut client = CatalogClient::new(addr);
    // (code, server error.type, client error.type)
    let cases = [
        (Code::Ok, None, None),
        (Code::Internal, Some("INTERNAL"), Some("INTERNAL")),
        (Code::Unavailable, Some("UNAVAILABLE"), Some("UNAVAILABLE")),
        (Code::NotFound, None, Some("NOT_FOUND")),
        (Code::InvalidArgument, None, Some("INVALID_ARGUMENT")),
    ];
    for (code, server_error, client_error) in cases {
        let result = client
            .get(Request::new(ItemRequest {
                id: code as u32,
                count: 0,
            }))
            .await;
        assert_eq!(
            result.err().map(|s| s.code()),
            (code != Code::Ok).then_some(code)
        );
        let spans = take_spans(&sink, 2).await;
        let server = of_kind(&spans, SpanKind::Server);
        let client = of_kind(&spans, SpanKind::Client);
        let number = (code as i32).to_string();
        for span in [server, client] {
            assert_eq!(span.name, "obs.test.Catalog/Get");
            assert_eq!(
                attribute(span, "rpc.grpc.status_code"),
                Some(number.clone())
            );
        }
        assert_eq!(server.parent_span_id, client.span_context.span_id);
        assert_eq!(
            attribute(server, "error.type").as_deref(),
            server_error,
            "{code:?}"
        );
        assert_eq!(is_error(server), server_error.is_some(), "{code:?}");
        assert_eq!(
            attribute(client, "error.type").as_deref(),
            client_error,
            "{code:?}"
        );
        assert_eq!(is_error(client), client_error.is_some(), "{code:?}");
    }

    // A method the service does not have: tonic answers UNIMPLEMENTED, a server fault.
    assert_eq!(
        client.missing().await.unwrap_err().code(),
        Code::Unimplemented
    );
    let spans = take_spans(&sink, 2).await;
    let server = of_kind(&spans, SpanKind::Server);
    assert_eq!(server.name, "obs.test.Catalog/Missing");
    assert_eq!(
        attribute(server, "error.type").as_deref(),
        Some("UNIMPLEMENTED")
    );
    assert!(is_error(server));
}

#[tokio::test(flavor = "current_thread")]
async fn an_answer_without_grpc_status_is_unknown_on_both_sides() {
    let (sink, _guard) = capture();
    let addr = failing_catalog().serve().await;
    let mut client = CatalogClient::new(addr);
    // An empty 200 with no `grpc-status`: the server sends it as a head ending the stream,
    // never polling the body, and the client reads UNKNOWN (gRPC's
    // doc/http-grpc-status-mapping.md), as must both spans.
    let status = client.bare().await.unwrap_err();
    assert_eq!(status.code(), Code::Unknown, "{status:?}");
    let spans = take_spans(&sink, 2).await;
    for kind in [SpanKind::Server, SpanKind::Client] {
        let span = of_kind(&spans, kind.clone());
        assert_eq!(
            attribute(span, "rpc.grpc.status_code").as_deref(),
            Some("2"),
            "{span:#?}"
        );
        assert_eq!(attribute(span, "error.type").as_deref(), Some("UNKNOWN"));
        assert!(is_error(span), "{kind:?}");
    }
}

/// Asserts that the client span and the client duration metric of the one call recorded
/// in `registry` say the status the caller got, `status`.
fn assert_client_recorded(client: &SpanData, registry: &obs_metrics::Registry, status: &Status) {
    let code = (status.code() as i32).to_string();
    let name = code_name(status.code());
    assert_eq!(
        attribute(client, "rpc.grpc.status_code").as_deref(),
        Some(code.as_str()),
        "{status:?} {client:#?}"
    );
    assert_eq!(attribute(client, "error.type").as_deref(), Some(name));
    assert!(is_error(client));
    assert_eq!(
        outcomes(registry, "rpc_client_call_duration_seconds"),
        [(code, name.to_owned(), 1)],
        "{status:?}"
    );
}

/// The conventions' name of `code` (the codes a transport failure can end a call with).
fn code_name(code: Code) -> &'static str {
    match code {
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        other => panic!("no transport failure gives {other:?}"),
    }
}

/// RPC conventions: the CLIENT span's status code is the one the call ended with, for the
/// caller: a call that got no status from the server (a refused connection, a stream broken
/// mid-way) ends with the one tonic makes of the transport error, and that, not the error's
/// Rust type, is the span's and the metric's `rpc.grpc.status_code` and `error.type`.
#[tokio::test(flavor = "current_thread")]
async fn transport_failures_record_the_status_the_caller_gets() {
    let (sink, _guard) = capture();
    // A port nothing listens on any more: the connection is refused.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let refused = listener.local_addr().unwrap();
    drop(listener);
    let registry = obs_metrics::Registry::new();
    let layer = GrpcClientLayer::new().with_registry(&registry);
    let status = CatalogClient::with_layer(refused, layer)
        .get(Request::new(ItemRequest::default()))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    let spans = take_spans(&sink, 1).await;
    assert_client_recorded(of_kind(&spans, SpanKind::Client), &registry, &status);

    // A server that sends the head and one message, then resets the stream.
    let catalog = failing_catalog();
    let breaker = catalog.breaker();
    let addr = catalog.serve().await;
    let registry = obs_metrics::Registry::new();
    let layer = GrpcClientLayer::new().with_registry(&registry);
    let mut stream = CatalogClient::with_layer(addr, layer)
        .broken()
        .await
        .unwrap();
    assert!(stream.message().await.unwrap().is_some());
    breaker.notify_one();
    let status = stream.message().await.unwrap_err();
    assert_eq!(status.code(), Code::Internal, "{status:?}");
    drop(stream);
    let spans = take_spans(&sink, 2).await;
    assert_client_recorded(of_kind(&spans, SpanKind::Client), &registry, &status);
}

/// RPC conventions, `error.type`: "If a status code is returned and it indicates an error,
/// `error.type` SHOULD be set to that status code". A layer under the server layer that
/// fails a call with a status (boxed) gets that status sent by tonic's server: the server
/// span and duration record it, failed only if it is a server fault. An error holding no
/// status makes tonic reset the stream: the server ended the call without a status, which
/// gRPC calls UNKNOWN. Neither records the error's Rust type.
#[tokio::test(flavor = "current_thread")]
async fn a_layer_failing_calls_under_the_server_layer_records_their_status() {
    let (sink, _guard) = capture();
    let registry = obs_metrics::Registry::new();
    let addr = failing_catalog().serve_behind_failures(&registry).await;
    let mut client = CatalogClient::new(addr);
    let failing = |kind: &'static str| {
        let mut request = Request::new(ItemRequest::default());
        request
            .metadata_mut()
            .insert("fail", MetadataValue::from_static(kind));
        request
    };
    let status = client.get(failing("status")).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    let spans = take_spans(&sink, 2).await;
    let server = of_kind(&spans, SpanKind::Server);
    assert_eq!(
        attribute(server, "rpc.grpc.status_code").as_deref(),
        Some("8")
    );
    assert_eq!(attribute(server, "error.type"), None);
    assert!(!is_error(server), "RESOURCE_EXHAUSTED is no server fault");

    assert!(client.get(failing("other")).await.is_err());
    let spans = take_spans(&sink, 2).await;
    let server = of_kind(&spans, SpanKind::Server);
    assert_eq!(
        attribute(server, "rpc.grpc.status_code").as_deref(),
        Some("2")
    );
    assert_eq!(attribute(server, "error.type").as_deref(), Some("UNKNOWN"));
    assert!(is_error(server));

    assert_eq!(
        outcomes(&registry, "rpc_server_call_duration_seconds"),
        [
            ("2".to_owned(), "UNKNOWN".to_owned(), 1),
            ("8".to_owned(), String::new(), 1)
        ]
    );
}

/// The `rpc_method` label of every `rpc_server_call_duration_seconds` series of `registry`
/// with the status `code`, and its count.
fn methods_answered(registry: &obs_metrics::Registry, code: Code) -> Vec<(String, u64)> {
    let family = registry
        .collect()
        .into_iter()
        .find(|f| f.name == "rpc_server_call_duration_seconds")
        .expect("the duration family");
    let label = |point: &obs_metrics::PointSnapshot, key: &str| {
        point
            .labels
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let code = (code as i32).to_string();
    let mut methods: Vec<_> = family
        .points
        .iter()
        .filter(|p| label(p, "rpc_grpc_status_code") == code)
        .map(|p| match &p.value {
            obs_metrics::PointValue::Histogram(h) => (label(p, "rpc_method"), h.count),
            other => panic!("not a histogram: {other:?}"),
        })
        .collect();
    methods.sort();
    methods
}

#[tokio::test(flavor = "current_thread")]
async fn made_up_methods_rejected_before_routing_are_other_in_metric_labels() {
    let (_sink, _guard) = capture();
    let registry = obs_metrics::Registry::new();
    let addr = failing_catalog().serve_behind_auth(&registry).await;
    let mut client = CatalogClient::untraced(addr);
    // A scanner without credentials: the auth layer rejects each made-up method before
    // tonic could answer UNIMPLEMENTED, so only the caller says these methods exist. As
    // labels they would be unbounded (rpc.method: "_OTHER" when the method is not known).
    for i in 0..20 {
        let status = client.call_method(&format!("Probe{i}")).await.unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated);
    }
    assert_eq!(
        methods_answered(&registry, Code::Unauthenticated),
        [("_OTHER".to_owned(), 20)]
    );
    // A method the catalog has keeps its name once it has served a call: its requests were
    // read, which no layer rejecting a call before routing does.
    let mut request = Request::new(ItemRequest::default());
    request
        .metadata_mut()
        .insert("authorization", MetadataValue::from_static("Bearer t"));
    client.get(request).await.unwrap();
    assert_eq!(
        methods_answered(&registry, Code::Ok),
        [("Get".to_owned(), 1)]
    );
    client
        .get(Request::new(ItemRequest::default()))
        .await
        .unwrap_err();
    client.call_method("Probe20").await.unwrap_err();
    assert_eq!(
        methods_answered(&registry, Code::Unauthenticated),
        [("Get".to_owned(), 1), ("_OTHER".to_owned(), 21)]
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_panicking_handler_fails_its_call_and_the_connection_carries_on() {
    let (sink, _guard) = capture();
    let addr = failing_catalog().serve().await;
    let mut client = CatalogClient::new(addr);
    let panicking = Request::new(ItemRequest {
        id: PANIC,
        count: 0,
    });
    // tonic catches no panic: the stream's task unwinds and the stream is reset.
    assert!(client.get(panicking).await.is_err());
    let spans = take_spans(&sink, 2).await;
    let server = of_kind(&spans, SpanKind::Server);
    // gRPC's status for a handler that ends other than with a status, named by
    // `error.type` as any status that fails the span is.
    assert_eq!(attribute(server, "error.type").as_deref(), Some("UNKNOWN"));
    assert_eq!(
        attribute(server, "rpc.grpc.status_code").as_deref(),
        Some("2")
    );
    assert!(is_error(server));
    assert!(is_error(of_kind(&spans, SpanKind::Client)));
    // The next call goes over the same connection.
    client
        .get(Request::new(ItemRequest::default()))
        .await
        .unwrap();
    let spans = take_spans(&sink, 2).await;
    for span in &spans {
        assert_eq!(
            attribute(span, "rpc.grpc.status_code").as_deref(),
            Some("0")
        );
    }
    assert_eq!(
        attribute(of_kind(&spans, SpanKind::Server), "client.port"),
        attribute(server, "client.port"),
        "one connection"
    );
}

/// Sends a POST of `body` with `headers` to `path` as it is, over a plain channel (no gRPC
/// client adds its headers), and returns the answer's `grpc-status`.
async fn post_raw(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    body: &'static [u8],
) -> String {
    let mut channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_lazy();
    tower::ServiceExt::ready(&mut channel).await.unwrap();
    let mut request = http::Request::post(format!("http://{addr}{path}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request
        .body(tonic::body::Body::new(http_body_util::Full::new(
            bytes::Bytes::from_static(body),
        )))
        .unwrap();
    let response = tower_service::Service::call(&mut channel, request)
        .await
        .unwrap();
    let (head, body) = response.into_parts();
    let trailers = http_body_util::BodyExt::collect(body)
        .await
        .unwrap()
        .trailers()
        .cloned();
    // In the head of a trailers-only answer, else in the trailers.
    let status = head
        .headers
        .get("grpc-status")
        .or_else(|| trailers.as_ref()?.get("grpc-status"));
    status.expect("a grpc-status").to_str().unwrap().to_owned()
}

/// Requests that are no gRPC call (a `content-type` not beginning with `application/grpc`)
/// get tonic's answer, and pass through the layer untraced, as an HTTP route served beside
/// the services does: recorded, they would be failed calls no gRPC client made.
#[tokio::test(flavor = "current_thread")]
async fn requests_that_are_not_grpc_get_tonics_answer_untraced() {
    let (sink, _guard) = capture();
    let addr = failing_catalog().serve().await;
    let cases = [
        // JSON to a method: tonic reads `{` as a message's compression flag: INTERNAL.
        (
            "/obs.test.Catalog/Get",
            "application/json",
            &b"{\"id\": 1}"[..],
            "13",
        ),
        // No method at all: the router's UNIMPLEMENTED.
        ("/", "text/plain", &b""[..], "12"),
    ];
    for (path, content_type, body, code) in cases {
        let status = post_raw(addr, path, &[("content-type", content_type)], body).await;
        assert_eq!(status, code, "{path}");
    }
    // The same unknown path as a gRPC call is traced, failed by the router's answer. Its
    // span is the only one: the spans above would have ended before their answers were
    // read.
    let status = post_raw(addr, "/", &[("content-type", "application/grpc")], b"").await;
    assert_eq!(status, "12");
    let span = &take_spans(&sink, 1).await[0];
    assert_eq!(span.kind, SpanKind::Server);
    assert_eq!(
        attribute(span, "rpc.grpc.status_code").as_deref(),
        Some("12")
    );
    assert!(is_error(span), "{span:#?}");
}

#[tokio::test(flavor = "current_thread")]
async fn a_method_the_server_has_keeps_its_name_when_tonic_refuses_its_encoding() {
    let (sink, _guard) = capture();
    let registry = obs_metrics::Registry::new();
    let addr = failing_catalog().serve_behind_auth(&registry).await;
    let auth = ("authorization", "Bearer t");
    let grpc = ("content-type", "application/grpc");
    // One empty message, as a client sends it.
    let message = &[0, 0, 0, 0, 0][..];
    let status = post_raw(addr, "/obs.test.Catalog/Get", &[auth, grpc], message).await;
    assert_eq!(status, "0");
    // An encoding tonic does not take: UNIMPLEMENTED, though the method is the server's
    // (gRPC's PROTOCOL-HTTP2, "Compression"); a made-up method gets the router's.
    let brotli = ("grpc-encoding", "br");
    for path in ["/obs.test.Catalog/Get", "/obs.test.Catalog/Made"] {
        let status = post_raw(addr, path, &[auth, grpc, brotli], message).await;
        assert_eq!(status, "12", "{path}");
    }
    assert_eq!(
        methods_answered(&registry, Code::Unimplemented),
        [("Get".to_owned(), 1), ("_OTHER".to_owned(), 1)]
    );
    take_spans(&sink, 3).await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_cancelled_stream_ends_both_spans() {
    let (sink, _guard) = capture();
    let addr = failing_catalog().serve().await;
    let mut client = CatalogClient::new(addr);
    let mut stream = client
        .list(Request::new(ItemRequest::default()))
        .await
        .unwrap();
    assert!(stream.message().await.unwrap().is_some());
    // Both ends get every chance to run (each yield lets the runtime poll the sockets
    // first), with no wall-clock wait: neither may end its span while the stream is open.
    for _ in 0..64 {
        tokio::task::yield_now().await;
    }
    assert!(
        sink.spans().is_empty(),
        "the stream is open: no span has ended"
    );
    // The client gives up on the stream: the server sees the HTTP/2 stream reset.
    drop(stream);

    let spans = take_spans(&sink, 2).await;
    let server = of_kind(&spans, SpanKind::Server);
    let client = of_kind(&spans, SpanKind::Client);
    for span in [server, client] {
        assert_eq!(span.name, "obs.test.Catalog/List");
        assert_eq!(
            attribute(span, "rpc.grpc.status_code").as_deref(),
            Some("1")
        );
    }
    assert!(!is_error(server), "CANCELLED is the caller's doing");
    assert!(is_error(client), "every non-OK status fails a client span");
    assert_eq!(
        attribute(client, "error.type").as_deref(),
        Some("CANCELLED")
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_call_past_its_deadline_is_deadline_exceeded_where_it_timed_out() {
    let (sink, _guard) = capture();
    let addr = failing_catalog().serve().await;
    let mut client = CatalogClient::new(addr);
    // A first call opens the connection, so that the deadline's timers start on both sides
    // within a millisecond or so.
    client
        .get(Request::new(ItemRequest::default()))
        .await
        .unwrap();
    take_spans(&sink, 2).await;

    let mut request = Request::new(ItemRequest {
        id: NEVER_ANSWER,
        count: 0,
    });
    request.set_timeout(Duration::from_millis(100));
    let status = client.get(request).await.unwrap_err();
    // tonic hands its caller CANCELLED for a deadline its channel enforced; gRPC's code is
    // DEADLINE_EXCEEDED.
    assert_eq!(status.code(), Code::Cancelled, "{status:?}");
    let spans = take_spans(&sink, 2).await;
    let client = of_kind(&spans, SpanKind::Client);
    assert_client_deadline_exceeded(client);
    // The server times the call out when its own timer, started as the request arrived,
    // fires: usually first, a server fault. But the client's timer started earlier, and its
    // stream reset may reach a loaded server before that: then the client gave up first.
    let server = of_kind(&spans, SpanKind::Server);
    let outcome = (
        attribute(server, "rpc.grpc.status_code"),
        attribute(server, "error.type"),
        is_error(server),
    );
    let timed_out = (
        Some("4".to_owned()),
        Some("DEADLINE_EXCEEDED".to_owned()),
        true,
    );
    let reset_first = (Some("1".to_owned()), None, false);
    assert!(
        outcome == timed_out || outcome == reset_first,
        "{server:#?}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn malformed_metadata_starts_a_new_trace_and_never_fails_the_call() {
    let (sink, _guard) = capture();
    let addr = failing_catalog().serve().await;
    let mut client = CatalogClient::untraced(addr);
    // Over the propagation limits (traceparent is 55 bytes, W3C Baggage allows 8192) yet
    // under h2's 16 KiB header list limit, which would reject the call before any layer
    // sees it.
    let long = "v".repeat(1024);
    let longer = "v".repeat(9 * 1024);
    let cases: Vec<(&str, Box<AddMetadata>)> = vec![
        (
            "invalid traceparent",
            Box::new(|m| {
                m.insert(
                    "traceparent",
                    MetadataValue::from_static("00-xyz-b7ad6b7169203331-01"),
                );
            }),
        ),
        (
            "all-zero trace id",
            Box::new(|m| {
                m.insert(
                    "traceparent",
                    MetadataValue::from_static(
                        "00-00000000000000000000000000000000-b7ad6b7169203331-01",
                    ),
                );
            }),
        ),
        (
            "binary headers",
            Box::new(|m| {
                m.insert_bin(
                    "traceparent-bin",
                    BinaryMetadataValue::from_bytes(&[0, 1, 2, 255]),
                );
                m.insert_bin("grpc-trace-bin", BinaryMetadataValue::from_bytes(&[0; 29]));
            }),
        ),
        (
            "oversized values",
            Box::new(move |m| {
                let huge = format!("00-{long}");
                m.insert("traceparent", huge.parse().unwrap());
                m.insert("tracestate", format!("k={long}").parse().unwrap());
                m.insert("baggage", format!("k={longer}").parse().unwrap());
            }),
        ),
    ];
    for (case, add_metadata) in cases {
        let mut request = Request::new(ItemRequest::default());
        add_metadata(request.metadata_mut());
        client
            .get(request)
            .await
            .unwrap_or_else(|e| panic!("{case}: {e}"));
        let spans = take_spans(&sink, 1).await;
        let server = &spans[0];
        assert_eq!(server.kind, SpanKind::Server, "{case}");
        assert!(!server.parent_span_id.is_valid(), "{case}: a new trace");
        assert!(server.span_context.trace_id.is_valid(), "{case}");
        assert_eq!(
            attribute(server, "rpc.grpc.status_code").as_deref(),
            Some("0"),
            "{case}"
        );
    }
}
