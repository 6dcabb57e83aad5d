//! Real tonic servers and clients over loopback, spans in memory: the metadata listed with
//! `with_request_metadata` / `with_response_metadata` is recorded on both sides' spans
//! (response metadata from the response head and the trailers, and from the head of a
//! trailers-only answer), under both versions' names with `rpc/dup`, and credentials,
//! binary metadata and metadata that is not listed never are.
//!
//! Each test runs on a current-thread runtime, so the server's tasks run on the test's
//! thread and see its default subscriber.

mod grpc_common;

use grpc_common::spans::{capture, of_kind, take_spans};
use grpc_common::{Catalog, CatalogClient, Item, ItemRequest, ItemStream};
use http::HeaderName;
use obs_tonic::{GrpcClientLayer, GrpcServerLayer, RpcConventions};
use obs_trace::SpanData;
use obs_trace::opentelemetry::trace::SpanKind;
use obs_trace::opentelemetry::{Array, StringValue, Value};
use tonic::metadata::{BinaryMetadataValue, MetadataMap, MetadataValue};
use tonic::{Code, Request, Response, Status};

/// The `id` for which `Get` fails with NOT_FOUND (a trailers-only answer).
const MISSING: u32 = 404;

/// Listed on both layers: sent ones, credentials (sent), a binary key (sent), one never
/// sent.
fn listed() -> Vec<HeaderName> {
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
    .map(HeaderName::from_static)
    .collect()
}

/// Metadata with `x-shard: value`, a credential and a key that is not listed.
fn answer_metadata(value: &'static str) -> MetadataMap {
    let mut metadata = MetadataMap::new();
    metadata.insert("x-shard", MetadataValue::from_static(value));
    metadata.insert("set-cookie", MetadataValue::from_static("session=secret"));
    metadata.insert("x-unlisted", MetadataValue::from_static("nope"));
    metadata
}

/// `Get` answers with `x-shard: head` in its response head, or for [`MISSING`] NOT_FOUND
/// with `x-shard: not-found` (trailers-only); `List` sends `x-shard: head` in its head,
/// one item, and ends with ABORTED carrying `x-shard: trailer` in its trailers.
fn catalog() -> Catalog {
    Catalog::new(
        |request: Request<ItemRequest>| async move {
            if request.into_inner().id == MISSING {
                return Err(Status::with_metadata(
                    Code::NotFound,
                    "no such item",
                    answer_metadata("not-found"),
                ));
            }
            let mut response = Response::new(Item::default());
            *response.metadata_mut() = answer_metadata("head");
            Ok(response)
        },
        |_request: Request<ItemRequest>| async move {
            let end = Status::with_metadata(Code::Aborted, "stop", answer_metadata("trailer"));
            let stream: ItemStream =
                Box::pin(futures_util::stream::iter([Ok(Item::default()), Err(end)]));
            let mut response = Response::new(stream);
            *response.metadata_mut() = answer_metadata("head");
            Ok(response)
        },
    )
}

/// A request for `id` with listed metadata (`x-tenant` twice), credentials, binary
/// metadata and metadata that is not listed.
fn request(id: u32) -> Request<ItemRequest> {
    let mut request = Request::new(ItemRequest { id, count: 1 });
    let metadata = request.metadata_mut();
    metadata.append("x-tenant", MetadataValue::from_static("acme"));
    metadata.append("x-tenant", MetadataValue::from_static("beta"));
    metadata.insert("authorization", MetadataValue::from_static("Bearer secret"));
    metadata.insert("cookie", MetadataValue::from_static("session=secret"));
    metadata.insert("x-unlisted", MetadataValue::from_static("nope"));
    metadata.insert_bin("x-blob-bin", BinaryMetadataValue::from_bytes(&[0, 1, 2]));
    request
}

fn strings(values: &[&'static str]) -> Value {
    Value::Array(Array::String(
        values.iter().map(|&v| StringValue::from(v)).collect(),
    ))
}

/// Asserts that `span`'s captured metadata, under both versions' names, is exactly
/// `x-tenant` (both values) and `x-shard` (`shard`).
fn assert_captured(span: &SpanData, shard: &[&'static str]) {
    let mut captured: Vec<(String, Value)> = span
        .attributes
        .iter()
        .filter(|kv| kv.key.as_str().contains(".metadata."))
        .map(|kv| (kv.key.as_str().to_owned(), kv.value.clone()))
        .collect();
    captured.sort_by(|a, b| a.0.cmp(&b.0));
    let expected: Vec<(String, Value)> = [
        (
            "rpc.grpc.request.metadata.x-tenant",
            strings(&["acme", "beta"]),
        ),
        ("rpc.grpc.response.metadata.x-shard", strings(shard)),
        ("rpc.request.metadata.x-tenant", strings(&["acme", "beta"])),
        ("rpc.response.metadata.x-shard", strings(shard)),
    ]
    .into_iter()
    .map(|(key, value)| (key.to_owned(), value))
    .collect();
    assert_eq!(captured, expected, "{:?} {}", span.kind, span.name);
}

#[tokio::test(flavor = "current_thread")]
async fn listed_metadata_is_recorded_on_both_sides_and_credentials_never() {
    // Both versions' names: the layers read the setting when they are built.
    obs_trace::set_rpc_conventions(RpcConventions::Both);
    let (sink, _guard) = capture();
    let server = GrpcServerLayer::new()
        .with_request_metadata(listed())
        .with_response_metadata(listed());
    let addr = catalog().serve_with(server).await;
    let client = GrpcClientLayer::new()
        .with_request_metadata(listed())
        .with_response_metadata(listed());
    let mut client = CatalogClient::with_layer(addr, client);

    // Unary: the response head's metadata.
    client.get(request(1)).await.expect("item");
    let spans = take_spans(&sink, 2).await;
    for kind in [SpanKind::Server, SpanKind::Client] {
        assert_captured(of_kind(&spans, kind), &["head"]);
    }

    // Trailers-only: the status and its metadata in the head.
    let status = client.get(request(MISSING)).await.expect_err("not found");
    assert_eq!(status.code(), Code::NotFound);
    let spans = take_spans(&sink, 2).await;
    for kind in [SpanKind::Server, SpanKind::Client] {
        assert_captured(of_kind(&spans, kind), &["not-found"]);
    }

    // Streaming: the head's metadata, then the trailers'.
    let mut stream = client.list(request(1)).await.expect("stream");
    assert!(stream.message().await.expect("one item").is_some());
    let status = stream.message().await.expect_err("aborted");
    assert_eq!(status.code(), Code::Aborted);
    drop(stream);
    let spans = take_spans(&sink, 2).await;
    for kind in [SpanKind::Server, SpanKind::Client] {
        assert_captured(of_kind(&spans, kind), &["head", "trailer"]);
    }
}
