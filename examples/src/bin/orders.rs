//! The mesh's `orders` service; see [`obs_examples::services::orders`].

#[tokio::main]
async fn main() -> std::process::ExitCode {
    obs_examples::services::main("orders").await
}
