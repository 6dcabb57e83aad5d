//! The RPC metrics of the semantic conventions, with Prometheus names on `/metrics` and
//! the conventions' own names, attribute keys and types over OTLP (`RPC_ATTRIBUTES`), in
//! the version [`RpcConventions`] chooses.
//!
//! - `rpc.server.call.duration` / `rpc.client.call.duration`, in seconds, with the
//!   explicit bucket boundaries the conventions give (the same as obs-metrics'
//!   [`DEFAULT_BUCKETS`]; rpc-metrics.md, "Metric: `rpc.server.call.duration`"). Both
//!   versions obs emits name them so: the old labels were used with these names
//!   already (v1.37 and earlier called them `rpc.server.duration`, in ms).
//! - `rpc.{server,client}.requests_per_rpc` and `responses_per_rpc`, messages per call:
//!   defined up to v1.37 ("Streaming: required", 1 for unary calls), removed with no
//!   replacement by the stable conventions (non-normative/rpc-migration.md, "Deprecated
//!   metrics"), so only emitted with the old conventions; their OTLP unit is the
//!   conventions' `{count}`. The layers cannot tell a unary call from a streaming one
//!   without the service definition, so they record every call.
//!
//! Labels of the old conventions ([`RpcConventions::Old`]): `rpc_system`, `rpc_service`,
//! `rpc_method` (the method alone), `rpc_grpc_status_code` (the number) and `error_type`.
//! Of the stable ones ([`RpcConventions::Stable`]): `rpc_system_name`, `rpc_method`
//! (`package.Service/Method`), `rpc_status_code` (the code's name, e.g. `NOT_FOUND`),
//! `error_type`, and on the client only `server_address` and `server_port`
//! (rpc-metrics.md: "Conditionally Required" on client metrics, "Opt-In" on server ones,
//! which this crate leaves out). A label without a value is empty, which Prometheus reads
//! as absent.
//!
//! With [`RpcConventions::Both`] the duration families' names are the same in both
//! versions, so each is registered once with both label sets' names, and each call is
//! recorded twice in it: one series with the old labels, one with the stable ones (each
//! leaving the other's labels empty), as two OpenTelemetry instruments of one name would
//! merge. A query picks a version with `rpc_system="grpc"` (old) or
//! `rpc_system_name="grpc"` (stable); one over both counts each call twice.
//!
//! The duration is recorded with the call's span entered, so a sampled span becomes its
//! exemplar; the message counts keep no exemplars (a trace does not explain how many
//! messages a call had, and skipping them saves a write per call).

use std::borrow::{Borrow, Cow};
use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use obs_metrics::{DEFAULT_BUCKETS, DynFamily, Histogram, OtelAttribute, Registry, Unit};
use obs_trace::RpcConventions;
use tonic::Code;

use crate::grpc::{OTHER, SYSTEM, code_name_and_label};

/// The instrumentation scope of the metrics over OTLP: this crate's name, which is also
/// the scope of its spans (their `tracing` target's crate), so both signals of the
/// instrumentation arrive under one scope.
const SCOPE: &str = env!("CARGO_CRATE_NAME");

/// Buckets for messages per call: powers of two up to 1024.
const MESSAGE_BUCKETS: [f64; 11] = [
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0,
];

/// The old conventions' labels, and the message counts' in every version that has them.
const OLD_LABELS: [&str; 5] = [
    "rpc_system",
    "rpc_service",
    "rpc_method",
    "rpc_grpc_status_code",
    "error_type",
];

/// The stable conventions' labels; a server's are the first four.
const STABLE_LABELS: [&str; 6] = [
    "rpc_system_name",
    "rpc_method",
    "rpc_status_code",
    "error_type",
    "server_address",
    "server_port",
];

/// Both versions' labels (`rpc_method` and `error_type` are in both): the old ones, then
/// the stable ones the old have not; a server's are the first seven.
const BOTH_LABELS: [&str; 9] = [
    "rpc_system",
    "rpc_service",
    "rpc_method",
    "rpc_grpc_status_code",
    "error_type",
    "rpc_system_name",
    "rpc_status_code",
    "server_address",
    "server_port",
];

