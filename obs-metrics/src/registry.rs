//! [`Registry`]: where metrics are registered (names checked once, here) and collected.

use std::any::Any;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::RwLock;

use crate::exemplar::unix_nanos_now;
use crate::family::{DEFAULT_CARDINALITY_LIMIT, MAX_DYN_LABELS, series_identity};
use crate::instrument::{DEFAULT_BUCKETS, Instrument, valid_bounds};
use crate::name::{
    ValidName, attribute_label, validate_label_name, validate_metric_name, validate_otel_names,
};
use crate::{
    Counter, DynFamily, Family, Gauge, Histogram, LabelSet, MetricFamilySnapshot, MetricKind,
    MetricsError, OtelAttribute, OtelNames, PointSnapshot, PointValue, Unit, UpDownCounter,
};

/// The overflow counter's label over OTLP: the overflowing family's name, in obs's
/// namespace.
static OVERFLOW_ATTRIBUTES: [OtelAttribute; 1] =
    [OtelAttribute::string("metric_name", "obs.metric.name")];

/// Produces metric families at collection time, for values that live elsewhere (process
/// statistics, runtime counters).
///
/// Families follow the rules registration checks (name, unit, non-empty help, label
/// names), with counters named without `_total`. A family that breaks them, or that no
/// exposition can show (a label set repeated, histogram buckets that don't match their
/// bounds or count, a negative or NaN counter, a value of another kind), is left out of
/// the collection and reported once on stderr: one invalid family can make a scraper
/// reject the whole exposition. A collector that panics has its families left out of that
/// collection (reported once on stderr); the other metrics are unaffected. One that
/// collects its own registry is left out of that inner collection (the recursion would
/// overflow the stack).
pub trait Collector: fmt::Debug + Send + Sync + 'static {
    /// Appends this collector's families; `now` is the snapshot time (Unix nanoseconds).
    fn collect(&self, now: u64, out: &mut Vec<MetricFamilySnapshot>);
}

/// What a registered metric reads from.
trait Source: Send + Sync {
    fn points(&self, now: u64, out: &mut Vec<PointSnapshot>);
    fn handle(&self) -> &dyn Any;
    fn overflowed(&self) -> u64 {
        0
    }
    /// Whether the value is read at collection (see `MetricFamilySnapshot::asynchronous`).
    fn asynchronous(&self) -> bool {
        false
    }
}

struct Single<M> {
    metric: M,
    start: u64,
}

impl<M: Instrument> Source for Single<M> {
    fn points(&self, now: u64, out: &mut Vec<PointSnapshot>) {
        let mut exemplars = Vec::new();
        let value = self.metric.read(&mut exemplars);
        out.push(PointSnapshot {
            labels: Vec::new(),
            value,
            start_time_unix_nano: self.start,
            time_unix_nano: now,
            exemplars,
        });
    }
    fn handle(&self) -> &dyn Any {
        &self.metric
    }
}

impl<L: LabelSet, M: Instrument> Source for Family<L, M> {
    fn points(&self, now: u64, out: &mut Vec<PointSnapshot>) {
        self.table().points(now, out);
    }
    fn handle(&self) -> &dyn Any {
        self
    }
    fn overflowed(&self) -> u64 {
        Family::overflowed(self)
    }
}

impl<M: Instrument> Source for DynFamily<M> {
    fn points(&self, now: u64, out: &mut Vec<PointSnapshot>) {
        self.table().points(now, out);
    }
    fn handle(&self) -> &dyn Any {
        self
    }
    fn overflowed(&self) -> u64 {
        DynFamily::overflowed(self)
    }
}

type GaugeCallback = Arc<dyn Fn() -> f64 + Send + Sync>;

/// Runs `read`, the application code at `callback` read at collection (a `gauge_fn`
/// callback, a [`Collector`]), or `None` if it panicked, which is reported once per `what`
/// (only formatted then, as collection is on every scrape and push). A panic let through
/// would fail every scrape while it lasts, and end the task that pushes OTLP metrics for
/// good: one callback must not take every other metric with it.
///
/// Also `None`, without running it, when this thread is already reading `callback`: one
/// that collects its own registry (to count its families, say) would otherwise recurse
/// until the stack overflows, which aborts the process. The inner collection goes without
/// its values, and that is reported once.
fn run_callback<T>(
    callback: usize,
    what: impl FnOnce() -> String,
    read: impl FnOnce() -> T,
) -> Option<T> {
    thread_local! {
        static READING: std::cell::RefCell<Vec<usize>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    /// Takes `callback` off this thread's list when its read ends, by a panic too.
    struct Reading;
    impl Drop for Reading {
        fn drop(&mut self) {
            READING.with_borrow_mut(Vec::pop);
        }
    }
    if READING.with_borrow(|reading| reading.contains(&callback)) {
        let what = what();
        crate::error::warn_once(format!("reentered {what}"), || {
            format!(
                "{what} collects its own registry; inside that collection its values are \
                 left out"
            )
        });
        return None;
    }
    READING.with_borrow_mut(|reading| reading.push(callback));
    let _reading = Reading;
    // Unwind safety: what `read` may leave half-done is its own state, or (for a
    // collector) families it appended, which the caller discards.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(read))
        .map_err(|_| {
            let what = what();
            crate::error::warn_once(format!("panic {what}"), || {
                format!("{what} panicked at collection; its values are left out while it does")
            });
        })
        .ok()
}

struct CallbackGauge {
    name: String,
    read: GaugeCallback,
    start: u64,
}

impl Source for CallbackGauge {
    fn points(&self, now: u64, out: &mut Vec<PointSnapshot>) {
        let callback = Arc::as_ptr(&self.read).cast::<()>() as usize;
        let Some(value) = run_callback(
            callback,
            || format!("gauge_fn {:?}", self.name),
            || (self.read)(),
        ) else {
            // No point this time: the family is printed without samples and left out of
            // the OTLP push, both valid for a value that could not be read.
            return;
        };
        out.push(PointSnapshot {
            labels: Vec::new(),
            value: PointValue::F64(value),
            start_time_unix_nano: self.start,
            time_unix_nano: now,
            exemplars: Vec::new(),
        });
    }
    fn handle(&self) -> &dyn Any {
        &()
    }
    fn asynchronous(&self) -> bool {
        true
    }
}

/// Checks a collector's family as registration checks a metric, plus what registration
/// guarantees by construction: unique label names and label sets, histogram points that
/// match their bounds. Registered metrics never need it.
fn check_collected(family: &MetricFamilySnapshot) -> Result<(), String> {
    let name = &family.name;
    let valid = validate_metric_name(name, family.kind, family.unit).map_err(|e| e.to_string())?;
    if valid.name != *name {
        return Err(format!(
            "a collected counter family must be named without _total: {name:?} should be {:?}",
            valid.name
        ));
    }
    if family.help.trim().is_empty() {
        return Err(MetricsError::EmptyHelp { name: name.clone() }.to_string());
    }
    let mut label_sets = std::collections::HashSet::with_capacity(family.points.len());
    for point in &family.points {
        for (i, (label, _)) in point.labels.iter().enumerate() {
            validate_label_name(name, label, family.kind).map_err(|e| e.to_string())?;
            if point.labels[..i].iter().any(|(l, _)| l == label) {
                return Err(format!(
                    "label {label:?} appears twice in a point of {name:?}"
                ));
            }
        }
        // In another order, or with another label whose value is empty, still one series.
        if !label_sets.insert(series_identity(&point.labels)) {
            return Err(format!(
                "metric {name:?} has two points of the series {:?}",
                point.labels
            ));
        }
        let problem = match (&point.value, family.kind) {
            (PointValue::Histogram(h), MetricKind::Histogram) => {
                !valid_bounds(&h.bounds)
                    || h.bucket_counts.len() != h.bounds.len() + 1
                    // Checked: counts past u64::MAX would panic (debug) or wrap (release).
                    || h.bucket_counts
                        .iter()
                        .try_fold(0u64, |sum, c| sum.checked_add(*c))
                        != Some(h.count)
            }
            (PointValue::Histogram(_), _) | (_, MetricKind::Histogram) => {
                return Err(format!(
                    "metric {name:?} of type {} has a point of another type",
                    family.kind.as_str()
                ));
            }
            // OpenMetrics 1.0, Counter: the total is "non-NaN" and starts from 0.
            (PointValue::I64(v), MetricKind::Counter) if *v < 0 => {
                return Err(format!("counter {name:?} has a negative value"));
            }
            (PointValue::F64(v), MetricKind::Counter) if v.is_nan() || *v < 0.0 => {
                return Err(format!("counter {name:?} has a negative or NaN value"));
            }
            _ => false,
        };
        if problem {
            return Err(format!(
                "histogram {name:?} has a point whose bounds are not finite and strictly \
                 increasing, or whose bucket counts do not match them and its count"
            ));
        }
    }
    Ok(())
}

struct Entry {
    name: String,
    help: String,
    unit: Option<Unit>,
    kind: MetricKind,
    // The handle type plus buckets or label names: what must match for a second
    // registration to return the first one.
    shape: String,
    otel: OtelNames,
    source: Arc<dyn Source>,
}

/// What a snapshot needs of an entry besides its source.
struct EntryHead {
    name: String,
    help: String,
    unit: Option<Unit>,
    kind: MetricKind,
    otel: OtelNames,
}

impl Entry {
    fn head(&self) -> EntryHead {
        EntryHead {
            name: self.name.clone(),
            help: self.help.clone(),
            unit: self.unit,
            kind: self.kind,
            otel: self.otel,
        }
    }

    fn describe(&self) -> String {
        describe(self.kind, &self.shape, &self.help, &self.otel)
    }
}

/// Whether two families (Prometheus name and OpenTelemetry names) are pushed as one OTLP
/// metric: one instrument name (a family without one goes under its Prometheus name) in
/// one scope. Instrument names are case-insensitive (the metrics API spec, "Instrument
/// name syntax"), and no scope is [`SCOPE`](crate::SCOPE).
fn same_otlp_metric(a: (&str, &OtelNames), b: (&str, &OtelNames)) -> bool {
    fn name<'a>((name, otel): (&'a str, &OtelNames)) -> &'a str {
        otel.name.unwrap_or(name)
    }
    let scope = |otel: &OtelNames| otel.scope.unwrap_or(crate::SCOPE);
    scope(a.1) == scope(b.1) && name(a).eq_ignore_ascii_case(name(b))
}

