//! Waiting on a condition, never on the clock alone: what the tests wait for (a span
//! ended, a decision counted, a process listening or gone) happens a moment later, at a
//! moment no fixed pause can promise on a shared machine. Every wait is bounded.

use std::time::{Duration, Instant};

/// Checks `condition` every 10 ms until it holds or `timeout` has passed; whether it held.
/// For async tests: the runtime keeps serving while it waits.
pub async fn wait_until(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Calls `check` every `every` until it returns `Some`, for at most `timeout`, blocking the
/// thread: for code outside an async runtime (processes, Prometheus queries).
pub fn poll_blocking<T>(
    timeout: Duration,
    every: Duration,
    mut check: impl FnMut() -> Option<T>,
) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(found) = check() {
            return Some(found);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(every);
    }
}
