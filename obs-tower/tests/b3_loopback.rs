//! B3 through the HTTP server and client layers over loopback: a request that comes with a
//! `b3` header continues its trace, and the call its handler makes carries `b3` (and
//! `traceparent` too when both are chosen). One test in a binary of its own, since the
//! choice of propagators is global to the process.

#[path = "../../obs-core/tests/support/wait.rs"]
pub mod wait;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use bytes::Bytes;
use http::{HeaderMap, Request};
use http_body_util::BodyExt;
use obs_tower::{HttpClientLayer, HttpServerLayer, Layer};
use obs_trace::opentelemetry::trace::SpanKind;
use obs_trace::{InMemorySpanSink, Propagators, SpanData, SpanLayer, set_propagators};
use tokio::net::TcpListener;
use tower::ServiceExt;
use tracing_subscriber::prelude::*;

const WAIT: Duration = Duration::from_secs(10);
const TRACE: &str = "80f198ee56343ba864fe8b2a57d3eff7";
const CALLER_SPAN: &str = "e457b5a2e4d86bd1";

type Client = hyper_util::client::legacy::Client<
    hyper_util::client::legacy::connect::HttpConnector,
    http_body_util::Empty<Bytes>,
>;

async fn serve(router: Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    addr
}

/// Sends `GET /` with `headers` through the plain client and reads the answer.
async fn call(addr: SocketAddr, headers: &[(&str, &str)]) {
    let mut request = Request::get(format!("http://{addr}/"));
    for &(name, value) in headers {
        request = request.header(name, value);
    }
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http();
    let response = client
        .request(request.body(http_body_util::Empty::<Bytes>::new()).unwrap())
        .await
        .unwrap();
    assert!(response.status().is_success(), "{response:?}");
    response.into_body().collect().await.unwrap();
}

fn spans_of(sink: &InMemorySpanSink, kind: SpanKind) -> Vec<SpanData> {
    sink.spans()
        .into_iter()
        .filter(|s| s.kind == kind)
        .collect()
}

#[tokio::test(flavor = "current_thread")]
async fn a_b3_request_continues_its_trace_and_the_outgoing_call_carries_b3() {
    let sink = InMemorySpanSink::new();
    let subscriber =
        tracing_subscriber::registry().with(SpanLayer::new().with_sink(Arc::new(sink.clone())));
    let _guard = tracing::subscriber::set_default(subscriber);

    // The downstream service records the headers of each call it gets.
    let seen: Arc<Mutex<Vec<HeaderMap>>> = Arc::default();
    let recorder = seen.clone();
    let downstream = serve(Router::new().route(
        "/",
        get(move |headers: HeaderMap| {
            recorder.lock().unwrap().push(headers);
            async { "" }
        }),
    ))
    .await;
    // The service under test calls downstream through the client layer.
    let client: Client =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http();
    let client = HttpClientLayer::new()
        .with_registry(&obs_metrics::Registry::new())
        .layer(client);
    let service = serve(
        Router::new()
            .route(
                "/",
                get(move || {
                    let client = client.clone();
                    async move {
                        let request = Request::get(format!("http://{downstream}/"))
                            .body(http_body_util::Empty::new())
                            .unwrap();
                        let response = client.oneshot(request).await.unwrap();
                        response.into_body().collect().await.unwrap();
                        ""
                    }
                }),
            )
            .layer(HttpServerLayer::new().with_registry(&obs_metrics::Registry::new())),
    )
    .await;

    for (propagators, traceparent_too) in [
        (
            Propagators {
                b3: true,
                ..Propagators::W3C
            },
            true,
        ),
        (
            Propagators {
                b3: true,
                ..Propagators::NONE
            },
            false,
        ),
    ] {
        set_propagators(propagators);
        sink.take();
        seen.lock().unwrap().clear();
        call(service, &[("b3", &format!("{TRACE}-{CALLER_SPAN}-1"))]).await;

        let ended = wait::wait_until(WAIT, || {
            !spans_of(&sink, SpanKind::Server).is_empty()
                && !spans_of(&sink, SpanKind::Client).is_empty()
        })
        .await;
        assert!(ended, "{:#?}", sink.spans());
        let server = &spans_of(&sink, SpanKind::Server)[0];
        let client = &spans_of(&sink, SpanKind::Client)[0];
        // The server span continues the caller's trace under the caller's span, with an id
        // of its own.
        assert_eq!(server.span_context.trace_id.to_string(), TRACE);
        assert_eq!(server.parent_span_id.to_string(), CALLER_SPAN);
        assert_ne!(server.span_context.span_id.to_string(), CALLER_SPAN);
        assert!(server.span_context.is_sampled());
        assert_eq!(client.span_context.trace_id.to_string(), TRACE);
        assert_eq!(client.parent_span_id, server.span_context.span_id);

        // Downstream gets the client span as its parent, in B3 and, when chosen, W3C.
        let seen = seen.lock().unwrap().clone();
        let [headers] = seen.as_slice() else {
            panic!("one downstream call: {seen:?}");
        };
        assert_eq!(
            headers["b3"],
            format!("{TRACE}-{}-1", client.span_context.span_id),
            "{propagators:?}"
        );
        assert_eq!(
            headers
                .get("traceparent")
                .map(|v| v.to_str().unwrap().to_owned()),
            traceparent_too.then(|| format!("00-{TRACE}-{}-01", client.span_context.span_id)),
            "{propagators:?}"
        );
        assert!(headers.get("x-b3-traceid").is_none(), "{headers:?}");
    }
}
