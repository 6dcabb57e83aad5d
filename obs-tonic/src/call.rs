//! [`GrpcCall`]: the state of one call through either layer, and the configuration both
//! layers share.

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use bytes::Buf;
use http::{HeaderName, Response};
use obs_tower::{CallError, CallHooks, CapturedHeaders, CapturedValues};
use obs_trace::{RpcConventions, Stopwatch};
use tonic::Code;

use crate::classify::{is_client_error, is_server_error};
use crate::counting::MessageCounts;
use crate::grpc::{self, MessageCounter, OTHER, RpcNames, WebTrailers};
use crate::metrics::{RpcLabels, RpcMetrics, ServerLabel, Side};
use crate::served::ServedMethods;

/// Services left alone by default: health checks and reflection are infrastructure
/// traffic, frequent and uninteresting. An entry ending in `.` is a package prefix.
pub const DEFAULT_EXCLUDED_SERVICES: [&str; 2] = ["grpc.health.v1.Health", "grpc.reflection."];

/// How much earlier than the caller's deadline a call may stop and still count as timed
/// out: tonic's server starts its `grpc-timeout` timer just before this layer's stopwatch,
/// and tokio fires timers on millisecond ticks.
const DEADLINE_SLACK: Duration = Duration::from_millis(1);

/// What a layer is configured with.
#[derive(Debug)]
pub(crate) struct Config {
    pub(crate) side: Side,
    /// What the spans and metrics say, fixed when the layer is built: the metric families
    /// are registered with its label names.
    pub(crate) conventions: RpcConventions,
    pub(crate) excluded: Vec<String>,
    pub(crate) metrics: Option<RpcMetrics>,
    /// Clients only: `server.address` and `server.port` when the request URI has no
    /// authority (a generated client made with `new(channel)` sends only the path).
    pub(crate) server_address: Option<(String, Option<u16>)>,
    /// Clients only: whether a request with no server address to record was warned about.
    pub(crate) warned_no_server_address: AtomicBool,
    /// Servers only: the methods calls have been seen to reach, named in metric labels.
    pub(crate) served: ServedMethods,
    /// The request metadata recorded on spans (`rpc.request.metadata.<key>`).
    pub(crate) request_metadata: CapturedHeaders,
    /// The response metadata, headers and trailers, recorded on spans
    /// (`rpc.response.metadata.<key>`).
    pub(crate) response_metadata: CapturedHeaders,
}

/// Which metadata a [`Config`] captures.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Metadata {
    Request,
    Response,
}

impl Config {
    pub(crate) fn new(
        side: Side,
        conventions: RpcConventions,
        registry: &obs_metrics::Registry,
    ) -> Config {
        Config {
            side,
            conventions,
            excluded: DEFAULT_EXCLUDED_SERVICES
                .iter()
                .map(|&s| s.to_owned())
                .collect(),
            metrics: RpcMetrics::register(registry, side, conventions),
            server_address: None,
            warned_no_server_address: AtomicBool::new(false),
            served: ServedMethods::new(),
            request_metadata: CapturedHeaders::default(),
            response_metadata: CapturedHeaders::default(),
        }
    }

    /// A copy changed by `f`: layers are immutable once shared by services.
    pub(crate) fn with(&self, f: impl FnOnce(&mut Config)) -> Config {
        let mut config = Config {
            side: self.side,
            conventions: self.conventions,
            excluded: self.excluded.clone(),
            metrics: self.metrics.clone(),
            server_address: self.server_address.clone(),
            warned_no_server_address: AtomicBool::new(false),
            // Builders run before any call: the configured methods only.
            served: self.served.copied(),
            request_metadata: self.request_metadata.clone(),
            response_metadata: self.response_metadata.clone(),
        };
        f(&mut config);
        config
    }

