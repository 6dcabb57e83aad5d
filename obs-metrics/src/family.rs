//! Labelled families: [`Family`] with a typed label set (`#[derive(EncodeLabelSet)]`) and
//! [`DynFamily`] with `&[(&str, &str)]` labels, over one lock-free series table with a
//! cardinality limit.
//!
//! The table is open addressing over lazily allocated chunks of `OnceLock` slots, sized
//! at twice the cardinality limit so probes stay short. A series is never removed, so a
//! lookup is a hash, a few acquire loads and a label comparison: no lock, no atomic
//! read-modify-write, no allocation. Only creating a series takes a mutex.
//!
//! Past the limit, new label sets share one overflow series labelled
//! `otel_metric_overflow="true"`, as the OpenTelemetry metrics SDK specifies
//! (<https://opentelemetry.io/docs/specs/otel/metrics/sdk/#cardinality-limits>); each such
//! lookup is counted and the first one is reported once on stderr.

use std::collections::HashMap;
use std::fmt;
use std::hash::{Hash, Hasher as _};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;
use prometheus_client::encoding::EncodeLabelSet;

use crate::exemplar::unix_nanos_now;
use crate::hash::{LabelHasher, hash_of, str_eq};
use crate::instrument::Instrument;
use crate::name::{underscored, validate_label_name};
use crate::{MetricKind, PointSnapshot};

/// The label (value `"true"`) of the series that collects measurements past the
/// cardinality limit: the Prometheus form of the OpenTelemetry SDK's
/// `otel.metric.overflow` attribute. `obs-core`'s OTLP push sends that series with the
/// attribute itself, `otel.metric.overflow` = `true` (a boolean), as the SDK would.
pub const OVERFLOW_LABEL: &str = "otel_metric_overflow";

/// Series per family before label sets fold into the overflow series (the OpenTelemetry
/// SDK default).
pub const DEFAULT_CARDINALITY_LIMIT: usize = 2000;

/// The highest cardinality limit a family takes; larger limits are lowered to it. A family
/// reserves its table's index up front (about 16 bytes per two series), so an unbounded
/// limit would reserve unbounded memory, and no Prometheus scrape survives a million
/// series per family anyway.
pub const MAX_CARDINALITY_LIMIT: usize = 1 << 20;

/// The most labels a [`DynFamily`] can declare.
pub const MAX_DYN_LABELS: usize = 16;

const CHUNK_BITS: u32 = 6;
const CHUNK_LEN: usize = 1 << CHUNK_BITS;

/// A typed label set: a struct or enum with `#[derive(EncodeLabelSet)]` that is also
/// `Clone + Hash + Eq + Debug`. Blanket-implemented.
pub trait LabelSet:
    EncodeLabelSet + Clone + Hash + Eq + fmt::Debug + Send + Sync + 'static
{
}

impl<T> LabelSet for T where
    T: EncodeLabelSet + Clone + Hash + Eq + fmt::Debug + Send + Sync + 'static
{
}

// Aligned to (and so filling) whole cache-line pairs: lookups read this struct on every
// measurement, and an allocation that shared its lines with a written atomic would make
// those reads miss whenever another core updates that atomic (false sharing).
#[repr(align(128))]
struct Series<K, M> {
    key: K,
    hash: u64,
    labels: Box<[(String, String)]>,
    metric: M,
    start: u64,
    seq: usize,
    // Shares the metric of an earlier series that is the same series to Prometheus (see
    // `insert`), so it is not a series of its own in the exposition.
    alias: bool,
}

type Slot<K, M> = OnceLock<Box<Series<K, M>>>;
type Chunk<K, M> = OnceLock<Box<[Slot<K, M>]>>;

/// The series of one family, keyed by `K` (the typed label set, or `()` when the stored
/// label values are the key).
pub(crate) struct SeriesTable<K, M> {
    chunks: Box<[Chunk<K, M>]>,
    mask: usize,
    limit: usize,
    len: AtomicUsize,
    // Held to create a series. For typed label sets, it guards the slot of the first
    // series per hash of `series_identity` (see `insert`); empty for `DynFamily`, whose
    // key is its printed values.
    insert: Mutex<HashMap<u64, usize>>,
    by_labels: bool,
    overflow: OnceLock<Series<(), M>>,
    overflowed: AtomicU64,
    warned: AtomicBool,
    bounds: Arc<[f64]>,
    exemplars: bool,
    name: String,
}

