//! OTLP/HTTP: `POST /v1/traces`, `/v1/logs` and `/v1/metrics` with binary protobuf or JSON
//! bodies, plain or gzip, answered as the
//! [OTLP/HTTP spec](https://opentelemetry.io/docs/specs/otlp/#otlphttp) says.

use std::convert::Infallible;
use std::io::Read;
use std::pin::pin;
use std::time::Duration;

use bytes::Bytes;
use flate2::read::GzDecoder;
use http::header::{ALLOW, CONTENT_ENCODING, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::model::Transport;
use super::receiver::until_stopped;
use super::store::TelemetryStore;

/// How long open connections may take to finish their requests after a stop.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// Pause after a failed `accept` (e.g. out of file descriptors), so the loop doesn't spin.
const ACCEPT_RETRY_DELAY: Duration = Duration::from_millis(10);

const PROTOBUF: &str = "application/x-protobuf";
const JSON: &str = "application/json";

/// Serves until `stop` turns true (or its sender is dropped), then drains connections.
pub(crate) async fn serve(
    listener: TcpListener,
    store: TelemetryStore,
    max_message_bytes: usize,
    stop: watch::Receiver<bool>,
) {
    // HTTP/1.1 and h2c: OTLP exporters use either.
    let connections = auto::Builder::new(TokioExecutor::new());
    let graceful = GracefulShutdown::new();
    let mut stopped = pin!(until_stopped(stop));
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else {
                    tokio::time::sleep(ACCEPT_RETRY_DELAY).await;
                    continue;
                };
                let store = store.clone();
                let service = service_fn(move |request| {
                    let store = store.clone();
                    async move { Ok::<_, Infallible>(handle(request, &store, max_message_bytes).await) }
                });
                let connection = connections
                    .serve_connection(TokioIo::new(stream), service)
                    .into_owned();
                let connection = graceful.watch(connection);
                tokio::spawn(async move {
                    // A client hanging up mid-request is its own business.
                    let _ = connection.await;
                });
            }
            () = &mut stopped => break,
        }
    }
    drop(listener);
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown()).await;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Signal {
    Traces,
    Logs,
    Metrics,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Protobuf,
    Json,
}

impl Encoding {
    fn content_type(self) -> &'static str {
        match self {
            Self::Protobuf => PROTOBUF,
            Self::Json => JSON,
        }
    }

    fn transport(self) -> Transport {
        match self {
            Self::Protobuf => Transport::HttpProtobuf,
            Self::Json => Transport::HttpJson,
        }
    }
}

/// A request the receiver refuses, answered in the request's encoding when known.
#[derive(Debug)]
struct Rejection {
    status: StatusCode,
    message: String,
}

impl Rejection {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }
}

/// `google.rpc.Status`, which the OTLP/HTTP spec requires as the body of every 4xx/5xx.
#[derive(Clone, PartialEq, Message, Serialize)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

/// `google.rpc.Code` values.
const INVALID_ARGUMENT: i32 = 3;
const NOT_FOUND: i32 = 5;
const UNIMPLEMENTED: i32 = 12;

async fn handle(
    request: Request<Incoming>,
    store: &TelemetryStore,
    max_message_bytes: usize,
) -> Response<Full<Bytes>> {
    let encoding = request_encoding(request.headers()).unwrap_or(Encoding::Protobuf);
    match accept(request, store, max_message_bytes).await {
        Ok(response) => response,
        Err(rejection) => {
            store.count_rejected_request();
            reject(rejection, encoding)
        }
    }
}

async fn accept(
    request: Request<Incoming>,
    store: &TelemetryStore,
    max_message_bytes: usize,
) -> Result<Response<Full<Bytes>>, Rejection> {
    let signal = match request.uri().path() {
        "/v1/traces" => Signal::Traces,
        "/v1/logs" => Signal::Logs,
        "/v1/metrics" => Signal::Metrics,
        path => {
            return Err(Rejection::new(
                StatusCode::NOT_FOUND,
                format!("no OTLP endpoint at {path}; use /v1/traces, /v1/logs or /v1/metrics"),
            ));
        }
    };
    if request.method() != Method::POST {
        return Err(Rejection::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "OTLP/HTTP accepts POST only",
        ));
    }
    let encoding = request_encoding(request.headers())?;
    let gzipped = is_gzipped(request.headers())?;
    let body = Limited::new(request.into_body(), max_message_bytes)
        .collect()
        .await
        .map_err(|error| {
            if error.is::<LengthLimitError>() {
                too_large(max_message_bytes)
            } else {
                Rejection::new(
                    StatusCode::BAD_REQUEST,
                    format!("reading the body: {error}"),
                )
            }
        })?
        .to_bytes();
    let body = if gzipped {
        gunzip(&body, max_message_bytes)?
    } else {
        body
    };
    let transport = encoding.transport();
    match signal {
        Signal::Traces => {
            store.ingest_spans(
                decode::<ExportTraceServiceRequest>(&body, encoding)?,
                transport,
            );
        }
        Signal::Logs => {
            store.ingest_logs(
                decode::<ExportLogsServiceRequest>(&body, encoding)?,
                transport,
            );
        }
        Signal::Metrics => {
            let request = decode::<ExportMetricsServiceRequest>(&body, encoding)?;
            store.ingest_metrics(request, transport);
        }
    }
    Ok(success(encoding))
}

