//! The `obs` example mesh: five services instrumented only through `obs`, and the `mesh`
//! runner that starts them, sends traffic, and answers "which service is slow, and why?"
//! from their metrics, traces and logs (see `docs/MESH.md`).
//!
//! ```no_run
//! // Each service's main is one call:
//! # async fn run() -> Result<(), obs_examples::service::BoxError> {
//! let args = obs_examples::args::Args::from_env()?;
//! obs_examples::services::reports::run(args).await
//! # }
//! ```

pub mod args;
pub mod grpc;
pub mod http_client;
pub mod mesh;
pub mod proto;
pub mod service;
pub mod services;