    /// Captures the metadata `keys` of `which` side of each call, under the attribute names
    /// of the layer's conventions. Binary metadata (`-bin` keys) is left out, and said so on
    /// stderr: its values are bytes, not the strings the conventions record.
    pub(crate) fn set_metadata(
        &mut self,
        which: Metadata,
        keys: impl IntoIterator<Item = HeaderName>,
    ) {
        // The old conventions' `rpc.grpc.request.metadata.<key>` was renamed
        // `rpc.request.metadata.<key>` (rpc-migration.md; the registry's
        // `model/rpc/deprecated/registry-deprecated.yaml`), both `string[]`.
        let (old, stable) = match which {
            Metadata::Request => ("rpc.grpc.request.metadata.", "rpc.request.metadata."),
            Metadata::Response => ("rpc.grpc.response.metadata.", "rpc.response.metadata."),
        };
        let prefixes: &[&str] = match self.conventions {
            RpcConventions::Old => &[old],
            RpcConventions::Stable => &[stable],
            RpcConventions::Both => &[old, stable],
        };
        let keys = keys.into_iter().filter(|key| {
            let binary = key.as_str().ends_with("-bin");
            if binary {
                obs_trace::diagnostics::warn(format_args!(
                    "obs: GrpcLayer does not record binary metadata such as `{}` (its values \
                     are bytes, base64 on the wire, not text): left out of the captured keys",
                    key.as_str()
                ));
            }
            !binary
        });
        let captured = CapturedHeaders::new(prefixes, keys);
        match which {
            Metadata::Request => self.request_metadata = captured,
            Metadata::Response => self.response_metadata = captured,
        }
    }

    /// Whether calls to `service` are not traced or measured.
    pub(crate) fn is_excluded(&self, service: &str) -> bool {
        self.excluded.iter().any(|entry| {
            if entry.ends_with('.') {
                service.starts_with(entry.as_str())
            } else {
                service == entry
            }
        })
    }
}

/// The state of one call in flight through [`GrpcServerLayer`](crate::GrpcServerLayer) or
/// [`GrpcClientLayer`](crate::GrpcClientLayer): where its status comes from, what it means
/// for the span, and the metrics recorded when the stream ends.
#[derive(Debug)]
pub struct GrpcCall {
    /// `None` for an excluded service: nothing to record.
    active: Option<ActiveCall>,
}

#[derive(Debug)]
struct ActiveCall {
    config: Arc<Config>,
    start: Stopwatch,
    names: Option<RpcNames>,
    /// `server.address` and `server.port` as metric labels: stable client metrics only.
    server: Option<ServerLabel>,
    /// The request messages, counted by the request body.
    counts: Arc<MessageCounts>,
    /// The response messages, counted here as the response body's frames pass.
    responses: MessageCounter,
    response_count: u32,
    code: Option<Code>,
    /// The code the call ends with if no `grpc-status` header or trailer comes: that of a
    /// response head's HTTP status other than 200 (a head without `grpc-status`), the
    /// status in a gRPC-Web trailers frame, or INTERNAL for a 200 whose body is no gRPC
    /// stream.
    implied_code: Option<Code>,
    /// The `grpc-status` of a gRPC-Web trailers frame, read as the frame goes by.
    web_trailers: WebTrailers,
    error_type: Option<&'static str>,
    /// The caller's deadline (`grpc-timeout`), counted from the call's start; `None` once
    /// a response head has come, after which tonic no longer enforces it.
    deadline: Option<Duration>,
    /// The captured metadata of the response head, kept for its trailers to add theirs to
    /// (empty, and allocating nothing, unless response metadata is captured and came).
    response_metadata: CapturedValues,
    /// The call is gRPC-Web's, seen by a server layer outside tonic-web's `GrpcWebLayer`:
    /// its answer may be base64.
    web: bool,
}

impl GrpcCall {
    pub(crate) fn excluded() -> GrpcCall {
        GrpcCall { active: None }
    }

    pub(crate) fn new(
        config: Arc<Config>,
        start: Stopwatch,
        names: Option<RpcNames>,
        server: Option<ServerLabel>,
        counts: Arc<MessageCounts>,
        deadline: Option<Duration>,
    ) -> GrpcCall {
        GrpcCall {
            active: Some(ActiveCall {
                config,
                start,
                names,
                server,
                counts,
                responses: MessageCounter::default(),
                response_count: 0,
                code: None,
                implied_code: None,
                web_trailers: WebTrailers::default(),
                error_type: None,
                deadline,
                response_metadata: CapturedValues::default(),
                web: false,
            }),
        }
    }

