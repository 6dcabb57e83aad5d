//! gRPC-Web, as a browser's grpc-web client sends it, to a tonic server with tonic-web's
//! `GrpcWebLayer` under `GrpcServerLayer`: the server layer sees the calls before they are
//! turned into gRPC, and records the status and messages of each as the client gets them,
//! in both of gRPC-Web's modes (binary, and text: base64, the grpc-web client's default).

mod grpc_common;

use std::net::SocketAddr;
use std::time::Duration;

use grpc_common::spans::{attribute, capture, is_error, take_spans};
use grpc_common::{Catalog, Item, ItemRequest, ItemStream, outcomes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::{Code, Request, Response, Status};

/// A catalog whose `Get` fails with the code in the request's `id` (OK for 0).
fn catalog() -> Catalog {
    Catalog::new(
        |request: Request<ItemRequest>| async move {
            match Code::from_i32(request.into_inner().id as i32) {
                Code::Ok => Ok(Response::new(Item::default())),
                code => Err(Status::new(code, "as asked")),
            }
        },
        |_request: Request<ItemRequest>| async move {
            let stream: ItemStream = Box::pin(futures_util::stream::empty());
            Ok(Response::new(stream))
        },
    )
}

/// `bytes` in base64 with padding (RFC 4648 §4), by the `base64` crate: an encoder
/// independent of the layer's decoder.
fn base64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Calls `Get` for `id` over HTTP/1.1 as gRPC-Web (`text`: its text mode, request and
/// answer base64) and returns the answer as it came, its head included.
async fn call_get(addr: SocketAddr, id: u8, text: bool) -> String {
    // `ItemRequest { id }`: field 1, a varint (absent when 0).
    let message: &[u8] = if id == 0 { &[] } else { &[0x08, id] };
    let mut frame = vec![0, 0, 0, 0, message.len() as u8];
    frame.extend_from_slice(message);
    let (content_type, body) = if text {
        ("application/grpc-web-text", base64(&frame).into_bytes())
    } else {
        ("application/grpc-web+proto", frame)
    };
    let mut request = format!(
        "POST /obs.test.Catalog/Get HTTP/1.1\r\nHost: {addr}\r\ncontent-type: {content_type}\r\n\
         accept: {content_type}\r\nx-grpc-web: 1\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(&body);
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(&request).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("the server answers and closes")
        .unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test(flavor = "current_thread")]
async fn grpc_web_calls_record_the_status_the_browser_gets_in_both_modes() {
    let (sink, _guard) = capture();
    for text in [false, true] {
        let registry = obs_metrics::Registry::new();
        let addr = catalog().serve_grpc_web(&registry).await;
        // (id, the code the server answers, its `error.type` on the server span)
        let cases = [(0, "0", None), (5, "5", None), (13, "13", Some("INTERNAL"))];
        for (id, code, error_type) in cases {
            let answer = call_get(addr, id, text).await;
            assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
            if text {
                assert!(answer.contains("application/grpc-web-text"), "{answer}");
            }
            let span = &take_spans(&sink, 1).await[0];
            assert_eq!(
                attribute(span, "rpc.grpc.status_code").as_deref(),
                Some(code),
                "text: {text}, {span:#?}"
            );
            assert_eq!(attribute(span, "error.type").as_deref(), error_type);
            assert_eq!(is_error(span), error_type.is_some());
        }
        let expected = [
            ("0".to_owned(), String::new(), 1),
            ("13".to_owned(), "INTERNAL".to_owned(), 1),
            ("5".to_owned(), String::new(), 1),
        ];
        assert_eq!(
            outcomes(&registry, "rpc_server_call_duration_seconds"),
            expected,
            "text: {text}"
        );
        // One request message each, and the one answer of the call that succeeded (the
        // trailers frame is no message).
        let messages = |name: &str| -> f64 {
            let family = registry
                .collect()
                .into_iter()
                .find(|f| f.name == name)
                .unwrap();
            family
                .points
                .iter()
                .map(|p| match &p.value {
                    obs_metrics::PointValue::Histogram(h) => h.sum,
                    other => panic!("not a histogram: {other:?}"),
                })
                .sum()
        };
        assert_eq!(messages("rpc_server_requests_per_rpc"), 3.0, "text: {text}");
        assert_eq!(
            messages("rpc_server_responses_per_rpc"),
            1.0,
            "text: {text}"
        );
    }
}
