//! The HTTP metrics of the semantic conventions
//! (<https://opentelemetry.io/docs/specs/semconv/http/http-metrics/>), with Prometheus names
//! (dots become underscores, the unit a suffix) on `/metrics`, and the conventions' own
//! names, attribute keys and types over OTLP (`HTTP_ATTRIBUTES`).
//!
//! A label with no value for a request (no route matched, no status because the service
//! failed, no `error.type` on success, no `network.protocol.version` on a client request
//! that got no response) is left out. Durations are recorded with the
//! request's span entered, so a sampled span becomes the measurement's exemplar.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use http::StatusCode;
use obs_metrics::{
    DEFAULT_BUCKETS, DynFamily, Family, Histogram, OtelAttribute, Registry, Unit, UpDownCounter,
};
use prometheus_client::encoding::{EncodeLabel, EncodeLabelSet, LabelSetEncoder};

use crate::classify::ErrorType;
use crate::layer::{HttpInstruments, sealed};
use crate::route::Route;

/// The instruments of [`HttpServerLayer`](crate::HttpServerLayer):
/// `http.server.request.duration` (`http_server_request_duration_seconds`, labels
/// `http_request_method`, `url_scheme`, `http_route`, `network_protocol_version`,
/// `http_response_status_code`, `error_type`) and `http.server.active_requests`
/// (`http_server_active_requests`, labels `http_request_method`, `url_scheme`). A label with
/// no value for a request is left out. Over OTLP each has its conventions name, and its
/// labels their attribute keys (`http.request.method`) and types.
#[derive(Clone, Debug)]
pub struct ServerMetrics {
    duration: Family<ServerLabels, Histogram>,
    active: DynFamily<UpDownCounter>,
    /// The `active_requests` series by method and scheme, looked up once each: the
    /// per-request cost is then two atomic operations.
    active_series: Arc<[OnceLock<UpDownCounter>; METHODS.len() * SCHEMES.len()]>,
}

/// The instrumentation scope of the metrics over OTLP: this crate's name, which is also
/// the scope of its spans (their `tracing` target's crate), so both signals of the
/// instrumentation arrive under one scope.
const SCOPE: &str = env!("CARGO_CRATE_NAME");

/// The OpenTelemetry attribute of every label of the HTTP metrics, server and client, as
/// the stable conventions key and type them (`http.response.status_code` and `server.port`
/// are `int`).
static HTTP_ATTRIBUTES: [OtelAttribute; 8] = [
    OtelAttribute::string("http_request_method", "http.request.method"),
    OtelAttribute::string("url_scheme", "url.scheme"),
    OtelAttribute::string("http_route", "http.route"),
    OtelAttribute::string("network_protocol_version", "network.protocol.version"),
    OtelAttribute::int("http_response_status_code", "http.response.status_code"),
    OtelAttribute::string("error_type", "error.type"),
    OtelAttribute::string("server_address", "server.address"),
    OtelAttribute::int("server_port", "server.port"),
];

/// Every default `http.request.method` value (methods configured with
/// [`with_known_methods`](crate::HttpLayer::with_known_methods) are looked up in the
/// family instead), and every server `url.scheme` value.
const METHODS: [&str; 11] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "QUERY",
    "_OTHER",
];
pub(crate) const SCHEMES: [&str; 2] = ["http", "https"];

/// The labels of `http.server.request.duration`; a typed key, so a lookup hashes and
/// compares a few words and short strings, and allocates nothing.
#[derive(Clone, Debug, Eq)]
pub(crate) struct ServerLabels {
    pub(crate) method: &'static str,
    pub(crate) scheme: &'static str,
    pub(crate) route: Option<Route>,
    /// `network.protocol.version` (Recommended on both duration metrics).
    pub(crate) protocol: Option<&'static str>,
    pub(crate) status: Option<StatusCode>,
    pub(crate) error: Option<ErrorType>,
}

// The derived comparison, but the `&'static str` labels are first compared by address: a
// series' labels and a request's come from the same constants (the method and scheme
// names, `network.protocol.version`), so equal ones are one comparison instead of a call to
// `memcmp` each (three a request).
impl PartialEq for ServerLabels {
    fn eq(&self, other: &ServerLabels) -> bool {
        let ServerLabels {
            method,
            scheme,
            route,
            protocol,
            status,
            error,
        } = self;
        static_str_eq(method, other.method)
            && static_str_eq(scheme, other.scheme)
            && match (protocol, other.protocol) {
                (Some(a), Some(b)) => static_str_eq(a, b),
                (a, b) => a.is_none() && b.is_none(),
            }
            && *status == other.status
            && *error == other.error
            && *route == other.route
    }
}

// What `derive(Hash)` writes, field by field, spelled out beside the comparison it agrees
// with (equal labels hash alike: the strings hash by content).
impl Hash for ServerLabels {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let ServerLabels {
            method,
            scheme,
            route,
            protocol,
            status,
            error,
        } = self;
        method.hash(state);
        scheme.hash(state);
        route.hash(state);
        protocol.hash(state);
        status.hash(state);
        error.hash(state);
    }
}

/// `a == b`, true at once when both are the same constant.
#[inline]
fn static_str_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && (std::ptr::eq(a.as_ptr(), b.as_ptr()) || a == b)
}

impl EncodeLabelSet for ServerLabels {
    fn encode(&self, encoder: &mut LabelSetEncoder<'_>) -> fmt::Result {
        ("http_request_method", self.method).encode(encoder.encode_label())?;
        ("url_scheme", self.scheme).encode(encoder.encode_label())?;
        if let Some(route) = &self.route {
            ("http_route", route.as_str()).encode(encoder.encode_label())?;
        }
        encode_outcome(self.protocol, self.status, self.error.as_ref(), encoder)
    }
}