impl<K, M: Instrument> SeriesTable<K, M> {
    /// `by_labels`: whether distinct keys may be one series to Prometheus (typed label
    /// sets), which must then share it.
    pub(crate) fn new(
        name: &str,
        limit: usize,
        bounds: Arc<[f64]>,
        exemplars: bool,
        by_labels: bool,
    ) -> Self {
        let limit = limit.clamp(1, MAX_CARDINALITY_LIMIT);
        let slots = (limit * 2).next_power_of_two().max(CHUNK_LEN);
        SeriesTable {
            chunks: (0..slots / CHUNK_LEN).map(|_| OnceLock::new()).collect(),
            mask: slots - 1,
            limit,
            len: AtomicUsize::new(0),
            insert: Mutex::new(HashMap::new()),
            by_labels,
            overflow: OnceLock::new(),
            overflowed: AtomicU64::new(0),
            warned: AtomicBool::new(false),
            bounds,
            exemplars,
            name: name.to_owned(),
        }
    }

    #[inline]
    fn slot(&self, index: usize) -> Option<&Series<K, M>> {
        let chunk = self.chunks.get(index >> CHUNK_BITS)?.get()?;
        chunk.get(index & (CHUNK_LEN - 1))?.get().map(|b| &**b)
    }

    /// The series `matches` accepts, created with `make` if absent.
    #[inline]
    pub(crate) fn get(
        &self,
        hash: u64,
        matches: impl Fn(&K, &[(String, String)]) -> bool,
        make: impl FnOnce() -> (K, Vec<(String, String)>),
    ) -> &M {
        match self.probe(hash, &matches) {
            Ok(metric) => metric,
            Err(_) => self.insert(hash, matches, make),
        }
    }

    /// The metric of the series `matches` accepts, or the index of the empty slot where
    /// it would go.
    #[inline]
    fn probe(
        &self,
        hash: u64,
        matches: &impl Fn(&K, &[(String, String)]) -> bool,
    ) -> Result<&M, usize> {
        let mut index = hash as usize & self.mask;
        // At most `limit` of `2 * limit` slots are full, so an empty slot ends the probe.
        for _ in 0..=self.mask {
            match self.slot(index) {
                Some(s) if s.hash == hash && matches(&s.key, &s.labels) => return Ok(&s.metric),
                Some(_) => index = (index + 1) & self.mask,
                None => break,
            }
        }
        Err(index)
    }

    #[cold]
    fn insert(
        &self,
        hash: u64,
        matches: impl Fn(&K, &[(String, String)]) -> bool,
        make: impl FnOnce() -> (K, Vec<(String, String)>),
    ) -> &M {
        if self.len.load(Ordering::Acquire) >= self.limit {
            // Full, so no series is made any more and (`len` being stored with Release
            // after its slot) all are visible: look again, as another thread may have
            // made this one since the probe in `get`. Folding its measurement into the
            // overflow series would break the OpenTelemetry SDK's guarantee that no
            // overflow happens while the distinct label sets fit the limit.
            return self
                .probe(hash, &matches)
                .unwrap_or_else(|_| self.overflow());
        }
        let mut first_by_labels = self.insert.lock();
        // Another thread may have created it, or taken the empty slot, meanwhile.
        let index = match self.probe(hash, &matches) {
            Ok(metric) => return metric,
            Err(index) => index,
        };
        let len = self.len.load(Ordering::Relaxed);
        let Some(chunk) = self.chunks.get(index >> CHUNK_BITS) else {
            return self.overflow();
        };
        if len >= self.limit {
            return self.overflow();
        }
        let chunk = chunk.get_or_init(|| (0..CHUNK_LEN).map(|_| OnceLock::new()).collect());
        let (key, labels) = make();
        // Two typed label sets can be one series to Prometheus: `None` and `Some("")`
        // print alike, and a `Vec` of pairs may give them in another order or add a label
        // with an empty value (which is no label). One exposition must not repeat a series
        // (OpenMetrics 1.0: "MUST NOT"; Prometheus keeps one of the samples), so the later
        // key shares the first one's metric and is left out of the exposition.
        let same_labels = if self.by_labels {
            let identity = series_identity(&labels);
            let first = *first_by_labels.entry(hash_of(&identity)).or_insert(index);
            let same = |s: &&Series<K, M>| series_identity(&s.labels) == identity;
            match self.slot(first).filter(same) {
                Some(s) => Some(s),
                // Another series with the same hash came first: look at every series.
                None if first != index => self.series().find(same),
                None => None,
            }
        } else {
            None
        };
        if let Some(s) = same_labels {
            crate::error::warn_once(format!("alias {}", self.name), || {
                format!(
                    "metric {:?}: distinct label sets are one series to Prometheus ({:?}); \
                     they share it",
                    self.name, s.labels
                )
            });
        }
        let series = chunk[index & (CHUNK_LEN - 1)].get_or_init(|| {
            Box::new(Series {
                key,
                hash,
                labels: labels.into_boxed_slice(),
                metric: same_labels.map_or_else(
                    || M::new_series(&self.bounds, self.exemplars),
                    |s| s.metric.clone(),
                ),
                start: same_labels.map_or_else(unix_nanos_now, |s| s.start),
                seq: len,
                alias: same_labels.is_some(),
            })
        });
        // Release: a thread that reads the limit reached also sees this series.
        self.len.store(len + 1, Ordering::Release);
        &series.metric
    }