    /// Marks the call as gRPC-Web's: its answer is read through its base64 if it is in
    /// the text mode.
    pub(crate) fn mark_web(&mut self) {
        if let Some(call) = self.active.as_mut() {
            call.web = true;
        }
    }

    /// The call's span name, service and method, if its path had them.
    pub(crate) fn names(&self) -> Option<&RpcNames> {
        self.active.as_ref().and_then(|call| call.names.as_ref())
    }
}

impl ActiveCall {
    /// Whether the call, stopped without a status, timed out: the caller's deadline passed
    /// before any response head came (tonic's client and server enforce it until then).
    fn deadline_passed(&self) -> bool {
        self.deadline
            .is_some_and(|deadline| self.start.elapsed() + DEADLINE_SLACK >= deadline)
    }

    /// Whether the metric labels name the call's method, or say `_OTHER`. A server names
    /// only the methods it has (see [`ServedMethods`]): method names are the caller's, and
    /// as labels the made-up ones would be unbounded (RPC conventions, `rpc.method`). A
    /// client's methods are its own code's.
    fn labels_method(&self, names: &RpcNames) -> bool {
        match self.config.side {
            Side::Client => true,
            // A call that read its request reached a handler, unless it was answered
            // UNIMPLEMENTED (a proxy reads every request, and its upstream may not have
            // the method).
            Side::Server
                if self.code != Some(Code::Unimplemented) && self.counts.requests() > 0 =>
            {
                self.config.served.confirm(names)
            }
            // UNIMPLEMENTED is tonic's answer to a method it does not have, and to one it
            // has when it takes no request in that `grpc-encoding`.
            Side::Server => self.config.served.contains(names),
        }
    }

    /// The code of a call whose stream ended without a `grpc-status` header or trailer
    /// (`trailers`: with trailers lacking one), as the client reads it: a gRPC-Web answer's
    /// status, from its trailers frame; else (truncated, or not gRPC) the code of the HTTP
    /// status, or for a 200 UNKNOWN, as tonic and the other gRPC libraries report it; but
    /// INTERNAL for a stream that ended inside a message with no trailers, which tonic's
    /// client fails as a protocol error ("Unexpected EOF decoding stream") before looking
    /// for a status.
    fn inferred_code(&self, trailers: bool) -> Code {
        match self.implied_code {
            Some(code) => code,
            None if !trailers && self.responses.is_mid_frame() => Code::Internal,
            None => Code::Unknown,
        }
    }

    /// Records the call's status: `rpc.grpc.status_code` (old conventions) or
    /// `rpc.status_code` (stable), and for the codes that are errors on this side,
    /// `error.type` (the code's name) and the span status.
    fn set_code(&mut self, code: Code, span: &tracing::Span) {
        self.code = Some(code);
        let conventions = self.config.conventions;
        let (name, _) = grpc::code_name_and_label(code);
        if conventions.emits_old() {
            span.record("rpc.grpc.status_code", code as i64);
        }
        if conventions.emits_stable() {
            // gRPC, "Server"/"Client": `rpc.status_code` is "the string representation of
            // the status code", e.g. `DEADLINE_EXCEEDED`.
            span.record("rpc.status_code", name);
            if code == Code::Unimplemented
                && matches!(self.config.side, Side::Server)
                && let Some(names) = &self.names
                && !self.config.served.contains(names)
            {
                // A server answers UNIMPLEMENTED for a method it does not have (or one it
                // has served, in an encoding it does not take): `rpc.method` "MUST be set
                // to `_OTHER`" when "the server receives a request for a method that is
                // not predefined on the server", the name the client used goes in
                // `rpc.method_original`, and the span is then named `{rpc.system.name}`
                // (rpc-spans.md, "Name").
                span.record("rpc.method", OTHER);
                span.record("rpc.method_original", names.full());
                span.record("otel.name", grpc::SYSTEM);
            }
        }
        let is_error = match self.config.side {
            Side::Server => is_server_error(code),
            Side::Client => is_client_error(code),
        };
        if is_error {
            self.error_type = Some(name);
            span.record("error.type", name);
            span.record("otel.status_code", "error");
        }
    }
}

