//! The instruments: [`Counter`], [`Gauge`], [`Histogram`]. Each is a cheap `Clone` handle
//! over shared atomics; an update is one atomic operation (plus the exemplar, only when a
//! span the [`ExemplarFilter`](crate::ExemplarFilter) lets in is current).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::exemplar::ExemplarCell;
use crate::number::AtomicF64;
use crate::{CounterNumber, Exemplar, GaugeNumber, HistogramValue, MetricKind, PointValue};

/// The default histogram buckets, in seconds: the explicit bucket boundaries the
/// OpenTelemetry HTTP semantic conventions recommend for `http.server.request.duration`.
pub const DEFAULT_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// Buckets `start, start*factor, start*factor^2, …` (`count` of them).
pub fn exponential_buckets(start: f64, factor: f64, count: usize) -> Vec<f64> {
    std::iter::successors(Some(start), |b| Some(b * factor))
        .take(count)
        .collect()
}

/// Buckets `start, start+width, start+2*width, …` (`count` of them).
pub fn linear_buckets(start: f64, width: f64, count: usize) -> Vec<f64> {
    (0..count).map(|i| start + width * i as f64).collect()
}

/// An instrument that can be a series of a [`Family`](crate::Family): [`Counter`],
/// [`Gauge`] or [`Histogram`]. Sealed: the registry relies on how these store state.
pub trait Instrument: Clone + fmt::Debug + Send + Sync + 'static + sealed::Sealed {
    /// The metric type.
    #[doc(hidden)]
    const KIND: MetricKind;
    /// A new series (histograms use `bounds`, and keep exemplars if `exemplars`).
    #[doc(hidden)]
    fn new_series(bounds: &Arc<[f64]>, exemplars: bool) -> Self;
    /// The current value and exemplars.
    #[doc(hidden)]
    fn read(&self, exemplars: &mut Vec<Exemplar>) -> PointValue;
    /// Whether `other` is a handle to the same state.
    #[doc(hidden)]
    fn same_as(&self, other: &Self) -> bool;
}

mod sealed {
    // The sealed-trait pattern: public so it can bound a public trait, unnameable outside.
    #[allow(unreachable_pub)]
    pub trait Sealed {}
}

// === Counter ===

/// A monotonic counter of `u64` (the default) or `f64`. Printed as `<name>_total`.
///
/// `inc` inside a sampled span records that span as the series' exemplar (which spans do
/// is the process-wide [`ExemplarFilter`](crate::ExemplarFilter)).
pub struct Counter<N: CounterNumber = u64> {
    core: Arc<CounterCore<N>>,
}

// Own cache lines, so updates do not slow readers of neighbouring allocations.
#[derive(Debug)]
#[repr(align(128))]
struct CounterCore<N: CounterNumber> {
    value: N::Atomic,
    exemplar: ExemplarCell,
}

impl<N: CounterNumber> Counter<N> {
    /// A counter at zero, not registered anywhere (see [`Registry::counter`](crate::Registry::counter)).
    pub fn new() -> Self {
        Counter {
            core: Arc::new(CounterCore {
                value: N::Atomic::default(),
                exemplar: ExemplarCell::default(),
            }),
        }
    }

    /// Adds one.
    #[inline]
    pub fn inc(&self) {
        self.inc_by(N::ONE);
    }

    /// Adds `v`. For `f64`, negative, NaN and infinite values are ignored: a counter only
    /// goes up. A `u64` counter wraps past `u64::MAX` (as prometheus-client's and the
    /// OpenTelemetry SDK's do: one atomic add, no check), which Prometheus and the OTLP
    /// delta conversion read as a reset.
    #[inline]
    pub fn inc_by(&self, v: N) {
        if N::add(&self.core.value, v) {
            self.core.exemplar.capture(v.to_f64());
        }
    }

    /// The current value.
    pub fn get(&self) -> N {
        N::load(&self.core.value)
    }
}

impl<N: CounterNumber> Default for Counter<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<N: CounterNumber> Clone for Counter<N> {
    fn clone(&self) -> Self {
        Counter {
            core: Arc::clone(&self.core),
        }
    }
}

impl<N: CounterNumber> fmt::Debug for Counter<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Counter")
            .field("value", &self.get())
            .finish()
    }
}

impl<N: CounterNumber> sealed::Sealed for Counter<N> {}

impl<N: CounterNumber> Instrument for Counter<N> {
    const KIND: MetricKind = MetricKind::Counter;