    #[cold]
    fn overflow(&self) -> &M {
        self.overflowed.fetch_add(1, Ordering::Relaxed);
        if !self.warned.swap(true, Ordering::Relaxed) {
            crate::error::warn(format_args!(
                "metric {:?} reached its cardinality limit of {} series; \
                 further label sets are folded into the {OVERFLOW_LABEL}=\"true\" series",
                self.name, self.limit
            ));
        }
        &self
            .overflow
            .get_or_init(|| Series {
                key: (),
                hash: 0,
                labels: Box::new([(OVERFLOW_LABEL.to_owned(), "true".to_owned())]),
                metric: M::new_series(&self.bounds, self.exemplars),
                start: unix_nanos_now(),
                seq: usize::MAX,
                alias: false,
            })
            .metric
    }

    /// Keys with a series so far, not counting the overflow series.
    pub(crate) fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    /// Lookups folded into the overflow series.
    pub(crate) fn overflowed(&self) -> u64 {
        self.overflowed.load(Ordering::Relaxed)
    }

    /// Every series created so far, aliases included, in table order.
    fn series(&self) -> impl Iterator<Item = &Series<K, M>> {
        self.chunks
            .iter()
            .filter_map(OnceLock::get)
            .flat_map(|chunk| chunk.iter().filter_map(|slot| slot.get().map(|b| &**b)))
    }

    /// Appends a point per series, in creation order, the overflow series last.
    pub(crate) fn points(&self, now: u64, out: &mut Vec<PointSnapshot>) {
        let mut series: Vec<&Series<K, M>> = self.series().filter(|s| !s.alias).collect();
        series.sort_unstable_by_key(|s| s.seq);
        let point = |labels: &[(String, String)], metric: &M, start: u64| {
            let mut exemplars = Vec::new();
            let value = metric.read(&mut exemplars);
            PointSnapshot {
                labels: labels.to_vec(),
                value,
                start_time_unix_nano: start,
                time_unix_nano: now,
                exemplars,
            }
        };
        out.extend(series.iter().map(|s| point(&s.labels, &s.metric, s.start)));
        if let Some(o) = self.overflow.get() {
            out.push(point(&o.labels, &o.metric, o.start));
        }
    }
}

/// What makes a series one to Prometheus: its pairs with a value, in any order.
pub(crate) fn series_identity(labels: &[(String, String)]) -> Vec<&(String, String)> {
    let mut pairs: Vec<_> = labels.iter().filter(|(_, v)| !v.is_empty()).collect();
    pairs.sort_unstable();
    pairs
}

impl<K, M> fmt::Debug for SeriesTable<K, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SeriesTable")
            .field("name", &self.name)
            .field("series", &self.len.load(Ordering::Relaxed))
            .field("limit", &self.limit)
            .finish()
    }
}

// === Family ===

/// A family of series keyed by a typed label set.
///
/// The exposition shows each series once: label sets that are one series to Prometheus
/// (an `Option` field's `None` and `Some("")`; a `Vec` of pairs in another order, or with
/// an extra label whose value is empty) share one, and a label name that is invalid or
/// repeated (through `#[prometheus(flatten)]`) is renamed with a `label_` prefix, both
/// reported once on stderr.
///
/// ```
/// use obs_metrics::{EncodeLabelSet, Family, Histogram, Registry};
///
/// #[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
/// struct Labels {
///     http_request_method: &'static str,
///     http_response_status_code: u16,
/// }
///
/// let registry = Registry::new();
/// let duration: Family<Labels, Histogram> = registry
///     .family("http_server_request_duration_seconds", "Duration of HTTP server requests.")
///     .unwrap();
/// let labels = Labels { http_request_method: "GET", http_response_status_code: 200 };
/// duration.get(&labels).observe(0.042);
/// assert_eq!(duration.get(&labels).get().count, 1);
/// ```
pub struct Family<L, M: Instrument> {
    table: Arc<SeriesTable<L, M>>,
}

