//! HTTP plumbing shared by the integration tests: serve an axum router on a free loopback
//! port, and call URLs through `obs`'s client layer (or without it).

use std::net::SocketAddr;

use axum::Router;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use obs_core::tower::{HttpClientLayer, Instrumented};
use tower_service::Service;

/// A hyper-util client behind [`HttpClientLayer`].
pub type TracedClient = Instrumented<Client<HttpConnector, Empty<Bytes>>, HttpClientLayer>;

/// A new [`TracedClient`].
pub fn traced_client() -> TracedClient {
    Instrumented::new(
        Client::builder(TokioExecutor::new()).build_http(),
        HttpClientLayer::new(),
    )
}

/// GETs `url` through `client` and returns the body as text.
pub async fn get_text(client: &TracedClient, url: &str) -> String {
    let mut client = client.clone();
    let request = http::Request::get(url).body(Empty::new()).expect("request");
    std::future::poll_fn(|cx| client.poll_ready(cx))
        .await
        .expect("client ready");
    let response = client.call(request).await.expect("response");
    text(response).await
}

/// GETs `url` as a sampled caller would: its `traceparent` names the trace `trace_id` and
/// the caller's span `caller_span`. Returns the body.
pub async fn get_as_caller(url: &str, trace_id: &str, caller_span: &str) -> String {
    let traceparent = format!("00-{trace_id}-{caller_span}-01");
    get_plain(url, &[("traceparent", &traceparent)]).await
}

/// GETs `url` with a plain client (no telemetry) and the given headers; returns the body.
pub async fn get_plain(url: &str, headers: &[(&str, &str)]) -> String {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let mut request = http::Request::get(url);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let response = client
        .request(request.body(Empty::new()).expect("request"))
        .await
        .expect("response");
    text(response).await
}

/// The whole body of `response`, as text.
async fn text<B: http_body::Body>(response: http::Response<B>) -> String
where
    B::Error: std::fmt::Debug,
{
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    String::from_utf8_lossy(&body).into_owned()
}

/// Serves `router` on a free 127.0.0.1 port in the background; returns the address.
pub async fn serve(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move { axum::serve(listener, router).await });
    addr
}

/// Serves, behind `HttpServerLayer`, a service whose `/echo` answers with the `baggage`
/// header it received (empty without one); returns that URL. The downstream end of the
/// baggage tests.
pub async fn serve_baggage_echo() -> String {
    let echo = Router::new()
        .route(
            "/echo",
            axum::routing::get(|headers: http::HeaderMap| async move {
                headers
                    .get("baggage")
                    .map(|v| v.to_str().unwrap_or("not text").to_owned())
                    .unwrap_or_default()
            }),
        )
        .layer(obs_core::tower::HttpServerLayer::new());
    format!("http://{}/echo", serve(echo).await)
}