    fn new_series(_: &Arc<[f64]>, _: bool) -> Self {
        Self::new()
    }

    fn read(&self, exemplars: &mut Vec<Exemplar>) -> PointValue {
        exemplars.extend(self.core.exemplar.load());
        self.get().to_point()
    }

    fn same_as(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.core, &other.core)
    }
}

// === Gauge ===

/// A value that goes up and down: `i64` (the default) or `f64`. For a count of things
/// that come and go (requests in flight, open connections), an [`UpDownCounter`] says so
/// to OTLP backends.
pub struct Gauge<N: GaugeNumber = i64> {
    value: Arc<N::Atomic>,
}

impl<N: GaugeNumber> Gauge<N> {
    /// A gauge at zero, not registered anywhere (see [`Registry::gauge`](crate::Registry::gauge)).
    pub fn new() -> Self {
        Gauge {
            value: Arc::new(N::Atomic::default()),
        }
    }

    /// Adds one.
    #[inline]
    pub fn inc(&self) {
        N::add(&self.value, N::ONE);
    }

    /// Subtracts one.
    #[inline]
    pub fn dec(&self) {
        N::sub(&self.value, N::ONE);
    }

    /// Adds `v`.
    #[inline]
    pub fn add(&self, v: N) {
        N::add(&self.value, v);
    }

    /// Subtracts `v`.
    #[inline]
    pub fn sub(&self, v: N) {
        N::sub(&self.value, v);
    }

    /// Sets the value.
    #[inline]
    pub fn set(&self, v: N) {
        N::set(&self.value, v);
    }

    /// The current value.
    pub fn get(&self) -> N {
        N::load(&self.value)
    }
}

impl<N: GaugeNumber> Default for Gauge<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<N: GaugeNumber> Clone for Gauge<N> {
    fn clone(&self) -> Self {
        Gauge {
            value: Arc::clone(&self.value),
        }
    }
}

impl<N: GaugeNumber> fmt::Debug for Gauge<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gauge").field("value", &self.get()).finish()
    }
}

impl<N: GaugeNumber> sealed::Sealed for Gauge<N> {}

impl<N: GaugeNumber> Instrument for Gauge<N> {
    const KIND: MetricKind = MetricKind::Gauge;

    fn new_series(_: &Arc<[f64]>, _: bool) -> Self {
        Self::new()
    }

    fn read(&self, _: &mut Vec<Exemplar>) -> PointValue {
        self.get().to_point()
    }

    fn same_as(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.value, &other.value)
    }
}

// === UpDownCounter ===

/// A sum that goes up and down: OpenTelemetry's UpDownCounter (`http.server.active_requests`,
/// open connections, queue lengths counted as items come and go). Prometheus sees a gauge;
/// OTLP receives a non-monotonic cumulative `Sum`, which a backend may add up across
/// series, as it can't a `Gauge`. Only added to, as the OpenTelemetry API's UpDownCounter.
pub struct UpDownCounter<N: GaugeNumber = i64>(Gauge<N>);

impl<N: GaugeNumber> UpDownCounter<N> {
    /// An up-down counter at zero, not registered anywhere (see
    /// [`Registry::up_down_counter`](crate::Registry::up_down_counter)).
    pub fn new() -> Self {
        UpDownCounter(Gauge::new())
    }

    /// Adds one.
    #[inline]
    pub fn inc(&self) {
        self.0.inc();
    }

    /// Subtracts one.
    #[inline]
    pub fn dec(&self) {
        self.0.dec();
    }

    /// Adds `v`, which may be negative.
    #[inline]
    pub fn add(&self, v: N) {
        self.0.add(v);
    }

    /// The current value.
    pub fn get(&self) -> N {
        self.0.get()
    }
}

impl<N: GaugeNumber> Default for UpDownCounter<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<N: GaugeNumber> Clone for UpDownCounter<N> {
    fn clone(&self) -> Self {
        UpDownCounter(self.0.clone())
    }
}

impl<N: GaugeNumber> fmt::Debug for UpDownCounter<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpDownCounter")
            .field("value", &self.get())
            .finish()
    }
}

impl<N: GaugeNumber> sealed::Sealed for UpDownCounter<N> {}

impl<N: GaugeNumber> Instrument for UpDownCounter<N> {
    const KIND: MetricKind = MetricKind::UpDownCounter;

