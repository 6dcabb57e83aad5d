//! The mesh's `orders` service; see [`obs_examples::services::orders`].

use obs_examples::args::Args;
use obs_examples::service::BoxError;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    obs_examples::services::orders::run(Args::from_env()?).await
}