fn describe(kind: MetricKind, shape: &str, help: &str, otel: &OtelNames) -> String {
    let mut described = format!("a {} ({shape}) with help {help:?}", kind.as_str());
    if *otel != OtelNames::default() {
        described.push_str(&format!(
            ", OpenTelemetry name {:?}, attributes {:?} and scope {:?}",
            otel.name, otel.attributes, otel.scope
        ));
    }
    described
}

#[derive(Default)]
struct Inner {
    entries: RwLock<Vec<Entry>>,
    collectors: RwLock<Vec<Arc<dyn Collector>>>,
    cardinality_limit: AtomicUsize,
    flags: CollectorFlags,
    /// The labels of `target_info` ([`Registry::set_target_info`]), sorted by name; empty:
    /// no `target_info`.
    target_info: RwLock<Vec<(String, String)>>,
}

/// Which built-in collectors are registered, so registering twice adds nothing.
#[derive(Default)]
pub(crate) struct CollectorFlags {
    pub(crate) process: AtomicBool,
    #[cfg(feature = "tokio")]
    pub(crate) tokio: AtomicBool,
}

/// A set of metrics to expose together. A cheap `Clone` handle: clones share the metrics.
///
/// Use [`global()`](crate::global) in applications (`obs-core` exposes and exports it),
/// and an explicit registry in tests or in a library that hands its metrics to its caller.
#[derive(Clone)]
pub struct Registry {
    inner: Arc<Inner>,
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<String> = self
            .inner
            .entries
            .read()
            .iter()
            .map(|e| e.name.clone())
            .collect();
        f.debug_struct("Registry").field("metrics", &names).finish()
    }
}

