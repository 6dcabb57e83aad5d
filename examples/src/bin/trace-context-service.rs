//! The test service of the official W3C Trace Context test suite, built on `obs-tower`.
//!
//! ```text
//! cargo run -p obs-examples --bin trace-context-service -- --addr 127.0.0.1:5000
//! ```
//!
//! prints `listening on http://127.0.0.1:5000/test` (port 0 picks a free port) and serves
//! `POST /test`. The harness sends a JSON array `[{"url": ..., "arguments": [...]}, ...]`;
//! for each element, in order and before replying, the service POSTs `arguments` as JSON to
//! `url` through [`HttpClientLayer`], so each callback carries exactly one `traceparent`
//! with a fresh parent id (the client span's), continuing the trace extracted by
//! [`HttpServerLayer`], and a `tracestate` only when there is a valid one to pass on.
//! `scripts/w3c-conformance.sh` runs the suite against it.

use std::net::SocketAddr;

use axum::Router;
use axum::body::Bytes;
use axum::http::{Request, StatusCode, header};
use axum::routing::post;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use obs_examples::service::shutdown_signal;
use obs_tower::{HttpClientLayer, HttpServerLayer, Instrumented};
use obs_trace::SpanLayer;
use tower_layer::Layer;
use tower_service::Service;
use tracing_subscriber::prelude::*;

type TracedClient = Instrumented<Client<HttpConnector, Full<Bytes>>, HttpClientLayer>;

/// Why a callback to the harness failed.
#[derive(Debug)]
enum CallbackError {
    /// The request body was not a JSON array of `{"url", "arguments"}` objects.
    BadInstructions(String),
    /// The harness could not be reached or answered with a broken body.
    Http(String),
}

impl axum::response::IntoResponse for CallbackError {
    fn into_response(self) -> axum::response::Response {
        let (status, message) = match self {
            CallbackError::BadInstructions(m) => (StatusCode::BAD_REQUEST, m),
            CallbackError::Http(m) => (StatusCode::BAD_GATEWAY, m),
        };
        (status, message).into_response()
    }
}

/// POSTs `arguments` as JSON to `url` through the traced client and reads the answer.
async fn call_back(
    client: &TracedClient,
    url: &str,
    arguments: &serde_json::Value,
) -> Result<(), CallbackError> {
    let request = Request::post(url)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(arguments.to_string())))
        .map_err(|e| CallbackError::BadInstructions(format!("bad url {url:?}: {e}")))?;
    let mut client = client.clone();
    std::future::poll_fn(|cx| client.poll_ready(cx))
        .await
        .map_err(|e| CallbackError::Http(e.to_string()))?;
    let response = client
        .call(request)
        .await
        .map_err(|e| CallbackError::Http(e.to_string()))?;
    // Reading the body to its end ends the client span.
    response
        .into_body()
        .collect()
        .await
        .map_err(|e| CallbackError::Http(e.to_string()))?;
    Ok(())
}

async fn test(client: TracedClient, body: Bytes) -> Result<&'static str, CallbackError> {
    let actions: Vec<serde_json::Value> =
        serde_json::from_slice(&body).map_err(|e| CallbackError::BadInstructions(e.to_string()))?;
    for action in &actions {
        let url = action["url"]
            .as_str()
            .ok_or_else(|| CallbackError::BadInstructions(format!("no url in {action}")))?;
        let arguments = match &action["arguments"] {
            serde_json::Value::Null => serde_json::Value::Array(Vec::new()),
            arguments => arguments.clone(),
        };
        call_back(&client, url, &arguments).await?;
    }
    Ok("[]")
}

const USAGE: &str =
    "usage: trace-context-service [--addr IP:PORT] (default 127.0.0.1:0, a free port)";

/// The address to listen on; `None` when `--help` asked for the usage.
fn parse_addr() -> Result<Option<SocketAddr>, String> {
    let mut args = std::env::args().skip(1);
    let mut addr = SocketAddr::from(([127, 0, 0, 1], 0));
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--addr" => {
                let value = args.next().ok_or("--addr needs a value")?;
                addr = value.parse().map_err(|e| format!("--addr {value}: {e}"))?;
            }
            "--help" | "-h" => return Ok(None),
            other => return Err(format!("unknown argument {other:?}; {USAGE}")),
        }
    }
    Ok(Some(addr))
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let result = match parse_addr() {
        Ok(Some(addr)) => serve(addr).await,
        Ok(None) => {
            println!("{USAGE}");
            Ok(())
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("trace-context-service: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn serve(addr: SocketAddr) -> Result<(), String> {
    // Spans get W3C identities and propagate; none is exported.
    tracing_subscriber::registry().with(SpanLayer::new()).init();

    let client: TracedClient =
        HttpClientLayer::new().layer(Client::builder(TokioExecutor::new()).build_http());
    let app = Router::new()
        .route("/test", post(move |body: Bytes| test(client.clone(), body)))
        .layer(HttpServerLayer::new());

    // The address in the message: a bare "Address already in use" leaves the reader
    // guessing which port.
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    // Before the line that says it listens: a `kill` right after it is caught.
    let stop = shutdown_signal();
    println!("listening on http://{local}/test");
    // Stops on SIGTERM as on Ctrl-C, with status 0: a script that starts it in the
    // background (where SIGINT is ignored) ends it with `kill`.
    axum::serve(listener, app)
        .with_graceful_shutdown(stop)
        .await
        .map_err(|e| e.to_string())
}