/// The OpenTelemetry attribute of every label above, as the conventions of its version key
/// and type it (`rpc.grpc.status_code` and `server.port` are `int`).
static RPC_ATTRIBUTES: [OtelAttribute; 9] = [
    OtelAttribute::string("rpc_system", "rpc.system"),
    OtelAttribute::string("rpc_service", "rpc.service"),
    OtelAttribute::string("rpc_method", "rpc.method"),
    OtelAttribute::int("rpc_grpc_status_code", "rpc.grpc.status_code"),
    OtelAttribute::string("error_type", "error.type"),
    OtelAttribute::string("rpc_system_name", "rpc.system.name"),
    OtelAttribute::string("rpc_status_code", "rpc.status_code"),
    OtelAttribute::string("server_address", "server.address"),
    OtelAttribute::int("server_port", "server.port"),
];

/// Which end of the call is measured (declared `pub` only to appear in the sealed
/// [`CallSide`](crate::CallSide) machinery; not reachable by users).
#[derive(Clone, Copy, Debug)]
pub enum Side {
    /// Incoming calls.
    Server,
    /// Outgoing calls.
    Client,
}

/// The instruments of one side.
#[derive(Clone, Debug)]
pub(crate) struct RpcMetrics {
    conventions: RpcConventions,
    side: Side,
    duration: DynFamily<Histogram>,
    /// Requests and responses per call: the old conventions only.
    messages: Option<(DynFamily<Histogram>, DynFamily<Histogram>)>,
    /// The series of each label set seen so far, found with one hash lookup instead of a
    /// family lookup per instrument per call.
    series: Arc<RwLock<SeriesCache>>,
}

thread_local! {
    /// The series this thread recorded last, and the cache they belong to (held, so that
    /// its address is not reused while remembered): a server's calls mostly repeat one
    /// label set, found again by comparing the labels' addresses, with no hash and no lock.
    static LAST_SERIES: RefCell<Option<LastSeries>> = const { RefCell::new(None) };
}

/// A thread's last series and the cache it came from.
type LastSeries = (Arc<RwLock<SeriesCache>>, Arc<CachedSeries>);

/// Label sets cached at most: beyond, calls look the families up (which bound their own
/// cardinality).
const MAX_CACHED_SERIES: usize = 1024;

/// Cached series by the hash of their labels; the labels are kept to tell collisions apart.
type SeriesCache = HashMap<u64, Arc<CachedSeries>, BuildHasherDefault<SeriesHasher>>;

#[derive(Debug)]
struct CachedSeries {
    service: Cow<'static, str>,
    method: Cow<'static, str>,
    code: Option<Code>,
    error_type: &'static str,
    server: Option<ServerLabel>,
    series: Series<Histogram>,
}

/// The series one call is recorded in (`H`: the histograms, or references to them).
#[derive(Debug)]
struct Series<H> {
    /// The duration: the old labels' series, or with the stable conventions only, the
    /// stable labels'.
    duration: H,
    /// With both conventions, the duration's series with the stable labels.
    stable_duration: Option<H>,
    /// Requests and responses per call (old conventions).
    messages: Option<(H, H)>,
}

impl<H: Borrow<Histogram>> Series<H> {
    fn observe(&self, elapsed: Duration, requests: u32, responses: u32) {
        self.duration.borrow().observe_duration(elapsed);
        if let Some(stable) = &self.stable_duration {
            stable.borrow().observe_duration(elapsed);
        }
        if let Some((requests_series, responses_series)) = &self.messages {
            requests_series.borrow().observe(f64::from(requests));
            responses_series.borrow().observe(f64::from(responses));
        }
    }
}

impl Series<&Histogram> {
    fn cloned(&self) -> Series<Histogram> {
        Series {
            duration: self.duration.clone(),
            stable_duration: self.stable_duration.cloned(),
            messages: self.messages.map(|(req, resp)| (req.clone(), resp.clone())),
        }
    }
}

