//! The HTTP metrics of the semantic conventions
//! (<https://opentelemetry.io/docs/specs/semconv/http/http-metrics/>), with Prometheus names
//! (dots become underscores, the unit a suffix).
//!
//! Labels that have no value for a request (no route matched, no status because the
//! service failed, no `error.type` on success) are left empty, which Prometheus treats as
//! absent. Durations are recorded with the request's span entered, so a sampled span
//! becomes the measurement's exemplar.

use std::time::Duration;

use obs_metrics::{DEFAULT_BUCKETS, DynFamily, Gauge, Histogram, Registry, Unit};

/// `http.server.request.duration` and `http.server.active_requests`.
#[derive(Clone, Debug)]
pub(crate) struct ServerMetrics {
    duration: DynFamily<Histogram>,
    active: DynFamily<Gauge>,
}

/// The labels of one server request.
pub(crate) struct ServerLabels<'a> {
    pub(crate) method: &'static str,
    pub(crate) scheme: &'static str,
    pub(crate) route: Option<&'a str>,
    pub(crate) status: Option<&'a str>,
    pub(crate) error_type: Option<&'a str>,
}

impl ServerMetrics {
    /// Registers the instruments in `registry`, or says on stderr why it could not (a name
    /// taken with another shape): telemetry never stops the service from starting.
    pub(crate) fn register(registry: &Registry) -> Option<ServerMetrics> {
        let registered = (|| {
            Ok::<_, obs_metrics::MetricsError>(ServerMetrics {
                duration: registry
                    .metric(
                        "http_server_request_duration_seconds",
                        "Duration of HTTP server requests.",
                    )
                    .unit(Unit::Seconds)
                    .buckets(DEFAULT_BUCKETS)
                    .dyn_family(&[
                        "http_request_method",
                        "url_scheme",
                        "http_route",
                        "http_response_status_code",
                        "error_type",
                    ])?,
                active: registry
                    .metric(
                        "http_server_active_requests",
                        "Number of active HTTP server requests.",
                    )
                    .dyn_family(&["http_request_method", "url_scheme"])?,
            })
        })();
        registered
            .map_err(|e| eprintln!("obs-tower: HTTP server metrics disabled: {e}"))
            .ok()
    }

    /// A request started.
    pub(crate) fn started(&self, method: &'static str, scheme: &'static str) {
        self.active_series(method, scheme).inc();
    }

    /// A request that [`started`](Self::started) ended after `elapsed`.
    pub(crate) fn ended(&self, labels: &ServerLabels<'_>, elapsed: Duration) {
        self.active_series(labels.method, labels.scheme).dec();
        self.duration
            .get(&[
                ("http_request_method", labels.method),
                ("url_scheme", labels.scheme),
                ("http_route", labels.route.unwrap_or_default()),
                (
                    "http_response_status_code",
                    labels.status.unwrap_or_default(),
                ),
                ("error_type", labels.error_type.unwrap_or_default()),
            ])
            .observe_duration(elapsed);
    }

    fn active_series(&self, method: &'static str, scheme: &'static str) -> &Gauge {
        self.active
            .get(&[("http_request_method", method), ("url_scheme", scheme)])
    }
}

/// `http.client.request.duration`.
#[derive(Clone, Debug)]
pub(crate) struct ClientMetrics {
    duration: DynFamily<Histogram>,
}

/// The labels of one client request.
pub(crate) struct ClientLabels<'a> {
    pub(crate) method: &'static str,
    pub(crate) address: Option<&'a str>,
    pub(crate) port: Option<u16>,
    pub(crate) status: Option<&'a str>,
    pub(crate) error_type: Option<&'a str>,
}

impl ClientMetrics {
    /// Registers the instrument in `registry`, or says on stderr why it could not.
    pub(crate) fn register(registry: &Registry) -> Option<ClientMetrics> {
        registry
            .metric(
                "http_client_request_duration_seconds",
                "Duration of HTTP client requests.",
            )
            .unit(Unit::Seconds)
            .buckets(DEFAULT_BUCKETS)
            .dyn_family(&[
                "http_request_method",
                "server_address",
                "server_port",
                "http_response_status_code",
                "error_type",
            ])
            .map(|duration| ClientMetrics { duration })
            .map_err(|e| eprintln!("obs-tower: HTTP client metrics disabled: {e}"))
            .ok()
    }

    /// A request ended after `elapsed`.
    pub(crate) fn ended(&self, labels: &ClientLabels<'_>, elapsed: Duration) {
        let mut port = PortBuf::default();
        self.duration
            .get(&[
                ("http_request_method", labels.method),
                ("server_address", labels.address.unwrap_or_default()),
                ("server_port", labels.port.map_or("", |p| port.format(p))),
                (
                    "http_response_status_code",
                    labels.status.unwrap_or_default(),
                ),
                ("error_type", labels.error_type.unwrap_or_default()),
            ])
            .observe_duration(elapsed);
    }
}

/// Formats a port without allocating.
#[derive(Default)]
struct PortBuf([u8; 5]);

impl PortBuf {
    fn format(&mut self, port: u16) -> &str {
        let mut n = port;
        let mut start = self.0.len();
        loop {
            start -= 1;
            self.0[start] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        std::str::from_utf8(&self.0[start..]).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::PortBuf;

    #[test]
    fn ports_format_like_display() {
        for port in [0u16, 7, 80, 443, 8080, 65535] {
            assert_eq!(PortBuf::default().format(port), port.to_string());
        }
    }
}
