//! The mesh's `gateway` service; see [`obs_examples::services::gateway`].

use obs_examples::args::Args;
use obs_examples::service::BoxError;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    obs_examples::services::gateway::run(Args::from_env()?).await
}
