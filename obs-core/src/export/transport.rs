//! One OTLP client for all three signals: gRPC (tonic) or HTTP/protobuf (hyper), with the
//! configured headers, timeout, gzip and the OTLP retry rules.
//!
//! Retry (OTLP spec, "Failures"): gRPC `CANCELLED`, `DEADLINE_EXCEEDED`, `ABORTED`,
//! `OUT_OF_RANGE`, `UNAVAILABLE`, `DATA_LOSS` and HTTP 429, 502, 503, 504 (and connection
//! errors) are retried with exponential backoff and jitter, honouring `Retry-After`, until the
//! export timeout runs out (for ever with a zero timeout, which means no limit); everything
//! else fails at once.

use std::fmt;
use std::io::Write;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;
use tonic::codec::CompressionEncoding;
use tonic::metadata::{MetadataKey, MetadataValue};
use tonic::transport::Channel;

use crate::config::{Compression, OtlpSettings, Protocol};
use crate::export::split::Items;
use crate::export::{limit, within};

/// The longest wait for a connection: also with a longer export timeout, or none, a
/// collector that does not answer is retried soon.
const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// An OTLP export request of one signal.
pub(crate) trait OtlpRequest:
    Items + Message + Default + Clone + serde::Serialize + Send + Sync + 'static
{
    /// The matching response.
    type Response: Message + Default + Send + Sync + 'static;
    /// The gRPC method path.
    const GRPC_PATH: &'static str;
    /// Spans, log records or data points in the request.
    fn item_count(&self) -> u64 {
        self.count() as u64
    }
    /// Items the receiver rejected (partial success).
    fn rejected(response: &Self::Response) -> u64;
}

impl OtlpRequest for ExportTraceServiceRequest {
    type Response = ExportTraceServiceResponse;
    const GRPC_PATH: &'static str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
    fn rejected(response: &Self::Response) -> u64 {
        response
            .partial_success
            .as_ref()
            .map_or(0, |p| p.rejected_spans.max(0) as u64)
    }
}

impl OtlpRequest for ExportLogsServiceRequest {
    type Response = ExportLogsServiceResponse;
    const GRPC_PATH: &'static str = "/opentelemetry.proto.collector.logs.v1.LogsService/Export";
    fn rejected(response: &Self::Response) -> u64 {
        response
            .partial_success
            .as_ref()
            .map_or(0, |p| p.rejected_log_records.max(0) as u64)
    }
}

impl OtlpRequest for ExportMetricsServiceRequest {
    type Response = ExportMetricsServiceResponse;
    const GRPC_PATH: &'static str =
        "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export";
    fn rejected(response: &Self::Response) -> u64 {
        response
            .partial_success
            .as_ref()
            .map_or(0, |p| p.rejected_data_points.max(0) as u64)
    }
}

/// Why an export failed, after any retries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportError {
    /// What happened, with the endpoint.
    pub message: String,
    retryable: bool,
    retry_after: Option<Duration>,
}

impl fmt::Display for ExportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ExportError {}

/// An export request encoded once, resent as is by retries.
struct Payload {
    bytes: Bytes,
    /// Whether `bytes` is gzip-compressed (HTTP only).
    gzip: bool,
}

/// A gRPC codec whose request is already-encoded protobuf bytes and whose response is `Resp`.
struct EncodedCodec<Resp>(std::marker::PhantomData<fn() -> Resp>);

impl<Resp> Default for EncodedCodec<Resp> {
    fn default() -> Self {
        EncodedCodec(std::marker::PhantomData)
    }
}

struct BytesEncoder;

impl tonic::codec::Encoder for BytesEncoder {
    type Item = Bytes;
    type Error = tonic::Status;

    fn encode(
        &mut self,
        item: Bytes,
        dst: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), Self::Error> {
        use bytes::BufMut;
        dst.put_slice(&item);
        Ok(())
    }
}

impl<Resp: Message + Default + Send + 'static> tonic::codec::Codec for EncodedCodec<Resp> {
    type Encode = Bytes;
    type Decode = Resp;
    type Encoder = BytesEncoder;
    type Decoder = tonic_prost::ProstDecoder<Resp>;

    fn encoder(&mut self) -> Self::Encoder {
        BytesEncoder
    }

    fn decoder(&mut self) -> Self::Decoder {
        tonic_prost::ProstDecoder::default()
    }
}