impl<L: LabelSet, M: Instrument> Family<L, M> {
    pub(crate) fn new(name: &str, limit: usize, bounds: Arc<[f64]>, exemplars: bool) -> Self {
        Family {
            table: Arc::new(SeriesTable::new(name, limit, bounds, exemplars, true)),
        }
    }

    /// The series for `labels`, created on first use. Past the cardinality limit this is
    /// the shared overflow series. Keep the returned handle (clone it) to skip the lookup.
    #[inline]
    pub fn get(&self, labels: &L) -> &M {
        let hash = hash_of(labels);
        self.table.get(
            hash,
            |key, _| key == labels,
            || {
                (
                    labels.clone(),
                    label_pairs(&self.table.name, M::KIND, labels),
                )
            },
        )
    }

    /// Label sets with a series so far, up to the cardinality limit (the overflow series
    /// not counted; label sets that share a series count once each).
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Whether no series exists yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Lookups folded into the overflow series since the family was created.
    pub fn overflowed(&self) -> u64 {
        self.table.overflowed()
    }

    pub(crate) fn table(&self) -> &SeriesTable<L, M> {
        &self.table
    }
}

impl<L, M: Instrument> Clone for Family<L, M> {
    fn clone(&self) -> Self {
        Family {
            table: Arc::clone(&self.table),
        }
    }
}

impl<L, M: Instrument> fmt::Debug for Family<L, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Family").field(&self.table).finish()
    }
}

/// The label pairs of a typed label set, read through prometheus-client's own text
/// encoder (its label encoders are not constructible outside the crate). Runs once per
/// new series. Names the Prometheus rules reject, or that repeat, are renamed (see
/// [`rename_label`]).
fn label_pairs<L: LabelSet>(metric: &str, kind: MetricKind, labels: &L) -> Vec<(String, String)> {
    use prometheus_client::encoding::{EncodeMetric, MetricEncoder};
    use prometheus_client::metrics::MetricType;

    #[derive(Debug)]
    struct Probe<L>(L);
    impl<L: LabelSet> EncodeMetric for Probe<L> {
        fn encode(&self, mut encoder: MetricEncoder<'_>) -> fmt::Result {
            encoder.encode_info(&self.0)
        }
        fn metric_type(&self) -> MetricType {
            MetricType::Info
        }
    }

    let mut registry = prometheus_client::registry::Registry::default();
    registry.register("probe", "", Probe(labels.clone()));
    let mut text = String::new();
    if prometheus_client::encoding::text::encode_registry(&mut text, &registry).is_err() {
        return Vec::new();
    }
    // Not up to the line's end: names are printed unescaped, and may hold a line break.
    // After the last value comes only `} 1` and `# EOF`, where the parse finds no `="`.
    let labels = text
        .split_once("probe_info{")
        .map_or("", |(_, labels)| labels);
    let mut pairs = parse_label_list(labels);
    for i in 0..pairs.len() {
        let (before, rest) = pairs.split_at_mut(i);
        let name = &mut rest[0].0;
        let problem = match validate_label_name(metric, name, kind) {
            Err(e) => Some(e.to_string()),
            // A flattened label set may repeat a name.
            Ok(()) if before.iter().any(|(n, _)| n == name) => Some(format!(
                "label name {name:?} appears twice in the label set of metric {metric:?}"
            )),
            Ok(()) => None,
        };
        if let Some(problem) = problem {
            rename_label(metric, kind, name, before, &problem);
        }
    }
    pairs
}

