//! Exemplars: the trace and span that made a measurement, captured with no code at the
//! call site from the span that is current on this thread ([`obs_trace::with_current`]).
//!
//! Each counter series and each histogram bucket keeps its latest exemplar in an
//! [`ExemplarCell`], a sequence lock over plain atomics: a writer takes the cell with one
//! compare-and-swap (and drops its exemplar if another writer holds it, which is fine for
//! a sample), readers retry until they see a stable copy. Only spans with the `sampled`
//! flag give exemplars, as the OpenTelemetry `TraceBased` exemplar filter specifies:
//! an exemplar must point at a trace that was recorded.

use std::sync::atomic::{AtomicU64, Ordering, fence};
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
}

impl ExemplarCell {
    /// Records `value` as this cell's exemplar if a sampled span is current.
    #[inline]
    pub(crate) fn capture(&self, value: f64) {
        obs_trace::with_current(|active| {
            if let Some(active) = active
                && active.span.flags.is_sampled()
            {
                self.store(active.span.trace_id, active.span.span_id, value);
            }
        });
    }

    #[inline]
    fn store(&self, trace_id: TraceId, span_id: SpanId, value: f64) {
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
        let trace = trace_id.to_u128();
        self.trace_hi.store((trace >> 64) as u64, Ordering::Relaxed);
        self.trace_lo.store(trace as u64, Ordering::Relaxed);
        self.span.store(span_id.to_u64(), Ordering::Relaxed);
        self.value.store(value.to_bits(), Ordering::Relaxed);
        self.time.store(unix_nanos_now(), Ordering::Relaxed);
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

/// Nanoseconds since the Unix epoch (0 if the clock is before it).
pub(crate) fn unix_nanos_now() -> u64 {
    unix_nanos(SystemTime::now())
}

/// `time` as nanoseconds since the Unix epoch (0 if before it).
pub(crate) fn unix_nanos(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

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
    }

    #[test]
    fn no_exemplar_without_a_current_span() {
        let cell = ExemplarCell::default();
        cell.capture(1.0);
        assert_eq!(cell.load(), None);
    }
}
