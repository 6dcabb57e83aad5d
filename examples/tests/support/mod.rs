//! Shared by the example binaries' tests.

use std::process::{Child, ExitStatus};
use std::time::Duration;

// The workspace's bounded condition wait (obs-core's test support, which obs-tests uses too).
// Only its blocking half serves here, and its items are `pub` for those crates.
#[path = "../../../obs-core/tests/support/wait.rs"]
#[allow(dead_code, unreachable_pub)]
pub(crate) mod wait;

/// Waits for `child` to exit, at most `timeout`; kills it and fails past that, naming
/// `what`.
pub(crate) fn wait_bounded(child: &mut Child, timeout: Duration, what: &str) -> ExitStatus {
    let exited = wait::poll_blocking(timeout, Duration::from_millis(50), || {
        child.try_wait().expect("wait for the child")
    });
    exited.unwrap_or_else(|| {
        let _ = child.kill();
        let _ = child.wait();
        panic!("{what} did not finish within {timeout:?}");
    })
}