/// Gives a typed label set's invalid or repeated label name (its names are only seen once
/// a value is encoded, so they can't be refused at registration) a valid, unique one:
/// snake case, then `label_` prefixes until it is neither reserved nor one of `before`
/// (`le`, on any metric type, becomes `label_le`; a second `method`, `label_method`). Dropping
/// the label instead would fold distinct label sets into one series that the exposition
/// then repeats, which OpenMetrics forbids and Prometheus resolves by losing one of them;
/// keeping a repeated name makes Prometheus reject the whole scrape. Reported once per
/// metric and label.
fn rename_label(
    metric: &str,
    kind: MetricKind,
    name: &mut String,
    before: &[(String, String)],
    problem: &str,
) {
    let original = std::mem::take(name);
    let mut renamed = underscored(&original);
    while renamed.is_empty()
        || validate_label_name(metric, &renamed, kind).is_err()
        || before.iter().any(|(n, _)| *n == renamed)
    {
        renamed.insert_str(0, "label_");
    }
    crate::error::warn_once(format!("label {metric} {original}"), || {
        format!("{problem}; exposed as {renamed:?} instead")
    });
    *name = renamed;
}

/// Parses `k="v",k2="v2"}` (OpenMetrics label escaping: `\\`, `\"`, `\n`).
fn parse_label_list(text: &str) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    let mut rest = text;
    while let Some((name, after)) = rest.split_once("=\"") {
        let mut value = String::new();
        let mut chars = after.char_indices();
        let mut end = after.len();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, other)) => value.push(other),
                    None => {}
                },
                '"' => {
                    end = i + 1;
                    break;
                }
                other => value.push(other),
            }
        }
        pairs.push((name.trim_start_matches(',').to_owned(), value));
        rest = &after[end..];
    }
    pairs
}

// === DynFamily ===

/// A family of series with label names declared at registration and values given as
/// `&[(&str, &str)]` at each lookup, in any order.
///
/// Pairs naming an undeclared label are ignored; a declared label that is not given has
/// the empty value (which Prometheus treats as absent); a label given twice takes the value
/// of its first pair.
///
/// ```
/// use obs_metrics::{Counter, Registry};
///
/// let registry = Registry::new();
/// let requests = registry
///     .dyn_family::<Counter>("jobs_processed", "Jobs processed.", &["queue", "outcome"])
///     .unwrap();
/// requests.get(&[("queue", "emails"), ("outcome", "ok")]).inc();
/// requests.get(&[("outcome", "ok"), ("queue", "emails")]).inc();
/// assert_eq!(requests.get(&[("queue", "emails"), ("outcome", "ok")]).get(), 2);
/// ```
pub struct DynFamily<M: Instrument> {
    table: Arc<SeriesTable<(), M>>,
    names: Arc<[&'static str]>,
    // Per declared name, the address of a `'static` string last found equal to it: names
    // are `'static` on both sides, and static memory is never freed or changed, so an
    // address match proves equality without reading the bytes.
    known_names: Arc<[AtomicUsize]>,
}

impl<M: Instrument> DynFamily<M> {
    pub(crate) fn new(
        name: &str,
        names: &[&'static str],
        limit: usize,
        bounds: Arc<[f64]>,
        exemplars: bool,
    ) -> Self {
        DynFamily {
            table: Arc::new(SeriesTable::new(name, limit, bounds, exemplars, false)),
            names: names.into(),
            known_names: names
                .iter()
                .map(|n| AtomicUsize::new(n.as_ptr() as usize))
                .collect(),
        }
    }

    /// The series for `labels`, created on first use. Past the cardinality limit this is
    /// the shared overflow series. Label names are `'static` (literals, as declared).
    #[inline]
    pub fn get(&self, labels: &[(&'static str, &str)]) -> &M {
        let mut values = [""; MAX_DYN_LABELS];
        let names = &self.names[..self.names.len().min(MAX_DYN_LABELS)];
        let same = |i: usize, key: &'static str| {
            let known = &self.known_names[i];
            let name = names[i];
            if key.as_ptr() as usize == known.load(Ordering::Relaxed) && key.len() == name.len() {
                return true;
            }
            let equal = str_eq(key, name);
            if equal {
                known.store(key.as_ptr() as usize, Ordering::Relaxed);
            }
            equal
        };
        // Whether the pairs so far came in declared order, one per name: then no earlier
        // pair names label `i`, and pair `i`, if it does, is its first.
        let mut in_order = true;
        for (i, value) in values.iter_mut().enumerate().take(names.len()) {
            *value = match labels.get(i) {
                Some((k, v)) if in_order && same(i, k) => v,
                _ => {
                    in_order = false;
                    labels
                        .iter()
                        .find(|(k, _)| same(i, k))
                        .map_or("", |(_, v)| v)
                }
            };
        }
        self.get_values(&values[..names.len()])
    }

    /// The series for label `values` given in declared order (missing trailing values are
    /// empty, extra ones ignored): [`get`](Self::get) without matching names.
    #[inline]
    pub fn get_values(&self, values: &[&str]) -> &M {
        let names = &self.names;
        let value = |i: usize| values.get(i).copied().unwrap_or_default();
        let mut hasher = LabelHasher::default();
        for i in 0..names.len() {
            hasher.write_value(value(i).as_bytes());
        }
        let hash = hasher.finish();
        self.table.get(
            hash,
            |_, stored| {
                stored
                    .iter()
                    .enumerate()
                    .all(|(i, (_, s))| str_eq(s, value(i)))
            },
            || {
                let pairs = names
                    .iter()
                    .enumerate()
                    .map(|(i, n)| ((*n).to_owned(), value(i).to_owned()))
                    .collect();
                ((), pairs)
            },
        )
    }

    /// The declared label names.
    pub fn label_names(&self) -> &[&'static str] {
        &self.names
    }

    /// Series created so far (the overflow series not counted).
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Whether no series exists yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Lookups folded into the overflow series since the family was created.
    pub fn overflowed(&self) -> u64 {
        self.table.overflowed()
    }

    pub(crate) fn table(&self) -> &SeriesTable<(), M> {
        &self.table
    }
}

impl<M: Instrument> Clone for DynFamily<M> {
    fn clone(&self) -> Self {
        DynFamily {
            table: Arc::clone(&self.table),
            names: Arc::clone(&self.names),
            known_names: Arc::clone(&self.known_names),
        }
    }
}

impl<M: Instrument> fmt::Debug for DynFamily<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DynFamily")
            .field("table", &self.table)
            .field("names", &self.names)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Counter, EncodeLabelSet, Histogram, PointValue};

