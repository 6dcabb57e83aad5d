//! A JSON-over-HTTP client traced by [`HttpClientLayer`]: each call is a CLIENT span that
//! carries the trace to the peer in `traceparent`.

use axum::body::Bytes;
use http::{Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use obs_core::tower::{HttpClientLayer, Instrumented};
use tower_layer::Layer;
use tower_service::Service;

type Traced = Instrumented<Client<HttpConnector, Full<Bytes>>, HttpClientLayer>;

/// A peer reached over HTTP: a base URL and a traced connection pool.
#[derive(Debug, Clone)]
pub struct JsonClient {
    base_url: String,
    client: Traced,
}

/// A peer's answer: its status and its body as JSON (`null` when it is not JSON).
#[derive(Debug, Clone, PartialEq)]
pub struct JsonResponse {
    /// The status code.
    pub status: StatusCode,
    /// The body.
    pub body: serde_json::Value,
}

impl JsonClient {
    /// A client of the peer at `base_url`, e.g. `http://127.0.0.1:8081`.
    pub fn new(base_url: &str) -> JsonClient {
        let client = Client::builder(TokioExecutor::new()).build_http();
        JsonClient {
            base_url: base_url.trim_end_matches('/').to_owned(),
            client: HttpClientLayer::new().layer(client),
        }
    }

    /// `GET {base_url}{path}`.
    pub async fn get(&self, path: &str) -> Result<JsonResponse, String> {
        self.send(Method::GET, path, None).await
    }

    /// `POST {base_url}{path}` with `body` as JSON.
    pub async fn post(&self, path: &str, body: &serde_json::Value) -> Result<JsonResponse, String> {
        self.send(Method::POST, path, Some(body)).await
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<JsonResponse, String> {
        let url = format!("{}{path}", self.base_url);
        let mut request = Request::builder().method(method).uri(&url);
        let payload = match body {
            Some(json) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Bytes::from(json.to_string())
            }
            None => Bytes::new(),
        };
        let request = request
            .body(Full::new(payload))
            .map_err(|e| format!("bad request to {url}: {e}"))?;
        let mut client = self.client.clone();
        std::future::poll_fn(|cx| client.poll_ready(cx))
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        let response = client
            .call(request)
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        let status = response.status();
        // Reading the body to its end ends the client span.
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("{url}: reading the body: {e}"))?
            .to_bytes();
        let body = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
        Ok(JsonResponse { status, body })
    }
}
