//! The mesh's `inventory` service; see [`obs_examples::services::inventory`].

#[tokio::main]
async fn main() -> std::process::ExitCode {
    obs_examples::services::main("inventory").await
}