impl CallHooks for GrpcCall {
    fn on_response<B: http_body::Body>(&mut self, response: &Response<B>, span: &tracing::Span) {
        let Some(call) = self.active.as_mut() else {
            return;
        };
        // From here on, a stream that stops without a status was given up on, whatever
        // the time: tonic enforces no deadline past the head.
        call.deadline = None;
        // A gRPC-Web answer (from outside tonic-web's layer) in the text mode: its frames,
        // the trailers frame with the status included, are base64. Looked up for gRPC-Web
        // calls only.
        if call.web && grpc::is_base64_response(response.headers()) {
            call.responses.decode_base64();
        }
        // A trailers-only response (an error, typically) puts the status in the headers; a
        // response that is not gRPC at all (an auth layer's 401, a proxy's 503) has only its
        // HTTP status, which both sides read as the client will (gRPC's
        // doc/http-grpc-status-mapping.md), so that they agree. The client reads it only if
        // the stream ends with no `grpc-status` trailer (tonic's `infer_grpc_status`): kept
        // until then, since a span's `error.type` and status cannot be taken back.
        match grpc::status(response.headers()) {
            Some(code) => call.set_code(code, span),
            None => call.implied_code = grpc::code_of_http_status(response.status()),
        }
        let captured = &call.config.response_metadata;
        if !captured.is_empty() {
            // Recorded now, in case no trailers come (a trailers-only response has
            // everything in its head; a cancelled stream ends early), and kept for them.
            let values = captured.values(response.headers());
            if !values.is_empty() {
                captured.record_values(values.clone(), span);
                call.response_metadata = values;
            }
        }
    }

    fn on_data<D: Buf>(&mut self, data: &D) {
        let Some(call) = self.active.as_mut() else {
            return;
        };
        let mut started = 0;
        // A gRPC-Web answer's status is in its last frame, not in trailers.
        let mut trailers = |block: &[u8], end: bool| {
            if let Some(code) = call.web_trailers.feed(block, end) {
                call.implied_code = Some(code);
            }
        };
        if data.chunk().len() == data.remaining() {
            // tonic's bodies carry `Bytes`: one chunk, the whole frame.
            started = call.responses.feed_with(data.chunk(), &mut trailers);
        } else {
            // A buffer in pieces is read where it lies (the frame passes on untouched).
            let mut pieces = [std::io::IoSlice::new(&[]); 16];
            let filled = data.chunks_vectored(&mut pieces);
            for piece in &pieces[..filled] {
                started += call.responses.feed_with(piece, &mut trailers);
            }
        }
        call.response_count = call.response_count.saturating_add(started);
        if call.responses.is_not_grpc() && call.implied_code.is_none() {
            // A 200 whose body is no gRPC stream (a web page): tonic's client fails the
            // call with INTERNAL at the first byte that is no flag, and drops the response
            // unread; the call ends with that code, not as a cancellation, on both sides
            // (the server's stream is reset then). A non-200's code stays that of its HTTP
            // status, as a `grpc-status` would stay its own.
            call.implied_code = Some(Code::Internal);
        }
    }

