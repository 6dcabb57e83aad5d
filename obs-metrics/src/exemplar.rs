//! Exemplars: the trace and span that made a measurement, captured with no code at the
//! call site from the span that is current on this thread ([`obs_trace::with_current`]).
//!
//! Each counter series and each histogram bucket keeps its latest exemplar in an
//! [`ExemplarCell`], a sequence lock over plain atomics: a writer takes the cell with one
//! compare-and-swap (and drops its exemplar if another writer holds it, which is fine for
//! a sample), readers retry until they see a stable copy. Which measurements are offered
//! to the cell is the process-wide [`ExemplarFilter`]: by default only those made inside
//! a span with the `sampled` flag (`TraceBased`), so an exemplar points at a trace that
//! was recorded.
//!
//! An exemplar's time is its measurement's: OTLP's `Exemplar.time_unix_nano` is "the exact
//! time when this exemplar was recorded" (opentelemetry-proto, metrics.proto), and an
//! OpenMetrics exemplar's timestamp is the measurement's too. Two choices keep capture
//! cheap. A cell that already holds the current span keeps it (a loop inside one span
//! writes once, and reads no clock). And the writer that takes the cell reads the clock of
//! the span timestamps ([`obs_trace::unix_nanos_now`], the time-stamp counter anchored to
//! the system clock, one anchor for all threads so that their exemplars keep their order),
//! not `SystemTime::now`, which can cost more than the whole update on a virtual machine. The time stays the same on later collections, which is what lets
//! Prometheus recognise the exemplar as already stored.

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering, fence};
use std::time::{SystemTime, UNIX_EPOCH};

use obs_trace::{SpanId, TraceId};

/// A measurement linked to the span that made it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Exemplar {
    /// The trace of the span that was current.
    pub trace_id: TraceId,
    /// The span that was current.
    pub span_id: SpanId,
    /// The measured value (for counters: the increment).
    pub value: f64,
    /// When the measurement was made, in nanoseconds since the Unix epoch.
    pub time_unix_nano: u64,
}

/// Which measurements may become exemplars: the OpenTelemetry Metrics SDK's ExemplarFilter
/// (<https://opentelemetry.io/docs/specs/otel/metrics/sdk/#exemplarfilter>), set from
/// `OTEL_METRICS_EXEMPLAR_FILTER`
/// (<https://opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables/#exemplar>)
/// by `obs_core::init`, or by [`set_exemplar_filter`].
///
/// It applies to every counter and histogram of the process; a histogram registered with
/// [`MetricBuilder::without_exemplars`](crate::MetricBuilder::without_exemplars) keeps none
/// whatever the filter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ExemplarFilter {
    /// Every measurement made while a span is current is eligible (`always_on`), in a
    /// sampled or an unsampled trace. The exemplar carries the current span context's ids:
    /// inside an unsampled trace most spans get no ids of their own
    /// ([`obs_trace::UnsampledSpans`]), and those of the nearest span around that has some
    /// are used, as in log lines.
    ///
    /// A measurement made outside any span gets no exemplar, unlike the spec's AlwaysOn:
    /// such an exemplar would carry a value and no trace context, which links to nothing in
    /// Prometheus or OpenMetrics (where an exemplar is its `trace_id` and `span_id` labels),
    /// and each series or bucket keeps one exemplar, so it would also evict one that does.
    AlwaysOn = 0,
    /// No measurement is eligible (`always_off`): no exemplars anywhere, and measurements
    /// skip the exemplar store.
    AlwaysOff = 1,
    /// Measurements made inside a sampled span are eligible (`trace_based`): an exemplar
    /// then always points at a trace that was recorded. The spec's default.
    #[default]
    TraceBased = 2,
}

/// The process-wide filter, as an [`ExemplarFilter`] discriminant. Relaxed loads are
/// enough: a measurement racing with a change may follow either filter.
static FILTER: AtomicU8 = AtomicU8::new(ExemplarFilter::TraceBased as u8);

