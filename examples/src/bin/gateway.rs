//! The mesh's `gateway` service; see [`obs_examples::services::gateway`].

#[tokio::main]
async fn main() -> std::process::ExitCode {
    obs_examples::services::main("gateway").await
}
