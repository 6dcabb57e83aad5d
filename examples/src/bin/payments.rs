//! The mesh's `payments` service; see [`obs_examples::services::payments`].

#[tokio::main]
async fn main() -> std::process::ExitCode {
    obs_examples::services::main("payments").await
}