/// The labels known once the request was received or answered, common to both sides.
fn encode_outcome(
    protocol: Option<&'static str>,
    status: Option<StatusCode>,
    error: Option<&ErrorType>,
    encoder: &mut LabelSetEncoder<'_>,
) -> fmt::Result {
    if let Some(protocol) = protocol {
        ("network_protocol_version", protocol).encode(encoder.encode_label())?;
    }
    if let Some(status) = status {
        ("http_response_status_code", status.as_u16()).encode(encoder.encode_label())?;
    }
    if let Some(error) = error {
        ("error_type", error.as_str()).encode(encoder.encode_label())?;
    }
    Ok(())
}

impl sealed::Sealed for ServerMetrics {}

impl HttpInstruments for ServerMetrics {
    fn register(registry: &Registry) -> Option<ServerMetrics> {
        let registered = (|| {
            Ok::<_, obs_metrics::MetricsError>(ServerMetrics {
                duration: registry
                    .metric(
                        "http_server_request_duration_seconds",
                        "Duration of HTTP server requests.",
                    )
                    .otel_name("http.server.request.duration")
                    .otel_attributes(&HTTP_ATTRIBUTES)
                    .otel_scope(SCOPE)
                    .unit(Unit::Seconds)
                    .buckets(DEFAULT_BUCKETS)
                    .family()?,
                active: registry
                    .metric(
                        "http_server_active_requests",
                        "Number of active HTTP server requests.",
                    )
                    .otel_name("http.server.active_requests")
                    .otel_attributes(&HTTP_ATTRIBUTES)
                    .otel_scope(SCOPE)
                    // http-metrics.md: "UpDownCounter | `{request}`".
                    .otel_unit("{request}")
                    .dyn_family(&["http_request_method", "url_scheme"])?,
                active_series: Arc::new(std::array::from_fn(|_| OnceLock::new())),
            })
        })();
        registered
            .map_err(|e| {
                obs_trace::diagnostics::error(format_args!(
                    "obs-tower: HTTP server metrics disabled: {e}"
                ))
            })
            .ok()
    }
}

impl ServerMetrics {
    /// A request started.
    pub(crate) fn started(&self, method: &'static str, scheme: &'static str) {
        self.active_series(method, scheme).inc();
    }

    /// A request that [`started`](Self::started) ended after `elapsed`.
    pub(crate) fn ended(&self, labels: &ServerLabels, elapsed: Duration) {
        self.active_series(labels.method, labels.scheme).dec();
        self.duration.get(labels).observe_duration(elapsed);
    }

    fn active_series(&self, method: &'static str, scheme: &'static str) -> &UpDownCounter {
        let lookup = || {
            self.active
                .get(&[("http_request_method", method), ("url_scheme", scheme)])
        };
        let m = METHODS.iter().position(|&m| static_str_eq(m, method));
        let s = SCHEMES.iter().position(|&s| static_str_eq(s, scheme));
        match (m, s) {
            (Some(m), Some(s)) => {
                self.active_series[m * SCHEMES.len() + s].get_or_init(|| lookup().clone())
            }
            _ => lookup(),
        }
    }
}

/// The instrument of [`HttpClientLayer`](crate::HttpClientLayer):
/// `http.client.request.duration` (`http_client_request_duration_seconds`, labels
/// `http_request_method`, `server_address`, `server_port`, `network_protocol_version`,
/// `http_response_status_code`, `error_type`). A label with no value for a request is left
/// out (`network_protocol_version` and `http_response_status_code` without a response).
/// Over OTLP it has its conventions name, and its labels their attribute keys and types.
#[derive(Clone, Debug)]
pub struct ClientMetrics {
    duration: Family<ClientLabels, Histogram>,
}

/// The labels of `http.client.request.duration`.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub(crate) struct ClientLabels {
    pub(crate) method: &'static str,
    pub(crate) address: Option<String>,
    pub(crate) port: Option<u16>,
    /// `network.protocol.version` of the response: unknown without one.
    pub(crate) protocol: Option<&'static str>,
    pub(crate) status: Option<StatusCode>,
    pub(crate) error: Option<ErrorType>,
}

impl EncodeLabelSet for ClientLabels {
    fn encode(&self, encoder: &mut LabelSetEncoder<'_>) -> fmt::Result {
        ("http_request_method", self.method).encode(encoder.encode_label())?;
        if let Some(address) = &self.address {
            ("server_address", address.as_str()).encode(encoder.encode_label())?;
        }
        if let Some(port) = self.port {
            ("server_port", port).encode(encoder.encode_label())?;
        }
        encode_outcome(self.protocol, self.status, self.error.as_ref(), encoder)
    }
}

impl sealed::Sealed for ClientMetrics {}

impl HttpInstruments for ClientMetrics {
    fn register(registry: &Registry) -> Option<ClientMetrics> {
        registry
            .metric(
                "http_client_request_duration_seconds",
                "Duration of HTTP client requests.",
            )
            .otel_name("http.client.request.duration")
            .otel_attributes(&HTTP_ATTRIBUTES)
            .otel_scope(SCOPE)
            .unit(Unit::Seconds)
            .buckets(DEFAULT_BUCKETS)
            .family()
            .map(|duration| ClientMetrics { duration })
            .map_err(|e| {
                obs_trace::diagnostics::error(format_args!(
                    "obs-tower: HTTP client metrics disabled: {e}"
                ))
            })
            .ok()
    }
}

impl ClientMetrics {
    /// A request ended after `elapsed`.
    pub(crate) fn ended(&self, labels: &ClientLabels, elapsed: Duration) {
        self.duration.get(labels).observe_duration(elapsed);
    }
}
