//! The number types counters and gauges hold: `u64`/`f64` counters, `i64`/`f64` gauges.

use std::fmt::Debug;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use crate::PointValue;

mod sealed {
    // The sealed-trait pattern: public so it can bound public traits, unnameable outside.
    #[allow(unreachable_pub)]
    pub trait Sealed {}
    impl Sealed for u64 {}
    impl Sealed for i64 {}
    impl Sealed for f64 {}
}

/// A number a [`Counter`](crate::Counter) can hold: `u64` or `f64`.
pub trait CounterNumber: sealed::Sealed + Copy + Debug + Send + Sync + 'static {
    /// The atomic cell.
    #[doc(hidden)]
    type Atomic: Default + Debug + Send + Sync;
    /// One.
    #[doc(hidden)]
    const ONE: Self;
    /// Adds `v`; returns false (and adds nothing) when `v` would break monotonicity.
    #[doc(hidden)]
    fn add(atomic: &Self::Atomic, v: Self) -> bool;
    /// The current value.
    #[doc(hidden)]
    fn load(atomic: &Self::Atomic) -> Self;
    /// As `f64`, for exemplars.
    #[doc(hidden)]
    fn to_f64(self) -> f64;
    /// As a snapshot value.
    #[doc(hidden)]
    fn to_point(self) -> PointValue;
}

/// A number a [`Gauge`](crate::Gauge) can hold: `i64` or `f64`.
pub trait GaugeNumber: sealed::Sealed + Copy + Debug + Send + Sync + 'static {
    /// The atomic cell.
    #[doc(hidden)]
    type Atomic: Default + Debug + Send + Sync;
    /// One.
    #[doc(hidden)]
    const ONE: Self;
    /// Adds `v` (which may be negative).
    #[doc(hidden)]
    fn add(atomic: &Self::Atomic, v: Self);
    /// Subtracts `v`.
    #[doc(hidden)]
    fn sub(atomic: &Self::Atomic, v: Self);
    /// Sets the value.
    #[doc(hidden)]
    fn set(atomic: &Self::Atomic, v: Self);
    /// The current value.
    #[doc(hidden)]
    fn load(atomic: &Self::Atomic) -> Self;
    /// As a snapshot value.
    #[doc(hidden)]
    fn to_point(self) -> PointValue;
}

/// An `f64` in an `AtomicU64`, for float counters and gauges.
#[derive(Debug, Default)]
pub struct AtomicF64(AtomicU64);

impl AtomicF64 {
    /// Adds `v` with a compare-and-swap loop.
    #[inline]
    pub(crate) fn add_f64(&self, v: f64) {
        let mut current = self.0.load(Ordering::Relaxed);
        loop {
            let next = (f64::from_bits(current) + v).to_bits();
            match self
                .0
                .compare_exchange_weak(current, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(actual) => current = actual,
            }
        }
    }

    /// The current value.
    #[inline]
    pub(crate) fn get_f64(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }

    #[inline]
    fn store(&self, v: f64) {
        self.0.store(v.to_bits(), Ordering::Relaxed);
    }
}

impl CounterNumber for u64 {
    type Atomic = AtomicU64;
    const ONE: Self = 1;
    #[inline]
    fn add(atomic: &AtomicU64, v: u64) -> bool {
        atomic.fetch_add(v, Ordering::Relaxed);
        true
    }
    #[inline]
    fn load(atomic: &AtomicU64) -> u64 {
        atomic.load(Ordering::Relaxed)
    }
    #[inline]
    fn to_f64(self) -> f64 {
        self as f64
    }
    fn to_point(self) -> PointValue {
        PointValue::U64(self)
    }
}

impl CounterNumber for f64 {
    type Atomic = AtomicF64;
    const ONE: Self = 1.0;
    #[inline]
    fn add(atomic: &AtomicF64, v: f64) -> bool {
        // A counter only goes up: negative, NaN and infinite increments are ignored
        // (OpenTelemetry API: Counter "MUST NOT" be given negative increments).
        if !(v >= 0.0 && v.is_finite()) {
            return false;
        }
        atomic.add_f64(v);
        true
    }
    #[inline]
    fn load(atomic: &AtomicF64) -> f64 {
        atomic.get_f64()
    }
    #[inline]
    fn to_f64(self) -> f64 {
        self
    }
    fn to_point(self) -> PointValue {
        PointValue::F64(self)
    }
}

impl GaugeNumber for i64 {
    type Atomic = AtomicI64;
    const ONE: Self = 1;
    #[inline]
    fn add(atomic: &AtomicI64, v: i64) {
        atomic.fetch_add(v, Ordering::Relaxed);
    }
    #[inline]
    fn sub(atomic: &AtomicI64, v: i64) {
        atomic.fetch_sub(v, Ordering::Relaxed);
    }
    #[inline]
    fn set(atomic: &AtomicI64, v: i64) {
        atomic.store(v, Ordering::Relaxed);
    }
    #[inline]
    fn load(atomic: &AtomicI64) -> i64 {
        atomic.load(Ordering::Relaxed)
    }
    fn to_point(self) -> PointValue {
        PointValue::I64(self)
    }
}

impl GaugeNumber for f64 {
    type Atomic = AtomicF64;
    const ONE: Self = 1.0;
    #[inline]
    fn add(atomic: &AtomicF64, v: f64) {
        atomic.add_f64(v);
    }
    #[inline]
    fn sub(atomic: &AtomicF64, v: f64) {
        atomic.add_f64(-v);
    }
    #[inline]
    fn set(atomic: &AtomicF64, v: f64) {
        atomic.store(v);
    }
    #[inline]
    fn load(atomic: &AtomicF64) -> f64 {
        atomic.get_f64()
    }
    fn to_point(self) -> PointValue {
        PointValue::F64(self)
    }
}