/// The registry `obs-core` exposes on `/metrics` and exports over OTLP, where libraries
/// register their metrics too (see the crate's "In a library").
pub fn global() -> &'static Registry {
    static GLOBAL: OnceLock<Registry> = OnceLock::new();
    GLOBAL.get_or_init(Registry::new)
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Registry {
            inner: Arc::new(Inner {
                cardinality_limit: AtomicUsize::new(DEFAULT_CARDINALITY_LIMIT),
                ..Inner::default()
            }),
        }
    }

    /// Sets the cardinality limit of families registered from now on (those that do not
    /// set their own with [`MetricBuilder::cardinality_limit`]). Defaults to
    /// [`DEFAULT_CARDINALITY_LIMIT`] (2000); at most
    /// [`MAX_CARDINALITY_LIMIT`](crate::MAX_CARDINALITY_LIMIT).
    pub fn set_default_cardinality_limit(&self, limit: usize) {
        self.inner
            .cardinality_limit
            .store(limit.max(1), Ordering::Relaxed);
    }

    pub(crate) fn flags(&self) -> &CollectorFlags {
        &self.inner.flags
    }

    /// Exposes `resource_attributes`, the OpenTelemetry resource of the process
    /// (`service.name`, `service.instance.id`, ...), as the one `target_info` metric of the
    /// text expositions ([`encode`](Self::encode), [`MetricsService`](crate::MetricsService),
    /// `serve`), as the OpenTelemetry compatibility spec asks of a Prometheus pull exporter
    /// ("Prometheus and OpenMetrics Compatibility", Resource Attributes): in OpenMetrics the
    /// info family `target` (`# TYPE target info`), in the 0.0.4 text format, which has no
    /// info type, the gauge `target_info`; one sample `target_info{...} 1` whose labels are
    /// the attributes and nothing else. `obs_core::init` sets the global registry's from
    /// its resource; a registry nobody sets it on has none.
    ///
    /// Keys become label names as the spec translates them: characters outside
    /// `[a-zA-Z0-9_]` become `_` and runs of `_` one `_` (`service.name` ->
    /// `service_name`), a name that would start with a digit or `_` gets `key_` before it
    /// (`1st.zone` -> `key_1st_zone`), as the collector's Prometheus exporters write it;
    /// keys that become the same
    /// name share the label, their values joined with `;` in the order of the keys (as
    /// the spec says). An empty key is left out (the OpenTelemetry common spec forbids it;
    /// reported once on stderr). Values are printed escaped, as every label value is.
    ///
    /// Each call replaces the previous attributes; none removes `target_info` (how to opt
    /// out after `init`). [`collect`](Self::collect) leaves it out, so an OTLP exporter,
    /// which sends the resource with every export, never sends it as a metric. The names
    /// `target` and `target_info` are reserved for it: registering a metric of either name
    /// is a [`MetricsError::InvalidName`], and a collector's family of either name is left
    /// out.
    ///
    /// ```
    /// use obs_metrics::Registry;
    /// use obs_metrics::text::Format;
    ///
    /// let registry = Registry::new();
    /// registry.set_target_info([("service.name", "checkout"), ("deployment.environment.name", "prod")]);
    /// let text = registry.encode(Format::OpenMetrics);
    /// assert!(text.starts_with(concat!(
    ///     "# HELP target Target metadata\n",
    ///     "# TYPE target info\n",
    ///     "target_info{deployment_environment_name=\"prod\",service_name=\"checkout\"} 1\n",
    /// )));
    /// ```
    pub fn set_target_info<'a>(
        &self,
        resource_attributes: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) {
        // (label, key, value), sorted by label then key: the spec's order for a shared label.
        let mut translated: Vec<(String, &str, &str)> = Vec::new();
        for (key, value) in resource_attributes {
            match attribute_label(key) {
                Some(label) => translated.push((label, key, value)),
                None => crate::error::warn_once("target_info empty key".to_owned(), || {
                    format!(
                        "a resource attribute with an empty key (value {value:?}) is left out \
                         of target_info"
                    )
                }),
            }
        }
        translated.sort_unstable();
        let mut labels: Vec<(String, String)> = Vec::with_capacity(translated.len());
        for (label, _, value) in translated {
            match labels.last_mut() {
                Some((last, joined)) if *last == label => {
                    joined.push(';');
                    joined.push_str(value);
                }
                _ => labels.push((label, value.to_owned())),
            }
        }
        *self.inner.target_info.write() = labels;
    }

    /// The labels of `target_info`, sorted by name; empty when there is none.
    pub(crate) fn target_info(&self) -> parking_lot::RwLockReadGuard<'_, Vec<(String, String)>> {
        self.inner.target_info.read()
    }

    /// Starts a registration with options (unit, buckets, cardinality limit).
    pub fn metric(&self, name: &str, help: &str) -> MetricBuilder<'_> {
        MetricBuilder {
            registry: self,
            name: name.to_owned(),
            help: help.to_owned(),
            unit: None,
            buckets: None,
            cardinality_limit: None,
            exemplars: true,
            otel: OtelNames::default(),
        }
    }

    /// Registers a `u64` counter (name with or without `_total`).
    pub fn counter(&self, name: &str, help: &str) -> Result<Counter, MetricsError> {
        self.metric(name, help).counter()
    }

    /// Registers an `i64` gauge.
    pub fn gauge(&self, name: &str, help: &str) -> Result<Gauge, MetricsError> {
        self.metric(name, help).gauge()
    }

    /// Registers an `i64` up-down counter.
    pub fn up_down_counter(&self, name: &str, help: &str) -> Result<UpDownCounter, MetricsError> {
        self.metric(name, help).up_down_counter()
    }

    /// Registers a histogram with [`DEFAULT_BUCKETS`].
    pub fn histogram(&self, name: &str, help: &str) -> Result<Histogram, MetricsError> {
        self.metric(name, help).histogram()
    }

    /// Registers a gauge whose value `read` returns at each collection.
    pub fn gauge_fn(
        &self,
        name: &str,
        help: &str,
        read: impl Fn() -> f64 + Send + Sync + 'static,
    ) -> Result<(), MetricsError> {
        self.metric(name, help).gauge_fn(read)
    }

    /// Registers a family with a typed label set; `M` is [`Counter`], [`Gauge`],
    /// [`UpDownCounter`] or [`Histogram`] (with default buckets).
    pub fn family<L: LabelSet, M: Instrument>(
        &self,
        name: &str,
        help: &str,
    ) -> Result<Family<L, M>, MetricsError> {
        self.metric(name, help).family()
    }

    /// Registers a family with the given label names, looked up with `&[(&str, &str)]`.
    pub fn dyn_family<M: Instrument>(
        &self,
        name: &str,
        help: &str,
        label_names: &[&'static str],
    ) -> Result<DynFamily<M>, MetricsError> {
        self.metric(name, help).dyn_family(label_names)
    }

    /// Adds a collector, read at every collection.
    pub fn register_collector(&self, collector: impl Collector) {
        self.inner.collectors.write().push(Arc::new(collector));
    }

    /// A snapshot of every metric: registered ones in registration order, then collectors'
    /// families, then (if any family overflowed its cardinality limit)
    /// `obs_metrics_cardinality_overflow_measurements_total{metric_name}` (the lookups
    /// given the overflow series, as [`DynFamily::overflowed`] counts; over OTLP
    /// `obs.metrics.cardinality_overflow` with `obs.metric.name`). Collectors'
    /// families and the overflow counter are marked
    /// [`asynchronous`](MetricFamilySnapshot::asynchronous), as `gauge_fn` gauges are.
    pub fn collect(&self) -> Vec<MetricFamilySnapshot> {
        let now = unix_nanos_now();
        // Read outside the locks: a callback gauge or collector may register metrics.
        let entries: Vec<(EntryHead, Arc<dyn Source>)> = self
            .inner
            .entries
            .read()
            .iter()
            .map(|e| (e.head(), Arc::clone(&e.source)))
            .collect();
        let collectors: Vec<Arc<dyn Collector>> = self.inner.collectors.read().clone();
        let mut out = Vec::with_capacity(entries.len());
        let mut overflow = Vec::new();
        for (head, source) in entries {
            let mut points = Vec::new();
            source.points(now, &mut points);
            // A series that started after `now` (another thread made it since `now` was
            // read, or the wall clock stepped back since it was made) is stamped with its
            // start: stamped `now`, it would end before it starts (OTLP's cumulative and
            // delta points cover start_time_unix_nano to time_unix_nano); moving its start
            // would make the next snapshot's real start read as a reset; and leaving it
            // out would hide it, after a step back of the clock, until the clock caught up.
            for point in &mut points {
                point.time_unix_nano = point.time_unix_nano.max(point.start_time_unix_nano);
            }
            let overflowed = source.overflowed();
            if overflowed > 0 {
                overflow.push(PointSnapshot {
                    labels: vec![("metric_name".to_owned(), head.name.clone())],
                    value: PointValue::U64(overflowed),
                    start_time_unix_nano: points.first().map_or(now, |p| p.start_time_unix_nano),
                    time_unix_nano: points.first().map_or(now, |p| p.time_unix_nano),
                    exemplars: Vec::new(),
                });
            }
            out.push(MetricFamilySnapshot {
                name: head.name,
                help: head.help,
                unit: head.unit,
                kind: head.kind,
                otel: head.otel,
                asynchronous: source.asynchronous(),
                points,
            });
        }
        for c in collectors {
            let first = out.len();
            let callback = Arc::as_ptr(&c).cast::<()>() as usize;
            let read = || c.collect(now, &mut out);
            if run_callback(callback, || format!("collector {c:?}"), read).is_none() {
                out.truncate(first);
            }
            let mut collected = out.split_off(first);
            collected.retain(|family| {
                let Err(problem) = check_collected(family) else {
                    return true;
                };
                crate::error::warn_once(format!("collected {}", family.name), || {
                    format!("{problem}; collector {c:?} has this family left out")
                });
                false
            });
            // A collector reads its values at collection: asynchronous by definition.
            for family in &mut collected {
                family.asynchronous = true;
            }
            out.append(&mut collected);
        }
        if !overflow.is_empty() {
            out.push(MetricFamilySnapshot {
                name: "obs_metrics_cardinality_overflow_measurements".to_owned(),
                help: "Series lookups (one per measurement unless a handle is kept) \
                       given the otel_metric_overflow series because their family \
                       reached its cardinality limit."
                    .to_owned(),
                unit: None,
                kind: MetricKind::Counter,
                // Over OTLP in obs's namespace, as obs-core's own counters are.
                otel: OtelNames {
                    name: Some("obs.metrics.cardinality_overflow"),
                    attributes: &OVERFLOW_ATTRIBUTES,
                    unit: Some("{measurement}"),
                    scope: None,
                },
                // Read from the families' overflow counts at collection.
                asynchronous: true,
                points: overflow,
            });
        }
        Self::drop_clashing_families(&mut out);
        out
    }

    /// Keeps the first family of each name. Registration refuses a second metric of a
    /// name, but a collector's families (process metrics, the pipeline's counters) are only
    /// seen here and may take a registered name: both exposition formats allow one family
    /// per name, and Prometheus would keep one of the two at random. Registered metrics
    /// come first, so they win; each clash is reported once.
    fn drop_clashing_families(families: &mut Vec<MetricFamilySnapshot>) {
        let mut seen = std::collections::HashSet::with_capacity(families.len());
        families.retain(|family| {
            if seen.insert(family.name.clone()) {
                return true;
            }
            crate::error::warn_once(format!("family {}", family.name), || {
                format!(
                    "a collector's family {:?} has the name of another metric family; only \
                     the first is exposed",
                    family.name
                )
            });
            false
        });
    }

    fn register<H: Clone + 'static>(
        &self,
        valid: ValidName,
        help: String,
        kind: MetricKind,
        shape: String,
        otel: OtelNames,
        make: impl FnOnce(&str) -> (H, Arc<dyn Source>),
    ) -> Result<H, MetricsError> {
        let mut entries = self.inner.entries.write();
        if let Some(e) = entries.iter().find(|e| e.name == valid.name) {
            if e.kind == kind
                && e.help == help
                && e.unit == valid.unit
                && e.shape == shape
                && e.otel == otel
                && let Some(handle) = e.source.handle().downcast_ref::<H>()
            {
                return Ok(handle.clone());
            }
            return Err(MetricsError::Conflict {
                name: valid.name,
                existing: e.describe(),
                requested: describe(kind, &shape, &help, &otel),
            });
        }
        if let Some(e) = entries
            .iter()
            .find(|e| same_otlp_metric((&e.name, &e.otel), (&valid.name, &otel)))
        {
            return Err(MetricsError::OtelNameTaken {
                otel_name: otel.name.unwrap_or(&valid.name).to_owned(),
                name: valid.name,
                existing: e.name.clone(),
            });
        }
        let (handle, source) = make(&valid.name);
        entries.push(Entry {
            name: valid.name,
            help,
            unit: valid.unit,
            kind,
            shape,
            otel,
            source,
        });
        Ok(handle)
    }
}