/// `server.address` and `server.port` of a client call (stable conventions' client
/// metrics).
pub(crate) type ServerLabel = (Cow<'static, str>, Option<u16>);

/// Hashes label values a word at a time (the FxHash step). The cache's keys are these
/// hashes already, so the map passes them through ([`Hasher::write_u64`]).
#[derive(Default)]
struct SeriesHasher(u64);

impl Hasher for SeriesHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        for &b in chunks.remainder() {
            self.add(u64::from(b));
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }
    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }
}

impl SeriesHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

/// The labels of one finished call.
pub(crate) struct RpcLabels {
    /// `package.Service`, or `_OTHER`.
    pub(crate) service: Cow<'static, str>,
    /// `Method`, or `_OTHER`.
    pub(crate) method: Cow<'static, str>,
    pub(crate) code: Option<Code>,
    pub(crate) error_type: &'static str,
    /// Stable conventions, client side only: `None` otherwise.
    pub(crate) server: Option<ServerLabel>,
}

/// `a == b`, without reading the bytes when both are the same string: interned names and
/// the static status labels are, whenever a cached series matches.
#[inline]
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && (std::ptr::eq(a.as_ptr(), b.as_ptr()) || a == b)
}

impl RpcLabels {
    fn hash(&self) -> u64 {
        let mut hasher = SeriesHasher::default();
        let code = self.code.map_or(-1, |c| c as i32);
        (&*self.service, &*self.method, code, self.error_type).hash(&mut hasher);
        if let Some((address, port)) = &self.server {
            (&**address, port).hash(&mut hasher);
        }
        hasher.finish()
    }

    fn matches(&self, cached: &CachedSeries) -> bool {
        same(&cached.service, &self.service)
            && same(&cached.method, &self.method)
            && cached.code == self.code
            && same(cached.error_type, self.error_type)
            && match (&cached.server, &self.server) {
                (None, None) => true,
                (Some((a, a_port)), Some((b, b_port))) => a_port == b_port && same(a, b),
                _ => false,
            }
    }
}

impl RpcMetrics {
    /// Registers the instruments of `conventions` in `registry` (or finds them, if another
    /// layer did), or says on stderr why it could not: telemetry never stops a service
    /// from starting. Layers of other conventions can't share a registry: their duration
    /// families have the same names and other labels.
    pub(crate) fn register(
        registry: &Registry,
        side: Side,
        conventions: RpcConventions,
    ) -> Option<RpcMetrics> {
        // Each metric's Prometheus and OpenTelemetry names.
        let (duration, requests, responses, side_name) = match side {
            Side::Server => (
                (
                    "rpc_server_call_duration_seconds",
                    "rpc.server.call.duration",
                ),
                ("rpc_server_requests_per_rpc", "rpc.server.requests_per_rpc"),
                (
                    "rpc_server_responses_per_rpc",
                    "rpc.server.responses_per_rpc",
                ),
                "server",
            ),
            Side::Client => (
                (
                    "rpc_client_call_duration_seconds",
                    "rpc.client.call.duration",
                ),
                ("rpc_client_requests_per_rpc", "rpc.client.requests_per_rpc"),
                (
                    "rpc_client_responses_per_rpc",
                    "rpc.client.responses_per_rpc",
                ),
                "client",
            ),
        };
        let duration_labels: &[&'static str] = match (conventions, side) {
            (RpcConventions::Old, _) => &OLD_LABELS,
            (RpcConventions::Stable, Side::Server) => &STABLE_LABELS[..4],
            (RpcConventions::Stable, Side::Client) => &STABLE_LABELS,
            (RpcConventions::Both, Side::Server) => &BOTH_LABELS[..7],
            (RpcConventions::Both, Side::Client) => &BOTH_LABELS,
        };
        let messages = |(name, otel_name): (&str, &'static str), help: &str| {
            registry
                .metric(name, help)
                .otel_name(otel_name)
                .otel_attributes(&RPC_ATTRIBUTES)
                .otel_scope(SCOPE)
                // rpc-metrics.md (v1.37): the unit of both message counts.
                .otel_unit("{count}")
                .buckets(MESSAGE_BUCKETS)
                .without_exemplars()
                .dyn_family(&OLD_LABELS)
        };
        let registered = (|| {
            Ok::<_, obs_metrics::MetricsError>(RpcMetrics {
                conventions,
                side,
                duration: registry
                    .metric(
                        duration.0,
                        "Duration of RPCs, from request to end of stream.",
                    )
                    .otel_name(duration.1)
                    .otel_attributes(&RPC_ATTRIBUTES)
                    .otel_scope(SCOPE)
                    .unit(Unit::Seconds)
                    .buckets(DEFAULT_BUCKETS)
                    .dyn_family(duration_labels)?,
                messages: if conventions.emits_old() {
                    Some((
                        messages(requests, "Request messages per RPC.")?,
                        messages(responses, "Response messages per RPC.")?,
                    ))
                } else {
                    None
                },
                series: Arc::default(),
            })
        })();
        registered
            .map_err(|e| {
                obs_trace::diagnostics::error(format_args!(
                    "obs-tonic: RPC {side_name} metrics disabled: {e}"
                ))
            })
            .ok()
    }

