//! `cargo run -p obs-examples --bin mesh`: starts the example services, sends them
//! traffic, and prints which service is slow, and why. See `docs/MESH.md`.

use obs_examples::args::Args;
use obs_examples::mesh::{self, MeshOptions};
use obs_examples::service::BoxError;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let options = MeshOptions::from_args(&Args::from_env()?)?;
    let summary = mesh::run(&options).await?;
    print!("{}", mesh::text::render(&summary));
    if let Some(path) = &options.html {
        std::fs::write(path, mesh::html::render(&summary))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        eprintln!("mesh: wrote {}", path.display());
    }
    Ok(())
}
