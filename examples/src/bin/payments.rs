//! The mesh's `payments` service; see [`obs_examples::services::payments`].

use obs_examples::args::Args;
use obs_examples::service::BoxError;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    obs_examples::services::payments::run(Args::from_env()?).await
}
