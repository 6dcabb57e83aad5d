//! W3C Baggage end to end over loopback connections: a service behind [`HttpServerLayer`]
//! receives baggage and calls another through [`HttpClientLayer`], which gets the caller's
//! baggage, normalised as the spec allows, with what the handler added.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use bytes::Bytes;
use http::{HeaderMap, Request};
use http_body_util::{BodyExt, Full};
use obs_tower::{HttpClientLayer, HttpServerLayer, Layer};
use obs_trace::{ActiveContext, InMemorySpanSink, SpanExt, SpanLayer};
use tokio::net::TcpListener;
use tracing_subscriber::prelude::*;

async fn serve(router: Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    addr
}

/// The downstream service: answers with the `baggage` fields it got, one a line.
async fn echo_baggage(headers: HeaderMap) -> String {
    let values = headers.get_all("baggage").iter();
    let values: Vec<_> = values.map(|v| v.to_str().unwrap()).collect();
    values.join("\n")
}

/// The upstream handler: calls `downstream` with `added=by handler` added to the baggage
/// it runs with (`/add`) or not (`/forward`), and answers with what `downstream` got.
async fn call(downstream: SocketAddr, add: bool) -> String {
    let mut client = HttpClientLayer::new().layer(
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http::<Full<Bytes>>(),
    );
    let request = Request::get(format!("http://{downstream}/"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let current = tracing::Span::current();
    let mut baggage = current.baggage();
    if add {
        baggage.insert("added", "by handler").unwrap();
    }
    let context = ActiveContext {
        span: current.span_context().unwrap_or_default(),
        baggage,
    };
    // The client span is created, and the context injected, when the call is made.
    let response = {
        let _entered = obs_trace::enter_context(&context);
        tower::Service::call(&mut client, request)
    };
    let body = response.await.unwrap().into_body().collect().await.unwrap();
    String::from_utf8(body.to_bytes().to_vec()).unwrap()
}

#[tokio::test(flavor = "current_thread")]
async fn baggage_is_forwarded_normalised_with_what_the_handler_added() {
    let sink = InMemorySpanSink::new();
    let subscriber =
        tracing_subscriber::registry().with(SpanLayer::new().with_sink(Arc::new(sink.clone())));
    let _guard = tracing::subscriber::set_default(subscriber);
    let downstream = serve(Router::new().route("/", get(echo_baggage))).await;
    let upstream = serve(
        Router::new()
            .route("/forward", get(move || call(downstream, false)))
            .route("/add", get(move || call(downstream, true)))
            .layer(HttpServerLayer::new()),
    )
    .await;
    let http = reqwest::Client::new();
    // Two fields make one list; OWS around `=`, `,` and `;` goes; an empty member and one
    // whose key is no token are left out, the rest kept; values stay percent-encoded.
    let incoming = [
        "userId =   alice,,bad key=1",
        "serverNode = DF%2028 ;p1 ; p2 = v , name = Am%C3%A9lie",
    ];
    let forwarded = "userId=alice,serverNode=DF%2028;p1;p2=v,name=Am%C3%A9lie";
    let many: Vec<_> = (0..70).map(|i| format!("k{i}=v")).collect();
    let large: Vec<_> = (0..10)
        .map(|i| format!("k{i}={}", "x".repeat(1000)))
        .collect();
    // Baggage does not hang on the trace: sampled, not sampled, or none.
    let traceparents = [
        Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
        Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"),
        None,
    ];
    for traceparent in traceparents {
        let get = |path: &str, baggage: &[&str]| {
            let mut request = http.get(format!("http://{upstream}{path}"));
            if let Some(traceparent) = traceparent {
                request = request.header("traceparent", traceparent);
            }
            for value in baggage {
                request = request.header("baggage", *value);
            }
            async move { request.send().await.unwrap().text().await.unwrap() }
        };
        assert_eq!(
            get("/forward", &incoming).await,
            forwarded,
            "{traceparent:?}"
        );
        assert_eq!(
            get("/add", &incoming).await,
            format!("{forwarded},added=by%20handler"),
            "{traceparent:?}"
        );
        assert_eq!(get("/add", &[]).await, "added=by%20handler");
        assert_eq!(get("/forward", &[]).await, "", "no baggage, no field");
        // Over the 64-member limit the first 64 go on.
        let over = many.join(",");
        assert_eq!(get("/forward", &[&over]).await, many[..64].join(","));
        // Over 8192 bytes, whole members go on while they fit (8 of 1004 bytes, commas in).
        let over = large.join(",");
        assert_eq!(get("/forward", &[&over]).await, large[..8].join(","));
    }
}

/// Baggage the handler adds with `SpanExt::set_baggage` reaches a call made through reqwest
/// (`reqwest_middleware` with obs's `TracingMiddleware`), with what came in, whether the
/// caller's trace is sampled, not sampled, or absent; on a multi-threaded runtime, where the
/// handler's future moves between workers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baggage_set_in_the_handler_reaches_a_reqwest_call() {
    tracing_subscriber::registry().with(SpanLayer::new()).init();
    let downstream = serve(Router::new().route("/", get(echo_baggage))).await;
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(obs_tower::reqwest::TracingMiddleware::new(
            HttpClientLayer::new().with_registry(&obs_metrics::Registry::new()),
        ))
        .build();
    let handler = move || {
        let client = client.clone();
        async move {
            let current = tracing::Span::current();
            let mut baggage = current.baggage();
            baggage.insert("tenant.id", "42").unwrap();
            current.set_baggage(baggage);
            let response = client.get(format!("http://{downstream}/")).send().await;
            response.unwrap().text().await.unwrap()
        }
    };
    let upstream = serve(
        Router::new()
            .route("/", get(handler))
            .layer(HttpServerLayer::new()),
    )
    .await;
    let traceparents = [
        Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
        Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"),
        None,
    ];
    for traceparent in traceparents {
        let mut request = reqwest::Client::new()
            .get(format!("http://{upstream}/"))
            .header("baggage", "user=alice");
        if let Some(traceparent) = traceparent {
            request = request.header("traceparent", traceparent);
        }
        let received = request.send().await.unwrap().text().await.unwrap();
        assert_eq!(received, "user=alice,tenant.id=42", "{traceparent:?}");
    }
}