    fn new_series(bounds: &Arc<[f64]>, exemplars: bool) -> Self {
        UpDownCounter(Gauge::new_series(bounds, exemplars))
    }

    fn read(&self, exemplars: &mut Vec<Exemplar>) -> PointValue {
        self.0.read(exemplars)
    }

    fn same_as(&self, other: &Self) -> bool {
        self.0.same_as(&other.0)
    }
}

// === Histogram ===

/// A histogram with explicit buckets (default [`DEFAULT_BUCKETS`], in seconds).
///
/// Each bucket keeps the exemplar of its latest observation made inside a sampled span (which
/// spans do is the process-wide [`ExemplarFilter`](crate::ExemplarFilter)), unless registered
/// with [`MetricBuilder::without_exemplars`](crate::MetricBuilder::without_exemplars).
#[derive(Clone)]
pub struct Histogram {
    core: Arc<HistogramCore>,
}

#[repr(align(128))]
struct HistogramCore {
    bounds: Arc<[f64]>,
    // Non-cumulative; one more than `bounds` for values above the last bound.
    counts: Box<[AtomicU64]>,
    sum: AtomicF64,
    // Written only by the rare negative observation: the common path just compares.
    negative_count: AtomicU64,
    // One per bucket, or none for a histogram that keeps no exemplars.
    exemplars: Box<[ExemplarCell]>,
}

impl Histogram {
    /// A histogram with the given bounds, not registered anywhere. Bounds must be finite and
    /// strictly increasing; [`Registry`](crate::Registry) checks that at registration.
    pub fn new(bounds: impl Into<Arc<[f64]>>) -> Self {
        Histogram::with_exemplars(bounds.into(), true)
    }

    /// A histogram with the given bounds, keeping exemplars or not.
    pub(crate) fn with_exemplars(bounds: Arc<[f64]>, exemplars: bool) -> Self {
        let n = bounds.len() + 1;
        let cells = if exemplars { n } else { 0 };
        Histogram {
            core: Arc::new(HistogramCore {
                counts: (0..n).map(|_| AtomicU64::new(0)).collect(),
                exemplars: (0..cells).map(|_| ExemplarCell::default()).collect(),
                sum: AtomicF64::default(),
                negative_count: AtomicU64::new(0),
                bounds,
            }),
        }
    }

    /// Records `value`. NaN is ignored.
    #[inline]
    pub fn observe(&self, value: f64) {
        if value.is_nan() {
            return;
        }
        let core = &*self.core;
        let index = HistogramValue::bucket_index(&core.bounds, value);
        let Some(count) = core.counts.get(index) else {
            return;
        };
        count.fetch_add(1, Ordering::Relaxed);
        if value < 0.0 {
            core.negative_count.fetch_add(1, Ordering::Relaxed);
        }
        core.sum.add_f64(value);
        if let Some(exemplar) = core.exemplars.get(index) {
            exemplar.capture(value);
        }
    }

    /// Records a duration in seconds.
    #[inline]
    pub fn observe_duration(&self, duration: std::time::Duration) {
        self.observe(duration.as_secs_f64());
    }

    /// The current state.
    pub fn get(&self) -> HistogramValue {
        let bucket_counts: Vec<u64> = self
            .core
            .counts
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect();
        HistogramValue {
            bounds: Arc::clone(&self.core.bounds),
            count: bucket_counts.iter().sum(),
            bucket_counts,
            sum: self.core.sum.get_f64(),
            negative_count: self.core.negative_count.load(Ordering::Relaxed),
        }
    }
}

impl fmt::Debug for Histogram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let value = self.get();
        f.debug_struct("Histogram")
            .field("bounds", &value.bounds)
            .field("count", &value.count)
            .field("sum", &value.sum)
            .finish()
    }
}

impl sealed::Sealed for Histogram {}

impl Instrument for Histogram {
    const KIND: MetricKind = MetricKind::Histogram;

    fn new_series(bounds: &Arc<[f64]>, exemplars: bool) -> Self {
        Histogram::with_exemplars(Arc::clone(bounds), exemplars)
    }

    fn read(&self, exemplars: &mut Vec<Exemplar>) -> PointValue {
        exemplars.extend(self.core.exemplars.iter().filter_map(ExemplarCell::load));
        PointValue::Histogram(self.get())
    }

    fn same_as(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.core, &other.core)
    }
}