    /// Whether calls carry [`RpcLabels::server`]: stable client metrics.
    pub(crate) fn has_server_labels(&self) -> bool {
        self.conventions.emits_stable() && matches!(self.side, Side::Client)
    }

    /// Records a call that ended after `elapsed` with these message counts.
    pub(crate) fn record(
        &self,
        labels: &RpcLabels,
        elapsed: Duration,
        requests: u32,
        responses: u32,
    ) {
        let repeated = LAST_SERIES.try_with(|last| {
            let last = last.try_borrow().ok()?;
            let (owner, cached) = last.as_ref()?;
            (Arc::ptr_eq(owner, &self.series) && labels.matches(cached)).then(|| {
                cached.series.observe(elapsed, requests, responses);
            })
        });
        if let Ok(Some(())) = repeated {
            return;
        }
        match self.series_of(labels) {
            Ok(cached) => {
                cached.series.observe(elapsed, requests, responses);
                let _ = LAST_SERIES.try_with(|last| {
                    if let Ok(mut last) = last.try_borrow_mut() {
                        *last = Some((self.series.clone(), cached));
                    }
                });
            }
            Err(series) => series.observe(elapsed, requests, responses),
        }
    }

    /// The cached series of `labels`, cached now if there is room; else the series from
    /// the families (a label set folded into the overflow series, or a full cache).
    fn series_of(&self, labels: &RpcLabels) -> Result<Arc<CachedSeries>, Series<&Histogram>> {
        let hash = labels.hash();
        // A poisoned lock only means a panic elsewhere while inserting: the map is intact.
        let cache = self.series.read().unwrap_or_else(|e| e.into_inner());
        if let Some(cached) = cache.get(&hash).filter(|c| labels.matches(c)) {
            return Ok(cached.clone());
        }
        let room = cache.len() < MAX_CACHED_SERIES && !cache.contains_key(&hash);
        drop(cache);
        let overflowed = self.overflowed();
        let series = self.lookup(labels);
        // A label set folded into the overflow series is not cached: each of its calls must
        // still count as an overflowed lookup.
        if room && self.overflowed() == overflowed {
            let mut cache = self.series.write().unwrap_or_else(|e| e.into_inner());
            if cache.len() < MAX_CACHED_SERIES {
                let cached = cache.entry(hash).or_insert_with(|| {
                    Arc::new(CachedSeries {
                        service: labels.service.clone(),
                        method: labels.method.clone(),
                        code: labels.code,
                        error_type: labels.error_type,
                        server: labels.server.clone(),
                        series: series.cloned(),
                    })
                });
                return Ok(cached.clone());
            }
        }
        Err(series)
    }

