//! Span timestamps from the CPU's time-stamp counter.
//!
//! Two reads of the system clock (start and end) are about a tenth of a sampled span's cost;
//! the time-stamp counter, read through `quanta`, costs a few nanoseconds. Wall-clock time
//! comes from an anchor (a system-clock reading and the counter at that moment) renewed
//! every [`ANCHOR_LIFETIME`], so span times follow the system clock (NTP included) to
//! within microseconds, and an end is never before its start.
//!
//! The anchor is one for the process, not one per thread: two anchors taken at different
//! moments disagree by microseconds (the counter's calibration error over their age, the
//! gap between the two clock reads), so with one per thread a moment stamped on one thread
//! after another thread's could come out earlier, and Prometheus drops an exemplar older
//! than the one it has for the series. With one, stamps keep the counter's order; only a
//! renewal can move them back, by what the counter drifted from the system clock in
//! 100 ms. Reading it costs a seqlock's loads, as cheap as the thread-local it replaces;
//! whichever thread finds it expired renews it.
//!
//! `quanta` calibrates the counter against the monotonic clock for up to 200 ms, so that
//! runs once, on a thread of its own; until it is done, and on machines without an invariant
//! counter, the system clock is read instead.

use std::sync::atomic::{AtomicU64, Ordering, fence};
use std::sync::{Once, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

static COUNTER: OnceLock<quanta::Clock> = OnceLock::new();

const ANCHOR_LIFETIME: Duration = Duration::from_millis(100);

/// A system-clock reading, as nanoseconds since the Unix epoch, and the counter at that
/// moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Anchor {
    unix_nanos: u64,
    ticks: u64,
}

/// The process's anchor behind a seqlock: `seq` is 0 before the first anchor, odd while a
/// thread renews it, even when `unix_nanos` and `ticks` belong together.
struct SharedAnchor {
    seq: AtomicU64,
    unix_nanos: AtomicU64,
    ticks: AtomicU64,
}

static ANCHOR: SharedAnchor = SharedAnchor {
    seq: AtomicU64::new(0),
    unix_nanos: AtomicU64::new(0),
    ticks: AtomicU64::new(0),
};

/// The process's anchor for a counter reading of `ticks`, renewed once older than
/// [`ANCHOR_LIFETIME`], and the nanoseconds from it to `ticks` (0 if `ticks` is older: read
/// before another thread renewed it); `None` while another thread renews it (the caller
/// reads the system clock, for the few nanoseconds that takes).
#[inline]
fn anchor(clock: &quanta::Clock, ticks: u64) -> Option<(Anchor, u64)> {
    const LIFETIME_NANOS: u64 = ANCHOR_LIFETIME.as_nanos() as u64;
    let seq = ANCHOR.seq.load(Ordering::Acquire);
    if seq != 0 && seq & 1 == 0 {
        let a = Anchor {
            unix_nanos: ANCHOR.unix_nanos.load(Ordering::Relaxed),
            ticks: ANCHOR.ticks.load(Ordering::Relaxed),
        };
        fence(Ordering::Acquire);
        if ANCHOR.seq.load(Ordering::Relaxed) == seq {
            let since = clock.delta_as_nanos(a.ticks, ticks);
            if since < LIFETIME_NANOS {
                return Some((a, since));
            }
        }
    }
    renew(clock, seq)
}