/// Whether `bounds` are finite and strictly increasing.
pub(crate) fn valid_bounds(bounds: &[f64]) -> bool {
    bounds.iter().all(|b| b.is_finite()) && bounds.windows(2).all(|w| w[0] < w[1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_count_and_ignore_bad_float_increments() {
        let c = Counter::<u64>::new();
        c.inc();
        c.inc_by(4);
        assert_eq!(c.get(), 5);
        let f = Counter::<f64>::new();
        f.inc_by(1.5);
        f.inc_by(-1.0);
        f.inc_by(f64::NAN);
        f.inc_by(f64::INFINITY);
        assert_eq!(f.get(), 1.5);
        let clone = c.clone();
        clone.inc();
        assert_eq!(c.get(), 6);
    }

    #[test]
    fn gauges_go_both_ways() {
        let g = Gauge::<i64>::new();
        g.inc();
        g.inc();
        g.dec();
        g.add(10);
        g.sub(3);
        assert_eq!(g.get(), 8);
        g.set(-2);
        assert_eq!(g.get(), -2);
        let f = Gauge::<f64>::new();
        f.set(0.5);
        f.add(0.25);
        f.sub(1.0);
        assert_eq!(f.get(), -0.25);
    }

    #[test]
    fn histogram_buckets_by_less_or_equal() {
        let h = Histogram::new(vec![0.1, 1.0]);
        for v in [0.05, 0.1, 0.5, 1.0, 3.0, f64::NAN] {
            h.observe(v);
        }
        let v = h.get();
        assert_eq!(v.bucket_counts, vec![2, 2, 1]);
        assert_eq!(v.count, 5);
        assert!((v.sum - 4.65).abs() < 1e-9);
        assert_eq!(&*v.bounds, &[0.1, 1.0]);
    }

    #[test]
    fn a_negative_observation_leaves_the_sum_no_counter_even_once_back_above_zero() {
        let h = Histogram::new(vec![1.0]);
        h.observe(2.0);
        assert_eq!(h.get().counter_like_sum(), Some(2.0));
        h.observe(-1.0);
        h.observe(5.0);
        let v = h.get();
        assert_eq!((v.sum, v.negative_count), (6.0, 1));
        assert_eq!(v.counter_like_sum(), None, "it went down from 2 to 1 once");
        h.observe(-0.0);
        assert_eq!(h.get().negative_count, 1, "-0 is not below zero");
    }

    #[test]
    fn bucket_helpers_and_validation() {
        assert_eq!(exponential_buckets(1.0, 2.0, 4), vec![1.0, 2.0, 4.0, 8.0]);
        assert_eq!(linear_buckets(0.0, 0.5, 3), vec![0.0, 0.5, 1.0]);
        assert!(valid_bounds(&DEFAULT_BUCKETS));
        assert!(valid_bounds(&[]));
        assert!(!valid_bounds(&[1.0, 1.0]));
        assert!(!valid_bounds(&[1.0, f64::INFINITY]));
    }
}

#[cfg(test)]
mod exemplar_tests {
    use super::*;
    use obs_trace::{Sampler, SpanExt, SpanLayer};
    use tracing_subscriber::prelude::*;

    fn with_spans(sampler: Sampler, f: impl FnOnce()) {
        let subscriber =
            tracing_subscriber::registry().with(SpanLayer::new().with_sampler(sampler));
        tracing::subscriber::with_default(subscriber, f);
    }

    #[test]
    fn measurements_in_a_sampled_span_carry_its_ids() {
        let counter = Counter::<u64>::new();
        let histogram = Histogram::new(vec![1.0]);
        with_spans(Sampler::AlwaysOn, || {
            let span = tracing::info_span!("work");
            let _entered = span.enter();
            let ctx = span.span_context().unwrap();
            counter.inc_by(2);
            histogram.observe(3.0);
            let mut exemplars = Vec::new();
            counter.read(&mut exemplars);
            histogram.read(&mut exemplars);
            assert_eq!(exemplars.len(), 2);
            for e in &exemplars {
                assert_eq!((e.trace_id, e.span_id), (ctx.trace_id, ctx.span_id));
            }
            assert_eq!((exemplars[0].value, exemplars[1].value), (2.0, 3.0));
        });
    }

    #[test]
    fn histograms_registered_without_exemplars_count_but_keep_none() {
        let registry = crate::Registry::new();
        let with = registry.metric("with_seconds", "h").histogram().unwrap();
        let without = registry
            .metric("without_seconds", "h")
            .without_exemplars()
            .histogram()
            .unwrap();
        let family = registry
            .metric("without_family_seconds", "h")
            .without_exemplars()
            .dyn_family::<Histogram>(&["a"])
            .unwrap();
        with_spans(Sampler::AlwaysOn, || {
            tracing::info_span!("work").in_scope(|| {
                with.observe(0.2);
                without.observe(0.2);
                family.get(&[("a", "x")]).observe(0.2);
            });
        });
        let text = registry.encode(crate::text::Format::OpenMetrics);
        let exemplar_lines = |name: &str| {
            text.lines()
                .filter(|l| l.starts_with(&format!("{name}_bucket")) && l.contains(" # {"))
                .count()
        };
        assert_eq!(exemplar_lines("with_seconds"), 1, "{text}");
        assert_eq!(exemplar_lines("without_seconds"), 0, "{text}");
        assert_eq!(exemplar_lines("without_family_seconds"), 0, "{text}");
        for h in [&without, family.get(&[("a", "x")])] {
            let v = h.get();
            assert_eq!((v.count, v.sum), (1, 0.2));
        }
        // The same name with exemplars is another metric: a conflict, not a silent merge.
        let again = registry.metric("without_seconds", "h").histogram();
        assert!(
            matches!(again, Err(crate::MetricsError::Conflict { .. })),
            "{again:?}"
        );
    }

    /// OTLP `Exemplar.time_unix_nano` is "the exact time when this exemplar was recorded"
    /// (metrics.proto), and an OpenMetrics exemplar's timestamp the measurement's: not the
    /// time of the collection that first sees it.
    #[test]
    fn exemplars_carry_the_time_of_their_measurement_not_of_the_collection() {
        use crate::exemplar::unix_nanos_now;
        // The counter-based clock exemplars read follows the system clock to within
        // microseconds; the clock is moved on by far more than that before collecting.
        const SLACK: u64 = 2_000_000;
        const SEPARATION: u64 = 50_000_000;
        let registry = crate::Registry::new();
        let counter = registry.counter("jobs", "Jobs.").unwrap();
        let histogram = registry
            .metric("wait_seconds", "Wait.")
            .histogram()
            .unwrap();
        let (mut before, mut after) = (0, 0);
        with_spans(Sampler::AlwaysOn, || {
            tracing::info_span!("work").in_scope(|| {
                before = unix_nanos_now();
                counter.inc();
                histogram.observe(0.2);
                after = unix_nanos_now();
            });
        });
        // Until the wall clock has moved on (bounded, should it stand still).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while unix_nanos_now() < after + SEPARATION && std::time::Instant::now() < deadline {
            std::hint::spin_loop();
        }
        let collecting = unix_nanos_now();
        assert!(collecting >= after + SEPARATION, "the clock stood still");

        let families = registry.collect();
        let exemplars: Vec<Exemplar> = families
            .iter()
            .flat_map(|f| f.points[0].exemplars.iter().copied())
            .collect();
        assert_eq!(exemplars.len(), 2, "{families:?}");
        for e in &exemplars {
            assert!(
                e.time_unix_nano + SLACK >= before && e.time_unix_nano <= after + SLACK,
                "{e:?}: recorded within [{before}, {after}], collected at {collecting}"
            );
        }
        // What `/metrics` writes in OpenMetrics: the same times, on later scrapes too.
        let expected: Vec<String> = exemplars
            .iter()
            .map(|e| {
                let t = e.time_unix_nano;
                format!("{}.{:09}", t / 1_000_000_000, t % 1_000_000_000)
            })
            .collect();
        for _ in 0..2 {
            let text = registry.encode(crate::text::Format::OpenMetrics);
            let written: Vec<&str> = text
                .lines()
                .filter(|l| l.contains(" # {"))
                .filter_map(|l| l.rsplit(' ').next())
                .collect();
            assert_eq!(written, expected, "{text}");
        }
    }

    #[test]
    fn unsampled_spans_and_no_span_give_no_exemplar() {
        let counter = Counter::<u64>::new();
        counter.inc();
        with_spans(Sampler::AlwaysOff, || {
            tracing::info_span!("work").in_scope(|| counter.inc());
        });
        let mut exemplars = Vec::new();
        counter.read(&mut exemplars);
        assert!(exemplars.is_empty());
        assert_eq!(counter.get(), 2);
    }
}
