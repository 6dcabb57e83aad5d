//! One OTLP client for all three signals: gRPC (tonic) or HTTP/protobuf (hyper), with the
//! configured headers, timeout, gzip and the OTLP retry rules.
//!
//! Retry (OTLP spec, "Failures"): gRPC `CANCELLED`, `DEADLINE_EXCEEDED`, `ABORTED`,
//! `OUT_OF_RANGE`, `UNAVAILABLE`, `DATA_LOSS`, `RESOURCE_EXHAUSTED` with a `RetryInfo` (the
//! server's sign that it can recover) and HTTP 429, 502, 503, 504 (and connection errors,
//! also a connection that breaks mid-call) are retried with exponential backoff and
//! jitter, honouring the gRPC `RetryInfo` delay and HTTP `Retry-After` (seconds or a date)
//! as the least wait, until the export timeout runs out (for ever with a zero timeout,
//! which means no limit), or, for a connection that can't be made, until shutdown begins
//! ([`Retries::stop`]); everything else fails at once, redirects too (not followed), and so
//! does an answer in the other HTTP version (an OTLP/gRPC receiver's HTTP/2 to OTLP/HTTP,
//! an HTTP/1.1-only receiver's HTTP/1.1 to OTLP/gRPC). A
//! delay longer than an export can wait also holds the next exports back until it has
//! passed (at most 5 minutes): they wait for it within their timeout, or fail unsent. A
//! failure's error carries what the receiver said: the gRPC status message, or the
//! OTLP/HTTP error body's, or where a redirect points. An OTLP/HTTP 2xx is a success only
//! with the signal's response message in its body, as a gRPC call's is: anything else (a
//! web page at a wrong endpoint, a body cut off) fails the export, unretried. A call left
//! unanswered (timed out) makes the next one connect anew, over either protocol.

use std::fmt;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
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
use parking_lot::Mutex;
use prost::Message;
use tonic::codec::CompressionEncoding;
use tonic::metadata::{Ascii, Binary, MetadataKey, MetadataValue};
use tonic::transport::Channel;

use crate::config::{Compression, OtlpSettings, Protocol, percent_decode, shown_url};
use crate::export::split::Items;
use crate::export::{limit, within};

/// The longest `grpc-timeout` (8 digits of hours, the gRPC spec's "TimeoutValue"), some
/// 11,400 years. `OTEL_EXPORTER_OTLP_TIMEOUT` can say longer (2^64 - 1 ms), which tonic's
/// `Request::set_timeout` refused with a panic in the export worker.
const MAX_GRPC_TIMEOUT: Duration = Duration::from_secs(99_999_999 * 3600);

/// The longest wait for a connection: also with a longer export timeout, or none, a
/// collector that does not answer is retried soon.
const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Who sends obs's exports: the OTLP spec asks exporters for a User-Agent that names the
/// exporter, its language and its version. One among the configured headers wins.
const USER_AGENT: &str = concat!("OTel-OTLP-Exporter-Rust-obs/", env!("CARGO_PKG_VERSION"));

/// The most of a response body read: an OTLP response is a few bytes (a partial success and
/// its message), and a receiver that sends more, or never ends its body, must not grow the
/// application's memory.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// An OTLP export request of one signal.
pub(crate) trait OtlpRequest:
    Items + Message + Default + Clone + serde::Serialize + Send + Sync + 'static
{
    /// The matching response.
    type Response: Message + Default + serde::de::DeserializeOwned + Send + Sync + 'static;
    /// The gRPC method path.
    const GRPC_PATH: &'static str;
    /// Spans, log records or data points in the request.
    fn item_count(&self) -> u64 {
        self.count() as u64
    }
    /// What the receiver said of the items it took (its partial success, if any).
    fn accepted(response: &Self::Response) -> Accepted;
}

/// What a receiver that took a request said of it (OTLP spec, "Partial Success"): how many
/// of its items it rejected, and its `error_message`, which says why, or, with nothing
/// rejected, is a warning the spec lets a receiver send.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Accepted {
    /// Items rejected.
    pub(crate) rejected: u64,
    /// The receiver's message, trimmed to a line ([`server_text`]); empty if none.
    pub(crate) message: String,
}

impl Accepted {
    /// Everything accepted, nothing said: a plain success.
    pub(crate) const ALL: Accepted = Accepted {
        rejected: 0,
        message: String::new(),
    };

    fn new(rejected: i64, message: &str) -> Accepted {
        Accepted {
            rejected: rejected.max(0) as u64,
            message: server_text(message),
        }
    }
}

impl OtlpRequest for ExportTraceServiceRequest {
    type Response = ExportTraceServiceResponse;
    const GRPC_PATH: &'static str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
    fn accepted(response: &Self::Response) -> Accepted {
        response
            .partial_success
            .as_ref()
            .map_or(Accepted::ALL, |p| {
                Accepted::new(p.rejected_spans, &p.error_message)
            })
    }
}

impl OtlpRequest for ExportLogsServiceRequest {
    type Response = ExportLogsServiceResponse;
    const GRPC_PATH: &'static str = "/opentelemetry.proto.collector.logs.v1.LogsService/Export";
    fn accepted(response: &Self::Response) -> Accepted {
        response
            .partial_success
            .as_ref()
            .map_or(Accepted::ALL, |p| {
                Accepted::new(p.rejected_log_records, &p.error_message)
            })
    }
}

impl OtlpRequest for ExportMetricsServiceRequest {
    type Response = ExportMetricsServiceResponse;
    const GRPC_PATH: &'static str =
        "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export";
    fn accepted(response: &Self::Response) -> Accepted {
        response
            .partial_success
            .as_ref()
            .map_or(Accepted::ALL, |p| {
                Accepted::new(p.rejected_data_points, &p.error_message)
            })
    }
}

/// The longest text of a receiver's shown (in diagnostics and errors), in characters.
const MAX_SERVER_TEXT: usize = 512;

/// A message from the receiver as one line of at most [`MAX_SERVER_TEXT`] characters: it
/// goes to stderr and into errors, and a receiver's text may be long or hold line breaks.
fn server_text(text: &str) -> String {
    let mut chars = text
        .trim()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c });
    let mut line: String = chars.by_ref().take(MAX_SERVER_TEXT).collect();
    if chars.next().is_some() {
        line.push('…');
    }
    line
}

/// Why an export failed, after any retries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportError {
    /// What happened, with the endpoint.
    pub message: String,
    retryable: bool,
    retry_after: Option<Duration>,
    /// No connection to the receiver could be made (nothing listens there, say): retried
    /// while the application runs, not once shutdown has begun (see [`Retries::stop`]).
    unreachable: bool,
}

/// What the exports of one signal share with the rest of the pipeline while they retry.
#[derive(Debug, Default)]
pub(crate) struct Retries {
    /// The error of the failed attempt an export waits to retry, if one does: why an export
    /// still under way when it is timed out or cut off had not succeeded.
    pub(crate) waiting_after: Mutex<Option<String>>,
    stopping: AtomicBool,
    stop: tokio::sync::Notify,
}

impl Retries {
    /// Shutdown has begun: an export waiting to retry tries again at once (once: its later
    /// retries back off as before), and one that finds no receiver to connect to gives up
    /// rather than wait for one to start until the shutdown deadline (a service stopped
    /// with no collector running, or with its sidecar collector stopped first, would
    /// otherwise take that long to exit). A receiver that answers is still retried as the
    /// OTLP spec allows, within the deadline.
    pub(crate) fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.stop.notify_waiters();
    }

    /// Waits `delay`, or less if shutdown begins meanwhile (or has begun): `true` when cut
    /// short so.
    async fn wait(&self, delay: Duration) -> bool {
        let stop = self.stop.notified();
        tokio::pin!(stop);
        // Registered before the flag is read, so that a `stop` between the two still wakes
        // this wait.
        stop.as_mut().enable();
        if self.stopping.load(Ordering::SeqCst) {
            return true;
        }
        tokio::select! {
            () = tokio::time::sleep(delay) => false,
            () = stop => true,
        }
    }
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

/// `google.rpc.Status`, which gRPC carries in `grpc-status-details-bin` and OTLP/HTTP in
/// the body of every 4xx and 5xx: its message and details are read, not its code (the spec
/// says clients are not to act on it).
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(string, tag = "2")]
    message: String,
    #[prost(message, repeated, tag = "3")]
    details: Vec<ProtoAny>,
}

/// `google.protobuf.Any`.
#[derive(Clone, PartialEq, prost::Message)]
struct ProtoAny {
    #[prost(string, tag = "1")]
    type_url: String,
    #[prost(bytes = "vec", tag = "2")]
    value: Vec<u8>,
}

/// `google.rpc.RetryInfo`: how long the server asks the client to wait before retrying.
#[derive(Clone, PartialEq, prost::Message)]
struct RetryInfo {
    #[prost(message, optional, tag = "1")]
    retry_delay: Option<ProtoDuration>,
}

/// `google.protobuf.Duration`.
#[derive(Clone, PartialEq, prost::Message)]
struct ProtoDuration {
    #[prost(int64, tag = "1")]
    seconds: i64,
    #[prost(int32, tag = "2")]
    nanos: i32,
}

const RETRY_INFO_TYPE: &str = "type.googleapis.com/google.rpc.RetryInfo";

/// An OTLP header as gRPC metadata.
pub(crate) enum GrpcMetadata {
    Ascii(MetadataKey<Ascii>, MetadataValue<Ascii>),
    Binary(MetadataKey<Binary>, MetadataValue<Binary>),
}

/// A header as gRPC metadata, `None` if it can't be. An ASCII metadata value is visible
/// ASCII and spaces only (gRPC over HTTP/2, "ASCII-Value → 1*( %x20-%x7E )"), stricter than
/// an HTTP header value, which may hold a tab or bytes above 0x7F: tonic would send those,
/// and a conforming peer (grpc-go's client checks the same rule) may refuse the call. A
/// `-bin` name is binary metadata ("Binary-Header"): the value's bytes, sent
/// base64-encoded, as gRPC clients send any value under such a name (as ASCII metadata
/// tonic refuses the name).
pub(crate) fn grpc_metadata(name: &str, value: &[u8]) -> Option<GrpcMetadata> {
    if let Ok(key) = MetadataKey::<Binary>::from_bytes(name.as_bytes()) {
        return Some(GrpcMetadata::Binary(key, MetadataValue::from_bytes(value)));
    }
    let key = MetadataKey::from_bytes(name.as_bytes()).ok()?;
    if !value.iter().all(|b| (0x20..=0x7e).contains(b)) {
        return None;
    }
    let value = MetadataValue::try_from(value).ok()?;
    Some(GrpcMetadata::Ascii(key, value))
}

