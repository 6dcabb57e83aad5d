//! Span timestamps from the CPU's time-stamp counter.
//!
//! Two reads of the system clock (start and end) are about a tenth of a sampled span's cost;
//! the time-stamp counter, read through `quanta`, costs a few nanoseconds. Wall-clock time
//! comes from an anchor (a system-clock reading and the counter at that moment) that each
//! thread renews every [`ANCHOR_LIFETIME`], so span times follow the system clock (NTP
//! included) to within microseconds, and an end is never before its start.
//!
//! `quanta` calibrates the counter against the monotonic clock for up to 200 ms, so that
//! runs once, on a thread of its own; until it is done, and on machines without an invariant
//! counter, the system clock is read instead.

use std::cell::Cell;
use std::sync::{Once, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

static COUNTER: OnceLock<quanta::Clock> = OnceLock::new();

const ANCHOR_LIFETIME: Duration = Duration::from_millis(100);

/// A system-clock reading (also as nanoseconds since the Unix epoch, for
/// [`unix_nanos_now`]) and the counter at that moment.
#[derive(Clone, Copy, Debug)]
struct Anchor {
    wall: SystemTime,
    unix_nanos: u64,
    ticks: u64,
}

thread_local! {
    static ANCHOR: Cell<Option<Anchor>> = const { Cell::new(None) };
}

/// This thread's anchor for a counter reading of `ticks`, renewed once older than
/// [`ANCHOR_LIFETIME`], and the nanoseconds from it to `ticks`; `None` while thread-local
/// storage is being torn down.
#[inline]
fn anchor(clock: &quanta::Clock, ticks: u64) -> Option<(Anchor, u64)> {
    const LIFETIME_NANOS: u64 = ANCHOR_LIFETIME.as_nanos() as u64;
    ANCHOR
        .try_with(|anchor| {
            if let Some(a) = anchor.get() {
                let since = clock.delta_as_nanos(a.ticks, ticks);
                if since < LIFETIME_NANOS {
                    return (a, since);
                }
            }
            let wall = SystemTime::now();
            let fresh = Anchor {
                wall,
                unix_nanos: unix_nanos(wall),
                ticks,
            };
            anchor.set(Some(fresh));
            (fresh, 0)
        })
        .ok()
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
                wall: a.wall + Duration::from_nanos(since),
                ticks: Some(ticks),
            },
            // Thread-local storage is being torn down.
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
        match (self.ticks, COUNTER.get()) {
            (Some(start), Some(clock)) => self.wall + clock.delta(start, clock.raw()),
            _ => SystemTime::now().max(self.wall),
        }
    }
}

/// The wall-clock time now, in nanoseconds since the Unix epoch (0 before it), read as span
/// timestamps are: from the time-stamp counter, anchored to the system clock per thread every
/// 100 ms, once the span layer has calibrated it (a few nanoseconds a read, where
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