    fn on_trailers(&mut self, trailers: &http::HeaderMap, span: &tracing::Span) {
        let Some(call) = self.active.as_mut() else {
            return;
        };
        match grpc::status(trailers) {
            // A status in the head made the answer Trailers-Only (PROTOCOL-HTTP2,
            // "Responses"): the client took the call's status from there and read no
            // further, whatever a broken server sends after it.
            Some(_) if call.code.is_some() => {}
            Some(code) => call.set_code(code, span),
            // Trailers end the stream (HTTP/2 sends them last; a server's body need not say
            // so, and a client's reader stops there): without a `grpc-status`, the call ends
            // with the code the client infers from them (tonic's `infer_grpc_status`), not
            // as a cancellation once the body is dropped.
            None if call.code.is_none() && call.error_type.is_none() => {
                call.set_code(call.inferred_code(true), span);
            }
            None => {}
        }
        let captured = &call.config.response_metadata;
        if !captured.is_empty() {
            // gRPC's response metadata is the head's (initial metadata) and the trailers'
            // (trailing metadata): a key sent in both has the head's values, then the
            // trailers'.
            let later = captured.values(trailers);
            if !later.is_empty() {
                let mut values = std::mem::take(&mut call.response_metadata);
                values.append(later);
                captured.record_values(values, span);
            }
        }
    }

    fn on_finished(&mut self, span: &tracing::Span) {
        if let Some(call) = self.active.as_mut()
            && call.code.is_none()
            && call.error_type.is_none()
        {
            // The stream ended without a `grpc-status` header or trailer, and without
            // trailers at all (else `on_trailers` set the code).
            call.set_code(call.inferred_code(false), span);
        }
    }

    fn on_error(&mut self, error: CallError<'_>, span: &tracing::Span) {
        if let Some(call) = self.active.as_mut() {
            let client = matches!(call.config.side, Side::Client);
            if !error.is_panic()
                && call.code.is_none()
                && client
                && (call.deadline_passed() || timed_out(&error))
            {
                // The channel gave up at the caller's deadline (tonic's `TimeoutExpired`,
                // which tonic hands the caller as CANCELLED): a gRPC client reports
                // DEADLINE_EXCEEDED (gRPC doc/statuscodes.md), so the span and metrics say
                // what timed out rather than CANCELLED. The deadline is the request's
                // `grpc-timeout`, or the channel's own (`Endpoint::timeout`, sent to no one:
                // known only from the error).
                call.set_code(Code::DeadlineExceeded, span);
                return;
            }
            if call.code.is_none()
                && let Some(code) = returned_code(&error)
                && !(client && code == Code::Ok)
            {
                // The call ends with this status. A client's: no status came from the
                // server (a refused connection, a stream broken mid-way), and tonic hands
                // its caller the status it makes of the error, which is this one (the
                // request side turns the transport's errors into it, as tonic's client
                // does). A server's: the service failed with a status, which tonic's
                // server sends the caller as a trailers-only response (its
                // `RecoverError`). The RPC conventions' span carries the status the call
                // ended with (`rpc.grpc.status_code`, and `error.type` the code's name when
                // it fails the span: "If a status code is returned and it indicates an
                // error, `error.type` SHOULD be set to that status code").
                call.set_code(code, span);
                return;
            }
            if call.code.is_none() && !client {
                // A panic, or an error holding no status: gRPC's code for a server
                // application that ends a call other than with a status is UNKNOWN
                // (doc/statuscodes.md), a server fault, and the status the span records;
                // `error.type` names it, as for any status that fails the span (tonic
                // resets the stream instead: the caller reads an error of its own).
                call.set_code(Code::Unknown, span);
                return;
            }
            let error_type = error.error_type();
            call.error_type = Some(error_type);
            span.record("error.type", error_type);
            span.record("otel.status_code", "error");
        }
    }

    fn on_end(self, span: &tracing::Span) {
        let Some(mut call) = self.active else {
            return;
        };
        if call.code.is_none() && call.error_type.is_none() {
            // The stream stopped before its end with no status and no error: it was
            // abandoned (the client cancelled, or the caller dropped the response), or cut
            // off at the caller's deadline (tonic's server drops the call then, and answers
            // CANCELLED where gRPC's doc/statuscodes.md has DEADLINE_EXCEEDED, a server
            // fault that must not pass for the caller's cancellation). An answer that was
            // not gRPC (a proxy's 502 with an HTML page) was over with its head: tonic's
            // client gives up at the page's first bytes and drops the rest, and the call
            // ended with the code of its HTTP status, not by a cancellation.
            let code = if let Some(code) = call.implied_code {
                code
            } else if call.deadline_passed() {
                Code::DeadlineExceeded
            } else {
                Code::Cancelled
            };
            call.set_code(code, span);
        }
        let Some(metrics) = &call.config.metrics else {
            return;
        };
        let names = call
            .names
            .as_ref()
            .filter(|names| call.labels_method(names));
        let labels = RpcLabels {
            service: names.map_or(Cow::Borrowed(OTHER), RpcNames::service_value),
            method: names.map_or(Cow::Borrowed(OTHER), RpcNames::method_value),
            code: call.code,
            error_type: call.error_type.unwrap_or_default(),
            server: call.server.take(),
        };
        metrics.record(
            &labels,
            call.start.elapsed(),
            call.counts.requests(),
            call.response_count,
        );
        MessageCounts::recycle(call.counts);
    }
}