    /// The series of `labels` in the families, their values in the order of the label
    /// names each family was registered with (no name matching; values left out are empty).
    fn lookup(&self, labels: &RpcLabels) -> Series<&Histogram> {
        let (status_name, status_number) = labels.code.map_or(("", ""), code_name_and_label);
        let port = labels
            .server
            .as_ref()
            .and_then(|(_, port)| *port)
            .map(|port| port.to_string());
        let (address, port) = (
            labels.server.as_ref().map_or("", |(address, _)| address),
            port.as_deref().unwrap_or_default(),
        );
        // Stable `rpc.method`: `package.Service/Method`, or `_OTHER`. Made here, once per
        // label set, rather than carried by every call.
        let full = if labels.service == OTHER {
            Cow::Borrowed(OTHER)
        } else {
            Cow::Owned(format!("{}/{}", labels.service, labels.method))
        };
        let old = [
            SYSTEM,
            &*labels.service,
            &*labels.method,
            status_number,
            labels.error_type,
        ];
        let (duration, stable_duration) = match self.conventions {
            RpcConventions::Old => (self.duration.get_values(&old), None),
            RpcConventions::Stable => (
                self.duration.get_values(&[
                    SYSTEM,
                    &full,
                    status_name,
                    labels.error_type,
                    address,
                    port,
                ]),
                None,
            ),
            RpcConventions::Both => (
                self.duration.get_values(&old),
                Some(self.duration.get_values(&[
                    "",
                    "",
                    &full,
                    "",
                    labels.error_type,
                    SYSTEM,
                    status_name,
                    address,
                    port,
                ])),
            ),
        };
        Series {
            duration,
            stable_duration,
            messages: self.messages.as_ref().map(|(requests, responses)| {
                (requests.get_values(&old), responses.get_values(&old))
            }),
        }
    }

    fn overflowed(&self) -> u64 {
        self.duration.overflowed()
            + self.messages.as_ref().map_or(0, |(requests, responses)| {
                requests.overflowed() + responses.overflowed()
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use obs_metrics::PointValue;

    /// Calls per label set of `name` in `registry`: (status label, count).
    fn counts(registry: &Registry, name: &str) -> Vec<(String, u64)> {
        let family = registry
            .collect()
            .into_iter()
            .find(|f| f.name == name)
            .unwrap_or_else(|| panic!("no family {name}"));
        family
            .points
            .iter()
            .map(|point| {
                let PointValue::Histogram(h) = &point.value else {
                    panic!("not a histogram: {point:?}");
                };
                (point.labels[3].1.clone(), h.count)
            })
            .collect()
    }

    #[test]
    fn a_thread_alternating_registries_and_label_sets_records_each_call_in_its_series() {
        let (first, second) = (Registry::new(), Registry::new());
        let first_metrics =
            RpcMetrics::register(&first, Side::Server, RpcConventions::Old).unwrap();
        let second_metrics =
            RpcMetrics::register(&second, Side::Server, RpcConventions::Old).unwrap();
        let (service, method) = (Cow::Borrowed("pkg.Svc"), Cow::Borrowed("Get"));
        // The same label values in another allocation: equal, not the same address.
        let (service_copy, method_copy): (Cow<'static, str>, Cow<'static, str>) =
            (Cow::Owned("pkg.Svc".into()), Cow::Owned("Get".into()));
        let labels = |service: &Cow<'static, str>, method: &Cow<'static, str>, code| RpcLabels {
            service: service.clone(),
            method: method.clone(),
            code: Some(code),
            error_type: "",
            server: None,
        };
        let elapsed = Duration::from_millis(1);
        first_metrics.record(&labels(&service, &method, Code::Ok), elapsed, 1, 1);
        first_metrics.record(&labels(&service, &method, Code::Ok), elapsed, 1, 1);
        second_metrics.record(&labels(&service, &method, Code::Ok), elapsed, 1, 1);
        first_metrics.record(&labels(&service, &method, Code::NotFound), elapsed, 1, 1);
        first_metrics.record(
            &labels(&service_copy, &method_copy, Code::Ok),
            elapsed,
            1,
            1,
        );
        second_metrics.record(
            &labels(&service_copy, &method_copy, Code::NotFound),
            elapsed,
            1,
            1,
        );
        second_metrics.record(&labels(&service, &method, Code::NotFound), elapsed, 1, 1);
        for name in [
            "rpc_server_call_duration_seconds",
            "rpc_server_requests_per_rpc",
            "rpc_server_responses_per_rpc",
        ] {
            assert_eq!(
                counts(&first, name),
                [("0".to_owned(), 3), ("5".to_owned(), 1)],
                "{name}"
            );
            assert_eq!(
                counts(&second, name),
                [("0".to_owned(), 1), ("5".to_owned(), 2)],
                "{name}"
            );
        }
    }
}