/// The HTTP client's connector: with the `tls` feature it speaks TLS to `https://` URLs.
#[cfg(feature = "tls")]
type HttpConnect = hyper_rustls::HttpsConnector<HttpConnector>;
#[cfg(not(feature = "tls"))]
type HttpConnect = HttpConnector;

enum Transport {
    Grpc(Channel),
    Http {
        client: Box<Client<HttpConnect, Full<Bytes>>>,
        uri: http::Uri,
    },
}

/// An OTLP client for one signal's endpoint.
pub(crate) struct OtlpClient {
    transport: Transport,
    settings: OtlpSettings,
    headers: http::HeaderMap,
}

impl fmt::Debug for OtlpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtlpClient")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl OtlpClient {
    /// Must run inside the export runtime: the gRPC channel connects lazily on it.
    pub(crate) fn new(settings: &OtlpSettings) -> Result<OtlpClient, String> {
        let mut headers = http::HeaderMap::new();
        for (k, v) in &settings.headers {
            let name = http::HeaderName::try_from(k.to_ascii_lowercase())
                .map_err(|_| format!("OTLP header name {k:?} is not a valid HTTP header name"))?;
            let value = http::HeaderValue::try_from(v.as_str()).map_err(|_| {
                format!("OTLP header {k:?} has a value that is not a valid HTTP header value")
            })?;
            headers.append(name, value);
        }
        let connect_timeout =
            limit(settings.timeout).map_or(MAX_CONNECT_TIMEOUT, |t| t.min(MAX_CONNECT_TIMEOUT));
        let uri: http::Uri = settings
            .endpoint
            .parse()
            .map_err(|e| format!("OTLP endpoint {:?}: {e}", settings.endpoint))?;
        #[cfg(feature = "tls")]
        let tls = (uri.scheme_str() == Some("https"))
            .then(|| crate::export::tls::TlsMaterial::load(&settings.tls))
            .transpose()
            .map_err(|e| format!("TLS to {:?}: {e}", settings.endpoint))?;
        let transport = match settings.protocol {
            Protocol::Grpc => {
                let endpoint = Channel::from_shared(settings.endpoint.clone())
                    .map_err(|e| format!("OTLP endpoint {:?}: {e}", settings.endpoint))?
                    .connect_timeout(connect_timeout);
                #[cfg(feature = "tls")]
                let endpoint = match &tls {
                    Some(tls) => endpoint
                        .tls_config(tls.tonic_config())
                        .map_err(|e| format!("TLS to {:?}: {e}", settings.endpoint))?,
                    None => endpoint,
                };
                Transport::Grpc(endpoint.connect_lazy())
            }
            Protocol::HttpProtobuf => {
                let mut connector = HttpConnector::new();
                connector.set_nodelay(true);
                connector.set_connect_timeout(Some(connect_timeout));
                #[cfg(feature = "tls")]
                let connector = {
                    connector.enforce_http(false);
                    let config = match &tls {
                        Some(tls) => tls.rustls_config(),
                        // Never used for an `http://` URL, but the connector needs one.
                        None => crate::export::tls::trusting_nobody(),
                    }
                    .map_err(|e| format!("TLS to {:?}: {e}", settings.endpoint))?;
                    hyper_rustls::HttpsConnectorBuilder::new()
                        .with_tls_config(config)
                        .https_or_http()
                        .enable_http1()
                        .wrap_connector(connector)
                };
                let client = Client::builder(TokioExecutor::new()).build(connector);
                Transport::Http {
                    client: Box::new(client),
                    uri,
                }
            }
        };
        Ok(OtlpClient {
            transport,
            settings: settings.clone(),
            headers,
        })
    }

    /// The largest request to send, encoded.
    pub(crate) fn max_request_bytes(&self) -> usize {
        self.settings.max_request_bytes
    }

    /// The endpoint, for error messages.
    pub(crate) fn endpoint(&self) -> &str {
        &self.settings.endpoint
    }

    /// Sends `request`, retrying as the spec allows within the timeout. Returns how many
    /// items the receiver rejected.
    pub(crate) async fn export<R: OtlpRequest>(&self, request: &R) -> Result<u64, ExportError> {
        // Encoded (and for HTTP compressed) once: every retry resends the same bytes.
        let payload = self.payload(request);
        let deadline = limit(self.settings.timeout).map(|t| Instant::now() + t);
        let mut backoff = Duration::from_millis(50);
        loop {
            let remaining = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            let attempt = match within(remaining, self.send_once::<R>(&payload, remaining)).await {
                Some(r) => r,
                None => Err(ExportError {
                    message: format!(
                        "export to {} timed out after {:?}",
                        self.endpoint(),
                        self.settings.timeout
                    ),
                    retryable: false,
                    retry_after: None,
                }),
            };
            match attempt {
                Ok(rejected) => return Ok(rejected),
                Err(e) if e.retryable => {
                    let jitter =
                        Duration::from_micros(u64::from(obs_trace::SpanId::random().0[0]) * 100);
                    let wait = e.retry_after.unwrap_or(backoff) + jitter;
                    if deadline.is_some_and(|d| Instant::now() + wait >= d) {
                        return Err(e);
                    }
                    tokio::time::sleep(wait).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn payload<R: OtlpRequest>(&self, request: &R) -> Payload {
        let body = request.encode_to_vec();
        // gRPC compresses per message in tonic's codec; HTTP compresses the whole body here.
        if matches!(self.transport, Transport::Http { .. })
            && self.settings.compression == Compression::Gzip
        {
            let mut enc = flate2::write::GzEncoder::new(
                Vec::with_capacity(body.len() / 2),
                flate2::Compression::fast(),
            );
            // Writing into a Vec cannot fail.
            if enc.write_all(&body).is_ok()
                && let Ok(gz) = enc.finish()
            {
                return Payload {
                    bytes: Bytes::from(gz),
                    gzip: true,
                };
            }
        }
        Payload {
            bytes: Bytes::from(body),
            gzip: false,
        }
    }

    /// One attempt; `remaining` is what is left of the export timeout (`None`: no limit).
    async fn send_once<R: OtlpRequest>(
        &self,
        payload: &Payload,
        remaining: Option<Duration>,
    ) -> Result<u64, ExportError> {
        match &self.transport {
            Transport::Grpc(channel) => {
                self.send_grpc::<R>(channel.clone(), payload.bytes.clone(), remaining)
                    .await
            }
            Transport::Http { client, uri } => self.send_http::<R>(client, uri, payload).await,
        }
    }

    async fn send_grpc<R: OtlpRequest>(
        &self,
        channel: Channel,
        message: Bytes,
        remaining: Option<Duration>,
    ) -> Result<u64, ExportError> {
        let mut grpc = tonic::client::Grpc::new(channel);
        if self.settings.compression == Compression::Gzip {
            grpc = grpc
                .send_compressed(CompressionEncoding::Gzip)
                .accept_compressed(CompressionEncoding::Gzip);
        }
        let fail = |message: String, retryable: bool| ExportError {
            message,
            retryable,
            retry_after: None,
        };
        grpc.ready().await.map_err(|e| {
            fail(
                format!("OTLP/gRPC {} not ready: {}", self.endpoint(), causes(&e)),
                true,
            )
        })?;
        let mut req = tonic::Request::new(message);
        // Tells the server how long the client waits (`grpc-timeout`); none without a limit.
        if let Some(remaining) = remaining {
            req.set_timeout(remaining);
        }
        for (k, v) in &self.headers {
            if let (Ok(key), Ok(val)) = (
                MetadataKey::from_bytes(k.as_str().as_bytes()),
                MetadataValue::try_from(v.as_bytes()),
            ) {
                req.metadata_mut().append(key, val);
            }
        }
        let path = http::uri::PathAndQuery::from_static(R::GRPC_PATH);
        match grpc
            .unary(req, path, EncodedCodec::<R::Response>::default())
            .await
        {
            Ok(resp) => Ok(R::rejected(resp.get_ref())),
            Err(status) => {
                use tonic::Code::*;
                let retryable = matches!(
                    status.code(),
                    Cancelled | DeadlineExceeded | Aborted | OutOfRange | Unavailable | DataLoss
                );
                Err(fail(
                    format!(
                        "OTLP/gRPC export to {} failed: {:?}: {}",
                        self.endpoint(),
                        status.code(),
                        causes(&status)
                    ),
                    retryable,
                ))
            }
        }
    }

    async fn send_http<R: OtlpRequest>(
        &self,
        client: &Client<HttpConnect, Full<Bytes>>,
        uri: &http::Uri,
        payload: &Payload,
    ) -> Result<u64, ExportError> {
        let fail = |message: String, retryable: bool, retry_after: Option<Duration>| ExportError {
            message,
            retryable,
            retry_after,
        };
        let mut builder = http::Request::post(uri.clone())
            .header(http::header::CONTENT_TYPE, "application/x-protobuf");
        if payload.gzip {
            builder = builder.header(http::header::CONTENT_ENCODING, "gzip");
        }
        let mut req = builder
            .body(Full::new(payload.bytes.clone()))
            .map_err(|e| {
                fail(
                    format!("OTLP/HTTP request to {}: {e}", self.endpoint()),
                    false,
                    None,
                )
            })?;
        req.headers_mut().extend(self.headers.clone());
        let resp = client.request(req).await.map_err(|e| {
            fail(
                format!(
                    "OTLP/HTTP export to {} failed: {}",
                    self.endpoint(),
                    causes(&e)
                ),
                true,
                None,
            )
        })?;
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        if status.is_success() {
            return Ok(R::Response::decode(bytes)
                .map(|r| R::rejected(&r))
                .unwrap_or(0));
        }
        let retryable = matches!(status.as_u16(), 429 | 502 | 503 | 504);
        Err(fail(
            format!(
                "OTLP/HTTP export to {} failed: HTTP {}",
                self.endpoint(),
                status.as_u16()
            ),
            retryable,
            retry_after,
        ))
    }
}

/// `error` and its sources, `: `-separated: the transport's outer errors ("transport error",
/// "client error (Connect)") say little; the cause (connection refused, a certificate the
/// receiver did not trust) is inside. A tonic `Status` shows its message, not its code.
fn causes(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = match error.downcast_ref::<tonic::Status>() {
        Some(status) => status.message().to_owned(),
        None => error.to_string(),
    };
    let mut source = error.source();
    while let Some(e) = source {
        let part = e.to_string();
        // Some wrappers repeat their source's text.
        if !text.ends_with(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = e.source();
    }
    text
}

#[cfg(all(test, feature = "testing"))]
mod tests {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

    use super::*;
    use crate::config::{Signal, signal_url};
    use crate::testing::{OtlpReceiver, ReceiverConfig};

    /// An error that says little and carries its cause, as transport errors do.
    #[derive(Debug)]
    struct Wrapper(&'static str, std::io::Error);

    impl fmt::Display for Wrapper {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }

    impl std::error::Error for Wrapper {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.1)
        }
    }

    #[test]
    fn export_errors_name_their_causes_once() {
        let refused = || std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert_eq!(
            causes(&Wrapper("transport error", refused())),
            "transport error: refused"
        );
        // A wrapper that already shows its source's text doesn't repeat it.
        assert_eq!(
            causes(&Wrapper("connect: refused", refused())),
            "connect: refused"
        );
        let status = tonic::Status::from_error(Box::new(Wrapper("transport error", refused())));
        assert_eq!(causes(&status), "transport error: refused");
    }

    #[tokio::test]
    async fn a_zero_timeout_exports_without_a_limit() {
        let receiver = OtlpReceiver::start(ReceiverConfig::default())
            .await
            .unwrap();
        for (protocol, base) in [
            (Protocol::HttpProtobuf, receiver.http_endpoint()),
            (Protocol::Grpc, receiver.grpc_endpoint()),
        ] {
            let client = OtlpClient::new(&OtlpSettings {
                endpoint: signal_url(&base, protocol, Signal::Traces),
                protocol,
                headers: Vec::new(),
                timeout: Duration::ZERO,
                compression: Compression::None,
                max_request_bytes: OtlpSettings::DEFAULT_MAX_REQUEST_BYTES,
                tls: Default::default(),
            })
            .unwrap();
            let sent = client.export(&ExportTraceServiceRequest::default()).await;
            assert_eq!(sent, Ok(0), "{protocol:?}");
        }
        receiver.shutdown().await;
    }
}
