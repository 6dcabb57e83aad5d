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
use std::time::{Duration, SystemTime};

static COUNTER: OnceLock<quanta::Clock> = OnceLock::new();

const ANCHOR_LIFETIME: Duration = Duration::from_millis(100);

thread_local! {
    static ANCHOR: Cell<Option<(SystemTime, u64)>> = const { Cell::new(None) };
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
        let anchored = ANCHOR.try_with(|anchor| {
            let (wall, at) = match anchor.get() {
                Some((wall, at)) if clock.delta(at, ticks) < ANCHOR_LIFETIME => (wall, at),
                _ => {
                    let fresh = (SystemTime::now(), ticks);
                    anchor.set(Some(fresh));
                    fresh
                }
            };
            wall + clock.delta(at, ticks)
        });
        match anchored {
            Ok(wall) => Stamp {
                wall,
                ticks: Some(ticks),
            },
            // Thread-local storage is being torn down.
            Err(_) => Stamp::system(),
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
            assert!(end >= start.wall() + Duration::from_millis(4));
            assert!(end <= after + slack);
            let _ = COUNTER.get_or_init(quanta::Clock::new);
        }
    }
}