    #[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
    struct Labels {
        method: String,
        code: u16,
    }

    #[test]
    fn typed_labels_are_extracted_in_order_with_escapes() {
        let l = Labels {
            method: "a\"b\\c\nd".to_owned(),
            code: 200,
        };
        assert_eq!(
            label_pairs("m", MetricKind::Counter, &l),
            vec![
                ("method".to_owned(), "a\"b\\c\nd".to_owned()),
                ("code".to_owned(), "200".to_owned())
            ]
        );
    }

    #[test]
    fn invalid_typed_label_names_are_renamed_not_dropped() {
        #[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
        struct Reserved {
            le: String,
            quantile: u8,
        }
        let f: Family<Reserved, crate::Histogram> =
            Family::new("wait_seconds", 10, Arc::from([1.0]), true);
        for le in ["a", "b"] {
            let labels = Reserved {
                le: le.to_owned(),
                quantile: 9,
            };
            f.get(&labels).observe(0.5);
        }
        let mut points = Vec::new();
        f.table().points(1, &mut points);
        // Two label sets stay two series, under names the exposition accepts.
        let labels: Vec<_> = points.iter().map(|p| p.labels.clone()).collect();
        let pair = |k: &str, v: &str| (k.to_owned(), v.to_owned());
        assert_eq!(
            labels,
            vec![
                vec![pair("label_le", "a"), pair("label_quantile", "9")],
                vec![pair("label_le", "b"), pair("label_quantile", "9")],
            ]
        );
    }

    #[test]
    fn a_typed_label_name_with_a_line_break_loses_no_label() {
        // prometheus-client prints label names as they are: the line break used to end
        // the parse, dropping this label and every one after it.
        let pairs = vec![("a\nb", "v"), ("c", "w")];
        assert_eq!(
            label_pairs("m", MetricKind::Counter, &pairs),
            [
                ("a_b".to_owned(), "v".to_owned()),
                ("c".to_owned(), "w".to_owned())
            ]
        );
    }

    /// OpenMetrics 1.0 (Label): "Label names beginning with underscores are RESERVED and
    /// MUST NOT be used": a field such as `_shard` is exposed under a name that is not.
    #[test]
    fn a_typed_label_name_with_a_leading_underscore_is_renamed() {
        #[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
        struct Private {
            _shard: u8,
        }
        assert_eq!(
            label_pairs("m", MetricKind::Counter, &Private { _shard: 3 }),
            vec![("label__shard".to_owned(), "3".to_owned())]
        );
    }

