//! Support for the cross-crate integration tests: a real collector and a real Prometheus on
//! free loopback ports. Install them with `scripts/install-test-deps.sh`.

#[path = "../../obs-core/tests/support/child.rs"]
pub mod child;
pub mod collector;
pub mod deploy;
pub mod http;
// Shared with obs-core's own tests, which are published with obs-core and so hold them.
#[path = "../../obs-core/tests/support/listening.rs"]
pub mod listening;
pub mod load;
pub mod pipeline;
pub mod prometheus;
pub mod tls;
#[path = "../../obs-core/tests/support/wait.rs"]
pub mod wait;
