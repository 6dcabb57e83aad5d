//! Waiting on a condition, never on the clock alone: what the tests wait for (a span
//! ended, a decision counted) happens a moment after the response, at a moment no fixed
//! pause can promise on a shared machine.

use std::time::{Duration, Instant};

/// Checks `condition` every 10 ms until it holds or `timeout` has passed; whether it held.
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
