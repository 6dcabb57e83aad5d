//! Support for the cross-crate integration tests: a real collector and a real Prometheus on
//! free loopback ports. Install them with `scripts/install-test-deps.sh`.

pub mod collector;
pub mod deploy;
pub mod http;
pub mod listening;
pub mod pipeline;
pub mod prometheus;
pub mod tls;
pub mod wait;
