//! The RPC metrics of the semantic conventions, with Prometheus names.
//!
//! - `rpc.server.call.duration` / `rpc.client.call.duration`, in seconds, with the
//!   explicit bucket boundaries the conventions give (the same as obs-metrics'
//!   [`DEFAULT_BUCKETS`]): the names of the current RPC metrics conventions
//!   (<https://opentelemetry.io/docs/specs/semconv/rpc/rpc-metrics/>, Release Candidate
//!   since v1.38; v1.37 and earlier called them `rpc.server.duration`, in ms).
//! - `rpc.{server,client}.requests_per_rpc` and `responses_per_rpc`, messages per call:
//!   defined up to v1.37 ("Streaming: required", 1 for unary calls). The layers cannot tell
//!   a unary call from a streaming one without the service definition, so they record
//!   every call.
//!
//! Labels: `rpc_system`, `rpc_service`, `rpc_method`, `rpc_grpc_status_code` (the number)
//! and `error_type` (empty on success). Values are recorded with the call's span entered,
//! so a sampled span becomes the exemplar.

use std::time::Duration;

use obs_metrics::{DEFAULT_BUCKETS, DynFamily, Histogram, Registry, Unit};

/// Buckets for messages per call: powers of two up to 1024.
const MESSAGE_BUCKETS: [f64; 11] = [
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0,
];

const LABELS: [&str; 5] = [
    "rpc_system",
    "rpc_service",
    "rpc_method",
    "rpc_grpc_status_code",
    "error_type",
];

/// Which end of the call is measured.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Side {
    Server,
    Client,
}

/// The three instruments of one side.
#[derive(Clone, Debug)]
pub(crate) struct RpcMetrics {
    duration: DynFamily<Histogram>,
    requests: DynFamily<Histogram>,
    responses: DynFamily<Histogram>,
}

/// The labels of one finished call.
pub(crate) struct RpcLabels<'a> {
    pub(crate) service: &'a str,
    pub(crate) method: &'a str,
    pub(crate) status: &'static str,
    pub(crate) error_type: &'a str,
}

impl RpcMetrics {
    /// Registers the instruments in `registry` (or finds them, if another layer did), or
    /// says on stderr why it could not: telemetry never stops a service from starting.
    pub(crate) fn register(registry: &Registry, side: Side) -> Option<RpcMetrics> {
        let (duration, requests, responses, side_name) = match side {
            Side::Server => (
                "rpc_server_call_duration_seconds",
                "rpc_server_requests_per_rpc",
                "rpc_server_responses_per_rpc",
                "server",
            ),
            Side::Client => (
                "rpc_client_call_duration_seconds",
                "rpc_client_requests_per_rpc",
                "rpc_client_responses_per_rpc",
                "client",
            ),
        };
        let messages = |name: &str, help: &str| {
            registry
                .metric(name, help)
                .buckets(MESSAGE_BUCKETS)
                .dyn_family(&LABELS)
        };
        let registered = (|| {
            Ok::<_, obs_metrics::MetricsError>(RpcMetrics {
                duration: registry
                    .metric(duration, "Duration of RPCs, from request to end of stream.")
                    .unit(Unit::Seconds)
                    .buckets(DEFAULT_BUCKETS)
                    .dyn_family(&LABELS)?,
                requests: messages(requests, "Request messages per RPC.")?,
                responses: messages(responses, "Response messages per RPC.")?,
            })
        })();
        registered
            .map_err(|e| eprintln!("obs-tonic: RPC {side_name} metrics disabled: {e}"))
            .ok()
    }

    /// Records a call that ended after `elapsed` with these message counts.
    pub(crate) fn record(
        &self,
        labels: &RpcLabels<'_>,
        elapsed: Duration,
        requests: u32,
        responses: u32,
    ) {
        // In the order of `LABELS`: no name matching on the hot path.
        let values = [
            "grpc",
            labels.service,
            labels.method,
            labels.status,
            labels.error_type,
        ];
        self.duration.get_values(&values).observe_duration(elapsed);
        self.requests
            .get_values(&values)
            .observe(f64::from(requests));
        self.responses
            .get_values(&values)
            .observe(f64::from(responses));
    }
}