/// Sets the process-wide [`ExemplarFilter`] for every counter and histogram, those already
/// created included. `obs_core::init` calls it with `OTEL_METRICS_EXEMPLAR_FILTER` (or the
/// builder's `exemplar_filter`). Exemplars already stored stay until replaced.
pub fn set_exemplar_filter(filter: ExemplarFilter) {
    FILTER.store(filter as u8, Ordering::Relaxed);
}

/// The process-wide [`ExemplarFilter`] in effect (see [`set_exemplar_filter`]).
#[inline]
pub fn exemplar_filter() -> ExemplarFilter {
    match FILTER.load(Ordering::Relaxed) {
        0 => ExemplarFilter::AlwaysOn,
        1 => ExemplarFilter::AlwaysOff,
        _ => ExemplarFilter::TraceBased,
    }
}

/// The latest exemplar of one series or bucket. `seq` is even when stable, odd while a
/// writer is storing, and zero until the first exemplar.
#[derive(Debug, Default)]
pub(crate) struct ExemplarCell {
    seq: AtomicU64,
    trace_hi: AtomicU64,
    trace_lo: AtomicU64,
    span: AtomicU64,
    value: AtomicU64,
    time: AtomicU64,
    /// The span whose further measurements are skipped (its exemplar is stored already),
    /// or 0: cleared by each collection, so a span current across collections gives each
    /// one its latest measurement (a delta export keeps only exemplars newer than the
    /// previous one) without a store per measurement in between.
    kept_span: AtomicU64,
}

impl ExemplarCell {
    /// Records `value` as this cell's exemplar if the [`ExemplarFilter`] lets the current
    /// span's measurements in.
    #[inline]
    pub(crate) fn capture(&self, value: f64) {
        obs_trace::with_current(|active| {
            // No span, no ids to attach whatever the filter: the filter is read only once
            // a span is current, so the common no-span path costs what it did without one.
            let Some(active) = active else { return };
            let span = &active.span;
            let eligible = match exemplar_filter() {
                ExemplarFilter::TraceBased => span.is_sampled(),
                // A span that only carries baggage has no ids.
                ExemplarFilter::AlwaysOn => span.is_valid(),
                ExemplarFilter::AlwaysOff => false,
            };
            if eligible {
                self.store(span.trace_id, span.span_id, value);
            }
        });
    }

    #[inline]
    fn store(&self, trace_id: TraceId, span_id: SpanId, value: f64) {
        if self.kept_span.load(Ordering::Relaxed) == span_id.to_u64() {
            // Already this span's exemplar since the latest collection: keep it.
            return;
        }
        let seq = self.seq.load(Ordering::Relaxed);
        if seq & 1 == 1
            || self
                .seq
                .compare_exchange(seq, seq + 1, Ordering::Acquire, Ordering::Relaxed)
                .is_err()
        {
            // Another thread is writing this cell: its exemplar is as good as ours.
            return;
        }
        // Orders the odd `seq` before the stores below, for the reader's acquire fence to
        // pair with: the CAS's acquire does not keep them from becoming visible first (on
        // ARM they can), and a reader would then take a half-written exemplar for whole
        // (Boehm, "Can Seqlocks Get Along With Programming Language Memory Models?";
        // crossbeam's `SeqLock::write` does the same). Free on x86.
        fence(Ordering::Release);
        // Read only by the writer that took the cell: the others keep the exemplar there.
        let time = obs_trace::unix_nanos_now();
        let trace = trace_id.to_u128();
        self.trace_hi.store((trace >> 64) as u64, Ordering::Relaxed);
        self.trace_lo.store(trace as u64, Ordering::Relaxed);
        self.span.store(span_id.to_u64(), Ordering::Relaxed);
        self.value.store(value.to_bits(), Ordering::Relaxed);
        self.time.store(time, Ordering::Relaxed);
        self.kept_span.store(span_id.to_u64(), Ordering::Relaxed);
        self.seq.store(seq + 2, Ordering::Release);
    }