/// The delay of the `RetryInfo` in a gRPC status's details, if it has one; a negative
/// delay counts as none to wait.
fn retry_info(details: &[u8]) -> Option<Duration> {
    let status = RpcStatus::decode(details).ok()?;
    let info = status
        .details
        .iter()
        .find(|any| any.type_url == RETRY_INFO_TYPE)?;
    let delay = RetryInfo::decode(info.value.as_slice())
        .ok()?
        .retry_delay
        .unwrap_or_default();
    Some(
        Duration::from_secs(delay.seconds.max(0) as u64)
            + Duration::from_nanos(delay.nanos.clamp(0, 999_999_999) as u64),
    )
}

/// The longest wait for the body of a failed OTLP/HTTP response, which only adds the
/// receiver's words to the error: a receiver that sends its status and stalls must not hold
/// the export (and the retry it may allow) for the rest of its timeout.
const FAILURE_BODY_WAIT: Duration = Duration::from_secs(1);

/// What the body of a failed OTLP/HTTP response says, by its `content_type`: the message of
/// the `google.rpc.Status` the OTLP spec requires ("OTLP/HTTP Response", "Failures"), in
/// protobuf or JSON, or the text of a `text/plain` body (a proxy's answer). `None` for
/// anything else (an HTML error page says nothing a line could), or an empty message.
fn failure_message(content_type: &str, body: &[u8]) -> Option<String> {
    let said = match media_type(content_type).as_str() {
        "application/x-protobuf" | "application/protobuf" => RpcStatus::decode(body).ok()?.message,
        "application/json" => match serde_json::from_slice(body).ok()? {
            serde_json::Value::Object(mut status) => match status.remove("message") {
                Some(serde_json::Value::String(message)) => message,
                _ => return None,
            },
            _ => return None,
        },
        "text/plain" => String::from_utf8_lossy(body).into_owned(),
        _ => return None,
    };
    Some(server_text(&said)).filter(|said| !said.is_empty())
}

/// An HTTP `Retry-After` value: delay-seconds or an HTTP-date (RFC 9110, 10.2.3); a date
/// in the past is no wait.
fn retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(
        date.duration_since(std::time::SystemTime::now())
            .unwrap_or_default(),
    )
}

/// `uri` without its userinfo, and the credentials it held as an HTTP Basic `Authorization`
/// value (RFC 7617), as curl and the Go and Python HTTP clients send a URL's `user:password`:
/// hyper would drop them unsent, and tonic send them in `:authority`, which HTTP/2 forbids
/// (RFC 9113, 8.3.1) and proxies log. Percent-escapes in them are decoded, as a URL needs
/// them for reserved characters.
fn take_credentials(uri: http::Uri) -> Result<(http::Uri, Option<http::HeaderValue>), String> {
    use base64::Engine as _;
    let Some((userinfo, host)) = uri.authority().and_then(|a| a.as_str().rsplit_once('@')) else {
        return Ok((uri, None));
    };
    let decoded = |part: &str| percent_decode(part).unwrap_or_else(|| part.to_owned());
    // A user with no password (`http://token@host`) is `token:`, as those clients send it.
    let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
    let credentials = format!("{}:{}", decoded(user), decoded(password));
    let encoded = base64::engine::general_purpose::STANDARD.encode(credentials);
    let mut basic =
        http::HeaderValue::try_from(format!("Basic {encoded}")).map_err(|e| e.to_string())?;
    basic.set_sensitive(true);
    let host: http::uri::Authority = host
        .parse()
        .map_err(|e: http::uri::InvalidUri| e.to_string())?;
    let mut parts = uri.into_parts();
    parts.authority = Some(host);
    // A URL with a scheme needs a path; `/` is what an empty one means.
    parts
        .path_and_query
        .get_or_insert(http::uri::PathAndQuery::from_static("/"));
    let uri = http::Uri::from_parts(parts).map_err(|e| e.to_string())?;
    Ok((uri, Some(basic)))
}

/// The HTTP client's connector: with the `tls` feature it speaks TLS to `https://` URLs.
#[cfg(feature = "tls")]
type HttpConnect = hyper_rustls::HttpsConnector<HttpConnector>;
#[cfg(not(feature = "tls"))]
type HttpConnect = HttpConnector;

enum Transport {
    Grpc(Box<GrpcChannel>),
    Http {
        client: Box<Client<HttpConnect, Full<Bytes>>>,
        uri: http::Uri,
    },
}

/// The gRPC channel, made anew after a call that ended with no answer from the receiver
/// (cut off by the export's timeout, or its connection broken). tonic keeps a connection
/// for as long as it stays open, and one whose peer went away without a reset (a host
/// gone, a partition, a conntrack entry to a pod that is no more) stays open until the
/// kernel gives up retransmitting, a quarter of an hour: every export meanwhile would wait
/// on it, even once the collector is back elsewhere. OTLP/HTTP's client drops the
/// connection of a request cut off, so its next export connects anew; this does the same.
/// Calls still under way on the old channel keep it until they end.
struct GrpcChannel {
    endpoint: tonic::transport::Endpoint,
    channel: Mutex<Channel>,
    /// Set when a call ended unanswered: the next call gets a new channel.
    suspect: AtomicBool,
}

impl GrpcChannel {
    /// The channel for the next call. Must run on the export runtime (a new channel's
    /// worker is spawned there).
    fn current(&self) -> Channel {
        let mut channel = self.channel.lock();
        if self.suspect.swap(false, Ordering::Relaxed) {
            *channel = self.endpoint.connect_lazy();
        }
        channel.clone()
    }
}

/// Marks its channel suspect when dropped before [`Unanswered::answered`]: a call dropped
/// unfinished (its export timed out) or one that ended with no answer from the receiver.
struct Unanswered<'a>(Option<&'a AtomicBool>);

impl Unanswered<'_> {
    fn answered(mut self) {
        self.0 = None;
    }
}

impl Drop for Unanswered<'_> {
    fn drop(&mut self) {
        if let Some(suspect) = self.0 {
            suspect.store(true, Ordering::Relaxed);
        }
    }
}

/// An OTLP client for one signal's endpoint.
pub(crate) struct OtlpClient {
    transport: Transport,
    settings: OtlpSettings,
    /// The endpoint as errors show it ([`shown_url`]).
    shown: String,
    headers: http::HeaderMap,
    /// The endpoint's port, for [`protocol_hint`].
    port: Option<u16>,
    /// Until when the receiver asked not to be sent to (a `Retry-After` or `RetryInfo`
    /// longer than an export could wait): the OTLP spec's client "MUST then throttle
    /// itself", so later exports wait for it or fail unsent rather than ask again at once.
    throttled_until: Mutex<Option<Instant>>,
}

/// The longest a receiver's requested delay holds back later exports: a delay of days (or
/// `Retry-After: 18446744073709551615`) must not stop telemetry for good.
const MAX_THROTTLE: Duration = Duration::from_secs(300);

/// hyper's text for bytes a connection received when it was not waiting for any: what an
/// OTLP/gRPC receiver's HTTP/2 greeting is to an HTTP/1.1 client that has not read its
/// answer yet. hyper gives this kind no predicate.
const UNEXPECTED_MESSAGE: &str = "received unexpected message from connection";

