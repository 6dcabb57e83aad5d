//! The mesh's `reports` service; see [`obs_examples::services::reports`].

use obs_examples::args::Args;
use obs_examples::service::BoxError;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    obs_examples::services::reports::run(Args::from_env()?).await
}