    #[test]
    fn typed_label_names_that_repeat_are_made_unique() {
        // A flattened set repeating a name, and a rename landing on a declared name:
        // repeated label names make Prometheus reject the whole scrape.
        #[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
        struct Request {
            method: String,
        }
        #[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
        struct Repeated {
            #[prometheus(flatten)]
            request: Request,
            method: String,
            le: String,
            label_le: String,
            label_method: String,
        }
        let labels = Repeated {
            request: Request {
                method: "GET".to_owned(),
            },
            method: "POST".to_owned(),
            le: "a".to_owned(),
            label_le: "b".to_owned(),
            label_method: "c".to_owned(),
        };
        let names: Vec<String> = label_pairs("wait_seconds", MetricKind::Histogram, &labels)
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        assert_eq!(
            names,
            [
                "method",
                "label_method",
                "label_le",
                "label_label_le",
                "label_label_method"
            ]
        );
    }

    #[test]
    fn typed_label_sets_that_print_the_same_labels_share_a_series() {
        // `None` and `Some("")` are two keys but one label set once printed: two series
        // would repeat it in the exposition, and Prometheus would keep only one of them.
        #[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
        struct Route {
            http_route: Option<String>,
        }
        let registry = crate::Registry::new();
        let f: Family<Route, Counter> = registry.family("requests", "Requests.").unwrap();
        f.get(&Route { http_route: None }).inc();
        f.get(&Route {
            http_route: Some(String::new()),
        })
        .inc_by(2);
        f.get(&Route {
            http_route: Some("/a".to_owned()),
        })
        .inc();
        f.get(&Route { http_route: None }).inc();
        let mut points = Vec::new();
        f.table().points(1, &mut points);
        let series: Vec<_> = points
            .iter()
            .map(|p| (p.labels[0].1.as_str(), p.value.as_f64()))
            .collect();
        assert_eq!(series, [("", 4.0), ("/a", 1.0)]);
        let text = registry.encode(crate::text::Format::Prometheus);
        assert_eq!(
            text.matches("requests_total{http_route=\"\"}").count(),
            1,
            "{text}"
        );

        // Pairs in another order, or with an extra empty value, are the same series to
        // Prometheus (a label with an empty value is no label).
        let pairs: Family<Vec<(&str, &str)>, Counter> = registry.family("jobs", "Jobs.").unwrap();
        pairs.get(&vec![("queue", "a"), ("outcome", "ok")]).inc();
        pairs.get(&vec![("outcome", "ok"), ("queue", "a")]).inc();
        pairs
            .get(&vec![("queue", "a"), ("shard", ""), ("outcome", "ok")])
            .inc();
        pairs.get(&vec![("queue", "b"), ("outcome", "ok")]).inc();
        let mut points = Vec::new();
        pairs.table().points(1, &mut points);
        let values: Vec<f64> = points.iter().map(|p| p.value.as_f64()).collect();
        assert_eq!(values, [3.0, 1.0]);
    }

    #[test]
    fn same_labels_same_series() {
        let f: Family<Labels, Counter> = Family::new("m", 10, Arc::from([]), true);
        let get = |m: &str| {
            f.get(&Labels {
                method: m.to_owned(),
                code: 200,
            })
            .clone()
        };
        get("GET").inc();
        get("GET").inc();
        get("POST").inc();
        assert_eq!(get("GET").get(), 2);
        assert_eq!(f.len(), 2);
        let mut points = Vec::new();
        f.table().points(1, &mut points);
        assert_eq!(points.len(), 2);
        assert_eq!(points[0].labels[0].1, "GET");
        assert_eq!(points[0].value, PointValue::U64(2));
    }

    #[test]
    fn an_unbounded_limit_is_lowered_to_the_maximum() {
        let registry = crate::Registry::new();
        let f = registry
            .metric("wide", "h")
            .cardinality_limit(usize::MAX)
            .dyn_family::<Counter>(&["id"])
            .unwrap();
        registry.set_default_cardinality_limit(usize::MAX);
        let g = registry
            .dyn_family::<Counter>("wider", "h", &["id"])
            .unwrap();
        for family in [&f, &g] {
            assert_eq!(family.table().limit, MAX_CARDINALITY_LIMIT);
            for i in 0..100 {
                family.get(&[("id", &i.to_string())]).inc();
            }
            assert_eq!((family.len(), family.overflowed()), (100, 0));
        }
    }