/// Options for one registration; finish with the instrument method
/// (`counter`, `histogram`, `family`…).
///
/// ```
/// use obs_metrics::{Registry, Unit};
///
/// let registry = Registry::new();
/// let latency = registry
///     .metric("queue_wait_seconds", "Time jobs wait in the queue.")
///     .unit(Unit::Seconds)
///     .buckets([0.01, 0.1, 1.0, 10.0])
///     .histogram()
///     .unwrap();
/// latency.observe(0.2);
/// ```
#[derive(Debug)]
#[must_use = "a MetricBuilder registers nothing until an instrument method is called"]
pub struct MetricBuilder<'r> {
    registry: &'r Registry,
    name: String,
    help: String,
    unit: Option<Unit>,
    buckets: Option<Vec<f64>>,
    cardinality_limit: Option<usize>,
    exemplars: bool,
    otel: OtelNames,
}

impl MetricBuilder<'_> {
    /// The unit; the name must end with it. Defaults to the unit the name ends with, if any.
    pub fn unit(mut self, unit: Unit) -> Self {
        self.unit = Some(unit);
        self
    }

    /// Histograms only (other types have no buckets and ignore this): bucket upper bounds,
    /// finite and strictly increasing (`+Inf` is implied; a last `+Inf` given is that
    /// bucket). Defaults to [`DEFAULT_BUCKETS`].
    pub fn buckets(mut self, bounds: impl Into<Vec<f64>>) -> Self {
        self.buckets = Some(bounds.into());
        self
    }

    /// Series a family may hold before new label sets fold into the overflow series.
    /// Defaults to the registry's limit (2000 unless changed); at most
    /// [`MAX_CARDINALITY_LIMIT`](crate::MAX_CARDINALITY_LIMIT). The limit is no part of
    /// the definition: registering the family again with another one returns the
    /// existing family, with the limit it was first given.
    pub fn cardinality_limit(mut self, limit: usize) -> Self {
        self.cardinality_limit = Some(limit.max(1));
        self
    }

    /// Histograms only: keep no exemplars. For values a trace does not explain (messages
    /// per call, say): the histogram then skips the exemplar write on every observation
    /// and the per-bucket cells, whatever the [`ExemplarFilter`](crate::ExemplarFilter).
    /// Histograms keep exemplars by default.
    pub fn without_exemplars(mut self) -> Self {
        self.exemplars = false;
        self
    }

    /// The instrument name OTLP exporters send instead of the Prometheus name, which the
    /// Prometheus exposition keeps: the semantic conventions' name
    /// (`http.server.request.duration`) of a metric exposed as
    /// `http_server_request_duration_seconds`. The unit travels apart (OTLP's `unit`), so
    /// the name has none. Must follow the OpenTelemetry instrument name syntax
    /// (`[A-Za-z][A-Za-z0-9_.\-/]*`, at most 255 characters), and be no other family's
    /// OTLP name in the same [scope](Self::otel_scope) (a
    /// [`MetricsError::OtelNameTaken`]). See [`OtelNames`].
    ///
    /// ```
    /// use obs_metrics::{OtelAttribute, Registry, Unit};
    ///
    /// static JOB_ATTRIBUTES: [OtelAttribute; 1] = [OtelAttribute::string("job_queue", "job.queue")];
    ///
    /// let registry = Registry::new();
    /// let duration = registry
    ///     .metric("jobs_run_duration_seconds", "Duration of jobs.")
    ///     .unit(Unit::Seconds)
    ///     .otel_name("jobs.run.duration")
    ///     .otel_attributes(&JOB_ATTRIBUTES)
    ///     .dyn_family::<obs_metrics::Histogram>(&["job_queue"])
    ///     .unwrap();
    /// duration.get(&[("job_queue", "reports")]).observe(0.25);
    ///
    /// let family = &registry.collect()[0];
    /// assert_eq!(family.name, "jobs_run_duration_seconds");
    /// assert_eq!(family.otel.name, Some("jobs.run.duration"));
    /// assert_eq!(family.otel.attribute("job_queue").map(|a| a.key), Some("job.queue"));
    /// ```
    pub fn otel_name(mut self, name: &'static str) -> Self {
        self.otel.name = Some(name);
        self
    }

    /// The attribute OTLP exporters send each listed label as
    /// (`OtelAttribute::string("http_request_method", "http.request.method")`); a label not
    /// listed is a string attribute keyed by its name. Keys must be non-empty and each
    /// label listed once. The list is `'static`: declare it in a `static` or `const` (see
    /// [`otel_name`](Self::otel_name)).
    pub fn otel_attributes(mut self, attributes: &'static [OtelAttribute]) -> Self {
        self.otel.attributes = attributes;
        self
    }

    /// The unit OTLP exporters send for a family whose Prometheus name carries none: the
    /// UCUM annotation the semantic conventions give a count (`{count}` for
    /// `rpc.server.requests_per_rpc`, `{request}` for `http.server.active_requests`). Must
    /// be ASCII, at most 63 characters (the API spec's unit syntax), and only for a family
    /// without a [`unit`](Self::unit). See [`OtelNames`].
    ///
    /// ```
    /// use obs_metrics::Registry;
    ///
    /// let registry = Registry::new();
    /// registry
    ///     .metric("jobs_in_flight", "Jobs running.")
    ///     .otel_name("jobs.in_flight")
    ///     .otel_unit("{job}")
    ///     .up_down_counter()
    ///     .unwrap();
    /// assert_eq!(registry.collect()[0].otel.unit, Some("{job}"));
    /// ```
    pub fn otel_unit(mut self, unit: &'static str) -> Self {
        self.otel.unit = Some(unit);
        self
    }

    /// The instrumentation scope OTLP exporters send the family under, for a library that
    /// instruments others: give it the name its spans' scope has (its crate name, the
    /// first segment of its `tracing` target), so that its spans and metrics arrive
    /// under one scope. Families without one share the exporter's default scope. See
    /// [`OtelNames`].
    ///
    /// ```
    /// use obs_metrics::Registry;
    ///
    /// let registry = Registry::new();
    /// registry
    ///     .metric("jobs_run", "Jobs run.")
    ///     .otel_scope(env!("CARGO_CRATE_NAME"))
    ///     .counter()
    ///     .unwrap();
    /// assert_eq!(registry.collect()[0].otel.scope, Some(env!("CARGO_CRATE_NAME")));
    /// ```
    pub fn otel_scope(mut self, scope: &'static str) -> Self {
        self.otel.scope = Some(scope);
        self
    }

    fn check(&self, kind: MetricKind) -> Result<ValidName, MetricsError> {
        let valid = validate_metric_name(&self.name, kind, self.unit)?;
        if self.help.trim().is_empty() {
            return Err(MetricsError::EmptyHelp { name: valid.name });
        }
        validate_otel_names(&valid.name, valid.unit, &self.otel)?;
        Ok(valid)
    }

    /// The bucket bounds of a histogram; none for other kinds, which have no use for them.
    fn bounds(&self, name: &str, kind: MetricKind) -> Result<Arc<[f64]>, MetricsError> {
        let bounds: Arc<[f64]> = match &self.buckets {
            _ if kind != MetricKind::Histogram => Arc::new([]),
            // A last `+Inf` is the bucket every histogram has, as the Go and Python clients
            // take it: accepted, and not kept twice.
            Some(b) => match b.as_slice() {
                [finite @ .., f64::INFINITY] => finite.into(),
                all => all.into(),
            },
            None => DEFAULT_BUCKETS.as_slice().into(),
        };
        if valid_bounds(&bounds) {
            Ok(bounds)
        } else {
            Err(MetricsError::InvalidBuckets {
                name: name.to_owned(),
            })
        }
    }

    fn limit(&self) -> usize {
        self.cardinality_limit.unwrap_or_else(|| {
            self.registry
                .inner
                .cardinality_limit
                .load(Ordering::Relaxed)
        })
    }

    fn single<M: Instrument>(self) -> Result<M, MetricsError> {
        let valid = self.check(M::KIND)?;
        let bounds = self.bounds(&valid.name, M::KIND)?;
        let shape = shape_of::<M>(&bounds, self.exemplars, None);
        self.registry
            .register(valid, self.help, M::KIND, shape, self.otel, |_| {
                let m = M::new_series(&bounds, self.exemplars);
                let source = Single {
                    metric: m.clone(),
                    start: unix_nanos_now(),
                };
                (m, Arc::new(source) as Arc<dyn Source>)
            })
    }

    /// Registers a `u64` counter.
    pub fn counter(self) -> Result<Counter, MetricsError> {
        self.single()
    }

    /// Registers an `f64` counter.
    pub fn counter_f64(self) -> Result<Counter<f64>, MetricsError> {
        self.single()
    }

    /// Registers an `i64` gauge.
    pub fn gauge(self) -> Result<Gauge, MetricsError> {
        self.single()
    }

    /// Registers an `f64` gauge.
    pub fn gauge_f64(self) -> Result<Gauge<f64>, MetricsError> {
        self.single()
    }

    /// Registers an `i64` up-down counter.
    pub fn up_down_counter(self) -> Result<UpDownCounter, MetricsError> {
        self.single()
    }

    /// Registers a histogram.
    pub fn histogram(self) -> Result<Histogram, MetricsError> {
        self.single()
    }

    /// Registers a gauge whose value `read` returns at each collection. A callback gauge
    /// registers once: a second registration of the name is a [`MetricsError::Conflict`].
    /// A collection at which `read` panics has no value for the gauge (reported once on
    /// stderr); the other metrics are unaffected. A `read` may collect this registry
    /// (the gauge has no value inside that collection).
    ///
    /// `read` runs on the thread that collects. The standalone listener (`serve`, feature
    /// `server`) and `obs-core`'s OTLP push collect aside from their runtime's workers, so
    /// a slow `read` delays only its own scrape or push; a
    /// [`MetricsService`](crate::MetricsService) mounted in an application's router
    /// collects on the thread serving that request.
    pub fn gauge_fn(
        self,
        read: impl Fn() -> f64 + Send + Sync + 'static,
    ) -> Result<(), MetricsError> {
        let valid = self.check(MetricKind::Gauge)?;
        // A shape no other registration has makes any second registration a conflict.
        static NEXT_CALLBACK: AtomicUsize = AtomicUsize::new(0);
        let shape = format!(
            "callback #{}",
            NEXT_CALLBACK.fetch_add(1, Ordering::Relaxed)
        );
        self.registry.register(
            valid,
            self.help,
            MetricKind::Gauge,
            shape,
            self.otel,
            |name| {
                let source = CallbackGauge {
                    name: name.to_owned(),
                    read: Arc::new(read),
                    start: unix_nanos_now(),
                };
                ((), Arc::new(source) as Arc<dyn Source>)
            },
        )
    }

    /// Registers a family with a typed label set.
    pub fn family<L: LabelSet, M: Instrument>(self) -> Result<Family<L, M>, MetricsError> {
        let valid = self.check(M::KIND)?;
        let bounds = self.bounds(&valid.name, M::KIND)?;
        let limit = self.limit();
        let shape = format!(
            "{} by {}",
            shape_of::<M>(&bounds, self.exemplars, None),
            std::any::type_name::<L>()
        );
        self.registry
            .register(valid, self.help, M::KIND, shape, self.otel, |name| {
                let family = Family::<L, M>::new(name, limit, bounds, self.exemplars);
                (family.clone(), Arc::new(family) as Arc<dyn Source>)
            })
    }

    /// Registers a family with the given label names, looked up with `&[(&str, &str)]`.
    pub fn dyn_family<M: Instrument>(
        self,
        label_names: &[&'static str],
    ) -> Result<DynFamily<M>, MetricsError> {
        let valid = self.check(M::KIND)?;
        for (i, label) in label_names.iter().enumerate() {
            validate_label_name(&valid.name, label, M::KIND)?;
            let reason = if label_names[..i].contains(label) {
                Some("declared twice")
            } else if i >= MAX_DYN_LABELS {
                Some("a dynamic family has at most 16 labels")
            } else {
                None
            };
            if let Some(reason) = reason {
                return Err(MetricsError::InvalidLabelName {
                    metric: valid.name,
                    label: (*label).to_owned(),
                    reason,
                });
            }
        }
        let bounds = self.bounds(&valid.name, M::KIND)?;
        let limit = self.limit();
        let shape = shape_of::<M>(&bounds, self.exemplars, Some(label_names));
        self.registry
            .register(valid, self.help, M::KIND, shape, self.otel, |name| {
                let family = DynFamily::<M>::new(name, label_names, limit, bounds, self.exemplars);
                (family.clone(), Arc::new(family) as Arc<dyn Source>)
            })
    }
}

