//! The mesh's `reports` service; see [`obs_examples::services::reports`].

#[tokio::main]
async fn main() -> std::process::ExitCode {
    obs_examples::services::main("reports").await
}
