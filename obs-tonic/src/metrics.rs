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
//! and `error_type` (empty on success). The duration is recorded with the call's span
//! entered, so a sampled span becomes its exemplar; the message counts keep no exemplars
//! (a trace does not explain how many messages a call had, and skipping them saves a write
//! per call).

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::{Arc, RwLock};
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

/// Which end of the call is measured (declared `pub` only to appear in the sealed
/// [`CallSide`](crate::CallSide) machinery; not reachable by users).
#[derive(Clone, Copy, Debug)]
pub enum Side {
    /// Incoming calls.
    Server,
    /// Outgoing calls.
    Client,
}

/// The three instruments of one side.
#[derive(Clone, Debug)]
pub(crate) struct RpcMetrics {
    duration: DynFamily<Histogram>,
    requests: DynFamily<Histogram>,
    responses: DynFamily<Histogram>,
    /// The three series of each label set seen so far, found with one hash lookup instead
    /// of three family lookups per call.
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
    status: &'static str,
    error_type: &'static str,
    duration: Histogram,
    requests: Histogram,
    responses: Histogram,
}

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
    pub(crate) service: Cow<'static, str>,
    pub(crate) method: Cow<'static, str>,
    pub(crate) status: &'static str,
    pub(crate) error_type: &'static str,
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
        (&*self.service, &*self.method, self.status, self.error_type).hash(&mut hasher);
        hasher.finish()
    }

    fn matches(&self, cached: &CachedSeries) -> bool {
        same(&cached.service, &self.service)
            && same(&cached.method, &self.method)
            && same(cached.status, self.status)
            && same(cached.error_type, self.error_type)
    }
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
                .without_exemplars()
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

    /// Records a call that ended after `elapsed` with these message counts.
    pub(crate) fn record(
        &self,
        labels: &RpcLabels,
        elapsed: Duration,
        requests: u32,
        responses: u32,
    ) {
        let observe =
            |duration: &Histogram, requests_series: &Histogram, responses_series: &Histogram| {
                duration.observe_duration(elapsed);
                requests_series.observe(f64::from(requests));
                responses_series.observe(f64::from(responses));
            };
        let repeated = LAST_SERIES.try_with(|last| {
            let last = last.try_borrow().ok()?;
            let (owner, series) = last.as_ref()?;
            (Arc::ptr_eq(owner, &self.series) && labels.matches(series))
                .then(|| observe(&series.duration, &series.requests, &series.responses))
        });
        if let Ok(Some(())) = repeated {
            return;
        }
        match self.series_of(labels) {
            Ok(cached) => {
                observe(&cached.duration, &cached.requests, &cached.responses);
                let _ = LAST_SERIES.try_with(|last| {
                    if let Ok(mut last) = last.try_borrow_mut() {
                        *last = Some((self.series.clone(), cached));
                    }
                });
            }
            Err((duration, requests_series, responses_series)) => {
                observe(duration, requests_series, responses_series);
            }
        }
    }

    /// The cached series of `labels`, cached now if there is room; else the three series
    /// from the families (a label set folded into the overflow series, or a full cache).
    fn series_of(
        &self,
        labels: &RpcLabels,
    ) -> Result<Arc<CachedSeries>, (&Histogram, &Histogram, &Histogram)> {
        let hash = labels.hash();
        // A poisoned lock only means a panic elsewhere while inserting: the map is intact.
        let cache = self.series.read().unwrap_or_else(|e| e.into_inner());
        if let Some(cached) = cache.get(&hash).filter(|c| labels.matches(c)) {
            return Ok(cached.clone());
        }
        let room = cache.len() < MAX_CACHED_SERIES && !cache.contains_key(&hash);
        drop(cache);
        // In the order of `LABELS`: no name matching.
        let values = [
            crate::grpc::SYSTEM,
            &*labels.service,
            &*labels.method,
            labels.status,
            labels.error_type,
        ];
        let overflowed = self.overflowed();
        let duration = self.duration.get_values(&values);
        let requests = self.requests.get_values(&values);
        let responses = self.responses.get_values(&values);
        // A label set folded into the overflow series is not cached: each of its calls must
        // still count as an overflowed lookup.
        if room && self.overflowed() == overflowed {
            let mut cache = self.series.write().unwrap_or_else(|e| e.into_inner());
            if cache.len() < MAX_CACHED_SERIES {
                let cached = cache.entry(hash).or_insert_with(|| {
                    Arc::new(CachedSeries {
                        service: labels.service.clone(),
                        method: labels.method.clone(),
                        status: labels.status,
                        error_type: labels.error_type,
                        duration: duration.clone(),
                        requests: requests.clone(),
                        responses: responses.clone(),
                    })
                });
                return Ok(cached.clone());
            }
        }
        Err((duration, requests, responses))
    }

    fn overflowed(&self) -> u64 {
        self.duration.overflowed() + self.requests.overflowed() + self.responses.overflowed()
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
        let first_metrics = RpcMetrics::register(&first, Side::Server).unwrap();
        let second_metrics = RpcMetrics::register(&second, Side::Server).unwrap();
        let (service, method) = (Cow::Borrowed("pkg.Svc"), Cow::Borrowed("Get"));
        // The same label values in another allocation: equal, not the same address.
        let (service_copy, method_copy): (Cow<'static, str>, Cow<'static, str>) =
            (Cow::Owned("pkg.Svc".into()), Cow::Owned("Get".into()));
        let labels = |service: &Cow<'static, str>, method: &Cow<'static, str>, status| RpcLabels {
            service: service.clone(),
            method: method.clone(),
            status,
            error_type: "",
        };
        let elapsed = Duration::from_millis(1);
        first_metrics.record(&labels(&service, &method, "0"), elapsed, 1, 1);
        first_metrics.record(&labels(&service, &method, "0"), elapsed, 1, 1);
        second_metrics.record(&labels(&service, &method, "0"), elapsed, 1, 1);
        first_metrics.record(&labels(&service, &method, "5"), elapsed, 1, 1);
        first_metrics.record(&labels(&service_copy, &method_copy, "0"), elapsed, 1, 1);
        second_metrics.record(&labels(&service_copy, &method_copy, "5"), elapsed, 1, 1);
        second_metrics.record(&labels(&service, &method, "5"), elapsed, 1, 1);
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