/// What a registration makes besides its kind and help: the instrument, its buckets and
/// the label names of a [`DynFamily`] (`None` for other metrics: a family without labels
/// says so, as it is another handle than a plain metric's).
fn shape_of<M: Instrument>(bounds: &[f64], exemplars: bool, labels: Option<&[&str]>) -> String {
    let mut shape = std::any::type_name::<M>().to_owned();
    if M::KIND == MetricKind::Histogram {
        shape.push_str(&format!(" buckets {bounds:?}"));
        if !exemplars {
            shape.push_str(" without exemplars");
        }
    }
    if let Some(labels) = labels {
        shape.push_str(&format!(" labels {labels:?}"));
    }
    shape
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A collector's gauge family of one unlabelled point.
    fn one_gauge(name: &str, help: &str, value: PointValue, now: u64) -> MetricFamilySnapshot {
        MetricFamilySnapshot {
            name: name.to_owned(),
            help: help.to_owned(),
            unit: None,
            kind: MetricKind::Gauge,
            otel: Default::default(),
            asynchronous: true,
            points: vec![PointSnapshot {
                labels: Vec::new(),
                value,
                start_time_unix_nano: now,
                time_unix_nano: now,
                exemplars: Vec::new(),
            }],
        }
    }

    #[test]
    fn a_collector_family_named_like_a_registered_metric_is_left_out() {
        let r = Registry::new();
        r.gauge_fn("process_open_fds", "Mine.", || 3.0).unwrap();
        r.register_process_metrics();
        let text = r.encode(crate::text::Format::OpenMetrics);
        assert_eq!(
            text.matches("# TYPE process_open_fds ").count(),
            1,
            "{text}"
        );
        assert!(text.contains("# HELP process_open_fds Mine.\n"), "{text}");
        assert!(text.contains("\nprocess_open_fds 3.0\n"), "{text}");
        // Read at collection, so asynchronous: `gauge_fn` and the collector's families.
        assert!(r.collect().iter().all(|f| f.asynchronous));
        // The other process metrics are still there.
        assert!(
            text.contains("# TYPE process_cpu_seconds counter\n"),
            "{text}"
        );
    }

    /// `target_info` stays one: a metric of its name or of its OpenMetrics family's name
    /// is refused at registration, and a collector's is left out.
    #[test]
    fn no_family_takes_the_name_of_target_info() {
        #[derive(Debug)]
        struct Targets;
        impl Collector for Targets {
            fn collect(&self, now: u64, out: &mut Vec<MetricFamilySnapshot>) {
                out.push(one_gauge(
                    "target",
                    "A collector's own.",
                    PointValue::I64(1),
                    now,
                ));
            }
        }
        let r = Registry::new();
        r.set_target_info([("service.name", "checkout")]);
        let refused = r.gauge("target", "Mine.").unwrap_err().to_string();
        assert!(refused.contains("set_target_info"), "{refused}");
        assert!(r.gauge_fn("target_info", "Mine.", || 1.0).is_err());
        r.register_collector(Targets);
        assert!(r.collect().is_empty());
        let text = r.encode(crate::text::Format::OpenMetrics);
        assert_eq!(text.matches("# TYPE target").count(), 1, "{text}");
    }

    #[test]
    fn a_collector_family_no_exposition_can_show_is_left_out() {
        #[derive(Debug)]
        struct Careless;
        impl Collector for Careless {
            fn collect(&self, now: u64, out: &mut Vec<MetricFamilySnapshot>) {
                let point = |labels: &[(&str, &str)], value| PointSnapshot {
                    labels: labels
                        .iter()
                        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                        .collect(),
                    value,
                    start_time_unix_nano: now,
                    time_unix_nano: now,
                    exemplars: Vec::new(),
                };
                let family = |name: &str, kind, points| MetricFamilySnapshot {
                    name: name.to_owned(),
                    help: "Collected.".to_owned(),
                    unit: None,
                    kind,
                    otel: Default::default(),
                    asynchronous: true,
                    points,
                };
                let histogram = |bounds: &[f64], bucket_counts: Vec<u64>, count| {
                    PointValue::Histogram(crate::HistogramValue {
                        bounds: bounds.into(),
                        bucket_counts,
                        sum: 1.0,
                        count,
                        negative_count: 0,
                    })
                };
                let one = PointValue::I64(1);
                out.extend([
                    family(
                        "queue-depth",
                        MetricKind::Gauge,
                        vec![point(&[], one.clone())],
                    ),
                    // Prints `jobs_total`, a sample of the registered counter `jobs`.
                    family(
                        "jobs_total",
                        MetricKind::Gauge,
                        vec![point(&[], one.clone())],
                    ),
                    family("jobs", MetricKind::Counter, vec![]),
                    family(
                        "wait_seconds",
                        MetricKind::Histogram,
                        vec![point(&[("le", "1")], histogram(&[1.0], vec![1, 0], 1))],
                    ),
                    family(
                        "backlog",
                        MetricKind::Gauge,
                        vec![point(&[("queue", "a"), ("queue", "b")], one.clone())],
                    ),
                    family(
                        "workers",
                        MetricKind::Gauge,
                        vec![
                            point(&[("pool", "a"), ("zone", "z")], one.clone()),
                            point(&[("zone", "z"), ("pool", "a")], one.clone()),
                        ],
                    ),
                    // A label with an empty value is no label.
                    family(
                        "shards",
                        MetricKind::Gauge,
                        vec![
                            point(&[("pool", "a"), ("zone", "")], one.clone()),
                            point(&[("pool", "a")], one.clone()),
                        ],
                    ),
                    family(
                        "batch_seconds",
                        MetricKind::Histogram,
                        vec![point(&[], histogram(&[1.0, 2.0], vec![1], 1))],
                    ),
                    family(
                        "retry_seconds",
                        MetricKind::Histogram,
                        vec![point(&[], histogram(&[2.0, 1.0], vec![1, 0, 0], 1))],
                    ),
                    family(
                        "lag_seconds",
                        MetricKind::Histogram,
                        vec![point(&[], histogram(&[1.0], vec![1, 1], 5))],
                    ),
                    // Bucket counts whose sum is past u64::MAX (it wraps to the count).
                    family(
                        "wrap_seconds",
                        MetricKind::Histogram,
                        vec![point(&[], histogram(&[1.0], vec![u64::MAX, 1], 0))],
                    ),
                    family(
                        "mixed",
                        MetricKind::Gauge,
                        vec![point(&[], histogram(&[], vec![1], 1))],
                    ),
                    family(
                        "ticks",
                        MetricKind::Histogram,
                        vec![point(&[], one.clone())],
                    ),
                    // Would print `retries_total_total`.
                    family(
                        "retries_total",
                        MetricKind::Counter,
                        vec![point(&[], PointValue::U64(1))],
                    ),
                    family(
                        "debt",
                        MetricKind::Counter,
                        vec![point(&[], PointValue::I64(-5))],
                    ),
                    family(
                        "fuzz",
                        MetricKind::Counter,
                        vec![point(&[], PointValue::F64(f64::NAN))],
                    ),
                    MetricFamilySnapshot {
                        help: " ".to_owned(),
                        ..family("silent", MetricKind::Gauge, vec![point(&[], one.clone())])
                    },
                    MetricFamilySnapshot {
                        unit: Some(Unit::Bytes),
                        ..family("size", MetricKind::Gauge, vec![point(&[], one.clone())])
                    },
                    family(
                        "queue_depth",
                        MetricKind::Gauge,
                        vec![point(&[("queue", "a")], one)],
                    ),
                ]);
            }
        }
        let r = Registry::new();
        r.counter("jobs", "Jobs.").unwrap().inc();
        r.register_collector(Careless);
        let names: Vec<String> = r.collect().into_iter().map(|f| f.name).collect();
        assert_eq!(names, ["jobs", "queue_depth"]);
    }

    #[test]
    fn same_definition_returns_the_same_metric() {
        let r = Registry::new();
        let a = r.counter("jobs", "Jobs.").unwrap();
        let b = r.counter("jobs_total", "Jobs.").unwrap();
        a.inc();
        assert_eq!(b.get(), 1);
        let h1 = r.histogram("wait_seconds", "Wait.").unwrap();
        let h2 = r.histogram("wait_seconds", "Wait.").unwrap();
        h1.observe(1.0);
        assert_eq!(h2.get().count, 1);
    }

    #[test]
    fn an_up_down_counter_is_a_gauge_to_prometheus_and_its_own_kind() {
        let r = Registry::new();
        let open = r.up_down_counter("open_connections", "Open.").unwrap();
        open.add(5);
        open.add(-2);
        open.dec();
        assert_eq!(open.get(), 2);
        let same = r.up_down_counter("open_connections", "Open.").unwrap();
        assert_eq!(same.get(), 2, "the same series");
        assert!(matches!(
            r.gauge("open_connections", "Open."),
            Err(MetricsError::Conflict { .. })
        ));
        let family = &r.collect()[0];
        assert_eq!(family.kind, MetricKind::UpDownCounter);
        assert_eq!(family.points[0].value, PointValue::I64(2));
        let text = r.encode(crate::text::Format::Prometheus);
        assert!(
            text.contains("# TYPE open_connections gauge\nopen_connections 2\n"),
            "{text}"
        );
    }

    #[test]
    fn different_definition_is_a_conflict() {
        let r = Registry::new();
        r.counter("jobs", "Jobs.").unwrap();
        let conflict = |res: Result<(), MetricsError>| {
            assert!(matches!(res, Err(MetricsError::Conflict { .. })), "{res:?}");
        };
        conflict(r.counter("jobs", "Other help.").map(drop));
        conflict(r.metric("jobs", "Jobs.").counter_f64().map(drop));
        conflict(r.gauge("jobs", "Jobs.").map(drop));
        r.histogram("wait_seconds", "Wait.").unwrap();
        conflict(
            r.metric("wait_seconds", "Wait.")
                .buckets([1.0])
                .histogram()
                .map(drop),
        );
        r.gauge_fn("temperature_celsius", "T.", || 20.0).unwrap();
        conflict(r.gauge_fn("temperature_celsius", "T.", || 21.0));
        let err = r.gauge("jobs", "Jobs.").unwrap_err().to_string();
        assert!(err.contains("already registered as a counter"), "{err}");
    }

    /// A plain metric and a family without labels are one series to a scraper but two
    /// kinds of handle, so the second registration is a conflict: its message must tell
    /// the two apart, or it reads "already registered as X, cannot register it as X".
    #[test]
    fn a_conflict_with_a_family_without_labels_says_which_is_which() {
        let r = Registry::new();
        r.counter("jobs", "J.").unwrap();
        r.dyn_family::<Counter>("queued", "Q.", &[]).unwrap();
        for result in [
            r.dyn_family::<Counter>("jobs", "J.", &[]).map(drop),
            r.counter("queued", "Q.").map(drop),
        ] {
            let Err(MetricsError::Conflict {
                existing,
                requested,
                ..
            }) = result
            else {
                panic!("not a conflict: {result:?}");
            };
            assert_ne!(existing, requested);
            assert!(
                existing.contains("labels []") != requested.contains("labels []"),
                "{existing} / {requested}"
            );
        }
        // The family without labels is still found again as itself.
        r.dyn_family::<Counter>("queued", "Q.", &[]).unwrap();
    }

    /// Two families pushed under one OTLP name in one scope would reach a receiver as one
    /// metric fed by two writers, their points (of the same attribute sets) mixed: what
    /// an OpenTelemetry SDK aggregates as one instrument, or passes through apart with a
    /// warning when the two differ ("Duplicate instrument registration"), and what
    /// Prometheus' own name check refuses here. Instrument names compare ignoring case.
    #[test]
    fn a_family_is_refused_the_otlp_name_another_is_pushed_under() {
        let r = Registry::new();
        r.metric("jobs_run", "J.")
            .otel_name("jobs.run")
            .counter()
            .unwrap();
        r.counter("queue_jobs", "J.").unwrap();
        for (name, otel, scope) in [
            ("jobs_started", "jobs.run", None),
            ("jobs_started", "Jobs.Run", None),
            // No scope is the default scope, `obs-metrics`, whatever way it is said.
            ("jobs_started", "jobs.run", Some(crate::SCOPE)),
            // The Prometheus name of a family without an OpenTelemetry name is its
            // OTLP name.
            ("queued_jobs", "queue_jobs", None),
        ] {
            let mut builder = r.metric(name, "J.").otel_name(otel);
            if let Some(scope) = scope {
                builder = builder.otel_scope(scope);
            }
            let err = builder.counter().unwrap_err();
            assert!(
                matches!(&err, MetricsError::OtelNameTaken { name: n, .. } if n == name),
                "{name} as {otel} ({scope:?}): {err:?}"
            );
        }
        // Another scope is another metric; registering the same family again is fine.
        r.metric("jobs_started", "J.")
            .otel_name("jobs.run")
            .otel_scope("worker")
            .counter()
            .unwrap();
        r.metric("jobs_run", "J.")
            .otel_name("jobs.run")
            .counter()
            .unwrap();
        let err = r
            .metric("jobs_done", "J.")
            .otel_name("queue_jobs")
            .counter()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("\"jobs_done\"") && err.contains("\"queue_jobs\""),
            "{err}"
        );
        let names: Vec<_> = r.collect().into_iter().map(|f| f.name).collect();
        assert_eq!(names, ["jobs_run", "queue_jobs", "jobs_started"]);
    }

    #[test]
    fn otel_names_are_checked_kept_and_part_of_the_definition() {
        const KEYS: [OtelAttribute; 1] = [OtelAttribute::int("status_code", "rpc.status")];
        let r = Registry::new();
        let calls = || {
            r.metric("calls", "Calls.")
                .otel_name("app.calls")
                .otel_attributes(&KEYS)
        };
        calls().dyn_family::<Counter>(&["status_code"]).unwrap();
        calls().dyn_family::<Counter>(&["status_code"]).unwrap();
        let family = &r.collect()[0];
        assert_eq!(family.name, "calls");
        assert_eq!(family.otel.name, Some("app.calls"));
        assert_eq!(family.otel.attribute("status_code"), Some(&KEYS[0]));
        // Another OpenTelemetry name is another definition.
        let other = r
            .metric("calls", "Calls.")
            .otel_name("app.requests")
            .otel_attributes(&KEYS)
            .dyn_family::<Counter>(&["status_code"])
            .unwrap_err()
            .to_string();
        assert!(other.contains("app.requests"), "{other}");
        let plain = r.dyn_family::<Counter>("calls", "Calls.", &["status_code"]);
        assert!(matches!(plain, Err(MetricsError::Conflict { .. })));

        for bad in ["", "1xx", "app calls", "app.calls!", &"a".repeat(256)] {
            let name: &'static str = Box::leak(bad.to_owned().into_boxed_str());
            assert!(
                matches!(
                    r.metric("bad", "B.").otel_name(name).counter(),
                    Err(MetricsError::InvalidName { .. })
                ),
                "{bad:?}"
            );
        }
        r.metric("good", "G.")
            .otel_name("Good_name.v2-x/y")
            .counter()
            .unwrap();
        const EMPTY_KEY: [OtelAttribute; 1] = [OtelAttribute::string("a", "")];
        const TWICE: [OtelAttribute; 2] = [
            OtelAttribute::string("a", "x"),
            OtelAttribute::string("a", "y"),
        ];
        r.metric("queued", "Q.").otel_unit("{job}").gauge().unwrap();
        for (name, unit) in [
            ("waited_seconds", "s"),
            ("odd", "{é}"),
            ("long", &*"x".repeat(64)),
        ] {
            let unit: &'static str = Box::leak(unit.to_owned().into_boxed_str());
            assert!(
                matches!(
                    r.metric(name, "U.").otel_unit(unit).counter(),
                    Err(MetricsError::InvalidName { .. })
                ),
                "{name} {unit:?}"
            );
        }
        for attributes in [&EMPTY_KEY[..], &TWICE[..]] {
            assert!(matches!(
                r.metric("keyed", "K.")
                    .otel_attributes(attributes)
                    .counter(),
                Err(MetricsError::InvalidLabelName { .. })
            ));
        }
    }

    #[test]
    fn registration_rejects_bad_input_clearly() {
        let r = Registry::new();
        assert!(matches!(
            r.counter("jobs", " "),
            Err(MetricsError::EmptyHelp { .. })
        ));
        assert!(matches!(
            r.metric("wait_seconds", "W.")
                .buckets([2.0, 1.0])
                .histogram(),
            Err(MetricsError::InvalidBuckets { .. })
        ));
        assert!(matches!(
            r.dyn_family::<Counter>("jobs", "J.", &["queue", "queue"]),
            Err(MetricsError::InvalidLabelName {
                reason: "declared twice",
                ..
            })
        ));
        assert!(matches!(
            r.dyn_family::<Histogram>("wait_seconds", "W.", &["le"]),
            Err(MetricsError::InvalidLabelName { .. })
        ));
        let e = r
            .counter("requestsPerSecond", "R.")
            .unwrap_err()
            .to_string();
        assert!(e.contains("snake_case"), "{e}");
    }

    #[test]
    fn a_last_infinite_bound_is_the_implied_bucket() {
        let r = Registry::new();
        let h = r
            .metric("wait_seconds", "W.")
            .buckets([0.5, 1.0, f64::INFINITY])
            .histogram()
            .unwrap();
        h.observe(0.7);
        h.observe(5.0);
        let families = r.collect();
        let PointValue::Histogram(snapshot) = &families[0].points[0].value else {
            panic!("a histogram point");
        };
        assert_eq!(&*snapshot.bounds, &[0.5, 1.0]);
        assert_eq!(snapshot.bucket_counts, [0, 1, 1]);
        // Only the last one: an infinite bound before it is still an error.
        assert!(matches!(
            r.metric("late_seconds", "L.")
                .buckets([1.0, f64::INFINITY, f64::INFINITY])
                .histogram(),
            Err(MetricsError::InvalidBuckets { .. })
        ));
    }

    #[test]
    fn buckets_are_for_histograms_only() {
        // Not an error that calls the counter a histogram: the bounds have no use there.
        let r = Registry::new();
        let jobs = r.metric("jobs", "Jobs.").buckets([2.0, 1.0]).counter();
        assert!(jobs.is_ok(), "{jobs:?}");
        let depth = r.metric("queue_depth", "Depth.").buckets([f64::NAN]);
        assert!(depth.dyn_family::<Gauge>(&["queue"]).is_ok());
        // The same counter again, with other (ignored) buckets.
        assert!(r.metric("jobs", "Jobs.").buckets([1.0]).counter().is_ok());
    }

    #[test]
    fn collect_reads_every_kind() {
        let r = Registry::new();
        r.counter("jobs", "Jobs.").unwrap().inc_by(3);
        r.metric("load", "Load.").gauge_f64().unwrap().set(0.5);
        r.gauge_fn("answer", "The answer.", || 42.0).unwrap();
        let families = r.collect();
        let names: Vec<_> = families.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["jobs", "load", "answer"]);
        assert_eq!(families[0].points[0].value, PointValue::U64(3));
        assert_eq!(families[1].points[0].value, PointValue::F64(0.5));
        assert_eq!(families[2].points[0].value, PointValue::F64(42.0));
        let asynchronous: Vec<_> = families.iter().map(|f| f.asynchronous).collect();
        assert_eq!(
            asynchronous,
            [false, false, true],
            "only gauge_fn is observed"
        );
    }

    #[test]
    fn overflow_is_reported_as_its_own_counter() {
        let r = Registry::new();
        let f = r
            .metric("jobs", "Jobs.")
            .cardinality_limit(2)
            .dyn_family::<Counter>(&["id"])
            .unwrap();
        for id in ["a", "b", "c", "d", "c"] {
            f.get(&[("id", id)]).inc();
        }
        let families = r.collect();
        let overflow = families.last().unwrap();
        assert_eq!(
            overflow.name,
            "obs_metrics_cardinality_overflow_measurements"
        );
        assert_eq!(overflow.points[0].value, PointValue::U64(3));
        assert_eq!(overflow.points[0].labels[0].1, "jobs");
        assert!(overflow.asynchronous);
        assert!(
            !families[0].asynchronous,
            "the family itself is recorded into"
        );
    }

    #[test]
    fn a_callback_may_register_during_collection() {
        let r = Registry::new();
        let inner = r.clone();
        r.gauge_fn("registrations", "Registers while read.", move || {
            inner
                .counter("late", "Registered from a callback.")
                .map_or(0.0, |_| 1.0)
        })
        .unwrap();
        assert_eq!(r.collect()[0].points[0].value, PointValue::F64(1.0));
        assert_eq!(r.collect().len(), 2);
    }

    /// A series made while a snapshot is taken (another thread's first request on a new
    /// route, here a callback read before the family) started after the snapshot's time:
    /// its point is stamped with its start, never with a time before it, and the next
    /// snapshot has the same start.
    #[test]
    fn a_series_made_during_collection_is_stamped_no_earlier_than_its_start() {
        let r = Registry::new();
        let inner = r.clone();
        let routes = |r: &Registry| r.dyn_family::<Counter>("requests", "Requests.", &["route"]);
        r.gauge_fn("routes_made", "Makes a series while read.", move || {
            // The snapshot's time was taken before this callback: wait for the clock to
            // pass it, so the new series surely starts after it.
            let entered = crate::exemplar::unix_nanos_now();
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
            while crate::exemplar::unix_nanos_now() <= entered
                && std::time::Instant::now() < deadline
            {
                std::hint::spin_loop();
            }
            routes(&inner).map_or(0.0, |f| {
                f.get(&[("route", "/new")]).inc();
                1.0
            })
        })
        .unwrap();
        // Registered after the callback gauge, so read after it.
        routes(&r).unwrap();
        let before = r.collect();
        let snapshot_time = before[0].points[0].time_unix_nano;
        let requests = before.iter().find(|f| f.name == "requests").unwrap();
        let [made] = requests.points.as_slice() else {
            panic!("the series made during the collection is in it: {requests:?}");
        };
        assert!(made.start_time_unix_nano > snapshot_time, "{made:?}");
        assert_eq!(made.time_unix_nano, made.start_time_unix_nano);
        for family in &before {
            for p in &family.points {
                assert!(
                    p.start_time_unix_nano <= p.time_unix_nano,
                    "{}: {p:?}",
                    family.name
                );
            }
        }
        let next = r.collect();
        let requests = next.iter().find(|f| f.name == "requests").unwrap();
        let [point] = requests.points.as_slice() else {
            panic!("the series is still there: {requests:?}");
        };
        assert_eq!(point.start_time_unix_nano, made.start_time_unix_nano);
        assert!(point.start_time_unix_nano <= point.time_unix_nano);
    }

    /// A wall clock stepped back (NTP, a VM's resync) puts the snapshot's time before the
    /// start of the series made shortly before: they used to be left out of every
    /// snapshot, `/metrics` and OTLP alike, until the clock caught up again (with a step of
    /// an hour at boot, every metric registered at startup, for an hour).
    #[test]
    fn series_made_before_the_wall_clock_stepped_back_stay_in_the_snapshot() {
        let r = Registry::new();
        r.counter("jobs", "Jobs.").unwrap().inc();
        let calls = r.dyn_family::<Counter>("calls", "Calls.", &["id"]).unwrap();
        calls.get(&[("id", "a")]).inc();
        crate::exemplar::tests::CLOCK_STEPPED_BACK.set(3600 * 1_000_000_000);
        let families = r.collect();
        crate::exemplar::tests::CLOCK_STEPPED_BACK.set(0);
        for family in &families {
            let [point] = family.points.as_slice() else {
                panic!("{}: one point, not {:?}", family.name, family.points);
            };
            assert_eq!(point.value, PointValue::U64(1), "{}", family.name);
            assert!(
                point.start_time_unix_nano <= point.time_unix_nano,
                "{}: {point:?}",
                family.name
            );
        }
        assert_eq!(families.len(), 2);
    }

    #[test]
    fn a_panicking_callback_or_collector_leaves_the_other_metrics_readable() {
        #[derive(Debug)]
        struct Failing;
        impl Collector for Failing {
            fn collect(&self, _: u64, out: &mut Vec<MetricFamilySnapshot>) {
                out.push(MetricFamilySnapshot {
                    name: "half_written".to_owned(),
                    help: "Appended before the panic.".to_owned(),
                    unit: None,
                    kind: MetricKind::Gauge,
                    otel: Default::default(),
                    asynchronous: true,
                    points: Vec::new(),
                });
                panic!("a collector that fails after appending a family");
            }
        }
        let r = Registry::new();
        let calls = std::sync::atomic::AtomicU32::new(0);
        r.gauge_fn("flaky", "Fails on its second read.", move || {
            if calls.fetch_add(1, Ordering::Relaxed) == 1 {
                panic!("a callback that fails once");
            }
            1.0
        })
        .unwrap();
        r.register_collector(Failing);
        r.counter("jobs", "Jobs.").unwrap().inc();
        let read = |r: &Registry| {
            r.collect()
                .into_iter()
                .map(|f| (f.name, f.points.iter().map(|p| p.value.as_f64()).collect()))
                .collect::<Vec<(String, Vec<f64>)>>()
        };
        let flaky = |points: Vec<f64>| ("flaky".to_owned(), points);
        let jobs = ("jobs".to_owned(), vec![1.0]);
        assert_eq!(read(&r), [flaky(vec![1.0]), jobs.clone()]);
        assert_eq!(read(&r), [flaky(vec![]), jobs.clone()], "the failed read");
        assert_eq!(read(&r), [flaky(vec![1.0]), jobs], "read again next time");
    }

    /// A callback or collector that collects its own registry (to count its families,
    /// say) recursed until the stack overflowed, which aborts the whole process.
    #[test]
    fn a_callback_or_collector_that_collects_its_own_registry_is_not_read_again_inside() {
        #[derive(Debug)]
        struct Counting(Registry);
        impl Collector for Counting {
            fn collect(&self, now: u64, out: &mut Vec<MetricFamilySnapshot>) {
                let families = self.0.collect();
                out.push(one_gauge(
                    "collected_families",
                    "Families the registry had inside this collector.",
                    PointValue::F64(families.len() as f64),
                    now,
                ));
            }
        }
        let r = Registry::new();
        let inner = r.clone();
        r.gauge_fn("metric_families", "Families in this registry.", move || {
            inner.collect().len() as f64
        })
        .unwrap();
        r.register_collector(Counting(r.clone()));
        let values: Vec<(String, f64)> = r
            .collect()
            .into_iter()
            .map(|f| (f.name, f.points[0].value.as_f64()))
            .collect();
        // Inside, each reads the registry without itself (the gauge's family is there,
        // without a point; the collector's is not).
        assert_eq!(
            values,
            [
                ("metric_families".to_owned(), 2.0),
                ("collected_families".to_owned(), 1.0)
            ]
        );
    }

    #[test]
    fn global_is_one_registry() {
        let c = global()
            .counter("obs_metrics_test_global", "Test.")
            .unwrap();
        c.inc();
        assert_eq!(
            global()
                .counter("obs_metrics_test_global", "Test.")
                .unwrap()
                .get(),
            1
        );
    }
}
