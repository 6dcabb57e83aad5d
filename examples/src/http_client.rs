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

/// A peer's answer: its status and its body as JSON (`{"error": text}` for a plain-text
/// body, `null` for an empty one).
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
        Ok(JsonResponse {
            status,
            body: body_json(&bytes),
        })
    }
}

/// A body as JSON. A body that is not JSON (axum's extractors reject a request in plain
/// text, such as a negative `qty`) becomes `{"error": text}`, the services' own error
/// shape, so that a caller passing it on or logging `body["error"]` keeps the reason
/// rather than answering `null`; an empty body is `null`.
fn body_json(bytes: &[u8]) -> serde_json::Value {
    match serde_json::from_slice(bytes) {
        Ok(json) => json,
        Err(_) if bytes.is_empty() => serde_json::Value::Null,
        Err(_) => serde_json::json!({ "error": String::from_utf8_lossy(bytes) }),
    }
}

#[cfg(test)]
mod tests {
    use super::body_json;
    use serde_json::json;

    #[test]
    fn a_plain_text_rejection_keeps_its_reason_as_the_error() {
        assert_eq!(
            body_json(br#"{"order_id":"ord-1"}"#),
            json!({"order_id": "ord-1"})
        );
        assert_eq!(body_json(b""), serde_json::Value::Null);
        assert_eq!(
            body_json(b"Failed to deserialize the JSON body: qty: invalid value"),
            json!({"error": "Failed to deserialize the JSON body: qty: invalid value"})
        );
    }
}
