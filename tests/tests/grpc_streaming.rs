//! Client-streaming and bidirectional calls through real tonic servers and clients over
//! loopback: both spans end with the call's status, and each side counts the messages of
//! both streams (`rpc.*.requests_per_rpc`, `rpc.*.responses_per_rpc`); a client that stops
//! reading a bidirectional stream ends its span at once, as CANCELLED.
//!
//! The test runs on a current-thread runtime, so the server's tasks run on its thread and
//! see its default subscriber.

mod grpc_common;

use std::time::Duration;

use futures_util::stream;
use grpc_common::spans::{attribute, capture, is_error, of_kind, take_spans};
use grpc_common::{Catalog, CatalogClient, ItemRequest, items};
use obs_metrics::PointValue;
use obs_tests::wait::wait_until;
use obs_trace::opentelemetry::trace::SpanKind;
use tonic::{Request, Response};

/// `(sum, count)` of the histogram `name` in the global registry for `method`'s calls
/// with status `code`.
fn messages(name: &str, method: &str, code: &str) -> (f64, u64) {
    let family = obs_metrics::global()
        .collect()
        .into_iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("no family {name}"));
    let label = |point: &obs_metrics::PointSnapshot, key: &str| {
        point
            .labels
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    };
    let point = family
        .points
        .iter()
        .find(|p| {
            label(p, "rpc_method").as_deref() == Some(method)
                && label(p, "rpc_grpc_status_code").as_deref() == Some(code)
        })
        .unwrap_or_else(|| panic!("no {method} {code} series in {family:?}"));
    let PointValue::Histogram(h) = &point.value else {
        panic!("not a histogram: {point:?}");
    };
    (h.sum, h.count)
}

/// `requests` ids, as a request stream.
fn requests(count: u32) -> impl futures_util::Stream<Item = ItemRequest> + Send + 'static {
    stream::iter((0..count).map(|id| ItemRequest { id, count: 0 }))
}

#[tokio::test(flavor = "current_thread")]
async fn streamed_calls_count_both_streams_on_each_side_and_end_with_their_status() {
    let (sink, _guard) = capture();
    let catalog = Catalog::new(
        |_: Request<ItemRequest>| async { Ok(Response::new(Default::default())) },
        |_: Request<ItemRequest>| async { Ok(Response::new(items(0, 0))) },
    );
    let addr = catalog.serve().await;
    let mut client = CatalogClient::new(addr);

    assert_eq!(client.collect(requests(5)).await.unwrap().id, 5);
    let mut answers = client.chat(requests(3)).await.unwrap();
    let mut answered = 0;
    while answers.message().await.unwrap().is_some() {
        answered += 1;
    }
    assert_eq!(answered, 3);
    let spans = take_spans(&sink, 4).await;
    for (method, sent, answered) in [("Collect", 5.0, 1.0), ("Chat", 3.0, 3.0)] {
        let name = format!("obs.test.Catalog/{method}");
        let call: Vec<_> = spans.iter().filter(|s| s.name == name).collect();
        assert_eq!(call.len(), 2, "{spans:#?}");
        for span in call {
            assert_eq!(
                attribute(span, "rpc.grpc.status_code").as_deref(),
                Some("0")
            );
            assert!(!is_error(span), "{span:#?}");
        }
        for side in ["server", "client"] {
            let requests = format!("rpc_{side}_requests_per_rpc");
            let responses = format!("rpc_{side}_responses_per_rpc");
            assert_eq!(
                messages(&requests, method, "0"),
                (sent, 1),
                "{side} {method}"
            );
            assert_eq!(
                messages(&responses, method, "0"),
                (answered, 1),
                "{side} {method}"
            );
        }
    }

    // The client reads one answer and drops the stream while its requests are still open.
    let (sender, receiver) = tokio::sync::mpsc::channel::<ItemRequest>(1);
    sender.send(ItemRequest::default()).await.unwrap();
    let pending = stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|request| (request, receiver))
    });
    let mut answers = client.chat(pending).await.unwrap();
    assert!(answers.message().await.unwrap().is_some());
    drop(answers);
    let spans = take_spans(&sink, 1).await;
    let client_span = of_kind(&spans, SpanKind::Client);
    assert_eq!(
        attribute(client_span, "rpc.grpc.status_code").as_deref(),
        Some("1")
    );
    assert_eq!(
        attribute(client_span, "error.type").as_deref(),
        Some("CANCELLED")
    );
    assert_eq!(
        messages("rpc_client_responses_per_rpc", "Chat", "1"),
        (1.0, 1)
    );
    // The HTTP/2 stream stays half open while the client still sends: the server's call
    // ends once the request stream does.
    drop(sender);
    wait_until(Duration::from_secs(10), || !sink.spans().is_empty()).await;
    let spans = sink.take();
    let server = of_kind(&spans, SpanKind::Server);
    assert!(!is_error(server), "{server:#?}");
}