    #[test]
    fn overflow_past_the_limit_keeps_totals() {
        let f: DynFamily<Counter> = DynFamily::new("m", &["id"], 3, Arc::from([]), true);
        for i in 0..100 {
            f.get(&[("id", &i.to_string())]).inc();
        }
        assert_eq!(f.len(), 3);
        assert_eq!(f.overflowed(), 97);
        let mut points = Vec::new();
        f.table().points(1, &mut points);
        assert_eq!(points.len(), 4);
        let last = points.last().unwrap();
        assert_eq!(
            last.labels,
            vec![(OVERFLOW_LABEL.to_owned(), "true".to_owned())]
        );
        assert_eq!(last.value, PointValue::U64(97));
        let total: f64 = points.iter().map(|p| p.value.as_f64()).sum();
        assert_eq!(total, 100.0);
    }

    #[test]
    fn dyn_labels_in_any_order_and_missing_ones_empty() {
        let f: DynFamily<Histogram> = DynFamily::new("m", &["a", "b"], 10, Arc::from([1.0]), true);
        f.get(&[("b", "2"), ("a", "1")]).observe(0.5);
        f.get(&[("a", "1"), ("b", "2"), ("c", "ignored")])
            .observe(2.0);
        f.get(&[("a", "1")]).observe(0.1);
        // Equal names at other addresses match too (and are remembered).
        let a_elsewhere: &'static str = Box::leak(String::from("a").into_boxed_str());
        f.get(&[(a_elsewhere, "1"), ("b", "2")]).observe(0.4);
        f.get(&[(a_elsewhere, "1"), ("b", "2")]).observe(0.4);
        f.get_values(&["1"]).observe(0.2);
        f.get_values(&["1", "2", "extra"]).observe(0.3);
        assert_eq!(f.len(), 2);
        let mut points = Vec::new();
        f.table().points(1, &mut points);
        assert_eq!(
            points[1].labels,
            vec![
                ("a".to_owned(), "1".to_owned()),
                ("b".to_owned(), String::new())
            ]
        );
        match &points[0].value {
            PointValue::Histogram(h) => assert_eq!(h.bucket_counts, vec![4, 1]),
            other => panic!("{other:?}"),
        }
    }

    /// OpenTelemetry metrics SDK, cardinality limits: "The SDK MUST provide the guarantee
    /// that overflow would not happen if the maximum number of distinct, non-overflow
    /// attribute sets is less than or equal to the limit." Threads making the same label
    /// sets at once, the last one filling the limit, used to fold a measurement of a
    /// series another thread had just made into the overflow series (a few rounds in a
    /// thousand).
    #[test]
    fn label_sets_made_at_once_up_to_the_limit_never_overflow() {
        let rounds_with_overflow = (0..2000)
            .filter(|_| {
                let f: DynFamily<Counter> = DynFamily::new("m", &["id"], 2, Arc::from([]), true);
                let barrier = std::sync::Barrier::new(4);
                std::thread::scope(|s| {
                    for thread in 0..4 {
                        let (f, barrier) = (&f, &barrier);
                        s.spawn(move || {
                            barrier.wait();
                            for i in 0..2 {
                                f.get(&[("id", ["a", "b"][(thread + i) % 2])]).inc();
                            }
                        });
                    }
                });
                f.overflowed() > 0
            })
            .count();
        assert_eq!(rounds_with_overflow, 0);
    }

    #[test]
    fn a_label_given_twice_takes_its_first_value_wherever_it_is() {
        let f: DynFamily<Counter> = DynFamily::new("m", &["a", "b"], 10, Arc::from([]), true);
        f.get(&[("b", "1"), ("b", "2")]).inc();
        f.get(&[("b", "1"), ("x", "y"), ("b", "2")]).inc();
        f.get(&[("a", "1"), ("a", "2"), ("b", "3")]).inc();
        f.get(&[("a", "1"), ("b", "3"), ("a", "2")]).inc();
        let mut points = Vec::new();
        f.table().points(1, &mut points);
        let series: Vec<(Vec<&str>, f64)> = points
            .iter()
            .map(|p| {
                let values = p.labels.iter().map(|(_, v)| v.as_str()).collect();
                (values, p.value.as_f64())
            })
            .collect();
        assert_eq!(series, [(vec!["", "1"], 2.0), (vec!["1", "3"], 2.0)]);
    }

    #[test]
    fn concurrent_lookups_create_each_series_once() {
        let f: DynFamily<Counter> = DynFamily::new("m", &["id"], 1000, Arc::from([]), true);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for i in 0..500 {
                        f.get(&[("id", &(i % 50).to_string())]).inc();
                    }
                });
            }
        });
        assert_eq!(f.len(), 50);
        let mut points = Vec::new();
        f.table().points(1, &mut points);
        assert!(points.iter().all(|p| p.value == PointValue::U64(40)));
    }
}
