//! The mesh's services. Each `run` parses its flags, starts telemetry with one call, and
//! serves its routes; the binaries in `src/bin/` only call [`main`].
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
use crate::service::BoxError;

/// The services' names: their binaries' names and default `service.name`s.
pub const NAMES: [&str; 5] = ["gateway", "orders", "inventory", "payments", "reports"];

/// The `main` of the service binaries: runs the service called `name` with the process's
/// flags, and exits as [`crate::args::exit`] does.
pub async fn main(name: &str) -> std::process::ExitCode {
    let result = match Args::from_env() {
        Ok(flags) => run(name, flags).await,
        Err(e) => Err(e.into()),
    };
    crate::args::exit(name, result)
}

/// Runs the service called `name` (one of [`NAMES`]).
pub async fn run(name: &str, args: Args) -> Result<(), BoxError> {
    match name {
        "gateway" => gateway::run(args).await,
        "orders" => orders::run(args).await,
        "inventory" => inventory::run(args).await,
        "payments" => payments::run(args).await,
        "reports" => reports::run(args).await,
        other => Err(format!("no service {other:?}; services: {}", NAMES.join(", ")).into()),
    }
}

/// The `--addr` flag (env `ADDR`), defaulting to `default`.
fn listen_addr(args: &Args, default: SocketAddr) -> Result<SocketAddr, ArgError> {
    args.value("addr", "ADDR", default)
}