    /// A consistent copy of the latest exemplar, if there is one.
    pub(crate) fn load(&self) -> Option<Exemplar> {
        // A writer holds the cell for a few stores; a bounded retry is plenty, and giving
        // up only means this scrape shows no exemplar.
        for _ in 0..64 {
            let before = self.seq.load(Ordering::Acquire);
            if before == 0 {
                return None;
            }
            if before & 1 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let hi = self.trace_hi.load(Ordering::Relaxed);
            let lo = self.trace_lo.load(Ordering::Relaxed);
            let span = self.span.load(Ordering::Relaxed);
            let value = self.value.load(Ordering::Relaxed);
            let time = self.time.load(Ordering::Relaxed);
            fence(Ordering::Acquire);
            if self.seq.load(Ordering::Relaxed) == before {
                // Collected: the span's next measurement is stored anew (a race with a
                // store at most skips or refreshes one).
                self.kept_span.store(0, Ordering::Relaxed);
                return Some(Exemplar {
                    trace_id: TraceId::from_u128((u128::from(hi) << 64) | u128::from(lo)),
                    span_id: SpanId::from_u64(span),
                    value: f64::from_bits(value),
                    time_unix_nano: time,
                });
            }
        }
        None
    }
}

/// Nanoseconds since the Unix epoch (0 if the clock is before it), from the system clock:
/// for collections and series starts, which are rare (exemplars read the span layer's clock).
pub(crate) fn unix_nanos_now() -> u64 {
    let now = unix_nanos(SystemTime::now());
    #[cfg(test)]
    let now = now.saturating_sub(tests::CLOCK_STEPPED_BACK.with(std::cell::Cell::get));
    now
}

/// `time` as nanoseconds since the Unix epoch (0 if before it).
pub(crate) fn unix_nanos(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    thread_local! {
        /// Nanoseconds this thread's `unix_nanos_now` is behind the system clock: a wall
        /// clock stepped back (by NTP, at a VM's resync), which tests can't do to the
        /// real one.
        pub(crate) static CLOCK_STEPPED_BACK: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    }

    #[test]
    fn empty_until_stored_then_round_trips() {
        let cell = ExemplarCell::default();
        assert_eq!(cell.load(), None);
        let trace_id = TraceId::from_u128(0x0af7651916cd43dd8448eb211c80319c);
        let span_id = SpanId::from_u64(0xb7ad6b7169203331);
        cell.store(trace_id, span_id, 0.25);
        let e = cell.load().unwrap();
        assert_eq!((e.trace_id, e.span_id, e.value), (trace_id, span_id, 0.25));
        assert!(e.time_unix_nano > 0);
        // Later collections see the same time.
        assert_eq!(cell.load().unwrap().time_unix_nano, e.time_unix_nano);
        // Another span replaces it, with its own measurement's time.
        let other = SpanId::from_u64(7);
        cell.store(trace_id, other, 1.5);
        let replaced = cell.load().unwrap();
        assert_eq!((replaced.span_id, replaced.value), (other, 1.5));
        assert!(replaced.time_unix_nano >= e.time_unix_nano);
    }

    /// A span current across collections (a batch job, a long stream) keeps measuring:
    /// each collection gets its latest measurement, with its time, or a delta export (which
    /// keeps only exemplars newer than the previous export) would send none for it again.
    #[test]
    fn a_span_current_across_collections_gives_each_collection_a_new_exemplar() {
        let cell = ExemplarCell::default();
        let trace_id = TraceId::from_u128(0x0af7651916cd43dd8448eb211c80319c);
        let span_id = SpanId::from_u64(0xb7ad6b7169203331);
        cell.store(trace_id, span_id, 0.25);
        // Until a collection, the same span keeps its first measurement and its time.
        cell.store(trace_id, span_id, 2.0);
        let first = cell.load().unwrap();
        assert_eq!(first.value, 0.25);
        cell.store(trace_id, span_id, 9.0);
        cell.store(trace_id, span_id, 3.0);
        let second = cell.load().unwrap();
        assert_eq!((second.span_id, second.value), (span_id, 9.0));
        assert!(second.time_unix_nano >= first.time_unix_nano);
    }

    #[test]
    fn no_exemplar_without_a_current_span() {
        let cell = ExemplarCell::default();
        cell.capture(1.0);
        assert_eq!(cell.load(), None);
    }
}