/// Whether an OTLP/HTTP request failed because the receiver does not answer in HTTP/1.1 (an
/// OTLP/gRPC receiver answers in HTTP/2): a response hyper can't parse, or bytes it did not
/// wait for (the cause of a request hyper then reports as canceled). A malformed HTTP/1.1
/// head (a bad header, a head over hyper's limits) is such a response too. Not retried: no
/// retry changes what a receiver speaks. The OTLP spec retries the answers 429, 502, 503 and
/// 504, a connection that can't be made, and a server that "disconnects without returning a
/// response" (OTLP/HTTP, "All Other Responses"); this receiver did answer, in bytes that are
/// no HTTP/1.1 response.
fn not_http(error: &(dyn std::error::Error + 'static)) -> bool {
    std::iter::successors(Some(error), |e| e.source())
        .filter_map(|e| e.downcast_ref::<hyper::Error>())
        .any(|e| e.is_parse() || e.to_string() == UNEXPECTED_MESSAGE)
}

/// h2's text for a frame longer than it allows: what an HTTP/1.1 answer is to an HTTP/2
/// client, which reads its first bytes (`HTTP/1.1 4..`) as a frame's length.
const FRAME_TOO_LARGE: &str = "frame with invalid size";

/// Whether an OTLP/gRPC call failed because the receiver answered in HTTP/1.1 (an OTLP/HTTP
/// receiver that does not speak HTTP/2). Not retried, as [`not_http`] is not. h2's error
/// type is not one obs depends on, so it is told by its text.
fn not_http2(error: &(dyn std::error::Error + 'static)) -> bool {
    std::iter::successors(Some(error), |e| e.source())
        .any(|e| e.to_string().contains(FRAME_TOO_LARGE))
}

/// What to append to a failed export's `message` when the endpoint likely speaks the other
/// OTLP protocol: it is on that protocol's default port, or the error is one a server of
/// the other protocol causes, which names neither the port nor the protocol. OTLP/HTTP to
/// a gRPC server: hyper reads the server's HTTP/2 frames as "received unexpected message
/// from connection" or "invalid HTTP version parsed". OTLP/gRPC to an HTTP server: h2 reads
/// an HTTP/1.1 answer as a "frame with invalid size", tonic an HTTP/2 one's body as a
/// message with an "invalid compression flag", and an HTTP/2 404 without a body (rotel's
/// OTLP/HTTP receiver's, for the gRPC method's path) as "grpc-status header missing, mapped
/// from HTTP status code 404".
fn protocol_hint(protocol: Protocol, port: Option<u16>, message: &str) -> &'static str {
    let (default_port, signatures, hint): (_, &[&str], _) = match protocol {
        Protocol::HttpProtobuf => (
            4317,
            &[UNEXPECTED_MESSAGE, "invalid HTTP version"],
            " (is it an OTLP/gRPC endpoint? For gRPC, set OTEL_EXPORTER_OTLP_PROTOCOL=grpc or \
             Builder::protocol; port 4317 is OTLP/gRPC's default)",
        ),
        Protocol::Grpc => (
            4318,
            &[
                FRAME_TOO_LARGE,
                "invalid compression flag",
                "mapped from HTTP status code 404",
            ],
            " (is it an OTLP/HTTP endpoint? For HTTP, set \
             OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf or Builder::protocol; port 4318 is \
             OTLP/HTTP's default)",
        ),
    };
    let mismatch =
        port == Some(default_port) || signatures.iter().any(|&sign| message.contains(sign));
    if mismatch { hint } else { "" }
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
        // Sent as a header over HTTP and as metadata over gRPC, to which tonic adds its name.
        headers
            .entry(http::header::USER_AGENT)
            .or_insert(http::HeaderValue::from_static(USER_AGENT));
        let connect_timeout =
            limit(settings.timeout).map_or(MAX_CONNECT_TIMEOUT, |t| t.min(MAX_CONNECT_TIMEOUT));
        let shown = shown_url(&settings.endpoint).into_owned();
        let uri: http::Uri = settings
            .endpoint
            .parse()
            .map_err(|e| format!("OTLP endpoint {shown:?}: {e}"))?;
        let (uri, credentials) =
            take_credentials(uri).map_err(|e| format!("OTLP endpoint {shown:?}: {e}"))?;
        if let Some(basic) = credentials {
            // Headers configured by name are the more specific setting.
            headers.entry(http::header::AUTHORIZATION).or_insert(basic);
        }
        let port = uri.port_u16();
        #[cfg(feature = "tls")]
        let tls = (uri.scheme_str() == Some("https"))
            .then(|| crate::export::tls::TlsMaterial::load(&settings.tls))
            .transpose()
            .map_err(|e| format!("TLS to {shown:?}: {e}"))?;
        let transport = match settings.protocol {
            Protocol::Grpc => {
                let endpoint = Channel::builder(uri).connect_timeout(connect_timeout);
                #[cfg(feature = "tls")]
                let endpoint = match &tls {
                    Some(tls) => endpoint
                        .tls_config(tls.tonic_config())
                        .map_err(|e| format!("TLS to {shown:?}: {e}"))?,
                    None => endpoint,
                };
                Transport::Grpc(Box::new(GrpcChannel {
                    channel: Mutex::new(endpoint.connect_lazy()),
                    endpoint,
                    suspect: AtomicBool::new(false),
                }))
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
                    .map_err(|e| format!("TLS to {shown:?}: {e}"))?;
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
            shown,
            headers,
            port,
            throttled_until: Mutex::new(None),
        })
    }

    /// The largest request to send, encoded.
    pub(crate) fn max_request_bytes(&self) -> usize {
        self.settings.max_request_bytes
    }

    /// The endpoint, for error messages, its credentials withheld.
    pub(crate) fn endpoint(&self) -> &str {
        &self.shown
    }

    /// Sends `request`, retrying as the spec allows within the timeout (and as `retries`
    /// allows once shutdown has begun). Returns what the receiver said of its items (how
    /// many it rejected, and why). While it waits to retry, `retries` holds the error of the
    /// attempt that failed, so that an export cut off or timed out meanwhile can say why it
    /// had not succeeded yet (no collector listening, say); it is cleared at the end.
    pub(crate) async fn export<R: OtlpRequest>(
        &self,
        request: &R,
        retries: &Retries,
    ) -> Result<Accepted, ExportError> {
        let result = self.send_with_retries(request, retries).await;
        *retries.waiting_after.lock() = None;
        result.map_err(|mut e| {
            e.message
                .push_str(protocol_hint(self.settings.protocol, self.port, &e.message));
            e
        })
    }

    async fn send_with_retries<R: OtlpRequest>(
        &self,
        request: &R,
        retries: &Retries,
    ) -> Result<Accepted, ExportError> {
        // Encoded (and for HTTP compressed) once: every retry resends the same bytes.
        let payload = self.payload(request);
        let deadline = limit(self.settings.timeout).map(|t| Instant::now() + t);
        let throttled = (*self.throttled_until.lock())
            .map(|until| until.saturating_duration_since(Instant::now()))
            .filter(|wait| !wait.is_zero());
        if let Some(wait) = throttled {
            if deadline.is_some_and(|d| wait >= d.saturating_duration_since(Instant::now())) {
                return Err(ExportError {
                    message: format!(
                        "not sent: the receiver at {} asked for {} s more without requests \
                         (Retry-After or RetryInfo)",
                        self.endpoint(),
                        wait.as_secs_f64().ceil()
                    ),
                    retryable: false,
                    retry_after: None,
                    unreachable: false,
                });
            }
            tokio::time::sleep(wait).await;
        }
        let mut backoff = Duration::from_millis(50);
        let mut hurried = false;
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
                    unreachable: false,
                }),
            };
            match attempt {
                Ok(accepted) => return Ok(accepted),
                Err(e) if e.unreachable && retries.stopping.load(Ordering::SeqCst) => {
                    return Err(e);
                }
                Err(e) if e.retryable => {
                    let jitter =
                        Duration::from_micros(u64::from(obs_trace::SpanId::random().0[0]) * 100);
                    // The receiver's delay is the least to wait, not a replacement for the
                    // backoff: `Retry-After: 0` on every answer would otherwise be retried
                    // every few milliseconds, the whole request each time, until the deadline.
                    // Saturating and compared with what is left, not added to an instant: the
                    // delay can be any number (`Retry-After: 18446744073709551615`), and an
                    // overflow would panic.
                    let wait = e
                        .retry_after
                        .map_or(backoff, |delay| delay.max(backoff))
                        .saturating_add(jitter);
                    if deadline.is_some_and(|d| wait >= d.saturating_duration_since(Instant::now()))
                    {
                        if let Some(delay) = e.retry_after {
                            let until = Instant::now() + delay.min(MAX_THROTTLE);
                            let mut throttled = self.throttled_until.lock();
                            *throttled = Some(throttled.map_or(until, |t| t.max(until)));
                        }
                        return Err(e);
                    }
                    let hint = protocol_hint(self.settings.protocol, self.port, &e.message);
                    *retries.waiting_after.lock() = Some(format!("{}{hint}", e.message));
                    // Shutdown cuts one wait short; the later ones back off as before, or a
                    // collector that answers (a draining one says 503 or UNAVAILABLE) would
                    // be asked again in a loop until the deadline.
                    if hurried {
                        tokio::time::sleep(wait).await;
                    } else {
                        hurried = retries.wait(wait).await;
                    }
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
    ) -> Result<Accepted, ExportError> {
        match &self.transport {
            Transport::Grpc(channel) => {
                self.send_grpc::<R>(channel, payload.bytes.clone(), remaining)
                    .await
            }
            Transport::Http { client, uri } => self.send_http::<R>(client, uri, payload).await,
        }
    }

    async fn send_grpc<R: OtlpRequest>(
        &self,
        channel: &GrpcChannel,
        message: Bytes,
        remaining: Option<Duration>,
    ) -> Result<Accepted, ExportError> {
        let unanswered = Unanswered(Some(&channel.suspect));
        let mut grpc = tonic::client::Grpc::new(channel.current());
        if self.settings.compression == Compression::Gzip {
            grpc = grpc
                .send_compressed(CompressionEncoding::Gzip)
                .accept_compressed(CompressionEncoding::Gzip);
        }
        let fail = |message: String, retryable: bool| ExportError {
            message,
            retryable,
            retry_after: None,
            unreachable: false,
        };
        if let Err(e) = grpc.ready().await {
            // No connection, which tonic makes again itself.
            unanswered.answered();
            return Err(ExportError {
                unreachable: true,
                ..fail(
                    format!("OTLP/gRPC {} not ready: {}", self.endpoint(), causes(&e)),
                    true,
                )
            });
        }
        let mut req = tonic::Request::new(message);
        // Tells the server how long the client waits (`grpc-timeout`); none without a limit,
        // nor for one longer than the header can say (tonic panics on it): the client keeps
        // its deadline all the same.
        if let Some(remaining) = remaining.filter(|r| *r <= MAX_GRPC_TIMEOUT) {
            req.set_timeout(remaining);
        }
        for (k, v) in &self.headers {
            // The configuration left out (and warned about) what is not metadata.
            match grpc_metadata(k.as_str(), v.as_bytes()) {
                Some(GrpcMetadata::Binary(key, val)) => req.metadata_mut().append_bin(key, val),
                Some(GrpcMetadata::Ascii(key, val)) => req.metadata_mut().append(key, val),
                None => false,
            };
        }
        let path = http::uri::PathAndQuery::from_static(R::GRPC_PATH);
        match grpc
            .unary(req, path, EncodedCodec::<R::Response>::default())
            .await
        {
            Ok(resp) => {
                unanswered.answered();
                Ok(R::accepted(resp.get_ref()))
            }
            Err(status) => {
                use tonic::Code::*;
                let retry_after = retry_info(status.details());
                // A connection that broke mid-call (a receiver that crashed or restarted)
                // brings no status from the receiver: tonic makes an UNKNOWN one caused by a
                // transport error. gRPC calls that condition UNAVAILABLE, and it is retried as
                // a broken HTTP connection is. So does the `grpc-timeout` running out with no
                // answer (a CANCELLED of tonic's own). Not an answer in HTTP/1.1, which is no
                // broken connection but a receiver of the other protocol.
                let broken = std::error::Error::source(&status)
                    .is_some_and(|cause| cause.is::<tonic::transport::Error>())
                    && !not_http2(&status);
                if !broken {
                    unanswered.answered();
                }
                let retryable = broken
                    || match status.code() {
                        Cancelled | DeadlineExceeded | Aborted | OutOfRange | Unavailable
                        | DataLoss => true,
                        // Retryable "only if the server signals that a recovery from resource
                        // exhaustion is possible", which it does with a RetryInfo.
                        ResourceExhausted => retry_after.is_some(),
                        _ => false,
                    };
                Err(ExportError {
                    message: format!(
                        "OTLP/gRPC export to {} failed: {:?}: {}",
                        self.endpoint(),
                        status.code(),
                        causes(&status)
                    ),
                    retryable,
                    retry_after,
                    // tonic connects when the call is made: a connection it can't make
                    // fails it.
                    unreachable: broken && connect_failed(&status),
                })
            }
        }
    }

    async fn send_http<R: OtlpRequest>(
        &self,
        client: &Client<HttpConnect, Full<Bytes>>,
        uri: &http::Uri,
        payload: &Payload,
    ) -> Result<Accepted, ExportError> {
        let fail = |message: String, retryable: bool, retry_after: Option<Duration>| ExportError {
            message,
            retryable,
            retry_after,
            unreachable: false,
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
        let resp = client.request(req).await.map_err(|e| ExportError {
            unreachable: e.is_connect(),
            ..fail(
                format!(
                    "OTLP/HTTP export to {} failed: {}",
                    self.endpoint(),
                    causes(&e)
                ),
                !not_http(&e),
                None,
            )
        })?;
        let status = resp.status();
        if status.is_success() {
            let (head, body) = resp.into_parts();
            let body = http_body_util::Limited::new(body, MAX_RESPONSE_BYTES)
                .collect()
                .await
                .map(|b| b.to_bytes());
            return success::<R>(&head.headers, body).map_err(|why| {
                fail(
                    format!(
                        "OTLP/HTTP export to {} failed: HTTP {} {why}",
                        self.endpoint(),
                        status.as_u16()
                    ),
                    false,
                    None,
                )
            });
        }
        let retry_after = resp
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(retry_after);
        let retryable = matches!(status.as_u16(), 429 | 502 | 503 | 504);
        // A redirect is not followed: it would take the headers, credentials included,
        // wherever it points. Where that is is said, for the endpoint to be set to it.
        let redirected = resp
            .headers()
            .get(http::header::LOCATION)
            .filter(|_| status.is_redirection())
            .and_then(|to| to.to_str().ok())
            .map(|to| {
                format!(
                    ", redirected to {}: obs does not follow redirects; set the endpoint to it",
                    shown_url(to)
                )
            })
            .unwrap_or_default();
        let content_type = content_type(resp.headers()).to_owned();
        let body = http_body_util::Limited::new(resp.into_body(), MAX_RESPONSE_BYTES).collect();
        let said = tokio::time::timeout(FAILURE_BODY_WAIT, body)
            .await
            .ok()
            .and_then(Result::ok)
            .and_then(|body| failure_message(&content_type, &body.to_bytes()))
            .map(|said| format!(": {said}"))
            .unwrap_or_default();
        Err(fail(
            format!(
                "OTLP/HTTP export to {} failed: HTTP {}{redirected}{said}",
                self.endpoint(),
                status.as_u16()
            ),
            retryable,
            retry_after,
        ))
    }
}

/// A response's `Content-Type`, empty if it has none (or one that is not text).
fn content_type(headers: &http::HeaderMap) -> &str {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// The media type of a `Content-Type` value, in lower case (`text/plain; charset=utf-8`:
/// `text/plain`).
fn media_type(content_type: &str) -> String {
    let media_type = content_type.split(';').next().unwrap_or_default();
    media_type.trim().to_ascii_lowercase()
}

/// What a 2xx OTLP/HTTP response with `headers` and `body` (read up to
/// [`MAX_RESPONSE_BYTES`]) says of the request's items, or why it confirms nothing. A full
/// or partial success is a 2xx whose body is the signal's `Export<signal>ServiceResponse`
/// (OTLP spec, "OTLP/HTTP Response": "The response body MUST be the appropriate serialized
/// Protobuf message"; an empty body is that message with nothing set), read as JSON when
/// the receiver says it is (the spec has it answer in the request's encoding, but a
/// receiver that answers JSON still says what it took). A web server's page at a wrong
/// endpoint, or a body cut off or longer than any response, says nothing of the items:
/// counting them as exported would hide their loss, so the export fails, as a gRPC call
/// whose response message can't be decoded does. The caller does not retry it: the
/// receiver may have taken them.
fn success<R: OtlpRequest>(
    headers: &http::HeaderMap,
    body: Result<Bytes, Box<dyn std::error::Error + Send + Sync>>,
) -> Result<Accepted, String> {
    let body = body.map_err(|e| {
        if e.is::<http_body_util::LengthLimitError>() {
            format!("whose body is longer than an OTLP response ({MAX_RESPONSE_BYTES} bytes)")
        } else {
            format!("whose body was cut off: {}", causes(e.as_ref()))
        }
    })?;
    let response = if body.is_empty() {
        Some(R::Response::default())
    } else if media_type(content_type(headers)) == "application/json" {
        json_response::<R>(&body)
    } else {
        R::Response::decode(body).ok()
    };
    response
        .map(|response| R::accepted(&response))
        .ok_or_else(|| {
            let shown = match content_type(headers).trim() {
                "" => String::new(),
                content_type => format!(" (Content-Type: {})", server_text(content_type)),
            };
            format!(
                "with a body that is not an OTLP export response{shown}: is the endpoint an \
                 OTLP/HTTP receiver?"
            )
        })
}

/// The signal's response read from a JSON body. OTLP/JSON writes 64-bit integers, such as
/// the `rejected_<signal>` count, as decimal strings, and a reader takes numbers or strings
/// (OTLP/JSON follows Protobuf's JSON mapping: "JSON value will be a decimal string. Either
/// numbers or strings are accepted"); opentelemetry-proto's serde reads only numbers
/// there, so a string is made a number first. Unknown fields are ignored.
fn json_response<R: OtlpRequest>(body: &[u8]) -> Option<R::Response> {
    let mut response: serde_json::Value = serde_json::from_slice(body).ok()?;
    if let Some(partial) = response
        .get_mut("partialSuccess")
        .and_then(serde_json::Value::as_object_mut)
    {
        for (key, count) in partial.iter_mut() {
            if key.starts_with("rejected")
                && let Some(n) = count.as_str().and_then(|s| s.parse::<i64>().ok())
            {
                *count = n.into();
            }
        }
    }
    serde_json::from_value(response).ok()
}

/// Whether `error` was raised while connecting to the receiver (tonic wraps every such
/// failure in its `ConnectError`: the name not resolved, the connection refused or timed
/// out, the TLS handshake): the gRPC counterpart of hyper-util's `is_connect`, which
/// classifies OTLP/HTTP's.
fn connect_failed(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(error);
    while let Some(e) = source {
        if e.is::<tonic::ConnectError>() {
            return true;
        }
        source = e.source();
    }
    false
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
        // Some wrappers repeat their source's text, and tonic's connect failure names its
        // innermost wrapper ("tcp connect error") before the chain that leads to it.
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = e.source();
    }
    text
}

#[cfg(all(test, feature = "testing"))]
mod tests {
    use std::sync::Arc;

    use opentelemetry_proto::tonic::collector::trace::v1::{
        ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
    };

    use super::*;
    use crate::config::{Signal, signal_url};
    use crate::testing::{NOTHING_LISTENS, OtlpReceiver, ReceiverConfig};

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
        // tonic's connect failure: a status named after the innermost wrapper, whose source
        // is the transport error that leads to it again.
        #[derive(Debug)]
        struct Transport(Wrapper);
        impl fmt::Display for Transport {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("transport error")
            }
        }
        impl std::error::Error for Transport {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let mut status = tonic::Status::unavailable("tcp connect error");
        status.set_source(Arc::new(Transport(Wrapper("tcp connect error", refused()))));
        assert_eq!(
            causes(&status),
            "tcp connect error: transport error: refused"
        );
    }

    /// A client of the traces endpoint under `base`, with export timeout `timeout`.
    /// One empty traces export to `base` (retries at their defaults), as a test's only call.
    async fn export_once(
        base: &str,
        protocol: Protocol,
        timeout: Duration,
    ) -> Result<Accepted, ExportError> {
        traces_client(base, protocol, timeout)
            .export(&ExportTraceServiceRequest::default(), &Retries::default())
            .await
    }

    fn traces_client(base: &str, protocol: Protocol, timeout: Duration) -> OtlpClient {
        OtlpClient::new(&OtlpSettings {
            endpoint: signal_url(base, protocol, Signal::Traces),
            protocol,
            headers: Vec::new(),
            timeout,
            compression: Compression::None,
            max_request_bytes: OtlpSettings::DEFAULT_MAX_REQUEST_BYTES,
            tls: Default::default(),
        })
        .unwrap()
    }

    #[test]
    fn an_endpoint_on_the_other_protocols_port_gets_a_hint() {
        let grpc = "OTEL_EXPORTER_OTLP_PROTOCOL=grpc";
        let http = "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf";
        assert!(protocol_hint(Protocol::HttpProtobuf, Some(4317), "refused").contains(grpc));
        assert!(protocol_hint(Protocol::Grpc, Some(4318), "refused").contains(http));
        for (protocol, port) in [
            (Protocol::HttpProtobuf, Some(4318)),
            (Protocol::Grpc, Some(4317)),
            (Protocol::HttpProtobuf, None),
            (Protocol::Grpc, Some(14317)),
        ] {
            assert_eq!(
                protocol_hint(protocol, port, "refused"),
                "",
                "{protocol:?} {port:?}"
            );
        }
    }

    /// On any port, the error a server of the other protocol causes gets the hint: real
    /// servers of each protocol (the test receiver's, and an HTTP/1.1 one answering 400 to
    /// what it can't read, as HTTP/1.1-only servers do with gRPC's preface).
    #[tokio::test]
    async fn an_export_to_a_server_of_the_other_protocol_gets_a_hint() {
        let receiver = OtlpReceiver::start(ReceiverConfig::default())
            .await
            .unwrap();
        let http1 = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let http1_base = format!("http://{}", http1.local_addr().unwrap());
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            for _ in 0..MAX_CONNECTIONS {
                let Ok((mut stream, _)) = http1.accept().await else {
                    return;
                };
                let mut request = [0; 4096];
                let _ = stream.read(&mut request).await;
                let _ = stream
                    .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
                    .await;
            }
        });
        // An OTLP/HTTP receiver that speaks HTTP/2 too may answer the gRPC method's path
        // with a 404 and no body, as rotel's does.
        let h2 = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let h2_base = format!("http://{}", h2.local_addr().unwrap());
        tokio::spawn(async move {
            for _ in 0..MAX_CONNECTIONS {
                let Ok((stream, _)) = h2.accept().await else {
                    return;
                };
                let not_found = hyper::service::service_fn(
                    |_request: http::Request<hyper::body::Incoming>| async {
                        let body = Full::new(Bytes::new());
                        let mut response = http::Response::new(body);
                        *response.status_mut() = http::StatusCode::NOT_FOUND;
                        Ok::<_, std::convert::Infallible>(response)
                    },
                );
                tokio::spawn(
                    hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), not_found),
                );
            }
        });
        for (protocol, base, hint) in [
            (
                Protocol::HttpProtobuf,
                receiver.grpc_endpoint(),
                "OTEL_EXPORTER_OTLP_PROTOCOL=grpc",
            ),
            (
                Protocol::Grpc,
                h2_base,
                "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
            ),
            (
                Protocol::Grpc,
                receiver.http_endpoint(),
                "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
            ),
            (
                Protocol::Grpc,
                http1_base,
                "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
            ),
        ] {
            let client = traces_client(&base, protocol, Duration::from_millis(500));
            let error = client
                .export(&ExportTraceServiceRequest::default(), &Retries::default())
                .await
                .expect_err("the other protocol's server takes nothing");
            assert!(error.message.contains(hint), "{protocol:?} {base}: {error}");
        }
        // The right protocol's failure gets none.
        let base = format!("http://{NOTHING_LISTENS}");
        for protocol in [Protocol::HttpProtobuf, Protocol::Grpc] {
            let client = traces_client(&base, protocol, Duration::from_millis(300));
            let error = client
                .export(&ExportTraceServiceRequest::default(), &Retries::default())
                .await
                .expect_err("nothing listens");
            assert!(
                !error.message.contains("PROTOCOL="),
                "{protocol:?}: {error}"
            );
        }
        receiver.shutdown().await;
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
            let sent = export_once(&base, protocol, Duration::ZERO).await;
            assert_eq!(sent, Ok(Accepted::ALL), "{protocol:?}");
        }
        receiver.shutdown().await;
    }

    /// A request to a fake receiver: when it arrived, and its headers (names in lower case;
    /// over HTTP/2 `:authority` too).
    #[derive(Clone, Debug)]
    struct Arrival {
        at: Instant,
        headers: Vec<(String, String)>,
    }

    impl Arrival {
        /// The value of the header `name` (lower case), if it came.
        fn header(&self, name: &str) -> Option<&str> {
            self.headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        }
    }

    /// The requests of a fake receiver, in order.
    type Arrivals = Arc<parking_lot::Mutex<Vec<Arrival>>>;

    /// The most connections a fake receiver serves, so its accept loop ends.
    const MAX_CONNECTIONS: usize = 64;

    /// An HTTP/1.1 receiver on a free loopback port: it reads each request whole, notes when
    /// it arrived, and lets `answer` write the response (given the request's index) on the
    /// connection. Returns its base URL.
    async fn http_answering<F, A>(answer: F) -> (String, Arrivals)
    where
        F: Fn(usize, tokio::net::TcpStream) -> A + Send + 'static,
        A: Future<Output = ()> + Send + 'static,
    {
        use tokio::io::{AsyncBufReadExt, AsyncReadExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let arrivals = Arrivals::default();
        let seen = arrivals.clone();
        tokio::spawn(async move {
            for index in 0..MAX_CONNECTIONS {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let mut reader = tokio::io::BufReader::new(stream);
                let (mut length, mut headers) = (0, Vec::new());
                let mut line = String::new();
                while reader.read_line(&mut line).await.unwrap_or(0) > 0 && line != "\r\n" {
                    if let Some((name, value)) = line.split_once(':') {
                        let (name, value) = (name.to_ascii_lowercase(), value.trim().to_owned());
                        if name == "content-length" {
                            length = value.parse().unwrap_or(0);
                        }
                        headers.push((name, value));
                    }
                    line.clear();
                }
                let mut body = vec![0; length];
                if reader.read_exact(&mut body).await.is_err() {
                    continue;
                }
                seen.lock().push(Arrival {
                    at: Instant::now(),
                    headers,
                });
                tokio::spawn(answer(index, reader.into_inner()));
            }
        });
        (base, arrivals)
    }

    /// An HTTP/1.1 response with `status` (`200 OK`), a `content_type` body, and the
    /// connection closed after it.
    fn closing_response(status: &str, content_type: &str, body: &str) -> String {
        format!(
            "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            body.len()
        )
    }

    /// Writes `response` and closes the connection.
    async fn respond(mut stream: tokio::net::TcpStream, response: impl AsRef<[u8]>) {
        use tokio::io::AsyncWriteExt;
        let _ = stream.write_all(response.as_ref()).await;
    }

    /// A 503 whose `Retry-After` is `value`.
    fn unavailable(value: &str) -> String {
        format!(
            "HTTP/1.1 503 Service Unavailable\r\nRetry-After: {value}\r\n\
             Content-Length: 0\r\nConnection: close\r\n\r\n"
        )
    }

    const OK: &str = "HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\n\
                      Content-Length: 0\r\nConnection: close\r\n\r\n";

    #[tokio::test]
    async fn an_enormous_retry_after_fails_the_export_without_a_panic() {
        let (base, arrivals) =
            http_answering(|_, stream| respond(stream, unavailable(&u64::MAX.to_string()))).await;
        let client = traces_client(&base, Protocol::HttpProtobuf, Duration::from_secs(5));
        let sent = client
            .export(&ExportTraceServiceRequest::default(), &Retries::default())
            .await;
        let error = sent.expect_err("the wait ends after the deadline");
        assert!(error.message.contains("HTTP 503"), "{error}");
        assert_eq!(arrivals.lock().len(), 1, "no retry within the deadline");
        // Later exports are held back for at most MAX_THROTTLE, not for ever.
        let until = client.throttled_until.lock().expect("throttled");
        assert!(until <= Instant::now() + MAX_THROTTLE);
    }

    /// A receiver that asks for more time than an export can wait is not asked again before
    /// it has passed (OTLP spec, "Failures": the client "MUST then throttle itself"): the
    /// next export fails unsent, and once the delay is over exports go out again. The
    /// delay's end is set by hand rather than waited for: no test waits on the clock.
    #[tokio::test]
    async fn a_delay_longer_than_the_timeout_throttles_the_next_exports() {
        let (base, arrivals) = http_answering(|index, stream| {
            let answer = match index {
                0 => unavailable("60"),
                _ => OK.to_owned(),
            };
            respond(stream, answer)
        })
        .await;
        let client = traces_client(&base, Protocol::HttpProtobuf, Duration::from_secs(30));
        let request = ExportTraceServiceRequest::default();
        let first = client.export(&request, &Retries::default()).await;
        let error = first.expect_err("asked to wait 60 s, more than the 30 s timeout");
        assert!(error.message.contains("HTTP 503"), "{error}");
        // Throttled until 60 s after the answer: later than the timeout would have reached.
        let until = client.throttled_until.lock().expect("throttled");
        assert!(until > Instant::now() + Duration::from_secs(30));
        let second = client.export(&request, &Retries::default()).await;
        let error = second.expect_err("throttled");
        assert!(error.message.contains("not sent"), "{error}");
        assert_eq!(arrivals.lock().len(), 1, "the receiver was not asked again");
        // The delay over, the next export is sent.
        *client.throttled_until.lock() = Some(Instant::now());
        let third = client.export(&request, &Retries::default()).await;
        assert_eq!(third, Ok(Accepted::ALL));
        assert_eq!(arrivals.lock().len(), 2);
    }

    /// The first bytes an OTLP/gRPC receiver sends: an HTTP/2 SETTINGS frame, empty.
    const H2_SETTINGS: &[u8] = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00";

    /// OTLP/HTTP sent to an OTLP/gRPC receiver (the issue's own `otlp_endpoint(":4317")`
    /// with the default protocol) is answered in HTTP/2, whether the frames come after the
    /// request or before it: a receiver of the other protocol, which no retry changes. It
    /// fails at once, as a web page at a wrong endpoint does, instead of being retried until
    /// the export timeout (and holding shutdown for its whole timeout).
    #[tokio::test]
    async fn http_to_a_grpc_receiver_fails_at_once() {
        // After the request: hyper reads the frame as a response of an unknown version.
        let (base, arrivals) = http_answering(|_, stream| respond(stream, H2_SETTINGS)).await;
        let sent = export_once(&base, Protocol::HttpProtobuf, Duration::from_secs(5)).await;
        let error = sent.expect_err("an HTTP/2 answer");
        assert!(!error.retryable, "{error}");
        assert!(error.message.contains("OTLP/gRPC endpoint?"), "{error}");
        assert_eq!(arrivals.lock().len(), 1, "not retried: {error}");

        // Before it, as a gRPC server greets each connection: bytes hyper did not wait for.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let connections = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = connections.clone();
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            for _ in 0..MAX_CONNECTIONS {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                counted.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(async move {
                    let _ = stream.write_all(H2_SETTINGS).await;
                    // Held open, reading, as a server waiting for the HTTP/2 preface.
                    let mut sink = [0; 1024];
                    while stream.read(&mut sink).await.is_ok_and(|n| n > 0) {}
                });
            }
        });
        let sent = export_once(&base, Protocol::HttpProtobuf, Duration::from_secs(5)).await;
        let error = sent.expect_err("HTTP/2 frames first");
        assert!(!error.retryable, "{error}");
        assert_eq!(
            connections.load(Ordering::Relaxed),
            1,
            "not retried: {error}"
        );
    }

    /// OTLP/gRPC sent to an HTTP/1.1-only receiver (an OTLP/HTTP port that does not speak
    /// HTTP/2): h2 reads its HTTP/1.1 answer as a frame of an impossible size. A receiver of
    /// the other protocol, which no retry changes: the export fails at once.
    #[tokio::test]
    async fn grpc_to_an_http1_receiver_fails_at_once() {
        let (base, arrivals) = http_answering(|_, stream| respond(stream, OK)).await;
        let sent = export_once(&base, Protocol::Grpc, Duration::from_secs(5)).await;
        let error = sent.expect_err("an HTTP/1.1 answer");
        assert!(!error.retryable, "{error}");
        assert!(error.message.contains("OTLP/HTTP endpoint?"), "{error}");
        assert_eq!(arrivals.lock().len(), 1, "not retried: {error}");
    }

    #[tokio::test]
    async fn a_retry_after_date_is_honoured() {
        let (base, arrivals) = http_answering(|index, stream| {
            // Three seconds on, to the second: a wait of more than two.
            let later = std::time::SystemTime::now() + Duration::from_secs(3);
            let answer = match index {
                0 => unavailable(&httpdate::fmt_http_date(later)),
                _ => OK.to_owned(),
            };
            respond(stream, answer)
        })
        .await;
        let sent = export_once(&base, Protocol::HttpProtobuf, Duration::from_secs(30)).await;
        assert_eq!(sent, Ok(Accepted::ALL));
        let arrivals = arrivals.lock();
        assert_eq!(arrivals.len(), 2);
        let waited = arrivals[1].at - arrivals[0].at;
        assert!(waited >= Duration::from_secs(2), "retried after {waited:?}");
    }

    #[tokio::test]
    async fn an_endless_response_body_is_not_read_to_its_end() {
        let (base, _) = http_answering(|_, mut stream| async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let head = "HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\n\
                        Transfer-Encoding: chunked\r\n\r\n";
            if stream.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            // 16 MiB in 64 KiB chunks, then a body that never ends: the connection stays
            // open (until the client closes it, at most a minute) with no last chunk.
            let chunk = format!("10000\r\n{}\r\n", "x".repeat(0x10000));
            for _ in 0..256 {
                if stream.write_all(chunk.as_bytes()).await.is_err() {
                    return;
                }
            }
            let _ = tokio::time::timeout(Duration::from_secs(60), stream.read(&mut [0; 1])).await;
        })
        .await;
        let client = traces_client(&base, Protocol::HttpProtobuf, Duration::from_secs(5));
        let error = client
            .export(&ExportTraceServiceRequest::default(), &Retries::default())
            .await
            .expect_err("a body of no OTLP response");
        // Given up at the cap, not at the export's timeout nor at the body's end.
        assert!(
            error
                .message
                .ends_with("HTTP 200 whose body is longer than an OTLP response (65536 bytes)"),
            "{error}"
        );
    }

    /// A 200 is a success only with the OTLP response in its body: a web page (an endpoint
    /// that is some web server, answering 200 to any POST), bytes that are no
    /// `ExportTraceServiceResponse`, or a body cut off by a reset confirm nothing, and the
    /// export fails, once (the receiver may have taken the items: no retry), saying what
    /// came back. An empty body is the response with nothing set: a full success.
    #[tokio::test]
    async fn a_200_without_an_otlp_response_fails_the_export() {
        for (answer, says) in [
            (
                "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 29\r\n\
                 Connection: close\r\n\r\n<html><body>Hi!</body></html>",
                "HTTP 200 with a body that is not an OTLP export response (Content-Type: \
                 text/html): is the endpoint an OTLP/HTTP receiver?",
            ),
            (
                "HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: 3\r\n\
                 Connection: close\r\n\r\n\x0a\x05x",
                "HTTP 200 with a body that is not an OTLP export response (Content-Type: \
                 application/x-protobuf)",
            ),
            (
                // 100 bytes announced, 1 sent, then the connection closes.
                "HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: 100\r\n\
                 Connection: close\r\n\r\n\x0a",
                "HTTP 200 whose body was cut off",
            ),
        ] {
            let (base, arrivals) = http_answering(move |_, stream| respond(stream, answer)).await;
            let client = traces_client(&base, Protocol::HttpProtobuf, Duration::from_secs(30));
            let error = client
                .export(&ExportTraceServiceRequest::default(), &Retries::default())
                .await
                .expect_err("no OTLP response, no success");
            assert!(error.message.contains(says), "{error}");
            assert_eq!(arrivals.lock().len(), 1, "not retried: {error}");
        }
        let empty = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        let (base, _) = http_answering(move |_, stream| respond(stream, empty)).await;
        let sent = export_once(&base, Protocol::HttpProtobuf, Duration::from_secs(30)).await;
        assert_eq!(sent, Ok(Accepted::ALL));
    }

    /// A receiver that answers a protobuf request in JSON (the spec has it answer in the
    /// request's encoding) still says what it took: its partial success is read, and an
    /// empty object is a full success.
    #[tokio::test]
    async fn a_json_response_to_a_protobuf_request_is_read() {
        for (body, accepted) in [
            (
                r#"{"partialSuccess": {"rejectedSpans": 3, "errorMessage": "too old"}}"#,
                Accepted::new(3, "too old"),
            ),
            ("{}", Accepted::ALL),
            // 64-bit integers as OTLP/JSON writes them, and fields it does not know.
            (
                r#"{"partialSuccess": {"rejectedSpans": "2", "errorMessage": "x"}}"#,
                Accepted::new(2, "x"),
            ),
            (r#"{"status": "ok"}"#, Accepted::ALL),
        ] {
            let (base, _) = http_answering(move |_, stream| {
                respond(stream, closing_response("200 OK", "application/json", body))
            })
            .await;
            let sent = export_once(&base, Protocol::HttpProtobuf, Duration::from_secs(30)).await;
            assert_eq!(sent, Ok(accepted), "{body}");
        }
    }

    /// How the fake gRPC receiver answers a call.
    #[derive(Clone, Copy)]
    enum Answer {
        /// Accepted, with this many spans rejected (a partial success if more than zero).
        Accepted(i64),
        /// Failed with the code, and a RetryInfo of the delay if there is one.
        Failed(tonic::Code, Option<Duration>),
    }

    /// A response that rejects `rejected` spans (none: a plain success).
    fn rejecting(rejected: i64) -> ExportTraceServiceResponse {
        ExportTraceServiceResponse {
            partial_success: (rejected > 0).then(|| ExportTracePartialSuccess {
                rejected_spans: rejected,
                error_message: "too old".to_owned(),
            }),
        }
    }

    /// Whether `frame` starts the DATA frame of the first call on an HTTP/2 connection
    /// (stream 1) that holds an empty request: a gRPC message of five bytes, whatever the
    /// flags.
    fn first_call_data(frame: &[u8]) -> bool {
        frame[..4] == [0, 0, 5, 0] && frame[5..9] == [0, 0, 0, 1]
    }

    /// Reads the first call on `stream` (up to 64 KiB, for at most 10 s) and hangs up
    /// without an answer, as a collector that crashes or restarts mid-request.
    async fn hang_up(mut stream: tokio::net::TcpStream) {
        use tokio::io::AsyncReadExt;
        let mut read = Vec::new();
        let mut buf = [0; 4096];
        let _ = tokio::time::timeout(Duration::from_secs(10), async {
            while read.len() < 0x10000 && !read.windows(9).any(first_call_data) {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => read.extend_from_slice(&buf[..n]),
                }
            }
        })
        .await;
    }

    /// The response to one call: its status in trailers, after the response message when it
    /// is accepted.
    fn grpc_response(
        answer: Answer,
    ) -> http::Response<
        impl hyper::body::Body<Data = Bytes, Error = std::convert::Infallible> + Send + 'static,
    > {
        use http_body_util::Empty;
        let (status, message) = match answer {
            Answer::Accepted(rejected) => {
                let encoded = rejecting(rejected).encode_to_vec();
                // The gRPC message prefix: not compressed, then the length.
                let mut message = vec![0];
                message.extend_from_slice(&(encoded.len() as u32).to_be_bytes());
                message.extend_from_slice(&encoded);
                (tonic::Status::new(tonic::Code::Ok, ""), message)
            }
            Answer::Failed(code, delay) => {
                let details = delay.map_or_else(Bytes::new, |delay| {
                    let info = RetryInfo {
                        retry_delay: Some(ProtoDuration {
                            seconds: delay.as_secs() as i64,
                            nanos: delay.subsec_nanos() as i32,
                        }),
                    };
                    let status = RpcStatus {
                        message: String::new(),
                        details: vec![ProtoAny {
                            type_url: RETRY_INFO_TYPE.to_owned(),
                            value: info.encode_to_vec(),
                        }],
                    };
                    Bytes::from(status.encode_to_vec())
                });
                (
                    tonic::Status::with_details(code, "fake", details),
                    Vec::new(),
                )
            }
        };
        let trailers = status.into_http::<Empty<Bytes>>().into_parts().0.headers;
        let body = Full::new(Bytes::from(message)).with_trailers(async move { Some(Ok(trailers)) });
        let mut response = http::Response::new(body);
        response.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/grpc"),
        );
        response
    }

    /// What the fake gRPC receiver does with the connections it does not serve.
    #[derive(Clone, Copy)]
    enum Unserved {
        /// Reads the first call and hangs up ([`hang_up`]).
        HangUp,
        /// Takes whatever comes and never answers, for as long as the client keeps the
        /// connection open ([`silent`]).
        Silent,
    }

    /// Reads `stream` to its end and answers nothing: the connection of a collector whose
    /// host went away without a reset (a partition, a conntrack entry to a dead pod).
    async fn silent(mut stream: tokio::net::TcpStream) {
        let _ = tokio::io::copy(&mut stream, &mut tokio::io::sink()).await;
    }

    /// A gRPC receiver on a free loopback port that hangs up on the first `hang_ups` calls
    /// (each on a connection of its own) and answers the calls after them in turn with
    /// `answers` (the last one again once they run out). Returns its base URL.
    async fn grpc_answering(hang_ups: usize, answers: Vec<Answer>) -> (String, Arrivals) {
        grpc_receiver(hang_ups, Unserved::HangUp, answers).await
    }

    /// [`grpc_answering`], with the first `unserved` connections treated as `how` says.
    async fn grpc_receiver(
        hang_ups: usize,
        how: Unserved,
        answers: Vec<Answer>,
    ) -> (String, Arrivals) {
        use hyper_util::rt::TokioIo;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let arrivals = Arrivals::default();
        let seen = arrivals.clone();
        let answers = Arc::new(answers);
        tokio::spawn(async move {
            for connection in 0..MAX_CONNECTIONS {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                if connection < hang_ups {
                    seen.lock().push(Arrival {
                        at: Instant::now(),
                        headers: Vec::new(),
                    });
                    tokio::spawn(async move {
                        match how {
                            Unserved::HangUp => hang_up(stream).await,
                            Unserved::Silent => silent(stream).await,
                        }
                    });
                    continue;
                }
                let (seen, answers) = (seen.clone(), answers.clone());
                let service = hyper::service::service_fn(
                    move |request: http::Request<hyper::body::Incoming>| {
                        let (seen, answers) = (seen.clone(), answers.clone());
                        async move {
                            let authority = request.uri().authority().map(|a| a.to_string());
                            let headers = authority
                                .map(|a| (":authority".to_owned(), a))
                                .into_iter()
                                .chain(request.headers().iter().map(|(name, value)| {
                                    let value = String::from_utf8_lossy(value.as_bytes());
                                    (name.as_str().to_owned(), value.into_owned())
                                }))
                                .collect();
                            let _ = request.into_body().collect().await;
                            let index = {
                                let mut seen = seen.lock();
                                seen.push(Arrival {
                                    at: Instant::now(),
                                    headers,
                                });
                                seen.len() - 1 - hang_ups
                            };
                            let answer = answers[index.min(answers.len() - 1)];
                            Ok::<_, std::convert::Infallible>(grpc_response(answer))
                        }
                    },
                );
                tokio::spawn(
                    hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service),
                );
            }
        });
        (base, arrivals)
    }

    #[tokio::test]
    async fn resource_exhausted_is_retried_only_with_a_retry_info_and_after_its_delay() {
        use Answer::{Accepted, Failed};
        use tonic::Code::ResourceExhausted;
        let delay = Duration::from_millis(300);
        let (base, arrivals) =
            grpc_answering(0, vec![Failed(ResourceExhausted, Some(delay)), Accepted(0)]).await;
        let sent = export_once(&base, Protocol::Grpc, Duration::from_secs(30)).await;
        assert_eq!(
            sent,
            Ok(super::Accepted::ALL),
            "retried after the RetryInfo delay"
        );
        let arrivals = arrivals.lock().clone();
        assert_eq!(arrivals.len(), 2);
        let waited = arrivals[1].at - arrivals[0].at;
        assert!(waited >= delay, "retried after {waited:?}");

        let (base, arrivals) =
            grpc_answering(0, vec![Failed(ResourceExhausted, None), Accepted(0)]).await;
        let sent = export_once(&base, Protocol::Grpc, Duration::from_secs(30)).await;
        let error = sent.expect_err("no RetryInfo: not retryable");
        assert!(error.message.contains("ResourceExhausted"), "{error}");
        assert_eq!(arrivals.lock().len(), 1);
    }

    #[tokio::test]
    async fn a_retry_info_delay_past_the_deadline_fails_at_once() {
        let delay = Some(Duration::from_secs(60));
        let (base, arrivals) =
            grpc_answering(0, vec![Answer::Failed(tonic::Code::Unavailable, delay)]).await;
        let sent = export_once(&base, Protocol::Grpc, Duration::from_secs(5)).await;
        assert!(sent.is_err());
        // Without the RetryInfo's delay, backoff would have retried it several times.
        assert_eq!(arrivals.lock().len(), 1, "no retry within the deadline");
    }

    #[tokio::test]
    async fn grpc_codes_are_retried_as_the_spec_says() {
        use tonic::Code::*;
        for (code, retried) in [
            (Unavailable, true),
            (DeadlineExceeded, true),
            (Aborted, true),
            (InvalidArgument, false),
            (Unauthenticated, false),
            (Internal, false),
        ] {
            let answers = vec![Answer::Failed(code, None), Answer::Accepted(0)];
            let (base, arrivals) = grpc_answering(0, answers).await;
            let sent = export_once(&base, Protocol::Grpc, Duration::from_secs(30)).await;
            assert_eq!(sent.is_ok(), retried, "{code:?}: {sent:?}");
            assert_eq!(arrivals.lock().len(), 1 + usize::from(retried), "{code:?}");
        }
    }

    #[tokio::test]
    async fn http_statuses_are_retried_as_the_spec_says() {
        for (status, retried) in [
            (429, true),
            (502, true),
            (503, true),
            (504, true),
            (400, false),
            (401, false),
            (413, false),
            (500, false),
        ] {
            let (base, arrivals) = http_answering(move |index, stream| {
                let answer = match index {
                    0 => format!(
                        "HTTP/1.1 {status} Failed\r\nRetry-After: 0\r\n\
                         Content-Length: 0\r\nConnection: close\r\n\r\n"
                    ),
                    _ => OK.to_owned(),
                };
                respond(stream, answer)
            })
            .await;
            let sent = export_once(&base, Protocol::HttpProtobuf, Duration::from_secs(30)).await;
            assert_eq!(sent.is_ok(), retried, "{status}: {sent:?}");
            assert_eq!(arrivals.lock().len(), 1 + usize::from(retried), "{status}");
        }
    }

    #[tokio::test]
    async fn a_grpc_receiver_that_hangs_up_mid_call_is_retried() {
        let (base, arrivals) = grpc_answering(2, vec![Answer::Accepted(0)]).await;
        let sent = export_once(&base, Protocol::Grpc, Duration::from_secs(30)).await;
        assert_eq!(sent, Ok(Accepted::ALL), "delivered on a new connection");
        assert_eq!(arrivals.lock().len(), 3, "two hang-ups, then the answer");
    }

    #[tokio::test]
    async fn an_http_receiver_that_hangs_up_mid_response_is_retried() {
        let (base, arrivals) = http_answering(|index, stream| {
            // Half a status line, then the connection closes.
            let answer = match index {
                0 => "HTTP/1.1 20".to_owned(),
                _ => OK.to_owned(),
            };
            respond(stream, answer)
        })
        .await;
        let sent = export_once(&base, Protocol::HttpProtobuf, Duration::from_secs(30)).await;
        assert_eq!(sent, Ok(Accepted::ALL));
        assert_eq!(arrivals.lock().len(), 2);
    }

    /// A connection that takes calls and never answers them (a collector whose host went
    /// away without a reset): once a call on it is cut off by the export's timeout, the
    /// next export goes over a new connection, as OTLP/HTTP's do, rather than wait on the
    /// dead one until the kernel gives up on it (a quarter of an hour with data unacked).
    #[tokio::test]
    async fn after_a_grpc_call_cut_off_unanswered_the_next_goes_over_a_new_connection() {
        let (base, arrivals) = grpc_receiver(1, Unserved::Silent, vec![Answer::Accepted(0)]).await;
        let client = traces_client(&base, Protocol::Grpc, Duration::from_millis(500));
        let request = ExportTraceServiceRequest::default();
        let first = client.export(&request, &Retries::default()).await;
        // Timed out: by the export's deadline or by tonic's `grpc-timeout`, whichever first.
        assert!(
            first.is_err(),
            "the silent connection answers nothing: {first:?}"
        );
        let second = client.export(&request, &Retries::default()).await;
        assert_eq!(second, Ok(Accepted::ALL), "over a new connection");
        assert_eq!(
            arrivals.lock().len(),
            2,
            "the silent connection, then a served one"
        );
    }

    #[tokio::test]
    async fn a_partial_success_returns_the_rejected_count_and_why() {
        let (base, _) = grpc_answering(0, vec![Answer::Accepted(3)]).await;
        let sent = export_once(&base, Protocol::Grpc, Duration::from_secs(30)).await;
        assert_eq!(sent, Ok(Accepted::new(3, "too old")), "gRPC");

        let (base, _) = http_answering(|_, stream| {
            let body = rejecting(3).encode_to_vec();
            let mut answer = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            )
            .into_bytes();
            answer.extend_from_slice(&body);
            respond(stream, answer)
        })
        .await;
        let sent = export_once(&base, Protocol::HttpProtobuf, Duration::from_secs(30)).await;
        assert_eq!(sent, Ok(Accepted::new(3, "too old")), "HTTP");
    }

    #[tokio::test]
    async fn exports_name_the_exporter_in_their_user_agent() {
        let (http, http_arrivals) = http_answering(|_, stream| respond(stream, OK)).await;
        let (grpc, grpc_arrivals) = grpc_answering(0, vec![Answer::Accepted(0)]).await;
        for (base, protocol) in [(&http, Protocol::HttpProtobuf), (&grpc, Protocol::Grpc)] {
            let client = traces_client(base, protocol, Duration::from_secs(30));
            let sent = client
                .export(&ExportTraceServiceRequest::default(), &Retries::default())
                .await;
            assert_eq!(sent, Ok(Accepted::ALL), "{protocol:?}");
        }
        let http_agent = http_arrivals.lock()[0]
            .header("user-agent")
            .map(str::to_owned);
        assert_eq!(http_agent.as_deref(), Some(USER_AGENT));
        let grpc_agent = grpc_arrivals.lock()[0]
            .header("user-agent")
            .unwrap_or_default()
            .to_owned();
        assert!(grpc_agent.starts_with(USER_AGENT), "{grpc_agent}");
        assert_eq!(grpc_agent.matches(USER_AGENT).count(), 1, "{grpc_agent}");

        // A configured User-Agent wins.
        let (http, http_arrivals) = http_answering(|_, stream| respond(stream, OK)).await;
        let client = OtlpClient::new(&OtlpSettings {
            headers: vec![("User-Agent".to_owned(), "shop/2.0".to_owned())],
            ..traces_client(&http, Protocol::HttpProtobuf, Duration::ZERO).settings
        })
        .unwrap();
        let sent = client
            .export(&ExportTraceServiceRequest::default(), &Retries::default())
            .await;
        assert_eq!(sent, Ok(Accepted::ALL));
        let agent = http_arrivals.lock()[0]
            .header("user-agent")
            .map(str::to_owned);
        assert_eq!(agent.as_deref(), Some("shop/2.0"));
    }

    /// A redirect is not followed, nor retried: the error says where it points, for the
    /// endpoint to be set to that (an ingress sending `http://` on to `https://`, say).
    #[tokio::test]
    async fn a_redirect_says_where_it_points() {
        const TO: &str = "https://collector.example:4318/v1/traces";
        let (base, arrivals) = http_answering(|_, stream| {
            let answer = format!(
                "HTTP/1.1 308 Permanent Redirect\r\nLocation: {TO}\r\n\
                 Content-Length: 0\r\nConnection: close\r\n\r\n"
            );
            respond(stream, answer)
        })
        .await;
        let client = traces_client(&base, Protocol::HttpProtobuf, Duration::from_secs(30));
        let error = client
            .export(&ExportTraceServiceRequest::default(), &Retries::default())
            .await
            .expect_err("redirected");
        assert!(
            error
                .message
                .contains(&format!("HTTP 308, redirected to {TO}")),
            "{error}"
        );
        assert_eq!(arrivals.lock().len(), 1, "neither followed nor retried");
    }

    /// Credentials in the endpoint's URL (`http://user:password@host`) go as HTTP Basic
    /// authorization, as curl and the Go and Python HTTP clients send them, over both
    /// protocols; the URL the requests go to carries none (HTTP/2 forbids userinfo in
    /// `:authority`), nor does any error: header values are withheld from stderr, and so is
    /// this.
    #[tokio::test]
    async fn credentials_in_the_endpoint_go_as_basic_auth_and_are_never_shown() {
        // `user:pa ss`, the space percent-encoded as a URL needs.
        const BASIC: &str = "Basic dXNlcjpwYSBzcw==";
        let (http, http_arrivals) = http_answering(|_, stream| respond(stream, OK)).await;
        let (grpc, grpc_arrivals) = grpc_answering(0, vec![Answer::Accepted(0)]).await;
        for (base, protocol, arrivals, authority) in [
            (&http, Protocol::HttpProtobuf, &http_arrivals, "host"),
            (&grpc, Protocol::Grpc, &grpc_arrivals, ":authority"),
        ] {
            let with_credentials = base.replacen("http://", "http://user:pa%20ss@", 1);
            let client = traces_client(&with_credentials, protocol, Duration::from_secs(30));
            let sent = client
                .export(&ExportTraceServiceRequest::default(), &Retries::default())
                .await;
            assert_eq!(sent, Ok(Accepted::ALL), "{protocol:?}");
            let arrival = arrivals.lock()[0].clone();
            assert_eq!(arrival.header("authorization"), Some(BASIC), "{protocol:?}");
            let host = base.trim_start_matches("http://");
            assert_eq!(arrival.header(authority), Some(host), "{protocol:?}");
        }

        // A user with no password is sent with an empty one.
        let (http, http_arrivals) = http_answering(|_, stream| respond(stream, OK)).await;
        let client = traces_client(
            &http.replacen("http://", "http://token@", 1),
            Protocol::HttpProtobuf,
            Duration::from_secs(30),
        );
        let sent = client
            .export(&ExportTraceServiceRequest::default(), &Retries::default())
            .await;
        assert_eq!(sent, Ok(Accepted::ALL));
        let arrival = http_arrivals.lock()[0].clone();
        assert_eq!(arrival.header("authorization"), Some("Basic dG9rZW46"));

        // A configured Authorization header wins.
        let (http, http_arrivals) = http_answering(|_, stream| respond(stream, OK)).await;
        let client = OtlpClient::new(&OtlpSettings {
            headers: vec![("Authorization".to_owned(), "Bearer t".to_owned())],
            ..traces_client(
                &http.replacen("http://", "http://user:pw@", 1),
                Protocol::HttpProtobuf,
                Duration::ZERO,
            )
            .settings
        })
        .unwrap();
        let sent = client
            .export(&ExportTraceServiceRequest::default(), &Retries::default())
            .await;
        assert_eq!(sent, Ok(Accepted::ALL));
        let arrival = http_arrivals.lock()[0].clone();
        assert_eq!(arrival.header("authorization"), Some("Bearer t"));

        // Errors show the endpoint with its userinfo withheld.
        for protocol in [Protocol::HttpProtobuf, Protocol::Grpc] {
            let base = format!("http://user:secret@{NOTHING_LISTENS}");
            let client = traces_client(&base, protocol, Duration::from_millis(300));
            let error = client
                .export(&ExportTraceServiceRequest::default(), &Retries::default())
                .await
                .expect_err("nothing listens");
            assert!(!error.message.contains("secret"), "{error}");
            assert!(
                error
                    .message
                    .contains(&format!("http://***@{NOTHING_LISTENS}")),
                "{error}"
            );
        }
    }

    /// A failed OTLP/HTTP export says what the receiver answered: the message of the
    /// `google.rpc.Status` body the spec requires of every 4xx and 5xx (here the test
    /// receiver's, for a per-signal endpoint with a typo in its path), or of the JSON or
    /// plain text a proxy answers with; an HTML page is left out.
    #[tokio::test]
    async fn a_failed_http_export_says_what_the_receiver_answered() {
        let receiver = OtlpReceiver::start(ReceiverConfig::default())
            .await
            .unwrap();
        let client = OtlpClient::new(&OtlpSettings {
            endpoint: format!("{}/v1/trace", receiver.http_endpoint()),
            ..traces_client("http://unused", Protocol::HttpProtobuf, Duration::ZERO).settings
        })
        .unwrap();
        let error = client
            .export(&ExportTraceServiceRequest::default(), &Retries::default())
            .await
            .expect_err("no OTLP endpoint at that path");
        assert!(
            error.message.ends_with(
                "HTTP 404: no OTLP endpoint at /v1/trace; use /v1/traces, /v1/logs or /v1/metrics"
            ),
            "{error}"
        );
        receiver.shutdown().await;

        for (content_type, body, said) in [
            (
                "application/json",
                r#"{"message": "invalid API key"}"#,
                Some("invalid API key"),
            ),
            (
                "text/plain; charset=utf-8",
                "upstream connect error\n",
                Some("upstream connect error"),
            ),
            ("text/html", "<html><body>Unauthorized</body></html>", None),
        ] {
            let (base, _) = http_answering(move |_, stream| {
                respond(
                    stream,
                    closing_response("401 Unauthorized", content_type, body),
                )
            })
            .await;
            let client = traces_client(&base, Protocol::HttpProtobuf, Duration::from_secs(30));
            let error = client
                .export(&ExportTraceServiceRequest::default(), &Retries::default())
                .await
                .expect_err("unauthorized");
            let expected = match said {
                Some(said) => format!("HTTP 401: {said}"),
                None => "HTTP 401".to_owned(),
            };
            assert!(
                error.message.ends_with(&expected),
                "{content_type}: {error}"
            );
        }
    }

    #[tokio::test]
    async fn a_zero_retry_after_still_backs_off() {
        let (base, arrivals) = http_answering(|_, stream| respond(stream, unavailable("0"))).await;
        let sent = export_once(&base, Protocol::HttpProtobuf, Duration::from_secs(2)).await;
        assert!(sent.is_err(), "never accepted");
        // Waits of 50 ms doubling: six attempts in 2 s (without the backoff, one every few
        // milliseconds: as many as the receiver takes).
        let attempts = arrivals.lock().len();
        assert!(attempts <= 8, "{attempts} attempts in 2 s");
    }

    #[tokio::test]
    async fn after_shutdown_begins_an_answering_receiver_is_still_retried_with_backoff() {
        // Shutdown cuts short the wait an export is in; a collector that answers (a
        // draining one answers 503 or UNAVAILABLE) is then retried with backoff until the
        // shutdown deadline cuts the export off, not asked again in a loop.
        let (base, arrivals) = http_answering(|_, stream| respond(stream, unavailable("0"))).await;
        let client = traces_client(&base, Protocol::HttpProtobuf, Duration::from_secs(30));
        let retries = Retries::default();
        retries.stop();
        let request = ExportTraceServiceRequest::default();
        let sent = within(
            Some(Duration::from_secs(1)),
            client.export(&request, &retries),
        )
        .await;
        assert_eq!(sent, None, "still retrying at the shutdown deadline");
        // Waits of 50 ms doubling: five attempts in 1 s.
        let attempts = arrivals.lock().len();
        assert!(attempts <= 8, "{attempts} attempts in 1 s");
    }

    #[tokio::test]
    async fn at_shutdown_a_connection_not_made_is_given_up_over_either_protocol() {
        // OTLP/HTTP counts any connection not made as such (hyper-util's `is_connect`: a
        // refused connection, a name that does not resolve, a connect timeout); OTLP/gRPC
        // must agree (tonic's `ConnectError`), or its final export waits out the shutdown
        // deadline for a collector that is gone. Shown with a refused connection, and with
        // one the kernel will not try (TCP to the limited broadcast address fails at once,
        // "network unreachable" or "permission denied", without a packet sent): a name that
        // does not resolve or a connect timeout would need a network tests do not use.
        let refused = format!("http://{NOTHING_LISTENS}");
        let bases = [refused.as_str(), "http://255.255.255.255:4317"];
        for (base, protocol) in bases
            .into_iter()
            .flat_map(|base| [Protocol::HttpProtobuf, Protocol::Grpc].map(|p| (base, p)))
        {
            let client = traces_client(base, protocol, Duration::from_secs(30));
            let retries = Retries::default();
            retries.stop();
            let request = ExportTraceServiceRequest::default();
            let sent = within(
                Some(Duration::from_secs(10)),
                client.export(&request, &retries),
            )
            .await
            .unwrap_or_else(|| panic!("{base} {protocol:?}: still retrying after 10 s"));
            let error = sent.expect_err("no connection");
            assert!(error.unreachable, "{base} {protocol:?}: {error}");
        }
    }
}
