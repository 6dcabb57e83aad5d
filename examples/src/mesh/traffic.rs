//! The burst of requests the runner sends to the gateway, and plain (untraced) HTTP gets
//! for readiness and scraping.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use http::{Method, Request, header};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::MeshOptions;
use super::summary::Traffic;
use crate::service::BoxError;

/// An HTTP/1 client without instrumentation: the runner is the user, not a service.
pub(crate) type PlainClient = Client<HttpConnector, Full<Bytes>>;

/// How long one request may take before it counts as failed.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// A new [`PlainClient`].
pub(crate) fn plain_client() -> PlainClient {
    Client::builder(TokioExecutor::new()).build_http()
}

/// The status of `GET url`, or `None` if there was no answer in time.
pub(crate) async fn get_status(client: &PlainClient, url: &str) -> Option<u16> {
    let (status, _) = request(client, Method::GET, url, Bytes::new()).await.ok()?;
    Some(status)
}

/// The body of `GET url`, which must answer 200.
pub(crate) async fn get_text(client: &PlainClient, url: &str) -> Result<String, BoxError> {
    match request(client, Method::GET, url, Bytes::new()).await? {
        (200, body) => Ok(String::from_utf8_lossy(&body).into_owned()),
        (status, _) => Err(format!("GET {url} answered {status}").into()),
    }
}

async fn request(
    client: &PlainClient,
    method: Method,
    url: &str,
    body: Bytes,
) -> Result<(u16, Bytes), BoxError> {
    let mut builder = Request::builder().method(method).uri(url);
    if !body.is_empty() {
        builder = builder.header(header::CONTENT_TYPE, "application/json");
    }
    let request = builder.body(Full::new(body))?;
    let exchange = async {
        let response = client.request(request).await?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await?.to_bytes();
        Ok::<_, BoxError>((status, body))
    };
    tokio::time::timeout(REQUEST_TIMEOUT, exchange)
        .await
        .map_err(|_| format!("no answer from {url} within {REQUEST_TIMEOUT:?}"))?
}

/// The `index`-th request of the burst: three orders, then a report.
fn nth_request(gateway: SocketAddr, index: usize) -> (Method, String, Bytes) {
    if index % 4 == 3 {
        (
            Method::GET,
            format!("http://{gateway}/reports/{}", index / 4),
            Bytes::new(),
        )
    } else {
        let order =
            serde_json::json!({ "sku": format!("sku-{}", index % 5), "qty": 1 + index % 3 });
        (
            Method::POST,
            format!("http://{gateway}/orders"),
            Bytes::from(order.to_string()),
        )
    }
}

/// Sends `options.requests` requests, `options.concurrency` at a time, stopping early
/// after `options.max_traffic`.
pub(crate) async fn send(
    client: &PlainClient,
    gateway: SocketAddr,
    options: &MeshOptions,
) -> Traffic {
    let started = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::with_capacity(options.concurrency);
    for _ in 0..options.concurrency {
        let client = client.clone();
        let next = Arc::clone(&next);
        let (total, budget) = (options.requests, options.max_traffic);
        workers.push(tokio::spawn(async move {
            let mut answers: Vec<Option<u16>> = Vec::new();
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= total || started.elapsed() >= budget {
                    return answers;
                }
                let (method, url, body) = nth_request(gateway, index);
                let answer = request(&client, method, &url, body).await;
                answers.push(answer.ok().map(|(status, _)| status));
            }
        }));
    }
    let mut traffic = Traffic {
        concurrency: options.concurrency,
        ..Traffic::default()
    };
    for worker in workers {
        for answer in worker.await.unwrap_or_default() {
            match answer {
                Some(status) => {
                    traffic.requests += 1;
                    *traffic.statuses.entry(status).or_default() += 1;
                }
                None => traffic.failed += 1,
            }
        }
    }
    traffic.seconds = started.elapsed().as_secs_f64();
    traffic
}