/// The body's encoding from `Content-Type`, ignoring parameters such as `charset`.
fn request_encoding(headers: &HeaderMap) -> Result<Encoding, Rejection> {
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    let media_type = content_type.split(';').next().unwrap_or_default().trim();
    if media_type.eq_ignore_ascii_case(PROTOBUF) {
        Ok(Encoding::Protobuf)
    } else if media_type.eq_ignore_ascii_case(JSON) {
        Ok(Encoding::Json)
    } else {
        Err(Rejection::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("Content-Type {content_type:?} is neither {PROTOBUF} nor {JSON}"),
        ))
    }
}

/// Whether the body is gzip; other codings get 415 (RFC 9110 §15.5.16).
fn is_gzipped(headers: &HeaderMap) -> Result<bool, Rejection> {
    let Some(coding) = headers.get(CONTENT_ENCODING) else {
        return Ok(false);
    };
    let coding = coding.to_str().unwrap_or_default().trim();
    if coding.eq_ignore_ascii_case("gzip") {
        Ok(true)
    } else if coding.eq_ignore_ascii_case("identity") {
        Ok(false)
    } else {
        Err(Rejection::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("Content-Encoding {coding:?} is neither gzip nor identity"),
        ))
    }
}

/// Decompresses, refusing output beyond `max_bytes` so a small bomb can't exhaust memory.
fn gunzip(body: &[u8], max_bytes: usize) -> Result<Bytes, Rejection> {
    let mut plain = Vec::new();
    GzDecoder::new(body)
        .take(max_bytes as u64 + 1)
        .read_to_end(&mut plain)
        .map_err(|error| {
            Rejection::new(StatusCode::BAD_REQUEST, format!("bad gzip body: {error}"))
        })?;
    if plain.len() > max_bytes {
        return Err(too_large(max_bytes));
    }
    Ok(Bytes::from(plain))
}

fn too_large(max_bytes: usize) -> Rejection {
    Rejection::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("the request is larger than {max_bytes} bytes"),
    )
}

fn decode<M: Message + Default + DeserializeOwned>(
    body: &[u8],
    encoding: Encoding,
) -> Result<M, Rejection> {
    match encoding {
        Encoding::Protobuf => M::decode(body).map_err(|error| error.to_string()),
        Encoding::Json => serde_json::from_slice(body).map_err(|error| error.to_string()),
    }
    .map_err(|error| Rejection::new(StatusCode::BAD_REQUEST, format!("bad OTLP body: {error}")))
}

/// `200` with an empty `Export*ServiceResponse` (no partial success): zero bytes in
/// protobuf, `{}` in JSON.
fn success(encoding: Encoding) -> Response<Full<Bytes>> {
    let body = match encoding {
        Encoding::Protobuf => Bytes::new(),
        Encoding::Json => Bytes::from_static(b"{}"),
    };
    respond(StatusCode::OK, body, encoding)
}

fn reject(rejection: Rejection, encoding: Encoding) -> Response<Full<Bytes>> {
    let code = match rejection.status {
        StatusCode::NOT_FOUND => NOT_FOUND,
        StatusCode::METHOD_NOT_ALLOWED => UNIMPLEMENTED,
        _ => INVALID_ARGUMENT,
    };
    let status = RpcStatus {
        code,
        message: rejection.message,
    };
    let body = match encoding {
        Encoding::Protobuf => status.encode_to_vec(),
        // Serialising a two-field struct cannot fail; an empty body is the fallback anyway.
        Encoding::Json => serde_json::to_vec(&status).unwrap_or_default(),
    };
    let mut response = respond(rejection.status, Bytes::from(body), encoding);
    if rejection.status == StatusCode::METHOD_NOT_ALLOWED {
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("POST"));
    }
    response
}

fn respond(status: StatusCode, body: Bytes, encoding: Encoding) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static(encoding.content_type()),
    );
    response
}
