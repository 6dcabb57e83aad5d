//! `cargo run -p obs-examples --bin mesh`: starts the example services, sends them
//! traffic, and prints which service is slow, and why. See `docs/MESH.md`.
//!
//! `mesh serve <service> [flags]` runs one service instead (what the runner starts in
//! each child process), the same as the service's own binary.

use std::fs::File;
use std::io::{ErrorKind, Write, stderr, stdout};

use obs_examples::args::{self, Args, say};
use obs_examples::mesh::{self, MeshOptions};
use obs_examples::service::BoxError;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    args::exit("mesh", run().await)
}

async fn run() -> Result<(), BoxError> {
    let mut argv = std::env::args().skip(1);
    let first = argv.next();
    if first.as_deref() == Some("serve") {
        let name = argv.next().ok_or("usage: mesh serve <service> [flags]")?;
        return obs_examples::services::run(&name, Args::parse_from(argv)?).await;
    }
    let options = MeshOptions::from_args(&Args::parse_from(first.into_iter().chain(argv))?)?;
    // Opened before the run: an unwritable `--html` path fails at once, not after a minute
    // of traffic. Not truncated until the page is written, so a run that fails or is
    // stopped leaves the previous report as it was.
    let html = match &options.html {
        Some(path) => Some((
            path,
            File::options()
                .write(true)
                .create(true)
                .truncate(false)
                .open(path)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?,
        )),
        None => None,
    };
    // Stopped by SIGINT or SIGTERM (`timeout`, a CI cancel, an IDE's stop button), the
    // runner drops the run, and with it the service processes it started: none is left
    // running without its parent.
    let summary = tokio::select! {
        summary = mesh::run(&options) => summary?,
        signal = stop_signal() => {
            return Err(format!("stopped by {signal}; the services were stopped too").into());
        }
    };
    // A reader that has gone (`mesh | head -0`) leaves the run a success, with its HTML
    // page; `print!` would panic on the closed pipe. Any other failure is one.
    let mut out = stdout();
    let printed = out
        .write_all(mesh::text::render(&summary).as_bytes())
        .and_then(|()| out.flush());
    if let Err(e) = printed
        && e.kind() != ErrorKind::BrokenPipe
    {
        return Err(format!("cannot print the report: {e}").into());
    }
    if let Some((path, mut file)) = html {
        file.set_len(0)
            .and_then(|()| file.write_all(mesh::html::render(&summary).as_bytes()))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        say(stderr(), format_args!("mesh: wrote {}", path.display()));
    }
    Ok(())
}

/// The first SIGINT or SIGTERM, by name.
async fn stop_signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut interrupt), Ok(mut terminate)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        // Without signal handlers the default actions apply: nothing to wait for here.
        return std::future::pending().await;
    };
    tokio::select! {
        _ = interrupt.recv() => "SIGINT",
        _ = terminate.recv() => "SIGTERM",
    }
}