/// The code of the `tonic::Status` a call failed with: the error itself, or the first
/// status in the source chain of a boxed error (tower's `BoxError`, what layers box theirs
/// into); or RESOURCE_EXHAUSTED for tower's `Overloaded` (a `LoadShed` under the server
/// layer shedding the call), boxed as `LoadShed` boxes it. That is what tonic's server answers
/// the call with (`Status::try_from_error`, in its `RecoverError`), and what tonic's client
/// hands its caller. Other errors (of other types, or boxed without a status) hold none.
fn returned_code(error: &CallError<'_>) -> Option<Code> {
    if let Some(status) = error.downcast_ref::<tonic::Status>() {
        return Some(status.code());
    }
    let boxed = error.downcast_ref::<Box<dyn std::error::Error + Send + Sync>>()?;
    if boxed.is::<tower::load_shed::error::Overloaded>() {
        // tonic checks the boxed error itself, not its sources, for `Overloaded`.
        return Some(Code::ResourceExhausted);
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(boxed.as_ref());
    while let Some(error) = source {
        if let Some(status) = error.downcast_ref::<tonic::Status>() {
            return Some(status.code());
        }
        source = error.source();
    }
    None
}

/// Whether a client call failed at a deadline of tonic's channel: the `tonic::Status` the
/// request side made of the error (CANCELLED) holds tonic's `TimeoutExpired` in its
/// source chain (`Status::try_from_error` keeps the error it read the status from).
fn timed_out(error: &CallError<'_>) -> bool {
    let mut source = error
        .downcast_ref::<tonic::Status>()
        .and_then(std::error::Error::source);
    while let Some(error) = source {
        if error.is::<tonic::TimeoutExpired>() {
            return true;
        }
        source = error.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use bytes::{Buf, Bytes};

    use super::*;

    fn response_count(call: &GrpcCall) -> u32 {
        call.active.as_ref().map_or(0, |c| c.response_count)
    }

    #[test]
    fn response_messages_are_counted_in_whole_and_pieced_frames() {
        let mut call = GrpcCall::new(
            Arc::new(Config::new(
                Side::Server,
                RpcConventions::Old,
                &obs_metrics::Registry::new(),
            )),
            Stopwatch::start(),
            None,
            None,
            Arc::default(),
            None,
        );
        // Two 1-byte messages in one contiguous frame.
        call.on_data(&Bytes::from_static(&[
            0, 0, 0, 0, 1, b'a', 0, 0, 0, 0, 1, b'b',
        ]));
        assert_eq!(response_count(&call), 2);
        // A third message whose prefix is split across the two pieces of one buffer, then
        // a fourth in the next frame.
        let pieced = Bytes::from_static(&[0, 0, 0]).chain(Bytes::from_static(&[0, 2, b'c', b'd']));
        call.on_data(&pieced);
        assert_eq!(response_count(&call), 3);
        call.on_data(&Bytes::from_static(&[0, 0, 0, 0, 0]));
        assert_eq!(response_count(&call), 4);
        // An excluded call counts nothing and does not fail.
        let mut excluded = GrpcCall::excluded();
        excluded.on_data(&Bytes::from_static(&[0, 0, 0, 0, 0]));
        assert_eq!(response_count(&excluded), 0);
    }
}