/// Takes a new anchor if no other thread is (`seq` is what the caller read: a thread that
/// renewed since makes the exchange fail).
#[cold]
fn renew(clock: &quanta::Clock, seq: u64) -> Option<(Anchor, u64)> {
    if seq & 1 == 1
        || ANCHOR
            .seq
            .compare_exchange(seq, seq + 1, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
    {
        return None;
    }
    // The odd `seq` must be visible before either new value, so that a reader that loads
    // a new value sees a changed `seq` after its acquire fence and drops the torn pair.
    // The exchange's acquire keeps the stores below after its read, not after its write
    // (a weakly ordered CPU may show them first); a release fence orders them after it
    // (the seqlock writer in Boehm, "Can seqlocks get along with programming language
    // memory models?", 2012). x86 orders stores anyway: no test here can tell.
    fence(Ordering::Release);
    let fresh = Anchor {
        ticks: clock.raw(),
        unix_nanos: unix_nanos(SystemTime::now()),
    };
    ANCHOR.unix_nanos.store(fresh.unix_nanos, Ordering::Relaxed);
    ANCHOR.ticks.store(fresh.ticks, Ordering::Relaxed);
    ANCHOR.seq.store(seq + 2, Ordering::Release);
    Some((fresh, 0))
}

/// `time` as nanoseconds since the Unix epoch (0 if before it).
fn unix_nanos(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// Starts calibrating the counter in the background, once per process.
pub(crate) fn calibrate() {
    static STARTED: Once = Once::new();
    STARTED.call_once(|| {
        // Without the thread, spans simply keep reading the system clock.
        let _ = std::thread::Builder::new()
            .name("obs-clock-calibration".into())
            .spawn(|| COUNTER.get_or_init(quanta::Clock::new));
    });
}

/// A moment: its wall-clock time, and the counter reading it came from (if any).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Stamp {
    wall: SystemTime,
    ticks: Option<u64>,
}

impl Stamp {
    /// Now.
    #[inline]
    pub(crate) fn now() -> Stamp {
        let Some(clock) = COUNTER.get() else {
            return Stamp::system();
        };
        let ticks = clock.raw();
        match anchor(clock, ticks) {
            Some((a, since)) => Stamp {
                wall: UNIX_EPOCH + Duration::from_nanos(a.unix_nanos.saturating_add(since)),
                ticks: Some(ticks),
            },
            // Another thread is renewing the anchor.
            None => Stamp::system(),
        }
    }

    /// Now, from the system clock alone.
    fn system() -> Stamp {
        Stamp {
            wall: SystemTime::now(),
            ticks: None,
        }
    }

    /// The wall-clock time of this moment.
    pub(crate) fn wall(self) -> SystemTime {
        self.wall
    }

    /// The wall-clock time now, measured from this moment: never before it.
    #[inline]
    pub(crate) fn elapsed_wall(self) -> SystemTime {
        self.wall + Duration::from_nanos(self.elapsed_nanos())
    }

    /// The nanoseconds from this moment to now: never negative.
    #[inline]
    pub(crate) fn elapsed_nanos(self) -> u64 {
        match (self.ticks, COUNTER.get()) {
            (Some(start), Some(clock)) => clock.delta_as_nanos(start, clock.raw()),
            _ => SystemTime::now()
                .duration_since(self.wall)
                .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
        }
    }
}

/// The wall-clock time now, in nanoseconds since the Unix epoch (0 before it), read as span
/// timestamps are: from the time-stamp counter, anchored to the system clock every 100 ms
/// (one anchor for the process, so that moments stamped on different threads keep their
/// order, but across a renewal, where the system clock may correct the microseconds the
/// counter drifted), once the span layer has calibrated it (a few nanoseconds a read, where
/// [`SystemTime::now`] may cost a system call); from the system clock before. For stamping
/// what happens on a hot path with a time on the same clock as the spans around it (an
/// exemplar's measurement).
///
/// ```
/// use std::time::{SystemTime, UNIX_EPOCH};
///
/// let before = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64;
/// let now = obs_trace::unix_nanos_now();
/// // Within the anchor's accuracy of the system clock (microseconds).
/// assert!(now + 2_000_000 >= before);
/// ```
#[inline]
pub fn unix_nanos_now() -> u64 {
    if let Some(clock) = COUNTER.get() {
        let ticks = clock.raw();
        if let Some((a, since)) = anchor(clock, ticks) {
            return a.unix_nanos.saturating_add(since);
        }
    }
    unix_nanos(SystemTime::now())
}

/// Measures how long something takes, for metrics (request durations): from the
/// time-stamp counter once the span layer has calibrated it (a few nanoseconds a read),
/// else from [`std::time::Instant`] (a system call's worth on some machines).
///
/// ```
/// let stopwatch = obs_trace::Stopwatch::start();
/// let rows: u64 = (0..1_000).sum();
/// let so_far = stopwatch.elapsed();
/// // A later reading never goes back.
/// assert!(stopwatch.elapsed() >= so_far);
/// # assert_eq!(rows, 499_500);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Stopwatch(Started);

#[derive(Clone, Copy, Debug)]
enum Started {
    Ticks(u64),
    Instant(std::time::Instant),
}

impl Stopwatch {
    /// Starts measuring now.
    #[inline]
    pub fn start() -> Stopwatch {
        Stopwatch(match COUNTER.get() {
            Some(clock) => Started::Ticks(clock.raw()),
            None => Started::Instant(std::time::Instant::now()),
        })
    }

    /// The time since [`start`](Self::start) (zero rather than negative).
    #[inline]
    pub fn elapsed(&self) -> Duration {
        match (self.0, COUNTER.get()) {
            (Started::Ticks(start), Some(clock)) => clock.delta(start, clock.raw()),
            (Started::Instant(start), _) => start.elapsed(),
            // Unreachable: the counter, once set, stays set.
            (Started::Ticks(_), None) => Duration::ZERO,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The anchor a read on this thread uses now.
    fn current_anchor() -> Option<Anchor> {
        let clock = COUNTER.get_or_init(quanta::Clock::new);
        anchor(clock, clock.raw()).map(|(a, _)| a)
    }

    #[test]
    fn threads_stamp_from_one_anchor() {
        // Two reads here with the same anchor: no renewal came between them, so a thread
        // reading in between must have had that anchor too, and its stamp, taken later,
        // can't be earlier. Retried when another test's read renewed it meanwhile (every
        // 100 ms).
        let read = || (current_anchor(), unix_nanos_now());
        for _ in 0..100 {
            let (here, before) = read();
            let (there, after) = std::thread::spawn(read).join().unwrap();
            let again = current_anchor();
            if let (Some(here), Some(there)) = (here, there)
                && Some(here) == again
            {
                assert_eq!(there, here, "another thread's anchor");
                assert!(after >= before, "{after} after {before}");
                return;
            }
        }
        panic!("the anchor was renewed between every pair of reads");
    }

    #[test]
    fn stamps_follow_the_system_clock_and_ends_never_precede_starts() {
        calibrate();
        // Before and after calibration alike (it may or may not be done by now).
        for _ in 0..2 {
            let before = SystemTime::now();
            let start = Stamp::now();
            let start_nanos = unix_nanos_now();
            // Until the system clock has moved on by 5 ms (bounded, should it stand still).
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            while SystemTime::now() < before + Duration::from_millis(5)
                && std::time::Instant::now() < deadline
            {
                std::thread::yield_now();
            }
            let end = start.elapsed_wall();
            let after = SystemTime::now();
            let slack = Duration::from_millis(2);
            assert!(start.wall() + slack >= before && start.wall() <= after + slack);
            // The same clock, in nanoseconds since the epoch.
            let as_nanos = u64::try_from(slack.as_nanos()).unwrap();
            assert!(start_nanos + as_nanos >= unix_nanos(start.wall()));
            assert!(start_nanos <= unix_nanos(after) + as_nanos);
            assert!(end >= start.wall() + Duration::from_millis(4));
            assert!(end <= after + slack);
            let _ = COUNTER.get_or_init(quanta::Clock::new);
        }
    }
}
