//! The mesh's services. Each `run` parses its flags, starts telemetry with one call, and
//! serves its routes; the binaries in `src/bin/` only call `run`.
//!
//! ```text
//! client ─HTTP─▶ gateway ─HTTP─▶ orders ─gRPC─▶ inventory (Reserve, WatchStock)
//!                   │                   └─gRPC─▶ payments  (Charge: declines 1 in 20)
//!                   └─HTTP─▶ reports ─HTTP─▶ orders (GET /orders)
//!                                    └─gRPC─▶ inventory (WatchStock)
//! ```

pub mod gateway;
pub mod inventory;
pub mod orders;
pub mod payments;
pub mod reports;

use std::net::SocketAddr;

use crate::args::{ArgError, Args};

/// The `--addr` flag (env `ADDR`), defaulting to `default`.
fn listen_addr(args: &Args, default: SocketAddr) -> Result<SocketAddr, ArgError> {
    args.value("addr", "ADDR", default)
}
