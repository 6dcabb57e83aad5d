//! The mesh's `inventory` service; see [`obs_examples::services::inventory`].

use obs_examples::args::Args;
use obs_examples::service::BoxError;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    obs_examples::services::inventory::run(Args::from_env()?).await
}
